"""Deleting a backup as one operation (backup/delete.py) against a real filesystem store and a fake restic:
nothing changes until every repository opened; the commit marker goes before the first forget; a failure
half-way leaves the backup unlisted with a deletion record that a rerun finishes; restores' records go too."""
import gzip
import json
import re

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.backup.delete import (
    delete_backup, existing_snapshots,
)
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic

REPO_A, REPO_B = "/srv/restic/a", "/srv/restic/b"


class FakeRestic(object):
    """Repositories {identifier: [snapshot dicts]}; ``broken`` maps an identifier to the error of any command,
    ``locked`` to the error of forget only. Records (operation, identifier) of every call."""

    def __init__(self, repositories):
        self.repositories = repositories
        self.broken = {}
        self.locked = {}
        self.calls = []

    def __call__(self, repo, argv, operation):
        self.calls.append((operation, repo.identifier))
        if repo.identifier in self.broken:
            raise self.broken[repo.identifier]
        if repo.identifier not in self.repositories:
            raise restic.ResticRepositoryNotFound("no repository", kind="not_found")
        if operation == "snapshots":
            return Result(json.dumps(self.repositories[repo.identifier]))
        if operation == "forget":
            if repo.identifier in self.locked:
                raise self.locked[repo.identifier]
            ids = [a for a in argv if re.match("^[0-9a-f]{64}$", a)]
            self.repositories[repo.identifier] = [s for s in self.repositories[repo.identifier] if s["id"] not in ids]
            return Result("")
        raise AssertionError(operation)


class Result(object):
    def __init__(self, stdout):
        self.stdout = stdout


def snapshot(full_id, backup):
    return {"id": full_id, "short_id": full_id[:8], "time": "2026-01-01T00:00:00Z", "tags": ["backup=" + backup]}


def pvb(repository, snapshot_id):
    return {"spec": {"repoIdentifier": repository}, "status": {"snapshotID": snapshot_id}}


@pytest.fixture
def location(tmp_path):
    return {"provider": "filesystem", "path": str(tmp_path / "bucket")}


@pytest.fixture
def store(location):
    real = open_store(location)
    real.check()
    return real


def put_backup(store, name, records):
    keys = layout.backup_keys(name)
    for role, key in keys.items():
        if role == "pod_volume_backups":
            store.put_json_gz(key, records)
        elif role not in ("metadata", "lease"):  # a finished run gave its lease back
            store.put_bytes(key, b"x")
    store.put_bytes(keys["metadata"], json.dumps({"metadata": {"name": name}, "status": {}}).encode())


def put_restore(store, restore_name, backup_name):
    keys = layout.restore_keys(restore_name)
    line = 'time="2026-01-01T00:00:00Z" level=info msg="Starting restore" restore=velero/%s backup=%s\n' % (
        restore_name, backup_name)
    store.put_bytes(keys["logs"], gzip.compress(line.encode()))
    store.put_bytes(keys["results"], b"x")
    store.put_bytes(keys["resource_list"], b"x")


@pytest.fixture
def fake():
    return FakeRestic({REPO_A: [snapshot("a" * 64, "old"), snapshot("c" * 64, "live")],
                       REPO_B: [snapshot("b" * 64, "old")]})


@pytest.fixture
def old(store):
    put_backup(store, "old", [pvb(REPO_A, "aaaaaaaa"), pvb(REPO_B, "b" * 64)])  # short and long IDs
    put_backup(store, "live", [pvb(REPO_A, "cccccccc")])
    put_restore(store, "old-1", "old")
    put_restore(store, "old-2", "old")
    put_restore(store, "live-1", "live")
    return store


def test_a_backup_goes_whole_with_its_snapshots_and_restores(old, location, fake):
    result = delete_backup(old, location, "old", False, "pw", restic_runner=fake)
    assert result["changed"] and result["deleted_restores"] == ["old-1", "old-2"]
    assert result["forgotten_snapshots"] == {REPO_A: ["aaaaaaaa"], REPO_B: ["b" * 64]}
    assert len(result["deleted_objects"]) == len(layout.backup_keys("old")) - 1  # every object but the lease
    assert old.list_keys("backups/old/") == [] and old.list_backups() == ["live"]
    assert sorted(set(k.split("/")[1] for k in old.list_keys("restores/"))) == ["live-1"]
    assert fake.repositories == {REPO_A: [snapshot("c" * 64, "live")], REPO_B: []}
    # Every repository was opened before the first forget.
    assert [c[0] for c in fake.calls] == ["snapshots", "snapshots", "forget", "forget"]
    again = delete_backup(old, location, "old", False, "pw", restic_runner=fake)
    assert not again["changed"] and again["forgotten_snapshots"] == {} and again["deleted_objects"] == []


def test_check_mode_and_a_repository_that_cannot_be_opened_change_nothing(old, location, fake):
    before = old.list_keys("")
    preview = delete_backup(old, location, "old", True, "pw", restic_runner=fake)
    assert preview["deleted_restores"] == ["old-1", "old-2"] and preview["forgotten_snapshots"][REPO_B] == ["b" * 64]
    fake.broken[REPO_B] = restic.ResticError("wrong repository password", kind="wrong_password")
    with pytest.raises(restic.ResticError, match="wrong repository password"):
        delete_backup(old, location, "old", False, "pw", restic_runner=fake)
    with pytest.raises(InvalidOptionError, match="repository_password"):
        delete_backup(old, location, "old", False, None, restic_runner=fake)
    assert old.list_keys("") == before and "forget" not in [c[0] for c in fake.calls]
    assert len(fake.repositories[REPO_A]) == 2


def test_a_failure_half_way_leaves_the_backup_unlisted_and_a_rerun_finishes_it(old, location, fake):
    fake.locked[REPO_B] = restic.ResticError("the repository is locked", kind="locked")
    with pytest.raises(restic.ResticError, match="locked"):
        delete_backup(old, location, "old", False, "pw", restic_runner=fake)
    assert old.list_backups() == ["live"]  # no longer listed, though REPO_A's snapshot is forgotten
    assert fake.repositories[REPO_A] == [snapshot("c" * 64, "live")]
    assert layout.deletion_record_key("old") in old.list_keys("backups/old/")
    # The rerun reads what to forget from the deletion record (the backup's own records may be unreadable).
    old.delete(layout.backup_keys("old")["pod_volume_backups"])
    del fake.locked[REPO_B]
    result = delete_backup(old, location, "old", False, "pw", restic_runner=fake)
    assert result["forgotten_snapshots"] == {REPO_B: ["b" * 64]} and result["deleted_restores"] == ["old-1", "old-2"]
    assert old.list_keys("backups/old/") == [] and fake.repositories[REPO_B] == []


def test_a_missing_repository_is_nothing_left_to_forget(store, location, fake):
    put_backup(store, "gone", [pvb("/srv/restic/never", "dddddddd")])
    result = delete_backup(store, location, "gone", False, "pw", restic_runner=fake)
    assert result["forgotten_snapshots"] == {} and store.list_keys("backups/") == []


def test_short_ids_match_one_snapshot_or_none():
    listed = restic.parse_snapshots(json.dumps([snapshot("ab" + "1" * 62, "x"), snapshot("ab" + "2" * 62, "y")]))
    assert existing_snapshots(["ab1", "ff"], listed, "x") == {"ab1": "ab" + "1" * 62}
    assert existing_snapshots(["ab"], listed, "y") == {"ab": "ab" + "2" * 62}  # the one tagged with the backup
    with pytest.raises(StorageError, match="matches 2 snapshots"):
        existing_snapshots(["ab"], listed, "z")
