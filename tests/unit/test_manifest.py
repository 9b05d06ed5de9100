"""Integrity manifests (archive/manifest.py, archive/integrity.py, restore/integrity.py, info/integrity.py): what a
backup run writes before its commit marker, plain and encrypted, signed and not; what verification reports for each
kind of change; which backups a restore refuses; keys read from PEM content or a path, never echoed."""
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as mf
from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import iter_archive
from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
from ansible_collections.kubedr.backup.plugins.module_utils.backup.spec import signing_key
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.useragent import COLLECTION_VERSION
from ansible_collections.kubedr.backup.plugins.module_utils.info.integrity import check_stored_backup
from ansible_collections.kubedr.backup.plugins.module_utils.restore import integrity as restore_integrity
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

from listing_kube import ListingKube

ITEMS = {"namespaces": [{"metadata": {"name": "shop"}}],
         "configmaps": [{"metadata": {"name": "a", "namespace": "shop"}, "data": {"k": "v"}}]}
PASSPHRASE = {"passphrase": "correct horse battery staple"}


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def signing():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def location(tmp_path):
    return {"provider": "filesystem", "path": str(tmp_path / "bucket")}


def make_backup(location, name="b1", encryption=None, signing_key=None):
    store = open_store(location)
    store.check()
    store = crypto.open_backup(store, encryption, None, "backup " + name, new=True)
    options = {"name": name, "ttl": "720h", "signing_key": signing_key, "encryption": encryption}
    result = backup.BackupRun(ListingKube(ITEMS), store, options).execute()
    assert result["phase"] == "Completed", result
    return result


def path_of(location, key):
    return os.path.join(location["path"], key)


def read(location, key):
    with open(path_of(location, key), "rb") as handle:
        return handle.read()


def write(location, key, data):
    with open(path_of(location, key), "wb") as handle:
        handle.write(data)


def info_check(location, name="b1", verify_key=None, encryption=None):
    public = mf.load_verify_key(verify_key) if verify_key else None
    return check_stored_backup(open_store(location), location, name, {"encryption": encryption}, public)


def test_a_backup_run_writes_its_manifest_before_its_commit_marker(location):
    result = make_backup(location)
    keys = backup_keys("b1")
    document = mf.decode(read(location, keys["manifest"]))
    with open(path_of(location, keys["tarball"]), "rb") as tarball:
        entries = dict((path, hashlib.sha256(data).hexdigest()) for path, data in iter_archive(tarball))
    assert result["integrity"] == {"manifest": True, "signed_by": None, "objects": 9, "items": len(entries)}
    assert os.path.getmtime(path_of(location, keys["manifest"])) <= os.path.getmtime(path_of(location, keys["metadata"]))
    assert document["tool"] == {"name": "kubedr.backup", "version": COLLECTION_VERSION}
    assert document["backup"]["name"] == "b1" and document["encrypted"] is False and "signature" not in document
    roles = ("tarball", "item_digests", "logs", "resource_list", "results", "pod_volume_backups", "volume_snapshots",
             "volume_info")
    assert sorted(document["objects"]) == sorted(keys[role] for role in roles)
    for key, recorded in document["objects"].items():
        data = read(location, key)
        assert recorded == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, key
    marker = read(location, keys["metadata"])
    assert document["commitMarker"] == {"key": keys["metadata"], "sha256": hashlib.sha256(marker).hexdigest(),
                                        "size": len(marker)}
    # The items: one streamed list object (covered by its own digest above), summed up in the manifest.
    assert mf.read_item_digests(read(location, keys["item_digests"])) == entries
    assert document["items"]["key"] == keys["item_digests"] and document["items"]["count"] == len(entries)
    assert "resources/configmaps/namespaces/shop/a.json" in entries
    report = info_check(location)
    assert (report["status"], report["signature"], report["problems"]) == ("verified", "absent", [])


def test_an_encrypted_backup_lists_its_ciphertext_and_hides_its_manifest(location):
    make_backup(location, encryption=PASSPHRASE)
    keys = backup_keys("b1")
    assert read(location, keys["manifest"]).startswith(crypto.MAGIC)  # it names the items: encrypted with them
    document = mf.decode(crypto.open_backup(open_store(location), PASSPHRASE, json.loads(read(location, keys["metadata"])),
                                            "b1").get_bytes(keys["manifest"]))
    tarball = read(location, keys["tarball"])
    assert tarball.startswith(crypto.MAGIC) and document["encrypted"] is True
    assert document["objects"][keys["tarball"]]["sha256"] == hashlib.sha256(tarball).hexdigest()
    assert info_check(location, encryption=PASSPHRASE)["status"] == "verified"
    # An object swapped for the same object of another backup: its digest tells, without decrypting anything.
    make_backup(location, name="b2", encryption=PASSPHRASE)
    write(location, keys["results"], read(location, backup_keys("b2")["results"]))
    report = info_check(location, encryption=PASSPHRASE)
    assert report["status"] == "failed"
    assert [(p["about"], p["problem"], p["key"]) for p in report["problems"]] == [("object", "changed", keys["results"])]


def test_a_signature_names_its_key_and_breaks_on_any_change(location, signing):
    other = ed25519.Ed25519PrivateKey.generate()
    made = make_backup(location, signing_key=pem_private(signing))
    assert made["integrity"]["signed_by"] == mf.fingerprint(signing.public_key())
    assert info_check(location, verify_key=pem_public(signing))["signature"] == "valid"
    assert info_check(location)["signature"] == "unchecked"
    wrong = info_check(location, verify_key=pem_public(other))
    assert wrong["status"] == "failed" and [p["problem"] for p in wrong["problems"]] == ["other_key"]

    keys = backup_keys("b1")
    document = json.loads(read(location, keys["manifest"]))
    document["tool"]["version"] = "9.9.9"  # any change to what was signed
    write(location, keys["manifest"], json.dumps(document).encode())
    changed = info_check(location, verify_key=pem_public(signing))
    assert [(p["about"], p["problem"]) for p in changed["problems"]] == [("signature", "invalid")]
    document.pop("signature")
    write(location, keys["manifest"], json.dumps(document).encode())
    assert [p["problem"] for p in info_check(location, verify_key=pem_public(signing))["problems"]] == ["unsigned"]


