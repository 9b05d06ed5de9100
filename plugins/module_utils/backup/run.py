# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""The backup pipeline: options -> selection -> items (raw JSON LISTs) -> item actions ->
tar.gz (streamed to a temporary file) -> storage, ``velero-backup.json`` last.

Memory stays flat in the number of items: resource types are listed concurrently by a
bounded thread pool into a bounded queue of pages, the single consumer writes each item
into the tarball at once and keeps only names (for the resource list and dedupe).
Items pulled in by actions are resolved afterwards with LISTs, round by round.
"""

import datetime
import gc
import queue
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RunLog
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import DEFAULT_STORAGE_LOCATION, VELERO_NAMESPACE
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import format_duration, parse_duration, rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.backup import item_actions as backup_actions
from ansible_collections.kubedr.backup.plugins.module_utils.backup import workers as backup_workers
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_label_selector, to_label_selector
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes
from ansible_collections.kubedr.backup.plugins.module_utils.kube import client as kube_mod
from ansible_collections.kubedr.backup.plugins.module_utils.backup.pods import PodWork
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, InvalidOptionError, KubedrError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import ApiException, KubeClient, describe_api_error

LIST_WORKERS = 4
QUEUED_PAGES = 4  # pages in flight between the listing threads and the writer
PROGRESS_INTERVAL = 5.0  # seconds between progress object updates
MAX_ACTION_ROUNDS = 6
DEFAULT_TTL_SECONDS = 720 * 3600
PER_NAMESPACE_LIST_LIMIT = 10  # up to this many selected namespaces, list namespaced types per namespace
# Listing failures that mean "this type cannot be listed here" rather than a failed backup.
NOT_LISTABLE = frozenset([404, 405])


def backup_spec(options):
    """The ``spec`` of the stored velero.io/v1 Backup (Velero's field names; empty fields omitted
    as Go's omitempty does)."""
    spec = {
        "includedNamespaces": options.get("included_namespaces") or ["*"],
        "excludedNamespaces": options.get("excluded_namespaces") or [],
        "includedResources": options.get("included_resources") or [],
        "excludedResources": options.get("excluded_resources") or [],
        # Velero: a zero TTL means the default one.
        "ttl": format_duration(parse_duration(options.get("ttl") or "0") or DEFAULT_TTL_SECONDS),
        "storageLocation": DEFAULT_STORAGE_LOCATION,
        "volumeSnapshotLocations": [],
        "defaultVolumesToFsBackup": bool(options.get("default_volumes_to_fs_backup")),
        "hooks": velero_hooks(options.get("hooks")),
        "metadata": {},
        "csiSnapshotTimeout": "10m0s",
        "itemOperationTimeout": "4h0m0s",
    }
    camel = {
        "included_cluster_scoped_resources": "includedClusterScopedResources",
        "excluded_cluster_scoped_resources": "excludedClusterScopedResources",
        "included_namespace_scoped_resources": "includedNamespaceScopedResources",
        "excluded_namespace_scoped_resources": "excludedNamespaceScopedResources",
    }
    for option, field in camel.items():
        if options.get(option):
            spec[field] = list(options[option])
    if options.get("include_cluster_resources") is not None:
        spec["includeClusterResources"] = bool(options["include_cluster_resources"])
    if options.get("label_selector"):
        spec["labelSelector"] = to_label_selector(parse_label_selector(options["label_selector"]))
    if options.get("or_label_selectors"):
        spec["orLabelSelectors"] = [to_label_selector(parse_label_selector(s))
                                    for s in options["or_label_selectors"]]
    ordered = selection.parse_ordered_resources(options.get("ordered_resources"))
    if ordered:
        spec["orderedResources"] = dict((k, ",".join(v)) for k, v in ordered.items())
    return spec


def _camel(key):
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _velero_selector(selector):
    if isinstance(selector, str):
        return to_label_selector(parse_label_selector(selector))
    return dict((_camel(k), v) for k, v in (selector or {}).items())


def velero_hooks(option):
    """The ``hooks`` option (Velero's spec.hooks in snake_case) in Velero's field names."""
    hooks.parse_hooks_option(option)  # validates; raises InvalidOptionError on a bad shape
    resources = []
    for index, entry in enumerate((option or {}).get("resources") or []):
        converted = {"name": "hook-%d" % index}  # Velero requires a name; hooks.py names unnamed entries so
        for key, value in entry.items():
            if key == "label_selector":
                converted["labelSelector"] = _velero_selector(value)
            elif key in (hooks.PRE, hooks.POST):
                converted[key] = [{"exec": dict((_camel(k), v) for k, v in (hook.get("exec") or {}).items())}
                                  for hook in value or []]
            else:
                converted[_camel(key)] = value
        resources.append(converted)
    return {"resources": resources} if resources else {}


def backup_object(name, spec, status, labels=None, annotations=None, uid=None, created=None):
    """The velero.io/v1 Backup stored as velero-backup.json."""
    metadata_labels = dict(labels or {})
    metadata_labels["velero.io/storage-location"] = DEFAULT_STORAGE_LOCATION
    metadata = {
        "name": name,
        "namespace": VELERO_NAMESPACE,
        "uid": uid or str(uuid.uuid4()),
        "creationTimestamp": created,
        "labels": metadata_labels,
        "annotations": dict(annotations or {}),
        "generation": 1,
    }
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": metadata, "spec": spec, "status": status}


def validate_options(options):
    """Every check that needs no cluster and no storage; raises InvalidOptionError."""
    selection.validate_object_name(options.get("name"), "backup name")
    selection.validate_filters(options)
    for key, value in (options.get("labels") or {}).items():
        parse_label_selector("%s=%s" % (key, value))
    return backup_spec(options)


class CountingSink(object):
    """Stands in for the archive writer in check mode: nothing is written."""

    entries = 0
    uncompressed_bytes = 0

    def add_item(self, api_resource, item):
        return archive.item_paths(api_resource, item)

    def close(self):
        pass


# ---------------------------------------------------------------- listing

class _ListTask(object):
    def __init__(self, api_resource, namespace=None, label_selector=None):
        self.api_resource = api_resource
        self.namespace = namespace
        self.label_selector = label_selector

    def describe(self):
        where = " in namespace %s" % self.namespace if self.namespace else ""
        return "%s%s" % (self.api_resource.group_resource, where)


class ArchivedPage(object):
    """A page a worker process archived: the ``(namespace, name)`` of each item it wrote and the
    references the item actions returned (the items themselves are in the worker's fragment)."""

    def __init__(self, names, refs):
        self.names = names
        self.refs = refs


def stream_pages(kube, tasks, workers=LIST_WORKERS, queued_pages=QUEUED_PAGES, archive_workers=None):
    """Yield ``(task, items, error)`` for every page of every LIST task, listing up to ``workers``
    tasks concurrently; at most ``queued_pages`` pages wait in memory. A failed task yields one
    ``(task, None, error)``. Pages of the tasks ``archive_workers`` handles go to those processes
    raw and come back as an ArchivedPage."""
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
                for items in kube.list_pages(task.api_resource, task.namespace, task.label_selector):
                    if not put((task, items, None)):
                        return
        except backup_workers.WorkerFailed as error:  # not the task's failure: the whole archive's
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
            task, items, error = pages.get()
            if task is None:
                raise error  # a worker process failed: nothing it wrote can be trusted
            if items is done:
                remaining -= 1
                continue
            yield task, items, error
    except BaseException:
        if archive_workers is not None:
            archive_workers.close()  # wakes listing threads waiting to hand pages over
        raise
    finally:
        cancelled.set()
        pool.shutdown(wait=True)


# ---------------------------------------------------------------- the pipeline

class BackupRun(object):
    """One backup run. ``execute()`` returns the module result."""

    def __init__(self, kube, store, options, check_mode=False, now=utc_now, location=None):
        self.kube = kube
        self.store = store
        self.location = location or {}
        self.options = options
        self.name = options["name"]
        self.check_mode = check_mode
        self.now = now
        self.keys = storage_mod.backup_keys(self.name)
        self.results = results.Results()
        self.index = results.ItemIndex()
        self.log = RunLog(self.name, runlog.BACKUP)
        self.pending = set()
        self.spec = None
        self.selection = None
        self.discovery = None
        self.context = None
        self.sink = None
        self.listed = []
        self.namespaces_resource = None
        self.namespace_items = []
        self.started = None
        self.uid = str(uuid.uuid4())
        self.pod_work = None
        self.pod_volume_backups = None  # PodVolumeBackup records; None is stored as Velero's `null`
        self.planned_volumes = []  # check mode: the pod volumes that would be backed up
        self._last_progress = 0.0

    # Progress ------------------------------------------------------------------

    def _progress(self, phase, force=False):
        if self.check_mode:
            return
        moment = time.time()
        if not force and moment - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = moment
        self.store.put_bytes(self.keys["progress"], archive.encode_json({
            "phase": phase, "startTimestamp": rfc3339(self.started), "updateTimestamp": rfc3339(self.now()),
            "totalItems": len(self.index), "itemsBackedUp": len(self.index),
        }) + b"\n")

    # Items ---------------------------------------------------------------------

    def _take(self, api_resource, item, additional=False):
        """Back one item up (if selected and not yet backed up) and queue what its actions pull in."""
        reason = self.selection.item_skip_reason(api_resource, item, additional)
        metadata = item.get("metadata") or {}
        namespace = metadata.get("namespace") if api_resource.namespaced else None
        name = metadata.get("name")
        if reason:
            return False
        if not self.index.add(api_resource, namespace, name):
            return False
        if self.pod_work is not None:
            self._pod_item(api_resource.group_resource, item)
        self.sink.add_item(api_resource, item)
        self.log.item(api_resource.group_resource, namespace, name, additional)
        for ref in backup_actions.related_items(api_resource.group_resource, item, self.context):
            if not self.index.contains(*ref):
                self.pending.add(ref)
        self._progress("InProgress")
        return True

    def _pod_item(self, group_resource, item):
        """Pods: pre hooks run just before the pod is saved (as in Velero); every item is shown to
        the pod work, which remembers what the volume backup needs."""
        if group_resource == backup_actions.PODS:
            if self.check_mode:
                meta = item.get("metadata") or {}
                selected = volumes.volumes_to_back_up(item, self.pod_work.default_fs_backup)[0]
                self.planned_volumes.extend({"namespace": meta.get("namespace"), "pod": meta.get("name"),
                                             "volume": name} for name in selected)
            else:
                self.pod_work.run_hooks([item], hooks.PRE)
        self.pod_work.observe(group_resource, item)

    def _pod_volumes(self):
        """After every item: back the selected pod volumes up; returns the PodVolumeBackup records."""
        if not self.options.get("repository_password"):
            # The pods asked (annotations) but the caller gave no password: the objects are still
            # worth committing, so this is an error of the run, not a failed backup.
            self.results.error("pod volumes were selected for file-system backup but repository_password "
                               "was not given: their data is not in this backup")
            return None
        return self.pod_work.back_up_volumes(DEFAULT_STORAGE_LOCATION)

    def _post_hooks(self):
        """The post hooks of every pod whose pre hooks ran, after its volumes, and whatever happened
        to the run, so an application a pre hook froze is thawed."""
        if self.check_mode or self.pod_work is None or not self.pod_work.hooked_pods():
            return
        try:
            self.pod_work.run_hooks(self.pod_work.hooked_pods(), hooks.POST)
        except KubedrError as error:  # reported, never masking the run's own outcome
            self.results.error("post hooks: %s" % error)

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

    def _list_tasks(self, api_resources, namespaces, label_selector):
        tasks = []
        for api_resource in api_resources:
            if api_resource.namespaced and namespaces is not None:
                tasks.extend(_ListTask(api_resource, ns, label_selector) for ns in namespaces)
            else:
                tasks.append(_ListTask(api_resource, None, label_selector))
        return tasks

    def _consume(self, tasks, handle, archive_workers=None):
        for task, items, error in stream_pages(self.kube, tasks, archive_workers=archive_workers):
            if error is not None:
                self._list_failed(task, error)
            elif isinstance(items, ArchivedPage):
                self._archived(task.api_resource, items)
            else:
                for item in items:
                    handle(task.api_resource, item)

    def _archived(self, api_resource, page):
        """Record what a worker process wrote (as ``_take`` records what it writes itself)."""
        for namespace, name in page.names:
            # A name already recorded was listed again after an expired continue token; the
            # archive then holds it twice, which readers resolve as the last copy.
            if self.index.add(api_resource, namespace, name):
                self.log.item(api_resource.group_resource, namespace, name, False)
        for ref in page.refs:
            ref = backup_actions.ItemRef(*ref)
            if not self.index.contains(*ref):
                self.pending.add(ref)
        self._progress("InProgress")

    def _archive_page(self, writer, task, data):
        """In a worker process: decode one raw page and write its selected items into the
        worker's fragment; returns ``(names, refs)`` for ``_archived``."""
        api_resource = task.api_resource
        names, refs = [], []
        for item, item_data in kube_mod.raw_page_items(data, api_resource):
            if self.selection.item_skip_reason(api_resource, item, False):
                continue
            writer.add_item(api_resource, item, item_data)
            metadata = item.get("metadata") or {}
            names.append((metadata.get("namespace") if api_resource.namespaced else None, metadata.get("name")))
            refs.extend(backup_actions.related_items(api_resource.group_resource, item, self.context))
        return names, refs

    def _start_archive_workers(self, tasks):
        """Worker processes for the tasks they may take (None when none would help): every
        type but those the pod work observes, whose items the parent must see."""
        count = backup_workers.worker_count()
        eligible = [task for task in tasks if task.api_resource.group_resource not in PodWork.OBSERVED]
        if self.check_mode or not count or not eligible:
            return None
        return backup_workers.ArchiveWorkers(count, eligible, self._archive_page, self.sink.mtime,
                                             self.sink.compresslevel)

    def _main_pass(self, tasks):
        """List and back up the main pass's tasks, through worker processes where they help."""
        archive_workers = self._start_archive_workers(tasks)
        try:
            self._consume(tasks, self._take, archive_workers)
            if archive_workers is not None:
                self.sink.append_fragments(archive_workers.finish())
        finally:
            if archive_workers is not None:
                archive_workers.close()

    def _selected_namespaces(self):
        """The Namespace objects in scope, read once (they are few). A caller allowed into some
        namespaces only cannot list namespaces: named (non-glob) namespaces are then used as given."""
        namespaces_resource = self.discovery.find(selection.NAMESPACES)
        try:
            return namespaces_resource, [item for item in self.kube.list_items(namespaces_resource)
                                         if self.selection.namespace_included(item["metadata"]["name"])]
        except ApiException as error:
            names = self.selection.namespaces.includes
            if error.status != 403 or not names or any(selection.is_glob(n) for n in names):
                raise
        message = "cannot list namespaces (forbidden); backing up the named namespaces without their Namespace objects"
        self.results.warn(message)
        self.log.warning(message)
        stand_ins = [{"metadata": {"name": name}} for name in names if self.selection.namespace_included(name)]
        return None, stand_ins

    def _backup_ordered(self, api_resource, names, namespaces):
        """Items named in ordered_resources first, in that order, then the rest of the type."""
        wanted = dict((n, i) for i, n in enumerate(names))
        held = {}

        def hold(res, item):
            meta = item.get("metadata") or {}
            key = results.item_display_name(meta.get("namespace") if res.namespaced else None, meta.get("name"))
            if key in wanted:
                held[key] = item

        tasks = self._list_tasks([api_resource], namespaces, self.selection.list_label_selector())
        self._consume(tasks, hold)
        for key in sorted(held, key=wanted.get):
            self._take(api_resource, held.pop(key))
        self._consume(tasks, self._take)

    def _resolve_pending(self):
        """Back up what actions referenced, with one LIST per referenced type and round."""
        for _round in range(MAX_ACTION_ROUNDS):
            pending = set(ref for ref in self.pending if not self.index.contains(*ref))
            self.pending = set()
            if not pending:
                return
            by_resource = {}
            for ref in pending:
                by_resource.setdefault(ref.group_resource, set()).add(ref)
            tasks = []
            for group_resource, refs in sorted(by_resource.items()):
                api_resource = self.discovery.find(group_resource)
                if api_resource is None:
                    self.results.warn("items of %s are referenced but the server does not serve that resource"
                                      % group_resource)
                    continue
                namespaces = sorted(set(ref.namespace for ref in refs))
                if api_resource.namespaced and len(namespaces) <= PER_NAMESPACE_LIST_LIMIT:
                    tasks.extend(_ListTask(api_resource, ns) for ns in namespaces)
                else:
                    tasks.append(_ListTask(api_resource))

            def take_referenced(api_resource, item):
                meta = item.get("metadata") or {}
                ref = backup_actions.ItemRef(api_resource.group_resource,
                                             meta.get("namespace") if api_resource.namespaced else None,
                                             meta.get("name"))
                if ref in pending:
                    self._take(api_resource, item, additional=True)

            self._consume(tasks, take_referenced)

    def _read_for_actions(self, group_resource, reduce, purpose):
        """reduce(items) over a whole resource type an action needs; when the caller may not list
        it, a warning and None (the action then pulls nothing in)."""
        api_resource = self.discovery.find(group_resource)
        if api_resource is None:
            return None
        try:
            return reduce(self.kube.list_items(api_resource))
        except ApiException as error:
            message = "cannot list %s (%s): %s are not pulled in" % (
                group_resource, describe_api_error(error), purpose)
            self.results.warn(message)
            self.log.warning(message)
            return None

    def _action_context(self, listed_resources):
        include_crds = self.discovery.find(selection.CRDS) is not None and not self.selection.crds_filtered()
        crd_names = None
        if include_crds and any(r.group for r in listed_resources):
            crd_names = self._read_for_actions(
                selection.CRDS, lambda crds: [crd["metadata"]["name"] for crd in crds],
                "definitions of custom resources")
        crb_index = None
        if backup_actions.needs_crb_index(r.group_resource for r in listed_resources):
            crb_index = self._read_for_actions(
                backup_actions.CLUSTER_ROLE_BINDINGS, backup_actions.build_crb_index,
                "cluster role bindings of service accounts")
        return backup_actions.ActionContext(crd_names or (), crb_index, include_crds)

    def _prepare(self):
        """Everything read before the first write: discovery, selection, action context, namespaces.
        A failure here (unreachable API server, forbidden) leaves the storage untouched."""
        self.discovery = self.kube.discover()
        for warning in self.discovery.warnings:
            self.results.warn(warning)
            self.log.warning(warning)
        foreign = self.store.unexpected_top_level_dirs()
        if foreign:
            message = ("the storage location holds folders Velero does not expect (%s): Velero would mark it "
                       "unavailable; give this collection's backups a prefix of their own" % ", ".join(foreign))
            self.results.warn(message)
            self.log.warning(message)
        self.selection = selection.BackupSelection(self.options, self.discovery.resources)
        candidates = selection.backup_resources(self.discovery.resources)
        self.listed = [r for r in candidates if self.selection.lists_resource(r)]
        self.context = self._action_context(self.listed)
        self.namespaces_resource, self.namespace_items = self._selected_namespaces()
        self.pod_work = PodWork(self.kube, self.location, self.options, self.name, self.uid, self.results, self.log)

    def _collect(self):
        """List and back up every selected item (ordered types, main pass, actions, namespaces)."""
        listed = self.listed
        selected = sorted(item["metadata"]["name"] for item in self.namespace_items)
        # A few namespaces: list in each (also what a namespace-restricted caller may do).
        per_namespace = (not self.selection.namespaces.include_everything()
                         and (len(selected) <= PER_NAMESPACE_LIST_LIMIT or self.namespaces_resource is None))
        namespaces = selected if per_namespace else None
        self.log.info("Listing resources", types=len(listed), namespaces=len(selected))

        ordered = selection.parse_ordered_resources(self.options.get("ordered_resources"))
        ordered_resources = {}
        for pattern, names in ordered.items():
            for group_resource in selection.resolve_resource_patterns([pattern], self.discovery.resources):
                ordered_resources[group_resource] = names
        main = [r for r in listed if r.group_resource not in ordered_resources
                and r.group_resource != selection.NAMESPACES]
        for api_resource in listed:
            if api_resource.group_resource in ordered_resources:
                self._backup_ordered(api_resource, ordered_resources[api_resource.group_resource], namespaces)
        self._main_pass(self._list_tasks(main, namespaces, self.selection.list_label_selector()))
        self._resolve_pending()

        # Namespace objects last: with a label selector, a namespace is kept when it matches or
        # holds backed-up items.
        if self.namespaces_resource is not None and any(r.group_resource == selection.NAMESPACES for r in listed):
            for item in self.namespace_items:
                name = item["metadata"]["name"]
                if (not self.selection.has_label_selector()
                        or self.selection.labels_match(item["metadata"].get("labels"))
                        or self.index.per_namespace.get(name)):
                    self._take(self.namespaces_resource, item, additional=True)
            self._resolve_pending()

    # Commit ----------------------------------------------------------------------

    def _status(self, phase, completed=None):
        ttl = parse_duration(self.spec["ttl"])
        status = {
            "version": 1,
            "formatVersion": archive.FORMAT_VERSION,
            "phase": phase,
            "startTimestamp": rfc3339(self.started),
            "expiration": rfc3339(self.started + datetime.timedelta(seconds=ttl)),
            "progress": {"totalItems": len(self.index), "itemsBackedUp": len(self.index)},
        }
        if completed is not None:
            status["completionTimestamp"] = rfc3339(completed)
        if self.results.warning_count():
            status["warnings"] = self.results.warning_count()
        if self.results.error_count():
            status["errors"] = self.results.error_count()
        return status

    def _annotations(self):
        try:
            version = self.kube.server_version()
        except (ApiException, KubedrError):
            version = {}
        annotations = {"velero.io/resource-timeout": "10m0s"}
        annotations.update(getattr(self.store, "annotations", None) or {})  # encryption parameters
        for key, field in (("gitversion", "gitVersion"), ("major-version", "major"), ("minor-version", "minor")):
            if version.get(field):
                annotations["velero.io/source-cluster-k8s-" + key] = version[field]
        return annotations

    def _upload(self, tarball, phase, completed):
        self._progress("Uploading", force=True)
        tarball.seek(0)
        self.log.info("Backup completed", phase=phase, items=len(self.index))
        # Independent objects, uploaded together (compression releases the GIL); the commit
        # marker waits for all of them.
        uploads = [
            lambda: self.store.upload_file(self.keys["tarball"], tarball),
            lambda: storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to),
            lambda: self.store.put_json_gz(self.keys["resource_list"], self.index.resource_list()),
            lambda: self.store.put_json_gz(self.keys["results"], self.results.to_dict()),
            lambda: self.store.put_json_gz(self.keys["pod_volume_backups"], self.pod_volume_backups),
            lambda: self.store.put_json_gz(self.keys["volume_snapshots"], None),
        ]
        with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
            for upload in [pool.submit(upload) for upload in uploads]:
                upload.result()  # the first failure is raised once all have ended
        self._progress(phase, force=True)
        document = backup_object(self.name, self.spec, self._status(phase, completed),
                                 self.options.get("labels"), self._annotations(), uid=self.uid,
                                 created=rfc3339(self.started))
        # The commit marker, last: until it exists the backup does not exist.
        self.store.put_bytes(self.keys["metadata"], archive.encode_json(document) + b"\n")
        return document

    def execute(self):
        self.spec = validate_options(self.options)
        self.started = self.now()
        tarball = None
        try:
            try:
                self._prepare()
            except ApiException as error:
                raise ClusterError("cannot read the cluster at %s: %s" % (self.kube.host, describe_api_error(error)))
            tarball = None if self.check_mode else tempfile.TemporaryFile()
            self.sink = CountingSink() if self.check_mode else archive.ArchiveWriter(tarball)
            self.log.info("Starting backup", check_mode=self.check_mode or None)
            try:
                self._progress("InProgress", force=True)
                gc.freeze()
                gc.disable()
                try:
                    self._collect()
                finally:
                    gc.enable()
                if not self.check_mode and self.pod_work.needs_volumes():
                    self.pod_volume_backups = self._pod_volumes()
            except (KubedrError, ApiException) as error:
                return self._failed(error)
            finally:
                self._post_hooks()
            self.sink.close()
            if self.check_mode:
                return self._result(None, changed=True)
            completed = self.now()
            phase = results.phase_for(self.results)
            try:
                self._upload(tarball, phase, completed)
            except StorageError as error:  # the location failed before the commit marker: nothing is committed
                return self._failed(error)
            return self._result(phase, changed=True, completed=completed,
                                size=self.store.backup_size(self.name))
        finally:
            if tarball is not None:
                tarball.close()
            self.log.close()

    def _failed(self, error):
        reason = describe_api_error(error) if isinstance(error, ApiException) else str(error)
        self.results.error("backup failed: %s" % reason)
        self.log.error("Backup failed", reason=reason)
        if not self.check_mode:
            # Best effort, for diagnosis; the commit marker is never written for a failed run.
            try:
                storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to)
                self.store.put_json_gz(self.keys["results"], self.results.to_dict())
                self._progress(results.FAILED, force=True)
            except StorageError:
                pass
        result = self._result(results.FAILED, changed=False, completed=self.now())
        result.update(failed=True, msg="backup %s failed: %s" % (self.name, reason))
        return result

    def _result(self, phase, changed, completed=None, size=None):
        ttl = parse_duration(self.spec["ttl"])
        return {
            "changed": changed,
            "name": self.name,
            "phase": phase,
            "start_timestamp": rfc3339(self.started),
            "completion_timestamp": rfc3339(completed) if completed else None,
            "expiration": rfc3339(self.started + datetime.timedelta(seconds=ttl)) if phase else None,
            "item_counts": results.item_counts(self.index.resource_list()),
            "backup_warnings": self.results.warnings,
            "backup_errors": self.results.errors,
            "warning_count": self.results.warning_count(),
            "error_count": self.results.error_count(),
            "storage": dict((role, self.store.url(key)) for role, key in sorted(self.keys.items())),
            "archive_size": size,
            "format_version": archive.FORMAT_VERSION,
            "pod_volumes": self.planned_volumes if self.check_mode else pod_volume_summary(self.pod_volume_backups),
        }


