"""The collection's playbooks (ansible-playbook kubedr.backup.<name>) against the test bed: backup with
progress and the schedule label, restore with namespace mapping, migrate between two clusters, clear errors for
missing variables. gc, on backups with pod volume data, is in test_gc.py."""
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
