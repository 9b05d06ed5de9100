# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The progress of a running backup or restore, read from its progress object, and the one
line a person watching the play reads (``wait_for_run``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.info import records
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

KINDS = ("backup", "restore")
UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def progress_key(kind, name):
    if kind not in KINDS:
        raise InvalidOptionError("kind must be one of %s, not %r" % (", ".join(KINDS), kind))
    validate_object_name(name, "%s name" % kind)
    return (layout.backup_keys(name) if kind == "backup" else layout.restore_keys(name))["progress"]


def read_progress(store, kind, name):
    """The run's progress object, or None while it has none (not started, another tool's run, or unreadable)."""
    document, _note = records.read_progress(store, progress_key(kind, name))
    return document


def human_bytes(count, unit=None):
    """1.2 GiB; with ``unit`` (a (name, size) pair) in that unit, so two figures line up."""
    count = count or 0
    name, size = unit or next(((n, s) for n, s in UNITS if count >= s), ("B", 1))
    return ("%d %s" % (count, name)) if size == 1 else ("%.1f %s" % (count / float(size), name))


def human_duration(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm" % ((seconds + 30) // 60)
    return "%dh%02dm" % (seconds // 3600, (seconds % 3600 + 30) // 60)


def progress_line(kind, name, document):
    """``backup nightly-x: 12,400/30,300 items; volumes 1/3, 1.2/4.0 GiB; ETA 3m`` (what is known)."""
    if not document:
        return "%s %s: starting" % (kind, name)
    done = document.get("itemsBackedUp" if kind == "backup" else "itemsRestored") or 0
    total = document.get("totalItems") or 0
    parts = ["%s items" % format(done, ",") if kind == "backup" or not total
             else "%s/%s items" % (format(done, ","), format(total, ","))]
    volumes = document.get("volumes") or {}
    if volumes.get("total"):
        total_bytes = volumes.get("totalBytes") or 0
        unit = next(((n, s) for n, s in UNITS if total_bytes >= s), ("B", 1))
        text = "volumes %d/%d" % (volumes.get("done") or 0, volumes["total"])
        if total_bytes:
            text += ", %s/%s" % (human_bytes(volumes.get("bytesDone"), unit).split(" ")[0], human_bytes(total_bytes))
        if volumes.get("failed"):
            text += " (%d failed)" % volumes["failed"]
        parts.append(text)
    if document.get("etaSeconds") is not None:
        parts.append("ETA %s" % human_duration(document["etaSeconds"]))
    return "%s %s: %s (%s)" % (kind, name, "; ".join(parts), document.get("phase") or "?")


def run(location, options):
    """Entry point of the module half of wait_for_run: the progress once, and its line."""
    store = storage_mod.open_store(location)
    document = read_progress(store, options["kind"], options["name"])
    return {"changed": False, "progress": document, "line": progress_line(options["kind"], options["name"], document)}
