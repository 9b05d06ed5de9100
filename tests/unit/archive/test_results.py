"""Warnings/errors by scope, phases, the resource list and counts."""
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.archive.results import ItemIndex, Results, item_counts, phase_for

PODS = ApiResource("", "v1", "pods", "Pod", True)
DEPLOYMENTS = ApiResource("apps", "v1", "deployments", "Deployment", True)
CLUSTER_ROLES = ApiResource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)


def test_results_shape_is_velero_s():
    results = Results()
    assert results.to_dict() == {"warnings": {"velero": [], "cluster": [], "namespaces": {}},
                                 "errors": {"velero": [], "cluster": [], "namespaces": {}}}
    results.warn("discovery stale")
    results.warn("cannot list pods", namespace="shop")
    results.warn("again", namespace="shop")
    results.error("forbidden", cluster=True)
    assert results.to_dict() == {
        "warnings": {"velero": ["discovery stale"], "cluster": [], "namespaces": {"shop": ["cannot list pods", "again"]}},
        "errors": {"velero": [], "cluster": ["forbidden"], "namespaces": {}},
    }
    assert (results.warning_count(), results.error_count()) == (3, 1)


def test_phases():
    results = Results()
    assert phase_for(results) == "Completed"
    results.warn("w")
    assert phase_for(results) == "Completed"
    results.error("e", namespace="a")
    assert phase_for(results) == "PartiallyFailed"
    assert phase_for(Results(), failure_reason="API server unreachable") == "Failed"


def test_item_index_resource_list_dedupe_and_counts():
    index = ItemIndex()
    assert index.add(PODS, "b", "p2")
    assert index.add(PODS, "a", "p1")
    assert not index.add(PODS, "a", "p1")
    assert index.add(DEPLOYMENTS, "a", "web")
    assert index.add(CLUSTER_ROLES, None, "admin")
    assert index.contains("pods", "a", "p1") and not index.contains("pods", "a", "zz")
    assert len(index) == 4
    resource_list = index.resource_list()
    assert resource_list == {
        "apps/v1/Deployment": ["a/web"],
        "rbac.authorization.k8s.io/v1/ClusterRole": ["admin"],
        "v1/Pod": ["a/p1", "b/p2"],
    }
    assert list(resource_list) == sorted(resource_list)
    assert item_counts(resource_list) == {
        "total": 4,
        "per_resource": {"apps/v1/Deployment": 1, "rbac.authorization.k8s.io/v1/ClusterRole": 1, "v1/Pod": 2},
        "per_namespace": {"a": 2, "b": 1},
    }
    assert item_counts(None) == {"total": 0, "per_resource": {}, "per_namespace": {}}
