# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Backup exec hooks, as Velero defines them: from pod annotations
(``pre.hook.backup.velero.io/{container,command,on-error,timeout}`` and ``post.``) or
from the ``hooks`` option shaped like Velero's ``spec.hooks`` (``resources`` with
namespace/resource/label filters and ``pre``/``post`` lists of ``exec`` hooks).
A pod's annotations, when present, replace the option's hooks for that pod (Velero).

Parsing and selection are pure; run_hooks() execs them through the API server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import (
    INIT_RESTORE_HOOK_PREFIX, PODS, POST_BACKUP_HOOK_PREFIX, POST_RESTORE_HOOK_PREFIX, PRE_BACKUP_HOOK_PREFIX,
)
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_duration
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import IncludesExcludes
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_selector_option

PRE, POST = "pre", "post"
ON_ERROR = ("Continue", "Fail")
DEFAULT_TIMEOUT = 30  # seconds, Velero's default exec hook timeout
_BACKUP_HOOK_PREFIX = {PRE: PRE_BACKUP_HOOK_PREFIX, POST: POST_BACKUP_HOOK_PREFIX}
POD_RESOURCE_NAMES = (PODS, "pod", "po")  # how hooks.resources may name pods

ExecHook = namedtuple("ExecHook", "name container command on_error timeout")


def parse_timeout(value, where):
    """Seconds in a hook timeout: an int, or a Go duration (``30s``, ``1m30s``); Velero's
    default when unset."""
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    return parse_duration(value, option="%s: timeout" % where, example="30s or 2m")


def parse_command(value, where):
    """A hook command: a list of strings, or (annotations) a JSON array or a single word."""
    if isinstance(value, list):
        command = value
    else:
        text = str(value or "").strip()
        if text.startswith("["):
            try:
                command = json.loads(text)
            except ValueError:
                raise InvalidOptionError("%s: command is not a valid JSON array: %s" % (where, text))
        else:
            command = [text] if text else []
    if not command or not all(isinstance(part, str) for part in command):
        raise InvalidOptionError("%s: command must be a non-empty list of strings" % where)
    return command


def _hook(name, spec, where):
    on_error = spec.get("on_error") or spec.get("onError") or "Fail"
    if on_error not in ON_ERROR:
        raise InvalidOptionError("%s: on_error must be Continue or Fail, not %r" % (where, on_error))
    return ExecHook(name, spec.get("container") or None, parse_command(spec.get("command"), where), on_error,
                    parse_timeout(spec.get("timeout"), where))


