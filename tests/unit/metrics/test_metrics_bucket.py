"""The metrics computed from a storage location (a local directory in Velero's layout): what a
user reads on the Pushgateway, from the backups and restores the location holds."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.metrics import bucket, exposition, families, run as metrics_run
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

from metrics_support import commit_backup, failed_backup, restore_record, running_backup

NOW = bucket.parse_time("2026-01-10T12:00:00Z")


@pytest.fixture
def store(tmp_path):
    location = open_store({"provider": "filesystem", "path": str(tmp_path)})
    location.check()
    return location


def family(computed, name):
    return next(f for f in computed if f.name == name)


def test_counts_by_schedule_and_phase_from_the_location(store):
    commit_backup(store, "nightly-20260101020000", "Completed", "2026-01-01T02:00:00Z", "2026-01-01T02:03:00Z", "nightly",
                  items=40, volume_bytes=1000)
    commit_backup(store, "nightly-20260102020000", "PartiallyFailed", "2026-01-02T02:00:00Z", "2026-01-02T02:10:00Z",
                  "nightly", items=41, errors=2, warnings=1)
    commit_backup(store, "nightly-20260103020000", "Completed", "2026-01-03T02:00:00Z", "2026-01-03T02:20:00Z", "nightly",
                  items=42, volume_bytes=2048)
    failed_backup(store, "nightly-20260104020000", "2026-01-04T02:00:00Z", "2026-01-04T02:01:00Z")
    commit_backup(store, "manual", "Completed", "2026-01-05T10:00:00Z", "2026-01-05T10:00:30Z", items=7)
    running_backup(store, "nightly-20260110020000", "2026-01-10T02:00:00Z")

    computed, summary = metrics_run.compute(store, now=NOW)

    assert summary["backups"] == 6
    assert summary["backup_phases"] == {"Completed": 3, "PartiallyFailed": 1, "Failed": 1, "InProgress": 1}
    assert family(computed, "velero_backup_total").value() == 6
    assert family(computed, "velero_backup_attempt_total").value(schedule="nightly") == 5
    assert family(computed, "velero_backup_success_total").value(schedule="nightly") == 2
    assert family(computed, "velero_backup_success_total").value(schedule="") == 1
    assert family(computed, "velero_backup_partial_failure_total").value(schedule="nightly") == 1
    assert family(computed, "velero_backup_failure_total").value(schedule="nightly") == 1  # read from its name
    assert family(computed, "velero_backup_warning_total").value(schedule="nightly") == 1
    assert family(computed, "kubedr_backup_in_progress").value(schedule="nightly") == 1
    # The newest finished backup of nightly is the failed one: last status 0, its phase Failed.
    assert family(computed, "velero_backup_last_status").value(schedule="nightly") == 0
    assert family(computed, "kubedr_backup_last_phase").value(schedule="nightly", phase="Failed") == 1
    assert family(computed, "kubedr_backup_last_phase").value(schedule="nightly", phase="Completed") == 0
    assert family(computed, "velero_backup_last_successful_timestamp").value(schedule="nightly") == \
        bucket.parse_time("2026-01-03T02:20:00Z")
    assert family(computed, "velero_backup_last_successful_timestamp").value(schedule="") == \
        bucket.parse_time("2026-01-05T10:00:30Z")
    # Volume bytes and size of the newest finished backup; none for the failed one.
    assert family(computed, "kubedr_backup_volume_bytes").value(schedule="") == 0
    assert family(computed, "velero_backup_tarball_size_bytes").value(schedule="") == 100
    # The histogram over the finished backups of nightly with a duration: 3, 10 and 20 minutes, and 1 (the failed run).
    duration = family(computed, "velero_backup_duration_seconds")
    assert duration.value("_count", schedule="nightly") == 4
    assert duration.value("_sum", schedule="nightly") == 180 + 600 + 1200 + 60
    assert duration.value("_bucket", schedule="nightly", le=300.0) == 2
    assert duration.value("_bucket", schedule="nightly", le=900.0) == 3
    assert duration.value("_bucket", schedule="nightly", le=float("inf")) == 4
    assert family(computed, "kubedr_schedule_interval_seconds").value(schedule="nightly") == 86400
    assert family(computed, "kubedr_schedule_interval_seconds").value(schedule="") is None


def test_newest_backup_gauges_and_volume_bytes(store):
    commit_backup(store, "daily-20260101000000", "Completed", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "daily",
                  items=10, volume_bytes=5)
    commit_backup(store, "daily-20260102000000", "Completed", "2026-01-02T00:00:00Z", "2026-01-02T00:02:00Z", "daily",
                  items=12, errors=0, volume_bytes=4096)
    computed, _summary = metrics_run.compute(store, now=NOW)
    assert family(computed, "velero_backup_items_total").value(schedule="daily") == 12
    assert family(computed, "kubedr_backup_volume_bytes").value(schedule="daily") == 4096
    assert family(computed, "kubedr_backup_last_duration_seconds").value(schedule="daily") == 120
    assert family(computed, "velero_backup_last_status").value(schedule="daily") == 1


def test_restores_are_labelled_with_their_backups_schedule(store):
    commit_backup(store, "nightly-20260101020000", "Completed", "2026-01-01T02:00:00Z", "2026-01-01T02:03:00Z", "nightly")
    restore_record(store, "r1", "nightly-20260101020000", "2026-01-06T00:00:00Z", phase="Completed")
    restore_record(store, "r2", "nightly-20260101020000", "2026-01-07T00:00:00Z", phase="PartiallyFailed", created=4, updated=0)
    restore_record(store, "r3", "nightly-20251201020000", "2026-01-08T00:00:00Z", failed_reason="cannot read")  # backup gone
    restore_record(store, "r4", "adhoc", "2026-01-09T00:00:00Z", phase="Completed")
    store.put_bytes("restores/r5/restore-r5-progress.json", b'{"phase": "InProgress"}')  # running: no log yet
    computed, summary = metrics_run.compute(store, now=NOW)
    assert summary["restore_phases"] == {"Completed": 2, "PartiallyFailed": 1, "Failed": 1}
    assert family(computed, "velero_restore_total").value() == 5
    assert family(computed, "velero_restore_attempt_total").value(schedule="nightly") == 3
    assert family(computed, "velero_restore_success_total").value(schedule="nightly") == 1
    assert family(computed, "velero_restore_partial_failure_total").value(schedule="nightly") == 1
    assert family(computed, "velero_restore_failed_total").value(schedule="nightly") == 1
    assert family(computed, "velero_restore_success_total").value(schedule="") == 1
    assert family(computed, "kubedr_restore_last_phase").value(schedule="nightly", phase="Failed") == 1
    assert family(computed, "kubedr_restore_items").value(schedule="") == 3


def test_gc_families_from_the_location_and_from_the_run(store):
    commit_backup(store, "old", "Completed", "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z",
                  expiration="2025-02-01T00:00:00Z")
    commit_backup(store, "young", "Completed", "2026-01-09T00:00:00Z", "2026-01-09T00:01:00Z")
    store.put_bytes("backups/halfgone/halfgone-deletion.json", b"{}")
    computed, _summary = metrics_run.compute(store, {"kind": "gc", "succeeded": False, "deleted_backups": 1}, now=NOW)
    assert family(computed, "kubedr_gc_expired_backups").value() == 1
    assert family(computed, "kubedr_gc_unfinished_deletions").value() == 1
    assert family(computed, "kubedr_gc_last_run_success").value() == 0
    assert family(computed, "kubedr_gc_deleted_backups").value() == 1
    assert not [f for f in computed if f.name == "kubedr_gc_last_success_timestamp_seconds"]  # kept from before
    succeeded, _summary = metrics_run.compute(store, {"kind": "gc", "succeeded": True}, now=NOW)
    assert family(succeeded, "kubedr_gc_last_success_timestamp_seconds").value() == int(NOW)
    backup_run, _summary = metrics_run.compute(store, {"kind": "backup", "succeeded": True}, now=NOW)
    assert not [f for f in backup_run if f.name in families.GC_RUN_FAMILIES]


def test_an_empty_location_has_totals_of_zero(store):
    computed, summary = metrics_run.compute(store, now=NOW)
    text = exposition.format_families(computed)
    assert summary["backups"] == 0
    assert "velero_backup_total 0\n" in text and "velero_restore_total 0\n" in text


def test_textfile_is_written_and_the_gc_outcome_kept_across_runs(store, tmp_path):
    commit_backup(store, "nightly-20260101020000", "Completed", "2026-01-01T02:00:00Z", "2026-01-01T02:03:00Z", "nightly")
    location = {"provider": "filesystem", "path": store.root}
    path = str(tmp_path / "kubedr.prom")
    metrics_run.run(location, {"textfile": path, "run": {"kind": "gc", "succeeded": True, "deleted_backups": 2}})
    metrics_run.run(location, {"textfile": path, "run": {"kind": "gc", "succeeded": False, "deleted_backups": 0}})
    result = metrics_run.run(location, {"textfile": path, "run": {"kind": "backup", "succeeded": True}})
    with open(path) as f:
        values = exposition.sample_values(f.read())
    assert result["changed"] and result["textfile"] == path
    assert values[("kubedr_gc_last_run_success", frozenset())] == 0  # the failed run, kept by the backup run
    assert values[("kubedr_gc_last_success_timestamp_seconds", frozenset())] > 0  # the successful one, kept by both
    assert values[("velero_backup_success_total", frozenset([("schedule", "nightly")]))] == 1


def test_check_mode_computes_and_writes_nothing(store, tmp_path):
    location = {"provider": "filesystem", "path": store.root}
    path = tmp_path / "kubedr.prom"
    result = metrics_run.run(location, {"textfile": str(path), "pushgateway_url": "http://127.0.0.1:9"}, check_mode=True)
    assert not result["changed"] and not path.exists() and result["pushed_to"] == []
    assert "velero_backup_total 0" in result["metrics"]


@pytest.mark.parametrize("options,message", [
    ({"pushgateway_grouping": {"schedule": "x"}}, "must not name schedule"),
    ({"run": {"kind": "prune"}}, "run.kind must be one of"),
    ({"textfile": "/nonexistent-dir/kubedr.prom"}, "does not exist"),
    ({"textfile": "kubedr.txt"}, "must end in .prom"),
    ({"pushgateway_url": "ftp://gateway"}, "http:// or https://"),
    ({"pushgateway_url": "http://user:secret@gateway:9091"}, "must not hold a user or password"),
])
def test_bad_options_get_a_clear_error(store, options, message):
    with pytest.raises(InvalidOptionError, match=message) as raised:
        metrics_run.run({"provider": "filesystem", "path": store.root}, options)
    assert "secret" not in str(raised.value)


def test_parse_time_and_schedule_names():
    assert bucket.parse_time("1970-01-01T00:01:00Z") == 60
    assert bucket.parse_time("1970-01-01T01:00:00+01:00") == 0
    assert bucket.parse_time("1970-01-01T00:00:01.5Z") == 1.5
    assert bucket.parse_time("yesterday") is None and bucket.parse_time(None) is None
    assert bucket.schedule_from_name("nightly-20260101020000") == "nightly"
    assert bucket.schedule_from_name("my-sched-20260101020000") == "my-sched"
    assert bucket.schedule_from_name("backup-2026") == ""
    assert bucket.schedule_from_name("manual") == ""


def test_observed_interval_keeps_the_weekend_gap():
    day = 86400
    weekdays = [d * day for d in (0, 1, 2, 3, 4, 7, 8, 9, 10)]  # Monday..Friday, Monday..Thursday
    assert families.observed_interval(weekdays) == 3 * day
    assert families.observed_interval([0]) is None
    assert families.observed_interval([0, 3600, None, 7200]) == 3600
