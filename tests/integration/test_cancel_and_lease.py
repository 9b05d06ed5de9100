"""Cancellation and one run per name, as an operator meets them: ansible-playbook stopped with
SIGTERM mid-backup (an AWX cancel, a CronJob past its deadline), a second run of the same name
while the first runs, and the rerun after a killed run. Each backup is held in its pod's pre hook
until the test has done what it tests, so the runs are really in progress."""
import gzip
import json
import os
import re
import signal
import sys

import pytest

import testbed
from test_backup_support import delete_prefix, get_object, list_keys, read_tarball, s3_location
from test_backup_volumes import running_pod
from test_playbooks_support import configmaps, playbook, s3_env, unique
from test_progress import PlaybookOutput, blocking_hook
from test_testbed import wait_for


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "cancel")
    yield location
    delete_prefix(s3, location)


def held_namespace(core_v1, namespace, release):
    """Five ConfigMaps and a pod whose pre hook waits for ``release``."""
    configmaps(core_v1, namespace, count=5)
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "held", "annotations": {
            "pre.hook.backup.velero.io/command": blocking_hook(release),
            "pre.hook.backup.velero.io/timeout": "120s"}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}})
    running_pod(core_v1, namespace, "held")


def backup_vars(location, name, namespace):
    return {"kubedr_storage_location": dict((k, v) for k, v in location.items() if k not in ("access_key", "secret_key")),
            "kubedr_backup_name": name, "kubedr_included_namespaces": [namespace], "kubedr_poll_interval": 1}


def start_backup(bed, extra, async_dir):
    testbed.ensure_collection_path()
    env = dict(s3_env(bed), KUBECONFIG=bed["KUBECONFIG"], ANSIBLE_NOCOLOR="1", ANSIBLE_ASYNC_DIR=str(async_dir))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "kubedr.backup.backup", "-e", json.dumps(dict(extra, ansible_python_interpreter=sys.executable))]
    return PlaybookOutput(cmd, testbed.module_env(env))


def job_pid(async_dir, name):
    path = async_dir / ("kubedr-backup-%s.pid" % name)
    return int(path.read_text()) if path.exists() else None


def process_gone(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    with open("/proc/%d/stat" % pid) as handle:  # a zombie has ended too
        return handle.read().split(")")[-1].split()[0] == "Z"


def log_lines(s3, location, name):
    return gzip.decompress(get_object(s3, location, "backups/%s/%s-logs.gz" % (name, name))).decode().splitlines()


def test_sigterm_mid_backup_records_the_cancellation_and_the_rerun_completes(
        bed, s3, core_v1, namespace, location, tmp_path):
    release = tmp_path / "release"
    held_namespace(core_v1, namespace, release)
    name = unique("cancelled")
    extra = backup_vars(location, name, namespace)
    run = start_backup(bed, extra, tmp_path)
    try:
        run.wait_for_line(r"backup %s: [\d,]+ items \(InProgress\)" % name)
        pid = job_pid(tmp_path, name)
        assert pid, "the async job left no pid file for wait_for_run"
        run.proc.send_signal(signal.SIGTERM)  # what AWX's cancel does to ansible-playbook
        rc, output = run.finish()
        assert rc != 0
        release.touch()  # the hook in the pod ends; the job must now end on its own, cancelled
        wait_for(lambda: process_gone(pid), timeout=60, what="the cancelled backup's process to end")
    finally:
        release.touch()
        if run.proc.poll() is None:
            run.proc.kill()
    keys = list_keys(s3, location)
    assert "backups/%s/velero-backup.json" % name not in keys, "a cancelled backup must never be committed"
    assert "backups/%s/%s-lease.json" % (name, name) not in keys, "the cancelled run gave its lease back"
    progress = json.loads(get_object(s3, location, "backups/%s/%s-progress.json" % (name, name)))
    assert progress["phase"] == "Failed"
    assert any("cancelled by SIGTERM" in line and "level=error" in line for line in log_lines(s3, location, name))
    results = json.loads(gzip.decompress(get_object(s3, location, "backups/%s/%s-results.gz" % (name, name))))
    assert "cancelled by SIGTERM" in json.dumps(results["errors"])

    # The rerun of the same name (an AWX relaunch) completes; every item is in it once.
    out = playbook(bed, "kubedr.backup.backup", extra, env=s3_env(bed)).stdout
    assert "Backup %s: Completed" % name in out
    entries = [path for path, _data in read_tarball(get_object(s3, location, "backups/%s/%s.tar.gz" % (name, name)))
               if path.startswith("resources/configmaps/namespaces/") and "/cm-" in path]
    assert sorted(entries) == sorted(set(entries)) and len(entries) == 5


def test_a_second_run_of_the_name_fails_at_once_and_a_killed_runs_lease_is_taken_over(
        bed, s3, core_v1, namespace, location, tmp_path):
    release = tmp_path / "release"
    held_namespace(core_v1, namespace, release)
    name = unique("leased")
    extra = backup_vars(location, name, namespace)
    first = start_backup(bed, extra, tmp_path / "first")
    try:
        first.wait_for_line(r"backup %s: [\d,]+ items \(InProgress\)" % name)
        second = playbook(bed, "kubedr.backup.backup", extra, env=s3_env(bed), expect_ok=False).stdout
        assert "backup %s is being run already, by process %d on host" % (name, job_pid(tmp_path / "first", name)) \
            in second, second[-3000:]
        # The first run is killed outright (no chance to give its lease back)...
        pid = job_pid(tmp_path / "first", name)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: process_gone(pid), timeout=30, what="the killed backup's process to end")
        first.proc.send_signal(signal.SIGTERM)  # and its play stopped (its wait would poll a dead job)
        first.finish()
    finally:
        release.touch()
        if first.proc.poll() is None:
            first.proc.kill()
    assert "backups/%s/%s-lease.json" % (name, name) in list_keys(s3, location)
    # ...and its rerun on this host need not wait for the lease to expire: its holder is gone.
    out = playbook(bed, "kubedr.backup.backup", extra, env=s3_env(bed)).stdout
    assert "Backup %s: Completed" % name in out
    assert "backups/%s/%s-lease.json" % (name, name) not in list_keys(s3, location)


