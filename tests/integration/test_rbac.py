"""RBAC: backups and restores run as the identities of the shipped ClusterRoles (roles/rbac)
and as a deliberately restricted ServiceAccount. What the caller may not do is recorded per
item (or per resource type for a LIST) and the run completes the rest (PartiallyFailed); it
never crashes. The modules act as the ServiceAccounts through impersonation (O(impersonate_user))."""
import uuid

import pytest

import testbed
from test_playbooks_support import delete_quietly, role


def sa_user(namespace, name):
    return "system:serviceaccount:%s:%s" % (namespace, name)


@pytest.fixture
def identities(bed, api_client, core_v1):
    """The shipped roles bound to two ServiceAccounts, a source namespace with a bit of everything."""
    from kubernetes import client

    suffix = "rbac-" + uuid.uuid4().hex[:5]
    ids_ns, source = suffix + "-ids", suffix + "-src"
    for ns in (ids_ns, source):
        core_v1.create_namespace({"metadata": {"name": ns}})
    names = {"rbac_backup_cluster_role": suffix + "-backup", "rbac_restore_cluster_role": suffix + "-restore",
             "rbac_node_agent_namespace": suffix + "-na"}
    role_vars = dict(names, rbac_backup_subjects=[{"kind": "ServiceAccount", "name": "backupper", "namespace": ids_ns}],
                     rbac_restore_subjects=[{"kind": "ServiceAccount", "name": "restorer", "namespace": ids_ns}])
    role(bed, "rbac", role_vars)
    for i in range(3):
        core_v1.create_namespaced_config_map(source, {"metadata": {"name": "cm-%d" % i}, "data": {"i": str(i)}})
    core_v1.create_namespaced_secret(source, {"metadata": {"name": "creds"}, "stringData": {"k": "v"}})
    core_v1.create_namespaced_service_account(source, {"metadata": {"name": "app"}})
    client.RbacAuthorizationV1Api(api_client).create_namespaced_role(source, {
        "metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    made = []
    yield {"source": source, "ids": ids_ns, "backup": sa_user(ids_ns, "backupper"),
           "restore": sa_user(ids_ns, "restorer"), "suffix": suffix, "made": made}
    role(bed, "rbac", dict(role_vars, rbac_state="absent"))
    for ns in [ids_ns, source] + made:
        delete_quietly(core_v1.delete_namespace, ns)


def messages(result_scopes):
    found = list(result_scopes.get("velero") or []) + list(result_scopes.get("cluster") or [])
    for entries in (result_scopes.get("namespaces") or {}).values():
        found.extend(entries)
    return found


def test_shipped_roles_back_up_and_restore_and_the_backup_identity_cannot_write(
        bed, storage_location, core_v1, identities):
    location = dict(storage_location, prefix="rbac-" + uuid.uuid4().hex[:6])
    source = identities["source"]
    as_backup = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location,
                 "impersonate_user": identities["backup"]}
    as_restore = dict(as_backup, impersonate_user=identities["restore"])

    backup = testbed.run_module("k8s_backup", dict(as_backup, name="shipped", included_namespaces=[source]))
    assert not backup.failed, backup.get("msg")
    assert backup["phase"] == "Completed", backup["backup_errors"]
    counts = backup["item_counts"]["per_resource"]
    assert counts["v1/ConfigMap"] >= 3 and counts["v1/Secret"] == 1 and counts["rbac.authorization.k8s.io/v1/Role"] == 1

    # The read-only identity cannot restore: each item fails with the reason, the run completes.
    denied_ns = identities["suffix"] + "-denied"
    identities["made"].append(denied_ns)
    denied = testbed.run_module("k8s_restore", dict(as_backup, backup_name="shipped", name="as-backupper",
                                                    namespace_mapping={source: denied_ns}))
    assert not denied.failed, denied.get("msg")
    assert denied["phase"] == "PartiallyFailed"
    assert denied["item_counts"]["created"] == 0 and denied["item_counts"]["failed"] >= 6
    errors = messages(denied["restore_errors"])
    assert any("forbidden" in e.lower() or "403" in e for e in errors), errors
    assert any("cm-0" in e for e in errors) and any("creds" in e for e in errors)
    assert denied_ns not in [n.metadata.name for n in core_v1.list_namespace().items]

    # The restore identity restores all of it.
    target = identities["suffix"] + "-dst"
    identities["made"].append(target)
    restore = testbed.run_module("k8s_restore", dict(as_restore, backup_name="shipped", name="as-restorer",
                                                     namespace_mapping={source: target}))
    assert not restore.failed, restore.get("msg")
    assert restore["phase"] == "Completed", restore["restore_errors"]
    restored = [c.metadata.name for c in core_v1.list_namespaced_config_map(target).items]
    assert set(["cm-0", "cm-1", "cm-2"]) <= set(restored)
    assert core_v1.read_namespaced_secret("creds", target).data["k"]


def test_restricted_service_account_gets_per_item_errors_and_the_rest_is_done(
        bed, api_client, storage_location, core_v1, identities):
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    source, ids_ns = identities["source"], identities["ids"]
    target = identities["suffix"] + "-narrow"
    identities["made"].append(target)
    core_v1.create_namespace({"metadata": {"name": target}})
    user = sa_user(ids_ns, "narrow")
    subject = [{"kind": "ServiceAccount", "name": "narrow", "namespace": ids_ns}]
    # ConfigMaps only: read them in the source namespace, read and create them in the target one,
    # and see the target namespace itself.
    rbac.create_namespaced_role(source, {"metadata": {"name": "narrow"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(source, {"metadata": {"name": "narrow"}, "subjects": subject, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "narrow"}})
    rbac.create_namespaced_role(target, {"metadata": {"name": "narrow"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "patch"]}]})
    rbac.create_namespaced_role_binding(target, {"metadata": {"name": "narrow"}, "subjects": subject, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "narrow"}})
    cluster_role = identities["suffix"] + "-see-ns"
    rbac.create_cluster_role({"metadata": {"name": cluster_role}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [target], "verbs": ["get"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": cluster_role}, "subjects": subject, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role}})
    try:
        location = dict(storage_location, prefix="rbac-narrow-" + uuid.uuid4().hex[:6])
        as_narrow = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location, "impersonate_user": user}

        # Backup: every type it may not list is an error of its own; the ConfigMaps are backed up.
        backup = testbed.run_module("k8s_backup", dict(as_narrow, name="narrow", included_namespaces=[source]))
        assert not backup.failed, backup.get("msg")
        assert backup["phase"] == "PartiallyFailed"
        assert backup["item_counts"]["per_resource"]["v1/ConfigMap"] >= 3
        assert "v1/Secret" not in backup["item_counts"]["per_resource"]
        errors = backup["backup_errors"]["namespaces"][source]
        assert any("cannot list secrets" in e and "403" in e for e in errors), errors
        assert any("cannot list serviceaccounts" in e for e in errors)
        assert not any("configmaps" in e for e in errors)

        # Restore of a full backup (made by an admin) as the narrow identity: ConfigMaps created,
        # each other item a per-item error naming it.
        admin = {"kubeconfig": bed["KUBECONFIG"], "storage_location": location}
        full = testbed.run_module("k8s_backup", dict(admin, name="full", included_namespaces=[source]))
        assert full["phase"] == "Completed", full.get("msg")
        restore = testbed.run_module("k8s_restore", dict(as_narrow, backup_name="full", name="narrow-restore",
                                                         namespace_mapping={source: target}))
        assert not restore.failed, restore.get("msg")
        assert restore["phase"] == "PartiallyFailed"
        per = restore["item_counts"]["per_resource"]
        assert per["v1/ConfigMap"]["created"] == 3 and per["v1/ConfigMap"]["failed"] == 0
        assert per["v1/Secret"]["failed"] == 1 and per["v1/ServiceAccount"]["failed"] >= 1
        assert per["rbac.authorization.k8s.io/v1/Role"]["failed"] == 2  # reader, and narrow itself
        errors = restore["restore_errors"]["namespaces"][target]
        assert any("secrets %s/creds" % target in e and "403" in e for e in errors), errors
        assert any("roles.rbac.authorization.k8s.io %s/reader" % target in e for e in errors), errors
        assert sorted(c.metadata.name for c in core_v1.list_namespaced_config_map(target).items
                      if c.metadata.name.startswith("cm-")) == ["cm-0", "cm-1", "cm-2"]
    finally:
        delete_quietly(rbac.delete_cluster_role_binding, cluster_role)
        delete_quietly(rbac.delete_cluster_role, cluster_role)
