# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an in-place volume data restore (k8s_restore's ``volume_data_in_place``) decides before it
touches anything, without a cluster (pure): its option, the snapshot of each chosen claim in the
backup's PodVolumeBackups, and the workload that owns a pod using a claim (the one to scale to zero).
``in_place`` does the work."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import PVC_NAME_ANNOTATION
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import map_namespace

# On a workload scaled to zero: its replica count before, so that a rerun after a crash scales it back to it.
REPLICAS_ANNOTATION = "kubedr.io/replicas-before-in-place-restore"
DEFAULT_TIMEOUT = 600
BARE_PODS_FAIL, BARE_PODS_DELETE = "fail", "delete"
BARE_POD_CHOICES = (BARE_PODS_FAIL, BARE_PODS_DELETE)
# The kinds that can be scaled to zero and back, and their API paths (apps/v1).
SCALABLE_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "ReplicaSet": "replicasets"}

InPlaceSettings = namedtuple("InPlaceSettings", "claims delete_extra timeout bare_pods")
# A claim to restore: where its data goes (namespace, claim), where it was backed up (source_namespace)
# and the snapshot chosen for it, with what restores it (uploader, repository) and its size.
ClaimSnapshot = namedtuple("ClaimSnapshot", "namespace claim source_namespace snapshot_id uploader_type "
                                            "repo_identifier bytes record")
Workload = namedtuple("Workload", "kind namespace name")


class UnscalableOwner(InvalidOptionError):
    """A pod using a claim belongs to something that cannot be scaled to zero and back."""


def parse_option(value):
    """InPlaceSettings from the ``volume_data_in_place`` option (a dict)."""
    if not isinstance(value, dict):
        raise InvalidOptionError("volume_data_in_place must be a dict with claims (and delete_extra, timeout, "
                                 "bare_pods)")
    unknown = set(value) - set(InPlaceSettings._fields)
    if unknown:
        raise InvalidOptionError("volume_data_in_place has unknown keys: %s" % ", ".join(sorted(unknown)))
    claims = value.get("claims")
    if isinstance(claims, str) or not isinstance(claims, list) or not claims:
        raise InvalidOptionError("volume_data_in_place.claims must be a non-empty list of namespace/claim patterns")
    for pattern in claims:
        if not isinstance(pattern, str) or pattern.count("/") != 1 or "" in pattern.split("/"):
            raise InvalidOptionError("volume_data_in_place.claims: %r is not namespace/claim (globs allowed, e.g. "
                                     "shop/data-*)" % (pattern,))
    timeout = DEFAULT_TIMEOUT if value.get("timeout") is None else value["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise InvalidOptionError("volume_data_in_place.timeout must be a positive number of seconds, not %r"
                                 % (timeout,))
    bare_pods = value.get("bare_pods") or BARE_PODS_FAIL
    if bare_pods not in BARE_POD_CHOICES:
        raise InvalidOptionError("volume_data_in_place.bare_pods must be one of %s, not %r"
                                 % (", ".join(BARE_POD_CHOICES), bare_pods))
    delete_extra = True if value.get("delete_extra") is None else value["delete_extra"]
    if not isinstance(delete_extra, bool):
        raise InvalidOptionError("volume_data_in_place.delete_extra must be true or false")
    return InPlaceSettings(list(claims), delete_extra, timeout, bare_pods)


def record_claim(record):
    """The claim a PodVolumeBackup saved (Velero's velero.io/pvc-name annotation, else kubedr's pvc
    tag), or None for a volume that is not a claim."""
    annotations = (record.get("metadata") or {}).get("annotations") or {}
    return annotations.get(PVC_NAME_ANNOTATION) or ((record.get("spec") or {}).get("tags") or {}).get("pvc") or None


def _matches(patterns, namespace, claim):
    return any(fnmatch.fnmatchcase(namespace, p.split("/")[0]) and fnmatch.fnmatchcase(claim, p.split("/")[1])
               for p in patterns)


def _completion(record):
    return ((record.get("status") or {}).get("completionTimestamp") or "", (record.get("metadata") or {}).get("name") or "")


