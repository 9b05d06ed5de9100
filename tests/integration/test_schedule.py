"""roles/schedule against the test bed: the CronJob and its identity as specified, idempotence, argument specs;
the CronJob's exact container command, run here with the environment the pod would get (its Secret's keys, its
ServiceAccount through impersonation), makes a Completed backup carrying the schedule label, which
k8s_restore schedule_name then finds; with pod volumes and the node agent in schedule_node_agent_namespace, every
volume is saved (the repository password reaches the modules as KUBEDR_REPOSITORY_PASSWORD from the Secret)."""
import base64
import gzip
import json
import os
import re
import sys
import uuid

import pytest

import testbed
from test_playbooks_support import (
    assert_no_changes, backups, configmaps, delete_prefix, delete_quietly, location_vars, role, run_argv, subject_access,
    unique,
)
from testbed import wait_for

IMAGE = "registry.invalid/kubedr-backup-ee:test"  # the role needs one; the test bed runs the command itself
PASSWORD = "sched-" + uuid.uuid4().hex
NODE_AGENT_PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "node_agent.yml")


@pytest.fixture
def schedule(bed, storage_location, api_client, core_v1, s3, request):
    """Variables of a schedule in namespaces of its own; everything it creates is removed afterwards."""
    from kubernetes import client

    suffix = unique("ops")
    location = location_vars(storage_location, "schedule")
    role_vars = {
        "schedule_name": "nightly-" + suffix.split("-")[1], "schedule_namespace": suffix + "-sched",
        "schedule_node_agent_namespace": suffix + "-na", "schedule_backup_cluster_role": suffix + "-backup",
        "schedule_suspend": True, "schedule_cron": "30 1 * * *", "schedule_ttl": "48h",
        "schedule_storage_location": location, "schedule_access_key": bed["KUBEDR_S3_ACCESS_KEY"],
        "schedule_secret_key": bed["KUBEDR_S3_SECRET_KEY"], "schedule_repository_password": PASSWORD,
        "schedule_image": IMAGE,
        "schedule_poll_interval": 1,  # the CronJob's command polls its backup every second, not every 30 s
    }
    yield role_vars
    rbac = client.RbacAuthorizationV1Api(api_client)
    delete_quietly(rbac.delete_cluster_role, role_vars["schedule_backup_cluster_role"])
    for binding in rbac.list_cluster_role_binding().items:
        if binding.metadata.name.startswith(role_vars["schedule_backup_cluster_role"]):
            delete_quietly(rbac.delete_cluster_role_binding, binding.metadata.name)
    delete_quietly(core_v1.delete_namespace, role_vars["schedule_namespace"])
    delete_quietly(core_v1.delete_namespace, role_vars["schedule_node_agent_namespace"])
    delete_prefix(s3, location)


def cronjob(api_client, role_vars):
    from kubernetes import client

    return client.BatchV1Api(api_client).read_namespaced_cron_job(role_vars["schedule_name"], role_vars["schedule_namespace"])


def cronjob_env(bed, api_client, core_v1, role_vars, tmp_path):
    """The CronJob's container and exactly the environment its pod would get: the literal values, the Secret's keys
    (an optional key the Secret lacks is left out, as the kubelet does), and the ServiceAccount (impersonated through
    the test bed's kubeconfig instead of a mounted token). The image has the collection installed."""
    pod = cronjob(api_client, role_vars).spec.job_template.spec.template.spec
    (container,) = pod.containers
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
           "ANSIBLE_COLLECTIONS_PATH": testbed.ensure_collection_path(), "KUBECONFIG": bed["KUBECONFIG"],
           "K8S_AUTH_IMPERSONATE_USER": "system:serviceaccount:%s:%s" % (role_vars["schedule_namespace"],
                                                                         pod.service_account_name)}
    for entry in container.env:
        if entry.value_from:
            ref = entry.value_from.secret_key_ref
            data = core_v1.read_namespaced_secret(ref.name, role_vars["schedule_namespace"]).data or {}
            if ref.key in data:
                env[entry.name] = base64.b64decode(data[ref.key]).decode()
            else:
                assert ref.optional, "the Secret %s has no key %s" % (ref.name, ref.key)
        else:
            env[entry.name] = entry.value
    env["HOME"] = str(tmp_path)  # the container's /tmp
    env["ANSIBLE_ASYNC_DIR"] = str(tmp_path / ".ansible_async")
    return container, env


