"""Volume data restored in place (issue 20 item 2) through the restore_volumes playbook: a Deployment
with 2 replicas using a claim is backed up with its volume data (restic, through a node agent), the
files are changed, and the playbook puts them back as the snapshot holds them, scaling the
Deployment to zero and back; a restore that fails half-way still scales it back. As an ordinary
restore, a second run of the same restore name is refused while the first holds its lease, and a
backup whose integrity manifest does not match is refused before any workload is scaled.

kwok plays the kubelet. A claim's data must be the same in every pod that mounts it (the
Deployment's pods, then the helper pod), so the stand-in kubelet below makes each pod's volume
directory a link to one directory per PV, the PV's disk; the node agent's exec runs restic as a
local process in the test bed's host-pods directory."""
import contextlib
import gzip
import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from kubelet_sim import provision
from test_backup_support import assert_ok, delete_prefix, object_key, run_backup, s3_location
from test_playbooks_support import playbook
from testbed import BackgroundLoop, create_node_agents, wait_for, wait_for_node_agents

from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place, in_place_plan

PASSWORD = "in-place-" + uuid.uuid4().hex
CLAIM = "data"


class SharedDiskKubelet(BackgroundLoop):
    """For every scheduled pod of the namespace mounting a bound claim, the volume directory the kubelet
    would mount, <host pods>/<uid>/volumes/kubernetes.io~local-volume/<pv>, is <disks>/<pv>: the plugin
    directory is a link to <disks>. (The volume directory itself stays a real directory, as a mount point
    is: restic replaces a symbolic link it restores into.) While ``paused`` is set, no new pod gets its
    volume directory: a restore waits for its helper pod's."""

    def __init__(self, core_v1, namespace, host_pods, disks):
        super(SharedDiskKubelet, self).__init__()
        self.core_v1, self.namespace, self.host_pods, self.disks = core_v1, namespace, host_pods, disks
        self.paused = threading.Event()

    def tick(self):
        if self.paused.is_set():
            return
        try:
            for pod in self.core_v1.list_namespaced_pod(self.namespace).items:
                if not pod.spec.node_name or pod.status.phase not in ("Pending", "Running"):
                    continue
                for volume in pod.spec.volumes or []:
                    if volume.persistent_volume_claim is None:
                        continue
                    pvc = self.core_v1.read_namespaced_persistent_volume_claim(
                        volume.persistent_volume_claim.claim_name, self.namespace)
                    if not pvc.spec.volume_name:
                        continue
                    path = os.path.join(self.host_pods, pod.metadata.uid, "volumes", "kubernetes.io~local-volume")
                    if not os.path.lexists(path):
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        os.symlink(self.disks, path)
        except Exception:  # a pod or claim that went away meanwhile: the next round sees the rest
            pass


def deployment():
    labels = {"app": "web"}
    return {"metadata": {"name": "web", "labels": labels}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels, "annotations": {"backup.velero.io/backup-volumes": "data"}},
                     "spec": {"containers": [{"name": "web", "image": "busybox", "command": ["sleep", "infinity"],
                                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                              "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": CLAIM}}]}}}}


def read_files(directory):
    return dict((name, open(os.path.join(directory, name)).read()) for name in sorted(os.listdir(directory)))


