"""The seed scenario with uploader_type: kopia (issue 17): the node agent role installed for kopia,
a backup through the backup playbook, Velero's kopia layout checked with the kopia CLI itself, a
second backup of the same data that adds almost nothing (kopia's dedup), a restore byte for byte,
and state: absent deleting the backup's kopia snapshot and no other.

kwok plays the kubelet (kubelet_sim makes the volume directories); the node agent's exec runs
kopia as a local process, as test_seed_scenario does with restic."""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest

import testbed
from argv_watch import ArgvWatcher
from kubelet_sim import KubeletVolumes, busybox_deployment, volume_dirs
from test_playbooks_support import delete_prefix, playbook, s3_env
from testbed import wait_for

AGENT_NAMESPACE = "kubedr-kopia-agent"
PASSWORD = "kopia-" + uuid.uuid4().hex
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "node_agent.yml")
BIG_FILE_BYTES = 4 << 20  # random, so only dedup keeps a second backup small


@pytest.fixture(scope="module")
def node_agent(bed):
    extra = dict(ansible_python_interpreter=sys.executable, node_agent_kubeconfig=bed["KUBECONFIG"],
                 node_agent_namespace=AGENT_NAMESPACE, node_agent_uploader_type="kopia",
                 node_agent_repository_password=PASSWORD, node_agent_s3_access_key=bed["KUBEDR_S3_ACCESS_KEY"],
                 node_agent_s3_secret_key=bed["KUBEDR_S3_SECRET_KEY"], node_agent_s3_region="us-east-1",
                 node_agent_host_pods_mount=bed["KUBEDR_HOST_PODS_DIR"], node_agent_wait_timeout=120)
    proc = testbed.run_playbook(PLAYBOOK, extra, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    yield {"namespace": AGENT_NAMESPACE, "host_pods_path": bed["KUBEDR_HOST_PODS_DIR"]}
    # Removed without waiting: nothing after this test depends on it being gone.
    testbed.run_playbook(PLAYBOOK, dict(extra, node_agent_state="absent", node_agent_wait=False), timeout=600)


@pytest.fixture
def app(core_v1, apps_v1, namespace):
    """The seed scenario's busybox Deployment, its claim and a local PV, in a fresh namespace."""
    pv_name = "kopia-pv-" + uuid.uuid4().hex[:5]
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_persistent_volume({
        "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local-storage",
                 "local": {"path": "/mnt/disks/" + pv_name},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
    })
    core_v1.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "busybox-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-storage", "volumeName": pv_name,
                 "resources": {"requests": {"storage": "1Gi"}}},
    })
    apps_v1.create_namespaced_deployment(namespace, busybox_deployment("busybox-data"))
    yield namespace
    core_v1.delete_persistent_volume(pv_name)


@pytest.fixture
def location(storage_location, s3):
    """The test bed's bucket under a prefix of its own, emptied afterwards."""
    location = dict(storage_location, prefix="kopia-" + uuid.uuid4().hex[:6])
    yield location
    delete_prefix(s3, location)


