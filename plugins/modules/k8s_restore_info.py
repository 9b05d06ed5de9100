#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_restore_info module: its documentation and argument spec; the listing and the
description of restores are module_utils/info/restores.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_restore_info
short_description: List and describe the restores recorded in a Velero-compatible storage location
version_added: 0.1.0
description:
  - The C(velero restore get), C(velero restore describe) and C(velero restore logs) of kubedr.backup - from the
    records every restore leaves under C(restores/<name>/) of the storage location (its log, results and
    resource list), so it needs no cluster.
  - Without O(name), lists the restores, oldest first, filtered by O(backup_name), O(schedule), O(phase),
    O(label_selector) and O(newest).
  - With O(name), describes that restore - its backup, phase, times, items per resource and namespace,
    warnings and errors - and returns its log, results, resource list and details on request.
  - A restore's backup, phase, times and counts are read from its log; its schedule and labels are those of
    the backup it restored, while that backup exists (a deleted backup's restores are deleted with it).
  - A restore that is still running has only its progress object - its phase is the object's (C(InProgress)),
    or C(Unknown) when the object was not rewritten for longer than O(stale_after).
  - Restores made in check mode, or on a V(ReadOnly) location, leave no records and are not listed.
  - Reads only; works on V(ReadOnly) locations. Restores made by Velero are listed too (from their results,
    without their backup's name, which their log does not give in kubedr's form).
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Not supported.
options:
  name:
    description:
      - The restore to describe. Without it, the restores are listed.
    type: str
  logs:
    description:
      - Also return the restore's log (RV(restore.logs)). Needs O(name).
    type: bool
    default: false
  results:
    description:
      - Also return the restore's results document (RV(restore.results)). Needs O(name).
    type: bool
    default: false
  resource_list:
    description:
      - Also return the restore's resource list (RV(restore.resource_list)), each item with its outcome. Needs O(name).
    type: bool
    default: false
  details:
    description:
      - Also return RV(restore.details) - the items per namespace and resource, and the restore hooks that ran with
        their outcome. Needs O(name).
    type: bool
    default: false
  backup_name:
    description:
      - List only the restores of this backup.
    type: str
  schedule:
    description:
      - List only the restores of backups of this schedule (the restored backup's label C(velero.io/schedule-name)).
    type: str
  phase:
    description:
      - List only the restores in one of these phases.
    type: list
    elements: str
    choices: [New, FailedValidation, InProgress, WaitingForPluginOperations, WaitingForPluginOperationsPartiallyFailed,
              Finalizing, FinalizingPartiallyFailed, Completed, PartiallyFailed, Failed, Unknown]
  label_selector:
    description:
      - List only the restores whose backup's labels match - a string in Kubernetes syntax (C(app=shop,tier!=cache)),
        or a dict in Velero's form (C(matchLabels), C(matchExpressions)).
    type: raw
  newest:
    description:
      - Keep only the N most recent restores (by start time) among those the other filters keep. The listing stays
        oldest first, so the newest is the last.
    type: int
  stale_after:
    description:
      - How long the progress object of a restore that has no log yet may go without an update before its run counts
        as dead (phase V(Unknown)), as a duration (C(5m), C(1h)).
    type: str
    default: 5m
notes:
  - The Kubernetes connection options are accepted, so C(module_defaults) for the C(kubedr) group apply,
    but they are not used.
requirements:
  - boto3 >= 1.28.0
seealso:
  - module: kubedr.backup.k8s_restore
  - module: kubedr.backup.k8s_backup_info
"""

EXAMPLES = r"""
- name: The restores of backups of schedule nightly that did not complete
  kubedr.backup.k8s_restore_info:
    schedule: nightly
    phase: [PartiallyFailed, Failed]
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
  register: troubled

- name: The last restore of one backup
  kubedr.backup.k8s_restore_info:
    backup_name: nightly-20240101020000
    newest: 1
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: last

- name: Describe a restore with its log (velero restore describe + logs)
  kubedr.backup.k8s_restore_info:
    name: nightly-20240101020000-20240102093000
    logs: true
    details: true
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: described
"""

RETURN = r"""
restores:
  description: The restores the filters keep (only the described one when O(name) is given), oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the restore.
      type: str
      sample: nightly-20240101020000-20240102093000
    backup_name:
      description: The backup it restored (null for a record that does not say, such as Velero's).
      type: str
      sample: nightly-20240101020000
    schedule:
      description: The schedule of the backup it restored; null when none, or when the backup is gone.
      type: str
      sample: nightly
    backup_labels:
      description: The labels of the backup it restored; empty when the backup is gone.
      type: dict
      sample: {"velero.io/schedule-name": "nightly", "velero.io/storage-location": "default"}
    phase:
      description:
        - C(Completed), C(PartiallyFailed) or C(Failed); C(InProgress) while it runs; C(Unknown) when its run
          seems dead (see RV(restores[].notes)).
      type: str
      sample: Completed
    start_timestamp:
      description: Start time (RFC 3339).
      type: str
      sample: "2024-01-02T09:30:00Z"
    completion_timestamp:
      description: Completion time (RFC 3339); null while it runs.
      type: str
      sample: "2024-01-02T09:30:41Z"
    item_counts:
      description:
        - Items by outcome - C(created), C(updated), C(skipped), C(failed), C(total), C(recreated); when described,
          also C(per_resource) (outcomes per resource-list key) and C(per_namespace).
      type: dict
      sample: {"created": 40, "updated": 0, "skipped": 2, "failed": 0, "total": 42, "recreated": 0}
    warning_count:
      description: Number of warnings.
      type: int
      sample: 0
    error_count:
      description: Number of errors.
      type: int
      sample: 0
    failure_reason:
      description: Why a Failed restore failed, as its log says.
      type: str
      sample: "the API server went away: connection refused"
    progress:
      description:
        - The progress object of a restore that is running (C(phase), C(start_timestamp), C(update_timestamp),
          C(total_items), C(items_restored), C(volumes), C(eta_seconds), C(backup), C(text)); null otherwise.
      type: dict
      sample: {"phase": "InProgress", "total_items": 300, "items_restored": 120, "text": "120/300 items"}
    notes:
      description: What the reader should know about a restore without a log (why its phase is C(Unknown)).
      type: list
      elements: str
      sample: []
restore:
  description: The described restore - every key of an entry of RV(restores), plus the ones below.
  returned: when O(name) is given
  type: dict
  contains:
    warnings:
      description: Warnings by scope (C(velero), C(cluster), C(namespaces)).
      type: dict
      sample: {"velero": [], "cluster": [], "namespaces": {}}
    errors:
      description: Errors by scope.
      type: dict
      sample: {"velero": [], "cluster": [], "namespaces": {}}
    storage:
      description: URL or path of every record of the restore, by role.
      type: dict
      sample: {"logs": "s3://velero/restores/r1/restore-r1-logs.gz"}
    logs:
      description: Lines of the restore's log.
      returned: when O(logs=true)
      type: list
      elements: str
      sample: ['time="2024-01-02T09:30:00Z" level=info msg="Starting restore" restore=velero/r1 backup=nightly']
    results:
      description: The results document, with keys C(warnings) and C(errors), each by scope.
      returned: when O(results=true)
      type: dict
      sample: {"warnings": {"velero": [], "cluster": [], "namespaces": {}}, "errors": {"velero": [], "cluster": [], "namespaces": {}}}
    resource_list:
      description: Items per C(<groupVersion>/<Kind>), as C(namespace/name(outcome)) or C(name(outcome)).
      returned: when O(resource_list=true)
      type: dict
      sample: {"v1/ConfigMap": ["shop/settings(created)"]}
    details:
      description:
        - C(resources_per_namespace) (items per namespace and resource-list key; cluster-scoped under C("")) and
          C(hooks) (every restore exec hook that ran - C(namespace), C(pod), C(phase) C(restore), C(hook), C(outcome),
          C(on_error), C(message), C(time)).
      returned: when O(details=true)
      type: dict
      sample: {"resources_per_namespace": {"shop": {"v1/ConfigMap": 2}}, "hooks": []}
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import common_argument_spec, new_module, storage_options
from ansible_collections.kubedr.backup.plugins.module_utils.info.filters import RESTORE_PHASES
from ansible_collections.kubedr.backup.plugins.module_utils.info.restores import run

RESTORE_INFO_ARG_SPEC = dict(
    name=dict(type="str"),
    logs=dict(type="bool", default=False),
    results=dict(type="bool", default=False),
    resource_list=dict(type="bool", default=False),
    details=dict(type="bool", default=False),
    backup_name=dict(type="str"),
    schedule=dict(type="str"),
    phase=dict(type="list", elements="str", choices=list(RESTORE_PHASES)),
    label_selector=dict(type="raw"),
    newest=dict(type="int"),
    stale_after=dict(type="str", default="5m"),
)


def main():
    module, unused_auth = new_module("k8s_restore_info", common_argument_spec(RESTORE_INFO_ARG_SPEC),
                                     supports_check_mode=True)
    options = dict((key, module.params[key]) for key in RESTORE_INFO_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options))


if __name__ == "__main__":
    main()
