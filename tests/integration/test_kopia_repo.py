"""kubedr.backup.restic_repo with uploader_type kopia against the test bed's MinIO and the real kopia:
a repository in Velero's layout (<prefix>/kopia/<namespace>/), snapshots made as Velero's uploader
makes them, then the module's state and actions on it."""
import json
import os
import shutil
import stat
import uuid

import pytest

import testbed

testbed.ensure_collection_path()
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots

PASSWORD = "kopia-it-" + uuid.uuid4().hex
KOPIA = os.environ.get("KUBEDR_TEST_KOPIA") or shutil.which("kopia") or "kopia"


@pytest.fixture(scope="module")
def repo_env(bed, storage_location, tmp_path_factory):
    """A location prefix of its own, a kopia wrapper that logs argv, and a data directory."""
    work = tmp_path_factory.mktemp("kopia")
    argv_log = work / "argv.log"
    wrapper = work / "kopia-wrapper"
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n' % (argv_log, KOPIA))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    loc = dict(storage_location, prefix="it-kopia-" + uuid.uuid4().hex[:8])
    data = work / "data"
    data.mkdir()
    base = dict(uploader_type="kopia", storage_location=loc, volume_namespace="app", repository_password=PASSWORD,
                kopia_path=str(wrapper))
    return dict(loc=loc, base=base, data=data, argv_log=argv_log, work=work)


def module(env, check_mode=False, **args):
    params = dict(env["base"])
    params.update(args)
    result = testbed.run_module("restic_repo", params, check_mode=check_mode)
    text = json.dumps(result) + result.stderr
    assert PASSWORD not in text and env["loc"]["secret_key"] not in text
    return result


