#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_backup module: its documentation and argument spec; the backup itself is
module_utils/backup."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_backup
short_description: Back up Kubernetes resources into a Velero-compatible storage location
version_added: 0.1.0
description:
  - Creates (O(state=present)) or deletes (O(state=absent)) a backup of the resources of a
    Kubernetes cluster, written exactly in Velero's storage layout under C(backups/<name>/) of an
    S3 bucket (or MinIO) or a local directory, so that Velero can sync and restore it.
  - Filters follow Velero's backup fields in snake_case. Items labelled
    C(velero.io/exclude-from-backup=true), items being deleted and events are never backed up.
  - Item actions pull related items in, as Velero does - a Pod its PersistentVolumeClaims and PriorityClass, a
    PersistentVolumeClaim its PersistentVolume, a ServiceAccount the ClusterRoleBindings naming it and
    their ClusterRoles, a custom resource its CustomResourceDefinition.
  - C(velero-backup.json) is written last, so a run that dies half-way never shows up as a backup.
  - A committed backup with the same name is left alone (C(changed=false)).
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
    description: Lists what would be backed up (counts per resource and namespace) and writes nothing.
  diff_mode:
    support: none
    description: Not supported.
options:
  name:
    description:
      - Name of the backup; a valid Kubernetes object name.
    type: str
    required: true
  state:
    description:
      - V(present) creates the backup unless a committed backup of that name exists.
      - V(absent) deletes the backup whole, or leaves it whole - its objects, its restic or kopia snapshots of
        pod volumes (this needs O(repository_password)) and the records of the restores made from it. Every
        repository is opened first (a wrong password or an unreachable repository fails before anything is
        deleted); then C(velero-backup.json) goes, so the backup is no longer listed nor restorable; then the
        snapshots are forgotten (one C(restic forget) or C(kopia snapshot delete) per repository, run where the
        module runs, so the C(restic) or C(kopia) CLI must be installed there) and the other objects deleted. A run that
        fails half-way leaves the backup unlisted with a deletion record; rerunning V(absent) finishes it.
    type: str
    choices: [present, absent]
    default: present
  included_cluster_scoped_resources:
    description:
      - Cluster-scoped resources to back up (Velero's newer filter style); C(*) for all.
    type: list
    elements: str
  excluded_cluster_scoped_resources:
    description:
      - Cluster-scoped resources to leave out; C(*) for all.
    type: list
    elements: str
  included_namespace_scoped_resources:
    description:
      - Namespace-scoped resources to back up; empty or C(*) means all.
    type: list
    elements: str
  excluded_namespace_scoped_resources:
    description:
      - Namespace-scoped resources to leave out; C(*) for all.
    type: list
    elements: str
  ordered_resources:
    description:
      - Per resource, item names (C(namespace/name) or C(name)) written first and in this order;
        a list or a comma-separated string.
    type: dict
  ttl:
    description:
      - How long the backup is kept, as a duration (C(720h), C(24h30m)); sets C(status.expiration).
    type: str
    default: 720h
  labels:
    description:
      - Labels of the stored Backup object.
    type: dict
  default_volumes_to_fs_backup:
    description:
      - Back up the data of every pod volume with the O(uploader_type) through the node agent, except the volumes
        named in the pod annotation C(backup.velero.io/backup-volumes-excludes).
      - When false, only the volumes named in the pod annotation C(backup.velero.io/backup-volumes).
      - hostPath, secret, configMap, projected and downwardAPI volumes are never backed up.
    type: bool
    default: false
  volume_policies:
    description:
      - "Velero's volume policies - the resource-policies document C({version: v1, volumePolicies: [...]}) as a dict
        or as the YAML text of Velero's resource-policies ConfigMap, or just the list of policies; snake_case keys
        are accepted."
      - "Each policy is C({conditions: {...}, action: {type: ...}}). Conditions, all of which must hold -
        C(capacity) (C(lower,upper), e.g. C(10Gi,100Gi) or C(,5Gi)), C(storageClass) (list), C(nfs) (C(server),
        C(path)), C(csi) (C(driver), C(volumeAttributes)), C(volumeTypes) (e.g. C(emptyDir), C(csi), C(nfs)),
        C(pvcLabels) (map), C(pvcPhase) (list)."
      - The first policy that matches a pod volume decides - C(fs-backup) backs its data up whatever the pod's
        annotations and O(default_volumes_to_fs_backup) say; C(skip) (and C(snapshot), C(custom), since kubedr
        takes no snapshots) leaves it out. A volume no policy matches follows the annotations, as in Velero.
      - Claims and volumes the backup leaves out are read from the cluster to evaluate the conditions.
    type: raw
  uploader_type:
    description:
      - The uploader that backs pod volume data up, exec'd in the node agent of the volume's node.
      - V(restic) writes to the restic repository of each volume namespace (C(restic/<namespace>) in the
        storage location); V(kopia) to the kopia repository (C(kopia/<namespace>/)), exactly as Velero's kopia
        uploader does - the layout, snapshot source, tags and the PodVolumeBackup records (C(uploaderType=kopia),
        no C(repoIdentifier), the kopia manifest ID as C(snapshotID)). Velero 1.17 and later back up with kopia
        only, and Velero 1.19 and later cannot restore restic data; see the collection's C(docs/volumes.md) on
        choosing.
      - The node agent's image must carry the chosen CLI (P(kubedr.backup.node_agent#role) role,
        C(node_agent_uploader_type)). Restores need no option - each volume is restored with the uploader its
        record names, Velero's backups included.
    type: str
    choices: [restic, kopia]
    default: restic
  all_api_versions:
    description:
      - Also back up every item of a resource the API server serves in several versions (a custom resource
        whose CRD serves C(v1) and C(v2beta1), C(horizontalpodautoscalers.autoscaling) in C(v2) and C(v1)) once
        per other served version, listed in that version (the API server converts), at
        C(resources/<resource.group>/<version>/namespaces/<namespace>/<name>.json) (or C(.../cluster/<name>.json))
        of the archive, besides the plain and C(<version>-preferredversion) copies written always. This is
        Velero's C(EnableAPIGroupVersions) server feature flag, per backup.
      - M(kubedr.backup.k8s_restore) (and Velero with the flag) then creates each item in the best version the
        target cluster serves (O(kubedr.backup.k8s_restore#module:api_version_priorities)), for a cluster that no
        longer serves the source's preferred version.
      - An item counts once (RV(item_counts), the resource list and C(status.progress) name it in its preferred
        version only; Velero's resource list names it once per version). The other versions are listed after
        everything else, so an item created meanwhile is not in them, and nothing more is kept in memory than
        without it.
      - When false (the default), the archive is exactly as before.
    type: bool
    default: false
  hooks:
    description:
      - Exec hooks run in pods before (C(pre)) and after (C(post)) their backup, shaped like Velero's
        C(spec.hooks) in snake_case - C(resources), a list of entries with C(name), C(included_namespaces),
        C(excluded_namespaces), C(included_resources), C(excluded_resources), C(label_selector) and C(pre)/C(post)
        lists of entries holding an C(exec) dict with C(container), C(command), C(on_error) and C(timeout).
      - Hooks from pod annotations C(pre.hook.backup.velero.io/command) (and C(post.)) take precedence.
    type: dict
  signing_key:
    description:
      - An Ed25519 private key (PEM, unencrypted PKCS#8 as C(openssl genpkey -algorithm ed25519) writes it), or the
        path of a file holding one, that signs the backup's integrity manifest C(<name>-manifest.json).
      - Every backup gets a manifest (the SHA-256 of each of its objects as stored, of the commit marker and of each
        item of the tarball, and the collection's version); with this key it is signed too, so that
        M(kubedr.backup.k8s_restore) and M(kubedr.backup.k8s_backup_info) with the public key (O(kubedr.backup.k8s_restore#module:verify_key))
        refuse a backup that was changed in the bucket. See the collection's C(docs/integrity.md).
      - If not given, the environment variable E(KUBEDR_SIGNING_KEY) is used.
    type: str
requirements:
  - kubernetes >= 24.2.0
  - boto3 >= 1.28.0
  - cryptography (for O(signing_key) and O(encryption))
notes:
  - Pre hooks run just before their pod is saved; volumes are backed up after every item, then the post hooks run.
  - Decoding, selecting and compressing items is CPU work, so outside check mode the main listing pass forks one
    worker process per CPU the module may use (its affinity, capped by a cgroup CPU quota; at most 4, none on a
    single CPU). Every API request stays in the module process; the workers only turn raw pages into parts of the
    archive. If a worker dies the backup fails and nothing is committed.
  - Items are stored byte for byte as the API server sent them in its LIST pages, with C(kind) and C(apiVersion)
    added first for built-in types; the archive is a gzip stream of several members, which Velero, C(tar) and
    C(gzip) read as one.
seealso:
  - module: kubedr.backup.k8s_backup_info
"""

EXAMPLES = r"""
- name: Back up every namespace into MinIO
  kubedr.backup.k8s_backup:
    name: nightly-20240101
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
      access_key: "{{ minio_access_key }}"
      secret_key: "{{ minio_secret_key }}"

- name: Back up two namespaces, only the labelled items, kept for a week
  kubedr.backup.k8s_backup:
    name: shop-20240101
    included_namespaces: [shop, shop-*]
    label_selector: app.kubernetes.io/part-of=shop
    ttl: 168h
    storage_location:
      provider: filesystem
      path: /srv/backups

- name: What would be backed up (check mode writes nothing)
  kubedr.backup.k8s_backup:
    name: preview
    included_cluster_scoped_resources: [storageclasses, persistentvolumes]
    excluded_namespace_scoped_resources: [secrets]
    storage_location: "{{ location }}"
  check_mode: true

- name: Back up volume data by Velero's volume policies - skip the scratch class, everything else under 100Gi
  kubedr.backup.k8s_backup:
    name: shop-policies-20240101
    included_namespaces: [shop]
    repository_password: "{{ velero_repository_password }}"
    volume_policies: |
      version: v1
      volumePolicies:
      - conditions: {storageClass: [scratch]}
        action: {type: skip}
      - conditions: {capacity: ",100Gi"}
        action: {type: fs-backup}
    storage_location: "{{ location }}"

- name: Back up the shop namespace, its volume data with kopia as Velero 1.17+ does
  kubedr.backup.k8s_backup:
    name: shop-kopia-20240101
    included_namespaces: [shop]
    default_volumes_to_fs_backup: true
    uploader_type: kopia
    repository_password: "{{ velero_repository_password }}"
    storage_location: "{{ location }}"

- name: Back up, signing the backup's integrity manifest (docs/integrity.md)
  kubedr.backup.k8s_backup:
    name: signed-20240101
    signing_key: /etc/kubedr/manifest-signing.pem
    storage_location: "{{ location }}"

- name: Back up every served API version of each resource, as Velero's EnableAPIGroupVersions does
  kubedr.backup.k8s_backup:
    name: all-versions-20240101
    included_namespaces: [music]
    all_api_versions: true
    storage_location: "{{ location }}"

- name: Delete a backup
  kubedr.backup.k8s_backup:
    name: nightly-20231201
    state: absent
    storage_location: "{{ location }}"
"""

RETURN = r"""
name:
  description: Name of the backup.
  returned: always
  type: str
  sample: nightly-20240101
phase:
  description:
    - V(Completed), V(PartiallyFailed) (some items failed, see RV(backup_errors)) or V(Failed) (nothing was committed).
    - Null in check mode for a backup that does not exist yet.
    - A PartiallyFailed or Failed backup also returns Ansible warnings (shown in the play's output) naming its first
      errors (scope, item, reason), how many more there are and the fix where there is one (the ClusterRole of the
      C(kubedr.backup.rbac) role for HTTP 403, the node agent role for a node without one); so does a rerun that
      finds it committed already.
  returned: state=present
  type: str
  sample: Completed
start_timestamp:
  description: When the backup started (RFC 3339, UTC).
  returned: state=present
  type: str
  sample: "2024-01-01T02:00:00Z"
completion_timestamp:
  description: When the backup completed (RFC 3339, UTC).
  returned: state=present
  type: str
  sample: "2024-01-01T02:00:07Z"
expiration:
  description: When the backup expires (start plus O(ttl)).
  returned: state=present
  type: str
  sample: "2024-01-31T02:00:00Z"
item_counts:
  description: Counts of the items backed up (in check mode, of those that would be).
  returned: state=present
  type: dict
  contains:
    total:
      description: Number of items.
      type: int
      sample: 42
    per_resource:
      description: Items per resource, keyed like Velero's resource list (C(apps/v1/Deployment)).
      type: dict
      sample: {"v1/ConfigMap": 3, "apps/v1/Deployment": 1}
    per_namespace:
      description: Items per namespace.
      type: dict
      sample: {"shop": 4}
backup_warnings:
  description: Warnings by scope - C(velero), C(cluster) and C(namespaces) (a dict of lists per namespace).
  returned: state=present
  type: dict
  sample: {"velero": [], "cluster": [], "namespaces": {"shop": ["cannot list widgets.example.com"]}}
backup_errors:
  description: Errors by scope, shaped like RV(backup_warnings).
  returned: state=present
  type: dict
  sample: {"velero": [], "cluster": [], "namespaces": {}}
warning_count:
  description: Number of warnings.
  returned: state=present
  type: int
  sample: 0
error_count:
  description: Number of errors.
  returned: state=present
  type: int
  sample: 0
storage:
  description: URL (C(s3://bucket/key)) or path of every object of the backup, by role.
  returned: state=present
  type: dict
  sample: {"tarball": "s3://velero/backups/nightly/nightly.tar.gz",
           "metadata": "s3://velero/backups/nightly/velero-backup.json"}
archive_size:
  description: Size of C(<name>.tar.gz) in bytes; null in check mode.
  returned: state=present
  type: int
  sample: 48213
format_version:
  description: Velero backup format version.
  returned: state=present
  type: str
  sample: 1.1.0
pod_volumes:
  description:
    - The pod volumes backed up (in check mode, that would be), with the phase and the snapshot of each (a restic
      snapshot ID or a kopia manifest ID, after O(uploader_type)).
  returned: state=present
  type: list
  elements: dict
  sample: [{"namespace": "shop", "pod": "db-0", "volume": "data", "phase": "Completed", "snapshot_id": "1a2b3c4d",
            "message": ""}]
integrity:
  description:
    - The backup's integrity manifest (C(<name>-manifest.json), written before the commit marker) - C(manifest)
      (true), C(signed_by) (the SHA-256 fingerprint of the signing key's public half, null when unsigned), C(objects)
      and C(items) (how many objects and tarball entries it covers).
    - Null in check mode, for a failed run and for a backup made without a manifest (by Velero, by an older kubedr).
  returned: state=present
  type: dict
  sample: {"manifest": true, "signed_by": "SHA256:0f3c...", "objects": 8, "items": 42}
deleted_objects:
  description: Objects deleted (in check mode, that would be).
  returned: state=absent
  type: list
  elements: str
  sample: ["s3://velero/backups/old/velero-backup.json"]
forgotten_snapshots:
  description:
    - The backup's snapshot IDs forgotten (in check mode, that would be), by repository, as the backup's records
      name them - a restic repository by its identifier, a kopia repository as C(kopia:) and its location.
      Snapshots already gone (or in a repository that does not exist) are left out.
  returned: state=absent
  type: dict
  sample: {"s3:http://minio:9000/velero/restic/shop": ["1a2b3c4d"],
           "kopia:s3:http://minio:9000/velero/kopia/web": ["f4c5b0e3c0a1d2e3f4a5b6c7d8e9f0a1"]}
deleted_restores:
  description: Names of the restores made from the backup whose records under C(restores/) were deleted (in check
    mode, that would be).
  returned: state=absent
  type: list
  elements: str
  sample: ["old-20240101020000"]
locked_until:
  description:
    - When an object of the backup is still under S3 Object Lock, the latest retain-until date (RFC 3339); the
      backup was left whole (nothing deleted, C(changed=false), with a warning) and can be deleted from then on.
      V(null) for a legal hold, which has no date (see docs/immutability.md).
  returned: state=absent and the backup is still locked
  type: str
  sample: "2026-12-31T02:00:00Z"
lock_mode:
  description: The Object Lock retention mode of the locked backup (V(governance) or V(compliance)), or
    V(legal_hold).
  returned: state=absent and the backup is still locked
  type: str
  sample: compliance
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    ENCRYPTION_ARG_SPEC,
    FILTER_ARG_SPEC,
    SIGNING_KEY_ARG_SPEC,
    VOLUME_ARG_SPEC,
    common_argument_spec,
    new_module,
    storage_options,
)
from ansible_collections.kubedr.backup.plugins.module_utils.backup.run import run


def _string_list():
    return dict(type="list", elements="str")


BACKUP_ARG_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    included_cluster_scoped_resources=_string_list(),
    excluded_cluster_scoped_resources=_string_list(),
    included_namespace_scoped_resources=_string_list(),
    excluded_namespace_scoped_resources=_string_list(),
    ordered_resources=dict(type="dict"),
    ttl=dict(type="str", default="720h"),
    labels=dict(type="dict"),
    default_volumes_to_fs_backup=dict(type="bool", default=False),
    uploader_type=dict(type="str", choices=["restic", "kopia"], default="restic"),
    volume_policies=dict(type="raw"),
    hooks=dict(type="dict"),
    all_api_versions=dict(type="bool", default=False),
)
for _shared in (FILTER_ARG_SPEC, VOLUME_ARG_SPEC, ENCRYPTION_ARG_SPEC, SIGNING_KEY_ARG_SPEC):
    BACKUP_ARG_SPEC.update(_shared)


def main():
    module, auth = new_module("k8s_backup", common_argument_spec(BACKUP_ARG_SPEC), supports_check_mode=True)
    options = dict((key, module.params[key]) for key in BACKUP_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(auth, storage_options(module.params), options,
                                            check_mode=module.check_mode), job=("backup", options["name"]))


if __name__ == "__main__":
    main()
