"""k8s_restore options against the real test bed, from backups laid out exactly as Velero writes
them (no -preferredversion copies, directory entries, Velero's velero-backup.json): namespace
mapping, filters, existing-resource policies, check mode and diff, restore_status, resource
modifiers, preserve_node_ports, ReadOnly locations, the volume-data warning."""
import json
import random

import pytest

from test_restore_support import (  # noqa: F401 pylint: disable=unused-import
    api_fields, assert_restored, configmap_obj, crd_obj, custom_obj, doomed_namespaces, filesystem_location,
    get_raw, namespace_obj, put_backup, run_restore, stored_restore, unique, velero_backup_document,
    velero_tarball, wait_for,
)


class Fixture(object):
    """A Velero backup of two namespaces with a bit of everything, unique names per test."""

    def __init__(self, tmp_path, doomed, backup="velero-made"):
        self.a, self.b = unique("fa"), unique("fb")
        self.group = "%s.kubedr.test" % unique("g")
        self.crd = "widgets." + self.group
        self.pv = unique("pv")
        self.node_port = random.randint(30000, 32767)
        self.backup = backup
        self.location = filesystem_location(tmp_path)
        self.doomed = doomed
        doomed(self.a, self.b)
        a, b = self.a, self.b
        self.items = [
            ("namespaces", namespace_obj(a, {"team": "a"})),
            ("namespaces", namespace_obj(b)),
            ("configmaps", configmap_obj(a, "app-config", {"app": "web"}, {"color": "blue"})),
            ("configmaps", configmap_obj(a, "db-config", {"app": "db"})),
            ("configmaps", configmap_obj(b, "other", {"app": "web"})),
            ("secrets", api_fields({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                    "metadata": {"name": "creds"}, "data": {"password": "czNjcjN0"}}, a)),
            ("serviceaccounts", api_fields({"apiVersion": "v1", "kind": "ServiceAccount",
                                            "metadata": {"name": "runner"}, "imagePullSecrets": [{"name": "pull"}]},
                                           a)),
            ("rolebindings.rbac.authorization.k8s.io", api_fields({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": a}]}, a)),
            ("services", api_fields({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"type": "NodePort", "clusterIP": "10.0.0.55", "clusterIPs": ["10.0.0.55"],
                         "selector": {"app": "web"},
                         "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": self.node_port}]},
                "status": {"loadBalancer": {}}}, a)),
            ("persistentvolumes", api_fields({
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": self.pv},
                "spec": {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/tmp/" + self.pv},
                         "storageClassName": "",
                         "claimRef": {"kind": "PersistentVolumeClaim", "namespace": a, "name": "data",
                                      "uid": "0d6f4fd0-0000-0000-0000-000000000000", "resourceVersion": "77"}},
                "status": {"phase": "Bound"}})),
            ("persistentvolumeclaims", api_fields({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
                    "name": "data", "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}},
                         "storageClassName": "", "volumeName": self.pv, "volumeMode": "Filesystem"},
                "status": {"phase": "Bound"}}, a)),
            ("customresourcedefinitions.apiextensions.k8s.io", crd_obj(self.group)),
            (self.crd, custom_obj(self.group, a, "w1", status={"ready": True})),
            ("pods", api_fields({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never",
                         "nodeName": "node-000000"},
                "status": {"phase": "Succeeded"}}, a)),
            ("pods", api_fields({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker"},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                                         "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
                         "volumes": [{"name": "scratch", "emptyDir": {}}], "nodeName": "node-000001"},
                "status": {"phase": "Running"}}, a)),
            ("events", api_fields({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev"},
                                   "involvedObject": {"kind": "Pod", "name": "done", "namespace": a},
                                   "reason": "Test", "message": "never restored"}, a)),
        ]
        pod_volume_backups = [{
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "pvb-1", "namespace": "velero", "labels": {"velero.io/backup-name": backup}},
            "spec": {"node": "node-000001", "pod": {"kind": "Pod", "namespace": a, "name": "worker", "uid": "x"},
                     "volume": "scratch", "backupStorageLocation": "default", "uploaderType": "restic",
                     "repoIdentifier": "s3:http://minio/velero/restic/" + a, "tags": {}},
            "status": {"phase": "Completed", "snapshotID": "abc123", "path": "/host_pods/x/volumes/scratch"},
        }]
        put_backup(self.location, backup, velero_tarball(self.items), velero_backup_document(backup),
                   pod_volume_backups=pod_volume_backups)

    def restore(self, bed, check_mode=False, diff=False, **options):
        return run_restore(bed, self.location, check_mode=check_mode, diff=diff, backup_name=self.backup, **options)

    def resource_list(self, name):
        return stored_restore(self.location, name, "resource_list")

    def created(self, name):
        """{resource-list key: [ns/name]} of the items a restore created."""
        created = {}
        for key, entries in self.resource_list(name).items():
            names = [e[:-len("(created)")] for e in entries if e.endswith("(created)")]
            if names:
                created[key] = names
        return created


