"""Backup item actions: Pod -> PVC/PriorityClass, PVC -> PV, SA -> CRB -> CR, CR -> CRD."""
from ansible_collections.kubedr.backup.plugins.module_utils.backup.item_actions import ActionContext, ItemRef, build_crb_index, related_items


def pod(volumes=(), priority_class=None):
    spec = {"volumes": list(volumes)}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": spec}


def test_pod_pulls_in_its_claims_and_priority_class():
    item = pod([{"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
                {"name": "cfg", "configMap": {"name": "c"}}], "high")
    assert related_items("pods", item, ActionContext()) == [
        ItemRef("persistentvolumeclaims", "shop", "data-0"), ItemRef("priorityclasses.scheduling.k8s.io", None, "high")]
    assert related_items("pods", pod(), ActionContext()) == []


def test_bound_claim_pulls_in_its_volume():
    claim = {"metadata": {"name": "data-0", "namespace": "shop"}, "spec": {"volumeName": "pv-1"}}
    assert related_items("persistentvolumeclaims", claim, ActionContext()) == [ItemRef("persistentvolumes", None, "pv-1")]
    pending = {"metadata": {"name": "data-1", "namespace": "shop"}, "spec": {}}
    assert related_items("persistentvolumeclaims", pending, ActionContext()) == []


def test_service_account_pulls_in_cluster_role_bindings_and_roles():
    bindings = [
        {"metadata": {"name": "crb-1"}, "roleRef": {"kind": "ClusterRole", "name": "reader"},
         "subjects": [{"kind": "ServiceAccount", "namespace": "shop", "name": "app"},
                      {"kind": "User", "name": "alice"}]},
        {"metadata": {"name": "crb-2"}, "roleRef": {"kind": "ClusterRole", "name": "writer"},
         "subjects": [{"kind": "ServiceAccount", "namespace": "other", "name": "app"}]},
    ]
    context = ActionContext(crb_index=build_crb_index(bindings))
    account = {"metadata": {"name": "app", "namespace": "shop"}}
    assert related_items("serviceaccounts", account, context) == [
        ItemRef("clusterrolebindings.rbac.authorization.k8s.io", None, "crb-1"),
        ItemRef("clusterroles.rbac.authorization.k8s.io", None, "reader"),
    ]
    lonely = {"metadata": {"name": "nobody", "namespace": "shop"}}
    assert related_items("serviceaccounts", lonely, context) == []


def test_custom_resource_pulls_in_its_crd_unless_crds_are_filtered():
    widget = {"metadata": {"name": "w", "namespace": "shop"}}
    context = ActionContext(crd_names=["widgets.example.com"])
    assert related_items("widgets.example.com", widget, context) == [
        ItemRef("customresourcedefinitions.apiextensions.k8s.io", None, "widgets.example.com")]
    assert related_items("deployments.apps", widget, context) == []
    assert related_items("widgets.example.com", widget, ActionContext(["widgets.example.com"], include_crds=False)) == []
