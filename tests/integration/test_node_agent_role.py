"""roles/node_agent against the test bed: objects, pods on both kwok nodes, idempotence,
argument validation, restic exec'd through the node agent (kwok runs it locally), removal."""
import base64
import filecmp
import json
import os
import shutil
import sys
import time
import uuid

import pytest

import testbed

testbed.ensure_collection_path()
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "node_agent.yml")
NAMESPACE = "kubedr-node-agent-it"
PASSWORD = "na-" + uuid.uuid4().hex
S3_SECRET = "s3-" + uuid.uuid4().hex
LABEL = "app.kubernetes.io/name=kubedr-node-agent"


def play(bed, **extra):
    extra_vars = dict(
        ansible_python_interpreter=sys.executable,
        node_agent_kubeconfig=bed["KUBECONFIG"],
        node_agent_namespace=NAMESPACE,
        node_agent_repository_password=PASSWORD,
        node_agent_s3_access_key="node-agent-access",
        node_agent_s3_secret_key=S3_SECRET,
        node_agent_s3_region="us-east-1",
        node_agent_host_pods_mount=bed["KUBEDR_HOST_PODS_DIR"],
        node_agent_wait_timeout=120,
    )
    extra_vars.update(extra)
    proc = testbed.run_playbook(PLAYBOOK, extra_vars, timeout=600)
    assert PASSWORD not in proc.stdout and S3_SECRET not in proc.stdout
    return proc


def recap_changed(output):
    for line in output.splitlines():
        if line.startswith("localhost") and "changed=" in line:
            return int(line.split("changed=")[1].split()[0])
    raise AssertionError("no play recap in:\n" + output[-2000:])


@pytest.fixture(scope="module")
def agent(bed):
    proc = play(bed)
    assert proc.returncode == 0, proc.stdout[-4000:]
    yield proc
    play(bed, node_agent_state="absent")


def agent_pods(core_v1):
    return core_v1.list_namespaced_pod(NAMESPACE, label_selector=LABEL).items


def test_objects(agent, apps_v1, core_v1, api_client):
    assert recap_changed(agent.stdout) > 0
    ds = apps_v1.read_namespaced_daemon_set("kubedr-node-agent", NAMESPACE)
    assert ds.metadata.labels["app.kubernetes.io/name"] == "kubedr-node-agent"
    spec = ds.spec.template.spec
    assert spec.service_account_name == "kubedr-node-agent"
    assert [(t.operator, t.key, t.effect) for t in spec.tolerations] == [("Exists", None, None)]
    container = spec.containers[0]
    assert container.security_context.privileged is True
    assert container.image == "docker.io/restic/restic:0.17.3"
    assert container.command[:2] == ["/bin/sh", "-c"]
    mount = [m for m in container.volume_mounts if m.name == "host-pods"][0]
    assert mount.mount_path == os.environ["KUBEDR_HOST_PODS_DIR"]
    assert mount.mount_propagation == "HostToContainer" and not mount.read_only
    host = [v for v in spec.volumes if v.name == "host-pods"][0]
    assert host.host_path.path == "/var/lib/kubelet/pods"
    assert [e.secret_ref.name for e in container.env_from] == ["kubedr-node-agent"]
    env = dict((e.name, e.value) for e in container.env)
    assert env["AWS_DEFAULT_REGION"] == "us-east-1" and "RESTIC_PASSWORD" not in env
    raw = json.dumps(api_client.sanitize_for_serialization(ds))
    assert PASSWORD not in raw and S3_SECRET not in raw

    sa = core_v1.read_namespaced_service_account("kubedr-node-agent", NAMESPACE)
    assert sa.automount_service_account_token is False
    secret = core_v1.read_namespaced_secret("kubedr-node-agent", NAMESPACE)
    assert sorted(secret.data) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RESTIC_PASSWORD"]
    assert base64.b64decode(secret.data["RESTIC_PASSWORD"]).decode() == PASSWORD
    ns = core_v1.read_namespace(NAMESPACE)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"


def test_pods_running_on_every_node(agent, core_v1):
    nodes = sorted(n.metadata.name for n in core_v1.list_node().items)
    assert len(nodes) >= 2
    deadline = time.time() + 90
    while True:
        pods = agent_pods(core_v1)
        running = sorted(p.spec.node_name for p in pods if p.status.phase == "Running")
        if running == nodes or time.time() > deadline:
            break
        time.sleep(2)
    assert running == nodes


def test_second_run_changes_nothing(agent, bed):
    proc = play(bed)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap_changed(proc.stdout) == 0


def test_argument_spec_rejects_wrong_type(bed):
    proc = play(bed, node_agent_tolerations=5)
    assert proc.returncode != 0
    assert "node_agent_tolerations" in proc.stdout and "list" in proc.stdout


def test_password_required(bed):
    proc = play(bed, node_agent_repository_password="")
    assert proc.returncode != 0 and "node_agent_repository_password is required" in proc.stdout


def test_restic_exec_in_node_agent(agent, core_v1, api_client):
    pod = agent_pods(core_v1)[0].metadata.name
    res = exec_in_pod(api_client, NAMESPACE, pod, ["restic", "version"])
    assert res.rc == 0 and "restic 0." in res.stdout


