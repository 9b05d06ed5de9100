# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""File-system backup and restore of pod volumes through the node agent.

For each volume, the module execs the uploader (restic or kopia, uploaders.py) in the
node-agent pod running on the volume's node (through the API server), inside the volume's
directory under the kubelet pods directory the agent mounts. Volumes on different nodes run
concurrently, one node's volumes one after another (they share that node's disk). Secrets
reach the uploader on the exec's standard input, never its command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import DEFAULT_STORAGE_LOCATION
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import poll
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic, runner, uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import StatusLines, VolumeProgress

NODE_AGENT_DEFAULTS = dict(
    namespace="kubedr-node-agent",
    label_selector="app.kubernetes.io/name=kubedr-node-agent",
    host_pods_path="/host_pods",
    container=None,
)
MARKER_DIR = ".velero"  # the restore marker directory Velero's restore helper waits for
DEFAULT_RESTORE_HELPER_IMAGE = "docker.io/library/busybox:1.36"  # restore-wait only needs /bin/sh
EMPTY_VOLUME_MESSAGE = "volume was empty so no snapshot was taken"  # Velero's wording
POLL_INTERVAL = 1  # seconds between looks at a pod, a claim or a volume directory while waiting

# Where and how to reach the node agents, and the repository secrets.
NodeAgentSettings = namedtuple("NodeAgentSettings", "namespace label_selector host_pods_path container")


def node_agent_settings(option):
    """NodeAgentSettings from the modules' `node_agent` dict option (None: defaults)."""
    merged = dict(NODE_AGENT_DEFAULTS)
    merged.update(dict((k, v) for k, v in (option or {}).items() if v is not None))
    return NodeAgentSettings(merged["namespace"], merged["label_selector"], merged["host_pods_path"],
                             merged["container"])


def node_agent_pods(kube, settings):
    """{node name: node-agent pod name} of the Running node-agent pods."""
    document = kube.get("/api/v1/namespaces/%s/pods" % settings.namespace,
                        {"labelSelector": settings.label_selector})
    agents = {}
    for pod in (document or {}).get("items") or []:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") == "Running":
            agents.setdefault(node, pod["metadata"]["name"])
    return agents


secret_env_names = uploaders.ResticUploader.secret_env_names  # restic's stdin variables (tests/bench use it)


def resolve_volume_dir(api_client, settings, agent_pod, pod_uid, vol_dir):
    """(directory, is_empty) for the one directory matching <host_pods>/<uid>/volumes/*/<vol_dir>
    in the agent, or (None, None)."""
    # Quote every part but the plugin wildcard: the mount path is user-configurable.
    pattern = "%s*%s" % (runner.shell_quote("%s/%s/volumes/" % (settings.host_pods_path.rstrip("/"), pod_uid)),
                         runner.shell_quote("/" + vol_dir))
    script = ('for d in %s; do [ -d "$d" ] || continue; '
              'if [ -z "$(ls -A "$d")" ]; then echo "E $d"; else echo "F $d"; fi; done; true' % pattern)
    res = exec_in_pod(api_client, settings.namespace, agent_pod, ["/bin/sh", "-c", script],
                      container=settings.container, timeout=60)
    found = [line for line in res.stdout.splitlines() if line[:2] in ("E ", "F ")]
    if len(found) != 1:
        return None, None
    return found[0][2:], found[0][0] == "E"


class _RepositoryGate(object):
    """The first snapshot into each repository creates it unless it exists, once, even with
    nodes working in parallel (two kopia creations of one repository at once would corrupt it):
    other volumes of that repository wait for it; other repositories do not."""

    def __init__(self, uploader):
        self._uploader = uploader
        self._lock = threading.Lock()
        self._locks = {}
        self._ready = set()

    def back_up(self, api_client, settings, agent_pod, repo, *args, **kwargs):
        with self._lock:
            lock = self._locks.setdefault(repo.identifier, threading.Lock())
        with lock:
            if repo.identifier not in self._ready:
                summary = self._uploader.back_up_creating(api_client, settings, agent_pod, repo, *args, **kwargs)
                self._ready.add(repo.identifier)
                return summary
        return self._uploader.back_up(api_client, settings, agent_pod, repo, *args, **kwargs)


