# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the metrics are computed from: the backups and restores a storage location holds.

Everything is read from the location, never from a process's memory, so the numbers are the
same after a restart, from another host, or from a CronJob's fresh pod (Velero's counters reset
when its server restarts, velero#7951). Reads only.

A committed backup is read from its ``velero-backup.json``. A backup that failed leaves no such
object (the commit marker is never written for a failed run), only its log, results and progress
object: it counts as Failed, and its schedule is read from its name (``<schedule>-YYYYmmddHHMMSS``,
the name a schedule's backups get) since no Backup object carries the label. A restore is read
from its log and results through ``archive.restore_record`` (as the restore listings read it): the
``Starting restore`` line names the backup, the ``Restore completed`` or ``Restore failed`` line its
phase.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import gzip
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive.restore_record import StoredRestore
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.info.describe import list_backups
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

IN_PROGRESS = "InProgress"
_SCHEDULED_NAME = re.compile(r"^(?P<schedule>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-\d{14}$")
_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)?$")
WORKERS = 8


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 time (Velero's ``2024-01-01T02:00:00Z``), or None."""
    match = _RFC3339.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if match.group(7):
        seconds += float(match.group(7))
    zone = match.group(8) or "Z"
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def schedule_from_name(name):
    """The schedule a backup named ``<schedule>-YYYYmmddHHMMSS`` belongs to; "" for any other name
    (Velero's label value for a backup of no schedule)."""
    match = _SCHEDULED_NAME.match(name or "")
    return match.group("schedule") if match else ""


class BackupRecord(object):
    """One backup of the location, as the metrics see it."""

    def __init__(self, name, schedule, phase, start=None, completion=None, expiration=None, items=0,
                 errors=0, warnings=0, size=None):
        self.name = name
        self.schedule = schedule
        self.phase = phase
        self.start = start
        self.completion = completion
        self.expiration = expiration
        self.items = items
        self.errors = errors
        self.warnings = warnings
        self.size = size
        self.volume_bytes = None  # read for the newest backup of each schedule only

    @property
    def duration(self):
        if self.start is None or self.completion is None:
            return None
        return max(0.0, self.completion - self.start)

    def __repr__(self):
        return "BackupRecord(%s, %s, %s)" % (self.name, self.schedule, self.phase)


class RestoreRecord(object):
    """One restore of the location: its backup, the backup's schedule, phase and times."""

    def __init__(self, name, backup_name=None, schedule="", phase=None, start=None, completion=None, items=0):
        self.name = name
        self.backup_name = backup_name
        self.schedule = schedule
        self.phase = phase
        self.start = start
        self.completion = completion
        self.items = items

    def __repr__(self):
        return "RestoreRecord(%s, %s, %s)" % (self.name, self.schedule, self.phase)


def committed_backup(summary):
    """A BackupRecord from one line of ``info.describe.list_backups``."""
    schedule = (summary.get("labels") or {}).get(SCHEDULE_NAME_LABEL) or ""
    return BackupRecord(summary["name"], schedule, summary.get("phase") or "", parse_time(summary.get("start_timestamp")),
                        parse_time(summary.get("completion_timestamp")), parse_time(summary.get("expiration")),
                        int(summary.get("item_count") or 0), int(summary.get("error_count") or 0),
                        int(summary.get("warning_count") or 0), summary.get("size"))


def _objects_by_backup(keys):
    """{backup name: set of its object file names} out of the keys under backups/."""
    objects = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "backups" and parts[1]:
            objects.setdefault(parts[1], set()).add(parts[2])
    return objects


def _uncommitted_backup(store, name, files):
    """The record of a backup without a commit marker: Failed when its run ended (its results or
    a progress object saying Failed), InProgress while it runs; None for what is no backup run
    (a deletion half done leaves a deletion record and is not counted)."""
    keys = layout.backup_keys(name)
    if layout.deletion_record_key(name).split("/")[-1] in files:
        return None
    progress = {}
    # A locked run writes its progress under numbered keys (storage/layout.py); get_bytes reads the last.
    if keys["progress"].split("/")[-1] in files or layout.numbered_names(keys["progress"], files):
        data = store.get_bytes(keys["progress"])
        try:
            progress = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            progress = {}
    phase = progress.get("phase") or ""
    if phase in (results.COMPLETED, results.PARTIALLY_FAILED):
        return None  # its commit marker is being written right now; the next reading sees it committed
    if phase == results.FAILED or keys["results"].split("/")[-1] in files:
        phase = results.FAILED  # results are written only when a run ends; without a marker, it failed
    elif phase:
        phase = IN_PROGRESS
    else:
        return None  # stray objects, no run of a backup
    return BackupRecord(name, schedule_from_name(name), phase, parse_time(progress.get("startTimestamp")),
                        parse_time(progress.get("updateTimestamp")) if phase == results.FAILED else None,
                        items=int(progress.get("itemsBackedUp") or 0))


def read_backups(store, workers=WORKERS):
    """Every backup of the location: the committed ones (through ``info.describe.list_backups``)
    and those that failed or run now. Sorted by start time, then name."""
    committed = [committed_backup(summary) for summary in list_backups(store)]
    known = set(record.name for record in committed)
    objects = _objects_by_backup(store.list_keys("backups/"))
    pending = [(name, files) for name, files in sorted(objects.items()) if name not in known]
    others = []
    if pending:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(pending)))) as pool:
            others = [r for r in pool.map(lambda entry: _uncommitted_backup(store, *entry), pending) if r is not None]
    return sorted(committed + others, key=lambda r: (r.start or 0, r.name))


