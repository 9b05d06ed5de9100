# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""kopia snapshots of pod volumes as Velero's kopia uploader makes them (pure): their source,
tags and pins, the snapshot command lines (``args`` for kopia.run_local / kopia.pod_runner) and
the parsers of kopia's JSON output.

Velero (pkg/uploader/provider/kopia.go, pkg/uploader/kopia/snapshot.go, pkg/podvolume): the
source is ``default@default:snapshot-pod-volume/kopia/<ns>/<pod>/<pvc or volume>`` (a relative
path), the tags are the PodVolumeBackup's plus ``snapshot-requester: snapshot-pod-volume`` and
``snapshot-uploader: kopia``, the description "Kopia Uploader" and the pin ``velero-pin`` (so no
retention policy ever expires the snapshot; only a deletion removes it). The snapshot ID recorded
in ``status.snapshotID`` is the manifest ID kopia prints.

One difference the CLI imposes: ``kopia snapshot create --tags k:v`` stores the tag as ``tag:k``
where Velero's library stores ``k``. Velero reads tags only to pick the parent of its next
snapshot of the same source (it then hashes every file again; the data still deduplicates);
restores, deletions and maintenance go by snapshot ID. ``parse_list_output`` reads both forms.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import REPO_HOST, REPO_USER, KopiaError, parse_json

UPLOADER = "kopia"
CLI_TAG_PREFIX = "tag:"  # what `kopia snapshot create --tags` puts before each key
REQUESTER = "snapshot-pod-volume"  # Velero's podVolumeRequestor
REQUESTER_TAG = "snapshot-requester"
UPLOADER_TAG = "snapshot-uploader"
PIN = "velero-pin"
DESCRIPTION = "Kopia Uploader"
_MANIFEST_ID = re.compile(r"^[0-9a-zA-Z]{8,}$")


def validate_snapshot_id(snapshot_id):
    """A kopia manifest ID (hex, or k/x-prefixed IDs of other object kinds); refuses anything
    that could be read as an option."""
    value = str(snapshot_id or "")
    if not _MANIFEST_ID.match(value):
        raise InvalidOptionError("not a kopia snapshot ID: %r" % value)
    return value


def volume_source(namespace, pod, pvc, volume):
    """The snapshot source Velero gives a pod volume (GetRealSource, prefixed by the requester
    and the uploader)."""
    path = "%s/%s/%s/%s/%s" % (REQUESTER, UPLOADER, namespace, pod, pvc or volume)
    return "%s@%s:%s" % (REPO_USER, REPO_HOST, path)


def snapshot_tags(volume_tags):
    """The snapshot's tags: the PodVolumeBackup's tags plus Velero's requester and uploader."""
    tags = dict((str(k), str(v)) for k, v in (volume_tags or {}).items())
    tags[REQUESTER_TAG] = REQUESTER
    tags[UPLOADER_TAG] = UPLOADER
    return tags


def create_args(source, tags, path="."):
    """`kopia snapshot create . --json ...`: run it in the volume directory."""
    args = ["snapshot", "create", path, "--json", "--override-source=" + source, "--description=" + DESCRIPTION,
            "--pin=" + PIN, "--no-send-snapshot-report"]
    for key in sorted(tags or {}):
        if not key or ":" in key:
            raise InvalidOptionError("kopia tag keys cannot be empty or contain ':': %r" % key)
        args.append("--tags=%s:%s" % (key, tags[key]))
    return args


def restore_args(snapshot_id, target=".", delete_extra=False):
    """`kopia snapshot restore <id> .`: run it in the volume directory; existing files are
    overwritten, other files kept (as Velero's restore does), or removed with ``delete_extra``
    (`--delete-extra`, kopia 0.18 and later)."""
    return ["snapshot", "restore", validate_snapshot_id(snapshot_id), target] + (
        ["--delete-extra"] if delete_extra else [])


def list_args():
    """Every snapshot of the repository, any source."""
    return ["snapshot", "list", "--all", "--json"]


def delete_args(snapshot_ids):
    ids = [validate_snapshot_id(i) for i in snapshot_ids]
    if not ids:
        raise InvalidOptionError("no kopia snapshot to delete")
    return ["snapshot", "delete"] + ids + ["--delete"]


def _summary(manifest):
    root = manifest.get("rootEntry") or {}
    summary = root.get("summ") or {}
    stats = manifest.get("stats") or {}
    return summary, stats


def parse_create_output(stdout):
    """The summary of `kopia snapshot create --json`: snapshot_id, total_bytes, files, dirs,
    errors (entries kopia could not read), incomplete (kopia's reason, or None)."""
    document = parse_json(stdout, "snapshot create")
    manifests = document if isinstance(document, list) else [document]
    manifest = manifests[-1] if manifests and isinstance(manifests[-1], dict) else {}
    if not manifest.get("id"):
        raise KopiaError("kopia snapshot create printed no snapshot: %s" % (stdout or "")[:200])
    summary, stats = _summary(manifest)
    return dict(
        snapshot_id=manifest["id"],
        total_bytes=int(summary.get("size") or stats.get("totalSize") or 0),
        files=int(summary.get("files") or stats.get("fileCount") or 0),
        dirs=int(summary.get("dirs") or stats.get("dirCount") or 0),
        errors=int(summary.get("numFailed") or stats.get("errorCount") or 0),
        incomplete=manifest.get("incomplete") or None,
    )


def parse_list_output(stdout):
    """`kopia snapshot list --all --json`: [dict(id, source 'user@host:path', tags, pins,
    start_time, total_bytes)]; tags without the CLI's "tag:" prefix (Velero's have none)."""
    document = parse_json(stdout, "snapshot list") or []
    out = []
    for manifest in document if isinstance(document, list) else []:
        source = manifest.get("source") or {}
        summary, stats = _summary(manifest)
        out.append(dict(
            id=manifest.get("id"),
            source="%s@%s:%s" % (source.get("userName"), source.get("host"), source.get("path")),
            tags=dict((k[len(CLI_TAG_PREFIX):] if k.startswith(CLI_TAG_PREFIX) else k, v)
                      for k, v in (manifest.get("tags") or {}).items()),
            pins=manifest.get("pins") or [],
            start_time=manifest.get("startTime"),
            total_bytes=int(summary.get("size") or stats.get("totalSize") or 0),
        ))
    return out