def _now():
    return rfc3339(utc_now())


def _by_node(work, node_of):
    groups = {}
    for entry in work:
        groups.setdefault(node_of(entry), []).append(entry)
    return groups


def _run_per_node(groups, handle):
    """handle(entries of one node) for every node concurrently; returns the flattened results."""
    if not groups:
        return []
    with ThreadPoolExecutor(max(1, min(16, len(groups)))) as pool:
        outputs = list(pool.map(handle, [groups[node] for node in sorted(groups, key=str)]))
    return [item for output in outputs for item in output]


def back_up_pod_volumes(api_client, kube, pod_volumes, settings, repository_for, backup_name, backup_uid,
                        location_name=DEFAULT_STORAGE_LOCATION, log=None, progress=None, uploader=None):
    """Back up every PodVolume with ``uploader`` (uploaders.Uploader; default restic).
    ``progress``: a VolumeProgress kept up to date. repository_for(namespace) returns the
    uploader's repository of that volume namespace (with its password).

    Returns a list of (record, error message or None), record being PodVolumeBackup-shaped."""
    uploader = uploader or uploaders.uploader(None)
    agents = node_agent_pods(kube, settings)
    gate = _RepositoryGate(uploader)
    progress = progress if progress is not None else VolumeProgress()
    progress.expect(len(pod_volumes))

    def one(volume):
        started = _now()
        repo = repository_for(volume.namespace)
        outcome = {"start": started}
        try:
            agent = agents.get(volume.node)
            if agent is None:
                raise ClusterError("no running node agent on node %s (namespace %s, selector %s)"
                                   % (volume.node, settings.namespace, settings.label_selector))
            directory, empty = resolve_volume_dir(api_client, settings, agent, volume.pod_uid, volume.vol_dir)
            if directory is None:
                raise ClusterError("volume directory %s not found in node agent %s" % (
                    volumes.volume_dir_pattern(settings.host_pods_path, volume.pod_uid, volume.vol_dir), agent))
            if empty:
                # restic refuses an empty snapshot; Velero records the volume without one (kubedr does for kopia too).
                outcome.update(phase="Completed", path=directory, message=EMPTY_VOLUME_MESSAGE)
                return _finish(volume, outcome, None)
            tags = restic.volume_tags(backup_name, backup_uid, volume.pod, volume.pod_uid, volume.namespace,
                                      volume.volume)
            summary = gate.back_up(api_client, settings, agent, repo, directory, volume, tags,
                                   on_stdout=StatusLines(progress, volume))
            outcome.update(phase="Completed", snapshot_id=summary.get("snapshot_id"), path=directory,
                           total_bytes=summary.get("total_bytes"), bytes_done=summary.get("total_bytes"))
            error = None
            if summary.get("incomplete"):
                error = "some files of volume %s of pod %s/%s could not be read" % (
                    volume.volume, volume.namespace, volume.pod)
        except KubedrError as e:
            error = "volume %s of pod %s/%s: %s" % (volume.volume, volume.namespace, volume.pod, e)
            outcome.update(phase="Failed", message=str(e))
        return _finish(volume, outcome, error)

    def _finish(volume, outcome, error):
        outcome["completion"] = _now()
        progress.finish(volume, outcome.get("bytes_done"), failed=outcome.get("phase") == "Failed")
        if log is not None:
            log(volume, outcome, error)
        record = volumes.pod_volume_backup_record(backup_name, backup_uid, volume, location_name,
                                                  uploader.record_identifier(repository_for(volume.namespace)), outcome,
                                                  uploader_type=uploader.name)
        return record, error

    groups = _by_node(pod_volumes, lambda v: v.node)
    return _run_per_node(groups, lambda entries: [one(v) for v in entries])


# --------------------------------------------------------------------------- restore

