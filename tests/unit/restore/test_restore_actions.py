# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import subprocess

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.restore import item_actions as ra
from ansible_collections.kubedr.backup.plugins.module_utils.restore import pods
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore.modifiers import validate_modifiers
from ansible_collections.kubedr.backup.plugins.module_utils.restore.patches import ModifierError

CTX = ra.RestoreContext(backup_name="nightly", restore_name="nightly-restore", restore_uid="r-uid")


def ctx(**changes):
    return ra.RestoreContext(**dict(dict(backup_name="nightly", restore_name="nightly-restore",
                                         restore_uid="r-uid"), **changes))


def meta(name, namespace=None, **extra):
    metadata = {"name": name, "uid": "u-1", "resourceVersion": "42", "generation": 3,
                "creationTimestamp": "2024-01-01T00:00:00Z", "selfLink": "/x",
                "managedFields": [{"manager": "kubectl", "operation": "Update"}]}
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(extra)
    return metadata


def pod(**spec):
    base = {
        "serviceAccountName": "app",
        "nodeName": "node-1",
        "priority": 1000,
        "priorityClassName": "high",
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "kube-api-access-x7k2p", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            {"name": "app-token-abcde", "secret": {"secretName": "app-token-abcde"}},
            {"name": "kube-api-access-not-projected", "emptyDir": {}},
        ],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
            {"name": "app-token-abcde", "mountPath": "/legacy"}]}],
        "initContainers": [{"name": "init", "image": "busybox", "volumeMounts": [
            {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
    }
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta("web-0", "shop"), "spec": base,
            "status": {"phase": "Running", "podIP": "10.0.0.5"}}


# ---------------------------------------------------------------- metadata

class TestResetMetadata:
    def test_drops_server_fields_and_status(self):
        item = pod()
        item["metadata"].update(generateName="web-", deletionTimestamp="x", deletionGracePeriodSeconds=30,
                                ownerReferences=[{"kind": "StatefulSet"}],
                                annotations={kr.LAST_APPLIED_ANNOTATION: "{}"}, labels={"app": "web"})
        result = ra.reset_metadata(item, "nightly", "nightly-restore")
        assert result["metadata"] == {
            "name": "web-0", "namespace": "shop",
            "annotations": {kr.LAST_APPLIED_ANNOTATION: "{}"},
            "labels": {"app": "web", "velero.io/backup-name": "nightly", "velero.io/restore-name": "nightly-restore"},
        }
        assert "status" not in result
        assert item["metadata"]["uid"] == "u-1" and "status" in item

    def test_leaves_the_backed_up_item_as_it_was(self):
        # Only the top level, metadata and labels are copied: the item from the backup, which the
        # report names and the policy compares, must not change under the restore's edits.
        item = pod()
        item["metadata"].update(labels={"app": "web"}, resourceVersion="7")
        before = copy.deepcopy(item)
        result = ra.reset_metadata(item, "b", "r")
        result["metadata"]["namespace"] = "elsewhere"
        assert item == before
        assert result["spec"] == item["spec"]

    def test_restore_status_keeps_status(self):
        assert ra.reset_metadata(pod(), "b", "r", restore_status=True)["status"]["phase"] == "Running"

    def test_without_labels_or_metadata(self):
        assert ra.reset_metadata({"kind": "X"}, "b", "r")["metadata"] == {
            "labels": {"velero.io/backup-name": "b", "velero.io/restore-name": "r"}}

    def test_long_names_are_shortened_like_velero(self):
        name = "a" * 70
        value = ra.reset_metadata({"metadata": {}}, name, "r")["metadata"]["labels"]["velero.io/backup-name"]
        assert len(value) == 63 and value.startswith("a" * 57)
        assert value[57:] == hashlib.sha256(name.encode()).hexdigest()[:6]

    @pytest.mark.parametrize("name", ["", "x", "a" * 63])
    def test_label_value_short_names_unchanged(self, name):
        assert ra.velero_label_value(name) == name

    def test_label_value_known_digest(self):
        # sha256("a" * 64) begins with ffe054; 57 characters of the name are kept.
        assert ra.velero_label_value("a" * 64) == "a" * 57 + "ffe054"


# ---------------------------------------------------------------- pods

class TestPodAction:
    def test_node_priority_and_token_volumes(self):
        result, warnings = ra.pod_action(pod(), CTX)
        spec = result["spec"]
        assert "nodeName" not in spec and "priority" not in spec and spec["priorityClassName"] == "high"
        assert [v["name"] for v in spec["volumes"]] == ["data", "kube-api-access-not-projected"]
        assert spec["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
        assert spec["initContainers"][0]["volumeMounts"] == []
        assert warnings == []

    def test_input_untouched(self):
        item = pod()
        ra.pod_action(item, CTX)
        assert item == pod()

    def test_default_service_account_token_prefix(self):
        item = pod(serviceAccountName=None, volumes=[{"name": "default-token-1", "secret": {}},
                                                     {"name": "app-token-1", "secret": {}}])
        result = ra.pod_action(item, CTX)[0]
        assert [v["name"] for v in result["spec"]["volumes"]] == ["app-token-1"]

    def test_legacy_service_account_field(self):
        item = pod(serviceAccountName=None, serviceAccount="old", volumes=[{"name": "old-token-1", "secret": {}}])
        assert ra.pod_action(item, CTX)[0]["spec"]["volumes"] == []

    def test_pod_without_volumes(self):
        item = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "nodeName": "n"}}
        assert ra.pod_action(item, CTX)[0]["spec"] == {"containers": [{"name": "c"}]}

    def test_ephemeral_containers_dropped_with_warning(self):
        result, warnings = ra.pod_action(pod(ephemeralContainers=[{"name": "debug"}]), CTX)
        assert "ephemeralContainers" not in result["spec"]
        assert warnings == ["ephemeral containers of pod web-0 were not restored: the API refuses them on create"]


class TestRestoreWait:
    def test_inserted_first(self):
        result = pods.add_restore_wait_init_container(pod(), ["data"], "r-uid", "busybox:1.36")
        init = result["spec"]["initContainers"]
        assert [c["name"] for c in init] == ["restore-wait", "init"]
        wait = init[0]
        assert wait["image"] == "busybox:1.36"
        assert wait["volumeMounts"] == [{"name": "data", "mountPath": "/restores/data"}]
        assert wait["command"][:2] == ["/bin/sh", "-c"]
        assert wait["command"][3:] == ["restore-wait", "r-uid", "data"]

    def test_replaces_existing_and_options(self):
        item = pod(volumes=[{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
                   initContainers=[{"name": "restore-wait", "image": "old"}])
        result = pods.add_restore_wait_init_container(item, ["a", "b"], "u", "img", security_context={"runAsUser": 1000},
                                                      resources={"limits": {"cpu": "100m"}})
        init = result["spec"]["initContainers"]
        assert len(init) == 1 and init[0]["image"] == "img"
        assert init[0]["securityContext"] == {"runAsUser": 1000} and init[0]["resources"]["limits"]["cpu"] == "100m"
        assert [m["mountPath"] for m in init[0]["volumeMounts"]] == ["/restores/a", "/restores/b"]

    def test_unknown_volume(self):
        with pytest.raises(InvalidOptionError, match="pod web-0 has no volume named nope"):
            pods.add_restore_wait_init_container(pod(), ["data", "nope"], "u", "img")

    def test_no_volumes_no_container(self):
        assert pods.add_restore_wait_init_container(pod(), [], "u", "img")["spec"]["initContainers"][0]["name"] == "init"

    def test_script_waits_for_every_marker_then_cleans_up(self, tmp_path):
        script = pods.RESTORE_WAIT_SCRIPT.replace(pods.RESTORE_WAIT_MOUNT_ROOT, str(tmp_path))
        for volume in ("a", "b b"):
            (tmp_path / volume / ".velero").mkdir(parents=True)
            (tmp_path / volume / "data.txt").write_text("kept")
        (tmp_path / "a" / ".velero" / "u1").write_text("")
        waiting = subprocess.Popen(["/bin/sh", "-c", script, "restore-wait", "u1", "a", "b b"])
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1.5)
        (tmp_path / "b b" / ".velero" / "u1").write_text("")
        assert waiting.wait(timeout=5) == 0
        assert not (tmp_path / "a" / ".velero").exists() and not (tmp_path / "b b" / ".velero").exists()
        assert (tmp_path / "b b" / "data.txt").read_text() == "kept"


# ---------------------------------------------------------------- services

def service(**spec):
    base = {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                      {"name": "https", "port": 443, "protocol": "TCP", "nodePort": 30443}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": base}


def node_ports(item):
    return [p.get("nodePort") for p in item["spec"]["ports"]]


class TestServiceAction:
    def test_cluster_ip_and_auto_node_ports_cleared(self):
        result = ra.service_action(service(), CTX)[0]
        assert "clusterIP" not in result["spec"] and "clusterIPs" not in result["spec"]
        assert node_ports(result) == [None, None]

    def test_headless_keeps_cluster_ip(self):
        result = ra.service_action(service(type="ClusterIP", clusterIP="None", clusterIPs=["None"], ports=[]), CTX)[0]
        assert result["spec"]["clusterIP"] == "None" and result["spec"]["clusterIPs"] == ["None"]

    def test_preserve_node_ports(self):
        assert node_ports(ra.service_action(service(), ctx(preserve_node_ports=True))[0]) == [30080, 30443]

    def test_explicit_node_ports_from_last_applied(self):
        item = service()
        item["spec"]["ports"].append({"port": 8080, "protocol": "TCP", "nodePort": 30808})
        item["spec"]["ports"].append({"port": 9090, "protocol": "TCP", "nodePort": 30909})
        applied = {"spec": {"ports": [{"name": "http", "port": 80, "nodePort": 30080},
                                      {"name": "https", "port": 443},
                                      {"port": 8080, "nodePort": "30808"}]}}
        item["metadata"]["annotations"] = {kr.LAST_APPLIED_ANNOTATION: json.dumps(applied)}
        assert node_ports(ra.service_action(item, CTX)[0]) == [30080, None, 30808, None]

    def test_explicit_node_ports_from_managed_fields(self):
        item = service()
        item["metadata"]["managedFields"] = [
            {"manager": "kube-apiserver", "fieldsV1": {"f:spec": {"f:ports": {}}}},
            {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:ports": {
                'k:{"port":443,"protocol":"TCP"}': {".": {}, "f:nodePort": {}, "f:port": {}},
                'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}},
        ]
        assert node_ports(ra.service_action(item, CTX)[0]) == [None, 30443]

    def test_broken_last_applied_falls_back_to_managed_fields(self):
        item = service()
        item["metadata"]["annotations"] = {kr.LAST_APPLIED_ANNOTATION: "{broken"}
        assert node_ports(ra.service_action(item, CTX)[0]) == [None, None]

    def test_external_name_untouched(self):
        item = {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
        assert ra.service_action(item, CTX)[0] == item

    def test_health_check_node_port(self):
        item = service(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=32000)
        assert "healthCheckNodePort" not in ra.service_action(item, CTX)[0]["spec"]
        item["metadata"]["annotations"] = {kr.LAST_APPLIED_ANNOTATION: json.dumps({"spec": {"healthCheckNodePort": 32000}})}
        assert ra.service_action(item, CTX)[0]["spec"]["healthCheckNodePort"] == 32000
        item["metadata"] = {"name": "web", "managedFields": [{"fieldsV1": {"f:spec": {"f:healthCheckNodePort": {}}}}]}
        assert ra.service_action(item, CTX)[0]["spec"]["healthCheckNodePort"] == 32000
        assert ra.service_action(service(type="LoadBalancer", healthCheckNodePort=32000),
                                 ctx(preserve_node_ports=True))[0]["spec"]["healthCheckNodePort"] == 32000


# ---------------------------------------------------------------- jobs

def job(manual=None, selector_labels=None):
    uid = "5f1c"
    spec = {"selector": {"matchLabels": selector_labels if selector_labels is not None else {
        "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid}},
        "template": {"metadata": {"labels": {"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid,
                                             "job-name": "migrate", "app": "x"}}, "spec": {}}}
    if manual is not None:
        spec["manualSelector"] = manual
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}, "spec": spec}


class TestJobAction:
    def test_controller_uid_stripped(self):
        result, warnings = ra.job_action(job(), CTX)
        assert result["spec"]["selector"]["matchLabels"] == {}
        assert result["spec"]["template"]["metadata"]["labels"] == {"job-name": "migrate", "app": "x"}
        assert warnings == []

    def test_manual_selector_left_empty_warns(self):
        assert "manualSelector" in ra.job_action(job(manual=True), CTX)[1][0]

    def test_manual_selector_with_own_labels(self):
        result, warnings = ra.job_action(job(manual=True, selector_labels={"app": "x", "controller-uid": "1"}), CTX)
        assert result["spec"]["selector"]["matchLabels"] == {"app": "x"} and warnings == []

    def test_job_without_selector(self):
        item = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {}}}}
        assert ra.job_action(item, CTX) == (item, [])


# ---------------------------------------------------------------- volumes

def pv(name="pv-1", policy="Retain", claim=("shop", "data")):
    spec = {"persistentVolumeReclaimPolicy": policy, "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}
    if claim:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": claim[0], "name": claim[1],
                            "uid": "c-uid", "resourceVersion": "7", "apiVersion": "v1"}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": meta(name, annotations={"pv.kubernetes.io/bound-by-controller": "yes",
                                                "pv.kubernetes.io/bind-completed": "yes",
                                                "pv.kubernetes.io/provisioned-by": "local"}),
            "spec": spec, "status": {"phase": "Bound"}}


