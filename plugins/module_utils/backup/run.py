# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup pipeline: options -> selection -> items (raw JSON LISTs) -> item actions ->
tar.gz (streamed to a temporary file) -> storage, ``velero-backup.json`` last.

BackupRun runs the steps in order: validate the options (``spec.py``), read the scope
(``scope.py``), collect the items (``collect.py``, through ``listing.py`` and ``workers.py``),
the pod work (``pods.py``), then upload and commit. Memory stays flat in the number of items:
only names are kept (for the resource list and dedupe).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gc
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as integrity_manifest
from ansible_collections.kubedr.backup.plugins.module_utils.archive import progress as progress_object
from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.archive import velero
from ansible_collections.kubedr.backup.plugins.module_utils.archive import volume_info
from ansible_collections.kubedr.backup.plugins.module_utils.backup.collect import Collector, CountingSink
from ansible_collections.kubedr.backup.plugins.module_utils.backup.delete import delete_backup
from ansible_collections.kubedr.backup.plugins.module_utils.backup.pods import PodWork
from ansible_collections.kubedr.backup.plugins.module_utils.backup.scope import ScopeReader
from ansible_collections.kubedr.backup.plugins.module_utils.backup.spec import signing_key, validate_options
from ansible_collections.kubedr.backup.plugins.module_utils.backup.workers import ItemDigestLog
from ansible_collections.kubedr.backup.plugins.module_utils.common import cancel
from ansible_collections.kubedr.backup.plugins.module_utils.common import hints
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, KubedrError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_duration, rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import leases
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.node_agent import node_agent_settings


