"""Which API version a restore creates the items of a backup holding several in (k8s_backup
all_api_versions, Velero's EnableAPIGroupVersions): the choice in Velero's order (pure), the
user's priorities, the archive's index of version folders, and a check-mode restore through the
real pipeline over a discovery serving given versions."""
import gzip
import io
import json
import random
import tarfile

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery, version_priority
from ansible_collections.kubedr.backup.plugins.module_utils.restore import index as restore_index
from ansible_collections.kubedr.backup.plugins.module_utils.restore import options as restore_options
from ansible_collections.kubedr.backup.plugins.module_utils.restore import versions
from ansible_collections.kubedr.backup.plugins.module_utils.restore.run import RestoreRun

GR = "rockbands.music.example.io"


# ---------------------------------------------------------------- version priority

def test_kubernetes_version_priority_order():
    # Kubernetes' own example (apimachinery version.CompareKubeAwareVersionStrings)
    ordered = ["v10", "v2", "v1", "v11beta2", "v10beta3", "v3beta1", "v12alpha1", "v11alpha2", "foo1", "foo10"]
    shuffled = list(ordered)
    random.Random(20).shuffle(shuffled)
    assert sorted(shuffled, key=version_priority) == ordered
    assert versions.sort_versions(["v1beta1", "v1", "v1", "v2alpha1"]) == ["v1", "v1beta1", "v2alpha1"]


def test_discovery_lists_a_resources_served_versions_by_priority():
    discovery = Discovery([
        ApiResource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, preferred=False),
        ApiResource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, preferred=True),
        ApiResource("autoscaling", "v2", "horizontalpodautoscalers/status", "HorizontalPodAutoscaler", True),
        ApiResource("apps", "v1", "deployments", "Deployment", True),
    ])
    assert [r.version for r in discovery.served_versions("horizontalpodautoscalers.autoscaling")] == ["v2", "v1"]
    assert discovery.served_versions("widgets.example.com") == []


# ---------------------------------------------------------------- the choice, in Velero's order

@pytest.mark.parametrize("backup,backup_preferred,cluster,cluster_preferred,user,version,rule", [
    # 1: the cluster's preferred version, when the backup has it
    (["v1", "v2beta1"], "v2beta1", ["v1", "v2beta1"], "v1", None, "v1", versions.CLUSTER_PREFERRED),
    # 2: else the backup's preferred version, when the cluster serves it
    (["v1", "v2beta1"], "v2beta1", ["v3", "v2beta1"], "v3", None, "v2beta1", versions.BACKUP_PREFERRED),
    # 3: else the first version the cluster serves that the backup has, in Kubernetes' priority
    (["v1", "v1beta1", "v2beta2"], "v2beta2", ["v3", "v1beta1", "v1"], "v3", None, "v1", versions.COMMON_VERSION),
    (["v2beta1", "v1beta1", "v1alpha1"], "v2beta1", ["v2", "v1alpha1", "v1beta1"], "v2", None, "v1beta1",
     versions.COMMON_VERSION),
    # 0: the user's priorities first: the first both sides have; one neither has is passed over
    (["v1", "v2beta1"], "v1", ["v1", "v2beta1"], "v1", ("v9", "v2beta1", "v1"), "v2beta1", versions.USER_PRIORITY),
    (["v1", "v2beta1"], "v1", ["v1"], "v1", ("v2beta1",), "v1", versions.CLUSTER_PREFERRED),
    # none in common: no version
    (["v1", "v2beta1"], "v1", ["v3"], "v3", ("v1",), None, None),
])
def test_choice_follows_velero(backup, backup_preferred, cluster, cluster_preferred, user, version, rule):
    choice = versions.choose_version(GR, backup, backup_preferred, cluster, cluster_preferred, user)
    assert (choice.version, choice.rule) == (version, rule)
    assert list(choice.backup_versions) == versions.sort_versions(backup)
    assert list(choice.cluster_versions) == versions.sort_versions(cluster)


def test_unserved_message_names_both_sides():
    choice = versions.choose_version(GR, ["v2beta1", "v1"], "v1", ["v3"], "v3")
    message = versions.unserved_message(choice)
    assert "the backup holds %s in version(s) v1, v2beta1; the cluster serves it in v3 only" % GR in message
    assert versions.describe(choice) == {"version": None, "rule": None, "backup_versions": ["v1", "v2beta1"],
                                         "backup_preferred": "v1", "cluster_versions": ["v3"],
                                         "cluster_preferred": "v3"}


