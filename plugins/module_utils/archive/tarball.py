# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's backup tarball (``<name>.tar.gz``): naming, a streaming writer and a safe reader.

Layout (gzip over tar, regular files only, no directory entries)::

    metadata/version                                     "1.1.0\\n", always first
    resources/<gr>/namespaces/<ns>/<name>.json           namespaced item
    resources/<gr>/cluster/<name>.json                   cluster-scoped item
    resources/<gr>/<version>-preferredversion/...        the same item again when its version
                                                         is the server-preferred one
    resources/<gr>/<version>/...                         the item in another version the server
                                                         serves (Velero's EnableAPIGroupVersions;
                                                         k8s_backup all_api_versions)

``<gr>`` is ``resource.group`` (``deployments.apps``) or just ``resource`` for the core group.
The writer streams: memory does not grow with the number of items. The reader never
writes outside the directory it is given and refuses absolute paths, ``..``, links,
devices and archives whose content exceeds a size cap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import gzip
import json
import os
import posixpath
import shutil
import tarfile
import time
import zlib
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.archive.tar_entries import TarEntries
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError

FORMAT_VERSION = "1.1.0"
VERSION_ENTRY = "metadata/version"
RESOURCES_DIR = "resources"
NAMESPACED_DIR = "namespaces"
CLUSTER_DIR = "cluster"
PREFERRED_VERSION_SUFFIX = "-preferredversion"
DEFAULT_MAX_TOTAL_SIZE = 8 * 1024 ** 3  # uncompressed bytes a reader accepts by default
ENTRY_MODE = 0o755  # what Velero writes
# The tarball's gzip level: any level reads the same (gzip, tar and Velero), so it is chosen for the
# backup's CPU. Levels 1-3 skip the hash-chain work inside long matches, which is what an item's
# preferred-version copy and the tar padding are; level 6 (Go's default) took 0.59 s of CPU for a
# backup of 30,300 items (127 MB of tar), level 3 0.28 s for an archive 1.5 times as large
# (docs/performance.md, "The tarball's gzip level").
TARBALL_GZIP_LEVEL = 3


def encode_json(obj):
    """Compact JSON with sorted keys (as Go's encoding/json writes maps)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


_ITEM_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_item(item):
    """An item as compact JSON, keys in the order the API server sent them."""
    return _ITEM_ENCODER.encode(item).encode("utf-8")


# ---------------------------------------------------------------- naming

def item_path(group_resource, namespace, name, version=None, preferred=True):
    """The archive path of an item; ``version`` set gives the ``<version>-preferredversion`` copy, or
    with ``preferred`` false the ``<version>`` copy of a version that is not the preferred one."""
    return item_folder(group_resource, namespace, version, preferred) + name + ".json"


@functools.lru_cache(maxsize=4096)
def item_folder(group_resource, namespace, version=None, preferred=True):
    """The folder (with its final ``/``) an item's path starts with: made once per type and namespace."""
    parts = [RESOURCES_DIR, group_resource]
    if version:
        parts.append(version + PREFERRED_VERSION_SUFFIX if preferred else version)
    if namespace:
        parts.extend([NAMESPACED_DIR, namespace])
    else:
        parts.append(CLUSTER_DIR)
    return "/".join(parts) + "/"


def item_paths(api_resource, item):
    """Every path an item is written at: the plain one, plus the preferred-version copy."""
    metadata = item.get("metadata") or {}
    namespace = metadata.get("namespace") if api_resource.namespaced else None
    leaf = metadata.get("name") + ".json"
    group_resource = api_resource.group_resource
    if api_resource.preferred:
        return [item_folder(group_resource, namespace) + leaf, item_folder(group_resource, namespace, api_resource.version) + leaf]
    return [item_folder(group_resource, namespace) + leaf]


def version_copy_path(api_resource, item):
    """The path of an item listed in a version that is not its group's preferred one:
    ``resources/<gr>/<version>/namespaces/<ns>/<name>.json`` (or ``.../cluster/<name>.json``)."""
    metadata = item.get("metadata") or {}
    namespace = metadata.get("namespace") if api_resource.namespaced else None
    return item_path(api_resource.group_resource, namespace, metadata.get("name"), api_resource.version, preferred=False)


def is_preferred_copy(path):
    """Whether an item path is under a ``<version>-preferredversion`` folder."""
    parts = path.split("/")
    return len(parts) > 3 and parts[2].endswith(PREFERRED_VERSION_SUFFIX)


