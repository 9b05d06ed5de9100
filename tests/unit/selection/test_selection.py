"""Velero's selection rules: globs, resource names, cluster scope (both styles), label selectors."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import (
    BackupSelection,
    IncludesExcludes,
    backup_resources,
    resolve_resource_patterns,
    validate_filters,
    validate_object_name,
)
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_label_selector, to_label_selector

VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


def res(group, version, resource, kind, namespaced, short=(), preferred=True, verbs=VERBS):
    return ApiResource(group, version, resource, kind, namespaced, verbs, preferred, short, kind.lower())


RESOURCES = [
    res("", "v1", "pods", "Pod", True, ["po"]),
    res("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    res("", "v1", "secrets", "Secret", True),
    res("", "v1", "namespaces", "Namespace", False, ["ns"]),
    res("", "v1", "persistentvolumes", "PersistentVolume", False, ["pv"]),
    res("", "v1", "events", "Event", True, ["ev"]),
    res("", "v1", "pods/log", "Pod", True),
    res("", "v1", "bindings", "Binding", True, verbs=["create"]),
    res("apps", "v1", "deployments", "Deployment", True, ["deploy"]),
    res("apps", "v1", "replicasets", "ReplicaSet", True, ["rs"]),
    res("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=["get", "list"]),
    res("events.k8s.io", "v1", "events", "Event", True, ["ev"]),
    res("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ["sc"]),
    res("example.com", "v1", "widgets", "Widget", True),
    res("example.com", "v1beta1", "widgets", "Widget", True, preferred=False),
]


def sel(**filters):
    return BackupSelection(filters, RESOURCES)


def by_name(group_resource):
    return [r for r in RESOURCES if r.group_resource == group_resource and r.preferred][0]


def listed(selection):
    return sorted(r.group_resource for r in backup_resources(RESOURCES) if selection.lists_resource(r))


def item(namespace, name, labels=None, **metadata):
    meta = dict(name=name, labels=labels or {}, **metadata)
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


# ------------------------------------------------------------------ globs and lists

def test_includes_excludes_globs_and_star():
    rules = IncludesExcludes(["app-*", "db?"], ["app-tmp*"])
    assert rules.should_include("app-web")
    assert rules.should_include("db1")
    assert not rules.should_include("db12")
    assert not rules.should_include("app-tmp-1")
    assert not rules.should_include("other")
    assert IncludesExcludes(["*"], []).include_everything()
    assert IncludesExcludes([], []).should_include("anything")
    assert not IncludesExcludes(["*"], ["kube-*"]).include_everything()


def test_namespace_globs_select_items():
    selection = sel(included_namespaces=["team-[ab]", "prod-*"], excluded_namespaces=["prod-tmp"])
    pods = by_name("pods")
    assert selection.item_skip_reason(pods, item("team-a", "p")) is None
    assert selection.item_skip_reason(pods, item("prod-web", "p")) is None
    assert selection.item_skip_reason(pods, item("team-c", "p")) == "namespace team-c excluded"
    assert selection.item_skip_reason(pods, item("prod-tmp", "p")) == "namespace prod-tmp excluded"


# ------------------------------------------------------------------ resource names

@pytest.mark.parametrize("name, expected", [
    ("pods", "pods"), ("pod", "pods"), ("po", "pods"), ("Pod", "pods"),
    ("deploy", "deployments.apps"), ("deployments.apps", "deployments.apps"), ("deployment", "deployments.apps"),
    ("deploy.apps", "deployments.apps"), ("events.events.k8s.io", "events.events.k8s.io"),
    ("sc", "storageclasses.storage.k8s.io"), ("unknownthings", "unknownthings"),
])
def test_resource_names_resolve_like_kubectl(name, expected):
    assert resolve_resource_patterns([name], RESOURCES) == [expected]


TWO_WIDGETS = RESOURCES + [res("other.example.org", "v1", "widgets", "Widget", True, ["wd"])]


@pytest.mark.parametrize("name", ["widgets", "widget", "Widget"])
def test_an_ambiguous_name_is_an_error_listing_the_qualified_names(name):
    with pytest.raises(InvalidOptionError) as raised:
        resolve_resource_patterns([name], TWO_WIDGETS, "included_resources")
    message = str(raised.value)
    assert message.startswith("included_resources: %r is ambiguous" % name)
    assert "widgets.example.com and widgets.other.example.org" in message and "'widgets.*'" in message


def test_the_rule_applies_to_every_filter_that_names_resources():
    for option in ("included_resources", "excluded_resources", "included_namespace_scoped_resources",
                   "excluded_namespace_scoped_resources"):
        with pytest.raises(InvalidOptionError, match="^%s: 'widgets' is ambiguous" % option):
            BackupSelection({option: ["widgets"]}, TWO_WIDGETS)


def test_qualified_names_globs_and_the_core_group_are_never_ambiguous():
    assert resolve_resource_patterns(["widgets.other.example.org"], TWO_WIDGETS) == ["widgets.other.example.org"]
    assert resolve_resource_patterns(["widgets.*"], TWO_WIDGETS) == ["widgets.example.com", "widgets.other.example.org"]
    assert resolve_resource_patterns(["wd"], TWO_WIDGETS) == ["widgets.other.example.org"]  # one group's short name
    # pods (core) and pods.metrics.k8s.io, events and events.events.k8s.io: the core group, as kubectl.
    assert resolve_resource_patterns(["pods", "events"], TWO_WIDGETS) == ["pods", "events"]


def test_resource_globs_expand_over_discovery():
    assert resolve_resource_patterns(["*.apps"], RESOURCES) == ["deployments.apps", "replicasets.apps"]
    assert resolve_resource_patterns(["config*"], RESOURCES) == ["configmaps"]
    assert resolve_resource_patterns(["*"], RESOURCES) == ["*"]


def test_backup_resources_picks_preferred_version_and_drops_events_subresources_and_unrestorable():
    chosen = dict((r.group_resource, r) for r in backup_resources(RESOURCES))
    assert chosen["widgets.example.com"].version == "v1"
    assert "events" not in chosen and "events.events.k8s.io" not in chosen
    assert "pods/log" not in chosen
    assert "bindings" not in chosen  # create only
    assert "pods.metrics.k8s.io" not in chosen  # cannot be created or deleted


def test_included_and_excluded_resources():
    selection = sel(included_resources=["deploy", "cm", "*.apps"], excluded_resources=["rs"])
    # all namespaces + include_cluster_resources unset: cluster types only through the include list
    assert listed(selection) == ["configmaps", "deployments.apps"]
    assert listed(sel(excluded_resources=["secrets", "*.example.com"])) == [
        "configmaps", "deployments.apps", "namespaces", "persistentvolumes", "pods", "replicasets.apps",
        "storageclasses.storage.k8s.io"]


# ------------------------------------------------------------------ cluster scope, old style

def test_cluster_resources_auto_full_backup_includes_cluster_scoped():
    assert listed(sel()) == ["configmaps", "deployments.apps", "namespaces", "persistentvolumes", "pods",
                             "replicasets.apps", "secrets", "storageclasses.storage.k8s.io",
                             "widgets.example.com"]


def test_cluster_resources_auto_with_namespace_filter_lists_only_namespaces():
    result = listed(sel(included_namespaces=["team-a"]))
    assert "persistentvolumes" not in result and "storageclasses.storage.k8s.io" not in result
    assert "namespaces" in result and "pods" in result


def test_cluster_resources_true_and_false():
    assert "persistentvolumes" in listed(sel(included_namespaces=["team-a"], include_cluster_resources=True))
    result = listed(sel(include_cluster_resources=False))
    assert "persistentvolumes" not in result and "namespaces" not in result and "pods" in result


def test_additional_items_respect_old_style_cluster_rules():
    pv = by_name("persistentvolumes")
    auto = sel(included_namespaces=["team-a"])
    assert auto.item_skip_reason(pv, item(None, "pv1"), additional=True) is None
    assert sel(include_cluster_resources=False).item_skip_reason(pv, item(None, "pv1"), additional=True) \
        == "resource excluded"
    assert sel(excluded_resources=["pv"]).item_skip_reason(pv, item(None, "pv1"), additional=True) \
        == "resource excluded"
    # auto + an include list without PVs: Velero leaves the PV out too
    assert sel(included_resources=["pods"]).item_skip_reason(pv, item(None, "pv1"), additional=True) \
        == "resource excluded"


# ------------------------------------------------------------------ cluster scope, new style

def test_scoped_filters_default_full_backup_lists_all_cluster_types():
    selection = sel(excluded_namespace_scoped_resources=["secrets"])
    result = listed(selection)
    assert "secrets" not in result
    # namespace-scoped filter is not "everything" any more: only namespaces among cluster types
    assert "persistentvolumes" not in result and "namespaces" in result


def test_scoped_filters_include_named_cluster_types():
    selection = sel(included_cluster_scoped_resources=["storageclasses"], included_namespaces=["team-a"])
    result = listed(selection)
    assert "storageclasses.storage.k8s.io" in result and "persistentvolumes" not in result
    assert "pods" in result and "namespaces" in result


def test_scoped_filters_exclude_all_cluster_types():
    selection = sel(excluded_cluster_scoped_resources=["*"], included_namespace_scoped_resources=["pods"])
    assert listed(selection) == ["pods"]
    pv = by_name("persistentvolumes")
    assert selection.item_skip_reason(pv, item(None, "pv1"), additional=True) == "resource excluded"


def test_mixing_filter_styles_is_an_error():
    with pytest.raises(InvalidOptionError, match="cannot mix"):
        validate_filters({"included_resources": ["pods"], "included_cluster_scoped_resources": ["pv"]})
    with pytest.raises(InvalidOptionError, match="cannot mix"):
        validate_filters({"include_cluster_resources": False, "excluded_namespace_scoped_resources": ["pods"]})


def test_list_rules_match_velero():
    with pytest.raises(InvalidOptionError, match="included_namespaces"):
        validate_filters({"included_namespaces": ["*", "a"]})
    with pytest.raises(InvalidOptionError, match="cannot contain"):
        validate_filters({"excluded_resources": ["*"]})
    with pytest.raises(InvalidOptionError, match="both included and excluded"):
        validate_filters({"included_namespaces": ["a"], "excluded_namespaces": ["a"]})
    with pytest.raises(InvalidOptionError, match="not a valid namespace"):
        validate_filters({"included_namespaces": ["Bad_NS"]})


# ------------------------------------------------------------------ labels

@pytest.mark.parametrize("text, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier in (a,b)", {}, False),
    ("tier notin (a,b)", {}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("!app", {}, True),
    ("app=web,tier in (a),!legacy", {"app": "web", "tier": "a"}, True),
    ("example.com/role=x", {"example.com/role": "x"}, True),
    ("n>3", {"n": "4"}, True),
    ("n<3", {"n": "4"}, False),
    ("app=", {"app": ""}, True),
])
def test_label_selector_matching(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text", [
    "app in (a", "app in ()", "=x", "app=web,", "app=(x)", "bad key=x", "-app=x", "app=a b",
    "a/b/c=x", "app notin x", "n>x",
])
def test_malformed_label_selectors_are_rejected_with_the_selector_named(text):
    with pytest.raises(InvalidOptionError) as error:
        parse_label_selector(text)
    assert repr(text) in str(error.value)


def test_selector_styles_are_mutually_exclusive():
    with pytest.raises(InvalidOptionError, match="mutually exclusive"):
        validate_filters({"label_selector": "a=b", "or_label_selectors": ["c=d"]})


def test_or_label_selectors_match_any():
    selection = sel(or_label_selectors=["app=a", "app=b"])
    pods = by_name("pods")
    assert selection.item_skip_reason(pods, item("ns", "p", {"app": "b"})) is None
    assert selection.item_skip_reason(pods, item("ns", "p", {"app": "c"})) == "does not match the label selector"
    # an item pulled in by an action ignores the selector, as in Velero
    assert selection.item_skip_reason(pods, item("ns", "p", {"app": "c"}), additional=True) is None


# ------------------------------------------------------------------ items

def test_exclude_label_and_items_being_deleted_are_skipped_even_when_pulled_in():
    selection = sel()
    pods = by_name("pods")
    excluded = item("ns", "p", {"velero.io/exclude-from-backup": "true"})
    deleting = item("ns", "p", deletionTimestamp="2024-01-01T00:00:00Z")
    for additional in (False, True):
        assert selection.item_skip_reason(pods, excluded, additional) == "labelled velero.io/exclude-from-backup=true"
        assert selection.item_skip_reason(pods, deleting, additional) == "being deleted"
    assert selection.item_skip_reason(pods, item("ns", "p", {"velero.io/exclude-from-backup": "false"})) is None


def test_object_names():
    assert validate_object_name("nightly-2024.01.01") == "nightly-2024.01.01"
    for bad in ("Nightly", "a_b", "-a", "", "a" * 254, None):
        with pytest.raises(InvalidOptionError, match="not a valid object name"):
            validate_object_name(bad, "backup name")


def test_crds_come_with_custom_resources_unless_explicitly_filtered():
    crds = res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ["crd"])
    resources = RESOURCES + [crds]
    crd = item(None, "widgets.example.com")

    def skip(**filters):
        return BackupSelection(filters, resources).item_skip_reason(crds, crd, additional=True)

    assert skip(included_namespaces=["a"], included_resources=["widgets"]) is None
    assert skip(excluded_resources=["crd"]) == "resource excluded"
    assert skip(include_cluster_resources=False) == "resource excluded"
    assert skip(excluded_cluster_scoped_resources=["customresourcedefinitions"]) == "resource excluded"
    assert BackupSelection({"excluded_resources": ["crd"]}, resources).crds_filtered()
    assert not BackupSelection({"included_resources": ["widgets"]}, resources).crds_filtered()


def test_selectors_are_stored_as_velero_label_selectors():
    assert to_label_selector(parse_label_selector("app=web,tier in (a,b),env!=dev,!legacy,owner")) == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "owner", "operator": "Exists"},
        ]}
    with pytest.raises(InvalidOptionError, match="cannot be stored in a Velero backup"):
        to_label_selector(parse_label_selector("n>3"))


@pytest.mark.parametrize("text, seconds, stored", [
    ("720h", 2592000, "720h0m0s"), ("1h30m", 5400, "1h30m0s"), ("90m", 5400, "1h30m0s"), ("45s", 45, "45s"),
    ("24h0m0s", 86400, "24h0m0s"), ("1.5h", 5400, "1h30m0s"),
])
def test_ttl_durations_like_go(text, seconds, stored):
    from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import format_duration, parse_duration
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == stored


@pytest.mark.parametrize("text", ["forever", "10d", "h", "5 h", "-1h"])
def test_bad_ttl(text):
    from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_duration
    with pytest.raises(InvalidOptionError, match="ttl"):
        parse_duration(text)


def test_zero_ttl_means_velero_s_default():
    from ansible_collections.kubedr.backup.plugins.module_utils.backup.spec import backup_spec
    assert backup_spec({"ttl": "0s"})["ttl"] == "720h0m0s"
    assert backup_spec({})["ttl"] == "720h0m0s"
    assert backup_spec({"ttl": "24h"})["ttl"] == "24h0m0s"
