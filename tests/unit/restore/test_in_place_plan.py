"""The pure decisions of an in-place volume data restore: its option, the snapshot chosen for each
claim, the workload owning a pod, the replica count to scale back to."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place_plan as plan
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia_snapshots, restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository


def record(namespace, claim, snapshot, completed, phase="Completed", name=None, annotated=True, total=100,
           uploader="restic", message=""):
    metadata = {"name": name or "b-%s-%s" % (claim, snapshot)}
    spec = {"pod": {"kind": "Pod", "namespace": namespace, "name": "p"}, "volume": "data", "uploaderType": uploader,
            "repoIdentifier": "s3:repo/" + namespace, "tags": {}}
    if annotated:
        metadata["annotations"] = {"velero.io/pvc-name": claim}
    else:
        spec["tags"]["pvc"] = claim
    return {"metadata": metadata, "spec": spec,
            "status": {"phase": phase, "snapshotID": snapshot, "completionTimestamp": completed, "message": message,
                       "progress": {"totalBytes": total}}}


def test_option_defaults_and_refusals():
    settings = plan.parse_option({"claims": ["shop/data-*"]})
    assert settings == plan.InPlaceSettings(["shop/data-*"], True, 600, "fail")
    for bad in ({"claims": []}, {"claims": "shop/a"}, {"claims": ["a"]}, {"claims": ["a/b/c"]}, {"claims": ["/b"]},
                {"claims": ["a/b"], "timeout": 0}, {"claims": ["a/b"], "bare_pods": "keep"},
                {"claims": ["a/b"], "colour": 1}, {"claims": ["a/b"], "delete_extra": "yes"}, ["a/b"]):
        with pytest.raises(InvalidOptionError):
            plan.parse_option(bad)


def test_the_newest_completed_snapshot_of_each_matching_claim_is_chosen():
    records = [
        record("shop", "data-a", "s1", "2024-01-01T00:00:00Z"),
        record("shop", "data-a", "s2", "2024-01-02T00:00:00Z"),
        record("shop", "data-a", "s3", "2024-01-03T00:00:00Z", phase="Failed"),
        record("shop", "data-b", "k1", "2024-01-01T00:00:00Z", annotated=False, uploader="kopia", total=None),
        record("shop", "logs", "l1", "2024-01-01T00:00:00Z"),
        record("other", "data-a", "o1", "2024-01-01T00:00:00Z"),
    ]
    chosen, errors, warnings = plan.choose_snapshots(records, ["shop/data-*"], {"shop": "shop2"})
    assert errors == [] and warnings == []
    assert [(c.namespace, c.claim, c.source_namespace, c.snapshot_id, c.uploader_type, c.bytes) for c in chosen] == [
        ("shop2", "data-a", "shop", "s2", "restic", 100), ("shop2", "data-b", "shop", "k1", "kopia", None)]
    assert chosen[0].repo_identifier == "s3:repo/shop"


def test_claims_without_data_and_patterns_without_claims_are_reported():
    records = [record("shop", "failed", "", "2024-01-01T00:00:00Z", phase="Failed", message="disk gone"),
               record("shop", "empty", "", "2024-01-01T00:00:00Z")]
    chosen, errors, warnings = plan.choose_snapshots(records, ["shop/*", "nowhere/x"])
    assert chosen == []
    assert errors == [(None, "no volume backup of a claim matching nowhere/x in the backup"),
                      ("shop", "claim shop/failed: its volume backup is Failed: disk gone: no data to restore")]
    assert warnings == [("shop", "claim shop/empty: the volume was empty when backed up: nothing to restore")]


def pod(owner_kind=None, owner_name=None, phase="Running", claim="data"):
    metadata = {"namespace": "shop", "name": "p-1"}
    if owner_kind:
        metadata["ownerReferences"] = [{"kind": "Other", "name": "x"},
                                       {"kind": owner_kind, "name": owner_name, "controller": True}]
    return {"metadata": metadata, "status": {"phase": phase},
            "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}


def owned_by(kind, name):
    return {"metadata": {"ownerReferences": [{"kind": kind, "name": name, "controller": True}]}}


def test_owner_resolution():
    replica_sets = {"web-5d8": owned_by("Deployment", "web"), "plain": {"metadata": {}},
                    "rollout-1": owned_by("Rollout", "rollout")}

    def read(namespace, name):
        assert namespace == "shop"
        return replica_sets.get(name)

    assert plan.workload_of(pod("ReplicaSet", "web-5d8"), read) == plan.Workload("Deployment", "shop", "web")
    assert plan.workload_of(pod("ReplicaSet", "plain"), read) == plan.Workload("ReplicaSet", "shop", "plain")
    assert plan.workload_of(pod("ReplicaSet", "gone"), read) == plan.Workload("ReplicaSet", "shop", "gone")
    assert plan.workload_of(pod("StatefulSet", "db"), read) == plan.Workload("StatefulSet", "shop", "db")
    assert plan.workload_of(pod(), read) is None
    with pytest.raises(plan.UnscalableOwner, match="Rollout rollout"):
        plan.workload_of(pod("ReplicaSet", "rollout-1"), read)
    with pytest.raises(plan.UnscalableOwner, match="DaemonSet agent"):
        plan.workload_of(pod("DaemonSet", "agent"), read)


def test_pods_that_hold_a_claim():
    assert plan.pod_uses_claim(pod(), "data") and plan.pod_uses_claim(pod(phase="Pending"), "data")
    assert not plan.pod_uses_claim(pod(phase="Succeeded"), "data")
    assert not plan.pod_uses_claim(pod(claim="other"), "data")


def test_replicas_to_scale_back_to_survive_a_crash():
    assert plan.replicas_before({"spec": {"replicas": 3}}) == 3
    assert plan.replicas_before({"spec": {}}) == 1
    crashed = {"metadata": {"annotations": {plan.REPLICAS_ANNOTATION: "2"}}, "spec": {"replicas": 0}}
    assert plan.replicas_before(crashed) == 2
    assert plan.scale_down_patch(2) == {"metadata": {"annotations": {plan.REPLICAS_ANNOTATION: "2"}},
                                        "spec": {"replicas": 0}}
    assert plan.scale_back_patch(2)["metadata"]["annotations"] == {plan.REPLICAS_ANNOTATION: None}
    assert plan.workload_path(plan.Workload("StatefulSet", "shop", "db")) == "/apis/apps/v1/namespaces/shop/statefulsets/db"


def test_workloads_left_at_zero_by_a_crash_are_found_by_their_template():
    deployment = {"metadata": {"name": "web", "annotations": {plan.REPLICAS_ANNOTATION: "2"}},
                  "spec": {"replicas": 0, "template": {"spec": {"volumes": [
                      {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}}}
    assert plan.left_at_zero(deployment) and plan.template_uses_claim(deployment, "data")
    assert not plan.template_uses_claim(deployment, "logs")
    stateful = {"metadata": {"name": "db"}, "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
    assert plan.template_uses_claim(stateful, "data-db-0") and plan.template_uses_claim(stateful, "data-db-12")
    assert not plan.template_uses_claim(stateful, "data-dbx-0") and not plan.template_uses_claim(stateful, "data-db-")
    assert not plan.left_at_zero(stateful)


def test_delete_extra_reaches_the_uploaders_command_lines():
    repo = Repository("s3:http://minio/bucket/restic/shop", password="pw")
    assert restic.restore_command(repo, "a" * 64, delete=True)[-1] == "--delete"
    assert "--delete" not in restic.restore_command(repo, "a" * 64)
    assert kopia_snapshots.restore_args("k" + "0" * 32, delete_extra=True)[-1] == "--delete-extra"
    kind, text = restic.classify_stderr("unknown flag: --delete")
    assert kind == "unsupported" and "restic 0.17" in text