class BackupRun(object):
    """One backup run. ``execute()`` returns the module result."""

    def __init__(self, kube, store, options, check_mode=False, now=utc_now, location=None, lease=None):
        self.kube = kube
        self.lease = lease  # checked before the commit: a run that lost its lease commits nothing
        # Writes go through a recorder under the encryption: the manifest holds the stored bytes' digests.
        self.store, self.stored = recording_store(store)
        self.location = location or {}
        self.options = options
        self.name = options["name"]
        self.check_mode = check_mode
        self.now = now
        self.keys = layout.backup_keys(self.name)
        self.results = results.Results()
        self.index = results.ItemIndex()
        self.log = runlog.RunLog(self.name, runlog.BACKUP)
        self.spec = None
        self.scope = None
        self.started = None
        self.uid = str(uuid.uuid4())
        self.pod_work = None
        self.pod_volume_backups = None  # PodVolumeBackup records; None is stored as Velero's `null`
        self.signing_key = None
        self.integrity = None  # what the result says of the manifest written
        self.item_log = None  # the item digests, taken as the archive is written
        self.progress = progress_object.ProgressRecorder(store, self.keys["progress"], self._progress_document,
                                                         enabled=not check_mode)

    def _progress_document(self, phase):
        volumes, eta = (None, None)
        if self.pod_work is not None and self.pod_work.volume_progress.total:
            volumes, eta = self.pod_work.volume_progress.document()
        items = len(self.index)  # the total grows as the listing goes, as Velero's does
        return progress_object.progress_document(phase, self.started, self.now(), items, items, volumes, eta)

    def _progress(self, phase, force=False):
        if force:
            self.progress.force(phase)
        else:
            self.progress.report(phase)

    # Steps ---------------------------------------------------------------------

    def _prepare(self):
        """Everything read before the first write. A failure here leaves the storage untouched."""
        try:
            self.scope = ScopeReader(self.kube, self.results, self.log).read(self.store, self.options)
        except ApiException as error:
            raise ClusterError("cannot read the cluster at %s: %s" % (self.kube.host, describe_api_error(error)))
        self.pod_work = PodWork(self.kube, self.location, self.options, self.name, self.uid, self.results, self.log,
                                self.check_mode)

    def _collect(self, sink):
        """Every selected item into ``sink``; the items hold no cycles, so the cyclic collector is
        off meanwhile."""
        collector = Collector(self.kube, self.scope, sink, self.index, self.results, self.log, self.pod_work,
                              self._progress, self.check_mode)
        gc.freeze()
        gc.disable()
        try:
            collector.collect()
        finally:
            gc.enable()

    def _upload(self, tarball, phase, completed):
        self._progress("Uploading", force=True)
        tarball.seek(0)
        self.log.info("Backup completed", phase=phase, items=len(self.index))
        item_digests = []  # the summary of the lines, once they are compressed
        # Independent objects, uploaded together (compression releases the GIL: the item digests, 2 lines
        # per item, are compressed while the tarball goes up); the commit marker waits for all of them.
        uploads = [
            lambda: self.store.upload_file(self.keys["tarball"], tarball),
            lambda: storage_mod.upload_gzipped(self.store, self.keys["item_digests"],
                                               lambda out: item_digests.append(self.item_log.copy_to(out))),
            lambda: storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to),
            lambda: storage_mod.upload_gzipped(self.store, self.keys["resource_list"], self.index.write_resource_list),
            lambda: self.store.put_json_gz(self.keys["results"], self.results.to_dict()),
            lambda: self.store.put_json_gz(self.keys["pod_volume_backups"], self.pod_volume_backups),
            lambda: self.store.put_json_gz(self.keys["volume_snapshots"], None),
            lambda: self.store.put_json_gz(self.keys["volume_info"], volume_info.backup_volume_info(
                self.pod_work.persistent_volumes, self.pod_volume_backups)),
        ]
        with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
            for upload in [pool.submit(upload) for upload in uploads]:
                upload.result()  # the first failure is raised once all have ended
        items = dict(item_digests[0], key=self.keys["item_digests"])
        self._progress(phase, force=True)
        document = velero.backup_object(self.name, self.spec, self._status(phase, completed),
                                        self.options.get("labels"), self._annotations(), uid=self.uid,
                                        created=rfc3339(self.started))
        marker = archive.encode_json(document) + b"\n"
        self._write_manifest(items, marker)
        with cancel.shielded():
            cancel.check()
            if self.lease is not None:
                self.lease.check()
            # The commit marker, last: until it exists the backup does not exist.
            self.store.put_bytes(self.keys["metadata"], marker)
        return document

    def _write_manifest(self, items, marker):
        """The integrity manifest (docs/integrity.md), signed when a key is given: the digests of the
        objects just uploaded as stored, of the commit marker about to be written, and of the items."""
        objects = dict((self.keys[role], self.stored.recorded[self.keys[role]]) for role in MANIFEST_ROLES)
        document = integrity_manifest.build(self.name, self.uid, rfc3339(self.started), objects, self.keys["metadata"],
                                            marker, items, encrypted=isinstance(self.store, crypto.EncryptedStore))
        if self.signing_key is not None:
            document = integrity_manifest.sign(document, self.signing_key)
        data = integrity_manifest.encode(document)
        self.store.put_bytes(self.keys["manifest"], data)
        self.integrity = integrity_summary(document)

    def _status(self, phase, completed):
        return velero.backup_status(phase, self.started, parse_duration(self.spec["ttl"]), len(self.index),
                                    self.results.warning_count(), self.results.error_count(), completed,
                                    (self.pod_work.hooks_attempted, self.pod_work.hooks_failed))

    def _annotations(self):
        try:
            version = self.kube.server_version()
        except (ApiException, KubedrError):
            version = {}
        return velero.backup_annotations(version, getattr(self.store, "annotations", None))  # + encryption parameters

    def execute(self):
        self.spec = validate_options(self.options)
        self.signing_key = signing_key(self.options)
        self.started = self.now()
        if not self.check_mode and self.store.object_lock:
            # Immutable (docs/immutability.md): every object locked until the backup expires, written once.
            self.store.lock_backup(self.name, self.started + datetime.timedelta(seconds=parse_duration(self.spec["ttl"])))
            self.progress.interval = progress_object.WRITE_ONCE_INTERVAL
        tarball = None
        try:
            self._prepare()
            tarball = None if self.check_mode else tempfile.TemporaryFile()
            self.item_log = None if self.check_mode else ItemDigestLog()
            sink = CountingSink() if self.check_mode else archive.ArchiveWriter(tarball, item_log=self.item_log)
            self.log.info("Starting backup", check_mode=self.check_mode or None)
            try:
                self._progress("InProgress", force=True)
                # Rewritten on a timer too: a pod's hook or a volume upload can take minutes without an item.
                with self.progress.ticking("InProgress"):
                    try:
                        self._collect(sink)
                        self.pod_volume_backups = self.pod_work.back_up_volumes()
                    finally:
                        self.pod_work.run_post_hooks()
            except (KubedrError, ApiException, cancel.Cancelled) as error:
                return self._failed(error)
            sink.close()
            if self.check_mode:
                return self._result(None, changed=True)
            completed = self.now()
            phase = results.phase_for(self.results)
            try:
                self._upload(tarball, phase, completed)
            except (KubedrError, cancel.Cancelled) as error:  # before the commit marker: nothing is committed
                return self._failed(error)
            return self._result(phase, changed=True, completed=completed,
                                size=self.store.backup_size(self.name))
        finally:
            if tarball is not None:
                tarball.close()
            if self.item_log is not None:
                self.item_log.close()
            self.index.close()
            self.log.close()

    # Outcome -------------------------------------------------------------------

    def _failed(self, error):
        reason = describe_api_error(error) if isinstance(error, ApiException) else str(error)
        self.results.error("backup failed: %s" % reason)
        self.log.error("Backup failed", reason=reason)
        if not self.check_mode:
            # Best effort, for diagnosis; the commit marker is never written for a failed run.
            try:
                # Those a locked run uploaded already stay as they are: its objects are written once.
                if self.keys["logs"] not in self.store.written_once:
                    storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to)
                if self.keys["results"] not in self.store.written_once:
                    self.store.put_json_gz(self.keys["results"], self.results.to_dict())
                self._progress(results.FAILED, force=True)
            except StorageError:
                pass
        result = self._result(results.FAILED, changed=False, completed=self.now())
        result.update(failed=True, msg=hints.with_fix(hints.BACKUP, "backup %s failed: %s" % (self.name, reason)))
        return result

    def _result(self, phase, changed, completed=None, size=None):
        return {
            "changed": changed,
            "name": self.name,
            "phase": phase,
            "start_timestamp": rfc3339(self.started),
            "completion_timestamp": rfc3339(completed) if completed else None,
            "expiration": velero.expiration(self.started, parse_duration(self.spec["ttl"])) if phase else None,
            "item_counts": self.index.item_counts(),
            "backup_warnings": self.results.warnings,
            "backup_errors": self.results.errors,
            "warning_count": self.results.warning_count(),
            "error_count": self.results.error_count(),
            "storage": dict((role, self.store.url(key)) for role, key in sorted(self.keys.items())),
            "archive_size": size,
            "format_version": archive.FORMAT_VERSION,
            "pod_volumes": self.pod_work.planned_volumes if self.check_mode else pod_volume_summary(self.pod_volume_backups),
            "integrity": self.integrity,
        }


