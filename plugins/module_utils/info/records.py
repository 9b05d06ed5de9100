# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the records of backups and restores from a store: one listing of a top-level folder
grouped by name, logs streamed line by line (a log has a line per item), progress objects, and
the key of a backup that has no ``velero-backup.json`` to say how it is encrypted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive import verification
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod


def keys_by_name(store, folder):
    """{name: set of keys} of the objects directly under ``<folder>/<name>/`` (one listing)."""
    grouped = {}
    for key in store.list_keys(folder + "/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == folder and parts[1]:
            grouped.setdefault(parts[1], set()).add(key)
    return grouped


def scan_log(store, key, readers):
    """Feed every line of the gzipped log ``key`` to each reader's ``read_line``, streaming: the
    log is never held in memory whole."""
    with storage_mod.download_to_tempfile(store, key) as compressed:
        try:
            with gzip.GzipFile(fileobj=compressed, mode="rb") as raw:
                for line in io.TextIOWrapper(raw, encoding="utf-8", errors="replace"):
                    for reader in readers:
                        reader.read_line(line.rstrip("\n"))
        except (OSError, EOFError) as error:
            raise StorageError("log %s is not gzipped text: %s" % (store.url(key), error))


class LineCollector(object):
    """Keeps every line (for ``logs: true``)."""

    def __init__(self):
        self.lines = []

    def read_line(self, line):
        self.lines.append(line)


def read_progress(store, key):
    """(the progress object as a dict or None, a note when it cannot be read)."""
    data = store.get_bytes(key) if key else None
    if data is None:
        return None, None
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        return None, "its progress object %s is not JSON (%s)" % (store.url(key), error)
    if not isinstance(document, dict):
        return None, "its progress object %s is not a JSON object" % store.url(key)
    return document, None


SMALL_RECORDS = ("results", "logs", "resource_list", "pod_volume_backups")  # never the tarball: it is read whole


def uncommitted_store(store, keys, present, option, what):
    """(the store to read an uncommitted backup's records through, a note or None).

    A committed encrypted backup names its encryption parameters in velero-backup.json; one that
    never committed has only the envelope headers of its objects (which hold the same parameters
    and the key check value, never the key). Without the key, the records stay unread and the
    note says why."""
    for key in [keys[role] for role in SMALL_RECORDS if keys[role] in present]:
        head = store.get_bytes(key)
        if head is None or not crypto.is_encrypted(head):
            return store, None  # the run wrote its objects in the clear
        secret = crypto.resolve_secret(option)
        if secret is None:
            return None, ("its log and results are encrypted: give the encryption option (passphrase or key) it was "
                          "written with, or set %s, to read them" % crypto.PASSPHRASE_ENV)
        _header_bytes, header = crypto.read_header(io.BytesIO(head), store.url(key))
        return crypto.EncryptedStore(store, crypto.Cipher.for_params(secret, header, what)), None
    return store, None


def last_verification(store, name, present):
    """The outcome of the newest restore drill of a backup (its newest verification record), None when never drilled.
    One small read, only for a backup that has records."""
    keys = layout.verification_keys(name, present)
    if not keys:
        return None
    store = getattr(store, "plain_store", store)  # records are written in the clear, also beside an encrypted backup
    data = store.get_bytes(keys[-1])
    try:
        record = json.loads(data.decode("utf-8")) if data is not None else None
    except (ValueError, UnicodeDecodeError):
        record = None
    return verification.view(record, store.url(keys[-1]))
