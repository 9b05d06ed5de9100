#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_backup_info module: its documentation and argument spec; the listing and the
description of backups are module_utils/info."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_backup_info
short_description: List and describe the backups of a Velero-compatible storage location
version_added: 0.1.0
description:
  - Without O(name), lists every committed backup of the storage location (those with a
    C(velero-backup.json)); a backup whose run died before committing is not listed.
  - With O(name), describes that backup - status, item counts, warnings and errors - and returns its
    log, results and resource list on request.
  - Reads only; works on V(ReadOnly) locations. Backups written by Velero are read the same way.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
  - kubedr.backup.encryption
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
      - The backup to describe. Without it, all backups are listed.
    type: str
  logs:
    description:
      - Also return the backup's log (RV(backup.logs)). Needs O(name).
    type: bool
    default: false
  results:
    description:
      - Also return the backup's results document (RV(backup.results)). Needs O(name).
    type: bool
    default: false
  resource_list:
    description:
      - Also return the backup's resource list (RV(backup.resource_list)). Needs O(name).
    type: bool
    default: false
notes:
  - The Kubernetes connection options are accepted, so C(module_defaults) for the C(kubedr) group apply,
    but they are not used.
requirements:
  - boto3 >= 1.28.0
seealso:
  - module: kubedr.backup.k8s_backup
"""

EXAMPLES = r"""
- name: List the backups of a bucket
  kubedr.backup.k8s_backup_info:
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
  register: listing

- name: Describe one backup, with its log and resource list
  kubedr.backup.k8s_backup_info:
    name: nightly-20240101
    logs: true
    resource_list: true
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: described
"""

RETURN = r"""
unfinished_deletions:
  description:
    - Names of backups whose deletion (M(kubedr.backup.k8s_backup) O(kubedr.backup.k8s_backup#module:state=absent))
      started and did not finish. They are no longer listed in RV(backups); deleting them again finishes the job.
  returned: when O(name) is not given
  type: list
  elements: str
  sample: ["nightly-20240101020000"]
backups:
  description: The committed backups (only the described one when O(name) is given), oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the backup.
      type: str
      sample: nightly-20240101
    phase:
      description: C(Completed), C(PartiallyFailed) or C(Failed).
      type: str
      sample: Completed
    created:
      description: Creation time (RFC 3339).
      type: str
      sample: "2024-01-01T02:00:00Z"
    start_timestamp:
      description: Start time (RFC 3339).
      type: str
      sample: "2024-01-01T02:00:00Z"
    completion_timestamp:
      description: Completion time (RFC 3339).
      type: str
      sample: "2024-01-01T02:00:07Z"
    expiration:
      description: Expiration time (RFC 3339).
      type: str
      sample: "2024-01-31T02:00:00Z"
    item_count:
      description: Number of items backed up.
      type: int
      sample: 42
    warning_count:
      description: Number of warnings.
      type: int
      sample: 0
    error_count:
      description: Number of errors.
      type: int
      sample: 0
    size:
      description: Size of the backup tarball in bytes.
      type: int
      sample: 48213
    labels:
      description: Labels of the stored Backup object.
      type: dict
      sample: {"velero.io/storage-location": "default"}
    encrypted:
      description: Whether the backup is encrypted (O(encryption) is needed to describe or restore it).
      type: bool
      sample: false
backup:
  description: The described backup - every key of an entry of RV(backups), plus the ones below.
  returned: when O(name) is given
  type: dict
  contains:
    spec:
      description: The stored Backup's C(spec) (Velero field names).
      type: dict
      sample: {"includedNamespaces": ["*"], "ttl": "720h0m0s"}
    status:
      description: The stored Backup's C(status).
      type: dict
      sample: {"phase": "Completed", "formatVersion": "1.1.0", "progress": {"totalItems": 42, "itemsBackedUp": 42}}
    item_counts:
      description: Item counts from the resource list - C(total), C(per_resource), C(per_namespace).
      type: dict
      sample: {"total": 2, "per_resource": {"v1/ConfigMap": 2}, "per_namespace": {"shop": 2}}
    warnings:
      description: Warnings by scope (C(velero), C(cluster), C(namespaces)).
      type: dict
      sample: {"velero": [], "cluster": [], "namespaces": {}}
    errors:
      description: Errors by scope.
      type: dict
      sample: {"velero": [], "cluster": [], "namespaces": {}}
    storage:
      description: URL or path of every object of the backup, by role.
      type: dict
      sample: {"tarball": "s3://velero/backups/nightly/nightly.tar.gz"}
    logs:
      description: Lines of the backup's log.
      returned: when O(logs=true)
      type: list
      elements: str
      sample: ['time="2024-01-01T02:00:00Z" level=info msg="Starting backup" backup=velero/nightly']
    results:
      description: The results document, with keys C(warnings) and C(errors), each by scope.
      returned: when O(results=true)
      type: dict
      sample: {"warnings": {"velero": [], "cluster": [], "namespaces": {}}, "errors": {"velero": [], "cluster": [], "namespaces": {}}}
    resource_list:
      description: Items per C(<groupVersion>/<Kind>), as C(namespace/name) or C(name).
      returned: when O(resource_list=true)
      type: dict
      sample: {"v1/ConfigMap": ["shop/settings"]}
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import ENCRYPTION_ARG_SPEC, common_argument_spec, new_module, storage_options
from ansible_collections.kubedr.backup.plugins.module_utils.info.describe import run

INFO_ARG_SPEC = dict(
    name=dict(type="str"),
    logs=dict(type="bool", default=False),
    results=dict(type="bool", default=False),
    resource_list=dict(type="bool", default=False),
)
INFO_ARG_SPEC.update(ENCRYPTION_ARG_SPEC)


def main():
    module, unused_auth = new_module("k8s_backup_info", common_argument_spec(INFO_ARG_SPEC), supports_check_mode=True)
    options = dict((key, module.params[key]) for key in INFO_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options))


if __name__ == "__main__":
    main()
