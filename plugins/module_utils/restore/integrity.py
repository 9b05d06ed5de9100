# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integrity check of a restore (``integrity``, ``verify_key``; docs/integrity.md), before
anything reaches the cluster, check mode included.

The backup's objects are read once into a local spool and verified there against the manifest
(archive/integrity.py); the restore then reads only that spool, so the bytes it restores are the
bytes that were verified. What is refused:

- ``required``: a backup without a manifest, or whose manifest does not match;
- ``if_present`` (the default): a backup whose manifest does not match (one without a manifest is
  restored, with a warning: Velero's and older kubedr backups have none);
- with ``verify_key``, whatever the mode but ``ignore``: a backup whose manifest is missing,
  unsigned, signed by another key, or whose signature does not verify;
- ``ignore``: nothing is checked (and ``verify_key`` is then an error).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import integrity as verification
from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as integrity_manifest
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout

REQUIRED, IF_PRESENT, IGNORE = "required", "if_present", "ignore"
MODES = (REQUIRED, IF_PRESENT, IGNORE)
PROBLEMS_IN_MESSAGE = 5


def integrity_settings(options):
    """(mode, Ed25519 public key or None) of the restore options; bad input fails here, before any read."""
    mode = options.get("integrity") or IF_PRESENT
    if mode not in MODES:
        raise InvalidOptionError("integrity must be one of %s, not %r" % (", ".join(MODES), mode))
    if not options.get("verify_key"):
        return mode, None
    if mode == IGNORE:
        raise InvalidOptionError("verify_key asks for a signed backup, and integrity=ignore checks nothing: drop one")
    return mode, integrity_manifest.load_verify_key(options["verify_key"])


NO_MANIFEST_WARNING = ("%s has no integrity manifest (made by Velero or by an older kubedr): it is restored unverified; "
                       "integrity=required refuses such backups")


def no_manifest_warning(plain_store, backup_name, options):
    """What a restore of this backup warned because it has no manifest (None: it has one, or integrity=ignore):
    a rerun of the restore, which replays its result, says it again."""
    if integrity_settings(options)[0] == IGNORE:
        return None
    if plain_store.get_bytes(layout.backup_keys(backup_name)["manifest"]) is not None:
        return None
    return NO_MANIFEST_WARNING % ("backup %s" % backup_name)


class CheckedBackup(object):
    """A backup that passed the check: ``store`` reads it from the verified spool (decrypting an
    encrypted one), ``document`` is its verified velero-backup.json, ``tarball`` the verified
    plaintext tarball (rewound), ``report`` what the result says. ``close()`` drops the spool."""

    def __init__(self, pinned, checked, report, warning=None):
        self.pinned = pinned
        self.store = checked.reader
        self.document = checked.document
        self.tarball = checked.tarball
        self.report = report
        self.warning = warning

    def close(self):
        if self.tarball is not None:
            self.tarball.close()
        self.pinned.close()


class IntegrityRefusal(Exception):
    """The backup failed the check: ``message`` says why, ``report`` is the full report."""

    def __init__(self, message, report):
        Exception.__init__(self, message)
        self.message = message
        self.report = report


def check_backup(plain_store, backup_name, options):
    """The CheckedBackup to restore ``backup_name`` from, or None with ``integrity=ignore``; raises
    IntegrityRefusal when the backup must not be restored."""
    mode, public_key = integrity_settings(options)
    if mode == IGNORE:
        return None
    what = "backup %s" % backup_name
    pinned = verification.PinnedStore(plain_store, layout.gunzip_json)
    try:
        checked = verification.verify_backup(
            pinned, layout.backup_keys(backup_name),
            lambda store, document: crypto.open_backup(store, options.get("encryption"), document, what),
            public_key, max_total_size=options.get("max_archive_size"))
    except BaseException:
        pinned.close()
        raise
    report = checked.report(public_key)
    reason = refusal(checked, mode, public_key)
    if reason is not None:
        if checked.tarball is not None:
            checked.tarball.close()
        pinned.close()
        raise IntegrityRefusal("%s was not restored, nothing was written to the cluster: %s" % (what, reason), report)
    warning = NO_MANIFEST_WARNING % what if checked.status == verification.NO_MANIFEST else None
    checked.document.setdefault("metadata", {})["name"] = backup_name
    return CheckedBackup(pinned, checked, report, warning)


def refusal(checked, mode, public_key):
    """Why the backup is refused, or None."""
    if checked.status == verification.NO_MANIFEST:
        if public_key is not None:
            return "it has no integrity manifest, so no signature, and verify_key requires one (docs/integrity.md)"
        if mode == REQUIRED:
            return ("it has no integrity manifest and integrity=required (integrity=if_present restores backups made "
                    "without one)")
        return None
    if not checked.problems:
        return None
    shown = "; ".join(p["message"] for p in checked.problems[:PROBLEMS_IN_MESSAGE])
    more = len(checked.problems) - PROBLEMS_IN_MESSAGE
    return "its integrity check failed: %s%s (integrity=ignore restores it anyway; docs/integrity.md)" % (
        shown, " and %d more" % more if more > 0 else "")
