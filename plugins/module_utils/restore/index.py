# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup archive, extracted safely: its items copied into one anonymous spool file in a
private directory and indexed by group-resource.

``archive.iter_entries`` refuses absolute paths, ``..``, links and devices (the whole archive is
then refused: it is hostile); this module also caps the size including tar headers and keeps only
``metadata/`` and ``resources/``. Each item is then checked on its own (``check_item``): an entry
that is not a Kubernetes object (bad path, too big, not UTF-8, not JSON, nested too deep,
duplicate keys, numbers out of range, no name, an apiVersion of another group than its path's)
is set aside as an ``InvalidItem`` with the reason, and the restore reports it as that item's
error and goes on (docs/reliability.md). The index (names and spool offsets) goes to the spool
too, in blocks: memory holds a few numbers per block, so it stays flat in the number of items;
items are read back one at a time, tier by tier. One file, not one per item: creating and removing
a file per item cost a third of a restore's CPU time, in the filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import json
import math
import os
import re
import struct
import tempfile
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import version_priority

TAR_HEADER_SIZE = 512
# An item's JSON is refused beyond this: the API server takes request bodies of at most 3 MiB.
MAX_ITEM_BYTES = 8 * 1024 * 1024
# Nesting of objects and arrays: Kubernetes objects (CRD schemas included) stay far below it, and
# the restore's own copies and diffs of an item recurse once per level.
MAX_NESTING = 200
# Invalid items kept one by one; beyond, they are only counted (a hostile archive of a million
# bad entries must not grow memory or the results without bound).
MAX_INVALID_DETAILS = 1000
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_SURROGATE_ESCAPE = re.compile(br"\\u[dD][89a-fA-F]")
_BRACKETS = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(_BRACKETS)))
_STRING = re.compile(br'"(?:[^"\\]|\\.)*"')
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a DNS label, as every namespace's name

InvalidItem = namedtuple("InvalidItem", "path group_resource namespace name list_key reason")
InvalidItem.__doc__ = """An archive entry under resources/ that is not restored: its path, what the
path says (``group_resource``, ``namespace``, ``name``: None when the path itself is malformed), the
resource list key when its apiVersion and kind could be read (else None) and the reason."""


class ItemEntries(object):
    """``(source namespace or None, name, spool reference)`` of items, in the order added, packed
    into a small buffer which, once full, goes to the spool (``spill``: its ``write_block`` and
    ``read_block``; None: kept in memory). Only the place of each block stays in memory."""

    _HEAD = struct.Struct("!QIII")  # spool offset, length, namespace length (_NO_NAMESPACE: None), name length
    _NO_NAMESPACE = 0xFFFFFFFF
    BLOCK = 16 * 1024

    def __init__(self, spill=None):
        self._spill = spill
        self._tail = bytearray()
        self._blocks = array.array("Q")  # spool offset and size of each spilled block, in turn
        self._count = 0

    def append(self, namespace, name, reference):
        name = name.encode("utf-8", "surrogatepass")
        if namespace is None:
            self._tail += self._HEAD.pack(reference[0], reference[1], self._NO_NAMESPACE, len(name))
        else:
            namespace = namespace.encode("utf-8", "surrogatepass")
            self._tail += self._HEAD.pack(reference[0], reference[1], len(namespace), len(name))
            self._tail += namespace
        self._tail += name
        self._count += 1
        if self._spill is not None and len(self._tail) >= self.BLOCK:
            self._blocks.append(self._spill.write_block(self._tail))
            self._blocks.append(len(self._tail))
            self._tail = bytearray()

    def __len__(self):
        return self._count

    def __iter__(self):
        for block in range(0, len(self._blocks), 2):
            yield from self._records(self._spill.read_block(self._blocks[block], self._blocks[block + 1]))
        yield from self._records(bytes(self._tail))

    def _records(self, data):
        unpack, size, position = self._HEAD.unpack_from, self._HEAD.size, 0
        while position < len(data):
            offset, length, namespace_length, name_length = unpack(data, position)
            position += size
            namespace = None
            if namespace_length != self._NO_NAMESPACE:
                namespace = data[position:position + namespace_length].decode("utf-8", "surrogatepass")
                position += namespace_length
            name = data[position:position + name_length].decode("utf-8", "surrogatepass")
            position += name_length
            yield namespace, name, (offset, length)


