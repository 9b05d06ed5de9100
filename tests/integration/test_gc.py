"""kubedr.backup.gc (ansible-playbook, the collection installed) on backups holding pod volume data made by the
product itself (the node agent role, k8s_backup with file-system backup): expired backups go whole - objects,
restic snapshots, their restores' records - and live ones stay whole; a repository that cannot be opened or is
locked mid-deletion never leaves a backup listed with its volume data gone, and the next run finishes the job."""
import contextlib
import datetime
import json
import os
import subprocess
import sys
import uuid

import pytest

import testbed
from test_playbooks_support import backups, delete_prefix, delete_quietly, location_vars, playbook, s3_env, unique
from testbed import wait_for

PASSWORD = "gc-" + uuid.uuid4().hex
NODE_AGENT_PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "node_agent.yml")


@pytest.fixture(scope="module")
def node_agent(bed, core_v1):
    """The restic node agent of roles/node_agent, in a namespace of its own, removed afterwards."""
    namespace = unique("gc-node-agent")
    extra = dict(ansible_python_interpreter=sys.executable, node_agent_kubeconfig=bed["KUBECONFIG"],
                 node_agent_namespace=namespace, node_agent_repository_password=PASSWORD,
                 node_agent_s3_access_key=bed["KUBEDR_S3_ACCESS_KEY"], node_agent_s3_secret_key=bed["KUBEDR_S3_SECRET_KEY"],
                 node_agent_s3_region="us-east-1", node_agent_host_pods_mount=bed["KUBEDR_HOST_PODS_DIR"],
                 node_agent_wait_timeout=120)
    proc = testbed.run_playbook(NODE_AGENT_PLAYBOOK, extra, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    yield {"namespace": namespace, "host_pods_path": bed["KUBEDR_HOST_PODS_DIR"]}
    delete_quietly(core_v1.delete_namespace, namespace)


@pytest.fixture
def location(storage_location, s3, request):
    location = location_vars(storage_location, request.node.name[5:30])
    yield location
    delete_prefix(s3, location)


@pytest.fixture
def other_namespace(core_v1):
    name = unique("gc-other")
    core_v1.create_namespace({"metadata": {"name": name}})
    yield name
    delete_quietly(core_v1.delete_namespace, name)


def app_with_volume(bed, core_v1, namespace):
    """Pod db with an emptyDir volume "data" holding a file, running on the first node."""
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "db"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}],
                 "volumes": [{"name": "data", "emptyDir": {}}]}})

    def running():
        current = core_v1.read_namespaced_pod("db", namespace)
        return current if current.status.phase == "Running" else None

    pod = wait_for(running, what="pod db running")
    directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data")
    os.makedirs(directory)
    with open(os.path.join(directory, "file.txt"), "w") as handle:
        handle.write("data of %s\n" % namespace)


def module_location(bed, location):
    return dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])


def volume_backup(bed, location, node_agent, name, namespaces, **options):
    """A backup of the namespaces with every pod volume saved by the node agent."""
    result = testbed.run_module("k8s_backup", dict(
        options, name=name, included_namespaces=namespaces, default_volumes_to_fs_backup=True,
        repository_password=PASSWORD, node_agent=node_agent, kubeconfig=bed["KUBECONFIG"],
        storage_location=module_location(bed, location)))
    assert not result.failed and result["phase"] == "Completed", result.get("msg") or result.get("backup_errors")
    assert sorted((v["namespace"], v["phase"]) for v in result["pod_volumes"]) == [(n, "Completed") for n in sorted(namespaces)]
    return result


def restore_record(bed, location, backup_name, namespace):
    """A restore of the backup's ConfigMaps into a namespace of its own: its record under restores/."""
    target = unique("gc-restored")
    result = testbed.run_module("k8s_restore", {
        "backup_name": backup_name, "name": "r-" + backup_name, "included_resources": ["configmaps"],
        "namespace_mapping": {namespace: target}, "kubeconfig": bed["KUBECONFIG"],
        "storage_location": module_location(bed, location)})
    assert not result.failed, result.get("msg")
    return target


def restorable(bed, location, backup_name):
    return testbed.run_module("k8s_restore", {"backup_name": backup_name, "kubeconfig": bed["KUBECONFIG"],
                                              "storage_location": module_location(bed, location)}, check_mode=True)


def keys_under(s3, location, folder):
    prefix = "%s/%s" % (location["prefix"], folder)
    return sorted(entry["Key"][len(prefix):] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location["bucket"], Prefix=prefix) for entry in page.get("Contents") or [])


def restic_env(bed, location, volume_namespace, password=PASSWORD):
    repository = "s3:%s/%s/%s/restic/%s" % (bed["KUBEDR_S3_ENDPOINT"], location["bucket"], location["prefix"],
                                            volume_namespace)
    return dict(os.environ, RESTIC_PASSWORD=password, RESTIC_REPOSITORY=repository, **s3_env(bed))


