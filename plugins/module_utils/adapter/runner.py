# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place where the engine meets AnsibleModule: run an engine function and
turn its result or its error into exit_json / fail_json. The result's ``warnings`` (messages
the engine wants in the play's normal output) become Ansible warnings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError


def run(module, fn):
    """Call fn() and exit the module with its result dict (which must hold 'changed')."""
    try:
        result = fn()
    except KubedrError as e:
        module.fail_json(msg=str(e))
    except Exception as e:  # an engine bug: report it with the traceback, not a bare crash
        module.fail_json(msg="unexpected error: %s: %s" % (type(e).__name__, e), exception=traceback.format_exc())
    for warning in result.pop("warnings", None) or ():
        module.warn(warning)
    module.exit_json(**result)