def test_sigterm_mid_restore_records_the_cancellation_and_a_rerun_converges(
        bed, s3, core_v1, namespace, location, tmp_path):
    release_backup, release_restore = tmp_path / "backup", tmp_path / "restore"
    release_backup.touch()
    held_namespace(core_v1, namespace, release_backup)
    core_v1.patch_namespaced_pod("held", namespace, {"metadata": {"annotations": {
        "post.hook.restore.velero.io/command": blocking_hook(release_restore),
        "post.hook.restore.velero.io/exec-timeout": "120s"}}})
    name = unique("to-restore")
    extra = backup_vars(location, name, namespace)
    playbook(bed, "kubedr.backup.backup", extra, env=s3_env(bed))
    target = namespace + "-r"
    restore_name = unique("cancelled-restore")
    restore_extra = dict(extra, kubedr_restore_name=restore_name, kubedr_namespace_mapping={namespace: target})
    testbed.ensure_collection_path()
    env = dict(s3_env(bed), KUBECONFIG=bed["KUBECONFIG"], ANSIBLE_NOCOLOR="1", ANSIBLE_ASYNC_DIR=str(tmp_path))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "kubedr.backup.restore", "-e", json.dumps(dict(restore_extra, ansible_python_interpreter=sys.executable))]
    run = PlaybookOutput(cmd, testbed.module_env(env))
    try:
        # Held in the restored pod's post-restore hook, once every item is created.
        run.wait_for_line(r"restore %s: [\d,]+/[\d,]+ items \(InProgress\)" % restore_name)
        pid_file = tmp_path / ("kubedr-restore-%s.pid" % restore_name)
        pid = int(pid_file.read_text())
        run.proc.send_signal(signal.SIGTERM)
        rc, _output = run.finish()
        assert rc != 0
        wait_for(lambda: process_gone(pid), timeout=60, what="the cancelled restore's process to end")
    finally:
        release_restore.touch()
        if run.proc.poll() is None:
            run.proc.kill()
    try:
        records = "restores/%s/restore-%s" % (restore_name, restore_name)
        progress = json.loads(get_object(s3, location, records + "-progress.json"))
        assert progress["phase"] == "Failed"
        log = gzip.decompress(get_object(s3, location, records + "-logs.gz")).decode()
        assert "cancelled by SIGTERM" in log
        assert "restores/%s/restore-%s-lease.json" % (restore_name, restore_name) not in list_keys(s3, location)
        # A new run (the playbook names each one) converges: what the first created is skipped, nothing doubles.
        out = playbook(bed, "kubedr.backup.restore", dict(restore_extra, kubedr_restore_name=restore_name + "-2"),
                       env=s3_env(bed)).stdout
        assert re.search(r"Restore %s-2 of backup %s: Completed" % (restore_name, name), out), out[-3000:]
        assert sorted(c.metadata.name for c in core_v1.list_namespaced_config_map(target).items
                      if c.metadata.name.startswith("cm-")) == ["cm-%d" % i for i in range(5)]
    finally:
        core_v1.delete_namespace(target)
