"""Per namespace or cluster-wide (backup/listing.py): the choice made by the measured costs of one more
LIST request against the items of the namespaces a cluster-wide LIST reads for nothing; and
KubeClient.count, which tells how many namespaces there are from a one-item page."""
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.backup import listing
from ansible_collections.kubedr.backup.plugins.module_utils.kube import client as kube
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import BackupSelection

NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False)
TYPES = 45  # namespaced types a test bed lists


def selection(**options):
    return BackupSelection(dict({"included_namespaces": ["*"], "excluded_namespaces": []}, **options), [NAMESPACES])


def counted(total):
    calls = []

    def count():
        calls.append(1)
        return total
    return count, calls


@pytest.mark.parametrize("selected, total, per_namespace", [
    (2, 105, True),     # measured: 4.6 s per namespace, 4.9 s cluster-wide (44 items a namespace)
    (5, 105, False),    # measured: 5.6 s per namespace, 4.4 s cluster-wide
    (10, 105, False),   # measured: 4.0 s per namespace, 2.6 s cluster-wide
    (20, 105, False),   # measured: 12.2 s per namespace, 6.1 s cluster-wide (900 requests against 45)
    (5, 1000, True),    # 180 more requests against the items of 995 other namespaces
    (20, 20, False),    # every namespace selected: nothing read for nothing
])
def test_the_choice_follows_the_measured_costs(selected, total, per_namespace):
    assert listing.list_per_namespace(selected, total, TYPES) is per_namespace


def test_one_namespace_is_listed_in_place_without_counting():
    count, calls = counted(500)
    chosen = listing.namespaces_to_list(selection(included_namespaces=["shop"]), ["shop"], count, TYPES)
    assert chosen == ["shop"] and calls == []


def test_every_namespace_is_listed_cluster_wide_without_counting():
    count, calls = counted(3)
    assert listing.namespaces_to_list(selection(), ["a", "b", "c"], count, TYPES) is None
    assert calls == []


def test_many_selected_namespaces_are_listed_cluster_wide():
    names = ["ns-%02d" % i for i in range(20)]
    count, calls = counted(105)
    assert listing.namespaces_to_list(selection(included_namespaces=["ns-*"]), names, count, TYPES) is None
    assert calls == [1]


def test_a_caller_who_cannot_list_namespaces_lists_in_each():
    names = ["ns-%02d" % i for i in range(20)]
    assert listing.namespaces_to_list(selection(included_namespaces=names), names, None, TYPES) == names


def test_an_unknown_total_falls_back_to_the_count_of_selected_namespaces():
    assert listing.list_per_namespace(listing.PER_NAMESPACE_LIST_LIMIT, None, TYPES) is True
    assert listing.list_per_namespace(listing.PER_NAMESPACE_LIST_LIMIT + 1, None, TYPES) is False


class OnePage(object):
    host = "https://fake:6443"

    def __init__(self, document):
        self.document = document
        self.queries = []

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        self.queries.append((path, dict(query or {})))
        return json.dumps(self.document).encode()


@pytest.mark.parametrize("document, expected", [
    ({"metadata": {"continue": "t", "remainingItemCount": 104}, "items": [{}]}, 105),
    ({"metadata": {}, "items": [{}]}, 1),                      # the only namespace
    ({"metadata": {"continue": "t"}, "items": [{}]}, None),    # more, but the server does not say how many
])
def test_count_reads_one_item_and_the_remaining_count(document, expected):
    transport = OnePage(document)
    assert kube.KubeClient(transport=transport).count(NAMESPACES) == expected
    assert transport.queries == [("/api/v1/namespaces", {"limit": 1})]
