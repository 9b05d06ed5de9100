"""volumes/kopia_maintenance.py and the restic_repo dispatch (maintenance.py): kopia's JSON read into
restic_repo's results, option checks, and every action against a fake runner that records the kopia
arguments (the real kopia runs in tests/integration/test_kopia_repo.py)."""
import json

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_maintenance, maintenance
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploader_errors import CommandResult

PASSWORD = "kopia-pw-123"
LOCATION = dict(provider="s3", bucket="velero", prefix="cl", endpoint_url="http://minio:9000", access_key="AK",
                secret_key="SK-secret", s3_addressing_style="path")


def manifest(sid, start, pod="pod-1", backup="b1", prefixed=True, size=10, files=1):
    tags = {"backup": backup, "snapshot-uploader": "kopia"}
    return {"id": sid, "source": {"host": "default", "userName": "default",
                                  "path": "snapshot-pod-volume/kopia/app/%s/data" % pod},
            "description": "Kopia Uploader", "startTime": start, "endTime": start,
            "tags": dict((("tag:" + k) if prefixed else k, v) for k, v in tags.items()), "pins": ["velero-pin"],
            "rootEntry": {"name": "data", "type": "d", "obj": "k1", "summ": {"size": size, "files": files, "dirs": 1}}}


LIST = [manifest("aaaa1111aaaa1111aaaa1111aaaa1111", "2026-12-02T10:00:00Z"),
        manifest("bbbb2222bbbb2222bbbb2222bbbb2222", "2026-12-02T11:00:00Z", backup="b2", prefixed=False, size=20),
        manifest("cccc3333cccc3333cccc3333cccc3333", "2026-12-02T12:00:00Z", pod="pod-2", backup="b2", size=5)]


class FakeKopia(object):
    """Answers like kopia for one repository; records (args, create)."""

    def __init__(self, snapshots=None, exists=True, verify=None, verify_rc=0):
        self.snapshots = list(snapshots if snapshots is not None else LIST)
        self.exists = exists
        self.verify = verify or {"stats": {"readFileCount": 3}, "errorCount": 0}
        self.verify_rc = verify_rc
        self.calls = []
        self.blobs = [{"id": "p1", "length": 100}, {"id": "p2", "length": 50}, {"id": "q1", "length": 10},
                      {"id": "kopia.maintenance", "length": 1}]

    def __call__(self, repo, args, operation, create=False, timeout=None, ok_codes=(0,)):
        self.calls.append((list(args) if args else None, create))
        if args is None:
            if not self.exists and not create:
                raise kopia.KopiaRepositoryNotFound("kopia connect failed: the kopia repository does not exist",
                                                    kind="not_found")
            self.exists = True
            return CommandResult(0, "", "", [])
        out, rc = "", 0
        if args[:2] == ["snapshot", "list"]:
            out = json.dumps(self.snapshots)
        elif args[:2] == ["snapshot", "delete"]:
            self.snapshots = [m for m in self.snapshots if m["id"] not in args]
        elif args[:2] == ["snapshot", "verify"]:
            out, rc = json.dumps(self.verify), self.verify_rc
        elif args[:2] == ["blob", "list"]:
            out = json.dumps(self.blobs)
        elif args[:2] == ["maintenance", "run"]:
            self.blobs = [b for b in self.blobs if b["id"] != "p2"] + [{"id": "p3", "length": 30}]
        elif args[:2] == ["maintenance", "info"]:
            out = json.dumps({"owner": "default@default", "schedule": {}})
        elif args[:2] == ["repository", "status"]:
            out = json.dumps({"uniqueIDHex": "abc", "storage": {"type": "s3", "config": {"bucket": "velero"}},
                              "contentFormat": {"hash": "BLAKE2B-256-128", "encryption": "AES256-GCM-HMAC-SHA256",
                                                "version": 3}, "objectFormat": {"splitter": "DYNAMIC-4M-BUZHASH"}})
        if rc not in ok_codes:
            raise kopia.KopiaError("kopia %s failed" % operation, rc=rc)
        return CommandResult(rc, out, "", list(args))


