# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a restore's decisions go: ``ClusterWriter`` carries them out in the cluster and waits
for what the writes start; ``PreviewWriter`` (check mode) reads the cluster and writes nothing,
reporting what would be done. The rest of the restore does not know which one it has."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import Deadline, poll
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import api_path
from ansible_collections.kubedr.backup.plugins.module_utils.restore.item_actions import SERVER_METADATA_FIELDS
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import PLAN_CREATE, PLAN_RECREATE, PLAN_UPDATE
from ansible_collections.kubedr.backup.plugins.module_utils.restore.report import (
    CREATED,
    FAILED,
    PLAN_OUTCOME,
    UPDATED,
    ItemResult,
    ItemFailed,
)

CRD_ESTABLISHED_TIMEOUT = 60.0
DISCOVERY_TIMEOUT = 60.0
TERMINATING_TIMEOUT = 600.0  # Velero's resourceTerminatingTimeout
DELETE_TIMEOUT = 120.0
POLL_INTERVAL = 0.5

# What a target namespace is once its items may come.
NAMESPACE_EXISTS, NAMESPACE_WOULD_BE_CREATED, NAMESPACE_FAILED = "exists", "would-create", "failed"
_ESTABLISHED, _MISSING = "established", "missing"


def api_reason(error):
    return describe_api_error(error) if isinstance(error, ApiException) else str(error)


def _api_status_reason(error):
    try:
        return json.loads(error.body or "{}").get("reason")
    except (ValueError, TypeError, AttributeError):
        return None


def get_live(kube, api_resource, namespace, name):
    """The object in the cluster, or None when there is none."""
    try:
        return kube.get(api_path(api_resource, namespace, name))
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def wait_gone(kube, api_resource, namespace, name, timeout):
    """True once the object is gone, False when it is still there after ``timeout`` seconds."""
    return poll(lambda: get_live(kube, api_resource, namespace, name) is None, timeout, POLL_INTERVAL)


def namespace_of(task, desired):
    return desired["metadata"].get("namespace") if task.api_resource.namespaced else None


def _unserved(desired):
    return ItemFailed(desired, "the cluster does not serve %s %s" % (desired.get("apiVersion"), desired.get("kind")))


