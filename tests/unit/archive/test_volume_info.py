"""<name>-volumeinfo.json.gz: Velero's BackupVolumeInfo list from a backup's PVs and PodVolumeBackup records."""
import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive.volume_info import (
    backup_volume_info, persistent_volume_summary)
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import gunzip_json, gzip_json


def pv(name, claim=None, policy="Retain", labels=None):
    spec = {"persistentVolumeReclaimPolicy": policy, "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}
    if claim:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": claim[0], "name": claim[1], "uid": "u"}
    metadata = {"name": name, "uid": "pv-uid", "resourceVersion": "7"}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": metadata, "spec": spec}


def pvb(pod, volume, namespace="shop", pvc=None, phase="Completed", uploader="restic", size=4096):
    """A PodVolumeBackup record as volumes/selection.py (or Velero) writes it."""
    return {
        "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
        "metadata": {"name": "b1-%s-%s" % (pod, volume), "namespace": "velero",
                     "annotations": {"velero.io/pvc-name": pvc} if pvc else {}},
        "spec": {"node": "node-1", "pod": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": "pod-uid"},
                 "volume": volume, "backupStorageLocation": "default", "uploaderType": uploader,
                 "repoIdentifier": "s3:http://minio/b/restic/" + namespace, "tags": {}},
        "status": {"phase": phase, "snapshotID": "snap-" + volume if phase == "Completed" else "",
                   "path": "/host_pods/pod-uid/volumes/x/" + volume, "message": "",
                   "startTimestamp": "2026-01-01T00:00:00Z", "completionTimestamp": "2026-01-01T00:00:05Z",
                   "progress": {"totalBytes": size, "bytesDone": size}},
    }


def test_a_claimed_volume_backed_up_by_the_node_agent_names_its_claim_and_pv():
    info = backup_volume_info([pv("pv-1", ("shop", "data"), labels={"tier": "db"})],
                              [pvb("db-0", "data", pvc="data")])
    assert info == [{
        "pvcName": "data", "pvcNamespace": "shop", "pvName": "pv-1", "backupMethod": "PodVolumeBackup",
        "snapshotDataMoved": False, "preserveLocalSnapshot": False, "skipped": False, "result": "succeeded",
        "startTimestamp": "2026-01-01T00:00:00Z", "completionTimestamp": "2026-01-01T00:00:05Z",
        "pvbInfo": {"snapshotHandle": "snap-data", "size": 4096, "uploaderType": "restic", "volumeName": "data",
                    "podName": "db-0", "podNamespace": "shop", "nodeName": "node-1", "Phase": "Completed"},
        "pvInfo": {"reclaimPolicy": "Retain", "labels": {"tier": "db"}},
    }]


def test_a_volume_without_a_claim_has_no_pv_fields_and_the_uploader_comes_from_the_record():
    [entry] = backup_volume_info([], [pvb("web", "scratch", uploader="kopia", size=0)])
    assert "pvName" not in entry and "pvcName" not in entry and "pvInfo" not in entry
    assert entry["pvbInfo"]["uploaderType"] == "kopia"
    assert "size" not in entry["pvbInfo"]  # Go's omitempty


def test_a_failed_volume_is_a_failed_result():
    [entry] = backup_volume_info([pv("pv-1", ("shop", "data"))], [pvb("db-0", "data", pvc="data", phase="Failed")])
    assert entry["result"] == "failed" and "snapshotHandle" not in entry["pvbInfo"]
    assert entry["pvbInfo"]["Phase"] == "Failed"


def test_pvs_no_pod_volume_backup_covers_are_skipped_first_in_name_order():
    pvs = [pv("pv-b", ("shop", "logs"), policy="Delete"), pv("pv-a"), pv("pv-1", ("shop", "data"))]
    info = backup_volume_info(pvs, [pvb("db-0", "data", pvc="data")])
    assert [(e.get("pvName"), e["skipped"], e.get("backupMethod")) for e in info] == [
        ("pv-a", True, None), ("pv-b", True, None), ("pv-1", False, "PodVolumeBackup")]
    skipped = info[1]
    assert skipped["skippedReason"] == "volumeSnapshot: no applicable volumesnapshotter found;"
    assert skipped["pvcName"] == "logs" and skipped["pvcNamespace"] == "shop"
    assert skipped["pvInfo"] == {"reclaimPolicy": "Delete", "labels": None}  # a nil map: JSON null
    assert "result" not in skipped


def test_a_claimed_volume_whose_pv_is_not_in_the_backup_has_no_entry_as_in_velero():
    assert backup_volume_info([pv("pv-9", ("other", "data"))], [pvb("db-0", "data", pvc="data")]) == [
        backup_volume_info([pv("pv-9", ("other", "data"))], None)[0]]


def test_no_volumes_is_an_empty_list_and_summaries_give_the_same_document():
    assert backup_volume_info([], None) == []
    pvs = [pv("pv-1", ("shop", "data"), labels={"a": "b"}), pv("pv-2")]
    records = [pvb("db-0", "data", pvc="data")]
    summaries = [persistent_volume_summary(item) for item in pvs]
    assert backup_volume_info(summaries, records) == backup_volume_info(pvs, records)
    assert len(json.dumps(summaries)) < len(json.dumps(pvs))


def test_stored_as_velero_reads_it():
    document = backup_volume_info([pv("pv-1", ("shop", "data"))], [pvb("db-0", "data", pvc="data")])
    assert gunzip_json(gzip_json(document)) == document
