#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_restore module: its documentation and argument spec; the restore itself is
module_utils/restore."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_restore
short_description: Restore Kubernetes resources from a Velero-compatible backup
version_added: 0.1.0
description:
  - Restores the resources of a backup (written by M(kubedr.backup.k8s_backup) or by Velero) from an S3
    bucket (or MinIO) or a local directory into a Kubernetes cluster.
  - The archive's items are copied into one anonymous spool file in a private temporary directory; absolute paths, C(..), links, device
    entries, archives larger than O(max_archive_size) and items that are not JSON objects are refused
    before anything is created.
  - Order - CustomResourceDefinitions first (then it waits until they are Established), namespaces
    (from their backed-up definition) before their items, then Velero's resource priorities
    (O(priorities)). Items of one priority tier are created concurrently (O(workers)).
  - Never restored - nodes, events, csinodes, volumeattachments and Velero's own resources. Completed
    pods, finished jobs and mirror pods are skipped.
  - Before an item is created, server-populated metadata and status are dropped, labels
    C(velero.io/backup-name) and C(velero.io/restore-name) are added (not to namespaces, as in Velero) and
    Velero's restore item actions run (pods, services, jobs, persistent volumes and claims, service accounts,
    secrets, role bindings).
  - The restore's log, results and resource list are written under C(restores/<name>/) as Velero writes
    them, unless the location is ReadOnly.
  - Volume data (file-system backups) is restored through the node agent when O(repository_password) is
    given; without it, pods with such volumes are restored and a warning names their volumes. A volume whose
    backup did not complete is a restore error (the restore ends C(PartiallyFailed)).
  - Each volume is restored with the uploader its C(PodVolumeBackup) record names (C(spec.uploaderType) - restic,
    or kopia as Velero 1.10 and later write by default), so Velero's kopia backups restore as kubedr's do; the
    node agent's image must carry that uploader's CLI.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
  - kubedr.backup.filters
  - kubedr.backup.node_agent
  - kubedr.backup.encryption
attributes:
  check_mode:
    support: full
    description: Reports for every item the action it would take (RV(plan)) and changes nothing.
  diff_mode:
    support: full
    description: Returns a diff for every existing item that differs from the backup.
