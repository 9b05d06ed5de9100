"""Client-side encryption of a backup (the `encryption` option) against the test bed: what is
stored, listing without the key, a wrong key and tampering detected before the cluster is touched,
and a restore with the right key."""
import base64
import gzip
import json
import os
import uuid

import testbed

MAGIC = b"KDRENC1\n"


def test_encrypted_backup_lists_without_key_and_restores_only_with_it(bed, core_v1, s3, storage_location, namespace):
    passphrase = "enc-" + uuid.uuid4().hex
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"mode": "prod"}})
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cr3t"}})
    prefix = "enc-" + uuid.uuid4().hex[:6]
    location = dict(storage_location, prefix=prefix)
    bucket = location["bucket"]
    common = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location}
    key = {"passphrase": passphrase}

    backup = testbed.run_module("k8s_backup", dict(common, name="enc", included_namespaces=[namespace],
                                                   encryption=key))
    assert not backup.failed, backup.get("msg")
    assert backup["phase"] == "Completed" and backup["item_counts"]["per_resource"]["v1/ConfigMap"] >= 1

    def stored(role_suffix):
        return s3.get_object(Bucket=bucket, Key="%s/backups/enc/enc%s" % (prefix, role_suffix))["Body"].read()

    # velero-backup.json stays readable and records the scheme and a key check value, never the key.
    document = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "/backups/enc/velero-backup.json")["Body"].read())
    params = json.loads(document["metadata"]["annotations"]["kubedr.backup/encryption"])
    assert params["scheme"] == "kubedr-aes256gcm-v1" and params["kdf"] == "scrypt" and params["check"]
    assert passphrase not in json.dumps(document)
    # The archive and every side file are sealed.
    for suffix in (".tar.gz", "-logs.gz", "-results.gz", "-resource-list.json.gz", "-podvolumebackups.json.gz",
                   "-volumesnapshots.json.gz"):
        body = stored(suffix)
        assert body.startswith(MAGIC), suffix
        assert b"settings" not in body and b"prod" not in body

    # Listing needs no key; describing does.
    listing = testbed.run_module("k8s_backup_info", {"storage_location": location})
    assert [(b["name"], b["encrypted"], b["phase"]) for b in listing["backups"]] == [("enc", True, "Completed")]
    blind = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "enc"})
    assert blind.failed and "backup enc is encrypted" in blind["msg"]
    described = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "enc", "logs": True,
                                                       "resource_list": True, "encryption": key})
    assert not described.failed, described.get("msg")
    assert described["backup"]["resource_list"]["v1/ConfigMap"] and described["backup"]["logs"]

    # A rerun with the key is idempotent; without it, a clear error.
    again = testbed.run_module("k8s_backup", dict(common, name="enc", included_namespaces=[namespace], encryption=key))
    assert not again.failed and again["changed"] is False and again["phase"] == "Completed"
    keyless = testbed.run_module("k8s_backup", dict(common, name="enc", included_namespaces=[namespace]))
    assert keyless.failed and "encrypted" in keyless["msg"]

    target = namespace[:50] + "-enc"
    restore = dict(common, backup_name="enc", namespace_mapping={namespace: target})

    def untouched(result, expected):
        assert result.failed and expected in result["msg"], result.get("msg")
        assert passphrase not in json.dumps(result)
        assert target not in [n.metadata.name for n in core_v1.list_namespace().items]

    # A wrong key fails before anything happens (no namespace, no restore objects written).
    untouched(testbed.run_module("k8s_restore", dict(restore, name="wrong", encryption={"passphrase": "nope"})),
              "wrong encryption key or passphrase for backup enc")
    untouched(testbed.run_module("k8s_restore", dict(restore, name="none")), "backup enc is encrypted")
    raw = base64.b64encode(os.urandom(32)).decode()
    untouched(testbed.run_module("k8s_restore", dict(restore, name="raw", encryption={"key": raw})),
              "encrypted with a passphrase")
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/restores/").get("Contents")

    # Tampering: one byte changed in the archive, the archive cut short, a side file swapped.
    archive_key = prefix + "/backups/enc/enc.tar.gz"
    original = stored(".tar.gz")
    try:
        middle = len(original) // 2
        s3.put_object(Bucket=bucket, Key=archive_key,
                      Body=original[:middle] + bytes([original[middle] ^ 0x40]) + original[middle + 1:])
        untouched(testbed.run_module("k8s_restore", dict(restore, name="flip", encryption=key)), "tampered")
        s3.put_object(Bucket=bucket, Key=archive_key, Body=original[:-20])
        untouched(testbed.run_module("k8s_restore", dict(restore, name="cut", encryption=key)), "truncated")
        plain_gzip = gzip.compress(b"[]\n")
        pvb_key = prefix + "/backups/enc/enc-podvolumebackups.json.gz"
        sealed_pvb = stored("-podvolumebackups.json.gz")
        s3.put_object(Bucket=bucket, Key=archive_key, Body=original)
        s3.put_object(Bucket=bucket, Key=pvb_key, Body=plain_gzip)
        # The encryption layer's own check (the integrity manifest, docs/integrity.md, refuses it first by default).
        swapped = testbed.run_module("k8s_restore", dict(restore, name="swap", encryption=key, integrity="ignore"))
        assert swapped.failed and "not encrypted" in swapped["msg"], swapped.get("msg")
        s3.put_object(Bucket=bucket, Key=pvb_key, Body=sealed_pvb)
    finally:
        s3.put_object(Bucket=bucket, Key=archive_key, Body=original)

    # The right key restores it.
    done = testbed.run_module("k8s_restore", dict(restore, name="right", encryption=key))
    assert not done.failed, done.get("msg")
    assert done["phase"] == "Completed", done["restore_errors"]
    assert core_v1.read_namespaced_config_map("settings", target).data == {"mode": "prod"}
    assert base64.b64decode(core_v1.read_namespaced_secret("creds", target).data["token"]) == b"s3cr3t"
    core_v1.delete_namespace(target)