# ---------------------------------------------------------------- api_version_priorities

def test_priorities_from_a_dict_or_velero_text():
    assert versions.parse_version_priorities(None) == {}
    assert versions.parse_version_priorities({GR: ["v2beta1", "v1"], "hpa.autoscaling": "v2, v1"}) == {
        GR: ("v2beta1", "v1"), "hpa.autoscaling": ("v2", "v1")}
    # Velero's enableapigroupversions ConfigMap, restoreResourcesVersionPriority, spaces and blank lines ignored
    text = "rockbands.music.example.io=v2beta1,v2beta2\n\n orchestras.music.example.io = v2, v3alpha1\n"
    assert versions.parse_version_priorities(text) == {GR: ("v2beta1", "v2beta2"),
                                                       "orchestras.music.example.io": ("v2", "v3alpha1")}


@pytest.mark.parametrize("option,message", [
    (["v1"], "must be a dict"),
    ({GR: []}, "must be a list of API versions"),
    ({GR: ["V1!"]}, "must be a list of API versions"),
    ({"music.example.io/v1": ["v1"]}, "is not a group-resource"),
    ("rockbands=v1=v2", "line 1"),
    ("ok.example.io=v1\n=v2", "line 2"),
])
def test_bad_priorities_are_refused_before_anything_is_read(option, message):
    with pytest.raises(InvalidOptionError, match=message):
        restore_options.validate_options({"backup_name": "b", "api_version_priorities": option})


# ---------------------------------------------------------------- the archive's version folders

def rockband(name, version, namespace="music", **extra):
    return json.dumps(dict({"apiVersion": "music.example.io/" + version, "kind": "RockBand",
                            "metadata": {"name": name, "namespace": namespace}}, **extra)).encode()


def at(name, version_dir=None, namespace="music", resource=GR):
    parts = ["resources", resource] + ([version_dir] if version_dir else []) + ["namespaces", namespace, name + ".json"]
    return "/".join(parts)


