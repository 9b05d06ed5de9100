"""kubedr.backup.restic_repo against the test bed's MinIO, with the real restic: the test bed's (first on
PATH, 0.18), or the one KUBEDR_TEST_RESTIC names (KUBEDR_TEST_RESTIC=/usr/bin/restic runs them with Debian's 0.14)."""
import json
import os
import stat
import subprocess
import time
import uuid

import pytest

import testbed

testbed.ensure_collection_path()
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner

PASSWORD = "it-" + uuid.uuid4().hex
RESTIC = os.environ.get("KUBEDR_TEST_RESTIC") or "restic"


@pytest.fixture(scope="module")
def repo_env(bed, storage_location, tmp_path_factory):
    """A repository of its own under a unique prefix, a restic wrapper that logs argv,
    and a data directory."""
    work = tmp_path_factory.mktemp("restic")
    argv_log = work / "argv.log"
    wrapper = work / "restic-wrapper"
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n' % (argv_log, RESTIC))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    loc = dict(storage_location, prefix="it-restic-" + uuid.uuid4().hex[:8])
    data = work / "data"
    data.mkdir()
    base = dict(storage_location=loc, volume_namespace="app", repository_password=PASSWORD,
                cache_dir=str(work / "cache"), restic_path=str(wrapper))
    return dict(loc=loc, base=base, data=data, argv_log=argv_log, work=work)


