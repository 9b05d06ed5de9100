"""The file-system backup data path on the test bed: restic exec'd in node-agent pods
(kwok runs exec'd commands locally, so the agents' host-pods directory is the test bed's
KUBEDR_HOST_PODS_DIR), volumes on two nodes, restore into pods and the restore marker."""
import os
import uuid

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import node_agent as fs_backup
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from testbed import node_agents, wait_for

PASSWORD = "fs-engine-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def kube(bed):
    return KubeClient({"kubeconfig": bed["KUBECONFIG"]})


@pytest.fixture
def node_agent(core_v1, apps_v1, bed):
    """A node-agent DaemonSet shaped like roles/node_agent's (labels, host pods mount)."""
    ns = "fs-agent-" + uuid.uuid4().hex[:5]
    settings = fs_backup.node_agent_settings(node_agents(core_v1, apps_v1, ns, bed["KUBEDR_HOST_PODS_DIR"]))
    yield settings
    core_v1.delete_namespace(ns)


def make_pod(core_v1, namespace, name, node):
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}],
                 "volumes": [{"name": "data", "emptyDir": {}}, {"name": "logs", "hostPath": {"path": "/var/log"}}]},
    })
    return wait_for(lambda: _running(core_v1, namespace, name), what="pod %s running" % name)


def _running(core_v1, namespace, name):
    pod = core_v1.read_namespaced_pod(name, namespace)
    return pod if pod.status.phase == "Running" else None


def kubelet_volume_dir(bed, pod_uid, volume):
    """What the kubelet would create for an emptyDir volume."""
    path = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod_uid, "volumes", "kubernetes.io~empty-dir", volume)
    os.makedirs(path, exist_ok=True)
    return path


def test_volumes_on_two_nodes_back_up_and_restore_through_node_agents(bed, api_client, core_v1, kube, namespace,
                                                                      node_agent, storage_location):
    nodes = sorted(n.metadata.name for n in core_v1.list_node().items)[:2]
    contents = {}
    pods = []
    for i, node in enumerate(nodes):
        pod = make_pod(core_v1, namespace, "app-%d" % i, node)
        directory = kubelet_volume_dir(bed, pod.metadata.uid, "data")
        for fname in ("1.txt", "2.txt"):
            data = ("%s on %s: %s\n" % (fname, node, uuid.uuid4().hex)).encode()
            with open(os.path.join(directory, fname), "wb") as f:
                f.write(data)
            contents[(pod.metadata.name, fname)] = data
        pods.append(pod)

    location = dict(storage_location, prefix="fs-engine-" + uuid.uuid4().hex[:6])
    backup_uid = str(uuid.uuid4())
    pod_dicts = [api_client.sanitize_for_serialization(p) for p in pods]
    selected = [volumes.pod_volume(p, name) for p in pod_dicts for name in volumes.volumes_to_back_up(p, True)[0]]
    assert [v.volume for v in selected] == ["data", "data"]  # the hostPath volume is never backed up

    def repository_for(ns):
        return repository.Repository.from_storage_location(location, ns, password=PASSWORD)

    outcomes = fs_backup.back_up_pod_volumes(api_client, kube, selected, node_agent, repository_for, "engine-b1",
                                             backup_uid)
    assert [outcome[1] for outcome in outcomes] == [None, None]
    records = [outcome[0] for outcome in outcomes]
    assert sorted(r["spec"]["node"] for r in records) == nodes
    assert all(r["status"]["phase"] == "Completed" and r["status"]["snapshotID"] for r in records)

    # The snapshots are really in the namespace's repository, tagged as Velero tags them.
    repo = repository_for(namespace)
    listed = restic.parse_snapshots(runner.run_local(repo, restic.snapshots_command(repo), "snapshots").stdout)
    assert len(listed) == 2
    assert all(s["tag_map"]["backup"] == "engine-b1" and s["tag_map"]["ns"] == namespace
               for s in listed)

    # Disaster: the files are gone. Restore into the pods and check content and marker.
    for pod in pods:
        directory = kubelet_volume_dir(bed, pod.metadata.uid, "data")
        for fname in ("1.txt", "2.txt"):
            os.remove(os.path.join(directory, fname))
    restore_uid = str(uuid.uuid4())
    work = [fs_backup.VolumeRestore(namespace, r["spec"]["pod"]["name"], "data", r["status"]["snapshotID"],
                                    r["spec"]["repoIdentifier"], namespace) for r in records]
    restored = fs_backup.restore_pod_volumes(api_client, kube, work, node_agent,
                                             lambda entry: repository.Repository.from_storage_location(
                                                 location, repository=entry.repo_identifier, password=PASSWORD),
                                             restore_uid, timeout=60)
    assert [outcome[1] for outcome in restored] == [None, None]
    for pod in pods:
        directory = kubelet_volume_dir(bed, pod.metadata.uid, "data")
        for fname in ("1.txt", "2.txt"):
            with open(os.path.join(directory, fname), "rb") as f:
                assert f.read() == contents[(pod.metadata.name, fname)]
        assert os.path.exists(os.path.join(directory, ".velero", restore_uid))


def test_missing_node_agent_and_missing_directory_fail_only_their_volume(bed, api_client, core_v1, kube, namespace,
                                                                         node_agent, storage_location):
    nodes = sorted(n.metadata.name for n in core_v1.list_node().items)[:2]
    good = api_client.sanitize_for_serialization(make_pod(core_v1, namespace, "good", nodes[0]))
    with open(os.path.join(kubelet_volume_dir(bed, good["metadata"]["uid"], "data"), "a.txt"), "w") as f:
        f.write("a\n")
    empty = api_client.sanitize_for_serialization(make_pod(core_v1, namespace, "empty", nodes[1]))
    kubelet_volume_dir(bed, empty["metadata"]["uid"], "data")
    no_dir = api_client.sanitize_for_serialization(make_pod(core_v1, namespace, "nodir", nodes[0]))
    location = dict(storage_location, prefix="fs-engine-" + uuid.uuid4().hex[:6])
    orphan = volumes.PodVolume(namespace, "ghost", "uid-ghost", "no-such-node", "data", None, None, "data")
    selected = [volumes.pod_volume(good, "data"), volumes.pod_volume(no_dir, "data"), volumes.pod_volume(empty, "data"),
                orphan]
    outcomes = fs_backup.back_up_pod_volumes(
        api_client, kube, selected, node_agent,
        lambda ns: repository.Repository.from_storage_location(location, ns, password=PASSWORD), "engine-b2", "u2")
    by_pod = dict((r["spec"]["pod"]["name"], (r, e)) for r, e in outcomes)
    assert by_pod["good"][1] is None and by_pod["good"][0]["status"]["phase"] == "Completed"
    assert by_pod["good"][0]["status"]["snapshotID"]
    assert by_pod["empty"][1] is None and by_pod["empty"][0]["status"]["snapshotID"] == ""
    assert by_pod["empty"][0]["status"]["message"] == "volume was empty so no snapshot was taken"
    assert "volume directory" in by_pod["nodir"][1] and by_pod["nodir"][0]["status"]["phase"] == "Failed"
    assert "no running node agent on node no-such-node" in by_pod["ghost"][1]
    for record, error in outcomes:
        assert PASSWORD not in str(record) and PASSWORD not in str(error)
        assert storage_location["secret_key"] not in str(record) + str(error)
