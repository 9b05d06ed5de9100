# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Volume data restored in place (k8s_restore's ``volume_data_in_place``): the data of chosen claims
goes back into the claims that exist now, and no resource is restored.

1. The newest completed snapshot of each chosen claim is picked from the backup's PodVolumeBackups
   (``in_place_plan``); the claim must exist in its (mapped) namespace.
2. The workloads whose pods use the claims are found (pod -> ReplicaSet -> Deployment, StatefulSet,
   ReplicaSet; a bare pod is refused unless ``bare_pods: delete``). Each is scaled to zero by one
   patch that also records its replica count in the ``kubedr.io/replicas-before-in-place-restore``
   annotation (and the run log): a rerun after a crash scales it back to that count.
3. Once no pod uses a claim, a helper pod mounting it runs on a node with a node agent, and the node
   agent restores the snapshot into the helper's volume directory (files the snapshot lacks removed
   with ``delete_extra``). The helper pod is deleted.
4. Whatever happened, every workload scaled down is scaled back and its annotation removed (a
   ``finally``). Errors are per claim: one claim that fails does not stop the others.

Check mode reads everything and says what would be scaled and restored; it changes nothing.

As an ordinary restore does, a run takes the lease of its name (a second run of the name is refused
while one runs) and checks the backup's integrity manifest (``integrity``, ``verify_key``) before it
touches any workload; the snapshots are then chosen from the verified PodVolumeBackups.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.common import hints
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import poll
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import leases
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import uploaders
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.node_agent import (
    DEFAULT_RESTORE_HELPER_IMAGE,
    node_agent_pods,
    node_agent_settings,
    restore_into_pod_volume,
)
from ansible_collections.kubedr.backup.plugins.module_utils.restore import in_place_plan as plan
from ansible_collections.kubedr.backup.plugins.module_utils.restore import integrity
from ansible_collections.kubedr.backup.plugins.module_utils.restore import rerun

HELPER_LABEL = "kubedr.io/in-place-restore-helper"  # on helper pods; a rerun deletes those a crash left
HELPER_RESTORE_ANNOTATION = "kubedr.io/restore-name"
HELPER_VOLUME = "data"
POLL_INTERVAL = 1
SCALE_BACK_TIMEOUT = 60  # seconds of retries to scale a workload back before saying so loudly


def _reason(error):
    return describe_api_error(error) if isinstance(error, ApiException) else str(error)


