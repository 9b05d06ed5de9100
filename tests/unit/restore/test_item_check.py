"""The restore reads the backup's tarball once: its entries are checked against the manifest's item
digests while they are indexed, and a mismatch refuses the restore before the cluster is touched."""
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
from ansible_collections.kubedr.backup.plugins.module_utils.restore import index, integrity
from ansible_collections.kubedr.backup.plugins.module_utils.restore import run as restore
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

from listing_kube import ListingKube

ITEMS = {"namespaces": [{"metadata": {"name": "shop"}}],
         "configmaps": [{"metadata": {"name": "cm-%d" % n, "namespace": "shop"}, "data": {"k": "v"}} for n in range(3)]}
EVIL = "resources/configmaps/namespaces/shop/evil.json"
CHANGED = "resources/configmaps/namespaces/shop/cm-1.json"


class UntouchedKube(object):
    """The cluster restored into: any use of it fails the test."""
    host = "https://target:6443"

    def __getattr__(self, name):
        raise AssertionError("the restore used the cluster (%s) before refusing" % name)


@pytest.fixture
def location(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path / "bucket")}
    store = open_store(location)
    store.check()
    result = backup.BackupRun(ListingKube(ITEMS), store, {"name": "b1", "ttl": "720h"}).execute()
    assert result["phase"] == "Completed", result
    return location


def object_path(location, key):
    return os.path.join(location["path"], key)


def rewrite_tarball(location, update_manifest):
    """Change one entry and add one, as someone with the bucket's keys could; with ``update_manifest``
    the manifest's digest of the tarball object is recomputed too (its item digests are left)."""
    keys = backup_keys("b1")
    with open(object_path(location, keys["tarball"]), "rb") as handle:
        original = tarfile.open(fileobj=io.BytesIO(gzip.decompress(handle.read())))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member in original.getmembers():
            data = original.extractfile(member).read() if member.isreg() else None
            if member.name == CHANGED:
                data = data.replace(b'"v"}', b'"w"}')
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        evil = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "evil", "namespace": "shop"}}).encode()
        info = tarfile.TarInfo(EVIL)
        info.size = len(evil)
        tar.addfile(info, io.BytesIO(evil))
    data = gzip.compress(out.getvalue())
    with open(object_path(location, keys["tarball"]), "wb") as handle:
        handle.write(data)
    if update_manifest:
        with open(object_path(location, keys["manifest"]), "rb") as handle:
            manifest = json.loads(handle.read())
        manifest["objects"][keys["tarball"]] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        with open(object_path(location, keys["manifest"]), "wb") as handle:
            handle.write(json.dumps(manifest).encode())


@pytest.fixture
def reads(monkeypatch):
    """How many times a tarball is read from its start."""
    counted = []
    original = archive.iter_entries

    def counting(*args, **kwargs):
        counted.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(archive, "iter_entries", counting)
    return counted


def test_a_verified_backup_is_read_once_and_indexed(location, tmp_path, reads):
    checked = integrity.check_backup(open_store(location), "b1", {"integrity": "if_present"}, items_while_indexing=True)
    try:
        extracted = index.extract_backup(checked.tarball, str(tmp_path), 2 ** 30, checked.item_check)
        try:
            names = [name for _ns, name, _item in extracted.items_of("configmaps")]
        finally:
            extracted.close()
    finally:
        checked.close()
    assert len(reads) == 1
    with open(object_path(location, backup_keys("b1")["tarball"]), "rb") as handle:
        entries = [m for m in tarfile.open(fileobj=handle, mode="r:gz").getmembers() if m.isreg()]
    assert checked.report["status"] == "verified" and checked.report["items_checked"] == len(entries)
    assert names == ["cm-0", "cm-1", "cm-2"]


def test_entries_that_differ_from_the_manifest_refuse_the_restore_before_the_cluster(location):
    rewrite_tarball(location, update_manifest=True)  # every object matches: only the entries tell
    result = restore.run({}, location, {"backup_name": "b1"}, kube_factory=lambda auth: UntouchedKube())
    assert result["failed"] and not result["changed"]
    assert "nothing was written to the cluster" in result["msg"] and "integrity check failed" in result["msg"]
    assert EVIL in result["msg"] and CHANGED in result["msg"]
    report = result["integrity"]
    assert report["status"] == "failed"
    assert sorted((p["problem"], p["path"]) for p in report["problems"]) == [("changed", CHANGED), ("unexpected", EVIL)]
    assert not os.path.exists(object_path(location, "restores"))  # and nothing of a restore in the bucket


def test_a_caller_that_does_not_index_the_tarball_has_its_entries_checked_by_the_check(location):
    rewrite_tarball(location, update_manifest=True)  # as the in-place volume restore checks a backup
    with pytest.raises(integrity.IntegrityRefusal) as refused:
        integrity.check_backup(open_store(location), "b1", {"integrity": "if_present"})
    assert EVIL in refused.value.message and refused.value.report["status"] == "failed"


@pytest.mark.parametrize("items_while_indexing", [True, False])
def test_a_changed_tarball_object_names_its_entries_too(location, items_while_indexing):
    rewrite_tarball(location, update_manifest=False)
    with pytest.raises(integrity.IntegrityRefusal) as refused:
        integrity.check_backup(open_store(location), "b1", {"integrity": "if_present"}, items_while_indexing)
    found = sorted((p["about"], p["problem"], p.get("path") or p.get("key")) for p in refused.value.report["problems"])
    assert found == [("item", "changed", CHANGED), ("item", "unexpected", EVIL),
                     ("object", "changed", backup_keys("b1")["tarball"])]
    assert EVIL in refused.value.message


def test_without_a_manifest_or_with_integrity_ignore_nothing_is_compared(location, tmp_path):
    rewrite_tarball(location, update_manifest=False)
    assert integrity.check_backup(open_store(location), "b1", {"integrity": "ignore"}) is None
    os.remove(object_path(location, backup_keys("b1")["manifest"]))
    checked = integrity.check_backup(open_store(location), "b1", {"integrity": "if_present"})
    try:
        assert checked.item_check is None and "no integrity manifest" in checked.warning
        extracted = index.extract_backup(checked.tarball, str(tmp_path), 2 ** 30, checked.item_check)
        names = [name for _ns, name, _item in extracted.items_of("configmaps")]
        extracted.close()
    finally:
        checked.close()
    assert names == ["cm-0", "cm-1", "cm-2", "evil"]


def test_the_index_spilled_to_the_spool_reads_back_every_entry_in_order(tmp_path):
    extracted = index.ExtractedBackup(str(tmp_path))
    try:
        entries = index.ItemEntries(extracted)
        added = [(None if n % 7 == 0 else "ns-%d" % (n % 13), "name-%d-\u00e9" % n, extracted.add(b'{"n":%d}' % n))
                 for n in range(3000)]
        for entry in added[:1500]:
            entries.append(*entry)
        assert list(entries) == added[:1500]  # read while still indexing (blocks spilled, the rest buffered)
        for entry in added[1500:]:
            entries.append(*entry)
        extracted.sealed()
        assert len(entries) == 3000 and list(entries) == added
        assert [extracted.load(reference)["n"] for _ns, _name, reference in entries] == list(range(3000))
        assert len(entries._blocks) > 4  # the entries did go to the spool: most are not held in memory
    finally:
        extracted.close()
