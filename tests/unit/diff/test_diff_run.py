"""k8s_backup_diff's engine over backups on a filesystem location: two backups, a backup and a
cluster (a stand-in serving LISTs from a dict), the filters on both sides, the schedule's newest
backup, encrypted backups, and bad input."""
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.diff.run import run
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto

from diff_support import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, SECRETS, VERBS, item, write_backup

SECRET_VALUES = ("c2VjcmV0LW9uZQ==", "c2VjcmV0LXR3bw==", "secret-one", "secret-two")


@pytest.fixture
def location(tmp_path):
    return {"provider": "filesystem", "path": str(tmp_path)}


def night(data_color="blue", password=SECRET_VALUES[0], extra=(), without=()):
    items = [
        item("Namespace", "shop"), item("Namespace", "other"),
        item("ConfigMap", "settings", "shop", data={"color": data_color}, metadata={"labels": {"app": "shop"}}),
        item("ConfigMap", "legacy", "shop", data={"x": "1"}, metadata={"labels": {"app": "shop"}}),
        item("ConfigMap", "elsewhere", "other", data={"x": "1"}),
        item("Secret", "creds", "shop", data={"password": password}, metadata={"labels": {"app": "shop"}}),
        item("Deployment", "web", "shop", spec={"replicas": 2}, status={"readyReplicas": 2}),
    ]
    return [obj for obj in items if obj["metadata"]["name"] not in without] + list(extra)


def keys(entries):
    return [(e["resource"], e["namespace"], e["name"]) for e in entries]


def test_two_backups_added_removed_modified_secret_values_never_shown(location):
    write_backup(location, "monday", night())
    tuesday = night("green", SECRET_VALUES[1], extra=[item("ConfigMap", "new", "shop")], without=["legacy"])
    write_backup(location, "tuesday", tuesday)
    result = run(None, location, {"backup_name": "monday", "against_backup": "tuesday"}, diff=True)
    assert result["differs"] is True and result["changed"] is False
    assert keys(result["added"]) == [("configmaps", "shop", "new")]
    assert keys(result["removed"]) == [("configmaps", "shop", "legacy")]
    assert keys(result["modified"]) == [("configmaps", "shop", "settings"), ("secrets", "shop", "creds")]
    assert [m["fields"] for m in result["modified"]] == [["data.color"], ["data.password"]]
    assert result["summary"] == ["+ configmaps shop/new", "- configmaps shop/legacy",
                                 "~ configmaps shop/settings: data.color", "~ secrets shop/creds: data.password"]
    assert '"password": "<hidden> (changed)"' in result["modified"][1]["unified_diff"]
    assert result["diff"][1]["after"]["data"] == {"password": "<hidden> (changed)"}
    counts = result["counts"]
    assert (counts["added"], counts["removed"], counts["modified"], counts["unchanged"]) == (1, 1, 2, 4)
    assert (counts["before"], counts["after"]) == (7, 7)
    assert counts["per_resource"]["configmaps"] == {"added": 1, "removed": 1, "modified": 1, "unchanged": 1}
    assert result["compared"]["before"]["name"] == "monday" and result["compared"]["after"]["name"] == "tuesday"
    text = json.dumps(result)
    assert not any(value in text for value in SECRET_VALUES)


def test_filters_select_both_sides_alike(location):
    write_backup(location, "monday", night())
    write_backup(location, "tuesday", night("green", without=["legacy", "elsewhere"]))
    in_other = run(None, location, {"backup_name": "monday", "against_backup": "tuesday",
                                    "included_namespaces": ["other"]})
    assert keys(in_other["removed"]) == [("configmaps", "other", "elsewhere")] and not in_other["modified"]
    by_kind = run(None, location, {"backup_name": "monday", "against_backup": "tuesday",
                                   "included_namespaces": ["shop"], "included_resources": ["ConfigMap"]})
    assert keys(by_kind["modified"]) == [("configmaps", "shop", "settings")]
    assert keys(by_kind["removed"]) == [("configmaps", "shop", "legacy")]
    labelled = run(None, location, {"backup_name": "monday", "against_backup": "tuesday",
                                    "label_selector": "app=shop", "excluded_resources": ["secrets"]})
    assert keys(labelled["modified"]) == [("configmaps", "shop", "settings")]
    assert keys(labelled["removed"]) == [("configmaps", "shop", "legacy")]  # "elsewhere" has no app label