options:
  name:
    description:
      - Name of the restore; a valid Kubernetes object name.
      - Defaults to the backup's name followed by the time, C(<backup>-YYYYmmddHHMMSS).
      - If a restore of that name is already recorded in the storage location for the same backup, its
        recorded result is returned (C(changed=false)), so a relaunched job does not fail; for another
        backup it is an error.
    type: str
  backup_name:
    description:
      - The backup to restore. Exactly one of O(backup_name) and O(schedule_name) is required.
      - Only Completed or PartiallyFailed backups can be restored.
    type: str
  schedule_name:
    description:
      - Restore the newest Completed backup labelled C(velero.io/schedule-name=<schedule_name>).
    type: str
  namespace_mapping:
    description:
      - "Restore the items of a namespace into another one, C(source: target). Persistent volume claim
        references and role binding subjects follow. Two namespaces cannot be mapped onto one."
    type: dict
  restore_pvs:
    description:
      - Whether persistent volumes (and, later, volume data) are restored. V(false) leaves them out and
        claims bound to them get new volumes.
    type: bool
    default: true
  preserve_node_ports:
    description:
      - Keep the node ports of services. By default only node ports that were set explicitly are kept and
        the cluster assigns the others.
    type: bool
    default: false
  existing_resource_policy:
    description:
      - What to do with an item that exists in the cluster already.
      - V(none) leaves it alone and reports a warning when it differs from the backup.
      - V(update) patches it to the backed-up state (service accounts get the backed-up secrets,
        image pull secrets, labels and annotations they lack).
      - V(recreate) deletes it and creates it again from the backup when it differs; namespaces and
        CustomResourceDefinitions are updated instead (deleting them would delete what they hold).
    type: str
    choices: [none, update, recreate]
    default: none
  restore_status:
    description:
      - Resources whose C(status) is restored too (by default it is dropped).
    type: dict
    suboptions:
      included_resources:
        description:
          - Resources whose status is restored; C(*) for all.
        type: list
        elements: str
      excluded_resources:
        description:
          - Resources whose status is not restored.
        type: list
        elements: str
  resource_modifiers:
    description:
      - "Velero's resource modifier rules, applied to items before they are created - a list of rules, the
        document C({version: v1, resource_modifier_rules: [...]}), or that document as YAML text (a Velero
        resource-modifier ConfigMap body works unchanged; camelCase keys are accepted)."
      - "A rule is C({conditions: {...}, patches: [...]}) (JSON patch) or C({conditions: {...},
        merge_patches: [{patch_data: ...}]}) (JSON merge patch)."
      - Conditions - C(group_resource) (glob, required), C(resource_name_regex), C(namespaces), C(label_selector),
        C(matches) (a list of C({path, value}) or a JMESPath expression over the item).
    type: raw
  priorities:
    description:
      - The restore order, replacing Velero's default list; a list or a comma-separated string.
        Entries after a C(-) entry are restored after every resource not named.
    type: raw
  workers:
    description:
      - How many items of one priority tier are created concurrently.
      - There is no client-side rate limit; the API server's priority and fairness protects it. Lower this
        to leave a busy control plane more room, at the cost of a slower restore.
    type: int
    default: 16
  max_archive_size:
    description:
      - Largest uncompressed size of the backup archive accepted (bytes, or with a suffix such as
        C(512Mi), C(8Gi)); a larger archive is refused as a possible gzip bomb.
    type: str
    default: 8Gi
  hooks:
    description:
      - Restore hooks of pods, shaped like Velero's C(spec.hooks) of a Restore in snake_case - C(resources), a list
        of entries with C(name), C(included_namespaces), C(excluded_namespaces), C(included_resources),
        C(excluded_resources), C(label_selector) and C(post_hooks), a list whose entries hold either C(init)
        (C(init_containers) added to the restored pod, after C(restore-wait)) or C(exec) (C(container), C(command),
        C(on_error), C(exec_timeout), C(wait_timeout); run once the pod runs and its volume data is restored).
      - Hooks from pod annotations C(init.hook.restore.velero.io/*) and C(post.hook.restore.velero.io/*) take
        precedence, each kind on its own, as in Velero.
    type: dict
  restore_helper_image:
    description:
      - Image of the C(restore-wait) init container added first to every restored pod whose volumes have
        file-system backups; it waits until the volume data is restored. It only needs C(/bin/sh).
    type: str
    default: docker.io/library/busybox:1.36
  volume_restore_timeout:
    description:
      - Seconds to wait, per pod, for a restored pod to be scheduled and for its volume directories to
        appear before its volume data restore is reported as failed.
    type: int
    default: 600
requirements:
  - kubernetes >= 24.2.0
  - boto3 >= 1.28.0
  - jmespath (for JMESPath conditions of O(resource_modifiers))
notes:
  - Restores of a backup made by Velero work, with or without C(-preferredversion) copies in the archive.
seealso:
  - module: kubedr.backup.k8s_backup
  - module: kubedr.backup.k8s_backup_info
"""

EXAMPLES = r"""
- name: Restore a backup
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
      access_key: "{{ minio_access_key }}"
      secret_key: "{{ minio_secret_key }}"

- name: Restore one namespace of the latest nightly backup under another name
  kubedr.backup.k8s_restore:
    schedule_name: nightly
    included_namespaces: [shop]
    namespace_mapping:
      shop: shop-restored
    storage_location: "{{ location }}"

- name: Preview what a restore would do, with a diff of the objects that differ
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    existing_resource_policy: update
    storage_location: "{{ location }}"
  check_mode: true
  diff: true
  register: preview

- name: Restore into another cluster, with another storage class and image registry
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    kubeconfig: ~/.kube/dr-cluster
    resource_modifiers:
      - conditions:
          group_resource: persistentvolumeclaims
          matches: "spec.storageClassName == 'fast'"
        patches:
          - {operation: replace, path: /spec/storageClassName, value: standard}
      - conditions:
          group_resource: deployments.apps
        merge_patches:
          - patch_data: {metadata: {annotations: {restored: "true"}}}
    storage_location:
      provider: filesystem
      path: /srv/backups
      access_mode: ReadOnly
"""

RETURN = r"""
name:
  description: Name of the restore.
  returned: always
  type: str
  sample: nightly-20240101-20240102101500
backup_name:
  description: Name of the backup restored.
  returned: always
  type: str
  sample: nightly-20240101
phase:
  description:
    - V(Completed), V(PartiallyFailed) (some items failed, see RV(restore_errors)) or V(Failed) (the restore
      stopped, the reason is in C(msg)). Null in check mode.
    - A pod volume whose data is not in the backup (its volume backup did not complete) is an error, so such a
      restore is V(PartiallyFailed), never V(Completed) (Velero skips such volumes silently).
    - A PartiallyFailed or Failed restore also returns Ansible warnings (shown in the play's output) naming its
      first errors (scope, item, reason), how many more there are and the fix where there is one (the ClusterRole
      of the C(kubedr.backup.rbac) role for HTTP 403, the node agent role); so does a restore of a PartiallyFailed
      backup.
    - A rerun with the O(name) of a restore recorded in the storage location for the same backup (an AWX
      relaunch) returns that restore's result as recorded (the same phase, counts, warnings and errors) with
      C(changed=false), in check mode too; the same name for another backup is an error.
  returned: always
  type: str
  sample: Completed
start_timestamp:
  description: When the restore started (RFC 3339, UTC).
  returned: always
  type: str
  sample: "2024-01-02T10:15:00Z"
completion_timestamp:
  description: When the restore ended (RFC 3339, UTC).
  returned: always
  type: str
  sample: "2024-01-02T10:15:04Z"
item_counts:
  description: Counts of the items restored (in check mode, that would be), in total and per resource.
  returned: always
  type: dict
  contains:
    total:
      description: Number of items considered (filters applied).
      type: int
      sample: 12
    created:
      description: Items created (recreated ones included).
      type: int
      sample: 10
    updated:
      description: Existing items patched to the backed-up state.
      type: int
      sample: 0
    skipped:
      description: Items skipped (completed pods, existing items left alone...).
      type: int
      sample: 2
    failed:
      description: Items that could not be restored; see RV(restore_errors).
      type: int
      sample: 0
    recreated:
      description: Existing items deleted and created again (O(existing_resource_policy=recreate)).
      type: int
      sample: 0
    per_resource:
      description: The same counts per resource, keyed like Velero's resource list (C(apps/v1/Deployment)).
      type: dict
      sample: {"v1/ConfigMap": {"created": 2, "updated": 0, "skipped": 1, "failed": 0}}
restore_warnings:
  description: Warnings by scope - C(velero), C(cluster) and C(namespaces) (a dict of lists per namespace).
  returned: always
  type: dict
  sample: {"velero": [], "cluster": [], "namespaces": {"shop": ["configmaps shop/a: exists in the cluster and differs"]}}
restore_errors:
  description: Errors by scope, shaped like RV(restore_warnings).
  returned: always
  type: dict
  sample: {"velero": [], "cluster": [], "namespaces": {}}
warning_count:
  description: Number of warnings.
  returned: always
  type: int
  sample: 0
error_count:
  description: Number of errors.
  returned: always
  type: int
  sample: 0
storage:
  description: URL or path of the restore's log, results and resource list; empty in check mode and for a
    ReadOnly location.
  returned: always
  type: dict
  sample: {"logs": "s3://velero/restores/r1/restore-r1-logs.gz"}
plan:
  description:
    - In check mode, one entry per item with the action the restore would take - C(create), C(update),
      C(recreate), C(skip_identical), C(skip_differs) (exists, differs, left alone), C(skip) (see C(reason))
      or C(fail).
  returned: check mode
  type: list
  elements: dict
  sample: [{"resource": "v1/ConfigMap", "group_resource": "configmaps", "namespace": "shop", "name": "a",
            "action": "skip_differs", "reason": "exists and differs"}]
plan_summary:
  description:
    - In check mode, the plan in short, for a person to read before the real restore.
  returned: check mode
  type: dict
  contains:
    per_action:
      description: Number of items per action.
      type: dict
      sample: {"create": 40, "skip_identical": 5030}
    per_namespace:
      description: Number of items per target namespace (V("") for cluster-scoped items) and action.
      type: dict
      sample: {"shop": {"create": 40, "skip_identical": 12}, "": {"skip_identical": 3}}
    differs:
      description:
        - The entries of RV(plan) that would change the cluster or that differ from it (every action but
          C(skip) and C(skip_identical)).
      type: list
      elements: dict
      sample: [{"resource": "v1/ConfigMap", "group_resource": "configmaps", "namespace": "shop", "name": "a",
                "action": "create"}]
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    ENCRYPTION_ARG_SPEC,
    FILTER_ARG_SPEC,
    VOLUME_ARG_SPEC,
    common_argument_spec,
    new_module,
    storage_options,
)
from ansible_collections.kubedr.backup.plugins.module_utils.restore.options import DEFAULT_MAX_ARCHIVE_SIZE, DEFAULT_WORKERS
from ansible_collections.kubedr.backup.plugins.module_utils.restore.run import run


def _string_list():
    return dict(type="list", elements="str")


RESTORE_ARG_SPEC = dict(
    name=dict(type="str"),
    backup_name=dict(type="str"),
    schedule_name=dict(type="str"),
    namespace_mapping=dict(type="dict"),
    restore_pvs=dict(type="bool", default=True),
    preserve_node_ports=dict(type="bool", default=False),
    existing_resource_policy=dict(type="str", choices=["none", "update", "recreate"], default="none"),
    restore_status=dict(type="dict", options=dict(included_resources=_string_list(),
                                                  excluded_resources=_string_list())),
    resource_modifiers=dict(type="raw"),
    priorities=dict(type="raw"),
    workers=dict(type="int", default=DEFAULT_WORKERS),
    max_archive_size=dict(type="str", default=DEFAULT_MAX_ARCHIVE_SIZE),
    hooks=dict(type="dict"),
    restore_helper_image=dict(type="str", default="docker.io/library/busybox:1.36"),
    volume_restore_timeout=dict(type="int", default=600),
)
for _shared in (FILTER_ARG_SPEC, VOLUME_ARG_SPEC, ENCRYPTION_ARG_SPEC):
    RESTORE_ARG_SPEC.update(_shared)


def main():
    module, auth = new_module(
        "k8s_restore", common_argument_spec(RESTORE_ARG_SPEC),
        mutually_exclusive=[("backup_name", "schedule_name"), ("label_selector", "or_label_selectors")],
        required_one_of=[("backup_name", "schedule_name")],
        supports_check_mode=True,
    )
    options = dict((key, module.params[key]) for key in RESTORE_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(auth, storage_options(module.params), options,
                                            check_mode=module.check_mode, diff=module._diff),
                        job=("restore", options.get("name")))


if __name__ == "__main__":
    main()
