"""roles/schedule against the test bed: the CronJob and its identity as specified, idempotence, argument specs;
the CronJob's exact container command, run here with the environment the pod would get (its Secret's keys, its
ServiceAccount through impersonation), makes a Completed backup carrying the schedule label, which
k8s_restore schedule_name then finds."""
import base64
import json
import os
import re
import sys

import pytest

import testbed
from test_playbooks_support import (
    assert_no_changes, backups, configmaps, delete_prefix, delete_quietly, location_vars, role, run_argv, subject_access,
    unique,
)


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
        "schedule_secret_key": bed["KUBEDR_S3_SECRET_KEY"], "schedule_restic_password": "not-a-real-password",
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
    assert container.image == "ghcr.io/kubedr/kubedr-backup-ee:0.1.0"
    assert container.command[:4] == ["ansible-playbook", "kubedr.backup.backup", "kubedr.backup.gc", "-e"]
    playbook_vars = json.loads(container.command[4])
    assert playbook_vars["kubedr_schedule_name"] == name and playbook_vars["kubedr_ttl"] == "48h"
    assert playbook_vars["kubedr_backup_options"] == {"included_namespaces": ["shop"]}
    assert "secret_key" not in json.dumps(playbook_vars) and bed["KUBEDR_S3_SECRET_KEY"] not in json.dumps(playbook_vars)
    secret_refs = dict((e.name, e.value_from.secret_key_ref.name) for e in container.env if e.value_from)
    assert secret_refs == {"AWS_ACCESS_KEY_ID": "kubedr-schedule-" + name, "AWS_SECRET_ACCESS_KEY": "kubedr-schedule-" + name,
                           "RESTIC_PASSWORD": "kubedr-schedule-" + name}

    secret = core_v1.read_namespaced_secret("kubedr-schedule-" + name, namespace)
    assert sorted(secret.data) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RESTIC_PASSWORD"]
    core_v1.read_namespaced_service_account(service_account, namespace)

    user = "system:serviceaccount:%s:%s" % (namespace, service_account)
    assert subject_access(api_client, user, "list", "secrets")
    assert not subject_access(api_client, user, "create", "configmaps", namespace)
    assert subject_access(api_client, user, "create", "pods", schedule["schedule_node_agent_namespace"], subresource="exec")

    assert_no_changes(role(bed, "schedule", dict(schedule, schedule_backup_options={"included_namespaces": ["shop"]})).stdout)


def test_cronjob_command_makes_a_labelled_backup(bed, api_client, core_v1, schedule, namespace, tmp_path):
    configmaps(core_v1, namespace)
    role(bed, "schedule", dict(schedule, schedule_backup_options={"included_namespaces": [namespace]}))
    container = cronjob(api_client, schedule).spec.job_template.spec.template.spec.containers[0]

    # The pod's environment: literal values, the Secret's keys, and the ServiceAccount (impersonated through the
    # test bed's kubeconfig instead of a mounted token). The image has the collection installed.
    secret_name = [e.value_from.secret_key_ref.name for e in container.env if e.value_from][0]
    secret = core_v1.read_namespaced_secret(secret_name, schedule["schedule_namespace"])
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
           "ANSIBLE_COLLECTIONS_PATH": testbed.ensure_collection_path(), "KUBECONFIG": bed["KUBECONFIG"],
           "K8S_AUTH_IMPERSONATE_USER": "system:serviceaccount:%s:%s" % (
               schedule["schedule_namespace"], cronjob(api_client, schedule).spec.job_template.spec.template.spec.service_account_name)}
    for entry in container.env:
        if entry.value_from:
            env[entry.name] = base64.b64decode(secret.data[entry.value_from.secret_key_ref.key]).decode()
        else:
            env[entry.name] = entry.value
    env["HOME"] = str(tmp_path)  # the container's /tmp
    env["ANSIBLE_ASYNC_DIR"] = str(tmp_path / ".ansible_async")

    proc = run_argv(container.command, env)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert bed["KUBEDR_S3_SECRET_KEY"] not in proc.stdout
    assert "Completed" in proc.stdout and "backups expired" in proc.stdout  # backup then gc

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
    }
    (tmp_path / "cron.d").mkdir()
    path_env = {"PATH": str(fake_bin) + os.pathsep + os.environ["PATH"]}
    role(bed, "schedule", role_vars, env=path_env)
    assert_no_changes(role(bed, "schedule", role_vars, env=path_env).stdout)

    env_file = tmp_path / "etc" / (name + ".env")
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert bed["KUBEDR_S3_SECRET_KEY"] in env_file.read_text()
    assert bed["KUBEDR_S3_SECRET_KEY"] not in (tmp_path / "etc" / (name + ".json")).read_text()
    lines = [line for line in (tmp_path / "cron.d" / "kubedr").read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:6] == ["15", "*", "*", "*", "*", "root"]

    # cron's environment is bare: only what the host itself provides (the collection installed, ansible on disk).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": testbed.ensure_collection_path()}
    proc = run_argv(["/bin/sh", "-c", fields[6]], env)
    log = (tmp_path / "kubedr.log").read_text()
    assert proc.returncode == 0, log[-6000:]
    assert "backups expired" in log and bed["KUBEDR_S3_SECRET_KEY"] not in log
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
