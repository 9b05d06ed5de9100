# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pods in a restore, in one place: what a pod gets before it is created (the init containers
of its restore hooks; ``restore-wait`` first when its volume data is restored) and the work
once every tier is done: the volume data (file-system restore), then the exec hooks.

Volume data: pods whose volumes have file-system backups are handed, after every tier is done,
to a ``PodVolumeRestorer``: ``node_agent.NodeAgentVolumeRestorer`` (restic or kopia, whichever
each PodVolumeBackup's ``uploaderType`` names, in the node agents)
when ``repository_password`` is given; without it such volumes are reported as warnings. A
volume whose backup did not complete (its PodVolumeBackup is not Completed) has no data to
restore: Velero skips it silently, here it is an error of the restore (PartiallyFailed), so a
restore never says Completed while files did not come back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, InvalidOptionError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import poll
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.node_agent import VolumeRestore
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import VolumeProgress
from ansible_collections.kubedr.backup.plugins.module_utils.restore.cluster import POLL_INTERVAL, api_reason

RESTORE_WAIT_CONTAINER = "restore-wait"
RESTORE_WAIT_MOUNT_ROOT = "/restores"
DEFAULT_VOLUME_RESTORE_TIMEOUT = 600  # the volume_restore_timeout default


class PodVolumeRestorer(object):
    """The interface for volume data (file-system restore); node_agent.NodeAgentVolumeRestorer
    implements it with restic or kopia in the node agents.

    When a restorer is given, every restored pod with file-system-backed volumes first gets the
    ``restore-wait`` init container (image ``init_image``); once every tier is done,
    ``restore_volumes`` gets the work for all of them at once. Without a restorer such volumes
    are reported as warnings and the pods are restored without the init container."""

    init_image = None

    def restore_volumes(self, work, restore_uid, progress=None):
        """work: [node_agent.VolumeRestore] (the restored pod's namespace and name, the volume, the
        snapshot, the repository identifier, the pod's namespace in the backup, the uploader type);
        restore_uid: the marker name restore-wait waits for; progress: a VolumeProgress to tell of
        each volume's end (``finish(entry)``). Returns [(entry, error message or None)]
        (node_agent.restore_pod_volumes has this contract)."""
        raise NotImplementedError


def missing_volume_data(pod_volume_backups, pod):
    """{volume name: why} of the volumes of `pod` (the item from the backup) whose data is not in
    the backup: their PodVolumeBackup did not complete."""
    metadata = pod.get("metadata") or {}
    volumes = set(v.get("name") for v in (pod.get("spec") or {}).get("volumes") or ())
    missing = {}
    for pvb in pod_volume_backups or ():
        spec, status = pvb.get("spec") or {}, pvb.get("status") or {}
        owner = spec.get("pod") or {}
        if (owner.get("name"), owner.get("namespace")) == (metadata.get("name"), metadata.get("namespace")) \
                and spec.get("volume") in volumes and status.get("phase") != "Completed":
            missing[spec["volume"]] = "its volume backup is %s%s" % (
                status.get("phase") or "not done", ": " + status["message"] if status.get("message") else "")
    return missing


def volume_work(source_pod, created_pod, snapshots, pod_volume_backups):
    """The VolumeRestore entries of one restored pod: {volume: snapshot} with the repository and
    the uploader of each volume's PodVolumeBackup."""
    source = source_pod.get("metadata") or {}
    specs = {}
    for pvb in pod_volume_backups or ():
        spec = pvb.get("spec") or {}
        owner = spec.get("pod") or {}
        if (owner.get("namespace"), owner.get("name")) == (source.get("namespace"), source.get("name")):
            specs[spec.get("volume")] = spec
    metadata = created_pod["metadata"]
    return [VolumeRestore(metadata.get("namespace"), metadata["name"], volume, snapshot,
                          specs.get(volume, {}).get("repoIdentifier"), source.get("namespace"),
                          specs.get(volume, {}).get("uploaderType") or None)
            for volume, snapshot in sorted(snapshots.items())]


def pod_volume_snapshots(pod_volume_backups, pod):
    """{volume name: snapshot id (restic or kopia)} to restore into `pod` (the item from the backup,
    with its namespace in the backup). As Velero: the PodVolumeBackups of that pod name
    and namespace with a snapshot id (none means an empty or failed volume), for volumes
    the pod still has."""
    metadata = pod.get("metadata") or {}
    volumes = set(v.get("name") for v in (pod.get("spec") or {}).get("volumes") or ())
    snapshots = {}
    for pvb in pod_volume_backups or ():
        spec = pvb.get("spec") or {}
        owner = spec.get("pod") or {}
        snapshot = (pvb.get("status") or {}).get("snapshotID")
        if (owner.get("name"), owner.get("namespace")) == (metadata.get("name"), metadata.get("namespace")) \
                and snapshot and spec.get("volume") in volumes:
            snapshots[spec["volume"]] = snapshot
    return snapshots


def snapshot_sizes(pod_volume_backups):
    """{snapshot id: bytes backed up} from the PodVolumeBackups' progress."""
    sizes = {}
    for pvb in pod_volume_backups or ():
        status = pvb.get("status") or {}
        total = (status.get("progress") or {}).get("totalBytes")
        if status.get("snapshotID") and isinstance(total, int):
            sizes[status["snapshotID"]] = total
    return sizes


RESTORE_WAIT_SCRIPT = (
    'uid="$1"; shift\n'
    'while :; do\n'
    '  missing=0\n'
    '  for volume in "$@"; do\n'
    '    [ -e "%(root)s/$volume/.velero/$uid" ] || missing=1\n'
    '  done\n'
    '  [ "$missing" = 0 ] && break\n'
    '  sleep 1\n'
    'done\n'
    'for volume in "$@"; do rm -rf "%(root)s/$volume/.velero"; done\n'
) % {"root": RESTORE_WAIT_MOUNT_ROOT}


def add_restore_wait_init_container(pod, volumes, restore_uid, image, security_context=None, resources=None):
    """A copy of `pod` whose first init container waits for its volume data.

    The container `restore-wait` mounts each volume at /restores/<volume> and waits
    until /restores/<volume>/.velero/<restore_uid> exists for all of them (the marker
    the restore writes once the uploader has restored the data; the same one Velero's helper
    waits for), then removes the .velero directories. Names are passed as arguments,
    never spliced into the script. An existing restore-wait container is replaced.
    """
    volumes = list(volumes)
    pod = copy.deepcopy(pod)
    spec = pod.setdefault("spec", {})
    known = set(v.get("name") for v in spec.get("volumes") or ())
    unknown = [v for v in volumes if v not in known]
    if unknown:
        raise InvalidOptionError("pod %s has no volume named %s" % (
            pod.get("metadata", {}).get("name"), ", ".join(sorted(unknown))))
    if not volumes:
        return pod
    container = {
        "name": RESTORE_WAIT_CONTAINER,
        "image": image,
        "command": ["/bin/sh", "-c", RESTORE_WAIT_SCRIPT, RESTORE_WAIT_CONTAINER, restore_uid] + volumes,
        "volumeMounts": [{"name": v, "mountPath": "%s/%s" % (RESTORE_WAIT_MOUNT_ROOT, v)} for v in volumes],
    }
    if security_context:
        container["securityContext"] = copy.deepcopy(security_context)
    if resources:
        container["resources"] = copy.deepcopy(resources)
    others = [c for c in spec.get("initContainers") or () if c.get("name") != RESTORE_WAIT_CONTAINER]
    spec["initContainers"] = [container] + others
    return pod


class PodWork(object):
    """The pods of one restore: their additions before create, their volume data and exec
    hooks after every tier. Thread-safe (items are created by a pool of workers)."""

    def __init__(self, kube, options, report, pod_volume_backups, volume_restorer, restore_uid, backup_name=None):
        self.kube = kube
        self.backup_name = backup_name
        self.unrestored_volumes = 0  # volumes with data in the backup, not restored (no repository_password)
        self.options = options
        self.report = report
        self.pod_volume_backups = pod_volume_backups
        self.volume_restorer = volume_restorer
        self.uid = restore_uid
        self._lock = threading.Lock()
        self.pending_volumes = []
        self.pending_exec_hooks = []  # (created pod, [hooks.RestoreExecHook]) run after the volume data
        self.volume_progress = VolumeProgress()

    def with_additions(self, task, desired):
        """Pods get the init containers of their restore hooks, and restore-wait (first) when
        their volume data is restored."""
        if task.group_resource != kr.PODS:
            return desired
        init_hooks = hooks.restore_hooks_for_pod(desired, self.options["restore_hooks"])[0]
        if init_hooks:
            desired = copy.deepcopy(desired)
            spec = desired.setdefault("spec", {})
            spec["initContainers"] = list(init_hooks) + list(spec.get("initContainers") or [])
        return self._with_volume_wait(task, desired)

    def _with_volume_wait(self, task, desired):
        if not self.options["restore_pvs"]:
            return desired
        name = desired["metadata"].get("name")
        for volume, why in sorted(missing_volume_data(self.pod_volume_backups, task.item).items()):
            self.report.error_about(task, "pod %s: volume %s: its data is not in backup %s (%s): the volume is "
                                          "restored without it" % (name, volume, self.backup_name, why))
        snapshots = pod_volume_snapshots(self.pod_volume_backups, task.item)
        if not snapshots:
            return desired
        if self.volume_restorer is None:
            with self._lock:
                self.unrestored_volumes += len(snapshots)
            self.report.warn_about(task, "pod %s: data of volumes %s (file-system backup) is not restored: "
                                         "repository_password was not given" % (desired["metadata"].get("name"),
                                                                                ", ".join(sorted(snapshots))))
            return desired
        return add_restore_wait_init_container(desired, sorted(snapshots), self.uid, self.volume_restorer.init_image)

    def created(self, task, desired, created):
        """Remember a created pod's volume work and exec hooks for after the tiers."""
        if task.group_resource != kr.PODS:
            return
        if self.volume_restorer is not None and self.options["restore_pvs"]:
            snapshots = pod_volume_snapshots(self.pod_volume_backups, task.item)
            if snapshots:
                with self._lock:
                    self.pending_volumes.extend(volume_work(task.item, created, snapshots, self.pod_volume_backups))
        exec_hooks = hooks.restore_hooks_for_pod(desired, self.options["restore_hooks"])[1]
        if exec_hooks:
            with self._lock:
                self.pending_exec_hooks.append((created, exec_hooks))

    def restore_volumes(self):
        if not self.pending_volumes:
            return
        log, results = self.report.log, self.report.results
        log.info("Restoring volume data", volumes=len(self.pending_volumes))
        sizes = snapshot_sizes(self.pod_volume_backups)
        self.volume_progress.expect_sizes(dict((entry, sizes.get(entry.snapshot_id, 0)) for entry in self.pending_volumes))
        for entry, error in self.volume_restorer.restore_volumes(self.pending_volumes, self.uid,
                                                                 progress=self.volume_progress):
            if error:
                results.error(error, namespace=entry.namespace)
                log.error(error, namespace=entry.namespace, name=entry.pod)
            else:
                log.info("Restored volume data", namespace=entry.namespace, name=entry.pod, volume=entry.volume)

    def run_exec_hooks(self):
        """Post-restore exec hooks, once volume data is back: each waits for its pod to run
        (its wait timeout; none means volume_restore_timeout), then runs in order."""
        volume_timeout = self.options.get("volume_restore_timeout") or DEFAULT_VOLUME_RESTORE_TIMEOUT
        for pod, exec_hooks in self.pending_exec_hooks:
            meta = pod["metadata"]
            scope = {"namespace": meta.get("namespace")}
            for restore_hook in exec_hooks:
                wait = restore_hook.wait_timeout or volume_timeout
                container = restore_hook.hook.container or hooks.default_container(pod)
                try:
                    running = self._wait_for_container(meta["namespace"], meta["name"], container, wait,
                                                       restore_hook.wait_for_ready)
                except KubedrError as error:
                    self.report.results.error("pod %s: restore hook %s not run: %s" % (
                        meta["name"], restore_hook.hook.name, error), **scope)
                    break
                outcomes, failed = hooks.run_hooks(self.kube.exec_client, running, [restore_hook.hook])
                hooks.record_outcomes(outcomes, "pod %s: restore hook" % meta["name"], self.report.results,
                                      self.report.log, meta.get("namespace"))
                if failed:
                    break

    def _wait_for_container(self, namespace, name, container, timeout, wait_for_ready):
        """The pod once the hook's container runs (or is Ready, with wait_for_ready), as Velero waits."""
        def up():
            try:
                pod = self.kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
            except ApiException as error:
                raise ClusterError("cannot read the pod: %s" % api_reason(error))
            return pod if hooks.container_up(pod, container, wait_for_ready) else None

        pod = poll(up, timeout, POLL_INTERVAL)
        if pod is None:
            raise ClusterError("container %s was not %s within %ss" % (
                container, "Ready" if wait_for_ready else "running", timeout))
        return pod