def ready_pods(core_v1, namespace):
    pods = [p for p in core_v1.list_namespaced_pod(namespace, label_selector="app=web").items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
    return pods if len(pods) == 2 else None


def helper_pods(core_v1, namespace):
    return core_v1.list_namespaced_pod(namespace, label_selector=in_place.HELPER_LABEL + "=true").items


@contextlib.contextmanager
def backed_up_app(bed, core_v1, apps_v1, s3, storage_location, disks, password, uploader_type=None):
    """A namespace with the Deployment web (2 replicas) on claim data, a node agent, and backup "vol" of it
    holding the volume's files (through ``uploader_type``, restic by default); yields what the tests need."""
    suffix = uuid.uuid4().hex[:5]
    namespace, agents = "in-place-" + suffix, "in-place-agent-" + suffix
    node_agent = create_node_agents(core_v1, apps_v1, agents, bed["KUBEDR_HOST_PODS_DIR"])
    core_v1.create_namespace({"metadata": {"name": namespace}})
    pvc = core_v1.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": CLAIM},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "kubedr-in-place",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    provision(core_v1, pvc)
    pv_name = "pvc-" + pvc.metadata.uid
    disk = os.path.join(disks, pv_name)
    os.makedirs(disk)
    location = s3_location(storage_location, "in-place-" + (uploader_type or "restic"))
    try:
        wait_for(lambda: core_v1.read_namespaced_persistent_volume_claim(CLAIM, namespace).spec.volume_name,
                 what="claim bound")
        with SharedDiskKubelet(core_v1, namespace, bed["KUBEDR_HOST_PODS_DIR"], disks) as kubelet:
            apps_v1.create_namespaced_deployment(namespace, deployment())
            wait_for(lambda: ready_pods(core_v1, namespace), what="2 pods of web running")
            wait_for_node_agents(core_v1, agents)
            snapshot_files = {"a.txt": "a: %s\n" % uuid.uuid4().hex, "b.txt": "b: %s\n" % uuid.uuid4().hex}
            for name, text in snapshot_files.items():
                with open(os.path.join(disk, name), "w") as handle:
                    handle.write(text)
            options = dict(uploader_type=uploader_type) if uploader_type else {}
            backup = assert_ok(run_backup(bed, location, "vol", included_namespaces=[namespace],
                                          repository_password=password, node_agent=node_agent, **options))
            assert backup["phase"] == "Completed", backup["backup_errors"]
            assert [v["volume"] for v in backup["pod_volumes"]] == ["data"]
            yield dict(namespace=namespace, disk=disk, snapshot_files=snapshot_files, location=location,
                       node_agent=node_agent, snapshot_id=backup["pod_volumes"][0]["snapshot_id"],
                       password=password, kubelet=kubelet)
    finally:
        delete_prefix(s3, location)
        for name in (namespace, agents):
            core_v1.delete_namespace(name)
        core_v1.delete_persistent_volume(pv_name)


@pytest.fixture(scope="module")
def app(bed, core_v1, apps_v1, s3, storage_location, tmp_path_factory):
    with backed_up_app(bed, core_v1, apps_v1, s3, storage_location, str(tmp_path_factory.mktemp("disks")),
                       PASSWORD) as backed_up:
        yield backed_up


def change_files(app):
    with open(os.path.join(app["disk"], "a.txt"), "w") as handle:
        handle.write("changed after the backup\n")
    with open(os.path.join(app["disk"], "added.txt"), "w") as handle:
        handle.write("added after the backup\n")
    return read_files(app["disk"])


def restore_vars(bed, app, **extra):
    values = {"kubedr_backup_name": "vol", "kubedr_claims": [app["namespace"] + "/da*"],
              "kubedr_storage_location": app["location"], "kubedr_repository_password": app["password"],
              "kubedr_node_agent": app["node_agent"], "kubedr_kubeconfig": bed["KUBECONFIG"],
              "kubedr_volume_timeout": 60}
    values.update(extra)
    return values


def assert_scaled_back(apps_v1, core_v1, namespace, before):
    """web is at 2 replicas again with nothing else of it changed, its pods come back, no helper pod is left."""
    after = apps_v1.read_namespaced_deployment("web", namespace)
    assert after.spec == before.spec  # replicas included: back at 2
    assert after.metadata.labels == before.metadata.labels
    assert after.metadata.annotations == before.metadata.annotations  # the replicas-before annotation is gone
    assert in_place_plan.REPLICAS_ANNOTATION not in (after.metadata.annotations or {})
    assert after.metadata.generation == before.metadata.generation + 2  # scaled to zero and back, nothing more
    wait_for(lambda: ready_pods(core_v1, namespace), what="web's 2 pods back")
    assert helper_pods(core_v1, namespace) == []


def test_volume_data_restored_in_place(bed, core_v1, apps_v1, app):
    namespace = app["namespace"]
    changed = change_files(app)
    before = apps_v1.read_namespaced_deployment("web", namespace)
    # Check mode: what would happen, and nothing happens.
    preview = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app), check=True).stdout
    assert ("would restore snapshot %s (restic, from %s/data) into claim %s/data, removing the files it lacks; "
            "scale Deployment %s/web from 2 to 0 and back" % (app["snapshot_id"], namespace, namespace, namespace)
            in preview), preview
    assert read_files(app["disk"]) == changed
    assert apps_v1.read_namespaced_deployment("web", namespace).metadata.resource_version == \
        before.metadata.resource_version

    out = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app)).stdout
    assert "%s/data: Completed, snapshot %s" % (namespace, app["snapshot_id"]) in out, out
    assert "scaled to 0 and back: Deployment web (2)" in out, out
    assert "changed=1" in out and "failed=0" in out
    assert read_files(app["disk"]) == app["snapshot_files"]  # a.txt as it was, added.txt gone
    assert_scaled_back(apps_v1, core_v1, namespace, before)