def annotation_hooks(pod, phase):
    """The pod's hook of this phase from its annotations, as a list of 0 or 1 ExecHook."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    prefix = _BACKUP_HOOK_PREFIX[phase]
    command = annotations.get(prefix + "command")
    if not command:
        return []
    meta = pod.get("metadata") or {}
    where = "annotation %scommand of pod %s/%s" % (prefix, meta.get("namespace"), meta.get("name"))
    return [_hook("<from-annotation>", {
        "container": annotations.get(prefix + "container"),
        "command": command,
        "on_error": annotations.get(prefix + "on-error"),
        "timeout": annotations.get(prefix + "timeout"),
    }, where)]


class ResourceHookSpec(object):
    """One entry of hooks.resources: which pods, and their pre/post exec hooks."""

    def __init__(self, spec, index):
        where = "hooks.resources[%d]" % index
        if not isinstance(spec, dict):
            raise InvalidOptionError("%s must be a dict" % where)
        self.name = spec.get("name") or "hook-%d" % index
        self.namespaces = IncludesExcludes(spec.get("included_namespaces") or ["*"],
                                           spec.get("excluded_namespaces") or [])
        resources = [r.lower() for r in spec.get("included_resources") or []]
        self.resources_allow_pods = not resources or any(r == "*" or r in POD_RESOURCE_NAMES for r in resources)
        excluded = [r.lower() for r in spec.get("excluded_resources") or []]
        if any(r in POD_RESOURCE_NAMES for r in excluded):
            self.resources_allow_pods = False
        selector = spec.get("label_selector")
        self.selector = parse_selector_option(selector, where + ".label_selector") if selector else None
        self.hooks = {}
        for phase in (PRE, POST):
            entries = spec.get(phase) or []
            if not isinstance(entries, list):
                raise InvalidOptionError("%s.%s must be a list" % (where, phase))
            parsed = []
            for position, entry in enumerate(entries):
                exec_spec = (entry or {}).get("exec") if isinstance(entry, dict) else None
                if not isinstance(exec_spec, dict):
                    raise InvalidOptionError("%s.%s[%d] must hold an exec hook" % (where, phase, position))
                parsed.append(_hook(self.name, exec_spec, "%s.%s[%d].exec" % (where, phase, position)))
            self.hooks[phase] = parsed

    def applies_to(self, pod):
        meta = pod.get("metadata") or {}
        if not self.resources_allow_pods or not self.namespaces.should_include(meta.get("namespace")):
            return False
        return self.selector is None or self.selector.matches(meta.get("labels") or {})


def parse_hooks_option(hooks):
    """The `hooks` option (Velero's spec.hooks in snake_case) as a list of ResourceHookSpec."""
    if not hooks:
        return []
    if not isinstance(hooks, dict) or not isinstance(hooks.get("resources", []), list):
        raise InvalidOptionError("hooks must be a dict with a list under 'resources'")
    return [ResourceHookSpec(spec, index) for index, spec in enumerate(hooks.get("resources") or [])]


def hooks_for_pod(pod, phase, resource_hooks):
    """The exec hooks of this phase for the pod: its annotations' when it has any, else the
    option's matching entries, in order."""
    from_annotations = annotation_hooks(pod, phase)
    if from_annotations:
        return from_annotations
    hooks = []
    for spec in resource_hooks:
        if spec.applies_to(pod):
            hooks.extend(spec.hooks[phase])
    return hooks


def default_container(pod):
    containers = (pod.get("spec") or {}).get("containers") or []
    return containers[0]["name"] if containers else None


HookOutcome = namedtuple("HookOutcome", "hook ok message")


def run_hooks(api_client, pod, hooks, exec_fn=exec_in_pod):
    """Run the hooks in order in the pod. Stops at the first failing hook whose on_error is
    Fail. Returns (outcomes, failed): failed is True when a Fail hook failed."""
    meta = pod.get("metadata") or {}
    outcomes = []
    for hook in hooks:
        container = hook.container or default_container(pod)
        try:
            res = exec_fn(api_client, meta.get("namespace"), meta.get("name"), hook.command, container=container,
                          timeout=hook.timeout)
            ok = res.rc == 0
            message = "" if ok else "exit status %d: %s" % (res.rc, (res.stderr or res.stdout).strip()[-300:])
        except KubedrError as e:
            ok, message = False, str(e)
        outcomes.append(HookOutcome(hook, ok, message))
        if not ok and hook.on_error == "Fail":
            return outcomes, True
    return outcomes, False


def record_outcomes(outcomes, label, results, log, namespace=None):
    """Log every hook outcome as "<label> <hook name>: ok|<why>"; a failed hook is an error of
    the run when its on_error is Fail, a warning when it is Continue."""
    for outcome in outcomes:
        text = "%s %s: %s" % (label, outcome.hook.name, "ok" if outcome.ok else outcome.message)
        if outcome.ok:
            log.info(text, namespace=namespace)
        elif outcome.hook.on_error == "Fail":
            results.error(text, namespace=namespace)
            log.error(text, namespace=namespace)
        else:
            results.warn(text, namespace=namespace)
            log.warning(text, namespace=namespace)


# --------------------------------------------------------------------------- restore hooks

DEFAULT_WAIT_TIMEOUT = 0  # Velero: no wait timeout means wait as long as the restore allows

# An exec hook of a restored pod, how long to wait for its container first, and whether to wait until the
# container is Ready rather than running (Velero's waitForReady).
RestoreExecHook = namedtuple("RestoreExecHook", "hook wait_timeout wait_for_ready")
# Go's strconv.ParseBool, which Velero reads the wait-for-ready annotation with.
_GO_TRUE = frozenset(("1", "t", "T", "true", "TRUE", "True"))


def container_up(pod, container, wait_for_ready=False):
    """Whether a hook may run in ``container`` of ``pod`` (Velero's isContainerUp): the container
    is running, or, with wait_for_ready, Ready."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == container:
            if wait_for_ready:
                return status.get("ready") is True
            return bool((status.get("state") or {}).get("running") is not None)
    return False


def restore_init_containers(pod):
    """The init containers Velero's restore annotations ask for (init.hook.restore.velero.io/
    container-image, container-name, command), as a list of 0 or 1 container dicts."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    prefix = INIT_RESTORE_HOOK_PREFIX
    image = annotations.get(prefix + "container-image")
    if not image:
        return []
    meta = pod.get("metadata") or {}
    where = "annotation %scommand of pod %s/%s" % (prefix, meta.get("namespace"), meta.get("name"))
    container = {"name": annotations.get(prefix + "container-name") or "restore-hook", "image": image}
    if annotations.get(prefix + "command"):
        container["command"] = parse_command(annotations[prefix + "command"], where)
    return [container]


