"""Immutable backups on an S3 Object Lock bucket (storage_location.object_lock, docs/immutability.md), on the
test bed's MinIO: the ransomware case (the backup identity's own keys cannot delete or rewrite a locked backup,
and it still restores), immutability refused on a bucket without Object Lock before anything is written, and
gc keeping a backup that is still locked."""
import datetime
import gzip
import json

import botocore.exceptions
import pytest

import testbed
from test_playbooks_support import configmaps, delete_quietly, playbook, s3_env, unique
from test_restore_support import warning_messages
from testbed import wait_for


@pytest.fixture(scope="module")
def lock_bucket(s3):
    """A bucket created with Object Lock (MinIO enables it only at creation), with the test bed's root keys."""
    name = unique("kubedr-lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name  # compliance-locked versions cannot be removed before their date: the bucket stays with the bed


def lock_location(bed, bucket, mode, keys=True):
    location = {"provider": "s3", "bucket": bucket, "endpoint_url": bed["KUBEDR_S3_ENDPOINT"], "region": "us-east-1",
                "s3_addressing_style": "path", "prefix": unique("lock"), "object_lock": mode}
    if keys:
        location.update(access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])
    return location


def versions(s3, location, name):
    """{file name: [version dicts, oldest first]} of the backup's keys (delete markers flagged)."""
    prefix = "%s/backups/%s/" % (location["prefix"], name)
    found = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=location["bucket"], Prefix=prefix):
        for entry in page.get("Versions") or []:
            found.setdefault(entry["Key"][len(prefix):], []).append(dict(entry, marker=False))
        for entry in page.get("DeleteMarkers") or []:
            found.setdefault(entry["Key"][len(prefix):], []).append(dict(entry, marker=True))
    return dict((key, sorted(entries, key=lambda e: e["LastModified"])) for key, entries in found.items())


def key_of(location, name, file_name):
    return "%s/backups/%s/%s" % (location["prefix"], name, file_name)


def committed(s3, location, name, version_id):
    data = s3.get_object(Bucket=location["bucket"], Key=key_of(location, name, "velero-backup.json"),
                         VersionId=version_id)["Body"].read()
    return json.loads(data)


def test_immutability_is_refused_where_it_cannot_be_given(bed, storage_location, s3, core_v1, namespace, tmp_path):
    configmaps(core_v1, namespace, 1)
    location = dict(storage_location, prefix=unique("lock-refused"), object_lock="governance")
    result = testbed.run_module("k8s_backup", {"name": unique("refused"), "included_namespaces": [namespace],
                                               "kubeconfig": bed["KUBECONFIG"], "storage_location": location})
    assert result.failed and "has no Object Lock" in result["msg"] and "nothing was written" in result["msg"], result
    assert s3.list_objects_v2(Bucket=location["bucket"], Prefix=location["prefix"] + "/").get("KeyCount") == 0
    directory = {"provider": "filesystem", "path": str(tmp_path), "object_lock": "compliance"}
    result = testbed.run_module("k8s_backup", {"name": unique("refused"), "included_namespaces": [namespace],
                                               "kubeconfig": bed["KUBECONFIG"], "storage_location": directory})
    assert result.failed and "filesystem location cannot" in result["msg"], result
    assert list(tmp_path.iterdir()) == []