def test_a_restore_failing_half_way_still_scales_back(bed, core_v1, apps_v1, app):
    namespace = app["namespace"]
    changed = change_files(app)
    before = apps_v1.read_namespaced_deployment("web", namespace)
    out = playbook(bed, "kubedr.backup.restore_volumes",
                   restore_vars(bed, app, kubedr_repository_password="not-" + PASSWORD), expect_ok=False)
    assert out.returncode != 0
    # The reason, loud: a warning of the module and the failed task's message.
    assert "[WARNING]" in out.stdout and "wrong repository password" in out.stdout, out.stdout
    assert "ended PartiallyFailed" in out.stdout
    assert "not-" + PASSWORD not in out.stdout
    assert read_files(app["disk"]) == changed
    assert_scaled_back(apps_v1, core_v1, namespace, before)


def test_a_second_run_of_the_same_restore_is_refused_while_the_first_runs(bed, core_v1, apps_v1, app):
    namespace, name = app["namespace"], "in-place-lease-" + uuid.uuid4().hex[:6]
    change_files(app)
    before = apps_v1.read_namespaced_deployment("web", namespace)
    app["kubelet"].paused.set()  # the first run waits for its helper pod's volume directory, holding the lease
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(playbook, bed, "kubedr.backup.restore_volumes",
                                restore_vars(bed, app, kubedr_restore_name=name, kubedr_volume_timeout=300),
                                expect_ok=False)
            wait_for(lambda: helper_pods(core_v1, namespace) or first.done(), what="the first run's helper pod")
            assert not first.done(), first.result().stdout
            second = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app, kubedr_restore_name=name),
                              expect_ok=False)
            assert second.returncode != 0
            assert "restore %s is being run already, by process" % name in second.stdout, second.stdout
            assert "wait for that run to end, or give another name" in second.stdout
            # The second run left the first's work alone: web is still at zero, the helper pod still there.
            assert apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 0
            assert len(helper_pods(core_v1, namespace)) == 1
            app["kubelet"].paused.clear()
            out = first.result().stdout
    finally:
        app["kubelet"].paused.clear()
    assert "%s/data: Completed, snapshot %s" % (namespace, app["snapshot_id"]) in out, out
    assert read_files(app["disk"]) == app["snapshot_files"]
    assert_scaled_back(apps_v1, core_v1, namespace, before)


def test_a_backup_whose_manifest_does_not_match_is_refused_before_any_scaling(bed, s3, core_v1, apps_v1, app):
    namespace = app["namespace"]
    changed = change_files(app)
    before = apps_v1.read_namespaced_deployment("web", namespace)
    bucket, key = app["location"]["bucket"], object_key(app["location"], "backups/vol/vol-podvolumebackups.json.gz")
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    records = json.loads(gzip.decompress(original))
    records[0]["status"]["snapshotID"] = "0" * 64  # pointed at another snapshot, the manifest left as it was
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(records).encode()))
    try:
        out = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app), expect_ok=False)
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)
    assert out.returncode != 0
    assert "backup vol was not restored, nothing was written to the cluster: its integrity check failed" in out.stdout, \
        out.stdout
    assert "vol-podvolumebackups.json.gz" in out.stdout
    after = apps_v1.read_namespaced_deployment("web", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version  # never scaled, not even patched
    assert after.spec.replicas == 2 and len(ready_pods(core_v1, namespace)) == 2
    assert helper_pods(core_v1, namespace) == []
    assert read_files(app["disk"]) == changed
