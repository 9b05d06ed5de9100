# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which items a comparison looks at: Velero's backup filters (selection/), applied the same way
to both sides, so that an item is never "removed" only because one side was read more narrowly.

The filters are resolved against the resource types known: the cluster's discovery when the
cluster is one side, plus a stand-in for every group-resource a backup holds that discovery does
not serve (built from its first item: version, kind, scope). Comparing two backups, only the
stand-ins are known, so a resource is named by its plural (``configmaps``), kind or
``resource.group``; short names need the cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection

# A stand-in serves the verbs a backup needs, as the types a backup lists do.
STAND_IN_VERBS = tuple(sorted(selection.REQUIRED_VERBS))


def stand_in(group_resource, api_version, kind, namespaced):
    """An ApiResource for a group-resource known only from an item."""
    resource, _dot, group = group_resource.partition(".")
    version = (api_version or "").rpartition("/")[2]
    return ApiResource(group, version, resource, kind or "", namespaced, STAND_IN_VERBS, True)


class DiffScope(object):
    """The filters of one comparison. ``api_resources``: the cluster's discovery (empty when
    two backups are compared)."""

    def __init__(self, filters, api_resources=()):
        selection.validate_filters(filters)
        self.filters = filters
        self.served = dict((r.group_resource, r) for r in selection.backup_resources(api_resources))
        self.stand_ins = {}
        self._selection = None
        self._decisions = {}  # group_resource: whether its type is in scope

    @property
    def selection(self):
        if self._selection is None:
            self._selection = selection.BackupSelection(
                self.filters, list(self.served.values()) + list(self.stand_ins.values()))
        return self._selection

    def api_resource(self, group_resource, item, namespaced):
        """The ApiResource the filters see for an item of ``group_resource``."""
        found = self.served.get(group_resource) or self.stand_ins.get(group_resource)
        if found is None:
            found = stand_in(group_resource, item.get("apiVersion"), item.get("kind"), namespaced)
            self.stand_ins[group_resource] = found
            self._selection = None  # resolve the resource filters again, with this type known
            self._decisions = {}
        return found

    def type_in_scope(self, api_resource):
        gr = api_resource.group_resource
        if gr not in self._decisions:
            self._decisions[gr] = self.selection.lists_resource(api_resource)
        return self._decisions[gr]

    def includes(self, group_resource, namespace, item):
        """Whether the item is compared: its type and namespace are in scope, it matches the
        label selector, and a backup would take it (not labelled velero.io/exclude-from-backup,
        not being deleted)."""
        api_resource = self.api_resource(group_resource, item, bool(namespace))
        if not self.type_in_scope(api_resource):
            return False
        return self.selection.item_skip_reason(api_resource, item) is None

    def listed_types(self):
        """The served types to list from the cluster, in the server-preferred version."""
        return [r for gr, r in sorted(self.served.items()) if self.type_in_scope(r)]
