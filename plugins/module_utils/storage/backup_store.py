# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every backup store does on top of its object primitives (put_bytes, get_bytes,
upload_file, download_file, size, list_keys, delete, top_level_dirs, check, url)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import (
    BACKUP_METADATA, VELERO_TOP_LEVEL_DIRS, backup_dir, backup_keys, deletion_record_key, gunzip_json, gzip_json,
)

MULTIPART_CHUNK = 16 * 1024 * 1024


class BackupStore(object):
    """Common operations; subclasses implement the object primitives."""

    read_only = False
    object_lock = None  # governance or compliance: immutable backups (only S3 can lock objects)
    written_once = frozenset()  # keys a locked run wrote (each is written once)

    def lock_backup(self, backup_name, until):
        """Lock every object written from now on until ``until`` (S3 Object Lock); nothing elsewhere."""

    def locked_until(self, keys):
        """(mode, RFC 3339 retain-until) when an object of ``keys`` is still locked, else None."""
        return None

    def ensure_writable(self):
        if self.read_only:
            raise InvalidOptionError("the storage location is ReadOnly (storage_location.access_mode); "
                                     "nothing can be written to it")

    def get_json_gz(self, key):
        return gunzip_json(self.get_bytes(key))

    def put_json_gz(self, key, document):
        self.put_bytes(key, gzip_json(document))

    def backup_metadata(self, backup_name):
        """The stored ``velero-backup.json`` as a dict, or None when the backup is not committed."""
        data = self.get_bytes(backup_keys(backup_name)["metadata"])
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise StorageError("%s of backup %s is not valid JSON: %s" % (BACKUP_METADATA, backup_name, error))

    def list_backups(self):
        """Names of committed backups (those with velero-backup.json), sorted."""
        names = set()
        for key in self.list_keys("backups/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == BACKUP_METADATA:
                names.add(parts[1])
        return sorted(names)

    def unfinished_deletions(self):
        """Names of backups whose deletion started and did not finish (they keep a deletion record), sorted."""
        names = set()
        for key in self.list_keys("backups/"):
            parts = key.split("/")
            if len(parts) == 3 and key == deletion_record_key(parts[1]):
                names.add(parts[1])
        return sorted(names)

    def delete_backup(self, backup_name):
        """Delete every object under ``backups/<name>/``, the commit marker first so a partly
        deleted backup is never listed. Returns the number of objects deleted."""
        self.ensure_writable()
        keys = self.list_keys(backup_dir(backup_name))
        marker = backup_keys(backup_name)["metadata"]
        ordered = [k for k in keys if k == marker] + [k for k in keys if k != marker]
        for key in ordered:
            self.delete(key)
        return len(ordered)

    def unexpected_top_level_dirs(self):
        """Top-level folders Velero would reject (it marks such a location unavailable)."""
        return sorted(d for d in self.top_level_dirs() if d not in VELERO_TOP_LEVEL_DIRS)

    def backup_size(self, backup_name):
        return self.size(backup_keys(backup_name)["tarball"])
