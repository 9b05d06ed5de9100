# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore pipeline: storage -> safe extraction -> items -> filters, mapping, ordering -> cluster.

1. The backup is resolved (``backup_name``, or the newest Completed backup of ``schedule_name``)
   and checked (committed, Completed or PartiallyFailed): ``options``.
2. Its tarball is downloaded into an anonymous temporary file and its items are copied into a
   single anonymous spool file in a private temporary directory, and indexed: ``index``.
3. Filters (``scope``), namespace mapping (``mapping``) and the priority tiers (``plan``) decide
   what is restored and in which order: CRDs first (then wait until Established and refresh
   discovery), namespaces before their items (``namespaces``), then the priority list.
4. Each item is prepared and created (``items``) by a bounded pool of workers, concurrently
   within a tier. An item that exists already follows ``existing_resource_policy`` (``policy``).
   The writer (``cluster``) does the writes, or in check mode only reports them.
5. Pods get their init containers first and their volume data and exec hooks once every tier
   is done (``pods``).
6. The log, the results and the resource list (``report``) go under ``restores/<name>/`` (not
   for a ReadOnly location, not in check mode). A rerun with the name of a recorded restore of the
   same backup returns that restore's result, read back from these records (``rerun``).
7. A PartiallyFailed or Failed restore returns ``warnings`` naming its first errors and their
   fixes (``results.run_warnings``); so does a restore of a PartiallyFailed backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import os
import shutil
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from ansible_collections.kubedr.backup.plugins.module_utils.archive import progress as progress_object
from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.common import cancel
from ansible_collections.kubedr.backup.plugins.module_utils.common import hints
from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import leases
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.node_agent import NodeAgentVolumeRestorer, node_agent_settings
from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place
from ansible_collections.kubedr.backup.plugins.module_utils.restore import integrity
from ansible_collections.kubedr.backup.plugins.module_utils.restore import plan
from ansible_collections.kubedr.backup.plugins.module_utils.restore import rerun
from ansible_collections.kubedr.backup.plugins.module_utils.restore.cluster import (
    NAMESPACE_FAILED,
    ClusterWriter,
    PreviewWriter,
    api_reason,
)
from ansible_collections.kubedr.backup.plugins.module_utils.restore.index import extract_backup
from ansible_collections.kubedr.backup.plugins.module_utils.restore.items import ItemRestorer, Task
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import map_namespace
from ansible_collections.kubedr.backup.plugins.module_utils.restore.namespaces import Namespaces
from ansible_collections.kubedr.backup.plugins.module_utils.restore.options import (
    default_restore_name,
    find_backup,
    validate_options,
)
from ansible_collections.kubedr.backup.plugins.module_utils.restore.pods import PodWork
from ansible_collections.kubedr.backup.plugins.module_utils.restore.readiness import TierGate
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import PLAN_FAIL
from ansible_collections.kubedr.backup.plugins.module_utils.restore.report import FAILED, ItemResult, RestoreReport
from ansible_collections.kubedr.backup.plugins.module_utils.restore.scope import RestoreScope
from ansible_collections.kubedr.backup.plugins.module_utils.restore.skips import is_never_restored


IN_PROGRESS = "InProgress"


