# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup's integrity manifest (``backups/<name>/<name>-manifest.json``, docs/integrity.md).

Written by the backup just before its commit marker, it holds:

- ``objects``: the SHA-256 and size of every object the backup wrote, as stored (so of the
  ciphertext of an encrypted backup: a changed object is found without decrypting anything);
- ``commitMarker``: the same for ``velero-backup.json`` (the manifest is written first, so the
  marker's bytes are computed before either is written);
- ``items``: the object listing the SHA-256 of every entry of the tarball (``<name>-itemdigests.json.gz``,
  one JSON line ``[digest, path]`` per entry in archive order; it is one of ``objects`` too), with the
  count and the SHA-256 of its uncompressed lines: verifying streams the tarball once and reads the list
  only to name what changed, so memory stays flat in the number of items;
- ``tool``: the collection and its version;
- ``signature`` (optional): Ed25519 over the canonical bytes of all of the above (compact JSON,
  sorted keys, ASCII), with the SHA-256 fingerprint of the public key.

Verification compares such a document with what the store holds now (``compare_*``) and returns
problems, one dict each, never raising on a mismatch: the caller decides what a problem means.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import gzip
import hashlib
import json
import os
import threading

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.useragent import COLLECTION, COLLECTION_VERSION

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    HAS_CRYPTOGRAPHY = True
except ImportError:  # reported when a key is given
    HAS_CRYPTOGRAPHY = False

KIND = "kubedr.backup/IntegrityManifest"
VERSION = 1
ALGORITHM = "sha256"
SIGNATURE_ALGORITHM = "ed25519"
SIGNING_KEY_ENV = "KUBEDR_SIGNING_KEY"
READ_CHUNK = 1024 * 1024

# What a problem is about, and what happened to it.
OBJECT, ITEM, MARKER, SIGNATURE, MANIFEST, SNAPSHOT = "object", "item", "commit_marker", "signature", "manifest", "snapshot"
CHANGED, MISSING, UNEXPECTED, UNSIGNED, INVALID, OTHER_KEY, UNREADABLE = (
    "changed", "missing", "unexpected", "unsigned", "invalid", "other_key", "unreadable")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def digest_file(fileobj):
    """(SHA-256 hex, size) of a file object from its current position, which is restored after."""
    start = fileobj.tell()
    digest, size = hashlib.sha256(), 0
    while True:
        chunk = fileobj.read(READ_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(start)
    return digest.hexdigest(), size


def tarball_item_digests(fileobj, max_total_size=archive.DEFAULT_MAX_TOTAL_SIZE):
    """Yield (path, SHA-256 hex) of every entry of a (plaintext) tarball, in archive order, read with the
    archive's safe reader (a link or a path leaving the archive raises ArchiveError)."""
    for path, data in archive.iter_archive(fileobj, max_total_size):
        yield path, sha256_hex(data)


def item_line(path, digest):
    """``["<SHA-256 hex>","<path>"]`` and a newline, as compact ASCII JSON. Written by the backup as it
    writes its archive (backup/workers.py), recomputed by verification and by the restore as it indexes the
    entries (restore/integrity.py). A path of printable ASCII without '"' or '\\' is its own JSON string:
    json.dumps per line was a tenth of a restore's indexing."""
    if path.isascii() and path.isprintable() and '"' not in path and "\\" not in path:
        return ('["%s","%s"]\n' % (digest, path)).encode("ascii")
    return json.dumps([digest, path], separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def write_item_digests(tarball, out=None, max_total_size=archive.DEFAULT_MAX_TOTAL_SIZE):
    """Stream the tarball's entries: their lines, gzipped, into ``out`` (None: only counted), both files
    rewound after. Returns ``{"count", "sha256"}`` (the digest of the uncompressed lines)."""
    start = tarball.tell()
    digest, count = hashlib.sha256(), 0
    compressed = gzip.GzipFile(fileobj=out, mode="wb", mtime=0) if out is not None else None
    try:
        for path, item_digest in tarball_item_digests(tarball, max_total_size):
            line = item_line(path, item_digest)
            digest.update(line)
            count += 1
            if compressed is not None:
                compressed.write(line)
    finally:
        if compressed is not None:
            compressed.close()
            out.seek(0)
        tarball.seek(start)
    return {"count": count, "sha256": digest.hexdigest()}


def read_item_digests(data):
    """{path: digest} of a stored item list (gzipped JSON lines); ArchiveError when it is not one."""
    try:
        lines = gzip.decompress(data).splitlines()
        return dict((path, digest) for digest, path in (json.loads(line) for line in lines if line))
    except (OSError, EOFError, ValueError, TypeError) as error:
        raise ArchiveError("the item digests are not a gzipped list of [digest, path] lines: %s" % error)


class RecordingStore(object):
    """A store that records (SHA-256, size) of the bytes written to it, by key; everything else goes to
    the wrapped store unchanged. Placed under the encryption layer, it sees the stored ciphertext."""

    def __init__(self, store, gzip_json):
        self._store = store
        self._gzip_json = gzip_json  # storage/layout.gzip_json (archive does not import storage)
        self._lock = threading.Lock()
        self.recorded = {}

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_store", "_lock", "_gzip_json", "recorded"):
            raise AttributeError(name)
        return getattr(self._store, name)

    def _record(self, key, digest, size):
        with self._lock:
            self.recorded[key] = {"sha256": digest, "size": size}

    def put_bytes(self, key, data):
        self._store.put_bytes(key, data)
        self._record(key, sha256_hex(data), len(data))

    def put_json_gz(self, key, document):
        # The wrapped store's put_json_gz would call its own put_bytes, unseen here.
        self.put_bytes(key, self._gzip_json(document))

    def upload_file(self, key, fileobj):
        digest, size = digest_file(fileobj)
        result = self._store.upload_file(key, fileobj)
        self._record(key, digest, size)
        return result


# ---------------------------------------------------------------- the document

def build(name, uid, created, objects, marker_key, marker_bytes, items, encrypted):
    """The manifest (unsigned). ``objects``: {key: {"sha256", "size"}} as stored; ``items``: {"key",
    "count", "sha256"} of the item digests object (``write_item_digests``)."""
    return {
        "kind": KIND,
        "version": VERSION,
        "algorithm": ALGORITHM,
        "backup": {"name": name, "uid": uid, "created": created},
        "tool": {"name": COLLECTION, "version": COLLECTION_VERSION},
        "encrypted": bool(encrypted),
        "objects": dict((key, dict(value)) for key, value in objects.items()),
        "commitMarker": {"key": marker_key, "sha256": sha256_hex(marker_bytes), "size": len(marker_bytes)},
        "items": dict(items),
    }


def canonical_bytes(document):
    """The bytes a signature covers: the manifest without ``signature``, compact sorted ASCII JSON."""
    unsigned = dict((key, value) for key, value in document.items() if key != "signature")
    return json.dumps(unsigned, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode("ascii")


def encode(document):
    """The stored bytes of a manifest (signature included)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"


def decode(data):
    """A stored manifest as a dict; ArchiveError when it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ArchiveError("the integrity manifest is not valid JSON: %s" % error)
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ArchiveError("the integrity manifest is not a %s document" % KIND)
    if document.get("version") != VERSION:
        raise ArchiveError("the integrity manifest has version %r; this collection reads version %d"
                           % (document.get("version"), VERSION))
    for field in ("objects", "items", "commitMarker"):
        if not isinstance(document.get(field), dict):
            raise ArchiveError("the integrity manifest has no %s" % field)
    if not isinstance(document["items"].get("key"), str) or not isinstance(document["items"].get("sha256"), str):
        raise ArchiveError("the integrity manifest's items name no item digests object")
    return document


# ---------------------------------------------------------------- keys and signatures

def _require():
    if not HAS_CRYPTOGRAPHY:
        raise InvalidOptionError("signing and verifying manifests needs the Python 'cryptography' package "
                                 "(pip install cryptography)")


def _pem_of(value, option):
    """The PEM bytes of an option that holds a PEM key or the path of a file holding one. The
    message never repeats the value (it may be a private key)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("-----BEGIN"):
        return text.encode("ascii", "replace")
    if text and "\n" not in text and os.path.isfile(os.path.expanduser(text)):
        with open(os.path.expanduser(text), "rb") as handle:
            return handle.read()
    raise InvalidOptionError("%s is neither a PEM key (-----BEGIN ...) nor the path of a readable file" % option)


def load_signing_key(value, option="signing_key"):
    """An Ed25519 private key from PEM content or a path (unencrypted PKCS#8, as
    ``openssl genpkey -algorithm ed25519`` writes it)."""
    _require()
    pem = _pem_of(value, option)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidOptionError("%s is not an unencrypted PEM private key" % option)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidOptionError("%s is not an Ed25519 key (openssl genpkey -algorithm ed25519)" % option)
    return key


def load_verify_key(value, option="verify_key"):
    """An Ed25519 public key from PEM content or a path (a private key is accepted too: its public half)."""
    _require()
    pem = _pem_of(value, option)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            key = serialization.load_pem_private_key(pem, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidOptionError("%s is not a PEM public key" % option)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidOptionError("%s is not an Ed25519 public key" % option)
    return key


def fingerprint(public_key):
    """SHA-256 of the raw 32-byte public key, hex: names the key in the manifest and in messages."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + sha256_hex(raw)


def sign(document, private_key):
    """The manifest with its ``signature``."""
    signed = dict(document)
    signed["signature"] = {
        "algorithm": SIGNATURE_ALGORITHM,
        "keyFingerprint": fingerprint(private_key.public_key()),
        "value": base64.b64encode(private_key.sign(canonical_bytes(document))).decode("ascii"),
    }
    return signed


def check_signature(document, public_key):
    """Problems of the manifest's signature against ``public_key`` (None: not asked to check)."""
    if public_key is None:
        return []
    signature = document.get("signature")
    expected = fingerprint(public_key)
    if not isinstance(signature, dict) or not signature.get("value"):
        return [problem(SIGNATURE, UNSIGNED, "the manifest is not signed, and a signature by %s is required" % expected,
                        expected=expected)]
    if signature.get("algorithm") != SIGNATURE_ALGORITHM:
        return [problem(SIGNATURE, INVALID, "the manifest's signature algorithm is %r, not %s"
                        % (signature.get("algorithm"), SIGNATURE_ALGORITHM), expected=expected)]
    try:
        public_key.verify(base64.b64decode(signature["value"], validate=True), canonical_bytes(document))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        actual = signature.get("keyFingerprint")
        if actual != expected:
            return [problem(SIGNATURE, OTHER_KEY, "the manifest is not signed by the verify key %s (it names key %s)"
                            % (expected, actual), expected=expected, actual=actual)]
        return [problem(SIGNATURE, INVALID, "the manifest's signature does not verify with %s: the manifest was "
                        "changed after it was signed" % expected, expected=expected, actual=actual)]
    return []


# ---------------------------------------------------------------- comparisons

def problem(about, what, message, key=None, path=None, expected=None, actual=None):
    """One mismatch, as the modules return it."""
    found = {"about": about, "problem": what, "message": message}
    for field, value in (("key", key), ("path", path), ("expected", expected), ("actual", actual)):
        if value is not None:
            found[field] = value
    return found


def compare_object(key, recorded, actual, about=OBJECT):
    """Problems of one stored object: ``recorded`` from the manifest, ``actual`` {"sha256", "size"} or
    None when the object is gone."""
    if actual is None:
        return [problem(about, MISSING, "%s is missing" % key, key=key, expected=recorded.get("sha256"))]
    if actual.get("sha256") != recorded.get("sha256"):
        return [problem(about, CHANGED, "%s changed: sha256 %s, the manifest says %s"
                        % (key, actual.get("sha256"), recorded.get("sha256")),
                        key=key, expected=recorded.get("sha256"), actual=actual.get("sha256"))]
    return []


def item_problems(reader, recorded_items, tarball, tarball_key, max_total_size=archive.DEFAULT_MAX_TOTAL_SIZE):
    """Why the tarball's entries do not match the manifest's digest of them: only now is the stored list read
    (through ``reader``) and the tarball read again (rewound after), to name each entry that differs; when
    none does, they differ in order or number. Raises ArchiveError or KubedrError when either cannot be read."""
    listed = read_item_digests(reader.get_bytes(recorded_items["key"]))
    tarball.seek(0)
    try:
        found = compare_items(listed, list(tarball_item_digests(tarball, max_total_size)))
    finally:
        tarball.seek(0)
    return found or [problem(ITEM, CHANGED, "the tarball's entries do not match the manifest's digest of them (in "
                             "order or number)", key=tarball_key, expected=recorded_items["sha256"])]


def items_unreadable(tarball_key, error):
    """The problem of a tarball whose items cannot be read (or whose item list cannot)."""
    return problem(ITEM, UNREADABLE, "the items of %s cannot be read: %s" % (tarball_key, error), key=tarball_key)


def compare_items(recorded, actual):
    """Problems of the tarball's entries: ``recorded`` {path: digest} from the manifest, ``actual``
    [(path, digest)] in archive order (a path twice is a problem: extraction would keep one)."""
    found, seen = [], {}
    for path, digest in actual:
        seen[path] = seen.get(path, 0) + 1
        if seen[path] == 2:
            found.append(problem(ITEM, UNEXPECTED, "%s is in the tarball more than once" % path, path=path))
        if path not in recorded:
            if seen[path] == 1:
                found.append(problem(ITEM, UNEXPECTED, "%s is in the tarball but not in the manifest" % path,
                                     path=path, actual=digest))
        elif digest != recorded[path]:
            found.append(problem(ITEM, CHANGED, "%s changed: sha256 %s, the manifest says %s"
                                 % (path, digest, recorded[path]), path=path, expected=recorded[path], actual=digest))
    for path in sorted(set(recorded) - set(seen)):
        found.append(problem(ITEM, MISSING, "%s is in the manifest but not in the tarball" % path, path=path,
                             expected=recorded[path]))
    return found