ArchivePath = namedtuple("ArchivePath", "group_resource version namespace name")
ArchivePath.__doc__ = """A parsed item path: ``version`` is set only for ``-preferredversion`` copies
(and for Velero's other version folders, ``<version>``), ``namespace`` is None for cluster items."""


def parse_item_path(path):
    """Inverse of ``item_path``: an ArchivePath, or None for paths that are not items
    (``metadata/version``). Raises ArchiveError for malformed ``resources/`` paths."""
    parts = path.split("/")
    if not parts or parts[0] != RESOURCES_DIR:
        return None
    if len(parts) < 4 or not parts[-1].endswith(".json") or len(parts[-1]) <= len(".json"):
        raise ArchiveError("unexpected path in backup archive: %s" % path)
    group_resource = parts[1]
    rest = parts[2:]
    version = None
    if rest[0] not in (NAMESPACED_DIR, CLUSTER_DIR):
        version_dir = rest[0]
        version = version_dir[:-len(PREFERRED_VERSION_SUFFIX)] if version_dir.endswith(
            PREFERRED_VERSION_SUFFIX) else version_dir
        rest = rest[1:]
    name = rest[-1][:-len(".json")]
    if len(rest) == 3 and rest[0] == NAMESPACED_DIR:
        return ArchivePath(group_resource, version, rest[1], name)
    if len(rest) == 2 and rest[0] == CLUSTER_DIR:
        return ArchivePath(group_resource, version, None, name)
    raise ArchiveError("unexpected path in backup archive: %s" % path)


# ---------------------------------------------------------------- writer

BLOCK = 512
RECORD = 20 * BLOCK  # tar pads the archive to whole records
FLUSH_SIZE = 256 * 1024
COPY_CHUNK = 1024 * 1024
_PADDING = [b"\0" * size for size in range(BLOCK)]


def _octal(value, width):
    """A NUL-terminated, zero-padded octal tar header field."""
    return ("%0*o" % (width - 1, value)).encode("ascii") + b"\0"


def _split_ustar_name(path):
    """(prefix, name) fitting ustar's 155/100-byte fields, or None when the path cannot fit."""
    encoded = path.encode("utf-8")
    if len(encoded) <= 100:
        return b"", encoded
    for index in range(len(encoded) - 1, 0, -1):
        if encoded[index:index + 1] == b"/" and index <= 155 and len(encoded) - index - 1 <= 100:
            return encoded[:index], encoded[index + 1:]
    return None


_ZERO_IDS = _octal(0, 8) * 2  # uid, gid
# type, linkname, magic+version, uname, gname, devmajor, devminor (after the checksum field)
_USTAR_MIDDLE = tarfile.REGTYPE + b"\0" * 100 + b"ustar\x0000" + b"\0" * 64 + _octal(0, 8) * 2
_CHECKSUM_PLACEHOLDER = sum(b" " * 8)  # the checksum is computed with its own field as spaces


@functools.lru_cache(maxsize=16)
def _fixed_fields(mode, mtime):
    """The header fields every entry of a writer shares, and their share of the checksum (NUL
    padding adds nothing to it): summing 512 bytes per header cost more than the rest of it."""
    fields = _octal(mode, 8) + _ZERO_IDS
    mtime_field = _octal(mtime, 12)
    return fields, mtime_field, sum(fields) + sum(mtime_field) + _CHECKSUM_PLACEHOLDER + sum(_USTAR_MIDDLE)


# After the checksum of a path that fits the name field: typeflag .. devminor, and an empty prefix.
_SHORT_PATH_TAIL = _USTAR_MIDDLE + b"\0" * (155 + 12)


def ustar_header(path, size, mtime, mode=ENTRY_MODE):
    """The 512-byte header of a regular file: ustar when the path fits, else PAX (long paths)."""
    fields, mtime_field, fixed_sum = _fixed_fields(mode, mtime)
    size_field = b"%011o\0" % size
    encoded = path.encode("utf-8")
    if len(encoded) <= 100:  # twice per item: no split, no prefix field to fill
        checksum = fixed_sum + sum(encoded) + sum(size_field)
        return b"".join((encoded.ljust(100, b"\0"), fields, size_field, mtime_field, b"%06o\0 " % checksum,
                         _SHORT_PATH_TAIL))
    split = _split_ustar_name(path)
    if split is None:
        info = tarfile.TarInfo(path)
        info.size, info.mtime, info.mode, info.type = size, mtime, mode, tarfile.REGTYPE
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    prefix, name = split
    checksum = fixed_sum + sum(name) + sum(prefix) + sum(size_field)
    return b"".join([
        name.ljust(100, b"\0"), fields, size_field, mtime_field, ("%06o" % checksum).encode("ascii"), b"\0 ",
        _USTAR_MIDDLE, prefix.ljust(155, b"\0"), b"\0" * 12,
    ])