def test_what_verification_reports_of_each_change(location):
    make_backup(location)
    keys = backup_keys("b1")
    os.remove(path_of(location, keys["volume_info"]))
    write(location, keys["metadata"], read(location, keys["metadata"]).replace(b'"Completed"', b'"Completed" '))
    write(location, "backups/b1/extra.bin", b"?")
    report = info_check(location)
    found = sorted((p["about"], p["problem"], p.get("key")) for p in report["problems"])
    assert found == [("commit_marker", "changed", keys["metadata"]), ("object", "missing", keys["volume_info"])]
    assert report["unlisted_objects"] == ["backups/b1/extra.bin"]

    write(location, keys["manifest"], b"{not json")
    broken = info_check(location)
    assert broken["status"] == "failed" and broken["problems"][0]["problem"] == "unreadable"
    os.remove(path_of(location, keys["manifest"]))
    assert info_check(location) == dict(info_check(location), status="no_manifest", problems=[])


def test_tarball_entries_changed_missing_added_or_twice():
    recorded = {"a": "1", "b": "2", "c": "3"}
    found = mf.compare_items(recorded, [("a", "1"), ("b", "9"), ("x", "5"), ("a", "1")])
    assert [(p["problem"], p["path"]) for p in found] == [
        ("changed", "b"), ("unexpected", "x"), ("unexpected", "a"), ("missing", "c")]
    assert "more than once" in found[2]["message"] and found[0]["expected"] == "2" and found[0]["actual"] == "9"
    assert mf.compare_items(recorded, sorted(recorded.items())) == []


def test_the_restore_refuses_before_reading_further(location, signing):
    make_backup(location, signing_key=pem_private(signing))
    plain = open_store(location)

    def check(**options):
        options.setdefault("integrity", "if_present")
        return restore_integrity.check_backup(plain, "b1", options)

    verified = check(verify_key=pem_public(signing))
    try:
        assert verified.report["status"] == "verified" and verified.warning is None
        # What the restore reads is what was verified, whatever the bucket holds meanwhile.
        keys = backup_keys("b1")
        before = verified.store.get_json_gz(keys["resource_list"])
        write(location, keys["resource_list"], b"changed after the check")
        assert verified.store.get_json_gz(keys["resource_list"]) == before
        assert [path for path, _data in iter_archive(verified.tarball)][0] == "metadata/version"
    finally:
        verified.close()
    with pytest.raises(restore_integrity.IntegrityRefusal) as refused:
        check()
    assert "resource-list.json.gz changed" in refused.value.message and refused.value.report["status"] == "failed"

    os.remove(path_of(location, backup_keys("b1")["manifest"]))
    assert "no integrity manifest" in check().warning
    for options, reason in (({"integrity": "required"}, "integrity=required"),
                            ({"verify_key": pem_public(signing)}, "verify_key requires one")):
        with pytest.raises(restore_integrity.IntegrityRefusal) as refused:
            check(**options)
        assert reason in refused.value.message and "nothing was written to the cluster" in refused.value.message
    assert restore_integrity.check_backup(plain, "b1", {"integrity": "ignore"}) is None
    with pytest.raises(InvalidOptionError, match="integrity=ignore checks nothing"):
        restore_integrity.integrity_settings({"integrity": "ignore", "verify_key": pem_public(signing)})


def test_keys_from_content_or_path_and_never_echoed(tmp_path, signing):
    path = tmp_path / "key.pem"
    path.write_text(pem_private(signing))
    assert mf.fingerprint(mf.load_signing_key(str(path)).public_key()) == mf.fingerprint(signing.public_key())
    assert mf.fingerprint(mf.load_verify_key(pem_private(signing))) == mf.fingerprint(signing.public_key())
    ec_key = pem_private(ec.generate_private_key(ec.SECP256R1()))
    cases = [("not a key at all", "neither a PEM key"), (ec_key, "not an Ed25519 key"),
             (pem_public(signing), "not an unencrypted PEM private key")]
    for value, message in cases:
        with pytest.raises(InvalidOptionError, match=message) as error:
            mf.load_signing_key(value)
        lines = value.strip().splitlines()
        assert lines[1 if len(lines) > 1 else 0] not in str(error.value)  # the key material is never echoed
    with pytest.raises(InvalidOptionError, match="KUBEDR_SIGNING_KEY is neither"):
        signing_key({}, environ={"KUBEDR_SIGNING_KEY": "/no/such/file"})
    assert signing_key({}, environ={}) is None


def test_a_manifest_is_canonical_whatever_the_key_order(signing):
    document = mf.build("b1", "uid", "2026-01-01T00:00:00Z", {"k": {"sha256": "00", "size": 1}}, "m", b"{}\n",
                        {"key": "i", "count": 1, "sha256": "11"}, False)
    signed = mf.sign(document, signing)
    shuffled = json.loads(json.dumps(signed, sort_keys=False), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert mf.check_signature(shuffled, signing.public_key()) == []
    assert mf.decode(mf.encode(signed)) == signed
    with pytest.raises(ArchiveError, match="version 2"):
        mf.decode(json.dumps(dict(signed, version=2)).encode())