def test_cronjob_objects_and_idempotence(bed, api_client, core_v1, schedule):
    first = role(bed, "schedule", dict(schedule, schedule_backup_options={"included_namespaces": ["shop"]}))
    assert bed["KUBEDR_S3_SECRET_KEY"] not in first.stdout
    namespace, name = schedule["schedule_namespace"], schedule["schedule_name"]
    service_account = "kubedr-schedule-" + name

    job = cronjob(api_client, schedule)
    assert job.spec.schedule == "30 1 * * *" and job.spec.suspend is True
    assert job.spec.concurrency_policy == "Forbid"
    assert job.metadata.labels["velero.io/schedule-name"] == name
    pod = job.spec.job_template.spec.template.spec
    assert pod.service_account_name == service_account and pod.restart_policy == "Never"
    container = pod.containers[0]
    assert container.image == IMAGE
    assert container.command[:4] == ["ansible-playbook", "kubedr.backup.backup", "kubedr.backup.gc", "-e"]
    playbook_vars = json.loads(container.command[4])
    assert playbook_vars["kubedr_schedule_name"] == name and playbook_vars["kubedr_ttl"] == "48h"
    # The backups look for the node agent where the role grants exec.
    assert playbook_vars["kubedr_backup_options"] == {
        "included_namespaces": ["shop"], "node_agent": {"namespace": schedule["schedule_node_agent_namespace"]}}
    for secret_value in (bed["KUBEDR_S3_SECRET_KEY"], PASSWORD):
        assert secret_value not in json.dumps(container.command) and secret_value not in first.stdout
    assert "secret_key" not in json.dumps(playbook_vars) and "password" not in json.dumps(playbook_vars)
    # The password is KUBEDR_REPOSITORY_PASSWORD, the variable the modules' repository_password option reads.
    secret_refs = dict((e.name, (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key))
                       for e in container.env if e.value_from)
    secret_name = "kubedr-schedule-" + name
    assert secret_refs == {"AWS_ACCESS_KEY_ID": (secret_name, "AWS_ACCESS_KEY_ID"),
                           "AWS_SECRET_ACCESS_KEY": (secret_name, "AWS_SECRET_ACCESS_KEY"),
                           "KUBEDR_REPOSITORY_PASSWORD": (secret_name, "KUBEDR_REPOSITORY_PASSWORD"),
                           "KUBEDR_WEBHOOK_URL": (secret_name, "KUBEDR_WEBHOOK_URL")}

    secret = core_v1.read_namespaced_secret(secret_name, namespace)
    assert sorted(secret.data) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "KUBEDR_REPOSITORY_PASSWORD"]
    assert base64.b64decode(secret.data["KUBEDR_REPOSITORY_PASSWORD"]).decode() == PASSWORD
    core_v1.read_namespaced_service_account(service_account, namespace)

    user = "system:serviceaccount:%s:%s" % (namespace, service_account)
    assert subject_access(api_client, user, "list", "secrets")
    assert not subject_access(api_client, user, "create", "configmaps", namespace)
    assert subject_access(api_client, user, "create", "pods", schedule["schedule_node_agent_namespace"], subresource="exec")

    assert_no_changes(role(bed, "schedule", dict(schedule, schedule_backup_options={"included_namespaces": ["shop"]})).stdout)


def test_cronjob_command_makes_a_labelled_backup(bed, api_client, core_v1, schedule, namespace, tmp_path):
    configmaps(core_v1, namespace)
    role(bed, "schedule", dict(schedule, schedule_backup_options={"included_namespaces": [namespace]}))
    container, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)

    proc = run_argv(container.command, env)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert bed["KUBEDR_S3_SECRET_KEY"] not in proc.stdout and PASSWORD not in proc.stdout
    assert "Completed" in proc.stdout and "backups expired" in proc.stdout  # backup then gc
    # The async job's files are gone once it ended (wait_for_run cleans up), and so is the run's pid file.
    assert os.listdir(env["ANSIBLE_ASYNC_DIR"]) == []

    location = schedule["schedule_storage_location"]
    stored = backups(bed, location)
    assert len(stored) == 1
    (name, backup), = stored.items()
    assert re.match("^%s-[0-9]{14}$" % schedule["schedule_name"], name)
    assert backup["phase"] == "Completed" and backup["item_count"] >= 3
    assert backup["labels"]["velero.io/schedule-name"] == schedule["schedule_name"]

    # k8s_restore finds it by schedule name.
    restore = testbed.run_module("k8s_restore", {
        "schedule_name": schedule["schedule_name"], "kubeconfig": bed["KUBECONFIG"],
        "storage_location": dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"]),
    }, check_mode=True)
    assert not restore.failed, restore.get("msg")
    assert restore["backup_name"] == name