def test_status_counts_only_on_request_and_diffs_are_capped(location):
    write_backup(location, "one", night())
    changed = [item("Deployment", "web", "shop", spec={"replicas": 2}, status={"readyReplicas": 1})]
    write_backup(location, "two", night("green", without=["web"], extra=changed))
    plain = run(None, location, {"backup_name": "one", "against_backup": "two"})
    assert keys(plain["modified"]) == [("configmaps", "shop", "settings")]
    with_status = run(None, location, {"backup_name": "one", "against_backup": "two", "include_status": True,
                                       "max_diffs": 1})
    assert keys(with_status["modified"]) == [("configmaps", "shop", "settings"), ("deployments.apps", "shop", "web")]
    assert with_status["modified"][1]["fields"] == ["status.readyReplicas"]
    assert "unified_diff" in with_status["modified"][0] and "unified_diff" not in with_status["modified"][1]
    assert with_status["diffs_omitted"] == 1


def test_newest_completed_backup_of_a_schedule_and_partial_backups_warn(location):
    schedule = {"velero.io/schedule-name": "nightly"}
    write_backup(location, "nightly-1", night("red"), labels=schedule, started="2024-01-01T02:00:00Z")
    write_backup(location, "nightly-2", night("blue"), labels=schedule, started="2024-01-02T02:00:00Z")
    write_backup(location, "nightly-3", night("pink"), labels=schedule, started="2024-01-03T02:00:00Z",
                 phase="PartiallyFailed")
    write_backup(location, "manual", night("blue"), started="2024-01-04T02:00:00Z")
    result = run(None, location, {"schedule_name": "nightly", "against_backup": "manual"})
    assert result["compared"]["before"]["name"] == "nightly-2" and result["differs"] is False
    partial = run(None, location, {"backup_name": "nightly-3", "against_backup": "manual"})
    assert any("nightly-3 is PartiallyFailed" in w for w in partial["warnings"])
    with pytest.raises(NotFoundError, match="no Completed backup of schedule weekly"):
        run(None, location, {"schedule_name": "weekly", "against_backup": "manual"})


def test_encrypted_backups_need_their_passphrase(location):
    write_backup(location, "one", night(), passphrase="pass-one")
    write_backup(location, "two", night("green"), passphrase="pass-one")
    result = run(None, location, {"backup_name": "one", "against_backup": "two",
                                  "encryption": {"passphrase": "pass-one"}})
    assert keys(result["modified"]) == [("configmaps", "shop", "settings")]
    with pytest.raises(crypto.DecryptionError, match="backup one is encrypted"):
        run(None, location, {"backup_name": "one", "against_backup": "two"})


@pytest.mark.parametrize("options,message", [
    ({"against_backup": "b"}, "exactly one of backup_name and schedule_name"),
    ({"backup_name": "a", "schedule_name": "s"}, "exactly one of backup_name and schedule_name"),
    ({"backup_name": "a", "against": "backup"}, "against=backup needs against_backup"),
    ({"backup_name": "a", "against": "cluster", "against_backup": "b"}, "against_backup cannot be given"),
    ({"backup_name": "Not_Valid", "against_backup": "b"}, "backup name 'Not_Valid' is not a valid object name"),
    ({"backup_name": "a", "against_backup": "b", "max_diffs": -1}, "max_diffs must be"),
    ({"backup_name": "a", "against_backup": "b", "label_selector": "a=b", "or_label_selectors": ["c=d"]},
     "mutually exclusive"),
])
def test_bad_options_are_refused_before_anything_is_read(options, message, tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path / "never-read")}
    with pytest.raises(InvalidOptionError, match=message):
        run(None, location, options)


def test_unknown_and_failed_backups_are_named(location):
    write_backup(location, "failed", night(), phase="Failed")
    with pytest.raises(NotFoundError, match="backup nope not found"):
        run(None, location, {"backup_name": "nope", "against_backup": "failed"})
    with pytest.raises(InvalidOptionError, match="backup failed is in phase Failed"):
        run(None, location, {"backup_name": "failed", "against_backup": "failed"})


# ------------------------------------------------------------------ against a cluster

