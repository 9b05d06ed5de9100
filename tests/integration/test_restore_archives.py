"""k8s_restore against hostile, broken and unusable backups: each one fails with a clear error,
writes nothing outside the extraction directory and creates nothing in the cluster."""
import gzip
import io
import json
import os
import tarfile

import pytest

from test_restore_support import (  # noqa: F401 pylint: disable=unused-import
    build_tarball, configmap_obj, doomed_namespaces, filesystem_location, get_raw, put_backup, run_restore, unique,
    velero_backup_document, velero_tarball, warning_messages,
)


def tar_with(member_factory, valid_namespace):
    """A Velero-looking tarball holding one valid ConfigMap, then the hostile member."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in [("metadata/version", b"1.1.0\n"),
                           ("resources/configmaps/namespaces/%s/ok.json" % valid_namespace,
                            json.dumps(configmap_obj(valid_namespace, "ok")).encode())]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info, data = member_factory()
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


class Escape(object):
    """A path outside the extraction directory that a hostile archive aims at."""

    def __init__(self, tmp_path):
        self.path = str(tmp_path / ("escaped-" + unique("x")))


HOSTILE = {
    "path traversal": (lambda esc: regular("resources/configmaps/namespaces/x/../../../../../../../.."
                                           + esc.path + ".json", b"{}"),
                       "path leaving the archive"),
    "absolute path": (lambda esc: regular(esc.path, b"{}"), "absolute path"),
    "symlink": (lambda esc: special("resources/configmaps/namespaces/x/link.json", tarfile.SYMTYPE, esc.path),
                "link"),
    "hardlink": (lambda esc: special("resources/configmaps/namespaces/x/hard.json", tarfile.LNKTYPE,
                                     "metadata/version"), "link"),
    "device": (lambda esc: special("resources/configmaps/namespaces/x/dev.json", tarfile.CHRTYPE), "device"),
    "fifo": (lambda esc: special("resources/configmaps/namespaces/x/fifo.json", tarfile.FIFOTYPE), "device"),
}
# A bad item (invalid JSON, not an object, ...) is that item's error, not the archive's: the restore
# goes on (tests/integration/test_reliability.py).


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_restored(bed, api_client, tmp_path, case):
    factory, message = HOSTILE[case]
    escape = Escape(tmp_path)
    namespace = unique("hostile")
    location = filesystem_location(tmp_path)
    put_backup(location, "evil", tar_with(lambda: factory(escape), namespace), velero_backup_document("evil"))

    result = run_restore(bed, location, backup_name="evil", name="r1")

    assert result.failed and message in result["msg"], result.get("msg")
    assert not any(os.path.exists(escape.path + suffix) for suffix in ("", ".json"))
    assert get_raw(api_client, "/api/v1/namespaces/%s" % namespace) is None
    assert not os.path.exists(os.path.join(location["path"], "restores"))


def test_gzip_bomb_is_capped(bed, api_client, tmp_path):
    namespace = unique("bomb")
    location = filesystem_location(tmp_path)
    bomb = b"\0" * (48 * 1024 * 1024)  # 48 MiB of zeros: about 50 KiB once gzipped
    put_backup(location, "bomb", tar_with(lambda: regular("resources/configmaps/namespaces/x/big.json", bomb),
                                          namespace), velero_backup_document("bomb"))
    assert os.path.getsize(os.path.join(location["path"], "backups", "bomb", "bomb.tar.gz")) < 1024 * 1024

    result = run_restore(bed, location, backup_name="bomb", max_archive_size="16Mi")

    assert result.failed and "expands beyond %d bytes" % (16 * 1024 * 1024) in result["msg"]
    assert get_raw(api_client, "/api/v1/namespaces/%s" % namespace) is None


def test_archive_without_resources_is_refused(bed, tmp_path):
    location = filesystem_location(tmp_path)
    put_backup(location, "empty", build_tarball([("metadata/version", b"1.1.0\n")]), velero_backup_document("empty"))
    result = run_restore(bed, location, backup_name="empty")
    assert result.failed and "no resources/ entries" in result["msg"]


def test_truncated_archive_is_refused(bed, api_client, tmp_path):
    namespace = unique("trunc")
    location = filesystem_location(tmp_path)
    tarball = velero_tarball([("configmaps", configmap_obj(namespace, "c%d" % i, data={"v": os.urandom(2000).hex()}))
                              for i in range(20)])
    put_backup(location, "cut", tarball[:len(tarball) // 2], velero_backup_document("cut"))
    result = run_restore(bed, location, backup_name="cut")
    assert result.failed and "corrupt" in result["msg"]
    assert get_raw(api_client, "/api/v1/namespaces/%s" % namespace) is None


# ------------------------------------------------------------------ unusable backups and options

def test_unknown_backup(bed, tmp_path):
    location = filesystem_location(tmp_path)
    os.makedirs(location["path"])
    result = run_restore(bed, location, backup_name="nope")
    assert result.failed and "backup nope not found" in result["msg"]


@pytest.mark.parametrize("phase", ["Failed", "InProgress", "FailedValidation"])
def test_backup_not_completed(bed, tmp_path, phase):
    location = filesystem_location(tmp_path)
    put_backup(location, "b", velero_tarball([("configmaps", configmap_obj("x", "c"))]),
               velero_backup_document("b", phase=phase))
    result = run_restore(bed, location, backup_name="b")
    assert result.failed
    assert result["msg"] == ("backup b is in phase %s; only Completed or PartiallyFailed backups can be restored"
                             % phase)


def test_two_namespaces_mapped_onto_one(bed, api_client, tmp_path):
    location = filesystem_location(tmp_path)
    first, second, target = unique("a"), unique("b"), unique("t")
    put_backup(location, "b", velero_tarball([("configmaps", configmap_obj(first, "c")),
                                              ("configmaps", configmap_obj(second, "c"))]),
               velero_backup_document("b"))
    result = run_restore(bed, location, backup_name="b", namespace_mapping={first: target, second: target})
    assert result.failed and "would all be restored into namespace %r" % target in result["msg"]

    # A mapping onto a namespace that is restored as well is the same mistake.
    result = run_restore(bed, location, backup_name="b", namespace_mapping={first: second})
    assert result.failed and "would all be restored into namespace %r" % second in result["msg"]
    assert get_raw(api_client, "/api/v1/namespaces/%s" % second) is None


def test_backup_name_and_schedule_name_are_exclusive(bed, tmp_path):
    location = filesystem_location(tmp_path)
    result = run_restore(bed, location, backup_name="a", schedule_name="s")
    assert result.failed and "mutually exclusive" in result["msg"]
    result = run_restore(bed, location)
    assert result.failed and "backup_name" in result["msg"]


def test_schedule_name_picks_newest_completed_backup(bed, api_client, tmp_path):
    location = filesystem_location(tmp_path)
    namespace = unique("sched")
    labels = {"velero.io/schedule-name": "nightly"}
    for name, phase, start in [("nightly-1", "Completed", "2024-05-01T10:00:00Z"),
                               ("nightly-2", "Completed", "2024-05-02T10:00:00Z"),
                               ("nightly-3", "PartiallyFailed", "2024-05-03T10:00:00Z"),
                               ("other-9", "Completed", "2024-05-09T10:00:00Z")]:
        put_backup(location, name, velero_tarball([("configmaps", configmap_obj(namespace, name))]),
                   velero_backup_document(name, phase=phase, start=start,
                                          labels=labels if name.startswith("nightly") else {}))
    result = run_restore(bed, location, schedule_name="nightly", check_mode=True)
    assert not result.failed, result.get("msg")
    assert result["backup_name"] == "nightly-2" and result["name"].startswith("nightly-2-")
    assert [(p["name"], p["action"]) for p in result["plan"] if p["resource"] == "v1/ConfigMap"] == [
        ("nightly-2", "create")]
    assert get_raw(api_client, "/api/v1/namespaces/%s" % namespace) is None

    result = run_restore(bed, location, schedule_name="weekly")
    assert result.failed and "no Completed backup of schedule weekly" in result["msg"]


def test_bad_options_fail_before_anything(bed, tmp_path):
    location = filesystem_location(tmp_path)
    put_backup(location, "b", velero_tarball([("configmaps", configmap_obj("x", "c"))]), velero_backup_document("b"))
    cases = [
        (dict(included_resources=["nodes"]), "nodes cannot be restored"),
        (dict(label_selector="a in b"), "expected '('"),
        (dict(resource_modifiers=[{"conditions": {}}]), "resource_modifiers[0]"),
        (dict(max_archive_size="lots"), "max_archive_size 'lots'"),
        (dict(priorities=["a", "-", "b", "-"]), "separator"),
        (dict(name="Not_Valid"), "not a valid object name"),
    ]
    for options, message in cases:
        result = run_restore(bed, location, backup_name="b", **options)
        assert result.failed and message in result["msg"], (options, result.get("msg"))


def test_gzipped_restore_objects_are_velero_shaped_and_a_rerun_returns_the_stored_restore(
        bed, tmp_path, doomed_namespaces):
    location = filesystem_location(tmp_path)
    namespace = doomed_namespaces(unique("names"))
    put_backup(location, "b", velero_tarball([("configmaps", configmap_obj(namespace, "c"))]),
               velero_backup_document("b"))
    first = run_restore(bed, location, backup_name="b", name="once")
    assert first["phase"] == "Completed"
    with open(os.path.join(location["path"], "restores", "once", "restore-once-resource-list.json.gz"), "rb") as f:
        raw = gzip.decompress(f.read())
    assert raw.endswith(b"\n") and json.loads(raw)["v1/ConfigMap"] == ["%s/c(created)" % namespace]
    # A rerun with the same name (an AWX relaunch) returns the stored restore, unchanged, in check mode too.
    for check_mode in (False, True):
        again = run_restore(bed, location, backup_name="b", name="once", check_mode=check_mode)
        assert not again.failed, again.get("msg")
        assert again["changed"] is False
        for key in ("name", "backup_name", "phase", "item_counts", "restore_warnings", "restore_errors",
                    "warning_count", "error_count", "storage"):
            assert again[key] == first[key], key
        assert again["start_timestamp"] and again["completion_timestamp"]
    # The name of a restore of another backup is a clear error.
    put_backup(location, "other", velero_tarball([("configmaps", configmap_obj(namespace, "d"))]),
               velero_backup_document("other"))
    other = run_restore(bed, location, backup_name="other", name="once")
    assert other.failed and "restore once exists already in the storage location for backup b, not other: give " \
        "another name" in other["msg"], other.get("msg")


def test_rerun_of_a_partially_failed_restore_is_as_loud(bed, tmp_path, doomed_namespaces):
    """The relaunch of a restore that ended PartiallyFailed returns the same phase, counts, errors
    and warnings, and the restore of a PartiallyFailed backup says so."""
    location = filesystem_location(tmp_path)
    namespace = doomed_namespaces(unique("rerun"))
    bad = configmap_obj(namespace, "bad", data={"not a valid key!": "x"})  # the API server refuses it
    put_backup(location, "partial", velero_tarball([("configmaps", configmap_obj(namespace, "c")),
                                                    ("configmaps", bad)]),
               dict(velero_backup_document("partial", phase="PartiallyFailed"),
                    status=dict(velero_backup_document("partial")["status"], phase="PartiallyFailed", errors=2)))
    first = run_restore(bed, location, backup_name="partial", name="partial-r")
    assert not first.failed, first.get("msg")
    assert first["phase"] == "PartiallyFailed" and first["item_counts"]["failed"] == 1, first["restore_errors"]
    said = warning_messages(first)
    assert said[0].startswith("restore partial-r: backup partial ended PartiallyFailed (2 errors): what it could not "
                              "save is not in it"), said
    assert said[1].startswith("restore partial-r ended PartiallyFailed with 1 error"), said
    assert said[2].startswith("restore partial-r error (namespace %s): configmaps %s/bad: HTTP 422" % (
        namespace, namespace)), said
    again = run_restore(bed, location, backup_name="partial", name="partial-r")
    assert not again.failed and again["changed"] is False
    for key in ("phase", "item_counts", "restore_warnings", "restore_errors"):
        assert again[key] == first[key], key
    assert warning_messages(again) == said


def test_unreachable_cluster_fails_clearly_and_writes_nothing(bed, tmp_path):
    location = filesystem_location(tmp_path)
    put_backup(location, "b", velero_tarball([("configmaps", configmap_obj("x", "c"))]), velero_backup_document("b"))
    result = run_restore(bed, location, backup_name="b", name="nowhere", host="http://127.0.0.1:1")
    assert result.failed and "cannot reach the Kubernetes API server at http://127.0.0.1:1" in result["msg"]
    assert not os.path.exists(os.path.join(location["path"], "restores"))