class GroupIndex(object):
    """The items of one group-resource in the archive: names and spool references only.

    A backup made with every served version (``all_api_versions``, Velero's EnableAPIGroupVersions)
    holds the items again under ``<version>/`` for each other version: ``versions``. The restore
    chooses one (``restore/versions.py``); until then, and when it chooses the preferred version,
    the plain copies are restored."""

    def __init__(self, group_resource, namespaced, spill=None):
        self.group_resource = group_resource
        self.namespaced = namespaced
        self.spill = spill  # where full blocks of entries go (ItemEntries)
        self.entries = ItemEntries(spill)
        self.preferred_only = ItemEntries(spill)  # entries found only under <version>-preferredversion/
        self.preferred_version = None  # the version of the <version>-preferredversion/ folder
        self.versions = {}  # version -> ItemEntries under <version>/ (not the preferred one)
        self.chosen_version = None  # a key of ``versions`` once chosen; None: the plain copies

    def version_entries(self, version):
        """The ItemEntries under ``<version>/``, made on first use."""
        if version not in self.versions:
            self.versions[version] = ItemEntries(self.spill)
        return self.versions[version]

    def items(self):
        if self.chosen_version is not None:
            return self.versions[self.chosen_version]
        if len(self.entries):
            return self.entries
        if not len(self.preferred_only) and self.versions:  # only version folders: the highest priority one
            return self.versions[min(self.versions, key=version_priority)]
        return self.preferred_only


class ExtractedBackup(object):
    """The items of a Velero tarball in one spool file (anonymous, in a private directory), with
    an index of them by group-resource."""

    def __init__(self, directory):
        self.groups = {}
        self.format_version = None
        self.invalid = []  # InvalidItem, the first MAX_INVALID_DETAILS
        self.invalid_count = 0
        self._spool = tempfile.TemporaryFile(dir=directory)
        self._size = 0

    def add(self, data):
        """Keep an item's JSON; returns its reference for ``load``."""
        return (self.write_block(data), len(data))

    def write_block(self, data):
        """Append bytes to the spool (an item, or a block of the index); returns their offset."""
        self._spool.write(data)
        offset = self._size
        self._size += len(data)
        return offset

    def read_block(self, offset, length):
        self._spool.flush()  # a block read while indexing: the spool's buffer first
        return os.pread(self._spool.fileno(), length, offset)

    def reject(self, invalid):
        """Set aside an entry that is not restored (see ``InvalidItem``)."""
        self.invalid_count += 1
        if len(self.invalid) < MAX_INVALID_DETAILS:
            self.invalid.append(invalid)

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

    def versions_of(self, group_resource):
        """``(versions, preferred)``: every version the backup holds a group-resource in and its
        preferred one (its ``-preferredversion`` folder's, else the apiVersion of a plain copy)."""
        index = self.groups.get(group_resource)
        if index is None:
            return [], None
        preferred = index.preferred_version
        plain = index.entries if len(index.entries) else index.preferred_only
        if preferred is None and len(plain):
            preferred = self.load(next(iter(plain))[2]).get("apiVersion", "").rpartition("/")[2] or None
        versions = set(index.versions)
        if preferred is not None and len(plain):
            versions.add(preferred)
        return sorted(versions), preferred

    def items_of(self, group_resource):
        """(namespace, name, item) of every item of a group-resource, read one at a time."""
        index = self.groups.get(group_resource)
        for namespace, name, reference in (index.items() if index else ()):
            item = self.load(reference)
            if namespace:
                item["metadata"]["namespace"] = namespace  # the path decides, as in Velero
            else:
                item["metadata"].pop("namespace", None)  # a cluster path: never a namespace of its own
            yield namespace, name, item


class _Invalid(ValueError):
    """Raised by the JSON hooks below; its text is the reason."""


def _object(pairs):
    item = dict(pairs)
    if len(item) != len(pairs):
        seen = set()
        duplicate = next(key for key, _value in pairs if key in seen or seen.add(key))
        raise _Invalid("has the key %r twice in one object" % duplicate[:100])
    return item


def _integer(text):
    if len(text) > 20 or not INT64_MIN <= int(text) <= INT64_MAX:
        raise _Invalid("has the integer %s, out of the 64-bit range" % (text[:30] + ("..." if len(text) > 30 else "")))
    return int(text)


def _float(text):
    value = float(text)
    if math.isinf(value):
        raise _Invalid("has the number %s, out of the 64-bit floating point range" % text[:30])
    return value


def _constant(name):
    raise _Invalid("has %s, which is not JSON" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_float=_float,
                            parse_constant=_constant)


