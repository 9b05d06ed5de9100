"""How many restore workers: `k8s_restore` of one backup at several `workers` settings against the raw
CREATE client at several concurrencies, alternated in one run on the test bed (issue 18 item 3).

Seeds RW_N objects (default 6000: ConfigMaps, Secrets, headless Services and paused Deployments, as
`make bench` makes them) in RW_NAMESPACES namespaces (default 20), backs them up once, then runs RW_ROUNDS
rounds (default 3); each round restores the backup once per RW_WORKERS setting (default "16,32,64") and
creates the same objects with the raw client once per RW_CREATE concurrency (default "16,64"), each into
fresh namespaces, the order rotated every round. Prints medians of items/s as JSON.

    python tests/bench/restore_workers.py    (on $KUBEDR_TESTBED's bed, or a bed named `bench`)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402
from bench import Bench, create_concurrently, ensure_namespaces, log, median, namespaces, object_specs  # noqa: E402
from measured import run_module_measured  # noqa: E402


def main():
    n = int(os.environ.get("RW_N", "6000"))
    ns_count = int(os.environ.get("RW_NAMESPACES", "20"))
    rounds = int(os.environ.get("RW_ROUNDS", "3"))
    workers = [int(w) for w in os.environ.get("RW_WORKERS", "16,32,64").split(",")]
    creates = [int(c) for c in os.environ.get("RW_CREATE", "16,64").split(",")]
    bench = Bench(testbed.read_env() or testbed.cluster_up("bench"))
    src = "rw-%s-src" % bench.run_id
    bench.seed(src, n, ns_count)
    backup_name = "rw-%s" % bench.run_id
    items, secs, _memory = bench.backup(backup_name, src)
    log("backup: %d items in %.1f s" % (items, secs))
    sides = [("restore", w) for w in workers] + [("create", c) for c in creates]
    rates = dict((side, []) for side in sides)
    for round_number in range(rounds):
        shift = round_number % len(sides)
        for kind, value in sides[shift:] + sides[:shift]:
            target = "rw-%s-%s%d-%d" % (bench.run_id, kind[0], value, round_number)
            if kind == "restore":
                mapping = dict(zip(namespaces(src, ns_count), namespaces(target, ns_count)))
                args = dict(bench.auth, backup_name=backup_name, storage_location=bench.location,
                            namespace_mapping=mapping, workers=value)
                result, secs, _memory = run_module_measured("k8s_restore", args)
                count = result["item_counts"]["created"]
            else:
                ensure_namespaces(bench.raw, namespaces(target, ns_count))
                count, secs = create_concurrently(bench.raw, object_specs(target, n, ns_count), value)
            rates[(kind, value)].append(count / secs)
            log("round %d, %s %d: %d items in %.1f s (%.0f/s)" % (round_number + 1, kind, value, count, secs,
                                                                  count / secs))
    report = dict(("%s_%d_per_s" % side, round(median(r), 1)) for side, r in rates.items())
    report.update(("%s_%d_rounds_per_s" % side, [round(x, 1) for x in r]) for side, r in rates.items())
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
