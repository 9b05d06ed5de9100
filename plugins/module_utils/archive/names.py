# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Item names kept for a whole backup without a Python object per name: a set of their
fingerprints in flat arrays (dedupe, membership) and a sorted spool in a temporary file (the
resource list). A string per name plus its set slot cost about 110 bytes an item, kept to
the end of the run and scattered between the freed item dicts, so the process grew with it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import heapq
import os
import tempfile
from array import array

_SEGMENT_BITS = 6  # the set is 64 tables that grow one at a time: no moment holds a whole old and new table
_INITIAL_SLOTS = 64  # per table
_READ_SIZE = 8 * 1024  # per sorted run being merged: the decoded lines of one read are held meanwhile
SPOOL_CHUNK = 20000  # names held in memory before a sorted run goes to the file (about 2 MiB)


_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes


def _fingerprint(text):
    """96 bits of BLAKE2b: two names that differ never share one in practice (a collision among
    a million names has a chance of about 1 in 10^17), so membership is taken as exact."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    return int.from_bytes(digest[:8], "big") | 1, int.from_bytes(digest[8:], "big")  # | 1: 0 marks a free slot


class NameSet(object):
    """A set of strings stored as their fingerprints: open addressing in arrays of 64- and 32-bit
    words (12 bytes a slot, at most two thirds of the slots used), split in tables by the
    fingerprint's top bits so that growing copies one small table at a time."""

    def __init__(self):
        self._count = 0
        self._tables = [_Table(_INITIAL_SLOTS) for _segment in range(1 << _SEGMENT_BITS)]

    def __len__(self):
        return self._count

    def __contains__(self, text):
        high, low = _fingerprint(text)
        table = self._tables[high >> (64 - _SEGMENT_BITS)]
        return table.highs[table.slot(high, low)] != 0

    def add(self, text):
        """Add a string; False when it was there already."""
        digest = _blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()  # _fingerprint, inlined
        high, low = _from_bytes(digest[:8], "big") | 1, _from_bytes(digest[8:], "big")
        table = self._tables[high >> (64 - _SEGMENT_BITS)]
        mask, highs, lows = table.mask, table.highs, table.lows
        slot = low & mask
        while True:  # Table.slot, inlined: this runs once per item
            found = highs[slot]
            if not found:
                break
            if found == high and lows[slot] == low:
                return False
            slot = (slot + 1) & mask
        highs[slot], lows[slot] = high, low
        table.count += 1
        self._count += 1
        if table.count * 3 > (mask + 1) * 2:
            table.grow()
        return True


class _Table(object):
    __slots__ = ("mask", "highs", "lows", "count")

    def __init__(self, slots):
        self.mask = slots - 1
        self.highs = array("Q", [0]) * slots
        self.lows = array("L" if array("L").itemsize == 4 else "I", [0]) * slots
        self.count = 0

    def slot(self, high, low):
        """The slot holding the fingerprint, or the free slot where it would go."""
        mask, highs, lows = self.mask, self.highs, self.lows
        slot = low & mask
        while True:
            found = highs[slot]
            if not found or (found == high and lows[slot] == low):
                return slot
            slot = (slot + 1) & mask

    def grow(self):
        highs, lows = self.highs, self.lows
        self.mask = len(highs) * 2 - 1
        self.highs = array("Q", [0]) * (self.mask + 1)
        self.lows = array(lows.typecode, [0]) * (self.mask + 1)
        for high, low in zip(highs, lows):
            if high:
                slot = self.slot(high, low)
                self.highs[slot], self.lows[slot] = high, low


def _encode(text):
    # A name holds no newline (Kubernetes does not allow one); escaped anyway, for a line per entry.
    return text.replace("\\", "\\\\").replace("\n", "\\n").encode("utf-8", "surrogatepass") + b"\n"


def _decode(line):
    text = line.decode("utf-8", "surrogatepass")
    if "\\" not in text:
        return text
    parts = text.split("\\\\")
    return "\\".join(part.replace("\\n", "\n") for part in parts)


class SortedSpool(object):
    """Strings added in any order, read back in sorted order (duplicates kept): at most ``chunk``
    of them in memory, the rest in sorted runs in a temporary file, merged on reading."""

    def __init__(self, chunk=None):
        self.chunk = chunk or SPOOL_CHUNK
        self._buffer = []
        self._runs = []  # (offset, length) of each sorted run in the file
        self._file = None
        self._size = 0

    def __len__(self):
        return len(self._buffer) + sum(count for _offset, _length, count in self._runs)

    def add(self, text):
        self._buffer.append(text)
        if len(self._buffer) >= self.chunk:
            self._spill()

    def _spill(self):
        if not self._buffer:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        self._buffer.sort()
        data = b"".join(_encode(text) for text in self._buffer)
        self._file.seek(self._size)
        self._file.write(data)
        self._file.flush()
        self._runs.append((self._size, len(data), len(self._buffer)))
        self._size += len(data)
        self._buffer = []

    def _read_run(self, offset, length):
        fd, end, rest = self._file.fileno(), offset + length, b""
        while offset < end:
            chunk = os.pread(fd, min(_READ_SIZE, end - offset), offset)
            if not chunk:
                raise IOError("the name spool file ended early")
            offset += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield _decode(line)

    def __iter__(self):
        if not self._runs:
            self._buffer.sort()
            return iter(list(self._buffer))
        self._spill()
        return heapq.merge(*[self._read_run(offset, length) for offset, length, _count in self._runs])

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        self._runs = []
        self._buffer = []
