"""Discovery documents (aggregated and legacy) into the ApiResources selection works on; the client's
retries, pagination and discovery over a scripted transport."""
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import (
    ApiResource,
    Discovery,
    api_path,
    parse_aggregated_discovery,
    parse_legacy_resource_list,
)

AGGREGATED = {
    "kind": "APIGroupDiscoveryList",
    "items": [
        {"metadata": {"name": "apps"}, "versions": [
            {"version": "v1", "resources": [
                {"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                 "scope": "Namespaced", "singularResource": "deployment", "shortNames": ["deploy"],
                 "verbs": ["create", "delete", "get", "list"]}]},
            {"version": "v1beta1", "resources": [
                {"resource": "deployments", "responseKind": {"kind": "Deployment"}, "scope": "Namespaced",
                 "verbs": ["list"]}]},
        ]},
        {"metadata": {"name": "metrics.k8s.io"}, "versions": [
            {"version": "v1beta1", "freshness": "Stale", "resources": [
                {"resource": "pods", "responseKind": {"kind": "PodMetrics"}, "scope": "Namespaced"}]}]},
    ],
}


def test_aggregated_discovery_marks_the_first_version_preferred_and_reports_stale_groups():
    resources, stale = parse_aggregated_discovery(AGGREGATED)
    assert resources == [
        ApiResource("apps", "v1", "deployments", "Deployment", True, ["create", "delete", "get", "list"], True,
                    ["deploy"], "deployment"),
        ApiResource("apps", "v1beta1", "deployments", "Deployment", True, ["list"], False),
    ]
    assert stale == ["metrics.k8s.io/v1beta1"]


def test_legacy_resource_list():
    document = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["list"],
         "shortNames": ["po"]},
        {"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "nodes", "namespaced": False, "kind": "Node", "verbs": ["list"]},
    ]}
    resources = parse_legacy_resource_list("", "v1", True, document)
    assert [(r.group_resource, r.namespaced, r.group_version) for r in resources] == [
        ("pods", True, "v1"), ("pods/log", True, "v1"), ("nodes", False, "v1")]


def test_discovery_lookups_and_paths():
    resources, _stale = parse_aggregated_discovery(AGGREGATED)
    discovery = Discovery(resources)
    deployments = discovery.find("deployments.apps")
    assert deployments.version == "v1"
    assert discovery.find_kind("apps/v1beta1", "Deployment").version == "v1beta1"
    assert discovery.find("nothing") is None
    assert api_path(deployments) == "/apis/apps/v1/deployments"
    assert api_path(deployments, "shop", "web") == "/apis/apps/v1/namespaces/shop/deployments/web"
    pods = ApiResource("", "v1", "pods", "Pod", True)
    nodes = ApiResource("", "v1", "nodes", "Node", False)
    assert api_path(pods, "shop") == "/api/v1/namespaces/shop/pods"
    assert api_path(nodes, "ignored", "n1") == "/api/v1/nodes/n1"


# ------------------------------------------------------------------ raw requests, retries, pagination

import json  # noqa: E402

import pytest  # noqa: E402

from ansible_collections.kubedr.backup.plugins.module_utils.kube import client as kube
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError


class FakeTransport(object):
    """Answers requests from a script (a list, or a list per path): exceptions are raised,
    documents returned as raw bodies; the last answer of a path repeats."""

    host = "https://fake:6443"

    def __init__(self, script):
        self.script = script
        self.calls = []

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        self.calls.append((method, path, dict(query or {})))
        answers = self.script[path] if isinstance(self.script, dict) else self.script
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return json.dumps(answer).encode()


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(kube.time, "sleep", slept.append)
    return slept


def api_error(status):
    return ApiException(status=status, reason="x")


def test_retries_429_and_5xx_then_succeeds(no_sleep):
    fake = FakeTransport([api_error(429), api_error(503), {"kind": "Status"}])
    assert kube.KubeClient(transport=fake).get("/version") == {"kind": "Status"}
    assert len(fake.calls) == 3 and len(no_sleep) == 2