def manager(fake, check_mode=False, **params):
    base = dict(uploader_type="kopia", storage_location=LOCATION, volume_namespace="app",
                repository_password=PASSWORD, timeout=60, read_data=False, prune=False, remove_all=False)
    base.update(params)
    return kopia_maintenance.KopiaRepoManager(base, check_mode, runner=fake)


def ids(snapshots):
    return [s["id"] for s in snapshots]


def test_velero_layout_and_no_secret_in_the_result():
    m = manager(FakeKopia())
    assert m.repo.identifier == "s3:http://minio:9000/velero/cl/kopia/app" and m.repo.prefix == "cl/kopia/app/"
    with pytest.raises(InvalidOptionError, match="action must be one of"):
        m.execute()  # neither state nor action (the module requires one): refused before kopia runs
    assert m.runner.calls == []
    result = manager(FakeKopia(), action="stats").execute()
    assert PASSWORD not in json.dumps(result) and "SK-secret" not in json.dumps(result)


def test_verify_percent():
    assert kopia_maintenance.verify_percent(False, None) == 0
    assert kopia_maintenance.verify_percent(True, None) == 100
    assert kopia_maintenance.verify_percent(False, "1/4") == 25 and kopia_maintenance.verify_percent(True, "12.5%") == 12.5
    for bad in ("500M", "5/4", "120%", "half"):
        with pytest.raises(InvalidOptionError, match="read_data_subset"):
            kopia_maintenance.verify_percent(False, bad)


def test_describe_reads_cli_and_velero_tags():
    listed = kopia_maintenance.parse_snapshot_list(json.dumps(list(reversed(LIST))))
    assert ids(listed) == [m["id"] for m in LIST]  # oldest first
    assert listed[0]["tag_map"] == {"backup": "b1", "snapshot-uploader": "kopia"}  # from tag:backup
    assert listed[1]["tag_map"]["backup"] == "b2"  # Velero's plain keys
    assert listed[0]["tags"] == ["backup=b1", "snapshot-uploader=kopia"] and listed[0]["pins"] == ["velero-pin"]
    assert listed[0]["source"] == "default@default:snapshot-pod-volume/kopia/app/pod-1/data"
    assert kopia_maintenance.last_per_source(listed, 1) == listed[1:]
    assert kopia_maintenance.last_per_source(listed, 0) == []
    assert [s["id"] for s in listed if kopia_maintenance.matches(s, tags=["backup=b2"], hosts=["default"])] == ids(
        listed[1:])
    assert not kopia_maintenance.matches(listed[0], paths=["/elsewhere"])


def test_present_creates_only_when_missing():
    fake = FakeKopia(exists=False)
    dry = manager(fake, check_mode=True, state="present").execute()
    assert dry["changed"] and dry["initialized"] and fake.calls == [(None, False)]
    done = manager(fake, state="present").execute()
    assert done["changed"] and fake.calls[-1] == (None, True)
    assert manager(fake, state="present").execute()["changed"] is False


def test_snapshots_filters_and_latest():
    r = manager(FakeKopia(), action="snapshots", tags=["backup=b2"]).execute()
    assert ids(r["snapshots"]) == [LIST[1]["id"], LIST[2]["id"]] and r["changed"] is False
    assert r["command"] == ["kopia", "snapshot", "list", "--all", "--json"]
    listed = manager(FakeKopia(), action="snapshots", latest=1).execute()["snapshots"]
    assert ids(listed) == [LIST[1]["id"], LIST[2]["id"]]


def test_forget_by_id_check_mode_and_idempotence():
    fake = FakeKopia()
    dry = manager(fake, check_mode=True, action="forget", snapshot_ids=["aaaa1111"]).execute()
    assert dry["changed"] and dry["forget"]["removed"] == [LIST[0]["id"]] and len(fake.snapshots) == 3
    r = manager(fake, action="forget", snapshot_ids=["aaaa1111"]).execute()
    assert r["changed"] and r["forget"]["removed"] == [LIST[0]["id"]] and len(fake.snapshots) == 2
    assert ["snapshot", "delete", LIST[0]["id"], "--delete"] in [args for args, _c in fake.calls]
    assert manager(fake, action="forget", snapshot_ids=["aaaa1111"]).execute()["changed"] is False


