"""The collection's playbooks (ansible-playbook kubedr.backup.<name>) against the test bed: backup with
progress and the schedule label, gc deleting only expired backups (and their restic snapshots), restore with
namespace mapping, migrate between two clusters, clear errors for missing variables."""
import datetime
import json
import os
import re
import subprocess

import pytest

import testbed
from test_playbooks_support import (
    backups, configmaps, delete_prefix, delete_quietly, location_vars, playbook, s3_env, unique,
)


@pytest.fixture
def location(storage_location, s3, request):
    location = location_vars(storage_location, request.node.name[5:30])
    yield location
    delete_prefix(s3, location)


def module_location(bed, location):
    return dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])


def make_backup(bed, location, name, namespace, **options):
    result = testbed.run_module("k8s_backup", dict(options, name=name, included_namespaces=[namespace],
                                                   kubeconfig=bed["KUBECONFIG"], storage_location=module_location(bed, location)))
    assert not result.failed and result["phase"] == "Completed", result.get("msg")
    return result


def test_backup_playbook_labels_and_reports(bed, core_v1, namespace, location):
    configmaps(core_v1, namespace)
    out = playbook(bed, "kubedr.backup.backup", {
        "kubedr_storage_location": location, "kubedr_included_namespaces": [namespace], "kubedr_schedule_name": "hourly",
        "kubedr_ttl": "2h", "kubedr_labels": {"team": "ops"}, "kubedr_poll_interval": 1,
    }, env=s3_env(bed)).stdout
    assert "TASK [Waiting for backup hourly-" in out  # the polling task, one line per poll on long runs
    summary = re.search(r"Backup (hourly-[0-9]{14}): Completed, ([0-9]+) items, 0 warnings, 0 errors, expires ", out)
    assert summary, out[-3000:]
    stored = backups(bed, location)[summary.group(1)]
    assert stored["labels"]["velero.io/schedule-name"] == "hourly" and stored["labels"]["team"] == "ops"
    assert stored["item_count"] == int(summary.group(2)) >= 4  # namespace, 2 configmaps, kube-root-ca.crt...
    assert bed["KUBEDR_S3_SECRET_KEY"] not in out


def test_backup_playbook_needs_a_storage_location(bed):
    out = playbook(bed, "kubedr.backup.backup", {}, expect_ok=False).stdout
    assert "kubedr_storage_location (a dict, the storage_location option of kubedr.backup.k8s_backup) is required" in out


def test_backup_playbook_reports_module_errors(bed, location):
    out = playbook(bed, "kubedr.backup.backup", {
        "kubedr_storage_location": location, "kubedr_label_selector": "app in (", "kubedr_backup_name": "broken",
    }, env=s3_env(bed), expect_ok=False).stdout
    assert "label selector" in out.lower() and "failed=1" in out


