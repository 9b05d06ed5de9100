"""Integrity manifests on the test bed (docs/integrity.md): a signed backup through the backup playbook, verified by
k8s_backup_info and the restore playbook; a tampered bucket (a ClusterRoleBinding slipped into the tarball, the
manifest recomputed without the key) refused before anything reaches the cluster; a tarball changed without its
manifest caught by the digests alone; a backup without a manifest reported as such; pod volume snapshots looked up
in a real restic repository."""
import gzip
import hashlib
import io
import json
import tarfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import testbed
from test_playbooks_support import configmaps, delete_prefix, location_vars, playbook, s3_env, unique

CRB_PATH = "resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/%s.json"


@pytest.fixture
def location(storage_location, s3, request):
    location = location_vars(storage_location, request.node.name[5:30])
    yield location
    delete_prefix(s3, location)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """(private PEM path, public PEM path), as openssl genpkey -algorithm ed25519 and openssl pkey -pubout write them."""
    key = ed25519.Ed25519PrivateKey.generate()
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "signing.pem", folder / "signing.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(private), str(public)


def module(bed, name, args, location, check_mode=False):
    args = dict(args, storage_location=location, kubeconfig=bed["KUBECONFIG"])
    return testbed.run_module(name, args, check_mode=check_mode, env=s3_env(bed))


def object_key(location, name, suffix):
    return "%s/backups/%s/%s%s" % (location["prefix"], name, name, suffix)


def with_cluster_role_binding(tarball, binding_name, namespace):
    """The tarball with one more entry: a ClusterRoleBinding of cluster-admin to the namespace's default account."""
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": binding_name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]}
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tarball)), mode="r:") as source, \
            tarfile.open(fileobj=out, mode="w:") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        data = json.dumps(binding).encode()
        member = tarfile.TarInfo(CRB_PATH % binding_name)
        member.size = len(data)
        target.addfile(member, io.BytesIO(data))
    return gzip.compress(out.getvalue())


