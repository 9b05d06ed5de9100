"""k8s_backup_info's filters, uncommitted backups and details, and k8s_restore_info, over a
filesystem location holding records written by the same code the runs use (RunLog, the hook
recorder, the PodVolumeBackup record builder)."""
import datetime
import gzip
import io
import json
import random

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive.restore_record import StoredRestore
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339
from ansible_collections.kubedr.backup.plugins.module_utils.info import describe as backup_info
from ansible_collections.kubedr.backup.plugins.module_utils.info import details
from ansible_collections.kubedr.backup.plugins.module_utils.info import progress
from ansible_collections.kubedr.backup.plugins.module_utils.info import restores as restore_info
from ansible_collections.kubedr.backup.plugins.module_utils.info.filters import ListingFilter, scheduled_name_matches
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store, upload_gzipped
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.selection import PodVolume, pod_volume_backup_record

NOW = datetime.datetime(2024, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def stamp(minutes_ago):
    return rfc3339(NOW - datetime.timedelta(minutes=minutes_ago))


@pytest.fixture
def location(tmp_path):
    return {"provider": "filesystem", "path": str(tmp_path)}


@pytest.fixture
def store(location):
    store = open_store(location)
    store.check()
    return store


def put_log(store, key, write):
    log = runlog.RunLog("x", runlog.BACKUP)
    write(log)
    upload_gzipped(store, key, log.copy_to)
    log.close()


def commit(store, name, started, phase="Completed", labels=None, expiration="2030-01-01T00:00:00Z", items=1):
    keys = layout.backup_keys(name)
    store.put_bytes(keys["tarball"], b"x" * 10)
    store.put_json_gz(keys["resource_list"], {"v1/ConfigMap": ["ns/%d" % i for i in range(items)]})
    store.put_bytes(keys["metadata"], json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "creationTimestamp": started, "labels": labels or {}},
        "status": {"phase": phase, "startTimestamp": started, "expiration": expiration,
                   "progress": {"totalItems": items, "itemsBackedUp": items}}}).encode())


def put_progress(store, key, phase, updated, **extra):
    document = dict({"phase": phase, "startTimestamp": stamp(30), "updateTimestamp": updated, "totalItems": 30300,
                     "itemsBackedUp": 12400}, **extra)
    store.put_bytes(key, json.dumps(document).encode())


# ------------------------------------------------------------------ filters

def test_backup_filters_schedule_phase_labels_expired_newest(location, store):
    commit(store, "nightly-20240101020000", "2024-01-01T02:00:00Z", labels={"velero.io/schedule-name": "nightly"},
           expiration="2024-01-31T02:00:00Z")
    commit(store, "nightly-20240102020000", "2024-01-02T02:00:00Z", "PartiallyFailed",
           labels={"velero.io/schedule-name": "nightly", "tier": "gold"})
    commit(store, "nightly-20240103020000", "2024-01-03T02:00:00Z", labels={"velero.io/schedule-name": "nightly"})
    commit(store, "manual", "2024-01-04T02:00:00Z", labels={"tier": "gold"})

    def names(**options):
        return [b["name"] for b in backup_info.run(location, options, now=NOW)["backups"]]

    assert names() == ["nightly-20240101020000", "nightly-20240102020000", "nightly-20240103020000", "manual"]
    assert names(schedule="nightly", newest=2) == ["nightly-20240102020000", "nightly-20240103020000"]
    assert names(schedule="nightly", phase="Completed") == ["nightly-20240101020000", "nightly-20240103020000"]
    assert names(phase=["PartiallyFailed", "Failed"]) == ["nightly-20240102020000"]
    assert names(label_selector="tier=gold") == ["nightly-20240102020000", "manual"]
    assert names(label_selector={"matchLabels": {"tier": "gold"}}, schedule="nightly") == ["nightly-20240102020000"]
    assert names(label_selector="!tier,velero.io/schedule-name in (nightly)", newest=1) == ["nightly-20240103020000"]
    assert names(expired=True) == ["nightly-20240101020000"]
    assert len(names(expired=False)) == 3
    assert names(schedule="weekly") == []
    assert backup_info.run(location, {}, now=NOW)["backups"][0]["schedule"] == "nightly"


