from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes


def pod(volumes_list, annotations=None, name="web-0", ns="shop", uid="uid-1", node="node-a"):
    return {
        "metadata": {"name": name, "namespace": ns, "uid": uid, "annotations": annotations or {}},
        "spec": {"nodeName": node, "volumes": volumes_list},
    }


ALL_KINDS = [
    {"name": "data", "persistentVolumeClaim": {"claimName": "data-pvc"}},
    {"name": "scratch", "emptyDir": {}},
    {"name": "host", "hostPath": {"path": "/var/log"}},
    {"name": "creds", "secret": {"secretName": "s"}},
    {"name": "conf", "configMap": {"name": "c"}},
    {"name": "kube-api-access-abcde", "projected": {"sources": []}},
    {"name": "info", "downwardAPI": {"items": []}},
    {"name": "default-token-x7k2p", "emptyDir": {}},
]


def test_default_fs_backup_takes_every_volume_but_the_never_backed_up_types():
    selected, skipped = volumes.volumes_to_back_up(pod(ALL_KINDS), True)
    assert selected == ["data", "scratch"]
    assert skipped == {}


def test_default_fs_backup_honours_the_excludes_annotation():
    p = pod(ALL_KINDS, {volumes.BACKUP_VOLUMES_EXCLUDES_ANNOTATION: "scratch, other"})
    assert volumes.volumes_to_back_up(p, True)[0] == ["data"]


def test_opt_in_takes_only_annotated_volumes_and_explains_refusals():
    p = pod(ALL_KINDS, {volumes.BACKUP_VOLUMES_ANNOTATION: "scratch,host,missing,scratch"})
    selected, skipped = volumes.volumes_to_back_up(p, False)
    assert selected == ["scratch"]
    assert skipped == {"host": "hostPath volumes are never backed up",
                       "missing": "the pod has no volume named missing"}


def test_opt_in_without_annotation_backs_up_nothing():
    assert volumes.volumes_to_back_up(pod(ALL_KINDS), False) == ([], {})


def test_pod_volume_dir_is_pv_name_for_claims_and_volume_name_otherwise():
    p = pod(ALL_KINDS)
    claim = volumes.pod_volume(p, "data", {("shop", "data-pvc"): "pv-1"})
    assert (claim.pvc, claim.pv, claim.vol_dir, claim.node, claim.pod_uid) == ("data-pvc", "pv-1", "pv-1", "node-a", "uid-1")
    csi = volumes.pod_volume(p, "data", {("shop", "data-pvc"): "pv-1"}, csi_pvs={"pv-1"})
    assert csi.vol_dir == "pv-1/mount"
    empty = volumes.pod_volume(p, "scratch")
    assert (empty.pvc, empty.pv, empty.vol_dir) == (None, None, "scratch")


def test_shared_claim_is_backed_up_once():
    a = volumes.pod_volume(pod(ALL_KINDS, name="a", uid="ua"), "data", {("shop", "data-pvc"): "pv-1"})
    b = volumes.pod_volume(pod(ALL_KINDS, name="b", uid="ub"), "data", {("shop", "data-pvc"): "pv-1"})
    c = volumes.pod_volume(pod(ALL_KINDS, name="b", uid="ub"), "scratch")
    d = volumes.pod_volume(pod(ALL_KINDS, name="a", uid="ua"), "scratch")
    kept, dupes = volumes.dedupe_shared_claims([a, b, c, d])
    assert kept == [a, c, d]
    assert dupes == [b]


def test_volume_dir_pattern_globs_the_plugin():
    assert volumes.volume_dir_pattern("/host_pods/", "u1", "pv-1/mount") == "/host_pods/u1/volumes/*/pv-1/mount"


def test_pod_volume_backup_record_has_velero_shape():
    v = volumes.pod_volume(pod(ALL_KINDS), "data", {("shop", "data-pvc"): "pv-1"})
    rec = volumes.pod_volume_backup_record("b1", "buid", v, "default", "s3:http://m/b/restic/shop", {
        "phase": "Completed", "snapshot_id": "abc123", "path": "/host_pods/uid-1/volumes/x/pv-1",
        "bytes_done": 10, "total_bytes": 10})
    assert rec["kind"] == "PodVolumeBackup" and rec["apiVersion"] == "velero.io/v1"
    assert rec["metadata"]["labels"] == {"velero.io/backup-name": "b1", "velero.io/backup-uid": "buid"}
    assert rec["metadata"]["annotations"] == {"velero.io/pvc-name": "data-pvc"}
    assert rec["spec"]["pod"] == {"kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "uid-1"}
    assert rec["spec"]["uploaderType"] == "restic"
    assert rec["spec"]["repoIdentifier"] == "s3:http://m/b/restic/shop"
    assert rec["spec"]["tags"]["backup"] == "b1" and rec["spec"]["tags"]["volume"] == "data"
    assert rec["status"]["snapshotID"] == "abc123" and rec["status"]["phase"] == "Completed"
    assert rec["status"]["progress"] == {"totalBytes": 10, "bytesDone": 10}


def test_snapshot_tags_name_backup_pod_and_volume():
    v = volumes.pod_volume(pod(ALL_KINDS), "scratch")
    tags = restic.volume_tags("b1", "u", v.pod, v.pod_uid, v.namespace, v.volume)
    assert restic.tag_list(tags) == [
        "backup=b1", "backup-uid=u", "ns=shop", "pod=web-0", "pod-uid=uid-1", "volume=scratch"]
    # the record stores the very tags the snapshot is taken with
    record = volumes.pod_volume_backup_record("b1", "u", v, "default", "/r/restic/shop", {"phase": "Completed"})
    assert record["spec"]["tags"] == tags
