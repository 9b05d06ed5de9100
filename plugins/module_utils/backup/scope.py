# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backup reads before its first write: discovery, the selection and the types it lists,
what the item actions need (CRD names, ClusterRoleBindings by ServiceAccount) and the
namespaces in scope. A failure here (unreachable API server, forbidden) leaves the storage
untouched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.backup import item_actions
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import CLUSTER_ROLE_BINDINGS, CRDS, NAMESPACES
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection


class BackupScope(object):
    """The result of ``ScopeReader.read``. ``namespaces_resource`` is None when the caller may
    not list namespaces; ``namespace_items`` are then stand-ins holding only a name."""

    def __init__(self, discovery, selection, listed, ordered_resources, context, namespaces_resource, namespace_items,
                 other_versions=None):
        self.discovery = discovery
        self.selection = selection
        self.listed = listed
        self.ordered_resources = ordered_resources  # {group_resource: [item names]}: listed first, in that order
        self.context = context
        self.namespaces_resource = namespaces_resource
        self.namespace_items = namespace_items
        # all_api_versions: {group_resource: [ApiResource in each other served version]}
        self.other_versions = other_versions or {}


class ScopeReader(object):
    """Reads a backup's scope from the cluster; warnings go to ``results`` and ``log``."""

    def __init__(self, kube, results, log):
        self.kube = kube
        self.results = results
        self.log = log

    def _warn(self, message):
        self.results.warn(message)
        self.log.warning(message)

    def read(self, store, options):
        discovery = self.kube.discover()
        for warning in discovery.warnings:
            self._warn(warning)
        foreign = store.unexpected_top_level_dirs()
        if foreign:
            self._warn("the storage location holds folders Velero does not expect (%s): Velero would mark it "
                       "unavailable; give this collection's backups a prefix of their own" % ", ".join(foreign))
        chosen = selection.BackupSelection(options, discovery.resources)
        candidates = selection.backup_resources(discovery.resources)
        listed = [r for r in candidates if chosen.lists_resource(r)]
        ordered = _ordered_resources(options, discovery)
        context = self._action_context(discovery, chosen, listed)
        namespaces_resource, namespace_items = self._selected_namespaces(discovery, chosen)
        other_versions = other_served_versions(discovery, candidates) if options.get("all_api_versions") else None
        return BackupScope(discovery, chosen, listed, ordered, context, namespaces_resource, namespace_items,
                           other_versions)

    def _selected_namespaces(self, discovery, chosen):
        """The Namespace objects in scope, read once (they are few). A caller allowed into some
        namespaces only cannot list namespaces: named (non-glob) namespaces are then used as given."""
        namespaces_resource = discovery.find(NAMESPACES)
        try:
            return namespaces_resource, [item for item in self.kube.list_items(namespaces_resource)
                                         if chosen.namespace_included(item["metadata"]["name"])]
        except ApiException as error:
            names = chosen.namespaces.includes
            if error.status != 403 or not names or any(selection.is_glob(n) for n in names):
                raise
        self._warn("cannot list namespaces (forbidden); backing up the named namespaces without their Namespace objects")
        stand_ins = [{"metadata": {"name": name}} for name in names if chosen.namespace_included(name)]
        return None, stand_ins

    def _read_for_actions(self, discovery, group_resource, reduce, purpose):
        """reduce(items) over a whole resource type an action needs; when the caller may not list
        it, a warning and None (the action then pulls nothing in)."""
        api_resource = discovery.find(group_resource)
        if api_resource is None:
            return None
        try:
            return reduce(self.kube.list_items(api_resource))
        except ApiException as error:
            self._warn("cannot list %s (%s): %s are not pulled in" % (group_resource, describe_api_error(error), purpose))
            return None

    def _action_context(self, discovery, chosen, listed_resources):
        include_crds = discovery.find(CRDS) is not None and not chosen.crds_filtered()
        crd_names = None
        if include_crds and any(r.group for r in listed_resources):
            crd_names = self._read_for_actions(
                discovery, CRDS, lambda crds: [crd["metadata"]["name"] for crd in crds],
                "definitions of custom resources")
        crb_index = None
        if item_actions.needs_crb_index(r.group_resource for r in listed_resources):
            crb_index = self._read_for_actions(
                discovery, CLUSTER_ROLE_BINDINGS, item_actions.build_crb_index,
                "cluster role bindings of service accounts")
        return item_actions.ActionContext(crd_names or (), crb_index, include_crds)


def other_served_versions(discovery, chosen):
    """all_api_versions (Velero's EnableAPIGroupVersions): for each type backed up in ``chosen``'s
    version, the other versions the server lists it in, ``{group_resource: [ApiResource]}``."""
    others = {}
    for api_resource in chosen:
        versions = [r for r in discovery.served_versions(api_resource.group_resource)
                    if r.version != api_resource.version and "list" in r.verbs]
        if versions:
            others[api_resource.group_resource] = versions
    return others


def _ordered_resources(options, discovery):
    """The ordered_resources option with its resource patterns resolved against discovery."""
    ordered_resources = {}
    for pattern, names in selection.parse_ordered_resources(options.get("ordered_resources")).items():
        for group_resource in selection.resolve_resource_patterns([pattern], discovery.resources,
                                                                  "ordered_resources"):
            ordered_resources[group_resource] = names
    return ordered_resources
