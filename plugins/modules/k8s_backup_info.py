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
  - Without O(name), lists the committed backups of the storage location (those with a
    C(velero-backup.json)), oldest first, filtered by O(schedule), O(phase), O(label_selector), O(expired)
    and O(newest). With O(include_uncommitted=true) the backups that have no C(velero-backup.json) are
    listed too - running, failed before committing, or dead.
  - With O(name), describes that backup - status, item counts, warnings and errors - and returns its
    log, results, resource list and details (pod volumes, items per namespace, hooks) on request, like
    C(velero backup describe --details). A backup that is not committed is described too, from its progress
    object and whatever it wrote.
  - The phase of a backup that is not committed comes from its progress object - C(InProgress), C(Uploading),
    C(Failed); one whose progress object was not rewritten for longer than O(stale_after) is C(Unknown),
    with a note that its run seems dead.
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
  details:
    description:
      - Also return RV(backup.details) - the pod volumes (pod, volume, snapshot ID, bytes, duration, phase,
        error), the items per namespace and resource, and the hooks the backup ran with their outcome. Needs
        O(name).
    type: bool
    default: false
  schedule:
    description:
      - List only the backups of this schedule (label C(velero.io/schedule-name)).
      - A backup that is not committed has no stored labels - it matches when its name is the schedule's
        name followed by C(-YYYYmmddHHMMSS), as scheduled backups are named.
    type: str
  phase:
    description:
      - List only the backups in one of these phases.
      - V(InProgress), V(Uploading) and V(Unknown) are phases of backups that are not committed - they need
        O(include_uncommitted=true).
    type: list
    elements: str
    choices: [New, FailedValidation, InProgress, WaitingForPluginOperations, WaitingForPluginOperationsPartiallyFailed,
              Finalizing, FinalizingPartiallyFailed, Completed, PartiallyFailed, Failed, Deleting, Uploading, Unknown]
  label_selector:
    description:
      - List only the backups whose labels match - a string in Kubernetes syntax (C(app=shop,tier!=cache),
        C(env in (prod,staging)), C(!legacy)), or a dict in Velero's form (C(matchLabels), C(matchExpressions)).
    type: raw
  expired:
    description:
      - V(true) lists only the backups whose C(expiration) has passed (what a garbage collection deletes),
        V(false) only the others. Not set - both.
    type: bool
  newest:
    description:
      - Keep only the N most recent backups (by start time) among those the other filters keep. The listing
        stays oldest first, so the newest is the last.
    type: int
  include_uncommitted:
    description:
      - Also list the backups that have no C(velero-backup.json) - running, failed before committing, or dead.
        Their RV(backups[].committed) is V(false).
      - Off by default, so that a listing holds only backups that can be restored.
      - A backup whose deletion started and did not finish is never listed (see RV(unfinished_deletions)).
    type: bool
    default: false
  stale_after:
    description:
      - How long the progress object of a backup that is not committed may go without an update before its
        run counts as dead (phase V(Unknown)), as a duration (C(5m), C(1h)). A running backup rewrites it
        every 5 seconds.
      - Compared with the clock of the host the module runs on.
    type: str
    default: 5m
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

- name: The three newest Completed backups of schedule nightly
  kubedr.backup.k8s_backup_info:
    schedule: nightly
    phase: Completed
    newest: 3
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: recent

- name: Running and failed backups too, with their progress
  kubedr.backup.k8s_backup_info:
    include_uncommitted: true
    phase: [InProgress, Uploading, Failed, Unknown]
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: unfinished