def _nesting(data):
    """How deeply objects and arrays nest in a JSON text, without parsing it (no recursion)."""
    if data.count(b"{") + data.count(b"[") <= MAX_NESTING:
        return 0  # cannot be deeper: the common case, counted in C
    depth = deepest = 0
    for byte in _STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        depth += _BRACKETS[byte]
        if depth > deepest:
            deepest = depth
    return deepest


def _strings(value):
    """Every string of a parsed JSON value (keys included), walked without recursion."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _has_lone_surrogate(data, item):
    """A ``\\udXXX`` escape that is not half of a pair: text no UTF-8 writer (the log, the API
    server) can encode. Go's and Python's writers never escape such code points, so the slow
    walk runs only when the raw text holds one."""
    if not _SURROGATE_ESCAPE.search(data):
        return False
    for text in _strings(item):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def printable(text):
    """Text for messages and the log: an unpaired surrogate (a tar path's undecodable byte, a JSON
    escape) becomes its escape sequence instead of failing every UTF-8 writer later."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _string_map(value):
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _check_metadata(metadata, parsed):
    """Why the metadata is unusable (None: usable): the fields filters, item actions and the
    report read, with the types they expect."""
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return "has no metadata.name"
    if parsed is not None and name != parsed.name:
        return "has metadata.name %s, not the name of its path" % printable(repr(name[:253]))
    if len(name) > 253 or "/" in name or "%" in name or name in (".", ".."):
        return "has an invalid metadata.name"
    for key in ("labels", "annotations"):
        if metadata.get(key) is not None and not _string_map(metadata[key]):
            return "has metadata.%s that is not a map of strings" % key
    for key in ("namespace", "generateName", "uid", "resourceVersion", "deletionTimestamp"):
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            return "has metadata.%s that is not a string" % key
    for key in ("ownerReferences", "finalizers", "managedFields"):
        if metadata.get(key) is not None and not isinstance(metadata[key], list):
            return "has metadata.%s that is not a list" % key
    if not all(isinstance(ref, dict) for ref in metadata.get("ownerReferences") or ()):
        return "has an owner reference that is not an object"
    return None


