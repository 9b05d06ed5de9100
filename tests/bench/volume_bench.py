"""Pod volume data throughput: restic through the node agent (exec through the API server,
as k8s_backup/k8s_restore run it) next to plain restic on the same data, in the same run.

Used by bench.py (BENCH_VOLUME_MIB, default 1024; 0 skips it).
"""
import os
import shutil
import time
import uuid

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import node_agent as fs_backup
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, runner, uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient

from testbed import wait_for

CHUNK = 16 * 1024 * 1024


def make_volume(directory, mib):
    """`mib` MiB of incompressible data in 64 MiB files (restic deduplicates nothing of it)."""
    os.makedirs(directory, exist_ok=True)
    remaining = mib * 1024 * 1024
    index = 0
    while remaining > 0:
        size = min(remaining, 64 * 1024 * 1024)
        with open(os.path.join(directory, "blob-%03d.bin" % index), "wb") as f:
            written = 0
            while written < size:
                block = os.urandom(min(CHUNK, size - written))
                f.write(block)
                written += len(block)
        remaining -= size
        index += 1


def same_tree(left, right):
    for name in sorted(os.listdir(left)):
        with open(os.path.join(left, name), "rb") as a, open(os.path.join(right, name), "rb") as b:
            while True:
                x, y = a.read(CHUNK), b.read(CHUNK)
                if x != y:
                    return False
                if not x:
                    break
    return True


def start_node_agent(kube, host_pods):
    """A node-agent DaemonSet in a namespace of its own; returns (namespace, the agent pod of the
    first node)."""
    agent_ns = "bench-agent-" + uuid.uuid4().hex[:5]
    labels = {"app.kubernetes.io/name": "kubedr-node-agent"}
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": agent_ns}})
    kube.request("POST", "/apis/apps/v1/namespaces/%s/daemonsets" % agent_ns, body={
        "metadata": {"name": "node-agent"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "restic", "image": "restic/restic:0.17.3", "command": ["sleep", "infinity"]}]}}}})
    settings = fs_backup.node_agent_settings({"namespace": agent_ns, "host_pods_path": host_pods})
    agents = wait_for(lambda: fs_backup.node_agent_pods(kube, settings), what="a node agent")
    return agent_ns, sorted(agents.values())[0]


def run(env, location, mib, log):
    """Returns a dict of MB/s figures (MB = 10^6 bytes)."""
    kube = KubeClient({"kubeconfig": env["KUBECONFIG"]})
    host_pods = env["KUBEDR_HOST_PODS_DIR"]
    agent_ns, agent = start_node_agent(kube, host_pods)

    work = os.path.join(host_pods, "bench-volume-" + uuid.uuid4().hex[:6])
    source = os.path.join(work, "volumes", "kubernetes.io~empty-dir", "data")
    log("writing %d MiB of random data" % mib)
    make_volume(source, mib)
    size_mb = mib * 1024 * 1024 / 1e6
    password = uuid.uuid4().hex
    figures = {"volume_mib": mib}
    try:
        for mode in ("plain", "node_agent"):
            repo = repository.Repository.from_storage_location(location, "bench-%s-%s" % (mode, uuid.uuid4().hex[:4]),
                                                               password=password)
            target = os.path.join(work, "restore-" + mode)
            os.makedirs(target)
            if mode == "plain":
                runner.ensure_repository(repo)
                started = time.time()
                summary = runner.backup_directory(repo, source, ["bench=volume"])
                backup_secs = time.time() - started
                started = time.time()
                runner.restore_directory(repo, summary["snapshot_id"], target)
                restore_secs = time.time() - started
            else:
                stdin_env = uploaders.ResticUploader.secret_env_names(repo)
                runner.ensure_repository_in_pod(kube.exec_client, agent_ns, agent, repo, stdin_env=stdin_env)
                started = time.time()
                summary = runner.volume_backup_in_pod(kube.exec_client, agent_ns, agent, repo, source,
                                                      ["bench=volume"], stdin_env=stdin_env)
                backup_secs = time.time() - started
                started = time.time()
                runner.volume_restore_in_pod(kube.exec_client, agent_ns, agent, repo, summary["snapshot_id"], target,
                                             stdin_env=stdin_env)
                restore_secs = time.time() - started
            if not same_tree(source, target):
                raise RuntimeError("%s restore differs from the source" % mode)
            figures["%s_backup_mb_s" % mode] = round(size_mb / backup_secs, 1)
            figures["%s_restore_mb_s" % mode] = round(size_mb / restore_secs, 1)
            log("%s restic: backup %.1f MB/s, restore %.1f MB/s" % (
                mode, size_mb / backup_secs, size_mb / restore_secs))
            shutil.rmtree(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        kube.request("DELETE", "/api/v1/namespaces/%s" % agent_ns)
    figures["backup_ratio"] = round(figures["node_agent_backup_mb_s"] / figures["plain_backup_mb_s"], 3)
    figures["restore_ratio"] = round(figures["node_agent_restore_mb_s"] / figures["plain_restore_mb_s"], 3)
    return figures
