"""Connection parity with kubernetes.core and amazon.aws, through ansible-playbook with the collection
installed: the README's own module_defaults serve restic_repo too, a kubeconfig given as a dict never
shows in -vvv output, and K8S_AUTH_KUBECONFIG path lists are merged."""
import base64
import json
import os
import re
import subprocess
import sys
import uuid

import yaml

import testbed
from test_playbooks_support import playbook, recap, s3_env

README = os.path.join(testbed.REPO, "README.md")


def readme_quick_start():
    """The play of the README's quick start (its first yaml block after the heading)."""
    with open(README) as handle:
        text = handle.read()
    section = text[text.index("## Quick start"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)[0]


def test_readme_module_defaults_serve_restic_repo(bed, tmp_path):
    """The README's module_defaults (kubeconfig and storage_location for group/kubedr.backup.kubedr)
    with its restic_repo task: before, restic_repo failed with "Unsupported parameters ... kubeconfig".
    Only the example's addresses are replaced by the test bed's; the keys are the README's."""
    play = readme_quick_start()
    defaults = play["module_defaults"]["group/kubedr.backup.kubedr"]
    assert set(defaults) == {"kubeconfig", "storage_location"}
    location = defaults["storage_location"]
    assert set(location) == {"bucket", "endpoint_url", "s3_addressing_style", "access_key", "secret_key"}
    location.update(bucket=bed["KUBEDR_S3_BUCKET"], endpoint_url=bed["KUBEDR_S3_ENDPOINT"])
    defaults["kubeconfig"] = bed["KUBECONFIG"]
    readme_task = [task for task in play["tasks"] if "kubedr.backup.restic_repo" in task][0]
    namespace = "readme-%s" % uuid.uuid4().hex[:6]
    readme_task["kubedr.backup.restic_repo"]["volume_namespace"] = namespace
    repo_task = readme_task["kubedr.backup.restic_repo"]
    tasks = [
        {"name": "Initialise the repository", "kubedr.backup.restic_repo": dict(
            state="present", volume_namespace=namespace, repository_password=repo_task["repository_password"])},
        readme_task,
        {"name": "Another module of the group under the same defaults", "kubedr.backup.k8s_backup_info": {}},
        {"name": "Delete the repository",
         "kubedr.backup.restic_repo": {"state": "absent", "volume_namespace": namespace}},
    ]
    path = tmp_path / "readme.yml"
    path.write_text(yaml.safe_dump([dict(play, tasks=tasks)], sort_keys=False))
    proc = playbook(bed, str(path), {"vault_restic_password": "readme-" + uuid.uuid4().hex}, env=s3_env(bed))
    assert "Unsupported parameters" not in proc.stdout
    assert recap(proc.stdout) == dict(recap(proc.stdout), ok=4, failed=0), proc.stdout[-3000:]


def dict_kubeconfig(bed):
    """The test bed's kubeconfig with its certificates and key inline (client-key-data)."""
    with open(bed["KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    for entry, files in (("clusters", {"certificate-authority": "certificate-authority-data"}),
                         ("users", {"client-certificate": "client-certificate-data", "client-key": "client-key-data"})):
        body = config[entry][0][entry[:-1]]
        for path_key, data_key in files.items():
            with open(body.pop(path_key), "rb") as handle:
                body[data_key] = base64.b64encode(handle.read()).decode()
    return config


def test_a_kubeconfig_dict_never_shows_in_vvv_output(bed, tmp_path):
    config = dict_kubeconfig(bed)
    key_data = config["users"][0]["user"]["client-key-data"]
    key_lines = [line for line in base64.b64decode(key_data).decode().splitlines() if "-----" not in line]
    book = [{"hosts": "localhost", "gather_facts": False, "vars": {"inline_kubeconfig": config}, "tasks": [
        {"name": "Back up with an inline kubeconfig", "kubedr.backup.k8s_backup": {
            "kubeconfig": "{{ inline_kubeconfig }}", "name": "inline-" + uuid.uuid4().hex[:6],
            "storage_location": {"provider": "filesystem", "path": str(tmp_path / "bsl")},
            "included_namespaces": ["default"], "included_resources": ["configmaps"]}},
        {"name": "A parameter check failure with the same kubeconfig", "ignore_errors": True,
         "kubedr.backup.k8s_backup_info": {"kubeconfig": "{{ inline_kubeconfig }}", "unknown_option": 1,
                                           "storage_location": {"provider": "filesystem", "path": str(tmp_path)}}},
    ]}]
    path = tmp_path / "inline.yml"
    path.write_text(yaml.safe_dump(book))
    testbed.ensure_collection_path()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "-i", "localhost,", "-c", "local",
           str(path), "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env=testbed.module_env({"ANSIBLE_NOCOLOR": "1"}), timeout=600)
    counters = recap(proc.stdout)
    assert counters.get("failed") == 0 and counters.get("ignored") == 1, proc.stdout[-4000:]
    assert '"phase": "Completed"' in proc.stdout and "unknown_option" in proc.stdout
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout  # the invocation's kubeconfig
    assert key_data not in proc.stdout
    assert not [line for line in key_lines if line in proc.stdout]


def test_k8s_auth_kubeconfig_path_list_is_merged(bed, tmp_path):
    """K8S_AUTH_KUBECONFIG=clusters:users, as kubectl merges KUBECONFIG: the context and cluster in one
    file, the user (with paths relative to its own file) in the other."""
    with open(bed["KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    base = os.path.dirname(bed["KUBECONFIG"])
    user = config["users"][0]["user"]
    for key in ("client-certificate", "client-key"):
        user[key] = os.path.join(base, user[key])
    clusters = tmp_path / "clusters.yml"
    clusters.write_text(yaml.safe_dump(dict(config, users=[])))
    users = tmp_path / "users.yml"
    users.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": config["users"]}))
    env = {"K8S_AUTH_KUBECONFIG": "%s:%s" % (clusters, users), "KUBECONFIG": str(tmp_path / "none")}
    result = testbed.run_module("k8s_backup", {
        "name": "merged-" + uuid.uuid4().hex[:6], "storage_location": {"provider": "filesystem", "path": str(tmp_path)},
        "included_namespaces": ["default"], "included_resources": ["configmaps"]}, env=env)
    assert not result.failed, result.get("msg")
    assert result["phase"] == "Completed"
