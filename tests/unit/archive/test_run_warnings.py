"""What a run says in the play's output: its run-level warnings, and for a PartiallyFailed or
Failed run its first errors, how many more and the fixes (common.hints)."""
from ansible_collections.kubedr.backup.plugins.module_utils.archive.results import add_run_warnings, run_warnings
from ansible_collections.kubedr.backup.plugins.module_utils.common import hints


def errors(count, namespace="shop"):
    return {"velero": [], "cluster": [], "namespaces": {namespace: ["configmaps %s/c%d: boom" % (namespace, i)
                                                                    for i in range(count)]}}


def test_completed_run_says_only_its_run_level_warnings():
    warnings = {"velero": ["discovery is stale"], "cluster": ["x"], "namespaces": {"a": ["y"]}}
    assert run_warnings("backup", "b", "Completed", warnings, errors(0)) == ["backup b: discovery is stale"]
    assert run_warnings("backup", "b", None, {}, {}) == []


def test_partially_failed_run_names_the_first_errors_and_counts_the_rest():
    said = run_warnings("restore", "r", "PartiallyFailed", {}, errors(7), limit=5)
    assert said[0] == "restore r ended PartiallyFailed with 7 errors (all of them are in its restore_errors and its log)"
    assert said[1:6] == ["restore r error (namespace shop): configmaps shop/c%d: boom" % i for i in range(5)]
    assert said[6:] == ["restore r: and 2 more errors"]


def test_scopes_are_named_tool_cluster_then_namespaces():
    result = {"velero": ["backup failed: x"], "cluster": ["clusterroles a: y"], "namespaces": {"b": ["z"], "a": ["w"]}}
    said = run_warnings("backup", "n", "Failed", {}, result)
    assert said[1:] == ["backup n error (velero): backup failed: x", "backup n error (cluster): clusterroles a: y",
                        "backup n error (namespace a): w", "backup n error (namespace b): z"]


def test_forbidden_names_the_identity_subject_and_cluster_role():
    message = ('cannot list secrets in namespace shop: HTTP 403: secrets is forbidden: User '
               '"system:serviceaccount:ops:runner" cannot list resource "secrets"')
    (fix,) = hints.fixes(hints.BACKUP, [message])
    assert "system:serviceaccount:ops:runner" in fix and "ClusterRole kubedr-backup" in fix
    assert "kubedr.backup.rbac role" in fix and "rbac_backup_subjects: [{kind: ServiceAccount, name: runner, " \
        "namespace: ops}]" in fix
    (fix,) = hints.fixes(hints.RESTORE, ['HTTP 403: User "alice" cannot create'])
    assert "ClusterRole kubedr-restore" in fix and "{kind: User, name: alice}" in fix
    assert hints.fixes(hints.BACKUP, ["HTTP 401: Unauthorized"]) == [hints.UNAUTHORIZED_FIX]
    assert hints.fixes(hints.BACKUP, ["all fine", "HTTP 4031 is no status"]) == []


def test_no_node_agent_names_the_role_and_namespace():
    message = "volume data of pod a/b: no running node agent on node n1 (namespace agents, selector x=y)"
    (fix,) = hints.fixes(hints.BACKUP, [message], node_agent_namespace="default-ns")
    assert "kubedr.backup.node_agent role (node_agent_namespace: agents" in fix  # the one the run looked in
    (fix,) = hints.fixes(hints.RESTORE, ["pod a: no running node agent on node n1"], node_agent_namespace="default-ns")
    assert "node_agent_namespace: default-ns" in fix
    assert hints.with_fix(hints.BACKUP, "nothing to fix") == "nothing to fix"
    assert hints.with_fix(hints.BACKUP, "discovery failed: HTTP 401").endswith(hints.UNAUTHORIZED_FIX)


def test_module_result_gets_the_warnings_with_the_fixes():
    result = {"name": "b", "phase": "PartiallyFailed", "backup_warnings": {"velero": [], "cluster": [], "namespaces": {}},
              "backup_errors": errors(1, "a")}
    result["backup_errors"]["namespaces"]["a"].append('HTTP 403: User "u" cannot list')
    add_run_warnings(result, "backup")
    assert result["warnings"][0].startswith("backup b ended PartiallyFailed with 2 errors")
    assert "ClusterRole kubedr-backup" in result["warnings"][-1]
    completed = {"name": "b", "phase": "Completed", "backup_warnings": {}, "backup_errors": {}}
    assert "warnings" not in add_run_warnings(completed, "backup")
