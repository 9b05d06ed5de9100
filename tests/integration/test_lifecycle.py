"""A month of nights in minutes: the schedule role's CronJob command, run as its pod would run it (exactly its
container command, exactly its environment read back from the API server with the Secret's values), night after
night on an application whose pod volume files are added, modified and deleted and whose ConfigMaps, Secrets and
pods come and go; backups expire after a few seconds and the gc the command runs after each backup deletes them.

After every night: the backup is Completed with a Completed PodVolumeBackup record for each volume; gc deleted
exactly the backups whose stored expiration had passed (the test waits for one to pass before each night, polling
the stored expiration); the bucket holds nothing of a backup no longer listed (every key under backups/ and
restic/, every restic snapshot tagged with a live backup, each live backup with one snapshot per volume); the
forgotten data is pruned (the blobs of deleted nights' files are gone from the repository). At the end, `restic
check` passes on every repository, the newest backup restored with schedule_name into a fresh namespace equals
the last night's state, and an older live one equals its night's state. The figures are printed as a JSON line."""
import datetime
import hashlib
import json
import os
import re
import subprocess
import time
import uuid

import test_schedule
from kubelet_sim import KubeletVolumes, volume_dirs
from test_gc import restic_env
from test_playbooks_support import backups, delete_quietly, role, run_argv, unique
from test_schedule import PASSWORD, cronjob_env, running_pod
from testbed import run_module, wait_for

# The schedule tests' fixtures: a schedule in namespaces of its own, and the node agent in its node agent namespace.
schedule = test_schedule.schedule
node_agent = test_schedule.node_agent

NIGHTS = 10
TTL_SECONDS = 45  # three or four nights: each gc finds some backups expired and some live
LAG = 4  # before night i, the backup of night i-LAG has expired (waited for): each gc has something to delete
WORKER_NIGHTS = range(3, 7)  # a second pod with a volume exists only on these nights
MARKER_DIR = ".velero"  # the restore marker Velero's restore helper waits for; not part of the application's data
GC_LINE = re.compile(r'"msg": "(\d+) of (\d+) backups expired: ([^"]*)"')


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tree(directory):
    """{relative path: bytes} of the files under the directory, the restore marker left out."""
    files = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not (root == directory and d == MARKER_DIR)]
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, directory)] = handle.read()
    return files


