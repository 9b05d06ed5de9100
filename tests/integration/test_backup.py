"""k8s_backup against the real test bed: archive contents item by item, Velero's layout,
filters, cluster scope, item actions, providers, check mode, idempotence, deletion, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import testbed
from testbed import wait_for
from test_backup_support import (
    archive_paths, assert_ok, cluster_paths_of, configmap, delete_prefix, get_object, gz_json, items_by_path, list_keys, paths_of, raw_item,
    read_tarball, run_backup, run_info, s3_archive, s3_location, unique,
)

ROOT_CA = "kube-root-ca.crt"  # created in every namespace by the controller manager


@pytest.fixture
def location(storage_location, s3, request):
    location = s3_location(storage_location, request.node.name[:30].replace("[", "-").replace("]", ""))
    yield location
    delete_prefix(s3, location)


def namespace_paths(namespace):
    return cluster_paths_of("namespaces", [namespace])


def wait_for_defaults(core_v1, namespace):
    """The default ServiceAccount and kube-root-ca.crt appear shortly after a namespace."""
    wait_for(lambda: core_v1.list_namespaced_service_account(namespace).items, what="default service account")
    wait_for(lambda: [c for c in core_v1.list_namespaced_config_map(namespace).items if c.metadata.name == ROOT_CA],
             what=ROOT_CA)


# ------------------------------------------------------------------ layout

def test_namespace_backup_has_velero_layout_item_by_item(bed, s3, api_client, core_v1, namespace, location):
    wait_for_defaults(core_v1, namespace)
    configmap(core_v1, namespace, "settings", {"app": "shop"})
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"k": "v"}})
    core_v1.create_namespaced_event(namespace, {
        "metadata": {"name": "noise"}, "involvedObject": {"kind": "ConfigMap", "namespace": namespace, "name": "settings"},
        "reason": "Test", "message": "events are never backed up"})

    result = assert_ok(run_backup(bed, location, "layout", included_namespaces=[namespace], labels={"team": "a"}))
    assert result["changed"] is True and result["phase"] == "Completed"

    keys = list_keys(s3, location)
    assert keys == sorted([
        "backups/layout/layout.tar.gz", "backups/layout/velero-backup.json", "backups/layout/layout-logs.gz",
        "backups/layout/layout-resource-list.json.gz", "backups/layout/layout-results.gz",
        "backups/layout/layout-podvolumebackups.json.gz", "backups/layout/layout-volumesnapshots.json.gz",
        "backups/layout/layout-progress.json", "backups/layout/layout-volumeinfo.json.gz",
        # kubedr's integrity manifest and its item digests (Velero ignores both)
        "backups/layout/layout-manifest.json", "backups/layout/layout-itemdigests.json.gz",
    ])
    entries = s3_archive(s3, location, "layout")
    assert entries[0] == ("metadata/version", b"1.1.0\n")
    expected = (paths_of(namespace, "configmaps", ["settings", ROOT_CA]) | paths_of(namespace, "secrets", ["creds"])
                | paths_of(namespace, "serviceaccounts", ["default"]) | namespace_paths(namespace))
    assert set(entry[0] for entry in entries[1:]) == expected
    assert len(entries) == len(expected) + 1  # each item exactly once per path

    items = items_by_path(entries)
    stored = items["resources/configmaps/namespaces/%s/settings.json" % namespace]
    live = raw_item(api_client, "/api/v1/namespaces/%s/configmaps/settings" % namespace)
    live.update(apiVersion="v1", kind="ConfigMap")
    assert stored == live  # uid, resourceVersion, managedFields as the API returned them
    assert stored == items["resources/configmaps/v1-preferredversion/namespaces/%s/settings.json" % namespace]
    assert items["resources/namespaces/cluster/%s.json" % namespace]["kind"] == "Namespace"

    metadata = json.loads(get_object(s3, location, "backups/layout/velero-backup.json"))
    assert metadata["apiVersion"] == "velero.io/v1" and metadata["kind"] == "Backup"
    assert metadata["metadata"]["name"] == "layout"
    assert metadata["metadata"]["labels"] == {"team": "a", "velero.io/storage-location": "default"}
    assert metadata["spec"]["includedNamespaces"] == [namespace] and metadata["spec"]["ttl"] == "720h0m0s"
    status = metadata["status"]
    assert status["phase"] == "Completed" and status["formatVersion"] == "1.1.0" and status["version"] == 1
    assert status["progress"] == {"totalItems": 5, "itemsBackedUp": 5}
    for field in ("startTimestamp", "completionTimestamp", "expiration"):
        assert status[field].endswith("Z")

    resource_list = gz_json(get_object(s3, location, "backups/layout/layout-resource-list.json.gz"))
    assert resource_list == {
        "v1/ConfigMap": sorted(["%s/%s" % (namespace, ROOT_CA), "%s/settings" % namespace]),
        "v1/Namespace": [namespace],
        "v1/Secret": ["%s/creds" % namespace],
        "v1/ServiceAccount": ["%s/default" % namespace],
    }
    empty = {"velero": [], "cluster": [], "namespaces": {}}
    assert gz_json(get_object(s3, location, "backups/layout/layout-results.gz")) == {"warnings": empty, "errors": empty}
    assert gz_json(get_object(s3, location, "backups/layout/layout-volumesnapshots.json.gz")) is None
    assert gz_json(get_object(s3, location, "backups/layout/layout-volumeinfo.json.gz")) == []  # no volumes
    logs = gzip_text(get_object(s3, location, "backups/layout/layout-logs.gz"))
    assert "backup=velero/layout" in logs and "Backup completed" in logs

    assert result["item_counts"] == {
        "total": 5, "per_resource": {"v1/ConfigMap": 2, "v1/Namespace": 1, "v1/Secret": 1, "v1/ServiceAccount": 1},
        "per_namespace": {namespace: 4}}
    assert result["storage"]["tarball"] == "s3://%s/%s/backups/layout/layout.tar.gz" % (location["bucket"], location["prefix"])
    assert result["archive_size"] == s3.head_object(Bucket=location["bucket"], Key="%s/backups/layout/layout.tar.gz" % location["prefix"])["ContentLength"]
    assert result["expiration"] == status["expiration"]
    assert location["secret_key"] not in json.dumps(result)


def gzip_text(data):
    import gzip
    return gzip.decompress(data).decode()


# ------------------------------------------------------------------ filters

def backed_up_names(s3, location, name, group_resource="configmaps"):
    names = set()
    for path in archive_paths(s3, location, name):
        parts = path.split("/")
        if path.startswith("resources/%s/namespaces/" % group_resource):
            names.add(parts[-1][:-len(".json")])
    return names


def test_every_filter_kind(bed, s3, core_v1, namespace, location):
    configmap(core_v1, namespace, "web", {"app": "web", "tier": "front"})
    configmap(core_v1, namespace, "db", {"app": "db", "tier": "back"})
    configmap(core_v1, namespace, "skipped", {"app": "web", "velero.io/exclude-from-backup": "true"})
    configmap(core_v1, namespace, "deleting", {"app": "web"}, finalizers=["example.com/hold"])
    core_v1.delete_namespaced_config_map("deleting", namespace)
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "s", "labels": {"app": "web"}}})
    try:
        runs = {
            "selector": dict(label_selector="app=web"),
            "set-selector": dict(label_selector="tier in (front,back),app!=db"),
            "or-selectors": dict(or_label_selectors=["app=db", "tier=front"]),
            "included": dict(included_resources=["cm"]),
            "excluded": dict(excluded_resources=["configmaps"]),
        }
        for name, options in runs.items():
            assert_ok(run_backup(bed, location, name, included_namespaces=[namespace], **options))
        assert backed_up_names(s3, location, "selector") == {"web"}
        assert backed_up_names(s3, location, "selector", "secrets") == {"s"}
        assert backed_up_names(s3, location, "set-selector") == {"web"}
        assert backed_up_names(s3, location, "or-selectors") == {"web", "db"}
        assert backed_up_names(s3, location, "included") == {"web", "db", ROOT_CA}
        assert backed_up_names(s3, location, "included", "secrets") == set()
        assert not any(p.startswith("resources/namespaces/") for p in archive_paths(s3, location, "included"))
        assert backed_up_names(s3, location, "excluded") == set()
        assert backed_up_names(s3, location, "excluded", "secrets") == {"s"}
    finally:
        core_v1.patch_namespaced_config_map("deleting", namespace, {"metadata": {"finalizers": None}})


def test_namespace_globs(bed, s3, core_v1, location):
    suffix = unique("g")
    names = ["glob-a-" + suffix, "glob-b-" + suffix, "glob-tmp-" + suffix]
    for ns in names:
        core_v1.create_namespace({"metadata": {"name": ns}})
        configmap(core_v1, ns, "marker")
    try:
        assert_ok(run_backup(bed, location, "globs", included_namespaces=["glob-*-" + suffix],
                             excluded_namespaces=["glob-tmp-*"], included_resources=["configmaps", "namespaces"]))
        paths = set(p for p in archive_paths(s3, location, "globs"))
        for ns in names[:2]:
            assert "resources/configmaps/namespaces/%s/marker.json" % ns in paths
            assert "resources/namespaces/cluster/%s.json" % ns in paths
        assert not any(names[2] in p for p in paths)
    finally:
        for ns in names:
            core_v1.delete_namespace(ns)


# ------------------------------------------------------------------ cluster scope

@pytest.fixture
def cluster_items(core_v1, api_client, namespace):
    """A PV and a StorageClass unrelated to anything, plus a ConfigMap in the namespace."""
    from kubernetes import client
    suffix = namespace[-5:]
    pv = "lonely-" + suffix
    sc = "sc-" + suffix
    core_v1.create_persistent_volume({"metadata": {"name": pv}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/" + pv}}})
    client.StorageV1Api(api_client).create_storage_class({"metadata": {"name": sc}, "provisioner": "example.com/none"})
    configmap(core_v1, namespace, "app")
    yield pv, sc
    core_v1.delete_persistent_volume(pv)
    client.StorageV1Api(api_client).delete_storage_class(sc)


def cluster_names(s3, location, name, group_resource):
    return set(p.split("/")[-1][:-5] for p in archive_paths(s3, location, name)
               if p.startswith("resources/%s/cluster/" % group_resource))


def test_old_style_cluster_scope(bed, s3, namespace, location, cluster_items):
    pv, sc = cluster_items
    for name, value in (("auto", None), ("all", True), ("none", False)):
        options = dict(included_namespaces=[namespace])
        if value is not None:
            options["include_cluster_resources"] = value
        assert_ok(run_backup(bed, location, name, **options))
    assert pv not in cluster_names(s3, location, "auto", "persistentvolumes")
    assert cluster_names(s3, location, "auto", "namespaces") == {namespace}
    assert pv in cluster_names(s3, location, "all", "persistentvolumes")
    assert sc in cluster_names(s3, location, "all", "storageclasses.storage.k8s.io")
    assert not any("/cluster/" in p for p in archive_paths(s3, location, "none"))
    assert "app" in backed_up_names(s3, location, "none")


def test_new_style_cluster_scope(bed, s3, namespace, location, cluster_items):
    pv, sc = cluster_items
    assert_ok(run_backup(bed, location, "scoped", included_namespaces=[namespace],
                         included_cluster_scoped_resources=["storageclasses"],
                         excluded_namespace_scoped_resources=["serviceaccounts"]))
    assert sc in cluster_names(s3, location, "scoped", "storageclasses.storage.k8s.io")
    assert pv not in cluster_names(s3, location, "scoped", "persistentvolumes")
    assert cluster_names(s3, location, "scoped", "namespaces") == {namespace}
    paths = set(p for p in archive_paths(s3, location, "scoped"))
    assert not any(p.startswith("resources/serviceaccounts/") for p in paths)
    assert "resources/configmaps/namespaces/%s/app.json" % namespace in paths


# ------------------------------------------------------------------ item actions

WIDGET_CRD = "widgets.kubedr.example.com"


@pytest.fixture
def widget_crd(api_client):
    from kubernetes import client
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition({
        "metadata": {"name": WIDGET_CRD},
        "spec": {"group": "kubedr.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    custom = client.CustomObjectsApi(api_client)

    def established():
        try:
            custom.list_cluster_custom_object("kubedr.example.com", "v1", "widgets")
            return True
        except client.ApiException:
            return False
    wait_for(established, what="the Widget CRD to be served")
    yield custom
    extensions.delete_custom_resource_definition(WIDGET_CRD)


def test_item_actions_pull_related_items(bed, s3, api_client, core_v1, namespace, location, widget_crd):
    from kubernetes import client
    suffix = namespace[-5:]
    pv, pc, cr, crb = "pv-" + suffix, "prio-" + suffix, "cr-" + suffix, "crb-" + suffix
    rbac = client.RbacAuthorizationV1Api(api_client)
    scheduling = client.SchedulingV1Api(api_client)
    core_v1.create_persistent_volume({"metadata": {"name": pv}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/" + pv},
        "storageClassName": "", "claimRef": {"namespace": namespace, "name": "data"}}})
    core_v1.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "",
        "volumeName": pv}})
    scheduling.create_priority_class({"metadata": {"name": pc}, "value": 1000})

    app = {"metadata": {"name": "app", "labels": {"app": "x"}}, "spec": {
        "priorityClassName": pc, "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}

    def create_pod():
        # The Priority admission plugin reads PriorityClasses from its informer cache, which can lag
        # the create just above by a moment ("no PriorityClass with name ... was found").
        try:
            return core_v1.create_namespaced_pod(namespace, app)
        except client.ApiException as error:
            if error.status == 403 and "no PriorityClass" in (error.body or ""):
                return None
            raise
    wait_for(create_pod, what="pod admitted with its new PriorityClass")
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "robot", "labels": {"app": "x"}}})
    rbac.create_cluster_role({"metadata": {"name": cr}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": crb}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr},
        "subjects": [{"kind": "ServiceAccount", "namespace": namespace, "name": "robot"}]})
    widget_crd.create_namespaced_custom_object("kubedr.example.com", "v1", namespace, "widgets", {
        "apiVersion": "kubedr.example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "labels": {"app": "x"}}})
    try:
        # Only items labelled app=x are selected; the PVC, PV, PriorityClass, CRB, ClusterRole and CRD
        # are not labelled and not in scope (namespace filter) yet must come along.
        assert_ok(run_backup(bed, location, "actions", included_namespaces=[namespace], label_selector="app=x"))
        paths = set(p for p in archive_paths(s3, location, "actions"))
        expected = (paths_of(namespace, "pods", ["app"]) | paths_of(namespace, "persistentvolumeclaims", ["data"])
                    | paths_of(namespace, "serviceaccounts", ["robot"])
                    | paths_of(namespace, "widgets.kubedr.example.com", ["w1"])
                    | cluster_paths_of("persistentvolumes", [pv])
                    | cluster_paths_of("priorityclasses.scheduling.k8s.io", [pc])
                    | cluster_paths_of("clusterrolebindings.rbac.authorization.k8s.io", [crb])
                    | cluster_paths_of("clusterroles.rbac.authorization.k8s.io", [cr])
                    | cluster_paths_of("customresourcedefinitions.apiextensions.k8s.io", [WIDGET_CRD])
                    | namespace_paths(namespace) | {"metadata/version"})
        assert paths == expected

        # CRDs explicitly excluded: the custom resource comes without its CRD.
        # The resource with its group: other CRDs of plural widgets may be installed (docs/backup.md, resource names).
        assert_ok(run_backup(bed, location, "no-crd", included_namespaces=[namespace],
                             included_resources=[WIDGET_CRD], excluded_resources=["crd"]))
        paths = set(p for p in archive_paths(s3, location, "no-crd"))
        assert paths == paths_of(namespace, "widgets.kubedr.example.com", ["w1"]) | {"metadata/version"}

        # A custom resource whose CRD was not selected pulls it in.
        assert_ok(run_backup(bed, location, "crd", included_namespaces=[namespace], included_resources=[WIDGET_CRD]))
        paths = set(p for p in archive_paths(s3, location, "crd"))
        assert paths == (paths_of(namespace, "widgets.kubedr.example.com", ["w1"])
                         | cluster_paths_of("customresourcedefinitions.apiextensions.k8s.io", [WIDGET_CRD])
                         | {"metadata/version"})
    finally:
        core_v1.delete_namespaced_pod("app", namespace, grace_period_seconds=0)
        rbac.delete_cluster_role_binding(crb)
        rbac.delete_cluster_role(cr)
        scheduling.delete_priority_class(pc)
        core_v1.delete_persistent_volume(pv)


def test_ordered_resources_come_first_in_order(bed, s3, core_v1, namespace, location):
    for name in ("a", "b", "c", "d"):
        configmap(core_v1, namespace, name)
    assert_ok(run_backup(bed, location, "ordered", included_namespaces=[namespace], included_resources=["configmaps"],
                         ordered_resources={"configmaps": "%s/d,%s/b" % (namespace, namespace)}))
    order = [p.split("/")[-1][:-5] for p in archive_paths(s3, location, "ordered")
             if p.startswith("resources/configmaps/namespaces/")]
    assert order[:2] == ["d", "b"] and sorted(order[2:]) == sorted(["a", "c", ROOT_CA])


# ------------------------------------------------------------------ providers

def test_s3_and_filesystem_give_identical_archives(bed, s3, core_v1, namespace, location, tmp_path):
    for i in range(3):
        configmap(core_v1, namespace, "cm-%d" % i, data={"i": str(i)})
    wait_for_defaults(core_v1, namespace)
    directory = {"provider": "filesystem", "path": str(tmp_path), "prefix": "velero"}
    assert_ok(run_backup(bed, location, "twin", included_namespaces=[namespace]))
    result = assert_ok(run_backup(bed, directory, "twin", included_namespaces=[namespace]))
    root = os.path.join(str(tmp_path), "velero", "backups", "twin")
    assert sorted(os.listdir(root)) == sorted(k.split("/")[-1] for k in list_keys(s3, location))
    with open(os.path.join(root, "twin.tar.gz"), "rb") as handle:
        on_disk = read_tarball(handle.read())
    in_s3 = s3_archive(s3, location, "twin")
    assert sorted(on_disk) == sorted(in_s3)
    assert on_disk[0] == in_s3[0] == ("metadata/version", b"1.1.0\n")
    assert result["storage"]["tarball"] == os.path.join(root, "twin.tar.gz")


# ------------------------------------------------------------------ check mode, idempotence, absent

def test_check_mode_reports_and_writes_nothing(bed, s3, core_v1, namespace, location):
    wait_for_defaults(core_v1, namespace)
    configmap(core_v1, namespace, "one")
    result = assert_ok(run_backup(bed, location, "preview", check_mode=True, included_namespaces=[namespace]))
    assert result["changed"] is True
    assert result["item_counts"] == {
        "total": 4, "per_resource": {"v1/ConfigMap": 2, "v1/Namespace": 1, "v1/ServiceAccount": 1},
        "per_namespace": {namespace: 3}}
    assert list_keys(s3, location) == []


def test_rerun_is_idempotent_and_absent_removes_everything(bed, s3, core_v1, namespace, location):
    configmap(core_v1, namespace, "one")
    first = assert_ok(run_backup(bed, location, "again", included_namespaces=[namespace]))
    before = dict((k, s3.head_object(Bucket=location["bucket"], Key=location["prefix"] + "/" + k)["ETag"])
                  for k in list_keys(s3, location))
    configmap(core_v1, namespace, "two")  # a changed cluster does not change a committed backup
    second = assert_ok(run_backup(bed, location, "again", included_namespaces=[namespace]))
    assert second["changed"] is False
    for field in ("phase", "start_timestamp", "completion_timestamp", "expiration", "item_counts", "archive_size"):
        assert second[field] == first[field], field
    after = dict((k, s3.head_object(Bucket=location["bucket"], Key=location["prefix"] + "/" + k)["ETag"])
                 for k in list_keys(s3, location))
    assert after == before

    check = assert_ok(run_backup(bed, location, "again", check_mode=True, state="absent"))
    assert check["changed"] is True and len(check["deleted_objects"]) == len(before)  # every object, the manifest too
    assert list_keys(s3, location) == sorted(before)
    gone = assert_ok(run_backup(bed, location, "again", state="absent"))
    assert gone["changed"] is True
    assert list_keys(s3, location) == []
    assert assert_ok(run_backup(bed, location, "again", state="absent"))["changed"] is False


# ------------------------------------------------------------------ a run killed mid-upload

def test_backup_killed_mid_upload_is_invisible(bed, s3, core_v1, namespace, location):
    # ~30 MB of incompressible data, so the tarball goes up in several multipart parts.
    for i in range(32):
        configmap(core_v1, namespace, "big-%02d" % i, data={"blob": os.urandom(700 * 1024).hex()[:900 * 1024]})
    args = {"name": "killed", "storage_location": location, "kubeconfig": bed["KUBECONFIG"],
            "included_namespaces": [namespace], "_ansible_check_mode": False}
    process = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.kubedr.backup.plugins.modules.k8s_backup"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=testbed.module_env())
    process.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    process.stdin.close()
    tarball_key = "%s/backups/killed/killed.tar.gz" % location["prefix"]

    def uploading():
        uploads = s3.list_multipart_uploads(Bucket=location["bucket"], Prefix=tarball_key).get("Uploads") or []
        return bool(uploads) or process.poll() is not None

    deadline = time.time() + 120
    while time.time() < deadline and not uploading():
        time.sleep(0.01)
    assert process.poll() is None, "the backup finished before its upload could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()

    keys = list_keys(s3, location)
    assert "backups/killed/velero-backup.json" not in keys
    progress = json.loads(get_object(s3, location, "backups/killed/killed-progress.json"))
    assert progress["phase"] == "Uploading" and progress["itemsBackedUp"] >= 32
    assert "killed" not in [b["name"] for b in assert_ok(run_info(location))["backups"]]
    for upload in s3.list_multipart_uploads(Bucket=location["bucket"], Prefix=tarball_key).get("Uploads") or []:
        s3.abort_multipart_upload(Bucket=location["bucket"], Key=tarball_key, UploadId=upload["UploadId"])

    # A rerun of the same name completes and is listed.
    assert assert_ok(run_backup(bed, location, "killed", included_namespaces=[namespace]))["phase"] == "Completed"
    assert "killed" in [b["name"] for b in assert_ok(run_info(location))["backups"]]


# ------------------------------------------------------------------ bad input

BAD_INPUT = [
    ("bad-name", dict(name="Not_Valid"), "not a valid object name"),
    ("selector", dict(label_selector="app in (web"), "label selector"),
    ("both-selectors", dict(label_selector="a=b", or_label_selectors=["c=d"]), "mutually exclusive"),
    ("both-styles", dict(included_resources=["pods"], included_cluster_scoped_resources=["pv"]), "cannot mix"),
    ("ttl", dict(ttl="forever"), "ttl"),
]


@pytest.mark.parametrize("case, options, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_options_fail_clearly_and_write_nothing(bed, s3, location, case, options, message):
    options = dict(options)
    name = options.pop("name", "bad-" + case)
    result = run_backup(bed, location, name, **options)
    assert result.failed and message in result["msg"], result.get("msg")
    assert list_keys(s3, location) == []


def test_wrong_s3_credentials(bed, s3, location):
    wrong = dict(location, secret_key="definitely-wrong-secret")
    result = run_backup(bed, wrong, "creds")
    assert result.failed and "S3 refused" in result["msg"] and "secret_key" in result["msg"]
    assert "definitely-wrong-secret" not in json.dumps(result) + result.stderr
    assert list_keys(s3, location) == []


def test_missing_bucket(bed, location):
    result = run_backup(bed, dict(location, bucket="no-such-bucket-" + unique("b")), "nobucket")
    assert result.failed and "does not exist" in result["msg"]


def test_unreachable_api_server(bed, s3, location):
    args = dict(name="unreachable", storage_location=location, host="https://127.0.0.1:1", api_key="token-xyz",
                validate_certs=False)
    result = testbed.run_module("k8s_backup", args, env={"KUBECONFIG": "/nonexistent"})
    assert result.failed and "cannot reach the Kubernetes API server at https://127.0.0.1:1" in result["msg"]
    assert "token-xyz" not in json.dumps(result)
    assert list_keys(s3, location) == []


# ------------------------------------------------------------------ a caller with little RBAC

def test_forbidden_resources_are_recorded_and_the_run_continues(bed, s3, api_client, core_v1, namespace, location):
    from kubernetes import client
    rbac = client.RbacAuthorizationV1Api(api_client)
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "cm-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "cm-reader"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "namespace": namespace, "name": "reader"}]})
    configmap(core_v1, namespace, "visible")
    result = assert_ok(run_backup(bed, location, "rbac", included_namespaces=[namespace],
                                  impersonate_user="system:serviceaccount:%s:reader" % namespace))
    assert result["phase"] == "PartiallyFailed"
    errors = result["backup_errors"]["namespaces"][namespace]
    assert "cannot list secrets in namespace %s: HTTP 403" % namespace in "\n".join(errors)
    assert all("HTTP 403" in e for e in errors)
    assert any("cannot list namespaces (forbidden)" in w for w in result["backup_warnings"]["velero"])
    assert "visible" in backed_up_names(s3, location, "rbac")
    metadata = json.loads(get_object(s3, location, "backups/rbac/velero-backup.json"))
    assert metadata["status"]["phase"] == "PartiallyFailed" and metadata["status"]["errors"] == len(errors)