def running_pod(core_v1, namespace):
    pods = [p for p in core_v1.list_namespaced_pod(namespace, label_selector="app=busybox").items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
    return pods[0] if pods else None


class KopiaCli(object):
    """The kopia CLI against one repository of the test bed's MinIO, connected as a user would
    (secrets in the environment), to check what kubedr wrote."""

    def __init__(self, bed, prefix):
        self.work = tempfile.mkdtemp(prefix="kopia-check-")
        self.env = dict(os.environ, KOPIA_PASSWORD=PASSWORD, AWS_ACCESS_KEY_ID=bed["KUBEDR_S3_ACCESS_KEY"],
                        AWS_SECRET_ACCESS_KEY=bed["KUBEDR_S3_SECRET_KEY"], KOPIA_CHECK_FOR_UPDATES="false")
        endpoint = bed["KUBEDR_S3_ENDPOINT"]
        self.run("repository", "connect", "s3", "--bucket=" + bed["KUBEDR_S3_BUCKET"], "--prefix=" + prefix,
                 "--endpoint=" + endpoint.split("://", 1)[1].rstrip("/"), "--disable-tls", "--region=us-east-1",
                 "--cache-directory=" + os.path.join(self.work, "cache"))

    def run(self, *args):
        proc = subprocess.run(["kopia", "--config-file=" + os.path.join(self.work, "config"),
                               "--disable-file-logging", "--no-persist-credentials"] + list(args),
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def snapshots(self):
        return dict((s["id"], s) for s in json.loads(self.run("snapshot", "list", "--all", "--json")) or [])


def records(s3, location, backup):
    key = "%s/backups/%s/%s-podvolumebackups.json.gz" % (location["prefix"], backup, backup)
    return json.loads(gzip.decompress(s3.get_object(Bucket=location["bucket"], Key=key)["Body"].read()))


def stored_bytes(s3, bucket, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(item["Size"] for page in pages for item in page.get("Contents") or [])


def test_seed_scenario_with_kopia(bed, core_v1, apps_v1, s3, location, node_agent, app):
    namespace = app
    common = dict(kubeconfig=bed["KUBECONFIG"], storage_location=location, repository_password=PASSWORD,
                  node_agent=node_agent)
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    files = {"1.txt": b"one " + uuid.uuid4().hex.encode() + b"\n", "2.txt": b"two " + uuid.uuid4().hex.encode(),
             "big.bin": os.urandom(BIG_FILE_BYTES)}
    secrets = [PASSWORD, bed["KUBEDR_S3_SECRET_KEY"]]
    repo_prefix = "%s/kopia/%s/" % (location["prefix"], namespace)  # Velero's layout

    # The role installed the kopia image, the password under kopia's name too.
    daemonset = apps_v1.read_namespaced_daemon_set("kubedr-node-agent", AGENT_NAMESPACE)
    assert daemonset.spec.template.spec.containers[0].image == "docker.io/kopia/kopia:0.21.1"
    assert "KOPIA_PASSWORD" in core_v1.read_namespaced_secret("kubedr-node-agent", AGENT_NAMESPACE).data

    with KubeletVolumes(core_v1, namespace, host_pods), ArgvWatcher(secrets) as argv:
        pod = wait_for(lambda: running_pod(core_v1, namespace), what="the busybox pod")
        (volume_dir,) = wait_for(lambda: [d for d in volume_dirs(core_v1, pod, host_pods) if os.path.isdir(d)],
                                 what="the PV's directory")
        for name, data in files.items():
            with open(os.path.join(volume_dir, name), "wb") as f:
                f.write(data)

        # The first backup as a user runs it: the backup playbook, the secrets in its environment.
        keyless = dict((k, v) for k, v in location.items() if k not in ("access_key", "secret_key"))
        out = playbook(bed, "kubedr.backup.backup", {
            "kubedr_storage_location": keyless, "kubedr_backup_name": "kopia-1", "kubedr_kubeconfig": bed["KUBECONFIG"],
            "kubedr_included_namespaces": [namespace], "kubedr_default_volumes_to_fs_backup": True,
            "kubedr_uploader_type": "kopia", "kubedr_node_agent": node_agent,
        }, env=dict(s3_env(bed), KUBEDR_REPOSITORY_PASSWORD=PASSWORD)).stdout
        assert "Backup kopia-1: Completed" in out, out[-3000:]
        (first,) = records(s3, location, "kopia-1")
        assert first["status"]["phase"] == "Completed", first["status"]
        assert first["spec"]["uploaderType"] == "kopia" and first["spec"]["repoIdentifier"] == ""
        assert first["status"]["progress"]["totalBytes"] == sum(len(d) for d in files.values())
        first_id = first["status"]["snapshotID"]

        # The snapshot, as the kopia CLI sees it in Velero's layout.
        cli = KopiaCli(bed, repo_prefix)
        snapshot = cli.snapshots()[first_id]
        assert snapshot["source"] == {"host": "default", "userName": "default",
                                      "path": "snapshot-pod-volume/kopia/%s/%s/busybox-data" % (namespace, pod.metadata.name)}
        assert snapshot["pins"] == ["velero-pin"] and snapshot["description"] == "Kopia Uploader"
        # The kopia CLI stores each tag key as "tag:<key>" (Velero's library stores "<key>").
        assert {k: snapshot["tags"].get("tag:" + k) for k in ("backup", "ns", "volume", "snapshot-uploader",
                                                              "snapshot-requester")} == {
            "backup": "kopia-1", "ns": namespace, "volume": "data", "snapshot-uploader": "kopia",
            "snapshot-requester": "snapshot-pod-volume"}

        # A second backup of the same data: a new snapshot, almost no new data in the repository.
        before = stored_bytes(s3, location["bucket"], repo_prefix)
        assert before > BIG_FILE_BYTES
        second = testbed.run_module("k8s_backup", dict(common, name="kopia-2", included_namespaces=[namespace],
                                                       default_volumes_to_fs_backup=True, uploader_type="kopia"))
        assert not second.failed and second["phase"] == "Completed", second.get("msg") or second.get("backup_errors")
        second_id = records(s3, location, "kopia-2")[0]["status"]["snapshotID"]
        assert second_id != first_id
        grown = stored_bytes(s3, location["bucket"], repo_prefix) - before
        assert grown < BIG_FILE_BYTES // 8, "the second backup stored %d bytes" % grown

        # The disaster, then the restore of the first backup.
        apps_v1.delete_namespaced_deployment("busybox", namespace, propagation_policy="Foreground")
        wait_for(lambda: not core_v1.list_namespaced_pod(namespace).items, what="the pods to go")
        for name in files:
            os.remove(os.path.join(volume_dir, name))
        restore = testbed.run_module("k8s_restore", dict(common, backup_name="kopia-1", name="kopia-restore"))
        assert not restore.failed and restore["phase"] == "Completed", restore.get("msg") or restore
        restored = wait_for(lambda: running_pod(core_v1, namespace), what="a restored pod")
        assert restored.spec.init_containers[0].name == "restore-wait"
        (new_dir,) = volume_dirs(core_v1, restored, host_pods)
        for name, data in files.items():
            with open(os.path.join(new_dir, name), "rb") as f:
                assert f.read() == data, name

        # state: absent deletes the first backup's snapshot, and only it.
        deleted = testbed.run_module("k8s_backup", dict(common, name="kopia-1", state="absent"))
        assert not deleted.failed, deleted.get("msg")
        assert list(deleted["forgotten_snapshots"].values()) == [[first_id]]
        left = cli.snapshots()
        assert first_id not in left and second_id in left

    assert argv.processes_seen > 0 and argv.leaks == []
    for text in (out, json.dumps(second), json.dumps(restore), json.dumps(deleted)):
        assert all(secret not in text for secret in secrets)
