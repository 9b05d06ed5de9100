"""k8s_restore round trip on the real test bed: back a namespace up with k8s_backup, delete it
(with its PersistentVolume and its CRD), restore, and compare every object with the original
modulo the fields a restore resets."""
import copy
import gzip
import json
import uuid

import pytest

from test_backup_support import assert_ok, get_object, run_backup, s3_location
from test_restore_support import assert_restored, delete_raw, get_raw, run_restore, unique, wait_for, wait_gone

RESET_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences",
                  "selfLink")
BIND_ANNOTATIONS = ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller")


def comparable(obj):
    """An object without what a restore resets or the cluster assigns afresh (DESIGN.md section 6)."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    metadata = obj["metadata"]
    for key in RESET_METADATA:
        metadata.pop(key, None)
    for key in ("velero.io/backup-name", "velero.io/restore-name"):
        (metadata.get("labels") or {}).pop(key, None)
    for key in BIND_ANNOTATIONS:
        (metadata.get("annotations") or {}).pop(key, None)
    for key in ("labels", "annotations"):
        if metadata.get(key) == {}:
            del metadata[key]
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        for port in spec.get("ports") or ():
            port.pop("nodePort", None)  # auto-assigned: the cluster picks a new one
    if kind == "Pod":
        spec.pop("nodeName", None)
        tokens = set(v["name"] for v in spec.get("volumes") or () if v["name"].startswith("kube-api-access-"))
        spec["volumes"] = [v for v in spec.get("volumes") or () if v["name"] not in tokens]
        for container in spec.get("containers") or ():
            container["volumeMounts"] = [m for m in container.get("volumeMounts") or () if m["name"] not in tokens]
    if kind == "PersistentVolume":
        for key in ("uid", "resourceVersion"):
            spec.get("claimRef", {}).pop(key, None)
    return obj


class Source(object):
    """A namespace with one of everything, backed up once for the module's tests."""

    def __init__(self, api_client, bed, storage_location):
        from kubernetes import client, utils
        self.api_client = api_client
        self.namespace = unique("rt")
        self.group = "%s.kubedr.test" % unique("rt")
        self.crd = "gadgets." + self.group
        self.pv = unique("rt-pv")
        self.backup = unique("rt")
        self.location = s3_location(storage_location, "restore-rt")
        ns = self.namespace
        core = client.CoreV1Api(api_client)
        ext = client.ApiextensionsV1Api(api_client)
        ext.create_custom_resource_definition({
            "metadata": {"name": self.crd},
            "spec": {"group": self.group, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}})
        core.create_namespace({"metadata": {"name": ns, "labels": {"purpose": "round-trip"}}})
        core.create_persistent_volume({
            "metadata": {"name": self.pv},
            "spec": {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/tmp/" + self.pv}}})
        labels = {"app": "web"}
        pod_spec = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}
        manifests = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"token": "abc"}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
             "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": ns}]},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}},
                      "storageClassName": "", "volumeName": self.pv}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-np"},
             "spec": {"type": "NodePort", "selector": labels, "ports": [{"port": 81, "targetPort": 8080}]}},
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "done"},
             "spec": {"template": {"spec": dict(pod_spec, restartPolicy="Never")}}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {"role": "bare"}},
             "spec": dict(pod_spec, serviceAccountName="runner")},
        ]
        for manifest in manifests:
            utils.create_from_dict(api_client, manifest, namespace=ns)
        wait_for(lambda: get_raw(api_client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + self.crd)
                 and self.established(), what="CRD established")
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            self.group, "v1", ns, "gadgets", {"apiVersion": self.group + "/v1", "kind": "Gadget",
                                              "metadata": {"name": "g1"}, "spec": {"size": 2}})
        wait_for(lambda: self.get("/apis/batch/v1/namespaces/%s/jobs/done").get("status", {}).get("succeeded"),
                 what="job done")
        wait_for(lambda: self.get("/api/v1/namespaces/%s/persistentvolumeclaims/data")["status"].get("phase")
                 == "Bound", what="claim bound")
        wait_for(lambda: self.get("/api/v1/namespaces/%s/pods/bare")["status"].get("phase") == "Running",
                 what="bare pod running")
        wait_for(lambda: self.get("/apis/apps/v1/namespaces/%s/deployments/web").get("status", {})
                 .get("availableReplicas") == 1, what="deployment available")
        assert_ok(run_backup(bed, self.location, self.backup, included_namespaces=[ns]))
        self.originals = dict((path, self.get(path)) for path in self.paths())

    def established(self):
        crd = get_raw(self.api_client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + self.crd)
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in (crd.get("status") or {}).get("conditions") or ())

    def get(self, path):
        return get_raw(self.api_client, path % self.namespace if "%s" in path else path)

    def paths(self):
        ns = "/api/v1/namespaces/" + self.namespace
        return [
            ns, ns + "/configmaps/settings", ns + "/secrets/creds", ns + "/serviceaccounts/runner",
            ns + "/persistentvolumeclaims/data", ns + "/services/web", ns + "/services/web-np", ns + "/pods/bare",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles/reader" % self.namespace,
            "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/reader" % self.namespace,
            "/apis/apps/v1/namespaces/%s/deployments/web" % self.namespace,
            "/apis/%s/v1/namespaces/%s/gadgets/g1" % (self.group, self.namespace),
            "/api/v1/persistentvolumes/" + self.pv,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + self.crd,
        ]

    def delete_all(self):
        for path in ("/api/v1/namespaces/" + self.namespace, "/api/v1/persistentvolumes/" + self.pv,
                     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + self.crd):
            delete_raw(self.api_client, path)
        wait_gone(self.api_client, "/api/v1/namespaces/" + self.namespace, "/api/v1/persistentvolumes/" + self.pv,
                  "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + self.crd)


@pytest.fixture(scope="module")
def source(api_client, bed, storage_location):
    built = Source(api_client, bed, storage_location)
    yield built
    built.delete_all()


def test_round_trip_restores_every_object_as_it_was(bed, s3, source):
    source.delete_all()
    name = "rt-" + uuid.uuid4().hex[:6]

    result = assert_restored(run_restore(bed, source.location, backup_name=source.backup, name=name))

    for path, original in source.originals.items():
        restored = source.get(path)
        assert restored is not None, "%s was not restored" % path
        if restored["kind"] == "Namespace":  # as Velero creates it: its backed-up labels only
            assert restored["metadata"]["labels"] == original["metadata"]["labels"], path
        else:
            assert restored["metadata"]["labels"]["velero.io/restore-name"] == name
        assert restored["metadata"]["uid"] != original["metadata"]["uid"]
        assert comparable(restored) == comparable(original), path
    assert source.get("/api/v1/namespaces/%s/services/web-np")["spec"]["ports"][0]["nodePort"] > 0
    wait_for(lambda: source.get("/api/v1/namespaces/%s/persistentvolumeclaims/data")["status"].get("phase")
             == "Bound", what="restored claim bound again")
    wait_for(lambda: source.get("/api/v1/namespaces/%s/pods/bare")["status"].get("phase") == "Running",
             what="restored pod running")
    wait_for(lambda: (source.get("/apis/apps/v1/namespaces/%s/deployments/web").get("status") or {})
             .get("availableReplicas") == 1, what="restored deployment available")

    # The finished job and its completed pod are not restored.
    assert source.get("/apis/batch/v1/namespaces/%s/jobs/done") is None
    key = "%s/restores/%s/restore-%s-resource-list.json.gz" % (source.location["prefix"], name, name)
    resource_list = json.loads(gzip.decompress(s3.get_object(Bucket=source.location["bucket"], Key=key)["Body"].read()))
    assert resource_list["batch/v1/Job"] == ["%s/done(skipped)" % source.namespace]
    assert resource_list["v1/ConfigMap"] == sorted(["%s/settings(created)" % source.namespace,
                                                    "%s/kube-root-ca.crt(skipped)" % source.namespace]) or \
        resource_list["v1/ConfigMap"] == sorted(["%s/settings(created)" % source.namespace,
                                                 "%s/kube-root-ca.crt(created)" % source.namespace])
    assert resource_list["apiextensions.k8s.io/v1/CustomResourceDefinition"] == ["%s(created)" % source.crd]
    assert result["item_counts"]["failed"] == 0 and result["error_count"] == 0
    results = json.loads(gzip.decompress(get_object(s3, source.location, "restores/%s/restore-%s-results.gz"
                                                    % (name, name))))
    assert set(results) == {"warnings", "errors"}
    assert set(results["errors"]) == {"velero", "cluster", "namespaces"}
    assert result["storage"]["logs"] == "s3://%s/%s/restores/%s/restore-%s-logs.gz" % (
        source.location["bucket"], source.location["prefix"], name, name)
    assert "YWJj" not in json.dumps(result)  # the secret's value ("abc")


def test_restoring_again_over_the_restored_namespace_changes_nothing(bed, source):
    name = "again-" + uuid.uuid4().hex[:6]
    before = dict((path, source.get(path)) for path in source.paths())
    result = assert_restored(run_restore(bed, source.location, backup_name=source.backup, name=name))
    assert result["changed"] is False and result["item_counts"]["created"] == 0, [
        (k, v) for k, v in result["item_counts"]["per_resource"].items() if v["created"]]
    for path, obj in before.items():
        assert source.get(path)["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], path
