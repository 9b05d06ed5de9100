# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup's ``<name>-volumeinfo.json.gz``: the list of Velero's BackupVolumeInfo (Velero >= 1.13,
``internal/volume/volumes_information.go``), built from the backup's persistent volumes and its
PodVolumeBackup records (pure).

Velero's restore reads it to choose what to do with each PersistentVolume of the backup (keyed by
``pvName``): one backed up by a pod volume backup is re-provisioned, one without data (``skipped``)
is restored as it was (Retain) or re-provisioned (Delete). Its entries are, in Velero's order, one
per persistent volume of the backup that no pod volume backup covers (``skipped``), then one per
PodVolumeBackup record. Field names and omissions are Go's: the phase fields carry no JSON tag, so
they are spelt ``Phase``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import PVC_NAME_ANNOTATION

POD_VOLUME_BACKUP = "PodVolumeBackup"  # Velero's BackupMethod of a file-system backup
SUCCEEDED, FAILED = "succeeded", "failed"
# What Velero's skip tracker says of a volume it neither snapshotted nor backed up with a pod volume
# backup when no VolumeSnapshotLocation exists (kubedr takes no snapshots): "<approach>: <reason>;".
NO_SNAPSHOTTER_REASON = "volumeSnapshot: no applicable volumesnapshotter found;"


def persistent_volume_summary(pv):
    """The parts of a PersistentVolume item the volume information needs (the rest is not kept)."""
    metadata, spec = pv.get("metadata") or {}, pv.get("spec") or {}
    claim = spec.get("claimRef") or {}
    return {
        "metadata": {"name": metadata.get("name"), "labels": metadata.get("labels")},
        "spec": {"persistentVolumeReclaimPolicy": spec.get("persistentVolumeReclaimPolicy"),
                 "claimRef": {"namespace": claim.get("namespace"), "name": claim.get("name")} if claim else None},
    }


def _claim_of(pv):
    claim = (pv.get("spec") or {}).get("claimRef") or {}
    return claim.get("namespace") or "", claim.get("name") or ""


def _pv_info(pv):
    return {"reclaimPolicy": (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "",
            "labels": (pv.get("metadata") or {}).get("labels") or None}


def _volume_fields(pv):
    """pvcName, pvcNamespace, pvName and pvInfo of a persistent volume."""
    namespace, claim = _claim_of(pv)
    fields = {"pvName": pv["metadata"]["name"], "pvInfo": _pv_info(pv)}
    if claim:
        fields.update(pvcName=claim, pvcNamespace=namespace)
    return fields


def _skipped(pv):
    entry = {"snapshotDataMoved": False, "preserveLocalSnapshot": False, "skipped": True,
             "skippedReason": NO_SNAPSHOTTER_REASON}
    entry.update(_volume_fields(pv))
    return entry


def _pvb_info(record):
    spec, status = record.get("spec") or {}, record.get("status") or {}
    pod = spec.get("pod") or {}
    info = {"uploaderType": spec.get("uploaderType") or "", "volumeName": spec.get("volume") or "",
            "podName": pod.get("name") or "", "podNamespace": pod.get("namespace") or "",
            "Phase": status.get("phase") or ""}
    optional = (("snapshotHandle", status.get("snapshotID")), ("nodeName", spec.get("node")),
                ("size", (status.get("progress") or {}).get("totalBytes")))
    info.update((key, value) for key, value in optional if value)
    return info


def _from_pod_volume_backup(record, pv):
    status = record.get("status") or {}
    entry = {"backupMethod": POD_VOLUME_BACKUP, "snapshotDataMoved": False, "preserveLocalSnapshot": False,
             "skipped": False, "result": SUCCEEDED if status.get("phase") == "Completed" else FAILED,
             "pvbInfo": _pvb_info(record)}
    for key in ("startTimestamp", "completionTimestamp"):
        if status.get(key):
            entry[key] = status[key]
    if pv is not None:
        entry.update(_volume_fields(pv))
    return entry


def backup_volume_info(persistent_volumes, pod_volume_backups):
    """The BackupVolumeInfo list of a backup. ``persistent_volumes``: the backup's PersistentVolume
    items (or their ``persistent_volume_summary``); ``pod_volume_backups``: its PodVolumeBackup
    records (None when there are none).

    A record of a claimed volume (annotation ``velero.io/pvc-name``) whose persistent volume is not
    in the backup has no entry, as in Velero (it finds no PV to describe); a record of a volume
    without a claim (emptyDir and the like) has no PV fields."""
    by_name = dict((pv["metadata"]["name"], pv) for pv in persistent_volumes or ())
    by_claim = dict((_claim_of(pv), pv) for pv in by_name.values() if _claim_of(pv)[1])
    from_records = []
    covered = set()
    for record in pod_volume_backups or ():
        claim = ((record.get("metadata") or {}).get("annotations") or {}).get(PVC_NAME_ANNOTATION)
        pv = None
        if claim:
            pv = by_claim.get((((record.get("spec") or {}).get("pod") or {}).get("namespace") or "", claim))
            if pv is None:
                continue
            covered.add(pv["metadata"]["name"])
        from_records.append(_from_pod_volume_backup(record, pv))
    return [_skipped(by_name[name]) for name in sorted(by_name) if name not in covered] + from_records
