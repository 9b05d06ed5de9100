# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_backup_info's integrity check of one backup (``verify_integrity``; docs/integrity.md): every
digest of its manifest against the bucket, the signature against ``verify_key``, and that each pod
volume snapshot its records name is still in its repository. Reads only; reports every mismatch,
never fails on one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import integrity as verification
from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as integrity_manifest
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.snapshot_check import missing_snapshots


def verify_key(options):
    """The Ed25519 public key of ``verify_key``, or None (read first: a bad key fails before any read)."""
    return integrity_manifest.load_verify_key(options["verify_key"]) if options.get("verify_key") else None


def check_stored_backup(plain_store, location, name, options, public_key, snapshot_check=missing_snapshots):
    """The integrity report of a committed backup (archive/integrity.Verification.report, plus the
    snapshots): ``status`` verified, failed or no_manifest, and every ``problem``."""
    keys = layout.backup_keys(name)
    pinned = verification.PinnedStore(plain_store, layout.gunzip_json)
    try:
        checked = verification.verify_backup(
            pinned, keys,
            lambda store, document: crypto.open_backup(store, options.get("encryption"), document, "backup %s" % name),
            public_key, with_tarball=False)
        report = checked.report(public_key)
        report["snapshots_checked"] = None
        if not options.get("repository_password"):
            report["snapshots_note"] = "pod volume snapshots not looked up: give repository_password"
            return report
        try:
            records = checked.reader.get_json_gz(keys["pod_volume_backups"]) or []
        except KubedrError as error:  # already reported as a changed or unreadable object
            report["snapshots_note"] = "pod volume records cannot be read: %s" % error
            return report
        report["snapshots_checked"] = len([r for r in records if (r.get("status") or {}).get("snapshotID")])
        for volume, reason in snapshot_check(records, location, options["repository_password"]):
            report["problems"].append(integrity_manifest.problem(
                integrity_manifest.SNAPSHOT, integrity_manifest.MISSING, "pod volume %s/%s %s: %s" % (
                    volume["namespace"], volume["pod"], volume["volume"], reason),
                key=volume["snapshot_id"]))
        if report["problems"] and report["status"] == verification.VERIFIED:
            report["status"] = verification.FAILED
        return report
    finally:
        pinned.close()
