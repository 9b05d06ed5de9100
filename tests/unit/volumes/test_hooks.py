import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import ExecResult


def pod(annotations=None, labels=None, ns="shop", containers=("app", "sidecar")):
    return {"metadata": {"name": "db-0", "namespace": ns, "annotations": annotations or {}, "labels": labels or {}},
            "spec": {"containers": [{"name": c} for c in containers]}}


def test_annotation_hook_parsed_with_velero_defaults():
    p = pod({"pre.hook.backup.velero.io/command": '["/bin/fsfreeze", "--freeze", "/data"]'})
    (hook,) = hooks.annotation_hooks(p, hooks.PRE)
    assert hook.command == ["/bin/fsfreeze", "--freeze", "/data"]
    assert (hook.container, hook.on_error, hook.timeout) == (None, "Fail", 30)
    assert hooks.annotation_hooks(p, hooks.POST) == []


def test_annotation_hook_all_fields_and_single_word_command():
    p = pod({"post.hook.backup.velero.io/command": "sync", "post.hook.backup.velero.io/container": "sidecar",
             "post.hook.backup.velero.io/on-error": "Continue", "post.hook.backup.velero.io/timeout": "1m30s"})
    (hook,) = hooks.annotation_hooks(p, hooks.POST)
    assert (hook.command, hook.container, hook.on_error, hook.timeout) == (["sync"], "sidecar", "Continue", 90)


@pytest.mark.parametrize("annotations, message", [
    ({"pre.hook.backup.velero.io/command": "[not json"}, "not a valid JSON array"),
    ({"pre.hook.backup.velero.io/command": "x", "pre.hook.backup.velero.io/on-error": "Ignore"}, "Continue or Fail"),
    ({"pre.hook.backup.velero.io/command": "x", "pre.hook.backup.velero.io/timeout": "soon"}, "not a duration"),
    ({"pre.hook.backup.velero.io/command": "[1, 2]"}, "list of strings"),
])
def test_bad_annotations_are_clear_errors(annotations, message):
    with pytest.raises(InvalidOptionError, match=message):
        hooks.annotation_hooks(pod(annotations), hooks.PRE)


OPTION = {"resources": [
    {"name": "freeze-db", "included_namespaces": ["shop", "bank-*"], "label_selector": {"match_labels": {"app": "db"}},
     "pre": [{"exec": {"command": ["freeze"], "on_error": "Continue", "timeout": "10s"}}],
     "post": [{"exec": {"command": ["thaw"], "container": "sidecar"}}]},
    {"name": "all-pods", "pre": [{"exec": {"command": ["echo", "hi"]}}]},
]}


def test_option_hooks_select_pods_by_namespace_and_labels():
    specs = hooks.parse_hooks_option(OPTION)
    db = pod(labels={"app": "db"})
    assert [h.command for h in hooks.hooks_for_pod(db, hooks.PRE, specs)] == [["freeze"], ["echo", "hi"]]
    assert [h.name for h in hooks.hooks_for_pod(db, hooks.POST, specs)] == ["freeze-db"]
    web = pod(labels={"app": "web"})
    assert [h.command for h in hooks.hooks_for_pod(web, hooks.PRE, specs)] == [["echo", "hi"]]
    other_ns = pod(labels={"app": "db"}, ns="bank-eu")
    assert len(hooks.hooks_for_pod(other_ns, hooks.PRE, specs)) == 2
    assert len(hooks.hooks_for_pod(pod(labels={"app": "db"}, ns="dev"), hooks.PRE, specs)) == 1


def test_annotations_replace_option_hooks_for_that_pod():
    specs = hooks.parse_hooks_option(OPTION)
    p = pod({"pre.hook.backup.velero.io/command": "own"}, labels={"app": "db"})
    assert [h.command for h in hooks.hooks_for_pod(p, hooks.PRE, specs)] == [["own"]]


def test_excluded_pods_resource_disables_the_entry():
    specs = hooks.parse_hooks_option({"resources": [{"excluded_resources": ["pods"],
                                                     "pre": [{"exec": {"command": ["x"]}}]}]})
    assert hooks.hooks_for_pod(pod(), hooks.PRE, specs) == []


