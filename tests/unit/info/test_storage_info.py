"""k8s_backup_info's engine over a filesystem location: listing and describing."""
import gzip
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.info import describe as info
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store


def commit(store, name, started, items):
    keys = backup_keys(name)
    store.put_bytes(keys["tarball"], b"x" * 10)
    store.put_json_gz(keys["resource_list"], {"v1/ConfigMap": ["ns/%d" % i for i in range(items)]})
    store.put_bytes(keys["logs"], gzip.compress(b"line one\nline two\n"))
    store.put_bytes(keys["metadata"], json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": name, "creationTimestamp": started},
        "status": {"phase": "Completed", "startTimestamp": started, "expiration": "2030-01-01T00:00:00Z",
                   "progress": {"totalItems": items, "itemsBackedUp": items}}}).encode())


@pytest.fixture
def location(tmp_path):
    return {"provider": "filesystem", "path": str(tmp_path)}


def test_lists_committed_backups_oldest_first(location):
    store = open_store(location)
    store.check()
    commit(store, "newer", "2024-02-01T00:00:00Z", 3)
    commit(store, "older", "2024-01-01T00:00:00Z", 1)
    store.put_bytes(backup_keys("half")["tarball"], b"partial")  # never committed
    listing = info.run(location, {})["backups"]
    assert [(b["name"], b["item_count"], b["size"], b["phase"]) for b in listing] == [
        ("older", 1, 10, "Completed"), ("newer", 3, 10, "Completed")]


def test_describe_with_logs_results_and_resource_list(location):
    store = open_store(location)
    store.check()
    commit(store, "b", "2024-01-01T00:00:00Z", 2)
    described = info.run(location, {"name": "b", "logs": True, "results": True, "resource_list": True})["backup"]
    assert described["logs"] == ["line one", "line two"]
    assert described["resource_list"] == {"v1/ConfigMap": ["ns/0", "ns/1"]}
    assert described["item_counts"] == {"total": 2, "per_resource": {"v1/ConfigMap": 2}, "per_namespace": {"ns": 2}}
    empty = {"velero": [], "cluster": [], "namespaces": {}}
    assert described["results"] == {"warnings": empty, "errors": empty}  # a missing results object reads as empty
    with pytest.raises(NotFoundError, match="backup nope not found"):
        info.run(location, {"name": "nope"})


def test_reading_a_missing_directory_creates_nothing(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path / "absent")}
    with pytest.raises(StorageError, match="does not exist"):
        info.run(location, {})
    assert not (tmp_path / "absent").exists()
