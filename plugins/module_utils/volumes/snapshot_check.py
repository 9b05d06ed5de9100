# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the pod volume snapshots a backup's PodVolumeBackup records name still exist in their
repositories (k8s_backup_info's integrity check, docs/integrity.md): one snapshot listing per
repository (``restic snapshots --json``, ``kopia snapshot list --all --json``), run locally with
the repository password in the environment."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots, restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import KopiaRepository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.runner import run_local


def _volume(record):
    spec = record.get("spec") or {}
    pod = spec.get("pod") or {}
    return {"namespace": pod.get("namespace"), "pod": pod.get("name"), "volume": spec.get("volume"),
            "snapshot_id": (record.get("status") or {}).get("snapshotID"),
            "uploader": spec.get("uploaderType") or "restic"}


def snapshots_by_repository(records, location, password):
    """[(repository, [volume dicts])] of the records that name a snapshot, a repository once."""
    grouped, repositories = {}, {}
    for record in records or []:
        volume = _volume(record)
        if not volume["snapshot_id"]:
            continue  # nothing was stored for it (a failed or empty volume): nothing to find
        if volume["uploader"] == kopia_snapshots.UPLOADER:
            repo = KopiaRepository.from_storage_location(location, volume["namespace"], password=password)
        else:
            identifier = (record.get("spec") or {}).get("repoIdentifier") or None
            repo = Repository.from_storage_location(location, volume["namespace"], repository=identifier, password=password)
        key = (volume["uploader"], repo.identifier)
        repositories.setdefault(key, repo)
        grouped.setdefault(key, []).append(volume)
    return [(repositories[key], grouped[key]) for key in sorted(grouped)]


def listed_ids(repo, restic_runner=run_local, kopia_runner=kopia.run_local):
    """The snapshot IDs in a repository (none when it does not exist)."""
    try:
        if isinstance(repo, KopiaRepository):
            res = kopia_runner(repo, kopia_snapshots.list_args(), "snapshot list")
            return [s["id"] for s in kopia_snapshots.parse_list_output(res.stdout) if s.get("id")]
        res = restic_runner(repo, restic.snapshots_command(repo), "snapshots")
        return [s["id"] for s in restic.parse_snapshots(res.stdout) if s.get("id")]
    except NotFoundError:
        return []


def missing_snapshots(records, location, password, restic_runner=run_local, kopia_runner=kopia.run_local):
    """[(volume dict, reason)] of each recorded snapshot not found: gone from its repository, or its
    repository could not be read (the reason says which, without secrets)."""
    missing = []
    for repo, volumes in snapshots_by_repository(records, location, password):
        try:
            ids = listed_ids(repo, restic_runner, kopia_runner)
        except KubedrError as error:
            missing.extend((volume, "its repository %s cannot be listed: %s" % (repo.identifier, error))
                           for volume in volumes)
            continue
        for volume in volumes:
            # restic 0.14 records only the short ID: a prefix of the full one
            if not [i for i in ids if i.startswith(volume["snapshot_id"])]:
                missing.append((volume, "snapshot %s is not in repository %s" % (volume["snapshot_id"], repo.identifier)))
    return missing