def helper_pod(claim, restore_name, image, nodes):
    """The pod that mounts ``claim`` while its data is restored: it only sleeps, on one of ``nodes``
    (those with a running node agent)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "kubedr-in-place-", "labels": {HELPER_LABEL: "true"},
                     "annotations": {HELPER_RESTORE_ANNOTATION: restore_name}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "helper", "image": image, "command": ["/bin/sh", "-c", "sleep 86400"],
                            "volumeMounts": [{"name": HELPER_VOLUME, "mountPath": "/data"}]}],
            "volumes": [{"name": HELPER_VOLUME, "persistentVolumeClaim": {"claimName": claim}}],
            "tolerations": [{"operator": "Exists"}],
            # One term per node (terms are ORed): a node field selector takes a single value.
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                for node in sorted(nodes)]}}},
        },
    }


def delete_pod(kube, namespace, name):
    try:
        kube.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (namespace, name))
    except ApiException as error:
        if error.status != 404:
            raise


def pod_gone(kube, namespace, name):
    try:
        kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


class InPlaceRestore(object):
    """One in-place restore of volume data. ``execute()`` returns the module result."""

    def __init__(self, kube, location, store, options, backup_document, check_mode=False, now=utc_now):
        self.kube = kube
        self.location = location
        self.store = store
        self.options = options
        self.settings = plan.parse_option(options["volume_data_in_place"])
        self.agents = node_agent_settings(options.get("node_agent"))
        self.backup_name = backup_document["metadata"]["name"]
        self.name = options["name"]
        self.check_mode = check_mode
        self.now = now
        self.log = runlog.RunLog(self.name, kind=runlog.RESTORE)
        self.results = results.Results()
        self.claims = []  # the result's entries, one per chosen claim
        self.scaled = []  # (Workload, replicas before) scaled to zero, to scale back

    # The run ----------------------------------------------------------------------------

    def execute(self):
        started = self.now()
        try:
            self.log.info(runlog.RESTORE_STARTED, backup=self.backup_name, mode="volume_data_in_place",
                          check_mode=self.check_mode or None)
            records = self.store.get_json_gz(layout.backup_keys(self.backup_name)["pod_volume_backups"]) or []
            chosen, errors, warnings = plan.choose_snapshots(records, self.settings.claims,
                                                             self.options.get("namespace_mapping"))
            for namespace, message in errors:
                self._error(message, namespace)
            for namespace, message in warnings:
                self.results.warn(message, namespace=namespace)
                self.log.warning(message, namespace=namespace)
            entries = [entry for entry in (self._claim_entry(snapshot) for snapshot in chosen) if entry is not None]
            if entries and not self.check_mode:
                if not self.options.get("repository_password"):
                    self._fail_all(entries, "repository_password is needed to read the snapshots")
                else:
                    self._restore(entries)
            phase = None if self.check_mode else results.phase_for(self.results)
            self.log.info(runlog.RESTORE_COMPLETED, phase=phase, claims=len(self.claims))
            storage = self._upload()
            return self._result(phase, started, storage)
        finally:
            self.log.close()

    def _claim_entry(self, snapshot):
        """The result entry of a claim, with the workloads to scale; None (and an error) when it
        cannot be restored (no such claim now, an owner that cannot be scaled, a bare pod)."""
        entry = {"namespace": snapshot.namespace, "claim": snapshot.claim, "source_namespace": snapshot.source_namespace,
                 "snapshot_id": snapshot.snapshot_id, "uploader": snapshot.uploader_type or uploaders.DEFAULT_UPLOADER,
                 "bytes": snapshot.bytes, "pod_volume_backup": snapshot.record, "workloads": [], "bare_pods": [],
                 "status": "Planned" if self.check_mode else "Pending", "error": None, "_snapshot": snapshot}
        self.claims.append(entry)
        where = "claim %s/%s" % (snapshot.namespace, snapshot.claim)
        try:
            self.kube.get("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (snapshot.namespace, snapshot.claim))
            pods = self.kube.get("/api/v1/namespaces/%s/pods" % snapshot.namespace).get("items") or []
            workloads = {}
            for pod in pods:
                if not plan.pod_uses_claim(pod, snapshot.claim):
                    continue
                workload = plan.workload_of(pod, self._read_replica_set)
                if workload is None:
                    entry["bare_pods"].append(pod["metadata"]["name"])
                elif workload not in workloads:
                    workloads[workload] = self.kube.get(plan.workload_path(workload))
            for workload, document in self._left_at_zero(snapshot.namespace, snapshot.claim):
                workloads.setdefault(workload, document)  # by a run that crashed: it has no pods now
        except ApiException as error:
            what = "does not exist in the cluster" if error.status == 404 else "cannot be read: %s" % _reason(error)
            return self._claim_failed(entry, "%s %s: its data is not restored" % (where, what))
        except KubedrError as error:
            return self._claim_failed(entry, "%s: %s: its data is not restored" % (where, error))
        if entry["bare_pods"] and self.settings.bare_pods != plan.BARE_PODS_DELETE:
            return self._claim_failed(entry, "%s is used by pod(s) %s that no controller owns: they cannot be scaled "
                                             "down and back; stop them, or set volume_data_in_place.bare_pods: delete "
                                             "(they are deleted and not recreated)" % (where, ", ".join(entry["bare_pods"])))
        for workload, document in sorted(workloads.items()):
            before = plan.replicas_before(document)
            entry["workloads"].append({"kind": workload.kind, "namespace": workload.namespace, "name": workload.name,
                                       "replicas": before, "_workload": workload})
        if self.check_mode:
            self.log.info("Would restore volume data in place", namespace=snapshot.namespace, claim=snapshot.claim,
                          snapshot=snapshot.snapshot_id, workloads=", ".join(
                              "%s from %d to 0 and back" % (plan.describe_workload(w["_workload"]), w["replicas"])
                              for w in entry["workloads"]))
        return entry

    def _left_at_zero(self, namespace, claim):
        """(Workload, document) of the workloads of the namespace whose pods mount ``claim`` and that an
        interrupted run left at zero (its annotation is still on them)."""
        found = []
        for kind, plural in sorted(plan.SCALABLE_KINDS.items()):
            listed = self.kube.get("/apis/apps/v1/namespaces/%s/%s" % (namespace, plural)) or {}
            for document in listed.get("items") or ():
                if plan.left_at_zero(document) and plan.template_uses_claim(document, claim):
                    found.append((plan.Workload(kind, namespace, document["metadata"]["name"]), document))
        return found

    def _read_replica_set(self, namespace, name):
        try:
            return self.kube.get("/apis/apps/v1/namespaces/%s/replicasets/%s" % (namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _restore(self, entries):
        """Scale down, restore each claim, and scale back whatever happens."""
        self._delete_leftover_helpers(set(entry["namespace"] for entry in entries))
        try:
            for entry in entries:
                self._scale_down(entry)
            for entry in entries:
                if entry["status"] == "Pending":
                    self._restore_claim(entry)
        finally:
            self._scale_back()

    def _scale_down(self, entry):
        for workload_entry in entry["workloads"]:
            workload, before = workload_entry["_workload"], workload_entry["replicas"]
            if any(scaled[0] == workload for scaled in self.scaled):
                continue
            self.log.info("Scaling workload to zero", kind=workload.kind, namespace=workload.namespace,
                          name=workload.name, replicas_before=before)
            try:
                self.kube.request("PATCH", plan.workload_path(workload), body=plan.scale_down_patch(before),
                                  content_type="application/merge-patch+json")
            except ApiException as error:
                self._claim_failed(entry, "claim %s/%s: %s could not be scaled to zero: %s" % (
                    entry["namespace"], entry["claim"], plan.describe_workload(workload), _reason(error)))
                return
            self.scaled.append((workload, before))

    def _restore_claim(self, entry):
        snapshot = entry["_snapshot"]
        where = "claim %s/%s" % (entry["namespace"], entry["claim"])
        timeout = self.settings.timeout
        helper = None
        try:
            for name in entry["bare_pods"]:
                self.log.warning("Deleting a pod no controller owns", namespace=entry["namespace"], name=name)
                delete_pod(self.kube, entry["namespace"], name)
            if not poll(lambda: self._claim_unused(entry), timeout, POLL_INTERVAL):
                raise ClusterError("pods still use it %ss after its workloads were scaled to zero" % timeout)
            helper = self._start_helper(entry)
            repo = uploaders.uploader(snapshot.uploader_type).repository(
                self.location, snapshot.source_namespace, self.options.get("repository_password"),
                identifier=snapshot.repo_identifier)
            self.log.info("Restoring volume data in place", namespace=entry["namespace"], claim=entry["claim"],
                          snapshot=snapshot.snapshot_id, helper=helper["metadata"]["name"])
            restore_into_pod_volume(self.kube.exec_client, self.kube, self.agents, helper, HELPER_VOLUME, repo,
                                    snapshot.snapshot_id, snapshot.uploader_type, timeout=timeout,
                                    delete_extra=self.settings.delete_extra)
            entry["status"] = "Completed"
            self.log.info("Restored volume data in place", namespace=entry["namespace"], claim=entry["claim"])
        except (KubedrError, ApiException) as error:
            self._claim_failed(entry, "%s: its data was not restored from snapshot %s: %s" % (
                where, snapshot.snapshot_id, _reason(error)))
        finally:
            if helper is not None:
                self._remove_helper(entry, helper)

    def _claim_unused(self, entry):
        pods = self.kube.get("/api/v1/namespaces/%s/pods" % entry["namespace"]).get("items") or []
        return not any(plan.pod_uses_claim(pod, entry["claim"]) for pod in pods)

    def _start_helper(self, entry):
        nodes = node_agent_pods(self.kube, self.agents)
        if not nodes:
            raise ClusterError("no running node agent (namespace %s, selector %s)" % (
                self.agents.namespace, self.agents.label_selector))
        image = self.options.get("restore_helper_image") or DEFAULT_RESTORE_HELPER_IMAGE
        created = self.kube.request("POST", "/api/v1/namespaces/%s/pods" % entry["namespace"],
                                    body=helper_pod(entry["claim"], self.name, image, nodes))
        entry["helper_pod"] = name = created["metadata"]["name"]
        path = "/api/v1/namespaces/%s/pods/%s" % (entry["namespace"], name)

        def running():
            pod = self.kube.get(path)
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                raise ClusterError("helper pod %s ended (%s) before the restore" % (name, phase))
            return pod if phase == "Running" and (pod.get("spec") or {}).get("nodeName") else None

        created = poll(running, self.settings.timeout, POLL_INTERVAL)
        if not created:
            raise ClusterError("helper pod %s mounting the claim was not Running within %ss" % (
                name, self.settings.timeout))
        return created

    def _remove_helper(self, entry, helper):
        name = helper["metadata"]["name"]
        try:
            delete_pod(self.kube, entry["namespace"], name)
            if not poll(lambda: pod_gone(self.kube, entry["namespace"], name), self.settings.timeout, POLL_INTERVAL):
                raise ClusterError("it was still there %ss after its deletion" % self.settings.timeout)
        except (KubedrError, ApiException) as error:
            self._error("claim %s/%s: helper pod %s could not be deleted: %s" % (
                entry["namespace"], entry["claim"], name, _reason(error)), entry["namespace"])

    def _delete_leftover_helpers(self, namespaces):
        """Helper pods an interrupted run left hold their claim: delete them first."""
        for namespace in sorted(namespaces):
            pods = self.kube.get("/api/v1/namespaces/%s/pods" % namespace,
                                 {"labelSelector": HELPER_LABEL + "=true"}).get("items") or []
            for pod in pods:
                self.log.warning("Deleting a helper pod left by an earlier run", namespace=namespace,
                                 name=pod["metadata"]["name"])
                delete_pod(self.kube, namespace, pod["metadata"]["name"])

    def _scale_back(self):
        """Every workload scaled down goes back to its count, the annotation removed; a failure is
        retried, then reported with what to do by hand."""
        for workload, before in self.scaled:
            last = []

            def patched():
                try:
                    self.kube.request("PATCH", plan.workload_path(workload), body=plan.scale_back_patch(before),
                                      content_type="application/merge-patch+json")
                    return True
                except (ApiException, KubedrError) as error:
                    last[:] = [error]
                    return False

            self.log.info("Scaling workload back", kind=workload.kind, namespace=workload.namespace,
                          name=workload.name, replicas=before)
            if not poll(patched, SCALE_BACK_TIMEOUT, POLL_INTERVAL):
                self._error("%s could not be scaled back to %d replicas (%s): run kubectl -n %s scale %s/%s "
                            "--replicas=%d" % (plan.describe_workload(workload), before, _reason(last[0]),
                                               workload.namespace, workload.kind.lower(), workload.name, before),
                            workload.namespace)
        self.scaled = []

    # Outcome ----------------------------------------------------------------------------

    def _error(self, message, namespace=None):
        self.results.error(message, namespace=namespace)
        self.log.error(message, namespace=namespace)

    def _claim_failed(self, entry, message):
        entry.update(status="Failed", error=message)
        self._error(message, entry["namespace"])
        return None

    def _fail_all(self, entries, why):
        for entry in entries:
            self._claim_failed(entry, "claim %s/%s: its data is not restored: %s" % (
                entry["namespace"], entry["claim"], why))

    def _upload(self):
        """The log and results under restores/<name>/, as a restore's."""
        if self.check_mode or self.store.read_only:
            return {}
        keys = layout.restore_keys(self.name)
        try:
            storage_mod.upload_gzipped(self.store, keys["logs"], self.log.copy_to)
            self.store.put_json_gz(keys["results"], self.results.to_dict())
        except KubedrError as error:
            self.results.warn("the restore's log and results could not be written to the storage location: %s" % error)
            return {}
        return dict((role, self.store.url(keys[role])) for role in ("logs", "results"))

    def _result(self, phase, started, storage):
        claims = []
        for entry in self.claims:
            public = dict((k, v) for k, v in entry.items() if not k.startswith("_"))
            public["workloads"] = [dict((k, v) for k, v in w.items() if not k.startswith("_"))
                                   for w in entry["workloads"]]
            claims.append(public)
        outcome = self.results.to_dict()
        result = {
            "changed": bool(claims) and (self.check_mode or any(c["status"] == "Completed" for c in claims)
                                         or bool(self.results.error_count())),
            "name": self.name, "backup_name": self.backup_name, "phase": phase,
            "start_timestamp": rfc3339(started), "completion_timestamp": rfc3339(self.now()),
            "volume_data_in_place": claims,
            "restore_warnings": outcome["warnings"], "restore_errors": outcome["errors"],
            "warning_count": self.results.warning_count(), "error_count": self.results.error_count(),
            "storage": storage,
        }
        if self.check_mode:
            result["plan"] = [_plan_line(c, self.settings.delete_extra) for c in claims if c["status"] == "Planned"]
        return results.add_run_warnings(result, hints.RESTORE, self.agents.namespace)


