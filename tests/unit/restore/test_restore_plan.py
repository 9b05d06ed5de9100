# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.restore import mapping as ns_mapping
from ansible_collections.kubedr.backup.plugins.module_utils.restore import plan
from ansible_collections.kubedr.backup.plugins.module_utils.restore import skips
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

# What a typical Velero backup of a cluster with CAPI and some CRs holds.
BACKUP = [
    "apps.example.com", "widgets.example.com",
    "clusterresourcesets.addons.cluster.x-k8s.io", "clusters.cluster.x-k8s.io",
    "clusterclasses.cluster.x-k8s.io",
    "configmaps", "customresourcedefinitions.apiextensions.k8s.io", "deployments.apps",
    "endpoints", "events", "limitranges", "namespaces", "nodes", "persistentvolumeclaims",
    "persistentvolumes", "pods", "priorityclasses.scheduling.k8s.io",
    "replicasets.apps", "secrets", "serviceaccounts", "services",
    "storageclasses.storage.k8s.io", "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io", "volumesnapshotclasses.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io", "volumesnapshots.snapshot.storage.k8s.io",
    "clusterbootstraps.run.tanzu.vmware.com", "statefulsets.apps", "backups.velero.io",
]


class TestDefaults:
    def test_default_list_is_design_section_6_in_order(self):
        assert plan.DEFAULT_HIGH_PRIORITIES[:3] == ("customresourcedefinitions", "namespaces", "storageclasses")
        assert plan.DEFAULT_HIGH_PRIORITIES[-3:] == ("clusterclasses.cluster.x-k8s.io", "endpoints", "services")
        assert len(plan.DEFAULT_HIGH_PRIORITIES) == 22
        assert plan.DEFAULT_LOW_PRIORITIES == (
            "clusterbootstraps.run.tanzu.vmware.com", "clusters.cluster.x-k8s.io",
            "clusterresourcesets.addons.cluster.x-k8s.io")

    def test_never_restored_is_veleros_list(self):
        assert skips.NEVER_RESTORED == {
            "nodes", "events", "events.events.k8s.io", "backups.velero.io", "restores.velero.io",
            "resticrepositories.velero.io", "csinodes.storage.k8s.io",
            "volumeattachments.storage.k8s.io", "backuprepositories.velero.io"}

    @pytest.mark.parametrize("name", ["nodes", "csinodes", "volumeattachments", "events.events.k8s.io",
                                      "backuprepositories.velero.io"])
    def test_is_never_restored(self, name):
        assert skips.is_never_restored(name)

    @pytest.mark.parametrize("name", ["pods", "nodes.example.com", "storageclasses"])
    def test_is_restorable(self, name):
        assert not skips.is_never_restored(name)

    def test_canonical_group_resource(self):
        assert skips.canonical_group_resource("customresourcedefinitions") == kr.CRDS
        assert skips.canonical_group_resource("priorityclasses") == "priorityclasses.scheduling.k8s.io"
        assert skips.canonical_group_resource("pods") == "pods"


