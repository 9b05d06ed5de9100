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
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import policies as volume_policies
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
        self.policies = volume_policies.parse_volume_policies(options.get("volume_policies"))
        self.backup_name = backup_name
        self.backup_uid = backup_uid
        self.results = results
        self.log = log
        self.check_mode = check_mode
        self.planned_volumes = []   # check mode: the pod volumes that would be backed up
        self._lock = threading.Lock()
        # (pod summary, volume name, chosen by the annotations) of every backed-up pod's candidate volumes:
        # the annotations' choice, or with volume policies every volume that can be backed up.
        self._pod_volumes = []
        self._claims = {}           # (namespace, claim) -> bound PV name
        self._csi_pvs = set()
        self._policy_claims = {}    # with volume policies: (namespace, claim) -> the claim, as policies read it
        self._policy_pvs = {}       # with volume policies: PV name -> the PV
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
            with self._lock:
                if bound:
                    self._claims[(meta.get("namespace"), meta.get("name"))] = bound
                if self.policies:
                    self._policy_claims[(meta.get("namespace"), meta.get("name"))] = item
        elif group_resource == PVS:
            with self._lock:
                if self.policies:
                    self._policy_pvs[item["metadata"]["name"]] = item
                self.persistent_volumes.append(volume_info.persistent_volume_summary(item))
                if (item.get("spec") or {}).get("csi"):
                    self._csi_pvs.add(item["metadata"]["name"])

    def _observe_pod(self, item):
        selected, skipped = volumes.volumes_to_back_up(item, self.default_fs_backup)
        meta = item.get("metadata") or {}
        for name, reason in sorted(skipped.items()):
            self.results.warn("pod %s: volume %s not backed up: %s" % (meta.get("name"), name, reason),
                              namespace=meta.get("namespace"))
        candidates = volumes.backable_volumes(item) if self.policies else selected
        if candidates:
            pod = _pod_summary(item)
            with self._lock:
                self._pod_volumes.extend((pod, name, name in selected) for name in candidates)

    def _chosen_volumes(self):
        """(pod, volume name) of the volumes to back up: the annotations' choice, unless a volume
        policy matches the volume (Velero's order: the first matching policy decides)."""
        for pod, name, by_annotations in self._pod_volumes:
            if not self.policies:
                yield pod, name
                continue
            meta = pod["metadata"]
            volume = next((v for v in pod["spec"]["volumes"] if v.get("name") == name), {})
            claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            claim = self._policy_claim(meta["namespace"], claim_name) if claim_name else None
            bound = ((claim or {}).get("spec") or {}).get("volumeName")
            policy = volume_policies.matching_policy(
                self.policies, volume_policies.volume_facts(volume, claim, self._policy_pv(bound) if bound else None))
            if policy is None:
                if by_annotations:
                    yield pod, name
                continue
            self.log.info("Volume policy decides", namespace=meta["namespace"], pod=meta["name"], volume=name,
                          policy=policy.index, action=policy.action)
            if policy.action == volume_policies.FS_BACKUP:
                yield pod, name

    def _policy_claim(self, namespace, name):
        """The claim as the backup saw it, else as the cluster has it (the backup may leave claims out)."""
        if (namespace, name) not in self._policy_claims:
            claim = self._get("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (namespace, name))
            self._policy_claims[(namespace, name)] = claim
            bound = ((claim or {}).get("spec") or {}).get("volumeName")
            if bound:  # where its data lives on the node, as for a claim the backup took
                self._claims.setdefault((namespace, name), bound)
        return self._policy_claims[(namespace, name)]

    def _policy_pv(self, name):
        if name not in self._policy_pvs:
            self._policy_pvs[name] = self._get("/api/v1/persistentvolumes/%s" % name)
            if (self._policy_pvs[name] or {}).get("spec", {}).get("csi"):
                self._csi_pvs.add(name)
        return self._policy_pvs[name]

    def _get(self, path):
        try:
            return self.kube.request("GET", path)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

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
        chosen = list(self._chosen_volumes())
        if self.check_mode:
            self.planned_volumes = [{"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"],
                                     "volume": name} for pod, name in chosen]
        if self.check_mode or not chosen:
            return None
        if not self.password:
            # The pods asked (annotations) but the caller gave no password: the objects are still
            # worth committing, so this is an error of the run, not a failed backup.
            self.results.error("pod volumes were selected for file-system backup but repository_password "
                               "was not given: their data is not in this backup")
            return None
        work = []
        for pod, name in chosen:
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