def restic(bed, location, volume_namespace, *args, password="gc-test-password"):
    repository = "s3:%s/%s/%s/restic/%s" % (bed["KUBEDR_S3_ENDPOINT"], location["bucket"], location["prefix"], volume_namespace)
    env = dict(os.environ, RESTIC_PASSWORD=password, RESTIC_REPOSITORY=repository, **s3_env(bed))
    proc = subprocess.run(["restic", "--no-cache"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def snapshot_tags(bed, location, volume_namespace):
    return sorted(tag for snapshot in json.loads(restic(bed, location, volume_namespace, "snapshots", "--json") or "[]")
                  for tag in snapshot.get("tags") or [] if tag.startswith("backup="))


def expired(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc) < datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def test_gc_deletes_only_expired_backups_and_their_snapshots(bed, core_v1, namespace, location, tmp_path):
    configmaps(core_v1, namespace, 1)
    make_backup(bed, location, "s1-short", namespace, ttl="1s", labels={"velero.io/schedule-name": "s1"})
    make_backup(bed, location, "s1-long", namespace, labels={"velero.io/schedule-name": "s1"})
    make_backup(bed, location, "other-short", namespace, ttl="1s", labels={"velero.io/schedule-name": "other"})
    make_backup(bed, location, "plain-short", namespace, ttl="1s")
    # Volume data of two of them in the namespace's restic repository (what the node agent would have written).
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "1.txt").write_text("one")
    restic(bed, location, namespace, "init")
    for backup in ("s1-short", "s1-long"):
        restic(bed, location, namespace, "backup", "--host", "kubedr", "--tag", "backup=" + backup, str(tmp_path / "vol"))
    # gc compares expirations (whole seconds) with its clock: wait until the short ones have passed.
    short = [b["expiration"] for name, b in backups(bed, location).items() if name.endswith("-short")]
    testbed.wait_for(lambda: all(expired(stamp) for stamp in short), timeout=10, interval=0.2,
                     what="the 1s TTLs to pass")
    gc_vars = {"kubedr_storage_location": location, "kubedr_schedule_name": "s1", "kubedr_restic_password": "gc-test-password"}

    preview = playbook(bed, "kubedr.backup.gc", gc_vars, env=s3_env(bed), check=True).stdout
    assert "1 of 4 backups expired: s1-short" in preview
    assert sorted(backups(bed, location)) == ["other-short", "plain-short", "s1-long", "s1-short"]
    assert snapshot_tags(bed, location, namespace) == ["backup=s1-long", "backup=s1-short"]

    out = playbook(bed, "kubedr.backup.gc", gc_vars, env=s3_env(bed)).stdout
    assert "1 of 4 backups expired: s1-short" in out
    assert sorted(backups(bed, location)) == ["other-short", "plain-short", "s1-long"]
    assert snapshot_tags(bed, location, namespace) == ["backup=s1-long"]

    # Without a schedule: every expired backup; the restic password from the environment.
    out = playbook(bed, "kubedr.backup.gc", {"kubedr_storage_location": location},
                   env=dict(s3_env(bed), RESTIC_PASSWORD="gc-test-password")).stdout
    assert "2 of 3 backups expired: other-short, plain-short" in out
    assert sorted(backups(bed, location)) == ["s1-long"]
    assert snapshot_tags(bed, location, namespace) == ["backup=s1-long"]


def test_restore_playbook_with_namespace_mapping(bed, core_v1, namespace, location):
    configmaps(core_v1, namespace)
    playbook(bed, "kubedr.backup.backup", {"kubedr_storage_location": location, "kubedr_included_namespaces": [namespace],
                                           "kubedr_schedule_name": "daily"}, env=s3_env(bed))
    target = unique("ops-restored")
    try:
        preview = playbook(bed, "kubedr.backup.restore", {
            "kubedr_storage_location": location, "kubedr_schedule_name": "daily",
            "kubedr_namespace_mapping": {namespace: target}}, env=s3_env(bed), check=True).stdout
        assert '"create v1/ConfigMap %s/cm-0"' % target in preview and "(check mode)" in preview
        assert target not in [n.metadata.name for n in core_v1.list_namespace().items]

        out = playbook(bed, "kubedr.backup.restore", {
            "kubedr_storage_location": location, "kubedr_schedule_name": "daily",
            "kubedr_namespace_mapping": {namespace: target}, "kubedr_poll_interval": 1}, env=s3_env(bed)).stdout
        assert re.search(r"Restore \S+ of backup daily-[0-9]{14}: Completed, [1-9][0-9]* created", out), out[-3000:]
        assert sorted(c.metadata.name for c in core_v1.list_namespaced_config_map(target).items
                      if c.metadata.name.startswith("cm-")) == ["cm-0", "cm-1"]
    finally:
        delete_quietly(core_v1.delete_namespace, target)


def test_restore_playbook_needs_a_source(bed, location):
    out = playbook(bed, "kubedr.backup.restore", {"kubedr_storage_location": location}, expect_ok=False).stdout
    assert "one of kubedr_backup_name and kubedr_schedule_name are required" in out


@pytest.fixture(scope="module")
def target_cluster():
    """A second kwok cluster (its own API server); stopped at the end."""
    env = testbed.cluster_up("target")
    yield env
    subprocess.run(["bash", os.path.join(testbed.REPO, "hack", "testbed", "cluster-down.sh"), "target"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=300)


def test_migrate_between_clusters(bed, core_v1, namespace, location, target_cluster):
    from kubernetes import client, config

    configmaps(core_v1, namespace)
    target_namespace = unique("ops-migrated")
    out = playbook(bed, "kubedr.backup.migrate", {
        "kubedr_storage_location": location,
        "kubedr_source_kubeconfig": bed["KUBECONFIG"], "kubedr_target_kubeconfig": target_cluster["KUBECONFIG"],
        "kubedr_included_namespaces": [namespace], "kubedr_namespace_mapping": {namespace: target_namespace},
        "kubedr_poll_interval": 1,
    }, env=s3_env(bed)).stdout
    assert re.search(r"Backup migrate-[0-9]{14}: Completed", out) and re.search(r"Restore \S+ of backup migrate-", out), out[-3000:]

    target_api = client.CoreV1Api(config.new_client_from_config(config_file=target_cluster["KUBECONFIG"]))
    assert sorted(c.metadata.name for c in target_api.list_namespaced_config_map(target_namespace).items
                  if c.metadata.name.startswith("cm-")) == ["cm-0", "cm-1"]
    # The source cluster is untouched by the restore.
    assert target_namespace not in [n.metadata.name for n in core_v1.list_namespace().items]


def test_migrate_needs_both_clusters(bed, location):
    out = playbook(bed, "kubedr.backup.migrate", {"kubedr_storage_location": location,
                                                  "kubedr_source_kubeconfig": bed["KUBECONFIG"]}, expect_ok=False).stdout
    assert "the target cluster (kubedr_target_kubeconfig and/or kubedr_target_context)" in out