def newest_by_schedule(backups, phases=None):
    """{schedule: its newest backup (of those phases)}; runs still going are never the newest."""
    newest = {}
    for record in backups:
        if record.phase == IN_PROGRESS or (phases and record.phase not in phases):
            continue
        current = newest.get(record.schedule)
        if current is None or (record.start or 0, record.name) >= (current.start or 0, current.name):
            newest[record.schedule] = record
    return newest


def volume_bytes(store, name):
    """Bytes of pod volume data the backup's PodVolumeBackups hold, or None when it cannot be read
    (an encrypted record, no record)."""
    try:
        records = store.get_json_gz(layout.backup_keys(name)["pod_volume_backups"])
    except StorageError:
        return None
    if records is None:
        return 0
    total = 0
    for record in records:
        progress = (record.get("status") or {}).get("progress") or {}
        total += int(progress.get("bytesDone") or progress.get("totalBytes") or 0)
    return total


def _read_restore(store, name, files, schedules):
    """The RestoreRecord of restore ``name`` out of its log and results, read by
    ``archive.restore_record.StoredRestore`` as the restore listings and reruns read them."""
    keys = layout.restore_keys(name)
    if keys["logs"].split("/")[-1] not in files and keys["results"].split("/")[-1] not in files:
        return RestoreRecord(name, phase=IN_PROGRESS)  # a running restore has only its progress object yet
    stored = StoredRestore(name)
    if keys["logs"].split("/")[-1] in files:
        try:
            with storage_mod.download_to_tempfile(store, keys["logs"]) as compressed:
                with gzip.GzipFile(fileobj=compressed, mode="rb") as raw:
                    stored.read_log(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
        except (OSError, EOFError, StorageError):
            pass  # an unreadable (encrypted) log: its results decide the phase, as for Velero's own records
    if keys["results"].split("/")[-1] in files:
        try:
            stored.results = store.get_json_gz(keys["results"]) or {}
        except StorageError:
            stored.results = {}
    phase = stored.settle_phase()
    counts = stored.logged_counts or {}
    record = RestoreRecord(name, stored.backup_name, "", phase, parse_time(stored.started), parse_time(stored.completed),
                           int(counts.get("created") or 0) + int(counts.get("updated") or 0))
    if record.backup_name:
        record.schedule = schedules.get(record.backup_name, schedule_from_name(record.backup_name))
    return record


def read_restores(store, backups, workers=WORKERS):
    """Every restore of the location, each labelled with the schedule of the backup it restored
    (as Velero labels its restore metrics); sorted by start time, then name."""
    schedules = dict((record.name, record.schedule) for record in backups)
    objects = {}
    for key in store.list_keys("restores/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "restores" and parts[1]:
            objects.setdefault(parts[1], set()).add(parts[2])
    if not objects:
        return []
    entries = sorted(objects.items())
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(entries)))) as pool:
        restores = list(pool.map(lambda entry: _read_restore(store, entry[0], entry[1], schedules), entries))
    return sorted(restores, key=lambda r: (r.start or 0, r.name))


def read_location(store, workers=WORKERS):
    """(backups, restores) of the location, with the volume bytes of each schedule's newest backup."""
    backups = read_backups(store, workers)
    for record in newest_by_schedule(backups).values():
        record.volume_bytes = volume_bytes(store, record.name)
    return backups, read_restores(store, backups, workers)
