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
      - Keep only the N most recent backups (by start time; in the same second, by completion time, then the
        name that sorts last) among those the other filters keep. The listing stays oldest first, so the newest
        is the last.
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
  retention:
    description:
      - Compute a retention decision over the listed backups (RV(retention)) - which to delete and why, per
        schedule - as the C(kubedr.backup.gc) playbook applies it (docs/retention.md).
      - Per schedule (label C(velero.io/schedule-name)) - only Completed backups fill the slots of the rules -
        the O(retention.keep_last) newest, and the newest of each of the N most recent hours, days, ISO weeks,
        months and years that hold one (restic's C(forget --keep-*)); when a rule finds fewer periods than it
        keeps, the oldest Completed backup is kept too.
      - A backup is deleted when its TTL expired (its C(expiration) passed), or, when a rule is given, when no
        rule keeps it. The newest Completed backup of a schedule is never deleted, even expired. A Failed or
        PartiallyFailed backup newer than it is kept until it expires; an older one falls outside the policy.
        Backups without a schedule follow their TTL only.
      - An empty dict (no rule) is the TTL with the newest Completed backup of each schedule protected.
      - Cannot be combined with O(name), O(phase), O(newest) or O(expired) - the decision must see every
        backup of a schedule; filter with O(schedule) or O(label_selector).
      - Reads only; the deletions are M(kubedr.backup.k8s_backup) O(kubedr.backup.k8s_backup#module:state=absent).
    type: dict
    suboptions:
      keep_last:
        description: Keep the N newest Completed backups.
        type: int
      keep_hourly:
        description: Keep the newest Completed backup of each of the N most recent hours that hold one.
        type: int
      keep_daily:
        description: Keep the newest Completed backup of each of the N most recent days that hold one.
        type: int
      keep_weekly:
        description: Keep the newest Completed backup of each of the N most recent ISO weeks (Monday to Sunday).
        type: int
      keep_monthly:
        description: Keep the newest Completed backup of each of the N most recent calendar months.
        type: int
      keep_yearly:
        description: Keep the newest Completed backup of each of the N most recent calendar years.
        type: int
      time_zone:
        description: The time zone of the periods (an IANA name such as C(Europe/Paris)); a backup's time is its start time.
        type: str
        default: UTC
  verify_integrity:
    description:
      - Verify the backup named by O(name) against its integrity manifest (C(<name>-manifest.json), written by
        M(kubedr.backup.k8s_backup) before the commit marker; the collection's C(docs/integrity.md)) and return
        RV(backup.integrity) - every object's SHA-256 as stored, the commit marker's, every tarball entry's,
        the signature (with O(verify_key)), and, with O(repository_password), that each pod volume snapshot the
        backup's records name is still in its repository.
      - Every mismatch is reported, none fails the task; a backup without a manifest (made by Velero or by an older
        kubedr) is reported as V(no_manifest), not as tampered. An encrypted backup needs its O(encryption) key (the
        manifest lists its items, so it is encrypted with them).
    type: bool
    default: false
  verify_key:
    description:
      - An Ed25519 public key (PEM, or the path of a file holding one) the manifest must be signed with
        (O(kubedr.backup.k8s_backup#module:signing_key)); with O(verify_integrity), an unsigned manifest, or one
        signed by another key or changed since, is a problem. If not given, E(KUBEDR_VERIFY_KEY) is used.
    type: str
  repository_password:
    description:
      - The password of the pod volume repositories (restic or kopia), to look up the backup's snapshots with
        O(verify_integrity). If not given, E(KUBEDR_REPOSITORY_PASSWORD) is used; without it, snapshots are not
        looked up (C(snapshots_note) in RV(backup.integrity) says so).
    type: str
    aliases: [restic_password]
notes:
  - The Kubernetes connection options are accepted, so C(module_defaults) for the C(kubedr) group apply,
    but they are not used.
requirements:
  - boto3 >= 1.28.0
  - cryptography (for O(verify_key) and O(encryption))
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

- name: What a calendar policy would delete in schedule nightly, and why
  kubedr.backup.k8s_backup_info:
    schedule: nightly
    retention:
      keep_last: 3
      keep_daily: 7
      keep_weekly: 4
      keep_monthly: 12
      time_zone: Europe/Paris
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: policy

- name: Verify a backup - digests, signature, pod volume snapshots (docs/integrity.md)
  kubedr.backup.k8s_backup_info:
    name: nightly-20240101
    verify_integrity: true
    verify_key: /etc/kubedr/manifest-signing.pub
    repository_password: "{{ velero_repository_password }}"
    storage_location: "{{ location }}"
  register: checked
  failed_when: checked.backup.integrity.status != 'verified'

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
retention:
  description: The retention decision (O(retention)) over the listed backups.
  returned: when O(retention) is given
  type: dict
  contains:
    policy:
      description: The policy applied, every count (0 when not given) and the time zone.
      type: dict
      sample: {"keep_last": 3, "keep_hourly": 0, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12, "keep_yearly": 0, "time_zone": "UTC"}
    delete:
      description:
        - The backups to delete, newest first per schedule - C(name), C(schedule), C(phase), C(start_timestamp) and
          C(reasons) (why, e.g. C(expired at 2026-12-01T02:00:00Z (TTL)), C(outside the retention policy)).
      type: list
      elements: dict
      sample: [{"name": "nightly-20261120020000", "schedule": "nightly", "phase": "Completed",
                "start_timestamp": "2026-11-20T02:00:00Z", "reasons": ["outside the retention policy"]}]
    keep:
      description: The backups kept, with the same keys; C(reasons) names the rules that keep each (C(daily 2026-12-01)).
      type: list
      elements: dict
      sample: [{"name": "nightly-20261201020000", "schedule": "nightly", "phase": "Completed",
                "start_timestamp": "2026-12-01T02:00:00Z", "reasons": ["keep_last 3", "daily 2026-12-01"]}]
    schedules:
      description: Per schedule (C(schedule) null for backups without one), the names kept and deleted.
      type: list
      elements: dict
      sample: [{"schedule": "nightly", "keep": ["nightly-20261201020000"], "delete": ["nightly-20261120020000"]}]
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
    last_verification:
      description:
        - The outcome of the newest restore drill of the backup (C(kubedr.backup.verify), docs/drills.md), from its
          newest C(<name>-verification-<stamp>.json) record; null when it was never drilled.
        - C(phase) (V(Passed), V(Failed)), C(start_timestamp), C(completion_timestamp), C(restore_name),
          C(namespace_mapping), C(cluster), C(not_ready_workloads), C(failed_step), C(message) and C(record) (its URL).
      returned: for a committed backup
      type: dict
      sample: {"phase": "Passed", "completion_timestamp": "2026-12-02T07:01:12Z", "restore_name": "drill-nightly-20261202070000",
               "namespace_mapping": {"shop": "shop-drill-4f2a"}, "cluster": null, "not_ready_workloads": [],
               "failed_step": null, "message": null,
               "record": "s3://velero/backups/nightly-20261202020000/nightly-20261202020000-verification-20261202070112.json"}
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
    integrity:
      description:
        - The integrity check (O(verify_integrity)) - C(status) (V(verified); V(failed), see C(problems);
          V(no_manifest) for a backup made without one, by Velero or an older kubedr), C(signature) (V(valid), V(invalid),
          V(absent), V(unchecked) when signed and no O(verify_key) was given), C(signed_by) (the signing key's
          fingerprint), C(tool_version) (the kubedr that wrote it), C(objects_checked), C(items_checked),
          C(snapshots_checked) (null when not looked up, C(snapshots_note) says why), C(unlisted_objects) (objects
          in the backup's folder the manifest does not name; never read by a restore) and C(problems).
        - Each problem names what does not match - C(about) (V(object), V(item), V(commit_marker), V(signature),
          V(manifest), V(snapshot)), C(problem) (V(changed), V(missing), V(unexpected), V(unsigned), V(invalid),
          V(other_key), V(unreadable)), C(key) (the object, or the snapshot ID), C(path) (a tarball entry),
          C(expected) and C(actual) SHA-256, and C(message).
      returned: when O(verify_integrity=true)
      type: dict
      sample: {"status": "failed", "signature": "valid", "signed_by": "SHA256:0f3c...", "tool_version": "0.1.0",
               "objects_checked": 8, "items_checked": 12, "snapshots_checked": 1, "unlisted_objects": [],
               "problems": [{"about": "object", "problem": "changed", "key": "backups/nightly/nightly.tar.gz",
                             "expected": "9f86d0...", "actual": "60303a...",
                             "message": "backups/nightly/nightly.tar.gz changed: sha256 60303a..., the manifest says 9f86d0..."}]}
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
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    ENCRYPTION_ARG_SPEC, INFO_INTEGRITY_ARG_SPEC, common_argument_spec, new_module, storage_options,
)
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
    retention=dict(type="dict", options=dict(
        keep_last=dict(type="int"),
        keep_hourly=dict(type="int"),
        keep_daily=dict(type="int"),
        keep_weekly=dict(type="int"),
        keep_monthly=dict(type="int"),
        keep_yearly=dict(type="int"),
        time_zone=dict(type="str", default="UTC"),
    )),
)
INFO_ARG_SPEC.update(ENCRYPTION_ARG_SPEC)
INFO_ARG_SPEC.update(INFO_INTEGRITY_ARG_SPEC)


def main():
    module, unused_auth = new_module("k8s_backup_info", common_argument_spec(INFO_ARG_SPEC), supports_check_mode=True)
    options = dict((key, module.params[key]) for key in INFO_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options))


if __name__ == "__main__":
    main()