class TestTiers:
    def test_default_order(self):
        tiers = plan.restore_tiers(BACKUP)
        assert tiers == [
            ["customresourcedefinitions.apiextensions.k8s.io"],
            ["namespaces"],
            ["storageclasses.storage.k8s.io"],
            ["volumesnapshotclasses.snapshot.storage.k8s.io"],
            ["volumesnapshotcontents.snapshot.storage.k8s.io"],
            ["volumesnapshots.snapshot.storage.k8s.io"],
            ["persistentvolumes"],
            ["persistentvolumeclaims"],
            ["clusterroles.rbac.authorization.k8s.io"],
            ["roles.rbac.authorization.k8s.io"],
            ["serviceaccounts"],
            ["clusterrolebindings.rbac.authorization.k8s.io"],
            ["rolebindings.rbac.authorization.k8s.io"],
            ["secrets"],
            ["configmaps"],
            ["limitranges"],
            ["priorityclasses.scheduling.k8s.io"],
            ["pods"],
            ["replicasets.apps"],
            ["clusterclasses.cluster.x-k8s.io"],
            ["endpoints"],
            ["services"],
            ["apps.example.com", "deployments.apps", "statefulsets.apps", "widgets.example.com"],
            ["clusterbootstraps.run.tanzu.vmware.com"],
            ["clusters.cluster.x-k8s.io"],
            ["clusterresourcesets.addons.cluster.x-k8s.io"],
        ]

    def test_never_restored_left_out(self):
        flat = [gr for tier in plan.restore_tiers(BACKUP) for gr in tier]
        assert "nodes" not in flat and "events" not in flat and "backups.velero.io" not in flat
        assert len(flat) == len(set(flat))

    def test_absent_entries_make_no_empty_tier(self):
        assert plan.restore_tiers(["pods", "configmaps"]) == [["configmaps"], ["pods"]]

    def test_empty_backup(self):
        assert plan.restore_tiers([]) == []

    def test_crds_first_even_when_override_omits_them(self):
        tiers = plan.restore_tiers(["pods", "secrets", kr.CRDS], ["pods"])
        assert tiers == [[kr.CRDS], ["pods"], ["secrets"]]

    def test_crds_first_even_when_override_puts_them_last(self):
        tiers = plan.restore_tiers(["pods", kr.CRDS], ["pods", "-", "customresourcedefinitions"])
        assert tiers == [[kr.CRDS], ["pods"]]

    def test_override_with_low_list(self):
        tiers = plan.restore_tiers(["a.x", "b.x", "c.x", "pods"], ["c.x", "-", "a.x"])
        assert tiers == [["c.x"], ["b.x", "pods"], ["a.x"]]

    def test_override_as_velero_string(self):
        assert plan.restore_tiers(["a.x", "b.x", "pods"], "pods, -, a.x") == [["pods"], ["b.x"], ["a.x"]]

    def test_entry_without_group_matches_custom_resources_by_resource_part(self):
        tiers = plan.restore_tiers(["widgets.a.io", "widgets.b.io", "pods"], ["widgets"])
        assert tiers == [["widgets.a.io", "widgets.b.io"], ["pods"]]

    def test_entry_with_group_matches_exactly_only(self):
        assert plan.restore_tiers(["widgets.a.io"], ["widgets.b.io"]) == [["widgets.a.io"]]

    def test_duplicate_entry_first_place_wins(self):
        assert plan.restore_tiers(["pods", "secrets"], ["pods", "secrets", "pods"]) == [["pods"], ["secrets"]]

    def test_entry_in_high_and_low_stays_high(self):
        assert plan.restore_tiers(["pods", "secrets"], ["pods", "-", "pods"]) == [["pods"], ["secrets"]]

    def test_empty_override_means_alphabetical(self):
        assert plan.restore_tiers(["secrets", "pods"], []) == [["pods", "secrets"]]

    def test_only_separator(self):
        assert plan.restore_tiers(["secrets", "pods"], ["-"]) == [["pods", "secrets"]]


class TestParsePriorities:
    def test_none_is_default(self):
        assert plan.parse_priorities(None) == (plan.DEFAULT_HIGH_PRIORITIES, plan.DEFAULT_LOW_PRIORITIES)

    def test_split(self):
        assert plan.parse_priorities(["a", "-", "b", "c"]) == (("a",), ("b", "c"))
        assert plan.parse_priorities(["-", "b"]) == ((), ("b",))
        assert plan.parse_priorities(["a", "-"]) == (("a",), ())
        assert plan.parse_priorities("") == ((), ())

    def test_two_separators(self):
        with pytest.raises(InvalidOptionError, match="separator '-' may appear only once"):
            plan.parse_priorities(["a", "-", "b", "-"])

    @pytest.mark.parametrize("bad", [["a", ""], ["a", 3], ["a", None]])
    def test_bad_entry_names_index(self, bad):
        with pytest.raises(InvalidOptionError, match=r"priorities\[1\]"):
            plan.parse_priorities(bad)

    def test_not_a_list(self):
        with pytest.raises(InvalidOptionError, match="must be a list"):
            plan.parse_priorities({"a": 1})


class TestIncludedResources:
    def test_non_restorable_included_is_an_error(self):
        with pytest.raises(InvalidOptionError, match="included_resources: csinodes, nodes cannot be restored"):
            skips.check_included_resources_restorable(["pods", "nodes", "csinodes"])

    @pytest.mark.parametrize("included", [["*", "pods"], None, [], ["deployments.apps", "customresourcedefinitions"]])
    def test_restorable_resources_are_accepted(self, included):
        assert skips.check_included_resources_restorable(included) is None