def pvc(volume="pv-1"):
    annotations = dict((key, "x") for key in ra.PVC_ANNOTATIONS_DROPPED)
    annotations["keep.me/please"] = "yes"
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta("data", "shop", annotations=annotations),
            "spec": {"volumeName": volume, "accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Bound"}}


def pvb(pod_name, volume, snapshot, pvc_name=None, namespace="shop"):
    item = {"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "nightly-" + volume, "namespace": "velero",
                         "labels": {"velero.io/backup-name": "nightly"}},
            "spec": {"node": "node-1", "pod": {"kind": "Pod", "name": pod_name, "namespace": namespace, "uid": "p"},
                     "volume": volume, "uploaderType": "restic"},
            "status": {"phase": "Completed", "snapshotID": snapshot}}
    if pvc_name:
        item["metadata"]["annotations"] = {"velero.io/pvc-name": pvc_name}
    return item


class TestPersistentVolumes:
    def test_retain_is_restored_with_claim_reset(self):
        result, warnings = ra.persistent_volume_action(pv(), CTX)
        assert result["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": "shop",
                                              "name": "data", "apiVersion": "v1"}
        assert result["metadata"]["annotations"] == {"pv.kubernetes.io/provisioned-by": "local"}
        assert warnings == []

    def test_claim_namespace_remapped(self):
        result = ra.persistent_volume_action(pv(), ctx(namespace_mapping={"shop": "shop-copy"}))[0]
        assert result["spec"]["claimRef"]["namespace"] == "shop-copy"

    def test_unclaimed_retain(self):
        result = ra.persistent_volume_action(pv(claim=None), CTX)[0]
        assert "claimRef" not in result["spec"]

    @pytest.mark.parametrize("policy, word", [("Delete", "reclaim policy Delete"), ("Recycle", "Recycle"),
                                              (None, "reclaim policy unset")])
    def test_not_retain_is_reprovisioned(self, policy, word):
        result, messages = ra.persistent_volume_action(pv(policy=policy), CTX)
        assert result is None and word in messages[0]

    def test_fs_backed_is_reprovisioned(self):
        result, messages = ra.persistent_volume_action(pv(), ctx(fs_backed_pvcs=frozenset([("shop", "data")])))
        assert result is None and "file-system backup of claim shop/data" in messages[0]

    def test_pvs_to_reprovision(self):
        pvs = [pv("keep"), pv("gone", policy="Delete"), pv("fs", claim=("shop", "fs"))]
        assert ra.pvs_to_reprovision(pvs, frozenset([("shop", "fs")])) == {"gone", "fs"}

    def test_fs_backed_pvcs_from_pod_volume_backups(self):
        pvbs = [pvb("web-0", "data", "snap1", pvc_name="data"), pvb("web-0", "cache", "snap2"),
                pvb("db-0", "db", "", pvc_name="db-data", namespace="other")]
        assert ra.fs_backed_pvcs(pvbs) == {("shop", "data"), ("other", "db-data")}
        assert ra.fs_backed_pvcs(None) == frozenset()

    def test_pod_volume_snapshots(self):
        pvbs = [pvb("web-0", "data", "snap1", pvc_name="data"),
                pvb("web-0", "gone", "snap2"),
                pvb("web-0", "data", "snap3", namespace="elsewhere"),
                pvb("web-1", "data", "snap4"),
                pvb("web-0", "kube-api-access-not-projected", "")]
        assert pods.pod_volume_snapshots(pvbs, pod()) == {"data": "snap1"}
        assert pods.pod_volume_snapshots([], pod()) == {}

    def test_pvc_annotations_stripped_volume_kept(self):
        result = ra.persistent_volume_claim_action(pvc(), CTX)[0]
        assert result["metadata"]["annotations"] == {"keep.me/please": "yes"}
        assert result["spec"]["volumeName"] == "pv-1"

    def test_pvc_volume_name_cleared_when_pv_reprovisioned(self):
        result = ra.persistent_volume_claim_action(pvc(), ctx(reprovisioned_pvs=frozenset(["pv-1"])))[0]
        assert "volumeName" not in result["spec"]

    def test_pvc_without_volume(self):
        item = pvc()
        del item["spec"]["volumeName"]
        assert "volumeName" not in ra.persistent_volume_claim_action(item, ctx(reprovisioned_pvs=frozenset(["x"])))[0]["spec"]


