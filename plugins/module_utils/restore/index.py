# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup archive, extracted safely: its items copied into one anonymous spool file in a
private directory and indexed by group-resource.

``archive.iter_archive`` refuses absolute paths, ``..``, links and devices; this module also
caps the size including tar headers, keeps only ``metadata/`` and ``resources/`` and checks
that every item is a JSON object with a name. Only names and spool offsets are kept in
memory: items are read back one at a time, tier by tier. One file, not one per item: creating
and removing a file per item cost a third of a restore's CPU time, in the filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import json
import os
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError
from ansible_collections.kubedr.backup.plugins.module_utils.restore.records import PackedRecords

TAR_HEADER_SIZE = 512


class ItemEntries(object):
    """``(source namespace or None, name, spool reference)`` of items, in the order added: the
    names packed (``PackedRecords``), the spool offsets and lengths in two arrays."""

    def __init__(self):
        self._names = PackedRecords(2)
        self._offsets = array.array("Q")
        self._lengths = array.array("Q")

    def append(self, namespace, name, reference):
        self._names.append(namespace, name)
        self._offsets.append(reference[0])
        self._lengths.append(reference[1])

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        for (namespace, name), offset, length in zip(self._names, self._offsets, self._lengths):
            yield namespace, name, (offset, length)


class GroupIndex(object):
    """The items of one group-resource in the archive: names and spool references only."""

    def __init__(self, group_resource, namespaced):
        self.group_resource = group_resource
        self.namespaced = namespaced
        self.entries = ItemEntries()
        self.preferred_only = ItemEntries()  # entries found only under <version>-preferredversion/

    def items(self):
        return self.entries if len(self.entries) else self.preferred_only


class ExtractedBackup(object):
    """The items of a Velero tarball in one spool file (anonymous, in a private directory), with
    an index of them by group-resource."""

    def __init__(self, directory):
        self.groups = {}
        self.format_version = None
        self._spool = tempfile.TemporaryFile(dir=directory)
        self._size = 0

    def add(self, data):
        """Keep an item's JSON; returns its reference for ``load``."""
        self._spool.write(data)
        reference = (self._size, len(data))
        self._size += len(data)
        return reference

    def sealed(self):
        """Done adding: what was added becomes readable (from any thread)."""
        self._spool.flush()
        return self

    def load(self, reference):
        offset, length = reference
        return json.loads(os.pread(self._spool.fileno(), length, offset).decode("utf-8"))

    def close(self):
        self._spool.close()

    def group(self, group_resource):
        return self.groups.get(group_resource)

    def items_of(self, group_resource):
        """(namespace, name, item) of every item of a group-resource, read one at a time."""
        index = self.groups.get(group_resource)
        for namespace, name, reference in (index.items() if index else ()):
            item = self.load(reference)
            if namespace:
                item.setdefault("metadata", {})["namespace"] = namespace  # the path decides, as in Velero
            yield namespace, name, item


def _check_item(path, data):
    try:
        item = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise ArchiveError("backup archive entry %s is not valid JSON: %s" % (path, error))
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict) \
            or not item["metadata"].get("name") or not item.get("apiVersion") or not item.get("kind"):
        raise ArchiveError("backup archive entry %s is not a Kubernetes object (apiVersion, kind and "
                           "metadata.name are required)" % path)
    return item


def extract_backup(fileobj, directory, max_size):
    """Read a Velero tarball's items into a spool file in ``directory`` (private) and index them.

    Raises ArchiveError for a hostile or broken archive (see the module doc); nothing but the
    anonymous spool file is written, so no entry's path can reach the filesystem. Headers count
    towards ``max_size`` so that an archive of countless empty entries is capped too."""
    extracted = ExtractedBackup(directory)
    try:
        _index_archive(extracted, fileobj, max_size)
    except BaseException:
        extracted.close()
        raise
    return extracted.sealed()


def _index_archive(extracted, fileobj, max_size):
    total = 0
    for path, data in archive.iter_archive(fileobj, max_size):
        total += len(data) + TAR_HEADER_SIZE
        if total > max_size:
            raise ArchiveError("backup archive expands beyond %d bytes; refusing it" % max_size)
        if path == archive.VERSION_ENTRY:
            extracted.format_version = data.decode("utf-8", "replace").strip()
            continue
        parsed = archive.parse_item_path(path)
        if parsed is None:
            continue  # neither metadata/version nor resources/: not ours to read
        index = extracted.groups.get(parsed.group_resource)
        if parsed.version is not None and index is not None and index.entries:
            continue  # a copy of a type whose plain copies are restored: neither kept nor indexed
        item = _check_item(path, data)
        if index is None:
            index = extracted.groups[parsed.group_resource] = GroupIndex(parsed.group_resource,
                                                                         parsed.namespace is not None)
        entry = (parsed.namespace, item["metadata"]["name"], extracted.add(data))
        if parsed.version is not None:
            index.preferred_only.append(*entry)
        else:
            index.entries.append(*entry)
            if len(index.preferred_only):
                index.preferred_only = ItemEntries()  # the plain copies are restored, as Velero does
    if not extracted.groups:
        raise ArchiveError("backup archive holds no resources/ entries: it is not a Velero backup or it is empty")
    if extracted.format_version and not extracted.format_version.startswith("1."):
        raise ArchiveError("backup archive format %s is not supported (1.x is)" % extracted.format_version)
