"""The backup and restore playbooks through AWX's engine, ansible-runner, as an AWX job template runs them: a
project playbook importing the collection's, the inventory and extra variables in the private data directory,
and as the only credentials the environment AWX's "OpenShift or Kubernetes API Bearer Token" credential
(K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL, K8S_AUTH_SSL_CA_CERT: a file AWX writes into the private
data directory) and "Amazon Web Services" credential (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) inject - no
kubeconfig, no home directory with one. The token is a ServiceAccount's, bound to the ClusterRoles of the
kubedr.backup.rbac role. The playbooks publish their outcome with set_stats: the artifacts an AWX workflow hands to
its next node; the restore job takes the backup's name from the backup job's artifacts."""
import os
import stat
import sys
import tempfile
import time
import uuid

import pytest
import yaml

import testbed
from test_playbooks_support import backups, delete_prefix, delete_quietly, location_vars, role, unique

CREDENTIAL_ENV = ("K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_VERIFY_SSL", "K8S_AUTH_SSL_CA_CERT",
                  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def awx_identity(bed, api_client, core_v1):
    """A ServiceAccount bound to the backup and restore ClusterRoles of roles/rbac, and a token of it."""
    suffix = unique("awx")
    names = {"rbac_backup_cluster_role": suffix + "-backup", "rbac_restore_cluster_role": suffix + "-restore",
             "rbac_node_agent_namespace": suffix + "-na"}
    core_v1.create_namespace({"metadata": {"name": suffix}})
    core_v1.create_namespaced_service_account(suffix, {"metadata": {"name": "awx"}})
    subjects = [{"kind": "ServiceAccount", "name": "awx", "namespace": suffix}]
    role_vars = dict(names, rbac_backup_subjects=subjects, rbac_restore_subjects=subjects)
    role(bed, "rbac", role_vars)
    token = core_v1.create_namespaced_service_account_token("awx", suffix, {"spec": {"expirationSeconds": 3600}})
    yield {"token": token.status.token, "user": "system:serviceaccount:%s:awx" % suffix}
    role(bed, "rbac", dict(role_vars, rbac_state="absent"))
    for namespace in (suffix, names["rbac_node_agent_namespace"]):
        delete_quietly(core_v1.delete_namespace, namespace)


@pytest.fixture
def location(storage_location, s3):
    location = location_vars(storage_location, "awx")
    yield location
    delete_prefix(s3, location)


def credential_env(bed, token, private_data_dir):
    """What the two AWX credentials inject, the CA written to a file in the job's private data directory."""
    with open(bed["KUBECONFIG"]) as handle:
        cluster = yaml.safe_load(handle)["clusters"][0]["cluster"]
    with open(cluster["certificate-authority"]) as handle:
        ca = handle.read()
    os.makedirs(os.path.join(private_data_dir, "env"), exist_ok=True)
    fd, ca_path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
    with os.fdopen(fd, "w") as handle:
        os.chmod(ca_path, stat.S_IRUSR | stat.S_IWUSR)
        handle.write(ca)
    return {"K8S_AUTH_HOST": cluster["server"], "K8S_AUTH_API_KEY": token, "K8S_AUTH_VERIFY_SSL": "True",
            "K8S_AUTH_SSL_CA_CERT": ca_path, "AWS_ACCESS_KEY_ID": bed["KUBEDR_S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": bed["KUBEDR_S3_SECRET_KEY"]}


def rendered_injectors(type_file, inputs):
    """The environment a custom credential type of docs/awx/credential-types injects for these inputs."""
    import jinja2

    with open(os.path.join(testbed.REPO, "docs", "awx", "credential-types", type_file)) as handle:
        definition = yaml.safe_load(handle)
    assert sorted(inputs) == sorted(f["id"] for f in definition["inputs"]["fields"])
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return dict((k, environment.from_string(v).render(**inputs)) for k, v in definition["injectors"]["env"].items())


def private_data_dir(base, name):
    """A job's private data directory: the project (a playbook importing the collection's, as an AWX project
    holds) and the inventory (localhost, this interpreter: the execution environment's)."""
    directory = base / name
    (directory / "project").mkdir(parents=True)
    for playbook in ("backup", "restore"):
        (directory / "project" / (playbook + ".yml")).write_text(
            "---\n- name: kubedr.backup.%s\n  ansible.builtin.import_playbook: kubedr.backup.%s\n" % (playbook, playbook))
    (directory / "inventory").mkdir()
    (directory / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return str(directory)


def run_job(monkeypatch, base, bed, token, name, playbook, extravars, custom_types=None):
    """ansible_runner.run as AWX's job runs it: the process environment is the execution environment's own (a
    PATH with ansible, a HOME without a kubeconfig, the collection installed), the credentials come as envvars:
    the two built-in ones' or, with custom_types ({credential type file: inputs}), the bearer token's and what
    the custom credential types' injectors render (as AWX renders them, with Jinja)."""
    import ansible_runner

    directory = private_data_dir(base, name)
    envvars = credential_env(bed, token, directory)
    if custom_types is not None:
        envvars = dict((k, v) for k, v in envvars.items() if k.startswith("K8S_AUTH_"))
        for type_file, inputs in custom_types.items():
            envvars.update(rendered_injectors(type_file, inputs))
    home = base / (name + "-home")
    home.mkdir()
    for key in list(os.environ):
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", testbed.ensure_collection_path())
    try:
        runner = ansible_runner.run(private_data_dir=directory, playbook=playbook, extravars=extravars,
                                    envvars=envvars, quiet=True)
    finally:
        monkeypatch.undo()
    output = runner.stdout.read()
    events = list(runner.events)
    stats = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1, output[-4000:]
    with open(os.path.join(directory, "env", "envvars")) as handle:
        assert sorted(yaml.safe_load(handle)) == sorted(envvars)  # all the job had, besides the EE's own
    return runner, output, stats[0], envvars


def test_backup_and_restore_jobs_with_awx_credentials_only(bed, core_v1, monkeypatch, tmp_path, awx_identity, location,
                                                           namespace):
    began = time.monotonic()
    for index in range(3):
        core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-%d" % index}, "data": {"i": str(index)}})
    core_v1.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"k": uuid.uuid4().hex}})
    secrets = (awx_identity["token"], bed["KUBEDR_S3_SECRET_KEY"])
    job_vars = {"kubedr_storage_location": location, "kubedr_poll_interval": 1}  # the job template's extra variables

    # The credential is what the job connects with: with another token it is refused (no kubeconfig to fall back on).
    refused, output, stats, unused = run_job(monkeypatch, tmp_path, bed, "not-a-token", "refused-job", "backup.yml",
                                             dict(job_vars, kubedr_included_namespaces=[namespace]))
    assert refused.status == "failed" and "401" in output, output[-4000:]
    assert "not-a-token" not in output and backups(bed, location) == {}

    backup, output, stats, envvars = run_job(monkeypatch, tmp_path, bed, awx_identity["token"], "backup-job", "backup.yml",
                                             dict(job_vars, kubedr_included_namespaces=[namespace]))
    assert backup.status == "successful" and backup.rc == 0, output[-6000:]
    assert sorted(envvars) == sorted(CREDENTIAL_ENV)
    assert all(secret not in output for secret in secrets)
    artifacts = stats["artifact_data"]
    assert sorted(artifacts) == ["kubedr_backup_counts", "kubedr_backup_name", "kubedr_backup_phase"]
    name = artifacts["kubedr_backup_name"]
    stored = backups(bed, location)
    assert sorted(stored) == [name] and stored[name]["phase"] == "Completed"
    assert artifacts["kubedr_backup_phase"] == "Completed"
    counts = artifacts["kubedr_backup_counts"]
    assert counts["total"] == stored[name]["item_count"] and counts["per_namespace"][namespace] >= 4, counts
    assert counts["per_resource"]["v1/ConfigMap"] >= 3 and counts["per_resource"]["v1/Secret"] == 1, counts

    # The restore job of a workflow: the backup's name from the backup job's artifacts, into another namespace.
    target = unique("awx-restored")
    try:
        restore, output, stats, unused = run_job(monkeypatch, tmp_path, bed, awx_identity["token"], "restore-job",
                                                 "restore.yml", dict(job_vars, kubedr_backup_name=name,
                                                                     kubedr_namespace_mapping={namespace: target}))
        assert restore.status == "successful" and restore.rc == 0, output[-6000:]
        assert all(secret not in output for secret in secrets)
        artifacts = stats["artifact_data"]
        assert sorted(artifacts) == ["kubedr_restore_backup_name", "kubedr_restore_counts", "kubedr_restore_name",
                                     "kubedr_restore_phase"]
        assert artifacts["kubedr_restore_backup_name"] == name and artifacts["kubedr_restore_phase"] == "Completed"
        assert artifacts["kubedr_restore_name"].startswith(name + "-")
        restored = dict((c.metadata.name, c.data) for c in core_v1.list_namespaced_config_map(target).items
                        if c.metadata.name.startswith("cm-"))
        assert restored == dict(("cm-%d" % i, {"i": str(i)}) for i in range(3))
        assert core_v1.read_namespaced_secret("creds", target).data == core_v1.read_namespaced_secret("creds", namespace).data
        counts = artifacts["kubedr_restore_counts"]
        assert counts["failed"] == 0 and counts["created"] >= 4 and counts["per_resource"]["v1/ConfigMap"]["created"] >= 3
    finally:
        delete_quietly(core_v1.delete_namespace, target)
    print("\nawx runner: backup and restore jobs in %.1fs" % (time.monotonic() - began))