# ---------------------------------------------------------------- accounts, secrets, RBAC

def account(name="app", secrets=("app-token-x1", "app-docker"), pull=("regcred",), labels=None, annotations=None):
    item = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "shop"},
            "secrets": [{"name": s} for s in secrets], "imagePullSecrets": [{"name": p} for p in pull]}
    if labels is not None:
        item["metadata"]["labels"] = labels
    if annotations is not None:
        item["metadata"]["annotations"] = annotations
    return item


class TestServiceAccounts:
    def test_token_secrets_dropped(self):
        result = ra.service_account_action(account(secrets=("app-token-x1", "app-docker", "app-token-y2")), CTX)[0]
        assert result["secrets"] == [{"name": "app-docker"}]

    def test_nothing_to_drop_returns_item(self):
        item = account(secrets=("other-token-1",))
        assert ra.service_account_action(item, CTX)[0] is item

    def test_merge_adds_what_backup_has(self):
        backup = account(secrets=("app-docker", "extra"), pull=("regcred", "mirror"),
                         labels={"team": "a", "env": "backup", "velero.io/restore-name": "r"},
                         annotations={"note": "b"})
        live = account(secrets=("app-docker",), pull=("regcred",), labels={"env": "live"})
        merged = ra.merge_service_account(backup, live)
        assert merged["secrets"] == [{"name": "app-docker"}, {"name": "extra"}]
        assert merged["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
        assert merged["metadata"]["labels"] == {"env": "live", "team": "a"}
        assert merged["metadata"]["annotations"] == {"note": "b"}
        assert live == account(secrets=("app-docker",), pull=("regcred",), labels={"env": "live"})

    def test_merge_nothing_to_change(self):
        live = account(labels={"env": "live"})
        backup = account(secrets=("app-docker",), labels={"env": "other", "velero.io/backup-name": "b"})
        assert ra.merge_service_account(backup, live) is None

    def test_merge_into_bare_live_account(self):
        live = {"metadata": {"name": "app", "namespace": "shop"}}
        merged = ra.merge_service_account(account(), live)
        assert merged["secrets"] == [{"name": "app-token-x1"}, {"name": "app-docker"}]


def secret(name, kind=ra.SERVICE_ACCOUNT_TOKEN_TYPE, account_name="app"):
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": "shop",
                         "annotations": {ra.SA_NAME_ANNOTATION: account_name, ra.SA_UID_ANNOTATION: "sa-uid"}},
            "data": {"token": "dG9r", "ca.crt": "Y2E=", "namespace": "c2hvcA=="}}


