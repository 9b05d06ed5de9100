"""Every served API version (k8s_backup all_api_versions, Velero's EnableAPIGroupVersions) on the
real test bed: a CRD serving v1 and v2beta1 (no conversion webhook: the API server serves both),
a backup writing both version folders, then a target that serves only other versions - the
restore creates the items in the version the cluster serves, or fails them one by one naming
both sides; a built-in multi-version group (autoscaling v2/v1 HPAs) with the option off keeps
the usual layout, and the backup playbook's kubedr_all_api_versions adds the v1 folder."""
import json

import pytest

from test_backup_support import assert_ok, delete_prefix, run_backup, s3_archive, s3_location, unique
from test_playbooks_support import playbook
from test_restore_support import assert_restored, delete_raw, get_raw, run_restore, wait_for

GROUP = "apiversions.kubedr.example.com"
GR = "rockbands." + GROUP
BANDS = ["beatles", "queen", "abba"]


def version(name, served, storage):
    return {"name": name, "served": served, "storage": storage,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def served_versions(api_client, group=GROUP):
    """The versions of a group in the aggregated discovery the modules read (only served ones are listed)."""
    response = api_client.call_api("/apis", "GET", header_params={"Accept": AGGREGATED_DISCOVERY},
                                   auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
    for entry in json.loads(response.data)["items"]:
        if entry["metadata"]["name"] == group:
            return [v["version"] for v in entry["versions"]]  # the preferred one first
    return None


@pytest.fixture
def location(storage_location, s3, request):
    location = s3_location(storage_location, "apiversions-" + request.node.name[5:25])
    yield location
    delete_prefix(s3, location)


@pytest.fixture
def rockband_crd(api_client):
    """The RockBand CRD serving v1 (storage) and v2beta1; ``serve(*versions)`` makes it serve only those."""
    from kubernetes import client
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition({
        "metadata": {"name": GR},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": "rockbands", "singular": "rockband", "kind": "RockBand"},
                 "versions": [version("v1", True, True), version("v2beta1", True, False)]}})
    wait_for(lambda: served_versions(api_client) == ["v1", "v2beta1"], what="the RockBand CRD to serve v1 and v2beta1")
    custom = client.CustomObjectsApi(api_client)

    def serve(*wanted):
        crd = extensions.read_custom_resource_definition(GR)
        names = [v.name for v in crd.spec.versions] + [v for v in wanted if v not in [v.name for v in crd.spec.versions]]
        # the storage version is the first one served; a version once stored stays listed (status.storedVersions)
        extensions.patch_custom_resource_definition(GR, {"spec": {"versions": [
            version(name, name in wanted, name == wanted[0]) for name in names]}})
        wait_for(lambda: served_versions(api_client) == list(wanted), what="the CRD to serve %s only" % (wanted,))

    serve.custom = custom
    yield serve
    extensions.delete_custom_resource_definition(GR)


def rockband(custom, namespace, name, api_version="v1"):
    custom.create_namespaced_custom_object(GROUP, api_version, namespace, "rockbands", {
        "apiVersion": "%s/%s" % (GROUP, api_version), "kind": "RockBand",
        "metadata": {"name": name, "labels": {"band": name}}, "spec": {"members": len(name)}})


def test_backup_holds_both_versions_and_the_restore_uses_the_one_the_cluster_serves(
        bed, s3, api_client, core_v1, namespace, location, rockband_crd):
    """The target is the same bed: the CRD is made to serve other versions and the backup restored into
    new namespaces (the source's objects stay, stored in etcd in the storage version)."""
    for name in BANDS[:2]:
        rockband(rockband_crd.custom, namespace, name)
    rockband(rockband_crd.custom, namespace, BANDS[2], api_version="v2beta1")  # stored as v1 all the same
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "setlist"}, "data": {"a": "b"}})

    result = assert_ok(run_backup(bed, location, "both", included_namespaces=[namespace], all_api_versions=True))
    assert result["phase"] == "Completed"
    items = dict((path, json.loads(data)) for path, data in s3_archive(s3, location, "both") if path.startswith("resources/"))
    for name in BANDS:
        for folder, api_version in (("", "v1"), ("v1-preferredversion/", "v1"), ("v2beta1/", "v2beta1")):
            stored = items["resources/%s/%snamespaces/%s/%s.json" % (GR, folder, namespace, name)]
            assert stored["apiVersion"] == "%s/%s" % (GROUP, api_version) and stored["spec"] == {"members": len(name)}
    assert sorted(set(path.split("/")[2] for path in items if path.startswith("resources/%s/" % GR))) == [
        "namespaces", "v1-preferredversion", "v2beta1"]
    # single-version resources get no other folder; an item counts once, in the preferred version
    assert not [path for path in items if path.startswith("resources/configmaps/") and "/v1/" in path]
    assert result["item_counts"]["per_resource"]["%s/v1/RockBand" % GROUP] == 3
    assert "%s/v2beta1/RockBand" % GROUP not in result["item_counts"]["per_resource"]

    # The target: the same bed, its CRD serving other versions than v1, restored into new namespaces.
    restored_elsewhere, target = unique("rockbands-v3"), unique("rockbands-v2beta1")
    try:
        # No version of the backup is served: each RockBand is an error naming both sides, the rest is restored.
        rockband_crd("v3")
        result = run_restore(bed, location, backup_name="both", excluded_resources=["customresourcedefinitions"],
                             namespace_mapping={namespace: restored_elsewhere})
        assert_restored(result, phase="PartiallyFailed")
        errors = result["restore_errors"]["namespaces"][restored_elsewhere]
        assert len(errors) == 3 and all(
            "the backup holds %s in version(s) v1, v2beta1; the cluster serves it in v3 only" % GR in e
            for e in errors), errors
        assert result["item_counts"]["per_resource"]["%s/v1/RockBand" % GROUP]["failed"] == 3
        assert get_raw(api_client, "/api/v1/namespaces/%s/configmaps/setlist" % restored_elsewhere) is not None

        # Only v2beta1 is served: the preview names it, and the restore creates every RockBand through it.
        rockband_crd("v2beta1")
        # No name: the one derived from the backup and the time may be the previous restore's (the same
        # second); the preview then takes the next free one.
        preview = run_restore(bed, location, check_mode=True, diff=True, backup_name="both",
                              excluded_resources=["customresourcedefinitions"], namespace_mapping={namespace: target})
        assert not preview.failed, preview.get("msg")
        planned = sorted((e["resource"], e["name"], e["action"]) for e in preview["plan"] if e["group_resource"] == GR)
        assert planned == [("%s/v2beta1/RockBand" % GROUP, name, "create") for name in sorted(BANDS)]
        assert preview["api_versions"][GR] == {
            "version": "v2beta1", "rule": "cluster preferred version", "backup_versions": ["v1", "v2beta1"],
            "backup_preferred": "v1", "cluster_versions": ["v2beta1"], "cluster_preferred": "v2beta1"}
        assert get_raw(api_client, "/api/v1/namespaces/" + target) is None  # check mode wrote nothing

        result = assert_restored(run_restore(bed, location, backup_name="both", namespace_mapping={namespace: target},
                                             excluded_resources=["customresourcedefinitions"]))
        assert result["item_counts"]["per_resource"]["%s/v2beta1/RockBand" % GROUP]["created"] == 3
        for name in BANDS:
            live = get_raw(api_client, "/apis/%s/v2beta1/namespaces/%s/rockbands/%s" % (GROUP, target, name))
            assert live["spec"] == {"members": len(name)} and live["metadata"]["labels"]["band"] == name
            assert live["metadata"]["labels"]["velero.io/restore-name"] == result["name"]
    finally:
        for name in (restored_elsewhere, target):
            delete_raw(api_client, "/api/v1/namespaces/" + name)