class TestNamespaceMapping:
    def test_valid(self):
        assert ns_mapping.validate_namespace_mapping({"a": "b", "c": "d"}) == {"a": "b", "c": "d"}

    def test_empty(self):
        assert ns_mapping.validate_namespace_mapping(None) == {}
        assert ns_mapping.validate_namespace_mapping({}) == {}

    def test_two_sources_one_target(self):
        with pytest.raises(InvalidOptionError) as raised:
            ns_mapping.validate_namespace_mapping({"a": "t", "b": "t"})
        assert "namespaces 'a', 'b' would all be restored into namespace 't'" in str(raised.value)

    def test_target_is_a_restored_source_left_in_place(self):
        with pytest.raises(InvalidOptionError, match="'a', 'b' would all be restored into namespace 'b'"):
            ns_mapping.validate_namespace_mapping({"a": "b"}, restored_namespaces=["a", "b"])

    def test_target_is_a_source_that_moves_away(self):
        mapping = {"a": "b", "b": "c"}
        assert ns_mapping.validate_namespace_mapping(mapping, restored_namespaces=["a", "b"]) == mapping

    def test_identity_mapping_is_fine(self):
        assert ns_mapping.validate_namespace_mapping({"a": "a"}, restored_namespaces=["a"]) == {"a": "a"}

    @pytest.mark.parametrize("mapping, word", [
        ({"a": "Bad_Name"}, "target namespace 'Bad_Name'"),
        ({"": "b"}, "source namespace ''"),
        ({"a": 3}, "target namespace 3"),
        ({"a": "x" * 64}, "is not a valid namespace name"),
    ])
    def test_invalid_names(self, mapping, word):
        with pytest.raises(InvalidOptionError, match=word):
            ns_mapping.validate_namespace_mapping(mapping)

    def test_not_a_dict(self):
        with pytest.raises(InvalidOptionError, match="must be a dict"):
            ns_mapping.validate_namespace_mapping(["a:b"])

    def test_map_namespace(self):
        assert ns_mapping.map_namespace("a", {"a": "b"}) == "b"
        assert ns_mapping.map_namespace("c", {"a": "b"}) == "c"
        assert ns_mapping.map_namespace("", {"": "b"}) == ""
        assert ns_mapping.map_namespace(None, {"a": "b"}) is None
        assert ns_mapping.map_namespace("a", None) == "a"


def pod(phase=None, annotations=None):
    item = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}
    if annotations:
        item["metadata"]["annotations"] = annotations
    if phase:
        item["status"] = {"phase": phase}
    return item


class TestSkipReason:
    @pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
    def test_completed_pods(self, phase):
        assert "completed" in skips.skip_reason(pod(phase), "pods")

    @pytest.mark.parametrize("phase", ["Running", "Pending", "Unknown", None])
    def test_other_pods(self, phase):
        assert skips.skip_reason(pod(phase), "pods") is None

    def test_mirror_pod(self):
        assert "mirror pod" in skips.skip_reason(pod("Running", {skips.MIRROR_POD_ANNOTATION: "abc"}), "pods")

    def test_controller_managed_endpoint_slice(self):
        labels = {skips.ENDPOINT_SLICE_MANAGED_BY: skips.ENDPOINT_SLICE_CONTROLLER}
        assert "control plane" in skips.skip_reason({"metadata": {"labels": labels}}, kr.ENDPOINT_SLICES)
        mesh = {"metadata": {"labels": {skips.ENDPOINT_SLICE_MANAGED_BY: "mesh.example.com"}}}
        assert skips.skip_reason(mesh, kr.ENDPOINT_SLICES) is None
        assert skips.skip_reason({"metadata": {"labels": labels}}, "configmaps") is None

    def test_mirror_annotation_only_counts_for_pods(self):
        item = pod(None, {skips.MIRROR_POD_ANNOTATION: "abc"})
        assert skips.skip_reason(item, "configmaps") is None

    def test_phase_only_counts_for_pods(self):
        assert skips.skip_reason(pod("Succeeded"), "widgets.example.com") is None

    @pytest.mark.parametrize("status", [
        {"completionTime": "2024-01-01T00:00:00Z"},
        {"conditions": [{"type": "Complete", "status": "True"}]},
        {"conditions": [{"type": "Suspended", "status": "True"}, {"type": "Failed", "status": "True"}]},
    ])
    def test_finished_jobs(self, status):
        assert skips.skip_reason({"metadata": {}, "status": status}, "jobs.batch") == "job has finished"

    @pytest.mark.parametrize("status", [
        None, {}, {"active": 1}, {"conditions": [{"type": "Failed", "status": "False"}]},
        {"conditions": [{"type": "Suspended", "status": "True"}]}, {"completionTime": ""},
    ])
    def test_running_jobs(self, status):
        item = {"metadata": {}}
        if status is not None:
            item["status"] = status
        assert skips.skip_reason(item, "jobs.batch") is None

    def test_never_restored_resource(self):
        assert skips.skip_reason({"metadata": {"name": "n"}}, "nodes") == "nodes are never restored"
