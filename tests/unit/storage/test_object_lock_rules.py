"""Immutable backups (docs/immutability.md), the parts that are pure rules: numbered progress keys and their
readers' choice, the option's validation, and a locked backup left whole by backup/delete.py (a filesystem
store that reports a lock stands for S3's answer; the S3 side runs on MinIO in test_object_lock.py)."""
import datetime
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.backup.delete import delete_backup
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout, object_lock
from ansible_collections.kubedr.backup.plugins.module_utils.storage.filesystem import FilesystemStore
from ansible_collections.kubedr.backup.plugins.module_utils.storage.s3 import S3Store
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store


def test_each_progress_write_of_a_locked_run_has_its_own_key_and_readers_take_the_last():
    key = layout.backup_keys("nightly")["progress"]
    assert layout.written_in_place(key) and not layout.written_in_place(layout.backup_keys("nightly")["tarball"])
    assert not layout.written_in_place(layout.restore_keys("nightly")["progress"])  # restores are not locked
    numbered = [layout.numbered_key(key, n) for n in (10, 2, 1)]
    assert numbered[2] == "backups/nightly/nightly-progress-000001.json"
    names = numbered + ["backups/nightly/nightly-progress.json", "backups/nightly/nightly-progress-x.json",
                        "backups/nightly/nightly-logs.gz"]
    assert layout.numbered_names(key, names)[-1] == numbered[0]
    assert layout.numbered_names(key, [n.split("/")[-1] for n in names]) == [
        "nightly-progress-000001.json", "nightly-progress-000002.json", "nightly-progress-000010.json"]


def test_object_lock_needs_s3_and_a_known_mode(tmp_path):
    with pytest.raises(InvalidOptionError, match="filesystem location cannot"):
        open_store({"provider": "filesystem", "path": str(tmp_path), "object_lock": "governance"})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidOptionError, match="must be one of governance, compliance"):
        S3Store({"bucket": "b", "endpoint_url": "http://127.0.0.1:1", "access_key": "a", "secret_key": "s",
                 "object_lock": "forever"})


def test_a_lock_counts_until_its_date():
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert object_lock.still_locked(now + datetime.timedelta(seconds=1), now)
    assert not object_lock.still_locked(now, now) and not object_lock.still_locked(None, now)
    naive = datetime.datetime(2026, 1, 1, 2)
    assert object_lock.utc(naive) == datetime.datetime(2026, 1, 1, 2, tzinfo=datetime.timezone.utc)
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert object_lock.utc(datetime.datetime(2026, 1, 1, 4, tzinfo=plus_two)) == object_lock.utc(naive)


class LockedStore(FilesystemStore):
    """A directory whose backup objects report a lock, as S3 reports a retention."""

    until = None

    def locked_until(self, keys):
        return ("compliance", self.until) if self.until and keys else None


def put_backup(store, name):
    for role, key in layout.backup_keys(name).items():
        if role not in ("metadata", "lease", "pod_volume_backups"):
            store.put_bytes(key, b"x")
    store.put_json_gz(layout.backup_keys(name)["pod_volume_backups"], [])
    store.put_bytes(layout.backup_keys(name)["metadata"], json.dumps({"metadata": {"name": name}}).encode())


def test_a_locked_backup_is_left_whole_and_the_result_says_until_when(tmp_path):
    store = LockedStore(str(tmp_path), "", False)
    put_backup(store, "held")
    before = store.list_keys("backups/held/")
    store.until = "2026-12-31T00:00:00Z"
    for check_mode in (True, False):
        result = delete_backup(store, {"provider": "filesystem", "path": str(tmp_path)}, "held", check_mode, None)
        assert not result["changed"] and result["deleted_objects"] == [] and result["locked_until"] == store.until
        assert result["lock_mode"] == "compliance" and "nothing of it was deleted" in result["warnings"][0]
        assert store.list_keys("backups/held/") == before and store.list_backups() == ["held"]
    store.until = None
    result = delete_backup(store, {"provider": "filesystem", "path": str(tmp_path)}, "held", False, None)
    assert result["changed"] and "locked_until" not in result and store.list_keys("backups/held/") == []