@pytest.mark.parametrize("options,message", [
    ({"phase": "Complete"}, "phase 'Complete' is not a backup phase"),
    ({"phase": ["InProgress"]}, "add include_uncommitted: true"),
    ({"newest": 0}, "newest must be a whole number of at least 1"),
    ({"label_selector": "tier in ("}, "label_selector"),
    ({"schedule": "Nightly!"}, "schedule 'Nightly!' is not a valid object name"),
    ({"stale_after": "soon"}, "stale_after 'soon' is not a duration"),
])
def test_bad_filters_fail_before_reading(tmp_path, options, message):
    absent = {"provider": "filesystem", "path": str(tmp_path / "absent")}  # never reached
    with pytest.raises(InvalidOptionError, match=message):
        backup_info.run(absent, options, now=NOW)


def test_newest_keeps_the_last_n_of_any_filtered_listing_property():
    rng = random.Random(1616)
    for _round in range(200):
        summaries = [{"name": "b%d" % i, "phase": rng.choice(["Completed", "PartiallyFailed", "Failed"]),
                      "labels": {"velero.io/schedule-name": rng.choice(["a", "b"])}} for i in range(rng.randint(0, 12))]
        newest = rng.randint(1, 5)
        phase = rng.choice(["Completed", "Failed"])
        kept = ListingFilter({"phase": phase, "schedule": "a", "newest": newest}, "backup").apply(summaries)
        expected = [s for s in summaries if s["phase"] == phase and s["labels"]["velero.io/schedule-name"] == "a"]
        assert kept == expected[-newest:]


def test_scheduled_names():
    assert scheduled_name_matches("nightly", "nightly-20240101020000")
    assert not scheduled_name_matches("nightly", "nightly-x-20240101020000")
    assert not scheduled_name_matches("night", "nightly-20240101020000")
    assert not scheduled_name_matches("n.ghtly", "nightly-20240101020000")  # the name is not a pattern


# ------------------------------------------------------------------ uncommitted backups

def test_uncommitted_backups_running_dead_failed_and_gone(location, store):
    commit(store, "done", "2024-01-01T02:00:00Z")
    running = layout.backup_keys("nightly-20240301115000")
    put_progress(store, running["progress"], "Uploading", stamp(0.1),
                 volumes={"total": 3, "done": 1, "failed": 0, "totalBytes": 4 * 1024 ** 3, "bytesDone": 1288490189},
                 etaSeconds=180)
    dead = layout.backup_keys("dead")
    put_progress(store, dead["progress"], "InProgress", stamp(42))
    failed = layout.backup_keys("failed")
    put_progress(store, failed["progress"], "Failed", stamp(50))
    failure = results.Results()
    failure.error("backup failed: storage location: PUT refused")
    store.put_json_gz(failed["results"], failure.to_dict())
    put_log(store, failed["logs"], lambda log: log.error("Backup failed", reason="storage location: PUT refused"))
    store.put_bytes(layout.backup_keys("orphan")["tarball"], b"half")  # no progress object at all
    store.put_bytes(layout.deletion_record_key("going"), b"{}")
    store.put_bytes(layout.backup_keys("going")["tarball"], b"left")

    listed = backup_info.run(location, {}, now=NOW)
    assert [b["name"] for b in listed["backups"]] == ["done"]  # the default keeps its meaning (gc relies on it)
    assert listed["unfinished_deletions"] == ["going"]
    every = backup_info.run(location, {"include_uncommitted": True}, now=NOW)["backups"]
    by_name = dict((b["name"], b) for b in every)
    assert sorted(by_name) == ["dead", "done", "failed", "nightly-20240301115000", "orphan"]
    assert by_name["done"]["committed"] is True and "progress" not in by_name["done"]
    live = by_name["nightly-20240301115000"]
    assert (live["phase"], live["committed"], live["item_count"], live["notes"]) == ("Uploading", False, 12400, [])
    # The line the playbooks print while they wait (info/run_progress.py).
    assert live["progress"]["text"] == "backup nightly-20240301115000: 12,400 items; volumes 1/3, 1.2/4.0 GiB; ETA 3m " \
        "(Uploading)"
    assert live["progress"]["volumes"]["bytes_done"] == 1288490189
    assert by_name["dead"]["phase"] == "Unknown"
    assert "no progress since %s (42m0s ago, more than stale_after 5m0s)" % stamp(42) in by_name["dead"]["notes"][0]
    assert "the run seems dead" in by_name["dead"]["notes"][0]
    assert (by_name["failed"]["phase"], by_name["failed"]["failure_reason"]) == ("Failed", "storage location: PUT refused")
    assert by_name["failed"]["error_count"] == 1
    assert by_name["orphan"]["phase"] == "Unknown" and "no progress object" in by_name["orphan"]["notes"][0]
    # A longer threshold: the same object is a run still going.
    assert backup_info.run(location, {"name": "dead", "stale_after": "1h"}, now=NOW)["backup"]["phase"] == "InProgress"
    # Filters see them: a running backup of schedule nightly (by its name, it has no stored labels yet).
    running_ones = backup_info.run(location, {"include_uncommitted": True, "schedule": "nightly",
                                              "phase": ["InProgress", "Uploading"]}, now=NOW)["backups"]
    assert [b["name"] for b in running_ones] == ["nightly-20240301115000"]
    # Described by name always, with its log and results.
    described = backup_info.run(location, {"name": "failed", "logs": True, "results": True}, now=NOW)["backup"]
    assert described["phase"] == "Failed" and described["committed"] is False
    assert any('msg="Backup failed"' in line for line in described["logs"])
    assert described["errors"]["velero"] == ["backup failed: storage location: PUT refused"]
    assert sorted(described["storage"]) == ["logs", "progress", "results"]
    with pytest.raises(NotFoundError, match="backup going is being deleted"):
        backup_info.run(location, {"name": "going"}, now=NOW)
    with pytest.raises(NotFoundError, match="backup nope not found"):
        backup_info.run(location, {"name": "nope"}, now=NOW)


