"""Strategic merge patches by the patch metadata of an OpenAPI v3 schema (pure)."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.restore.strategic_merge import (
    SchemaWalker, StrategicMergeError, strategic_merge)


def ref(name):
    return {"default": {}, "allOf": [{"$ref": "#/components/schemas/" + name}]}


# The shape the API server publishes (/openapi/v3/apis/apps/v1), cut down to what the tests use.
COMPONENTS = {
    "Deployment": {"properties": {"metadata": ref("ObjectMeta"), "spec": ref("DeploymentSpec")}},
    "ObjectMeta": {"properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"}}},
    "DeploymentSpec": {"properties": {"template": ref("PodTemplateSpec")}},
    "PodTemplateSpec": {"properties": {"spec": ref("PodSpec")}},
    "PodSpec": {"properties": {
        "containers": {"type": "array", "items": ref("Container"), "x-kubernetes-patch-merge-key": "name",
                       "x-kubernetes-patch-strategy": "merge"},
        "volumes": {"type": "array", "items": ref("Volume"), "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge,retainKeys"},
        "tolerations": {"type": "array", "items": {"type": "object"}}}},
    "Container": {"properties": {
        "env": {"type": "array", "items": ref("EnvVar"), "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge"},
        "args": {"type": "array", "items": {"type": "string"}}}},
    "EnvVar": {"properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
    "Volume": {"properties": {"name": {"type": "string"}}},
}
SCHEMA = COMPONENTS["Deployment"]
WALKER = SchemaWalker(COMPONENTS)


def deployment():
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
            "spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "repo1/app:1", "args": ["--x"],
                                "env": [{"name": "MODE", "value": "prod"}, {"name": "KEEP", "value": "1"}]},
                               {"name": "sidecar", "image": "repo1/sidecar:1"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "a"}, {"key": "b"}]}}}}


def pod_spec(item):
    return item["spec"]["template"]["spec"]


def merge(patch, original=None):
    return strategic_merge(original or deployment(), patch, SCHEMA, WALKER)


def test_containers_merge_by_name_and_env_by_name():
    result = merge({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "repo2/app:1", "env": [{"name": "MODE", "value": "dr"}]},
        {"name": "new", "image": "repo2/new:1"}]}}}})
    containers = pod_spec(result)["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar", "new"]
    assert containers[0]["image"] == "repo2/app:1" and containers[0]["args"] == ["--x"]
    assert containers[0]["env"] == [{"name": "MODE", "value": "dr"}, {"name": "KEEP", "value": "1"}]
    assert containers[1] == {"name": "sidecar", "image": "repo1/sidecar:1"}


def test_lists_without_a_merge_strategy_are_replaced():
    result = merge({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}],
                                                   "containers": [{"name": "app", "args": ["--y"]}]}}}})
    assert pod_spec(result)["tolerations"] == [{"key": "c"}]
    assert pod_spec(result)["containers"][0]["args"] == ["--y"]


def test_null_deletes_and_maps_merge():
    result = merge({"metadata": {"labels": {"tier": None, "restored": "yes"}}})
    assert result["metadata"]["labels"] == {"app": "web", "restored": "yes"}


def test_scalar_set_union_and_delete_from_primitive_list():
    assert merge({"metadata": {"finalizers": ["b", "a"]}})["metadata"]["finalizers"] == ["a", "b"]
    assert merge({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})["metadata"]["finalizers"] == []


def test_patch_directives():
    # An element deleted by its merge key, a map replaced, a list replaced whole.
    result = merge({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["app"]
    result = merge({"metadata": {"labels": {"$patch": "replace", "only": "this"}}})
    assert result["metadata"]["labels"] == {"only": "this"}
    result = merge({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "solo", "image": "x"}]}}}})
    assert pod_spec(result)["containers"] == [{"name": "solo", "image": "x"}]


def test_retain_keys_and_element_order():
    result = merge({"spec": {"template": {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["name", "persistentVolumeClaim"], "persistentVolumeClaim": {"claimName": "c"}}]}}}})
    assert pod_spec(result)["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}]
    result = merge({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                                                   "containers": [{"name": "app", "image": "z"}]}}}})
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["sidecar", "app"]


def test_the_original_is_not_modified():
    original = deployment()
    merge({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "other"}]}}}}, original)
    assert original == deployment()


def test_no_schema_merges_like_a_json_merge_patch():
    widget = {"spec": {"items": [1, 2], "size": 1, "keep": True}}
    assert strategic_merge(widget, {"spec": {"items": [3], "size": None}}) == {"spec": {"items": [3], "keep": True}}


@pytest.mark.parametrize("patch, message", [
    ({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}, "merge key 'name'"),
    ({"metadata": {"$patch": "merge-please"}}, "unknown $patch directive"),
    ({"$patch": "delete"}, "delete the whole object"),
    ({"metadata": {"$retainKeys": "name"}}, "$retainKeys must be a list"),
])
def test_bad_patches_are_clear_errors(patch, message):
    with pytest.raises(StrategicMergeError, match=message.replace("$", r"\$")):
        merge(patch)
