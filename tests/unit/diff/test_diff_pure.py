"""The pure pieces of k8s_backup_diff: what counts in a comparison, how a difference is told,
Secret values hidden, and the digest-then-spool comparison (with a seeded property test)."""
import copy
import random

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.secrets import (
    CHANGED, HIDDEN, LAST_APPLIED_ANNOTATION, hide_secret_values, secret_diff,
)
from ansible_collections.kubedr.backup.plugins.module_utils.diff.compare import Comparison
from ansible_collections.kubedr.backup.plugins.module_utils.diff.normalize import (
    changed_paths, comparable, unified_diff,
)

from diff_support import item


# ------------------------------------------------------------------ what counts

def test_server_bookkeeping_status_and_restore_labels_do_not_count():
    live = item("ConfigMap", "a", "ns", data={"k": "v"}, status={"x": 1}, metadata={
        "managedFields": [{"manager": "kubectl"}], "generation": 4, "selfLink": "/api/v1/x",
        "labels": {"velero.io/restore-name": "r1", "velero.io/backup-name": "b1"}})
    stored = item("ConfigMap", "a", "ns", data={"k": "v"}, metadata={"uid": "another", "resourceVersion": "77"})
    original = copy.deepcopy(live)
    assert comparable(live) == comparable(stored)
    assert live == original  # inputs are never modified
    assert "labels" not in comparable(live)["metadata"]  # emptied by the restore labels: gone, as never set


def test_user_labels_annotations_and_status_on_request_count():
    one = item("ConfigMap", "a", "ns", metadata={"labels": {"team": "a", "velero.io/restore-name": "r"}}, status={"s": 1})
    two = item("ConfigMap", "a", "ns", metadata={"labels": {"team": "b"}}, status={"s": 2})
    assert comparable(one)["metadata"]["labels"] == {"team": "a"}
    assert changed_paths(comparable(one), comparable(two)) == ["metadata.labels.team"]
    assert changed_paths(comparable(one, True), comparable(two, True)) == ["metadata.labels.team", "status.s"]


def test_changed_paths_name_fields_never_values():
    before = {"spec": {"containers": [{"image": "web:1", "name": "web"}], "replicas": 1},
              "metadata": {"annotations": {"app.kubernetes.io/version": "1"}}, "data": {"gone": "x"}}
    after = {"spec": {"containers": [{"image": "web:2", "name": "web"}], "replicas": 1, "paused": True},
             "metadata": {"annotations": {"app.kubernetes.io/version": "2"}}, "data": {}}
    assert changed_paths(before, after) == [
        "data.gone", 'metadata.annotations["app.kubernetes.io/version"]', "spec.containers[0].image", "spec.paused"]
    assert changed_paths({"l": [1, 2]}, {"l": [1, 2, 3]}) == ["l"]  # a list that grew: the list itself
    assert changed_paths({"a": 1}, {"a": "1"}) == ["a"]
    assert changed_paths(before, before) == []


def test_unified_diff_shows_the_changed_line_with_headers():
    text = unified_diff({"data": {"color": "blue", "size": "L"}}, {"data": {"color": "green", "size": "L"}},
                        "configmaps ns/a (backup one)", "configmaps ns/a (the cluster)")
    assert text.splitlines()[:2] == ["--- configmaps ns/a (backup one)", "+++ configmaps ns/a (the cluster)"]
    assert '-    "color": "blue",' in text and '+    "color": "green",' in text
    assert unified_diff({"a": 1}, {"a": 1}, "x", "y") == "\n"


# ------------------------------------------------------------------ secret values

