# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-item records that live for a whole restore (the archive index, the resource list),
packed into one buffer so that memory does not grow with Python objects per item."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct


class PackedRecords(object):
    """Records of ``width`` strings (or None) kept in one growing buffer, not as Python objects.

    Per-item records that live for the whole restore, allocated between the many short-lived
    item dicts, would pin the memory pools those dicts are freed into: the process would grow
    with the item count even though the items themselves are not kept."""

    _LENGTH = struct.Struct("!I")
    _NONE = 0xFFFFFFFF

    def __init__(self, width):
        self.width = width
        self._buffer = bytearray()
        self._count = 0

    def append(self, *fields):
        if len(fields) != self.width:
            raise ValueError("a record has %d fields, not %d" % (self.width, len(fields)))
        for field in fields:
            if field is None:
                self._buffer += self._LENGTH.pack(self._NONE)
            else:
                data = field.encode("utf-8", "surrogatepass")
                self._buffer += self._LENGTH.pack(len(data))
                self._buffer += data
        self._count += 1

    def __len__(self):
        return self._count

    def __iter__(self):
        buffer, unpack, size = bytes(self._buffer), self._LENGTH.unpack_from, self._LENGTH.size
        position = 0
        for _record in range(self._count):
            fields = []
            for _field in range(self.width):
                (length,) = unpack(buffer, position)
                position += size
                if length == self._NONE:
                    fields.append(None)
                else:
                    fields.append(buffer[position:position + length].decode("utf-8", "surrogatepass"))
                    position += length
            yield tuple(fields)
