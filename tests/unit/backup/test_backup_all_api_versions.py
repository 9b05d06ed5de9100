"""k8s_backup all_api_versions (Velero's EnableAPIGroupVersions) against a fake cluster serving a
custom resource in two versions and a real filesystem store: the archive's version folders, an
item counted once, the label selector, check mode, and the default layout unchanged."""
import io
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball
from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

VERBS = ("create", "delete", "get", "list")
GROUP = "music.example.io"
GR = "rockbands." + GROUP
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS)
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS)
CRDS = ApiResource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, VERBS)
ROCKBANDS_V1 = ApiResource(GROUP, "v1", "rockbands", "RockBand", True, VERBS, preferred=True)
ROCKBANDS_V2BETA1 = ApiResource(GROUP, "v2beta1", "rockbands", "RockBand", True, VERBS, preferred=False)
ROCKBANDS_V1ALPHA1 = ApiResource(GROUP, "v1alpha1", "rockbands", "RockBand", True, ("get",), preferred=False)


def obj(name, namespace=None, labels=None, **fields):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return dict(fields, metadata=meta)


class TwoVersionCluster(object):
    """Serves LISTs from {group_resource: [items]}; the API server's conversion is a field naming the version."""

    host = "https://fake:6443"
    exec_client = None

    def __init__(self, items):
        self.items = items
        self.lists = []

    def discover(self):
        return Discovery([NAMESPACES, CONFIGMAPS, CRDS, ROCKBANDS_V2BETA1, ROCKBANDS_V1, ROCKBANDS_V1ALPHA1])

    def server_version(self):
        return {"gitVersion": "v1.36.1"}

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        self.lists.append((api_resource.group_version, api_resource.resource, namespace, label_selector))
        wanted = dict(part.split("=") for part in (label_selector or "").split(",") if part)
        yield [dict(item, apiVersion=api_resource.group_version, kind=api_resource.kind,
                    spec={"servedAs": api_resource.version})
               for item in self.items.get(api_resource.group_resource, [])
               if (namespace is None or item["metadata"].get("namespace") == namespace)
               and all((item["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())]

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None):
        for items in self.list_pages(api_resource, namespace, label_selector):
            yield json.dumps({"kind": api_resource.kind + "List", "metadata": {}, "items": items}).encode()

    def list_items(self, api_resource, namespace=None, label_selector=None):
        for page in self.list_pages(api_resource, namespace, label_selector):
            yield from page

    def count(self, api_resource, namespace=None):
        return len(self.items.get(api_resource.group_resource, []))


ITEMS = {
    "namespaces": [obj("music"), obj("other")],
    "configmaps": [obj("settings", "music", labels={"app": "band"})],
    GR: [obj("beatles", "music", labels={"app": "band"}), obj("queen", "music"), obj("abba", "other")],
    "customresourcedefinitions." + "apiextensions.k8s.io": [obj(GR)],
}


@pytest.fixture
def store(tmp_path):
    real = open_store({"provider": "filesystem", "path": str(tmp_path)})
    real.check()
    return real


def run(store, kube, check_mode=False, **options):
    options.setdefault("name", "b1")
    options.setdefault("ttl", "720h")
    return backup.BackupRun(kube, store, options, check_mode).execute()


def entries(store, name="b1"):
    data = store.get_bytes(backup_keys(name)["tarball"])
    return [(path, json.loads(data) if path.startswith("resources/") else data)
            for path, data in tarball.iter_archive(io.BytesIO(data))]


def rockband_paths(store):
    return sorted(path for path, _item in entries(store) if path.startswith("resources/%s/" % GR))


def test_every_item_is_written_once_more_in_each_other_served_version(store):
    result = run(store, TwoVersionCluster(ITEMS), included_namespaces=["music"], all_api_versions=True)
    assert result["phase"] == "Completed"
    items = dict(entries(store))
    for name in ("beatles", "queen"):
        assert items["resources/%s/namespaces/music/%s.json" % (GR, name)]["apiVersion"] == GROUP + "/v1"
        assert items["resources/%s/v1-preferredversion/namespaces/music/%s.json" % (GR, name)]["spec"] == {
            "servedAs": "v1"}
        copy = items["resources/%s/v2beta1/namespaces/music/%s.json" % (GR, name)]
        assert copy["apiVersion"] == GROUP + "/v2beta1" and copy["spec"] == {"servedAs": "v2beta1"}
    # a version the server does not list (no list verb) is not read; the other namespace is not in scope
    assert not [path for path in items if "/v1alpha1/" in path or "/other/" in path]
    # counted once, in the preferred version: the resource list, the counts, status.progress
    assert result["item_counts"]["per_resource"][GROUP + "/v1/RockBand"] == 2
    assert GROUP + "/v2beta1/RockBand" not in result["item_counts"]["per_resource"]
    resource_list = store.get_json_gz(backup_keys("b1")["resource_list"])
    assert resource_list[GROUP + "/v1/RockBand"] == ["music/beatles", "music/queen"]
    assert json.loads(store.get_bytes(backup_keys("b1")["metadata"]))["status"]["progress"] == {
        "totalItems": result["item_counts"]["total"], "itemsBackedUp": result["item_counts"]["total"]}
    # single-version types get no version folder
    assert not [path for path in items if path.startswith("resources/configmaps/") and "/v1/" in path]


def test_the_option_off_writes_exactly_the_usual_layout(store):
    kube = TwoVersionCluster(ITEMS)
    run(store, kube, included_namespaces=["music"])
    assert rockband_paths(store) == sorted(
        "resources/%s/%snamespaces/music/%s.json" % (GR, folder, name)
        for name in ("beatles", "queen") for folder in ("", "v1-preferredversion/"))
    assert not [entry for entry in kube.lists if entry[0] == GROUP + "/v2beta1"]


def test_the_label_selector_applies_to_the_other_versions_too(store):
    kube = TwoVersionCluster(ITEMS)
    run(store, kube, included_namespaces=["music"], label_selector="app=band", all_api_versions=True)
    assert [path for path in rockband_paths(store) if "/v2beta1/" in path] == [
        "resources/%s/v2beta1/namespaces/music/beatles.json" % GR]
    assert (GROUP + "/v2beta1", "rockbands", "music", "app=band") in kube.lists


def test_an_item_that_appeared_after_the_main_pass_is_not_written_in_another_version(store):
    class Growing(TwoVersionCluster):
        def list_pages(self, api_resource, namespace=None, label_selector=None):
            if api_resource.version == "v2beta1":
                self.items = dict(self.items, **{GR: self.items[GR] + [obj("newcomer", "music")]})
            return super(Growing, self).list_pages(api_resource, namespace, label_selector)

    run(store, Growing(ITEMS), included_namespaces=["music"], all_api_versions=True)
    assert not [path for path in rockband_paths(store) if "newcomer" in path]


def test_check_mode_lists_the_other_versions_and_writes_nothing(store):
    kube = TwoVersionCluster(ITEMS)
    result = run(store, kube, check_mode=True, included_namespaces=["music"], all_api_versions=True)
    assert result["item_counts"]["per_resource"][GROUP + "/v1/RockBand"] == 2
    assert store.list_keys("backups/") == []
    assert (GROUP + "/v2beta1", "rockbands", "music", None) in kube.lists


# ---------------------------------------------------------------- the tarball's paths

def test_version_paths_are_velero_layout_and_parse_back():
    item = {"metadata": {"name": "beatles", "namespace": "music"}}
    path = tarball.version_copy_path(ROCKBANDS_V2BETA1, item)
    assert path == "resources/%s/v2beta1/namespaces/music/beatles.json" % GR
    assert tarball.parse_item_path(path) == tarball.ArchivePath(GR, "v2beta1", "music", "beatles")
    assert not tarball.is_preferred_copy(path)
    preferred = tarball.item_paths(ROCKBANDS_V1, item)
    assert preferred == ["resources/%s/namespaces/music/beatles.json" % GR,
                         "resources/%s/v1-preferredversion/namespaces/music/beatles.json" % GR]
    assert [tarball.is_preferred_copy(p) for p in preferred] == [False, True]
    crd = ApiResource("apiextensions.k8s.io", "v1beta1", "customresourcedefinitions", "CustomResourceDefinition", False)
    assert tarball.version_copy_path(crd, {"metadata": {"name": GR, "namespace": "ignored"}}) == \
        "resources/customresourcedefinitions.apiextensions.k8s.io/v1beta1/cluster/%s.json" % GR
    assert tarball.item_path("pods", "ns", "p", "v1", preferred=False) == "resources/pods/v1/namespaces/ns/p.json"


def test_writer_adds_a_version_copy_as_one_entry():
    buffer = io.BytesIO()
    writer = tarball.ArchiveWriter(buffer, mtime=0)
    item = {"apiVersion": GROUP + "/v2beta1", "kind": "RockBand", "metadata": {"name": "queen", "namespace": "music"}}
    assert writer.add_version_copy(ROCKBANDS_V2BETA1, item) == "resources/%s/v2beta1/namespaces/music/queen.json" % GR
    writer.close()
    buffer.seek(0)
    read = list(tarball.iter_archive(buffer))
    assert [path for path, _data in read] == [tarball.VERSION_ENTRY, "resources/%s/v2beta1/namespaces/music/queen.json" % GR]
    assert json.loads(read[1][1]) == item