def item_digests(tarball):
    """The item digests object of a tarball, as kubedr writes it (gzipped [digest, path] JSON lines), and the
    digest of its lines."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tarball)), mode="r:") as tar:
        lines = b"".join(json.dumps([hashlib.sha256(tar.extractfile(m).read()).hexdigest(), m.name],
                                    separators=(",", ":")).encode() + b"\n" for m in tar.getmembers() if m.isfile())
    return gzip.compress(lines), hashlib.sha256(lines).hexdigest(), lines.count(b"\n")


def tamper(s3, location, name, namespace, binding_name, update_manifest):
    """What someone with write access to the bucket and no signing key can do."""
    bucket = location["bucket"]
    tarball_key = object_key(location, name, ".tar.gz")
    tarball = with_cluster_role_binding(s3.get_object(Bucket=bucket, Key=tarball_key)["Body"].read(), binding_name,
                                        namespace)
    s3.put_object(Bucket=bucket, Key=tarball_key, Body=tarball)
    if update_manifest:
        manifest_key = object_key(location, name, "-manifest.json")
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        manifest["objects"][tarball_key[len(location["prefix"]) + 1:]] = {
            "sha256": hashlib.sha256(tarball).hexdigest(), "size": len(tarball)}
        listing, lines_digest, count = item_digests(tarball)
        s3.put_object(Bucket=bucket, Key=object_key(location, name, "-itemdigests.json.gz"), Body=listing)
        manifest["objects"][manifest["items"]["key"]] = {"sha256": hashlib.sha256(listing).hexdigest(),
                                                         "size": len(listing)}
        manifest["items"].update(sha256=lines_digest, count=count)  # the signature stays: it needs the key
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())


def binding_exists(api_client, name):
    from kubernetes import client
    return name in [b.metadata.name for b in client.RbacAuthorizationV1Api(api_client).list_cluster_role_binding().items]


def test_signed_backup_and_a_tampered_bucket(bed, core_v1, api_client, s3, namespace, location, keys):
    private, public = keys
    configmaps(core_v1, namespace)
    name = unique("signed")
    out = playbook(bed, "kubedr.backup.backup", {
        "kubedr_storage_location": location, "kubedr_included_namespaces": [namespace], "kubedr_backup_name": name,
        "kubedr_signing_key": private, "kubedr_poll_interval": 1}, env=s3_env(bed)).stdout
    assert "Backup %s: Completed" % name in out

    described = module(bed, "k8s_backup_info", {"name": name, "verify_integrity": True, "verify_key": public}, location)
    report = described["backup"]["integrity"]
    assert (report["status"], report["signature"], report["problems"]) == ("verified", "valid", []), report
    assert report["items_checked"] >= 3 and report["objects_checked"] == 9 and report["tool_version"]

    # Someone with the bucket's keys adds a ClusterRoleBinding and recomputes every digest, without the signing key.
    binding = unique("kubedr-evil")
    tamper(s3, location, name, namespace, binding, update_manifest=True)

    # Without the check the binding would be restored (so the refusal below is what stops it).
    unchecked = module(bed, "k8s_restore", {"backup_name": name, "integrity": "ignore"}, location, check_mode=True)
    assert [s for s in unchecked["plan"] if s["name"] == binding and s["action"] == "create"], unchecked.get("msg")

    out = playbook(bed, "kubedr.backup.restore", {
        "kubedr_storage_location": location, "kubedr_backup_name": name, "kubedr_verify_key": public,
        "kubedr_poll_interval": 1}, env=s3_env(bed), expect_ok=False).stdout
    assert "signature does not verify" in out and "nothing was written to the cluster" in out, out[-3000:]
    assert "failed=1" in out
    assert not binding_exists(api_client, binding)
    assert open(private).read().split("\n")[1] not in out  # the private key never reaches the output


def test_digests_catch_a_tarball_changed_without_its_manifest(bed, core_v1, api_client, s3, namespace, location):
    configmaps(core_v1, namespace)
    name = unique("plain")
    made = module(bed, "k8s_backup", {"name": name, "included_namespaces": [namespace]}, location)
    assert made["phase"] == "Completed" and made["integrity"]["signed_by"] is None, made
    binding = unique("kubedr-evil")
    tamper(s3, location, name, namespace, binding, update_manifest=False)

    report = module(bed, "k8s_backup_info", {"name": name, "verify_integrity": True}, location)["backup"]["integrity"]
    tarball_key = object_key(location, name, ".tar.gz")[len(location["prefix"]) + 1:]
    assert report["status"] == "failed" and report["signature"] == "absent"
    found = dict(((p["about"], p.get("key") or p.get("path")), p) for p in report["problems"])
    assert set(found) == {("object", tarball_key), ("item", CRB_PATH % binding)}, report["problems"]
    assert found[("object", tarball_key)]["expected"] != found[("object", tarball_key)]["actual"]

    refused = module(bed, "k8s_restore", {"backup_name": name}, location)  # integrity: if_present, the default
    assert refused.failed and "integrity check failed" in refused["msg"] and (CRB_PATH % binding) in refused["msg"]
    assert not binding_exists(api_client, binding)


def test_a_backup_without_manifest_is_not_called_tampered(bed, core_v1, s3, namespace, location):
    configmaps(core_v1, namespace)
    name = unique("old")
    assert module(bed, "k8s_backup", {"name": name, "included_namespaces": [namespace]}, location)["phase"] == "Completed"
    s3.delete_object(Bucket=location["bucket"], Key=object_key(location, name, "-manifest.json"))  # as Velero writes it

    report = module(bed, "k8s_backup_info", {"name": name, "verify_integrity": True}, location)["backup"]["integrity"]
    assert (report["status"], report["problems"]) == ("no_manifest", [])
    preview = module(bed, "k8s_restore", {"backup_name": name}, location, check_mode=True)
    assert not preview.failed and preview["integrity"]["status"] == "no_manifest"
    assert "has no integrity manifest" in str(preview["warnings"])  # shown in the play's output


def test_pod_volume_snapshots_are_looked_up_in_their_repository(bed, storage_location, s3, tmp_path):
    """volumes/snapshot_check against a real restic repository in MinIO: one recorded snapshot exists, one is gone."""
    testbed.ensure_collection_path()
    from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
    from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository
    from ansible_collections.kubedr.backup.plugins.module_utils.volumes.runner import run_local
    from ansible_collections.kubedr.backup.plugins.module_utils.volumes.snapshot_check import missing_snapshots

    location = dict(storage_location, prefix=unique("ops/snapshots"))
    volume_namespace = "shop"
    repo = Repository.from_storage_location(location, volume_namespace, password="pw")
    try:
        run_local(repo, restic.init_command(repo), "init")
        (tmp_path / "data").write_text("data")
        summary = restic.parse_backup_output(run_local(repo, restic.backup_command(repo, path=str(tmp_path)),
                                                       "backup").stdout)

        def record(snapshot_id):
            return {"spec": {"pod": {"namespace": volume_namespace, "name": "db-0"}, "volume": "data",
                             "repoIdentifier": repo.identifier, "uploaderType": "restic"},
                    "status": {"phase": "Completed", "snapshotID": snapshot_id}}
        missing = missing_snapshots([record(summary["snapshot_id"]), record("0" * 64)], location, "pw")
        assert [(volume["snapshot_id"], "is not in repository" in reason) for volume, reason in missing] == [
            ("0" * 64, True)]
        wrong = missing_snapshots([record(summary["snapshot_id"])], location, "not-the-password-7f3a")
        assert len(wrong) == 1 and "cannot be listed" in wrong[0][1] and "not-the-password-7f3a" not in wrong[0][1]
    finally:
        delete_prefix(s3, location)
