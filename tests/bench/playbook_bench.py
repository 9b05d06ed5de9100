"""kubedr as users run it in `make bench` (issue 18 items 1 and 2): `ansible-playbook` with the collection
installed, the module shipped and started by Ansible (AnsiballZ), timed from the command's start to its end.

Two playbooks per direction:

- ``collection``: the collection's own ``kubedr.backup.backup`` / ``kubedr.backup.restore``, as documented
  (the module started as an async job and watched by ``kubedr.backup.wait_for_run``) with its default
  ``kubedr_poll_interval`` (the job is checked every second for its first 10 s, whatever the interval);
- ``direct``: a one-task playbook calling ``k8s_backup`` / ``k8s_restore`` in the foreground
  (tests/bench/playbooks/*_direct.yml): what ansible-playbook itself adds, without the async polling.

The S3 keys reach the module through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never a command line); the
other variables go in a JSON file given with ``-e @file``.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import testbed

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = {
    ("backup", "collection"): "kubedr.backup.backup",
    ("restore", "collection"): "kubedr.backup.restore",
    ("backup", "direct"): os.path.join(HERE, "playbooks", "backup_direct.yml"),
    ("restore", "direct"): os.path.join(HERE, "playbooks", "restore_direct.yml"),
}
BACKUP_LINE = re.compile(r"Backup \S+: (\w+), (\d+) items")
RESTORE_LINE = re.compile(r"Restore \S+ of backup \S+: (\w+),\s+(\d+) created")


class PlaybookFailed(RuntimeError):
    pass


def run_playbook(env, playbook, variables):
    """ansible-playbook of ``playbook`` with ``variables``; returns (stdout, seconds)."""
    testbed.ensure_collection_path()
    location = dict(variables.pop("kubedr_storage_location"))
    keys = {"AWS_ACCESS_KEY_ID": location.pop("access_key"), "AWS_SECRET_ACCESS_KEY": location.pop("secret_key")}
    variables.update(kubedr_storage_location=location, ansible_python_interpreter=sys.executable)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="kubedr-bench-vars-") as handle:
        json.dump(variables, handle)
        handle.flush()
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
               playbook, "-e", "@" + handle.name]
        started = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                              env=testbed.module_env(keys), timeout=3600)
        elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise PlaybookFailed("%s exited %d:\n%s" % (playbook, proc.returncode, proc.stdout[-3000:]))
    return proc.stdout, elapsed


def backup(env, style, location, name, included_namespaces):
    """Back up through a playbook; returns (items, seconds)."""
    variables = {"kubedr_storage_location": location, "kubedr_kubeconfig": env["KUBECONFIG"],
                 "kubedr_backup_name": name, "kubedr_included_namespaces": included_namespaces}
    out, secs = run_playbook(env, PLAYBOOKS[("backup", style)], variables)
    match = BACKUP_LINE.search(out)
    if not match or match.group(1) != "Completed":
        raise PlaybookFailed("backup %s did not complete:\n%s" % (name, out[-3000:]))
    return int(match.group(2)), secs


def restore(env, style, location, backup_name, namespace_mapping):
    """Restore through a playbook; returns (items created, seconds)."""
    variables = {"kubedr_storage_location": location, "kubedr_kubeconfig": env["KUBECONFIG"],
                 "kubedr_backup_name": backup_name, "kubedr_namespace_mapping": namespace_mapping}
    out, secs = run_playbook(env, PLAYBOOKS[("restore", style)], variables)
    match = RESTORE_LINE.search(out)
    if not match or match.group(1) != "Completed":
        raise PlaybookFailed("restore of %s did not complete:\n%s" % (backup_name, out[-3000:]))
    return int(match.group(2)), secs
