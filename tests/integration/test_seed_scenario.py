"""The seed article's scenario end to end (DESIGN.md section 8): namespace test-ns-b, a
busybox Deployment mounting a PVC bound to a local PV whose directory holds 1.txt and
2.txt; back up with file-system backup; delete the Deployment and the files; restore;
the objects and both files are back.

kwok plays the kubelet but mounts nothing: kubelet_sim creates each running pod's volume
directory under the test bed's host-pods directory, which the node agent mounts."""
import gzip
import json
import os
import sys
import uuid

import pytest

import testbed
from argv_watch import ArgvWatcher
from kubelet_sim import KubeletVolumes, busybox_deployment, volume_dirs
from testbed import wait_for

NAMESPACE = "test-ns-b"
AGENT_NAMESPACE = "kubedr-seed-agent"
PASSWORD = "seed-" + uuid.uuid4().hex
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "node_agent.yml")


@pytest.fixture(scope="module")
def node_agent(bed):
    extra = dict(ansible_python_interpreter=sys.executable, node_agent_kubeconfig=bed["KUBECONFIG"],
                 node_agent_namespace=AGENT_NAMESPACE, node_agent_repository_password=PASSWORD,
                 node_agent_s3_access_key=bed["KUBEDR_S3_ACCESS_KEY"],
                 node_agent_s3_secret_key=bed["KUBEDR_S3_SECRET_KEY"], node_agent_s3_region="us-east-1",
                 node_agent_host_pods_mount=bed["KUBEDR_HOST_PODS_DIR"], node_agent_wait_timeout=120)
    proc = testbed.run_playbook(PLAYBOOK, extra, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    yield {"namespace": AGENT_NAMESPACE, "host_pods_path": bed["KUBEDR_HOST_PODS_DIR"]}
    testbed.run_playbook(PLAYBOOK, dict(extra, node_agent_state="absent"), timeout=600)


@pytest.fixture
def seed_namespace(core_v1, apps_v1, bed):
    """test-ns-b with the busybox Deployment, its PVC and the local PV testpv2."""
    pv_name = "testpv2-" + uuid.uuid4().hex[:5]
    if NAMESPACE in [n.metadata.name for n in core_v1.list_namespace().items]:
        core_v1.delete_namespace(NAMESPACE)
        wait_for(lambda: NAMESPACE not in [n.metadata.name for n in core_v1.list_namespace().items],
                 what="an old test-ns-b to go")
    core_v1.create_namespace({"metadata": {"name": NAMESPACE}})
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_persistent_volume({
        "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local-storage",
                 "local": {"path": "/mnt/disks/testpv2"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
    })
    core_v1.create_namespaced_persistent_volume_claim(NAMESPACE, {
        "metadata": {"name": "busybox-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-storage", "volumeName": pv_name,
                 "resources": {"requests": {"storage": "1Gi"}}},
    })
    apps_v1.create_namespaced_deployment(NAMESPACE, busybox_deployment("busybox-data"))
    yield pv_name
    core_v1.delete_namespace(NAMESPACE)
    core_v1.delete_persistent_volume(pv_name)


def running_pods(core_v1):
    return [p for p in core_v1.list_namespaced_pod(NAMESPACE, label_selector="app=busybox").items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def test_seed_scenario_backup_disaster_restore(bed, core_v1, apps_v1, s3, storage_location, node_agent,
                                               seed_namespace):
    location = dict(storage_location, prefix="seed-" + uuid.uuid4().hex[:6])
    common = dict(kubeconfig=bed["KUBECONFIG"], storage_location=location, repository_password=PASSWORD,
                  node_agent=node_agent)
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    files = {"1.txt": b"one " + uuid.uuid4().hex.encode() + b"\n", "2.txt": b"two " + uuid.uuid4().hex.encode()}

    secrets = [PASSWORD, bed["KUBEDR_S3_SECRET_KEY"]]
    with KubeletVolumes(core_v1, NAMESPACE, host_pods), ArgvWatcher(secrets) as argv:
        pod = wait_for(lambda: (running_pods(core_v1) or [None])[0], what="the busybox pod")
        (volume_dir,) = wait_for(lambda: [d for d in volume_dirs(core_v1, pod, host_pods) if os.path.isdir(d)],
                                 what="the PV's directory")
        assert volume_dir.endswith("kubernetes.io~local-volume/" + seed_namespace)
        for name, data in files.items():
            with open(os.path.join(volume_dir, name), "wb") as f:
                f.write(data)

        backup = testbed.run_module("k8s_backup", dict(common, name="seed-backup", included_namespaces=[NAMESPACE],
                                                       default_volumes_to_fs_backup=True))
        assert not backup.failed, backup.get("msg")
        assert backup["phase"] == "Completed", backup["backup_errors"]
        counts = backup["item_counts"]["per_resource"]
        assert counts["apps/v1/Deployment"] == 1 and counts["v1/PersistentVolumeClaim"] == 1
        assert counts["v1/PersistentVolume"] == 1  # pulled in by the claim
        key = "%s/backups/seed-backup/seed-backup-podvolumebackups.json.gz" % location["prefix"]
        records = json.loads(gzip.decompress(s3.get_object(Bucket=location["bucket"], Key=key)["Body"].read()))
        assert len(records) == 1
        assert records[0]["status"]["phase"] == "Completed" and records[0]["status"]["snapshotID"]
        assert records[0]["spec"]["volume"] == "data"
        assert records[0]["metadata"]["annotations"]["velero.io/pvc-name"] == "busybox-data"

        # The disaster: the Deployment and the files are gone.
        apps_v1.delete_namespaced_deployment("busybox", NAMESPACE, propagation_policy="Foreground")
        wait_for(lambda: not core_v1.list_namespaced_pod(NAMESPACE).items, what="the pods to go")
        for name in files:
            os.remove(os.path.join(volume_dir, name))

        restore = testbed.run_module("k8s_restore", dict(common, backup_name="seed-backup", name="seed-restore"))
        assert not restore.failed, restore.get("msg")
        assert restore["phase"] == "Completed", restore

        deployment = apps_v1.read_namespaced_deployment("busybox", NAMESPACE)
        assert deployment.metadata.labels["velero.io/restore-name"] == "seed-restore"
        restored = wait_for(lambda: (running_pods(core_v1) or [None])[0], what="a restored pod")
        init = restored.spec.init_containers or []
        assert init and init[0].name == "restore-wait"
        assert "/restores/data" in [m.mount_path for m in init[0].volume_mounts]
        (new_dir,) = volume_dirs(core_v1, restored, host_pods)
        assert restored.metadata.uid != pod.metadata.uid
        for name, data in files.items():
            with open(os.path.join(new_dir, name), "rb") as f:
                assert f.read() == data

    # The secrets reached no command line, module result, log or results file.
    assert argv.processes_seen > 0 and argv.leaks == []
    outputs = [json.dumps(backup), json.dumps(restore)]
    for key in ("backups/seed-backup/seed-backup-logs.gz", "backups/seed-backup/seed-backup-results.gz",
                "restores/seed-restore/restore-seed-restore-logs.gz",
                "restores/seed-restore/restore-seed-restore-results.gz"):
        body = s3.get_object(Bucket=location["bucket"], Key="%s/%s" % (location["prefix"], key))["Body"].read()
        outputs.append(gzip.decompress(body).decode())
    for secret in secrets:
        assert all(secret not in text for text in outputs)


def test_argv_watcher_sees_a_planted_leak():
    """The watcher above can fail: a process with the secret in its argv is caught."""
    import subprocess
    planted = "planted-" + uuid.uuid4().hex
    with ArgvWatcher([planted]) as argv:
        subprocess.run(["sh", "-c", "sleep 0.5", planted], check=False)
    assert argv.leaks
