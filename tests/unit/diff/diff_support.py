"""Backups on a filesystem location, written with the collection's own tarball writer (no tests here)."""
import io
import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import ArchiveWriter
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS, True, ("cm",), "configmap")
SECRETS = ApiResource("", "v1", "secrets", "Secret", True, VERBS, True, (), "secret")
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS, True, ("ns",), "namespace")
DEPLOYMENTS = ApiResource("apps", "v1", "deployments", "Deployment", True, VERBS, True, ("deploy",), "deployment")
RESOURCES = {"ConfigMap": CONFIGMAPS, "Secret": SECRETS, "Namespace": NAMESPACES, "Deployment": DEPLOYMENTS}


def item(kind, name, namespace=None, **fields):
    resource = RESOURCES[kind]
    metadata = {"name": name, "uid": "uid-%s-%s" % (name, len(fields)), "resourceVersion": "1",
                "creationTimestamp": "2024-01-01T00:00:00Z"}
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(fields.pop("metadata", {}))
    body = {"apiVersion": resource.group_version, "kind": kind, "metadata": metadata}
    body.update(fields)
    return body


def write_backup(location, name, items, phase="Completed", labels=None, started="2024-01-01T02:00:00Z",
                 passphrase=None):
    """Commit a backup holding ``items`` (dicts) at a filesystem location (encrypted with
    ``passphrase`` when given)."""
    store = open_store(location)
    store.check()
    annotations = {}
    writer_store = store
    if passphrase:
        writer_store = crypto.open_backup(store, {"passphrase": passphrase}, None, name, new=True)
        annotations = writer_store.annotations
    out = io.BytesIO()
    with ArchiveWriter(out) as writer:
        for obj in items:
            writer.add_item(RESOURCES[obj["kind"]], obj)
    out.seek(0)
    keys = backup_keys(name)
    writer_store.upload_file(keys["tarball"], out)
    store.put_bytes(keys["metadata"], json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero", "labels": labels or {}, "annotations": annotations},
        "status": {"phase": phase, "startTimestamp": started}}).encode())
    return store