class RestoreRun(object):
    """One restore. ``execute()`` returns the module result: extract, prepare, restore the
    tiers, then record."""

    def __init__(self, kube, store, options, backup_document, check_mode=False, diff=False,
                 volume_restorer=None, now=utc_now):
        self.kube = kube
        self.store = store
        self.options = options
        self.backup_name = backup_document["metadata"]["name"]
        self.backup_status = backup_document.get("status") or {}
        self.name = options["name"]
        self.check_mode = check_mode
        self.volume_restorer = volume_restorer
        self.now = now
        self.uid = str(uuid.uuid4())
        self.report = RestoreReport(self.name, self.backup_name, options["namespace_mapping"], check_mode, diff)
        self.log = self.report.log
        self.keys = layout.restore_keys(self.name)
        self.started = None
        self.extracted = None
        self.scope = self.writer = self.items = self.namespaces = self.pods = None
        self.total_items = 0
        self.progress = progress_object.ProgressRecorder(store, self.keys["progress"], self._progress_document,
                                                         enabled=self._writes_storage())
        self.report.on_item = lambda: self.progress.report(IN_PROGRESS)

    def execute(self, tarball, item_check=None):
        self.started = self.now()
        workdir = tempfile.mkdtemp(prefix="kubedr-restore-")
        try:
            os.chmod(workdir, 0o700)
            self.extracted = extract_backup(tarball, workdir, self.options["max_archive_size"], item_check)
            self.total_items = sum(len(group.items()) for group in self.extracted.groups.values())
            if not self.extracted.format_version:
                self.report.results.warn("backup archive has no metadata/version entry")
            pod_volume_backups = self.store.get_json_gz(
                layout.backup_keys(self.backup_name)["pod_volume_backups"]) or []
            self.log.info(runlog.RESTORE_STARTED, backup=self.backup_name, check_mode=self.check_mode or None)
            self._warn_partial_backup()
            try:
                self._prepare(pod_volume_backups)
            except ApiException as error:
                raise ClusterError("cannot read the cluster at %s: %s" % (self.kube.host, describe_api_error(error)))
            self.progress.force(IN_PROGRESS)  # once the cluster answered: a refused restore leaves no trace
            # What is alive now (imports, discovery, the index) lives to the end: the collector
            # need not walk it again at every collection the items' garbage triggers.
            gc.freeze()
            try:
                self._restore_all()
            except (ClusterError, ApiException, cancel.Cancelled) as error:
                return self._failed(error)
            self._warn_unrestored_volumes()
            phase = results.phase_for(self.report.results)
            completed = self.now()
            self.log.info(runlog.RESTORE_COMPLETED, phase=phase, **dict(
                (k, v) for k, v in self.report.outcomes.counts().items() if k != "per_resource"))
            try:
                self.progress.force(phase)
                self._upload()
            except KubedrError as error:  # the cluster work is done; only its record under restores/ is missing
                self.report.results.warn("the restore's log, results and resource list could not be written to the "
                                         "storage location: %s" % error)
            return self._result(phase, completed)
        finally:
            if self.extracted is not None:
                self.extracted.close()
            self.report.outcomes.close()
            shutil.rmtree(workdir, ignore_errors=True)
            self.log.close()

    def _progress_document(self, phase):
        volumes, eta = (None, None)
        if self.pods is not None and self.pods.volume_progress.total:
            volumes, eta = self.pods.volume_progress.document()
        done = self.report.outcomes.counts()["total"]
        total = max(done, self.total_items)  # namespaces a restore makes (mapped, not in the backup) count as items
        return progress_object.progress_document(phase, self.started, self.now(), done, total, volumes, eta,
                                                 done_key="itemsRestored", extra={"backup": self.backup_name})

    # Steps ------------------------------------------------------------------------------

    def _prepare(self, pod_volume_backups):
        """Read everything and decide, before the first write to the cluster; wire the steps."""
        self.scope = RestoreScope(self.kube, self.options, self.extracted, self.backup_name, self.name, self.uid)
        self.scope.prepare(self.report, pod_volume_backups)
        pods = self.pods = PodWork(self.kube, self.options, self.report, pod_volume_backups, self.volume_restorer,
                                   self.uid, self.backup_name)
        if self.check_mode:
            self.writer = PreviewWriter(self.kube, self.report, self.scope)
        else:
            gate = None
            if self.options.get("wait_for_ready"):
                gate = TierGate(self.kube, self.report, self.options["wait_for_ready"], self.scope.discovery.resources)
            self.writer = ClusterWriter(self.kube, self.report, self.scope, pods, gate)
        self.items = ItemRestorer(self.options, self.scope, pods, self.writer, self.report)
        self.namespaces = Namespaces(self.kube, self.options, self.extracted, self.scope, self.items, self.writer,
                                     self.report)

    def _warn_partial_backup(self):
        """What a PartiallyFailed backup could not save cannot be restored: say so first."""
        if self.backup_status.get("phase") != results.PARTIALLY_FAILED:
            return
        count = self.backup_status.get("errors")
        message = ("backup %s ended PartiallyFailed (%s): what it could not save is not in it and is not restored; "
                   "its errors are in its results (k8s_backup_info)" % (
                       self.backup_name, "1 error" if count == 1 else "%s errors" % (count or "some")))
        self.report.results.warn(message)
        self.log.warning(message)

    def _warn_unrestored_volumes(self):
        """Pods restored without their volume data (no repository_password): one run-level warning."""
        if self.pods is not None and self.pods.unrestored_volumes:
            self.report.results.warn("the data of %d pod volume(s) was not restored: repository_password was not "
                                     "given (restore_pvs: false restores without volume data on purpose)"
                                     % self.pods.unrestored_volumes)

    def _restore_all(self):
        tiers = plan.restore_tiers(list(self.extracted.groups), self.options.get("priorities"))
        for gr in sorted(self.extracted.groups):
            if is_never_restored(gr):
                self.log.info("Resource is never restored", resource=gr)
        with ThreadPoolExecutor(max_workers=self.options["workers"]) as pool:
            for tier in tiers:
                self._run_tier(pool, tier)
                self.writer.after_tier(tier)
        with self.progress.ticking(IN_PROGRESS):  # volume data and exec hooks report nothing per item
            self.writer.after_tiers()

    def _tasks(self, group_resource):
        """The items of a group-resource to restore, read one at a time; namespaces are ensured first."""
        for source_namespace, _name, item in self.extracted.items_of(group_resource):
            if self.scope.selected(group_resource, item, source_namespace) is not None:
                continue
            task = Task(group_resource, None, item, source_namespace)
            if source_namespace:
                target = map_namespace(source_namespace, self.options["namespace_mapping"])
                if self.namespaces.ensure(target) == NAMESPACE_FAILED:
                    where = dict(item, metadata=dict(item["metadata"], namespace=target))
                    self.report.finish(task, ItemResult(FAILED, where, PLAN_FAIL,
                                                        error="namespace %s could not be restored" % target))
                    continue
            yield task

    def _run_tier(self, pool, group_resources):
        """Restore the tier's items concurrently: each of the pool's workers takes the next item from
        one shared reader until none is left. Only the items being restored are decoded, so memory
        does not grow with the number of items. (A future, a semaphore and a callback per item, handed
        out by the main thread, cost 15% of the restore's interpreter time.)"""
        tasks = self._tier_tasks(group_resources)
        handout = threading.Lock()
        lost = []  # the first ClusterError (the API server is gone): no more work is handed out

        def work():
            while not lost and not cancel.REQUESTED.is_set():
                try:
                    with handout:
                        task = next(tasks, None)
                    if task is None:
                        return
                    self.items.restore(task)
                except ClusterError as error:
                    lost.append(error)

        workers = [pool.submit(work) for _number in range(self.options["workers"])]
        wait_futures(workers)
        if lost:
            raise lost[0]
        for worker in workers:  # engine bugs, re-raised once the tier is done
            if worker.exception() is not None:
                raise worker.exception()

    def _tier_tasks(self, group_resources):
        for group_resource in group_resources:
            if group_resource == kr.NAMESPACES:
                self.namespaces.restore_backed_up()
                continue
            yield from self._tasks(group_resource)

    # The record -------------------------------------------------------------------------

    def _writes_storage(self):
        return not self.check_mode and not self.store.read_only

    def _upload(self):
        if not self._writes_storage():
            return
        storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to)
        self.store.put_json_gz(self.keys["results"], self.report.results.to_dict())
        storage_mod.upload_gzipped(self.store, self.keys["resource_list"], self.report.outcomes.write_resource_list)

    def _failed(self, error):
        reason = api_reason(error)
        self.report.results.error("restore failed: %s" % reason)
        self.log.error(runlog.RESTORE_FAILED, reason=reason)
        try:
            self.progress.force(results.FAILED)
            self._upload()
        except KubedrError:
            pass
        result = self._result(results.FAILED, self.now())
        result.update(failed=True, msg=hints.with_fix(hints.RESTORE, "restore %s failed: %s" % (self.name, reason)))
        return result

    def _result(self, phase, completed):
        storage = (dict((role, self.store.url(key)) for role, key in sorted(self.keys.items()))
                   if self._writes_storage() else {})
        return self.report.result(phase, self.started, completed, storage)


