# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore named items: the ``items`` option's ``resource/namespace/name`` patterns, and the
items a named item pulls in with it (``with_related``): the claims of a workload's pods (their
volumes follow as for any claim), the ServiceAccount they run as, and the bindings of a
ServiceAccount with the roles they grant. Pure functions over plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection

ItemPattern = namedtuple("ItemPattern", "text group_resources namespace name")

# Where each workload keeps its pod template's spec.
POD_SPEC_PATHS = {
    kr.PODS: ("spec",),
    kr.DEPLOYMENTS: ("spec", "template", "spec"),
    kr.REPLICA_SETS: ("spec", "template", "spec"),
    kr.STATEFUL_SETS: ("spec", "template", "spec"),
    kr.DAEMON_SETS: ("spec", "template", "spec"),
    kr.JOBS: ("spec", "template", "spec"),
    kr.CRON_JOBS: ("spec", "jobTemplate", "spec", "template", "spec"),
    kr.REPLICATION_CONTROLLERS: ("spec", "template", "spec"),
}


def parse_item_patterns(patterns, api_resources):
    """``resource/namespace/name`` (namespaced) or ``resource/name`` (cluster-scoped, or a
    namespaced resource in any namespace); each part may be a glob, the resource is resolved
    as every resource filter resolves it (``deploy`` and ``deployments`` are
    ``deployments.apps``)."""
    if patterns is None:
        return None
    if not isinstance(patterns, list) or not patterns:
        raise InvalidOptionError("items must be a non-empty list of 'resource/namespace/name' or "
                                 "'resource/name' patterns")
    parsed = []
    for index, text in enumerate(patterns):
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidOptionError("items[%d]: %r is not 'resource/namespace/name' or 'resource/name' (each part "
                                     "may be a glob such as 'web-*')" % (index, text))
        group_resources = frozenset(selection.resolve_resource_patterns([parts[0]], api_resources,
                                                                        "items[%d]" % index))
        namespace = parts[1] if len(parts) == 3 else None
        parsed.append(ItemPattern(text, group_resources, namespace, parts[-1]))
    return parsed


def named_part(pattern, value):
    """One part of a pattern against a name: ``*``, the name itself, or a glob."""
    return pattern == "*" or pattern == value or selection.glob_match(pattern, value)


def named(patterns, group_resource, namespace, name):
    """True when one of the parsed patterns names this item of the backup."""
    for pattern in patterns:
        if "*" not in pattern.group_resources and group_resource not in pattern.group_resources:
            continue
        if pattern.namespace is not None and not named_part(pattern.namespace, namespace or ""):
            continue
        if named_part(pattern.name, name or ""):
            return True
    return False


def _pod_spec(group_resource, item):
    spec = item
    for key in POD_SPEC_PATHS.get(group_resource, ()):
        spec = spec.get(key) if isinstance(spec, dict) else None
    return spec if isinstance(spec, dict) and group_resource in POD_SPEC_PATHS else None


def references(group_resource, namespace, item):
    """(group_resource, namespace, name or a glob) of the items this one pulls in directly."""
    found = []
    spec = _pod_spec(group_resource, item)
    if spec is not None:
        for volume in spec.get("volumes") or ():
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName") if isinstance(volume, dict) else None
            if isinstance(claim, str) and claim:
                found.append((kr.PVCS, namespace, claim))
        account = spec.get("serviceAccountName") or spec.get("serviceAccount")
        if isinstance(account, str) and account:
            found.append((kr.SERVICE_ACCOUNTS, namespace, account))
    if group_resource == kr.STATEFUL_SETS:
        # A StatefulSet's claims are named <template>-<statefulset>-<ordinal>.
        name = (item.get("metadata") or {}).get("name") or ""
        for template in (item.get("spec") or {}).get("volumeClaimTemplates") or ():
            claim = (template.get("metadata") or {}).get("name") if isinstance(template, dict) else None
            if isinstance(claim, str) and claim:
                found.append((kr.PVCS, namespace, "%s-%s-[0-9]*" % (claim, name)))
    if group_resource in (kr.ROLE_BINDINGS, kr.CLUSTER_ROLE_BINDINGS):
        ref = item.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole" and ref.get("name"):
            found.append((kr.CLUSTER_ROLES, None, ref["name"]))
        elif ref.get("kind") == "Role" and ref.get("name") and namespace:
            found.append((kr.ROLES, namespace, ref["name"]))
    return found


def binds_service_account(binding, binding_namespace, account_namespace, account_name):
    """True when a RoleBinding or ClusterRoleBinding names this ServiceAccount as a subject."""
    for subject in binding.get("subjects") or ():
        if not isinstance(subject, dict) or subject.get("kind") != "ServiceAccount":
            continue
        if subject.get("name") == account_name and \
                (subject.get("namespace") or binding_namespace) == account_namespace:
            return True
    return False
