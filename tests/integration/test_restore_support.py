"""Helpers shared by the k8s_restore integration tests (no tests here): running the module,
reading objects raw, and building backups laid out exactly as Velero writes them (DESIGN.md
section 4) straight into a storage location, with Python's tarfile."""
import gzip
import io
import json
import os
import tarfile
import uuid

import pytest

import testbed
from test_backup_support import raw_item, unique  # noqa: F401 pylint: disable=unused-import
from testbed import wait_for  # noqa: F401  (re-exported)

RESTORE_LABELS = ("velero.io/backup-name", "velero.io/restore-name")


def run_restore(bed, location, check_mode=False, diff=False, **options):
    args = dict(options, storage_location=location, kubeconfig=bed["KUBECONFIG"])
    return testbed.run_module("k8s_restore", args, check_mode=check_mode, diff=diff)


def warning_messages(result):
    """The texts of a module result's Ansible warnings (ansible-core 2.19 returns them as structured events)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings") or []]


def assert_restored(result, phase="Completed"):
    assert not result.failed, "module failed: %s\n%s" % (result.get("msg"), result.stderr[-3000:])
    assert result["phase"] == phase, (result["restore_errors"], result["restore_warnings"])
    return result


def get_raw(api_client, path):
    """The object at an API path, or None when it does not exist."""
    from kubernetes.client.rest import ApiException
    try:
        return raw_item(api_client, path)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def wait_gone(api_client, *paths, timeout=120):
    wait_for(lambda: all(get_raw(api_client, p) is None for p in paths), timeout=timeout,
             what="deletion of %s" % ", ".join(paths))


def delete_raw(api_client, path):
    from kubernetes.client.rest import ApiException
    try:
        api_client.call_api(path, "DELETE", auth_settings=["BearerToken"], _preload_content=False)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def doomed_namespaces(api_client):
    """Register namespaces a test creates (through a restore); they are deleted afterwards."""
    names = []

    def register(*namespaces):
        names.extend(namespaces)
        return namespaces[0] if len(namespaces) == 1 else namespaces

    yield register
    for name in names:
        delete_raw(api_client, "/api/v1/namespaces/%s" % name)


def filesystem_location(tmp_path, access_mode="ReadWrite"):
    return {"provider": "filesystem", "path": str(tmp_path / "store"), "access_mode": access_mode}


# ------------------------------------------------------------------ Velero-style fixtures

def api_fields(obj, namespace=None):
    """What the API server adds to an object: the backup holds objects as the API returned them."""
    obj = json.loads(json.dumps(obj))
    metadata = obj.setdefault("metadata", {})
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(uid=str(uuid.uuid4()), resourceVersion="4242", creationTimestamp="2024-05-01T10:00:00Z",
                    managedFields=[{"manager": "kubectl-client-side-apply", "operation": "Update",
                                    "apiVersion": obj.get("apiVersion"), "time": "2024-05-01T10:00:00Z"}])
    return obj


def velero_item_path(group_resource, namespace, name, version_dir=None):
    parts = ["resources", group_resource] + ([version_dir] if version_dir else [])
    parts += ["namespaces", namespace] if namespace else ["cluster"]
    return "/".join(parts + [name + ".json"])


def build_tarball(entries, directory_entries=True):
    """A gzipped tar of (path, bytes) entries; with directory entries for the parents as some
    writers (Velero's test archives) have them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        seen = set()
        for path, data in entries:
            if directory_entries:
                parts = path.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    folder = "/".join(parts[:depth])
                    if folder not in seen:
                        seen.add(folder)
                        info = tarfile.TarInfo(folder)
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def velero_tarball(items, preferred_versions=False, directory_entries=True):
    """items: [(group_resource, object)] -> a tarball as Velero writes it (Velero's own test archives
    have no -preferredversion copies; preferred_versions=True adds them)."""
    entries = [("metadata/version", b"1.1.0\n")]
    for group_resource, obj in items:
        namespace = obj["metadata"].get("namespace")
        data = json.dumps(obj).encode()
        entries.append((velero_item_path(group_resource, namespace, obj["metadata"]["name"]), data))
        if preferred_versions:
            version = obj["apiVersion"].rpartition("/")[2]
            entries.append((velero_item_path(group_resource, namespace, obj["metadata"]["name"],
                                             version + "-preferredversion"), data))
    return build_tarball(entries, directory_entries)


def velero_backup_document(name, phase="Completed", labels=None, namespaces=None, start="2024-05-01T10:00:00Z"):
    """velero-backup.json as Velero 1.13 writes it (field names and shapes of its Backup type)."""
    return {
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {
            "name": name, "namespace": "velero", "uid": str(uuid.uuid4()), "resourceVersion": "123456",
            "generation": 3, "creationTimestamp": start,
            "labels": dict(labels or {}, **{"velero.io/storage-location": "default"}),
            "annotations": {"velero.io/resource-timeout": "10m0s",
                            "velero.io/source-cluster-k8s-gitversion": "v1.29.2",
                            "velero.io/source-cluster-k8s-major-version": "1",
                            "velero.io/source-cluster-k8s-minor-version": "29"},
            "managedFields": [{"manager": "velero-server", "operation": "Update", "apiVersion": "velero.io/v1",
                               "time": start, "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {
            "metadata": {}, "includedNamespaces": namespaces or ["*"], "ttl": "720h0m0s",
            "hooks": {}, "storageLocation": "default", "volumeSnapshotLocations": ["default"],
            "defaultVolumesToFsBackup": False, "csiSnapshotTimeout": "10m0s", "itemOperationTimeout": "4h0m0s",
        },
        "status": {
            "version": 1, "formatVersion": "1.1.0", "expiration": "2024-05-31T10:00:00Z", "phase": phase,
            "startTimestamp": start, "completionTimestamp": start.replace(":00Z", ":07Z"),
            "progress": {"totalItems": 3, "itemsBackedUp": 3},
        },
    }


def put_backup(location, name, tarball, document, s3=None, pod_volume_backups=None):
    """Write a backup's tarball and velero-backup.json into a filesystem location (or MinIO with s3)."""
    objects = {"%s.tar.gz" % name: tarball, "velero-backup.json": json.dumps(document).encode()}
    if pod_volume_backups is not None:
        objects["%s-podvolumebackups.json.gz" % name] = gzip.compress(json.dumps(pod_volume_backups).encode())
    for filename, data in objects.items():
        key = "backups/%s/%s" % (name, filename)
        if s3 is not None:
            full = "/".join(p for p in (location.get("prefix"), key) if p)
            s3.put_object(Bucket=location["bucket"], Key=full, Body=data)
        else:
            path = os.path.join(location["path"], *key.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)


def stored_restore(location, name, what):
    """A restore object from a filesystem location, decoded (logs: text, others: JSON); None if absent."""
    suffix = {"logs": "logs.gz", "results": "results.gz", "resource_list": "resource-list.json.gz"}[what]
    path = os.path.join(location["path"], "restores", name, "restore-%s-%s" % (name, suffix))
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        data = gzip.decompress(handle.read()).decode()
    return data if what == "logs" else json.loads(data)


# ------------------------------------------------------------------ objects for fixtures

def configmap_obj(namespace, name, labels=None, data=None):
    return api_fields({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "labels": labels or {}}, "data": data or {"key": name}}, namespace)


def namespace_obj(name, labels=None):
    return api_fields({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": name, "labels": dict(labels or {}, **{"kubernetes.io/metadata.name": name})},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})


def crd_obj(group, plural="widgets", kind="Widget"):
    return api_fields({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (plural, group)},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": kind + "List"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    })


def custom_obj(group, namespace, name, kind="Widget", status=None):
    obj = {"apiVersion": group + "/v1", "kind": kind, "metadata": {"name": name}, "spec": {"size": 3}}
    if status is not None:
        obj["status"] = status
    return api_fields(obj, namespace)
