"""What changed (k8s_backup_diff), as a user finds out: two backups of a namespace with a ConfigMap
added, one deleted, one edited and a Secret's value changed in between, compared with each other
(the module, in diff mode) and the older one with the live cluster (the kubedr.backup.diff playbook,
by schedule, --diff, failing on drift). The Secret's values never appear in any output."""
import base64
import json
import re
import uuid

import pytest

import testbed
from testbed import wait_for
from test_backup_support import assert_ok, delete_prefix, run_backup, s3_location, unique
from test_playbooks_support import playbook, recap, s3_env

PASSWORDS = ("diff-one-" + uuid.uuid4().hex, "diff-two-" + uuid.uuid4().hex)
ROOT_CA = "kube-root-ca.crt"  # created in every namespace by the controller manager


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "diff")
    yield location
    delete_prefix(s3, location)


def never_shown(text):
    """None of the Secret's values, plain or base64, in ``text``."""
    values = list(PASSWORDS) + [base64.b64encode(p.encode()).decode() for p in PASSWORDS]
    return not [value for value in values if value in text]


def keys(entries):
    return sorted((e["resource"], e["namespace"], e["name"]) for e in entries)


def test_what_changed_between_two_backups_and_since_a_backup(bed, core_v1, namespace, location):
    ns = namespace
    wait_for(lambda: [c for c in core_v1.list_namespaced_config_map(ns).items if c.metadata.name == ROOT_CA],
             what=ROOT_CA)
    wait_for(lambda: core_v1.list_namespaced_service_account(ns).items, what="default service account")
    for name in ("keep", "gone", "edit"):
        core_v1.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"color": "blue"}})
    creds = {"metadata": {"name": "creds"}, "stringData": {"password": PASSWORDS[0], "user": "shop"}}
    core_v1.create_namespaced_secret(ns, creds)
    schedule = unique("nightly")
    monday, tuesday = unique("monday"), unique("tuesday")
    assert_ok(run_backup(bed, location, monday, included_namespaces=[ns], labels={"velero.io/schedule-name": schedule}))

    core_v1.create_namespaced_config_map(ns, {"metadata": {"name": "new"}, "data": {"color": "red"}})
    core_v1.delete_namespaced_config_map("gone", ns)
    core_v1.patch_namespaced_config_map("edit", ns, {"data": {"color": "green"}})
    core_v1.patch_namespaced_secret("creds", ns, {"stringData": {"password": PASSWORDS[1]}})
    assert_ok(run_backup(bed, location, tuesday, included_namespaces=[ns]))

    # Backup against backup, the module in check and diff mode (it only reads).
    result = assert_ok(testbed.run_module("k8s_backup_diff", {
        "backup_name": monday, "against_backup": tuesday, "storage_location": location}, check_mode=True, diff=True))
    assert result["changed"] is False and result["differs"] is True
    assert keys(result["added"]) == [("configmaps", ns, "new")]
    assert keys(result["removed"]) == [("configmaps", ns, "gone")]
    assert keys(result["modified"]) == [("configmaps", ns, "edit"), ("secrets", ns, "creds")]
    fields = dict((m["name"], m["fields"]) for m in result["modified"])
    assert fields == {"edit": ["data.color"], "creds": ["data.password"]}
    unchanged = result["counts"]["unchanged"]
    assert unchanged >= 4  # the namespace, keep, kube-root-ca.crt, the default ServiceAccount
    secret_diff = [d for d in result["diff"] if d["before_header"].startswith("secrets ")][0]
    assert secret_diff["before"]["data"] == {"password": "<hidden>", "user": "<hidden>"}
    assert secret_diff["after"]["data"] == {"password": "<hidden> (changed)", "user": "<hidden>"}
    assert '-    "color": "blue"' in [m for m in result["modified"] if m["name"] == "edit"][0]["unified_diff"]
    assert never_shown(json.dumps(result)) and never_shown(result.stderr)
    assert bed["KUBEDR_S3_SECRET_KEY"] not in json.dumps(result)  # not in invocation either

    # A change only the cluster has: a label on "keep", after the second backup.
    core_v1.patch_namespaced_config_map("keep", ns, {"metadata": {"labels": {"team": "shop"}}})

    # The newest backup of the schedule against the cluster, through the playbook, in diff mode; drift fails it.
    run_env = dict(s3_env(bed), ANSIBLE_DIFF_ALWAYS="1")
    location_vars = dict((k, v) for k, v in location.items() if k not in ("access_key", "secret_key"))
    output = playbook(bed, "kubedr.backup.diff", {
        "kubedr_storage_location": location_vars, "kubedr_schedule_name": schedule, "kubedr_included_namespaces": [ns],
        "kubedr_fail_on_drift": True}, env=run_env, expect_ok=False).stdout
    assert recap(output).get("failed") == 1 and recap(output).get("changed") == 1, output[-4000:]
    assert "+++ after: secrets %s/creds (the cluster)" % ns in output  # Ansible's own diff, from --diff
    flat = re.sub(r"\s+", " ", output)
    assert ("Since backup %s" % monday) in flat and "the cluster: 1 added, 1 removed, 3 modified, %d unchanged" % (
        unchanged - 1) in flat, output[-4000:]
    for line in ("+ configmaps %s/new" % ns, "- configmaps %s/gone" % ns, "~ configmaps %s/edit: data.color" % ns,
                 '~ configmaps %s/keep: metadata.labels' % ns, "~ secrets %s/creds: data.password" % ns):
        assert line in output, line + "\n" + output[-4000:]
    assert r'+    \"password\": \"<hidden> (changed)\",' in output  # a line of the unified diff, as a JSON string
    assert "1 added, 1 removed, 3 modified since backup %s (kubedr_fail_on_drift is true)" % monday in flat
    assert never_shown(output), output[-4000:]
    assert bed["KUBEDR_S3_SECRET_KEY"] not in output
