# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup item actions (pure): which other items an item pulls into the backup.

- Pod -> its PersistentVolumeClaims and its PriorityClass
- PersistentVolumeClaim -> its bound PersistentVolume
- ServiceAccount -> the ClusterRoleBindings naming it, and their ClusterRoles
- custom resource -> its CustomResourceDefinition (unless CRDs were filtered out)

An action returns references; the pipeline resolves them with LISTs (never a GET per
item) and backs each referenced item up once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import (
    CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, CRDS, PODS, PRIORITY_CLASSES, PVCS, PVS, SERVICE_ACCOUNTS)

ItemRef = namedtuple("ItemRef", "group_resource namespace name")
ItemRef.__doc__ = "A reference to an item: namespace is None for cluster-scoped items."


class ActionContext(object):
    """What actions need beyond the item: CRD names (to recognise custom resources), an index
    of ClusterRoleBindings by ServiceAccount subject, and whether CRDs may be pulled in."""

    def __init__(self, crd_names=(), crb_index=None, include_crds=True):
        self.crd_names = frozenset(crd_names)
        self.crb_index = crb_index or {}
        self.include_crds = include_crds


def build_crb_index(cluster_role_bindings):
    """{(namespace, serviceaccount): [(binding name, cluster role name)]} from ClusterRoleBinding
    dicts; only the names are kept."""
    index = {}
    for binding in cluster_role_bindings:
        role_ref = binding.get("roleRef") or {}
        role = role_ref.get("name") if role_ref.get("kind", "ClusterRole") == "ClusterRole" else None
        name = (binding.get("metadata") or {}).get("name")
        for subject in binding.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                key = (subject.get("namespace") or "", subject.get("name"))
                index.setdefault(key, []).append((name, role))
    return index


def _pod_refs(item, namespace, context):
    spec = item.get("spec") or {}
    refs = []
    for volume in spec.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            refs.append(ItemRef(PVCS, namespace, claim))
    if spec.get("priorityClassName"):
        refs.append(ItemRef(PRIORITY_CLASSES, None, spec["priorityClassName"]))
    return refs


def _pvc_refs(item, namespace, context):
    volume = (item.get("spec") or {}).get("volumeName")
    return [ItemRef(PVS, None, volume)] if volume else []


def _service_account_refs(item, namespace, context):
    name = (item.get("metadata") or {}).get("name")
    refs = []
    for binding, role in context.crb_index.get((namespace, name), []):
        refs.append(ItemRef(CLUSTER_ROLE_BINDINGS, None, binding))
        if role:
            refs.append(ItemRef(CLUSTER_ROLES, None, role))
    return refs


ACTIONS = {
    PODS: _pod_refs,
    PVCS: _pvc_refs,
    SERVICE_ACCOUNTS: _service_account_refs,
}


def related_items(group_resource, item, context):
    """References to the items an item pulls into the backup (possibly empty)."""
    namespace = (item.get("metadata") or {}).get("namespace")
    refs = list(ACTIONS[group_resource](item, namespace, context)) if group_resource in ACTIONS else []
    if context.include_crds and group_resource in context.crd_names:
        refs.append(ItemRef(CRDS, None, group_resource))
    return refs


def needs_crb_index(group_resources):
    """Whether the ClusterRoleBinding index is needed for a backup of these resource types."""
    return SERVICE_ACCOUNTS in set(group_resources)
