"""restic's JSON output from 0.14 to 0.18 (volumes/restic.py, runner.py, progress.py): the lines
below were captured with restic 0.18.1 and Debian's 0.14.0 against one repository (IDs as printed)."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import parse_status_line

FULL_ID = "1de9588cb1f2589ed8d163b48fe63c645c107f236f1bed77fbbc10dd812fe73c"
BACKUP_018 = (
    '{"message_type":"status","percent_done":1,"total_files":2,"files_done":2,"total_bytes":100006,'
    '"bytes_done":100006}\n'
    '{"message_type":"summary","files_new":2,"files_changed":0,"files_unmodified":0,"dirs_new":0,"dirs_changed":0,'
    '"dirs_unmodified":0,"data_blobs":2,"tree_blobs":1,"data_added":100706,"data_added_packed":100543,'
    '"total_files_processed":2,"total_bytes_processed":100006,"total_duration":0.962925637,'
    '"backup_start":"2026-12-02T12:40:33.271367694Z","backup_end":"2026-12-02T12:40:34.234293331Z",'
    '"snapshot_id":"%s"}\n' % FULL_ID
)
# restic prints per-file errors on stderr (0.15 and later: error.message).
BACKUP_ERRORS_018 = ('{"message_type":"error","error":{"message":"open /data/x: permission denied"},'
                     '"during":"archival","item":"/data/x"}\n')
BACKUP_014 = ('{"message_type":"status","percent_done":0,"files_done":1}\n'
              '{"message_type":"summary","files_new":0,"files_changed":0,"files_unmodified":2,"dirs_new":0,'
              '"dirs_changed":0,"dirs_unmodified":0,"data_blobs":0,"tree_blobs":0,"data_added":0,'
              '"total_files_processed":2,"total_bytes_processed":100006,"total_duration":0.211370577,'
              '"snapshot_id":"1de9588c"}\n')
RESTORE_018 = ('{"message_type":"status","seconds_elapsed":1,"percent_done":0.5,"total_files":2,"files_restored":1,'
               '"total_bytes":100006,"bytes_restored":50000}\n'
               '{"message_type":"summary","total_files":2,"files_restored":2,"total_bytes":100006,'
               '"bytes_restored":100006}\n')
RESTORE_014 = ("restoring <Snapshot ff9e21a3 of [/tmp/h3b/exp/data] at 2026-12-02 12:40:35.237446803 +0000 UTC "
               "by root@velero> to .\n")
CHECK_018 = ('{"message_type":"summary","num_errors":0,"broken_packs":null,"suggest_repair_index":false,'
             '"suggest_prune":false}\n')
CHECK_BROKEN_018 = ('{"message_type":"summary","num_errors":2,"broken_packs":["3c1d"],"suggest_repair_index":true,'
                    '"suggest_prune":false}\n')
CHECK_BROKEN_STDERR_018 = ('{"message_type":"error","message":"pack 3c1d: not referenced in any index"}\n'
                           '{"message_type":"error","message":"tree 6b00c43d: file \\"b.bin\\" blob 0 not found"}\n'
                           '{"message_type":"exit_error","code":1,"message":"Fatal: repository contains errors"}\n')
CHECK_014 = ("using temporary cache in /tmp/cache/restic-check-cache-3829124641\ncreate exclusive lock for repository\n"
             "load indexes\ncheck all packs\ncheck snapshots, trees and blobs\nno errors were found\n")
EXIT_WRONG_PASSWORD = '{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"}\n'
EXIT_NO_REPO = ('{"message_type":"exit_error","code":10,"message":"Fatal: repository does not exist: unable to open '
                'config file: stat /tmp/h3b/exp/nothing/config: no such file or directory\\nIs there a repository at '
                'the following location?\\n/tmp/h3b/exp/nothing"}\n')
EXIT_EXISTS = ('{"message_type":"exit_error","code":1,"message":"Fatal: create repository at /tmp/h3b/exp/repo failed: '
               'Fatal: unable to open repository at /tmp/h3b/exp/repo: config file already exists\\n"}\n')
EXIT_LOCKED = ('{"message_type":"exit_error","code":11,"message":"unable to create lock in backend: repository is '
               'already locked by PID 5919 on vm by root (UID 0, GID 0)\\nlock was created at 2026-12-02 12:41:13 '
               '(2.99s ago)\\nstorage ID e5623f62\\nthe `unlock` command can be used to remove stale locks"}\n')


def test_backup_summary_of_both_releases():
    summary = restic.parse_backup_output(BACKUP_018, BACKUP_ERRORS_018)
    assert summary["snapshot_id"] == FULL_ID and summary["data_added_packed"] == 100543
    assert summary["backup_end"] == "2026-12-02T12:40:34.234293331Z"
    assert summary["errors"] == [dict(item="/data/x", during="archival", message="open /data/x: permission denied")]
    old = restic.parse_backup_output(BACKUP_014)
    assert old["snapshot_id"] == "1de9588c" and old["files_unmodified"] == 2 and old["errors"] == []
    assert "data_added_packed" not in old


def test_restore_summary_and_014_text():
    summary = restic.parse_restore_output(RESTORE_018)
    assert summary["reported"] is True and summary["files_restored"] == 2 and summary["bytes_restored"] == 100006
    assert summary["files_skipped"] == 0 and summary["errors"] == []  # restic omits zero counts
    old = restic.parse_restore_output(RESTORE_014)
    assert old["reported"] is False and old["files_restored"] is None and old["errors"] == []
    failed = restic.parse_restore_output(
        RESTORE_018, '{"message_type":"error","error":{"message":"disk full"},"during":"restore","item":"/b.bin"}\n')
    assert failed["errors"] == [dict(item="/b.bin", during="restore", message="disk full")]


def test_check_report():
    assert restic.parse_check(CHECK_018) == dict(errors_found=False, num_errors=0, broken_packs=[],
                                                 suggest_repair_index=False, suggest_prune=False, errors=[])
    broken = restic.parse_check(CHECK_BROKEN_018, CHECK_BROKEN_STDERR_018)
    assert broken["errors_found"] and broken["num_errors"] == 2 and broken["broken_packs"] == ["3c1d"]
    assert broken["errors"] == ["pack 3c1d: not referenced in any index", 'tree 6b00c43d: file "b.bin" blob 0 not found']
    old = restic.parse_check(CHECK_014)  # 0.14: text only, the exit status tells
    assert old["errors_found"] is False and old["num_errors"] is None and old["broken_packs"] is None


@pytest.mark.parametrize("stderr, rc, kind, text", [
    (EXIT_WRONG_PASSWORD, 12, "wrong_password", "wrong repository password"),
    (EXIT_NO_REPO, 10, "not_found", "not initialised"),
    (EXIT_EXISTS, 1, "already_exists", "already exists"),
    (EXIT_LOCKED, 11, "locked", "unlock action"),
])
def test_json_exit_errors(stderr, rc, kind, text):
    err = restic.error_from_result("snapshots", "/r", rc, stderr)
    assert err.kind == kind and text in str(err)
    # restic's own words, without the JSON around them
    assert "message_type" not in str(err) and "restic said: Fatal:" in str(err) or kind == "locked"


def test_error_lines():
    assert restic.error_lines(EXIT_NO_REPO) == [
        "Fatal: repository does not exist: unable to open config file: stat /tmp/h3b/exp/nothing/config: no such "
        "file or directory", "Is there a repository at the following location?", "/tmp/h3b/exp/nothing"]
    assert restic.error_lines("Fatal: text of 0.14\n\n") == ["Fatal: text of 0.14"]


def test_status_lines_of_backup_and_restore():
    assert parse_status_line(BACKUP_018.splitlines()[0].encode()) == (100006, 100006, None)
    assert parse_status_line(RESTORE_018.splitlines()[0].encode()) == (50000, 100006, None)
    assert parse_status_line(b'{"message_type":"status","bytes_restored":10,"bytes_skipped":5,"total_bytes":20}') == (
        15, 20, None)
    assert parse_status_line(RESTORE_018.splitlines()[1].encode()) is None
    assert parse_status_line(b"restoring <Snapshot ff9e21a3 ...> to .") is None


def fake_restic(tmp_path, body):
    path = tmp_path / "restic"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


SNAPSHOTS_LISTED = ('[{"time":"2026-12-02T12:40:33Z","paths":["/d"],"hostname":"velero","tags":["backup=b1"],'
                    '"id":"%s","short_id":"1de9588c"}]' % FULL_ID)


def outputs(tmp_path, **named):
    """Files holding canned outputs, for a fake restic to cat."""
    for name, text in named.items():
        (tmp_path / name).write_text(text)
    return str(tmp_path)


def test_short_snapshot_id_of_014_is_resolved(tmp_path):
    """0.14's summary names the snapshot by its short ID: the records get the full one."""
    d = outputs(tmp_path, backup=BACKUP_014, snapshots=SNAPSHOTS_LISTED)
    body = 'case "$*" in *" backup "*) cat %s/backup;; *" snapshots "*) cat %s/snapshots;; esac\n' % (d, d)
    repo = repository.Repository(str(tmp_path / "r"), password="pw", restic_binary=fake_restic(tmp_path, body))
    summary = runner.backup_directory(repo, str(tmp_path), {"backup": "b1"})
    assert summary["snapshot_id"] == FULL_ID and summary["incomplete"] is False