@pytest.mark.parametrize("option, message", [
    ({"resources": "x"}, "list under 'resources'"),
    ({"resources": [{"pre": [{"http": {}}]}]}, r"hooks.resources\[0\].pre\[0\] must hold an exec hook"),
    ({"resources": [{"pre": [{"exec": {"command": []}}]}]}, "non-empty list"),
    ({"resources": [{"label_selector": "a in (", "pre": []}]}, "label_selector"),
])
def test_bad_option_is_a_clear_error(option, message):
    with pytest.raises(InvalidOptionError, match=message):
        hooks.parse_hooks_option(option)


def fake_exec(rcs):
    calls = []

    def run(api_client, namespace, name, command, container=None, timeout=None):
        calls.append((namespace, name, command, container, timeout))
        return ExecResult(rcs[len(calls) - 1], "", "boom" if rcs[len(calls) - 1] else "")
    return run, calls


def test_run_hooks_defaults_to_first_container_and_stops_on_fail():
    specs = hooks.parse_hooks_option({"resources": [{"pre": [
        {"exec": {"command": ["a"], "on_error": "Continue"}},
        {"exec": {"command": ["b"]}},
        {"exec": {"command": ["c"]}}]}]})
    run, calls = fake_exec([1, 2, 0])
    outcomes, failed = hooks.run_hooks(None, pod(), hooks.hooks_for_pod(pod(), hooks.PRE, specs), exec_fn=run)
    assert failed is True
    assert [c[2] for c in calls] == [["a"], ["b"]]  # c never ran
    assert calls[0][3] == "app"
    assert [o.ok for o in outcomes] == [False, False]
    assert outcomes[0].message == "exit status 1: boom"


def test_run_hooks_continue_failure_is_not_fatal():
    specs = hooks.parse_hooks_option({"resources": [{"pre": [{"exec": {"command": ["a"], "on_error": "Continue"}}]}]})
    run, calls = fake_exec([5])
    outcomes, failed = hooks.run_hooks(None, pod(), hooks.hooks_for_pod(pod(), hooks.PRE, specs), exec_fn=run)
    assert failed is False and outcomes[0].ok is False and len(calls) == 1


def test_restore_annotations_give_an_init_container_and_an_exec_hook():
    p = pod({"init.hook.restore.velero.io/container-image": "alpine:3", "init.hook.restore.velero.io/container-name":
             "seed", "init.hook.restore.velero.io/command": '["/bin/sh", "-c", "echo seeded"]',
             "post.hook.restore.velero.io/command": '["/bin/reindex"]', "post.hook.restore.velero.io/on-error":
             "Continue", "post.hook.restore.velero.io/exec-timeout": "2m", "post.hook.restore.velero.io/wait-timeout":
             "5m"})
    init, execs = hooks.restore_hooks_for_pod(p, [])
    assert init == [{"name": "seed", "image": "alpine:3", "command": ["/bin/sh", "-c", "echo seeded"]}]
    (restore_hook,) = execs
    assert (restore_hook.hook.command, restore_hook.hook.on_error, restore_hook.hook.timeout) == (
        ["/bin/reindex"], "Continue", 120)
    assert restore_hook.wait_timeout == 300 and restore_hook.wait_for_ready is False


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("T", True), ("false", False),
                                             ("yes", False), ("", False)])
def test_restore_wait_for_ready_annotation_reads_as_go_parses_bool(value, expected):
    annotated = pod({"post.hook.restore.velero.io/command": "x", "post.hook.restore.velero.io/wait-for-ready": value})
    (restore_hook,) = hooks.restore_hooks_for_pod(annotated, [])[1]
    assert restore_hook.wait_for_ready is expected


def test_container_up_is_running_or_ready():
    def with_status(running, ready):
        return {"status": {"containerStatuses": [
            {"name": "side", "ready": True, "state": {"running": {}}},
            {"name": "app", "ready": ready, "state": {"running": {}} if running else {"waiting": {}}}]}}
    assert hooks.container_up(with_status(True, False), "app")
    assert not hooks.container_up(with_status(True, False), "app", wait_for_ready=True)
    assert hooks.container_up(with_status(True, True), "app", wait_for_ready=True)
    assert not hooks.container_up(with_status(False, False), "app")
    assert not hooks.container_up(with_status(True, True), "missing")
    assert not hooks.container_up({}, "app")