def test_schedule_absent_removes_its_objects(bed, api_client, core_v1, schedule):
    from kubernetes import client

    role(bed, "schedule", schedule)
    role(bed, "schedule", dict(schedule, schedule_state="absent"))
    namespace = schedule["schedule_namespace"]
    batch = client.BatchV1Api(api_client)
    assert batch.list_namespaced_cron_job(namespace).items == []
    assert [s.metadata.name for s in core_v1.list_namespaced_secret(namespace).items] == []
    assert "kubedr-schedule-" + schedule["schedule_name"] not in [
        s.metadata.name for s in core_v1.list_namespaced_service_account(namespace).items]
    user = "system:serviceaccount:%s:kubedr-schedule-%s" % (namespace, schedule["schedule_name"])
    assert not subject_access(api_client, user, "list", "secrets")
    # The shared ClusterRole stays for other schedules.
    client.RbacAuthorizationV1Api(api_client).read_cluster_role(schedule["schedule_backup_cluster_role"])


def test_schedule_argument_specs_reject_bad_input(bed, schedule):
    wrong_type = role(bed, "schedule", dict(schedule, schedule_suspend="perhaps"), expect_ok=False)
    assert wrong_type.returncode != 0 and "schedule_suspend" in wrong_type.stdout and "bool" in wrong_type.stdout
    bad_choice = role(bed, "schedule", dict(schedule, schedule_runner="systemd"), expect_ok=False)
    assert "schedule_runner" in bad_choice.stdout and "cronjob, host" in bad_choice.stdout
    bad_name = role(bed, "schedule", dict(schedule, schedule_name="Nightly_Backup"), expect_ok=False)
    assert "schedule_name must be a lowercase DNS label" in bad_name.stdout
    # No image is published: the CronJob runner needs schedule_image, and says how to make one.
    no_image = dict(schedule)
    del no_image["schedule_image"]
    missing = role(bed, "schedule", no_image, expect_ok=False)
    assert missing.returncode != 0 and "schedule_image is required with schedule_runner=cronjob" in missing.stdout
    assert "make ee" in missing.stdout and "docs/operations.md" in missing.stdout
    conflicting = role(bed, "schedule", dict(schedule, schedule_backup_options={"node_agent": {"namespace": "elsewhere"}}),
                       expect_ok=False)
    assert conflicting.returncode != 0 and "differs from" in conflicting.stdout and "elsewhere" in conflicting.stdout


def test_deprecated_password_name_and_user_secret_with_restic_password(bed, api_client, core_v1, schedule, tmp_path):
    """schedule_restic_password still sets the password (under its one name); a user-made Secret of an older
    version, its password under RESTIC_PASSWORD, still reaches the modules as KUBEDR_REPOSITORY_PASSWORD."""
    old_name = dict(schedule, schedule_restic_password=PASSWORD)
    del old_name["schedule_repository_password"]
    role(bed, "schedule", old_name)
    unused, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)
    assert env["KUBEDR_REPOSITORY_PASSWORD"] == PASSWORD and "RESTIC_PASSWORD" not in env

    own = "own-" + schedule["schedule_name"]
    core_v1.create_namespaced_secret(schedule["schedule_namespace"], {"metadata": {"name": own}, "stringData": {
        "AWS_ACCESS_KEY_ID": bed["KUBEDR_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": bed["KUBEDR_S3_SECRET_KEY"],
        "RESTIC_PASSWORD": PASSWORD + "-own"}})
    user_secret = dict(schedule, schedule_storage_secret=own, schedule_access_key="", schedule_secret_key="",
                       schedule_repository_password="")
    role(bed, "schedule", user_secret)
    unused, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)
    assert env["KUBEDR_REPOSITORY_PASSWORD"] == PASSWORD + "-own" and "RESTIC_PASSWORD" not in env
    assert env["AWS_SECRET_ACCESS_KEY"] == bed["KUBEDR_S3_SECRET_KEY"]

    # Once the Secret has the new key, that one is used.
    core_v1.patch_namespaced_secret(own, schedule["schedule_namespace"], {"stringData": {
        "KUBEDR_REPOSITORY_PASSWORD": PASSWORD + "-new"}})
    role(bed, "schedule", user_secret)
    unused, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)
    assert env["KUBEDR_REPOSITORY_PASSWORD"] == PASSWORD + "-new"


