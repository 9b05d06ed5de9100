# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifying a stored backup against its integrity manifest (``manifest.py``), for k8s_backup_info
and k8s_restore.

Every object is read once, as stored, into a local spool (``PinnedStore``); its digest is taken
there, and every later read of the run (the restore's records, the tarball) is served from that
spool. So what was verified is what is restored: the bucket cannot change an object between the
check and its use. The store layer is passed in (this package does not import ``storage``):
``open_reader(pinned, marker document)`` returns the store to read the backup through (the
decrypting one for an encrypted backup), and ``keys`` are ``layout.backup_keys(name)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import shutil
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as mf
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, KubedrError, NotFoundError, StorageError

VERIFIED, FAILED, NO_MANIFEST = "verified", "failed", "no_manifest"
SPOOL_IN_MEMORY = 1024 * 1024  # objects up to this size stay in memory, larger ones go to a temporary file
# Objects a backup's folder may hold beyond its manifest: rewritten while it runs, or added after it.
UNLISTED = re.compile(r"-(progress(-[0-9]+)?|lease|deletion|verification[^/]*)\.json$")


class PinnedStore(object):
    """A plain store whose objects, once ``fetch``ed, are read from a local copy of their stored
    bytes; other keys and every write go to the wrapped store. ``gunzip_json`` is
    storage/layout.gunzip_json."""

    def __init__(self, store, gunzip_json):
        self._store = store
        self._gunzip_json = gunzip_json
        self._pinned = {}  # key: spooled file, or None for an object that was missing

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_store", "_gunzip_json", "_pinned"):
            raise AttributeError(name)
        return getattr(self._store, name)

    def fetch(self, key):
        """Copy the object into the spool; (SHA-256 hex, size) of its stored bytes, or None when missing."""
        if key not in self._pinned:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
            try:
                self._store.download_file(key, spool)
            except NotFoundError:
                spool.close()
                spool = None
            except BaseException:
                spool.close()
                raise
            self._pinned[key] = spool
        spool = self._pinned[key]
        if spool is None:
            return None
        spool.seek(0)
        digest, size = hashlib.sha256(), 0
        for chunk in iter(lambda: spool.read(mf.READ_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        return {"sha256": digest.hexdigest(), "size": size}

    def get_bytes(self, key):
        if key not in self._pinned:
            return self._store.get_bytes(key)
        spool = self._pinned[key]
        if spool is None:
            return None
        spool.seek(0)
        return spool.read()

    def get_json_gz(self, key):
        return self._gunzip_json(self.get_bytes(key))

    def download_file(self, key, fileobj):
        if key not in self._pinned:
            return self._store.download_file(key, fileobj)
        spool = self._pinned[key]
        if spool is None:
            raise StorageError("%s does not exist" % self._store.url(key))
        spool.seek(0)
        shutil.copyfileobj(spool, fileobj, mf.READ_CHUNK)
        return None

    def backup_metadata_from(self, key):
        data = self.get_bytes(key)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise StorageError("%s is not valid JSON: %s" % (self._store.url(key), error))

    def close(self):
        for spool in self._pinned.values():
            if spool is not None:
                spool.close()
        self._pinned.clear()


class Verification(object):
    """The outcome: ``status`` (verified, failed, no_manifest), ``problems`` (manifest.problem dicts),
    ``document`` (the verified velero-backup.json), ``reader`` (the store to read the backup through,
    serving the verified bytes), ``tarball`` (the verified plaintext tarball, rewound; the caller closes
    it), ``unlisted`` (objects of the backup's folder the manifest does not name)."""

    def __init__(self):
        self.status = None
        self.problems = []
        self.document = None
        self.reader = None
        self.tarball = None
        self.manifest = None
        self.unlisted = []

    def signature(self, public_key):
        """valid, invalid, absent (not signed) or unchecked (signed; no verify key given)."""
        signed = bool(((self.manifest or {}).get("signature") or {}).get("value"))
        if not signed:
            return "absent"
        if public_key is None:
            return "unchecked"
        return "invalid" if [p for p in self.problems if p["about"] == mf.SIGNATURE] else "valid"

    def report(self, public_key):
        """What the modules return."""
        signature = (self.manifest or {}).get("signature") or {}
        return {
            "status": self.status,
            "signature": self.signature(public_key),
            "signed_by": signature.get("keyFingerprint"),
            "tool_version": ((self.manifest or {}).get("tool") or {}).get("version"),
            "objects_checked": len((self.manifest or {}).get("objects") or {}) + (1 if self.manifest else 0),
            "items_checked": ((self.manifest or {}).get("items") or {}).get("count") or 0,
            "problems": self.problems,
            "unlisted_objects": self.unlisted,
        }


def verify_backup(pinned, keys, open_reader, public_key=None, max_total_size=None, with_tarball=True, check_items=True):
    """Verify the backup whose objects are ``keys`` (layout.backup_keys) through ``pinned``. ``check_items``
    False: the tarball's entries are left to the caller (the restore digests them as it indexes them)."""
    result = Verification()
    marker = pinned.fetch(keys["metadata"])
    if marker is None:
        raise StorageError("%s does not exist: the backup is not committed" % pinned.url(keys["metadata"]))
    result.document = pinned.backup_metadata_from(keys["metadata"])
    result.reader = open_reader(pinned, result.document)
    if pinned.fetch(keys["manifest"]) is None:
        result.status = NO_MANIFEST
        if public_key is not None:
            result.problems.append(mf.problem(mf.MANIFEST, mf.MISSING, "the backup has no integrity manifest (%s), so "
                                              "no signature" % keys["manifest"], key=keys["manifest"]))
        _tarball(result, keys, max_total_size, with_tarball, None)
        return result
    try:
        result.manifest = mf.decode(result.reader.get_bytes(keys["manifest"]))
    except (ArchiveError, KubedrError) as error:  # a decryption error: changed, or not encrypted by this key
        result.problems.append(mf.problem(mf.MANIFEST, mf.UNREADABLE, "%s cannot be read: %s" % (keys["manifest"], error),
                                          key=keys["manifest"]))
        result.status = FAILED
        return result
    result.problems.extend(mf.check_signature(result.manifest, public_key))
    result.problems.extend(_objects(pinned, keys, result.manifest, marker))
    result.unlisted = _unlisted(pinned, keys, result.manifest)
    _tarball(result, keys, max_total_size, with_tarball, result.manifest.get("items"), check_items)
    result.status = FAILED if result.problems else VERIFIED
    return result


def _objects(pinned, keys, manifest, marker):
    folder = keys["metadata"].rsplit("/", 1)[0] + "/"
    found = []
    for key, recorded in sorted(manifest["objects"].items()):
        if not key.startswith(folder) or "/" in key[len(folder):] or key in (keys["metadata"], keys["manifest"]):
            found.append(mf.problem(mf.OBJECT, mf.UNEXPECTED, "the manifest names %s, not an object of this backup" % key,
                                    key=key))
            continue
        found.extend(mf.compare_object(key, recorded if isinstance(recorded, dict) else {}, pinned.fetch(key)))
    recorded_marker = dict(manifest["commitMarker"])
    if recorded_marker.get("key") != keys["metadata"]:
        found.append(mf.problem(mf.MARKER, mf.CHANGED, "the manifest belongs to another backup (its commit marker is "
                                "%s)" % recorded_marker.get("key"), key=keys["metadata"],
                                expected=recorded_marker.get("key"), actual=keys["metadata"]))
    else:
        found.extend(mf.compare_object(keys["metadata"], recorded_marker, marker, about=mf.MARKER))
    return found


def _unlisted(pinned, keys, manifest):
    folder = keys["metadata"].rsplit("/", 1)[0] + "/"
    listed = set(manifest["objects"]) | set([keys["metadata"], keys["manifest"]])
    return sorted(key for key in pinned.list_keys(folder)
                  if key not in listed and not UNLISTED.search(key))


def _tarball(result, keys, max_total_size, with_tarball, recorded_items, check_items=True):
    """Decrypt (or copy) the pinned tarball once into a local file; compare its entries."""
    if not with_tarball and recorded_items is None:
        return
    tarball = tempfile.TemporaryFile()
    try:
        result.reader.download_file(keys["tarball"], tarball)
        tarball.seek(0)
        if recorded_items is not None and check_items:
            limit = {} if max_total_size is None else {"max_total_size": max_total_size}
            if mf.write_item_digests(tarball, **limit)["sha256"] != recorded_items["sha256"]:
                result.problems.extend(mf.item_problems(result.reader, recorded_items, tarball, keys["tarball"],
                                                        **limit))
    except (ArchiveError, KubedrError) as error:
        tarball.close()
        if recorded_items is not None:
            result.problems.append(mf.items_unreadable(keys["tarball"], error))
            return
        raise
    if with_tarball:
        result.tarball = tarball
    else:
        tarball.close()
