"""Velero tarball naming, the streaming writer and the safe reader."""
import gzip
import io
import json
import os
import tarfile
import tracemalloc

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import (
    ArchivePath,
    ArchiveWriter,
    extract_archive,
    item_path,
    item_paths,
    iter_archive,
    iter_items,
    parse_item_path,
    read_format_version,
)
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource

DEPLOYMENTS = ApiResource("apps", "v1", "deployments", "Deployment", True, ["list"], True)
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, ["list"], True)
OLD_WIDGETS = ApiResource("example.com", "v1beta1", "widgets", "Widget", True, ["list"], False)


def obj(kind, name, namespace=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def test_item_paths_follow_velero_layout():
    assert item_paths(DEPLOYMENTS, obj("Deployment", "web", "shop")) == [
        "resources/deployments.apps/namespaces/shop/web.json",
        "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
    ]
    assert item_paths(NAMESPACES, obj("Namespace", "shop")) == [
        "resources/namespaces/cluster/shop.json",
        "resources/namespaces/v1-preferredversion/cluster/shop.json",
    ]
    # not the preferred version of its group: written once
    assert item_paths(OLD_WIDGETS, obj("Widget", "w", "ns")) == ["resources/widgets.example.com/namespaces/ns/w.json"]


@pytest.mark.parametrize("args", [
    ("pods", "ns", "p", None), ("pods", "ns", "p", "v1"), ("namespaces", None, "ns1", None),
    ("clusterroles.rbac.authorization.k8s.io", None, "system:admin", "v1"), ("a.b", "ns", "dotted.name", None),
])
def test_parse_is_the_inverse_of_naming(args):
    group_resource, namespace, name, version = args
    assert parse_item_path(item_path(group_resource, namespace, name, version)) == ArchivePath(
        group_resource, version, namespace, name)


def test_parse_rejects_malformed_resource_paths_and_ignores_others():
    assert parse_item_path("metadata/version") is None
    for bad in ("resources/pods/namespaces/p.json", "resources/pods/cluster/a/b.json", "resources/pods/x",
                "resources/pods/namespaces/ns/.json"):
        with pytest.raises(ArchiveError, match="unexpected path"):
            parse_item_path(bad)


def write_archive(items):
    buffer = io.BytesIO()
    with ArchiveWriter(buffer, mtime=1700000000) as writer:
        for resource, item in items:
            writer.add_item(resource, item)
    buffer.seek(0)
    return buffer


def test_writer_puts_version_first_regular_files_only_and_content_verbatim():
    deployment = obj("Deployment", "web", "shop")
    deployment["status"] = {"replicas": 2}
    buffer = write_archive([(DEPLOYMENTS, deployment), (NAMESPACES, obj("Namespace", "shop"))])
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "metadata/version",
            "resources/deployments.apps/namespaces/shop/web.json",
            "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
            "resources/namespaces/cluster/shop.json",
            "resources/namespaces/v1-preferredversion/cluster/shop.json",
        ]
        assert all(m.isreg() for m in members)
        assert tar.extractfile("metadata/version").read() == b"1.1.0\n"
        assert json.loads(tar.extractfile(members[1]).read()) == deployment
    assert read_format_version(write_archive([])) == "1.1.0"


def test_reader_round_trip_skips_preferred_copies_by_default():
    buffer = write_archive([(DEPLOYMENTS, obj("Deployment", "web", "shop"))])
    items = list(iter_items(buffer))
    assert [(p.group_resource, p.namespace, p.name, p.version) for p, _item in items] == [
        ("deployments.apps", "shop", "web", None)]
    buffer.seek(0)
    assert len(list(iter_items(buffer, include_preferred_copies=True))) == 2