# A cluster whose preferred version of configmaps is newer than the backup's.
CONFIGMAPS_V2 = ApiResource("", "v2", "configmaps", "ConfigMap", True, VERBS, True)
CONFIGMAPS_V1_OLDER = CONFIGMAPS._replace(preferred=False)


class StandInCluster(object):
    """Discovery and paginated LISTs served from a dict {group_resource: [items]}; types in
    ``forbidden`` answer 403. Records the (group version, namespace, selector) of every LIST."""

    host = "https://stand-in:6443"

    def __init__(self, items, resources, forbidden=()):
        self.items = items
        self.resources = resources
        self.forbidden = set(forbidden)
        self.lists = []

    def discover(self):
        return Discovery(self.resources)

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        self.lists.append((api_resource.group_resource, api_resource.group_version, namespace, label_selector))
        if api_resource.group_resource in self.forbidden:
            raise ApiException(403, "Forbidden", body=json.dumps({"message": "configmaps is forbidden"}))
        items = [dict(obj, apiVersion=api_resource.group_version) for obj in self.items.get(api_resource.group_resource, [])
                 if not namespace or obj["metadata"].get("namespace") == namespace]
        yield items[:2]
        yield items[2:]


def cluster_of(objects, resources=(NAMESPACES, CONFIGMAPS, SECRETS, DEPLOYMENTS), forbidden=()):
    by_resource = {}
    for obj in objects:
        gr = {"Namespace": "namespaces", "ConfigMap": "configmaps", "Secret": "secrets",
              "Deployment": "deployments.apps"}[obj["kind"]]
        by_resource.setdefault(gr, []).append(obj)
    return StandInCluster(by_resource, list(resources), forbidden)


def test_backup_against_the_cluster_reads_the_backups_version_per_namespace(location):
    write_backup(location, "monday", night())
    live = night("green", extra=[item("ConfigMap", "new", "shop")], without=["legacy"])
    cluster = cluster_of(live, resources=(NAMESPACES, CONFIGMAPS_V2, CONFIGMAPS_V1_OLDER, SECRETS, DEPLOYMENTS))
    result = run({}, location, {"backup_name": "monday", "included_namespaces": ["shop"]},
                 kube_factory=lambda auth: cluster)
    assert result["compared"]["after"] == {"kind": "cluster", "host": cluster.host}
    assert keys(result["added"]) == [("configmaps", "shop", "new")]
    assert keys(result["removed"]) == [("configmaps", "shop", "legacy")]
    assert keys(result["modified"]) == [("configmaps", "shop", "settings")]
    assert ("configmaps", "v1", "shop", None) in cluster.lists  # the backup's version, in the one namespace
    assert not [entry for entry in cluster.lists if entry[1] == "v2"]
    assert not [entry for entry in cluster.lists if entry[0] == "namespaces" and entry[2]]


def test_a_type_that_cannot_be_listed_is_left_out_with_a_warning(location):
    write_backup(location, "monday", night())
    cluster = cluster_of(night(without=["settings", "legacy"]), forbidden=["configmaps"])
    result = run({}, location, {"backup_name": "monday", "label_selector": "app=shop"},
                 kube_factory=lambda auth: cluster)
    assert not result["removed"] and not result["differs"]
    assert any(w.startswith("cannot list configmaps") and "left out of the comparison" in w for w in result["warnings"])
    assert ("secrets", "v1", None, "app=shop") in cluster.lists  # the selector goes to the server
    assert ("namespaces", "v1", None, None) in cluster.lists  # namespaces are taken by name, not by label


def test_a_version_the_cluster_no_longer_serves_is_read_in_the_preferred_one_with_a_warning(location):
    write_backup(location, "monday", night())
    cluster = cluster_of(night(), resources=(NAMESPACES, CONFIGMAPS_V2, SECRETS, DEPLOYMENTS))
    result = run({}, location, {"backup_name": "monday", "included_namespaces": ["shop"]},
                 kube_factory=lambda auth: cluster)
    assert keys(result["modified"]) == [("configmaps", "shop", "legacy"), ("configmaps", "shop", "settings")]
    assert all(m["fields"] == ["apiVersion"] for m in result["modified"])
    assert any("configmaps: the backup holds version v1, which the cluster no longer serves" in w
               for w in result["warnings"])
