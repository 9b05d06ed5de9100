"""The backup pipeline against a fake cluster and a real filesystem store: commit ordering,
failures leave no commit marker, check mode writes nothing, actions resolved by LISTs."""
import io
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive.velero import velero_hooks
from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
from ansible_collections.kubedr.backup.plugins.module_utils.backup.delete import snapshots_by_repository
from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import iter_archive
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import backup_keys
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

VERBS = ("create", "delete", "get", "list")
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS)
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS)
PODS = ApiResource("", "v1", "pods", "Pod", True, VERBS)
PVCS = ApiResource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, VERBS)
PVS = ApiResource("", "v1", "persistentvolumes", "PersistentVolume", False, VERBS)


def obj(name, namespace=None, **fields):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return dict(fields, metadata=meta)


class FakeKube(object):
    """Serves LISTs from a dict {group_resource: [items]}; ``fail`` maps a group_resource to an error."""

    host = "https://fake:6443"
    exec_client = None  # hooks are recorded by a stand-in; nothing is exec'd

    def __init__(self, items, fail=None):
        self.items = items
        self.fail = fail or {}
        self.lists = []

    def discover(self):
        return Discovery([NAMESPACES, CONFIGMAPS, PODS, PVCS, PVS])

    def server_version(self):
        return {"gitVersion": "v1.36.1", "major": "1", "minor": "36"}

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        self.lists.append((api_resource.group_resource, namespace))
        if api_resource.group_resource in self.fail:
            raise self.fail[api_resource.group_resource]
        items = [dict(i, apiVersion=api_resource.group_version, kind=api_resource.kind)
                 for i in self.items.get(api_resource.group_resource, [])
                 if namespace is None or i["metadata"].get("namespace") == namespace]
        yield items

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None):
        """The pages as a server sends them: built-in types' items without apiVersion and kind."""
        for items in self.list_pages(api_resource, namespace, label_selector):
            untyped = [dict((k, v) for k, v in item.items() if k not in ("apiVersion", "kind")) for item in items]
            yield json.dumps({"kind": api_resource.kind + "List", "apiVersion": api_resource.group_version,
                              "metadata": {"resourceVersion": "1"}, "items": untyped}).encode()

    def list_items(self, api_resource, namespace=None, label_selector=None):
        for page in self.list_pages(api_resource, namespace, label_selector):
            yield from page


ITEMS = {
    "namespaces": [obj("shop"), obj("other")],
    "configmaps": [obj("a", "shop"), obj("b", "other")],
    "pods": [obj("p", "shop", spec={"volumes": [{"persistentVolumeClaim": {"claimName": "data"}}]})],
    "persistentvolumeclaims": [obj("data", "shop", spec={"volumeName": "pv-1"})],
    "persistentvolumes": [obj("pv-1"), obj("pv-2")],
}


class RecordingStore(object):
    """Wraps a store and records the order of writes."""

    def __init__(self, store):
        self.store = store
        self.writes = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put_bytes(self, key, data):
        self.writes.append(key)
        self.store.put_bytes(key, data)

    def put_json_gz(self, key, document):
        self.writes.append(key)
        self.store.put_json_gz(key, document)

    def upload_file(self, key, fileobj):
        self.writes.append(key)
        self.store.upload_file(key, fileobj)


@pytest.fixture
def store(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path)}
    real = open_store(location)
    real.check()
    return RecordingStore(real)


def run(store, kube, check_mode=False, **options):
    options.setdefault("name", "b1")
    options.setdefault("ttl", "720h")
    return backup.BackupRun(kube, store, options, check_mode).execute()


def archive_paths(store, name="b1"):
    data = store.get_bytes(backup_keys(name)["tarball"])
    return [path for path, _data in iter_archive(io.BytesIO(data))]


def test_commit_marker_is_written_last(store):
    result = run(store, FakeKube(ITEMS), included_namespaces=["shop"])
    assert result["phase"] == "Completed"
    keys = backup_keys("b1")
    assert store.writes[0] == keys["progress"]
    assert store.writes[-1] == keys["metadata"]
    assert set(store.writes) == set(keys.values()) - {keys["lease"]}  # the lease is taken by run(), around this


