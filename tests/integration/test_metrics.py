"""Prometheus metrics as a user sees them: real backup, restore and gc runs of the collection's playbooks push
to a real Pushgateway (started here on a free port) and write a node-exporter textfile; the values read back
from the Pushgateway's /metrics are computed from the bucket, so a second backup counts two, and a Pushgateway
restarted empty gets the same numbers back at the next run (Velero's counters reset, velero#7951)."""
import os
import subprocess
import time
import urllib.request

import pytest

import testbed
from test_playbooks_support import delete_prefix, location_vars, playbook, recap, s3_env, unique
import test_loud_failures

from ansible_collections.kubedr.backup.plugins.module_utils.metrics.exposition import sample_values


doomed = test_loud_failures.doomed  # the fixture: namespaces a test creates through a restore, deleted afterwards


class Pushgateway(object):
    """A real Pushgateway process (the test bed's binary, hack/testbed/build-binaries.sh)."""

    def __init__(self, workdir):
        self.port = testbed.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = os.path.join(workdir, "pushgateway-%d.log" % self.port)
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["pushgateway", "--web.listen-address=127.0.0.1:%d" % self.port],
                                         stdout=log, stderr=subprocess.STDOUT)
        testbed.wait_for(self._ready, timeout=30, interval=0.1, what="the Pushgateway on port %d" % self.port)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("the Pushgateway exited: %s" % open(self.log).read()[-2000:])
        try:
            return urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def values(self):
        """{(name, labels): value} of what Prometheus would scrape from it."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            return sample_values(response.read().decode())


@pytest.fixture
def gateway(tmp_path):
    started = Pushgateway(str(tmp_path)).start()
    yield started
    started.stop()


@pytest.fixture
def location(storage_location, s3, request):
    location = location_vars(storage_location, "metrics")
    yield location
    delete_prefix(s3, location)


def value(values, name, **labels):
    """The value of the sample named `name` whose labels include `labels` (None when there is none)."""
    wanted = set(labels.items())
    found = [v for (n, pairs), v in values.items() if n == name and wanted <= set(pairs)]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def test_metrics_after_backup_restore_and_gc_runs(bed, core_v1, namespace, location, gateway, tmp_path, doomed):
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    schedule = unique("metrics")
    cluster = unique("cluster")
    textfile = str(tmp_path / "kubedr.prom")
    publish = {"kubedr_storage_location": location, "kubedr_pushgateway_url": gateway.url,
               "kubedr_pushgateway_grouping": {"cluster": cluster}, "kubedr_poll_interval": 1}
    backup = dict(publish, kubedr_schedule_name=schedule, kubedr_included_namespaces=[namespace])
    started = time.time()

    first_vars = dict(backup, kubedr_backup_name=schedule + "-20260101000000", kubedr_metrics_textfile=textfile)
    first = playbook(bed, "kubedr.backup.backup", first_vars, env=s3_env(bed)).stdout
    assert "Metrics of 1 backups and 0 restores pushed to %s/metrics/job/kubedr/cluster/%s" % (gateway.url, cluster) in first
    values = gateway.values()
    assert value(values, "velero_backup_success_total", schedule=schedule, cluster=cluster, job="kubedr") == 1
    assert value(values, "velero_backup_attempt_total", schedule=schedule) == 1
    assert value(values, "velero_backup_failure_total", schedule=schedule) == 0
    assert value(values, "velero_backup_last_status", schedule=schedule) == 1
    assert value(values, "kubedr_backup_last_phase", schedule=schedule, phase="Completed") == 1
    assert value(values, "velero_backup_items_total", schedule=schedule) >= 2  # the namespace and its ConfigMap
    assert started - 5 <= value(values, "velero_backup_last_successful_timestamp", schedule=schedule) <= time.time() + 5
    assert value(values, "velero_backup_duration_seconds_count", schedule=schedule) == 1
    assert value(values, "velero_backup_tarball_size_bytes", schedule=schedule) > 0
    assert value(values, "kubedr_backup_volume_bytes", schedule=schedule) == 0
    with open(textfile) as f:
        written = sample_values(f.read())
    assert value(written, "velero_backup_success_total", schedule=schedule) == 1

    # A second backup: counted from the bucket, so two; the schedule now has an interval.
    playbook(bed, "kubedr.backup.backup", dict(backup, kubedr_backup_name=schedule + "-20260101000100", kubedr_ttl="1s"),
             env=s3_env(bed))
    values = gateway.values()
    assert value(values, "velero_backup_success_total", schedule=schedule) == 2
    assert value(values, "velero_backup_total", cluster=cluster) == 2
    assert value(values, "velero_backup_duration_seconds_count", schedule=schedule) == 2
    assert value(values, "kubedr_schedule_interval_seconds", schedule=schedule) is not None

    # The Pushgateway restarts empty; the next run (a restore) pushes the same counts back, and its restore.
    gateway.stop()
    gateway.start()
    assert value(gateway.values(), "velero_backup_success_total", schedule=schedule) is None
    target = doomed(unique("metrics-target"))
    restore_vars = dict(publish, kubedr_backup_name=schedule + "-20260101000000", kubedr_namespace_mapping={namespace: target})
    restored = playbook(bed, "kubedr.backup.restore", restore_vars, env=s3_env(bed)).stdout
    assert recap(restored).get("failed") == 0
    values = gateway.values()
    assert value(values, "velero_backup_success_total", schedule=schedule) == 2
    assert value(values, "velero_restore_success_total", schedule=schedule) == 1
    assert value(values, "velero_restore_attempt_total", schedule=schedule) == 1
    assert value(values, "kubedr_restore_last_phase", schedule=schedule, phase="Completed") == 1

    # gc deletes the backup whose ttl (1s) passed: its outcome goes to the group with run="gc".
    testbed.wait_for(lambda: time.time() > started + 2, timeout=10, interval=0.2, what="the 1s ttl to pass")
    collected = playbook(bed, "kubedr.backup.gc", dict(publish, kubedr_schedule_name=schedule), env=s3_env(bed)).stdout
    assert "1 of 2 backups expired" in collected
    values = gateway.values()
    assert value(values, "kubedr_gc_last_run_success", run="gc", cluster=cluster) == 1
    assert value(values, "kubedr_gc_deleted_backups", run="gc") == 1
    assert value(values, "kubedr_gc_last_success_timestamp_seconds", run="gc") >= started
    assert value(values, "kubedr_gc_expired_backups", cluster=cluster) == 0
    assert value(values, "velero_backup_total", cluster=cluster) == 1  # the counts are what the bucket holds
    assert value(values, "velero_backup_success_total", schedule=schedule) == 1


def test_a_failed_run_still_publishes(bed, location, gateway):
    schedule = unique("metrics-fail")
    # A backup the module refuses (a ttl that is no duration): the play fails, and the metrics are published anyway.
    failed = playbook(bed, "kubedr.backup.backup", {
        "kubedr_storage_location": location, "kubedr_schedule_name": schedule, "kubedr_ttl": "soon",
        "kubedr_pushgateway_url": gateway.url, "kubedr_included_namespaces": ["default"], "kubedr_poll_interval": 1},
        env=s3_env(bed), expect_ok=False).stdout
    assert recap(failed).get("failed") == 1, failed[-3000:]
    assert "ttl 'soon' is not a duration" in failed
    assert "Metrics of 0 backups and 0 restores pushed to" in failed
    assert value(gateway.values(), "velero_backup_total") == 0
