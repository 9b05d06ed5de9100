"""Real Velero and kubedr read each other's resource backups (issue 17; docs/velero-interop.md).

For Velero v1.16.2 and v1.18.3, each run out of cluster beside the test bed (velero_bed.VeleroServer):
kubedr backs a namespace up into Velero's BackupStorageLocation, Velero syncs it, lists it, describes it
and restores it into another namespace; Velero backs the namespace up, kubedr lists it, describes it and
restores it into another namespace. Restored objects equal the originals modulo what a restore resets
(test_restore.comparable). With all_api_versions and Velero's EnableAPIGroupVersions, both tools write the
same tarball paths, and Velero restores kubedr's backup in the version its rules pick. One server per
version is shared by the module's tests."""
import json
import re

import pytest

from test_api_versions import GR, GROUP, BANDS, rockband, rockband_crd  # noqa: F401 pylint: disable=unused-import
from test_backup_support import assert_ok, run_backup, run_info, s3_archive
from test_restore import comparable
from test_restore_support import (  # noqa: F401 pylint: disable=unused-import
    assert_restored, delete_raw, doomed_namespaces, get_raw, run_restore, unique, wait_for,
)
from velero_bed import VeleroServer, describe_field

# v1.16.2 is the last Velero that backs pod volumes up with restic; v1.18.3 uses kopia only.
VERSIONS = {"v1.16.2": "restic", "v1.18.3": "kopia"}
# Every kind of item the source namespace holds (what the test made, and what the cluster made of it).
LISTED = {
    "v1/ConfigMap": "/api/v1/namespaces/%s/configmaps", "v1/Secret": "/api/v1/namespaces/%s/secrets",
    "v1/ServiceAccount": "/api/v1/namespaces/%s/serviceaccounts", "v1/Pod": "/api/v1/namespaces/%s/pods",
    "v1/Service": "/api/v1/namespaces/%s/services", "v1/Endpoints": "/api/v1/namespaces/%s/endpoints",
    "discovery.k8s.io/v1/EndpointSlice": "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices",
    "apps/v1/Deployment": "/apis/apps/v1/namespaces/%s/deployments",
    "apps/v1/ReplicaSet": "/apis/apps/v1/namespaces/%s/replicasets",
    "rbac.authorization.k8s.io/v1/Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles",
    "rbac.authorization.k8s.io/v1/RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings",
}


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def velero(request, bed):
    with VeleroServer(request.param, bed, uploader_type=VERSIONS[request.param]) as server:
        yield server


