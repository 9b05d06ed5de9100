# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only views of the restores recorded in a storage location (k8s_restore_info): the
``velero restore get``, ``describe`` and ``logs`` equivalents.

A restore's records are ``restores/<name>/restore-<name>-logs.gz``, ``-results.gz`` and
``-resource-list.json.gz``, written when it ends; while it runs only its progress object
(``-progress.json``) is there. Its backup, phase, times and counts are read back from its log
(``archive/restore_record.py``); its schedule and labels are those of the backup it restored,
while that backup exists."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive.restore_record import StoredRestore
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_duration, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.info import details
from ansible_collections.kubedr.backup.plugins.module_utils.info import records
from ansible_collections.kubedr.backup.plugins.module_utils.info.filters import ListingFilter
from ansible_collections.kubedr.backup.plugins.module_utils.info.progress import DEFAULT_STALE_AFTER, progress_view, unfinished_phase
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod


class BackupLabels(object):
    """The labels of the backups restores were made from, each read once (restores of one
    backup are common: a nightly restore test). A backup that is gone has none."""

    def __init__(self, store):
        self.store = store
        self._labels = {}
        self._lock = threading.Lock()

    def of(self, backup_name):
        if not backup_name:
            return {}
        with self._lock:
            if backup_name in self._labels:
                return self._labels[backup_name]
        try:
            document = self.store.backup_metadata(backup_name) or {}
        except StorageError:  # a damaged velero-backup.json: the restore is still listed
            document = {}
        labels = (document.get("metadata") or {}).get("labels") or {}
        with self._lock:
            self._labels[backup_name] = labels
        return labels


class RestoreReader(object):
    """Reads restores of one store: ``now`` and ``stale_after`` decide when a run without a log
    counts as dead."""

    def __init__(self, store, now, stale_after, backup_labels=None):
        self.store = store
        self.now = now
        self.stale_after = stale_after
        self.backup_labels = backup_labels or BackupLabels(store)

    def read(self, name, present, extra_readers=(), with_resource_list=False):
        """(summary, StoredRestore) of restore ``name`` whose objects are ``present``; the log's
        lines also go to ``extra_readers``. The resource list is read when asked, or when the log
        does not end with the counts (a restore Velero made)."""
        keys = layout.restore_keys(name)
        stored = StoredRestore(name)
        if keys["logs"] in present:
            records.scan_log(self.store, keys["logs"], [stored] + list(extra_readers))
        if keys["results"] in present:
            stored.results = self.store.get_json_gz(keys["results"]) or {}
        if keys["resource_list"] in present and (with_resource_list or stored.logged_counts is None):
            stored.resource_list = self.store.get_json_gz(keys["resource_list"]) or {}
        view, notes = None, []
        progress_key = keys.get("progress")
        if progress_key in present and keys["logs"] not in present and keys["results"] not in present:
            document, note = records.read_progress(self.store, progress_key)
            notes.append(note)
            view = progress_view(document, "restore", name) if document is not None else None
        if keys["logs"] in present or keys["results"] in present:
            stored.settle_phase()  # the records say how it ended; its last progress object adds nothing
        else:
            stored.phase, note = unfinished_phase("restore", view, self.now, self.stale_after,
                                                  leased=keys.get("lease") in present)
            notes.insert(0, note)
            stored.backup_name = stored.backup_name or (view or {}).get("backup")
            stored.started = stored.started or (view or {}).get("start_timestamp")
        warnings = stored.results.get("warnings") or results.empty_result()
        errors = stored.results.get("errors") or results.empty_result()
        labels = self.backup_labels.of(stored.backup_name)
        counts = stored.logged_counts
        if counts is None:
            counts = dict((key, value) for key, value in stored.counts().items() if key != "per_resource")
        summary = {
            "name": name,
            "backup_name": stored.backup_name,
            "schedule": labels.get(SCHEDULE_NAME_LABEL),
            "backup_labels": labels,
            "phase": stored.phase,
            "start_timestamp": stored.started,
            "completion_timestamp": stored.completed,
            "item_counts": counts,
            "warning_count": results.result_count(warnings),
            "error_count": results.result_count(errors),
            "failure_reason": stored.reason,
            "progress": view,
            "notes": [n for n in notes if n],
        }
        return summary, stored


def list_restores(store, listing_filter, now, stale_after=DEFAULT_STALE_AFTER, workers=8):
    """The restores of the location, oldest first (by start time, then name), filtered. Each
    costs its log (streamed) and results; they are read concurrently."""
    grouped = records.keys_by_name(store, "restores")
    reader = RestoreReader(store, now, stale_after)

    def summary(name):
        return reader.read(name, grouped[name])[0]

    names = sorted(grouped)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        summaries = list(pool.map(summary, names))
    summaries.sort(key=lambda s: (s.get("start_timestamp") or "", s["name"]))
    return listing_filter.apply(summaries, now)


def describe_restore(store, name, options, now, stale_after=DEFAULT_STALE_AFTER):
    """One restore in detail: its summary, counts per resource and per namespace, warnings and
    errors; its log, results, resource list and details (resources per namespace, restore hooks)
    on request."""
    validate_object_name(name, "restore name")
    present = set(store.list_keys(layout.restore_dir(name)))
    if not present:
        raise NotFoundError("restore %s not found in the storage location (nothing under %s)"
                            % (name, store.url(layout.restore_dir(name))))
    keys = layout.restore_keys(name)
    lines, hooks = records.LineCollector(), details.HookCollector()
    extra = [reader for reader, wanted in ((lines, options.get("logs")), (hooks, options.get("details"))) if wanted]
    described, stored = RestoreReader(store, now, stale_after).read(name, present, extra, with_resource_list=True)
    counts = stored.counts()
    counts["per_namespace"] = stored.per_namespace()
    described.update({
        "item_counts": counts,
        "warnings": stored.results.get("warnings") or results.empty_result(),
        "errors": stored.results.get("errors") or results.empty_result(),
        "storage": dict((role, store.url(key)) for role, key in sorted(keys.items()) if key in present),
    })
    if options.get("logs"):
        described["logs"] = lines.lines
    if options.get("results"):
        described["results"] = {"warnings": described["warnings"], "errors": described["errors"]}
    if options.get("resource_list"):
        described["resource_list"] = stored.resource_list
    if options.get("details"):
        described["details"] = {"resources_per_namespace": details.resources_per_namespace(stored.resource_list),
                                "hooks": hooks.hooks}
    return described


def run(location, options, now=None):
    """Entry point of k8s_restore_info."""
    listing_filter = ListingFilter(options, "restore")  # bad filters fail before anything is read
    stale_after = parse_duration(options.get("stale_after") or DEFAULT_STALE_AFTER, "stale_after", "5m or 1h")
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    now = now or utc_now()
    if options.get("name"):
        restore = describe_restore(store, options["name"], options, now, stale_after)
        return {"changed": False, "restores": [restore], "restore": restore}
    return {"changed": False, "restores": list_restores(store, listing_filter, now, stale_after)}