def run(auth, location, options, check_mode=False, diff=False, kube_factory=KubeClient, volume_restorer=None):
    """Entry point of k8s_restore."""
    options = validate_options(options)
    agents = node_agent_settings(options.get("node_agent")).namespace
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    if options.get("name"):
        stored = rerun.read_stored_restore(store, options["name"])
        if stored is not None:  # a rerun (an AWX relaunch): what that restore did, unchanged
            rerun.check_same_backup(store, stored, options)
            replayed = results.add_run_warnings(rerun.stored_result(store, stored), hints.RESTORE, agents)
            warning = integrity.no_manifest_warning(store, stored.backup_name, options)
            if warning:
                replayed.setdefault("warnings", []).append(warning)
            return replayed
    backup = find_backup(store, options)
    backup_name = backup["metadata"]["name"]
    plain_store = store
    # An encrypted backup: the key is checked here, before anything touches the cluster.
    store = crypto.open_backup(store, options.get("encryption"), backup, "backup %s" % backup_name)
    if not options.get("name"):
        options["name"] = rerun.free_derived_name(store, default_restore_name(backup_name, utc_now()))
    rerun.check_name_is_free(store, options["name"])
    kube = kube_factory(auth)
    if options.get("volume_data_in_place"):  # only volume data, into the claims that exist now
        return in_place.run(kube, location, store, options, backup, check_mode)
    if volume_restorer is None and options.get("repository_password"):
        volume_restorer = NodeAgentVolumeRestorer(kube, location, options)
    lease = None
    if not check_mode and not store.read_only:
        # One run per name: a second restore of this name while one runs fails here, naming the first.
        lease = leases.RunLease(store, layout.restore_keys(options["name"])["lease"], "restore %s" % options["name"])
    with lease if lease is not None else contextlib.nullcontext():
        if lease is not None:
            rerun.check_name_is_free(store, options["name"])  # the run that held the lease may have finished meanwhile
        try:  # before anything reaches the cluster; the restore then reads only the verified bytes
            checked = integrity.check_backup(plain_store, backup_name, options, items_while_indexing=True)
        except integrity.IntegrityRefusal as refused:
            return _refused(refused, options, backup_name)
        if checked is not None:
            store, backup, tarball = checked.store, checked.document, checked.tarball
        else:
            tarball = storage_mod.download_to_tempfile(store, layout.backup_keys(backup_name)["tarball"])
        try:  # the tarball's entries are checked as the restore indexes them, before it reads the cluster
            result = RestoreRun(kube, store, options, backup, check_mode, diff, volume_restorer).execute(
                tarball, checked.item_check if checked is not None else None)
        except integrity.IntegrityRefusal as refused:
            return _refused(refused, options, backup_name)
        except ClusterError as error:  # the cluster refused before anything was written: say what to do
            raise ClusterError(hints.with_fix(hints.RESTORE, str(error), agents))
        finally:
            tarball.close()
            if checked is not None:
                checked.close()
    results.add_run_warnings(result, hints.RESTORE, agents)
    integrity.add_report(result, checked)
    return lease.warn_if_unsupported(result) if lease is not None else result


def _refused(refused, options, backup_name):
    return {"changed": False, "failed": True, "msg": refused.message, "name": options["name"],
            "backup_name": backup_name, "integrity": refused.report}
