# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore tells: the outcome of each item (Velero's resource list, the log, check
mode's plan), warnings and errors, diffs with secret values hidden, and the module result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from typing import NamedTuple, Optional

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive.restore_record import (  # noqa: F401 (re-exported)
    CREATED,
    FAILED,
    OUTCOMES,
    SKIPPED,
    UPDATED,
)
from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.secrets import secret_diff
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import map_namespace
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import (
    PLAN_CREATE,
    PLAN_FAIL,
    PLAN_RECREATE,
    PLAN_SKIP,
    PLAN_SKIP_DIFFERS,
    PLAN_SKIP_IDENTICAL,
    PLAN_UPDATE,
)

PLAN_OUTCOME = {PLAN_CREATE: CREATED, PLAN_UPDATE: UPDATED, PLAN_RECREATE: CREATED, PLAN_SKIP: SKIPPED,
                PLAN_SKIP_IDENTICAL: SKIPPED, PLAN_SKIP_DIFFERS: SKIPPED, PLAN_FAIL: FAILED}


class Outcomes(object):
    """Per item: what happened (Velero's resource list) and counts per resource. Thread-safe.

    The entries go to a sorted spool (archive/results.py, as the backup's resource list does): a
    restore of 300,000 items held 14 MiB of them in memory, and about as much again to sort and
    encode the largest resource's at the end (docs/performance.md)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = results.ResourceListSpool()  # entries "<ns/name>(<outcome>)"
        self._counts = {}
        self.recreated = 0

    def record(self, list_key, namespace, name, outcome):
        with self._lock:
            self._entries.add(list_key, "%s(%s)" % (results.item_display_name(namespace, name), outcome))
            per = self._counts.get(list_key)
            if per is None:
                per = self._counts[list_key] = dict((o, 0) for o in OUTCOMES)
            per[outcome] += 1

    def count_recreated(self):
        with self._lock:
            self.recreated += 1

    def resource_list(self):
        return self._entries.as_dict()

    def write_resource_list(self, out):
        """Velero's resource list as ``layout.gzip_json`` encodes it, written into ``out`` as the
        sorted entries stream by."""
        self._entries.write(out)

    def close(self):
        self._entries.close()

    def counts(self):
        totals = dict((o, sum(c[o] for c in self._counts.values())) for o in OUTCOMES)
        totals["total"] = sum(totals.values())
        totals["recreated"] = self.recreated
        totals["per_resource"] = dict(sorted(self._counts.items()))
        return totals

    def changed(self):
        return any(c[CREATED] or c[UPDATED] for c in self._counts.values())


class ItemResult(NamedTuple):
    """What happened to one item: its outcome, the object the message names (``target``),
    the action for check mode's plan (None: the outcome) and why, with a warning or error."""
    outcome: str
    target: dict
    action: Optional[str] = None
    reason: Optional[str] = None
    warning: Optional[str] = None
    error: Optional[str] = None


class ItemFailed(Exception):
    """One item could not be restored: the failure is recorded for it and the run goes on."""

    def __init__(self, target, error, action=PLAN_FAIL):
        super(ItemFailed, self).__init__(error)
        self.result = ItemResult(FAILED, target, action, error=error)


