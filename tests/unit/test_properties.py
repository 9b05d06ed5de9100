"""Property-based tests (hypothesis) of the parsers that read untrusted input: the archive
reader, the item parser, selector parsing, namespace mapping and the encryption envelope.

Each property runs 10,000 generated inputs. The only failures allowed are the documented clear
errors (ArchiveError, InvalidOptionError, DecryptionError): never another exception, never a
write outside the extraction directory, never a hang (each example is timed)."""
import base64
import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.restore import index as restore_index
from ansible_collections.kubedr.backup.plugins.module_utils.restore import mapping as restore_mapping
from ansible_collections.kubedr.backup.plugins.module_utils.selection import labels as labels_mod
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource

EXAMPLES = 10000
# Replayable: `make units` passes --hypothesis-seed (PROPERTY_SEED, printed in pytest's header), and a
# failing example is kept in a database outside the repository and tried first on the next run;
# print_blob prints the @reproduce_failure line that replays it exactly.
EXAMPLE_DATABASE = DirectoryBasedExampleDatabase(os.path.join(
    os.environ.get("KUBEDR_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "kubedr"), "hypothesis"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=EXAMPLE_DATABASE, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
# Properties that check a meaning beyond "clear error or result" run fewer inputs, to keep the unit
# run short; the parsers of untrusted input (above) run EXAMPLES each.
EXTRA = settings(PROPERTY, max_examples=2000)
HANG_SECONDS = 5.0  # no single input may take longer than this
TRIED = {}  # inputs tried per property, printed at the end of the session (docs/reliability.md)


def tried(name):
    TRIED[name] = TRIED.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    for name, count in sorted(TRIED.items()):
        print("\nproperty %s: %d inputs tried" % (name, count))


class Timed(object):
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self.start
        assert elapsed < HANG_SECONDS, "one input took %.1fs" % elapsed


# ---------------------------------------------------------------- the archive reader

SEGMENTS = st.sampled_from(["resources", "pods", "deployments.apps", "namespaces", "cluster", "ns1", "v1",
                            "v1-preferredversion", "metadata", "version", "..", ".", "", "a.json", "x.json",
                            "../etc", "/etc", "passwd", "\\evil", "C:", "dir/"])
PATHS = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.text(min_size=0, max_size=40),
)
ITEM_JSON = st.sampled_from([
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}',
    b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns1"}}',
    b"[1,2,3]", b"not json", b"", b"{}", b'{"metadata":{"name":""}}', b"\xff\xfe", b"1.1.0\n",
])
MEMBER_TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])


def _valid_tar():
    raw = io.BytesIO()
    pods = ApiResource("", "v1", "pods", "Pod", True, ["list"], True)
    writer = archive.ArchiveWriter(raw, mtime=0)
    writer.add_item(pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}})
    writer.close()
    return gzip.decompress(raw.getvalue())


VALID_TAR = _valid_tar()  # a real Velero archive (uncompressed), the base of the corrupted ones
# Strategies made once: a strategy built per draw (bounds depending on the data) costs more to
# validate than the test itself. Positions are drawn from a wide range and taken modulo a length.
POSITION = st.integers(0, 2 ** 24)
BYTE = st.integers(0, 255)
NONZERO_BYTE = st.integers(1, 255)
FLIPS = st.integers(0, 3)
MEMBERS = st.integers(0, 4)
ONE_IN_TEN = st.integers(0, 9)
TAR_FORMATS = st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
LINK_TARGETS = st.sampled_from(["/etc/passwd", "../../x", "resources"])


@st.composite
def tarballs(draw):
    """A gzipped tar: hostile members, or a valid Velero archive with corrupted bytes."""
    if draw(st.booleans()):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=draw(TAR_FORMATS)) as tar:
            for _index in range(draw(MEMBERS)):
                info = tarfile.TarInfo(draw(PATHS))
                info.type = draw(MEMBER_TYPES)
                data = draw(ITEM_JSON) if info.type == tarfile.REGTYPE else b""
                info.size = len(data)
                if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = draw(LINK_TARGETS)
                try:
                    tar.addfile(info, io.BytesIO(data))
                except (ValueError, tarfile.TarError):  # a name tarfile itself cannot encode
                    continue
        data = raw.getvalue()
    else:
        data = VALID_TAR
    # Corrupt the tar stream: flip bytes, cut it short.
    data = bytearray(data)
    for _index in range(draw(FLIPS)):
        if data:
            data[draw(POSITION) % len(data)] = draw(BYTE)
    if draw(st.booleans()) and data:
        data = data[:draw(POSITION) % (len(data) + 1)]
    compressed = gzip.compress(bytes(data), compresslevel=1)
    if draw(ONE_IN_TEN) == 0:  # damage the gzip layer itself sometimes
        compressed = compressed[:draw(POSITION) % (len(compressed) + 1)]
    return compressed


