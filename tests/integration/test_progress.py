"""Live progress as a user watches it: ansible-playbook's own output while a backup with volume
data runs, and the progress objects the runs leave. The backup is held at two known points (a
pre hook and a post hook that wait for a file the test creates once it has read the line it
expects), so the test reads the lines of a run that is really in progress, whatever the speed
of the machine."""
import json
import os
import queue
import re
import subprocess
import sys
import threading
import uuid

import pytest

import testbed
from test_backup_support import get_object, s3_location, delete_prefix
from test_backup_volumes import db_pod
# The node-agent DaemonSet fixture of the fs_backup engine tests.
from test_fs_backup_engine import node_agent  # noqa: F401 pylint: disable=unused-import
from test_playbooks_support import configmaps, playbook, s3_env, unique

PASSWORD = "progress-" + uuid.uuid4().hex
VOLUME_BYTES = 6 * 1024 * 1024


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "progress")
    yield location
    delete_prefix(s3, location)


def blocking_hook(release):
    return json.dumps(["/bin/sh", "-c", "while [ ! -e %s ]; do sleep 0.1; done" % release])


class PlaybookOutput(object):
    """ansible-playbook started in the background; its lines as they come."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, pattern, timeout=90):
        """The first match of pattern in a line printed from now on; fails if the play ends first."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("no line matching %r within %ss:\n%s" % (pattern, timeout, "".join(self.lines)[-4000:]))
            if line is None:
                raise AssertionError("the play ended before a line matched %r:\n%s" % (pattern, "".join(self.lines)[-4000:]))
            self.lines.append(line)
            match = regex.search(line)
            if match:
                return match

    def finish(self, timeout=300):
        self.proc.wait(timeout)
        self._reader.join(10)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return self.proc.returncode, "".join(self.lines)


def test_backup_and_restore_print_progress_lines_not_retries(bed, s3, core_v1, namespace, location, node_agent,  # noqa: F811
                                                             tmp_path):
    release_pre, release_post = tmp_path / "pre", tmp_path / "post"
    configmaps(core_v1, namespace, count=30)
    _pod, directory = db_pod(bed, core_v1, namespace, {
        "backup.velero.io/backup-volumes": "data",
        "pre.hook.backup.velero.io/command": blocking_hook(release_pre),
        "pre.hook.backup.velero.io/timeout": "120s",
        "post.hook.backup.velero.io/command": blocking_hook(release_post),
        "post.hook.backup.velero.io/timeout": "120s",
    }, [{"name": "data", "emptyDir": {}}])
    with open(os.path.join(directory, "blob"), "wb") as handle:
        handle.write(os.urandom(VOLUME_BYTES))
    name = unique("progress")
    location_vars = dict((k, v) for k, v in location.items() if k not in ("access_key", "secret_key"))
    extra = {"ansible_python_interpreter": sys.executable, "kubedr_storage_location": location_vars,
             "kubedr_backup_name": name, "kubedr_included_namespaces": [namespace], "kubedr_poll_interval": 1,
             "kubedr_node_agent": {"namespace": node_agent.namespace, "host_pods_path": node_agent.host_pods_path}}
    env = dict(s3_env(bed), KUBECONFIG=bed["KUBECONFIG"], ANSIBLE_NOCOLOR="1", KUBEDR_REPOSITORY_PASSWORD=PASSWORD)
    testbed.ensure_collection_path()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "kubedr.backup.backup", "-e", json.dumps(extra)]
    run = PlaybookOutput(cmd, testbed.module_env(env))
    try:
        # Held in the pod's pre hook: the items taken so far are counted, the phase is InProgress.
        run.wait_for_line(r"backup %s: [1-9][\d,]* items \(InProgress\), \d+s elapsed" % name)
        release_pre.touch()
        # Held in the post hook, after the volume: its bytes are in the line.
        run.wait_for_line(r"backup %s: [\d,]+ items; volumes 1/1, 6\.0/6\.0 MiB \(InProgress\)" % name)
        release_post.touch()
        rc, output = run.finish()
    finally:
        release_pre.touch()
        release_post.touch()
        if run.proc.poll() is None:
            run.proc.kill()
    assert rc == 0, output[-4000:]
    assert "FAILED - RETRYING" not in output
    assert re.search(r"Backup %s: Completed, \d+ items" % name, output), output[-3000:]

    stored = json.loads(get_object(s3, location, "backups/%s/%s-progress.json" % (name, name)))
    assert stored["phase"] == "Completed" and stored["itemsBackedUp"] == stored["totalItems"] >= 32
    assert stored["volumes"] == {"total": 1, "done": 1, "failed": 0, "bytesDone": VOLUME_BYTES,
                                 "totalBytes": VOLUME_BYTES}

    # The restore of its ConfigMaps elsewhere: its own progress object, no retry lines either.
    target = namespace + "-r"
    restore_name = unique("progress-restore")
    restore_vars = {"kubedr_storage_location": location_vars, "kubedr_backup_name": name,
                    "kubedr_included_resources": ["configmaps"], "kubedr_namespace_mapping": {namespace: target},
                    "kubedr_poll_interval": 1}
    try:
        # The preview first: counts per namespace and action, then only what would change.
        preview = playbook(bed, "kubedr.backup.restore", restore_vars, env=s3_env(bed), check=True).stdout
        assert re.search(r'"%s: create 3[01]\b' % target, preview), preview[-3000:]
        assert "create v1/ConfigMap %s/cm-29" % target in preview
        assert "skip_identical" not in preview
        out = playbook(bed, "kubedr.backup.restore", dict(restore_vars, kubedr_restore_name=restore_name),
                       env=s3_env(bed)).stdout
        assert "FAILED - RETRYING" not in out
        restored = json.loads(get_object(s3, location,
                                         "restores/%s/restore-%s-progress.json" % (restore_name, restore_name)))
        assert restored["phase"] == "Completed" and restored["backup"] == name
        assert restored["itemsRestored"] >= 31 and restored["totalItems"] == stored["totalItems"]
        assert len([c for c in core_v1.list_namespaced_config_map(target).items
                    if c.metadata.name.startswith("cm-")]) == 30
    finally:
        core_v1.delete_namespace(target)
