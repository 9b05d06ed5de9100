# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read-only views of the backups in a storage location (k8s_backup_info): the listing with its
filters, the backups that never committed (running, failed, or dead), and one backup described,
with ``velero backup describe --details``'s volumes, resources and hooks on request."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_duration, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.info import details
from ansible_collections.kubedr.backup.plugins.module_utils.info import integrity
from ansible_collections.kubedr.backup.plugins.module_utils.info import records
from ansible_collections.kubedr.backup.plugins.module_utils.info import retention
from ansible_collections.kubedr.backup.plugins.module_utils.info.filters import ListingFilter
from ansible_collections.kubedr.backup.plugins.module_utils.info.progress import DEFAULT_STALE_AFTER, progress_view, unfinished_phase
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

FAILURE_PREFIX = "backup failed: "  # how backup/run.py words the error of a run that failed


def backup_summary(store, name, document):
    """One line of a backup listing, from its velero-backup.json."""
    metadata = document.get("metadata") or {}
    status = document.get("status") or {}
    progress = status.get("progress") or {}
    labels = metadata.get("labels") or {}
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
        "labels": labels,
        "schedule": labels.get(SCHEDULE_NAME_LABEL),
        "encrypted": crypto.ANNOTATION in (metadata.get("annotations") or {}),
        "committed": True,
    }


def _stored_results(store, key, present):
    """The results document (None when absent); a document that cannot be read is a note."""
    if key not in present:
        return None, None
    try:
        return store.get_json_gz(key) or {}, None
    except (StorageError, crypto.DecryptionError) as error:
        return None, "its results cannot be read: %s" % error


def uncommitted_summary(store, name, present, now, stale_after, encryption=None, strict=True):
    """A listing line of a backup with no velero-backup.json: running, failed before committing,
    or dead; its phase from its progress object (``progress.unfinished_phase``). Returns the
    summary, the store its records read through (None when they are encrypted and cannot be
    read) and its results document (None when absent or unread). ``strict``: a wrong key is an
    error (a description), not a note (a listing)."""
    keys = layout.backup_keys(name)
    notes = []
    document, note = records.read_progress(store, keys["progress"])
    notes.append(note)
    try:
        reader, note = records.uncommitted_store(store, keys, present, encryption, "backup %s" % name)
    except crypto.DecryptionError as error:
        if strict:
            raise
        reader, note = None, "its log and results cannot be read: %s" % error
    notes.append(note)
    stored, note = _stored_results(reader, keys["results"], present) if reader is not None else (None, None)
    notes.append(note)
    view = progress_view(document, "backup", name) if document is not None else None
    errors = (stored or {}).get("errors") or results.empty_result()
    reason = next((m[len(FAILURE_PREFIX):] for m in errors.get("velero") or [] if m.startswith(FAILURE_PREFIX)), None)
    phase, note = unfinished_phase("backup", view, now, stale_after, reason, leased=keys["lease"] in present)
    notes.insert(0, note)
    summary = {
        "name": name,
        "phase": phase,
        "created": (view or {}).get("start_timestamp"),
        "start_timestamp": (view or {}).get("start_timestamp"),
        "completion_timestamp": None,
        "expiration": None,
        "item_count": (view or {}).get("items_backed_up") or 0,
        "warning_count": results.result_count((stored or {}).get("warnings") or {}),
        "error_count": results.result_count(errors),
        "size": store.backup_size(name) if keys["tarball"] in present else None,
        "labels": {},
        "schedule": None,
        "encrypted": reader is not store,
        "committed": False,
        "progress": view,
        "failure_reason": reason,
        "notes": [n for n in notes if n],
    }
    return summary, reader, stored


def list_backups(store, listing_filter=None, now=None, stale_after=DEFAULT_STALE_AFTER, workers=8, grouped=None,
                 encryption=None):
    """The backups of the location, oldest first (by start time, then name), filtered; the ones
    without velero-backup.json too with ``include_uncommitted``. Each backup costs a few small
    requests; they run concurrently."""
    listing_filter = listing_filter or ListingFilter({}, "backup")
    now = now or utc_now()
    grouped = records.keys_by_name(store, "backups") if grouped is None else grouped

    def summary(name):
        present = grouped[name]
        if layout.backup_keys(name)["metadata"] in present:
            document = store.backup_metadata(name)
            if document is None:
                return None
            summary = backup_summary(store, name, document)
            summary["last_verification"] = records.last_verification(store, name, present)
            return summary
        if not listing_filter.include_uncommitted or layout.deletion_record_key(name) in present:
            return None
        return uncommitted_summary(store, name, present, now, stale_after, encryption, strict=False)[0]

    names = sorted(grouped)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        summaries = [s for s in pool.map(summary, names) if s is not None]
    # Velero's timestamps are whole seconds: a tie goes to the later completion, then to the name that sorts last
    # (a schedule's <schedule>-<YYYYmmddHHMMSS>).
    summaries.sort(key=lambda s: (s.get("start_timestamp") or "", s.get("completion_timestamp") or "", s["name"]))
    return listing_filter.apply(summaries, now)


def unfinished_deletions(grouped):
    """Backups whose deletion started and did not finish (as BackupStore.unfinished_deletions)."""
    return sorted(name for name, present in grouped.items() if layout.deletion_record_key(name) in present)