@pytest.fixture
def fixture(tmp_path, doomed_namespaces, api_client):
    built = Fixture(tmp_path, doomed_namespaces)
    yield built
    from test_restore_support import delete_raw
    delete_raw(api_client, "/api/v1/persistentvolumes/" + built.pv)
    delete_raw(api_client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + built.crd)


def ns_path(namespace, resource, name=None):
    return "/api/v1/namespaces/%s/%s%s" % (namespace, resource, "/" + name if name else "")


def test_velero_backup_restores_with_namespace_mapping(bed, api_client, fixture):
    a2, b2 = fixture.doomed(unique("ma"), unique("mb"))
    result = assert_restored(fixture.restore(bed, name="mapped", namespace_mapping={fixture.a: a2, fixture.b: b2}))

    # Everything lands in the target namespaces, nothing in the source ones.
    assert get_raw(api_client, "/api/v1/namespaces/" + fixture.a) is None
    namespace = get_raw(api_client, "/api/v1/namespaces/" + a2)
    # As Velero creates a namespace: its backed-up labels, no velero.io/backup-name or restore-name.
    assert namespace["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": a2}
    app = get_raw(api_client, ns_path(a2, "configmaps", "app-config"))
    assert app["data"] == {"color": "blue"}
    assert app["metadata"]["labels"] == {"app": "web", "velero.io/backup-name": "velero-made",
                                         "velero.io/restore-name": "mapped"}
    assert get_raw(api_client, ns_path(b2, "configmaps", "other"))["data"] == {"key": "other"}
    assert get_raw(api_client, ns_path(a2, "secrets", "creds"))["data"] == {"password": "czNjcjN0"}

    binding = get_raw(api_client, "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/rb" % a2)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "runner", "namespace": a2}]

    pv = get_raw(api_client, "/api/v1/persistentvolumes/" + fixture.pv)
    assert pv["spec"]["claimRef"]["namespace"] == a2 and pv["spec"]["claimRef"]["name"] == "data"
    wait_for(lambda: get_raw(api_client, ns_path(a2, "persistentvolumeclaims", "data"))["status"].get("phase")
             == "Bound", what="restored claim bound to the restored volume")

    service = get_raw(api_client, ns_path(a2, "services", "web"))
    # The address is reset and allocated anew; the source namespace is gone, so the allocator may hand back
    # 10.0.0.55 itself (1 in ~250 runs): the reset is checked by the unit tests of the restore's item actions.
    assert service["spec"]["clusterIP"] and service["spec"]["ports"][0]["nodePort"] > 0

    widget = get_raw(api_client, "/apis/%s/v1/namespaces/%s/widgets/w1" % (fixture.group, a2))
    assert widget["spec"] == {"size": 3} and "status" not in widget  # restore_status not asked for

    # Never restored, skipped, and the volume data that cannot be restored yet.
    assert get_raw(api_client, ns_path(a2, "events", "ev")) is None
    assert get_raw(api_client, ns_path(a2, "pods", "done")) is None
    assert get_raw(api_client, ns_path(a2, "pods", "worker"))["spec"].get("initContainers") is None
    assert any("scratch" in w and "not restored" in w for w in result["restore_warnings"]["namespaces"][a2])

    resource_list = fixture.resource_list("mapped")
    assert resource_list["v1/Pod"] == ["%s/done(skipped)" % a2, "%s/worker(created)" % a2]
    assert resource_list["v1/PersistentVolume"] == ["%s(created)" % fixture.pv]
    assert resource_list["%s/v1/Widget" % fixture.group] == ["%s/w1(created)" % a2]
    assert "v1/Event" not in resource_list
    assert result["item_counts"]["per_resource"]["v1/ConfigMap"] == {"created": 3, "updated": 0, "skipped": 0, "failed": 0}
    assert result["item_counts"]["failed"] == 0 and result["changed"] is True

    logs = stored_restore(fixture.location, "mapped", "logs")
    assert "restore=velero/mapped" in logs and "Restore completed" in logs
    assert "czNjcjN0" not in logs and "czNjcjN0" not in json.dumps(result)
    assert stored_restore(fixture.location, "mapped", "results") == {
        "warnings": result["restore_warnings"], "errors": result["restore_errors"]}


