# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The metric families, computed from the records of a storage location (pure).

Names, types, help texts and the ``schedule`` label are Velero's (``pkg/metrics/metrics.go``)
wherever Velero has the metric; what Velero lacks is prefixed ``kubedr_``. Velero counts events
in its server's memory; here every number is a count of what the location holds, so:

- a ``*_total`` counter is the number of backups (restores) of that schedule and phase the
  location holds now. It survives restarts; it goes down when gc deletes old backups, which
  Prometheus reads as a counter reset. Alert on the gauges (last status, last successful time),
  not on ``increase()`` of these counters (docs/monitoring.md).
- ``velero_backup_duration_seconds`` is a histogram with Velero's buckets, over the backups the
  location holds; ``kubedr_backup_last_duration_seconds`` is the newest one's duration.
- per-backup gauges (items, errors, size, volume bytes, last status) describe each schedule's
  newest finished backup, as Velero's describe the backup it finished last.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.metrics.bucket import IN_PROGRESS, newest_by_schedule

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
PHASES = (results.COMPLETED, results.PARTIALLY_FAILED, results.FAILED)
# Velero's buckets of velero_backup_duration_seconds: 1, 5, 10, 15, 30 minutes, 1, 2, 3, 4 hours.
DURATION_BUCKETS = (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 14400.0)
# How many of a schedule's newest backups its interval is read from (a week of nightly runs and one
# more, so a weekday-only schedule shows its weekend gap).
INTERVAL_WINDOW = 8
# The families a gc run sets (not computed from the location): kept from one push to the next.
GC_RUN_FAMILIES = ("kubedr_gc_last_run_timestamp_seconds", "kubedr_gc_last_run_success",
                   "kubedr_gc_last_success_timestamp_seconds", "kubedr_gc_deleted_backups")


class Family(object):
    """One metric family: name, type, help and samples ``(suffix, labels dict, value)``."""

    def __init__(self, name, kind, help_text):
        self.name = name
        self.kind = kind
        self.help = help_text
        self.samples = []

    def add(self, labels, value, suffix=""):
        self.samples.append((suffix, dict(labels), value))
        return self

    def value(self, suffix="", **labels):
        """The value of the sample with exactly these labels (for tests and summaries), or None."""
        for sample_suffix, sample_labels, value in self.samples:
            if sample_suffix == suffix and sample_labels == labels:
                return value
        return None

    def __repr__(self):
        return "Family(%s, %d samples)" % (self.name, len(self.samples))


def _by_schedule(records):
    grouped = {}
    for record in records:
        grouped.setdefault(record.schedule, []).append(record)
    return grouped


def _phase_counts(family_names, records, schedules, help_texts):
    """Counter families, one per phase in family_names ({phase: name})."""
    families = []
    for phase, name in family_names:
        family = Family(name, COUNTER, help_texts[name])
        for schedule in schedules:
            family.add({"schedule": schedule}, sum(1 for r in records if r.schedule == schedule and r.phase == phase))
        families.append(family)
    return families


def observed_interval(starts, window=INTERVAL_WINDOW):
    """The longest gap between consecutive starts among the newest ``window`` starts, or None with
    fewer than two. The longest rather than Velero's next-run gap: a schedule that skips weekends
    is not late on Sunday."""
    newest = sorted(s for s in starts if s is not None)[-window:]
    gaps = [later - earlier for earlier, later in zip(newest, newest[1:]) if later > earlier]
    return max(gaps) if gaps else None