def pod_volume_summary(records):
    """What the result says of each PodVolumeBackup record."""
    return [{
        "namespace": record["spec"]["pod"]["namespace"], "pod": record["spec"]["pod"]["name"],
        "volume": record["spec"]["volume"], "phase": record["status"].get("phase"),
        "snapshot_id": record["status"].get("snapshotID"), "message": record["status"].get("message"),
    } for record in records or []]


def summary_from_stored(store, name, document, changed):
    """The module result for an already committed backup (idempotent rerun)."""
    status = document.get("status") or {}
    keys = storage_mod.backup_keys(name)
    stored_results = store.get_json_gz(keys["results"]) or {}
    empty = results.empty_result()
    return {
        "changed": changed,
        "name": name,
        "phase": status.get("phase"),
        "start_timestamp": status.get("startTimestamp"),
        "completion_timestamp": status.get("completionTimestamp"),
        "expiration": status.get("expiration"),
        "item_counts": results.item_counts(store.get_json_gz(keys["resource_list"])),
        "backup_warnings": stored_results.get("warnings") or empty,
        "backup_errors": stored_results.get("errors") or empty,
        "warning_count": status.get("warnings", 0),
        "error_count": status.get("errors", 0),
        "storage": dict((role, store.url(key)) for role, key in sorted(keys.items())),
        "archive_size": store.backup_size(name),
        "format_version": status.get("formatVersion"),
        "pod_volumes": pod_volume_summary(store.get_json_gz(keys["pod_volume_backups"])),
    }


