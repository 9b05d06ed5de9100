# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting a backup (``state: absent``): its restic snapshots are forgotten first, then every
object of the backup is deleted, the commit marker first."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.runner import run_local


def snapshots_by_repository(pod_volume_backups):
    """{repository identifier: sorted snapshot IDs} of PodVolumeBackup records."""
    grouped = {}
    for record in pod_volume_backups or []:
        snapshot = (record.get("status") or {}).get("snapshotID")
        repository = (record.get("spec") or {}).get("repoIdentifier")
        if snapshot and repository:
            grouped.setdefault(repository, set()).add(snapshot)
    return dict((repository, sorted(ids)) for repository, ids in grouped.items())


def forget_snapshots(location, snapshots, password):
    """restic forget the backup's volume snapshots, repository by repository (restic runs here)."""
    if snapshots and not password:
        raise InvalidOptionError("the backup has pod volume snapshots in restic repositories; give "
                                 "repository_password so they are forgotten with it (nothing was deleted)")
    for repository, ids in sorted(snapshots.items()):
        repo = Repository.from_storage_location(location, repository=repository, password=password)
        run_local(repo, restic.forget_command(repo, snapshot_ids=ids), "forget")


def delete_backup(store, location, name, check_mode, password):
    """Forget the backup's restic snapshots, then delete every object of the backup (the commit
    marker first). A failure to forget leaves the backup whole, so the task can be rerun.
    Returns the module result."""
    keys = store.list_keys(layout.backup_dir(name))
    snapshots = snapshots_by_repository(store.get_json_gz(layout.backup_keys(name)["pod_volume_backups"]))
    if keys and not check_mode:
        store.ensure_writable()
        forget_snapshots(location, snapshots, password)
        store.delete_backup(name)
    return {"changed": bool(keys), "name": name, "deleted_objects": [store.url(k) for k in keys],
            "forgotten_snapshots": snapshots}