def repo_objects(s3, env):
    prefix = "%s/kopia/app/" % env["loc"]["prefix"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=env["loc"]["bucket"], Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents") or []]


def handle(env):
    return kopia.KopiaRepository.from_storage_location(env["loc"], "app", password=PASSWORD, kopia_binary=KOPIA)


def listed_ids(env):
    """The snapshot IDs as kopia itself lists them (no module run)."""
    res = kopia.run_local(handle(env), kopia_snapshots.list_args(), "snapshot list")
    return sorted(s["id"] for s in kopia_snapshots.parse_list_output(res.stdout))


def snapshot(env, backup, pod="pod-1", content=None):
    """A snapshot of the data directory as Velero's kopia uploader names and tags it."""
    (env["data"] / "file.txt").write_text(content or "content of %s\n" % backup)
    repo = handle(env)
    tags = kopia_snapshots.snapshot_tags({"backup": backup, "ns": "app", "pod": pod, "volume": "data"})
    source = kopia_snapshots.volume_source("app", pod, None, "data")
    res = kopia.run_local(repo, kopia_snapshots.create_args(source, tags), "snapshot create", cwd=str(env["data"]))
    return kopia_snapshots.parse_create_output(res.stdout)["snapshot_id"]


def test_present_creates_once_in_velero_layout(repo_env, s3, bed):
    dry = module(repo_env, state="present", check_mode=True)
    assert not dry.failed, dry
    assert dry["changed"] and dry["initialized"] and repo_objects(s3, repo_env) == []
    assert dry["repository"] == "s3:%s/%s/%s/kopia/app" % (
        bed["KUBEDR_S3_ENDPOINT"], bed["KUBEDR_S3_BUCKET"], repo_env["loc"]["prefix"])
    r = module(repo_env, state="present")
    assert not r.failed, r
    assert r["changed"] and "%s/kopia/app/kopia.repository" % repo_env["loc"]["prefix"] in repo_objects(s3, repo_env)
    again = module(repo_env, state="present")
    assert not again.failed and again["changed"] is False and again["initialized"] is False


def test_snapshots_stats_and_check(repo_env):
    ids = [snapshot(repo_env, "b1"), snapshot(repo_env, "b2"), snapshot(repo_env, "b2", pod="pod-2", content="pod-2's\n")]
    repo_env["ids"] = ids
    r = module(repo_env, action="snapshots")
    assert not r.failed, r
    assert sorted(s["id"] for s in r["snapshots"]) == sorted(ids)
    first = [s for s in r["snapshots"] if s["id"] == ids[0]][0]
    assert first["tag_map"]["backup"] == "b1" and first["tag_map"]["snapshot-uploader"] == "kopia"
    assert first["pins"] == ["velero-pin"] and first["hostname"] == "default" and first["total_bytes"] > 0
    only = module(repo_env, action="snapshots", tags=["backup=b2", "pod=pod-2"])
    assert [s["id"] for s in only["snapshots"]] == [ids[2]]

    stats = module(repo_env, action="stats")
    assert not stats.failed, stats
    assert stats["stats"]["snapshots_count"] == 3 and stats["stats"]["total_file_count"] == 3
    assert stats["stats"]["repository"]["storage_type"] == "s3" and stats["stats"]["repository"]["unique_id"]

    check = module(repo_env, action="check", read_data=True)
    assert not check.failed, check
    assert check["changed"] is False and check["check"]["errors_found"] is False
    assert check["check"]["verified_files_percent"] == 100 and check["check"]["stats"]["readFileCount"] == 3  # 3 contents


def test_forget_by_id_and_keep_last(repo_env):
    b1, b2, other = repo_env["ids"]
    dry = module(repo_env, action="forget", snapshot_ids=[b1], check_mode=True)
    assert not dry.failed, dry
    assert dry["changed"] and dry["forget"]["removed"] == [b1]
    assert len(listed_ids(repo_env)) == 3
    r = module(repo_env, action="forget", snapshot_ids=[b1])
    assert r["changed"] and r["forget"]["removed"] == [b1]
    assert module(repo_env, action="forget", snapshot_ids=[b1])["changed"] is False
    b3 = snapshot(repo_env, "b3")
    kept = module(repo_env, action="forget", keep_last=1, prune=True)
    assert not kept.failed, kept
    assert kept["forget"]["removed"] == [b2] and sorted(kept["forget"]["kept"]) == sorted([other, b3])
    assert kept["forget"]["pruned"] and kept["prune"]["packs_after"] >= 1
    assert listed_ids(repo_env) == sorted([other, b3])
    refused = module(repo_env, action="forget", keep_daily=7)  # refused before kopia runs
    assert refused.failed and "keep_daily only apply to restic" in refused["msg"]


def test_prune_unlock_and_errors(repo_env):
    dry = module(repo_env, action="prune", check_mode=True)
    assert not dry.failed, dry
    assert dry["changed"] is False and dry["prune"]["owner"] == "default@default"
    r = module(repo_env, action="prune")
    assert not r.failed, r
    assert r["prune"]["packs_after"] >= 1 and "maintenance" in r["command"]
    unlock = module(repo_env, action="unlock")
    assert not unlock.failed and unlock["changed"] is False and "no locks" in unlock["note"]
    wrong = testbed.run_module("restic_repo", dict(repo_env["base"], action="snapshots",
                                                   repository_password="not-the-password-123"))
    assert wrong.failed and "wrong repository password" in wrong["msg"]
    assert "not-the-password-123" not in json.dumps(wrong) + wrong.stderr
    missing = module(repo_env, action="snapshots", volume_namespace="nothing-here")
    assert missing.failed and "does not exist" in missing["msg"]


def test_secrets_never_in_argv(repo_env):
    logged = repo_env["argv_log"].read_text()
    assert "snapshot list" in logged and "maintenance run --full" in logged
    for secret in (PASSWORD, repo_env["loc"]["secret_key"], repo_env["loc"]["access_key"]):
        assert secret not in logged


def test_absent(repo_env, s3):
    before = repo_objects(s3, repo_env)
    assert before
    dry = module(repo_env, state="absent", check_mode=True)
    assert dry["changed"] and dry["deleted_objects"] == len(before) and repo_objects(s3, repo_env) == before
    r = module(repo_env, state="absent")
    assert not r.failed, r
    assert r["changed"] and repo_objects(s3, repo_env) == []
    assert module(repo_env, state="absent")["changed"] is False
