"""Bench part `fleet`: `ansible-playbook kubedr.backup.fleet` over three test-bed clusters at once, against
the slowest of the same clusters backed up alone (the same playbook, an inventory of one), in the same run.

Each cluster (`h2-fleet1`..`h2-fleet3`, stopped at the end) gets FLEET_N (default 3000) ConfigMaps and Secrets in
10 namespaces. FLEET_ROUNDS (default 2) rounds; the sides alternate which goes first, medians are compared.
Keys: fleet_wall_s (the fleet's ansible-playbook, whole command), fleet_slowest_single_s (the slowest cluster
alone), fleet_ratio (the first over the second: 1.0 is a fleet as fast as its slowest member).

    python tests/bench/fleet_bench.py
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402
import bench  # noqa: E402
import scale_bench  # noqa: E402

BEDS = ("h2-fleet1", "h2-fleet2", "h2-fleet3")
NAMESPACES = 10


def default_log(msg):
    sys.stderr.write("[fleet %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def inventory(hosts, location):
    """An inventory of the group kubedr_clusters: {host: kubeconfig}, one shared storage location."""
    return {"kubedr_clusters": {"vars": {"kubedr_storage_location": location, "kubedr_included_namespaces": ["fleet-*"],
                                         "kubedr_poll_interval": 5},
                                "hosts": dict((host, {"kubedr_kubeconfig": kubeconfig})
                                              for host, kubeconfig in hosts.items())}}


def run_fleet(hosts, location, secret_env, workdir):
    """Seconds of one `ansible-playbook kubedr.backup.fleet` over ``hosts``; raises when it fails."""
    path = os.path.join(workdir, "inventory-%s.json" % uuid.uuid4().hex[:6])
    with open(path, "w") as f:
        json.dump(inventory(hosts, location), f)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", path, "kubedr.backup.fleet",
           "-f", str(len(hosts)), "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
    testbed.ensure_collection_path()
    started = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=testbed.module_env(dict(secret_env, ANSIBLE_NOCOLOR="1")), timeout=3600, check=False)
    secs = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError("kubedr.backup.fleet over %s failed:\n%s" % (sorted(hosts), proc.stdout[-4000:]))
    return secs


def run(log=default_log, n=None, rounds=None):
    n = n or int(os.environ.get("FLEET_N", "3000"))
    rounds = rounds or int(os.environ.get("FLEET_ROUNDS", "2"))
    envs = {}
    try:
        for name in BEDS:
            envs[name] = testbed.cluster_up(name)
            raw = bench.RawClient(envs[name]["KUBECONFIG"])
            bench.ensure_namespaces(raw, bench.namespaces("fleet", NAMESPACES))
            count, secs = bench.create_concurrently(
                raw, scale_bench.object_specs("fleet", 0, n, NAMESPACES, "x" * 128), 32)
            log("%s: %d objects in %.1f s" % (name, count, secs))
        first = envs[BEDS[0]]
        # One location (the first bed's MinIO) for every cluster, as a fleet sharing a bucket.
        location = {"provider": "s3", "bucket": first["KUBEDR_S3_BUCKET"], "prefix": "fleet-" + uuid.uuid4().hex[:6],
                    "endpoint_url": first["KUBEDR_S3_ENDPOINT"], "region": "us-east-1", "s3_addressing_style": "path"}
        secret_env = {"AWS_ACCESS_KEY_ID": first["KUBEDR_S3_ACCESS_KEY"],
                      "AWS_SECRET_ACCESS_KEY": first["KUBEDR_S3_SECRET_KEY"]}
        hosts = dict((name, envs[name]["KUBECONFIG"]) for name in BEDS)
        fleet_walls, slowest_singles = [], []
        with tempfile.TemporaryDirectory() as workdir:
            for round_number in range(rounds):
                sides = ["singles", "fleet"] if round_number % 2 == 0 else ["fleet", "singles"]
                for side in sides:
                    if side == "fleet":
                        fleet_walls.append(run_fleet(hosts, location, secret_env, workdir))
                        log("round %d: the fleet of %d clusters in %.1f s" % (round_number + 1, len(hosts),
                                                                              fleet_walls[-1]))
                    else:
                        singles = dict((name, run_fleet({name: kubeconfig}, location, secret_env, workdir))
                                       for name, kubeconfig in hosts.items())
                        slowest_singles.append(max(singles.values()))
                        log("round %d: alone %s" % (round_number + 1, ", ".join(
                            "%s %.1f s" % item for item in sorted(singles.items()))))
    finally:
        for name in BEDS:
            subprocess.run(["bash", os.path.join(testbed.REPO, "hack", "testbed", "cluster-down.sh"), name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall, slowest = bench.median(fleet_walls), bench.median(slowest_singles)
    return {"fleet_clusters": len(BEDS), "fleet_objects_per_cluster": n, "fleet_rounds": rounds,
            "fleet_wall_s": round(wall, 1), "fleet_slowest_single_s": round(slowest, 1),
            "fleet_ratio": round(wall / slowest, 3),
            "fleet_wall_rounds_s": [round(x, 1) for x in fleet_walls],
            "fleet_slowest_single_rounds_s": [round(x, 1) for x in slowest_singles]}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, sort_keys=True))