class Source(object):
    """A namespace with one of each common kind, made once for the module's tests."""

    LABELS = {"app": "web"}

    def __init__(self, api_client):
        from kubernetes import client, utils
        self.api_client = api_client
        self.namespace = unique("interop")
        ns = self.namespace
        client.CoreV1Api(api_client).create_namespace({"metadata": {"name": ns, "labels": {"purpose": "interop"}}})
        pod_spec = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}
        manifests = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "labels": {"tier": "conf"},
                                                                   "annotations": {"note": "kept"}},
             "data": {"mode": "fast", "list": "a\nb\n"}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"token": "abc"}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
             "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": ns}]},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": self.LABELS},
             "spec": {"replicas": 1, "selector": {"matchLabels": self.LABELS},
                      "template": {"metadata": {"labels": self.LABELS}, "spec": pod_spec}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": self.LABELS, "ports": [{"port": 80, "targetPort": 8080}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {"role": "bare"}},
             "spec": dict(pod_spec, serviceAccountName="runner")},
        ]
        for manifest in manifests:
            utils.create_from_dict(api_client, manifest, namespace=ns)
        wait_for(lambda: (self.get(self.path("Deployment", "web", ns)).get("status") or {})
                 .get("availableReplicas") == 1, what="deployment available")
        wait_for(lambda: self.get(self.path("Pod", "bare", ns))["status"].get("phase") == "Running",
                 what="bare pod running")
        wait_for(lambda: self.get(self.path("ConfigMap", "kube-root-ca.crt", ns)), what="kube-root-ca.crt")
        self.originals = dict((key, self.get(self.path(kind, name, ns))) for key in self.keys()
                              for kind, name in [key])

    KINDS = {"ConfigMap": "/api/v1/namespaces/%s/configmaps/", "Secret": "/api/v1/namespaces/%s/secrets/",
             "ServiceAccount": "/api/v1/namespaces/%s/serviceaccounts/", "Pod": "/api/v1/namespaces/%s/pods/",
             "Service": "/api/v1/namespaces/%s/services/",
             "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles/",
             "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/",
             "Deployment": "/apis/apps/v1/namespaces/%s/deployments/"}

    @staticmethod
    def keys():
        return [("ConfigMap", "settings"), ("Secret", "creds"), ("ServiceAccount", "runner"), ("Role", "reader"),
                ("RoleBinding", "reader"), ("Deployment", "web"), ("Service", "web"), ("Pod", "bare")]

    def path(self, kind, name, namespace):
        return self.KINDS[kind] % namespace + name

    def get(self, path):
        return get_raw(self.api_client, path)

    def assert_restored_into(self, target, restore_name):
        """Every object is in target as it was in the source, modulo what a restore resets and the namespace
        mapping; the namespace has its backed-up labels only (no restore labels, as Velero does)."""
        for (kind, name), original in sorted(self.originals.items()):
            restored = wait_for(lambda: self.get(self.path(kind, name, target)), timeout=30,
                                what="%s %s/%s restored" % (kind, target, name))
            assert restored["metadata"]["labels"]["velero.io/restore-name"] == restore_name, (kind, name)
            assert comparable(restored) == self.mapped(comparable(original), target), (kind, name)
        namespace = self.get("/api/v1/namespaces/" + target)
        assert namespace["metadata"]["labels"] == {"purpose": "interop", "kubernetes.io/metadata.name": target}
        # And nothing more nor less: the replica set and its pod are restored too, the endpoint slice is made
        # again by its controller (a generated name).
        try:
            wait_for(lambda: self.contents(target) == self.contents(self.namespace), timeout=30, what="same items")
        except AssertionError:
            assert self.contents(target) == self.contents(self.namespace)  # shows the difference

    def mapped(self, obj, target):
        """obj as the namespace mapping restores it: every string equal to the source namespace's name (the
        item's namespace, a role binding subject's) becomes target's."""
        return json.loads(json.dumps(obj).replace(json.dumps(self.namespace), json.dumps(target)))

    def contents(self, namespace):
        """{kind key: names} of a namespace's items; endpoint slices by number (their names are generated)."""
        listed = self.listed_items(namespace)
        slices = listed.pop("discovery.k8s.io/v1/EndpointSlice", [])
        listed.pop("v1/Namespace")
        listed = dict((k, [name.split("/", 1)[1] for name in v]) for k, v in listed.items())
        listed["endpoint slices"] = len(slices)
        return listed

    def listed_items(self, namespace=None):
        """The namespace's items as a resource list names them (Velero's keys): what a backup of it holds,
        the pods, replica set, endpoints and endpoint slice the cluster made included."""
        namespace = namespace or self.namespace
        listed = {"v1/Namespace": [namespace]}
        for key, path in LISTED.items():
            items = get_raw(self.api_client, path % namespace)["items"]
            if items:
                listed[key] = sorted("%s/%s" % (namespace, i["metadata"]["name"]) for i in items)
        return listed


@pytest.fixture(scope="module")
def source(api_client):
    built = Source(api_client)
    yield built
    delete_raw(api_client, "/api/v1/namespaces/" + built.namespace)


def describe_section(text, title):
    """The indented lines under `title:` in `velero ... describe` output, stripped."""
    match = re.search(r"^%s:\s*\n((?:[ \t]+\S.*\n?|\s*\n)*)" % re.escape(title), text, re.M)
    return [line.strip() for line in (match.group(1) if match else "").splitlines() if line.strip()]


def described_resource_list(text):
    """`Resource List:` of `velero backup describe --details` as {"v1/ConfigMap": ["ns/name", ...]}."""
    listed, key = {}, None
    for line in describe_section(text, "Resource List"):
        if line.startswith("- "):
            listed[key].append(line[2:])
        else:
            key = line.rstrip(":")
            listed[key] = []
    return dict((k, sorted(v)) for k, v in listed.items())


def restore_warnings(velero, name):
    """The warnings `velero restore describe` shows: its Warnings section without the empty scopes, one
    string per warning (`<namespace>: <message>` for a namespace's), whitespace collapsed."""
    text = velero.cli("restore", "describe", name, "--colorized=false").stdout
    return [" ".join(line.split()) for line in describe_section(text, "Warnings")
            if not line.endswith("<none>") and line != "Namespaces:"]


