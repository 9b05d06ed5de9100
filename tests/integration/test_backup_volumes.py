"""k8s_backup with pod work on the test bed: exec hooks from annotations around the pod's backup,
and file-system backup of a pod volume with restic through a node agent (kwok runs exec'd
commands locally, so the agent's host-pods directory is the test bed's KUBEDR_HOST_PODS_DIR)."""
import json
import os
import uuid

import pytest

from test_backup_support import assert_ok, delete_prefix, get_object, gz_json, list_keys, run_backup, s3_location
# The node-agent DaemonSet fixture of the fs_backup engine tests.
from test_fs_backup_engine import node_agent  # noqa: F401 pylint: disable=unused-import
from test_testbed import wait_for

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner

PASSWORD = "backup-volumes-" + uuid.uuid4().hex


def running_pod(core_v1, namespace, name):
    def check():
        pod = core_v1.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase == "Running" else None
    return wait_for(check, what="pod %s running" % name)


def db_pod(bed, core_v1, namespace, annotations, volumes):
    """Pod "db" on the first node, running; returns it and the host directory of its emptyDir
    volume "data" (created), where the node agent finds the volume's files."""
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "db", "annotations": annotations},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}], "volumes": volumes}})
    pod = running_pod(core_v1, namespace, "db")
    directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data")
    os.makedirs(directory)
    return pod, directory


def append_hook(marker, word):
    return json.dumps(["/bin/sh", "-c", "echo %s >> %s" % (word, marker)])


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "volumes")
    yield location
    delete_prefix(s3, location)


def test_hooks_and_pod_volume_backup(bed, s3, core_v1, namespace, location, node_agent, tmp_path):  # noqa: F811
    marker = tmp_path / "hooks.log"
    pod, directory = db_pod(bed, core_v1, namespace, {
        "backup.velero.io/backup-volumes": "data,cfg",
        "pre.hook.backup.velero.io/command": append_hook(marker, "pre"),
        "post.hook.backup.velero.io/command": append_hook(marker, "post"),
    }, [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "none"}},
        {"name": "scratch", "emptyDir": {}}])
    for name in ("1.txt", "2.txt"):
        with open(os.path.join(directory, name), "w") as handle:
            handle.write("%s: %s\n" % (name, uuid.uuid4().hex))
    options = dict(included_namespaces=[namespace], repository_password=PASSWORD,
                   node_agent={"namespace": node_agent.namespace, "host_pods_path": node_agent.host_pods_path})

    # Check mode: the volume that would be backed up; no hook runs, nothing is written.
    preview = assert_ok(run_backup(bed, location, "vol", check_mode=True, **options))
    assert preview["pod_volumes"] == [{"namespace": namespace, "pod": "db", "volume": "data"}]
    assert not marker.exists() and list_keys(s3, location) == []

    result = assert_ok(run_backup(bed, location, "vol", **options))
    assert result["phase"] == "Completed", result["backup_errors"]
    assert marker.read_text() == "pre\npost\n"  # pre before the pod was saved, post after its volume
    [volume] = result["pod_volumes"]
    assert (volume["pod"], volume["volume"], volume["phase"]) == ("db", "data", "Completed")
    assert volume["snapshot_id"]
    assert result["backup_warnings"]["namespaces"][namespace] == [
        "pod db: volume cfg not backed up: configMap volumes are never backed up"]

    # Velero's records: one PodVolumeBackup, tied to the stored Backup by its uid.
    backup = json.loads(get_object(s3, location, "backups/vol/velero-backup.json"))
    [record] = gz_json(get_object(s3, location, "backups/vol/vol-podvolumebackups.json.gz"))
    assert record["metadata"]["labels"] == {"velero.io/backup-name": "vol",
                                            "velero.io/backup-uid": backup["metadata"]["uid"]}
    assert record["spec"]["pod"]["uid"] == pod.metadata.uid and record["spec"]["volume"] == "data"
    assert record["status"]["snapshotID"] == volume["snapshot_id"]
    # What Velero (>= 1.13) reads beside it: the volume information, and the hooks counted in the status.
    [info] = gz_json(get_object(s3, location, "backups/vol/vol-volumeinfo.json.gz"))
    assert info["backupMethod"] == "PodVolumeBackup" and info["result"] == "succeeded" and not info["skipped"]
    assert "pvName" not in info  # an emptyDir: no claim, no PV
    assert (info["pvbInfo"]["podName"], info["pvbInfo"]["volumeName"], info["pvbInfo"]["snapshotHandle"],
            info["pvbInfo"]["uploaderType"]) == ("db", "data", volume["snapshot_id"], record["spec"]["uploaderType"])
    assert backup["status"]["hookStatus"] == {"hooksAttempted": 2}
    assert backup["spec"]["snapshotMoveData"] is False

    # The snapshot is in the namespace's restic repository, under restic/ of the same location.
    repo = repository.Repository.from_storage_location(location, namespace, password=PASSWORD)
    snapshots = restic.parse_snapshots(runner.run_local(repo, restic.snapshots_command(repo), "snapshots").stdout)
    assert [s["tag_map"]["backup"] for s in snapshots] == ["vol"]
    assert any(key.startswith("restic/%s/" % namespace) for key in list_keys(s3, location))
    assert PASSWORD not in json.dumps(result)

    # state: absent forgets the snapshot and deletes the backup; without the password it refuses first.
    refused = run_backup(bed, location, "vol", state="absent")
    assert refused.failed and "repository_password" in refused["msg"]
    assert "backups/vol/velero-backup.json" in list_keys(s3, location)
    gone = assert_ok(run_backup(bed, location, "vol", state="absent", repository_password=PASSWORD))
    assert gone["forgotten_snapshots"] == {record["spec"]["repoIdentifier"]: [volume["snapshot_id"]]}
    assert not any(key.startswith("backups/") for key in list_keys(s3, location))
    snapshots = restic.parse_snapshots(runner.run_local(repo, restic.snapshots_command(repo), "snapshots").stdout)
    assert snapshots == []


