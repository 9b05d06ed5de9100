"""Each item of an archive is restored in isolation (docs/reliability.md, "Faults of one item"): a
check-mode restore through the real pipeline, over a discovery of a few resources and a cluster
where nothing exists yet (every read answers 404)."""
import gzip
import io
import json
import tarfile

from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery
from ansible_collections.kubedr.backup.plugins.module_utils.restore import options as restore_options
from ansible_collections.kubedr.backup.plugins.module_utils.restore.run import RestoreRun

VERBS = ("create", "delete", "get", "list", "patch", "update")
DISCOVERY = Discovery([
    ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS, True, ("cm",), "configmap"),
    ApiResource("", "v1", "secrets", "Secret", True, VERBS, True, (), "secret"),
    ApiResource("", "v1", "namespaces", "Namespace", False, VERBS, True, ("ns",), "namespace"),
    ApiResource("", "v1", "persistentvolumes", "PersistentVolume", False, VERBS, True, ("pv",), "persistentvolume"),
])


class EmptyCluster(object):
    host = "https://empty.invalid"

    def discover(self, refresh=False):
        return DISCOVERY

    def get(self, path, query=None):
        raise ApiException(404, "Not Found", b"{}")


class NoStore(object):
    read_only = True

    def get_json_gz(self, key):
        return None


def archive(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return io.BytesIO(gzip.compress(buffer.getvalue()))


def configmap(name, namespace="app", **extra):
    return json.dumps(dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                            "data": {"a": "b"}}, **extra)).encode()


def at(name, namespace="app", resource="configmaps"):
    return "resources/%s/namespaces/%s/%s.json" % (resource, namespace, name)


def restore(entries, **options):
    options = restore_options.validate_options(dict({"name": "r", "backup_name": "b"}, **options))
    run = RestoreRun(EmptyCluster(), NoStore(), options, {"metadata": {"name": "b"}, "status": {"phase": "Completed"}},
                     check_mode=True)
    return run.execute(archive(entries))


def planned(result):
    return sorted(((e["group_resource"], e["namespace"], e["name"], e["action"]) for e in result["plan"]), key=repr)


def test_bad_items_are_their_own_errors_and_the_rest_is_restored():
    deep = configmap("deep", data="@@").replace(b'"@@"', b"[" * 200000 + b"]" * 200000)
    result = restore([
        ("metadata/version", b"1.1.0\n"),
        (at("good"), configmap("good")),
        (at("deep"), deep),
        (at("disguised"), configmap("disguised", kind="Secret")),
        (at("elsewhere", namespace="other"), b"{"),  # bad, but not selected: not this restore's error
        # at a path of the wrong scope: the filters read the path's resource, which they leave out here
        (at("pv", resource="persistentvolumes"), json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"}}).encode()),
        ("resources/configmaps/cluster/stray.json", configmap("stray", namespace="kube-system")),
    ], included_namespaces=["app"])
    assert sorted(result["restore_errors"]["namespaces"]) == ["app"] and not result["restore_errors"]["cluster"]
    errors = result["restore_errors"]["namespaces"]["app"]
    assert [e for e in errors if at("deep") in e and "nested deeper than 200 levels" in e]
    assert [e for e in errors if at("disguised") in e and "is a v1 Secret, which is secrets, not configmaps" in e]
    assert len(errors) == 2 and result["item_counts"]["failed"] == 2
    expected = [("configmaps", "app", "good", "create"), ("namespaces", None, "app", "create")]
    assert [e for e in planned(result) if e[3] != "fail"] == expected


def test_items_at_a_path_of_the_wrong_scope_or_malformed_fail_alone():
    malformed = json.dumps({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
                            "spec": {"claimRef": {"namespace": {"x": 1}, "name": ["y"]}}}).encode()
    result = restore([
        ("resources/persistentvolumes/cluster/pv1.json", malformed),
        (at("pv2", resource="persistentvolumes"), json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv2"}}).encode()),
        ("resources/configmaps/cluster/stray.json", configmap("stray", namespace="kube-system")),
        (at("good"), configmap("good")),
    ])
    errors = result["restore_errors"]
    assert [e for e in errors["cluster"] if e.startswith(
        "persistentvolumes pv1: backup archive entry resources/persistentvolumes/cluster/pv1.json cannot be prepared "
        "for the restore (TypeError: ")], errors
    stray = "resources/configmaps/cluster/stray.json is stored as cluster-scoped, but configmaps is namespaced"
    assert [e for e in errors["cluster"] if stray in e], errors
    assert [e for e in errors["namespaces"]["app"] if "resources/persistentvolumes/namespaces/app/pv2.json is stored "
                                                      "as namespaced, but persistentvolumes is cluster-scoped" in e]
    assert result["item_counts"]["failed"] == 3
    assert [e for e in planned(result) if e[3] == "create"] == [("configmaps", "app", "good", "create"),
                                                                ("namespaces", None, "app", "create")]
