"""Reliability on the real test bed (docs/reliability.md, "Faults of one item, a hung server, throttling"):

- a backup made here, its archive poisoned with one bad item of each kind, restores every other
  item and ends PartiallyFailed, each bad item an error naming its archive path;
- a seeded sample of the mutation fuzzer (tests/fuzz, ``make fuzz`` runs 100,000) on that backup;
- an API server or S3 endpoint that accepts connections and never answers (a blackhole listener
  started here on the loopback) fails the run within the configured read timeout, naming it;
- a restore whose identity API Priority and Fairness throttles hard (a FlowSchema and a
  PriorityLevelConfiguration of its own: the API server answers 429) creates every item;
- a resource name two CRDs share (plural ``widgets`` in two groups made up here) is an error
  naming both groups, in every filter that names resources, never a silent pick.
"""
import json
import os
import socket
import sys
import threading
import time
import uuid

import pytest

import testbed
from test_backup_support import delete_prefix, get_object, s3_location, unique
from test_restore_support import delete_raw, get_raw, put_backup, run_restore, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz"))
import archive_fuzz  # noqa: E402  (tests/fuzz: the mutation fuzzer)

FUZZ_CI_SEED = 20261202
FUZZ_CI_COUNT = 150  # about 3 s; make fuzz runs 100,000
BULK = 40  # ConfigMaps beside the seed objects: enough concurrent creates to be throttled


@pytest.fixture(scope="module")
def seed(bed, api_client, storage_location, s3):
    """A real backup of a namespace of varied objects, made once for the module."""
    from kubernetes import client
    namespace = unique("rel-seed")
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": namespace}})
    location = s3_location(storage_location, "reliability")
    name = unique("seed")
    try:
        archive_fuzz.make_seed_backup(bed, api_client, namespace, location, name, volume=False, bulk=BULK)
        tarball = get_object(s3, location, "backups/%s/%s.tar.gz" % (name, name))
        document = json.loads(get_object(s3, location, "backups/%s/velero-backup.json" % name))
        yield {"namespace": namespace, "location": location, "name": name, "tarball": tarball, "document": document,
               "entries": archive_fuzz.read_entries(tarball)}
    finally:
        delete_prefix(s3, location)
        delete_raw(api_client, "/api/v1/namespaces/%s" % namespace)


@pytest.fixture
def doomed(api_client):
    names = []
    yield names.append
    for name in names:
        delete_raw(api_client, "/api/v1/namespaces/%s" % name)


def configmaps_in(api_client, namespace):
    return sorted((get_raw(api_client, "/api/v1/namespaces/%s/configmaps" % namespace) or {}).get("items") or [],
                  key=lambda item: item["metadata"]["name"])


# ---------------------------------------------------------------- one bad item never sinks a run

def configmap(namespace, name, **extra):
    return dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                 "data": {"a": "b"}}, **extra)


def poison(namespace, victim):
    """(path, bytes, reason) of bad items, one of each kind, among the seed namespace's items."""
    def at(name):
        return "resources/configmaps/namespaces/%s/%s.json" % (namespace, name)

    def text(obj):
        return json.dumps(obj).encode()

    deep = text(configmap(namespace, "deep", data="@@")).replace(b'"@@"', b"[" * 200000 + b"]" * 200000)
    return [
        (at("deep"), deep, "nested deeper than 200 levels"),
        (at("huge"), text(configmap(namespace, "huge", data={"a": "x" * (9 * 1024 * 1024)})), "an item is at most"),
        (at("latin1"), text(configmap(namespace, "latin1")).replace(b'"b"', b'"\xe9t\xe9"'), "not valid UTF-8"),
        (at("twice"), text(configmap(namespace, "twice"))[:-1] + b', "kind": "Secret"}', "has the key 'kind' twice"),
        (at("big-number"), text(configmap(namespace, "big-number")).replace(b'"b"', b"1e999"),
         "out of the 64-bit floating point range"),
        (at("list"), b"[]", "is not a Kubernetes object"),
        (at("in-disguise"), text(dict(configmap(namespace, "in-disguise"), kind="Secret")),
         "is a v1 Secret, which is secrets, not configmaps"),
        (at("deploy"), text(dict(configmap(namespace, "deploy"), apiVersion="apps/v1", kind="Deployment")),
         "not of the API group of its path"),
        # valid, but in a namespace the restore does not select: never created
        ("resources/configmaps/namespaces/%s/evil.json" % victim, text(configmap(victim, "evil")), None),
    ]