class ArchiveWriter(object):
    """Streams a Velero tarball into a binary file object. ``metadata/version`` is written
    on construction; ``add_item`` writes each item (twice for a preferred version).

    Headers are built directly (ustar, PAX for over-long paths): tarfile's generic writer costs
    more than the JSON encoding and remembers every member, which would grow with the item count.

    A *fragment* is a run of tar entries compressed as gzip members of its own, written by another
    process (``fragment=True``: no version entry, no end-of-archive, ``close`` returns the
    uncompressed size) and spliced in with ``append_fragments``: a gzip stream may be several
    members one after the other (RFC 1952), read as one stream by gzip, tar and Go (Velero)."""

    def __init__(self, fileobj, compresslevel=TARBALL_GZIP_LEVEL, mtime=None, fragment=False, item_log=None):
        self.mtime = int(mtime if mtime is not None else time.time())
        # Told of every entry as it is written (``add(path, data)``) and of spliced fragments' logs
        # (``extend(log)``): the backup's item digests, without reading the archive back.
        self.item_log = item_log
        self.compresslevel = compresslevel
        self.fragment = fragment
        self._fileobj = fileobj
        self._gzip = self._new_member()
        self._written = 0
        self._pending = []  # small writes gathered into large ones: zlib is much faster on big chunks
        self._pending_size = 0
        self.entries = 0
        self.uncompressed_bytes = 0
        if not fragment:
            self.add_file(VERSION_ENTRY, (FORMAT_VERSION + "\n").encode("ascii"))

    def _new_member(self):
        return gzip.GzipFile(fileobj=self._fileobj, mode="wb", compresslevel=self.compresslevel, mtime=self.mtime)

    def _write(self, data):
        self._pending.append(data)
        self._pending_size += len(data)
        self._written += len(data)
        if self._pending_size >= FLUSH_SIZE:
            self._flush()

    def _flush(self):
        if self._pending:
            self._gzip.write(b"".join(self._pending))
            self._pending = []
            self._pending_size = 0

    def add_file(self, path, data):
        self.add_copies([path], data)

    def add_copies(self, paths, data):
        """The same bytes at each path (an item and its preferred-version copy): one write, one digest."""
        size = len(data)
        padding = _PADDING[-size % BLOCK]
        parts = []
        for path in paths:
            parts += (ustar_header(path, size, self.mtime), data, padding)
        self._pending += parts
        written = sum(map(len, parts))
        self._pending_size += written
        self._written += written
        if self._pending_size >= FLUSH_SIZE:
            self._flush()
        if self.item_log is not None:
            self.item_log.add_copies(paths, data)
        self.entries += len(paths)
        self.uncompressed_bytes += size * len(paths)

    def add_item(self, api_resource, item, data=None):
        """Write one item (a dict as the API returned it; ``data``, its JSON when the caller has
        it already); returns the paths written."""
        if data is None:
            data = encode_item(item)
        paths = item_paths(api_resource, item)
        self.add_copies(paths, data)
        return paths

    def add_version_copy(self, api_resource, item, data=None):
        """Write an item listed in another served version than the preferred one, at its
        ``<version>`` path only (``version_copy_path``); returns the path."""
        path = version_copy_path(api_resource, item)
        self.add_file(path, encode_item(item) if data is None else data)
        return path

    def append_fragments(self, fragments):
        """Splice in fragments (objects with ``fileobj``, its compressed bytes; ``size``, its bytes
        of tar once decompressed; ``entries``): the current gzip member ends, the fragments' members
        follow, a new member starts."""
        self._flush()
        self._gzip.close()  # ends the member; the file object stays open
        for fragment in fragments:
            shutil.copyfileobj(fragment.fileobj, self._fileobj, COPY_CHUNK)
            self._written += fragment.size
            self.entries += fragment.entries
            if self.item_log is not None:
                self.item_log.extend(fragment.item_log)
        self._gzip = self._new_member()

    def close(self):
        """End-of-archive (two zero blocks), padded to a whole record, then the gzip trailer.
        A fragment ends without them; returns the uncompressed size written."""
        if not self.fragment:
            end = 2 * BLOCK
            end += -(self._written + end) % RECORD
            self._write(b"\0" * end)
        self._flush()
        self._gzip.close()
        return self._written

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- safe reader