def archive(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data in [("metadata/version", b"1.1.0\n")] + entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return io.BytesIO(gzip.compress(buffer.getvalue()))


def all_versions_backup(names=("beatles", "queen")):
    """As k8s_backup all_api_versions writes it: plain + v1-preferredversion per item, then the v2beta1 pass."""
    entries = []
    for name in names:
        entries += [(at(name), rockband(name, "v1")), (at(name, "v1-preferredversion"), rockband(name, "v1"))]
    entries += [(at(name, "v2beta1"), rockband(name, "v2beta1", spec={"v2": True})) for name in names]
    return entries


def test_index_keeps_each_version_folder_and_restores_the_plain_copies_until_a_choice(tmp_path):
    extracted = restore_index.extract_backup(archive(all_versions_backup()), str(tmp_path), 10 ** 8)
    try:
        group = extracted.group(GR)
        assert group.preferred_version == "v1" and sorted(group.versions) == ["v2beta1"]
        assert extracted.versions_of(GR) == (["v1", "v2beta1"], "v1")
        assert [item["apiVersion"] for _ns, _n, item in extracted.items_of(GR)] == ["music.example.io/v1"] * 2
        group.chosen_version = "v2beta1"
        assert [(ns, n, item["apiVersion"]) for ns, n, item in extracted.items_of(GR)] == [
            ("music", "beatles", "music.example.io/v2beta1"), ("music", "queen", "music.example.io/v2beta1")]
    finally:
        extracted.close()


def test_index_of_a_backup_with_one_version_is_as_before(tmp_path):
    entries = [(at("beatles"), rockband("beatles", "v1")), (at("beatles", "v1-preferredversion"), rockband("beatles", "v1"))]
    extracted = restore_index.extract_backup(archive(entries), str(tmp_path), 10 ** 8)
    try:
        assert extracted.group(GR).versions == {} and len(extracted.group(GR).items()) == 1
    finally:
        extracted.close()


def test_preferred_version_of_a_backup_without_preferred_copies_is_read_from_an_item(tmp_path):
    entries = [(at("beatles"), rockband("beatles", "v1")), (at("beatles", "v1beta1"), rockband("beatles", "v1beta1"))]
    extracted = restore_index.extract_backup(archive(entries), str(tmp_path), 10 ** 8)
    try:
        assert extracted.versions_of(GR) == (["v1", "v1beta1"], "v1")
    finally:
        extracted.close()


# ---------------------------------------------------------------- through the pipeline (check mode)

VERBS = ("create", "delete", "get", "list", "patch", "update")
BASE = [ApiResource("", "v1", "namespaces", "Namespace", False, VERBS, True, ("ns",), "namespace")]


def rockbands(*served):
    """The RockBand resource in each served version, the first the group's preferred one."""
    return [ApiResource("music.example.io", v, "rockbands", "RockBand", True, VERBS, i == 0, (), "rockband")
            for i, v in enumerate(served)]


class EmptyCluster(object):
    host = "https://empty.invalid"

    def __init__(self, resources):
        self.discovery = Discovery(BASE + resources)

    def discover(self, refresh=False):
        return self.discovery

    def get(self, path, query=None):
        raise ApiException(404, "Not Found", b"{}")


class NoStore(object):
    read_only = True

    def get_json_gz(self, key):
        return None


def preview(entries, served, **options):
    options = restore_options.validate_options(dict({"name": "r", "backup_name": "b"}, **options))
    run = RestoreRun(EmptyCluster(served), NoStore(), options, {"metadata": {"name": "b"}, "status": {"phase": "Completed"}},
                     check_mode=True, diff=True)
    return run.execute(archive(entries))


def planned_rockbands(result):
    return sorted((e["resource"], e["name"], e["action"]) for e in result["plan"] if e["group_resource"] == GR)


def test_preview_creates_in_the_cluster_preferred_version_the_backup_has():
    result = preview(all_versions_backup(), rockbands("v2beta1", "v1"))
    assert planned_rockbands(result) == [("music.example.io/v2beta1/RockBand", "beatles", "create"),
                                         ("music.example.io/v2beta1/RockBand", "queen", "create")]
    assert result["api_versions"][GR]["version"] == "v2beta1"
    assert result["api_versions"][GR]["rule"] == versions.CLUSTER_PREFERRED


def test_preview_keeps_the_backup_preferred_version_when_the_cluster_serves_it():
    result = preview(all_versions_backup(), rockbands("v1", "v2beta1"))
    assert [entry[0] for entry in planned_rockbands(result)] == ["music.example.io/v1/RockBand"] * 2
    assert result["api_versions"][GR]["rule"] == versions.CLUSTER_PREFERRED


def test_preview_follows_the_users_priorities():
    result = preview(all_versions_backup(), rockbands("v1", "v2beta1"), api_version_priorities={GR: ["v2beta1"]})
    assert [entry[0] for entry in planned_rockbands(result)] == ["music.example.io/v2beta1/RockBand"] * 2
    assert result["api_versions"][GR]["rule"] == versions.USER_PRIORITY


def test_a_cluster_serving_none_of_the_versions_fails_those_items_only():
    entries = all_versions_backup() + [("resources/namespaces/cluster/music.json", json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "music"}}).encode())]
    result = preview(entries, rockbands("v3"))
    assert [entry[2] for entry in planned_rockbands(result)] == ["fail", "fail"]
    errors = result["restore_errors"]["namespaces"]["music"]
    assert len(errors) == 2 and all("the backup holds %s in version(s) v1, v2beta1; the cluster serves it in v3 only"
                                    % GR in error for error in errors), errors
    assert result["item_counts"]["failed"] == 2 and result["item_counts"]["created"] == 1  # the namespace
    assert result["api_versions"][GR]["version"] is None


def test_a_backup_with_one_version_restores_as_before():
    entries = [(at("beatles"), rockband("beatles", "v1")), (at("beatles", "v1-preferredversion"), rockband("beatles", "v1"))]
    result = preview(entries, rockbands("v2", "v1"))
    assert planned_rockbands(result) == [("music.example.io/v1/RockBand", "beatles", "create")]
    assert "api_versions" not in result


def test_a_broken_copy_counts_only_in_the_version_restored():
    entries = [entry if entry[0] != at("queen", "v2beta1") else (entry[0], b"{") for entry in all_versions_backup()]
    result = preview(entries, rockbands("v1", "v2beta1"))  # the plain (v1) copies are restored: queen's v2beta1 is not read
    assert [entry[2] for entry in planned_rockbands(result)] == ["create", "create"]
    assert result["item_counts"]["failed"] == 0
    result = preview(entries, rockbands("v2beta1"))
    assert planned_rockbands(result) == [("music.example.io/v2beta1/RockBand", "beatles", "create"),
                                         (GR, "queen", "fail")]
    assert [e for e in result["restore_errors"]["namespaces"]["music"] if at("queen", "v2beta1") in e]