def test_velero_syncs_describes_and_restores_a_kubedr_backup(velero, source, bed, doomed_namespaces):
    name = unique("kubedr")
    assert_ok(run_backup(bed, velero.location, name, included_namespaces=[source.namespace]))

    # Velero's backup sync turns the stored velero-backup.json into a Backup object: at start, then every minute.
    velero.restart()
    synced = velero.wait_backup_phase(name, ("Completed",), timeout=30)
    assert synced["spec"]["includedNamespaces"] == [source.namespace]
    assert synced["spec"]["storageLocation"] == velero.bsl_name
    listing = velero.cli("backup", "get", name).stdout
    assert re.search(r"^%s\s+Completed\s+0\s+0\s" % re.escape(name), listing, re.M), listing

    described = velero.cli("backup", "describe", name, "--details", "--colorized=false").stdout
    assert describe_field(described, "Phase") == "Completed", described
    assert describe_field(described, "Included") == source.namespace, described
    assert describe_field(described, "Snapshot Move Data") == "false", described  # as Velero writes spec
    assert described_resource_list(described) == source.listed_items(), described
    assert "error" not in described.lower(), described  # "<error getting ...>" when a document is unreadable
    logs = velero.cli("backup", "logs", name).stdout
    assert 'msg="Backed up item"' in logs and "name=settings" in logs, logs

    target = doomed_namespaces(unique("from-kubedr"))
    restore = unique("r-kubedr")
    velero.cli("restore", "create", restore, "--from-backup", name, "--wait",
               "--namespace-mappings", "%s:%s" % (source.namespace, target))
    restored = velero.wait_restore_phase(restore, ("Completed", "PartiallyFailed", "Failed"), timeout=30)
    assert restored["status"]["phase"] == "Completed", velero.cli("restore", "describe", restore,
                                                                  "--colorized=false").stdout
    # Velero warns about the one item the new namespace already has and that differs from the backed-up one, as
    # it does for a backup of its own: kube-root-ca.crt, which the controller manager publishes into every new
    # namespace. Unless Velero created it first: a race the cluster decides (once in CI, on 2 busy cores, Velero
    # won and warned of nothing). Its labels tell which it was, and the warnings must say exactly that.
    root_ca = wait_for(lambda: source.get(source.path("ConfigMap", "kube-root-ca.crt", target)), timeout=30,
                       what="kube-root-ca.crt in " + target)
    restored_by_velero = (root_ca["metadata"].get("labels") or {}).get("velero.io/restore-name") == restore
    assert restore_warnings(velero, restore) == ([] if restored_by_velero else [
        "%s: could not restore, ConfigMap:kube-root-ca.crt already exists. Warning: the in-cluster version is "
        "different than the backed-up version" % target])
    source.assert_restored_into(target, restore)


def test_kubedr_lists_describes_and_restores_a_velero_backup(velero, source, bed, doomed_namespaces):
    name = unique("velero")
    velero.cli("backup", "create", name, "--include-namespaces", source.namespace, "--wait")
    made = velero.wait_backup_phase(name, ("Completed",), timeout=10)
    assert made["status"].get("warnings", 0) == 0, velero.cli("backup", "describe", name).stdout

    listed = assert_ok(run_info(velero.location))
    assert [(b["name"], b["phase"], b["committed"]) for b in listed["backups"] if b["name"] == name] == [
        (name, "Completed", True)]
    info = assert_ok(run_info(velero.location, name=name, details=True, resource_list=True))["backup"]
    assert info["item_count"] == made["status"]["progress"]["itemsBackedUp"]
    assert info["spec"]["includedNamespaces"] == [source.namespace]
    assert info["status"]["version"] == 1 and info["status"]["formatVersion"] == "1.1.0"
    # Velero backs the namespace's Events up too (kubedr never does); both leave them out of a restore.
    listed = dict(info["resource_list"])
    assert listed.pop("v1/Event") and listed == source.listed_items()
    assert info["item_counts"]["per_namespace"] == {source.namespace: info["item_count"] - 1}  # + the Namespace
    assert info["warning_count"] == 0 and info["error_count"] == 0
    assert info["details"]["volumes"] == [] and info["details"]["hooks"] == []
    assert info["details"]["resources_per_namespace"][source.namespace] == dict(
        (key, len(names)) for key, names in info["resource_list"].items() if key != "v1/Namespace")

    target = doomed_namespaces(unique("from-velero"))
    restore = unique("r-velero")
    result = assert_restored(run_restore(bed, velero.location, backup_name=name, name=restore,
                                         namespace_mapping={source.namespace: target}))
    assert result["error_count"] == 0 and result["warning_count"] == 0, result["restore_warnings"]
    source.assert_restored_into(target, restore)


