"""Restore drills (ansible-playbook kubedr.backup.verify, the collection installed) on backups the product makes:
the newest Completed backup of a schedule restored into scratch namespaces, its Deployment ready (kwok runs its
pods), the user's checks run, the outcome recorded beside the backup and shown by k8s_backup_info as
last_verification, and the scratch namespaces deleted whatever happened."""
import json
import textwrap

import pytest

import testbed
import test_schedule
from test_playbooks_support import (  # noqa: F401 pylint: disable=unused-import
    delete_quietly, module_location, playbook, prefixed_location, role, run_argv, s3_env, subject_access, unique,
)


schedule = test_schedule.schedule  # the fixture: a schedule in namespaces of its own, removed afterwards


@pytest.fixture
def location(prefixed_location):
    return prefixed_location


def app(apps_v1, core_v1, namespace, name, node_selector=None):
    """A ConfigMap and a one-replica Deployment (optionally pinned to nodes that do not exist)."""
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"greeting": "hello"}})
    pod_spec = {"containers": [{"name": "main", "image": "busybox"}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    apps_v1.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}})


def backup(bed, location, namespace, name, schedule_name):
    result = testbed.run_module("k8s_backup", dict(
        name=name, included_namespaces=[namespace], labels={"velero.io/schedule-name": schedule_name},
        kubeconfig=bed["KUBECONFIG"], storage_location=module_location(bed, location)))
    assert not result.failed and result["phase"] == "Completed", result.get("msg")


def described(bed, location, name):
    result = testbed.run_module("k8s_backup_info", {"name": name, "storage_location": module_location(bed, location)})
    assert not result.failed, result.get("msg")
    return result["backup"]


def namespaces(core_v1):
    return [n.metadata.name for n in core_v1.list_namespace().items]


def final_task(out):
    """What the play's last task, the one that fails the play with the drill's reasons, printed."""
    return out.rpartition("TASK [Fail when the drill failed, or its record or teardown did]")[2]


CHECKS = textwrap.dedent("""\
    - name: Read the restored settings
      kubernetes.core.k8s_info:
        kind: ConfigMap
        name: settings
        namespace: "{{ kubedr_verify_namespaces[0] }}"
      register: settings
    - name: The greeting survived the restore
      ansible.builtin.assert:
        that: settings.resources[0].data.greeting == "%s"
        fail_msg: "greeting is {{ settings.resources[0].data.greeting }}"
    """)


def test_a_drill_restores_checks_records_and_cleans_up(bed, apps_v1, core_v1, namespace, location, s3, tmp_path):
    app(apps_v1, core_v1, namespace, "web")
    backup(bed, location, namespace, "drill-1-old", "drill")
    backup(bed, location, namespace, "drill-2-new", "drill")
    checks = tmp_path / "checks.yml"
    checks.write_text(CHECKS % "hello")
    suffix = unique("d")
    scratch = "%s-%s" % (namespace, suffix)
    variables = {"kubedr_storage_location": location, "kubedr_schedule_name": "drill", "kubedr_verify_suffix": suffix,
                 "kubedr_verify_checks_file": str(checks), "kubedr_verify_timeout": 60, "kubedr_poll_interval": 1}

    preview = playbook(bed, "kubedr.backup.verify", variables, env=s3_env(bed), check=True).stdout
    assert "Restore into the scratch namespaces %s" % scratch in preview
    assert described(bed, location, "drill-2-new")["last_verification"] is None and scratch not in namespaces(core_v1)

    out = playbook(bed, "kubedr.backup.verify", variables, env=s3_env(bed)).stdout
    assert "Drill of drill-2-new: Passed" in out and "1 workloads ready" in out, out[-3000:]
    assert "TASK [The greeting survived the restore]" in out
    assert scratch not in namespaces(core_v1)  # deleted (waited for) at the end
    last = described(bed, location, "drill-2-new")["last_verification"]
    assert last["phase"] == "Passed" and last["namespace_mapping"] == {namespace: scratch}
    assert last["failed_step"] is None and last["record"].endswith(".json")
    assert described(bed, location, "drill-1-old")["last_verification"] is None
    key = "%s/backups/drill-2-new/" % location["prefix"]
    records = [o["Key"] for o in s3.list_objects_v2(Bucket=location["bucket"], Prefix=key)["Contents"]
               if "-verification-" in o["Key"]]
    assert len(records) == 1
    record = json.loads(s3.get_object(Bucket=location["bucket"], Key=records[0])["Body"].read())
    assert record["readyWorkloads"] == ["Deployment/%s/web" % scratch] and record["kind"] == "BackupVerification"
    assert bed["KUBEDR_S3_SECRET_KEY"] not in out and bed["KUBEDR_S3_SECRET_KEY"] not in json.dumps(record)

    # A check that fails: the play fails naming the step and why, the record says so, nothing is left behind; the
    # first record stays (each drill writes its own).
    checks.write_text(CHECKS % "bonjour")
    failed = playbook(bed, "kubedr.backup.verify", dict(variables, kubedr_backup_name="drill-2-new"), env=s3_env(bed),
                      expect_ok=False).stdout
    assert "Drill of drill-2-new: Failed at 'The greeting survived the restore': greeting is hello" in failed, failed[-2500:]
    assert 'FAILED! => {"changed": false, "msg": "greeting is hello"}' in final_task(failed), failed[-2500:]
    assert scratch not in namespaces(core_v1)
    last = described(bed, location, "drill-2-new")["last_verification"]
    assert last["phase"] == "Failed" and last["message"] == "greeting is hello"
    assert len([o for o in s3.list_objects_v2(Bucket=location["bucket"], Prefix=key)["Contents"]
                if "-verification-" in o["Key"]]) == 2


