# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore that ran already, read back from its records under ``restores/<name>/``: a rerun
with the same name (an AWX relaunch of a restore job) returns what that restore did, unchanged,
instead of failing; the same name for another backup is a clear error.

The records are those Velero writes: the log (its ``Starting restore`` line names the backup,
its ``Restore completed`` or ``Restore failed`` line the phase and counts), the results and the
resource list (``ns/name(outcome)`` per item)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive.restore_record import StoredRestore
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

DERIVED_NAME_ATTEMPTS = 20  # names tried for a restore given none: <backup>-<time>, then -2 ... -20


def read_stored_restore(store, name):
    """The StoredRestore of ``name``, or None when the location holds nothing under restores/<name>/."""
    present = set(store.list_keys(layout.restore_dir(name)))
    keys = layout.restore_keys(name)
    if keys["logs"] not in present and keys["results"] not in present:
        return None  # nothing, or only the progress object of a run that died: not a restore to report
    stored = StoredRestore(name)
    if keys["logs"] in present:
        with storage_mod.download_to_tempfile(store, keys["logs"]) as compressed:
            with gzip.GzipFile(fileobj=compressed, mode="rb") as raw:
                stored.read_log(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
    stored.results = store.get_json_gz(keys["results"]) or {}
    stored.resource_list = store.get_json_gz(keys["resource_list"]) or {}
    stored.settle_phase()  # a record the log does not end (Velero's own): its errors decide
    return stored


def check_same_backup(store, stored, options):
    """A rerun returns the stored restore only for the backup it restored; else a clear error."""
    again = "give another name to restore again (or none: a name is derived from the backup and the time)"
    if not stored.backup_name:
        raise InvalidOptionError("restore %s exists already in the storage location and its log does not name its "
                                 "backup: %s" % (stored.name, again))
    if options.get("backup_name"):
        if options["backup_name"] != stored.backup_name:
            raise InvalidOptionError("restore %s exists already in the storage location for backup %s, not %s: %s"
                                     % (stored.name, stored.backup_name, options["backup_name"], again))
        return
    document = store.backup_metadata(stored.backup_name) or {}
    labels = (document.get("metadata") or {}).get("labels") or {}
    if labels.get(SCHEDULE_NAME_LABEL) != options["schedule_name"]:
        raise InvalidOptionError("restore %s exists already in the storage location for backup %s, which is not a "
                                 "backup of schedule %s: %s" % (stored.name, stored.backup_name,
                                                                options["schedule_name"], again))


def stored_result(store, stored):
    """The module result of a restore that ran already (changed false): the same phase, counts,
    warnings and errors as when it ran."""
    empty = results.empty_result()
    warnings = stored.results.get("warnings") or empty
    errors = stored.results.get("errors") or empty
    result = {
        "changed": False,
        "name": stored.name,
        "backup_name": stored.backup_name,
        "phase": stored.phase,
        "start_timestamp": stored.started,
        "completion_timestamp": stored.completed,
        "item_counts": stored.counts(),
        "restore_warnings": warnings,
        "restore_errors": errors,
        "warning_count": results.result_count(warnings),
        "error_count": results.result_count(errors),
        "storage": dict((role, store.url(key)) for role, key in sorted(layout.restore_keys(stored.name).items())),
    }
    if stored.phase == results.FAILED:
        result.update(failed=True, msg="restore %s failed: %s" % (stored.name, stored.reason or "see its log"))
    return result


def _name_taken(store, name):
    # A run that died leaves only its progress object and lease, which a new run of the name replaces.
    keys = layout.restore_keys(name)
    left_by_a_run = (keys["progress"], keys["lease"])
    return any(key not in left_by_a_run for key in store.list_keys(layout.restore_dir(name)))


def free_derived_name(store, name, attempts=DERIVED_NAME_ATTEMPTS):
    """``name`` (derived from the backup and the time to the second), or ``<name>-2``, ``-3``... when a
    restore of the same backup in the same second has it: a restore given no name must not fail on
    another's records. After ``attempts`` taken names, the last (``check_name_is_free`` then says so)."""
    candidate = name
    for number in range(2, attempts + 1):
        if not _name_taken(store, candidate):
            return candidate
        candidate = "%s-%d" % (name, number)
    return candidate


def check_name_is_free(store, name):
    """A restore's name is used once; a run that died leaves only its progress object and lease, which a
    new run of the name replaces."""
    if _name_taken(store, name):
        raise InvalidOptionError("restore %s exists already in the storage location; give another name (or none: "
                                 "a name is derived from the backup and the time)" % name)