# A volume to restore into a restored pod: the pod as created (namespace, name), its
# volume, the snapshot, the repository the snapshot lives in (as recorded; kopia records none),
# the pod's namespace in the backup and the uploader that made the snapshot (None: restic).
VolumeRestore = namedtuple("VolumeRestore", "namespace pod volume snapshot_id repo_identifier source_namespace "
                                            "uploader_type")
VolumeRestore.__new__.__defaults__ = (None,)


def wait_for_scheduled_pod(kube, namespace, name, timeout):
    """The pod once it has a node and a uid; raises ClusterError after timeout seconds."""
    def scheduled():
        pod = kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
        return pod if (pod.get("spec") or {}).get("nodeName") else None

    pod = poll(scheduled, timeout, interval=POLL_INTERVAL)
    if not pod:
        raise ClusterError("pod %s/%s was not scheduled within %ss" % (namespace, name, timeout))
    return pod


def restore_pod_volumes(api_client, kube, work, settings, repository_for, restore_uid, timeout=600, log=None,
                        progress=None):
    """Restore every VolumeRestore into its restored pod, then write the marker the pod's
    restore-wait init container waits for. repository_for(entry) returns the
    repository.Repository holding the entry's snapshot. Returns [(VolumeRestore, error or None)].
    ``progress``: a VolumeProgress told of each volume's end."""
    agents = node_agent_pods(kube, settings)
    progress = progress if progress is not None else VolumeProgress()

    def pod_work(entries):
        first = entries[0]
        try:
            pod = wait_for_scheduled_pod(kube, first.namespace, first.pod, timeout)
        except KubedrError as e:
            for entry in entries:
                progress.finish(entry, failed=True)
            return [(entry, "volume %s of pod %s/%s: %s" % (entry.volume, entry.namespace, entry.pod, e))
                    for entry in entries]
        done = []
        for entry in entries:
            error = _restore_one(api_client, kube, settings, agents, pod, entry, repository_for, restore_uid, timeout,
                                 log)
            progress.finish(entry, failed=error is not None)
            done.append((entry, error))
        return done

    # Pods, not volumes, are the unit here: each pod waits for its own scheduling.
    by_pod = {}
    for entry in work:
        by_pod.setdefault((entry.namespace, entry.pod), []).append(entry)
    with ThreadPoolExecutor(max(1, min(16, len(by_pod) or 1))) as pool:
        outputs = list(pool.map(pod_work, [by_pod[key] for key in sorted(by_pod)]))
    return [item for output in outputs for item in output]


def _claim_of(pod, volume_name):
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") == volume_name:
            return (volume.get("persistentVolumeClaim") or {}).get("claimName")
    return None