def test_pod_exec_runs_as_the_impersonated_identity(bed, s3, api_client, core_v1, namespace, location,
                                                     node_agent, tmp_path):  # noqa: F811
    """Hooks and volume data are exec'd with the connection's impersonation headers (a line per
    group): as an impersonated member of system:masters they run; as an identity allowed to read
    but not to exec, the API server refuses them and the backup reports it."""
    from kubernetes import client
    marker = tmp_path / "hooks.log"
    db_pod(bed, core_v1, namespace, {
        "backup.velero.io/backup-volumes": "data",
        "pre.hook.backup.velero.io/command": append_hook(marker, "pre"),
        "pre.hook.backup.velero.io/on-error": "Continue",
    }, [{"name": "data", "emptyDir": {}}])
    options = dict(included_namespaces=[namespace], repository_password=PASSWORD,
                   node_agent={"namespace": node_agent.namespace, "host_pods_path": node_agent.host_pods_path})

    admin = assert_ok(run_backup(bed, location, "as-admin", impersonate_user="kubedr-operator",
                                 impersonate_groups=["system:authenticated", "system:masters"], **options))
    assert admin["phase"] == "Completed", admin["backup_errors"]
    assert marker.read_text() == "pre\n"
    assert [v["phase"] for v in admin["pod_volumes"]] == ["Completed"]

    reader = "kubedr-reader-" + uuid.uuid4().hex[:6]
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_cluster_role_binding({
        "metadata": {"name": reader}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                  "name": "view"},
        "subjects": [{"kind": "User", "name": reader, "apiGroup": "rbac.authorization.k8s.io"}]})
    try:
        refused = assert_ok(run_backup(bed, location, "as-reader", impersonate_user=reader, **options))
    finally:
        rbac.delete_cluster_role_binding(reader)
    assert marker.read_text() == "pre\n"  # the reader's hook never ran
    hook_warnings = [w for w in refused["backup_warnings"]["namespaces"][namespace] if "pre hook" in w]
    assert len(hook_warnings) == 1 and "HTTP 403" in hook_warnings[0]
    assert refused["phase"] == "PartiallyFailed"
    assert any("volume data" in e and "403" in e for e in refused["backup_errors"]["namespaces"][namespace])


VOLUME_POLICIES = """
version: v1
volumePolicies:
- conditions: {storageClass: [fast], capacity: "1Gi,10Gi"}
  action: {type: fs-backup}
- conditions: {volumeTypes: [emptyDir]}
  action: {type: skip}
"""


def test_volume_policies_decide_over_the_annotations(bed, s3, api_client, core_v1, namespace, location,
                                                      node_agent):  # noqa: F811
    # A 5Gi claim of class "fast" on a CSI volume, not named in the annotation: the first policy backs it up.
    # The emptyDir "cache" the annotation names: the second policy skips it.
    pv_name = "pv-" + namespace
    core_v1.create_persistent_volume({
        "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                 "persistentVolumeReclaimPolicy": "Retain", "csi": {"driver": "csi.example.com", "volumeHandle": "h"},
                 "claimRef": {"namespace": namespace, "name": "data"}}})
    try:
        core_v1.create_namespaced_persistent_volume_claim(namespace, {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "volumeName": pv_name,
                     "resources": {"requests": {"storage": "5Gi"}}}})
        pod, cache_dir = db_pod(bed, core_v1, namespace, {"backup.velero.io/backup-volumes": "cache"}, [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "cache", "emptyDir": {}}])
        data_dir = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes", "kubernetes.io~csi",
                                pv_name, "mount")
        os.makedirs(data_dir)
        with open(os.path.join(data_dir, "rows.db"), "w") as handle:
            handle.write("rows\n")
        options = dict(included_namespaces=[namespace], repository_password=PASSWORD, volume_policies=VOLUME_POLICIES,
                       node_agent={"namespace": node_agent.namespace, "host_pods_path": node_agent.host_pods_path})

        preview = assert_ok(run_backup(bed, location, "policies", check_mode=True, **options))
        assert preview["pod_volumes"] == [{"namespace": namespace, "pod": "db", "volume": "data"}]
        result = assert_ok(run_backup(bed, location, "policies", **options))
        assert result["phase"] == "Completed", result["backup_errors"]
        assert [(v["volume"], v["phase"]) for v in result["pod_volumes"]] == [("data", "Completed")]
        [record] = gz_json(get_object(s3, location, "backups/policies/policies-podvolumebackups.json.gz"))
        assert record["metadata"]["annotations"] == {"velero.io/pvc-name": "data"}
        # Without the policies the annotation decides: only the emptyDir.
        without_policies = dict((k, v) for k, v in options.items() if k != "volume_policies")
        legacy = assert_ok(run_backup(bed, location, "annotations", check_mode=True, **without_policies))
        assert legacy["pod_volumes"] == [{"namespace": namespace, "pod": "db", "volume": "cache"}]
        assert os.path.isdir(cache_dir)
    finally:
        core_v1.delete_persistent_volume(pv_name)
