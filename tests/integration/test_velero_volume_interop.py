"""Pod volume data between real Velero and kubedr, in both directions (issue 17): Velero v1.16.2 with
restic (its node agent runs restic in process) and Velero v1.18.3 with kopia (its node agent hands each
volume to a hosting pod that runs `velero pod-volume backup|restore`).

Velero runs out of cluster (velero_bed.VeleroServer); its node agents and hosting pods run as local
processes (velero_node_agent) on the kwok nodes' behalf. kubedr's node agent is a DaemonSet whose exec
runs locally, as in test_fs_backup_engine. Both sides share one BackupStorageLocation and Velero's
default repository password, as a user moving between them would.

kubedr's backup is written before Velero starts, into the bucket and prefix Velero is then given (the
way a user moving to Velero points it at kubedr's bucket). Velero syncs backups from its location when
it starts and then once a minute only (pkg/controller/backup_sync_controller.go).
"""
import os
import uuid

import pytest

import testbed
from kubelet_sim import KubeletVolumes, volume_dirs
from test_backup_volumes import running_pod
from testbed import wait_for
from velero_bed import VeleroServer
from velero_node_agent import HostingPods, NodeAgents

VERSIONS = [("v1.16.2", "restic"), ("v1.18.3", "kopia")]
# The password Velero gives every repository it creates (pkg/repository/keys: the velero-repo-credentials
# Secret's default); kubedr is given it to share Velero's repositories.
VELERO_REPOSITORY_PASSWORD = "static-passw0rd"


class Velero(object):
    """One Velero release at work: its server, node agents and hosting pod runner."""

    def __init__(self, server, agents, hosting, uploader_type):
        self.server = server
        self.agents = agents
        self.hosting = hosting
        self.uploader_type = uploader_type

    def diagnostics(self):
        return "%s\n%s\n%s" % (self.server.log_tail(80), self.agents.logs(), self.hosting.logs())

    def volume_records(self, kind, label, name):
        return self.server.api().list_namespaced_custom_object(
            "velero.io", "v1", self.server.namespace, kind, label_selector="%s=%s" % (label, name))["items"]


class KubedrBackup(object):
    """kubedr's backup `name` of pod db's volume in `namespace`: the pod, its volume directory and files."""

    def __init__(self, name, namespace, pod, directory, files):
        self.name = name
        self.namespace = namespace
        self.pod = pod
        self.directory = directory
        self.files = files


@pytest.fixture(scope="module", params=VERSIONS, ids=["%s-%s" % v for v in VERSIONS])
def release(request):
    """(Velero version, its uploader for pod volumes)."""
    return request.param


@pytest.fixture(scope="module")
def kubedr_agent(core_v1, apps_v1, bed):
    """kubedr's node agent for this module: test_fs_backup_engine's DaemonSet (labels, host pods mount),
    kept for the module so that kubedr's backup can be made before Velero starts."""
    namespace = "vel-kdr-agent-" + uuid.uuid4().hex[:5]
    core_v1.create_namespace({"metadata": {"name": namespace}})
    labels = {"app.kubernetes.io/name": "kubedr-node-agent"}
    apps_v1.create_namespaced_daemon_set(namespace, {
        "metadata": {"name": "node-agent", "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"tolerations": [{"operator": "Exists"}], "containers": [{
                "name": "agent", "image": "kubedr/node-agent", "command": ["sleep", "infinity"],
                "volumeMounts": [{"name": "host-pods", "mountPath": bed["KUBEDR_HOST_PODS_DIR"]}]}],
                "volumes": [{"name": "host-pods", "hostPath": {"path": "/var/lib/kubelet/pods"}}]}}},
    })
    nodes = set(n.metadata.name for n in core_v1.list_node().items)
    wait_for(lambda: set(p.spec.node_name for p in core_v1.list_namespaced_pod(namespace).items
                         if p.status.phase == "Running") == nodes, what="kubedr node agents on every node")
    yield {"namespace": namespace, "host_pods_path": bed["KUBEDR_HOST_PODS_DIR"]}
    core_v1.delete_namespace(namespace)


