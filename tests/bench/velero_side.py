"""Real Velero beside kubedr in `make bench` (issue 18 item 1): the same objects, in the same run.

Velero runs out of cluster on the bench's own test bed (tests/integration/velero_bed.VeleroServer: the
release binary, `velero install` rendered and applied, `velero server` as a local process with
velero-plugin-for-aws, the test bed's MinIO as its BackupStorageLocation). Two servers, one after the other:

- ``default``: Velero's client settings as they ship (v1.16.2: client QPS 100, burst 100);
- ``tuned``: the knobs a user turns first, ``--client-qps 500 --client-burst 1000``.

For each: ``velero backup create --include-namespaces <the bench's namespaces> --wait`` and
``velero restore create --from-backup ... --namespace-mappings <each to a fresh one> --wait``, timed as a
user sees them (the CLI command from start to end), and the item counts read from the Backup and Restore
objects' status. Velero version: BENCH_VELERO_VERSION (default v1.16.2, the version of issue 18's table).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from velero_bed import VeleroServer  # noqa: E402

DEFAULT_VERSION = "v1.16.2"
TUNED_ARGS = ("--client-qps", "500", "--client-burst", "1000")
WAIT_TIMEOUT = 3600  # Velero's default restore runs at about 50 items/s here: 30,000 items take ten minutes


def timed_cli(server, *args):
    started = time.monotonic()
    server.cli(*args, timeout=WAIT_TIMEOUT)
    return time.monotonic() - started


def backup_and_restore(server, label, source_namespaces, target_namespaces, log):
    """Velero's backup of the namespaces, then its restore into the targets; the figures of both."""
    backup = "bench-velero-%s" % label
    restore = backup + "-restore"
    backup_s = timed_cli(server, "backup", "create", backup, "--include-namespaces", ",".join(source_namespaces),
                         "--snapshot-volumes=false", "--wait")
    made = server.wait_backup_phase(backup, ("Completed", "PartiallyFailed", "Failed"), timeout=60)
    backed_up = (made["status"].get("progress") or {}).get("itemsBackedUp", 0)
    log("Velero %s, %s: backup %s, %d items in %.1fs (%.0f/s)" % (
        server.version, label, made["status"]["phase"], backed_up, backup_s, backed_up / backup_s))
    mappings = ",".join("%s:%s" % pair for pair in zip(source_namespaces, target_namespaces))
    restore_s = timed_cli(server, "restore", "create", restore, "--from-backup", backup, "--namespace-mappings",
                          mappings, "--wait")
    done = server.wait_restore_phase(restore, ("Completed", "PartiallyFailed", "Failed"), timeout=60)
    restored = (done["status"].get("progress") or {}).get("itemsRestored", 0)
    log("Velero %s, %s: restore %s, %d items in %.1fs (%.0f/s), %s warnings, %s errors" % (
        server.version, label, done["status"]["phase"], restored, restore_s, restored / restore_s,
        done["status"].get("warnings", 0), done["status"].get("errors", 0)))
    return {"backup_s": round(backup_s, 2), "backup_items": backed_up, "backup_phase": made["status"]["phase"],
            "restore_s": round(restore_s, 2), "restore_items": restored, "restore_phase": done["status"]["phase"]}


def run(env, source_namespaces, target_prefix, log, namespaces_named):
    """Velero at its defaults, then tuned, on the same namespaces; ``namespaces_named(prefix, count)`` names the
    fresh restore targets. Returns {"version", "default": {...}, "tuned": {...}}."""
    version = os.environ.get("BENCH_VELERO_VERSION", DEFAULT_VERSION)
    report = {"version": version, "tuned_server_args": " ".join(TUNED_ARGS)}
    for label, server_args in (("default", ()), ("tuned", TUNED_ARGS)):
        targets = namespaces_named("%s-%s" % (target_prefix, label[0]), len(source_namespaces))
        uploader = "restic" if version.startswith("v1.16") else "kopia"
        with VeleroServer(version, env, server_args=server_args, uploader_type=uploader) as server:
            log("Velero %s (%s) running; waited %.0fs for the machine's Velero lock" % (
                version, label, server.lock.waited or 0))
            report[label] = backup_and_restore(server, label, source_namespaces, targets, log)
    return report
