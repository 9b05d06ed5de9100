# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pod volumes for file-system backup (pure): which volumes of a pod are backed up,
where their data lives on the node, and the PodVolumeBackup records Velero keeps.

Selection follows Velero: with ``default_volumes_to_fs_backup`` every volume except
those named in ``backup.velero.io/backup-volumes-excludes``; otherwise only those
named in ``backup.velero.io/backup-volumes``. hostPath, secret, configMap, projected
and downwardAPI volumes (and legacy service-account token volumes) are never backed up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import (
    BACKUP_NAME_LABEL, BACKUP_UID_LABEL, BACKUP_VOLUMES_ANNOTATION, BACKUP_VOLUMES_EXCLUDES_ANNOTATION,
    PVC_NAME_ANNOTATION, VELERO_API_VERSION, VELERO_NAMESPACE,
)
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.restic import volume_tags

NEVER_BACKED_UP_SOURCES = ("hostPath", "secret", "configMap", "projected", "downwardAPI")
_LEGACY_TOKEN_VOLUME = re.compile(r"^default-token-[a-z0-9]{5}$")

# One selected volume of one pod. vol_dir is the directory name under
# <host_pods>/<pod uid>/volumes/<plugin>/: the PV name for a PVC (plus "/mount" for a
# CSI PV), the volume name otherwise.
PodVolume = namedtuple("PodVolume", "namespace pod pod_uid node volume pvc pv vol_dir")


def _annotation_list(pod, key):
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(key) or ""
    return [name.strip() for name in value.split(",") if name.strip()]


def _is_never_backed_up(volume):
    if any(source in volume for source in NEVER_BACKED_UP_SOURCES):
        return True
    return bool(_LEGACY_TOKEN_VOLUME.match(volume.get("name", "")))


def volumes_to_back_up(pod, default_volumes_to_fs_backup):
    """Names of the pod's volumes to back up, in the pod's order, and the names skipped
    with a reason (dict name -> reason) for the ones a user asked for explicitly."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    by_name = dict((v.get("name"), v) for v in volumes)
    skipped = {}
    if default_volumes_to_fs_backup:
        excluded = set(_annotation_list(pod, BACKUP_VOLUMES_EXCLUDES_ANNOTATION))
        wanted = [v.get("name") for v in volumes if v.get("name") not in excluded]
        explicit = False
    else:
        wanted = _annotation_list(pod, BACKUP_VOLUMES_ANNOTATION)
        explicit = True
    selected = []
    for name in wanted:
        volume = by_name.get(name)
        if volume is None:
            if explicit:
                skipped[name] = "the pod has no volume named %s" % name
            continue
        if _is_never_backed_up(volume):
            if explicit:
                skipped[name] = "%s volumes are never backed up" % _source_type(volume)
            continue
        if name not in selected:
            selected.append(name)
    return selected, skipped


def backable_volumes(pod):
    """Names of the pod's volumes a file-system backup can take (volume policies choose among them)."""
    return [v.get("name") for v in (pod.get("spec") or {}).get("volumes") or []
            if v.get("name") and not _is_never_backed_up(v)]


def _source_type(volume):
    for key in volume:
        if key != "name":
            return key
    return "unknown"


def pod_volume(pod, volume_name, pvc_to_pv=None, csi_pvs=frozenset()):
    """The PodVolume for one selected volume of a pod.

    pvc_to_pv maps (namespace, pvc name) to the bound PV name; csi_pvs is the set of PV
    names provisioned by a CSI driver (their data sits one level down, in "mount")."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace")
    volume = dict((v.get("name"), v) for v in (pod.get("spec") or {}).get("volumes") or []).get(volume_name) or {}
    pvc = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    pv = (pvc_to_pv or {}).get((namespace, pvc)) if pvc else None
    if pvc and pv:
        vol_dir = pv + "/mount" if pv in csi_pvs else pv
    else:
        vol_dir = volume_name
    return PodVolume(namespace, meta.get("name"), meta.get("uid"), (pod.get("spec") or {}).get("nodeName"),
                     volume_name, pvc, pv, vol_dir)


def dedupe_shared_claims(pod_volumes):
    """Keep the first volume for each (namespace, PVC): a claim mounted by several pods
    is backed up once. Returns (kept, duplicates)."""
    seen, kept, duplicates = set(), [], []
    for pv in pod_volumes:
        key = (pv.namespace, pv.pvc) if pv.pvc else None
        if key and key in seen:
            duplicates.append(pv)
            continue
        if key:
            seen.add(key)
        kept.append(pv)
    return kept, duplicates


def volume_dir_pattern(host_pods, pod_uid, vol_dir):
    """Shell glob of the volume's directory inside the node agent (the volume plugin
    part is a wildcard, as Velero resolves it)."""
    return "%s/%s/volumes/*/%s" % (host_pods.rstrip("/"), pod_uid, vol_dir)


def pod_volume_backup_record(backup_name, backup_uid, volume, location_name, repo_identifier, outcome,
                             uploader_type="restic"):
    """A PodVolumeBackup-shaped object (velero.io/v1) for <name>-podvolumebackups.json.gz.
    repo_identifier: restic's repository; Velero records an empty one for kopia.

    outcome: dict with phase (Completed/Failed), snapshot_id, path, message, bytes_done,
    total_bytes, start and completion timestamps."""
    labels = {BACKUP_NAME_LABEL: backup_name, BACKUP_UID_LABEL: backup_uid}
    annotations = {PVC_NAME_ANNOTATION: volume.pvc} if volume.pvc else {}
    record = {
        "apiVersion": VELERO_API_VERSION,
        "kind": "PodVolumeBackup",
        "metadata": {
            "name": "%s-%s-%s" % (backup_name, volume.pod, volume.volume),
            "namespace": VELERO_NAMESPACE,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "node": volume.node,
            "pod": {"kind": "Pod", "namespace": volume.namespace, "name": volume.pod, "uid": volume.pod_uid},
            "volume": volume.volume,
            "backupStorageLocation": location_name,
            "repoIdentifier": repo_identifier,
            "uploaderType": uploader_type,
            # The tags the snapshot was taken with: the same function builds both.
            "tags": volume_tags(backup_name, backup_uid, volume.pod, volume.pod_uid, volume.namespace, volume.volume),
        },
        "status": {
            "phase": outcome.get("phase"),
            "snapshotID": outcome.get("snapshot_id") or "",
            "path": outcome.get("path") or "",
            "message": outcome.get("message") or "",
            "startTimestamp": outcome.get("start"),
            "completionTimestamp": outcome.get("completion"),
            "progress": {"totalBytes": outcome.get("total_bytes") or 0, "bytesDone": outcome.get("bytes_done") or 0},
        },
    }
    if volume.pvc:
        record["spec"]["tags"]["pvc"] = volume.pvc
    return record