def test_secret_values_are_hidden_and_changes_still_told_apart():
    before = item("Secret", "s", "ns", data={"password": "b2xk", "user": "dQ==", "dropped": "eA=="},
                  metadata={"annotations": {LAST_APPLIED_ANNOTATION: '{"data":{"password":"b2xk"}}'}})
    after = item("Secret", "s", "ns", data={"password": "bmV3", "user": "dQ==", "added": "eQ=="},
                 stringData={"token": "plain"})
    original = copy.deepcopy(before)
    shown_before, shown_after = secret_diff(before, after)
    assert shown_before["data"] == {"password": HIDDEN, "user": HIDDEN, "dropped": HIDDEN}
    assert shown_before["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == HIDDEN
    assert shown_after["data"] == {"password": CHANGED, "user": HIDDEN, "added": HIDDEN}
    assert shown_after["stringData"] == {"token": HIDDEN}
    assert before == original
    text = repr((shown_before, shown_after))
    assert not any(value in text for value in ("b2xk", "bmV3", "dQ==", "eA==", "eQ==", "plain"))


def test_other_kinds_are_shown_as_they_are():
    config = item("ConfigMap", "c", "ns", data={"password": "visible"})
    assert hide_secret_values(config) is config
    assert secret_diff(config, config) == (config, config)


# ------------------------------------------------------------------ the comparison

def keyed(obj):
    metadata = obj["metadata"]
    return ("%ss" % obj["kind"].lower(), metadata.get("namespace") or "", metadata["name"])


def test_comparison_lists_added_removed_and_changed_and_pairs_them(tmp_path):
    same = item("ConfigMap", "same", "ns", data={"k": "v"})
    edited = item("ConfigMap", "edited", "ns", data={"k": "v"})
    gone = item("ConfigMap", "gone", "ns")
    new = item("ConfigMap", "new", "ns")
    comparison = Comparison(directory=str(tmp_path))
    for obj in (same, edited, gone):
        comparison.add_before(keyed(obj), obj)
    edited_after = dict(edited, data={"k": "w"})
    for obj in (same, edited_after, new, edited_after, new):  # second copies of a key are ignored
        comparison.add_after(keyed(obj), obj)
    assert comparison.added() == [keyed(new)]
    assert comparison.removed() == [keyed(gone)]
    assert comparison.changed() == [keyed(edited)]
    assert (comparison.unchanged_count(), comparison.before_count(), comparison.after_count()) == (1, 3, 3)
    pairs = list(comparison.pairs((keyed(obj), obj) for obj in (same, edited, gone)))
    assert [(key, old["data"], new_["data"]) for key, old, new_ in pairs] == [(keyed(edited), {"k": "v"}, {"k": "w"})]
    comparison.forget(["configmaps"])
    assert (comparison.added(), comparison.removed(), comparison.changed(), comparison.unchanged_count()) == ([], [], [], 0)
    comparison.close()


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_property_random_edits_are_found_exactly(seed, tmp_path):
    rng = random.Random(seed)
    before = [item("ConfigMap", "cm-%d" % i, "ns-%d" % rng.randrange(3), data={"v": str(rng.randrange(10 ** 6))})
              for i in range(rng.randrange(50, 150))]
    after, expected = [], {"added": set(), "removed": set(), "changed": set()}
    for obj in before:
        roll = rng.random()
        if roll < 0.1:
            expected["removed"].add(keyed(obj))
            continue
        copy_ = copy.deepcopy(obj)
        copy_["metadata"]["resourceVersion"] = str(rng.randrange(10 ** 6))  # noise that never counts
        if roll < 0.25:
            copy_["data"]["v"] += "-edited"
            expected["changed"].add(keyed(obj))
        after.append(copy_)
    for i in range(rng.randrange(0, 20)):
        obj = item("ConfigMap", "extra-%d" % i, "ns-0")
        after.append(obj)
        expected["added"].add(keyed(obj))
    rng.shuffle(after)
    comparison = Comparison(directory=str(tmp_path))
    for obj in before:
        comparison.add_before(keyed(obj), obj)
    for obj in after:
        comparison.add_after(keyed(obj), obj)
    assert set(comparison.added()) == expected["added"]
    assert set(comparison.removed()) == expected["removed"]
    assert set(comparison.changed()) == expected["changed"]
    pairs = list(comparison.pairs((keyed(obj), obj) for obj in before))
    assert set(key for key, _old, _new in pairs) == expected["changed"]
    assert all(changed_paths(old, new) == ["data.v"] for _key, old, new in pairs)
    comparison.close()
