# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""What a restore does before it touches the cluster: the order of resources
(priority tiers), the resources that are never restored, namespace mapping and
the rules that skip single items. Pure functions over plain data.

Group-resources are written the way Velero writes them in a backup archive:
`resource.group` (`deployments.apps`), just `resource` for the core group
(`pods`, `namespaces`).
"""

import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

CRD_GROUP_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"

# DESIGN.md section 6, in this order. Velero resolves these entries through discovery;
# entries without a group are resolved with GROUP_RESOURCE_ALIASES below.
DEFAULT_HIGH_PRIORITIES = (
    "customresourcedefinitions",
    "namespaces",
    "storageclasses",
    "volumesnapshotclass.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "clusterroles",
    "roles",
    "serviceaccounts",
    "clusterrolebindings",
    "rolebindings",
    "secrets",
    "configmaps",
    "limitranges",
    "priorityclasses",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    "services",
)
DEFAULT_LOW_PRIORITIES = (
    "clusterbootstraps.run.tanzu.vmware.com",
    "clusters.cluster.x-k8s.io",
    "clusterresourcesets.addons.cluster.x-k8s.io",
)

# How a priority entry without its group is meant: the group-resource discovery
# resolves it to on a standard cluster. Core resources (`pods`, `secrets`, ...) need no
# entry: their group-resource is the bare resource. `volumesnapshotclass` is singular
# in Velero's default list (a long-standing typo there); it is mapped to the real
# plural so the entry does its job.
GROUP_RESOURCE_ALIASES = {
    "customresourcedefinitions": CRD_GROUP_RESOURCE,
    "storageclasses": "storageclasses.storage.k8s.io",
    "volumesnapshotclass.snapshot.storage.k8s.io": "volumesnapshotclasses.snapshot.storage.k8s.io",
    "clusterroles": "clusterroles.rbac.authorization.k8s.io",
    "roles": "roles.rbac.authorization.k8s.io",
    "clusterrolebindings": "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings": "rolebindings.rbac.authorization.k8s.io",
    "priorityclasses": "priorityclasses.scheduling.k8s.io",
    "replicasets": "replicasets.apps",
    "csinodes": "csinodes.storage.k8s.io",
    "volumeattachments": "volumeattachments.storage.k8s.io",
}

# Velero's nonRestorableResources (pkg/controller/restore_controller.go), same entries.
NEVER_RESTORED = frozenset((
    "nodes",
    "events",
    "events.events.k8s.io",
    "backups.velero.io",
    "restores.velero.io",
    "resticrepositories.velero.io",
    "csinodes.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
    "backuprepositories.velero.io",
))

PRIORITY_SEPARATOR = "-"

# RFC 1123 label: what a namespace name must be.
_NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
# EndpointSlices the control plane keeps for Services with a selector: it creates them again for
# the restored Service and deletes restored copies, so restoring them only adds churn.
ENDPOINT_SLICES = "endpointslices.discovery.k8s.io"
ENDPOINT_SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
ENDPOINT_SLICE_CONTROLLER = "endpointslice-controller.k8s.io"


def canonical_group_resource(name):
    """`storageclasses` -> `storageclasses.storage.k8s.io`; anything else unchanged."""
    return GROUP_RESOURCE_ALIASES.get(name, name)


def is_never_restored(group_resource):
    """True for resources a restore must never create (nodes, events, Velero's own)."""
    return canonical_group_resource(group_resource) in NEVER_RESTORED


def check_included_resources_restorable(included_resources):
    """Raise when `included_resources` names a never-restored resource (as Velero does)."""
    named = sorted(set(
        entry for entry in (included_resources or ())
        if isinstance(entry, str) and is_never_restored(entry)
    ))
    if named:
        raise InvalidOptionError(
            "included_resources: %s cannot be restored (never restored: %s)"
            % (", ".join(named), ", ".join(sorted(NEVER_RESTORED))))


def parse_priorities(priorities):
    """Split a `priorities` option into (high, low) tuples.

    Accepts a list (`[a, b, "-", c]`) or Velero's comma-separated string
    (`"a,b,-,c"`); entries before the `-` separator come first, entries after it last.
    None means the defaults.
    """
    if priorities is None:
        return DEFAULT_HIGH_PRIORITIES, DEFAULT_LOW_PRIORITIES
    if isinstance(priorities, str):
        priorities = [part.strip() for part in priorities.split(",")] if priorities.strip() else []
    if not isinstance(priorities, (list, tuple)):
        raise InvalidOptionError("priorities: must be a list of resource names, got %s"
                                 % type(priorities).__name__)
    for index, entry in enumerate(priorities):
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidOptionError("priorities[%d]: must be a non-empty resource name, got %r"
                                     % (index, entry))
    entries = [entry.strip() for entry in priorities]
    if entries.count(PRIORITY_SEPARATOR) > 1:
        raise InvalidOptionError("priorities: the separator %r may appear only once (high ... - low ...)"
                                 % PRIORITY_SEPARATOR)
    if PRIORITY_SEPARATOR not in entries:
        return tuple(entries), ()
    split_at = entries.index(PRIORITY_SEPARATOR)
    return tuple(entries[:split_at]), tuple(entries[split_at + 1:])


def _resolve_entry(entry, present):
    """The group-resources of the backup a priority entry stands for (sorted).

    Exact or aliased names first; an entry without a group also matches every
    group-resource whose resource part it is (`clusters` -> `clusters.cluster.x-k8s.io`),
    which is how discovery would resolve it for a custom resource.
    """
    canonical = canonical_group_resource(entry)
    if canonical in present:
        return [canonical]
    if "." in entry:
        return []
    return sorted(gr for gr in present if gr.split(".", 1)[0] == entry)


def restore_tiers(group_resources, priorities=None):
    """Order the group-resources of a backup into tiers for the restore.

    Returns a list of lists: tiers are restored one after the other, the
    group-resources of one tier (and their items) concurrently. CRDs always form the
    first tier; then one tier per high-priority entry, in order; then one tier with
    every other resource (alphabetical: Velero restores those alphabetically, and
    their order carries no dependency); then one tier per low-priority entry.
    Entries not in the backup are ignored, each group-resource appears once (its
    first place wins) and never-restored resources are left out.
    """
    high, low = parse_priorities(priorities)
    present = set(gr for gr in group_resources if not is_never_restored(gr))
    placed = set()
    tiers = []

    def take(candidates):
        tier = [gr for gr in candidates if gr not in placed]
        placed.update(tier)
        if tier:
            tiers.append(tier)

    take([CRD_GROUP_RESOURCE] if CRD_GROUP_RESOURCE in present else [])
    for entry in high:
        take(_resolve_entry(entry, present))
    low_tiers = [_resolve_entry(entry, present) for entry in low]
    low_placed = set(gr for tier in low_tiers for gr in tier)
    take(sorted(present - placed - low_placed))
    for tier in low_tiers:
        take(tier)
    return tiers


def validate_namespace_mapping(namespace_mapping, restored_namespaces=None):
    """Check a `namespace_mapping` option; return it as a plain dict.

    Two source namespaces must not land in one target namespace: neither two mapping
    entries with the same target, nor (when `restored_namespaces`, the source
    namespaces this restore includes, is given) a target that is also a restored
    source namespace left in place.
    """
    if not namespace_mapping:
        return {}
    if not isinstance(namespace_mapping, dict):
        raise InvalidOptionError("namespace_mapping: must be a dict of source namespace: target namespace")
    sources_by_target = {}
    for source, target in namespace_mapping.items():
        for role, name in (("source", source), ("target", target)):
            if not isinstance(name, str) or not _NAMESPACE_NAME.match(name):
                raise InvalidOptionError(
                    "namespace_mapping: %s namespace %r is not a valid namespace name "
                    "(lowercase letters, digits and '-', at most 63 characters)" % (role, name))
        sources_by_target.setdefault(target, []).append(source)
    if restored_namespaces is not None:
        for namespace in restored_namespaces:
            if namespace in sources_by_target and namespace not in namespace_mapping:
                sources_by_target[namespace].append(namespace)
    for target, sources in sorted(sources_by_target.items()):
        if len(sources) > 1:
            raise InvalidOptionError(
                "namespace_mapping: namespaces %s would all be restored into namespace %r; "
                "map each source namespace to a target namespace of its own"
                % (", ".join(repr(s) for s in sorted(sources)), target))
    return dict(namespace_mapping)


def map_namespace(namespace, namespace_mapping):
    """The namespace an item of source `namespace` is restored into ('' stays '')."""
    if not namespace:
        return namespace
    return (namespace_mapping or {}).get(namespace, namespace)


def _job_finished(job):
    status = job.get("status") or {}
    if status.get("completionTime"):
        return True
    return any(
        condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
        for condition in status.get("conditions") or ()
    )


def skip_reason(item, group_resource):
    """Why an item from the backup must not be restored, or None to restore it."""
    if is_never_restored(group_resource):
        return "%s are never restored" % group_resource
    if group_resource == "pods":
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        if annotations.get(MIRROR_POD_ANNOTATION):
            return "mirror pod: the kubelet creates it from a static manifest"
        phase = (item.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return "pod has completed (phase %s)" % phase
    if group_resource == "jobs.batch" and _job_finished(item):
        return "job has finished"
    if group_resource == ENDPOINT_SLICES:
        labels = (item.get("metadata") or {}).get("labels") or {}
        if labels.get(ENDPOINT_SLICE_MANAGED_BY) == ENDPOINT_SLICE_CONTROLLER:
            return "endpoint slice managed by the control plane: it is created again for its Service"
    return None