def test_short_snapshot_id_not_listed_fails(tmp_path):
    d = outputs(tmp_path, backup=BACKUP_014)
    body = 'case "$*" in *" backup "*) cat %s/backup;; *" snapshots "*) echo "[]";; esac\n' % d
    repo = repository.Repository(str(tmp_path / "r"), password="pw", restic_binary=fake_restic(tmp_path, body))
    with pytest.raises(restic.ResticError, match="does not list"):
        runner.backup_directory(repo, str(tmp_path), {"backup": "b1"})


def test_full_snapshot_id_needs_no_listing(tmp_path):
    d = outputs(tmp_path, backup=BACKUP_018)
    body = 'case "$*" in *" backup "*) cat %s/backup;; *) exit 99;; esac\n' % d
    repo = repository.Repository(str(tmp_path / "r"), password="pw", restic_binary=fake_restic(tmp_path, body))
    assert runner.backup_directory(repo, str(tmp_path), {"backup": "b1"})["snapshot_id"] == FULL_ID


def test_restore_directory_returns_the_summary(tmp_path):
    body = "cat %s/restore\n" % outputs(tmp_path, restore=RESTORE_018)
    repo = repository.Repository(str(tmp_path / "r"), password="pw", restic_binary=fake_restic(tmp_path, body))
    assert runner.restore_directory(repo, "1de9588c", str(tmp_path))["bytes_restored"] == 100006
