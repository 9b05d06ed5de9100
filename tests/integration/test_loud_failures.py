"""Loud failures, as a user sees them: a PartiallyFailed backup or restore names its first errors
as warnings in the play's normal output (no -v, nothing registered) and fails the play unless
kubedr_fail_on_partial is false; a restore of a backup whose pod volume data is missing is never
"Completed, 0 errors"; errors name their fix (the node agent role, the rbac role's ClusterRole)."""
import re
import uuid

import pytest

import testbed
from test_playbooks_support import delete_prefix, delete_quietly, location_vars, playbook, recap, s3_env, unique
from test_restore_support import warning_messages
from test_volume_failures import pod_with_volume

PASSWORD = "loud-failures-" + uuid.uuid4().hex


@pytest.fixture
def location(storage_location, s3, request):
    location = location_vars(storage_location, "loud-" + request.node.name[5:25])
    yield location
    delete_prefix(s3, location)


def module_location(bed, location):
    return dict(location, access_key=bed["KUBEDR_S3_ACCESS_KEY"], secret_key=bed["KUBEDR_S3_SECRET_KEY"])


def warnings_of(output):
    """The [WARNING] lines of a play's output, joined as Ansible wraps them."""
    return re.sub(r"\s+", " ", " ".join(re.findall(r"^\[WARNING\]: (.*(?:\n(?!\[|TASK|PLAY|ok:|changed:|fatal:|"
                                                   r"skipping:|included:|localhost).*)*)", output, re.M)))


def test_partially_failed_backup_and_its_restore_are_loud_in_the_play(bed, core_v1, doomed, namespace, location):
    node = sorted(n.metadata.name for n in core_v1.list_node().items)[0]
    pod_with_volume(core_v1, bed, namespace, "app", node)
    absent = "loud-no-agent-" + uuid.uuid4().hex[:5]  # a node agent namespace where nothing runs
    name = unique("loud")
    backup_vars = {"kubedr_storage_location": location, "kubedr_included_namespaces": [namespace],
                   "kubedr_backup_name": name, "kubedr_default_volumes_to_fs_backup": True,
                   "kubedr_repository_password": PASSWORD, "kubedr_node_agent": {"namespace": absent},
                   "kubedr_poll_interval": 1}

    # By default a PartiallyFailed backup fails the play, and the warnings say why and what to do.
    failed = playbook(bed, "kubedr.backup.backup", backup_vars, env=s3_env(bed), expect_ok=False).stdout
    assert recap(failed).get("failed") == 1, failed[-4000:]
    said = warnings_of(failed)
    assert "backup %s ended PartiallyFailed with 1 error" % name in said, failed[-4000:]
    assert "error (namespace %s): volume data of pod %s/app" % (namespace, namespace) in said, said
    assert "no running node agent on node %s" % node in said, said
    assert "kubedr.backup.node_agent role (node_agent_namespace: %s" % absent in said, said
    assert "kubedr_fail_on_partial" in failed
    assert PASSWORD not in failed

    # kubedr_fail_on_partial: false accepts it: the play goes on and still warns (the stored backup now).
    accepted = playbook(bed, "kubedr.backup.backup", dict(backup_vars, kubedr_fail_on_partial=False),
                        env=s3_env(bed)).stdout
    assert recap(accepted).get("failed") == 0
    assert "backup %s ended PartiallyFailed with 1 error" % name in warnings_of(accepted), accepted[-4000:]
    assert re.search(r"Backup %s: PartiallyFailed, \d+ items, 0 warnings, 1 errors" % name, accepted), accepted[-3000:]

    # Its restore: the pod comes back, its volume data cannot; that is not "Completed, 0 errors".
    target = doomed(unique("loud-target"))
    restore_vars = {"kubedr_storage_location": location, "kubedr_backup_name": name,
                    "kubedr_restore_name": name + "-r", "kubedr_namespace_mapping": {namespace: target},
                    "kubedr_poll_interval": 1}
    restored = playbook(bed, "kubedr.backup.restore", restore_vars, env=s3_env(bed), expect_ok=False).stdout
    assert recap(restored).get("failed") == 1, restored[-4000:]
    said = warnings_of(restored)
    assert "restore %s-r: backup %s ended PartiallyFailed" % (name, name) in said, said
    assert "restore %s-r ended PartiallyFailed" % name in said, said
    assert "pod app: volume data: its data is not in backup %s" % name in said, said
    assert "kubedr.backup.node_agent role (node_agent_namespace: %s" % absent in said, said  # where the backup looked
    assert not re.search(r"Restore \S+ of backup \S+: Completed, .* 0 errors", restored), restored[-3000:]
    assert core_v1.read_namespaced_pod("app", target).metadata.name == "app"  # the objects are restored

    # The relaunch (same restore name) returns the stored restore, as loud, and accepts it when asked.
    again = playbook(bed, "kubedr.backup.restore", dict(restore_vars, kubedr_fail_on_partial=False),
                     env=s3_env(bed)).stdout
    assert "restore %s-r ended PartiallyFailed" % name in warnings_of(again), again[-4000:]
    assert re.search(r"Restore %s-r of backup %s: PartiallyFailed, \d+ created, .* 1 errors" % (name, name), again), \
        again[-3000:]


@pytest.fixture
def doomed(core_v1):
    names = []

    def register(name):
        names.append(name)
        return name

    yield register
    for name in names:
        delete_quietly(core_v1.delete_namespace, name)


def test_forbidden_names_the_identity_and_the_cluster_role(bed, core_v1, namespace, location, doomed):
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}, "data": {"a": "b"}})
    nobody = "system:serviceaccount:%s:nobody" % namespace  # exists nowhere, bound to nothing
    storage = module_location(bed, location)
    backup = testbed.run_module("k8s_backup", {"kubeconfig": bed["KUBECONFIG"], "storage_location": storage,
                                               "name": "forbidden", "included_namespaces": [namespace],
                                               "impersonate_user": nobody})
    assert not backup.failed, backup.get("msg")
    assert backup["phase"] == "PartiallyFailed"
    fixes = [w for w in warning_messages(backup) if "HTTP 403" in w and "ClusterRole" in w]
    assert fixes and "ClusterRole kubedr-backup" in fixes[0] and nobody in fixes[0], warning_messages(backup)
    assert "kubedr.backup.rbac role" in fixes[0]
    assert "rbac_backup_subjects: [{kind: ServiceAccount, name: nobody, namespace: %s}]" % namespace in fixes[0]

    made = testbed.run_module("k8s_backup", {"kubeconfig": bed["KUBECONFIG"], "storage_location": storage,
                                             "name": "allowed", "included_namespaces": [namespace]})
    assert made["phase"] == "Completed", made.get("msg")
    target = doomed(unique("forbidden"))
    restore = testbed.run_module("k8s_restore", {"kubeconfig": bed["KUBECONFIG"], "storage_location": storage,
                                                 "backup_name": "allowed", "name": "forbidden-restore",
                                                 "namespace_mapping": {namespace: target},
                                                 "impersonate_user": nobody})
    assert not restore.failed, restore.get("msg")
    assert restore["phase"] == "PartiallyFailed"
    fixes = [w for w in warning_messages(restore) if "HTTP 403" in w and "ClusterRole" in w]
    assert fixes and "ClusterRole kubedr-restore" in fixes[0] and "rbac_restore_subjects" in fixes[0], \
        warning_messages(restore)
