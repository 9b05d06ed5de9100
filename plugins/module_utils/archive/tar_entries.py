# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The members of a tar stream, for the safe reader (``tarball.iter_entries``).

The member nearly every backup holds only, a regular file under a POSIX ustar header (what
``ArchiveWriter`` and Go's archive/tar write), is read here from the header's name, prefix, size,
type, magic and checksum. The first other header (PAX or GNU long names, directories, links,
devices, sizes in base 256, a checksum this reader does not accept) hands that header and the rest
of the stream to Python's tarfile, which reads every kind of member and says what is wrong with a
broken one. tarfile alone spent about 35 us an entry: 2.1 s of the 4.4 s a restore of 30,300 items
took before its first create (docs/performance.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tarfile

BLOCK = 512
_ZERO_BLOCK = b"\0" * BLOCK
_POSIX_MAGIC = b"ustar\x0000"  # magic and version of a POSIX ustar header
_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_BASE_256 = (0o200, 0o377)  # first byte of a number field in base 256 (GNU), not octal
_SKIP_CHUNK = 1024 * 1024


def _field(data):
    """A NUL-terminated header field."""
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def regular_file(header):
    """``(name, size)`` of a POSIX ustar header of a regular file whose checksum holds; None for
    any other header (tarfile then reads it)."""
    if header[257:265] != _POSIX_MAGIC or header[156:157] not in _REGULAR_TYPES or header[124] in _BASE_256:
        return None
    try:
        size = int(_field(header[124:136]).strip() or b"0", 8)
        checksum = int(_field(header[148:156]).strip() or b"0", 8)
    except ValueError:
        return None
    # The checksum is the sum of the header's bytes with its own field counted as 8 spaces.
    if checksum != sum(header) - sum(header[148:156]) + 256:
        return None
    name, prefix = _field(header[0:100]), _field(header[345:500])
    if not name or name.endswith(b"/"):  # tarfile's reading of these (an old-style directory) is kept
        return None
    if prefix:
        name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape"), size  # as tarfile decodes names


class _Replay(object):
    """The header already read, then the rest of the stream: what tarfile reads from."""

    def __init__(self, head, stream):
        self._head = head
        self._stream = stream

    def read(self, size=-1):
        if not self._head:
            return self._stream.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data if len(data) == size else data + self._stream.read(size - len(data))


class TarEntries(object):
    """Iterating yields ``(member, name, size)`` for each member of an uncompressed tar ``stream``:
    ``member`` is None for a regular file read here (``name`` unchecked), else tarfile's TarInfo.
    ``data()`` reads the current member's bytes (fewer when the stream ends early), ``skip()`` leaves
    them unread; tarfile members must be read with ``data()`` too. tarfile's exceptions pass through."""

    def __init__(self, stream):
        self._stream = stream
        self._tar = None
        self._member = None  # the tarfile member being read
        self._left = 0  # bytes of the current regular file, then its padding, not read yet
        self._size = 0
        self._read_any = False

    def __iter__(self):
        while True:
            self.skip()
            header = self._stream.read(BLOCK)
            if self._read_any and (len(header) < BLOCK or header == _ZERO_BLOCK):
                return  # end of the archive, as tarfile ends it
            parsed = regular_file(header) if len(header) == BLOCK else None
            if parsed is None:
                break
            self._read_any = True
            name, self._size = parsed
            self._left = self._size + (-self._size % BLOCK)
            yield None, name, self._size
        # The rest, from the header just read, through tarfile (its first header is this one).
        self._tar = tarfile.open(fileobj=_Replay(header, self._stream), mode="r|")
        while True:
            member = self._tar.next()
            if member is None:
                return
            # tarfile keeps every header it reads, even streaming: about 500 bytes an entry, the whole
            # archive's worth by the end. Nothing here looks a member up again.
            self._tar.members.clear()
            self._member = member
            yield member, member.name, member.size

    def data(self):
        if self._tar is not None:
            handle = self._tar.extractfile(self._member)
            return handle.read() if handle is not None else b""
        data = self._stream.read(self._size)
        self._left -= len(data)
        return data

    def skip(self):
        """Leave the current member's bytes unread (tarfile skips its own on the next member)."""
        while self._tar is None and self._left > 0:
            passed = len(self._stream.read(min(self._left, _SKIP_CHUNK)))
            if not passed:
                raise tarfile.ReadError("unexpected end of data")  # as tarfile says it
            self._left -= passed

    def close(self):
        if self._tar is not None:
            self._tar.close()
