"""velero-backup.json as Velero's server leaves it: the spec fields it fills in, Go's omissions, hookStatus."""
import datetime

from ansible_collections.kubedr.backup.plugins.module_utils.archive.velero import backup_status
from ansible_collections.kubedr.backup.plugins.module_utils.backup.spec import backup_spec

STARTED = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def test_a_plain_backup_spec_is_what_velero_backup_create_leaves_after_the_server_defaults():
    assert backup_spec({"included_namespaces": ["shop"]}) == {
        "includedNamespaces": ["shop"], "ttl": "720h0m0s", "storageLocation": "default",
        "defaultVolumesToFsBackup": False, "snapshotMoveData": False, "hooks": {}, "metadata": {},
        "csiSnapshotTimeout": "10m0s", "itemOperationTimeout": "4h0m0s",
    }  # empty lists omitted (omitempty); snapshotMoveData set, else `velero backup describe` says "auto"


def test_filters_given_are_kept_under_velero_s_names():
    spec = backup_spec({"excluded_namespaces": ["kube-system"], "included_resources": ["configmaps"],
                        "excluded_resources": ["secrets"], "default_volumes_to_fs_backup": True})
    assert spec["includedNamespaces"] == ["*"] and spec["excludedNamespaces"] == ["kube-system"]
    assert spec["includedResources"] == ["configmaps"] and spec["excludedResources"] == ["secrets"]
    assert spec["defaultVolumesToFsBackup"] is True


def test_hook_status_is_always_there_with_its_non_zero_counts():
    status = backup_status("Completed", STARTED, 3600, 5, 0, 0, STARTED)
    assert status["hookStatus"] == {} and "warnings" not in status and "errors" not in status
    assert backup_status("PartiallyFailed", STARTED, 3600, 5, 0, 1, STARTED, hooks=(3, 1))["hookStatus"] == {
        "hooksAttempted": 3, "hooksFailed": 1}
    assert backup_status("Completed", STARTED, 3600, 5, 0, 0, STARTED, hooks=(2, 0))["hookStatus"] == {
        "hooksAttempted": 2}
