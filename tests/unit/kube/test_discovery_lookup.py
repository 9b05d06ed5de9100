"""Discovery's look-ups (tables built once) answer as the scans of every resource did."""
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery


def scan_find(resources, group_resource):
    matches = [r for r in resources if r.group_resource == group_resource and "/" not in r.resource]
    return ([r for r in matches if r.preferred] or matches or [None])[0]


def scan_find_kind(resources, api_version, kind):
    group, version = api_version.rpartition("/")[::2]
    return next((r for r in resources if (r.group, r.version, r.kind) == (group, version, kind) and "/" not in r.resource), None)


RESOURCES = [
    ApiResource("apps", "v1beta1", "deployments", "Deployment", True, preferred=False),
    ApiResource("apps", "v1", "deployments/scale", "Scale", True, preferred=True),
    ApiResource("apps", "v1", "deployments", "Deployment", True, preferred=True),
    ApiResource("example.com", "v2", "widgets", "Widget", True, preferred=False),
    ApiResource("example.com", "v1", "widgets", "Widget", True, preferred=False),
    ApiResource("example.com", "v1", "gadgets", "Widget", True, preferred=False),  # a second type of one kind
    ApiResource("", "v1", "pods/status", "Pod", True),
    ApiResource("", "v1", "pods", "Pod", True),
]


def test_lookups_match_a_scan_of_every_resource():
    discovery = Discovery(RESOURCES)
    for group_resource in ["deployments.apps", "widgets.example.com", "gadgets.example.com", "pods", "nothing",
                           "deployments/scale.apps"]:
        assert discovery.find(group_resource) is scan_find(RESOURCES, group_resource), group_resource
    assert discovery.find("deployments.apps").version == "v1"
    assert discovery.find("widgets.example.com").version == "v2"  # none preferred: the first served
    assert [r.version for r in discovery.served_versions("widgets.example.com")] == ["v2", "v1"]
    for api_version, kind in [("apps/v1", "Deployment"), ("apps/v1", "Scale"), ("v1", "Pod"),
                              ("example.com/v1", "Widget"), ("v2", "Pod")]:
        assert discovery.find_kind(api_version, kind) is scan_find_kind(RESOURCES, api_version, kind)
    assert discovery.find_kind("example.com/v1", "Widget").resource == "widgets"
    assert discovery.find_kind("v1", "Pod").resource == "pods"
