# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LISTs of a backup: which LIST tasks to run (per namespace or cluster-wide), and running
them concurrently into a bounded queue of pages.

Resource types are listed by a bounded thread pool; at most a few pages wait in memory for the
single consumer, so memory stays flat in the number of items.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.backup.workers import WorkerFailed
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.kube.pages import page_items

LIST_WORKERS = 4
QUEUED_PAGES = 4  # pages in flight between the listing threads and the writer
# Referenced items in up to this many namespaces are listed per namespace; so are up to this many selected
# namespaces when the cluster does not say how many namespaces it has.
PER_NAMESPACE_LIST_LIMIT = 10
# Per namespace or cluster-wide when namespaces are selected (docs/performance.md, "Per namespace or
# cluster-wide"): measured on the test bed, one more LIST request costs about what reading 100 more items
# of a cluster-wide LIST does; the items of a namespace that is not selected are not known before listing,
# so a namespace is taken to hold ITEMS_PER_NAMESPACE (the bench's hold 44 to 300).
REQUEST_COST_IN_ITEMS = 100  # measured between 44 and 180
ITEMS_PER_NAMESPACE = 50
# Listing failures that mean "this type cannot be listed here" rather than a failed backup.
NOT_LISTABLE = frozenset([404, 405])


class ListTask(object):
    def __init__(self, api_resource, namespace=None, label_selector=None):
        self.api_resource = api_resource
        self.namespace = namespace
        self.label_selector = label_selector

    def describe(self):
        where = " in namespace %s" % self.namespace if self.namespace else ""
        # A type listed in a version other than its group's preferred one (all_api_versions lists every
        # served version): the version is what tells the failed LIST from the one that worked.
        version = "" if self.api_resource.preferred else " (version %s)" % self.api_resource.group_version
        return "%s%s%s" % (self.api_resource.group_resource, version, where)


class ArchivedPage(object):
    """A page a worker process archived: the ``(namespace, name)`` of each item it wrote and the
    references the item actions returned (the items themselves are in the worker's fragment)."""

    def __init__(self, names, refs):
        self.names = names
        self.refs = refs


# ---------------------------------------------------------------- planning

def namespaces_to_list(selection, selected, count_namespaces, namespaced_types):
    """The namespaces to list namespaced types in one by one, or None to list them cluster-wide
    (items of other namespaces dropped by the selection).

    ``count_namespaces()`` says how many namespaces the cluster has (None when unknown); it is None
    itself when the caller may not list namespaces, who then lists in each selected namespace."""
    if selection.namespaces.include_everything():
        return None
    if count_namespaces is None or len(selected) <= 1:
        return selected
    return selected if list_per_namespace(len(selected), count_namespaces(), namespaced_types) else None


def list_per_namespace(selected_count, namespace_total, namespaced_types):
    """Whether one LIST per selected namespace and namespaced type costs less than one cluster-wide
    LIST per type: the first makes ``(selected_count - 1) * namespaced_types`` more requests, the
    second reads the items of the namespaces that are not selected."""
    if namespace_total is None:
        return selected_count <= PER_NAMESPACE_LIST_LIMIT
    extra_requests = (selected_count - 1) * namespaced_types
    unselected_items = max(0, namespace_total - selected_count) * ITEMS_PER_NAMESPACE
    return extra_requests * REQUEST_COST_IN_ITEMS < unselected_items


def list_tasks(api_resources, namespaces, label_selector):
    """One task per type, or per type and namespace when ``namespaces`` is given."""
    tasks = []
    for api_resource in api_resources:
        if api_resource.namespaced and namespaces is not None:
            tasks.extend(ListTask(api_resource, ns, label_selector) for ns in namespaces)
        else:
            tasks.append(ListTask(api_resource, None, label_selector))
    return tasks


def referenced_list_tasks(discovery, refs, warn):
    """The LISTs that find the referenced items: per namespace when they are in a few, else
    cluster-wide. ``warn(message)`` is told of types the server does not serve."""
    by_resource = {}
    for ref in refs:
        by_resource.setdefault(ref.group_resource, set()).add(ref)
    tasks = []
    for group_resource, group_refs in sorted(by_resource.items()):
        api_resource = discovery.find(group_resource)
        if api_resource is None:
            warn("items of %s are referenced but the server does not serve that resource" % group_resource)
            continue
        namespaces = sorted(set(ref.namespace for ref in group_refs))
        if api_resource.namespaced and len(namespaces) <= PER_NAMESPACE_LIST_LIMIT:
            tasks.extend(ListTask(api_resource, ns) for ns in namespaces)
        else:
            tasks.append(ListTask(api_resource))
    return tasks