def restic_version():
    out = subprocess.run([RESTIC, "version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(part) for part in out.split()[1].split(".")[:2])


def module(env, check_mode=False, **args):
    params = dict(env["base"])
    params.update(args)
    result = testbed.run_module("restic_repo", params, check_mode=check_mode)
    text = json.dumps(result) + result.stderr
    assert PASSWORD not in text
    assert env["loc"]["secret_key"] not in text
    return result


def repo_objects(s3, env):
    prefix = "%s/restic/app/" % env["loc"]["prefix"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=env["loc"]["bucket"], Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents") or []]


def handle(env):
    return repository.Repository.from_storage_location(env["loc"], "app", password=PASSWORD,
                                                       cache_dir=str(env["work"] / "cache"), restic_binary=RESTIC)


def backup(env, name):
    (env["data"] / "file.txt").write_text("content of %s\n" % name)
    tags = restic.volume_tags(name, "uid-" + name, "pod-1", "pod-uid-1", "app", "data")
    return runner.backup_directory(handle(env), str(env["data"]), tags)


def test_identifier_is_velero_naming(repo_env, bed):
    r = module(repo_env, state="present", check_mode=True)
    assert r["repository"] == "s3:%s/%s/%s/restic/app" % (bed["KUBEDR_S3_ENDPOINT"], bed["KUBEDR_S3_BUCKET"],
                                                          repo_env["loc"]["prefix"])


def test_present_check_mode_changes_nothing(repo_env, s3):
    r = module(repo_env, state="present", check_mode=True)
    assert not r.failed, r
    assert r["changed"] and r["initialized"]
    assert repo_objects(s3, repo_env) == []


def test_present_initialises_once(repo_env, s3):
    r = module(repo_env, state="present")
    assert not r.failed, r
    assert r["changed"] and r["initialized"]
    assert any(k.endswith("/config") for k in repo_objects(s3, repo_env))
    again = module(repo_env, state="present")
    assert not again.failed and again["changed"] is False and again["initialized"] is False
    checked = module(repo_env, state="present", check_mode=True)
    assert checked["changed"] is False


def test_snapshots_and_tag_filter(repo_env):
    first = backup(repo_env, "b1")
    second = backup(repo_env, "b2")
    assert first["snapshot_id"] and second["snapshot_id"] and first["errors"] == []
    assert second["files_changed"] == 1
    r = module(repo_env, action="snapshots")
    assert not r.failed, r
    ids = [s["id"] for s in r["snapshots"]]
    assert len(ids) == 2
    assert ids[0].startswith(first["snapshot_id"]) and ids[1].startswith(second["snapshot_id"])
    assert r["snapshots"][1]["tag_map"] == {"backup": "b2", "backup-uid": "uid-b2", "pod": "pod-1",
                                            "pod-uid": "pod-uid-1", "ns": "app", "volume": "data"}
    assert r["snapshots"][0]["hostname"] == "velero"
    only = module(repo_env, action="snapshots", tags=["backup=b1", "volume=data"])
    assert [s["id"] for s in only["snapshots"]] == [ids[0]]
    none = module(repo_env, action="snapshots", tags=["backup=b1", "volume=other"])
    assert none["snapshots"] == []
    by_host = module(repo_env, action="snapshots", hosts=["elsewhere"])
    assert by_host["snapshots"] == []
    repo_env["ids"] = ids


def test_stats(repo_env):
    r = module(repo_env, action="stats")
    assert not r.failed, r
    assert r["stats"]["snapshots_count"] == 2 and r["stats"]["total_file_count"] == 2
    raw = module(repo_env, action="stats", stats_mode="raw-data", tags=["backup=b1"])
    assert raw["stats"]["snapshots_count"] == 1 and raw["stats"]["total_blob_count"] >= 1


def test_forget_keep_last(repo_env):
    old, new = repo_env["ids"]
    dry = module(repo_env, action="forget", keep_last=1, group_by="", check_mode=True)
    assert not dry.failed, dry
    assert dry["changed"] and dry["forget"]["removed"] == [old]
    assert len(module(repo_env, action="snapshots")["snapshots"]) == 2
    r = module(repo_env, action="forget", keep_last=1, group_by="", prune=True)
    assert not r.failed, r
    assert r["changed"] and r["forget"]["removed"] == [old] and r["forget"]["kept"] == [new]
    assert r["forget"]["pruned"] and "total_prune" in r["prune"]
    assert [s["id"] for s in module(repo_env, action="snapshots")["snapshots"]] == [new]
    again = module(repo_env, action="forget", keep_last=1, group_by="")
    assert again["changed"] is False and again["forget"]["removed"] == []


def test_forget_by_id(repo_env):
    extra = backup(repo_env, "b3")
    dry = module(repo_env, action="forget", snapshot_ids=[extra["snapshot_id"]], check_mode=True)
    assert dry["changed"] and len(dry["forget"]["removed"]) == 1
    r = module(repo_env, action="forget", snapshot_ids=[extra["snapshot_id"]])
    assert r["changed"] and r["forget"]["removed"][0].startswith(extra["snapshot_id"])
    assert len(module(repo_env, action="snapshots")["snapshots"]) == 1
    bad = module(repo_env, action="forget", snapshot_ids=["--keep-last=0"])
    assert bad.failed and "not a restic snapshot ID" in bad["msg"]


def test_prune(repo_env):
    dry = module(repo_env, action="prune", check_mode=True)
    assert not dry.failed, dry
    r = module(repo_env, action="prune")
    assert not r.failed, r
    assert "remaining" in r["prune"]
    assert module(repo_env, action="prune")["changed"] is False


def test_unlock_removes_stale_lock(repo_env):
    repo = handle(repo_env)
    # `restic backup --stdin` holds a lock while it waits for input; killing it leaves a stale lock
    proc = subprocess.Popen(restic.backup_command(repo, path="-")[:-1] + ["--stdin"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=repo.env(os.environ))
    try:
        deadline = time.time() + 30
        locks = []
        while time.time() < deadline and not locks:
            time.sleep(0.5)
            locks = restic.parse_ids(runner.run_local(repo, restic.list_locks_command(repo), "list locks").stdout)
        assert locks, "restic backup --stdin did not lock the repository"
        locked = module(repo_env, action="prune")
        assert locked.failed and "locked" in locked["msg"]
    finally:
        proc.kill()
        proc.wait()
    dry = module(repo_env, action="unlock", check_mode=True)
    assert dry["changed"] is False and dry["locks"] == locks and dry["locks_removed"] == []
    r = module(repo_env, action="unlock")
    assert not r.failed, r
    assert r["changed"] and r["locks_removed"] == locks
    assert module(repo_env, action="unlock")["changed"] is False


def test_check(repo_env):
    r = module(repo_env, action="check")
    assert not r.failed, r
    assert r["changed"] is False and r["check"]["errors_found"] is False
    if restic_version() >= (0, 17):  # 0.14's check prints no JSON: its exit status is the outcome
        assert r["check"]["num_errors"] == 0 and r["check"]["broken_packs"] == []
    else:
        assert r["check"]["num_errors"] is None
    subset = module(repo_env, action="check", read_data_subset="50%")
    assert not subset.failed and subset["check"]["errors_found"] is False
    bad = module(repo_env, action="check", read_data_subset="half")
    assert bad.failed and "read_data_subset" in bad["msg"]


def test_wrong_password_is_clear(repo_env):
    params = dict(repo_env["base"], repository_password="not-the-password-123", action="snapshots")
    r = testbed.run_module("restic_repo", params)
    assert r.failed
    assert "wrong repository password" in r["msg"]
    assert "not-the-password-123" not in json.dumps(r) + r.stderr


def test_missing_repository_is_clear(repo_env):
    r = module(repo_env, action="snapshots", volume_namespace="nothing-here")
    assert r.failed and "not initialised" in r["msg"]


def test_password_required(repo_env):
    params = dict(repo_env["base"], action="snapshots")
    params.pop("repository_password")
    r = testbed.run_module("restic_repo", params, env={"RESTIC_PASSWORD": "", "KUBEDR_REPOSITORY_PASSWORD": ""})
    assert r.failed and "password is required" in r["msg"]


def test_password_file_and_explicit_repository(repo_env, bed):
    pw_file = repo_env["work"] / "pw"
    pw_file.write_text(PASSWORD + "\n")
    pw_file.chmod(0o600)
    params = dict(repo_env["base"], action="snapshots", password_file=str(pw_file),
                  repository="s3:%s/%s/%s/restic/app" % (bed["KUBEDR_S3_ENDPOINT"], bed["KUBEDR_S3_BUCKET"],
                                                         repo_env["loc"]["prefix"]))
    params.pop("repository_password")
    params.pop("volume_namespace")
    r = testbed.run_module("restic_repo", params)
    assert not r.failed, r
    assert len(r["snapshots"]) == 1


def test_secrets_never_in_argv(repo_env):
    logged = repo_env["argv_log"].read_text()
    assert "snapshots --json" in logged and " init" in logged
    assert PASSWORD not in logged
    assert repo_env["loc"]["secret_key"] not in logged and repo_env["loc"]["access_key"] not in logged


def test_absent(repo_env, s3):
    before = repo_objects(s3, repo_env)
    assert before
    dry = module(repo_env, state="absent", check_mode=True)
    assert dry["changed"] and dry["deleted_objects"] == len(before)
    assert repo_objects(s3, repo_env) == before
    r = module(repo_env, state="absent")
    assert not r.failed, r
    assert r["changed"] and r["deleted_objects"] == len(before)
    assert repo_objects(s3, repo_env) == []
    assert module(repo_env, state="absent")["changed"] is False


def test_filesystem_location(tmp_path):
    loc = dict(provider="filesystem", path=str(tmp_path / "bsl"))
    base = dict(storage_location=loc, volume_namespace="fs-ns", repository_password=PASSWORD,
                cache_dir=str(tmp_path / "cache"), restic_path=RESTIC)
    r = testbed.run_module("restic_repo", dict(base, state="present"))
    assert not r.failed, r
    assert r["repository"] == str(tmp_path / "bsl" / "restic" / "fs-ns")
    assert (tmp_path / "bsl" / "restic" / "fs-ns" / "config").is_file()
    assert testbed.run_module("restic_repo", dict(base, state="present"))["changed"] is False
    gone = testbed.run_module("restic_repo", dict(base, state="absent"))
    assert gone["changed"] and not (tmp_path / "bsl" / "restic" / "fs-ns").exists()
