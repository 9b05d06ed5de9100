# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integrity check of a restore (``integrity``, ``verify_key``; docs/integrity.md), before
anything reaches the cluster, check mode included.

The backup's objects are read once into a local spool and verified there against the manifest
(archive/integrity.py); the restore then reads only that spool, so the bytes it restores are the
bytes that were verified. The tarball's entries are digested while the restore indexes them
(``ItemCheck``, in restore/index.py's one read of the tarball), before anything reaches the cluster
too; a mismatch refuses the restore there. What is refused:

- ``required``: a backup without a manifest, or whose manifest does not match;
- ``if_present`` (the default): a backup whose manifest does not match (one without a manifest is
  restored, with a warning: Velero's and older kubedr backups have none);
- with ``verify_key``, whatever the mode but ``ignore``: a backup whose manifest is missing,
  unsigned, signed by another key, or whose signature does not verify;
- ``ignore``: nothing is checked (and ``verify_key`` is then an error).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.kubedr.backup.plugins.module_utils.archive import integrity as verification
from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as integrity_manifest
from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, InvalidOptionError, KubedrError
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
    plaintext tarball (rewound), ``report`` what the result says, ``item_check`` the ItemCheck its
    entries still go through (None: no manifest). ``close()`` drops the spool."""

    def __init__(self, pinned, checked, report, warning=None, item_check=None):
        self.pinned = pinned
        self.store = checked.reader
        self.document = checked.document
        self.tarball = checked.tarball
        self.report = report
        self.warning = warning
        self.item_check = item_check

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


def check_backup(plain_store, backup_name, options, items_while_indexing=False):
    """The CheckedBackup to restore ``backup_name`` from, or None with ``integrity=ignore``; raises
    IntegrityRefusal when the backup must not be restored. ``items_while_indexing``: the caller reads
    the tarball and passes its entries through the CheckedBackup's ``item_check`` (else they are
    checked here, in a read of their own)."""
    mode, public_key = integrity_settings(options)
    if mode == IGNORE:
        return None
    what = "backup %s" % backup_name
    pinned = verification.PinnedStore(plain_store, layout.gunzip_json)
    checked = None
    try:
        checked = verification.verify_backup(
            pinned, layout.backup_keys(backup_name),
            lambda store, document: crypto.open_backup(store, options.get("encryption"), document, what),
            public_key, max_total_size=options.get("max_archive_size"), check_items=False)
        item_check = None
        if checked.manifest is not None and checked.tarball is not None:
            item_check = ItemCheck(checked, layout.backup_keys(backup_name)["tarball"], options.get("max_archive_size"),
                                   lambda: _refuse(checked, mode, public_key, what))
            # Refused below: its entries are named too, as k8s_backup_info names them.
            if checked.problems or not items_while_indexing:
                item_check.run()
                item_check = None
    except BaseException:
        if checked is not None and checked.tarball is not None:
            checked.tarball.close()
        pinned.close()
        raise
    try:
        _refuse(checked, mode, public_key, what)
    except IntegrityRefusal:
        if checked.tarball is not None:
            checked.tarball.close()
        pinned.close()
        raise
    warning = NO_MANIFEST_WARNING % what if checked.status == verification.NO_MANIFEST else None
    checked.document.setdefault("metadata", {})["name"] = backup_name
    return CheckedBackup(pinned, checked, checked.report(public_key), warning, item_check)


def _refuse(checked, mode, public_key, what):
    """Raise the IntegrityRefusal of a backup that must not be restored."""
    reason = refusal(checked, mode, public_key)
    if reason is not None:
        raise IntegrityRefusal("%s was not restored, nothing was written to the cluster: %s" % (what, reason),
                               checked.report(public_key))


class ItemCheck(object):
    """The tarball's entries against the manifest's item digests, in the restore's one read of the
    tarball: ``entries`` passes ``(path, size, bytes)`` through (every entry's bytes, none left out
    for its size) and digests their lines as the backup wrote them (manifest.write_item_digests), so
    only the count and one running digest are held, whatever the number of items. At the end, or on
    an archive that cannot be read, a mismatch becomes the Verification's problems and ``refuse()``
    raises (IntegrityRefusal). Only then are the list and the tarball read again, to name each entry
    that differs."""

    def __init__(self, checked, tarball_key, max_total_size, refuse):
        self.checked = checked
        self.tarball_key = tarball_key
        self.limit = {} if max_total_size is None else {"max_total_size": max_total_size}
        self.refuse = refuse

    def entries(self, entries):
        digest = hashlib.sha256()
        try:
            for path, size, data in entries:
                digest.update(integrity_manifest.item_line(path, integrity_manifest.sha256_hex(data)))
                yield path, size, data
            problems = [] if digest.hexdigest() == self.checked.manifest["items"]["sha256"] else self._differences()
        except (ArchiveError, KubedrError) as error:
            problems = [self._unreadable(error)]
        if problems:
            self.checked.problems.extend(problems)
            self.checked.status = verification.FAILED
            self.refuse()

    def run(self):
        """Check the entries without indexing them (a backup refused anyway: its report lists them too)."""
        tarball, self.refuse = self.checked.tarball, lambda: None
        tarball.seek(0)
        for _entry in self.entries(archive.iter_entries(tarball, **self.limit)):
            pass
        tarball.seek(0)

    def _differences(self):
        try:
            return integrity_manifest.item_problems(self.checked.reader, self.checked.manifest["items"],
                                                    self.checked.tarball, self.tarball_key, **self.limit)
        except (ArchiveError, KubedrError) as error:
            return [self._unreadable(error)]

    def _unreadable(self, error):
        return integrity_manifest.items_unreadable(self.tarball_key, error)


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


def add_report(result, checked):
    """A run's result gets the check's report (``not_checked`` when nothing was checked) and, for a backup
    without a manifest, its warning."""
    result["integrity"] = checked.report if checked is not None else {"status": "not_checked"}
    if checked is not None and checked.warning:
        result.setdefault("warnings", []).append(checked.warning)
    return result