def write(directory, relative, data):
    path = os.path.join(directory, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def remove(directory, relative):
    path = os.path.join(directory, relative)
    if os.path.exists(path):
        os.remove(path)


def live_pods(core_v1, namespace):
    return [p for p in core_v1.list_namespaced_pod(namespace).items if p.metadata.deletion_timestamp is None]


def state(bed, core_v1, namespace):
    """What a backup of the namespace must hold: ConfigMaps and Opaque Secrets (name -> data), and each pod's
    volumes (pod -> volume -> files)."""
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    pods = {}
    for pod in live_pods(core_v1, namespace):
        pods[pod.metadata.name] = dict((os.path.basename(d), tree(d)) for d in volume_dirs(core_v1, pod, host_pods))
    return {
        "configmaps": dict((c.metadata.name, c.data or {}) for c in core_v1.list_namespaced_config_map(namespace).items
                           if c.metadata.name != "kube-root-ca.crt"),
        "secrets": dict((s.metadata.name, s.data or {}) for s in core_v1.list_namespaced_secret(namespace).items
                        if s.type == "Opaque"),
        "pods": pods,
    }


def volumes_of(night_state):
    return sorted((pod, volume) for pod, volumes in night_state["pods"].items() for volume in volumes)


class Application(object):
    """The application of the test: pod db (volumes data and logs) always, pod worker (volume scratch) on some
    nights; ConfigMaps and Secrets created, changed and deleted night after night."""

    def __init__(self, bed, core_v1, namespace):
        self.bed, self.core_v1, self.namespace = bed, core_v1, namespace
        self.node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
        self.dirs = {}
        self.run_blobs = {}  # night -> restic blob id of logs/run.bin, a file only that night's backup holds

    def start_pod(self, name, volumes):
        self.core_v1.create_namespaced_pod(self.namespace, {
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": self.node, "containers": [{"name": "main", "image": "busybox"}],
                     "volumes": [{"name": v, "emptyDir": {}} for v in volumes]}})
        pod = running_pod(self.core_v1, self.namespace, name)
        for directory in volume_dirs(self.core_v1, pod, self.bed["KUBEDR_HOST_PODS_DIR"]):
            os.makedirs(directory)
            self.dirs[(name, os.path.basename(directory))] = directory

    def stop_pod(self, name):
        self.core_v1.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        wait_for(lambda: name not in [p.metadata.name for p in self.core_v1.list_namespaced_pod(self.namespace).items],
                 what="pod %s to go" % name)
        self.dirs = dict((k, v) for k, v in self.dirs.items() if k[0] != name)

    def night(self, night):
        """The day's changes before the night's backup."""
        core_v1, namespace = self.core_v1, self.namespace
        if night == 0:
            self.start_pod("db", ["data", "logs"])
        if night == WORKER_NIGHTS[0]:
            self.start_pod("worker", ["scratch"])
        if night == WORKER_NIGHTS[-1] + 1:
            self.stop_pod("worker")
        data, logs = self.dirs[("db", "data")], self.dirs[("db", "logs")]
        write(data, "counter.txt", ("night %d %s\n" % (night, uuid.uuid4().hex)).encode())  # modified
        write(data, "days/day-%02d.txt" % night, ("day %d\n" % night).encode())  # added
        remove(data, "days/day-%02d.txt" % (night - 3))  # deleted
        with open(os.path.join(logs, "journal.log"), "ab") as handle:  # grows
            handle.write(("entry of night %d\n" % night).encode())
        run_bin = os.urandom(96 * 1024)  # one chunk: its blob id is its SHA-256
        write(logs, "run.bin", run_bin)
        self.run_blobs[night] = hashlib.sha256(run_bin).hexdigest()
        if ("worker", "scratch") in self.dirs:
            write(self.dirs[("worker", "scratch")], "work-%d.txt" % (night % 2), ("work %d\n" % night).encode())

        settings = {"metadata": {"name": "settings"}, "data": {"night": str(night)}}
        if night == 0:
            core_v1.create_namespaced_config_map(namespace, settings)
        else:
            core_v1.replace_namespaced_config_map("settings", namespace, settings)
        core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "day-%02d" % night},
                                                         "data": {"day": str(night)}})
        if night >= 2:
            core_v1.delete_namespaced_config_map("day-%02d" % (night - 2), namespace)
        token = {"metadata": {"name": "rotating"}, "stringData": {"token": uuid.uuid4().hex}}
        if night == 0:
            core_v1.create_namespaced_secret(namespace, token)
        else:
            core_v1.replace_namespaced_secret("rotating", namespace, token)
        if night % 2 == 0:
            core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "even"}, "stringData": {"n": str(night)}})
        elif night > 0:
            core_v1.delete_namespaced_secret("even", namespace)
        return state(self.bed, core_v1, namespace)


