"""The item digests a backup takes as it writes its archive (backup/workers.py ItemDigestLog) are the
ones verification recomputes from the finished tarball (archive/manifest.py write_item_digests): the same
lines, in archive order, across the main writer and spliced worker fragments, long paths included."""
import gzip
import io
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest
from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.backup.workers import Fragment, ItemDigestLog


def fragment(entries):
    spool, log = tempfile.TemporaryFile(), ItemDigestLog()
    writer = archive.ArchiveWriter(spool, mtime=1, fragment=True, item_log=log)
    for path, data in entries:
        writer.add_file(path, data)
    size = writer.close()
    spool.seek(0)
    return Fragment(spool, size, writer.entries, log)


def taken_lines_match_recomputed(log, archive_file, count):
    """The log's lines (``count`` of them) are those verification recomputes from the archive; returns them."""
    taken, recomputed = io.BytesIO(), io.BytesIO()
    with gzip.GzipFile(fileobj=taken, mode="wb") as out:  # as storage.upload_gzipped hands it over
        summary = log.copy_to(out)
    archive_file.seek(0)
    assert summary == manifest.write_item_digests(archive_file, recomputed) and summary["count"] == count
    assert gzip.decompress(taken.getvalue()) == gzip.decompress(recomputed.getvalue())
    return gzip.decompress(taken.getvalue())


def test_the_log_written_is_the_one_read_back():
    out, log = tempfile.TemporaryFile(), ItemDigestLog()
    writer = archive.ArchiveWriter(out, mtime=1, item_log=log)
    writer.add_file("resources/namespaces/cluster/a.json", b'{"a":1}')
    long_name = "resources/configmaps/namespaces/%s/%s.json" % ("n" * 63, "c" * 200)  # a PAX header
    writer.append_fragments([fragment([(long_name, b"{}"), ("resources/secrets/namespaces/n/s.json", b"x" * 5000)]),
                             fragment([]), fragment([("resources/pods/namespaces/n/p.json", b'{"p":2}')])])
    writer.add_file("resources/services/namespaces/n/s.json", b"")
    writer.close()
    assert long_name.encode() in taken_lines_match_recomputed(log, out, 6)


def test_lines_match_the_recomputed_ones_for_any_name_and_for_an_items_two_copies():
    # The log formats plain paths itself and reuses the digest of the bytes it just hashed (an item and its
    # preferred-version copy): names JSON must escape, and equal bytes that are other objects, still match.
    out, log = tempfile.TemporaryFile(), ItemDigestLog()
    writer = archive.ArchiveWriter(out, mtime=1, item_log=log)
    data = b'{"kind":"ClusterRole"}'
    for name in ("system:controller:x", 'quo"te', "caf\u00e9", "tab\there", "~plain.name_1"):
        writer.add_file("resources/clusterroles.rbac.authorization.k8s.io/cluster/%s.json" % name, data)
        writer.add_file("resources/clusterroles.rbac.authorization.k8s.io/v1-preferredversion/cluster/%s.json" % name,
                        data)
        writer.add_file("resources/configmaps/namespaces/n/%s.json" % name, bytes(bytearray(data)) + b" ")
    writer.close()
    taken_lines_match_recomputed(log, out, 16)


def test_paths_are_named_as_the_archive_reader_names_them():
    # The log normalises only paths that need it (normpath costs more than the rest of a line): those
    # that do and those that only look as if they might must match what verification reads back.
    out, log = tempfile.TemporaryFile(), ItemDigestLog()
    writer = archive.ArchiveWriter(out, mtime=1, item_log=log)
    for path in ("resources/configmaps/namespaces/n/.hidden.json", "resources/configmaps/namespaces/n/..json",
                 "resources/configmaps/./namespaces/n/a.json", "resources/configmaps//namespaces/n/b.json",
                 "./resources/configmaps/namespaces/n/c.json", "resources/configmaps/namespaces/n.d/e.f.json"):
        writer.add_file(path, path.encode())
    writer.close()
    lines = taken_lines_match_recomputed(log, out, 7)
    assert b'"resources/configmaps/namespaces/n/a.json"' in lines and b"/./" not in lines and b"//" not in lines


def test_item_line_is_the_json_of_digest_and_path_for_any_path():
    # Plain paths skip json.dumps; seeded, so a failing path can be replayed.
    import json
    import random
    rng = random.Random(1803)
    alphabet = 'abz09-._/~:"\\\t\n\x7f \u00e9\u2603\U0001f600'
    paths = ["resources/configmaps/namespaces/n/a.json"] + [
        "".join(rng.choice(alphabet) for _n in range(rng.randint(0, 40))) for _i in range(2000)]
    for path in paths:
        assert manifest.item_line(path, "ab" * 32) == (
            json.dumps(["ab" * 32, path], separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii"), path
