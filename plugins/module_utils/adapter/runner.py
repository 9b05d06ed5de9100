# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place where the engine meets AnsibleModule: run an engine function and
turn its result or its error into exit_json / fail_json. The result's ``warnings`` (messages
the engine wants in the play's normal output) become Ansible warnings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible_collections.kubedr.backup.plugins.module_utils.common import cancel
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError

ASYNC_DIR_ENV = "ANSIBLE_ASYNC_DIR"  # set by Ansible for a task started with `async`


def job_pid_file(async_dir, kind, name):
    """Where a run started with `async` leaves its process ID, so that wait_for_run can pass a
    cancellation on to it (the async job runs in a session of its own: signals to the play do
    not reach it)."""
    return os.path.join(os.path.expanduser(async_dir), "kubedr-%s-%s.pid" % (kind, name))


def _write_pid_file(job):
    async_dir = os.environ.get(ASYNC_DIR_ENV)
    if not job or not job[1] or not async_dir:
        return None
    path = job_pid_file(async_dir, *job)
    try:
        with open(path, "w") as handle:
            handle.write("%d\n" % os.getpid())
    except (IOError, OSError):
        return None  # only cancellation through wait_for_run is lost
    return path


def run(module, fn, job=None):
    """Call fn() and exit the module with its result dict (which must hold 'changed').
    ``job``: (kind, name) of a backup or restore: SIGTERM and SIGINT cancel it (recorded by the
    run as a failure), and under `async` its process ID is left for wait_for_run."""
    pid_file = None
    if job is not None:
        cancel.install()
        pid_file = _write_pid_file(job)
    try:
        result = fn()
    except KubedrError as e:
        module.fail_json(msg=str(e))
    except cancel.Cancelled as e:  # cancelled before the run could record it
        module.fail_json(msg=str(e), cancelled=True)
    except Exception as e:  # an engine bug: report it with the traceback, not a bare crash
        module.fail_json(msg="unexpected error: %s: %s" % (type(e).__name__, e), exception=traceback.format_exc())
    finally:
        if pid_file:
            try:
                os.unlink(pid_file)
            except OSError:
                pass
    for warning in result.pop("warnings", None) or ():
        module.warn(warning)
    module.exit_json(**result)