def test_an_encrypted_backup_that_never_committed(location, store):
    sealed = crypto.EncryptedStore(store, crypto.Cipher.new({"passphrase": "the-passphrase"}))
    keys = layout.backup_keys("secret")
    put_progress(sealed, keys["progress"], "Failed", stamp(1))  # the progress object stays plain
    failure = results.Results()
    failure.error("backup failed: the API server went away")
    sealed.put_json_gz(keys["results"], failure.to_dict())
    assert crypto.is_encrypted(store.get_bytes(keys["results"]))
    blind = backup_info.run(location, {"name": "secret"}, now=NOW)["backup"]
    assert (blind["phase"], blind["encrypted"], blind["failure_reason"]) == ("Failed", True, None)
    assert any("encrypted: give the encryption option" in note for note in blind["notes"])
    seen = backup_info.run(location, {"name": "secret", "encryption": {"passphrase": "the-passphrase"}}, now=NOW)
    assert seen["backup"]["failure_reason"] == "the API server went away"
    listed = backup_info.run(location, {"include_uncommitted": True, "encryption": {"passphrase": "the-passphrase"}},
                             now=NOW)["backups"]
    assert listed[0]["error_count"] == 1
    with pytest.raises(crypto.DecryptionError, match="wrong encryption key"):
        backup_info.run(location, {"name": "secret", "encryption": {"passphrase": "another"}}, now=NOW)
    [wrong] = backup_info.run(location, {"include_uncommitted": True, "encryption": {"passphrase": "another"}},
                              now=NOW)["backups"]  # a listing goes on, and says why it could not read them
    assert wrong["phase"] == "Failed" and "wrong encryption key" in wrong["notes"][-1]


def test_an_older_progress_object_with_fewer_keys(store):
    store.put_bytes(layout.backup_keys("old")["progress"], json.dumps({
        "phase": "InProgress", "startTimestamp": stamp(1), "updateTimestamp": stamp(1), "totalItems": 5,
        "itemsBackedUp": 5}).encode())
    view = backup_info.describe_backup(store, "old", {}, NOW)["progress"]
    assert (view["volumes"], view["eta_seconds"], view["text"]) == (None, None, "backup old: 5 items (InProgress)")


@pytest.mark.parametrize("text,expected", [
    ("2024-03-01T12:00:00Z", NOW), ("2024-03-01T13:30:00+01:30", NOW), ("2024-03-01T11:59:59.5Z", NOW - datetime.timedelta(seconds=0.5)),
    ("yesterday", None), (None, None), ("2024-02-30T00:00:00Z", None),
])
def test_parse_time(text, expected):
    assert progress.parse_time(text) == expected


# ------------------------------------------------------------------ details