FILTERS = {
    "included_namespaces": (lambda f: dict(included_namespaces=[f.a]), lambda f: {
        "v1/ConfigMap": [f.a + "/app-config", f.a + "/db-config"], "v1/PersistentVolume": [f.pv],
        "apiextensions.k8s.io/v1/CustomResourceDefinition": [f.crd]}),
    "excluded_namespaces": (lambda f: dict(excluded_namespaces=[f.a]), lambda f: {
        "v1/ConfigMap": [f.b + "/other"], "v1/PersistentVolume": None,
        "apiextensions.k8s.io/v1/CustomResourceDefinition": None}),
    "included_resources": (lambda f: dict(included_resources=["cm"]), lambda f: {
        "v1/ConfigMap": [f.a + "/app-config", f.a + "/db-config", f.b + "/other"], "v1/Secret": None,
        "v1/Namespace": [f.a, f.b]}),
    "excluded_resources": (lambda f: dict(excluded_resources=["configmaps", "secrets", "widgets.*"]), lambda f: {
        "v1/ConfigMap": None, "v1/Secret": None, "v1/ServiceAccount": [f.a + "/runner"],
        "%s/v1/Widget" % f.group: None}),
    "label_selector": (lambda f: dict(label_selector="app=web"), lambda f: {
        "v1/ConfigMap": [f.a + "/app-config", f.b + "/other"], "v1/Secret": None, "v1/PersistentVolume": None}),
    "or_label_selectors": (lambda f: dict(or_label_selectors=["app=db", "team=a"]), lambda f: {
        "v1/ConfigMap": [f.a + "/db-config"], "v1/Namespace": [f.a], "v1/Service": None}),
    "include_cluster_resources": (lambda f: dict(included_namespaces=[f.b], include_cluster_resources=True),
                                  lambda f: {"v1/ConfigMap": [f.b + "/other"], "v1/PersistentVolume": [f.pv],
                                             "apiextensions.k8s.io/v1/CustomResourceDefinition": [f.crd]}),
    "no_cluster_resources": (lambda f: dict(included_namespaces=[f.a], include_cluster_resources=False,
                                            excluded_resources=["widgets.*"]),
                             lambda f: {"v1/ConfigMap": [f.a + "/app-config", f.a + "/db-config"],
                                        "v1/PersistentVolume": None,
                                        "apiextensions.k8s.io/v1/CustomResourceDefinition": None}),
}


