# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read-only views of the backups in a storage location (k8s_backup_info)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name


def backup_summary(store, name, document):
    """One line of a backup listing, from its velero-backup.json."""
    metadata = document.get("metadata") or {}
    status = document.get("status") or {}
    progress = status.get("progress") or {}
    return {
        "name": name,
        "phase": status.get("phase"),
        "created": metadata.get("creationTimestamp") or status.get("startTimestamp"),
        "start_timestamp": status.get("startTimestamp"),
        "completion_timestamp": status.get("completionTimestamp"),
        "expiration": status.get("expiration"),
        "item_count": progress.get("itemsBackedUp", progress.get("totalItems", 0)),
        "warning_count": status.get("warnings", 0),
        "error_count": status.get("errors", 0),
        "size": store.backup_size(name),
        "labels": metadata.get("labels") or {},
        "encrypted": crypto.ANNOTATION in (metadata.get("annotations") or {}),
    }


def list_backups(store, workers=8):
    """Every committed backup of the location, oldest first (by start time, then name). Each
    backup costs two small requests; they run concurrently."""

    def summary(name):
        document = store.backup_metadata(name)
        return backup_summary(store, name, document) if document is not None else None

    names = store.list_backups()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        summaries = [s for s in pool.map(summary, names) if s is not None]
    return sorted(summaries, key=lambda s: (s.get("start_timestamp") or "", s["name"]))


def describe_backup(store, name, with_logs=False, with_results=False, with_resource_list=False):
    """One backup in detail: its summary, spec, status, item counts, warnings and errors; its log,
    results and resource list on request."""
    validate_object_name(name, "backup name")
    document = store.backup_metadata(name)
    if document is None:
        raise NotFoundError("backup %s not found in the storage location (no committed %s under %s)"
                            % (name, layout.BACKUP_METADATA, store.url(layout.backup_dir(name))))
    keys = layout.backup_keys(name)
    stored_results = store.get_json_gz(keys["results"]) or {}
    resource_list = store.get_json_gz(keys["resource_list"]) or {}
    empty = results.empty_result()
    described = backup_summary(store, name, document)
    described.update({
        "spec": document.get("spec") or {},
        "status": document.get("status") or {},
        "item_counts": results.item_counts(resource_list),
        "warnings": stored_results.get("warnings") or empty,
        "errors": stored_results.get("errors") or empty,
        "storage": dict((role, store.url(key)) for role, key in sorted(keys.items())),
    })
    if with_logs:
        data = store.get_bytes(keys["logs"])
        try:
            described["logs"] = gzip.decompress(data).decode("utf-8", "replace").splitlines() if data else []
        except (OSError, EOFError) as error:
            raise StorageError("log of backup %s is not gzipped text: %s" % (name, error))
    if with_results:
        described["results"] = {"warnings": described["warnings"], "errors": described["errors"]}
    if with_resource_list:
        described["resource_list"] = resource_list
    return described


def run(location, options):
    """Entry point of k8s_backup_info."""
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    if options.get("name"):
        validate_object_name(options["name"], "backup name")
        store = crypto.open_backup(store, options.get("encryption"), store.backup_metadata(options["name"]),
                                   "backup %s" % options["name"])
        backup = describe_backup(store, options["name"], options.get("logs"), options.get("results"),
                                 options.get("resource_list"))
        return {"changed": False, "backups": [backup], "backup": backup}
    return {"changed": False, "backups": list_backups(store), "unfinished_deletions": store.unfinished_deletions()}