def test_details_volumes_resources_and_hooks(location, store):
    commit(store, "b", "2024-01-01T02:00:00Z", items=2)
    keys = layout.backup_keys("b")
    volume = PodVolume("shop", "db-0", "uid-1", "node-1", "data", "data-db-0", "pv-1", "data")
    records = [
        pod_volume_backup_record("b", "uid", volume, "default", "s3:http://m/velero/restic/shop", {
            "phase": "Completed", "snapshot_id": "3f2a9c1e", "bytes_done": 1048576, "total_bytes": 1048576,
            "start": "2024-01-01T02:00:01Z", "completion": "2024-01-01T02:00:13Z"}),
        pod_volume_backup_record("b", "uid", volume._replace(volume="cache", pvc=None), "default", "r", {
            "phase": "Failed", "message": "no running node agent on node node-1"}),
    ]
    store.put_json_gz(keys["pod_volume_backups"], records)

    def hooked(log):
        outcomes = [hooks.HookOutcome(hooks.ExecHook("freeze", None, ["fsfreeze"], "Fail", 30), True, ""),
                    hooks.HookOutcome(hooks.ExecHook("<from-annotation>", None, ["x"], "Continue", 30), False,
                                      "exit status 2: no such file")]
        hooks.record_outcomes(outcomes, "pod db-0: pre hook", results.Results(), log, "shop")
        log.info("Backed up item", resource="pods", name="db-0")
    put_log(store, keys["logs"], hooked)

    described = backup_info.run(location, {"name": "b", "details": True}, now=NOW)["backup"]
    assert "logs" not in described
    found = described["details"]
    assert [(v["volume"], v["phase"], v["snapshot_id"], v["bytes"], v["duration_seconds"], v["pvc"], v["error"])
            for v in found["volumes"]] == [
        ("cache", "Failed", None, 0, None, None, "no running node agent on node node-1"),
        ("data", "Completed", "3f2a9c1e", 1048576, 12, "data-db-0", None)]
    assert found["volume_totals"] == {"total": 2, "per_phase": {"Completed": 1, "Failed": 1}, "bytes": 1048576}
    assert found["resources_per_namespace"] == {"ns": {"v1/ConfigMap": 2}}
    assert [(h["pod"], h["phase"], h["hook"], h["outcome"], h["on_error"], h["message"]) for h in found["hooks"]] == [
        ("db-0", "pre", "freeze", "ok", None, None),
        ("db-0", "pre", "<from-annotation>", "failed", "Continue", "exit status 2: no such file")]
    assert found["hooks"][0]["namespace"] == "shop"
    both = backup_info.run(location, {"name": "b", "details": True, "logs": True}, now=NOW)["backup"]
    assert len(both["logs"]) == 3 and both["details"]["hooks"] == found["hooks"]  # one pass serves both


def test_a_hook_line_is_told_from_other_lines():
    assert details.hook_outcome('time="t" level=info msg="Backed up item" backup=velero/b name=hook') is None
    line = 'time="t" level=error msg="pod p: post hook a b: c: exit status 1: d" backup=velero/b namespace=n'
    assert details.hook_outcome(line)["hook"] == "a b"
    assert details.hook_outcome(line)["on_error"] == "Fail"


# ------------------------------------------------------------------ restores

def put_restore(store, name, backup, phase="Completed", started="2024-01-05T10:00:00Z", resource_list=None, errors=0):
    keys = layout.restore_keys(name)
    report = results.Results()
    for index in range(errors):
        report.error("configmaps ns/c%d: refused" % index, namespace="ns")
    entries = resource_list or {"v1/ConfigMap": ["ns/a(created)", "ns/b(skipped)"], "v1/Namespace": ["ns(created)"]}

    def write(log):
        log.log("info", runlog.RESTORE_STARTED, backup=backup)
        log.log("info", "pod app: restore hook warm: ok", namespace="ns")
        if phase == "Failed":
            log.error(runlog.RESTORE_FAILED, reason="the API server went away")
        else:
            log.info(runlog.RESTORE_COMPLETED, phase=phase, created=2, updated=0, skipped=1, failed=0, total=3,
                     recreated=0)
    put_log(store, keys["logs"], write)
    # RunLog stamps the current time; rewrite the stamps so the order of the listing is known.
    data = store.get_bytes(keys["logs"])
    text = gzip.decompress(data).decode()
    lines = [line.split('" ', 1)[1] for line in text.splitlines()]
    store.put_bytes(keys["logs"], gzip.compress("".join('time="%s" %s\n' % (started, line) for line in lines).encode()))
    store.put_json_gz(keys["results"], report.to_dict())
    store.put_json_gz(keys["resource_list"], entries)
    put_progress(store, keys["progress"], phase, started, backup=backup, itemsRestored=3)  # its last one


