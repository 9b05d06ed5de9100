# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting a backup (``state: absent``) as one operation: the backup goes whole or stays whole.

The order, and why:

1. Prepare, changing nothing: the backup's objects; its pod volume snapshots (from
   ``<name>-podvolumebackups.json.gz``, or from the deletion record a half-finished deletion
   left); the restores made from it (``restores/<restore>/``, the backup named by the restore's
   log); and, repository by repository, which of those snapshots still exist. Listing them opens
   every repository with the password, so a wrong password or an unreachable repository fails
   here, before anything is deleted. A repository that does not exist or a snapshot already gone
   is no error: a rerun finishes a half-done deletion.
2. Write the deletion record ``<name>-deletion.json`` (plain JSON: the snapshots and restores to
   go), so that a rerun knows them even when the backup's own records can no longer be read (an
   encrypted backup whose ``velero-backup.json``, holding its encryption parameters, is gone).
3. Delete ``velero-backup.json``, the commit marker: from here on the backup is neither listed nor
   restorable, so it is never offered for a restore with part of its volume data forgotten.
4. Forget the snapshots: one ``restic forget`` per restic repository, one ``kopia snapshot delete``
   per kopia repository (the data goes at the repository's next maintenance, as in Velero).
5. Delete the restores' records, then the backup's other objects, the deletion record last.

A backup with an object still under S3 Object Lock (docs/immutability.md) is left whole: step 1
finds it and nothing is deleted; the result says until when (``locked_until``) and warns.

A failure in 1 leaves the backup whole. A failure in 2-5 leaves it unlisted, with its deletion
record and what was not deleted yet; rerunning ``state: absent`` finds it by those objects and
finishes the job. Neither uploader can forget in several repositories at once, so hiding the backup
before the first forget is what keeps it from ever being listed with its snapshots partly gone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RESTORE_STARTED, parse_fields
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots, restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import KopiaRepository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.runner import run_local

RESTORE_LOG_LINES = 50  # a restore's log names its backup on its first line ("Starting restore")
# Kopia records name no repository (as Velero's): their key here is this prefix and the kopia
# repository of the pod's namespace, so restic and kopia repositories never share a key.
KOPIA_KEY = "kopia:"


def snapshots_by_repository(pod_volume_backups, location=None):
    """{repository key: sorted snapshot IDs} of PodVolumeBackup records: restic's identifier, or
    KOPIA_KEY + the kopia repository of the volume namespace in ``location``."""
    grouped = {}
    for record in pod_volume_backups or []:
        snapshot = (record.get("status") or {}).get("snapshotID")
        spec = record.get("spec") or {}
        repository = spec.get("repoIdentifier")
        if snapshot and spec.get("uploaderType") == kopia_snapshots.UPLOADER:
            namespace = (spec.get("pod") or {}).get("namespace")
            repository = KOPIA_KEY + KopiaRepository.from_storage_location(location, namespace).identifier
        if snapshot and repository:
            grouped.setdefault(repository, set()).add(snapshot)
    return dict((repository, sorted(ids)) for repository, ids in grouped.items())


def existing_snapshots(wanted_ids, listed, backup_name):
    """{wanted ID: full ID} of the wanted IDs (full or short, as the records hold them) still among
    ``listed`` (restic.parse_snapshots). A short ID matching several snapshots means the one tagged
    with the backup; one still ambiguous is an error (nothing is forgotten on a guess)."""
    found = {}
    for wanted in wanted_ids:
        matches = [s for s in listed if (s.get("id") or "").startswith(wanted)]
        if len(matches) > 1:
            tagged = [s for s in matches if s.get("tag_map", {}).get("backup") == backup_name]
            if len(tagged) != 1:
                raise StorageError("snapshot ID %s of backup %s matches %d snapshots; nothing was deleted"
                                   % (wanted, backup_name, len(matches)))
            matches = tagged
        if matches:
            found[wanted] = matches[0]["id"]
    return found


def logged_backup_name(store, log_key):
    """The backup a restore was made from, as its log's "Starting restore" line names it (None when
    the log does not say or cannot be read)."""
    with storage_mod.download_to_tempfile(store, log_key) as handle:
        try:
            with gzip.GzipFile(fileobj=handle, mode="rb") as log:
                for number, line in enumerate(log):
                    text = line.decode("utf-8", "replace")
                    fields = parse_fields(text)
                    if fields.get("msg") == RESTORE_STARTED:
                        return fields.get("backup")
                    if number >= RESTORE_LOG_LINES:
                        return None
        except (OSError, EOFError):
            return None
    return None


def restore_objects(store):
    """{restore name: its keys} of every restore record in the location."""
    grouped = {}
    for key in store.list_keys("restores/"):
        parts = key.split("/")
        if len(parts) >= 3 and parts[1]:
            grouped.setdefault(parts[1], []).append(key)
    return grouped


def restores_of(store, backup_name, also=()):
    """{restore name: its keys} of the restores made from the backup (and of the restores named in
    ``also``, from a deletion record, that still have objects)."""
    found = {}
    for restore_name, keys in sorted(restore_objects(store).items()):
        log_key, progress_key = (layout.restore_keys(restore_name)[role] for role in ("logs", "progress"))
        if restore_name in also or (log_key in keys and logged_backup_name(store, log_key) == backup_name) or (
                log_key not in keys and progress_key in keys and progress_backup_name(store, progress_key) == backup_name):
            found[restore_name] = keys
    return found


def progress_backup_name(store, progress_key):
    """The backup a restore that died before writing its log was restoring (its progress object says)."""
    try:
        document = json.loads((store.get_bytes(progress_key) or b"{}").decode("utf-8"))
    except ValueError:
        return None
    return document.get("backup") if isinstance(document, dict) else None


class BackupDeletion(object):
    """The deletion of one backup: ``prepare()`` changes nothing, ``delete()`` does it in order."""

    def __init__(self, store, location, name, password, encryption=None, restic_runner=run_local,
                 kopia_runner=kopia.run_local):
        self.store = store  # the plain store: the deletion record is written and read unencrypted
        self.location = location
        self.name = name
        self.password = password
        self.encryption = encryption
        self.restic_runner = restic_runner
        self.kopia_runner = kopia_runner
        self.keys = []
        self.snapshots = {}  # {repository: record IDs} of the backup
        self.existing = {}  # {repository: {record ID: full ID}} of those still in the repositories
        self.restores = {}
        self.locked = None  # (mode, retain-until) when an object of the backup is still locked

    def read_record(self):
        data = self.store.get_bytes(layout.deletion_record_key(self.name))
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise StorageError("the deletion record of backup %s is not valid JSON: %s" % (self.name, error))

    def recorded_snapshots(self, committed):
        """The backup's snapshots: its PodVolumeBackup records while it is committed, else the
        deletion record of an earlier run, else the records of a backup that was never committed."""
        record = self.read_record() if committed is None else None
        if record is not None:
            return record.get("snapshots") or {}, record.get("restores") or []
        reading = crypto.open_backup(self.store, self.encryption, committed, "backup %s" % self.name)
        pod_volume_backups = reading.get_json_gz(layout.backup_keys(self.name)["pod_volume_backups"])
        return snapshots_by_repository(pod_volume_backups, self.location), []

    def repository(self, identifier):
        if identifier.startswith(KOPIA_KEY):
            return KopiaRepository.from_identifier(identifier[len(KOPIA_KEY):], self.location, password=self.password)
        return Repository.from_storage_location(self.location, repository=identifier, password=self.password)

    def listed_snapshots(self, repo):
        """The repository's snapshots as dicts with id and tag_map (none when it does not exist:
        nothing left to forget)."""
        if isinstance(repo, KopiaRepository):
            try:
                res = self.kopia_runner(repo, kopia_snapshots.list_args(), "snapshot list")
            except kopia.KopiaRepositoryNotFound:
                return []
            return [dict(s, tag_map=s["tags"]) for s in kopia_snapshots.parse_list_output(res.stdout)]
        try:
            res = self.restic_runner(repo, restic.snapshots_command(repo), "snapshots")
        except restic.ResticRepositoryNotFound:
            return []
        return restic.parse_snapshots(res.stdout)

    def forget(self, repo, snapshot_ids):
        if isinstance(repo, KopiaRepository):
            self.kopia_runner(repo, kopia_snapshots.delete_args(snapshot_ids), "snapshot delete")
        else:
            self.restic_runner(repo, restic.forget_command(repo, snapshot_ids=snapshot_ids), "forget")

    def prepare(self):
        """Everything the deletion needs, read before anything changes; raises when a repository
        cannot be opened (wrong password, unreachable) or the password is missing."""
        self.keys = self.store.list_keys(layout.backup_dir(self.name))
        self.locked = self.store.locked_until(self.keys)
        if self.locked:
            return  # nothing of it can go yet: neither its snapshots nor its restores' records
        recorded_restores = []
        if self.keys:
            self.snapshots, recorded_restores = self.recorded_snapshots(self.store.backup_metadata(self.name))
        if self.snapshots and not self.password:
            raise InvalidOptionError("the backup has pod volume snapshots in restic or kopia repositories; give "
                                     "repository_password so they are forgotten with it (nothing was deleted)")
        for identifier, ids in sorted(self.snapshots.items()):
            found = existing_snapshots(ids, self.listed_snapshots(self.repository(identifier)), self.name)
            if found:
                self.existing[identifier] = found
        self.restores = restores_of(self.store, self.name, recorded_restores)

    def delete(self):
        """Steps 2 to 5 of the module docstring."""
        self.store.ensure_writable()
        record = {"backup": self.name, "snapshots": self.snapshots, "restores": sorted(self.restores)}
        self.store.put_bytes(layout.deletion_record_key(self.name), json.dumps(record, sort_keys=True).encode("utf-8"))
        marker = layout.backup_keys(self.name)["metadata"]
        if marker in self.keys:
            self.store.delete(marker)
        for identifier, found in sorted(self.existing.items()):
            self.forget(self.repository(identifier), sorted(set(found.values())))
        for restore_name, keys in sorted(self.restores.items()):
            log_key = layout.restore_keys(restore_name)["logs"]  # last: it says which backup the restore is of
            for key in sorted(keys, key=lambda k: k == log_key):
                self.store.delete(key)
        for key in self.keys:
            if key not in (marker, layout.deletion_record_key(self.name)):
                self.store.delete(key)
        self.store.delete(layout.deletion_record_key(self.name))

    def result(self):
        if self.locked:
            mode, until = self.locked
            why = ("under S3 Object Lock (%s mode) until %s" % (mode, until) if until else
                   "under an S3 Object Lock legal hold, until it is removed")
            return {"changed": False, "name": self.name, "deleted_objects": [], "forgotten_snapshots": {},
                    "deleted_restores": [], "locked_until": until, "lock_mode": mode,
                    "warnings": ["backup %s is %s: nothing of it was deleted; it can be deleted from then on"
                                 % (self.name, why)]}
        return {"changed": bool(self.keys or self.restores), "name": self.name,
                "deleted_objects": [self.store.url(k) for k in self.keys],
                "forgotten_snapshots": dict((identifier, sorted(found)) for identifier, found in self.existing.items()),
                "deleted_restores": sorted(self.restores)}


def delete_backup(store, location, name, check_mode, password, encryption=None, restic_runner=run_local,
                  kopia_runner=kopia.run_local):
    """Delete the backup whole (see the module docstring for the order); in check mode, report what
    would go. ``store`` is the location's plain store. Returns the module result."""
    deletion = BackupDeletion(store, location, name, password, encryption, restic_runner, kopia_runner)
    if not check_mode:
        store.ensure_writable()
    deletion.prepare()
    if not check_mode and not deletion.locked and (deletion.keys or deletion.restores):
        deletion.delete()
    return deletion.result()
