# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run that has no final record yet is doing, from its progress object (pure).

A running backup or restore rewrites ``<name>-progress.json`` every few seconds (also while a
long upload reports nothing, through a timer); a backup on an object-lock location writes numbered
objects instead, and the store reads the last (docs/immutability.md). A backup is final once ``velero-backup.json``
exists, a restore once its log is stored. Without those, the progress object says where the run
is; one that has not been rewritten for longer than ``stale_after`` belongs to a run that
stopped without saying so (the process was killed, the host went away): its phase is
``Unknown``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import format_duration
from ansible_collections.kubedr.backup.plugins.module_utils.info.run_progress import progress_line

UNKNOWN = "Unknown"
NEW = "New"  # Velero's phase of a run that has not started its work
DEFAULT_STALE_AFTER = 300  # seconds; the writer rewrites the object every 5 s while the run lives
_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)$")


def parse_time(text):
    """An RFC 3339 stamp as an aware datetime; None when absent or not a stamp."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = float(match.group(7)) if match.group(7) else 0.0
    zone = match.group(8)
    if zone in ("Z", "z"):
        offset = datetime.timedelta(0)
    else:
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone(offset))
    except ValueError:
        return None
    return moment + datetime.timedelta(seconds=fraction)


def seconds_between(start, end):
    """Whole seconds from one RFC 3339 stamp to another; None when either is missing."""
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return None
    return int(round((last - first).total_seconds()))


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def progress_view(document, kind, name):
    """The progress object of backup or restore ``name`` in the modules' snake_case, missing keys
    as None (older writers wrote only phase, the two timestamps and the item counts), and
    ``text``: the line the playbooks print while they wait for the run."""
    document = document if isinstance(document, dict) else {}
    done_key, camel = ("items_backed_up", "itemsBackedUp") if kind == "backup" else ("items_restored", "itemsRestored")
    view = {
        "phase": document.get("phase"),
        "start_timestamp": document.get("startTimestamp"),
        "update_timestamp": document.get("updateTimestamp"),
        "total_items": _number(document.get("totalItems")),
        done_key: _number(document.get(camel)),
        "eta_seconds": _number(document.get("etaSeconds")),
        "volumes": None,
    }
    volumes = document.get("volumes")
    if isinstance(volumes, dict):
        view["volumes"] = dict((snake, _number(volumes.get(key))) for snake, key in (
            ("total", "total"), ("done", "done"), ("failed", "failed"), ("total_bytes", "totalBytes"),
            ("bytes_done", "bytesDone")))
    if document.get("backup") is not None:
        view["backup"] = document.get("backup")
    view["text"] = progress_line(kind, name, document)
    return view


def unfinished_phase(kind, view, now, stale_after, failure_reason=None, leased=False):
    """(phase, note) of a run with no final record: ``kind`` backup or restore, ``view`` its
    progress_view (None when there is no progress object), ``now`` an aware datetime,
    ``failure_reason`` what its log's failure line says, if anything; ``leased``: its lease object
    is there (a run holds the name)."""
    final = "velero-backup.json" if kind == "backup" else "log"
    if failure_reason or (view and view.get("phase") == results.FAILED):
        return results.FAILED, "the %s failed before writing its %s: %s" % (
            kind, final, "see failure_reason" if failure_reason else "see its log and results")
    if view is None and leased:
        return NEW, ("a run holds its lease and has not written its first progress yet (it reads the cluster, "
                     "or downloads the backup, first)")
    if view is None:
        return UNKNOWN, ("no progress object and no %s: a run that stopped before its first progress write, or one "
                         "written by a kubedr without progress objects" % final)
    updated = parse_time(view.get("update_timestamp"))
    if updated is None:
        return UNKNOWN, "its progress object has no valid updateTimestamp"
    age = int((now - updated).total_seconds())
    if age > stale_after:
        since = (view["update_timestamp"], format_duration(age), format_duration(stale_after), final)
        return UNKNOWN, ("no progress since %s (%s ago, more than stale_after %s) and no %s: the run seems dead "
                         "(killed or its host lost)" % since)
    phase = view.get("phase") or results.IN_PROGRESS
    if phase in (results.COMPLETED, results.PARTIALLY_FAILED):
        return phase, "the %s is writing its %s" % (kind, final)  # the moment between the last upload and the commit
    return phase, None