@pytest.fixture
def scratch(bed, s3):
    """Pod directories under the test bed's host pods directory and a repository prefix, removed afterwards."""
    made = dict(dirs=[], prefix="it-node-agent-" + uuid.uuid4().hex[:8])
    yield made
    for path in made["dirs"]:
        shutil.rmtree(path, ignore_errors=True)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bed["KUBEDR_S3_BUCKET"], Prefix=made["prefix"] + "/")
    for page in pages:
        keys = [dict(Key=o["Key"]) for o in page.get("Contents") or []]
        if keys:
            s3.delete_objects(Bucket=bed["KUBEDR_S3_BUCKET"], Delete=dict(Objects=keys))


def test_volume_backup_and_restore_through_node_agent(agent, bed, core_v1, api_client, storage_location, scratch):
    """restic backup of a pod volume directory and restore into another, both exec'd in the
    node agent with the password and S3 keys on stdin (kwok's exec has no pod environment)."""
    pods_dir = bed["KUBEDR_HOST_PODS_DIR"]
    src_uid, dst_uid = str(uuid.uuid4()), str(uuid.uuid4())
    src = os.path.join(pods_dir, src_uid, "volumes", "kubernetes.io~empty-dir", "data")
    dst = os.path.join(pods_dir, dst_uid, "volumes", "kubernetes.io~empty-dir", "data")
    scratch["dirs"] += [os.path.join(pods_dir, src_uid), os.path.join(pods_dir, dst_uid),
                        os.path.join(pods_dir, ".restic-cache-it")]
    os.makedirs(src)
    os.makedirs(dst)
    for name, content in (("1.txt", "one\n"), ("2.txt", "two\n"), ("sub/3.bin", os.urandom(4096))):
        path = os.path.join(src, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    loc = dict(storage_location, prefix=scratch["prefix"])
    repo = repository.Repository.from_storage_location(loc, "app", password=PASSWORD,
                                                       cache_dir=os.path.join(pods_dir, ".restic-cache-it"))
    stdin_env = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    pod = agent_pods(core_v1)[0].metadata.name

    command = runner.pod_command(restic.backup_command(repo, tags={"backup": "b1"}), cwd=src, stdin_env=stdin_env,
                                 repo=repo)
    assert all(secret not in " ".join(command) for secret in (PASSWORD, loc["secret_key"], loc["access_key"]))

    assert runner.ensure_repository_in_pod(api_client, NAMESPACE, pod, repo, stdin_env=stdin_env) is True
    assert runner.ensure_repository_in_pod(api_client, NAMESPACE, pod, repo, stdin_env=stdin_env) is False
    tags = restic.volume_tags("b1", "uid-1", "web-0", src_uid, "app", "data")
    summary = runner.volume_backup_in_pod(api_client, NAMESPACE, pod, repo, src, tags, stdin_env=stdin_env)
    assert summary["files_new"] == 3 and not summary["incomplete"] and summary["snapshot_id"]

    snaps = restic.parse_snapshots(runner.run_local(repo, restic.snapshots_command(repo, tags=["backup=b1"]),
                                                    "snapshots").stdout)
    snap = restic.find_snapshot(snaps, summary["snapshot_id"])
    assert snap["tag_map"]["pod-uid"] == src_uid and snap["hostname"] == "velero" and snap["paths"] == [src]

    runner.volume_restore_in_pod(api_client, NAMESPACE, pod, repo, snap["id"], dst, stdin_env=stdin_env)
    comparison = filecmp.dircmp(src, dst)
    assert sorted(comparison.same_files) == ["1.txt", "2.txt"] and not comparison.diff_files
    assert filecmp.cmp(os.path.join(src, "sub/3.bin"), os.path.join(dst, "sub/3.bin"), shallow=False)

    wrong = repository.Repository.from_storage_location(loc, "app", password="wrong-password-42")
    with pytest.raises(restic.ResticError) as err:
        runner.volume_backup_in_pod(api_client, NAMESPACE, pod, wrong, src, tags, stdin_env=stdin_env)
    assert err.value.kind == "wrong_password" and "wrong-password-42" not in str(err.value)


def test_new_password_rolls_the_pods(agent, bed, apps_v1, api_client):
    def template_version():
        ds = apps_v1.read_namespaced_daemon_set("kubedr-node-agent", NAMESPACE)
        return (ds.spec.template.metadata.annotations or {}).get("kubedr.backup/secret-version"), ds
    before, unused = template_version()
    assert before
    other = "na2-" + uuid.uuid4().hex
    proc = play(bed, node_agent_repository_password=other)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert other not in proc.stdout and recap_changed(proc.stdout) >= 2
    after, ds = template_version()
    assert after and after != before
    assert other not in json.dumps(api_client.sanitize_for_serialization(ds))


def test_absent_removes_everything(agent, bed, core_v1, apps_v1):
    proc = play(bed, node_agent_state="absent")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap_changed(proc.stdout) > 0
    names = [n.metadata.name for n in core_v1.list_namespace().items]
    assert NAMESPACE not in names
    again = play(bed, node_agent_state="absent")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0
