# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``velero backup describe --details`` from a backup's records (pure): its pod volumes (the
PodVolumeBackup records), its items per namespace and resource (the resource list), and the
hooks it ran with their outcome (its log)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import parse_fields
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import PVC_NAME_ANNOTATION
from ansible_collections.kubedr.backup.plugins.module_utils.info.progress import seconds_between

# volumes/hooks.record_outcomes logs every hook run as "pod <pod>: <phase> hook <name>: ok|<why>";
# a failed hook is an error when its on_error is Fail, a warning when it is Continue.
_HOOK_MESSAGE = re.compile(r"^pod (?P<pod>[^\s:]+): (?P<phase>pre|post|restore) hook (?P<hook>.+?): (?P<outcome>.*)$")
_ON_ERROR_BY_LEVEL = {"error": "Fail", "warning": "Continue"}


def volume_record(record):
    """One pod volume of the backup, from its PodVolumeBackup record."""
    spec, status = record.get("spec") or {}, record.get("status") or {}
    pod = spec.get("pod") or {}
    progress = status.get("progress") or {}
    annotations = (record.get("metadata") or {}).get("annotations") or {}
    phase = status.get("phase")
    return {
        "namespace": pod.get("namespace"),
        "pod": pod.get("name"),
        "volume": spec.get("volume"),
        "pvc": annotations.get(PVC_NAME_ANNOTATION),
        "node": spec.get("node"),
        "phase": phase,
        "snapshot_id": status.get("snapshotID") or None,
        "bytes": progress.get("bytesDone"),
        "total_bytes": progress.get("totalBytes"),
        "start_timestamp": status.get("startTimestamp"),
        "completion_timestamp": status.get("completionTimestamp"),
        "duration_seconds": seconds_between(status.get("startTimestamp"), status.get("completionTimestamp")),
        "repository": spec.get("repoIdentifier"),
        "uploader": spec.get("uploaderType"),
        "error": (status.get("message") or None) if phase == "Failed" else None,
    }


def volume_records(pod_volume_backups):
    """Every pod volume of the backup, sorted by namespace, pod and volume."""
    volumes = [volume_record(record) for record in pod_volume_backups or [] if isinstance(record, dict)]
    return sorted(volumes, key=lambda v: (v["namespace"] or "", v["pod"] or "", v["volume"] or ""))


def volume_totals(volumes):
    """Counts per phase and bytes of the pod volumes."""
    phases = {}
    for volume in volumes:
        phases[volume["phase"] or "Unknown"] = phases.get(volume["phase"] or "Unknown", 0) + 1
    return {"total": len(volumes), "per_phase": dict(sorted(phases.items())),
            "bytes": sum(v["bytes"] or 0 for v in volumes)}


def resources_per_namespace(resource_list):
    """{namespace: {resource-list key: count}}; cluster-scoped items under ``""``. Entries may
    carry a restore's ``(outcome)`` suffix, which is not part of the name."""
    grouped = {}
    for key, entries in sorted((resource_list or {}).items()):
        for entry in entries:
            namespace = entry.split("/", 1)[0] if "/" in entry else ""
            per = grouped.setdefault(namespace, {})
            per[key] = per.get(key, 0) + 1
    return dict(sorted(grouped.items()))


def hook_outcome(line):
    """The hook run a log line records, or None for any other line."""
    if " hook " not in line:
        return None
    fields = parse_fields(line)
    match = _HOOK_MESSAGE.match(fields.get("msg") or "")
    if not match:
        return None
    ok = match.group("outcome") == "ok"
    return {
        "namespace": fields.get("namespace"),
        "pod": match.group("pod"),
        "phase": match.group("phase"),
        "hook": match.group("hook"),
        "outcome": "ok" if ok else "failed",
        "on_error": None if ok else _ON_ERROR_BY_LEVEL.get(fields.get("level")),
        "message": None if ok else match.group("outcome"),
        "time": fields.get("time"),
    }


class HookCollector(object):
    """Collects hook outcomes from log lines (fed one at a time)."""

    def __init__(self):
        self.hooks = []

    def read_line(self, line):
        outcome = hook_outcome(line)
        if outcome is not None:
            self.hooks.append(outcome)


def failure_reason(line):
    """The reason of a run's failure line (``msg="Backup failed" reason=...``), or None."""
    if 'msg="Backup failed"' not in line and 'msg="Restore failed"' not in line:
        return None
    return parse_fields(line).get("reason") or "see its log"


class FailureCollector(object):
    """Remembers the last failure reason a log states."""

    def __init__(self):
        self.reason = None

    def read_line(self, line):
        reason = failure_reason(line)
        if reason is not None:
            self.reason = reason
