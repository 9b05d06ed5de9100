"""Pod volume backups through k8s_backup when things go wrong, and the restore hooks:
each failure makes the backup PartiallyFailed with a per-volume reason while the rest of
the backup (items and other volumes) is intact."""
import json
import os
import uuid

import pytest

from test_backup_support import assert_ok, delete_prefix, get_object, gz_json, run_backup, s3_location
from testbed import create_node_agents, run_module, wait_for, wait_for_node_agents

PASSWORD = "volume-failures-" + uuid.uuid4().hex


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "volfail")
    yield location
    delete_prefix(s3, location)


@pytest.fixture
def nodes(core_v1):
    return sorted(n.metadata.name for n in core_v1.list_node().items)[:2]


def agent_daemonset(core_v1, apps_v1, bed, node_selector=None):
    """A node-agent DaemonSet (in a namespace of its own), optionally on some nodes only."""
    ns = "volfail-agent-" + uuid.uuid4().hex[:5]
    return ns, create_node_agents(core_v1, apps_v1, ns, bed["KUBEDR_HOST_PODS_DIR"], node_selector=node_selector)


def pod_with_volume(core_v1, bed, namespace, name, node, annotations=None, claim=None, files=("a.txt",)):
    """A running pod whose volume 'data' (emptyDir, or the claim) holds files; returns its dir."""
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": claim}} if claim else \
        {"name": "data", "emptyDir": {}}
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}], "volumes": [volume]}})
    pod = wait_for(lambda: [p for p in [core_v1.read_namespaced_pod(name, namespace)] if p.status.phase == "Running"],
                   what="pod %s running" % name)[0]
    if claim:
        pv = core_v1.read_namespaced_persistent_volume_claim(claim, namespace).spec.volume_name
        directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes",
                                 "kubernetes.io~local-volume", pv)
    else:
        directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes",
                                 "kubernetes.io~empty-dir", "data")
    os.makedirs(directory, exist_ok=True)
    for fname in files:
        with open(os.path.join(directory, fname), "w") as f:
            f.write("%s of %s: %s\n" % (fname, name, uuid.uuid4().hex))
    return directory


def shared_claim(core_v1, namespace):
    pv = "volfail-pv-" + uuid.uuid4().hex[:6]
    core_v1.create_persistent_volume({"metadata": {"name": pv}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "volfail",
        "persistentVolumeReclaimPolicy": "Retain", "local": {"path": "/mnt/" + pv},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "Exists"}]}]}}}})
    core_v1.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "shared"}, "spec": {
        "accessModes": ["ReadWriteMany"], "storageClassName": "volfail", "volumeName": pv,
        "resources": {"requests": {"storage": "1Gi"}}}})
    wait_for(lambda: core_v1.read_namespaced_persistent_volume_claim("shared", namespace).status.phase == "Bound",
             what="the shared claim bound")
    return pv


def volumes_by_pod(result):
    return dict((v["pod"], v) for v in result["pod_volumes"])


