"""Bench: the restore's read path without a cluster, for its memory and CPU per item.

A backup of N objects (tests/bench/backup_memory.py's fake cluster: ConfigMaps and Secrets over
100 namespaces) is made once per N by ``BackupRun`` itself, so the tarball, the item digests and
the integrity manifest are the product's own, into a filesystem store cached under
$RESTORE_MEMORY_CACHE (default /tmp/restore-memory; seeded, so a cached backup is the one a rerun
would make). Each measurement then runs in a fresh process what k8s_restore runs before it reads
the cluster: ``restore/integrity.check_backup`` (pinning and verifying the backup), the extraction
and index of the tarball (``restore/index.extract_backup``, with the item digests checked as the
restore checks them), and one read of every indexed item (what the plan reads), then closes all.

Per size and per tree it prints the CPU seconds of that read path, the traced Python heap's peak
(tracemalloc; RESTORE_MEMORY_TRACE=0 skips it, for timings) and ru_maxrss, then the growth per
item between the smallest and the largest size. RESTORE_MEMORY_OTHER=<dir holding
ansible_collections/kubedr/backup> measures that copy too (e.g. the tree before a change), the
two alternating in every round (RESTORE_MEMORY_ROUNDS, default 1).

    python tests/bench/restore_memory.py                     # 20,000 and 200,000 objects
    RESTORE_MEMORY_OTHER=/tmp/before RESTORE_MEMORY_ROUNDS=3 python tests/bench/restore_memory.py 20000 200000
"""
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("RESTORE_MEMORY_CACHE", "/tmp/restore-memory")
BACKUP = "m"


def build(count):
    """The store directory holding a backup of ``count`` objects, made once."""
    sys.path.insert(0, os.path.dirname(HERE))
    sys.path.insert(0, HERE)
    import testbed
    testbed.ensure_collection_path()
    import backup_memory
    from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
    from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

    directory = os.path.join(CACHE, str(count))
    if os.path.exists(os.path.join(directory, "done")):
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    store = open_store({"provider": "filesystem", "path": os.path.join(directory, "bucket")})
    store.check()
    options = {"name": BACKUP, "ttl": "720h", "included_namespaces": ["src-*"]}
    result = backup.BackupRun(backup_memory.SyntheticKube(count), store, options).execute()
    if result["phase"] != "Completed":
        raise SystemExit("the backup of %d objects ended %s" % (count, result["phase"]))
    with open(os.path.join(directory, "done"), "w") as handle:
        handle.write(json.dumps({"items": result["item_counts"]["total"]}))
    return directory


def read_path(directory, trace):
    """The restore's read path over the backup in ``directory``, in this process (the collection
    importable from sys.path); its figures."""
    from ansible_collections.kubedr.backup.plugins.module_utils.restore import index, integrity
    from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

    options = {"integrity": "if_present", "max_archive_size": 8 * 1024 ** 3}
    plain = open_store({"provider": "filesystem", "path": os.path.join(directory, "bucket")})
    workdir = tempfile.mkdtemp(prefix="restore-memory-")
    if trace:
        import tracemalloc
        tracemalloc.start()
    cpu = os.times()
    # The tree after the change checks the item digests while indexing; the one before did it in check_backup.
    one_pass = "item_check" in inspect.signature(index.extract_backup).parameters
    checked = integrity.check_backup(plain, BACKUP, options, **({"items_while_indexing": True} if one_pass else {}))
    try:
        extra = {"item_check": checked.item_check} if one_pass else {}
        extracted = index.extract_backup(checked.tarball, workdir, options["max_archive_size"], **extra)
        try:
            items = 0
            for group_resource in sorted(extracted.groups):
                for _item in extracted.items_of(group_resource):
                    items += 1
        finally:
            extracted.close()
    finally:
        checked.close()
        shutil.rmtree(workdir, ignore_errors=True)
    after = os.times()
    figures = {"items": items, "status": checked.report["status"], "one_pass": one_pass,
               "cpu_s": round(after.user + after.system - cpu.user - cpu.system, 3)}
    if trace:
        import tracemalloc
        figures["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    figures["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


def measure(count, tree):
    """One measurement in a fresh process, ``tree`` the directory holding ansible_collections (None: this checkout's)."""
    env = dict(os.environ)
    if tree:
        env["RESTORE_MEMORY_TREE"] = tree
    out = subprocess.check_output([sys.executable, os.path.abspath(__file__), "--one", build_in_child(count)], env=env)
    return json.loads(out.decode().strip().splitlines()[-1])


def build_in_child(count):
    # The backup runs in its own process: its memory must not count in the measurement's.
    out = subprocess.check_output([sys.executable, os.path.abspath(__file__), "--build", str(count)])
    return out.decode().strip().splitlines()[-1]


def main(argv):
    if len(argv) > 2 and argv[1] == "--build":
        print(build(int(argv[2])))
        return 0
    if len(argv) > 2 and argv[1] == "--one":
        tree = os.environ.get("RESTORE_MEMORY_TREE")
        if tree:
            sys.path.insert(0, tree)
        else:
            sys.path.insert(0, os.path.dirname(HERE))
            import testbed
            testbed.ensure_collection_path()
        print(json.dumps(read_path(argv[2], os.environ.get("RESTORE_MEMORY_TRACE", "1") != "0")))
        return 0
    sizes = [int(size) for size in argv[1:]] or [20000, 200000]
    trees = [("this", None)] + ([("other", os.environ["RESTORE_MEMORY_OTHER"])] if os.environ.get("RESTORE_MEMORY_OTHER") else [])
    runs = dict((label, dict((size, []) for size in sizes)) for label, _tree in trees)
    for round_number in range(int(os.environ.get("RESTORE_MEMORY_ROUNDS", "1"))):
        for size in sizes:
            for label, tree in (trees if round_number % 2 == 0 else trees[::-1]):
                started = time.time()
                figures = measure(size, tree)
                runs[label][size].append(figures)
                print("round %d %-5s %8d items  %s  cpu %6.2f s  maxrss %6.1f MiB%s  (%.0f s)" % (
                    round_number, label, figures["items"], figures["status"], figures["cpu_s"],
                    figures["maxrss"] / 2.0 ** 20,
                    "  traced peak %6.1f MiB" % (figures["traced_peak"] / 2.0 ** 20) if "traced_peak" in figures else "",
                    time.time() - started))
                sys.stdout.flush()
    summary = {}
    for label, by_size in runs.items():
        def median(size, field):
            values = sorted(run[field] for run in by_size[size] if field in run)
            return values[len(values) // 2] if values else None
        small, large = min(sizes), max(sizes)
        extra = float(by_size[large][0]["items"] - by_size[small][0]["items"])
        summary[label] = {"cpu_s": dict((size, median(size, "cpu_s")) for size in sizes),
                          "maxrss_mib": dict((size, round(median(size, "maxrss") / 2.0 ** 20, 1)) for size in sizes),
                          "maxrss_ratio": round(median(large, "maxrss") / float(median(small, "maxrss")), 3)}
        if len(sizes) > 1:
            summary[label]["maxrss_per_item_B"] = round((median(large, "maxrss") - median(small, "maxrss")) / extra, 1)
            if median(large, "traced_peak") is not None:
                summary[label]["traced_peak_per_item_B"] = round(
                    (median(large, "traced_peak") - median(small, "traced_peak")) / extra, 1)
            summary[label]["cpu_us_per_item"] = round(
                (median(large, "cpu_s") - median(small, "cpu_s")) / extra * 1e6, 2)
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