def hpa(namespace, name):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 3}}


def test_built_in_multi_version_group_layout_is_unchanged_by_default(bed, s3, api_client, namespace, location):
    from kubernetes import client
    assert served_versions(api_client, "autoscaling") == ["v2", "v1"]  # the bed's v1.36 apiserver, v2 preferred
    client.AutoscalingV2Api(api_client).create_namespaced_horizontal_pod_autoscaler(namespace, hpa(namespace, "web"))
    plain = "resources/horizontalpodautoscalers.autoscaling/%snamespaces/%s/web.json"

    def hpa_entries(name):
        return [(path, json.loads(data)) for path, data in s3_archive(s3, location, name)
                if path.startswith("resources/horizontalpodautoscalers.autoscaling/")]

    assert_ok(run_backup(bed, location, "default", included_namespaces=[namespace]))
    expected = [plain % ("", namespace), plain % ("v2-preferredversion/", namespace)]
    assert [path for path, _item in hpa_entries("default")] == expected

    # The backup playbook, as a user runs it, with kubedr_all_api_versions
    playbook(bed, "kubedr.backup.backup", {"kubedr_storage_location": location, "kubedr_backup_name": "all",
                                           "kubedr_included_namespaces": [namespace], "kubedr_all_api_versions": True,
                                           "kubedr_poll_interval": 1})
    items = dict(hpa_entries("all"))
    assert sorted(items) == sorted([plain % ("", namespace), plain % ("v2-preferredversion/", namespace),
                                    plain % ("v1/", namespace)])
    converted = items[plain % ("v1/", namespace)]
    assert converted["apiVersion"] == "autoscaling/v1" and converted["spec"]["maxReplicas"] == 3
    assert items[plain % ("", namespace)]["apiVersion"] == "autoscaling/v2"