def backup_families(backups):
    """The backup families (Velero's and kubedr's) of the location's backups."""
    schedules = sorted(set(r.schedule for r in backups))
    finished = [r for r in backups if r.phase != IN_PROGRESS]
    by_schedule = _by_schedule(finished)
    newest = newest_by_schedule(finished)
    newest_success = newest_by_schedule(finished, phases=(results.COMPLETED,))
    help_texts = {
        "velero_backup_success_total": "Total number of successful backups",
        "velero_backup_partial_failure_total": "Total number of partially failed backups",
        "velero_backup_failure_total": "Total number of failed backups",
    }
    total = Family("velero_backup_total", GAUGE, "Current number of existent backups").add({}, len(backups))
    attempts = Family("velero_backup_attempt_total", COUNTER, "Total number of attempted backups")
    warned = Family("velero_backup_warning_total", COUNTER, "Total number of warned backups")
    running = Family("kubedr_backup_in_progress", GAUGE, "Backups of the schedule running now (no commit marker yet)")
    for schedule in schedules:
        attempts.add({"schedule": schedule}, sum(1 for r in backups if r.schedule == schedule))
        warned.add({"schedule": schedule}, sum(1 for r in by_schedule.get(schedule, ()) if r.warnings > 0))
        running.add({"schedule": schedule}, sum(1 for r in backups if r.schedule == schedule and r.phase == IN_PROGRESS))
    counters = _phase_counts([(results.COMPLETED, "velero_backup_success_total"),
                              (results.PARTIALLY_FAILED, "velero_backup_partial_failure_total"),
                              (results.FAILED, "velero_backup_failure_total")], finished, schedules, help_texts)

    last_success = Family("velero_backup_last_successful_timestamp", GAUGE,
                          "Last time a backup ran successfully, Unix timestamp in seconds")
    last_status = Family("velero_backup_last_status", GAUGE, "Last status of the backup. A value of 1 is success, 0 is failure")
    last_phase = Family("kubedr_backup_last_phase", GAUGE, "Phase of the schedule's newest finished backup (1 for its phase, 0 for the others)")
    last_start = Family("kubedr_backup_last_timestamp_seconds", GAUGE, "Start of the schedule's newest finished backup, Unix timestamp in seconds")
    items = Family("velero_backup_items_total", GAUGE, "Total number of items backed up")
    errors = Family("velero_backup_items_errors", GAUGE, "Total number of errors encountered during backup")
    size = Family("velero_backup_tarball_size_bytes", GAUGE, "Size, in bytes, of a backup")
    volume = Family("kubedr_backup_volume_bytes", GAUGE, "Bytes of pod volume data in the schedule's newest finished backup")
    last_duration = Family("kubedr_backup_last_duration_seconds", GAUGE, "Duration of the schedule's newest finished backup, in seconds")
    interval = Family("kubedr_schedule_interval_seconds", GAUGE,
                      "Longest gap between the starts of the schedule's newest %d backups, in seconds" % INTERVAL_WINDOW)
    duration = Family("velero_backup_duration_seconds", HISTOGRAM, "Time taken to complete backup, in seconds")
    for schedule in sorted(newest):
        labels = {"schedule": schedule}
        record = newest[schedule]
        success = newest_success.get(schedule)
        last_success.add(labels, int(success.completion or success.start or 0) if success else 0)
        last_status.add(labels, 1 if record.phase == results.COMPLETED else 0)
        for phase in PHASES:
            last_phase.add(dict(labels, phase=phase), 1 if record.phase == phase else 0)
        last_start.add(labels, int(record.start or 0))
        items.add(labels, record.items)
        errors.add(labels, record.errors)
        if record.size is not None:
            size.add(labels, record.size)
        if record.volume_bytes is not None:
            volume.add(labels, record.volume_bytes)
        if record.duration is not None:
            last_duration.add(labels, record.duration)
        gap = observed_interval([r.start for r in by_schedule.get(schedule, ())])
        if gap is not None and schedule:
            interval.add(labels, gap)
        _histogram(duration, labels, [r.duration for r in by_schedule[schedule] if r.duration is not None])
    return [total, attempts] + counters + [warned, running, last_success, last_status, last_phase, last_start, items,
                                           errors, size, volume, last_duration, duration, interval]