@pytest.fixture
def velero_all_versions(velero):
    """The module's server restarted with EnableAPIGroupVersions (its backups write every served version, its
    restores choose one: without the flag they read the preferred version only), and without it afterwards."""
    plain = velero.server_args
    velero.server_args = plain + ("--features=EnableAPIGroupVersions",)
    velero.restart()
    yield velero
    velero.server_args = plain
    velero.restart()


def test_velero_restores_a_kubedr_backup_of_every_api_version(velero_all_versions, rockband_crd, namespace, bed,
                                                              doomed_namespaces, api_client):
    velero = velero_all_versions
    for name in BANDS[:2]:
        rockband(rockband_crd.custom, namespace, name)
    rockband(rockband_crd.custom, namespace, BANDS[2], api_version="v2beta1")
    name, own = unique("kubedr-all"), unique("velero-all")
    assert_ok(run_backup(bed, velero.location, name, included_namespaces=[namespace], all_api_versions=True))
    velero.cli("backup", "create", own, "--include-namespaces", namespace, "--wait")
    assert velero.wait_backup_phase(own, ("Completed",), timeout=10)["status"].get("warnings", 0) == 0

    # The same objects, the same paths: the plain and <v>-preferredversion copies, and a <v> folder per
    # other served version (Velero also backs the namespace's Events up, if any).
    def paths(backup):
        return sorted(path for path, _data in s3_archive(velero.s3(), velero.location, backup)
                      if not path.startswith(("resources/events/", "resources/events.events.k8s.io/")))
    written = paths(name)
    assert written == paths(own)
    assert "resources/%s/v2beta1/namespaces/%s/%s.json" % (GR, namespace, BANDS[0]) in written

    # The target serves v3 (preferred) and v2beta1: Velero's rules 1 and 2 find nothing (the backup lacks
    # v3, the cluster no longer serves v1), rule 3 picks the common version v2beta1. The server restarts
    # after the change so that its discovery and its backup sync are fresh.
    rockband_crd("v3", "v2beta1")
    velero.restart()
    velero.wait_backup_phase(name, ("Completed",), timeout=30)
    target = doomed_namespaces(unique("bands-from-kubedr"))
    preview = run_restore(bed, velero.location, check_mode=True, backup_name=name, included_resources=[GR],
                          namespace_mapping={namespace: target})
    assert not preview.failed, preview.get("msg")
    assert (preview["api_versions"][GR]["version"], preview["api_versions"][GR]["rule"]) == (
        "v2beta1", "highest priority common version")

    restore = unique("r-kubedr-all")
    velero.cli("restore", "create", restore, "--from-backup", name, "--include-resources", GR, "--wait",
               "--namespace-mappings", "%s:%s" % (namespace, target))
    restored = velero.wait_restore_phase(restore, ("Completed", "PartiallyFailed", "Failed"), timeout=30)
    described = velero.cli("restore", "describe", restore, "--details", "--colorized=false").stdout
    assert restored["status"]["phase"] == "Completed", described
    assert restored["status"].get("errors", 0) == 0 and restore_warnings(velero, restore) == [], described
    # The version Velero created the items through (managedFields cannot say: a restore keeps the backed-up
    # ones), and why: its log says which of its rules found nothing.
    listed = dict((key, sorted(entry.replace(" ", "") for entry in entries))
                  for key, entries in described_resource_list(described).items() if key.endswith("/RockBand"))
    assert listed == {"%s/v2beta1/RockBand" % GROUP: sorted("%s/%s(created)" % (target, band) for band in BANDS)}, described
    logs = velero.cli("restore", "logs", restore).stdout
    assert "Ignoring version v3 for %s" % GR in logs and "Ignoring version v1 for %s" % GR in logs, logs
    assert "default behavior without feature flag) for %s" % GR not in logs, logs
    for band in BANDS:
        live = get_raw(api_client, "/apis/%s/v2beta1/namespaces/%s/rockbands/%s" % (GROUP, target, band))
        assert live is not None, (band, described)
        assert live["spec"] == {"members": len(band)} and live["metadata"]["labels"]["band"] == band
        assert live["metadata"]["labels"]["velero.io/restore-name"] == restore