def test_pod_pulls_claim_which_pulls_volume_through_lists_not_gets(store):
    kube = FakeKube(ITEMS)
    run(store, kube, included_namespaces=["shop"], included_resources=["pods"])
    assert archive_paths(store) == [
        "metadata/version",
        "resources/pods/namespaces/shop/p.json", "resources/pods/v1-preferredversion/namespaces/shop/p.json",
        "resources/persistentvolumeclaims/namespaces/shop/data.json",
        "resources/persistentvolumeclaims/v1-preferredversion/namespaces/shop/data.json",
    ]  # PVs are cluster-scoped and not in the include list: left out, as Velero does
    store.store.delete_backup("b1")
    run(store, kube, included_namespaces=["shop"])
    paths = archive_paths(store)
    assert "resources/persistentvolumes/cluster/pv-1.json" in paths
    assert not any("pv-2" in p for p in paths)
    assert ("persistentvolumes", None) in kube.lists
    # Velero's volume information names the backed-up PV: no pod volume backup covers it.
    info = store.get_json_gz(backup_keys("b1")["volume_info"])
    assert [(entry["pvName"], entry["skipped"]) for entry in info] == [("pv-1", True)]


def test_cluster_unreachable_mid_run_commits_nothing_and_a_rerun_succeeds(store):
    broken = FakeKube(ITEMS, fail={"configmaps": ClusterError("cannot reach the Kubernetes API server at x")})
    result = run(store, broken)
    assert result["failed"] is True and result["phase"] == "Failed"
    assert "cannot reach the Kubernetes API server" in result["msg"]
    assert store.backup_metadata("b1") is None and store.list_backups() == []
    progress = json.loads(store.get_bytes(backup_keys("b1")["progress"]))
    assert progress["phase"] == "Failed"
    assert run(store, FakeKube(ITEMS))["phase"] == "Completed"
    assert store.list_backups() == ["b1"]


def test_a_type_that_cannot_be_listed_makes_the_backup_partially_failed(store):
    from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
    forbidden = FakeKube(ITEMS, fail={"pods": ApiException(status=403, reason="Forbidden")})
    result = run(store, forbidden)
    assert result["phase"] == "PartiallyFailed"
    assert result["backup_errors"]["cluster"] == ["cannot list pods: HTTP 403: Forbidden"]
    assert store.backup_metadata("b1")["status"]["errors"] == 1


def test_check_mode_writes_nothing(store):
    result = run(store, FakeKube(ITEMS), check_mode=True)
    assert store.writes == [] and store.list_keys("") == []
    assert result["changed"] is True and result["phase"] is None
    assert result["item_counts"]["total"] == 8


def test_snapshots_to_forget_are_grouped_by_repository():
    def record(repository, snapshot):
        return {"spec": {"repoIdentifier": repository}, "status": {"snapshotID": snapshot}}
    assert snapshots_by_repository([record("s3:x/restic/a", "2"), record("s3:x/restic/a", "1"),
                                    record("s3:x/restic/b", "3"), record("s3:x/restic/b", "")]) == {
        "s3:x/restic/a": ["1", "2"], "s3:x/restic/b": ["3"]}
    assert snapshots_by_repository(None) == {}


def test_folders_velero_does_not_expect_are_a_warning(store):
    store.store.put_bytes("notes/readme.txt", b"x")
    result = run(store, FakeKube(ITEMS))
    assert result["phase"] == "Completed"
    assert result["backup_warnings"]["velero"] == [
        "the storage location holds folders Velero does not expect (notes): Velero would mark it unavailable; "
        "give this collection's backups a prefix of their own"]


def test_hooks_option_is_stored_in_velero_field_names():
    option = {"resources": [{"included_namespaces": ["shop"], "label_selector": "app=db", "pre": [
        {"exec": {"container": "db", "command": ["fsfreeze", "-f", "/data"], "on_error": "Fail", "timeout": "30s"}}]}]}
    assert velero_hooks(option) == {"resources": [{
        "name": "hook-0", "includedNamespaces": ["shop"], "labelSelector": {"matchLabels": {"app": "db"}},
        "pre": [{"exec": {"container": "db", "command": ["fsfreeze", "-f", "/data"], "onError": "Fail",
                          "timeout": "30s"}}]}]}
    assert velero_hooks(None) == {}


def test_volumes_asked_for_without_a_password_are_an_error_not_a_failed_backup(store):
    annotated = obj("p", "shop", spec={"volumes": [{"name": "data", "emptyDir": {}}]})
    annotated["metadata"]["annotations"] = {"backup.velero.io/backup-volumes": "data"}
    result = run(store, FakeKube({"namespaces": [obj("shop")], "pods": [annotated]}))
    assert result["phase"] == "PartiallyFailed"
    assert result["backup_errors"]["velero"] == [
        "pod volumes were selected for file-system backup but repository_password was not given: "
        "their data is not in this backup"]
    assert store.list_backups() == ["b1"]


