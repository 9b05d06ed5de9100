# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness-gated tiers (the restore's ``wait_for_ready`` option): after a tier, wait until the
workloads it restored are ready before the next tier starts, so an operator and its webhooks
serve before their custom resources arrive. Each workload not ready in time is an error naming
it and what it lacks; the restore goes on (PartiallyFailed).

``not_ready_reason`` is pure; ``TierGate`` records what a tier wrote and waits on it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import threading

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import Deadline, poll
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import api_path
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection

OPTION = "wait_for_ready"
DEFAULT_RESOURCES = (kr.DEPLOYMENTS, kr.STATEFUL_SETS, kr.DAEMON_SETS)
DEFAULT_TIMEOUT = 300
POLL_INTERVAL = 1.0


def validate_option(value):
    """``{resources: [...], timeout: seconds}`` normalised; None when the option is not set."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict) or set(value) - {"resources", "timeout"}:
        raise InvalidOptionError("%s must be true or a dict with resources and/or timeout" % OPTION)
    resources = value.get("resources") or list(DEFAULT_RESOURCES)
    if not isinstance(resources, list) or not all(isinstance(r, str) and r for r in resources):
        raise InvalidOptionError("%s.resources must be a list of resource names" % OPTION)
    timeout = DEFAULT_TIMEOUT if value.get("timeout") is None else value["timeout"]
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
        raise InvalidOptionError("%s.timeout must be a number of seconds (1 or more), not %r" % (OPTION, timeout))
    return {"resources": resources, "timeout": timeout}


def _replicas(obj):
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def _condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)


def not_ready_reason(group_resource, obj):
    """None when the live object is ready, else what it lacks (as ``kubectl rollout status`` reads it)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") is not None and \
            status["observedGeneration"] < generation and group_resource != kr.PODS:
        return "its controller has not seen generation %s yet" % generation
    if group_resource in (kr.DEPLOYMENTS, kr.REPLICA_SETS, kr.STATEFUL_SETS):
        wanted = _replicas(obj)
        counted = "availableReplicas" if group_resource == kr.DEPLOYMENTS else "readyReplicas"
        have = status.get(counted) or 0
        return None if have >= wanted else "%d of %d replicas %s" % (
            have, wanted, "available" if counted == "availableReplicas" else "ready")
    if group_resource == kr.DAEMON_SETS:
        wanted, have = status.get("desiredNumberScheduled"), status.get("numberReady") or 0
        if wanted is None:
            return "not scheduled yet"
        return None if have >= wanted else "%d of %d pods ready" % (have, wanted)
    if group_resource == kr.PODS:
        ready = _condition(obj, "Ready")
        return None if ready and ready.get("status") == "True" else "not Ready (phase %s)" % status.get("phase")
    # Anything else (custom resources): a Ready or Available condition, when it has one.
    condition = _condition(obj, "Ready") or _condition(obj, "Available")
    if condition is None or condition.get("status") == "True":
        return None
    return "condition %s is %s%s" % (condition.get("type"), condition.get("status"),
                                     ": " + condition["message"] if condition.get("message") else "")


class TierGate(object):
    """Remembers the gated workloads a tier wrote (from the writer's threads) and, once the tier
    is done, waits for them together, the option's timeout for the whole tier."""

    def __init__(self, kube, report, option, api_resources):
        self.kube = kube
        self.report = report
        self.timeout = option["timeout"]
        self.resources = frozenset(selection.resolve_resource_patterns(option["resources"], api_resources, OPTION))
        self._written = []
        self._lock = threading.Lock()

    def gates(self, group_resource):
        return "*" in self.resources or group_resource in self.resources

    def written(self, task, namespace, name):
        if self.gates(task.group_resource):
            with self._lock:
                self._written.append((task.group_resource, task.api_resource, namespace, name))

    def wait(self):
        with self._lock:
            pending, self._written = self._written, []
        if not pending:
            return
        self.report.log.info("Waiting for the tier's workloads to be ready", count=len(pending), timeout=self.timeout)
        deadline = Deadline(self.timeout)
        for group_resource, api_resource, namespace, name in pending:
            reason = [None]
            if not poll(functools.partial(self._ready, group_resource, api_path(api_resource, namespace, name), reason),
                        deadline.remaining(), POLL_INTERVAL):
                where = "%s/%s" % (namespace, name) if namespace else name
                message = "%s %s not ready after %ds, before the next tier: %s" % (
                    group_resource, where, self.timeout, reason[0] or "not ready")
                self.report.results.error(message, namespace=namespace, cluster=not namespace)
                self.report.log.error(message)
        self.report.log.info("The tier's workloads are ready or reported", count=len(pending))

    def _ready(self, group_resource, path, reason):
        """True once ready (or gone: nothing to wait for); ``reason[0]`` keeps the last answer."""
        try:
            live = self.kube.get(path)
        except ApiException as error:
            reason[0] = "cannot be read: %s" % error
            return error.status == 404
        reason[0] = not_ready_reason(group_resource, live)
        return reason[0] is None