@pytest.mark.parametrize("case", sorted(FILTERS))
def test_filters(bed, fixture, case):
    options, expected = FILTERS[case]
    assert_restored(fixture.restore(bed, name="filtered", **options(fixture)))
    created = fixture.created("filtered")
    for key, names in expected(fixture).items():
        assert created.get(key) == (sorted(names) if names else None), (key, created)


def test_existing_resource_policies_check_mode_and_diff(bed, api_client, fixture):
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    options = dict(included_namespaces=[fixture.a],
                   included_resources=["configmaps", "secrets", "namespaces", "serviceaccounts"])
    assert_restored(fixture.restore(bed, name="first", **options))
    original_uid = get_raw(api_client, ns_path(fixture.a, "configmaps", "app-config"))["metadata"]["uid"]

    def tamper():
        core.patch_namespaced_config_map("app-config", fixture.a, {"data": {"color": "red"}})
        core.patch_namespaced_secret("creds", fixture.a, {"data": {"password": "Y2hhbmdlZA=="}})
        core.delete_namespaced_config_map("db-config", fixture.a)
        core.patch_namespaced_service_account("runner", fixture.a, {"imagePullSecrets": None,
                                                                    "metadata": {"labels": {"extra": "yes"}}})

    def live(name):
        return get_raw(api_client, ns_path(fixture.a, "configmaps", name))

    tamper()
    # none: differences are reported, nothing is touched; missing items are created.
    none = assert_restored(fixture.restore(bed, name="none", **options))
    assert live("app-config")["data"] == {"color": "red"}
    assert live("db-config")["metadata"]["labels"]["velero.io/restore-name"] == "none"
    warnings = none["restore_warnings"]["namespaces"][fixture.a]
    assert any(w.startswith("configmaps %s/app-config: exists in the cluster and differs" % fixture.a)
               for w in warnings)
    assert fixture.resource_list("none")["v1/ConfigMap"] == [
        "%s/app-config(skipped)" % fixture.a, "%s/db-config(created)" % fixture.a]
    assert none["item_counts"]["per_resource"]["v1/Namespace"]["skipped"] == 1

    # Check mode with diff: what update would do, and the cluster stays as it is.
    before = live("app-config")
    preview = fixture.restore(bed, check_mode=True, diff=True, name="preview",
                              existing_resource_policy="update", **options)
    assert not preview.failed, preview.get("msg")
    actions = dict((p["name"], p["action"]) for p in preview["plan"])
    assert actions == {"app-config": "update", "db-config": "skip_identical", "creds": "update",
                       "runner": "update", fixture.a: "skip_identical"}
    diffs = dict((d["before_header"].split(" ")[1], d) for d in preview["diff"])
    app_diff = diffs[fixture.a + "/app-config"]
    assert app_diff["before"]["data"] == {"color": "red"} and app_diff["after"]["data"] == {"color": "blue"}
    secret_diff = diffs[fixture.a + "/creds"]
    assert secret_diff["before"]["data"] == {"password": "<hidden>"}
    assert secret_diff["after"]["data"] == {"password": "<hidden> (changed)"}
    assert "czNjcjN0" not in json.dumps(preview) and "Y2hhbmdlZA==" not in json.dumps(preview)
    assert preview["changed"] is True and preview["phase"] is None and preview["storage"] == {}
    assert live("app-config") == before
    assert stored_restore(fixture.location, "preview", "results") is None

    # update: patched in place to the backed-up state.
    assert_restored(fixture.restore(bed, name="update", existing_resource_policy="update", **options))
    updated = live("app-config")
    assert updated["data"] == {"color": "blue"} and updated["metadata"]["uid"] == original_uid
    assert updated["metadata"]["labels"]["velero.io/restore-name"] == "update"
    assert get_raw(api_client, ns_path(fixture.a, "secrets", "creds"))["data"] == {"password": "czNjcjN0"}
    assert fixture.resource_list("update")["v1/ConfigMap"] == [
        "%s/app-config(updated)" % fixture.a, "%s/db-config(skipped)" % fixture.a]
    # A service account gets what it lacks; what the cluster added stays.
    account = get_raw(api_client, ns_path(fixture.a, "serviceaccounts", "runner"))
    assert account["imagePullSecrets"] == [{"name": "pull"}] and account["metadata"]["labels"]["extra"] == "yes"

    # recreate: deleted and created again when it differs; identical items are left alone.
    core.patch_namespaced_config_map("app-config", fixture.a, {"data": {"color": "green"}})
    db_uid = live("db-config")["metadata"]["uid"]
    recreate = assert_restored(fixture.restore(bed, name="recreate", existing_resource_policy="recreate", **options))
    recreated = live("app-config")
    assert recreated["data"] == {"color": "blue"} and recreated["metadata"]["uid"] != original_uid
    assert live("db-config")["metadata"]["uid"] == db_uid
    assert recreate["item_counts"]["recreated"] == 1
    assert get_raw(api_client, "/api/v1/namespaces/" + fixture.a)["status"]["phase"] == "Active"