@pytest.fixture(scope="module")
def sandbox():
    parent = tempfile.mkdtemp(prefix="kubedr-prop-")
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@PROPERTY
@given(tarballs(), st.sampled_from([64 * 1024, 1024, 200]))
def test_archive_reader_never_crashes_or_escapes(sandbox, data, max_size):
    tried("archive reader (extract_backup)")
    target = os.path.join(sandbox, "extract")
    os.mkdir(target)
    try:
        with Timed():
            try:
                extracted = restore_index.extract_backup(io.BytesIO(data), target, max_size)
            except ArchiveError:
                extracted = None
        if extracted is not None:
            assert extracted.groups or extracted.invalid_count  # bad items are set aside, each with its reason
            assert all(bad.path in bad.reason for bad in extracted.invalid)
            for index in extracted.groups.values():
                for _ns, name, reference in index.items():
                    assert name and extracted.load(reference)["metadata"]["name"] == name
            extracted.close()
        # Nothing was written beside the extraction directory, nor inside it under any entry's
        # path: the items live in one anonymous spool file.
        assert os.listdir(sandbox) == ["extract"]
        assert os.listdir(target) == []
    finally:
        shutil.rmtree(target, ignore_errors=True)


# ---------------------------------------------------------------- the item parser

NAME_CHARS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=20)


@PROPERTY
@given(st.one_of(PATHS, st.lists(st.one_of(SEGMENTS, NAME_CHARS), min_size=1, max_size=7).map("/".join)),
       st.one_of(ITEM_JSON, st.binary(max_size=40),
                 st.fixed_dictionaries({}, optional={
                     "apiVersion": st.sampled_from(["v1", "", 3]), "kind": st.sampled_from(["Pod", "", None]),
                     "metadata": st.sampled_from([{}, {"name": "a"}, {"name": ""}, [], "x", {"name": 5}]),
                 }).map(lambda v: json.dumps(v).encode())))
def test_item_parser_gives_an_item_or_a_clear_error(path, data):
    tried("item parser (parse_item_path + item check)")
    with Timed():
        try:
            parsed = archive.parse_item_path(path)
        except ArchiveError:
            return
        if parsed is None:
            assert not path.startswith("resources/") and path.split("/")[0] != "resources"
            return
        assert parsed.name and parsed.group_resource is not None
        try:
            item = restore_index._check_item(path, data)
        except ArchiveError:
            return
        assert isinstance(item, dict) and item["metadata"]["name"]


@EXTRA
@given(NAME_CHARS, st.one_of(st.none(), NAME_CHARS), NAME_CHARS, st.one_of(st.none(), st.sampled_from(["v1", "v2beta1"])))
def test_item_paths_round_trip(group_resource, namespace, name, version):
    tried("item path round trip")
    path = archive.item_path(group_resource, namespace, name, version)
    assert archive.parse_item_path(path) == archive.ArchivePath(group_resource, version, namespace, name)


# ---------------------------------------------------------------- selector parsing

SELECTOR_TOKENS = st.sampled_from(["app", "tier", "example.com/role", "a", "web", "db", "=", "==", "!=", "!", ",",
                                   " ", "in", "notin", "(", ")", ">", "<", "3", "-1", "x y", "_bad", "UPPER", "é",
                                   "a" * 70, "/", "k/", "/v"])
LABELS = st.dictionaries(st.sampled_from(["app", "tier", "example.com/role", "a"]),
                         st.sampled_from(["web", "db", "", "3", "-1", "10"]), max_size=4)


@PROPERTY
@given(st.one_of(st.lists(SELECTOR_TOKENS, max_size=10).map("".join), st.text(max_size=30)), LABELS)
def test_selector_parser_gives_a_selector_or_a_clear_error(text, labels):
    tried("label selector parser")
    with Timed():
        try:
            parsed = labels_mod.parse_label_selector(text)
        except InvalidOptionError as error:
            assert "label selector" in str(error)
            return
        assert isinstance(parsed.matches(labels), bool)
        for key, op, values in parsed.requirements:
            assert op in ("=", "!=", "in", "notin", "exists", "!exists", ">", "<")
            assert isinstance(values, tuple)


REQUIREMENTS = st.lists(st.tuples(st.sampled_from(["app", "tier", "example.com/role"]),
                                  st.sampled_from(["=", "!=", "in", "notin", "exists", "!exists"]),
                                  st.lists(st.sampled_from(["web", "db", "v1.2", "a_b"]), min_size=1, max_size=3,
                                           unique=True)), max_size=4)


def _render(requirements):
    parts = []
    for key, op, values in requirements:
        if op in ("=", "!="):
            parts.append("%s%s%s" % (key, op, values[0]))
        elif op in ("in", "notin"):
            parts.append("%s %s (%s)" % (key, op, ",".join(values)))
        elif op == "exists":
            parts.append(key)
        else:
            parts.append("!" + key)
    return ",".join(parts)


@EXTRA
@given(REQUIREMENTS, LABELS)
def test_selector_parser_agrees_with_its_meaning(requirements, labels):
    tried("label selector meaning")
    parsed = labels_mod.parse_label_selector(_render(requirements))
    expected = True
    for key, op, values in requirements:
        if op == "=":
            expected &= labels.get(key) == values[0]
        elif op == "!=":
            expected &= labels.get(key) != values[0]
        elif op == "in":
            expected &= key in labels and labels[key] in values
        elif op == "notin":
            expected &= key not in labels or labels[key] not in values
        elif op == "exists":
            expected &= key in labels
        else:
            expected &= key not in labels
    assert parsed.matches(labels) == expected


