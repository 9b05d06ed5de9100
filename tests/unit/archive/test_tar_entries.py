"""The safe reader's own parsing of plain ustar members (archive/tar_entries.py) reads what tarfile reads.

Seeded random archives (``KUBEDR_TAR_SEED`` replays one) in tarfile's three formats, with names that need the
ustar prefix, PAX or GNU long names, directories, empty and block-sized files, each read by ``iter_entries``
and by tarfile alone; then cut short and with a header broken, where both must refuse the archive or read the
same entries. One difference is wanted: tarfile ends an archive silently at a broken header after the first
(what it read until then), the reader refuses it (as Go's archive/tar, so Velero, does)."""
import gzip
import io
import os
import random
import tarfile

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tar_entries
from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import ArchiveWriter, check_member, iter_entries
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError

SEED = int(os.environ.get("KUBEDR_TAR_SEED", "20261203"))
FORMATS = (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT)


def random_name(rng):
    kind = rng.random()
    segment = "".join(rng.choice("abcdefghij-.") for _letter in range(rng.randint(1, 12)))
    if kind < 0.5:
        return "resources/configmaps/namespaces/ns/%s.json" % segment
    if kind < 0.7:  # over 100 bytes: the ustar prefix (or PAX / GNU long names)
        return "resources/%s/namespaces/%s/%s.json" % ("g" * rng.randint(20, 60), "n" * 63, segment * 4)
    if kind < 0.8:  # over 255 bytes: never plain ustar
        return "resources/x/namespaces/ns/%s.json" % ("l" * rng.randint(250, 300))
    if kind < 0.9:
        return "resources/configmaps/namespaces/ns/caf\u00e9-%s.json" % segment
    return "resources/secrets/namespaces/ns/%s.json" % segment


def random_archive(rng, tar_format):
    """An uncompressed tar stream; the formats tarfile cannot write a member in are left out of it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for _number in range(rng.randint(0, 12)):
            if rng.random() < 0.1:
                info = tarfile.TarInfo("resources/dir-%d" % rng.randint(0, 99))
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            data = os.urandom(rng.choice([0, 1, 511, 512, 513, 1500, rng.randint(0, 5000)]))
            info = tarfile.TarInfo(random_name(rng))
            info.size = len(data)
            try:
                tar.addfile(info, io.BytesIO(data))
            except ValueError:  # a name plain ustar cannot hold
                continue
    return buffer.getvalue()


def by_tarfile(data, max_entry_size=None):
    """What tarfile alone reads, checked as the reader checks; "refused" when it refuses the archive."""
    entries = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
            for member in tar:
                path = check_member(member)
                if path is None:
                    continue
                if max_entry_size is not None and member.size > max_entry_size:
                    entries.append((path, member.size, None))
                    continue
                content = tar.extractfile(member).read()
                if len(content) != member.size:
                    return "refused"
                entries.append((path, member.size, content))
    except (tarfile.TarError, EOFError, ArchiveError):
        return "refused"
    return entries


def by_reader(data, max_entry_size=None):
    try:
        return list(iter_entries(io.BytesIO(gzip.compress(data)), max_entry_size=max_entry_size))
    except ArchiveError:
        return "refused"


def test_random_archives_read_as_tarfile_reads_them():
    rng = random.Random(SEED)
    for case in range(300):
        tar_format = FORMATS[case % len(FORMATS)]
        data = random_archive(rng, tar_format)
        limit = rng.choice([None, 512, 2000])
        assert by_reader(data, limit) == by_tarfile(data, limit), "seed %d, case %d" % (SEED, case)


def test_cut_short_or_broken_archives_are_refused_or_read_alike():
    rng = random.Random(SEED + 1)
    for case in range(300):
        data = random_archive(rng, FORMATS[case % len(FORMATS)])
        if not data:
            continue
        if case % 2:
            damaged = data[:rng.randint(0, len(data) - 1)]
        else:
            at = rng.randrange(0, len(data))
            damaged = data[:at] + bytes([data[at] ^ (1 << rng.randint(0, 7))]) + data[at + 1:]
        read, expected = by_reader(damaged), by_tarfile(damaged)
        if read != expected:
            # tarfile ends silently at a broken header after the first; the reader refuses the archive.
            assert read == "refused" and expected != "refused", "seed %d, case %d" % (SEED + 1, case)
            whole = by_tarfile(data)
            assert expected == whole[:len(expected)], "seed %d, case %d" % (SEED + 1, case)


def test_the_writers_archives_never_need_tarfile(monkeypatch):
    # What ArchiveWriter writes (ustar, prefix for long paths) is read without tarfile's help.
    buffer = io.BytesIO()
    with ArchiveWriter(buffer) as writer:
        writer.add_file("resources/configmaps/namespaces/ns/a.json", b"{}")
        writer.add_file("resources/%s/namespaces/%s/b.json" % ("g" * 60, "n" * 63), b"x" * 513)
    buffer.seek(0)
    monkeypatch.setattr(tar_entries.tarfile, "open", pytest.fail)
    assert [(path, size) for path, size, _data in iter_entries(buffer)] == [
        ("metadata/version", 6), ("resources/configmaps/namespaces/ns/a.json", 2),
        ("resources/%s/namespaces/%s/b.json" % ("g" * 60, "n" * 63), 513)]


def test_a_broken_header_after_the_first_refuses_the_archive():
    buffer = io.BytesIO()
    with ArchiveWriter(buffer) as writer:
        writer.add_file("resources/configmaps/namespaces/ns/a.json", b"{}")
        writer.add_file("resources/configmaps/namespaces/ns/b.json", b"{}")
    raw = bytearray(gzip.decompress(buffer.getvalue()))
    raw[4 * 512 + 130] ^= 1  # the third header's size field: its checksum no longer holds
    with pytest.raises(ArchiveError, match="corrupt or not a gzipped tar file: .*checksum"):
        list(iter_entries(io.BytesIO(gzip.compress(bytes(raw)))))