def test_two_nodes_concurrently_shared_claim_once_and_a_node_without_agent(
        bed, core_v1, apps_v1, s3, namespace, location, nodes):
    agent_ns, node_agent = agent_daemonset(core_v1, apps_v1, bed)
    pv = shared_claim(core_v1, namespace)
    try:
        wait_for_node_agents(core_v1, agent_ns, 2)
        pod_with_volume(core_v1, bed, namespace, "left", nodes[0])
        pod_with_volume(core_v1, bed, namespace, "right", nodes[1])
        pod_with_volume(core_v1, bed, namespace, "share-a", nodes[0], claim="shared")
        pod_with_volume(core_v1, bed, namespace, "share-b", nodes[1], claim="shared")
        result = assert_ok(run_backup(bed, location, "two-nodes", included_namespaces=[namespace],
                                      default_volumes_to_fs_backup=True, repository_password=PASSWORD,
                                      node_agent=node_agent))
        assert result["phase"] == "Completed", result["backup_errors"]
        volumes = volumes_by_pod(result)
        # One backup for the shared claim (through its first pod), one per emptyDir.
        assert sorted(volumes) == ["left", "right", "share-a"]
        assert all(v["phase"] == "Completed" and v["snapshot_id"] for v in volumes.values())
        records = gz_json(get_object(s3, location, "backups/two-nodes/two-nodes-podvolumebackups.json.gz"))
        assert sorted(r["spec"]["node"] for r in records if r["spec"]["pod"]["name"] in ("left", "right")) == nodes
        assert [r["metadata"]["annotations"] for r in records if r["spec"]["pod"]["name"] == "share-a"] == [
            {"velero.io/pvc-name": "shared"}]
    finally:
        core_v1.delete_namespace(agent_ns)
        core_v1.delete_persistent_volume(pv)

    # Now only one node has an agent: the other node's volume fails with a reason, the rest is intact.
    agent_ns, node_agent = agent_daemonset(core_v1, apps_v1, bed, {"kubernetes.io/hostname": nodes[0]})
    try:
        wait_for_node_agents(core_v1, agent_ns, 1)
        result = assert_ok(run_backup(bed, location, "one-agent", included_namespaces=[namespace],
                                      default_volumes_to_fs_backup=True, repository_password=PASSWORD,
                                      node_agent=node_agent))
        assert result["phase"] == "PartiallyFailed"
        volumes = volumes_by_pod(result)
        assert volumes["left"]["phase"] == "Completed"
        assert volumes["right"]["phase"] == "Failed"
        errors = result["backup_errors"]["namespaces"][namespace]
        assert any("volume data of pod %s/right" % namespace in e and "no running node agent on node %s" % nodes[1]
                   in e for e in errors), errors
        assert result["item_counts"]["per_resource"]["v1/Pod"] == 4  # every item is still backed up
        assert json.loads(get_object(s3, location, "backups/one-agent/velero-backup.json"))["status"]["phase"] == \
            "PartiallyFailed"
    finally:
        core_v1.delete_namespace(agent_ns)


def test_wrong_password_and_broken_repository_fail_the_volume_not_the_backup(
        bed, core_v1, apps_v1, s3, namespace, location, nodes):
    agent_ns, node_agent = agent_daemonset(core_v1, apps_v1, bed)
    try:
        wait_for_node_agents(core_v1, agent_ns, 2)
        pod_with_volume(core_v1, bed, namespace, "app", nodes[0])
        options = dict(included_namespaces=[namespace], default_volumes_to_fs_backup=True, node_agent=node_agent)
        assert_ok(run_backup(bed, location, "first", repository_password=PASSWORD, **options))

        wrong = "not-the-password-" + uuid.uuid4().hex
        result = assert_ok(run_backup(bed, location, "wrong-password", repository_password=wrong, **options))
        assert result["phase"] == "PartiallyFailed"
        (error,) = result["backup_errors"]["namespaces"][namespace]
        assert "volume data of pod %s/app" % namespace in error and "password" in error
        assert wrong not in json.dumps(result) and PASSWORD not in json.dumps(result)
        assert result["item_counts"]["per_resource"]["v1/Pod"] == 1

        # restic exits non-zero on a repository whose config object is garbage.
        config_key = "%s/restic/%s/config" % (location["prefix"], namespace)
        s3.put_object(Bucket=location["bucket"], Key=config_key, Body=b"garbage")
        result = assert_ok(run_backup(bed, location, "broken-repo", repository_password=PASSWORD, **options))
        assert result["phase"] == "PartiallyFailed"
        assert volumes_by_pod(result)["app"]["phase"] == "Failed"
        (error,) = result["backup_errors"]["namespaces"][namespace]
        assert "restic" in error and "exit status" in error, error
        assert "backups/broken-repo/velero-backup.json" in [
            o["Key"][len(location["prefix"]) + 1:] for o in
            s3.list_objects_v2(Bucket=location["bucket"], Prefix=location["prefix"] + "/backups/broken-repo/")["Contents"]]
    finally:
        core_v1.delete_namespace(agent_ns)


def test_pre_hook_failure_fail_stops_the_pods_volumes_continue_only_warns(
        bed, core_v1, apps_v1, namespace, location, nodes):
    agent_ns, node_agent = agent_daemonset(core_v1, apps_v1, bed)
    try:
        wait_for_node_agents(core_v1, agent_ns, 2)
        failing = json.dumps(["/bin/sh", "-c", "exit 7"])
        pod_with_volume(core_v1, bed, namespace, "strict", nodes[0], annotations={
            "pre.hook.backup.velero.io/command": failing})
        pod_with_volume(core_v1, bed, namespace, "lenient", nodes[1], annotations={
            "pre.hook.backup.velero.io/command": failing, "pre.hook.backup.velero.io/on-error": "Continue"})
        result = assert_ok(run_backup(bed, location, "hooks", included_namespaces=[namespace],
                                      default_volumes_to_fs_backup=True, repository_password=PASSWORD,
                                      node_agent=node_agent))
        assert result["phase"] == "PartiallyFailed"
        errors = result["backup_errors"]["namespaces"][namespace]
        warnings = result["backup_warnings"]["namespaces"][namespace]
        assert any("pod strict: pre hook" in e and "exit status 7" in e for e in errors), errors
        assert any("pod strict: volume data not backed up: its pre hook failed" in e for e in errors), errors
        assert any("pod lenient: pre hook" in w and "exit status 7" in w for w in warnings), warnings
        volumes = volumes_by_pod(result)
        assert "strict" not in volumes
        assert volumes["lenient"]["phase"] == "Completed"
    finally:
        core_v1.delete_namespace(agent_ns)