def test_a_poisoned_real_backup_restores_every_other_item_and_ends_partially_failed(
        bed, api_client, s3, seed, doomed):
    victim = unique("rel-victim")
    bad = poison(seed["namespace"], victim)
    entries = seed["entries"] + [(path, data) for path, data, _reason in bad]
    name = unique("poisoned")
    document = json.loads(json.dumps(seed["document"]))
    document["metadata"]["name"] = name
    put_backup(seed["location"], name, archive_fuzz.build_archive(entries), document, s3=s3)
    target = unique("rel-target")
    doomed(target)
    doomed(victim)

    started = time.monotonic()
    result = run_restore(bed, seed["location"], backup_name=name, included_namespaces=[seed["namespace"]],
                         namespace_mapping={seed["namespace"]: target})
    print("poisoned restore: %.1f s" % (time.monotonic() - started))

    assert result.get("phase") == "PartiallyFailed", (result.get("msg"), result.stderr[-3000:])
    assert "Traceback" not in result.stderr and "RecursionError" not in json.dumps(result)
    errors = result["restore_errors"]["namespaces"][target]
    for path, _data, reason in bad:
        if reason is not None:
            [said] = [e for e in errors if path in e]
            assert reason in said, said
    assert len(errors) == len(bad) - 1, errors
    # Every other item is there, as backed up.
    restored = configmaps_in(api_client, target)
    names = set(item["metadata"]["name"] for item in restored)
    assert set(["cm-0", "cm-1", "cm-2"] + ["bulk-%d" % i for i in range(BULK)]) <= names
    assert not names & set(["deep", "huge", "latin1", "twice", "big-number", "in-disguise", "deploy"])
    assert get_raw(api_client, "/api/v1/namespaces/%s/secrets/creds" % target) is not None
    assert get_raw(api_client, "/apis/apps/v1/namespaces/%s/deployments/web" % target) is not None
    assert get_raw(api_client, "/api/v1/namespaces/%s/serviceaccounts/robot" % target) is not None
    assert get_raw(api_client, "/api/v1/namespaces/%s" % victim) is None  # nothing outside the selection
    assert result["item_counts"]["failed"] == len(bad) - 1


def test_a_seeded_fuzz_sample_of_the_real_backup(bed, seed):
    discovery = archive_fuzz.recorded_discovery(bed)
    started = time.monotonic()
    outcomes, failures = archive_fuzz.run_cases(seed["entries"], discovery, seed["namespace"], FUZZ_CI_SEED,
                                                FUZZ_CI_COUNT)
    print("fuzz sample: %d cases in %.1f s: %s" % (FUZZ_CI_COUNT, time.monotonic() - started, outcomes))
    assert not failures, failures[0]
    assert outcomes["result"] and outcomes["error"]  # both kinds of outcome were exercised


# ---------------------------------------------------------------- a hung server

