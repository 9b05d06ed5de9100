"""A restore rerun with the same name: its stored result read back from its records."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RESTORE, RunLog
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore import rerun
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod


def record(store, name, backup, phase="PartiallyFailed", failed=None):
    log = RunLog(name, RESTORE)
    log.info("Starting restore", backup=backup)
    log.info("Restore of item create", resource="configmaps", namespace="a", name='odd "name"')
    if failed:
        log.error("Restore failed", reason=failed)
    else:
        log.info("Restore completed", phase=phase, created=1, failed=1, recreated=1, skipped=1, total=3, updated=0)
    keys = layout.restore_keys(name)
    storage_mod.upload_gzipped(store, keys["logs"], log.copy_to)
    log.close()
    store.put_json_gz(keys["results"], {"warnings": {"velero": ["w"], "cluster": [], "namespaces": {}},
                                        "errors": {"velero": [], "cluster": [], "namespaces": {"a": ["e"]}}})
    store.put_json_gz(keys["resource_list"], {"v1/ConfigMap": ["a/c(created)", "a/d(failed)"],
                                              "v1/Secret": ["a/s(skipped)"]})


@pytest.fixture
def store(tmp_path):
    return storage_mod.open_store({"provider": "filesystem", "path": str(tmp_path)})


def test_log_fields_unescape_quoted_values():
    line = 'time="2024-01-02T10:15:00Z" level=info msg="Restore failed" restore=velero/r reason="a \\"b\\" c\\\\d"'
    fields = runlog.parse_fields(line)
    assert fields["msg"] == "Restore failed" and fields["reason"] == 'a "b" c\\d' and fields["restore"] == "velero/r"


def test_stored_result_is_what_the_restore_returned(store):
    assert rerun.read_stored_restore(store, "r") is None
    record(store, "r", "nightly-1")
    stored = rerun.read_stored_restore(store, "r")
    result = rerun.stored_result(store, stored)
    assert result["changed"] is False and result["backup_name"] == "nightly-1"
    assert result["phase"] == "PartiallyFailed" and result["start_timestamp"] and result["completion_timestamp"]
    assert result["item_counts"] == {
        "created": 1, "updated": 0, "skipped": 1, "failed": 1, "total": 3, "recreated": 1,
        "per_resource": {"v1/ConfigMap": {"created": 1, "updated": 0, "skipped": 0, "failed": 1},
                         "v1/Secret": {"created": 0, "updated": 0, "skipped": 1, "failed": 0}}}
    assert (result["warning_count"], result["error_count"]) == (1, 1)
    assert result["restore_errors"]["namespaces"] == {"a": ["e"]}
    assert "failed" not in result


def test_a_failed_restore_reruns_as_failed(store):
    record(store, "r", "b", failed="the API server went away")
    result = rerun.stored_result(store, rerun.read_stored_restore(store, "r"))
    assert result["phase"] == "Failed" and result["failed"] is True
    assert result["msg"] == "restore r failed: the API server went away"


def test_same_name_for_another_backup_is_a_clear_error(store):
    record(store, "r", "nightly-1")
    stored = rerun.read_stored_restore(store, "r")
    rerun.check_same_backup(store, stored, {"backup_name": "nightly-1"})
    with pytest.raises(InvalidOptionError, match="restore r exists already in the storage location for backup "
                                                 "nightly-1, not nightly-2: give another name"):
        rerun.check_same_backup(store, stored, {"backup_name": "nightly-2"})
    with pytest.raises(InvalidOptionError, match="not a backup of schedule nightly"):
        rerun.check_same_backup(store, stored, {"schedule_name": "nightly"})
    store.put_bytes(layout.backup_keys("nightly-1")["metadata"],
                    b'{"metadata": {"labels": {"velero.io/schedule-name": "nightly"}}, "status": {}}')
    rerun.check_same_backup(store, stored, {"schedule_name": "nightly"})


def test_a_record_without_log_cannot_be_matched(store):
    store.put_json_gz(layout.restore_keys("v")["results"], {"warnings": {}, "errors": {}})
    stored = rerun.read_stored_restore(store, "v")
    assert stored.phase == "Completed" and stored.backup_name is None
    with pytest.raises(InvalidOptionError, match="its log does not name its backup"):
        rerun.check_same_backup(store, stored, {"backup_name": "b"})


def test_a_derived_name_taken_in_the_same_second_gets_the_next_free_suffix(store):
    # Two restores of one backup without a name in the same second (or a check-mode preview right after a
    # restore): the second must not fail on the first's records. A run that died leaves only its progress
    # object and lease, which do not take the name.
    derived = "web-20261203101500"
    assert rerun.free_derived_name(store, derived) == derived
    record(store, derived, "web")
    record(store, derived + "-2", "web")
    store.put_bytes(layout.restore_keys(derived + "-3")["progress"], b"{}")
    store.put_bytes(layout.restore_keys(derived + "-3")["lease"], b"{}")
    assert rerun.free_derived_name(store, derived) == derived + "-3"
    rerun.check_name_is_free(store, derived + "-3")


def test_when_every_derived_name_is_taken_the_name_check_says_so(store):
    derived = "web-20261203101500"
    for name in [derived] + ["%s-%d" % (derived, number) for number in (2, 3)]:
        record(store, name, "web")
    last = rerun.free_derived_name(store, derived, attempts=3)
    assert last == derived + "-3"
    with pytest.raises(InvalidOptionError, match="restore %s exists already" % last):
        rerun.check_name_is_free(store, last)