def test_a_locked_backup_survives_its_own_stolen_credential(bed, s3, core_v1, namespace, lock_bucket):
    configmaps(core_v1, namespace, 2)
    location = lock_location(bed, lock_bucket, "compliance", keys=False)  # the playbook takes the keys from AWS_*
    name = unique("immutable")
    playbook(bed, "kubedr.backup.backup", {"kubedr_storage_location": location, "kubedr_backup_name": name,
                                           "kubedr_included_namespaces": [namespace], "kubedr_ttl": "2h",
                                           "kubedr_poll_interval": 1},
             env=s3_env(bed))

    # Every object written once, in compliance mode, until the backup's expiration.
    stored = versions(s3, location, name)
    assert all(len(entries) == 1 and not entries[0]["marker"] for entries in stored.values()), stored
    expiration = committed(s3, location, name, stored["velero-backup.json"][0]["VersionId"])["status"]["expiration"]
    for file_name, entries in stored.items():
        head = s3.head_object(Bucket=lock_bucket, Key=key_of(location, name, file_name),
                              VersionId=entries[0]["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", file_name
        assert head["ObjectLockRetainUntilDate"].strftime("%Y-%m-%dT%H:%M:%SZ") == expiration, file_name
    assert name + "-progress-000001.json" in stored and name + "-progress.json" not in stored
    assert name + "-lease.json" not in stored  # given back, every version of it
    module_location = lock_location(bed, lock_bucket, "compliance")
    module_location["prefix"] = location["prefix"]
    progress = testbed.run_module("wait_for_run", {"jid": "0", "kind": "backup", "name": name,
                                                   "storage_location": module_location})
    assert progress["progress"]["phase"] == "Completed", progress  # the last numbered progress object

    # The attacker holds the same keys: removing a locked version fails, even asking to bypass governance;
    # overwriting and plain deletes only add versions and delete markers.
    tarball = key_of(location, name, name + ".tar.gz")
    with pytest.raises(botocore.exceptions.ClientError):
        s3.delete_object(Bucket=lock_bucket, Key=tarball, VersionId=stored[name + ".tar.gz"][0]["VersionId"],
                         BypassGovernanceRetention=True)
    s3.put_object(Bucket=lock_bucket, Key=tarball, Body=gzip.compress(b"encrypted by ransomware"))
    s3.delete_objects(Bucket=lock_bucket, Delete={"Objects": [{"Key": key_of(location, name, f)} for f in stored]})
    assert s3.list_objects_v2(Bucket=lock_bucket, Prefix=location["prefix"] + "/").get("KeyCount") == 0

    # kubedr's own deletion keeps it whole and says until when.
    deletion = testbed.run_module("k8s_backup", {"name": name, "state": "absent", "storage_location": module_location})
    assert not deletion.failed and not deletion["changed"], deletion
    assert deletion["locked_until"] == expiration and deletion["lock_mode"] == "compliance"
    assert any("Object Lock" in warning and expiration in warning for warning in warning_messages(deletion))
    assert all(not entries[0]["marker"] for entries in versions(s3, location, name).values())

    # It is still listed and restores, read in the versions kubedr wrote.
    listing = testbed.run_module("k8s_backup_info", {"storage_location": module_location})
    assert [(b["name"], b["phase"]) for b in listing["backups"]] == [(name, "Completed")], listing
    for index in range(2):
        core_v1.delete_namespaced_config_map("cm-%d" % index, namespace)
    wait_for(lambda: not [c for c in core_v1.list_namespaced_config_map(namespace).items
                          if c.metadata.name.startswith("cm-")], what="configmaps deleted")
    restore = testbed.run_module("k8s_restore", {"backup_name": name, "kubeconfig": bed["KUBECONFIG"],
                                                 "storage_location": module_location})
    assert not restore.failed and restore["phase"] == "Completed", restore.get("msg") or restore
    assert core_v1.read_namespaced_config_map("cm-1", namespace).data == {"i": "1"}


def test_gc_keeps_a_backup_that_is_still_locked(bed, s3, core_v1, lock_bucket):
    namespace = unique("lock-gc")
    core_v1.create_namespace({"metadata": {"name": namespace}})
    try:
        configmaps(core_v1, namespace, 1)
        location = lock_location(bed, lock_bucket, "governance")
        name = unique("held")
        result = testbed.run_module("k8s_backup", {"name": name, "ttl": "1s", "included_namespaces": [namespace],
                                                   "kubeconfig": bed["KUBECONFIG"], "storage_location": location})
        assert not result.failed and result["phase"] == "Completed", result.get("msg")
        # An auditor extends the lock of one object (a retention may be lengthened, never shortened in compliance).
        marker = versions(s3, location, name)["velero-backup.json"][0]
        held_until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(hours=1)
        s3.put_object_retention(Bucket=lock_bucket, Key=key_of(location, name, "velero-backup.json"),
                                VersionId=marker["VersionId"],
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": held_until})
        expired_at = datetime.datetime.strptime(result["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > expired_at, timeout=10, what="expiration")

        keys_vars = {"kubedr_storage_location": dict((k, v) for k, v in location.items()
                                                     if k not in ("access_key", "secret_key"))}
        output = playbook(bed, "kubedr.backup.gc", keys_vars, env=s3_env(bed)).stdout
        assert "1 kept locked: %s (until %s)" % (name, held_until.strftime("%Y-%m-%dT%H:%M:%SZ")) in output, output[-3000:]
        assert "[WARNING]" in output and "nothing of it was deleted" in output
        assert all(not entries[0]["marker"] for entries in versions(s3, location, name).values())

        # Once the hold is lifted (governance: by an identity allowed to bypass it), kubedr deletes every version.
        s3.put_object_retention(Bucket=lock_bucket, Key=key_of(location, name, "velero-backup.json"),
                                VersionId=marker["VersionId"], BypassGovernanceRetention=True,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": datetime.datetime.now(
                                    datetime.timezone.utc) + datetime.timedelta(seconds=2)})
        deletion = wait_for(lambda: _deleted(location, name), timeout=60, interval=1, what="deletion once unlocked")
        assert deletion["changed"] and versions(s3, location, name) == {}
    finally:
        delete_quietly(core_v1.delete_namespace, namespace)


def _deleted(location, name):
    """k8s_backup state=absent's result once it deleted the backup (None while a lock holds it)."""
    result = testbed.run_module("k8s_backup", {"name": name, "state": "absent", "storage_location": location})
    assert not result.failed, result.get("msg")
    return None if result.get("locked_until") else result
