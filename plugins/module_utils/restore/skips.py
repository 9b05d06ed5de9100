# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore never creates: the resources that are never restored and the rules that
skip single items (completed pods, finished jobs, mirror pods, controller-made endpoint
slices). Pure functions over plain data.

Group-resources are written the way Velero writes them in a backup archive:
`resource.group` (`deployments.apps`), just `resource` for the core group
(`pods`, `namespaces`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

# How a resource name without its group is meant (in `priorities` and `included_resources`):
# the group-resource discovery resolves it to on a standard cluster. Core resources (`pods`,
# `secrets`, ...) need no entry: their group-resource is the bare resource.
# `volumesnapshotclass` is singular in Velero's default priority list (a long-standing typo
# there); it is mapped to the real plural so the entry does its job.
GROUP_RESOURCE_ALIASES = {
    "customresourcedefinitions": kr.CRDS,
    "storageclasses": "storageclasses.storage.k8s.io",
    "volumesnapshotclass.snapshot.storage.k8s.io": "volumesnapshotclasses.snapshot.storage.k8s.io",
    "clusterroles": kr.CLUSTER_ROLES,
    "roles": "roles.rbac.authorization.k8s.io",
    "clusterrolebindings": kr.CLUSTER_ROLE_BINDINGS,
    "rolebindings": kr.ROLE_BINDINGS,
    "priorityclasses": kr.PRIORITY_CLASSES,
    "replicasets": "replicasets.apps",
    "csinodes": "csinodes.storage.k8s.io",
    "volumeattachments": "volumeattachments.storage.k8s.io",
}

# Velero's nonRestorableResources (pkg/controller/restore_controller.go), same entries.
NEVER_RESTORED = frozenset((
    kr.NODES,
    kr.EVENTS,
    "events.events.k8s.io",
    "backups.velero.io",
    "restores.velero.io",
    "resticrepositories.velero.io",
    "csinodes.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
    "backuprepositories.velero.io",
))

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
# EndpointSlices the control plane keeps for Services with a selector: it creates them again for
# the restored Service and deletes restored copies, so restoring them only adds churn.
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
    if group_resource == kr.PODS:
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        if annotations.get(MIRROR_POD_ANNOTATION):
            return "mirror pod: the kubelet creates it from a static manifest"
        phase = (item.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return "pod has completed (phase %s)" % phase
    if group_resource == kr.JOBS and _job_finished(item):
        return "job has finished"
    if group_resource == kr.ENDPOINT_SLICES:
        labels = (item.get("metadata") or {}).get("labels") or {}
        if labels.get(ENDPOINT_SLICE_MANAGED_BY) == ENDPOINT_SLICE_CONTROLLER:
            return "endpoint slice managed by the control plane: it is created again for its Service"
    return None
