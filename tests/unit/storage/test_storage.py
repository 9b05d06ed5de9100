"""Velero's object layout and the filesystem BackupStore (commit marker, deletion, read-only)."""
import gzip
import os

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys, gunzip_json, gzip_json, restore_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store


def test_backup_object_names_are_velero_s():
    assert backup_keys("nightly") == {
        "tarball": "backups/nightly/nightly.tar.gz",
        "metadata": "backups/nightly/velero-backup.json",
        "logs": "backups/nightly/nightly-logs.gz",
        "resource_list": "backups/nightly/nightly-resource-list.json.gz",
        "results": "backups/nightly/nightly-results.gz",
        "pod_volume_backups": "backups/nightly/nightly-podvolumebackups.json.gz",
        "volume_snapshots": "backups/nightly/nightly-volumesnapshots.json.gz",
        "volume_info": "backups/nightly/nightly-volumeinfo.json.gz",
        "progress": "backups/nightly/nightly-progress.json",
        "lease": "backups/nightly/nightly-lease.json",
        "manifest": "backups/nightly/nightly-manifest.json",  # kubedr's integrity manifest; Velero ignores it
        "item_digests": "backups/nightly/nightly-itemdigests.json.gz",  # the manifest's per-item digests
    }
    assert restore_keys("r1") == {
        "logs": "restores/r1/restore-r1-logs.gz",
        "results": "restores/r1/restore-r1-results.gz",
        "resource_list": "restores/r1/restore-r1-resource-list.json.gz",
        "progress": "restores/r1/restore-r1-progress.json",
        "lease": "restores/r1/restore-r1-lease.json",
    }


def test_json_gz_is_compact_json_plus_newline():
    assert gzip.decompress(gzip_json(None)) == b"null\n"
    assert gzip.decompress(gzip_json({"v1/Pod": ["a/b"]})) == b'{"v1/Pod":["a/b"]}\n'
    assert gunzip_json(gzip_json({"x": [1]})) == {"x": [1]}
    assert gunzip_json(None) is None


def store_at(tmp_path, **extra):
    location = {"provider": "filesystem", "path": str(tmp_path), "prefix": "cluster-a"}
    location.update(extra)
    store = open_store(location)
    store.check()
    return store


def test_only_committed_backups_are_listed(tmp_path):
    store = store_at(tmp_path)
    keys = backup_keys("half")
    store.put_bytes(keys["tarball"], b"data")
    store.put_bytes(backup_keys("done")["metadata"], b'{"kind":"Backup"}\n')
    assert store.list_backups() == ["done"]
    assert store.backup_metadata("half") is None
    assert store.backup_metadata("done") == {"kind": "Backup"}
    assert os.path.exists(os.path.join(str(tmp_path), "cluster-a", "backups", "done", "velero-backup.json"))
    assert store.unexpected_top_level_dirs() == []
    store.put_bytes("junk/x", b"")
    assert store.unexpected_top_level_dirs() == ["junk"]


def test_delete_removes_every_object_and_folder(tmp_path):
    store = store_at(tmp_path)
    for key in backup_keys("b1").values():
        store.put_bytes(key, b"x")
    store.put_bytes(backup_keys("b2")["metadata"], b"{}")
    assert store.delete_backup("b1") == len(backup_keys("b1"))
    assert store.list_keys("backups/") == ["backups/b2/velero-backup.json"]
    assert not os.path.exists(os.path.join(str(tmp_path), "cluster-a", "backups", "b1"))


def test_upload_and_download_stream(tmp_path):
    import io
    store = store_at(tmp_path)
    store.upload_file("backups/b/b.tar.gz", io.BytesIO(b"z" * 100000))
    assert store.size("backups/b/b.tar.gz") == 100000
    out = io.BytesIO()
    store.download_file("backups/b/b.tar.gz", out)
    assert out.getvalue() == b"z" * 100000
    with pytest.raises(NotFoundError):
        store.download_file("backups/none/none.tar.gz", io.BytesIO())
    assert store.get_bytes("backups/none/x") is None


def test_read_only_location_refuses_writes(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        store_at(tmp_path, access_mode="ReadOnly")
    (tmp_path / "cluster-a").mkdir()
    store = store_at(tmp_path, access_mode="ReadOnly")
    with pytest.raises(InvalidOptionError, match="ReadOnly"):
        store.put_bytes("backups/x/velero-backup.json", b"{}")
    with pytest.raises(InvalidOptionError, match="ReadOnly"):
        store.delete_backup("x")
