# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One item from the backup to the cluster: prepared (``item_actions.prepare_for_restore``:
skip rules, item action, metadata reset, resource modifiers, mapping), given its pod additions,
then created, or, when it exists already, handled by the existing-object policy. The writer
(``cluster``) does it or, in check mode, previews it; the outcome is recorded once, here.

Each item is restored in isolation: an item of the kind of another resource than its archive
path's, stored at the wrong scope, or shaped so that its preparation fails (a field of an
unexpected type) is that item's error, never the run's (docs/reliability.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import item_path
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

# What code written for well-formed objects raises on an item whose fields have other types or
# shapes (a list where a map belongs, a number where a name belongs): that item's error.
MALFORMED_ITEM_ERRORS = (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError)


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

    def _entry(self, task):
        return item_path(task.group_resource, task.source_namespace, (task.item.get("metadata") or {}).get("name"))

    def _check_placement(self, task):
        """An item whose kind the cluster serves as another resource, or at another scope, than its
        archive path says is not restored: the path chose the filters it passed."""
        served = self.scope.served_as(task.item)
        if served is None:
            return
        if served.group_resource != task.group_resource:
            raise ItemFailed(task.item, "backup archive entry %s is a %s %s, which is %s, not %s" % (
                self._entry(task), task.item.get("apiVersion"), task.item.get("kind"), served.group_resource,
                task.group_resource))
        if served.namespaced != bool(task.source_namespace):
            raise ItemFailed(task.item, "backup archive entry %s is stored as %s, but %s is %s" % (
                self._entry(task), "namespaced" if task.source_namespace else "cluster-scoped", task.group_resource,
                "namespaced" if served.namespaced else "cluster-scoped"))

    def _restore(self, task, live):
        self._check_placement(task)
        try:
            prepared = prepare_for_restore(task.item, task.group_resource, self.scope.ctx)
        except ModifierError as error:
            raise ItemFailed(task.item, str(error))
        except MALFORMED_ITEM_ERRORS as error:
            raise ItemFailed(task.item, "backup archive entry %s cannot be prepared for the restore (%s: %s)" % (
                self._entry(task), type(error).__name__, str(error)[:200]))
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
            unserved_version = self.scope.unserved_version(task.group_resource)
            if unserved_version is not None:
                raise ItemFailed(task.item, unserved_version)
            return self.writer.unserved(task, desired)
        try:
            desired = self.pods.with_additions(task, desired)
        except MALFORMED_ITEM_ERRORS as error:
            raise ItemFailed(task.item, "backup archive entry %s cannot be prepared for the restore (%s: %s)" % (
                self._entry(task), type(error).__name__, str(error)[:200]))
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