def _add_records(described, store, keys, present, with_logs, with_results, with_resource_list, with_details):
    """The log, results, resource list and details a description asks for."""
    resource_list = (store.get_json_gz(keys["resource_list"]) or {}) if keys["resource_list"] in present else {}
    described["item_counts"] = results.item_counts(resource_list)
    if with_results:
        described["results"] = {"warnings": described["warnings"], "errors": described["errors"]}
    if with_resource_list:
        described["resource_list"] = resource_list
    if not (with_logs or with_details):
        return described
    lines, hooks = records.LineCollector(), details.HookCollector()
    if keys["logs"] in present:  # one pass over the log serves both
        records.scan_log(store, keys["logs"], [reader for reader, wanted in ((lines, with_logs), (hooks, with_details))
                                               if wanted])
    if with_logs:
        described["logs"] = lines.lines
    if with_details:
        pod_volume_backups = (store.get_json_gz(keys["pod_volume_backups"])
                              if keys["pod_volume_backups"] in present else None)
        volumes = details.volume_records(pod_volume_backups)
        described["details"] = {
            "volumes": volumes,
            "volume_totals": details.volume_totals(volumes),
            "resources_per_namespace": details.resources_per_namespace(resource_list),
            "hooks": hooks.hooks,
        }
    return described


def describe_backup(store, name, options=None, now=None, present=None):
    """One backup in detail: its summary, spec, status, item counts, warnings and errors; its log,
    results, resource list and details (``velero backup describe --details``) on request. A backup
    that never committed is described from its progress object and what it wrote."""
    options = options or {}
    validate_object_name(name, "backup name")
    keys = layout.backup_keys(name)
    present = set(store.list_keys(layout.backup_dir(name))) if present is None else present
    wanted = (options.get("logs"), options.get("results"), options.get("resource_list"), options.get("details"))
    empty = results.empty_result()
    if keys["metadata"] in present:
        document = store.backup_metadata(name)
        if document is not None:
            stored = (store.get_json_gz(keys["results"]) or {}) if keys["results"] in present else {}
            described = backup_summary(store, name, document)
            described["last_verification"] = records.last_verification(store, name, present)
            described.update({
                "spec": document.get("spec") or {},
                "status": document.get("status") or {},
                "warnings": stored.get("warnings") or empty,
                "errors": stored.get("errors") or empty,
                "storage": dict((role, store.url(key)) for role, key in sorted(keys.items())),
            })
            return _add_records(described, store, keys, present, *wanted)
    if layout.deletion_record_key(name) in present:
        raise NotFoundError("backup %s is being deleted: its deletion started and did not finish (it is listed in "
                            "unfinished_deletions); k8s_backup state=absent finishes it" % name)
    if not present:
        raise NotFoundError("backup %s not found in the storage location (nothing under %s)"
                            % (name, store.url(layout.backup_dir(name))))
    stale_after = parse_duration(options.get("stale_after") or DEFAULT_STALE_AFTER, "stale_after", "5m or 1h")
    described, reader, stored = uncommitted_summary(store, name, present, now or utc_now(), stale_after,
                                                    options.get("encryption"))
    described.update({
        "spec": {},
        "status": {},
        "warnings": (stored or {}).get("warnings") or empty,
        "errors": (stored or {}).get("errors") or empty,
        "storage": dict((role, store.url(key)) for role, key in sorted(keys.items()) if key in present),
    })
    if reader is None:  # encrypted and no key: what is plain (the progress object) is all there is
        described["item_counts"] = results.item_counts({})
        return described
    return _add_records(described, reader, keys, present, *wanted)


def run(location, options, now=None):
    """Entry point of k8s_backup_info."""
    listing_filter = ListingFilter(options, "backup")  # bad filters fail before anything is read
    if options.get("retention") is not None:
        _check_retention_options(options)
    stale_after = parse_duration(options.get("stale_after") or DEFAULT_STALE_AFTER, "stale_after", "5m or 1h")
    if options.get("verify_integrity") and not options.get("name"):
        raise InvalidOptionError("verify_integrity needs name: one backup is verified at a time")
    public_key = integrity.verify_key(options) if options.get("verify_integrity") else None
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    now = now or utc_now()
    if options.get("name"):
        name = validate_object_name(options["name"], "backup name")
        present = set(store.list_keys(layout.backup_dir(name)))
        document = store.backup_metadata(name) if layout.backup_keys(name)["metadata"] in present else None
        plain_store = store
        if document is not None:
            store = crypto.open_backup(store, options.get("encryption"), document, "backup %s" % name)
        backup = describe_backup(store, name, options, now, present)
        if options.get("verify_integrity"):
            backup["integrity"] = (integrity.check_stored_backup(plain_store, location, name, options, public_key)
                                   if document is not None else {"status": "not_committed", "problems": []})
        return {"changed": False, "backups": [backup], "backup": backup}
    grouped = records.keys_by_name(store, "backups")
    listing = list_backups(store, listing_filter, now, stale_after, grouped=grouped, encryption=options.get("encryption"))
    result = {"changed": False, "backups": listing, "unfinished_deletions": unfinished_deletions(grouped)}
    if options.get("retention") is not None:
        result["retention"] = retention.decide(options["retention"], listing, now)
    return result


def _check_retention_options(options):
    """A retention decision needs every backup of its schedules: the filters that hide some are refused."""
    hiding = [key for key in ("name", "phase", "newest", "expired") if options.get(key) is not None]
    if hiding:
        raise InvalidOptionError("retention cannot be combined with %s: the policy must see every backup of a schedule "
                                 "(filter with schedule or label_selector only)" % ", ".join(hiding))
    retention.Policy(options["retention"])
