# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target namespaces, made to exist before their items: from the backed-up definition when
the backup has it, else a bare one. A namespace being deleted is waited for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.restore.cluster import NAMESPACE_FAILED, api_reason, get_live
from ansible_collections.kubedr.backup.plugins.module_utils.restore.items import Task
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import map_namespace, source_namespace
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import PLAN_FAIL
from ansible_collections.kubedr.backup.plugins.module_utils.restore.report import FAILED, ItemResult


class Namespaces(object):
    """The target namespaces of one restore and their states (``cluster.NAMESPACE_*``).
    Ensured from one thread, before the items of each namespace are handed out."""

    def __init__(self, kube, options, extracted, scope, items, writer, report):
        self.kube = kube
        self.mapping = options["namespace_mapping"]
        self.extracted = extracted
        self.scope = scope
        self.items = items
        self.writer = writer
        self.report = report
        self._states = {}  # target namespace -> its state

    def restore_backed_up(self):
        """The backup's own Namespace items that are selected."""
        for _ns, name, item in self.extracted.items_of(kr.NAMESPACES):
            if self.scope.selected(kr.NAMESPACES, item, None) is None:
                task = Task(kr.NAMESPACES, self.scope.namespace_resource(), item, None)
                self.ensure(map_namespace(name, self.mapping), item, task)

    def ensure(self, target, definition=None, task=None):
        """The state of ``target``, restoring it first if that was not tried yet."""
        state = self._states.get(target)
        if state is not None:
            return state
        api_resource = self.scope.namespace_resource()
        if definition is None:
            definition = self._backed_up(target)
        if task is None:
            task = Task(kr.NAMESPACES, api_resource, definition or {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}}, None)
        state = self._restore(task, api_resource, target)
        self._states[target] = state
        return state

    def _backed_up(self, target):
        index = self.extracted.group(kr.NAMESPACES)
        source = source_namespace(target, self.mapping)
        for _ns, name, reference in (index.items() if index else ()):
            if name == source:
                return self.extracted.load(reference)
        return None

    def _restore(self, task, api_resource, target):
        try:
            live = get_live(self.kube, api_resource, None, target)
            if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
                state = self.writer.await_namespace_gone(task, api_resource, target)
                if state is not None:
                    return state
                live = None
            outcome = self.items.restore(task, live=live)
            return self.writer.namespace_state(target, outcome, live)
        except ApiException as error:  # forbidden and the like: its items fail, the run goes on
            failed = ItemResult(FAILED, {"metadata": {"name": target}}, PLAN_FAIL, error=api_reason(error))
            self.report.finish(task, failed)
            return NAMESPACE_FAILED