class TestSecrets:
    def test_auto_created_token_skipped(self):
        result, messages = ra.secret_action(secret("app-token-x1"), CTX)
        assert result is None and "service account app" in messages[0]

    def test_manual_token_secret_stripped(self):
        result = ra.secret_action(secret("app-long-lived"), CTX)[0]
        assert result["metadata"]["annotations"] == {ra.SA_NAME_ANNOTATION: "app"}
        assert result["data"] == {"namespace": "c2hvcA=="}

    def test_other_secrets_untouched(self):
        item = secret("app-token-x1", kind="Opaque")
        assert ra.secret_action(item, CTX) == (item, [])


class TestRoleBindings:
    def binding(self):
        return {"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "shop"},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"},
                             {"kind": "ServiceAccount", "name": "x", "namespace": "other"},
                             {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}

    def test_subjects_remapped(self):
        result = ra.role_binding_action(self.binding(), ctx(namespace_mapping={"shop": "shop-copy"}))[0]
        assert [s.get("namespace") for s in result["subjects"]] == ["shop-copy", "other", None]

    def test_no_mapping(self):
        item = self.binding()
        assert ra.role_binding_action(item, CTX)[0] is item

    def test_registered_for_both_kinds(self):
        assert ra.ITEM_ACTIONS["rolebindings.rbac.authorization.k8s.io"] is ra.role_binding_action
        assert ra.ITEM_ACTIONS["clusterrolebindings.rbac.authorization.k8s.io"] is ra.role_binding_action