def test_restore_status_and_resource_modifiers(bed, api_client, fixture):
    modifiers = [
        {"conditions": {"group_resource": "configmaps", "matches": "metadata.labels.app == 'web'"},
         "patches": [{"operation": "add", "path": "/data/color", "value": "purple"}]},
        {"conditions": {"group_resource": "configmaps", "resource_name_regex": "^other$",
                        "namespaces": [fixture.b]},
         "merge_patches": [{"patch_data": {"metadata": {"annotations": {"modified": "yes"}}}}]},
    ]
    assert_restored(fixture.restore(bed, name="modified", included_namespaces=[fixture.a, fixture.b],
                                    restore_status={"included_resources": ["widgets." + fixture.group]},
                                    resource_modifiers=modifiers))
    widget = get_raw(api_client, "/apis/%s/v1/namespaces/%s/widgets/w1" % (fixture.group, fixture.a))
    assert widget["status"] == {"ready": True}
    assert get_raw(api_client, ns_path(fixture.a, "configmaps", "app-config"))["data"] == {"color": "purple"}
    assert get_raw(api_client, ns_path(fixture.a, "configmaps", "db-config"))["data"] == {"key": "db-config"}
    other = get_raw(api_client, ns_path(fixture.b, "configmaps", "other"))
    assert other["metadata"]["annotations"] == {"modified": "yes"}
    assert other["data"] == {"key": "other", "color": "purple"}


def test_modifier_failing_on_one_item_fails_only_that_item(bed, api_client, fixture):
    modifiers = [{"conditions": {"group_resource": "configmaps", "resource_name_regex": "db-config"},
                  "patches": [{"operation": "replace", "path": "/data/missing/deep", "value": "x"}]}]
    result = fixture.restore(bed, name="broken-modifier", included_namespaces=[fixture.a],
                             included_resources=["configmaps"], resource_modifiers=modifiers)
    assert_restored(result, phase="PartiallyFailed")
    assert result["item_counts"]["per_resource"]["v1/ConfigMap"]["failed"] == 1
    assert any("resource_modifiers[0]" in e and "db-config" in e
               for e in result["restore_errors"]["namespaces"][fixture.a])
    assert get_raw(api_client, ns_path(fixture.a, "configmaps", "app-config")) is not None


def test_preserve_node_ports(bed, api_client, fixture):
    kept, fresh = fixture.doomed(unique("np-kept"), unique("np-new"))
    options = dict(included_namespaces=[fixture.a], included_resources=["services"])
    assert_restored(fixture.restore(bed, name="kept", preserve_node_ports=True, namespace_mapping={fixture.a: kept},
                                    **options))
    assert get_raw(api_client, ns_path(kept, "services", "web"))["spec"]["ports"][0]["nodePort"] == fixture.node_port
    # Without the option the auto-assigned port is dropped: the cluster picks another (the old one is taken).
    assert_restored(fixture.restore(bed, name="fresh", namespace_mapping={fixture.a: fresh}, **options))
    port = get_raw(api_client, ns_path(fresh, "services", "web"))["spec"]["ports"][0]["nodePort"]
    assert port and port != fixture.node_port


