"""Secrets audit: backup, describe, restore and the pod volume path run with planted secret
values - the S3 secret key, the restic repository password, the encryption passphrase and the
data of a Secret - and none of them may appear in a module's output (stdout, stderr, result,
error message), in the logs and results written to the bucket, in ansible-playbook's verbose
output, or in the command line of any process on this machine while they run."""
import base64
import gzip
import json
import os
import time
import uuid

import pytest

import testbed
from argv_watch import ArgvWatcher
from kubelet_sim import KubeletVolumes

PASSWORD = "planted-repo-pw-" + uuid.uuid4().hex
PASSPHRASE = "planted-passphrase-" + uuid.uuid4().hex
SECRET_VALUE = "planted-secret-data-" + uuid.uuid4().hex
WRONG_S3_KEY = "planted-wrong-s3-key-" + uuid.uuid4().hex


def wait_for(predicate, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


def forms(secret):
    """A secret as it may show up: plain, base64 (a Secret's data), and base64 of its JSON string."""
    encoded = base64.b64encode(secret.encode()).decode()
    return [secret, encoded, encoded.rstrip("=")]


class Audit(object):
    """Everything a user or an attacker with read access to outputs could see."""

    def __init__(self, secrets):
        self.secrets = secrets
        self.texts = []
        self.objects_read = 0

    def module(self, result):
        self.texts += [json.dumps(result), result.stderr or ""]
        return result

    def text(self, text):
        self.texts.append(text)

    def leaks(self):
        found = []
        for secret in self.secrets:
            for form in forms(secret):
                for text in self.texts:
                    if form in text:
                        index = text.index(form)
                        found.append((secret[:12] + "...", text[max(0, index - 80):index + 40]))
        return found


def running_pod(core_v1, namespace, name):
    pod = core_v1.read_namespaced_pod(name, namespace)
    return pod if pod.status.phase == "Running" else None


@pytest.fixture
def node_agent(core_v1, apps_v1, bed):
    ns = "audit-agent-" + uuid.uuid4().hex[:5]
    yield testbed.node_agents(core_v1, apps_v1, ns, bed["KUBEDR_HOST_PODS_DIR"])
    core_v1.delete_namespace(ns)


def test_no_secret_leaks_from_backup_restore_and_volume_paths(bed, core_v1, s3, storage_location, namespace,
                                                              node_agent):
    host_pods = bed["KUBEDR_HOST_PODS_DIR"]
    audit = Audit([PASSWORD, PASSPHRASE, SECRET_VALUE, WRONG_S3_KEY, bed["KUBEDR_S3_SECRET_KEY"]])
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "app-creds"},
                                                 "stringData": {"token": SECRET_VALUE}})
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "app-config"}, "data": {"mode": "prod"}})
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "app"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox", "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-creds", "key": "token"}}}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}})
    pod = wait_for(lambda: running_pod(core_v1, namespace, "app"), what="the pod running")
    volume_dir = os.path.join(host_pods, pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data")
    os.makedirs(volume_dir)
    with open(os.path.join(volume_dir, "data.txt"), "w") as f:
        f.write("volume data\n")

    prefix = "audit-" + uuid.uuid4().hex[:6]
    location = dict(storage_location, prefix=prefix)
    common = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location, "repository_password": PASSWORD,
              "node_agent": node_agent}
    target = namespace[:50] + "-r"
    encrypted = {"passphrase": PASSPHRASE}

    with ArgvWatcher(audit.secrets) as argv, KubeletVolumes(core_v1, target, host_pods):
        # Backups: plain (so its stored logs and results can be read) and encrypted.
        plain = audit.module(testbed.run_module("k8s_backup", dict(
            common, name="plain", included_namespaces=[namespace], default_volumes_to_fs_backup=True)))
        assert plain["phase"] == "Completed", plain.get("msg") or plain["backup_errors"]
        sealed = audit.module(testbed.run_module("k8s_backup", dict(
            common, name="sealed", included_namespaces=[namespace], default_volumes_to_fs_backup=True,
            encryption=encrypted)))
        assert sealed["phase"] == "Completed", sealed.get("msg") or sealed["backup_errors"]
        described = audit.module(testbed.run_module("k8s_backup_info", {
            "storage_location": location, "name": "sealed", "logs": True, "results": True,
            "resource_list": True, "encryption": encrypted}))
        assert not described.failed, described.get("msg")
        assert described["backup"]["logs"] and described["backup"]["encrypted"]

        # Failures whose messages could echo a secret: a wrong S3 key, a wrong passphrase, a wrong
        # repository password.
        bad_s3 = audit.module(testbed.run_module("k8s_backup", dict(
            common, name="bad-s3", storage_location=dict(location, secret_key=WRONG_S3_KEY))))
        assert bad_s3.failed and "S3 refused" in bad_s3["msg"], bad_s3.get("msg")
        bad_pass = audit.module(testbed.run_module("k8s_restore", dict(
            common, backup_name="sealed", encryption={"passphrase": "not-" + PASSPHRASE})))
        assert bad_pass.failed and "wrong encryption key" in bad_pass["msg"]
        audit.secrets.append("not-" + PASSPHRASE)
        bad_repo = audit.module(testbed.run_module("k8s_backup", dict(
            common, name="bad-repo", included_namespaces=[namespace], default_volumes_to_fs_backup=True,
            repository_password="wrong-" + PASSWORD)))
        assert bad_repo["phase"] == "PartiallyFailed", bad_repo.get("msg")
        audit.secrets.append("wrong-" + PASSWORD)

        # restic where the module runs: the repository of the namespace, with the right and a wrong password.
        repo = {"storage_location": location, "volume_namespace": namespace, "repository_password": PASSWORD}
        snapshots = audit.module(testbed.run_module("restic_repo", dict(repo, action="snapshots")))
        assert not snapshots.failed and snapshots["snapshots"], snapshots.get("msg")
        checked = audit.module(testbed.run_module("restic_repo", dict(repo, action="check")))
        assert not checked.failed, checked.get("msg")
        refused = audit.module(testbed.run_module("restic_repo", dict(repo, action="snapshots",
                                                                      repository_password="wrong-" + PASSWORD)))
        assert refused.failed

        # Check mode with a diff against a changed Secret, then the restore with the volume data.
        core_v1.create_namespace({"metadata": {"name": target}})
        core_v1.create_namespaced_secret(target, {"metadata": {"name": "app-creds"},
                                                  "stringData": {"token": "other-" + SECRET_VALUE}})
        audit.secrets.append("other-" + SECRET_VALUE)
        preview = audit.module(testbed.run_module("k8s_restore", dict(
            common, backup_name="sealed", namespace_mapping={namespace: target}, encryption=encrypted),
            check_mode=True, diff=True))
        assert not preview.failed, preview.get("msg")
        assert any("app-creds" in d["before_header"] for d in preview["diff"])
        restore = audit.module(testbed.run_module("k8s_restore", dict(
            common, backup_name="sealed", name="audit-restore", namespace_mapping={namespace: target},
            existing_resource_policy="update", encryption=encrypted)))
        assert restore["phase"] == "Completed", restore.get("msg") or restore["restore_errors"]

    restored = wait_for(lambda: [p for p in core_v1.list_namespaced_pod(target).items if p.status.phase == "Running"],
                        what="the restored pod")[0]
    restored_dir = os.path.join(host_pods, restored.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data")
    with open(os.path.join(restored_dir, "data.txt")) as f:
        assert f.read() == "volume data\n"  # the volume path really ran
    assert base64.b64decode(core_v1.read_namespaced_secret("app-creds", target).data["token"]).decode() == SECRET_VALUE

    # Everything written to the bucket that is readable without a key: logs, results, resource
    # lists, pod volume backups, restore outputs, velero-backup.json, progress objects.
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=prefix + "/"):
        for entry in page.get("Contents") or []:
            key = entry["Key"]
            if key.endswith(".tar.gz") or "/restic/" in key:
                continue  # the backup's content (a Secret is backed up: that is the point) and restic's own
            body = s3.get_object(Bucket=location["bucket"], Key=key)["Body"].read()
            if key.endswith(".gz") and body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            audit.text(body.decode("utf-8", "replace"))
            audit.objects_read += 1
    # The encrypted backup's side files, decrypted with the key.
    for what in ("logs", "results"):
        assert described["backup"][what]
    audit.text(json.dumps(described["backup"]))

    assert argv.processes_seen > 0
    assert argv.leaks == [], argv.leaks
    assert audit.objects_read >= 10
    assert audit.leaks() == []
    core_v1.delete_namespace(target)


def test_no_log_hides_the_secrets_in_verbose_playbook_output(bed, storage_location, tmp_path):
    """ansible-playbook -vvv prints a module's invocation: every secret option is no_log."""
    location = dict(storage_location, prefix="audit-pb-" + uuid.uuid4().hex[:6])
    playbook = tmp_path / "audit.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "backup with every secret option set", "kubedr.backup.k8s_backup": {
                "kubeconfig": bed["KUBECONFIG"], "storage_location": location, "name": "pb",
                "included_namespaces": ["default"], "included_resources": ["configmaps"],
                "repository_password": PASSWORD, "encryption": {"passphrase": PASSPHRASE}}},
            {"name": "describe it", "kubedr.backup.k8s_backup_info": {
                "storage_location": location, "name": "pb", "logs": True, "encryption": {"passphrase": PASSPHRASE}}},
        ]}]))
    verbose = testbed.run_playbook(str(playbook), {}, env={"ANSIBLE_VERBOSITY": "3"})
    assert verbose.returncode == 0, verbose.stdout[-3000:]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in verbose.stdout  # -vvv really printed the invocation
    for secret in (PASSWORD, PASSPHRASE, bed["KUBEDR_S3_SECRET_KEY"]):
        assert secret not in verbose.stdout
