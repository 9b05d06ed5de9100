"""A storage location on a local directory holding backups and restores as the collection writes
them (Velero's layout), for the metrics' reader; and where the test bed's promtool is."""
import gzip
import json
import os
import shutil

from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys, restore_keys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def commit_backup(store, name, phase, started, completed, schedule=None, items=5, errors=0, warnings=0,
                  expiration="2099-01-01T00:00:00Z", volume_bytes=None, tarball=b"t" * 100):
    keys = backup_keys(name)
    store.put_bytes(keys["tarball"], tarball)
    if volume_bytes is not None:
        store.put_json_gz(keys["pod_volume_backups"], [
            {"status": {"phase": "Completed", "progress": {"totalBytes": volume_bytes, "bytesDone": volume_bytes}}}])
    labels = {"velero.io/schedule-name": schedule} if schedule else {}
    store.put_bytes(keys["metadata"], json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero", "labels": labels, "creationTimestamp": started},
        "status": {"phase": phase, "startTimestamp": started, "completionTimestamp": completed, "expiration": expiration,
                   "progress": {"totalItems": items, "itemsBackedUp": items}, "errors": errors, "warnings": warnings},
    }).encode())


def failed_backup(store, name, started, updated):
    """What a failed run leaves: its log, results and a progress object saying Failed; no commit marker."""
    keys = backup_keys(name)
    store.put_bytes(keys["logs"], gzip.compress(b'time="%s" level=error msg="Backup failed"\n' % updated.encode()))
    store.put_json_gz(keys["results"], {"errors": {"velero": ["backup failed: boom"], "cluster": [], "namespaces": {}}})
    store.put_bytes(keys["progress"], json.dumps({"phase": "Failed", "startTimestamp": started,
                                                  "updateTimestamp": updated, "itemsBackedUp": 3}).encode())


def running_backup(store, name, started):
    store.put_bytes(backup_keys(name)["progress"], json.dumps({"phase": "InProgress", "startTimestamp": started}).encode())


def restore_record(store, name, backup, started, phase=None, failed_reason=None, created=2, updated=1):
    lines = ['time="%s" level=info msg="Starting restore" restore=velero/%s backup=%s' % (started, name, backup)]
    if phase:
        lines.append('time="%s" level=info msg="Restore completed" restore=velero/%s created=%d failed=0 phase=%s '
                     'skipped=0 updated=%d' % (started, name, created, phase, updated))
    if failed_reason:
        lines.append('time="%s" level=error msg="Restore failed" restore=velero/%s reason="%s"' % (started, name, failed_reason))
    store.put_bytes(restore_keys(name)["logs"], gzip.compress(("\n".join(lines) + "\n").encode()))
    store.put_json_gz(restore_keys(name)["results"], {"errors": {"velero": [], "cluster": [], "namespaces": {}}})


def promtool():
    """The test bed's promtool (built by hack/testbed/build-binaries.sh, `make deps`)."""
    found = shutil.which("promtool")
    if found:
        return found
    env = os.path.join(REPO, ".testbed", "tools.env")
    if os.path.exists(env):
        with open(env) as f:
            for line in f:
                if line.startswith("export KUBEDR_BIN_DIR="):
                    candidate = os.path.join(line.strip().split("=", 1)[1], "promtool")
                    if os.access(candidate, os.X_OK):
                        return candidate
    raise AssertionError("promtool not found: run `make deps` (hack/testbed/build-binaries.sh builds it)")
