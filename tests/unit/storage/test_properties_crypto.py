"""The encrypting store (crypto.EncryptedStore, crypto.open_backup) over a filesystem location:
which objects are sealed, round trips, and the errors a user sees."""
import base64
import io
import json
import os

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage.filesystem import FilesystemStore
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError

KEY = {"key": base64.b64encode(b"K" * 32).decode()}


def committed(store, name, annotations):
    document = {"metadata": {"name": name, "annotations": annotations}, "status": {"phase": "Completed"}}
    store.put_bytes(layout.backup_keys(name)["metadata"], json.dumps(document).encode())
    return document


def test_only_backup_objects_but_the_marker_and_progress_are_sealed(tmp_path):
    plain = FilesystemStore(str(tmp_path))
    sealed = crypto.open_backup(plain, KEY, None, "backup b", new=True)
    keys = layout.backup_keys("b")
    sealed.put_json_gz(keys["results"], {"errors": {}})
    sealed.upload_file(keys["tarball"], io.BytesIO(os.urandom(200000)))
    sealed.put_bytes(keys["progress"], b'{"phase":"InProgress"}\n')
    sealed.put_bytes(layout.restore_keys("r")["logs"], b"restore log")
    committed(sealed, "b", sealed.annotations)
    raw = dict((k, plain.get_bytes(k)) for k in plain.list_keys(""))
    assert raw[keys["results"]].startswith(crypto.MAGIC) and raw[keys["tarball"]].startswith(crypto.MAGIC)
    assert raw[keys["progress"]] == b'{"phase":"InProgress"}\n'
    assert raw[layout.restore_keys("r")["logs"]] == b"restore log"
    assert json.loads(raw[keys["metadata"]])["metadata"]["annotations"][crypto.ANNOTATION]
    assert plain.list_backups() == ["b"]  # listing needs no key

    reopened = crypto.open_backup(plain, KEY, plain.backup_metadata("b"), "backup b")
    assert reopened.get_json_gz(keys["results"]) == {"errors": {}}
    out = io.BytesIO()
    reopened.download_file(keys["tarball"], out)
    assert len(out.getvalue()) == 200000 and reopened.backup_size("b") > 200000


def test_errors_a_user_sees(tmp_path):
    plain = FilesystemStore(str(tmp_path))
    sealed = crypto.open_backup(plain, KEY, None, "backup b", new=True)
    document = committed(sealed, "b", sealed.annotations)
    keys = layout.backup_keys("b")
    sealed.put_json_gz(keys["results"], {"errors": {}})
    with pytest.raises(KubedrError, match="backup b is encrypted"):
        crypto.open_backup(plain, None, document, "backup b")
    with pytest.raises(KubedrError, match="backup b is encrypted"):
        crypto.open_backup(plain, {"passphrase": None, "key": None}, document, "backup b")
    with pytest.raises(KubedrError, match="wrong encryption key or passphrase for backup b"):
        crypto.open_backup(plain, {"key": base64.b64encode(b"X" * 32).decode()}, document, "backup b")
    with pytest.raises(KubedrError, match="encrypted with a raw key"):
        crypto.open_backup(plain, {"passphrase": "p"}, document, "backup b")
    reopened = crypto.open_backup(plain, KEY, document, "backup b")
    plain.put_bytes(keys["results"], layout.gzip_json({"errors": {"velero": ["forged"]}}))
    with pytest.raises(KubedrError, match="not encrypted by kubedr.backup"):
        reopened.get_json_gz(keys["results"])
    # An unencrypted backup is read as it is, with or without a key; a missing one stays missing.
    committed(plain, "old", {})
    assert crypto.open_backup(plain, KEY, plain.backup_metadata("old"), "backup old") is plain
    assert reopened.get_bytes(layout.backup_keys("b")["logs"]) is None


class _Zeros(object):
    """A readable stream of ``size`` zero bytes that is never held in memory."""

    def __init__(self, size):
        self.left = size

    def read(self, size=-1):
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        return b"\0" * size


class _Sink(object):
    def __init__(self):
        self.size = 0

    def write(self, data):
        self.size += len(data)


def test_envelope_streams_with_flat_memory(tmp_path):
    import tracemalloc

    cipher = crypto.Cipher.new(KEY)
    size = 48 * 1024 * 1024
    sealed_path = tmp_path / "sealed"
    tracemalloc.start()
    try:
        with open(str(sealed_path), "wb") as out:
            cipher.encrypt_stream(_Zeros(size), out)
        sink = _Sink()
        with open(str(sealed_path), "rb") as source:
            cipher.decrypt_stream(source, sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.size == size
    assert os.path.getsize(str(sealed_path)) < size + (size // crypto.CHUNK_SIZE + 1) * crypto.TAG_SIZE + 4096
    assert peak < 2 * 1024 * 1024, "peak %d bytes for %d streamed" % (peak, size)
