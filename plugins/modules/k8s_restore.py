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
      - Defaults to the backup's name followed by the time, C(<backup>-YYYYmmddHHMMSS); when a restore of the
        same backup in the same second has that name, C(-2), C(-3) and so on are added.
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
  items:
    description:
      - Restore only these items of the backup (after the filters), each written C(resource/namespace/name), or
        C(resource/name) for a cluster-scoped item or a namespaced one in any namespace, e.g.
        C(deployments/shop/web), C(secret/shop/db-*), C(clusterroles/shop-reader).
      - Each part may be a glob; the resource is resolved as in the filters (C(deploy), C(deployment),
        C(deployments.apps)); the namespace is the one in the backup, before O(namespace_mapping).
      - A pattern that names nothing in the backup is a warning. The namespaces of the named items are created
        as for any restore.
    type: list
    elements: str
  with_related:
    description:
      - With O(items), also restore what the named items need, transitively - the claims of a workload's pods
        (and the volumes bound to them), a StatefulSet's claims, the ServiceAccount its pods run as, the
        RoleBindings and ClusterRoleBindings naming that ServiceAccount and the roles they grant.
      - Pulled-in items are restored whatever the filters say, as items a backup item action adds.
    type: bool
    default: true
  wait_for_ready:
    description:
      - Readiness-gated tiers - after each tier of the restore order (see O(priorities)), wait until the workloads
        that tier created or updated are ready before the next tier starts, so that an operator and its webhooks
        serve before their custom resources are restored.
      - V(true) gates on Deployments, StatefulSets and DaemonSets with a 300 second timeout; a dict sets
        C(resources) (resource names or globs, resolved as the filters resolve them) and C(timeout) (seconds, for
        all the workloads of one tier together).
      - Ready means what C(kubectl rollout status) waits for - available (Deployments) or ready (StatefulSets,
        ReplicaSets) replicas, ready pods (DaemonSets), the C(Ready) condition (Pods), and for other kinds a
        C(Ready) or C(Available) condition when they have one.
      - A workload not ready in time is an error naming it and what it lacks (C(0 of 2 replicas available)); the
        restore goes on with the next tier and ends PartiallyFailed.
      - Workloads whose pods restore volume data become ready only after the last tier (their pods wait for the
        data), so do not gate on them. Check mode does not wait.
    type: raw
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
      - "An object annotated C(velero.io/restore-status: \"true\") has its status restored whatever this option
        says, and one annotated C(\"false\") never does (Velero 1.16's per-object choice); any other value of the
        annotation is ignored."
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
      - "A rule is C({conditions: {...}, patches: [...]}) (JSON patch), C({conditions: {...},
        merge_patches: [{patch_data: ...}]}) (JSON merge patch) or C({conditions: {...},
        strategic_patches: [{patch_data: ...}]}) (Kubernetes strategic merge patch: lists such as C(containers)
        merge by their key, with the patch strategy the target cluster's OpenAPI schema gives each field, and
        C($patch), C($retainKeys), C($deleteFromPrimitiveList), C($setElementOrder) directives)."
      - Conditions - C(group_resource) (glob, required), C(resource_name_regex), C(namespaces), C(label_selector),
        C(matches) (a list of C({path, value}) or a JMESPath expression over the item).
    type: raw
  priorities:
    description:
      - The restore order, replacing Velero's default list; a list or a comma-separated string.
        Entries after a C(-) entry are restored after every resource not named.
    type: raw
  api_version_priorities:
    description:
      - "For a backup made with M(kubedr.backup.k8s_backup)'s O(kubedr.backup.k8s_backup#module:all_api_versions)
        (or by Velero with its C(EnableAPIGroupVersions) feature), which holds the items of a group-resource in
        several API versions - per group-resource, the versions to create its items in, first preferred, as
        C({rockbands.music.example.io: [v2beta1, v1]}); the versions may be a list or a comma-separated string.
        Velero's C(enableapigroupversions) ConfigMap text (C(restoreResourcesVersionPriority), one
        C(<group_resource>=<version>,<version>) per line) is accepted as is."
      - "Without it, or when none of its versions is both in the backup and served by the cluster, the version is
        chosen in Velero's order - the cluster's preferred version if the backup has it; else the backup's
        preferred version if the cluster serves it; else the first version the cluster serves that the backup has,
        in Kubernetes' version priority (GA, beta, alpha; higher numbers first)."
      - Items of a group-resource the cluster serves in none of the backup's versions are each an error naming
        what the backup has and what the cluster serves; the rest of the restore goes on (V(PartiallyFailed)).
      - A backup holding one version per group-resource is restored as always.
    type: raw
  workers:
    description:
      - How many items of one priority tier are created concurrently.
      - There is no client-side rate limit; the API server's priority and fairness protects it. Lower this
        to leave a busy control plane more room, at the cost of a slower restore.
      - Up to 64, every worker keeps its connection to the API server between requests.
    type: int
    default: 32
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
        C(on_error), C(exec_timeout), C(wait_timeout), C(wait_for_ready); run once the hook's container runs - or,
        with C(wait_for_ready=true), once it is Ready, as Velero's C(waitForReady) - and the pod's volume data is
        restored; the annotation C(post.hook.restore.velero.io/wait-for-ready) says the same).
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
  volume_data_in_place:
    description:
      - Restore only the data of chosen pod volume claims, from the backup's file-system volume backups (restic or
        kopia), into the claims that exist in the cluster now; no resource is created or changed except the scale of
        the workloads using the claims. Velero has no such restore (velero#504, #7481, #7719).
      - For each chosen claim the newest completed snapshot of the backup is used (its PodVolumeBackup's
        C(velero.io/pvc-name) annotation names the claim); O(namespace_mapping) applies (the data of V(ns1/a) goes
        into V(ns2/a)). Every other restore option but O(repository_password), O(node_agent), O(restore_helper_image)
        and O(encryption) is ignored in this mode, except O(integrity) and O(verify_key) - the backup is checked
        before any workload is scaled - and a run of the same O(name) is refused while one runs, as for a restore.
      - The Deployments, StatefulSets and ReplicaSets whose pods use a claim are scaled to zero, each by one patch
        that also records its replica count in the annotation C(kubedr.io/replicas-before-in-place-restore) (and in
        the restore's log), so that a rerun after a crash scales it back to that count. Once no pod uses the claim,
        a helper pod (O(restore_helper_image)) mounting it runs on a node with a node agent, the node agent restores
        the snapshot into it, and the helper pod is deleted. Every workload is then scaled back to its count and the
        annotation removed, also when the restore failed half-way.
      - Pods of any other controller (DaemonSet, Job, a custom one) make that claim fail with a clear error; so do
        pods no controller owns, unless C(bare_pods=delete).
      - A data restore is not idempotent - every run restores again and reports C(changed=true); none leaves a
        workload scaled down. In check mode, RV(plan) says which workloads would be scaled from how many replicas
        and which snapshot would go into which claim.
      - Needs O(repository_password) and the node agents (O(node_agent)).
    type: dict
    suboptions:
      claims:
        description:
          - The claims whose data is restored, as V(namespace/claim) in the backup's namespaces; both parts may be
            shell-style globs (V(shop/data-*)). A pattern matching no claim of the backup is an error.
        type: list
        elements: str
        required: true
      delete_extra:
        description:
          - Remove the files of the claim that the snapshot does not hold, so the volume equals the snapshot (restic
            C(restore --delete), restic 0.17 or later in the node agent; kopia C(snapshot restore --delete-extra)).
          - V(false) overwrites the snapshot's files and keeps the others.
        type: bool
        default: true
      timeout:
        description:
          - Seconds to wait, per claim, for its pods to go away, for the helper pod to run and for its volume
            directory to appear.
        type: int
        default: 600
      bare_pods:
        description:
          - What to do with pods that use a chosen claim and have no controller - V(fail) the claim, or V(delete)
            them (they are not recreated).
        type: str
        choices: [fail, delete]
        default: fail
  integrity:
    description:
      - What the backup's integrity manifest (C(<name>-manifest.json), see the collection's C(docs/integrity.md))
        must show before anything reaches the cluster, check mode included. Every object of the backup is read
        once, its SHA-256 (as stored) and that of every tarball entry compared with the manifest, and the restore
        then uses those verified bytes only.
      - V(if_present) refuses a backup whose manifest does not match it (a changed, missing or added object or
        item); a backup without a manifest (made by Velero or an older kubedr) is restored with a warning.
      - V(required) also refuses a backup without a manifest.
      - V(ignore) checks nothing.
    type: str
    choices: [required, if_present, ignore]
    default: if_present
  verify_key:
    description:
      - An Ed25519 public key (PEM, or the path of a file holding one) the manifest must be signed with
        (M(kubedr.backup.k8s_backup)'s O(kubedr.backup.k8s_backup#module:signing_key)). With it, a backup whose
        manifest is missing, unsigned, signed by another key or changed since it was signed is refused - the check
        that holds against whoever can write to the bucket (without it, such a writer can recompute the digests).
      - If not given, the environment variable E(KUBEDR_VERIFY_KEY) is used.
    type: str
requirements:
  - kubernetes >= 24.2.0
  - boto3 >= 1.28.0
  - jmespath (for JMESPath conditions of O(resource_modifiers))
  - cryptography (for O(verify_key) and O(encryption))
notes:
  - Restores of a backup made by Velero work, with or without C(-preferredversion) copies in the archive, and
    with the other versions' folders Velero's C(EnableAPIGroupVersions) writes (see O(api_version_priorities)).
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

- name: Restore one Deployment, with its claims, volumes, ServiceAccount and its bindings
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    items:
      - deployments/shop/web
    storage_location: "{{ location }}"

- name: Restore two Secrets only, nothing they would pull in, and preview it first
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    items: [secrets/shop/db-credentials, secrets/shop/tls-*]
    with_related: false
    storage_location: "{{ location }}"
  check_mode: true

- name: Restore an operator before its custom resources, gated on its Deployment being available
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    # The default order, then the custom resources last (after "-"), once the operator serves.
    priorities: [customresourcedefinitions, namespaces, storageclasses, persistentvolumes, persistentvolumeclaims,
                 serviceaccounts, clusterroles, clusterrolebindings, roles, rolebindings, secrets, configmaps,
                 services, "-", databases.example.com]
    wait_for_ready:
      resources: [deployments]
      timeout: 600
    storage_location: "{{ location }}"

- name: Preview what a restore would do, with a diff of the objects that differ
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    existing_resource_policy: update
    storage_location: "{{ location }}"
  check_mode: true
  diff: true
  register: preview

- name: Restore only a backup signed with our key (docs/integrity.md)
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    integrity: required
    verify_key: /etc/kubedr/manifest-signing.pub
    storage_location: "{{ location }}"

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

- name: Put the data of the claims data-* of namespace shop back as it was in a backup, in place
  kubedr.backup.k8s_restore:
    backup_name: nightly-20240101
    volume_data_in_place:
      claims: ["shop/data-*"]
      delete_extra: true
    repository_password: "{{ vault_repository_password }}"
    storage_location: "{{ location }}"
  register: in_place

- name: Restore a backup holding every served API version, preferring v2beta1 of one custom resource
  kubedr.backup.k8s_restore:
    backup_name: all-versions-20240101
    api_version_priorities:
      rockbands.music.example.io: [v2beta1, v1]
    storage_location: "{{ location }}"
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
    - With O(volume_data_in_place), one entry per claim - C(action) (V(restore_data_in_place)), C(namespace),
      C(claim), C(snapshot_id), C(workloads) (each with the C(replicas) it would be scaled from, to 0 and back) and
      C(message), a sentence saying all of it.
    - In check mode, one entry per item with the action the restore would take - C(create), C(update),
      C(recreate), C(skip_identical), C(skip_differs) (exists, differs, left alone), C(skip) (see C(reason))
      or C(fail).
  returned: check mode
  type: list
  elements: dict
  sample: [{"resource": "v1/ConfigMap", "group_resource": "configmaps", "namespace": "shop", "name": "a",
            "action": "skip_differs", "reason": "exists and differs"}]
integrity:
  description:
    - The integrity check (O(integrity)) - C(status) (V(verified), V(no_manifest), V(failed) when the restore was
      refused, V(not_checked) with O(integrity=ignore)), C(signature) (V(valid), V(invalid), V(absent),
      V(unchecked) when signed and no O(verify_key) was given), C(signed_by) (the signing key's fingerprint),
      C(tool_version), C(objects_checked), C(items_checked), C(problems) and C(unlisted_objects).
    - Each problem names what does not match - C(about) (V(object), V(item), V(commit_marker), V(signature),
      V(manifest)), C(problem) (V(changed), V(missing), V(unexpected), V(unsigned), V(invalid), V(other_key),
      V(unreadable)), C(key) (an object) or C(path) (a tarball entry), C(expected) and C(actual) digests, and
      C(message).
  returned: when the backup was read (not for the rerun of a recorded restore, which returns that restore's result)
  type: dict
  sample: {"status": "failed", "signature": "absent", "signed_by": null, "tool_version": "0.1.0",
           "objects_checked": 8, "items_checked": 12, "unlisted_objects": [],
           "problems": [{"about": "item", "problem": "unexpected",
                         "message": "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/x.json is in the
                                     tarball but not in the manifest",
                         "path": "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/x.json"}]}
api_versions:
  description:
    - For each group-resource the backup holds in several API versions (O(api_version_priorities)), the version its
      items are created in - C(version) (null when the cluster serves none of the backup's), C(rule) (V(user
      priority), V(cluster preferred version), V(backup preferred version), V(highest priority common version)),
      C(backup_versions), C(backup_preferred), C(cluster_versions) and C(cluster_preferred). In check mode too;
      RV(plan) names each item by the chosen version (C(resource)).
  returned: when the backup holds a group-resource in several versions that the cluster serves
  type: dict
  sample: {"rockbands.music.example.io": {"version": "v1", "rule": "cluster preferred version",
           "backup_versions": ["v1", "v2beta1"], "backup_preferred": "v2beta1",
           "cluster_versions": ["v1"], "cluster_preferred": "v1"}}
volume_data_in_place:
  description:
    - With O(volume_data_in_place), one entry per chosen claim - C(namespace) and C(claim) (where the data went),
      C(source_namespace), C(snapshot_id), C(uploader), C(bytes) (the snapshot's size as backed up),
      C(pod_volume_backup), C(workloads) (C(kind), C(namespace), C(name), C(replicas) - the count scaled to zero and
      back), C(bare_pods), C(helper_pod), C(status) (V(Completed), V(Failed), V(Planned) in check mode) and C(error).
    - A failed claim is also an error of RV(restore_errors), the restore is then V(PartiallyFailed), and the play's
      output shows the reason as a warning.
  returned: with O(volume_data_in_place)
  type: list
  elements: dict
  sample: [{"namespace": "shop", "claim": "data-db", "source_namespace": "shop", "snapshot_id": "5e1c...",
            "uploader": "restic", "bytes": 1048576, "pod_volume_backup": "nightly-db-0-data",
            "workloads": [{"kind": "StatefulSet", "namespace": "shop", "name": "db", "replicas": 1}],
            "bare_pods": [], "helper_pod": "kubedr-in-place-x7k2q", "status": "Completed", "error": null}]
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
    RESTORE_INTEGRITY_ARG_SPEC,
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
    items=dict(type="list", elements="str"),
    with_related=dict(type="bool", default=True),
    wait_for_ready=dict(type="raw"),
    restore_pvs=dict(type="bool", default=True),
    preserve_node_ports=dict(type="bool", default=False),
    existing_resource_policy=dict(type="str", choices=["none", "update", "recreate"], default="none"),
    restore_status=dict(type="dict", options=dict(included_resources=_string_list(),
                                                  excluded_resources=_string_list())),
    resource_modifiers=dict(type="raw"),
    priorities=dict(type="raw"),
    api_version_priorities=dict(type="raw"),
    workers=dict(type="int", default=DEFAULT_WORKERS),
    max_archive_size=dict(type="str", default=DEFAULT_MAX_ARCHIVE_SIZE),
    hooks=dict(type="dict"),
    restore_helper_image=dict(type="str", default="docker.io/library/busybox:1.36"),
    volume_restore_timeout=dict(type="int", default=600),
    volume_data_in_place=dict(type="dict", options=dict(
        claims=dict(type="list", elements="str", required=True),
        delete_extra=dict(type="bool", default=True),
        timeout=dict(type="int", default=600),
        bare_pods=dict(type="str", choices=["fail", "delete"], default="fail"),
    )),
)
for _shared in (FILTER_ARG_SPEC, VOLUME_ARG_SPEC, ENCRYPTION_ARG_SPEC, RESTORE_INTEGRITY_ARG_SPEC):
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