class ClusterWriter(object):
    """Creates, updates and recreates items in the cluster; then waits for what the writes
    start: restored CRDs to be served after their tier, and once every tier is done the pods'
    volume data and exec hooks (``pods.PodWork``). With a ``readiness.TierGate`` the workloads a
    tier wrote are waited for before the next tier starts."""

    def __init__(self, kube, report, scope, pods, gate=None):
        self.kube = kube
        self.report = report
        self.scope = scope
        self.pods = pods
        self.gate = gate

    def unserved(self, task, desired):
        raise _unserved(desired)

    def create(self, task, desired, live=None):
        """Create the item unless it exists (``live``, or found on AlreadyExists): returns
        the live object, or None once the item is created."""
        if live is not None:
            return live
        namespace = namespace_of(task, desired)
        try:
            created = self._post(task, desired, namespace)
        except ApiException as error:
            if error.status != 409 or _api_status_reason(error) != "AlreadyExists":
                raise
            live = get_live(self.kube, task.api_resource, namespace, desired["metadata"]["name"])
            if live is not None:
                return live
            created = self._post(task, desired, namespace)  # deleted in between: try once more
        self._after_create(task, desired, created)
        return None

    def apply(self, task, desired, decision):
        """Update or recreate an existing item (``policy.decide``'s PLAN_UPDATE or PLAN_RECREATE)."""
        namespace = namespace_of(task, desired)
        name = desired["metadata"]["name"]
        if decision.action == PLAN_UPDATE:
            body = dict(decision.body)
            body["metadata"] = dict((k, v) for k, v in (body.get("metadata") or {}).items()
                                    if k not in SERVER_METADATA_FIELDS)
            self.kube.patch(task.api_resource, name, body, namespace)
            if self.gate is not None:
                self.gate.written(task, namespace, name)
            return ItemResult(UPDATED, desired, PLAN_UPDATE, reason="exists and differs")
        path = api_path(task.api_resource, namespace, name)
        self.kube.request("DELETE", path, body={"propagationPolicy": "Foreground"})
        if not wait_gone(self.kube, task.api_resource, namespace, name, DELETE_TIMEOUT):
            raise ItemFailed(desired, "deleted for recreate but still present after %ds" % DELETE_TIMEOUT,
                             PLAN_RECREATE)
        created = self._post(task, desired, namespace)
        self._after_create(task, desired, created)
        self.report.outcomes.count_recreated()
        return ItemResult(CREATED, desired, PLAN_RECREATE, reason="exists and differs: deleted and created again")

    def _post(self, task, desired, namespace):
        # Only a pod's answer is read (its uid for volume work and exec hooks): decoding every
        # created object would cost as much as encoding it.
        return self.kube.create(task.api_resource, desired, namespace, decode=task.group_resource == kr.PODS)

    def _after_create(self, task, desired, created):
        if self.gate is not None:
            self.gate.written(task, namespace_of(task, desired), desired["metadata"]["name"])
        if self.scope.ctx.restores_status_of_item(task.group_resource, desired) and desired.get("status"):
            path = api_path(task.api_resource, namespace_of(task, desired), desired["metadata"]["name"])
            try:
                self.kube.request("PATCH", path + "/status", body={"status": desired["status"]},
                                  content_type="application/merge-patch+json")
            except ApiException as error:
                if error.status not in (404, 405):  # no status subresource: status came with the create
                    self.report.warn_about(task, "%s %s: status not restored: %s" % (
                        task.group_resource, desired["metadata"]["name"], api_reason(error)))
        self.pods.created(task, desired, created)

    def await_namespace_gone(self, task, api_resource, target):
        """A namespace being deleted: None once it is gone, else its (failed) state."""
        self.report.log.info("Waiting for namespace to finish terminating", namespace=target)
        if wait_gone(self.kube, api_resource, None, target, TERMINATING_TIMEOUT):
            return None
        self.report.finish(task, ItemResult(FAILED, {"metadata": {"name": target}}, error=(
            "namespace %s is still terminating after %ds; nothing restored into it" % (target, TERMINATING_TIMEOUT))))
        return NAMESPACE_FAILED

    def namespace_state(self, target, outcome, live):
        return NAMESPACE_FAILED if outcome == FAILED else NAMESPACE_EXISTS

    def after_tier(self, tier):
        if kr.CRDS in tier:
            self._wait_for_crds()
        if self.gate is not None:
            self.gate.wait()

    def after_tiers(self):
        self.pods.restore_volumes()
        self.pods.run_exec_hooks()

    def _wait_for_crds(self):
        """Wait until every CRD of the backup present in the cluster is Established, then refresh
        discovery until their resources are served."""
        crd_resource = self.scope.discovery.find(kr.CRDS)
        wanted = [name for name in self.scope.crd_pending if crd_resource is not None]
        deadline = Deadline(CRD_ESTABLISHED_TIMEOUT)  # for all of them together
        for name in wanted:
            state = poll(functools.partial(self._crd_state, crd_resource, name), deadline.remaining(), POLL_INTERVAL)
            if state != _ESTABLISHED:
                self.report.results.warn("CustomResourceDefinition %s is not Established; its custom resources may "
                                         "fail" % name, cluster=True)
        if wanted:
            poll(functools.partial(self.scope.rediscover, wanted), DISCOVERY_TIMEOUT, POLL_INTERVAL)

    def _crd_state(self, crd_resource, name):
        """Established, missing (nothing to wait for) or None (not yet)."""
        live = get_live(self.kube, crd_resource, None, name)
        if live is None:
            return _MISSING
        conditions = (live.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return _ESTABLISHED
        return None


class PreviewWriter(object):
    """Check mode: reads the cluster, writes nothing, and reports what would be done. Nothing
    is waited for: nothing was started."""

    def __init__(self, kube, report, scope):
        self.kube = kube
        self.report = report
        self.scope = scope
        self._would_create = set()  # target namespaces a restore would create first

    def unserved(self, task, desired):
        if task.group_resource in self.scope.crd_pending:
            return ItemResult(CREATED, desired, PLAN_CREATE, reason="its CRD is restored first")
        raise _unserved(desired)

    def create(self, task, desired, live=None):
        """The live object, looked up afresh, or None when the item would be created (always
        in a namespace this restore would create first)."""
        namespace = namespace_of(task, desired)
        if namespace and namespace in self._would_create:
            return None
        return get_live(self.kube, task.api_resource, namespace, desired["metadata"]["name"])

    def apply(self, task, desired, decision):
        return ItemResult(PLAN_OUTCOME[decision.action], desired, decision.action, reason="exists and differs")

    def await_namespace_gone(self, task, api_resource, target):
        self.report.finish(task, ItemResult(CREATED, {"metadata": {"name": target}}, PLAN_CREATE, reason=(
            "the namespace is being deleted; it would be created again once it is gone")))
        self._would_create.add(target)
        return NAMESPACE_WOULD_BE_CREATED

    def namespace_state(self, target, outcome, live):
        if live is None:
            self._would_create.add(target)
            return NAMESPACE_WOULD_BE_CREATED
        return NAMESPACE_FAILED if outcome == FAILED else NAMESPACE_EXISTS

    def after_tier(self, tier):
        pass

    def after_tiers(self):
        pass