# ---------------------------------------------------------------- namespace mapping

NAMESPACES = st.sampled_from(["a", "b", "c", "prod", "prod-copy", "x" * 63, "x" * 64, "Bad", "-a", "a-", "", "a.b",
                              "ns-1"])
MAPPINGS = st.one_of(st.dictionaries(NAMESPACES, NAMESPACES, max_size=5),
                     st.dictionaries(st.one_of(NAMESPACES, st.integers()), st.one_of(NAMESPACES, st.none()), max_size=3),
                     st.none(), st.lists(NAMESPACES, max_size=2), st.text(max_size=5))


@PROPERTY
@given(MAPPINGS, st.one_of(st.none(), st.lists(NAMESPACES, max_size=6, unique=True)))
def test_namespace_mapping_never_merges_two_namespaces(mapping, restored):
    tried("namespace mapping")
    with Timed():
        try:
            checked = restore_mapping.validate_namespace_mapping(mapping, restored)
        except InvalidOptionError as error:
            assert "namespace_mapping" in str(error)
            return
    assert isinstance(checked, dict)
    sources = set(restored or []) | set(checked)
    targets = [restore_mapping.map_namespace(ns, checked) for ns in sorted(sources)]
    if restored is not None:
        assert len(set(targets)) == len(targets)  # no two source namespaces land in one
    else:
        assert len(set(checked.values())) == len(checked)
    assert restore_mapping.map_namespace("", checked) == ""


# ---------------------------------------------------------------- the encryption envelope

RAW_KEY = base64.b64encode(b"k" * 32).decode()
CIPHER = crypto.Cipher.new({"key": RAW_KEY})
OTHER = crypto.Cipher.new({"key": base64.b64encode(b"o" * 32).decode()})
SMALL_CHUNKS = 64  # many chunks from small inputs
CHANGES = st.sampled_from(["flip", "truncate", "append", "wrong key", "splice"])
TRAILER = st.binary(min_size=1, max_size=40)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(crypto, "CHUNK_SIZE", SMALL_CHUNKS)


@EXTRA
@given(st.binary(max_size=400), st.data())
def test_envelope_round_trips_and_detects_any_change(plain, data):
    tried("encryption envelope")
    sealed = CIPHER.encrypt_bytes(plain)
    assert CIPHER.decrypt_bytes(sealed) == plain
    change = data.draw(CHANGES)
    if change == "flip":
        position = data.draw(POSITION) % len(sealed)
        damaged = sealed[:position] + bytes([sealed[position] ^ data.draw(NONZERO_BYTE)]) + sealed[position + 1:]
    elif change == "truncate":
        damaged = sealed[:data.draw(POSITION) % len(sealed)]
    elif change == "append":
        damaged = sealed + data.draw(TRAILER)
    elif change == "splice":  # a chunk of another object encrypted with the same key
        other = CIPHER.encrypt_bytes(plain)
        cut = data.draw(POSITION) % len(sealed)
        damaged = sealed[:cut] + other[cut:]
        if damaged in (sealed, other):
            return
    else:
        with pytest.raises(crypto.DecryptionError, match="wrong encryption key"):
            OTHER.decrypt_bytes(sealed)
        return
    with Timed():
        with pytest.raises(crypto.DecryptionError):
            CIPHER.decrypt_bytes(damaged)


def test_wrong_passphrase_is_told_apart_from_tampering():
    cipher = crypto.Cipher.new({"passphrase": "correct horse"})
    stored = {"metadata": {"annotations": {crypto.ANNOTATION: cipher.annotation()}}}
    params = crypto.backup_params(stored)
    assert "correct horse" not in cipher.annotation()
    with pytest.raises(crypto.DecryptionError, match="wrong encryption key or passphrase"):
        crypto.Cipher.for_params({"passphrase": "battery staple"}, params)
    with pytest.raises(crypto.DecryptionError, match="encrypted with a passphrase"):
        crypto.Cipher.for_params({"key": RAW_KEY}, params)
    same = crypto.Cipher.for_params({"passphrase": "correct horse"}, params)
    sealed = cipher.encrypt_bytes(b"resources")
    assert same.decrypt_bytes(sealed) == b"resources"
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.DecryptionError, match="tampered"):
        same.decrypt_bytes(tampered)


def test_raw_key_must_be_32_bytes_of_base64_and_is_never_echoed():
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidOptionError) as error:
            crypto.Cipher.new({"key": bad})
        assert bad not in str(error.value)
    with pytest.raises(InvalidOptionError, match="exactly one"):
        crypto.Cipher.new({"key": RAW_KEY, "passphrase": "x"})


def test_hostile_kdf_parameters_are_refused():
    params = dict(CIPHER.params, kdf="scrypt", salt=base64.b64encode(b"s" * 16).decode(), n=2 ** 30, r=8, p=1)
    with pytest.raises(crypto.DecryptionError, match="out of the accepted range"):
        crypto.Cipher.for_params({"passphrase": "x"}, params)