def running_pod(core_v1, namespace, name):
    def check():
        pod = core_v1.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase == "Running" else None
    return wait_for(check, what="pod %s running" % name)


@pytest.fixture
def node_agent(bed, schedule):
    """The restic node agent (roles/node_agent) in the schedule's node agent namespace, with its password; the
    schedule fixture deletes that namespace afterwards."""
    extra = dict(ansible_python_interpreter=sys.executable, node_agent_kubeconfig=bed["KUBECONFIG"],
                 node_agent_namespace=schedule["schedule_node_agent_namespace"], node_agent_repository_password=PASSWORD,
                 node_agent_s3_access_key=bed["KUBEDR_S3_ACCESS_KEY"], node_agent_s3_secret_key=bed["KUBEDR_S3_SECRET_KEY"],
                 node_agent_s3_region="us-east-1", node_agent_host_pods_mount=bed["KUBEDR_HOST_PODS_DIR"],
                 node_agent_wait_timeout=120)
    proc = testbed.run_playbook(NODE_AGENT_PLAYBOOK, extra, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {"namespace": schedule["schedule_node_agent_namespace"], "host_pods_path": bed["KUBEDR_HOST_PODS_DIR"]}


def test_scheduled_backup_saves_every_pod_volume(bed, api_client, core_v1, s3, schedule, node_agent, namespace,
                                                 tmp_path):
    """The CronJob's exact command with exactly its environment, on an application with pod volumes: the backup is
    Completed with every volume in restic, through the node agent in schedule_node_agent_namespace (the only one the
    ServiceAccount may exec into), with the password from the Secret (nowhere in the arguments)."""
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    core_v1.create_namespaced_pod(namespace, {
        "metadata": {"name": "db"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}],
                 "volumes": [{"name": "data", "emptyDir": {}}, {"name": "logs", "emptyDir": {}}]}})
    pod = running_pod(core_v1, namespace, "db")
    contents = {}
    for volume in ("data", "logs"):
        directory = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", volume)
        os.makedirs(directory)
        contents[volume] = "%s %s\n" % (volume, uuid.uuid4().hex)
        with open(os.path.join(directory, "file.txt"), "w") as f:
            f.write(contents[volume])

    # The user's schedule: every pod volume, the node agent's host pods path of this test bed.
    role(bed, "schedule", dict(schedule, schedule_backup_options={
        "included_namespaces": [namespace], "default_volumes_to_fs_backup": True,
        "node_agent": {"host_pods_path": node_agent["host_pods_path"]}}))
    container, env = cronjob_env(bed, api_client, core_v1, schedule, tmp_path)
    assert env["KUBEDR_REPOSITORY_PASSWORD"] == PASSWORD
    assert PASSWORD not in json.dumps(container.command)

    proc = run_argv(container.command, env)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert PASSWORD not in proc.stdout and "repository_password was not given" not in proc.stdout

    location = schedule["schedule_storage_location"]
    (name, backup), = backups(bed, location).items()
    assert backup["phase"] == "Completed", proc.stdout[-6000:]
    key = "%s/backups/%s/%s-podvolumebackups.json.gz" % (location["prefix"], name, name)
    records = json.loads(gzip.decompress(s3.get_object(Bucket=location["bucket"], Key=key)["Body"].read()))
    assert sorted((r["spec"]["pod"]["name"], r["spec"]["volume"]) for r in records) == [("db", "data"), ("db", "logs")]
    assert all(r["status"]["phase"] == "Completed" and r["status"]["snapshotID"] for r in records), records

    # The snapshots are in the namespace's restic repository, readable with the schedule's password.
    snapshots = testbed.run_module("restic_repo", {
        "action": "snapshots", "volume_namespace": namespace, "tags": ["backup=" + name], "repository_password": PASSWORD,
        "storage_location": dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])})
    assert not snapshots.failed, snapshots.get("msg")
    ids = [s["id"] for s in snapshots["snapshots"]]
    assert len(ids) == 2 and all(len([i for i in ids if i.startswith(r["status"]["snapshotID"])]) == 1 for r in records), ids