def restore_annotation_exec_hooks(pod):
    """The post-restore exec hook of the pod's annotations (post.hook.restore.velero.io/...)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    prefix = POST_RESTORE_HOOK_PREFIX
    command = annotations.get(prefix + "command")
    if not command:
        return []
    meta = pod.get("metadata") or {}
    where = "annotation %scommand of pod %s/%s" % (prefix, meta.get("namespace"), meta.get("name"))
    hook = _hook("<from-annotation>", {
        "container": annotations.get(prefix + "container"),
        "command": command,
        "on_error": annotations.get(prefix + "on-error"),
        "timeout": annotations.get(prefix + "exec-timeout"),
    }, where)
    # As Velero: any value strconv.ParseBool does not read as true (an invalid one too) means false.
    return [RestoreExecHook(hook, parse_timeout(annotations.get(prefix + "wait-timeout") or "0s", where),
                            annotations.get(prefix + "wait-for-ready") in _GO_TRUE)]


class RestoreHookSpec(ResourceHookSpec):
    """One entry of the restore's hooks.resources: which pods, and their post_hooks, each an
    `init` (init_containers added to the pod) or an `exec` (run once the pod runs)."""

    def __init__(self, spec, index):
        where = "hooks.resources[%d]" % index
        if not isinstance(spec, dict):
            raise InvalidOptionError("%s must be a dict" % where)
        super(RestoreHookSpec, self).__init__(dict((k, v) for k, v in spec.items() if k != "post_hooks"), index)
        self.init_containers = []
        self.exec_hooks = []
        entries = spec.get("post_hooks") or []
        if not isinstance(entries, list):
            raise InvalidOptionError("%s.post_hooks must be a list" % where)
        for position, entry in enumerate(entries):
            at = "%s.post_hooks[%d]" % (where, position)
            if not isinstance(entry, dict) or len(set(entry) & set(["init", "exec"])) != 1:
                raise InvalidOptionError("%s must hold exactly one of init and exec" % at)
            if "init" in entry:
                containers = (entry["init"] or {}).get("init_containers") or []
                if not isinstance(containers, list) or not all(
                        isinstance(c, dict) and c.get("name") and c.get("image") for c in containers):
                    raise InvalidOptionError("%s.init.init_containers must be a list of containers with name and "
                                             "image" % at)
                self.init_containers.extend(containers)
            else:
                spec_exec = entry["exec"] or {}
                hook = _hook(self.name, dict(spec_exec, timeout=spec_exec.get("exec_timeout")), at + ".exec")
                wait_for_ready = spec_exec.get("wait_for_ready", spec_exec.get("waitForReady", False))
                if not isinstance(wait_for_ready, bool):
                    raise InvalidOptionError("%s.exec.wait_for_ready must be true or false" % at)
                self.exec_hooks.append(RestoreExecHook(
                    hook, parse_timeout(spec_exec.get("wait_timeout") or "0s", at + ".exec"), wait_for_ready))


def parse_restore_hooks_option(hooks):
    """The restore's `hooks` option (Velero's RestoreSpec.hooks in snake_case)."""
    if not hooks:
        return []
    if not isinstance(hooks, dict) or not isinstance(hooks.get("resources", []), list):
        raise InvalidOptionError("hooks must be a dict with a list under 'resources'")
    return [RestoreHookSpec(spec, index) for index, spec in enumerate(hooks.get("resources") or [])]


def restore_hooks_for_pod(pod, resource_hooks):
    """(init containers to add, exec hooks to run) for a restored pod: its annotations' when it
    has any (of each kind), else the option's matching entries, in order (Velero)."""
    init = restore_init_containers(pod)
    execs = restore_annotation_exec_hooks(pod)
    matching = [spec for spec in resource_hooks if spec.applies_to(pod)]
    if not init:
        init = [c for spec in matching for c in spec.init_containers]
    if not execs:
        execs = [h for spec in matching for h in spec.exec_hooks]
    return init, execs