def test_custom_credential_types_give_the_endpoint_keys_and_password(bed, core_v1, monkeypatch, tmp_path, awx_identity,
                                                                     location, namespace):
    """The shipped custom credential types instead of the built-in AWS one: the job template's location names no
    endpoint and no key; the S3 type's AWS_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY fill them in."""
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    job_location = dict((k, v) for k, v in location.items() if k != "endpoint_url")
    password = "awx-" + uuid.uuid4().hex
    custom = {"kubedr-s3-storage.yml": {"endpoint_url": bed["KUBEDR_S3_ENDPOINT"], "access_key": bed["KUBEDR_S3_ACCESS_KEY"],
                                        "secret_key": bed["KUBEDR_S3_SECRET_KEY"]},
              "kubedr-repository-password.yml": {"repository_password": password}}
    backup, output, stats, envvars = run_job(
        monkeypatch, tmp_path, bed, awx_identity["token"], "custom-job", "backup.yml",
        {"kubedr_storage_location": job_location, "kubedr_poll_interval": 1, "kubedr_included_namespaces": [namespace]},
        custom_types=custom)
    assert backup.status == "successful" and backup.rc == 0, output[-6000:]
    assert sorted(envvars) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_URL", "K8S_AUTH_API_KEY", "K8S_AUTH_HOST",
                               "K8S_AUTH_SSL_CA_CERT", "K8S_AUTH_VERIFY_SSL", "KUBEDR_REPOSITORY_PASSWORD"]
    assert envvars["AWS_URL"] == bed["KUBEDR_S3_ENDPOINT"] and envvars["KUBEDR_REPOSITORY_PASSWORD"] == password
    assert password not in output and bed["KUBEDR_S3_SECRET_KEY"] not in output
    name = stats["artifact_data"]["kubedr_backup_name"]
    stored = backups(bed, location)
    assert sorted(stored) == [name] and stored[name]["phase"] == "Completed"