@pytest.fixture(scope="module")
def kubedr_backup(release, bed, core_v1, s3, kubedr_agent):
    """kubedr's backup (the release's uploader) of pod db's volume, in the location the release's Velero
    server will be given (VeleroServer picks the prefix when it is made, before it starts)."""
    version, uploader_type = release
    server = VeleroServer(version, bed, uploader_type=uploader_type)
    if server.bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        try:
            s3.create_bucket(Bucket=server.bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass  # made meanwhile by another test process
    namespace = "vel-kdr-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace({"metadata": {"name": namespace}})
    try:
        pod, directory = db_pod(bed, core_v1, namespace)
        files = write_files(directory)
        name = "kdr-" + uuid.uuid4().hex[:6]
        backup = testbed.run_module("k8s_backup", dict(
            kubeconfig=bed["KUBECONFIG"], storage_location=server.location, name=name,
            included_namespaces=[namespace], default_volumes_to_fs_backup=True, uploader_type=uploader_type,
            repository_password=VELERO_REPOSITORY_PASSWORD, node_agent=kubedr_agent))
        assert not backup.failed, (backup.get("msg"), backup.stderr[-3000:])
        assert backup["phase"] == "Completed", backup["backup_errors"]
        assert [v["phase"] for v in backup["pod_volumes"]] == ["Completed"]
        yield server, KubedrBackup(name, namespace, pod, directory, files)
    finally:
        core_v1.delete_namespace(namespace)


@pytest.fixture(scope="module")
def velero(release, kubedr_backup, bed, core_v1, apps_v1):
    """The release's Velero server on the location kubedr's backup is in, with its node agents on both kwok
    nodes and the hosting pod runner; stopped and removed (namespace, prefix) afterwards."""
    server, backup = kubedr_backup
    server.start()
    env = {"PATH": server.process_env["PATH"]}  # restic v0.18.1 first on PATH, as in Velero's image
    agents = NodeAgents(core_v1, apps_v1, server.namespace, server.binary, bed["KUBECONFIG"],
                        bed["KUBEDR_HOST_PODS_DIR"], bed["KUBEDR_S3_ENDPOINT"], env=env)
    try:
        agents.install()
        agents.start()
        with HostingPods(core_v1, server.namespace, server.binary, bed["KUBECONFIG"], bed["KUBEDR_HOST_PODS_DIR"],
                         env=env) as hosting:
            yield Velero(server, agents, hosting, release[1])
    finally:
        agents.stop()
        server.stop()


def db_pod(bed, core_v1, namespace):
    """Pod db on the first node, its emptyDir volume data mounted (Velero skips volumes no container
    mounts); returns it once Running and the volume's directory, made as the kubelet would."""
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "db"},
        "spec": {"nodeName": node, "volumes": [{"name": "data", "emptyDir": {}}],
                 "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "infinity"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})
    pod = running_pod(core_v1, namespace, "db")
    directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data")
    os.makedirs(directory)
    return pod, directory


def write_files(directory):
    """Text, binary, empty and nested files in the volume; returns {relative path: bytes}."""
    files = {"notes.txt": ("written %s\n" % uuid.uuid4()).encode(), "empty": b"",
             "blobs/random.bin": os.urandom(300 * 1024), "blobs/deeper/zeros.bin": b"\0" * 65536}
    for relative, data in files.items():
        path = os.path.join(directory, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return files


def read_files(directory):
    """{relative path: bytes} of the directory, without Velero's restore markers (.velero/)."""
    found = {}
    for folder, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not (folder == directory and d == ".velero")]
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


def disaster(core_v1, namespace, volume_dir):
    """The pod and its volume's files are gone."""
    core_v1.delete_namespaced_pod("db", namespace, grace_period_seconds=0)
    wait_for(lambda: not core_v1.list_namespaced_pod(namespace).items, what="pod db to go")
    for folder, _dirs, names in os.walk(volume_dir):
        for name in names:
            os.remove(os.path.join(folder, name))


def restored_volume(core_v1, namespace, host_pods, old_uid):
    def ready():
        pods = [p for p in core_v1.list_namespaced_pod(namespace).items
                if p.metadata.name == "db" and p.status.phase == "Running" and p.metadata.uid != old_uid]
        dirs = volume_dirs(core_v1, pods[0], host_pods) if pods else []
        return dirs if dirs and all(os.path.isdir(d) for d in dirs) else None
    (directory,) = wait_for(ready, what="the restored pod db and its volume directory")
    return directory


def test_velero_backs_up_kubedr_restores(bed, core_v1, namespace, velero, kubedr_agent):
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    pod, directory = db_pod(bed, core_v1, namespace)
    files = write_files(directory)
    name = "vel-" + uuid.uuid4().hex[:6]

    velero.server.cli("backup", "create", name, "--include-namespaces", namespace,
                      "--default-volumes-to-fs-backup", "--snapshot-volumes=false")
    backup = velero.server.wait_backup_phase(name, ("Completed", "PartiallyFailed", "Failed"), timeout=120)
    assert backup["status"]["phase"] == "Completed", (backup["status"], velero.diagnostics())
    [record] = velero.volume_records("podvolumebackups", "velero.io/backup-name", name)
    assert (record["spec"]["volume"], record["spec"]["uploaderType"]) == ("data", velero.uploader_type)
    assert record["status"]["phase"] == "Completed" and record["status"]["snapshotID"], record["status"]
    assert record["spec"]["pod"]["uid"] == pod.metadata.uid

    disaster(core_v1, namespace, directory)
    with KubeletVolumes(core_v1, namespace, host_pods):
        restore = testbed.run_module("k8s_restore", dict(
            kubeconfig=bed["KUBECONFIG"], storage_location=velero.server.location, backup_name=name,
            name="kubedr-" + name, repository_password=VELERO_REPOSITORY_PASSWORD, node_agent=kubedr_agent))
        assert not restore.failed, (restore.get("msg"), restore.stderr[-3000:])
        assert restore["phase"] == "Completed", restore
        restored = restored_volume(core_v1, namespace, host_pods, pod.metadata.uid)
    assert read_files(restored) == files


def test_kubedr_backs_up_velero_restores(bed, core_v1, kubedr_backup, velero):
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    _server, backup = kubedr_backup
    # Velero syncs its location when it starts (then once a minute), but its first sync ran before the location
    # was validated Available and skipped it: a restart syncs kubedr's backup now.
    velero.server.restart()
    synced = velero.server.wait_backup_phase(backup.name, ("Completed",), timeout=60)
    assert synced["spec"]["includedNamespaces"] == [backup.namespace]

    disaster(core_v1, backup.namespace, backup.directory)
    velero.hosting.namespaces.append(backup.namespace)
    restore_name = "r-" + backup.name
    with KubeletVolumes(core_v1, backup.namespace, host_pods):
        velero.server.cli("restore", "create", restore_name, "--from-backup", backup.name)
        restore = velero.server.wait_restore_phase(restore_name, ("Completed", "PartiallyFailed", "Failed"),
                                                   timeout=120)
        assert restore["status"]["phase"] == "Completed", (restore["status"], velero.diagnostics())
        [record] = velero.volume_records("podvolumerestores", "velero.io/restore-name", restore_name)
        assert record["status"]["phase"] == "Completed", record["status"]
        assert (record["spec"]["volume"], record["spec"]["uploaderType"]) == ("data", velero.uploader_type)
        restored = restored_volume(core_v1, backup.namespace, host_pods, backup.pod.metadata.uid)
    assert read_files(restored) == backup.files
