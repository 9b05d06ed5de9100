# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The items of a backup: list every selected type, back each selected item up once into
the archive, then the items the item actions pulled in (resolved with LISTs, round by round),
then the Namespace objects; with ``all_api_versions``, every backed-up item of a type served in
several versions once more in each other version.

The main pass goes through worker processes where they help (``workers.py``): they write
their items into fragments of the archive, the parent records the names they wrote.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive.results import item_display_name
from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import item_paths, version_copy_path
from ansible_collections.kubedr.backup.plugins.module_utils.backup import item_actions
from ansible_collections.kubedr.backup.plugins.module_utils.backup import workers as backup_workers
from ansible_collections.kubedr.backup.plugins.module_utils.backup.listing import (
    Lister, list_tasks, namespaces_to_list, referenced_list_tasks)
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import NAMESPACES
from ansible_collections.kubedr.backup.plugins.module_utils.kube.pages import raw_page_items

MAX_ACTION_ROUNDS = 6


class CountingSink(object):
    """Stands in for the archive writer in check mode: nothing is written."""

    entries = 0
    uncompressed_bytes = 0

    def add_item(self, api_resource, item):
        return item_paths(api_resource, item)

    def add_version_copy(self, api_resource, item):
        return version_copy_path(api_resource, item)

    def close(self):
        pass