def restic_json(bed, location, repository, *args):
    proc = subprocess.run(["restic", "--no-cache"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=restic_env(bed, location, repository, PASSWORD), check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def bucket_keys(s3, location):
    prefix = location["prefix"] + "/"
    return sorted(entry["Key"][len(prefix):] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location["bucket"], Prefix=prefix) for entry in page.get("Contents") or [])


def audit_bucket(bed, s3, location, live, restores=()):
    """Every object belongs to a live backup, a restore of one, or a restic repository (no lock left); every
    snapshot is tagged with a live backup, each live backup having one snapshot a volume of its night.
    Returns (objects, snapshots, repositories)."""
    keys = bucket_keys(s3, location)
    repositories = sorted(set(k.split("/")[1] for k in keys if k.startswith("restic/")))
    strays = [k for k in keys if not (
        (k.startswith("backups/") and k.split("/")[1] in live) or (k.startswith("restores/") and k.split("/")[1] in restores)
        or (k.startswith("restic/") and k.split("/")[2] != "locks"))]
    assert strays == [], "objects of no live backup: %s" % strays
    for name in live:
        assert "backups/%s/velero-backup.json" % name in keys
    tags = []
    for repository in repositories:
        snapshots = json.loads(restic_json(bed, location, repository, "snapshots", "--json") or "[]")
        tags += [t for s in snapshots for t in s.get("tags") or [] if t.startswith("backup=")]
    expected = sorted("backup=" + name for name, volumes in live.items() for unused in volumes)
    assert sorted(tags) == expected, "snapshots do not match the live backups' volumes"
    return len(keys), len(tags), repositories


def blobs(bed, location, repository):
    return set(line.split()[1] for line in restic_json(bed, location, repository, "list", "blobs").splitlines())


def pod_volume_records(s3, location, name):
    import gzip

    key = "%s/backups/%s/%s-podvolumebackups.json.gz" % (location["prefix"], name, name)
    return json.loads(gzip.decompress(s3.get_object(Bucket=location["bucket"], Key=key)["Body"].read()))


def restored_state(bed, core_v1, s3, location, node_agent, source, expected, **selector):
    """Restore into a fresh namespace (namespace_mapping) with the volume data; the state found there."""
    target = unique("lifecycle-restored")
    name = unique("restore")
    with KubeletVolumes(core_v1, target, bed["KUBEDR_HOST_PODS_DIR"]):
        result = run_module("k8s_restore", dict(
            selector, name=name, namespace_mapping={source: target}, repository_password=PASSWORD,
            node_agent=node_agent, kubeconfig=bed["KUBECONFIG"], storage_location=dict(
                location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])))
        assert not result.failed, result.get("msg")
        assert result["phase"] == "Completed", result.get("restore_errors")
        wait_for(lambda: sorted(p.metadata.name for p in live_pods(core_v1, target)
                                if p.status.phase == "Running") == sorted(expected["pods"]),
                 what="the restored pods running in %s" % target)
        return target, name, result, state(bed, core_v1, target)