def check_item(path, data, parsed=None):
    """The item an archive entry holds, checked on its own; ArchiveError (naming the entry and
    the reason) when it is not a Kubernetes object this restore can handle. ``parsed``: the
    entry's ArchivePath, to check the item against it."""
    problem = None
    item = None
    try:
        if len(data) > MAX_ITEM_BYTES:
            problem = "is %d bytes; an item is at most %d" % (len(data), MAX_ITEM_BYTES)
        elif _nesting(data) > MAX_NESTING:
            problem = "is nested deeper than %d levels" % MAX_NESTING
        else:
            item = _DECODER.decode(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        problem = "is not valid UTF-8 (byte %d)" % error.start
    except _Invalid as error:
        problem = str(error)
    except (ValueError, RecursionError) as error:
        problem = "is not valid JSON: %s" % str(error)[:200]
    if problem is None:
        problem = _check_object(data, item, parsed)
    if problem is not None:
        raise ArchiveError("backup archive entry %s %s" % (printable(path), problem))
    return item


def _check_object(data, item, parsed):
    if not isinstance(item, dict):
        return "is not a Kubernetes object (a JSON object with apiVersion, kind and metadata.name is required)"
    api_version, kind, metadata = item.get("apiVersion"), item.get("kind"), item.get("metadata")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind \
            or not isinstance(metadata, dict):
        return "is not a Kubernetes object (apiVersion, kind and metadata.name are required)"
    group, _slash, version = api_version.rpartition("/")
    if not version or "/" in group:
        return "has the invalid apiVersion %r" % api_version[:100]
    if parsed is not None and group != parsed.group_resource.partition(".")[2]:
        return "is a %s %s, not of the API group of its path (%s)" % (
            printable(api_version[:100]), printable(kind[:100]), parsed.group_resource)
    problem = _check_metadata(metadata, parsed)
    if problem is None and _has_lone_surrogate(data, item):
        problem = "holds an unpaired UTF-16 surrogate escape, which is not text"
    return problem


# The name the property tests and older callers use.
_check_item = check_item


def extract_backup(fileobj, directory, max_size, item_check=None):
    """Read a Velero tarball's items into a spool file in ``directory`` (private) and index them.

    Raises ArchiveError for a hostile or broken archive (see the module doc); nothing but the
    anonymous spool file is written, so no entry's path can reach the filesystem. Headers count
    towards ``max_size`` so that an archive of countless empty entries is capped too.
    ``item_check`` (restore/integrity.ItemCheck, or None): the entries pass through it as they are
    read, so the tarball is read once for both; it raises when they do not match the manifest."""
    extracted = ExtractedBackup(directory)
    try:
        _index_archive(extracted, fileobj, max_size, item_check)
    except BaseException:
        extracted.close()
        raise
    return extracted.sealed()


def _index_archive(extracted, fileobj, max_size, item_check):
    total = 0
    entries = False
    if item_check is None:
        read = archive.iter_entries(fileobj, max_size, MAX_ITEM_BYTES)
    else:  # every entry's bytes are digested, an oversized one's too (then dropped below, as unread)
        read = item_check.entries(archive.iter_entries(fileobj, max_size))
    for path, size, data in read:
        if data is not None and len(data) > MAX_ITEM_BYTES:
            data = None
        total += size + TAR_HEADER_SIZE
        if total > max_size:
            raise ArchiveError("backup archive expands beyond %d bytes; refusing it" % max_size)
        if path == archive.VERSION_ENTRY:
            extracted.format_version = (data or b"").decode("utf-8", "replace").strip()[:100]
            continue
        try:
            parsed = archive.parse_item_path(path)
        except ArchiveError:
            parsed = False
        if parsed is not None and _bad_path(parsed):
            entries = True
            extracted.reject(InvalidItem(printable(path), None, None, None, None, "backup archive entry %s is not at a "
                                         "path Velero writes (resources/<resource>/namespaces/<namespace>/<name>.json "
                                         "or resources/<resource>/cluster/<name>.json, in UTF-8)" % printable(path)))
            continue
        if parsed is None:
            continue  # neither metadata/version nor resources/: not ours to read
        entries = True
        index = extracted.groups.get(parsed.group_resource)
        preferred_copy = parsed.version is not None and archive.is_preferred_copy(path)
        if preferred_copy and index is not None and index.entries:
            index.preferred_version = parsed.version
            continue  # a copy of a type whose plain copies are restored: neither kept nor indexed
        if data is None:
            extracted.reject(InvalidItem(path, parsed.group_resource, parsed.namespace, parsed.name, None,
                                         "backup archive entry %s is %d bytes; an item is at most %d"
                                         % (path, size, MAX_ITEM_BYTES)))
            continue
        try:
            item = check_item(path, data, parsed)
        except ArchiveError as error:
            extracted.reject(InvalidItem(path, parsed.group_resource, parsed.namespace, parsed.name,
                                         _list_key(data), str(error)))
            continue
        if index is None:
            index = extracted.groups[parsed.group_resource] = GroupIndex(parsed.group_resource,
                                                                         parsed.namespace is not None, extracted)
        entry = (parsed.namespace, item["metadata"]["name"], extracted.add(data))
        if preferred_copy:
            index.preferred_version = parsed.version
            index.preferred_only.append(*entry)
        elif parsed.version is not None:  # another served version, kept until the restore chooses one
            index.version_entries(parsed.version).append(*entry)
        else:
            index.entries.append(*entry)
            if len(index.preferred_only):
                index.preferred_only = ItemEntries(extracted)  # the plain copies are restored, as Velero does
    if not entries:
        raise ArchiveError("backup archive holds no resources/ entries: it is not a Velero backup or it is empty")
    if extracted.format_version and not extracted.format_version.startswith("1."):
        raise ArchiveError("backup archive format %s is not supported (1.x is)" % extracted.format_version)


def _bad_path(parsed):
    """Whether a parsed item path (False: unparsable) is not one Velero writes: its text not UTF-8
    (tar gives undecodable bytes as surrogates), or its namespace not a namespace's name."""
    if parsed is False:
        return True
    if parsed.namespace is not None and not _NAMESPACE.match(parsed.namespace):
        return True
    text = "/".join(p for p in parsed if p)
    return not text.isascii() and printable(text) != text  # ASCII holds no surrogate


def _list_key(data):
    """``apiVersion/kind`` of an entry that failed its check, when plainly readable (else None)."""
    try:
        item = json.loads(data.decode("utf-8")) if len(data) < 65536 and _nesting(data) <= MAX_NESTING else None
    except (ValueError, RecursionError):
        return None
    if isinstance(item, dict) and isinstance(item.get("apiVersion"), str) and isinstance(item.get("kind"), str):
        return printable("%s/%s" % (item["apiVersion"][:100], item["kind"][:100]))
    return None