def test_forget_keep_last_per_source_with_prune():
    fake = FakeKopia()
    r = manager(fake, action="forget", keep_last=1, prune=True).execute()
    assert r["forget"]["removed"] == [LIST[0]["id"]] and r["forget"]["kept"] == [LIST[1]["id"], LIST[2]["id"]]
    assert r["forget"]["pruned"] and r["prune"]["packs_deleted"] == 1 and r["prune"]["removed_anything"]


@pytest.mark.parametrize("params, message", [
    (dict(action="forget"), "snapshot_ids or keep_last"),
    (dict(action="forget", keep_last=1, snapshot_ids=["aaaa1111"]), "not both"),
    (dict(action="forget", keep_last=-1), "negative"),
    (dict(action="forget", keep_daily=7), "keep_daily only apply to restic"),
    (dict(action="stats", stats_mode="raw-data"), "stats_mode only apply"),
    (dict(action="forget", snapshot_ids=["--all"]), "not a kopia snapshot ID"),
    (dict(action="snapshots", repository_password=None), "password is required"),
])
def test_bad_input_is_refused(params, message):
    fake = FakeKopia()
    with pytest.raises(InvalidOptionError, match=message):
        manager(fake, **params).execute()
    assert not [args for args, _c in fake.calls if args and args[:2] == ["snapshot", "delete"]]


def test_prune_counts_packs_and_check_mode_only_reads():
    fake = FakeKopia()
    dry = manager(fake, check_mode=True, action="prune").execute()
    assert dry["changed"] is False and dry["prune"] == dict(removed_anything=None, owner="default@default")
    assert not [args for args, _c in fake.calls if args and args[0] == "maintenance" and args[1] == "run"]
    r = manager(fake, action="prune").execute()
    assert r["changed"] and r["prune"]["packs_before"] == 3 and r["prune"]["packs_after"] == 3
    assert r["prune"]["bytes_before"] == 160 and r["prune"]["bytes_after"] == 140 and r["prune"]["packs_written"] == 1
    assert r["command"] == ["kopia", "maintenance", "run", "--full"]


def test_check_unlock_stats():
    fake = FakeKopia()
    check = manager(fake, action="check", read_data_subset="10%").execute()
    assert check["check"]["errors_found"] is False and check["check"]["stats"] == {"readFileCount": 3}
    assert fake.calls[-1][0] == ["snapshot", "verify", "--json", "--verify-files-percent=10"]
    broken = FakeKopia(verify={"errorCount": 2, "errorStrings": ["object k1 not found", "blob p2 missing"]},
                       verify_rc=1)
    with pytest.raises(kopia.KopiaError, match="found 2 error.*blob p2 missing"):
        manager(broken, action="check").execute()
    unlock = manager(fake, action="unlock").execute()
    assert unlock["changed"] is False and unlock["locks"] == [] and "no locks" in unlock["note"]
    stats = manager(fake, action="stats", snapshot_ids=["bbbb2222", "cccc3333"]).execute()["stats"]
    assert stats["snapshots_count"] == 2 and stats["total_size"] == 25 and stats["total_file_count"] == 2
    assert stats["repository"] == dict(unique_id="abc", storage_type="s3", hash="BLAKE2B-256-128",
                                       encryption="AES256-GCM-HMAC-SHA256", format_version=3,
                                       splitter="DYNAMIC-4M-BUZHASH")


def test_dispatch_and_password_file(tmp_path):
    with pytest.raises(InvalidOptionError, match="uploader_type must be one of"):
        maintenance.manage_repository(dict(uploader_type="borg", state="present", storage_location=LOCATION,
                                           volume_namespace="app"), False)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    m = manager(FakeKopia(), repository_password=None, password_file=str(pw), action="unlock")
    assert m.repo.password == PASSWORD
    given = manager(FakeKopia(), volume_namespace=None, repository="s3:http://minio:9000/velero/cl/kopia/app",
                    action="unlock")
    assert given.repo.bucket == "velero" and given.repo.prefix == "cl/kopia/app/"