def restic(bed, location, volume_namespace, *args):
    proc = subprocess.run(["restic", "--no-cache"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=restic_env(bed, location, volume_namespace), check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def snapshot_tags(bed, location, volume_namespace):
    """The backup= tags of the repository's snapshots, sorted."""
    return sorted(tag for snapshot in json.loads(restic(bed, location, volume_namespace, "snapshots", "--json") or "[]")
                  for tag in snapshot.get("tags") or [] if tag.startswith("backup="))


def assert_repositories_check(bed, location, *volume_namespaces):
    for volume_namespace in volume_namespaces:
        assert "no errors were found" in restic(bed, location, volume_namespace, "check")


def wait_until_expired(bed, location, names):
    """gc compares expirations (whole seconds) with its clock: wait until the stored ones have passed."""
    stamps = [b["expiration"] for name, b in backups(bed, location).items() if name in names]
    assert len(stamps) == len(names)

    def passed():
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return all(stamp < now for stamp in stamps)
    wait_for(passed, timeout=10, interval=0.2, what="the TTLs of %s to pass" % ", ".join(names))


def gc(bed, location, check=False, expect_ok=True, env=None, **variables):
    return playbook(bed, "kubedr.backup.gc", dict(variables, kubedr_storage_location=location),
                    env=dict(s3_env(bed), **(env or {})), check=check, expect_ok=expect_ok).stdout


@contextlib.contextmanager
def repository_keys_hidden(s3, location, volume_namespace):
    """The repository's key files taken away, then put back: no password opens it meanwhile."""
    prefix = "%s/restic/%s/keys/" % (location["prefix"], volume_namespace)
    saved = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=prefix):
        for entry in page.get("Contents") or []:
            saved[entry["Key"]] = s3.get_object(Bucket=location["bucket"], Key=entry["Key"])["Body"].read()
    assert saved
    for key in saved:
        s3.delete_object(Bucket=location["bucket"], Key=key)
    try:
        yield
    finally:
        for key, body in saved.items():
            s3.put_object(Bucket=location["bucket"], Key=key, Body=body)


@contextlib.contextmanager
def repository_locked(bed, location, volume_namespace):
    """A restic backup reading standard input holds a shared lock on the repository, as a backup running
    elsewhere would: snapshots can be listed, but forget (an exclusive lock) is refused until it ends."""
    env = restic_env(bed, location, volume_namespace)
    holder = subprocess.Popen(["restic", "--no-cache", "backup", "--stdin", "--stdin-filename", "held"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for(lambda: restic(bed, location, volume_namespace, "--no-lock", "list", "locks").strip(),
                 what="the lock on restic/%s" % volume_namespace)
        yield
    finally:
        # SIGKILL, not SIGINT: restic 0.18 blocked reading standard input does not stop on SIGINT, and a
        # closed input would commit a snapshot. `unlock` then removes the lock of the dead process.
        holder.kill()
        holder.wait(60)
        restic(bed, location, volume_namespace, "unlock")


def test_gc_deletes_only_expired_backups_and_their_snapshots(bed, core_v1, s3, namespace, location, node_agent):
    app_with_volume(bed, core_v1, namespace)
    volume_backup(bed, location, node_agent, "s1-short", [namespace], ttl="1s", labels={"velero.io/schedule-name": "s1"})
    volume_backup(bed, location, node_agent, "s1-long", [namespace], labels={"velero.io/schedule-name": "s1"})
    volume_backup(bed, location, node_agent, "other-short", [namespace], ttl="1s",
                  labels={"velero.io/schedule-name": "other"})
    volume_backup(bed, location, node_agent, "plain-short", [namespace], ttl="1s")
    restored = [restore_record(bed, location, name, namespace) for name in ("s1-short", "s1-long")]
    try:
        wait_until_expired(bed, location, ["s1-short", "other-short", "plain-short"])
        every = ["backup=other-short", "backup=plain-short", "backup=s1-long", "backup=s1-short"]
        assert snapshot_tags(bed, location, namespace) == every

        preview = gc(bed, location, check=True, kubedr_schedule_name="s1", kubedr_repository_password=PASSWORD)
        assert "1 of 2 backups expired: s1-short" in preview
        assert sorted(backups(bed, location)) == ["other-short", "plain-short", "s1-long", "s1-short"]
        assert snapshot_tags(bed, location, namespace) == every
        assert keys_under(s3, location, "restores/") != [] and len(keys_under(s3, location, "restores/r-s1-short/")) == 4

        out = gc(bed, location, kubedr_schedule_name="s1", kubedr_repository_password=PASSWORD)
        assert "1 of 2 backups expired: s1-short" in out
        assert sorted(backups(bed, location)) == ["other-short", "plain-short", "s1-long"]
        assert keys_under(s3, location, "backups/s1-short/") == []
        assert keys_under(s3, location, "restores/r-s1-short/") == []
        assert len(keys_under(s3, location, "restores/r-s1-long/")) == 4
        assert snapshot_tags(bed, location, namespace) == ["backup=other-short", "backup=plain-short", "backup=s1-long"]
        assert_repositories_check(bed, location, namespace)

        # Without a schedule: every expired backup; the password from the environment; the repository pruned.
        out = gc(bed, location, env={"KUBEDR_REPOSITORY_PASSWORD": PASSWORD}, kubedr_restic_prune=True)
        assert "2 of 3 backups expired: other-short, plain-short" in out
        assert "TASK [Prune the repositories the deletions forgot snapshots in]" in out and "restic/%s" % namespace in out
        assert sorted(backups(bed, location)) == ["s1-long"]
        # The surviving backup keeps all of its 11 objects (volume info, integrity manifest and item digests included).
        assert [k.split("/")[0] for k in keys_under(s3, location, "backups/")] == ["s1-long"] * 11
        assert "s1-long/s1-long-volumeinfo.json.gz" in keys_under(s3, location, "backups/")
        assert [k.split("/")[0] for k in keys_under(s3, location, "restores/")] == ["r-s1-long"] * 4
        assert snapshot_tags(bed, location, namespace) == ["backup=s1-long"]
        assert_repositories_check(bed, location, namespace)
        assert not restorable(bed, location, "s1-long").failed
    finally:
        for target in restored:
            delete_quietly(core_v1.delete_namespace, target)


def test_gc_leaves_a_backup_whole_or_unlisted_and_the_next_run_finishes_it(bed, core_v1, s3, namespace, other_namespace,
                                                                           location, node_agent):
    """A repository gc cannot open: the backup stays whole (listed, restorable, every snapshot) and the other
    expired backups are still deleted. A repository locked when its snapshots are forgotten: the backup is no
    longer listed, though part of its snapshots is forgotten. The next run deletes it entirely."""
    for app in (namespace, other_namespace):
        app_with_volume(bed, core_v1, app)
    both = sorted([namespace, other_namespace])
    volume_backup(bed, location, node_agent, "gc-bad", both, ttl="1s")
    volume_backup(bed, location, node_agent, "gc-good", both[:1], ttl="1s")  # in the repository that stays open
    volume_backup(bed, location, node_agent, "gc-live", both)
    restored = restore_record(bed, location, "gc-bad", namespace)
    bad_objects = keys_under(s3, location, "backups/gc-bad/")
    try:
        wait_until_expired(bed, location, ["gc-bad", "gc-good"])

        # 1. One repository cannot be opened: gc-bad is kept whole, gc-good is deleted, the play fails naming gc-bad.
        with repository_keys_hidden(s3, location, both[1]):
            out = gc(bed, location, expect_ok=False, kubedr_repository_password=PASSWORD)
        assert "backup gc-bad not deleted" in out and "wrong repository password" in out, out[-4000:]
        assert "failed=1" in out
        assert sorted(backups(bed, location)) == ["gc-bad", "gc-live"], out[-6000:]
        assert keys_under(s3, location, "backups/gc-bad/") == bad_objects
        assert len(keys_under(s3, location, "restores/r-gc-bad/")) == 4
        assert not restorable(bed, location, "gc-bad").failed
        assert snapshot_tags(bed, location, both[0]) == ["backup=gc-bad", "backup=gc-live"]
        assert snapshot_tags(bed, location, both[1]) == ["backup=gc-bad", "backup=gc-live"]
        assert keys_under(s3, location, "backups/gc-good/") == []

        # 2. The repository forgotten last is locked: the first one's snapshot of gc-bad is forgotten, and gc-bad
        #    is no longer listed nor restorable - never listed with part of its volume data gone.
        with repository_locked(bed, location, both[1]):
            out = gc(bed, location, expect_ok=False, kubedr_repository_password=PASSWORD)
            assert "backup gc-bad not deleted" in out and "locked" in out, out[-4000:]
            assert snapshot_tags(bed, location, both[0]) == ["backup=gc-live"]
            assert "gc-bad" not in backups(bed, location)
            assert "not found" in restorable(bed, location, "gc-bad")["msg"]
        assert snapshot_tags(bed, location, both[1]) == ["backup=gc-bad", "backup=gc-live"]
        assert "gc-bad-deletion.json" in keys_under(s3, location, "backups/gc-bad/")

        # 3. The next run finds it by what is left and finishes: objects, snapshots, restore record, all gone.
        out = gc(bed, location, kubedr_repository_password=PASSWORD)
        assert "0 of 1 backups expired" in out and "1 unfinished deletions: gc-bad" in out
        assert keys_under(s3, location, "backups/gc-bad/") == [] and keys_under(s3, location, "restores/") == []
        for repository in both:
            assert snapshot_tags(bed, location, repository) == ["backup=gc-live"]
        assert sorted(backups(bed, location)) == ["gc-live"] and not restorable(bed, location, "gc-live").failed
        assert_repositories_check(bed, location, *both)
    finally:
        delete_quietly(core_v1.delete_namespace, restored)