class Blackhole(object):
    """A listener on the loopback that accepts connections and never answers (a hung server)."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _address = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never read or written

    def close(self):
        self.socket.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def blackhole():
    hole = Blackhole()
    yield hole
    hole.close()


@pytest.mark.parametrize("module", ["k8s_backup", "k8s_restore"])
def test_a_hung_api_server_fails_the_run_within_its_read_timeout(bed, seed, blackhole, module):
    args = {"name": unique("hung"), "included_namespaces": ["default"]} if module == "k8s_backup" else {
        "name": unique("hung"), "backup_name": seed["name"]}
    started = time.monotonic()
    result = testbed.run_module(module, dict(args, storage_location=seed["location"], api_key="not-used",
                                             host="http://127.0.0.1:%d" % blackhole.port, api_read_timeout=2),
                                timeout=120)
    elapsed = time.monotonic() - started
    print("hung API server, %s: failed after %.1f s (api_read_timeout 2 s)" % (module, elapsed))
    assert result.failed, result
    assert "the Kubernetes API server at http://127.0.0.1:%d did not answer" % blackhole.port in result["msg"]
    assert "within 2 s (api_read_timeout)" in result["msg"], result["msg"]
    assert blackhole.accepted  # it was reached
    assert elapsed < 2 + 8, elapsed  # the one wait, plus the module's start


def test_a_hung_s3_endpoint_fails_the_run_within_its_read_timeout(bed, storage_location, blackhole):
    endpoint = "http://127.0.0.1:%d" % blackhole.port
    location = dict(storage_location, endpoint_url=endpoint, read_timeout=2, connect_timeout=2)
    started = time.monotonic()
    result = testbed.run_module("k8s_backup", {
        "name": unique("hung"), "storage_location": location, "kubeconfig": bed["KUBECONFIG"],
        "included_namespaces": ["default"]}, timeout=120)
    elapsed = time.monotonic() - started
    print("hung S3 endpoint: failed after %.1f s (read_timeout 2 s)" % elapsed)
    assert result.failed, result
    assert "the S3 endpoint %s did not answer" % endpoint in result["msg"], result["msg"]
    assert "within 2 s (storage_location.read_timeout)" in result["msg"], result["msg"]
    assert storage_location["secret_key"] not in json.dumps(result)
    assert elapsed < 2 + 8, elapsed


# ---------------------------------------------------------------- API priority and fairness

def rejected(api_client, level):
    """apiserver_flowcontrol_rejected_requests_total of a priority level (every reason)."""
    response = api_client.call_api("/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False)
    response = response[0] if isinstance(response, tuple) else response
    total = 0.0
    for line in response.data.decode().splitlines():
        if line.startswith("apiserver_flowcontrol_rejected_requests_total{") and 'priority_level="%s"' % level in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def throttled_identity(api_client):
    """A user whose every request goes to a priority level of 3 seats that rejects the rest (429)."""
    from kubernetes import client
    name = unique("rel-throttled")
    custom = client.CustomObjectsApi(api_client)
    group, version = "flowcontrol.apiserver.k8s.io", "v1"
    custom.create_cluster_custom_object(group, version, "prioritylevelconfigurations", {
        "apiVersion": "%s/%s" % (group, version), "kind": "PriorityLevelConfiguration", "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1, "lendablePercent": 0,
                                                "borrowingLimitPercent": 0, "limitResponse": {"type": "Reject"}}}})
    custom.create_cluster_custom_object(group, version, "flowschemas", {
        "apiVersion": "%s/%s" % (group, version), "kind": "FlowSchema", "metadata": {"name": name},
        "spec": {"priorityLevelConfiguration": {"name": name}, "matchingPrecedence": 500,
                 "distinguisherMethod": {"type": "ByUser"},
                 "rules": [{"subjects": [{"kind": "User", "user": {"name": name}}],
                            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                               "namespaces": ["*"], "clusterScope": True}],
                            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}})
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_cluster_role_binding({"metadata": {"name": name}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]})

    def classified():  # the FlowSchema is in force once the API server reports it bound to its level
        schema = custom.get_cluster_custom_object(group, version, "flowschemas", name)
        return any(c.get("type") == "Dangling" and c.get("status") == "False"
                   for c in (schema.get("status") or {}).get("conditions") or [])
    wait_for(classified, timeout=30, interval=0.2, what="the FlowSchema to be in force")
    yield name
    rbac.delete_cluster_role_binding(name)
    custom.delete_cluster_custom_object(group, version, "flowschemas", name)
    custom.delete_cluster_custom_object(group, version, "prioritylevelconfigurations", name)


def test_a_throttled_restore_creates_every_item_honouring_retry_after(bed, api_client, seed, throttled_identity,
                                                                      doomed):
    target = unique("rel-throttled")
    doomed(target)
    before = rejected(api_client, throttled_identity)
    started = time.monotonic()
    result = run_restore(bed, seed["location"], backup_name=seed["name"], impersonate_user=throttled_identity,
                         namespace_mapping={seed["namespace"]: target}, workers=32)
    elapsed = time.monotonic() - started
    throttled = rejected(api_client, throttled_identity) - before
    print("throttled restore: %.1f s, %d requests answered 429" % (elapsed, throttled))
    assert not result.failed and result["phase"] == "Completed", (result.get("msg"), result.get("restore_errors"))
    assert result["error_count"] == 0 and result["item_counts"]["failed"] == 0
    assert throttled > 0, "APF never answered 429: the test did not throttle"
    names = set(item["metadata"]["name"] for item in configmaps_in(api_client, target))
    assert set(["cm-0", "cm-1", "cm-2"] + ["bulk-%d" % i for i in range(BULK)]) <= names


# ---------------------------------------------------------------- one rule for resource names

def widget_crd(group):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets." + group},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture
def two_widget_groups(api_client):
    """Two CRDs of plural ``widgets`` in groups made up for this run (whatever else is installed)."""
    from kubernetes import client
    suffix = uuid.uuid4().hex[:6]
    groups = ["a%s.rel.example.com" % suffix, "b%s.rel.example.com" % suffix]
    extensions = client.ApiextensionsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    for group in groups:
        extensions.create_custom_resource_definition(widget_crd(group))

    def served():
        try:
            return all(custom.list_cluster_custom_object(group, "v1", "widgets") is not None for group in groups)
        except client.ApiException:
            return False
    wait_for(served, timeout=30, interval=0.2, what="both Widget CRDs to be served")
    yield groups
    for group in groups:
        extensions.delete_custom_resource_definition("widgets." + group)


def test_an_ambiguous_resource_name_is_an_error_naming_both_groups(
        bed, api_client, storage_location, s3, namespace, two_widget_groups):
    from kubernetes import client
    first, second = two_widget_groups
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(first, "v1", namespace, "widgets", {
        "apiVersion": first + "/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    location = s3_location(storage_location, "ambiguous")
    try:
        def backup(check_mode=True, **filters):
            return testbed.run_module("k8s_backup", dict(filters, name="amb", storage_location=location,
                                                         kubeconfig=bed["KUBECONFIG"],
                                                         included_namespaces=[namespace]), check_mode=check_mode)

        # The case: before, this backed up nothing (the other group's widgets), silently.
        for filters in ({"included_resources": ["widgets"], "excluded_resources": ["crd"]},
                        {"excluded_resources": ["widget"]},
                        {"included_namespace_scoped_resources": ["Widget"]},
                        {"ordered_resources": {"widgets": "%s/w1" % namespace}}):
            result = backup(**filters)
            assert result.failed, (filters, result)
            assert "is ambiguous: it names widgets.%s and widgets.%s" % (first, second) in result["msg"], result["msg"]
            assert "'widgets.*'" in result["msg"]

        # Named with its group, or by a glob: exactly what it says.
        result = backup(check_mode=False, included_resources=["widgets." + first], excluded_resources=["crd"])
        assert not result.failed and result["phase"] == "Completed", result.get("msg")
        paths = [p for p, _d in archive_fuzz.read_entries(get_object(s3, location, "backups/amb/amb.tar.gz"))]
        assert "resources/widgets.%s/namespaces/%s/w1.json" % (first, namespace) in paths

        # The restore's filters and priorities follow the same rule.
        for filters in ({"included_resources": ["widgets"]}, {"priorities": ["namespaces", "widgets"]},
                        {"restore_status": {"included_resources": ["widgets"]}}):
            result = run_restore(bed, location, check_mode=True, backup_name="amb", **filters)
            assert result.failed and "is ambiguous" in result["msg"], (filters, result.get("msg"))
            assert "widgets.%s" % second in result["msg"]
    finally:
        delete_prefix(s3, location)