def test_restore_hooks_from_annotations(bed, core_v1, namespace, location, nodes, tmp_path):
    """An init-container hook is added to the restored pod, and the post-restore exec hook runs
    in it once its container is Ready (kwok runs exec'd commands on this machine)."""
    marker = tmp_path / "restored.log"
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "db", "annotations": {
            "init.hook.restore.velero.io/container-image": "busybox:1.36",
            "init.hook.restore.velero.io/container-name": "prepare",
            "init.hook.restore.velero.io/command": json.dumps(["/bin/sh", "-c", "echo prepared"]),
            "post.hook.restore.velero.io/command": json.dumps(["/bin/sh", "-c", "echo reindexed >> %s" % marker]),
            # Velero's waitForReady: the hook waits for its container to be Ready, not only running.
            "post.hook.restore.velero.io/wait-for-ready": "true",
        }},
        "spec": {"nodeName": nodes[0], "containers": [{"name": "main", "image": "busybox"}]}})
    wait_for(lambda: core_v1.read_namespaced_pod("db", namespace).status.phase == "Running", what="db running")
    assert_ok(run_backup(bed, location, "hooked", included_namespaces=[namespace]))
    core_v1.delete_namespaced_pod("db", namespace, grace_period_seconds=0)
    wait_for(lambda: not core_v1.list_namespaced_pod(namespace).items, what="the pod to go")

    result = run_module("k8s_restore", dict(kubeconfig=bed["KUBECONFIG"], storage_location=location,
                                            backup_name="hooked", name="hooked-restore"))
    assert not result.failed, result.get("msg")
    assert result["phase"] == "Completed", result["restore_errors"]
    restored = core_v1.read_namespaced_pod("db", namespace)
    assert [(c.name, c.image, c.command) for c in restored.spec.init_containers] == [
        ("prepare", "busybox:1.36", ["/bin/sh", "-c", "echo prepared"])]
    assert marker.read_text() == "reindexed\n"


def test_opt_out_annotation_and_never_backed_up_volume_types(bed, core_v1, apps_v1, namespace, location, nodes):
    """default_volumes_to_fs_backup takes every volume but those the pod opts out of and the
    types that are never backed up (here hostPath and a ConfigMap)."""
    agent_ns, node_agent = agent_daemonset(core_v1, apps_v1, bed)
    try:
        wait_for_node_agents(core_v1, agent_ns, 2)
        core_v1.create_namespaced_pod(namespace, {
            "metadata": {"name": "web", "annotations": {"backup.velero.io/backup-volumes-excludes": "cache"}},
            "spec": {"nodeName": nodes[0], "containers": [{"name": "main", "image": "busybox"}], "volumes": [
                {"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}},
                {"name": "logs", "hostPath": {"path": "/var/log"}}, {"name": "cfg", "configMap": {"name": "x"}}]}})
        pod = wait_for(lambda: [p for p in [core_v1.read_namespaced_pod("web", namespace)]
                                if p.status.phase == "Running"], what="web running")[0]
        for volume in ("data", "cache"):
            directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes",
                                     "kubernetes.io~empty-dir", volume)
            os.makedirs(directory)
            with open(os.path.join(directory, "f.txt"), "w") as f:
                f.write(volume)
        result = assert_ok(run_backup(bed, location, "opt-out", included_namespaces=[namespace],
                                      default_volumes_to_fs_backup=True, repository_password=PASSWORD,
                                      node_agent=node_agent))
        assert result["phase"] == "Completed", result["backup_errors"]
        assert [(v["pod"], v["volume"], v["phase"]) for v in result["pod_volumes"]] == [("web", "data", "Completed")]
    finally:
        core_v1.delete_namespace(agent_ns)