def test_client_errors_are_not_retried(no_sleep):
    fake = FakeTransport([api_error(403)])
    with pytest.raises(ApiException):
        kube.KubeClient(transport=fake).get("/api/v1/secrets")
    assert len(fake.calls) == 1 and no_sleep == []


def test_connection_errors_end_in_a_clear_cluster_error(no_sleep):
    import urllib3
    fake = FakeTransport([urllib3.exceptions.NewConnectionError(None, "refused")] * 3)
    with pytest.raises(ClusterError, match="cannot reach the Kubernetes API server at https://fake:6443"):
        kube.KubeClient(transport=fake, max_attempts=3).get("/api")


def test_throttling_is_retried_beyond_max_attempts_honouring_retry_after(no_sleep):
    throttled = ApiException(status=429, reason="Too Many Requests", headers={"retry-after": "3"})
    fake = FakeTransport([throttled] * 12 + [{"kind": "Status"}])
    assert kube.KubeClient(transport=fake, max_attempts=3).get("/version") == {"kind": "Status"}
    assert len(fake.calls) == 13 and len(no_sleep) == 12
    assert all(delay >= 3 for delay in no_sleep)  # Retry-After (any case of the header's name) is honoured


def test_throttling_ends_once_its_budget_is_spent(no_sleep, monkeypatch):
    clock = iter(range(0, 1000, 100))
    monkeypatch.setattr(kube.time, "monotonic", lambda: next(clock))
    fake = FakeTransport([api_error(429)])
    with pytest.raises(ApiException):
        kube.KubeClient(transport=fake, throttled_budget=250).get("/version")
    assert len(fake.calls) == 4  # at 0 (start), 100, 200: retried; at 300: over budget


def test_a_timeout_is_never_retried_and_names_the_server_and_the_option(no_sleep):
    import urllib3
    fake = FakeTransport([urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out")])
    with pytest.raises(ClusterError) as raised:
        kube.KubeClient(transport=fake, timeout=(4, 7)).get("/api")
    assert str(raised.value).startswith("the Kubernetes API server at https://fake:6443 did not answer GET /api "
                                        "within 7 s (api_read_timeout)")
    assert len(fake.calls) == 1 and no_sleep == []
    fake = FakeTransport([urllib3.exceptions.ConnectTimeoutError(None, "connect timed out")])
    with pytest.raises(ClusterError, match="did not accept a connection within 4 s .api_connect_timeout."):
        kube.KubeClient(transport=fake, timeout=(4, 7)).get("/api")
    assert len(fake.calls) == 1


def test_the_timeouts_are_connection_options(tmp_path):
    from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
    from ansible_collections.kubedr.backup.plugins.module_utils.kube import config
    settings = config.resolve_connection({"host": "https://h:1", "api_connect_timeout": 2, "api_read_timeout": 3.5})
    assert (settings.connect_timeout, settings.read_timeout) == (2, 3.5)
    assert (config.resolve_connection({"host": "https://h:1"}).read_timeout) == 60
    with pytest.raises(InvalidOptionError, match="api_read_timeout must be a number of seconds above 0"):
        config.resolve_connection({"host": "https://h:1", "api_read_timeout": 0})


def test_lists_are_paginated_and_items_get_api_version_and_kind(no_sleep):
    fake = FakeTransport([
        {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "t1"}},
        {"items": [{"metadata": {"name": "b"}}], "metadata": {}},
    ])
    client = kube.KubeClient(transport=fake, page_size=1)
    deployments = ApiResource("apps", "v1", "deployments", "Deployment", True)
    items = list(client.list_items(deployments, "shop", "app=web"))
    assert [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in items] == [
        ("apps/v1", "Deployment", "a"), ("apps/v1", "Deployment", "b")]
    assert fake.calls == [
        ("GET", "/apis/apps/v1/namespaces/shop/deployments", {"limit": 1, "labelSelector": "app=web"}),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments", {"limit": 1, "labelSelector": "app=web",
                                                              "continue": "t1"}),
    ]


