# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The uploaders that move pod volume data, restic and kopia, behind one interface, so the node
agent's work (node_agent.py) does not depend on which one a backup uses.

An uploader names its repositories in a storage location (``repository``), says what the
PodVolumeBackup records as ``repoIdentifier`` (restic's identifier; nothing for kopia, as
Velero), makes sure a repository exists (``prepare``), and backs a volume directory up or
restores a snapshot into one, exec'd in a node-agent pod.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import KopiaRepository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import SECRET_ENV, Repository

RESTIC = "restic"
KOPIA = "kopia"
UPLOADER_TYPES = (RESTIC, KOPIA)
DEFAULT_UPLOADER = RESTIC


class Uploader(object):
    """What node_agent.py needs of an uploader. ``settings`` is node_agent.NodeAgentSettings,
    ``agent`` the name of the node-agent pod to exec into."""

    name = None

    def repository(self, storage_location, namespace, password, identifier=None):
        """The repository of a volume namespace (``identifier``: the one a record names)."""
        raise NotImplementedError

    def record_identifier(self, repo):
        """The PodVolumeBackup's spec.repoIdentifier for a snapshot in ``repo``."""
        raise NotImplementedError

    def prepare(self, api_client, settings, agent, repo):
        """Create the repository unless it exists."""
        raise NotImplementedError

    def back_up(self, api_client, settings, agent, repo, directory, volume, tags, on_stdout=None):
        """Snapshot ``directory`` (PodVolume ``volume``, its record's ``tags``): dict(snapshot_id,
        total_bytes, incomplete). ``on_stdout`` (a progress.StatusLines) may see live progress."""
        raise NotImplementedError

    def back_up_creating(self, api_client, settings, agent, repo, directory, volume, tags, on_stdout=None):
        """back_up, creating the repository first unless it exists (the first volume of a
        repository in a run)."""
        self.prepare(api_client, settings, agent, repo)
        return self.back_up(api_client, settings, agent, repo, directory, volume, tags, on_stdout=on_stdout)

    def restore(self, api_client, settings, agent, repo, snapshot_id, directory, on_stdout=None, delete_extra=False):
        """Restore a snapshot into ``directory`` (files of the snapshot overwritten, others kept, or
        removed with ``delete_extra``). ``on_stdout`` may see live progress."""
        raise NotImplementedError


class ResticUploader(Uploader):
    name = RESTIC

    def repository(self, storage_location, namespace, password, identifier=None):
        return Repository.from_storage_location(storage_location, namespace, repository=identifier or None,
                                                password=password)

    def record_identifier(self, repo):
        return repo.identifier

    @staticmethod
    def secret_env_names(repo):
        """The variables restic needs that travel on stdin: the password and, for S3, the keys
        (the node agent's own environment may lack them, e.g. under kwok)."""
        env = repo.env({})
        return tuple(name for name in SECRET_ENV if name == "RESTIC_PASSWORD" or env.get(name))

    def prepare(self, api_client, settings, agent, repo):
        runner.ensure_repository_in_pod(api_client, settings.namespace, agent, repo, container=settings.container,
                                        stdin_env=self.secret_env_names(repo))

    def back_up(self, api_client, settings, agent, repo, directory, volume, tags, on_stdout=None):
        summary = runner.volume_backup_in_pod(api_client, settings.namespace, agent, repo, directory, tags,
                                              container=settings.container, stdin_env=self.secret_env_names(repo),
                                              on_stdout=on_stdout)
        return dict(snapshot_id=summary.get("snapshot_id"), total_bytes=summary.get("total_bytes_processed"),
                    incomplete=bool(summary.get("incomplete")))

    def restore(self, api_client, settings, agent, repo, snapshot_id, directory, on_stdout=None, delete_extra=False):
        extra = dict(on_stdout=on_stdout) if on_stdout is not None else {}
        if delete_extra:
            extra["delete"] = True
        runner.volume_restore_in_pod(api_client, settings.namespace, agent, repo, snapshot_id, directory,
                                     container=settings.container, stdin_env=self.secret_env_names(repo), **extra)


class KopiaUploader(Uploader):
    """kopia as Velero's kopia uploader uses it (kopia.py: the layout; kopia_snapshots.py:
    source, tags, pin)."""

    name = KOPIA

    def repository(self, storage_location, namespace, password, identifier=None):
        # Velero records no identifier for kopia: the repository follows from the volume namespace.
        return KopiaRepository.from_storage_location(storage_location, namespace, password=password)

    def record_identifier(self, repo):
        return ""

    @staticmethod
    def _runner(api_client, settings, agent):
        return kopia.pod_runner(api_client, settings.namespace, agent, container=settings.container)

    def prepare(self, api_client, settings, agent, repo):
        kopia.ensure_repository(repo, self._runner(api_client, settings, agent))

    def back_up(self, api_client, settings, agent, repo, directory, volume, tags, on_stdout=None, create=False):
        # kopia prints its progress on stderr as text and its result on stdout at the end: the
        # volume's bytes are counted when it finishes (on_stdout, restic's status lines, unused).
        source = kopia_snapshots.volume_source(volume.namespace, volume.pod, volume.pvc, volume.volume)
        res = self._runner(api_client, settings, agent)(
            repo, kopia_snapshots.create_args(source, kopia_snapshots.snapshot_tags(tags)), "snapshot create",
            create=create, cwd=directory)
        summary = kopia_snapshots.parse_create_output(res.stdout)
        return dict(snapshot_id=summary["snapshot_id"], total_bytes=summary["total_bytes"],
                    incomplete=bool(summary["errors"] or summary["incomplete"]))

    def back_up_creating(self, api_client, settings, agent, repo, directory, volume, tags, on_stdout=None):
        # One exec and one connection fewer per repository than prepare + back_up: the snapshot's
        # own connection creates the repository when there is none (docs/performance.md).
        return self.back_up(api_client, settings, agent, repo, directory, volume, tags, on_stdout=on_stdout,
                            create=True)

    def restore(self, api_client, settings, agent, repo, snapshot_id, directory, on_stdout=None, delete_extra=False):
        self._runner(api_client, settings, agent)(repo, kopia_snapshots.restore_args(snapshot_id,
                                                                                     delete_extra=delete_extra),
                                                  "snapshot restore", cwd=directory)


_UPLOADERS = {RESTIC: ResticUploader(), KOPIA: KopiaUploader()}


def uploader(uploader_type):
    """The Uploader of a PodVolumeBackup's spec.uploaderType (empty: restic, as Velero reads
    records written before the field existed)."""
    name = uploader_type or DEFAULT_UPLOADER
    if name not in _UPLOADERS:
        raise InvalidOptionError("uploader_type must be one of %s, not %r" % (", ".join(UPLOADER_TYPES), name))
    return _UPLOADERS[name]
