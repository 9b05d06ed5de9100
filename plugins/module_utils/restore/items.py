# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One item from the backup to the cluster: prepared (``item_actions.prepare_for_restore``:
skip rules, item action, metadata reset, resource modifiers, mapping), given its pod additions,
then created, or, when it exists already, handled by the existing-object policy. The writer
(``cluster``) does it or, in check mode, previews it; the outcome is recorded once, here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.restore.cluster import api_reason
from ansible_collections.kubedr.backup.plugins.module_utils.restore.item_actions import prepare_for_restore
from ansible_collections.kubedr.backup.plugins.module_utils.restore.patches import ModifierError
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import (
    PLAN_CREATE,
    PLAN_SKIP,
    PLAN_SKIP_DIFFERS,
    PLAN_SKIP_IDENTICAL,
    decide,
)
from ansible_collections.kubedr.backup.plugins.module_utils.restore.report import CREATED, SKIPPED, ItemResult, ItemFailed


class Task(object):
    """One item to restore: where it comes from and the ApiResource it is created through."""

    __slots__ = ("group_resource", "api_resource", "item", "list_key", "source_namespace")

    def __init__(self, group_resource, api_resource, item, source_namespace):
        self.group_resource = group_resource
        self.api_resource = api_resource
        self.item = item
        self.list_key = results.resource_list_key(item.get("apiVersion"), item.get("kind"))
        self.source_namespace = source_namespace


class ItemRestorer(object):
    """Restores items one by one (from any thread)."""

    def __init__(self, options, scope, pods, writer, report):
        self.options = options
        self.scope = scope
        self.pods = pods
        self.writer = writer
        self.report = report

    def restore(self, task, live=None):
        """Restore (or preview) one item and record what happened; returns its outcome.
        ``live``: the object in the cluster when the caller has read it already."""
        try:
            result = self._restore(task, live)
        except ItemFailed as failure:
            result = failure.result
        self.report.finish(task, result)
        return result.outcome

    def _restore(self, task, live):
        try:
            prepared = prepare_for_restore(task.item, task.group_resource, self.scope.ctx)
        except ModifierError as error:
            raise ItemFailed(task.item, str(error))
        for warning in prepared.warnings:
            self.report.warn_about(task, warning)
        if prepared.item is None:
            return ItemResult(SKIPPED, task.item, PLAN_SKIP, reason=prepared.skip_reason)
        if task.group_resource == kr.PVS and not self.options["restore_pvs"]:
            return ItemResult(SKIPPED, task.item, PLAN_SKIP, reason="restore_pvs is false")
        desired = prepared.item
        if task.api_resource is None:
            task.api_resource = self.scope.api_resource(task.group_resource, desired)
        if task.api_resource is None:
            return self.writer.unserved(task, desired)
        desired = self.pods.with_additions(task, desired)
        try:
            live = self.writer.create(task, desired, live)
            if live is None:
                return ItemResult(CREATED, desired, PLAN_CREATE)
            return self._existing(task, desired, live)
        except ApiException as error:
            raise ItemFailed(desired, api_reason(error))

    def _existing(self, task, desired, live):
        decision = decide(self.options["existing_resource_policy"], task.group_resource, desired, live)
        if task.group_resource == kr.PVS and (live.get("status") or {}).get("phase") == "Released":
            self.report.results.warn("persistent volume %s exists and is Released (still reserved for a deleted "
                                     "claim); a restored claim binds to it only once its spec.claimRef.uid is removed"
                                     % desired["metadata"]["name"], cluster=True)
        if decision.live_diff.differs:
            self.report.add_diff(task, decision.live_diff)
        if decision.action == PLAN_SKIP_IDENTICAL:
            return ItemResult(SKIPPED, desired, decision.action, reason="exists and is identical")
        if decision.action == PLAN_SKIP_DIFFERS:
            return ItemResult(SKIPPED, desired, decision.action, reason="exists and differs",
                              warning="exists in the cluster and differs from the backup; left unchanged "
                                      "(existing_resource_policy none)")
        return self.writer.apply(task, desired, decision)
