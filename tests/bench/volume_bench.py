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

import testbed
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


def measure_side(mode, kube, agent_ns, agent, location, password, source, target):
    """One backup and one restore of ``source`` by one side (plain restic, or restic exec'd in the node agent)
    into a repository of its own: (backup seconds, restore seconds). Dirty pages of the step before are written
    out first (sync), so that neither side pays for the other's writes."""
    repo = repository.Repository.from_storage_location(location, "bench-%s-%s" % (mode, uuid.uuid4().hex[:4]),
                                                       password=password)
    os.makedirs(target)
    if mode == "plain":
        runner.ensure_repository(repo)
        os.sync()
        started = time.time()
        summary = runner.backup_directory(repo, source, ["bench=volume"])
        backup_secs = time.time() - started
        os.sync()
        started = time.time()
        runner.restore_directory(repo, summary["snapshot_id"], target)
        restore_secs = time.time() - started
    else:
        stdin_env = uploaders.ResticUploader.secret_env_names(repo)
        runner.ensure_repository_in_pod(kube.exec_client, agent_ns, agent, repo, stdin_env=stdin_env)
        os.sync()
        started = time.time()
        summary = runner.volume_backup_in_pod(kube.exec_client, agent_ns, agent, repo, source,
                                              ["bench=volume"], stdin_env=stdin_env)
        backup_secs = time.time() - started
        os.sync()
        started = time.time()
        runner.volume_restore_in_pod(kube.exec_client, agent_ns, agent, repo, summary["snapshot_id"], target,
                                     stdin_env=stdin_env)
        restore_secs = time.time() - started
    if not same_tree(source, target):
        raise RuntimeError("%s restore differs from the source" % mode)
    shutil.rmtree(target)
    return backup_secs, restore_secs


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def run(env, location, mib, log, rounds=None):
    """Returns a dict of MB/s figures (MB = 10^6 bytes): medians over ``rounds`` (BENCH_VOLUME_ROUNDS, default 2)
    rounds in which the sides alternate (plain first, then the node agent first, ...): whichever goes second
    reads a repository and writes a disk the first one has just warmed or filled, and one order alone measured
    that (a node agent faster than plain restic on backup, 25% slower on restore)."""
    rounds = rounds or int(os.environ.get("BENCH_VOLUME_ROUNDS", "2"))
    kube = KubeClient({"kubeconfig": env["KUBECONFIG"]})
    host_pods = env["KUBEDR_HOST_PODS_DIR"]
    agent_ns, agent = start_node_agent(kube, host_pods)

    work = os.path.join(host_pods, "bench-volume-" + uuid.uuid4().hex[:6])
    source = os.path.join(work, "volumes", "kubernetes.io~empty-dir", "data")
    log("writing %d MiB of random data" % mib)
    make_volume(source, mib)
    size_mb = mib * 1024 * 1024 / 1e6
    password = uuid.uuid4().hex
    seconds = {"plain": ([], []), "node_agent": ([], [])}
    try:
        for round_number in range(rounds):
            order = ("plain", "node_agent") if round_number % 2 == 0 else ("node_agent", "plain")
            for mode in order:
                backup_secs, restore_secs = measure_side(mode, kube, agent_ns, agent, location, password, source,
                                                         os.path.join(work, "restore-%s-%d" % (mode, round_number)))
                seconds[mode][0].append(backup_secs)
                seconds[mode][1].append(restore_secs)
                log("round %d, %s restic: backup %.1f MB/s, restore %.1f MB/s" % (
                    round_number + 1, mode, size_mb / backup_secs, size_mb / restore_secs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        kube.request("DELETE", "/api/v1/namespaces/%s" % agent_ns)
    figures = {"volume_mib": mib, "rounds": rounds}
    for mode, (backups, restores) in seconds.items():
        figures["%s_backup_mb_s" % mode] = round(size_mb / median(backups), 1)
        figures["%s_restore_mb_s" % mode] = round(size_mb / median(restores), 1)
        figures["%s_backup_rounds_s" % mode] = [round(x, 2) for x in backups]
        figures["%s_restore_rounds_s" % mode] = [round(x, 2) for x in restores]
    figures["backup_ratio"] = round(figures["node_agent_backup_mb_s"] / figures["plain_backup_mb_s"], 3)
    figures["restore_ratio"] = round(figures["node_agent_restore_mb_s"] / figures["plain_restore_mb_s"], 3)
    return figures


if __name__ == "__main__":
    # Alone: python tests/bench/volume_bench.py [MiB] on $KUBEDR_TESTBED's bed.
    import json
    import sys
    bed = testbed.read_env() or testbed.cluster_up()
    location = {"provider": "s3", "bucket": bed["KUBEDR_S3_BUCKET"], "prefix": "volume-bench-" + uuid.uuid4().hex[:6],
                "endpoint_url": bed["KUBEDR_S3_ENDPOINT"], "region": "us-east-1", "s3_addressing_style": "path",
                "access_key": bed["KUBEDR_S3_ACCESS_KEY"], "secret_key": bed["KUBEDR_S3_SECRET_KEY"]}
    print(json.dumps(run(bed, location, int(sys.argv[1]) if len(sys.argv) > 1 else 1024,
                         lambda msg: sys.stderr.write("[volume] %s\n" % msg)), indent=2, sort_keys=True))
