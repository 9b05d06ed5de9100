# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pod-level work of a backup beyond saving the objects: exec hooks and file-system
backup of pod volumes.

Order, per pod, as in Velero: pre hooks, then the pod's volumes, then post hooks. A pod's
pre hooks run just before the pod is saved; the volumes are backed up after every item is
collected, then the post hooks run; a pod whose pre hook with on_error Fail failed gets no
volume backup (an error), and its post hooks still run so an application frozen by an
earlier hook is thawed. In check mode nothing runs: the volumes are planned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.kubedr.backup.plugins.module_utils.archive import volume_info
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import DEFAULT_STORAGE_LOCATION, PODS, PVCS, PVS
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import node_agent as fs_backup
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import selection as volumes
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import VolumeProgress


class PodWork(object):
    """Collects what the pods need while the pipeline streams items, then does it.

    options: the module's backup options (default_volumes_to_fs_backup, hooks, node_agent,
    repository_password, uploader_type); results/log: the run's Results and RunLog."""

    OBSERVED = frozenset([PODS, PVCS, PVS])  # the types whose items ``take`` must see

    def __init__(self, kube, storage_location, options, backup_name, backup_uid, results, log, check_mode=False):
        self.kube = kube
        self.storage_location = storage_location
        self.default_fs_backup = bool(options.get("default_volumes_to_fs_backup"))
        self.resource_hooks = hooks.parse_hooks_option(options.get("hooks"))
        self.settings = fs_backup.node_agent_settings(options.get("node_agent"))
        self.password = options.get("repository_password")
        self.uploader = uploaders.uploader(options.get("uploader_type"))
        self.backup_name = backup_name
        self.backup_uid = backup_uid
        self.results = results
        self.log = log
        self.check_mode = check_mode
        self.planned_volumes = []   # check mode: the pod volumes that would be backed up
        self._lock = threading.Lock()
        self._pod_volumes = []      # volumes.PodVolume of every backed-up pod's selected volumes
        self._claims = {}           # (namespace, claim) -> bound PV name
        self._csi_pvs = set()
        self.persistent_volumes = []  # volume_info.persistent_volume_summary of each backed-up PV
        self.hooks_attempted = self.hooks_failed = 0
        self._hooked_pods = {}      # (namespace, name) -> pod, for post hooks
        self._blocked = set()       # pods whose pre hook failed with on_error Fail
        self.volume_progress = VolumeProgress()

    # ---------------------------------------------------------------- while items stream

    def take(self, group_resource, item):
        """Called for every item the backup takes, before it is saved: a pod's pre hooks run
        (as in Velero), and what the volume work needs is remembered."""
        if group_resource == PODS:
            if not self.check_mode:
                self.run_hooks([item], hooks.PRE)
            self._observe_pod(item)
        elif group_resource == PVCS:
            meta = item.get("metadata") or {}
            bound = (item.get("spec") or {}).get("volumeName")
            if bound:
                with self._lock:
                    self._claims[(meta.get("namespace"), meta.get("name"))] = bound
        elif group_resource == PVS:
            with self._lock:
                self.persistent_volumes.append(volume_info.persistent_volume_summary(item))
                if (item.get("spec") or {}).get("csi"):
                    self._csi_pvs.add(item["metadata"]["name"])

    def _observe_pod(self, item):
        selected, skipped = volumes.volumes_to_back_up(item, self.default_fs_backup)
        meta = item.get("metadata") or {}
        if self.check_mode:
            self.planned_volumes.extend({"namespace": meta.get("namespace"), "pod": meta.get("name"),
                                         "volume": name} for name in selected)
        for name, reason in sorted(skipped.items()):
            self.results.warn("pod %s: volume %s not backed up: %s" % (meta.get("name"), name, reason),
                              namespace=meta.get("namespace"))
        if selected:
            pod = _pod_summary(item)
            with self._lock:
                self._pod_volumes.extend((pod, name) for name in selected)

    # ---------------------------------------------------------------- hooks

    def run_hooks(self, pods, phase):
        """Run the phase's hooks in each pod (a list of pod dicts). The exec client is built only
        when a pod has a hook to run: most pods have none."""
        for pod in pods:
            meta = pod.get("metadata") or {}
            key = (meta.get("namespace"), meta.get("name"))
            selected = hooks.hooks_for_pod(pod, phase, self.resource_hooks)
            if not selected:
                continue
            self._hooked_pods[key] = pod
            outcomes, failed = hooks.run_hooks(self.kube.exec_client, pod, selected)
            with self._lock:  # Velero's status.hookStatus
                self.hooks_attempted += len(outcomes)
                self.hooks_failed += sum(1 for outcome in outcomes if not outcome.ok)
            hooks.record_outcomes(outcomes, "pod %s: %s hook" % (meta.get("name"), phase), self.results, self.log,
                                  meta.get("namespace"))
            if failed and phase == hooks.PRE:
                self._blocked.add(key)

    def run_post_hooks(self):
        """The post hooks of every pod whose pre hooks ran, after its volumes, and whatever happened
        to the run, so an application a pre hook froze is thawed."""
        if self.check_mode or not self._hooked_pods:
            return
        try:
            self.run_hooks(list(self._hooked_pods.values()), hooks.POST)
        except KubedrError as error:  # reported, never masking the run's own outcome
            self.results.error("post hooks: %s" % error)

    # ---------------------------------------------------------------- volumes

    def repository_for(self, namespace):
        return self.uploader.repository(self.storage_location, namespace, self.password)

    def back_up_volumes(self, location_name=DEFAULT_STORAGE_LOCATION):
        """After every item: back the collected pod volumes up; returns the PodVolumeBackup records
        (None when nothing was backed up, as Velero writes `null`)."""
        if self.check_mode or not self._pod_volumes:
            return None
        if not self.password:
            # The pods asked (annotations) but the caller gave no password: the objects are still
            # worth committing, so this is an error of the run, not a failed backup.
            self.results.error("pod volumes were selected for file-system backup but repository_password "
                               "was not given: their data is not in this backup")
            return None
        work = []
        for pod, name in self._pod_volumes:
            meta = pod["metadata"]
            if (meta.get("namespace"), meta.get("name")) in self._blocked:
                self.results.error("pod %s: volume %s not backed up: its pre hook failed" % (meta.get("name"), name),
                                   namespace=meta.get("namespace"))
                continue
            work.append(volumes.pod_volume(pod, name, self._claims, frozenset(self._csi_pvs)))
        work, shared = volumes.dedupe_shared_claims(work)
        for volume in shared:
            self.log.info("Volume already backed up through another pod", namespace=volume.namespace,
                          pod=volume.pod, volume=volume.volume, pvc=volume.pvc)

        def log_volume(volume, outcome, error):
            if error:
                self.results.error(error, namespace=volume.namespace)
                self.log.error("Pod volume backup failed", namespace=volume.namespace, pod=volume.pod,
                               volume=volume.volume, reason=error)
            else:
                self.log.info("Pod volume backed up", namespace=volume.namespace, pod=volume.pod,
                              volume=volume.volume, snapshot=outcome.get("snapshot_id"),
                              message=outcome.get("message"))

        outcomes = fs_backup.back_up_pod_volumes(self.kube.exec_client, self.kube, work, self.settings,
                                                 self.repository_for, self.backup_name, self.backup_uid,
                                                 location_name, log=log_volume, progress=self.volume_progress,
                                                 uploader=self.uploader)
        return [outcome[0] for outcome in outcomes]


def _pod_summary(pod):
    """The parts of a pod the volume work needs (the rest of the item is not kept)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    return {
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
        "spec": {"nodeName": spec.get("nodeName"), "volumes": spec.get("volumes") or []},
    }