# The objects a run uploads before its manifest; the progress object and the lease are rewritten, not listed.
MANIFEST_ROLES = ("tarball", "item_digests", "logs", "resource_list", "results", "pod_volume_backups",
                  "volume_snapshots", "volume_info")


def recording_store(store):
    """(the store to write a backup through, the recorder of what is stored): the recorder sits under
    the encryption, so it sees the bytes as the bucket holds them."""
    if isinstance(store, crypto.EncryptedStore):
        recorder = integrity_manifest.RecordingStore(store.plain_store, layout.gzip_json)
        return crypto.EncryptedStore(recorder, store.cipher), recorder
    recorder = integrity_manifest.RecordingStore(store, layout.gzip_json)
    return recorder, recorder


def integrity_summary(document):
    """What the result says of a backup's manifest: None when it has none."""
    if document is None:
        return None
    return {"manifest": True, "signed_by": (document.get("signature") or {}).get("keyFingerprint"),
            "objects": len(document.get("objects") or {}) + 1, "items": (document.get("items") or {}).get("count")}


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
    keys = layout.backup_keys(name)
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
        "integrity": integrity_summary(stored_manifest(store, keys["manifest"])),
    }


def stored_manifest(store, key):
    """A committed backup's manifest, or None when it has none or it cannot be read (k8s_backup_info verifies)."""
    data = store.get_bytes(key)
    try:
        return integrity_manifest.decode(data) if data is not None else None
    except KubedrError:
        return None


def run(auth, location, options, check_mode=False, kube_factory=KubeClient):
    """Entry point of k8s_backup: ``state`` present creates the backup (unless committed already),
    absent deletes it whole (``delete.py``). A PartiallyFailed or Failed backup returns ``warnings``
    naming its first errors and their fixes (``results.run_warnings``)."""
    selection.validate_object_name(options.get("name"), "backup name")
    if options.get("state", "present") == "present":
        validate_options(options)  # bad input fails before any connection or write
    store = storage_mod.open_store(location)
    store.check()
    name = options["name"]
    if options.get("state") == "absent":  # through the plain store: the deletion reads encrypted records itself
        return delete_backup(store, location, name, check_mode, options.get("repository_password"),
                             options.get("encryption"))
    existing = store.backup_metadata(name)
    # An encrypted backup is read (and a new one written) through the key; a wrong key fails here.
    store = crypto.open_backup(store, options.get("encryption"), existing, "backup %s" % name, new=True)
    agents = node_agent_settings(options.get("node_agent")).namespace
    if existing is not None:
        return results.add_run_warnings(summary_from_stored(store, name, existing, changed=False), hints.BACKUP, agents)
    if check_mode:
        return results.add_run_warnings(_execute(auth, store, options, check_mode, location, kube_factory, agents),
                                        hints.BACKUP, agents)
    store.ensure_writable()
    # One run per name: a second run of this name while one runs fails here, naming the first.
    with leases.RunLease(store, layout.backup_keys(name)["lease"], "backup %s" % name) as lease:
        existing = store.backup_metadata(name)  # committed meanwhile by the run that held the lease
        if existing is not None:
            return results.add_run_warnings(summary_from_stored(store, name, existing, changed=False), hints.BACKUP,
                                            agents)
        result = _execute(auth, store, options, check_mode, location, kube_factory, agents, lease)
    results.add_run_warnings(result, hints.BACKUP, agents)
    return lease.warn_if_unsupported(result)


def _execute(auth, store, options, check_mode, location, kube_factory, agents, lease=None):
    try:
        kube = kube_factory(auth)
        return BackupRun(kube, store, options, check_mode, location=location, lease=lease).execute()
    except ClusterError as error:  # the cluster refused before anything was written: say what to do
        raise ClusterError(hints.with_fix(hints.BACKUP, str(error), agents))