def test_a_month_of_nights(bed, api_client, core_v1, s3, schedule, node_agent, namespace, tmp_path):
    began = time.monotonic()
    role(bed, "schedule", dict(schedule, schedule_ttl="%ds" % TTL_SECONDS, schedule_poll_interval=1, schedule_backup_options={
        "included_namespaces": [namespace], "default_volumes_to_fs_backup": True,
        "node_agent": {"host_pods_path": node_agent["host_pods_path"]}}, schedule_extra_vars={"kubedr_restic_prune": True}))
    container, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)
    assert env["KUBEDR_REPOSITORY_PASSWORD"] == PASSWORD and PASSWORD not in json.dumps(container.command)
    location = schedule["schedule_storage_location"]
    app = Application(bed, core_v1, namespace)

    expected, live, deleted, night_seconds, pruned_runs = {}, {}, [], [], 0
    made = []  # backup names in the order of the nights
    for night in range(NIGHTS):
        expected_state = app.night(night)
        if night >= LAG and made[night - LAG] in live:  # it expires before this night's gc: wait for its stored expiration
            stamp = live[made[night - LAG]]["expiration"]
            wait_for(lambda: stamp < utc_now(), timeout=TTL_SECONDS + 30, interval=0.2,
                     what="the TTL of %s to pass" % made[night - LAG])
        before, started = utc_now(), time.monotonic()
        proc = run_argv(container.command, env)
        night_seconds.append(time.monotonic() - started)
        print("night %d: %.1fs" % (night, night_seconds[-1]))
        after = utc_now()
        assert proc.returncode == 0, proc.stdout[-6000:]
        assert PASSWORD not in proc.stdout and bed["KUBEDR_S3_SECRET_KEY"] not in proc.stdout

        listed = backups(bed, location)
        (name,) = [n for n in listed if n not in live]
        assert re.match("^%s-[0-9]{14}$" % schedule["schedule_name"], name)
        backup = listed[name]
        assert backup["phase"] == "Completed", proc.stdout[-6000:]
        records = pod_volume_records(s3, location, name)
        assert sorted((r["spec"]["pod"]["name"], r["spec"]["volume"]) for r in records) == volumes_of(expected_state)
        assert all(r["status"]["phase"] == "Completed" and r["status"]["snapshotID"] for r in records), records

        # gc deleted exactly what it listed as expired: whatever had expired before the command started, nothing
        # expiring after it ended (the stored expirations decide; gc compares whole seconds).
        (count, total, names), = GC_LINE.findall(proc.stdout)
        expired = [n for n in names.split(", ") if n]
        assert int(count) == len(expired) and int(total) == len(live) + 1
        assert "0 unfinished deletions" in proc.stdout
        expirations = dict((n, b["expiration"]) for n, b in live.items())
        assert set(expired) <= set(expirations) and all(expirations[n] < after for n in expired), (expired, expirations)
        assert sorted(n for n, stamp in expirations.items() if stamp < before) == sorted(
            n for n in expired if expirations[n] < before)
        if night >= LAG:
            assert made[night - LAG] in expired + deleted
        for gone in expired:
            del live[gone]
            deleted.append(gone)
        live[name] = backup
        made.append(name)
        expected[name] = expected_state
        assert sorted(listed) == sorted(live)

        objects, snapshots, repositories = audit_bucket(
            bed, s3, location, dict((n, volumes_of(expected[n])) for n in live))
        assert repositories == [namespace]
        if expired:  # the schedule prunes: the data only the deleted nights held is gone from the repository
            assert "TASK [Prune the repositories the deletions forgot snapshots in]" in proc.stdout
            pruned_runs += 1
            present = blobs(bed, location, namespace)
            for index, backup_name in enumerate(made):
                assert (app.run_blobs[index] in present) == (backup_name in live), (backup_name, "pruned?")

    for repository in repositories:
        assert "no errors were found" in restic_json(bed, location, repository, "check", "--read-data")
    assert len(live) >= 2 and len(deleted) >= NIGHTS - LAG, (sorted(live), deleted)

    # The newest, by schedule name, into a fresh namespace: the last night's state.
    newest, older = made[-1], [n for n in made if n in live][0]
    restored = []
    try:
        target, newest_restore, result, found = restored_state(
            bed, core_v1, s3, location, node_agent, namespace, expected[newest], schedule_name=schedule["schedule_name"])
        restored.append(target)
        assert result["backup_name"] == newest
        assert found == expected[newest]
        # An older live one: its own night's state, not the last one's.
        assert expected[older] != expected[newest]
        target, older_restore, result, found = restored_state(
            bed, core_v1, s3, location, node_agent, namespace, expected[older], backup_name=older)
        restored.append(target)
        assert found == expected[older]
        objects, snapshots, repositories = audit_bucket(bed, s3, location, dict(
            (n, volumes_of(expected[n])) for n in live), restores=(newest_restore, older_restore))
    finally:
        for target in restored:
            delete_quietly(core_v1.delete_namespace, target)

    figures = {"lifecycle": {
        "runs": NIGHTS, "ttl_seconds": TTL_SECONDS, "backups_made": len(made), "backups_kept": len(live),
        "backups_deleted": len(deleted), "gc_runs_that_pruned": pruned_runs, "snapshots_made": sum(
            len(volumes_of(s)) for s in expected.values()), "snapshots_kept": snapshots, "bucket_objects": objects,
        "restic_repositories": len(repositories), "seconds_per_run": round(sum(night_seconds) / len(night_seconds), 1),
        "duration_seconds": round(time.monotonic() - began, 1)}}
    print("\nlifecycle: %(runs)d runs, %(backups_kept)d backups kept, %(backups_deleted)d deleted, %(snapshots_kept)d "
          "snapshots (%(snapshots_made)d made), %(bucket_objects)d bucket objects, %(duration_seconds)ss" % figures["lifecycle"])
    print(json.dumps(figures, sort_keys=True))
