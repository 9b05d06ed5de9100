# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A storage location on a local (or mounted) directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage.backup_store import BackupStore

# A local copy gains nothing from S3's 16 MiB parts; each concurrent copy holds one buffer of this size.
COPY_CHUNK = 1024 * 1024


class FilesystemStore(BackupStore):
    """A location on a local (or mounted) directory: ``<path>/<prefix>/``."""

    def __init__(self, path, prefix="", read_only=False):
        if not path:
            raise InvalidOptionError("storage_location.path is required for the filesystem provider")
        self.root = os.path.abspath(os.path.join(path, *[p for p in prefix.split("/") if p]))
        self.read_only = read_only

    def _path(self, key):
        if ".." in key.split("/"):
            raise StorageError("invalid object key %s" % key)
        return os.path.join(self.root, *key.split("/"))

    def check(self, for_write=True):
        """Fail early when the directory cannot be used. Nothing is created here (the first write
        creates what it needs), so a check-mode run leaves no trace; a missing directory is fine
        for writing when it can be created, an error for reading."""
        if os.path.isdir(self.root):
            if for_write and not self.read_only and not os.access(self.root, os.W_OK):
                raise StorageError("storage location directory %s is not writable" % self.root)
            return
        if self.read_only or not for_write:
            raise StorageError("storage location directory %s does not exist" % self.root)
        ancestor = os.path.dirname(self.root)
        while not os.path.isdir(ancestor) and ancestor != os.path.dirname(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.access(ancestor, os.W_OK):
            raise StorageError("storage location directory %s cannot be created (%s is not writable)"
                               % (self.root, ancestor))

    def url(self, key):
        return self._path(key)

    def _write(self, key, writer):
        self.ensure_writable()
        target = self._path(key)
        parent = os.path.dirname(target)
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent)
            # Write beside the target and rename: a reader never sees a half-written object.
            handle, temporary = tempfile.mkstemp(dir=parent, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    writer(out)
                os.rename(temporary, target)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
        except OSError as error:
            raise StorageError("cannot write %s: %s" % (target, error.strerror or error))

    def put_bytes(self, key, data):
        self._write(key, lambda out: out.write(data))

    def upload_file(self, key, fileobj):
        self._write(key, lambda out: shutil.copyfileobj(fileobj, out, COPY_CHUNK))

    def get_bytes(self, key):
        try:
            with open(self._path(key), "rb") as handle:
                return handle.read()
        except (IOError, OSError) as error:
            if error.errno == errno.ENOENT:
                return None
            raise StorageError("cannot read %s: %s" % (self._path(key), error.strerror))

    def download_file(self, key, fileobj):
        try:
            with open(self._path(key), "rb") as handle:
                shutil.copyfileobj(handle, fileobj, COPY_CHUNK)
        except (IOError, OSError) as error:
            if error.errno == errno.ENOENT:
                raise NotFoundError("object %s does not exist in the storage location" % key)
            raise StorageError("cannot read %s: %s" % (self._path(key), error.strerror))

    def size(self, key):
        try:
            return os.path.getsize(self._path(key))
        except OSError:
            return None

    def list_keys(self, prefix):
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        keys = []
        for directory, _subdirs, files in os.walk(base):
            for filename in files:
                if filename.startswith(".tmp-"):
                    continue
                relative = os.path.relpath(os.path.join(directory, filename), self.root)
                keys.append(relative.replace(os.sep, "/"))
        return sorted(keys)

    def delete(self, key):
        self.ensure_writable()
        path = self._path(key)
        try:
            os.unlink(path)
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise StorageError("cannot delete %s: %s" % (path, error.strerror))
        # Drop emptied folders so a deleted backup leaves nothing behind.
        parent = os.path.dirname(path)
        while parent != self.root and parent.startswith(self.root):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)

    def top_level_dirs(self):
        if not os.path.isdir(self.root):
            return []
        return sorted(d for d in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, d)))