def test_a_workload_that_never_becomes_ready_fails_the_drill_by_name(bed, apps_v1, core_v1, namespace, location):
    app(apps_v1, core_v1, namespace, "stuck", node_selector={"kubedr.test/no-such-node": "true"})
    backup(bed, location, namespace, "stuck-1", "stuck")
    suffix = unique("d")
    out = playbook(bed, "kubedr.backup.verify", {
        "kubedr_storage_location": location, "kubedr_schedule_name": "stuck", "kubedr_verify_suffix": suffix,
        "kubedr_verify_timeout": 3, "kubedr_poll_interval": 1}, env=s3_env(bed), expect_ok=False).stdout
    scratch = "%s-%s" % (namespace, suffix)
    assert "1 workloads not ready after 3s: Deployment/%s/stuck" % scratch in out
    assert "1 workloads not ready after 3s: Deployment/%s/stuck" % scratch in final_task(out), out[-4000:]
    assert "scratch namespaces not deleted" not in out and scratch not in namespaces(core_v1), out[-4000:]
    last = described(bed, location, "stuck-1")["last_verification"]
    assert last["phase"] == "Failed" and last["not_ready_workloads"] == ["Deployment/%s/stuck" % scratch]
    assert last["failed_step"] == "Fail on the workloads that did not become ready"


def test_the_schedule_role_renders_a_drill_cronjob_that_drills(bed, api_client, core_v1, apps_v1, schedule,
                                                               namespace, tmp_path):
    """schedule_verify: a second CronJob <name>-verify running the verify playbook with the schedule's Secret and
    ServiceAccount, now bound to the restore role; its exact command, run with the pod's environment, drills the
    schedule's newest backup. Turned off, the CronJob and the binding go."""
    from kubernetes import client

    restore_role = schedule["schedule_backup_cluster_role"] + "-restore"  # removed with the fixture's bindings
    role_vars = dict(schedule, schedule_backup_options={"included_namespaces": [namespace]}, schedule_verify=True,
                     schedule_verify_cron="15 6 * * 0", schedule_verify_timeout=60, schedule_restore_cluster_role=restore_role,
                     schedule_verify_extra_vars={"kubedr_poll_interval": 1})
    batch, rbac = client.BatchV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    name, sched_namespace = schedule["schedule_name"], schedule["schedule_namespace"]
    user = "system:serviceaccount:%s:kubedr-schedule-%s" % (sched_namespace, name)
    try:
        role(bed, "schedule", role_vars)
        drill = batch.read_namespaced_cron_job(name + "-verify", sched_namespace)
        assert drill.spec.schedule == "15 6 * * 0" and drill.spec.suspend is True
        pod = drill.spec.job_template.spec.template.spec
        (container,) = pod.containers
        assert container.name == "verify" and container.command[:3] == ["ansible-playbook", "kubedr.backup.verify", "-e"]
        drill_vars = json.loads(container.command[3])
        assert drill_vars["kubedr_schedule_name"] == name and drill_vars["kubedr_verify_timeout"] == 60
        assert drill_vars["kubedr_storage_location"] == schedule["schedule_storage_location"]
        assert bed["KUBEDR_S3_SECRET_KEY"] not in container.command[3]
        assert sorted(e.name for e in container.env if e.value_from) == [
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "KUBEDR_REPOSITORY_PASSWORD", "KUBEDR_WEBHOOK_URL"]
        backup_job = batch.read_namespaced_cron_job(name, sched_namespace)
        assert backup_job.spec.job_template.spec.template.spec.containers[0].command[:3] == [
            "ansible-playbook", "kubedr.backup.backup", "kubedr.backup.gc"]
        assert subject_access(api_client, user, "create", "configmaps", "any-namespace")
        assert subject_access(api_client, user, "delete", "namespaces")

        # The backup CronJob's command makes the schedule's backup, then the drill CronJob's command drills it.
        app(apps_v1, core_v1, namespace, "web")
        backup_container, env = test_schedule.cronjob_env(bed, api_client, core_v1, role_vars, tmp_path)
        proc = run_argv(backup_container.command, env)
        assert proc.returncode == 0, proc.stdout[-4000:]
        proc = run_argv(container.command, env)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "Drill of %s-" % name in proc.stdout and ": Passed; 1 workloads ready" in proc.stdout
        # The scratch copies are gone (the test's own namespace has "-drill-" in its name too).
        assert [n for n in namespaces(core_v1) if n != namespace and n.startswith(namespace[:40]) and "-drill-" in n] == []

        role(bed, "schedule", dict(role_vars, schedule_verify=False))
        assert [j.metadata.name for j in batch.list_namespaced_cron_job(sched_namespace).items] == [name]
        assert not subject_access(api_client, user, "create", "configmaps", "any-namespace")
    finally:
        delete_quietly(rbac.delete_cluster_role, restore_role)