class Collector(object):
    """Backs the items of a BackupScope up into ``sink``, recording each in ``index``.

    ``pod_work`` (a PodWork) sees every item taken; its types stay in this process.
    ``progress(phase)`` is called after each item or page."""

    def __init__(self, kube, scope, sink, index, results, log, pod_work, progress, check_mode=False):
        self.scope = scope
        self.selection = scope.selection
        self.sink = sink
        self.index = index
        self.results = results
        self.log = log
        self.pod_work = pod_work
        self.progress = progress
        self.check_mode = check_mode
        self.lister = Lister(kube, results, log)
        self.pending = set()
        # Types with items backed up, and those with items pulled in by actions (which need not match
        # the label selector): what the other-versions pass lists, and how.
        self.taken_types = set()
        self.additional_types = set()

    # Items ---------------------------------------------------------------------

    def take(self, api_resource, item, additional=False):
        """Back one item up (if selected and not yet backed up) and queue what its actions pull in."""
        reason = self.selection.item_skip_reason(api_resource, item, additional)
        metadata = item.get("metadata") or {}
        namespace = metadata.get("namespace") if api_resource.namespaced else None
        name = metadata.get("name")
        if reason:
            return False
        if not self.index.add(api_resource, namespace, name):
            return False
        self.taken_types.add(api_resource.group_resource)
        if additional:
            self.additional_types.add(api_resource.group_resource)
        self.pod_work.take(api_resource.group_resource, item)
        self.sink.add_item(api_resource, item)
        self.log.item(api_resource.group_resource, namespace, name, additional)
        self._queue(item_actions.related_items(api_resource.group_resource, item, self.scope.context))
        self.progress("InProgress")
        return True

    def _queue(self, refs):
        for ref in refs:
            if not self.index.contains(*ref):
                self.pending.add(ref)

    def _archived(self, api_resource, page):
        """Record what a worker process wrote (as ``take`` records what it writes itself)."""
        if page.names:
            self.taken_types.add(api_resource.group_resource)
        # A name already recorded was listed again after an expired continue token; the
        # archive then holds it twice, which readers resolve as the last copy.
        self.log.items(api_resource.group_resource, self.index.add_names(api_resource, page.names))
        self._queue(item_actions.ItemRef(*ref) for ref in page.refs)
        self.progress("InProgress")

    def _archive_page(self, writer, task, data):
        """In a worker process: decode one raw page and write its selected items into the
        worker's fragment; returns ``(names, refs)`` for ``_archived``."""
        api_resource = task.api_resource
        names, refs = [], []
        for item, item_data in raw_page_items(data, api_resource):
            if self.selection.item_skip_reason(api_resource, item, False):
                continue
            writer.add_item(api_resource, item, item_data)
            metadata = item.get("metadata") or {}
            names.append((metadata.get("namespace") if api_resource.namespaced else None, metadata.get("name")))
            refs.extend(item_actions.related_items(api_resource.group_resource, item, self.scope.context))
        return names, refs

    # Passes --------------------------------------------------------------------

    def _start_archive_workers(self, tasks):
        """Worker processes for the tasks they may take (None when none would help): every
        type but those the pod work observes, whose items the parent must see."""
        count = backup_workers.worker_count()
        eligible = [task for task in tasks if task.api_resource.group_resource not in self.pod_work.OBSERVED]
        if self.check_mode or not count or not eligible:
            return None
        return backup_workers.ArchiveWorkers(count, eligible, self._archive_page, self.sink.mtime,
                                             self.sink.compresslevel)

    def _main_pass(self, tasks):
        """List and back up the main pass's tasks, through worker processes where they help."""
        archive_workers = self._start_archive_workers(tasks)
        try:
            self.lister.consume(tasks, self.take, self._archived, archive_workers)
            if archive_workers is not None:
                self.sink.append_fragments(archive_workers.finish())
        finally:
            if archive_workers is not None:
                archive_workers.close()

    def _backup_ordered(self, api_resource, names, namespaces):
        """Items named in ordered_resources first, in that order, then the rest of the type."""
        wanted = dict((n, i) for i, n in enumerate(names))
        held = {}

        def hold(res, item):
            meta = item.get("metadata") or {}
            key = item_display_name(meta.get("namespace") if res.namespaced else None, meta.get("name"))
            if key in wanted:
                held[key] = item

        tasks = list_tasks([api_resource], namespaces, self.selection.list_label_selector())
        self.lister.consume(tasks, hold)
        for key in sorted(held, key=wanted.get):
            self.take(api_resource, held.pop(key))
        self.lister.consume(tasks, self.take)

    def _resolve_pending(self):
        """Back up what actions referenced, with one LIST per referenced type and round."""
        for _round in range(MAX_ACTION_ROUNDS):
            pending = set(ref for ref in self.pending if not self.index.contains(*ref))
            self.pending = set()
            if not pending:
                return
            tasks = referenced_list_tasks(self.scope.discovery, pending, self.results.warn)

            def take_referenced(api_resource, item):
                meta = item.get("metadata") or {}
                ref = item_actions.ItemRef(api_resource.group_resource,
                                           meta.get("namespace") if api_resource.namespaced else None,
                                           meta.get("name"))
                if ref in pending:
                    self.take(api_resource, item, additional=True)

            self.lister.consume(tasks, take_referenced)

    def _back_up_other_versions(self, namespaces):
        """all_api_versions (Velero's EnableAPIGroupVersions): each type with backed-up items that the
        server serves in several versions is listed in each other version (the API server converts) and
        every item already backed up is written again at ``resources/<gr>/<version>/...``. The index,
        the counts and the resource list are not touched: an item counts once, in its preferred version."""
        by_selector = {}
        for group_resource in sorted(self.taken_types):
            selector = None if group_resource in self.additional_types else self.selection.list_label_selector()
            by_selector.setdefault(selector, []).extend(self.scope.other_versions.get(group_resource, ()))
        written = {}

        def take_version(api_resource, item):
            metadata = item.get("metadata") or {}
            namespace = metadata.get("namespace") if api_resource.namespaced else None
            if self.index.contains(api_resource.group_resource, namespace, metadata.get("name")):
                self.sink.add_version_copy(api_resource, item)
                key = (api_resource.group_resource, api_resource.version)
                written[key] = written.get(key, 0) + 1
                self.progress("InProgress")

        for selector, api_resources in sorted(by_selector.items(), key=lambda entry: entry[0] or ""):
            if api_resources:
                self.lister.consume(list_tasks(api_resources, namespaces, selector), take_version)
        for (group_resource, version), count in sorted(written.items()):
            self.log.info("Backed up items in another API version", resource=group_resource, version=version,
                          items=count)

    def _count_namespaces(self):
        return self.lister.kube.count(self.scope.namespaces_resource)

    def collect(self):
        """List and back up every selected item (ordered types, main pass, actions, namespaces)."""
        scope, listed = self.scope, self.scope.listed
        selected = sorted(item["metadata"]["name"] for item in scope.namespace_items)
        namespaces = namespaces_to_list(self.selection, selected,
                                        self._count_namespaces if scope.namespaces_resource is not None else None,
                                        sum(1 for r in listed if r.namespaced))
        self.log.info("Listing resources", types=len(listed), namespaces=len(selected),
                      listing="cluster-wide" if namespaces is None else "per namespace")

        ordered_resources = scope.ordered_resources
        main = [r for r in listed if r.group_resource not in ordered_resources and r.group_resource != NAMESPACES]
        for api_resource in listed:
            if api_resource.group_resource in ordered_resources:
                self._backup_ordered(api_resource, ordered_resources[api_resource.group_resource], namespaces)
        self._main_pass(list_tasks(main, namespaces, self.selection.list_label_selector()))
        self._resolve_pending()

        # Namespace objects last: with a label selector, a namespace is kept when it matches or
        # holds backed-up items.
        if scope.namespaces_resource is not None and any(r.group_resource == NAMESPACES for r in listed):
            for item in scope.namespace_items:
                name = item["metadata"]["name"]
                if (not self.selection.has_label_selector()
                        or self.selection.labels_match(item["metadata"].get("labels"))
                        or self.index.per_namespace.get(name)):
                    self.take(scope.namespaces_resource, item, additional=True)
            self._resolve_pending()
        if scope.other_versions:
            self._back_up_other_versions(namespaces)
