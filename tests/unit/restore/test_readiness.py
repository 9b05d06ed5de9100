"""Readiness-gated tiers (pure): the option, and what "ready" means per kind."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore import readiness


def test_option_defaults_and_shape():
    assert readiness.validate_option(None) is None and readiness.validate_option(False) is None
    assert readiness.validate_option(True) == {
        "resources": ["deployments.apps", "statefulsets.apps", "daemonsets.apps"], "timeout": 300}
    assert readiness.validate_option({"resources": ["deploy"], "timeout": 5}) == {"resources": ["deploy"], "timeout": 5}


@pytest.mark.parametrize("value, message", [
    ("yes", "true or a dict"), ({"timeout": 0}, "timeout must be"), ({"timeout": "5m"}, "timeout must be"),
    ({"resources": "deployments"}, "resources must be a list"), ({"wait": 1}, "true or a dict"),
])
def test_bad_options(value, message):
    with pytest.raises(InvalidOptionError, match=message):
        readiness.validate_option(value)


def deployment(replicas=2, available=None, generation=1, observed=1):
    status = {"observedGeneration": observed}
    if available is not None:
        status["availableReplicas"] = available
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status}


def test_deployments_need_every_replica_available_at_the_current_generation():
    assert readiness.not_ready_reason("deployments.apps", deployment(2, 2)) is None
    assert readiness.not_ready_reason("deployments.apps", deployment(2, 1)) == "1 of 2 replicas available"
    assert readiness.not_ready_reason("deployments.apps", deployment(2)) == "0 of 2 replicas available"
    assert "generation 2" in readiness.not_ready_reason("deployments.apps", deployment(2, 2, generation=2))
    assert readiness.not_ready_reason("deployments.apps", deployment(0)) is None


def test_statefulsets_daemonsets_pods_and_conditions():
    sts = {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}
    assert readiness.not_ready_reason("statefulsets.apps", sts) == "2 of 3 replicas ready"
    assert readiness.not_ready_reason("daemonsets.apps", {"status": {}}) == "not scheduled yet"
    assert readiness.not_ready_reason("daemonsets.apps", {"status": {"desiredNumberScheduled": 2, "numberReady": 2}}) \
        is None
    pod = {"status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}}
    assert readiness.not_ready_reason("pods", pod) == "not Ready (phase Pending)"
    widget = {"status": {"conditions": [{"type": "Ready", "status": "False", "message": "waiting for db"}]}}
    assert readiness.not_ready_reason("widgets.example.com", widget) == "condition Ready is False: waiting for db"
    assert readiness.not_ready_reason("widgets.example.com", {"status": {}}) is None