def test_restores_listed_filtered_and_described(location, store):
    commit(store, "nightly-1", "2024-01-01T02:00:00Z", labels={"velero.io/schedule-name": "nightly", "tier": "gold"})
    commit(store, "weekly-1", "2024-01-02T02:00:00Z", labels={"velero.io/schedule-name": "weekly"})
    put_restore(store, "r1", "nightly-1", started="2024-01-05T10:00:00Z")
    put_restore(store, "r2", "weekly-1", "PartiallyFailed", started="2024-01-06T10:00:00Z", errors=2)
    put_restore(store, "r3", "nightly-1", "Failed", started="2024-01-07T10:00:00Z")
    put_restore(store, "r4", "gone-1", started="2024-01-08T10:00:00Z")  # its backup was deleted
    put_progress(store, layout.restore_keys("r5")["progress"], "InProgress", stamp(0.2), backup="nightly-1",
                 itemsRestored=7)

    def listed(**options):
        return restore_info.run(location, options, now=NOW)["restores"]

    every = listed()
    assert [r["name"] for r in every] == ["r1", "r2", "r3", "r4", "r5"]
    first = every[0]
    assert (first["backup_name"], first["schedule"], first["phase"], first["start_timestamp"]) == (
        "nightly-1", "nightly", "Completed", "2024-01-05T10:00:00Z")
    assert first["item_counts"] == {"created": 2, "updated": 0, "skipped": 1, "failed": 0, "total": 3, "recreated": 0}
    assert (every[1]["phase"], every[1]["error_count"]) == ("PartiallyFailed", 2)
    assert (every[2]["phase"], every[2]["failure_reason"]) == ("Failed", "the API server went away")
    assert every[3]["schedule"] is None and every[3]["backup_labels"] == {}
    assert [r["progress"] is None for r in every] == [True, True, True, True, False]  # only a running one has it
    running = every[4]
    assert (running["phase"], running["backup_name"], running["progress"]["items_restored"]) == (
        "InProgress", "nightly-1", 7)

    def names(**options):
        return [r["name"] for r in listed(**options)]
    assert names(schedule="nightly") == ["r1", "r3", "r5"]
    assert names(backup_name="nightly-1", newest=1) == ["r5"]
    assert names(phase=["PartiallyFailed", "Failed"]) == ["r2", "r3"]
    assert names(label_selector="tier=gold", phase="Completed") == ["r1"]
    assert names(phase="Unknown") == []
    assert names(phase="Unknown", stale_after="1s") == ["r5"]

    described = restore_info.run(location, {"name": "r1", "logs": True, "results": True, "resource_list": True,
                                            "details": True}, now=NOW)["restore"]
    assert described["item_counts"]["per_resource"]["v1/ConfigMap"] == {"created": 1, "updated": 0, "skipped": 1,
                                                                        "failed": 0}
    assert described["item_counts"]["per_namespace"] == {"ns": 2}
    assert described["resource_list"]["v1/Namespace"] == ["ns(created)"]
    assert described["results"]["errors"] == results.empty_result()
    assert described["logs"][0].endswith("backup=nightly-1")
    assert described["details"]["resources_per_namespace"] == {"": {"v1/Namespace": 1}, "ns": {"v1/ConfigMap": 2}}
    assert [(h["pod"], h["phase"], h["hook"], h["outcome"]) for h in described["details"]["hooks"]] == [
        ("app", "restore", "warm", "ok")]
    with pytest.raises(NotFoundError, match="restore r9 not found"):
        restore_info.run(location, {"name": "r9"}, now=NOW)
    with pytest.raises(InvalidOptionError, match="phase 'Uploading' is not a restore phase"):
        restore_info.run(location, {"phase": "Uploading"}, now=NOW)


def test_a_restore_record_velero_wrote_has_no_final_line(store):
    stored = StoredRestore("v")
    stored.read_log(io.StringIO('time="2024-01-01T00:00:00Z" level=info msg="starting restore" restore=velero/v\n'))
    stored.results = {"errors": {"velero": [], "cluster": ["x"], "namespaces": {}}}
    assert stored.settle_phase() == "PartiallyFailed" and stored.backup_name is None