def _plan_line(claim, delete_extra):
    scaled = "; ".join("scale %s %s/%s from %d to 0 and back" % (w["kind"], w["namespace"], w["name"], w["replicas"])
                       for w in claim["workloads"]) or "no workload to scale"
    message = "restore snapshot %s (%s, from %s/%s) into claim %s/%s%s; %s" % (
        claim["snapshot_id"], claim["uploader"], claim["source_namespace"], claim["claim"], claim["namespace"],
        claim["claim"], ", removing the files it lacks" if delete_extra else "", scaled)
    return {"action": "restore_data_in_place", "namespace": claim["namespace"], "claim": claim["claim"],
            "snapshot_id": claim["snapshot_id"], "workloads": claim["workloads"], "message": message}


def run(kube, location, store, options, backup_document, check_mode=False):
    """Entry point from restore.run for ``volume_data_in_place``: under the lease of the restore's name
    and after the integrity check, as an ordinary restore (restore.run)."""
    name, backup_name = options["name"], backup_document["metadata"]["name"]
    plain_store = getattr(store, "plain_store", store)  # the check opens an encrypted backup itself
    lease = None
    if not check_mode and not store.read_only:
        lease = leases.RunLease(store, layout.restore_keys(name)["lease"], "restore %s" % name)
    with lease if lease is not None else contextlib.nullcontext():
        if lease is not None:
            rerun.check_name_is_free(store, name)  # the run that held the lease may have finished meanwhile
        try:  # before any workload is scaled; the snapshots are then read from the verified bytes
            checked = integrity.check_backup(plain_store, backup_name, options)
        except integrity.IntegrityRefusal as refused:
            return {"changed": False, "failed": True, "msg": refused.message, "name": name,
                    "backup_name": backup_name, "integrity": refused.report}
        try:
            reader, document = (checked.store, checked.document) if checked is not None else (store, backup_document)
            result = InPlaceRestore(kube, location, reader, options, document, check_mode).execute()
        finally:
            if checked is not None:
                checked.close()
    integrity.add_report(result, checked)
    return lease.warn_if_unsupported(result) if lease is not None else result