def test_legacy_discovery_when_aggregated_is_not_served(no_sleep):
    fake = FakeTransport({
        "/api": [{"kind": "APIVersions", "versions": ["v1"]}],
        "/apis": [{"kind": "APIGroupList", "groups": [{
            "name": "apps", "versions": [{"version": "v1"}, {"version": "v1beta1"}],
            "preferredVersion": {"version": "v1"}}]}],
        "/api/v1": [{"resources": [{"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["list"]}]}],
        "/apis/apps/v1": [{"resources": [{"name": "deployments", "namespaced": True, "kind": "Deployment",
                                          "verbs": ["list"]}]}],
        "/apis/apps/v1beta1": [api_error(503)],
    })
    discovery = kube.KubeClient(transport=fake).discover()
    assert not discovery.aggregated
    assert sorted((r.group_version, r.resource, r.preferred) for r in discovery.resources) == [
        ("apps/v1", "deployments", True), ("v1", "pods", True)]
    assert discovery.warnings == ["discovery of apps/v1beta1 failed (HTTP 503: x); its resources are skipped"]


def test_pages_shrink_when_items_are_big(no_sleep, monkeypatch):
    monkeypatch.setattr(kube, "PAGE_BYTES", 1000)
    monkeypatch.setattr(kube, "MIN_PAGE_SIZE", 1)
    big = {"metadata": {"name": "x"}, "data": {"blob": "y" * 400}}
    fake = FakeTransport([
        {"items": [big] * 5, "metadata": {"continue": "t1"}},
        {"items": [big] * 2, "metadata": {}},
    ])
    client = kube.KubeClient(transport=fake, page_size=5)
    configmaps = ApiResource("", "v1", "configmaps", "ConfigMap", True)
    assert len(list(client.list_items(configmaps))) == 7
    # ~2 KB came back for 5 items against a 1 KB target: the next page asks for 2
    assert [call[2]["limit"] for call in fake.calls] == [5, 2]


def test_pages_of_small_items_grow_fourfold_up_to_the_cap_but_not_under_a_label_selector(no_sleep, monkeypatch):
    monkeypatch.setattr(kube, "MAX_PAGE_SIZE", 100)
    small = {"metadata": {"name": "x"}}
    pages = [{"items": [small] * 3, "metadata": {"continue": "t%d" % n}} for n in range(4)]
    configmaps = ApiResource("", "v1", "configmaps", "ConfigMap", True)
    for selector, limits in ((None, [5, 20, 80, 100, 100]), ("app=web", [5, 5, 5, 5, 5])):
        fake = FakeTransport(pages + [{"items": [small], "metadata": {}}])
        client = kube.KubeClient(transport=fake, page_size=5)
        assert len(list(client.list_items(configmaps, label_selector=selector))) == 13
        assert [call[2]["limit"] for call in fake.calls] == limits


def test_next_page_size_fills_the_page_bytes_within_the_bounds():
    per_item = kube.PAGE_BYTES // 2000  # items of which 2,000 fill a page
    assert kube.next_page_size(500, 500 * per_item) == 2000
    assert kube.next_page_size(1000, 1000 * per_item) == 2000  # less than fourfold: what fills the page
    assert kube.next_page_size(500, 10) == 2000  # tiny items: fourfold at most
    assert kube.next_page_size(kube.MAX_PAGE_SIZE - 1, 10) == kube.MAX_PAGE_SIZE
    assert kube.next_page_size(500, 500 * per_item, grow=False) == 500
    assert kube.next_page_size(500, kube.PAGE_BYTES * 4) == 125  # big items: fewer at once, even under a selector
    assert kube.next_page_size(500, kube.PAGE_BYTES * 4, grow=False) == 125
    assert kube.next_page_size(20, kube.PAGE_BYTES * 1000) == kube.MIN_PAGE_SIZE


def test_an_expired_continue_token_restarts_the_list(no_sleep):
    fake = FakeTransport([
        {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "t1"}},
        api_error(410),
        {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}], "metadata": {}},
    ])
    configmaps = ApiResource("", "v1", "configmaps", "ConfigMap", True)
    names = [i["metadata"]["name"] for i in kube.KubeClient(transport=fake).list_items(configmaps)]
    assert names == ["a", "a", "b"]  # the first page comes again: the backup's index dedupes it
    assert [call[2].get("continue") for call in fake.calls] == [None, "t1", None]
