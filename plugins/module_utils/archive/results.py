# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warnings and errors by scope, item counts, the resource list and the phase (pure).

Velero's results shape: ``{"warnings": R, "errors": R}`` with
``R = {"velero": [...], "cluster": [...], "namespaces": {"<ns>": [...]}}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

COMPLETED = "Completed"
PARTIALLY_FAILED = "PartiallyFailed"
FAILED = "Failed"
IN_PROGRESS = "InProgress"


def empty_result():
    return {"velero": [], "cluster": [], "namespaces": {}}


def result_count(result):
    return len(result.get("velero") or []) + len(result.get("cluster") or []) + sum(
        len(v) for v in (result.get("namespaces") or {}).values())


class Results(object):
    """Collects warnings and errors. Scope: ``namespace`` given -> that namespace; ``cluster=True``
    -> cluster; otherwise the tool itself (``velero``). Thread-safe."""

    def __init__(self):
        self.warnings = empty_result()
        self.errors = empty_result()
        self._lock = threading.Lock()

    def _add(self, target, message, namespace, cluster):
        with self._lock:
            if namespace:
                target["namespaces"].setdefault(namespace, []).append(message)
            elif cluster:
                target["cluster"].append(message)
            else:
                target["velero"].append(message)

    def warn(self, message, namespace=None, cluster=False):
        self._add(self.warnings, message, namespace, cluster)

    def error(self, message, namespace=None, cluster=False):
        self._add(self.errors, message, namespace, cluster)

    def warning_count(self):
        return result_count(self.warnings)

    def error_count(self):
        return result_count(self.errors)

    def to_dict(self):
        """The document stored as ``<name>-results.gz`` and returned by the modules."""
        return {"warnings": self.warnings, "errors": self.errors}


def phase_for(results, failure_reason=None):
    """Failed when the run could not commit anything usable; PartiallyFailed on any error."""
    if failure_reason:
        return FAILED
    return PARTIALLY_FAILED if results.error_count() else COMPLETED


def resource_list_key(api_version, kind):
    """Velero's resource-list key: ``apps/v1/Deployment``, ``v1/Pod``."""
    return "%s/%s" % (api_version, kind)


def item_display_name(namespace, name):
    return "%s/%s" % (namespace, name) if namespace else name


class ItemIndex(object):
    """Per-item index kept while items stream by: small data only (one name string per item),
    never the items.

    Gives the resource list, counts per namespace, and dedupe by ``(group_resource, namespace, name)``."""

    def __init__(self):
        self._names = {}  # group_resource -> set of "ns/name" or "name"
        self._list_keys = {}  # group_resource -> "<groupVersion>/<Kind>"
        self._count = 0
        self.per_namespace = {}

    def __len__(self):
        return self._count

    def contains(self, group_resource, namespace, name):
        return item_display_name(namespace, name) in self._names.get(group_resource, ())

    def add(self, api_resource, namespace, name):
        """Record an item; False when it was already recorded (nothing changes then)."""
        names = self._names.setdefault(api_resource.group_resource, set())
        display = item_display_name(namespace, name)
        if display in names:
            return False
        names.add(display)
        self._list_keys.setdefault(api_resource.group_resource,
                                   resource_list_key(api_resource.group_version, api_resource.kind))
        self._count += 1
        if namespace:
            self.per_namespace[namespace] = self.per_namespace.get(namespace, 0) + 1
        return True

    def resource_list(self):
        """``{"<groupVersion>/<Kind>": [sorted "ns/name" or "name"]}``, keys sorted."""
        merged = {}
        for group_resource, names in self._names.items():
            merged.setdefault(self._list_keys[group_resource], []).extend(names)
        return dict((key, sorted(merged[key])) for key in sorted(merged))


def item_counts(resource_list):
    """Counts out of a resource list: total, per resource (resource-list key) and per namespace."""
    per_resource, per_namespace = {}, {}
    for key, entries in (resource_list or {}).items():
        per_resource[key] = len(entries)
        for entry in entries:
            if "/" in entry:
                namespace = entry.split("/", 1)[0]
                per_namespace[namespace] = per_namespace.get(namespace, 0) + 1
    return {
        "total": sum(per_resource.values()),
        "per_resource": dict(sorted(per_resource.items())),
        "per_namespace": dict(sorted(per_namespace.items())),
    }
