"""Discovery and a full-cluster backup against the real API server."""
import pytest

from test_backup_support import assert_ok, delete_prefix, get_object, gz_json, list_keys, run_backup, s3_location

from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import backup_resources


@pytest.fixture(scope="module")
def kube(bed):
    return KubeClient({"kubeconfig": bed["KUBECONFIG"]})


def test_aggregated_and_legacy_discovery_agree(kube):
    aggregated = kube.discover()
    assert aggregated.aggregated, "the test bed's API server serves aggregated discovery"
    core = kube.get("/api")
    groups = kube.get("/apis")
    legacy = kube._legacy_discovery(core, groups)
    assert not legacy.aggregated

    def key(resources):
        # Aggregated discovery lists subresources apart; compare the resources a backup uses.
        return sorted((r.group_version, r.resource, r.kind, r.namespaced, r.preferred)
                      for r in backup_resources(resources))
    assert key(aggregated.resources) == key(legacy.resources)
    assert ("v1", "configmaps", "ConfigMap", True, True) in key(aggregated.resources)


def test_full_cluster_backup(bed, s3, storage_location, core_v1):
    location = s3_location(storage_location, "full")
    result = assert_ok(run_backup(bed, location, "full"))
    # Other tests' pods may ask for volume backups (annotations); without a password that is the
    # only error a full backup of this shared cluster may have.
    errors = result["backup_errors"]
    assert result["phase"] in ("Completed", "PartiallyFailed")
    assert errors["cluster"] == [] and errors["namespaces"] == {}
    assert all("repository_password was not given" in e for e in errors["velero"]), errors
    per_resource = result["item_counts"]["per_resource"]
    nodes = [n.metadata.name for n in core_v1.list_node().items]
    assert per_resource["v1/Node"] == len(nodes)
    resource_list = gz_json(get_object(s3, location, "backups/full/full-resource-list.json.gz"))
    assert {"default", "kube-system", "kube-public"} <= set(resource_list["v1/Namespace"])
    assert sorted(resource_list["v1/Node"]) == sorted(nodes)
    assert "apiextensions.k8s.io/v1/CustomResourceDefinition" in per_resource  # kwok's CRDs
    assert "rbac.authorization.k8s.io/v1/ClusterRole" in per_resource
    assert not any(key.endswith("/Event") for key in per_resource)
    assert "backups/full/velero-backup.json" in list_keys(s3, location)
    delete_prefix(s3, location)


def test_kubeconfig_as_a_dict_and_a_named_context(bed):
    import yaml
    with open(bed["KUBECONFIG"]) as handle:
        kubeconfig = yaml.safe_load(handle)
    context = kubeconfig["current-context"]
    client = KubeClient({"kubeconfig": kubeconfig, "context": context})
    assert client.server_version()["major"] == "1"
    from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
    with pytest.raises(InvalidOptionError, match="cannot load the Kubernetes configuration"):
        KubeClient({"kubeconfig": bed["KUBECONFIG"], "context": "no-such-context"})