def test_check_mode_on_a_directory_that_does_not_exist_yet_creates_nothing(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path / "new" / "place")}
    result = backup.run({}, location, {"name": "b1", "ttl": "720h"}, check_mode=True,
                        kube_factory=lambda auth: FakeKube(ITEMS))
    assert result["changed"] is True and result["item_counts"]["total"] == 8
    assert not (tmp_path / "new").exists()
    assert backup.run({}, location, {"name": "b1", "ttl": "720h"}, kube_factory=lambda auth: FakeKube(ITEMS))[
        "phase"] == "Completed"
    assert (tmp_path / "new" / "place" / "backups" / "b1" / "velero-backup.json").exists()


def test_post_hooks_run_even_when_the_run_fails_after_a_pre_hook(store, monkeypatch):
    from ansible_collections.kubedr.backup.plugins.module_utils.backup import pods as backup_pods
    ran = []

    def record_hooks(api_client, pod, selected, exec_fn=None):
        ran.extend((pod["metadata"]["name"], hook.command[-1]) for hook in selected)
        return [], False
    monkeypatch.setattr(backup_pods.hooks, "run_hooks", record_hooks)
    pod = obj("db", "shop", spec={"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]})
    pod["metadata"]["annotations"] = {"pre.hook.backup.velero.io/command": '["sh", "-c", "freeze"]',
                                      "post.hook.backup.velero.io/command": '["sh", "-c", "thaw"]'}
    # The pod's claim is listed only after the pod was saved (an action), and that LIST fails.
    broken = FakeKube({"namespaces": [obj("shop")], "pods": [pod]},
                      fail={"persistentvolumeclaims": ClusterError("cannot reach the Kubernetes API server at x")})
    result = run(store, broken, included_resources=["pods"])
    assert result["failed"] is True and result["phase"] == "Failed"
    assert ran == [("db", "freeze"), ("db", "thaw")]
    assert store.list_backups() == []


class GeneratedKube(FakeKube):
    """Serves ``count`` ConfigMaps of 1 KiB, built page by page (nothing held by the fake)."""

    def __init__(self, count):
        FakeKube.__init__(self, {"namespaces": [obj("shop")]})
        self.count = count

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        if api_resource.group_resource != "configmaps":
            yield from FakeKube.list_pages(self, api_resource, namespace, label_selector)
            return
        for start in range(0, self.count, 500):
            yield [{"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cm-%06d" % i, "namespace": "shop", "uid": "u-%d" % i},
                    "data": {"blob": "%06d" % i + "x" * 1018}} for i in range(start, min(start + 500, self.count))]


def test_memory_stays_flat_in_the_number_of_items(tmp_path):
    import tracemalloc

    def peak(count):
        store = open_store({"provider": "filesystem", "path": str(tmp_path / str(count))})
        tracemalloc.start()
        try:
            result = backup.BackupRun(GeneratedKube(count), store, {"name": "m", "ttl": "720h"}).execute()
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    small = peak(500)[0]
    large, result = peak(5500)
    assert result["item_counts"]["total"] == 5501
    # An item as a dict is several KiB; what may grow per item is its name in the index.
    assert (large - small) / 5000 < 1024, (small, large)


class MalformedPageKube(FakeKube):
    """The pods' LIST answers a page whose head reads (its continue token is found) but whose items do not."""

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None):
        if api_resource.group_resource == "pods":
            yield b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":}]}'
            return
        yield from FakeKube.list_raw_pages(self, api_resource, namespace, label_selector)


def test_a_malformed_page_fails_its_list_not_the_backup(store):
    """Pages the module's own process takes (pods here) are decoded as they are taken: a page that does not
    decode is that LIST's error, and every other item is still backed up."""
    result = run(store, MalformedPageKube(ITEMS), included_namespaces=["shop"])
    assert result["phase"] == "PartiallyFailed"
    errors = result["backup_errors"]["namespaces"].get("shop", []) + result["backup_errors"]["cluster"]
    assert any(e.startswith("cannot list pods") and "malformed LIST page" in e for e in errors), result["backup_errors"]
    assert "resources/configmaps/namespaces/shop/a.json" in archive_paths(store)
