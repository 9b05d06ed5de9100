#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_backup_verification module: its documentation and argument spec; writing the drill record is
module_utils/restore/verification.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_backup_verification
short_description: Record the outcome of a restore drill beside a backup
version_added: 0.1.0
description:
  - Writes the record of one restore drill of a committed backup - whether a restore of it came up and passed the
    user's checks - as C(backups/<name>/<name>-verification-<YYYYmmddHHMMSS>.json) beside the backup. The
    C(kubedr.backup.verify) playbook calls it at the end of every drill, whatever the outcome (docs/drills.md).
  - Every drill writes a new object and none is ever rewritten, so records land on object-lock buckets too; the
    newest is the backup's RV(kubedr.backup.k8s_backup_info#module:backups[].last_verification).
  - The record holds names, times, the outcome and the message of the step that failed; never a secret, a kubeconfig
    or data of the backup. It is written in the clear, also for an encrypted backup.
  - Velero ignores the object (it reads only the files it knows under C(backups/<name>/)). Deleting the backup
    (M(kubedr.backup.k8s_backup) O(kubedr.backup.k8s_backup#module:state=absent)) deletes its records.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
attributes:
  check_mode:
    support: full
    description: Checks the backup and builds the record; writes nothing.
  diff_mode:
    support: none
    description: Not supported.
options:
  name:
    description: The backup the drill restored.
    type: str
    required: true
  phase:
    description: How the drill ended - V(Passed) (restored, workloads ready, checks passed) or V(Failed).
    type: str
    required: true
    choices: [Passed, Failed]
  started:
    description: When the drill started (RFC 3339, C(2026-12-02T07:00:00Z)); the current time when not given.
    type: str
  restore_name:
    description: The restore the drill made.
    type: str
  namespace_mapping:
    description: The scratch namespaces the drill restored into (source namespace to scratch namespace).
    type: dict
  cluster:
    description: A name for the cluster the drill restored into (for a second cluster); never a kubeconfig.
    type: str
  ready_workloads:
    description: Workloads that became ready, as C(<kind>/<namespace>/<name>).
    type: list
    elements: str
  not_ready_workloads:
    description: Workloads that did not become ready in time, as C(<kind>/<namespace>/<name>).
    type: list
    elements: str
  failed_step:
    description: The step of the drill that failed (the name of the task).
    type: str
  failure_message:
    description: Why it failed (at most 2000 characters are kept); the record's C(message).
    type: str
notes:
  - The Kubernetes connection options are accepted, so C(module_defaults) for the C(kubedr) group apply,
    but they are not used.
  - Each call writes a new record - it always reports C(changed).
requirements:
  - boto3 >= 1.28.0
seealso:
  - module: kubedr.backup.k8s_backup_info
"""

EXAMPLES = r"""
- name: Record a drill that passed
  kubedr.backup.k8s_backup_verification:
    name: nightly-20261202020000
    phase: Passed
    started: "2026-12-02T07:00:00Z"
    restore_name: drill-nightly-20261202070000
    namespace_mapping: {shop: shop-drill-4f2a}
    ready_workloads: [Deployment/shop-drill-4f2a/web]
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
"""

RETURN = r"""
record:
  description: The record written (or, in check mode, that would be written).
  returned: always
  type: dict
  sample: {"apiVersion": "kubedr.io/v1", "kind": "BackupVerification", "backupName": "nightly-20261202020000",
           "phase": "Passed", "startTimestamp": "2026-12-02T07:00:00Z", "completionTimestamp": "2026-12-02T07:01:12Z",
           "restoreName": "drill-nightly-20261202070000", "namespaceMapping": {"shop": "shop-drill-4f2a"},
           "cluster": null, "readyWorkloads": ["Deployment/shop-drill-4f2a/web"], "notReadyWorkloads": [],
           "failedStep": null, "message": null}
key:
  description: The record's key, relative to the storage location.
  returned: always
  type: str
  sample: backups/nightly-20261202020000/nightly-20261202020000-verification-20261202070112.json
url:
  description: Where the record is (or would be).
  returned: always
  type: str
  sample: s3://velero/backups/nightly-20261202020000/nightly-20261202020000-verification-20261202070112.json
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import common_argument_spec, new_module, storage_options
from ansible_collections.kubedr.backup.plugins.module_utils.restore.verification import run

VERIFICATION_ARG_SPEC = dict(
    name=dict(type="str", required=True),
    phase=dict(type="str", required=True, choices=["Passed", "Failed"]),
    started=dict(type="str"),
    restore_name=dict(type="str"),
    namespace_mapping=dict(type="dict"),
    cluster=dict(type="str"),
    ready_workloads=dict(type="list", elements="str"),
    not_ready_workloads=dict(type="list", elements="str"),
    failed_step=dict(type="str"),
    failure_message=dict(type="str"),
)


def main():
    module, unused_auth = new_module("k8s_backup_verification", common_argument_spec(VERIFICATION_ARG_SPEC),
                                     supports_check_mode=True)
    options = dict((key, module.params[key]) for key in VERIFICATION_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options, check_mode=module.check_mode))


if __name__ == "__main__":
    main()
