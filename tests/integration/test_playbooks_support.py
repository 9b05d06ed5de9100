"""Helpers shared by the operations tests - roles, schedule, playbooks (no tests here)."""
import json
import os
import re
import subprocess
import sys
import uuid

import pytest

import testbed

PLAYBOOKS = os.path.join(testbed.REPO, "tests", "integration", "playbooks")
ROLE_PLAYBOOK = os.path.join(PLAYBOOKS, "ops_role.yml")


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def location_vars(storage_location, test_name):
    """A storage location under a prefix of its own; the keys come from the environment (AWS_*)."""
    location = dict((k, v) for k, v in storage_location.items() if k not in ("access_key", "secret_key"))
    location["prefix"] = unique("ops/" + test_name)
    return location


def s3_env(bed):
    return {"AWS_ACCESS_KEY_ID": bed["KUBEDR_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": bed["KUBEDR_S3_SECRET_KEY"]}


def playbook(bed, path, extra_vars=None, env=None, check=False, expect_ok=True):
    """Run a playbook (a path or kubedr.backup.<name>) on localhost with the venv's Python; returns the output."""
    extra = {"ansible_python_interpreter": sys.executable}
    extra.update(extra_vars or {})
    run_env = {"KUBECONFIG": bed["KUBECONFIG"], "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    run_env.update(env or {})
    proc = testbed.run_playbook(path, extra, env=run_env, check=check)
    if expect_ok:
        assert proc.returncode == 0, "playbook %s failed (rc %s):\n%s" % (path, proc.returncode, proc.stdout[-6000:])
    return proc


def role(bed, name, role_vars, expect_ok=True, env=None):
    return playbook(bed, ROLE_PLAYBOOK, dict(role_vars, ops_role=name), env=env, expect_ok=expect_ok)


def recap(output):
    """The PLAY RECAP counters of localhost (summed over plays)."""
    totals = {}
    for match in re.finditer(r"^localhost\s*:\s*(.*)$", output, re.M):
        for key, value in re.findall(r"(\w+)=(\d+)", match.group(1)):
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def assert_no_changes(output):
    counters = recap(output)
    assert counters.get("changed") == 0 and counters.get("failed") == 0, "second run changed something:\n%s" % output[-4000:]


def backups(bed, location):
    result = testbed.run_module("k8s_backup_info", {"storage_location": dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"],
                                                                             secret_key=bed["KUBEDR_S3_SECRET_KEY"])})
    assert not result.failed, result.get("msg")
    return dict((b["name"], b) for b in result["backups"])


def delete_quietly(func, *args, **kwargs):
    from kubernetes.client.rest import ApiException

    try:
        func(*args, **kwargs)
    except ApiException as error:
        if error.status != 404:
            raise


def subject_access(api_client, user, verb, resource, namespace=None, group="", subresource=None):
    """Whether `user` may `verb` `resource` (a SubjectAccessReview, the API server's own answer)."""
    from kubernetes import client

    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    if subresource:
        attributes["subresource"] = subresource
    groups = ["system:authenticated"]
    if user.startswith("system:serviceaccount:"):
        groups += ["system:serviceaccounts", "system:serviceaccounts:" + user.split(":")[2]]
    review = client.AuthorizationV1Api(api_client).create_subject_access_review(
        {"spec": {"user": user, "groups": groups, "resourceAttributes": attributes}})
    return bool(review.status.allowed)


def json_arg(value):
    return json.dumps(value, sort_keys=True)


def configmaps(core_v1, namespace, count=2):
    for index in range(count):
        core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-%d" % index}, "data": {"i": str(index)}})


def run_argv(argv, env, timeout=900):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout,
                          check=False)


def delete_prefix(s3, location):
    """Remove what a test wrote under its own prefix of the bucket."""
    prefix = location["prefix"].rstrip("/") + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=prefix):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents") or []]
        if keys:
            s3.delete_objects(Bucket=location["bucket"], Delete={"Objects": keys})


@pytest.fixture
def prefixed_location(storage_location, s3, request):
    """The playbooks' kubedr_storage_location under a prefix named after the test, emptied afterwards."""
    location = location_vars(storage_location, request.node.name[5:30])
    yield location
    delete_prefix(s3, location)


def module_location(bed, location):
    """The same location with the test bed's keys, for a module run outside the playbooks."""
    return dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])
