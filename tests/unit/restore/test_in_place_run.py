"""The in-place restore's order of work against a recorded API (no cluster): scale to zero with the
count in an annotation, the helper pod, the restore, and the scale back in every case."""
import datetime

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place
from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place_plan as plan
from ansible_collections.kubedr.backup.plugins.module_utils.storage.filesystem import FilesystemStore
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploader_errors import UploaderError

NS = "shop"
DEPLOY = "/apis/apps/v1/namespaces/shop/deployments/web"


class FakeKube(object):
    """Pods of the Deployment web use claim data while it has replicas; the helper pod runs at once."""

    exec_client = object()

    def __init__(self, replicas=2, annotations=None):
        self.deployment = {"metadata": {"name": "web", "namespace": NS, "annotations": dict(annotations or {})},
                           "spec": {"replicas": replicas, "template": {"spec": {"volumes": [
                               {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}}}
        self.helper = None
        self.calls = []

    def _pods(self):
        pods = [{"metadata": {"name": "web-rs-%d" % i, "namespace": NS,
                              "ownerReferences": [{"kind": "ReplicaSet", "name": "web-rs", "controller": True}]},
                 "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]},
                 "status": {"phase": "Running"}} for i in range(self.deployment["spec"]["replicas"])]
        return pods + ([self.helper] if self.helper else [])

    def get(self, path, query=None):
        if path == "/api/v1/namespaces/shop/persistentvolumeclaims/data":
            return {"metadata": {"name": "data"}}
        if path == "/api/v1/namespaces/shop/pods":
            pods = self._pods()
            if query:
                pods = [p for p in pods if p["metadata"].get("labels", {}).get(in_place.HELPER_LABEL)]
            return {"items": pods}
        if path == "/apis/apps/v1/namespaces/shop/replicasets/web-rs":
            return {"metadata": {"ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}}
        if path == DEPLOY:
            return self.deployment
        if path == "/apis/apps/v1/namespaces/shop/deployments":
            return {"items": [self.deployment]}
        if path in ("/apis/apps/v1/namespaces/shop/statefulsets", "/apis/apps/v1/namespaces/shop/replicasets"):
            return {"items": []}
        if path == "/api/v1/namespaces/kubedr-node-agent/pods":
            return {"items": [{"metadata": {"name": "agent-1"}, "spec": {"nodeName": "n1"},
                               "status": {"phase": "Running"}}]}
        if self.helper and path == "/api/v1/namespaces/shop/pods/" + self.helper["metadata"]["name"]:
            return self.helper
        raise ApiException(404, "Not Found")

    def request(self, method, path, query=None, body=None, content_type=None):
        self.calls.append((method, path, body))
        if method == "PATCH" and path == DEPLOY:
            annotations = self.deployment["metadata"]["annotations"]
            for key, value in body["metadata"]["annotations"].items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
            self.deployment["spec"]["replicas"] = body["spec"]["replicas"]
            return self.deployment
        if method == "POST":
            assert self.deployment["spec"]["replicas"] == 0, "helper started before the scale down"
            self.helper = dict(body, metadata=dict(body["metadata"], name="kubedr-in-place-x", namespace=NS),
                               spec=dict(body["spec"], nodeName="n1"), status={"phase": "Running"})
            return self.helper
        if method == "DELETE":
            self.helper = None
            return {}
        raise AssertionError("unexpected %s %s" % (method, path))


def pvb(snapshot="s" * 64):
    return {"metadata": {"name": "vol-web-data", "annotations": {"velero.io/pvc-name": "data"}},
            "spec": {"pod": {"namespace": NS, "name": "web-rs-0"}, "volume": "v", "uploaderType": "restic",
                     "repoIdentifier": "s3:x/restic/shop"},
            "status": {"phase": "Completed", "snapshotID": snapshot, "completionTimestamp": "2024-01-01T00:00:00Z",
                       "progress": {"totalBytes": 42}}}


@pytest.fixture
def store(tmp_path):
    store = FilesystemStore(str(tmp_path))
    store.put_json_gz("backups/vol/vol-podvolumebackups.json.gz", [pvb()])
    return store


def run(store, kube, monkeypatch, restore, check_mode=False, password="pw"):
    monkeypatch.setattr(in_place, "restore_into_pod_volume", restore)
    options = {"name": "r1", "volume_data_in_place": {"claims": ["shop/data"]}, "repository_password": password,
               "namespace_mapping": {}}
    location = {"provider": "filesystem", "path": "/unused"}
    return in_place.InPlaceRestore(kube, location, store, options, {"metadata": {"name": "vol"}},
                                   check_mode=check_mode, now=lambda: datetime.datetime(2024, 1, 2)).execute()


def test_scaled_to_zero_restored_and_scaled_back(store, monkeypatch):
    kube = FakeKube()
    seen = []

    def restore(api_client, k, settings, helper, volume, repo, snapshot_id, uploader_type, timeout, delete_extra):
        assert kube.deployment["metadata"]["annotations"] == {plan.REPLICAS_ANNOTATION: "2"}
        seen.append((helper["metadata"]["name"], volume, snapshot_id, delete_extra))

    result = run(store, kube, monkeypatch, restore)
    assert result["phase"] == "Completed" and result["changed"], result
    assert seen == [("kubedr-in-place-x", "data", "s" * 64, True)]
    [claim] = result["volume_data_in_place"]
    assert (claim["status"], claim["bytes"], claim["workloads"]) == (
        "Completed", 42, [{"kind": "Deployment", "namespace": NS, "name": "web", "replicas": 2}])
    assert kube.deployment["metadata"]["annotations"] == {} and kube.deployment["spec"]["replicas"] == 2
    assert kube.helper is None
    assert "storage" in result and result["storage"]["logs"].endswith("restore-r1-logs.gz")


def test_a_failed_restore_still_scales_back_and_says_why(store, monkeypatch):
    kube = FakeKube()

    def restore(*args, **kwargs):
        raise UploaderError("restic restore failed: wrong repository password")

    result = run(store, kube, monkeypatch, restore)
    assert result["phase"] == "PartiallyFailed"
    assert kube.deployment["spec"]["replicas"] == 2 and kube.deployment["metadata"]["annotations"] == {}
    assert kube.helper is None
    assert any("wrong repository password" in w for w in result["warnings"]), result["warnings"]


def test_a_rerun_after_a_crash_scales_back_to_the_recorded_count(store, monkeypatch):
    kube = FakeKube(replicas=0, annotations={plan.REPLICAS_ANNOTATION: "3"})
    result = run(store, kube, monkeypatch, lambda *a, **k: None)
    assert result["phase"] == "Completed"
    assert result["volume_data_in_place"][0]["workloads"][0]["replicas"] == 3
    assert kube.deployment["spec"]["replicas"] == 3 and kube.deployment["metadata"]["annotations"] == {}


def test_check_mode_changes_nothing(store, monkeypatch):
    kube = FakeKube()
    result = run(store, kube, monkeypatch, lambda *a, **k: pytest.fail("restored in check mode"), check_mode=True)
    assert kube.calls == [] and result["phase"] is None
    assert result["plan"][0]["message"] == (
        "restore snapshot %s (restic, from shop/data) into claim shop/data, removing the files it lacks; "
        "scale Deployment shop/web from 2 to 0 and back" % ("s" * 64))


def test_without_the_password_nothing_is_scaled(store, monkeypatch):
    kube = FakeKube()
    result = run(store, kube, monkeypatch, lambda *a, **k: None, password=None)
    assert result["phase"] == "PartiallyFailed" and kube.calls == []
    assert "repository_password" in result["volume_data_in_place"][0]["error"]