def hostile(entries):
    """A tar.gz with the given TarInfo/data pairs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buffer.seek(0)
    return buffer


def regular(name, data=b"{}"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


@pytest.mark.parametrize("entry, message", [
    (regular("/etc/passwd"), "absolute path"),
    (regular("resources/../../evil.json"), "leaving the archive"),
    (special("resources/link.json", tarfile.SYMTYPE, "/etc/passwd"), "link"),
    (special("resources/hard.json", tarfile.LNKTYPE, "metadata/version"), "link"),
    (special("dev", tarfile.CHRTYPE), "device"),
    (special("fifo", tarfile.FIFOTYPE), "device"),
])
def test_reader_refuses_hostile_entries(entry, message, tmp_path):
    archive = hostile([regular("metadata/version", b"1.1.0\n"), entry])
    with pytest.raises(ArchiveError, match=message):
        extract_archive(archive, str(tmp_path / "out"))
    assert not os.path.exists("/tmp/evil.json")


def test_reader_caps_total_size():
    archive = hostile([regular("a", b"x" * 600), regular("b", b"y" * 600)])
    with pytest.raises(ArchiveError, match="beyond 1000 bytes"):
        list(iter_archive(archive, max_total_size=1000))


def test_reader_reports_corrupt_archives_and_bad_json():
    with pytest.raises(ArchiveError, match="corrupt"):
        list(iter_archive(io.BytesIO(b"not a gzip file at all")))
    with pytest.raises(ArchiveError, match="corrupt"):
        list(iter_archive(io.BytesIO(gzip.compress(b"\0" * 10)[:-8])))
    with pytest.raises(ArchiveError, match="not valid JSON"):
        list(iter_items(hostile([regular("resources/pods/namespaces/ns/p.json", b"{nope")])))


def test_reader_memory_does_not_grow_with_the_number_of_entries():
    """tarfile keeps every header it reads, streaming too: a reader that let it would hold about
    500 bytes an entry to the end (50 MiB for a 100,000-item archive)."""
    def reading_peak(entries):
        writer_file = io.BytesIO()
        with ArchiveWriter(writer_file) as writer:
            for index in range(entries):
                writer.add_item(NAMESPACES, obj("Namespace", "namespace-%06d" % index))
        writer_file.seek(0)
        tracemalloc.start()
        try:
            read = sum(1 for _entry in iter_archive(writer_file))
            return read, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_count, small_peak = reading_peak(1000)
    large_count, large_peak = reading_peak(10000)
    assert (small_count, large_count) == (2001, 20001)  # each item twice (preferred-version copy), + version
    # 18,000 more entries: keeping ~500 bytes for each would add about 9 MB.
    assert large_peak - small_peak < 512 * 1024, (small_peak, large_peak)


def test_extract_writes_only_inside_destination(tmp_path):
    destination = tmp_path / "out"
    destination.mkdir()
    written = extract_archive(write_archive([(NAMESPACES, obj("Namespace", "shop"))]), str(destination))
    assert written == ["metadata/version", "resources/namespaces/cluster/shop.json",
                       "resources/namespaces/v1-preferredversion/cluster/shop.json"]
    assert (destination / "resources/namespaces/cluster/shop.json").read_bytes() == \
        b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}'


def test_long_paths_use_ustar_prefix_or_pax_and_read_back_everywhere(tmp_path):
    long_namespace = "n" * 63
    long_name = "x" * 253
    resource = ApiResource("very-long-group-name.example.com", "v1", "somethings", "Something", True, ["list"], True)
    item = obj("Something", long_name, long_namespace)
    buffer = write_archive([(resource, item), (DEPLOYMENTS, obj("Deployment", "d" * 90, "shop"))])
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        names = tar.getnames()
        assert names[1] == "resources/somethings.very-long-group-name.example.com/namespaces/%s/%s.json" % (
            long_namespace, long_name)
        assert json.loads(tar.extractfile(names[1]).read()) == item
        assert len(names) == 5 and all(m.isreg() and m.mode == 0o755 for m in tar.getmembers())
    # the system tar agrees (it is what a human would check with)
    path = tmp_path / "b.tar.gz"
    path.write_bytes(buffer.getvalue())
    import subprocess
    listing = subprocess.run(["tar", "tzf", str(path)], stdout=subprocess.PIPE, check=True, text=True).stdout.split()
    assert listing == names


@pytest.mark.parametrize("path", ["a.json", "resources/configmaps/namespaces/n/%s.json" % ("c" * 60),
                                  "resources/x/namespaces/%s/%s.json" % ("n" * 63, "c" * 90),
                                  "resources/x/namespaces/n/%s.json" % ("\u00e9" * 120)])
def test_headers_carry_name_size_mode_and_mtime_as_tar_reads_them(path):
    # ustar_header builds a header of a path that fits the name field without splitting it (twice per item);
    # tarfile checks each header's checksum as it reads it.
    from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import ustar_header
    blocks = []
    for size in (0, 1, 511, 512, 513, 10 ** 6):
        header = ustar_header(path, size, 1700000000)
        blocks += [header, b"x" * size, b"\0" * (-size % 512)]
    with tarfile.open(fileobj=io.BytesIO(b"".join(blocks) + b"\0" * 1024), mode="r:") as tar:
        members = tar.getmembers()
    assert [(m.name, m.size, m.mode, m.mtime, m.type) for m in members] == [
        (path, size, 0o755, 1700000000, tarfile.REGTYPE) for size in (0, 1, 511, 512, 513, 10 ** 6)]
