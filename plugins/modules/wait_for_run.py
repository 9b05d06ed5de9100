#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The wait_for_run module: its documentation and argument spec. The waiting is its action
plugin (plugins/action/wait_for_run.py); the module half reads the run's progress once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wait_for_run
short_description: Wait for a backup or restore started with async, printing its progress
version_added: 0.2.0
description:
  - Waits for a M(kubedr.backup.k8s_backup) or M(kubedr.backup.k8s_restore) task started with C(async) and
    C(poll=0), and returns that task's result as its own (failed when the run failed), so the play reads it as
    if the module had run in the foreground.
  - While the run goes on it prints a line in the play's normal output at each poll (at most every 5 seconds,
    how often a run rewrites it), from the run's progress object in the storage location, for example
    V(backup nightly-x - 12,400 items; volumes 1/3, 1.2/4.0 GiB; ETA 3m). Unlike an
    C(until) loop over M(ansible.builtin.async_status) it prints no C(FAILED - RETRYING) lines.
  - The job's files are cleaned up once it has ended.
  - The waiting is done by the action plugin on the controller; each poll runs
    M(ansible.builtin.async_status) (on the controller's own machine only once the job has ended) and this module's
    progress reader on the target host.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
attributes:
  check_mode:
    support: full
    description: It waits for a job that runs in check mode as it would for any other.
  diff_mode:
    support: none
    description: Not supported.
  action:
    support: full
    description: The waiting runs in the action plugin.
options:
  jid:
    description:
      - The job ID (C(ansible_job_id)) of the task started with C(async) and C(poll=0).
    type: str
    required: true
  kind:
    description:
      - What the job runs.
    type: str
    choices: [backup, restore]
    required: true
  name:
    description:
      - Name of the backup or restore, as given to the module, so its progress object can be found.
    type: str
    required: true
  poll_interval:
    description:
      - Seconds between progress lines (at least 5 seconds apart), and at most between checks of the job.
      - The job itself is checked every second for its first 10 seconds, then every 5 seconds (or this often, if
        less often); on the controller's own machine by reading the async job file, without a module run per check,
        every 0.1 seconds for its first 10 seconds, then every second.
    type: int
    default: 10
  timeout:
    description:
      - Seconds to wait in all. When they are over the task fails, naming the job, which keeps running
        until its own C(async) time is over.
    type: int
    default: 86400
notes:
  - The Kubernetes connection options are accepted, so C(module_defaults) for the C(kubedr) group apply,
    but they are not used.
  - The storage location is only read; the progress object is written without encryption (it holds counts
    only), so no encryption key is needed.
requirements:
  - boto3 >= 1.28.0 (for an S3 location)
seealso:
  - module: kubedr.backup.k8s_backup
  - module: kubedr.backup.k8s_restore
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Start the nightly backup
  kubedr.backup.k8s_backup:
    name: nightly-20261202
    storage_location: "{{ location }}"
  async: 86400
  poll: 0
  register: started

- name: Wait for it, one progress line every 30 seconds
  kubedr.backup.wait_for_run:
    jid: "{{ started.ansible_job_id }}"
    kind: backup
    name: nightly-20261202
    storage_location: "{{ location }}"
    poll_interval: 30
  register: backup

- name: Report
  ansible.builtin.debug:
    msg: "{{ backup.name }}: {{ backup.phase }}"
"""

RETURN = r"""
progress:
  description:
    - The last progress object read while waiting, none for a run that ended before the first read
      (C(phase), C(totalItems), C(itemsBackedUp) or C(itemsRestored),
      C(volumes) with C(total), C(done), C(failed), C(bytesDone), C(totalBytes), and C(etaSeconds)).
    - Besides it, the result holds every key of the waited-for module's result (for example RV(name), RV(phase),
      C(item_counts)) as that module documents them.
  returned: always
  type: dict
  sample: {"phase": "Completed", "totalItems": 42, "itemsBackedUp": 42, "etaSeconds": null}
line:
  description: The last progress line printed; none for a run that ended before the first.
  returned: always
  type: str
  sample: "backup nightly-20261202: 42 items (Completed)"
name:
  description: Name of the backup or restore (from the waited-for module's result).
  returned: when the job ran the module to its end
  type: str
  sample: nightly-20261202
phase:
  description: Phase of the run (from the waited-for module's result).
  returned: when the job ran the module to its end
  type: str
  sample: Completed
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import common_argument_spec, new_module, storage_options
from ansible_collections.kubedr.backup.plugins.module_utils.info.run_progress import run

WAIT_ARG_SPEC = dict(
    jid=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["backup", "restore"]),
    name=dict(type="str", required=True),
    poll_interval=dict(type="int", default=10),
    timeout=dict(type="int", default=86400),
)


def main():
    module, unused_auth = new_module("wait_for_run", common_argument_spec(WAIT_ARG_SPEC), supports_check_mode=True)
    options = dict((key, module.params[key]) for key in WAIT_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options))


if __name__ == "__main__":
    main()
