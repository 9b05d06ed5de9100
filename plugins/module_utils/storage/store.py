# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Backup storage locations in Velero's object layout: S3 (botocore) and a local directory.

``open_store(storage_location)`` returns a BackupStore (``backup_store``), a
``FilesystemStore`` (``filesystem``) or an ``S3Store`` (``s3``). ``velero-backup.json`` is
the commit marker of a backup: a backup without it does not exist for ``list_backups``.
Velero's object keys are in ``layout``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.storage.filesystem import FilesystemStore
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import LARGE_GZIP_LEVEL
from ansible_collections.kubedr.backup.plugins.module_utils.storage.s3 import S3Store


def open_store(location):
    """A BackupStore for a ``storage_location`` dict (the module option)."""
    provider = location.get("provider") or "s3"
    read_only = location.get("access_mode") == "ReadOnly"
    if provider == "filesystem":
        if location.get("object_lock"):
            raise InvalidOptionError("storage_location.object_lock needs an S3 bucket with Object Lock; a filesystem "
                                     "location cannot keep a backup from being deleted or overwritten")
        return FilesystemStore(location.get("path"), location.get("prefix") or "", read_only)
    if provider == "s3":
        return S3Store(location)
    raise InvalidOptionError("storage_location.provider must be s3 or filesystem, not %r" % provider)


def upload_gzipped(store, key, write):
    """Gzip what ``write(file object)`` writes into a temporary file, then upload it with the
    store's own ``upload_file`` (an encrypting store encrypts it): content that grows with the
    item count never sits in memory whole, and is compressed at the fast ``LARGE_GZIP_LEVEL``."""
    with tempfile.TemporaryFile() as compressed:
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=LARGE_GZIP_LEVEL) as out:
            write(out)
        compressed.seek(0)
        store.upload_file(key, compressed)


def download_to_tempfile(store, key, directory=None):
    """Download an object into an anonymous temporary file, returned rewound (for safe reading)."""
    handle = tempfile.TemporaryFile(dir=directory)
    try:
        store.download_file(key, handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle
