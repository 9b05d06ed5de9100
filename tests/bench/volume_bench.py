"""Pod volume data throughput: restic and kopia through the node agent (exec through the API server,
as k8s_backup/k8s_restore call the uploader) next to the same CLI run plainly on the same data, in the same run.

Used by bench.py (BENCH_VOLUME_MIB, default 1024; 0 skips it).
"""
import os
import shutil
import time
import uuid
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import node_agent as fs_backup
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots, runner, uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient

import testbed
from testbed import wait_for

CHUNK = 16 * 1024 * 1024
BenchVolume = namedtuple("BenchVolume", "namespace pod pvc volume")


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
    """A node-agent DaemonSet in a namespace of its own; returns (namespace, its NodeAgentSettings, the agent
    pod of the first node)."""
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
    return agent_ns, settings, sorted(agents.values())[0]


BENCH_VOLUME = BenchVolume("bench", "volume-bench", "", "data")
TAGS = {"bench": "volume"}


def plain_steps(uploader, repo, source, target):
    """(backup, restore) of the uploader's own CLI run plainly, as the node agent runs it: restic's
    backup and restore into a repository made first; kopia's snapshot create (connecting, or creating
    the repository, in the same run, as back_up_creating does) and snapshot restore."""
    if uploader.name == uploaders.RESTIC:
        runner.ensure_repository(repo)
        return (lambda: runner.backup_directory(repo, source, ["bench=volume"])["snapshot_id"],
                lambda snapshot_id: runner.restore_directory(repo, snapshot_id, target))
    create = kopia_snapshots.create_args(kopia_snapshots.volume_source(*BENCH_VOLUME),
                                         kopia_snapshots.snapshot_tags(TAGS))
    return (lambda: kopia_snapshots.parse_create_output(
        kopia.run_local(repo, create, "snapshot create", create=True, cwd=source).stdout)["snapshot_id"],
        lambda snapshot_id: kopia.run_local(repo, kopia_snapshots.restore_args(snapshot_id), "snapshot restore",
                                            cwd=target))


def node_agent_steps(uploader, kube, settings, agent, repo, source, target):
    """(backup, restore) through the node agent, as k8s_backup and k8s_restore call the uploader: restic's
    repository is made first (prepare), kopia's by the snapshot's own connection (back_up_creating)."""
    if uploader.name == uploaders.RESTIC:
        uploader.prepare(kube.exec_client, settings, agent, repo)
    return (lambda: uploader.back_up_creating(kube.exec_client, settings, agent, repo, source, BENCH_VOLUME,
                                              TAGS)["snapshot_id"]
            if uploader.name == uploaders.KOPIA else
            uploader.back_up(kube.exec_client, settings, agent, repo, source, BENCH_VOLUME, TAGS)["snapshot_id"],
            lambda snapshot_id: uploader.restore(kube.exec_client, settings, agent, repo, snapshot_id, target))


def measure_side(mode, uploader, kube, settings, agent, location, password, source, target):
    """One backup and one restore of ``source`` by one side (the uploader's CLI run plainly, or exec'd in the
    node agent) into a repository of its own: (backup seconds, restore seconds). Dirty pages of the step before
    are written out first (sync), so that neither side pays for the other's writes."""
    repo = uploader.repository(location, "bench-%s-%s-%s" % (uploader.name, mode, uuid.uuid4().hex[:4]), password)
    os.makedirs(target)
    if mode == "plain":
        backup, restore = plain_steps(uploader, repo, source, target)
    else:
        backup, restore = node_agent_steps(uploader, kube, settings, agent, repo, source, target)
    os.sync()
    started = time.time()
    snapshot_id = backup()
    backup_secs = time.time() - started
    os.sync()
    started = time.time()
    restore(snapshot_id)
    restore_secs = time.time() - started
    if not same_tree(source, target):
        raise RuntimeError("%s %s restore differs from the source" % (mode, uploader.name))
    shutil.rmtree(target)
    return backup_secs, restore_secs


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def run(env, location, mib, log, rounds=None):
    """Returns a dict of MB/s figures (MB = 10^6 bytes) of restic, and the same of kopia under "kopia"
    (BENCH_VOLUME_UPLOADERS, default "restic,kopia"): medians over ``rounds`` (BENCH_VOLUME_ROUNDS, default 2)
    rounds in which the sides alternate (plain first, then the node agent first, ...): whichever goes second
    reads a repository and writes a disk the first one has just warmed or filled, and one order alone measured
    that (a node agent faster than plain restic on backup, 25% slower on restore)."""
    rounds = rounds or int(os.environ.get("BENCH_VOLUME_ROUNDS", "2"))
    names = [n.strip() for n in os.environ.get("BENCH_VOLUME_UPLOADERS", "restic,kopia").split(",") if n.strip()]
    kube = KubeClient({"kubeconfig": env["KUBECONFIG"]})
    host_pods = env["KUBEDR_HOST_PODS_DIR"]
    agent_ns, settings, agent = start_node_agent(kube, host_pods)

    work = os.path.join(host_pods, "bench-volume-" + uuid.uuid4().hex[:6])
    source = os.path.join(work, "volumes", "kubernetes.io~empty-dir", "data")
    log("writing %d MiB of random data" % mib)
    make_volume(source, mib)
    size_mb = mib * 1024 * 1024 / 1e6
    password = uuid.uuid4().hex
    seconds = dict((name, {"plain": ([], []), "node_agent": ([], [])}) for name in names)
    try:
        for round_number in range(rounds):
            order = ("plain", "node_agent") if round_number % 2 == 0 else ("node_agent", "plain")
            for name in names:
                for mode in order:
                    backup_secs, restore_secs = measure_side(
                        mode, uploaders.uploader(name), kube, settings, agent, location, password, source,
                        os.path.join(work, "restore-%s-%s-%d" % (name, mode, round_number)))
                    seconds[name][mode][0].append(backup_secs)
                    seconds[name][mode][1].append(restore_secs)
                    log("round %d, %s %s: backup %.1f MB/s, restore %.1f MB/s" % (
                        round_number + 1, mode, name, size_mb / backup_secs, size_mb / restore_secs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        kube.request("DELETE", "/api/v1/namespaces/%s" % agent_ns)
    figures = {"volume_mib": mib, "rounds": rounds}
    for name in names:
        of_uploader = figures if name == uploaders.RESTIC else figures.setdefault(name, {})
        for mode, (backups, restores) in seconds[name].items():
            of_uploader["%s_backup_mb_s" % mode] = round(size_mb / median(backups), 1)
            of_uploader["%s_restore_mb_s" % mode] = round(size_mb / median(restores), 1)
            of_uploader["%s_backup_rounds_s" % mode] = [round(x, 2) for x in backups]
            of_uploader["%s_restore_rounds_s" % mode] = [round(x, 2) for x in restores]
        for step in ("backup", "restore"):
            of_uploader[step + "_ratio"] = round(
                of_uploader["node_agent_%s_mb_s" % step] / of_uploader["plain_%s_mb_s" % step], 3)
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