def run(auth, location, options, check_mode=False, kube_factory=KubeClient):
    """Entry point of k8s_backup: ``state`` present creates the backup (unless committed already),
    absent deletes all of its objects."""
    selection.validate_object_name(options.get("name"), "backup name")
    if options.get("state", "present") == "present":
        validate_options(options)  # bad input fails before any connection or write
    store = storage_mod.open_store(location)
    store.check()
    name = options["name"]
    existing = store.backup_metadata(name)
    # An encrypted backup is read (and a new one written) through the key; a wrong key fails here.
    store = crypto.open_backup(store, options.get("encryption"), existing, "backup %s" % name,
                               new=options.get("state", "present") == "present")
    if options.get("state") == "absent":
        return _delete(store, location, name, check_mode, options.get("repository_password"))
    if existing is not None:
        return summary_from_stored(store, name, existing, changed=False)
    if not check_mode:
        store.ensure_writable()
    kube = kube_factory(auth)
    return BackupRun(kube, store, options, check_mode, location=location).execute()


def snapshots_by_repository(pod_volume_backups):
    """{repository identifier: sorted snapshot IDs} of PodVolumeBackup records."""
    grouped = {}
    for record in pod_volume_backups or []:
        snapshot = (record.get("status") or {}).get("snapshotID")
        repository = (record.get("spec") or {}).get("repoIdentifier")
        if snapshot and repository:
            grouped.setdefault(repository, set()).add(snapshot)
    return dict((repository, sorted(ids)) for repository, ids in grouped.items())


def _forget_snapshots(location, snapshots, password):
    """restic forget the backup's volume snapshots, repository by repository (restic runs here)."""
    if snapshots and not password:
        raise InvalidOptionError("the backup has pod volume snapshots in restic repositories; give "
                                 "repository_password so they are forgotten with it (nothing was deleted)")
    for repository, ids in sorted(snapshots.items()):
        repo = restic.Repository.from_storage_location(location, repository=repository, password=password)
        restic.run_local(repo, restic.forget_command(repo, snapshot_ids=ids), "forget")


def _delete(store, location, name, check_mode, password):
    """Forget the backup's restic snapshots, then delete every object of the backup (the commit
    marker first). A failure to forget leaves the backup whole, so the task can be rerun."""
    keys = store.list_keys(storage_mod.backup_dir(name))
    snapshots = snapshots_by_repository(store.get_json_gz(storage_mod.backup_keys(name)["pod_volume_backups"]))
    if keys and not check_mode:
        store.ensure_writable()
        _forget_snapshots(location, snapshots, password)
        store.delete_backup(name)
    return {"changed": bool(keys), "name": name, "deleted_objects": [store.url(k) for k in keys],
            "forgotten_snapshots": snapshots}