# ---------------------------------------------------------------- composition

class TestPrepareForRestore:
    def test_pod_end_to_end(self):
        prepared = ra.prepare_for_restore(pod(), "pods", ctx(namespace_mapping={"shop": "shop-copy"}))
        item = prepared.item
        assert prepared.skip_reason is None and prepared.warnings == [] and prepared.applied_modifiers == []
        assert item["metadata"]["namespace"] == "shop-copy"
        assert item["metadata"]["labels"] == {"velero.io/backup-name": "nightly",
                                              "velero.io/restore-name": "nightly-restore"}
        assert "uid" not in item["metadata"] and "status" not in item and "nodeName" not in item["spec"]

    def test_tuple_shape(self):
        item, reason, warnings, applied = ra.prepare_for_restore(pod(), "pods", CTX)
        assert item and reason is None

    def test_skip_rule(self):
        completed = pod()
        completed["status"]["phase"] = "Succeeded"
        assert ra.prepare_for_restore(completed, "pods", CTX) == (None, "pod has completed (phase Succeeded)", [], [])

    def test_action_skip_becomes_reason(self):
        prepared = ra.prepare_for_restore(pv(policy="Delete"), "persistentvolumes", CTX)
        assert prepared.item is None and "reclaim policy Delete" in prepared.skip_reason

    def test_never_restored(self):
        assert ra.prepare_for_restore({"metadata": {"name": "n1"}}, "nodes", CTX).skip_reason == "nodes are never restored"

    def test_warnings_pass_through(self):
        prepared = ra.prepare_for_restore(pod(ephemeralContainers=[{"name": "d"}]), "pods", CTX)
        assert len(prepared.warnings) == 1 and prepared.item is not None

    def test_status_restored_when_asked(self):
        assert "status" in ra.prepare_for_restore(pod(), "pods", ctx(restore_status=frozenset(["pods"]))).item
        assert "status" in ra.prepare_for_restore(pod(), "pods", ctx(restore_status=frozenset(["*"]))).item
        assert "status" not in ra.prepare_for_restore(pod(), "pods", ctx(restore_status=frozenset(["x"]))).item

    def test_status_annotation_decides_for_its_object(self):
        def annotated(value):
            item = pod()
            item["metadata"]["annotations"] = {"velero.io/restore-status": value}
            return item

        none, pods = ctx(), ctx(restore_status=frozenset(["pods"]))
        assert "status" in ra.prepare_for_restore(annotated("true"), "pods", none).item
        assert "status" not in ra.prepare_for_restore(annotated("false"), "pods", pods).item
        # Only exactly "true" or "false" decides (as in Velero); anything else defers to the option.
        assert "status" not in ra.prepare_for_restore(annotated("True"), "pods", none).item
        assert "status" in ra.prepare_for_restore(annotated("yes"), "pods", pods).item

    def test_namespace_item_renamed(self):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop"), "spec": {"finalizers": ["kubernetes"]}}
        item = ra.prepare_for_restore(namespace, "namespaces", ctx(namespace_mapping={"shop": "shop-copy"})).item
        assert item["metadata"]["name"] == "shop-copy" and "namespace" not in item["metadata"]

    def test_namespace_keeps_its_backed_up_labels_only(self):
        # Velero's getNamespace: the backed-up labels, no velero.io/backup-name or restore-name.
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop", labels={"team": "a"})}
        item = ra.prepare_for_restore(namespace, "namespaces", CTX).item
        assert item["metadata"]["labels"] == {"team": "a"} and "uid" not in item["metadata"]
        bare = ra.prepare_for_restore({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
                                      "namespaces", CTX).item
        assert "labels" not in bare["metadata"]

    def test_cluster_scoped_item_not_remapped(self):
        role = {"kind": "ClusterRole", "metadata": {"name": "shop"}}
        item = ra.prepare_for_restore(role, "clusterroles.rbac.authorization.k8s.io",
                                      ctx(namespace_mapping={"shop": "x"})).item
        assert item["metadata"]["name"] == "shop"

    def test_modifiers_match_original_namespace_and_apply(self):
        rules = validate_modifiers([{
            "conditions": {"group_resource": "persistentvolumeclaims", "namespaces": ["shop"]},
            "patches": [{"operation": "add", "path": "/spec/storageClassName", "value": "premium"}]}])
        prepared = ra.prepare_for_restore(pvc(), "persistentvolumeclaims",
                                          ctx(namespace_mapping={"shop": "shop-copy"}, resource_modifiers=rules))
        assert prepared.applied_modifiers == [0]
        assert prepared.item["spec"]["storageClassName"] == "premium"
        assert prepared.item["metadata"]["namespace"] == "shop-copy"

    def test_modifier_error_propagates(self):
        rules = validate_modifiers([{"conditions": {"group_resource": "pods"},
                                     "patches": [{"operation": "remove", "path": "/spec/nothere"}]}])
        with pytest.raises(ModifierError, match=r"resource_modifiers\[0\] on pods shop/web-0"):
            ra.prepare_for_restore(pod(), "pods", ctx(resource_modifiers=rules))

    def test_item_without_action(self):
        config_map = {"kind": "ConfigMap", "metadata": meta("cfg", "shop"), "data": {"a": "1"}}
        item = ra.prepare_for_restore(config_map, "configmaps", CTX).item
        assert item["data"] == {"a": "1"} and set(item["metadata"]) == {"name", "namespace", "labels"}

    def test_input_never_modified(self):
        for factory, group_resource in ((pod, "pods"), (service, "services"), (job, "jobs.batch"),
                                        (pvc, "persistentvolumeclaims"), (pv, "persistentvolumes"),
                                        (account, "serviceaccounts")):
            item = factory()
            before = copy.deepcopy(item)
            ra.prepare_for_restore(item, group_resource, ctx(namespace_mapping={"shop": "x"}))
            assert item == before, group_resource

    def test_run_item_action_without_action(self):
        item = {"metadata": {"name": "x"}}
        assert ra.run_item_action(item, "widgets.example.com", CTX) == (item, [])


# ---------------------------------------------------------------- live objects

class TestDiffAgainstLive:
    def live_service(self):
        live = service()
        live["metadata"].update(uid="live-uid", resourceVersion="99", creationTimestamp="t",
                                managedFields=[{"manager": "m"}], labels={"app": "web"})
        live["status"] = {"loadBalancer": {}}
        return live

    def test_restored_service_equals_live_one(self):
        desired = ra.prepare_for_restore(self.live_service(), "services", CTX).item
        difference = ra.diff_against_live(desired, self.live_service())
        assert difference.differs is False
        assert difference.before == difference.after
        assert "uid" not in difference.before["metadata"] and "status" not in difference.before
        assert difference.before["metadata"]["labels"] == {"app": "web"}

    def test_real_change_is_seen(self):
        desired = ra.prepare_for_restore(self.live_service(), "services", CTX).item
        desired["spec"]["ports"][0]["port"] = 8080
        difference = ra.diff_against_live(desired, self.live_service())
        assert difference.differs is True
        assert difference.before["spec"]["ports"][0]["port"] == 80
        assert difference.after["spec"]["ports"][0]["port"] == 8080
        assert difference.after["spec"]["clusterIP"] == "10.96.0.10"

    def test_added_label_and_list_length(self):
        live = {"metadata": {"name": "c", "labels": {"velero.io/restore-name": "old"}}, "data": {"a": "1"},
                "items": [1, 2]}
        desired = {"metadata": {"name": "c", "labels": {"x": "y", "velero.io/restore-name": "new"}},
                   "items": [1]}
        difference = ra.diff_against_live(desired, live)
        assert difference.differs is True
        assert difference.before == {"metadata": {"name": "c"}, "data": {"a": "1"}, "items": [1, 2]}
        assert difference.after == {"metadata": {"name": "c", "labels": {"x": "y"}}, "data": {"a": "1"}, "items": [1]}

    def test_only_restore_labels_differ(self):
        live = {"metadata": {"name": "c", "labels": {"a": "b"}}}
        desired = {"metadata": {"name": "c", "labels": {"a": "b", "velero.io/backup-name": "x"}}}
        assert ra.diff_against_live(desired, live).differs is False

    def test_running_pod_with_new_token_volume(self):
        live = pod()
        live["spec"]["volumes"][1]["name"] = "kube-api-access-zzzzz"
        for container in live["spec"]["containers"] + live["spec"]["initContainers"]:
            for mount in container["volumeMounts"]:
                if mount["name"] == "kube-api-access-x7k2p":
                    mount["name"] = "kube-api-access-zzzzz"
        desired = ra.prepare_for_restore(pod(), "pods", CTX).item
        assert ra.diff_against_live(desired, live, "pods").differs is False
        assert ra.diff_against_live(desired, live).differs is True
        desired["spec"]["containers"][0]["image"] = "busybox:2"
        assert ra.diff_against_live(desired, live, "pods").differs is True

    def test_bool_versus_number(self):
        assert ra.diff_against_live({"spec": {"x": True}}, {"spec": {"x": 1}}).differs is True

    def test_inputs_untouched(self):
        live, desired = self.live_service(), ra.prepare_for_restore(self.live_service(), "services", CTX).item
        before = copy.deepcopy((live, desired))
        ra.diff_against_live(desired, live)
        assert (live, desired) == before