def test_read_only_location_restores_and_writes_nothing(bed, api_client, fixture):
    location = dict(fixture.location, access_mode="ReadOnly")
    result = run_restore(bed, location, backup_name=fixture.backup, name="ro", included_namespaces=[fixture.b])
    assert_restored(result)
    assert get_raw(api_client, ns_path(fixture.b, "configmaps", "other")) is not None
    assert result["storage"] == {} and stored_restore(fixture.location, "ro", "logs") is None


def test_check_mode_changes_nothing(bed, api_client, fixture):
    result = fixture.restore(bed, check_mode=True, name="dry")
    assert not result.failed, result.get("msg")
    plan = dict(((p["resource"], p["namespace"], p["name"]), p) for p in result["plan"])
    assert plan[("v1/ConfigMap", fixture.a, "app-config")]["action"] == "create"
    assert plan[("%s/v1/Widget" % fixture.group, fixture.a, "w1")]["action"] == "create"
    assert plan[("v1/Pod", fixture.a, "done")]["action"] == "skip"
    assert "completed" in plan[("v1/Pod", fixture.a, "done")]["reason"]
    assert result["changed"] is True and result["item_counts"]["created"] == len(
        [p for p in result["plan"] if p["action"] == "create"])
    for path in ("/api/v1/namespaces/" + fixture.a, "/api/v1/persistentvolumes/" + fixture.pv,
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + fixture.crd):
        assert get_raw(api_client, path) is None
    assert stored_restore(fixture.location, "dry", "logs") is None


def test_volume_restorer_hook_gets_the_pods_volume_work(bed, api_client, fixture):
    """The hook the file-system restore plugs into: restore-wait init container, then the work."""
    from ansible_collections.kubedr.backup.plugins.module_utils.restore import pods
    from ansible_collections.kubedr.backup.plugins.module_utils.restore import run as restore

    class Recorder(pods.PodVolumeRestorer):
        init_image = "busybox"

        def __init__(self):
            self.calls = []

        def restore_volumes(self, work, restore_uid, progress=None):
            self.calls.append((work, restore_uid))
            return [(entry, None) for entry in work]

    recorder = Recorder()
    target = fixture.doomed(unique("vol"))
    result = restore.run({"kubeconfig": bed["KUBECONFIG"]}, fixture.location, dict(
        backup_name=fixture.backup, name="volumes", included_namespaces=[fixture.a], included_resources=["pods"],
        namespace_mapping={fixture.a: target}), volume_restorer=recorder)
    assert result["phase"] == "Completed", result["restore_errors"]
    [(work, restore_uid)] = recorder.calls
    assert [tuple(entry) for entry in work] == [
        (target, "worker", "scratch", "abc123", "s3:http://minio/velero/restic/" + fixture.a, fixture.a, "restic")]
    init = get_raw(api_client, ns_path(target, "pods", "worker"))["spec"]["initContainers"][0]
    assert init["name"] == "restore-wait" and init["image"] == "busybox" and restore_uid in init["command"]
    assert init["volumeMounts"][0] == {"name": "scratch", "mountPath": "/restores/scratch"}


def restored_order(fixture, name):
    """Group-resources in the order the restore's log shows their items created."""
    order = []
    for line in stored_restore(fixture.location, name, "logs").splitlines():
        if "msg=\"Restore of item create\"" in line:
            resource = [f for f in line.split() if f.startswith("resource=")][0][len("resource="):]
            if not order or order[-1] != resource:
                order.append(resource)
    return order


