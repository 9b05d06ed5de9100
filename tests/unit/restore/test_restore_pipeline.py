# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""The pure parts of the restore pipeline: options, safe extraction and its index, outcomes,
secret hiding, volume work."""

import datetime
import gzip
import io
import json
import os
import random
import tarfile

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import names
from ansible_collections.kubedr.backup.plugins.module_utils.restore import index as restore_index
from ansible_collections.kubedr.backup.plugins.module_utils.restore import options as restore_options
from ansible_collections.kubedr.backup.plugins.module_utils.restore import pods as restore_pods
from ansible_collections.kubedr.backup.plugins.module_utils.restore import report as restore_report
from ansible_collections.kubedr.backup.plugins.module_utils.restore import scope as restore_scope
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError, InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource


def tarball(entries, compress=True):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
                continue
            path, data = entry
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def item(kind, name, namespace=None, api_version="v1"):
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return json.dumps({"apiVersion": api_version, "kind": kind, "metadata": metadata}).encode()


# ---------------------------------------------------------------- options

@pytest.mark.parametrize("text,expected", [("1024", 1024), ("512Mi", 512 * 1024 ** 2), ("8Gi", 8 * 1024 ** 3),
                                           ("2G", 2 * 10 ** 9), (" 3 Ki ", 3072), (4096, 4096)])
def test_parse_size(text, expected):
    assert restore_options.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "0", "-1Mi", "1.5Gi", "3Pi"])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(InvalidOptionError, match="is not a size"):
        restore_options.parse_size(text)


def test_default_name_is_velero_cli_style():
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert restore_options.default_restore_name("nightly", moment) == "nightly-20240102030405"


def test_validate_options_normalises():
    options = restore_options.validate_options({"backup_name": "b", "restore_status": None, "workers": None})
    assert options["existing_resource_policy"] == "none" and options["workers"] == restore_options.DEFAULT_WORKERS
    assert options["max_archive_size"] == 8 * 1024 ** 3 and options["restore_pvs"] is True
    assert options["namespace_mapping"] == {} and options["resource_modifiers"] == ()


@pytest.mark.parametrize("options,message", [
    ({}, "exactly one of backup_name and schedule_name"),
    ({"backup_name": "a", "schedule_name": "b"}, "exactly one of backup_name and schedule_name"),
    ({"backup_name": "a", "existing_resource_policy": "merge"}, "existing_resource_policy must be one of"),
    ({"backup_name": "a", "workers": 0}, "workers must be"),
    ({"backup_name": "a", "namespace_mapping": {"x": "z", "y": "z"}}, "would all be restored"),
    ({"backup_name": "a", "restore_status": {"included": ["pods"]}}, "restore_status must be a dict"),
    ({"backup_name": "a", "restore_status": {"included_resources": ["*", "pods"]}}, "must either be"),
    ({"backup_name": "a", "included_resources": ["events"]}, "cannot be restored"),
    ({"backup_name": "a", "label_selector": "a=b", "or_label_selectors": ["c=d"]}, "mutually exclusive"),
    ({"backup_name": "Bad_Name"}, "not a valid object name"),
])
def test_validate_options_refuses(options, message):
    with pytest.raises(InvalidOptionError, match=message):
        restore_options.validate_options(options)


def test_restore_status_resources():
    resources = [ApiResource("", "v1", "pods", "Pod", True), ApiResource("apps", "v1", "deployments", "Deployment", True),
                 ApiResource("example.com", "v1", "widgets", "Widget", True)]
    present = ["pods", "deployments.apps", "widgets.example.com"]
    assert restore_scope.restore_status_resources({}, present, resources) == frozenset()
    assert restore_scope.restore_status_resources({"included_resources": ["widget"]}, present, resources) == \
        frozenset(["widgets.example.com"])
    assert restore_scope.restore_status_resources({"included_resources": ["*"], "excluded_resources": ["deployment"]},
                                                  present, resources) == frozenset(["pods", "widgets.example.com"])


# ---------------------------------------------------------------- secrets in diffs

def test_secret_values_are_hidden_but_changes_show():
    before = {"kind": "Secret", "data": {"a": "MQ==", "b": "Mg=="}, "metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"a":"MQ=="}}', "x": "y"}}}
    after = {"kind": "Secret", "data": {"a": "MQ==", "b": "Mw==", "c": "NA=="}, "metadata": {}}
    hidden_before, hidden_after = restore_report.secret_diff(before, after)
    assert hidden_before["data"] == {"a": "<hidden>", "b": "<hidden>"}
    assert hidden_after["data"] == {"a": "<hidden>", "b": "<hidden> (changed)", "c": "<hidden>"}
    assert hidden_before["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "<hidden>", "x": "y"}
    assert before["data"]["a"] == "MQ=="  # inputs untouched
    config = {"kind": "ConfigMap", "data": {"a": "1"}}
    assert restore_report.secret_diff(config, config) == (config, config)


# ---------------------------------------------------------------- extraction

def test_extract_indexes_items_and_keeps_plain_copies(tmp_path):
    archive = tarball([
        ("metadata/version", b"1.1.0\n"),
        ("resources/configmaps/namespaces/ns1/a.json", item("ConfigMap", "a", "ns1")),
        ("resources/configmaps/v1-preferredversion/namespaces/ns1/a.json", item("ConfigMap", "a", "ns1")),
        ("resources/namespaces/cluster/ns1.json", item("Namespace", "ns1")),
        ("resources/widgets.example.com/v1-preferredversion/namespaces/ns1/w.json",
         item("Widget", "w", "ns1", "example.com/v1")),
        ("README", b"not ours"),
    ])
    extracted = restore_index.extract_backup(archive, str(tmp_path), 1024 * 1024)
    assert extracted.format_version == "1.1.0"
    assert sorted(extracted.groups) == ["configmaps", "namespaces", "widgets.example.com"]
    [(namespace, name, reference)] = list(extracted.group("configmaps").items())
    assert (namespace, name) == ("ns1", "a")
    assert extracted.load(reference) == json.loads(item("ConfigMap", "a", "ns1"))
    assert extracted.group("namespaces").namespaced is False
    # Only a preferred-version copy: that one is used.
    assert [entry[1] for entry in extracted.group("widgets.example.com").items()] == ["w"]
    assert [obj["metadata"]["name"] for _ns, _n, obj in extracted.items_of("configmaps")] == ["a"]
    assert os.listdir(str(tmp_path)) == []  # one anonymous spool file, no entry's path
    extracted.close()


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize("entry,message", [
    (("resources/configmaps/namespaces/x/../../../../evil.json", b"{}"), "path leaving the archive"),
    (("/etc/evil.json", b"{}"), "absolute path"),
    (special("resources/configmaps/namespaces/x/l.json", tarfile.SYMTYPE, "/etc/passwd"), "link"),
    (special("resources/configmaps/namespaces/x/h.json", tarfile.LNKTYPE, "metadata/version"), "link"),
    (special("resources/configmaps/namespaces/x/d.json", tarfile.BLKTYPE), "device"),
])
def test_extract_refuses_hostile_entries(tmp_path, entry, message):
    root = tmp_path / "x"
    root.mkdir()
    with pytest.raises(ArchiveError, match=message):
        restore_index.extract_backup(tarball([("metadata/version", b"1.1.0\n"), entry]), str(root), 1024 * 1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


DEEP = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":' + b"[" * 200000 + b"]" * 200000 + b"}"


@pytest.mark.parametrize("path,data,reason", [
    ("resources/configmaps/namespaces/x/bad.json", b"{", "is not valid JSON"),
    ("resources/configmaps/namespaces/x/bad.json", b'"text"', "is not a Kubernetes object"),
    ("resources/configmaps/namespaces/x/noname.json", b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}',
     "has no metadata.name"),
    ("resources/configmaps/weird.json", b"{}", "is not at a path Velero writes"),
    ("resources/configmaps/namespaces/x/deep.json", DEEP, "is nested deeper than 200 levels"),
    ("resources/configmaps/namespaces/x/bad.json", b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\xff"}}',
     "is not valid UTF-8 (byte 58)"),
    ("resources/configmaps/namespaces/x/dup.json", item("ConfigMap", "dup", "x")[:-1] + b',"kind":"Secret"}',
     "has the key 'kind' twice"),
    ("resources/configmaps/namespaces/x/n.json", item("ConfigMap", "n", "x")[:-1] + b',"data":{"a":1e999}}',
     "out of the 64-bit floating point range"),
    ("resources/configmaps/namespaces/x/n.json", item("ConfigMap", "n", "x")[:-1] + b',"x":9223372036854775808}',
     "out of the 64-bit range"),
    ("resources/configmaps/namespaces/x/n.json", item("ConfigMap", "n", "x")[:-1] + b',"x":NaN}', "has NaN"),
    ("resources/configmaps/namespaces/x/other.json", item("ConfigMap", "n", "x"), "not the name of its path"),
    ("resources/configmaps/namespaces/x/d.json", item("Deployment", "d", "x", "apps/v1"),
     "not of the API group of its path"),
    ("resources/configmaps/namespaces/x/s.json", item("ConfigMap", "s", "x")[:-1] + b',"y":"\\ud800"}',
     "unpaired UTF-16 surrogate"),
    ("resources/configmaps/namespaces/x/l.json",
     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"l","labels":["a"]}}', "metadata.labels"),
    ("resources/configmaps/namespaces/Not_A_Namespace/n.json", item("ConfigMap", "n", "x"), "not at a path Velero writes"),
])
def test_a_bad_item_is_set_aside_with_its_path_and_reason(tmp_path, path, data, reason):
    good = ("resources/configmaps/namespaces/x/good.json", item("ConfigMap", "good", "x"))
    extracted = restore_index.extract_backup(tarball([("metadata/version", b"1.1.0\n"), (path, data), good]),
                                             str(tmp_path), 64 * 1024 * 1024)
    assert [name for _ns, name, _item in extracted.items_of("configmaps")] == ["good"]
    [invalid] = extracted.invalid
    assert invalid.path == path and path in invalid.reason and reason in invalid.reason, invalid.reason
    assert extracted.invalid_count == 1
    extracted.close()


def test_brackets_inside_strings_are_no_nesting_and_200_levels_are_allowed(tmp_path):
    # 200 levels with the item itself and its data map; 500 brackets and an escaped quote inside strings
    data = ', "data": {"a": "%s\\"[{", "b": %s}}' % ("[" * 500, "[" * 198 + "]" * 198)
    fine = item("ConfigMap", "fine", "x")[:-1] + data.encode()
    deeper = item("ConfigMap", "deeper", "x")[:-1] + data.replace("[" * 198, "[" * 199).replace("]" * 198, "]" * 199).encode()
    extracted = restore_index.extract_backup(tarball([("resources/configmaps/namespaces/x/fine.json", fine),
                                                      ("resources/configmaps/namespaces/x/deeper.json", deeper)]),
                                             str(tmp_path), 1024 * 1024)
    assert [name for _ns, name, _i in extracted.items_of("configmaps")] == ["fine"]
    assert [bad.name for bad in extracted.invalid] == ["deeper"]
    extracted.close()


def test_a_path_that_is_not_utf8_is_reported_printably(tmp_path):
    path = "resources/configmaps/namespaces/x/n\udcff.json"  # how tarfile gives an undecodable byte
    extracted = restore_index.extract_backup(tarball([(path, item("ConfigMap", "n\udcff", "x"))]), str(tmp_path),
                                             1024 * 1024)
    [invalid] = extracted.invalid
    assert "n\\udcff.json is not at a path Velero writes" in invalid.reason
    invalid.reason.encode("utf-8")  # every writer (the log, the results) can take it
    extracted.close()


def test_a_huge_item_is_not_read_into_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(restore_index, "MAX_ITEM_BYTES", 1000)
    huge = item("ConfigMap", "huge", "x")[:-1] + b',"data":{"a":"' + b"x" * 5000 + b'"}}'
    extracted = restore_index.extract_backup(tarball([("resources/configmaps/namespaces/x/huge.json", huge)]),
                                             str(tmp_path), 1024 * 1024)
    assert not extracted.groups
    assert "is %d bytes; an item is at most 1000" % len(huge) in extracted.invalid[0].reason
    extracted.close()


def test_invalid_items_beyond_the_detail_cap_are_only_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(restore_index, "MAX_INVALID_DETAILS", 3)
    bad = [("resources/configmaps/namespaces/x/b%d.json" % i, b"{") for i in range(10)]
    extracted = restore_index.extract_backup(tarball(bad), str(tmp_path), 1024 * 1024)
    assert len(extracted.invalid) == 3 and extracted.invalid_count == 10
    extracted.close()


def test_extract_caps_size_including_headers(tmp_path):
    many = [("resources/configmaps/namespaces/n/c%d.json" % i, item("ConfigMap", "c%d" % i, "n")) for i in range(50)]
    with pytest.raises(ArchiveError, match="expands beyond 20000 bytes"):
        restore_index.extract_backup(tarball(many), str(tmp_path), 20000)


def test_extract_refuses_empty_and_future_formats(tmp_path):
    with pytest.raises(ArchiveError, match="no resources/ entries"):
        restore_index.extract_backup(tarball([("metadata/version", b"1.1.0\n")]), str(tmp_path), 1024)
    with pytest.raises(ArchiveError, match="format 2.0.0 is not supported"):
        restore_index.extract_backup(tarball([("metadata/version", b"2.0.0\n"),
                                              ("resources/pods/namespaces/n/p.json", item("Pod", "p", "n"))]),
                                     str(tmp_path), 1024 * 1024)
    with pytest.raises(ArchiveError, match="corrupt or not a gzipped tar"):
        restore_index.extract_backup(io.BytesIO(b"plain text"), str(tmp_path), 1024)


# ---------------------------------------------------------------- outcomes and volume work

def test_outcomes_give_velero_resource_list_and_counts():
    outcomes = restore_report.Outcomes()
    outcomes.record("v1/Pod", "ns", "b", "created")
    outcomes.record("v1/Pod", "ns", "a", "skipped")
    outcomes.record("v1/Namespace", None, "ns", "created")
    outcomes.count_recreated()
    assert outcomes.resource_list() == {"v1/Namespace": ["ns(created)"], "v1/Pod": ["ns/a(skipped)", "ns/b(created)"]}
    counts = outcomes.counts()
    assert (counts["total"], counts["created"], counts["skipped"], counts["recreated"]) == (3, 2, 1, 1)
    assert counts["per_resource"]["v1/Pod"] == {"created": 1, "updated": 0, "skipped": 1, "failed": 0}
    assert outcomes.changed()
    assert not restore_report.Outcomes().changed()


def test_the_resource_list_is_written_as_gzip_json_encodes_it():
    outcomes = restore_report.Outcomes()
    for index in range(30):
        outcomes.record("v1/ConfigMap", "n\u00e9s", "c%02d" % (29 - index), "created")
    outcomes.record("apps/v1/Deployment", "ns", "web", "failed")
    written = io.BytesIO()
    outcomes.write_resource_list(written)
    assert written.getvalue() == gzip.decompress(layout.gzip_json(outcomes.resource_list()))
    empty = io.BytesIO()
    restore_report.Outcomes().write_resource_list(empty)
    assert empty.getvalue() == gzip.decompress(layout.gzip_json({}))


def test_a_resource_list_larger_than_memory_holds_comes_back_sorted_from_the_spool():
    # More entries than the spool keeps in memory (names.SPOOL_CHUNK): sorted runs in a file, merged.
    rng = random.Random(18)
    expected = {}
    outcomes = restore_report.Outcomes()
    for index in rng.sample(range(names.SPOOL_CHUNK * 2 + 7), names.SPOOL_CHUNK * 2 + 7):
        key, namespace = ("v1/Secret", "ns-%d" % (index % 3)) if index % 5 else ("v1/Namespace", None)
        outcome = "created" if index % 7 else "skipped"
        outcomes.record(key, namespace, "item-%06d" % index, outcome)
        expected.setdefault(key, []).append("%s%s(%s)" % ("%s/" % namespace if namespace else "", "item-%06d" % index,
                                                          outcome))
    expected = dict((key, sorted(entries)) for key, entries in expected.items())
    written = io.BytesIO()
    outcomes.write_resource_list(written)
    assert written.getvalue() == gzip.decompress(layout.gzip_json(expected))
    assert outcomes.counts()["total"] == names.SPOOL_CHUNK * 2 + 7
    outcomes.close()


def test_volume_work_names_the_restored_pod_and_the_repository():
    source = {"metadata": {"name": "web", "namespace": "old"}}
    created = {"metadata": {"name": "web", "namespace": "new", "uid": "u"}}
    pvbs = [{"spec": {"pod": {"name": "web", "namespace": "old"}, "volume": "data", "repoIdentifier": "s3:x/old"}},
            {"spec": {"pod": {"name": "other", "namespace": "old"}, "volume": "data", "repoIdentifier": "s3:y"}}]
    work = restore_pods.volume_work(source, created, {"data": "snap1"}, pvbs)
    assert [tuple(w) for w in work] == [("new", "web", "data", "snap1", "s3:x/old", "old", None)]