def test_host_runner_cron_line_makes_a_labelled_backup(bed, core_v1, s3, namespace, storage_location, tmp_path):
    """schedule_runner=host: the cron entry's command, run by a shell as cron would, backs up and collects."""
    configmaps(core_v1, namespace)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "crontab").write_text("#!/bin/sh\nexit 0\n")  # the machine has no cron; the entry goes to a file
    (fake_bin / "crontab").chmod(0o755)
    location = location_vars(storage_location, "host-runner")
    name = unique("hourly").replace("-", "")[:14]
    role_vars = {
        "schedule_name": name, "schedule_runner": "host", "schedule_cron": "15 * * * *",
        "schedule_host_config_dir": str(tmp_path / "etc"), "schedule_host_cron_file": str(tmp_path / "cron.d" / "kubedr"),
        "schedule_host_log": str(tmp_path / "kubedr.log"), "schedule_host_kubeconfig": bed["KUBECONFIG"],
        "schedule_host_ansible_playbook": os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        "schedule_storage_location": location, "schedule_backup_options": {"included_namespaces": [namespace]},
        "schedule_access_key": bed["KUBEDR_S3_ACCESS_KEY"], "schedule_secret_key": bed["KUBEDR_S3_SECRET_KEY"],
        "schedule_repository_password": PASSWORD, "schedule_poll_interval": 1,
    }
    (tmp_path / "cron.d").mkdir()
    path_env = {"PATH": str(fake_bin) + os.pathsep + os.environ["PATH"]}
    role(bed, "schedule", role_vars, env=path_env)
    assert_no_changes(role(bed, "schedule", role_vars, env=path_env).stdout)

    env_file = tmp_path / "etc" / (name + ".env")
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert bed["KUBEDR_S3_SECRET_KEY"] in env_file.read_text()
    assert "export KUBEDR_REPOSITORY_PASSWORD=%s\n" % PASSWORD in env_file.read_text()
    assert "RESTIC_PASSWORD" not in env_file.read_text()
    host_vars = json.loads((tmp_path / "etc" / (name + ".json")).read_text())
    assert bed["KUBEDR_S3_SECRET_KEY"] not in json.dumps(host_vars) and PASSWORD not in json.dumps(host_vars)
    assert host_vars["kubedr_backup_options"]["node_agent"] == {"namespace": "kubedr-node-agent"}
    lines = [line for line in (tmp_path / "cron.d" / "kubedr").read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:6] == ["15", "*", "*", "*", "*", "root"]

    # cron's environment is bare: only what the host itself provides (the collection installed, ansible on disk).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": testbed.ensure_collection_path()}
    proc = run_argv(["/bin/sh", "-c", fields[6]], env)
    log = (tmp_path / "kubedr.log").read_text()
    assert proc.returncode == 0, log[-6000:]
    assert "backups expired" in log and bed["KUBEDR_S3_SECRET_KEY"] not in log and PASSWORD not in log
    stored = backups(bed, location)
    assert len(stored) == 1
    (backup_name, backup), = stored.items()
    assert re.match("^%s-[0-9]{14}$" % name, backup_name) and backup["phase"] == "Completed"
    assert backup["labels"]["velero.io/schedule-name"] == name

    role(bed, "schedule", dict(role_vars, schedule_state="absent"), env=path_env)
    delete_prefix(s3, location)
    assert not env_file.exists()
    cron_file = tmp_path / "cron.d" / "kubedr"
    assert not cron_file.exists() or "kubedr.backup schedule" not in cron_file.read_text()