class RestoreReport(object):
    """The outcomes, results, log, plan and diffs of one restore. Thread-safe."""

    def __init__(self, name, backup_name, namespace_mapping, check_mode=False, diff=False):
        self.name = name
        self.backup_name = backup_name
        self.namespace_mapping = namespace_mapping
        self.check_mode = check_mode
        self.want_diff = diff
        self.results = results.Results()
        self.outcomes = Outcomes()
        self.log = runlog.RunLog(name, runlog.RESTORE)
        self.plan = []
        self.diffs = []
        self.on_item = None  # called after each item is recorded (the progress object)
        self.api_versions = {}  # group_resource -> the API version chosen (restore/versions.describe)
        self._lock = threading.Lock()

    def scope(self, task):
        """Where a message about an item goes: its namespace in the cluster, else the cluster."""
        namespace = map_namespace(task.source_namespace, self.namespace_mapping)
        return {"namespace": namespace or None, "cluster": not namespace}

    def warn_about(self, task, message):
        self.results.warn(message, **self.scope(task))

    def error_about(self, task, message):
        self.results.error(message, **self.scope(task))
        self.log.error(message, resource=task.group_resource, namespace=self.scope(task)["namespace"])

    def finish(self, task, done):
        """Record what happened to an item: results, log, resource list and plan."""
        namespace = map_namespace(task.source_namespace, self.namespace_mapping) or None
        name = (done.target.get("metadata") or {}).get("name")
        if done.target is task.item and task.group_resource == kr.NAMESPACES:
            name = map_namespace(name, self.namespace_mapping)
        label = "%s %s" % (task.group_resource, results.item_display_name(namespace, name))
        scope = {"namespace": namespace, "cluster": not namespace}
        if done.warning:
            self.results.warn("%s: %s" % (label, done.warning), **scope)
            self.log.warning(done.warning, resource=task.group_resource, namespace=namespace, name=name)
        if done.error:
            self.results.error("%s: %s" % (label, done.error), **scope)
            self.log.error(done.error, resource=task.group_resource, namespace=namespace, name=name)
        self.outcomes.record(task.list_key, namespace, name, done.outcome)
        action = done.action or done.outcome
        self.log.info("Restore of item %s" % action, resource=task.group_resource,
                      namespace=namespace, name=name, reason=done.reason)
        if self.check_mode:
            entry = {"resource": task.list_key, "group_resource": task.group_resource, "namespace": namespace,
                     "name": name, "action": action}
            if done.reason:
                entry["reason"] = done.reason
            with self._lock:
                self.plan.append(entry)
        if self.on_item is not None:
            self.on_item()

    def add_diff(self, task, live_diff):
        if not self.want_diff:
            return
        metadata = live_diff.before.get("metadata") or {}
        where = "%s %s" % (task.list_key, results.item_display_name(metadata.get("namespace"), metadata.get("name")))
        before, after = secret_diff(live_diff.before, live_diff.after)
        with self._lock:
            self.diffs.append({"before_header": "%s (in the cluster)" % where,
                               "after_header": "%s (from backup %s)" % (where, self.backup_name),
                               "before": before, "after": after})

    def result(self, phase, started, completed, storage):
        """The module result; ``storage``: URLs of what was written under restores/<name>/."""
        result = {
            "changed": self.outcomes.changed(),
            "name": self.name,
            "backup_name": self.backup_name,
            "phase": None if self.check_mode else phase,
            "start_timestamp": rfc3339(started),
            "completion_timestamp": rfc3339(completed),
            "item_counts": self.outcomes.counts(),
            "restore_warnings": self.results.warnings,
            "restore_errors": self.results.errors,
            "warning_count": self.results.warning_count(),
            "error_count": self.results.error_count(),
            "storage": storage,
        }
        if self.api_versions:
            result["api_versions"] = dict(sorted(self.api_versions.items()))
        if self.check_mode:
            result["plan"] = sorted(self.plan, key=lambda e: (e["resource"], e["namespace"] or "", e["name"]))
            result["plan_summary"] = plan_summary(result["plan"])
        if self.want_diff:
            result["diff"] = sorted(self.diffs, key=lambda d: d["before_header"])
        return result


UNCHANGED_ACTIONS = frozenset([PLAN_SKIP, PLAN_SKIP_IDENTICAL])  # the cluster already has it, or it is not restored


def plan_summary(plan):
    """Counts of a check-mode plan by action, and by namespace (``""``: cluster-scoped) and action,
    and the entries that would change something or differ from the cluster (``differs``)."""
    per_action, per_namespace = {}, {}
    for entry in plan:
        action = entry["action"]
        per_action[action] = per_action.get(action, 0) + 1
        counts = per_namespace.setdefault(entry["namespace"] or "", {})
        counts[action] = counts.get(action, 0) + 1
    differs = [entry for entry in plan if entry["action"] not in UNCHANGED_ACTIONS]
    return {"per_action": per_action, "per_namespace": per_namespace, "differs": differs}