def choose_snapshots(pod_volume_backups, patterns, namespace_mapping=None):
    """([ClaimSnapshot], [(namespace, message)] errors, [(namespace, message)] warnings): for every
    claim of the backup matching one of ``patterns`` (namespace/claim globs, the backup's namespace),
    the newest completed snapshot (by completion time); errors for a pattern that matches no claim
    and a claim without a completed snapshot; a warning for a claim that was empty."""
    by_claim = {}
    for record in pod_volume_backups or ():
        claim = record_claim(record)
        namespace = ((record.get("spec") or {}).get("pod") or {}).get("namespace")
        if claim and namespace and _matches(patterns, namespace, claim):
            by_claim.setdefault((namespace, claim), []).append(record)
    errors, warnings, chosen = [], [], []
    for pattern in patterns:
        if not any(_matches([pattern], namespace, claim) for namespace, claim in by_claim):
            errors.append((None, "no volume backup of a claim matching %s in the backup" % pattern))
    for (namespace, claim), records in sorted(by_claim.items()):
        target = map_namespace(namespace, namespace_mapping)
        done = [r for r in records if (r.get("status") or {}).get("phase") == "Completed"]
        with_data = [r for r in done if (r.get("status") or {}).get("snapshotID")]
        if not with_data:
            if done:
                warnings.append((target, "claim %s/%s: the volume was empty when backed up: nothing to restore"
                                 % (target, claim)))
                continue
            last = records[-1].get("status") or {}
            errors.append((target, "claim %s/%s: its volume backup is %s%s: no data to restore" % (
                target, claim, last.get("phase") or "not done", ": " + last["message"] if last.get("message") else "")))
            continue
        newest = max(with_data, key=_completion)
        spec, status = newest.get("spec") or {}, newest.get("status") or {}
        total = (status.get("progress") or {}).get("totalBytes")
        chosen.append(ClaimSnapshot(target, claim, namespace, status["snapshotID"], spec.get("uploaderType") or None,
                                    spec.get("repoIdentifier") or None, total if isinstance(total, int) else None,
                                    (newest.get("metadata") or {}).get("name")))
    return chosen, errors, warnings


def pod_uses_claim(pod, claim):
    """True when a pod that may still hold its volumes (not Succeeded or Failed) mounts ``claim``."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
               for v in (pod.get("spec") or {}).get("volumes") or ())


def controller_of(document):
    """(kind, name) of an object's controller owner reference, or None."""
    for ref in (document.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("kind"), ref.get("name")
    return None


def workload_of(pod, read_replica_set):
    """The Workload to scale so that ``pod`` goes away, or None for a bare pod (no controller).
    ``read_replica_set(namespace, name)`` returns a ReplicaSet (None when it is gone). A pod of a
    ReplicaSet of a Deployment is the Deployment's. Raises UnscalableOwner for any other owner
    (DaemonSet, Job, a custom controller): it would bring the pod back or cannot be scaled."""
    metadata = pod.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    owner = controller_of(pod)
    if owner is None:
        return None
    kind, owner_name = owner
    if kind == "ReplicaSet":
        replica_set = read_replica_set(namespace, owner_name)
        parent = controller_of(replica_set) if replica_set else None
        if parent is None:
            return Workload("ReplicaSet", namespace, owner_name)
        if parent[0] == "Deployment":
            return Workload("Deployment", namespace, parent[1])
        raise UnscalableOwner("pod %s/%s belongs to ReplicaSet %s, controlled by %s %s, which kubedr cannot scale to "
                              "zero (only Deployments, StatefulSets and ReplicaSets)" % (
                                  namespace, name, owner_name, parent[0], parent[1]))
    if kind in SCALABLE_KINDS:
        return Workload(kind, namespace, owner_name)
    raise UnscalableOwner("pod %s/%s is controlled by %s %s, which kubedr cannot scale to zero (only Deployments, "
                          "StatefulSets and ReplicaSets): stop it, then restore" % (namespace, name, kind, owner_name))


def template_uses_claim(workload_document, claim):
    """True when the pods of a Deployment, StatefulSet or ReplicaSet would mount ``claim`` (a volume of
    the pod template, or a claim of a StatefulSet's volumeClaimTemplates: <template>-<name>-<ordinal>)."""
    spec = workload_document.get("spec") or {}
    volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or ()
    if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim for v in volumes):
        return True
    name = (workload_document.get("metadata") or {}).get("name")
    for template in spec.get("volumeClaimTemplates") or ():
        prefix = "%s-%s-" % ((template.get("metadata") or {}).get("name"), name)
        if claim.startswith(prefix) and claim[len(prefix):].isdigit():
            return True
    return False


def left_at_zero(workload_document):
    """True when an earlier in-place restore scaled the workload to zero and did not scale it back."""
    return REPLICAS_ANNOTATION in ((workload_document.get("metadata") or {}).get("annotations") or {})


def replicas_before(workload_document):
    """The replica count to scale a workload back to: the annotation left by an earlier run that did
    not finish (the workload is at zero because of it), else its current spec.replicas (1 when unset)."""
    annotations = (workload_document.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(REPLICAS_ANNOTATION)
    if recorded is not None and str(recorded).isdigit():
        return int(recorded)
    replicas = (workload_document.get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def workload_path(workload):
    return "/apis/apps/v1/namespaces/%s/%s/%s" % (workload.namespace, SCALABLE_KINDS[workload.kind], workload.name)


def scale_down_patch(replicas):
    """One merge patch: the count before goes into the annotation as the replicas go to zero."""
    return {"metadata": {"annotations": {REPLICAS_ANNOTATION: str(replicas)}}, "spec": {"replicas": 0}}


def scale_back_patch(replicas):
    return {"metadata": {"annotations": {REPLICAS_ANNOTATION: None}}, "spec": {"replicas": replicas}}


def describe_workload(workload):
    return "%s %s/%s" % (workload.kind, workload.namespace, workload.name)