RESTORE_OPTION = {"resources": [{"name": "warm-cache", "included_namespaces": ["shop"], "post_hooks": [
    {"init": {"init_containers": [{"name": "prep", "image": "busybox"}]}},
    {"exec": {"command": ["warm"], "exec_timeout": "10s", "wait_timeout": "1m", "wait_for_ready": True}}]}]}


def test_restore_option_hooks_apply_to_matching_pods_unless_annotations_say_otherwise():
    specs = hooks.parse_restore_hooks_option(RESTORE_OPTION)
    init, execs = hooks.restore_hooks_for_pod(pod(), specs)
    assert init == [{"name": "prep", "image": "busybox"}]
    assert [(h.hook.command, h.hook.timeout, h.wait_timeout, h.wait_for_ready) for h in execs] == [
        (["warm"], 10, 60, True)]
    assert hooks.restore_hooks_for_pod(pod(ns="dev"), specs) == ([], [])
    annotated = pod({"post.hook.restore.velero.io/command": "own"})
    init, execs = hooks.restore_hooks_for_pod(annotated, specs)
    assert init == [{"name": "prep", "image": "busybox"}]  # the option's init hook still applies
    assert [h.hook.command for h in execs] == [["own"]]


@pytest.mark.parametrize("option, message", [
    ({"resources": [{"post_hooks": [{"init": {}, "exec": {}}]}]}, "exactly one of init and exec"),
    ({"resources": [{"post_hooks": [{"init": {"init_containers": [{"name": "x"}]}}]}]}, "name and image"),
    ({"resources": [{"post_hooks": [{"exec": {"command": ["x"], "wait_timeout": "later"}}]}]}, "not a duration"),
    ({"resources": [{"post_hooks": [{"exec": {"command": ["x"], "wait_for_ready": "yes"}}]}]},
     "wait_for_ready must be true or false"),
])
def test_bad_restore_hooks_are_clear_errors(option, message):
    with pytest.raises(InvalidOptionError, match=message):
        hooks.parse_restore_hooks_option(option)


class ExecRefused(object):
    """A KubeClient whose exec client refuses every exec (as under impersonation); counts how
    often the client is asked for."""

    def __init__(self):
        self.tries = 0

    @property
    def exec_client(self):
        from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import RefusedExec
        self.tries += 1
        return RefusedExec("pod exec (hooks, pod volume data) cannot impersonate")


def test_hooks_that_cannot_exec_fail_with_the_reason_and_stop_at_a_fail_hook():
    specs = hooks.parse_hooks_option({"resources": [{"pre": [
        {"exec": {"command": ["a"], "on_error": "Continue"}},
        {"exec": {"command": ["b"]}},
        {"exec": {"command": ["c"]}}]}]})
    outcomes, failed = hooks.run_hooks(ExecRefused().exec_client, pod(), hooks.hooks_for_pod(pod(), hooks.PRE, specs))
    assert failed is True
    assert [(o.hook.command, o.ok) for o in outcomes] == [(["a"], False), (["b"], False)]
    assert all("cannot impersonate" in o.message for o in outcomes)


def test_pods_without_hooks_never_build_the_exec_client():
    """The exec client may import the kubernetes package (tenths of a second, tens of MiB): a
    backup of pods without hooks must not pay for it; a pod with a hook does, and records the failure."""
    from ansible_collections.kubedr.backup.plugins.module_utils.archive import results as results_mod
    from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RunLog
    from ansible_collections.kubedr.backup.plugins.module_utils.backup.pods import PodWork

    kube = ExecRefused()
    run_results, log = results_mod.Results(), RunLog("b")
    work = PodWork(kube, {}, {"hooks": {"resources": [{"included_namespaces": ["bank"], "pre": [
        {"exec": {"command": ["sync"]}}]}]}}, "b", "uid", run_results, log)
    work.run_hooks([pod(ns="shop")], hooks.PRE)
    assert kube.tries == 0 and run_results.error_count() == 0
    work.run_hooks([pod(ns="bank")], hooks.PRE)
    assert kube.tries == 1 and run_results.error_count() == 1
    log.close()
