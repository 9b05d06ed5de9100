# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warnings and errors by scope, item counts, the resource list and the phase (pure).

Velero's results shape: ``{"warnings": R, "errors": R}`` with
``R = {"velero": [...], "cluster": [...], "namespaces": {"<ns>": [...]}}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

from ansible_collections.kubedr.backup.plugins.module_utils.archive import names
from ansible_collections.kubedr.backup.plugins.module_utils.common import hints

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
    """Per-item index kept while items stream by, never the items, and no Python object per name:
    fingerprints of ``group_resource/ns/name`` (dedupe, ``contains``), the resource list's entries in
    a sorted spool (``names.py``), counts per resource-list key and per namespace.

    Gives the resource list, counts per namespace, and dedupe by ``(group_resource, namespace, name)``."""

    def __init__(self):
        self._seen = names.NameSet()
        self._entries = ResourceListSpool()
        self._list_keys = {}  # group_resource -> "<groupVersion>/<Kind>"
        self._per_key = {}  # "<groupVersion>/<Kind>" -> items
        self._count = 0
        self.per_namespace = {}

    def __len__(self):
        return self._count

    def contains(self, group_resource, namespace, name):
        return "%s/%s" % (group_resource, item_display_name(namespace, name)) in self._seen

    def add(self, api_resource, namespace, name):
        """Record an item; False when it was already recorded (nothing changes then)."""
        return bool(self.add_names(api_resource, [(namespace, name)]))

    def add_names(self, api_resource, names):
        """``add`` for each ``(namespace, name)`` of a page of one type; returns those recorded now."""
        group_resource, add, seen, entries = api_resource.group_resource, self._seen.add, [], self._entries
        key = self._list_keys.get(group_resource)
        if key is None:
            key = self._list_keys[group_resource] = resource_list_key(api_resource.group_version, api_resource.kind)
        per_namespace = self.per_namespace
        for namespace, name in names:
            display = "%s/%s" % (namespace, name) if namespace else name  # item_display_name
            if not add("%s/%s" % (group_resource, display)):
                continue
            entries.add(key, display)
            if namespace:
                per_namespace[namespace] = per_namespace.get(namespace, 0) + 1
            seen.append((namespace, name))
        if seen:
            self._per_key[key] = self._per_key.get(key, 0) + len(seen)
            self._count += len(seen)
        return seen

    def resource_list(self):
        """``{"<groupVersion>/<Kind>": [sorted "ns/name" or "name"]}``, keys sorted."""
        return self._entries.as_dict()

    def write_resource_list(self, out):
        """The resource list as ``layout.gzip_json`` encodes it before compression, written into
        ``out`` as the sorted entries stream by."""
        self._entries.write(out)

    def item_counts(self):
        """``item_counts(self.resource_list())``, from the counts kept."""
        return {"total": self._count, "per_resource": dict(sorted(self._per_key.items())),
                "per_namespace": dict(sorted(self.per_namespace.items()))}

    def close(self):
        self._entries.close()


class ResourceListSpool(object):
    """A resource list's ``(key, entry)`` pairs, added in any order and held in a sorted spool
    (``names.SortedSpool``: a few thousand in memory, the rest in sorted runs in a temporary file),
    read back sorted by key then entry: as a dict, or written as ``layout.gzip_json`` encodes it
    before compression (compact JSON, keys sorted, ASCII, a newline), a few thousand at a time.
    The backup's item index and the restore's outcomes both keep theirs in one."""

    def __init__(self):
        self._spool = names.SortedSpool()  # "<key>\0<entry>": sorts as (key, entry)

    def add(self, key, entry):
        self._spool.add("%s\0%s" % (key, entry))

    def sorted_entries(self):
        for line in self._spool:
            yield line.split("\0", 1)

    def as_dict(self):
        merged = {}
        for key, entry in self.sorted_entries():
            merged.setdefault(key, []).append(entry)
        return merged

    def write(self, out):
        parts, current = [b"{"], None
        for key, entry in self.sorted_entries():
            if key != current:
                parts.append(("%s%s:[" % ("]," if current is not None else "", json.dumps(key))).encode("ascii"))
                current = key
            else:
                parts.append(b",")
            parts.append(json.dumps(entry).encode("ascii"))
            if len(parts) >= 4096:
                out.write(b"".join(parts))
                parts = []
        parts.append(b"]}\n" if current is not None else b"}\n")
        out.write(b"".join(parts))

    def close(self):
        self._spool.close()


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


# What a run says in the play's output ---------------------------------------------------

WARNING_LIMIT = 5  # errors named one by one in the warnings; the rest are counted


def scoped_messages(result):
    """(scope, message) of every entry of a results dict: the tool's own, the cluster's, then
    each namespace's (sorted)."""
    entries = [("velero", m) for m in result.get("velero") or []]
    entries.extend(("cluster", m) for m in result.get("cluster") or [])
    namespaces = result.get("namespaces") or {}
    for namespace in sorted(namespaces):
        entries.extend(("namespace " + namespace, m) for m in namespaces[namespace] or [])
    return entries


def run_warnings(kind, name, phase, warnings, errors, fixes=(), limit=WARNING_LIMIT):
    """The warnings a backup or restore returns for the play's output: its run-level warnings
    (the ``velero`` scope), and for a PartiallyFailed or Failed run how many errors, the first
    ``limit`` of them (scope and message, which names the item and the reason) and the fixes.

    ``kind`` is ``backup`` or ``restore``; the adapter hands these to Ansible as warnings."""
    label = "%s %s" % (kind, name)
    messages = ["%s: %s" % (label, message) for message in (warnings or {}).get("velero") or []]
    if phase not in (PARTIALLY_FAILED, FAILED):
        return messages
    scoped = scoped_messages(errors or {})
    messages.append("%s ended %s with %d error%s%s" % (
        label, phase, len(scoped), "" if len(scoped) == 1 else "s",
        " (all of them are in its %s_errors and its log)" % kind if scoped else ""))
    messages.extend("%s error (%s): %s" % (label, scope, message) for scope, message in scoped[:limit])
    if len(scoped) > limit:
        messages.append("%s: and %d more error%s" % (label, len(scoped) - limit, "" if len(scoped) - limit == 1 else "s"))
    messages.extend("%s: %s" % (label, fix) for fix in fixes)
    return messages


def add_run_warnings(result, kind, node_agent_namespace=None):
    """Put ``run_warnings`` (with the fixes ``hints`` finds in the errors) into a backup's or a
    restore's module result as ``warnings``; returns the result."""
    errors = result.get(kind + "_errors") or {}
    fixes = hints.fixes(kind, [message for _scope, message in scoped_messages(errors)], node_agent_namespace)
    warnings = run_warnings(kind, result.get("name"), result.get("phase"), result.get(kind + "_warnings"), errors,
                            fixes)
    if warnings:
        result["warnings"] = warnings
    return result