def test_raw_key_encryption_and_bad_keys(bed, storage_location, namespace):
    location = dict(storage_location, prefix="enc-raw-" + uuid.uuid4().hex[:6])
    common = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location}
    key = base64.b64encode(os.urandom(32)).decode()
    backup = testbed.run_module("k8s_backup", dict(common, name="raw", included_namespaces=[namespace],
                                                   encryption={"key": key}))
    assert backup["phase"] == "Completed", backup.get("msg")
    described = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "raw",
                                                       "results": True, "encryption": {"key": key}})
    assert not described.failed and described["backup"]["encrypted"]
    other = base64.b64encode(os.urandom(32)).decode()
    wrong = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "raw",
                                                   "encryption": {"key": other}})
    assert wrong.failed and "wrong encryption key" in wrong["msg"] and other not in wrong["msg"]
    short = testbed.run_module("k8s_backup", dict(common, name="short", encryption={"key": "c2hvcnQ="}))
    assert short.failed and "32 bytes" in short["msg"] and "c2hvcnQ=" not in short["msg"]
    both = testbed.run_module("k8s_backup", dict(common, name="both", encryption={"key": key, "passphrase": "p"}))
    assert both.failed and "mutually exclusive" in both["msg"]
    # Deleting an encrypted backup reads its snapshot list: it needs the key as well.
    keyless_delete = testbed.run_module("k8s_backup", dict(common, name="raw", state="absent"))
    assert keyless_delete.failed and "encrypted" in keyless_delete["msg"]
    deleted = testbed.run_module("k8s_backup", dict(common, name="raw", state="absent", encryption={"key": key}))
    assert not deleted.failed and deleted["changed"], deleted.get("msg")


def test_the_environment_passphrase_encrypts_only_when_the_task_asks(bed, s3, storage_location, namespace):
    """KUBEDR_ENCRYPTION_PASSPHRASE set and no encryption option: the backup is written as Velero
    writes it (a gzip archive Velero reads). With encryption given (enabled, no passphrase in the
    task) the variable's passphrase encrypts it, and the variable alone reads it back."""
    location = dict(storage_location, prefix="enc-env-" + uuid.uuid4().hex[:6])
    env = {"KUBEDR_ENCRYPTION_PASSPHRASE": "env-" + uuid.uuid4().hex}
    common = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location, "included_namespaces": [namespace]}
    plain = testbed.run_module("k8s_backup", dict(common, name="plain"), env=env)
    assert plain["phase"] == "Completed", plain.get("msg")
    archive = s3.get_object(Bucket=location["bucket"], Key=location["prefix"] + "/backups/plain/plain.tar.gz")
    data = archive["Body"].read()
    assert not data.startswith(MAGIC) and gzip.decompress(data)  # Velero-readable gzip
    asked = testbed.run_module("k8s_backup", dict(common, name="env", encryption={"enabled": True}), env=env)
    assert asked["phase"] == "Completed", asked.get("msg")
    assert env["KUBEDR_ENCRYPTION_PASSPHRASE"] not in json.dumps(asked)
    sealed = s3.get_object(Bucket=location["bucket"], Key=location["prefix"] + "/backups/env/env.tar.gz")
    assert sealed["Body"].read().startswith(MAGIC)
    listing = testbed.run_module("k8s_backup_info", {"storage_location": location})
    assert dict((b["name"], b["encrypted"]) for b in listing["backups"]) == {"env": True, "plain": False}
    described = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "env"}, env=env)
    assert not described.failed and described["backup"]["phase"] == "Completed", described.get("msg")
    keyless = testbed.run_module("k8s_backup_info", {"storage_location": location, "name": "env"})
    assert keyless.failed and "KUBEDR_ENCRYPTION_PASSPHRASE" in keyless["msg"]
    nothing = testbed.run_module("k8s_backup", dict(common, name="nothing", encryption={"enabled": True}))
    assert nothing.failed and "neither encryption.passphrase nor encryption.key" in nothing["msg"]