# ---------------------------------------------------------------- running

def stream_pages(kube, tasks, workers=LIST_WORKERS, queued_pages=QUEUED_PAGES, archive_workers=None):
    """Yield ``(task, page, error)`` for every page of every LIST task, listing up to ``workers``
    tasks concurrently; at most ``queued_pages`` pages wait in memory, as the server sent them (raw
    bytes: the consumer decodes one page at a time; decoded, the pages waiting took several times
    their size). A failed task yields one ``(task, None, error)``. Pages of the tasks
    ``archive_workers`` handles go to those processes raw and come back as an ArchivedPage."""
    pages = queue.Queue(maxsize=queued_pages)
    cancelled = threading.Event()
    done = object()

    def put(entry):
        while not cancelled.is_set():
            try:
                pages.put(entry, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run(task):
        archived = archive_workers is not None and archive_workers.handles(task)
        try:
            if archived:
                for data in kube.list_raw_pages(task.api_resource, task.namespace, task.label_selector):
                    if cancelled.is_set():
                        return
                    archive_workers.submit(task, data)
            else:
                for data in kube.list_raw_pages(task.api_resource, task.namespace, task.label_selector):
                    if not put((task, data, None)):
                        return
        except WorkerFailed as error:  # not the task's failure: the whole archive's
            put((None, None, error))
        except Exception as error:  # reported to the consumer, which decides
            put((task, None, error))
        finally:
            if archived:
                archive_workers.seal(task)  # the done marker follows the task's last archived page
            else:
                put((task, done, None))

    if not tasks:
        return
    if archive_workers is not None:
        archive_workers.listen(deliver=lambda task, names, refs: put((task, ArchivedPage(names, refs), None)),
                               task_done=lambda task: put((task, done, None)),
                               fail=lambda error: put((None, None, error)))
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))))
    try:
        for task in tasks:
            pool.submit(run, task)
        remaining = len(tasks)
        while remaining:
            task, page, error = pages.get()
            if task is None:
                raise error  # a worker process failed: nothing it wrote can be trusted
            if page is done:
                remaining -= 1
                continue
            yield task, page, error
    except BaseException:
        if archive_workers is not None:
            archive_workers.close()  # wakes listing threads waiting to hand pages over
        raise
    finally:
        cancelled.set()
        pool.shutdown(wait=True)


class Lister(object):
    """Runs LIST tasks and hands every listed item to the caller. A LIST that fails is reported
    (a warning when the type cannot be listed there, else an error) and the run goes on, unless
    the cluster itself cannot be reached."""

    def __init__(self, kube, results, log):
        self.kube = kube
        self.results = results
        self.log = log

    def consume(self, tasks, handle, archived=None, archive_workers=None):
        """``handle(api_resource, item)`` for each listed item; ``archived(api_resource, page)``
        for each ArchivedPage of ``archive_workers``."""
        for task, page, error in stream_pages(self.kube, tasks, archive_workers=archive_workers):
            if error is not None:
                self._list_failed(task, error)
            elif isinstance(page, ArchivedPage):
                archived(task.api_resource, page)
            else:
                self._take_page(task, page, handle)

    def _take_page(self, task, data, handle):
        """``handle`` each item of a raw page, decoded here (once it returns, the page can go)."""
        try:
            items = page_items(json.loads(data), task.api_resource)
        except (ValueError, TypeError, AttributeError) as error:  # the page, not the run: that LIST's failure
            self._list_failed(task, ValueError("malformed LIST page: %s" % error))
            return
        for item in items:
            handle(task.api_resource, item)

    def _list_failed(self, task, error):
        status = getattr(error, "status", None)
        reason = describe_api_error(error) if isinstance(error, ApiException) else str(error)
        message = "cannot list %s: %s" % (task.describe(), reason)
        if status in NOT_LISTABLE:
            self.results.warn(message, namespace=task.namespace)
            self.log.warning(message)
        else:
            self.results.error(message, namespace=task.namespace, cluster=not task.namespace)
            self.log.error(message)
        if isinstance(error, ClusterError):
            raise error