def _claim_binding(kube, pod, volume_name, timeout):
    """({(namespace, claim): PV name}, CSI PV names) for the volume's claim once it is bound
    (the live claim, which may be one the restore left in place); empty for other volumes."""
    claim = _claim_of(pod, volume_name)
    if not claim:
        return {}, frozenset()
    namespace = pod["metadata"]["namespace"]

    def bound_volume():
        pvc = kube.get("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (namespace, claim))
        return (pvc.get("spec") or {}).get("volumeName")

    pv_name = poll(bound_volume, timeout, interval=POLL_INTERVAL)
    if not pv_name:
        raise ClusterError("claim %s/%s was not bound within %ss" % (namespace, claim, timeout))
    pv = kube.get("/api/v1/persistentvolumes/%s" % pv_name) or {}
    csi = frozenset([pv_name]) if (pv.get("spec") or {}).get("csi") else frozenset()
    return {(namespace, claim): pv_name}, csi


def _restore_one(api_client, kube, settings, agents, pod, entry, repository_for, restore_uid, timeout, log):
    try:
        node = pod["spec"]["nodeName"]
        agent = agents.get(node)
        if agent is None:
            raise ClusterError("no running node agent on node %s" % node)
        pvc_to_pv, csi_pvs = _claim_binding(kube, pod, entry.volume, timeout)
        volume = volumes.pod_volume(pod, entry.volume, pvc_to_pv, csi_pvs=csi_pvs)
        # The kubelet creates the volume directory when it mounts the volume: wait for it.
        directory = poll(lambda: resolve_volume_dir(api_client, settings, agent, volume.pod_uid, volume.vol_dir)[0],
                         timeout, interval=POLL_INTERVAL)
        if directory is None:
            raise ClusterError("volume directory %s did not appear within %ss" % (
                volumes.volume_dir_pattern(settings.host_pods_path, volume.pod_uid, volume.vol_dir), timeout))
        repo = repository_for(entry)
        uploaders.uploader(entry.uploader_type).restore(api_client, settings, agent, repo, entry.snapshot_id,
                                                        directory)
        marker = "%s/%s/%s" % (directory, MARKER_DIR, restore_uid)
        res = exec_in_pod(api_client, settings.namespace, agent,
                          ["/bin/sh", "-c", 'mkdir -p "$(dirname "$1")" && : > "$1"', "mark", marker],
                          container=settings.container, timeout=60)
        if res.rc != 0:
            raise ClusterError("cannot write the restore marker %s: %s" % (marker, res.stderr.strip()[:300]))
        error = None
    except KubedrError as e:
        error = "volume %s of pod %s/%s: %s" % (entry.volume, entry.namespace, entry.pod, e)
    if log is not None:
        log(entry, error)
    return error


def restore_into_pod_volume(api_client, kube, settings, pod, volume_name, repo, snapshot_id, uploader_type=None,
                            timeout=600, delete_extra=False):
    """Restore a snapshot into volume ``volume_name`` of a running, scheduled ``pod`` (the in-place
    restore's helper pod mounting a live claim) through the node agent of its node: the volume
    directory the kubelet mounted is found (waiting up to ``timeout`` seconds for it) and the
    uploader restores into it, removing the files the snapshot lacks with ``delete_extra``.
    Returns the directory; raises KubedrError (ClusterError, the uploader's error)."""
    node = pod["spec"]["nodeName"]
    agent = node_agent_pods(kube, settings).get(node)
    if agent is None:
        raise ClusterError("no running node agent on node %s (namespace %s, selector %s)"
                           % (node, settings.namespace, settings.label_selector))
    pvc_to_pv, csi_pvs = _claim_binding(kube, pod, volume_name, timeout)
    volume = volumes.pod_volume(pod, volume_name, pvc_to_pv, csi_pvs=csi_pvs)
    directory = poll(lambda: resolve_volume_dir(api_client, settings, agent, volume.pod_uid, volume.vol_dir)[0],
                     timeout, interval=POLL_INTERVAL)
    if directory is None:
        raise ClusterError("volume directory %s did not appear within %ss" % (
            volumes.volume_dir_pattern(settings.host_pods_path, volume.pod_uid, volume.vol_dir), timeout))
    uploaders.uploader(uploader_type).restore(api_client, settings, agent, repo, snapshot_id, directory,
                                              delete_extra=delete_extra)
    return directory


class NodeAgentVolumeRestorer(object):
    """restore.PodVolumeRestorer backed by the node agents: restored pods get the
    restore-wait init container (init_image) and their volumes are restored by the uploader
    that made each snapshot (restic or kopia), exec'd in the node agent of their node."""

    def __init__(self, kube, storage_location, options):
        self.kube = kube
        self.storage_location = storage_location
        self.password = options.get("repository_password")
        self.settings = node_agent_settings(options.get("node_agent"))
        self.init_image = options.get("restore_helper_image") or DEFAULT_RESTORE_HELPER_IMAGE
        self.timeout = options.get("volume_restore_timeout") or 600

    def repository_for(self, entry):
        """The repository recorded with the snapshot, else the backup namespace's (Velero's naming)."""
        return uploaders.uploader(entry.uploader_type).repository(self.storage_location, entry.source_namespace,
                                                                  self.password, identifier=entry.repo_identifier)

    def restore_volumes(self, work, restore_uid, progress=None):
        return restore_pod_volumes(self.kube.exec_client, self.kube, work, self.settings, self.repository_for,
                                   restore_uid, timeout=self.timeout, progress=progress)
