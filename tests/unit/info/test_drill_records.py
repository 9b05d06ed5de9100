"""Restore drill records (archive/verification.py, restore/verification.py) on a filesystem location, read back as
k8s_backup_info's last_verification; the workload_ready filter of the verify playbook."""
import datetime
import json

import pytest

from ansible_collections.kubedr.backup.plugins.filter.workload_ready import workload_ready
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.info import describe
from ansible_collections.kubedr.backup.plugins.module_utils.restore import verification
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout

NOW = datetime.datetime(2026, 12, 2, 7, 1, 12, tzinfo=datetime.timezone.utc)


@pytest.fixture
def location(tmp_path):
    backup_dir = tmp_path / "backups" / "nightly-1"
    backup_dir.mkdir(parents=True)
    (backup_dir / layout.BACKUP_METADATA).write_text(json.dumps({
        "metadata": {"name": "nightly-1", "labels": {"velero.io/schedule-name": "nightly"}},
        "status": {"phase": "Completed", "startTimestamp": "2026-12-02T02:00:00Z"}}))
    return {"provider": "filesystem", "path": str(tmp_path)}


def test_each_drill_writes_a_new_record_and_the_newest_is_shown(location, tmp_path):
    first = verification.run(location, {"name": "nightly-1", "phase": "Passed", "started": "2026-12-02T07:00:00Z",
                                        "namespace_mapping": {"shop": "shop-drill-1"},
                                        "ready_workloads": ["Deployment/shop-drill-1/web"]}, now=NOW)
    assert first["changed"] and first["key"] == "backups/nightly-1/nightly-1-verification-20261202070112.json"
    second = verification.run(location, {"name": "nightly-1", "phase": "Failed", "failed_step": "The shop answers",
                                         "failure_message": "Status code was 503"}, now=NOW)
    assert second["key"] == "backups/nightly-1/nightly-1-verification-202612020701121.json"  # same second: kept apart
    stored = json.loads((tmp_path / first["key"]).read_text())
    assert stored["phase"] == "Passed" and stored["startTimestamp"] == "2026-12-02T07:00:00Z"
    listing = describe.run(location, {}, now=NOW)["backups"]
    assert listing[0]["last_verification"]["phase"] == "Failed"
    assert listing[0]["last_verification"]["message"] == "Status code was 503"
    assert describe.run(location, {"name": "nightly-1"}, now=NOW)["backup"]["last_verification"]["failed_step"] == \
        "The shop answers"


def test_check_mode_writes_nothing_and_bad_input_is_a_clear_error(location, tmp_path):
    result = verification.run(location, {"name": "nightly-1", "phase": "Passed"}, check_mode=True, now=NOW)
    assert result["changed"] and not (tmp_path / result["key"]).exists()
    assert describe.run(location, {}, now=NOW)["backups"][0]["last_verification"] is None
    with pytest.raises(NotFoundError, match="backup other not found"):
        verification.run(location, {"name": "other", "phase": "Passed"}, now=NOW)
    with pytest.raises(InvalidOptionError, match="phase must be one of Passed, Failed"):
        verification.run(location, {"name": "nightly-1", "phase": "Maybe"}, now=NOW)
    with pytest.raises(InvalidOptionError, match="started must be an RFC 3339 time"):
        verification.run(location, {"name": "nightly-1", "phase": "Passed", "started": "yesterday"}, now=NOW)


@pytest.mark.parametrize("workload,ready", [
    ({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2},
      "status": {"observedGeneration": 1, "availableReplicas": 2}}, True),
    ({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 1},
      "status": {"observedGeneration": 1, "availableReplicas": 1}}, False),
    ({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 0}, "status": {"observedGeneration": 1}}, True),
    ({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 3},
      "status": {"observedGeneration": 1, "readyReplicas": 2}}, False),
    ({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1}}, False),
    ({"kind": "DaemonSet", "metadata": {"generation": 1},
      "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2}}, True),
    ({"kind": "ConfigMap"}, True),
])
def test_workload_ready(workload, ready):
    assert workload_ready(workload) is ready
