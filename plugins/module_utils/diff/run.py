# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed (k8s_backup_diff): a backup compared with another backup or with the live
cluster. Reads only.

Three streams, never a whole side in memory: the first backup's items are digested
(``compare.Comparison``); the other side is streamed against the digests, its changed items
spooled; the first backup is streamed once more to pair each changed item with its before-version
and tell the difference (the fields that differ, a unified diff, Ansible's before/after), Secret
values hidden (``common.secrets``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.secrets import secret_diff
from ansible_collections.kubedr.backup.plugins.module_utils.diff.compare import Comparison
from ansible_collections.kubedr.backup.plugins.module_utils.diff.normalize import changed_paths, unified_diff
from ansible_collections.kubedr.backup.plugins.module_utils.diff.scope import DiffScope
from ansible_collections.kubedr.backup.plugins.module_utils.diff.sources import (
    BackupItems,
    ClusterItems,
    backup_side,
    find_backup,
    partial_warning,
)
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

AGAINST_CLUSTER, AGAINST_BACKUP = "cluster", "backup"
DEFAULT_MAX_DIFFS = 100
FILTER_KEYS = ("included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources",
               "include_cluster_resources", "label_selector", "or_label_selectors")


def validate_options(options):
    """Checks that need neither cluster nor storage; returns the normalised options (``against``
    decided: ``backup`` when against_backup is given, else ``cluster``)."""
    options = dict(options)
    if bool(options.get("backup_name")) == bool(options.get("schedule_name")):
        raise InvalidOptionError("give exactly one of backup_name and schedule_name (the backup to compare from)")
    for key in ("backup_name", "schedule_name", "against_backup"):
        if options.get(key):
            selection.validate_object_name(options[key], key.replace("_", " "))
    against = options.get("against") or (AGAINST_BACKUP if options.get("against_backup") else AGAINST_CLUSTER)
    if against not in (AGAINST_CLUSTER, AGAINST_BACKUP):
        raise InvalidOptionError("against must be cluster or backup, not %r" % (against,))
    if against == AGAINST_BACKUP and not options.get("against_backup"):
        raise InvalidOptionError("against=backup needs against_backup (the name of the backup to compare with)")
    if against == AGAINST_CLUSTER and options.get("against_backup"):
        raise InvalidOptionError("against=cluster compares with the live cluster; against_backup cannot be given too")
    options["against"] = against
    max_diffs = DEFAULT_MAX_DIFFS if options.get("max_diffs") is None else options["max_diffs"]
    if not isinstance(max_diffs, int) or isinstance(max_diffs, bool) or max_diffs < 0:
        raise InvalidOptionError("max_diffs must be a number of items, 0 or more, not %r" % (max_diffs,))
    options["max_diffs"] = max_diffs
    selection.validate_filters(options)
    return options


def item_entry(key):
    group_resource, namespace, name = key
    return {"resource": group_resource, "namespace": namespace or None, "name": name}


def item_label(key):
    group_resource, namespace, name = key
    return "%s %s" % (group_resource, "%s/%s" % (namespace, name) if namespace else name)


def summary_lines(added, removed, modified):
    """One line per item, as ``git status --short`` would put it: ``+`` added, ``-`` removed,
    ``~`` modified (with the fields that differ)."""
    lines = ["+ %s" % item_label(key) for key in added]
    lines.extend("- %s" % item_label(key) for key in removed)
    lines.extend("~ %s: %s" % (item_label((e["resource"], e["namespace"], e["name"])), ", ".join(e["fields"]))
                 for e in modified)
    return lines


def side_label(side):
    return "backup %s" % side["name"] if side["kind"] == AGAINST_BACKUP else "the cluster"


class DiffRun(object):
    """One comparison; ``run()`` returns the module result."""

    def __init__(self, auth, location, options, diff_mode=False, kube_factory=KubeClient):
        self.auth = auth
        self.location = location
        self.options = validate_options(options)
        self.diff_mode = diff_mode
        self.kube_factory = kube_factory
        self.warnings = []

    def warn(self, message):
        if message and message not in self.warnings:
            self.warnings.append(message)

    def _open_backup(self, store, name=None, schedule_name=None):
        name, document = find_backup(store, name, schedule_name)
        self.warn(partial_warning(name, document))
        return name, crypto.open_backup(store, self.options.get("encryption"), document, "backup %s" % name), document

    def run(self):
        store = storage_mod.open_store(self.location)
        store.check(for_write=False)
        before_name, before_store, before_doc = self._open_backup(
            store, self.options.get("backup_name"), self.options.get("schedule_name"))
        filters = dict((key, self.options.get(key)) for key in FILTER_KEYS)
        kube = discovery = None
        if self.options["against"] == AGAINST_CLUSTER:
            kube = self.kube_factory(self.auth)
            discovery = kube.discover()
            for warning in discovery.warnings:
                self.warn(warning)
            scope = DiffScope(filters, discovery.resources)
            after_side = {"kind": AGAINST_CLUSTER, "host": kube.host}
        else:
            after_name, after_store, after_doc = self._open_backup(store, self.options["against_backup"])
            scope = DiffScope(filters)
            after_side = backup_side(after_name, after_doc)
        before_side = backup_side(before_name, before_doc)
        with tempfile.TemporaryDirectory(prefix="kubedr-diff-") as work:
            before = BackupItems(before_store, before_name, work)
            comparison = Comparison(self.options.get("include_status"), work)
            after = None
            try:
                versions = {}
                for key, item in before.items():
                    if scope.includes(key[0], key[1], item):
                        comparison.add_before(key, item)
                        versions.setdefault(key[0], (item.get("apiVersion"), item.get("kind")))
                if kube is not None:
                    after = ClusterItems(kube, discovery, scope, versions, self.warn)
                else:
                    after = BackupItems(after_store, after_side["name"], work)
                for key, item in after.items():
                    if scope.includes(key[0], key[1], item):
                        comparison.add_after(key, item)
                comparison.forget(after.unlisted)
                return self._result(comparison, before, before_side, after_side)
            finally:
                comparison.close()
                before.close()
                if isinstance(after, BackupItems):
                    after.close()

    def _result(self, comparison, before, before_side, after_side):
        added, removed, changed = comparison.added(), comparison.removed(), comparison.changed()
        with_diff = set(changed[:self.options["max_diffs"]])
        modified, ansible_diffs = {}, []
        for key, old, new in comparison.pairs(before.items()):
            entry = item_entry(key)
            entry["fields"] = changed_paths(old, new)
            if key in with_diff:
                shown_before, shown_after = secret_diff(old, new)
                before_header = "%s (%s)" % (item_label(key), side_label(before_side))
                after_header = "%s (%s)" % (item_label(key), side_label(after_side))
                entry["unified_diff"] = unified_diff(shown_before, shown_after, before_header, after_header)
                if self.diff_mode:
                    ansible_diffs.append((key, {"before_header": before_header, "after_header": after_header,
                                                "before": shown_before, "after": shown_after}))
            modified[key] = entry
        modified_list = [modified[key] for key in changed if key in modified]
        result = {
            "changed": False,
            "differs": bool(added or removed or changed),
            "compared": {"before": before_side, "after": after_side},
            "added": [item_entry(key) for key in added],
            "removed": [item_entry(key) for key in removed],
            "modified": modified_list,
            "summary": summary_lines(added, removed, modified_list),
            "counts": self._counts(comparison, added, removed, changed),
            "diffs_omitted": max(0, len(changed) - len(with_diff)),
            "warnings": self.warnings,
        }
        if self.diff_mode:
            result["diff"] = [entry for _key, entry in sorted(ansible_diffs, key=lambda pair: pair[0])]
        return result

    @staticmethod
    def _counts(comparison, added, removed, changed):
        per_resource = {}
        for name, keys in (("added", added), ("removed", removed), ("modified", changed)):
            for key in keys:
                counts = per_resource.setdefault(key[0], {"added": 0, "removed": 0, "modified": 0, "unchanged": 0})
                counts[name] += 1
        for group_resource, count in comparison.unchanged_per_resource().items():
            per_resource.setdefault(group_resource, {"added": 0, "removed": 0, "modified": 0, "unchanged": 0})
            per_resource[group_resource]["unchanged"] = count
        return {
            "added": len(added), "removed": len(removed), "modified": len(changed),
            "unchanged": comparison.unchanged_count(),
            "before": comparison.before_count(), "after": comparison.after_count(),
            "per_resource": dict(sorted(per_resource.items())),
        }


def run(auth, location, options, diff=False, kube_factory=KubeClient):
    """Entry point of k8s_backup_diff."""
    return DiffRun(auth, location, options, diff, kube_factory).run()
