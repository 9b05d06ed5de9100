"""kopia snapshots as Velero's kopia uploader makes them, kopia's JSON output, and kopia's place in
the records, the restore work and the deletion of a backup."""
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.backup.delete import KOPIA_KEY, snapshots_by_repository
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore import pods as restore_pods
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots, uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes

MANIFEST_ID = "3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f"
LOCATION = {"bucket": "velero", "endpoint_url": "http://minio:9000"}


def test_source_is_velero_real_source():
    assert kopia_snapshots.volume_source("shop", "db-0", "data-db-0", "data") == \
        "default@default:snapshot-pod-volume/kopia/shop/db-0/data-db-0"
    assert kopia_snapshots.volume_source("shop", "web", None, "cache") == \
        "default@default:snapshot-pod-volume/kopia/shop/web/cache"


def test_create_args_tag_and_pin_like_velero():
    tags = kopia_snapshots.snapshot_tags({"backup": "b1", "ns": "shop"})
    args = kopia_snapshots.create_args("default@default:snapshot-pod-volume/kopia/shop/web/data", tags)
    assert args[:4] == ["snapshot", "create", ".", "--json"]
    assert "--pin=velero-pin" in args and "--description=Kopia Uploader" in args
    assert [a for a in args if a.startswith("--tags=")] == [
        "--tags=backup:b1", "--tags=ns:shop", "--tags=snapshot-requester:snapshot-pod-volume",
        "--tags=snapshot-uploader:kopia"]


@pytest.mark.parametrize("bad", ["", "--delete", "abc", "../x", None])
def test_snapshot_ids_cannot_be_options(bad):
    with pytest.raises(InvalidOptionError):
        kopia_snapshots.restore_args(bad)


def test_delete_args_confirm():
    assert kopia_snapshots.delete_args([MANIFEST_ID]) == ["snapshot", "delete", MANIFEST_ID, "--delete"]
    with pytest.raises(InvalidOptionError):
        kopia_snapshots.delete_args([])


def manifest(snapshot_id=MANIFEST_ID, size=1234, files=3, failed=0):
    return {"id": snapshot_id, "source": {"host": "default", "userName": "default",
                                          "path": "snapshot-pod-volume/kopia/shop/web/data"},
            "description": "Kopia Uploader", "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:01Z",
            "rootEntry": {"name": ".", "type": "d", "obj": "k123",
                          "summ": {"size": size, "files": files, "dirs": 1, "numFailed": failed}},
            "tags": {"tag:backup": "b1", "snapshot-uploader": "kopia"}, "pins": ["velero-pin"]}


def test_parse_create_output():
    summary = kopia_snapshots.parse_create_output(json.dumps(manifest()) + "\n")
    assert summary == dict(snapshot_id=MANIFEST_ID, total_bytes=1234, files=3, dirs=1, errors=0, incomplete=None)
    assert kopia_snapshots.parse_create_output(json.dumps(manifest(failed=2)))["errors"] == 2


def test_parse_create_output_without_a_snapshot():
    with pytest.raises(kopia.KopiaError):
        kopia_snapshots.parse_create_output("not json")
    with pytest.raises(kopia.KopiaError):
        kopia_snapshots.parse_create_output("[]")


def test_parse_list_output():
    listed = kopia_snapshots.parse_list_output(json.dumps([manifest(), manifest("a" * 32, size=9)]))
    assert [(s["id"], s["total_bytes"]) for s in listed] == [(MANIFEST_ID, 1234), ("a" * 32, 9)]
    assert listed[0]["source"] == "default@default:snapshot-pod-volume/kopia/shop/web/data"
    assert listed[0]["pins"] == ["velero-pin"]
    # the CLI's "tag:" prefix and Velero's bare keys read alike
    assert listed[0]["tags"] == {"backup": "b1", "snapshot-uploader": "kopia"}
    assert kopia_snapshots.parse_list_output("null") == []


def test_record_of_a_kopia_volume_has_velero_fields():
    volume = volumes.PodVolume("shop", "web", "uid-1", "node-a", "data", "data-pvc", "pv-1", "pv-1")
    kopia_up = uploaders.uploader("kopia")
    repo = kopia_up.repository(LOCATION, "shop", "pw")
    record = volumes.pod_volume_backup_record("b1", "buid", volume, "default", kopia_up.record_identifier(repo),
                                              {"phase": "Completed", "snapshot_id": MANIFEST_ID},
                                              uploader_type=kopia_up.name)
    assert record["spec"]["uploaderType"] == "kopia"
    assert record["spec"]["repoIdentifier"] == ""  # Velero records none for kopia
    assert record["status"]["snapshotID"] == MANIFEST_ID


def test_uploader_choice():
    assert uploaders.uploader(None).name == "restic"  # records from before uploaderType existed
    assert uploaders.uploader("").name == "restic"
    assert uploaders.uploader("kopia").name == "kopia"
    with pytest.raises(InvalidOptionError, match="uploader_type"):
        uploaders.uploader("rsync")


def pvb(uploader, namespace="shop", snapshot=MANIFEST_ID, repo=""):
    return {"spec": {"pod": {"name": "web", "namespace": namespace}, "volume": "data", "uploaderType": uploader,
                     "repoIdentifier": repo},
            "status": {"phase": "Completed", "snapshotID": snapshot}}


def test_restore_work_carries_the_uploader():
    source = {"metadata": {"name": "web", "namespace": "shop"}}
    created = {"metadata": {"name": "web", "namespace": "shop2"}}
    work = restore_pods.volume_work(source, created, {"data": MANIFEST_ID}, [pvb("kopia")])
    assert work[0].uploader_type == "kopia" and work[0].source_namespace == "shop"
    legacy = restore_pods.volume_work(source, created, {"data": "1a2b3c4d"}, [pvb(None, repo="s3:x/restic/shop")])
    assert legacy[0].uploader_type is None and legacy[0].repo_identifier == "s3:x/restic/shop"


def test_deletion_groups_kopia_snapshots_by_namespace_repository():
    grouped = snapshots_by_repository([pvb("kopia"), pvb("kopia", snapshot="b" * 32),
                                       pvb("restic", snapshot="1a2b3c4d", repo="s3:x/restic/shop")], LOCATION)
    assert grouped == {KOPIA_KEY + "s3:http://minio:9000/velero/kopia/shop": sorted([MANIFEST_ID, "b" * 32]),
                       "s3:x/restic/shop": ["1a2b3c4d"]}
