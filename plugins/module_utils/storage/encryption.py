# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Optional client-side encryption of a backup's resource archive and side files.

Key material: a passphrase (stretched with scrypt, a random salt per backup) or a raw 32-byte
key given in base64. From it two values are derived with HMAC-SHA256: the encryption key and a
key check value. The check value is stored (with the KDF parameters, never the key) in the
backup's ``velero-backup.json`` annotation ``kubedr.backup/encryption`` and in the header of
every encrypted object, so a wrong key is told apart from tampering, and a restore with a wrong
key fails before it touches the cluster.

Envelope of an encrypted object (``kubedr-aes256gcm-v1``)::

    b"KDRENC1\\n"                 magic
    uint32 big-endian n           length of the header
    header (n bytes)              compact JSON: scheme, kdf and its parameters, key check, file
                                  salt, chunk size
    chunks                        AES-256-GCM of consecutive plaintext chunks of ``chunk`` bytes;
                                  the last chunk is shorter than ``chunk`` (possibly empty)

Each object has its own key (HMAC of the encryption key and the object's random salt); the nonce
of chunk i is ``i`` (8 bytes) followed by a final flag (4 bytes), and the header is the associated
data of every chunk. So reordering, dropping or appending chunks, cutting the object short or
editing its header all fail authentication. Memory stays flat: one chunk at a time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import io
import json
import os
import struct
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, KubedrError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    HAS_CRYPTOGRAPHY = True
except ImportError:  # reported when encryption is asked for
    HAS_CRYPTOGRAPHY = False

SCHEME = "kubedr-aes256gcm-v1"
ANNOTATION = "kubedr.backup/encryption"
MAGIC = b"KDRENC1\n"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
KEY_SIZE = 32
SALT_SIZE = 16
MAX_HEADER_SIZE = 4096
SCRYPT_N = 2 ** 15
SCRYPT_R = 8
SCRYPT_P = 1
# Limits on parameters read from a stored header, so a hostile header cannot ask for a huge KDF.
MAX_SCRYPT_N = 2 ** 20
KDF_SCRYPT = "scrypt"
KDF_RAW = "raw"
# A passphrase from the environment: used when the task asks for encryption without giving a
# passphrase or key, and to read an encrypted backup; it never makes a new backup encrypted.
PASSPHRASE_ENV = "KUBEDR_ENCRYPTION_PASSPHRASE"


class DecryptionError(KubedrError):
    """An encrypted object could not be decrypted: wrong key, tampered or truncated."""


def _require():
    if not HAS_CRYPTOGRAPHY:
        raise InvalidOptionError("encryption needs the Python 'cryptography' package (pip install cryptography)")


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _unb64(text, what):
    try:
        return base64.b64decode(str(text).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DecryptionError("encrypted object: %s is not base64" % what)


def _hmac(key, label, extra=b""):
    return hmac.new(key, label + extra, hashlib.sha256).digest()


def parse_raw_key(text):
    """A raw key option (base64 of 32 bytes) as bytes; InvalidOptionError otherwise (the message
    never repeats the key)."""
    try:
        key = base64.b64decode(str(text).strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidOptionError("encryption.key must be 32 random bytes in base64 (e.g. from "
                                 "'openssl rand -base64 32'); the value given is not base64")
    if len(key) != KEY_SIZE:
        raise InvalidOptionError("encryption.key must be 32 bytes in base64; the value given decodes to %d bytes"
                                 % len(key))
    return key


def _kdf_params(params):
    """Validated (kdf, salt bytes, n, r, p) from a stored parameter dict."""
    if not isinstance(params, dict):
        raise DecryptionError("encryption parameters are not an object")
    if params.get("scheme") != SCHEME:
        raise DecryptionError("encryption scheme %r is not supported (%s is)" % (params.get("scheme"), SCHEME))
    kdf = params.get("kdf")
    if kdf == KDF_RAW:
        return kdf, b"", 0, 0, 0
    if kdf != KDF_SCRYPT:
        raise DecryptionError("key derivation %r is not supported" % (kdf,))
    salt = _unb64(params.get("salt"), "the salt")
    n, r, p = params.get("n"), params.get("r"), params.get("p")
    for value in (n, r, p):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DecryptionError("scrypt parameters are invalid")
    if n > MAX_SCRYPT_N or n & (n - 1) or r > 32 or p > 16 or not 8 <= len(salt) <= 64:
        raise DecryptionError("scrypt parameters are out of the accepted range")
    return kdf, salt, n, r, p


class Cipher(object):
    """Key material of one backup: encrypts and decrypts objects in the envelope format."""

    def __init__(self, master, params):
        self._key = _hmac(master, b"kubedr.backup encryption key")
        self.check_value = _hmac(master, b"kubedr.backup key check")[:16].hex()
        # What is stored: scheme, kdf, salt, n, r, p and the check value; never a key.
        self.params = dict(params, check=self.check_value)

    # Construction ----------------------------------------------------------------

    @classmethod
    def new(cls, option):
        """Fresh key material for a new backup from the ``encryption`` option (passphrase or key)."""
        _require()
        passphrase, raw = _secret_of(option)
        if raw is not None:
            return cls(parse_raw_key(raw), {"scheme": SCHEME, "kdf": KDF_RAW})
        salt = os.urandom(SALT_SIZE)
        params = {"scheme": SCHEME, "kdf": KDF_SCRYPT, "salt": _b64(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        return cls(_scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), params)

    @classmethod
    def for_params(cls, option, params, what="the backup"):
        """The key material of stored parameters (an annotation or an object header), checked
        against their key check value: a wrong key fails here, with a clear error."""
        _require()
        kdf, salt, n, r, p = _kdf_params(params)
        passphrase, raw = _secret_of(option)
        if kdf == KDF_RAW:
            if raw is None:
                raise DecryptionError("%s is encrypted with a raw key: give encryption.key, not a passphrase" % what)
            master = parse_raw_key(raw)
        else:
            if passphrase is None:
                raise DecryptionError("%s is encrypted with a passphrase: give encryption.passphrase, not a key"
                                      % what)
            master = _scrypt(passphrase, salt, n, r, p)
        cipher = cls(master, dict((k, params[k]) for k in params if k != "check"))
        if not hmac.compare_digest(str(params.get("check") or ""), cipher.check_value):
            raise DecryptionError("wrong encryption key or passphrase for %s (the key check value does not match)"
                                  % what)
        return cipher

    def annotation(self):
        """The value of the ``kubedr.backup/encryption`` annotation of velero-backup.json."""
        return json.dumps(self.params, sort_keys=True, separators=(",", ":"))

    # Envelope ---------------------------------------------------------------------

    def _header(self):
        header = dict(self.params, file_salt=_b64(os.urandom(SALT_SIZE)), chunk=CHUNK_SIZE)
        return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")

    def _file_aead(self, header):
        return AESGCM(_hmac(self._key, b"kubedr.backup object key", _unb64(header["file_salt"], "the object salt")))

    def encrypt_stream(self, source, target):
        """Encrypt the binary file object ``source`` into ``target``, chunk by chunk."""
        header_bytes = self._header()
        aead = self._file_aead(json.loads(header_bytes.decode("ascii")))
        target.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)
        index = 0
        chunk = _read_full(source, CHUNK_SIZE)
        while True:
            final = len(chunk) < CHUNK_SIZE
            target.write(aead.encrypt(_nonce(index, final), chunk, header_bytes))
            if final:
                return
            index += 1
            chunk = _read_full(source, CHUNK_SIZE)

    def encrypt_bytes(self, data):
        out = io.BytesIO()
        self.encrypt_stream(io.BytesIO(data), out)
        return out.getvalue()

    def decrypt_stream(self, source, target, what="object"):
        """Decrypt an envelope from ``source`` into ``target``; DecryptionError for a wrong key, a
        tampered or a truncated object (``target`` may then hold a prefix: callers discard it)."""
        header_bytes, header = read_header(source, what)
        if header.get("check") != self.check_value:
            raise DecryptionError("wrong encryption key or passphrase for %s (the key check value does not match)"
                                  % what)
        chunk_size = header.get("chunk")
        if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or not 1 <= chunk_size <= 16 * 1024 * 1024:
            raise DecryptionError("%s: the encryption header is invalid (chunk size)" % what)
        aead = self._file_aead(header)
        index = 0
        while True:
            sealed = _read_full(source, chunk_size + TAG_SIZE)
            final = len(sealed) < chunk_size + TAG_SIZE
            if len(sealed) < TAG_SIZE:
                raise DecryptionError("%s is truncated or tampered with (it ends before its last encrypted chunk)"
                                      % what)
            try:
                plain = aead.decrypt(_nonce(index, final), sealed, header_bytes)
            except InvalidTag:
                raise DecryptionError("%s was tampered with or is truncated (authentication of encrypted chunk %d "
                                      "failed)" % (what, index))
            target.write(plain)
            if final:
                if source.read(1):
                    raise DecryptionError("%s has data after its last encrypted chunk (tampered with)" % what)
                return
            index += 1

    def decrypt_bytes(self, data, what="object"):
        out = io.BytesIO()
        self.decrypt_stream(io.BytesIO(data), out, what)
        return out.getvalue()


def _secret_of(option):
    """(passphrase, raw key) from the ``encryption`` option; exactly one is set."""
    option = option or {}
    passphrase, raw = option.get("passphrase"), option.get("key")
    if bool(passphrase) == bool(raw):
        raise InvalidOptionError("encryption needs exactly one of passphrase and key")
    return (passphrase if passphrase else None), (raw if raw else None)


def _scrypt(passphrase, salt, n, r, p):
    return Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _nonce(index, final):
    return struct.pack(">QI", index, 1 if final else 0)


def _read_full(source, size):
    """Up to ``size`` bytes, fewer only at the end of the stream."""
    parts, remaining = [], size
    while remaining:
        data = source.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def is_encrypted(prefix):
    """Whether the first bytes of an object are an encryption envelope."""
    return bytes(prefix[:len(MAGIC)]) == MAGIC


def read_header(source, what="object"):
    """(raw header bytes, header dict) of an envelope; DecryptionError when it is not one."""
    start = _read_full(source, len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or start[:len(MAGIC)] != MAGIC:
        raise DecryptionError("%s is not encrypted by kubedr.backup (or its header is damaged)" % what)
    (length,) = struct.unpack(">I", start[len(MAGIC):])
    if not 2 <= length <= MAX_HEADER_SIZE:
        raise DecryptionError("%s: the encryption header is damaged (length %d)" % (what, length))
    header_bytes = _read_full(source, length)
    if len(header_bytes) != length:
        raise DecryptionError("%s is truncated (in its encryption header)" % what)
    try:
        header = json.loads(header_bytes.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError("%s: the encryption header is damaged (not JSON)" % what)
    if not isinstance(header, dict) or header.get("scheme") != SCHEME or not isinstance(header.get("file_salt"), str):
        raise DecryptionError("%s: the encryption header is damaged or of an unknown scheme" % what)
    return header_bytes, header


def backup_params(document):
    """The stored encryption parameters of a backup (its velero-backup.json as a dict), or None
    when the backup is not encrypted."""
    annotations = ((document or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ANNOTATION)
    if not value:
        return None
    try:
        params = json.loads(value)
    except ValueError:
        raise DecryptionError("annotation %s of the backup is not valid JSON" % ANNOTATION)
    if not isinstance(params, dict):
        raise DecryptionError("annotation %s of the backup is not an object" % ANNOTATION)
    return params


# ---------------------------------------------------------------- a store that encrypts

def encrypted_key(key):
    """Whether an object of the location is encrypted in an encrypted backup: every object under
    ``backups/<name>/`` but ``velero-backup.json`` (listing works without the key) and the
    progress object (counts only)."""
    parts = key.split("/")
    return (len(parts) == 3 and parts[0] == "backups" and parts[2] != layout.BACKUP_METADATA
            and not parts[2].endswith("-progress.json"))


class EncryptedStore(object):
    """A BackupStore whose backup objects (see ``encrypted_key``) are encrypted on write and
    decrypted on read; everything else goes to the wrapped store unchanged."""

    def __init__(self, store, cipher):
        self._store = store
        self.cipher = cipher
        self.annotations = {ANNOTATION: cipher.annotation()}

    @property
    def plain_store(self):
        """The wrapped store, for objects that are never encrypted (leases)."""
        return self._store

    def __getattr__(self, name):
        if name.startswith("__") or name == "_store":  # copy/pickle probes before __init__ ran
            raise AttributeError(name)
        return getattr(self._store, name)

    def put_bytes(self, key, data):
        self._store.put_bytes(key, self.cipher.encrypt_bytes(data) if encrypted_key(key) else data)

    def get_bytes(self, key):
        data = self._store.get_bytes(key)
        if data is None or not encrypted_key(key):
            return data
        return self.cipher.decrypt_bytes(data, self._store.url(key))

    def put_json_gz(self, key, document):
        self.put_bytes(key, layout.gzip_json(document))

    def get_json_gz(self, key):
        return layout.gunzip_json(self.get_bytes(key))

    def upload_file(self, key, fileobj):
        if not encrypted_key(key):
            return self._store.upload_file(key, fileobj)
        with tempfile.TemporaryFile() as sealed:
            self.cipher.encrypt_stream(fileobj, sealed)
            sealed.seek(0)
            return self._store.upload_file(key, sealed)

    def download_file(self, key, fileobj):
        if not encrypted_key(key):
            return self._store.download_file(key, fileobj)
        with tempfile.TemporaryFile() as sealed:
            self._store.download_file(key, sealed)
            sealed.seek(0)
            self.cipher.decrypt_stream(sealed, fileobj, self._store.url(key))
        return None


def resolve_secret(option, environ=None):
    """``{"passphrase": ..., "key": ...}`` (one of them set) of the ``encryption`` option, or None when
    it gives neither and KUBEDR_ENCRYPTION_PASSPHRASE is not set either. The option's own key or
    passphrase wins over the variable. ``option`` may be None (the option not given)."""
    option = option or {}
    if option.get("key"):
        return {"passphrase": None, "key": option["key"]}
    environ = os.environ if environ is None else environ
    passphrase = option.get("passphrase") or environ.get(PASSPHRASE_ENV)
    return {"passphrase": passphrase, "key": None} if passphrase else None


def encrypts_new_backup(option):
    """Whether a new backup is encrypted: only when the task gives ``encryption`` (not disabled)."""
    return option is not None and option.get("enabled") is not False


def open_backup(store, option, document, what, new=False, environ=None):
    """The store to read (and write) one backup through.

    ``document`` is the backup's velero-backup.json (None when it does not exist). An encrypted
    backup needs the key (checked here against the stored check value, so a wrong key fails before
    anything else happens): the option's, else KUBEDR_ENCRYPTION_PASSPHRASE's. A new backup
    (``new``) is encrypted only when ``option`` is given (and not ``enabled: false``), with its key
    or passphrase, else the variable's: the variable alone never encrypts. An existing unencrypted
    backup is read as it is."""
    params = backup_params(document) if document is not None else None
    if params is not None:
        secret = resolve_secret(option, environ)
        if secret is None:
            raise DecryptionError("%s is encrypted (%s): give the encryption option (passphrase or key) it was "
                                  "written with, or set %s" % (what, params.get("scheme"), PASSPHRASE_ENV))
        return EncryptedStore(store, Cipher.for_params(secret, params, what))
    if new and document is None and encrypts_new_backup(option):
        secret = resolve_secret(option, environ)
        if secret is None:
            raise InvalidOptionError("encryption is asked for, but neither encryption.passphrase nor encryption.key "
                                     "is given and %s is not set" % PASSPHRASE_ENV)
        return EncryptedStore(store, Cipher.new(secret))
    return store