- name: Pod volumes, items per namespace and hooks of a backup (velero backup describe --details)
  kubedr.backup.k8s_backup_info:
    name: nightly-20240101
    details: true
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: detailed
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
  description:
    - The backups the filters keep (only the described one when O(name) is given), oldest first.
    - A backup that is not committed (O(include_uncommitted=true)) has the same keys; those its records do
      not hold are null, and it has RV(backups[].progress), RV(backups[].failure_reason) and RV(backups[].notes).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the backup.
      type: str
      sample: nightly-20240101
    phase:
      description:
        - C(Completed), C(PartiallyFailed) or C(Failed) once committed.
        - For a backup that is not committed, the phase of its progress object (C(InProgress), C(Uploading),
          C(Failed)), or C(Unknown) when its run seems dead (see RV(backups[].notes)).
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
    schedule:
      description: The schedule the backup belongs to (its label C(velero.io/schedule-name)); null when none.
      type: str
      sample: nightly
    committed:
      description: Whether the backup has its C(velero-backup.json) (only committed backups can be restored).
      type: bool
      sample: true
    progress:
      description:
        - The progress object of a backup that is not committed, with missing keys null (older runs wrote only
          the phase, the timestamps and the item counts); null when it has none.
      returned: for a backup that is not committed
      type: dict
      contains:
        phase:
          description: The phase the run last wrote.
          type: str
          sample: InProgress
        start_timestamp:
          description: When the run started (RFC 3339).
          type: str
          sample: "2024-01-01T02:00:00Z"
        update_timestamp:
          description: When the run last rewrote the object (RFC 3339).
          type: str
          sample: "2024-01-01T02:12:05Z"
        total_items:
          description: Items the backup will hold, as far as known.
          type: int
          sample: 30300
        items_backed_up:
          description: Items written so far.
          type: int
          sample: 12400
        volumes:
          description: Pod volumes - C(total), C(done), C(failed), C(total_bytes), C(bytes_done); null when unknown.
          type: dict
          sample: {"total": 3, "done": 1, "failed": 0, "total_bytes": 4294967296, "bytes_done": 1288490189}
        eta_seconds:
          description: Seconds left, as restic estimates them; null when unknown.
          type: int
          sample: 180
        text:
          description: The same in one line, as the playbooks print it while they wait for a run.
          type: str
          sample: "backup nightly-20240101020000: 12,400 items; volumes 1/3, 1.2/4.0 GiB; ETA 3m (Uploading)"
    failure_reason:
      description: Why the run failed, when it says so (a backup that is not committed).
      returned: for a backup that is not committed
      type: str
      sample: "storage location: PUT backups/nightly/nightly.tar.gz: 503 Slow Down"
    notes:
      description: What the reader should know about a backup that is not committed (why its phase is C(Unknown), what it did not write).
      returned: for a backup that is not committed
      type: list
      elements: str
      sample:
        - "no progress since 2024-01-01T02:12:05Z (1h0m0s ago, more than stale_after 5m0s) and no velero-backup.json:
          the run seems dead (killed or its host lost)"
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
    details:
      description: What C(velero backup describe --details) shows.
      returned: when O(details=true)
      type: dict
      contains:
        volumes:
          description:
            - One entry per pod volume backed up (its PodVolumeBackup record) - C(namespace), C(pod), C(volume),
              C(pvc), C(node), C(phase), C(snapshot_id), C(bytes), C(total_bytes), C(start_timestamp),
              C(completion_timestamp), C(duration_seconds), C(repository), C(uploader) and C(error) (the
              reason of a failed one).
          type: list
          elements: dict
          sample: [{"namespace": "shop", "pod": "db-0", "volume": "data", "pvc": "data-db-0", "phase": "Completed",
                    "snapshot_id": "3f2a9c1e", "bytes": 104857600, "duration_seconds": 12, "error": null}]
        volume_totals:
          description: Pod volumes in all - C(total), C(per_phase), C(bytes).
          type: dict
          sample: {"total": 2, "per_phase": {"Completed": 1, "Failed": 1}, "bytes": 104857600}
        resources_per_namespace:
          description: Items per namespace and resource-list key; cluster-scoped items under C("").
          type: dict
          sample: {"": {"v1/Namespace": 1}, "shop": {"v1/ConfigMap": 2, "v1/Pod": 1}}
        hooks:
          description:
            - Every exec hook the backup ran, in order - C(namespace), C(pod), C(phase) (C(pre), C(post)), C(hook)
              (its name), C(outcome) (C(ok), C(failed)), C(on_error) (C(Fail), C(Continue)) and C(message) for a
              failed one, C(time).
          type: list
          elements: dict
          sample: [{"namespace": "shop", "pod": "db-0", "phase": "pre", "hook": "freeze", "outcome": "ok",
                    "on_error": null, "message": null, "time": "2024-01-01T02:00:01Z"}]
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import ENCRYPTION_ARG_SPEC, common_argument_spec, new_module, storage_options
from ansible_collections.kubedr.backup.plugins.module_utils.info.describe import run
from ansible_collections.kubedr.backup.plugins.module_utils.info.filters import BACKUP_PHASES

INFO_ARG_SPEC = dict(
    name=dict(type="str"),
    logs=dict(type="bool", default=False),
    results=dict(type="bool", default=False),
    resource_list=dict(type="bool", default=False),
    details=dict(type="bool", default=False),
    schedule=dict(type="str"),
    phase=dict(type="list", elements="str", choices=list(BACKUP_PHASES)),
    label_selector=dict(type="raw"),
    expired=dict(type="bool"),
    newest=dict(type="int"),
    include_uncommitted=dict(type="bool", default=False),
    stale_after=dict(type="str", default="5m"),
)
INFO_ARG_SPEC.update(ENCRYPTION_ARG_SPEC)


def main():
    module, unused_auth = new_module("k8s_backup_info", common_argument_spec(INFO_ARG_SPEC), supports_check_mode=True)
    options = dict((key, module.params[key]) for key in INFO_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options))


if __name__ == "__main__":
    main()