def check_member(member):
    """The normalised path of a safe tar member (None for directories); ArchiveError otherwise."""
    name = member.name
    if member.isdir():
        return None
    if member.issym() or member.islnk():
        raise ArchiveError("backup archive contains a link (%s); refusing it" % name)
    if not member.isreg():
        raise ArchiveError("backup archive contains a device or special file (%s); refusing it" % name)
    return check_path(name)


def check_path(name):
    """The normalised path of a regular file's tar name; ArchiveError when it is absolute, leaves the
    archive or names nothing."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError("backup archive contains an absolute path (%s); refusing it" % name)
    if ".." in name.split("/"):
        raise ArchiveError("backup archive contains a path leaving the archive (%s); refusing it" % name)
    normalised = posixpath.normpath(name)
    if normalised in (".", "") or normalised.startswith("../"):
        raise ArchiveError("backup archive contains an invalid path (%s); refusing it" % name)
    return normalised


def iter_archive(fileobj, max_total_size=DEFAULT_MAX_TOTAL_SIZE):
    """Yield ``(path, bytes)`` for every file of a Velero tarball, streaming, after checking each
    member (see ``check_member``) and the running total of uncompressed bytes against the cap."""
    for path, _size, data in iter_entries(fileobj, max_total_size):
        yield path, data


def iter_entries(fileobj, max_total_size=DEFAULT_MAX_TOTAL_SIZE, max_entry_size=None):
    """Yield ``(path, size, bytes)`` for every file of a Velero tarball, as ``iter_archive``; a
    file over ``max_entry_size`` bytes is not read into memory: its bytes are None (the caller
    reports it), and the stream goes on with the next member."""
    total = 0
    try:
        # GzipFile, not tarfile's "r|gz": that one stops after the first gzip member.
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as stream:
            members = TarEntries(stream)
            try:
                for member, name, size in members:
                    path = check_path(name) if member is None else check_member(member)
                    if path is None:
                        continue
                    total += size
                    if total > max_total_size:
                        raise ArchiveError("backup archive expands beyond %d bytes; refusing it" % max_total_size)
                    if max_entry_size is not None and size > max_entry_size:
                        yield path, size, None  # its bytes are skipped with the next member
                        continue
                    data = members.data()
                    if len(data) != size:
                        raise ArchiveError("backup archive is truncated at %s" % path)
                    yield path, size, data
            finally:
                members.close()
    except (tarfile.TarError, zlib.error, EOFError, OSError) as error:
        raise ArchiveError("backup archive is corrupt or not a gzipped tar file: %s" % error)
    except TypeError:  # tarfile's stream reader on a gzip header cut short (ord() of an empty read)
        raise ArchiveError("backup archive is corrupt or not a gzipped tar file: truncated gzip header")


def iter_items(fileobj, max_total_size=DEFAULT_MAX_TOTAL_SIZE, include_preferred_copies=False):
    """Yield ``(ArchivePath, item dict)`` for every resource item; by default only the plain copy
    of each item (not the ``-preferredversion`` duplicate)."""
    for path, data in iter_archive(fileobj, max_total_size):
        parsed = parse_item_path(path)
        if parsed is None or (parsed.version is not None and not include_preferred_copies):
            continue
        try:
            item = json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise ArchiveError("backup archive entry %s is not valid JSON: %s" % (path, error))
        if not isinstance(item, dict):
            raise ArchiveError("backup archive entry %s is not a JSON object" % path)
        yield parsed, item


def extract_archive(fileobj, destination, max_total_size=DEFAULT_MAX_TOTAL_SIZE):
    """Extract a tarball into ``destination`` (an existing private directory); returns the list of
    relative paths written. Nothing is ever written outside ``destination``."""
    root = os.path.realpath(destination)
    written = []
    for path, data in iter_archive(fileobj, max_total_size):
        target = os.path.realpath(os.path.join(root, path))
        if not target.startswith(root + os.sep):
            raise ArchiveError("backup archive entry %s would be written outside the extraction directory" % path)
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        with open(target, "wb") as handle:
            handle.write(data)
        written.append(path)
    return written


def read_format_version(fileobj):
    """The content of ``metadata/version`` (stripped), or None when the archive has none."""
    for path, data in iter_archive(fileobj):
        if path == VERSION_ENTRY:
            return data.decode("utf-8", "replace").strip()
    return None