def test_priorities_change_the_order(bed, fixture):
    first, second = fixture.doomed(unique("prio"), unique("prio"))
    options = dict(included_namespaces=[fixture.a], included_resources=["configmaps", "secrets", "serviceaccounts"])
    assert_restored(fixture.restore(bed, name="default-order", namespace_mapping={fixture.a: first}, **options))
    assert restored_order(fixture, "default-order") == ["namespaces", "serviceaccounts", "secrets", "configmaps"]
    assert_restored(fixture.restore(bed, name="custom-order", namespace_mapping={fixture.a: second},
                                    priorities="configmaps,-,secrets", **options))
    # The namespace still comes before its first item; unnamed resources in the middle.
    assert restored_order(fixture, "custom-order") == ["namespaces", "configmaps", "serviceaccounts", "secrets"]


def test_restore_waits_for_a_terminating_namespace(bed, api_client, fixture):
    options = dict(included_namespaces=[fixture.b], include_cluster_resources=False)
    assert_restored(fixture.restore(bed, name="before", **options))
    uid = get_raw(api_client, "/api/v1/namespaces/" + fixture.b)["metadata"]["uid"]
    from test_restore_support import delete_raw
    delete_raw(api_client, "/api/v1/namespaces/" + fixture.b)
    assert get_raw(api_client, "/api/v1/namespaces/" + fixture.b)["metadata"].get("deletionTimestamp")

    result = assert_restored(fixture.restore(bed, name="after", **options))

    namespace = get_raw(api_client, "/api/v1/namespaces/" + fixture.b)
    assert namespace["metadata"]["uid"] != uid and namespace["status"]["phase"] == "Active"
    assert get_raw(api_client, ns_path(fixture.b, "configmaps", "other"))["metadata"]["labels"][
        "velero.io/restore-name"] == "after"
    assert result["item_counts"]["per_resource"]["v1/Namespace"]["created"] == 1


def test_released_volume_left_in_place_is_reported(bed, api_client, fixture):
    options = dict(included_namespaces=[fixture.a],
                   included_resources=["persistentvolumeclaims", "persistentvolumes", "namespaces"])
    assert_restored(fixture.restore(bed, name="bind", **options))
    wait_for(lambda: (get_raw(api_client, "/api/v1/persistentvolumes/" + fixture.pv).get("status") or {})
             .get("phase") == "Bound", what="volume bound")
    from test_restore_support import delete_raw, wait_gone
    delete_raw(api_client, "/api/v1/namespaces/" + fixture.a)
    wait_gone(api_client, "/api/v1/namespaces/" + fixture.a)
    wait_for(lambda: get_raw(api_client, "/api/v1/persistentvolumes/" + fixture.pv)["status"]["phase"] == "Released",
             what="volume released")

    result = assert_restored(fixture.restore(bed, name="rebind", **options))

    assert fixture.resource_list("rebind")["v1/PersistentVolume"] == ["%s(skipped)" % fixture.pv]
    assert any(fixture.pv in w and "Released" in w for w in result["restore_warnings"]["cluster"])


def test_restore_pvs_false_leaves_volumes_out(bed, fixture):
    result = fixture.restore(bed, check_mode=True, name="no-pvs", restore_pvs=False, included_namespaces=[fixture.a])
    assert not result.failed, result.get("msg")
    plan = dict(((p["resource"], p["name"]), p) for p in result["plan"])
    assert plan[("v1/PersistentVolume", fixture.pv)]["action"] == "skip"
    assert plan[("v1/PersistentVolume", fixture.pv)]["reason"] == "restore_pvs is false"
    assert plan[("v1/PersistentVolumeClaim", "data")]["action"] == "create"
    # No volume data either: no warning about the pod's file-system-backed volume.
    assert not any("scratch" in w for w in result["restore_warnings"]["namespaces"].get(fixture.a, []))
