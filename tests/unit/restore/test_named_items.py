"""The items option of k8s_restore: patterns and what a named item pulls in (pure)."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.restore import named_items as ni

RESOURCES = [
    ApiResource("", "v1", "secrets", "Secret", True, singular="secret"),
    ApiResource("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",), singular="deployment"),
    ApiResource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, singular="clusterrole"),
]


def test_patterns_resolve_resources_and_keep_globs():
    patterns = ni.parse_item_patterns(["deploy/shop/web", "secret/shop/db-*", "clusterroles/reader"], RESOURCES)
    assert ni.named(patterns, "deployments.apps", "shop", "web")
    assert not ni.named(patterns, "deployments.apps", "shop", "web2")
    assert not ni.named(patterns, "deployments.apps", "other", "web")
    assert ni.named(patterns, "secrets", "shop", "db-credentials")
    assert not ni.named(patterns, "secrets", "shop", "tls")
    assert ni.named(patterns, "clusterroles.rbac.authorization.k8s.io", None, "reader")
    # resource/name: a namespaced resource in any namespace
    assert ni.named(ni.parse_item_patterns(["secrets/db"], RESOURCES), "secrets", "any", "db")


@pytest.mark.parametrize("value, message", [
    ([], "non-empty list"),
    ("deployments/shop/web", "non-empty list"),
    (["deployments"], "items[0]"),
    (["deployments/shop/web", "a/b/c/d"], "items[1]: 'a/b/c/d'"),
    (["deployments//web"], "items[0]"),
])
def test_bad_patterns_are_clear_errors(value, message):
    with pytest.raises(InvalidOptionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ni.parse_item_patterns(value, RESOURCES)


def test_no_option_means_no_restriction():
    assert ni.parse_item_patterns(None, RESOURCES) is None


def test_workload_pulls_in_claims_and_service_account():
    deployment = {"metadata": {"name": "web"}, "spec": {"template": {"spec": {
        "serviceAccountName": "runner",
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
                    {"name": "cfg", "configMap": {"name": "web-config"}}]}}}}
    assert sorted(ni.references("deployments.apps", "shop", deployment)) == [
        ("persistentvolumeclaims", "shop", "web-data"), ("serviceaccounts", "shop", "runner")]
    cronjob = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"serviceAccount": "cron"}}}}}}
    assert ni.references("cronjobs.batch", "shop", cronjob) == [("serviceaccounts", "shop", "cron")]


def test_statefulset_claims_follow_the_naming_rule():
    sts = {"metadata": {"name": "db"},
           "spec": {"template": {"spec": {}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
    (ref,) = ni.references("statefulsets.apps", "shop", sts)
    assert ref[:2] == ("persistentvolumeclaims", "shop")
    assert ni.named_part(ref[2], "data-db-0") and ni.named_part(ref[2], "data-db-12")
    assert not ni.named_part(ref[2], "data-dbx-0") and not ni.named_part(ref[2], "data-db-")


def test_bindings_pull_in_their_roles():
    binding = {"roleRef": {"kind": "Role", "name": "editor"}}
    assert ni.references("rolebindings.rbac.authorization.k8s.io", "shop", binding) == [
        ("roles.rbac.authorization.k8s.io", "shop", "editor")]
    cluster_binding = {"roleRef": {"kind": "ClusterRole", "name": "view"}}
    assert ni.references("clusterrolebindings.rbac.authorization.k8s.io", None, cluster_binding) == [
        ("clusterroles.rbac.authorization.k8s.io", None, "view")]


def test_a_binding_names_a_service_account_by_namespace_and_name():
    binding = {"subjects": [{"kind": "ServiceAccount", "name": "runner"},
                            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                            {"kind": "User", "name": "runner"}]}
    assert ni.binds_service_account(binding, "shop", "shop", "runner")  # subject namespace defaults to the binding's
    assert ni.binds_service_account(binding, "shop", "tools", "ci")
    assert not ni.binds_service_account(binding, "shop", "other", "runner")
    assert not ni.binds_service_account(binding, None, "shop", "runner")
    assert not ni.binds_service_account({"subjects": None}, "shop", "shop", "runner")