def _histogram(family, labels, values):
    for bound in DURATION_BUCKETS:
        family.add(dict(labels, le=bound), sum(1 for v in values if v <= bound), "_bucket")
    family.add(dict(labels, le=float("inf")), len(values), "_bucket")
    family.add(labels, float(sum(values)), "_sum")
    family.add(labels, len(values), "_count")


def restore_families(restores):
    """Velero's restore families (labelled by the restored backup's schedule) and kubedr's."""
    schedules = sorted(set(r.schedule for r in restores))
    help_texts = {
        "velero_restore_success_total": "Total number of successful restores",
        "velero_restore_partial_failure_total": "Total number of partially failed restores",
        "velero_restore_failed_total": "Total number of failed restores",
    }
    total = Family("velero_restore_total", GAUGE, "Current number of existent restores").add({}, len(restores))
    attempts = Family("velero_restore_attempt_total", COUNTER, "Total number of attempted restores")
    for schedule in schedules:
        attempts.add({"schedule": schedule}, sum(1 for r in restores if r.schedule == schedule))
    counters = _phase_counts([(results.COMPLETED, "velero_restore_success_total"),
                              (results.PARTIALLY_FAILED, "velero_restore_partial_failure_total"),
                              (results.FAILED, "velero_restore_failed_total")], restores, schedules, help_texts)
    last_phase = Family("kubedr_restore_last_phase", GAUGE, "Phase of the newest restore of the schedule's backups (1 for its phase, 0 for the others)")
    last_time = Family("kubedr_restore_last_timestamp_seconds", GAUGE, "Start of the newest restore of the schedule's backups, Unix timestamp in seconds")
    items = Family("kubedr_restore_items", GAUGE, "Items created or updated by the newest restore of the schedule's backups")
    newest = {}
    for record in restores:
        if record.phase in PHASES:
            newest[record.schedule] = record  # restores are sorted oldest first
    for schedule in sorted(newest):
        record = newest[schedule]
        for phase in PHASES:
            last_phase.add({"schedule": schedule, "phase": phase}, 1 if record.phase == phase else 0)
        last_time.add({"schedule": schedule}, int(record.start or 0))
        items.add({"schedule": schedule}, record.items)
    return [total, attempts] + counters + [last_phase, last_time, items]


def gc_location_families(backups, unfinished_deletions, now):
    """What the location says of gc: backups past their expiration still stored, deletions left
    half done. Both stay above zero while gc does not run or fails."""
    expired = sum(1 for r in backups if r.expiration is not None and r.expiration < now and r.phase != IN_PROGRESS)
    return [
        Family("kubedr_gc_expired_backups", GAUGE, "Backups past their expiration the location still holds").add({}, expired),
        Family("kubedr_gc_unfinished_deletions", GAUGE, "Backup deletions started and not finished").add({}, unfinished_deletions),
    ]


def gc_run_families(run, now):
    """The outcome of the gc run that computes the metrics. A failed run sets no last success time:
    the pushed (or written) families keep the previous one."""
    succeeded = bool(run.get("succeeded"))
    families = [
        Family(GC_RUN_FAMILIES[0], GAUGE, "End of the last gc run, Unix timestamp in seconds").add({}, int(now)),
        Family(GC_RUN_FAMILIES[1], GAUGE, "Outcome of the last gc run: 1 when it deleted every expired backup, 0 when it failed").add(
            {}, 1 if succeeded else 0),
    ]
    if succeeded:
        families.append(Family(GC_RUN_FAMILIES[2], GAUGE, "End of the last successful gc run, Unix timestamp in seconds").add({}, int(now)))
    families.append(Family(GC_RUN_FAMILIES[3], GAUGE, "Backups the last gc run deleted").add({}, int(run.get("deleted_backups") or 0)))
    return families


def location_families(backups, restores, unfinished_deletions, now):
    """Every family computed from the location."""
    return backup_families(backups) + restore_families(restores) + gc_location_families(backups, unfinished_deletions, now)
