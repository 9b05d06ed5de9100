"""volumes/restic.py, repository.py, runner.py: Velero's repository naming, environment, command
lines (no secrets in argv), parsers of restic 0.14's real output (captured against the test bed's
MinIO), error mapping, the node-agent shell snippet."""
import subprocess
import time

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner, uploader_errors
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError

PASSWORD = "pa55-w0rd-secret"
ACCESS = "AKIAEXAMPLEACCESS"
SECRET = "s3cr3t/KEY+value"
TOKEN = "session-token-value"

MINIO = dict(provider="s3", bucket="velero", prefix="", endpoint_url="http://minio.velero.svc:9000",
             region="minio", access_key=ACCESS, secret_key=SECRET, session_token=TOKEN, s3_addressing_style="path")

# ---- captured with restic 0.14.0 against the test bed's MinIO (IDs and paths as printed)
BACKUP_JSON = (
    '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":6}\n'
    '{"message_type":"summary","files_new":2,"files_changed":0,"files_unmodified":0,"dirs_new":0,'
    '"dirs_changed":0,"dirs_unmodified":0,"data_blobs":2,"tree_blobs":1,"data_added":100704,'
    '"total_files_processed":2,"total_bytes_processed":100006,"total_duration":0.2362738,"snapshot_id":"8802d28d"}\n'
)
SNAPSHOTS_JSON = (
    '[{"time":"2026-11-26T18:40:55.344640811Z","tree":"70eceb28af7b6edcf108c0cbff204b2fb2520b24c3575bee338dde44d1e412f9",'
    '"paths":["/tmp/rexp/data"],"hostname":"velero","username":"root","tags":["backup=b1","ns=ns1","volume=v1"],'
    '"id":"8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae","short_id":"8802d28d"},'
    '{"time":"2026-11-26T18:40:59.34337757Z","parent":"8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae",'
    '"tree":"d033475df427f3f0c770bc69ecb1c8ab810d780ca06b578efba169811272eb16","paths":["/tmp/rexp/data"],'
    '"hostname":"velero","username":"root","tags":["backup=b2","ns=ns1","volume=v1"],'
    '"id":"886a01497f8dbf0454319190c19630df700ef57ea9f846138efd5569a569b81f","short_id":"886a0149"}]\n'
)
FORGET_JSON = (
    '[{"tags":null,"host":"","paths":null,"keep":[{"time":"2026-11-26T18:40:59.34337757Z",'
    '"parent":"8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae",'
    '"tree":"d033475df427f3f0c770bc69ecb1c8ab810d780ca06b578efba169811272eb16","paths":["/tmp/rexp/data"],'
    '"hostname":"velero","username":"root","tags":["backup=b2","ns=ns1","volume=v1"],'
    '"id":"886a01497f8dbf0454319190c19630df700ef57ea9f846138efd5569a569b81f","short_id":"886a0149"}],'
    '"remove":[{"time":"2026-11-26T18:40:55.344640811Z","tree":"70eceb28af7b6edcf108c0cbff204b2fb2520b24c3575bee338dde44d1e412f9",'
    '"paths":["/tmp/rexp/data"],"hostname":"velero","username":"root","tags":["backup=b1","ns=ns1","volume=v1"],'
    '"id":"8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae","short_id":"8802d28d"}],'
    '"reasons":[{"snapshot":{"time":"2026-11-26T18:40:59.34337757Z",'
    '"parent":"8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae",'
    '"tree":"d033475df427f3f0c770bc69ecb1c8ab810d780ca06b578efba169811272eb16","paths":["/tmp/rexp/data"],'
    '"hostname":"velero","username":"root","tags":["backup=b2","ns=ns1","volume=v1"]},'
    '"matches":["last snapshot"],"counters":{}}]}]\n'
)
STATS_JSON = '{"total_size":200017,"total_file_count":4,"snapshots_count":2}\n'
STATS_RAW_JSON = '{"total_size":100802,"total_file_count":0,"total_blob_count":5,"snapshots_count":2}\n'
PRUNE_TEXT = """loading indexes...
loading all snapshots...
finding data that is still in use for 1 snapshots
[0:00] 100.00%  1 / 1 snapshots

searching used packs...
collecting packs for deletion and repacking
[0:00] 100.00%  4 / 4 packs processed


to repack:             2 blobs / 97.860 KiB
this removes:          1 blobs / 47 B
to delete:             1 blobs / 328 B
total prune:           2 blobs / 375 B
remaining:             3 blobs / 98.073 KiB
unused size after prune: 0 B (0.00% of remaining size)

repacking packs
[0:00] 100.00%  1 / 1 packs repacked

done
"""
PRUNE_NOTHING = """to repack:             0 blobs / 0 B
this removes:          0 blobs / 0 B
to delete:             0 blobs / 0 B
total prune:           0 blobs / 0 B
remaining:             3 blobs / 98.073 KiB
unused size after prune: 0 B (0.00% of remaining size)

done
"""
STDERR_WRONG_PASSWORD = "Fatal: wrong password or no key found\n"
STDERR_NO_REPO = ("Fatal: unable to open config file: Stat: The specified key does not exist.\n"
                  "Is there a repository at the following location?\n"
                  "s3:http://127.0.0.1:36297/kubedr-test/exp/restic/ns1\n")
STDERR_BAD_KEY = ("Fatal: unable to open config file: Stat: The request signature we calculated does not match the "
                  "signature you provided. Check your key and signing method.\nIs there a repository at the following "
                  "location?\ns3:http://127.0.0.1:36297/kubedr-test/exp/restic/ns1\n")
STDERR_REFUSED = ('Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/kubedr-test/?location=": dial tcp '
                  '127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n'
                  's3:http://127.0.0.1:1/kubedr-test/x\n')
STDERR_LOCKED = ("unable to create lock in backend: repository is already locked by PID 5919 on vm by root "
                 "(UID 0, GID 0)\nlock was created at 2026-11-26 18:41:13 (2.994986996s ago)\nstorage ID e5623f62\n"
                 "the `unlock` command can be used to remove stale locks\n")
STDERR_EXISTS = ("Fatal: create key in repository at s3:http://127.0.0.1:36297/kubedr-test/exp/restic/ns1 failed: "
                 "repository master key and config already initialized\n")
STDERR_EXISTS_FS = "Fatal: create repository at /tmp/rexp/fsrepo failed: config file already exists\n"
LOCKS_TEXT = "e5623f62295baf086c9f42c99827e813d04b0cb41e0fe09eed8388dfe482fcad\n"


def repo(**kwargs):
    return repository.Repository.from_storage_location(MINIO, "app", password=PASSWORD, **kwargs)


# ---------------------------------------------------------------- naming (Velero's GetRepoIdentifier)

@pytest.mark.parametrize("location, namespace, expected", [
    (dict(bucket="velero", endpoint_url="http://minio:9000"), "app", "s3:http://minio:9000/velero/restic/app"),
    (dict(bucket="velero", prefix="cluster-a", endpoint_url="http://minio:9000/"), "app",
     "s3:http://minio:9000/velero/cluster-a/restic/app"),
    (dict(bucket="velero", prefix="/a/b/", endpoint_url="https://s3.example.com"), "ns-1",
     "s3:https://s3.example.com/velero/a/b/restic/ns-1"),
    (dict(bucket="bucket", region="eu-west-1"), "repo-1", "s3:s3-eu-west-1.amazonaws.com/bucket/restic/repo-1"),
    (dict(bucket="bucket", prefix="prefix", region="us-west-1"), "aws-repo",
     "s3:s3-us-west-1.amazonaws.com/bucket/prefix/restic/aws-repo"),
    (dict(bucket="bucket"), "repo-1", "s3:s3.amazonaws.com/bucket/restic/repo-1"),
    (dict(bucket="bucket", endpoint_url="alternate-url-with-trailing-slash/", prefix="prefix"), "aws-repo",
     "s3:alternate-url-with-trailing-slash/bucket/prefix/restic/aws-repo"),
    (dict(provider="filesystem", path="/srv/backups"), "app", "/srv/backups/restic/app"),
    (dict(provider="filesystem", path="/srv/backups/", prefix="c1"), "app", "/srv/backups/c1/restic/app"),
])
def test_repository_identifier(location, namespace, expected):
    assert repository.repository_identifier(location, namespace) == expected


@pytest.mark.parametrize("location, namespace, message", [
    (dict(provider="s3"), "app", "bucket is required"),
    (dict(provider="filesystem"), "app", "path is required"),
    (dict(provider="azure", bucket="x"), "app", "provider must be"),
    (dict(bucket="b"), "", "volume namespace is required"),
    (dict(bucket="b"), "a/b", "volume namespace is required"),
])
def test_repository_identifier_errors(location, namespace, message):
    with pytest.raises(InvalidOptionError, match=message):
        repository.repository_identifier(location, namespace)


def test_parse_identifier():
    assert repository.parse_identifier("s3:http://minio:9000/velero/pre/restic/app") == dict(
        kind="s3", endpoint_url="http://minio:9000", host="minio:9000", bucket="velero", key_prefix="pre/restic/app")
    aws = repository.parse_identifier("s3:s3-eu-west-1.amazonaws.com/bucket/restic/app")
    assert aws["endpoint_url"] is None and aws["bucket"] == "bucket" and aws["key_prefix"] == "restic/app"
    assert repository.parse_identifier("/srv/b/restic/app") == dict(kind="local", path="/srv/b/restic/app")
    with pytest.raises(InvalidOptionError):
        repository.parse_identifier("azure:c:/restic/app")


# ---------------------------------------------------------------- environment and argv

def test_env_carries_the_secrets():
    env = repo(cache_dir="/tmp/cache").env({"PATH": "/bin", "RESTIC_PASSWORD_FILE": "/stale", "RESTIC_REPOSITORY": "x"})
    assert env == {"PATH": "/bin", "RESTIC_PASSWORD": PASSWORD, "AWS_ACCESS_KEY_ID": ACCESS,
                   "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN, "AWS_DEFAULT_REGION": "minio",
                   "RESTIC_CACHE_DIR": "/tmp/cache"}


def test_password_file_env():
    r = repository.Repository("/srv/r", password_file="/etc/pw")
    assert r.env({}) == {"RESTIC_PASSWORD_FILE": "/etc/pw"}


def all_commands(r):
    return [
        restic.init_command(r), restic.exists_command(r), restic.check_command(r, read_data_subset="10%"),
        restic.snapshots_command(r, tags={"backup": "b1"}, hosts=["velero"], paths=["/x"], latest=2),
        restic.forget_command(r, keep=dict(keep_last=3, keep_daily=7, keep_within="1y2m"), keep_tags=["keep"],
                              tags=["ns=app"], group_by="", prune=True, dry_run=True),
        restic.prune_command(r, max_unused="10%"), restic.unlock_command(r, remove_all=True),
        restic.list_locks_command(r), restic.stats_command(r, mode="raw-data", tags=["a=b"]),
        restic.backup_command(r, tags=restic.volume_tags("b", "u", "p", "pu", "ns", "v"), parent="8802d28d"),
        restic.restore_command(r, "8802d28d", target="."),
    ]


def test_no_secret_in_any_argv():
    r = repo()
    for argv in all_commands(r):
        joined = " ".join(argv)
        for secret in (PASSWORD, ACCESS, SECRET, TOKEN):
            assert secret not in joined, argv


def test_global_args():
    assert repo().global_args() == ["restic", "--repo=s3:http://minio.velero.svc:9000/velero/restic/app",
                                    "-o", "s3.bucket-lookup=path"]
    r = repository.Repository("s3:https://s3.example.com/b/restic/app", cacert="/ca.pem", validate_certs=False,
                              addressing_style="virtual", restic_binary="/usr/bin/restic")
    assert r.global_args() == ["/usr/bin/restic", "--repo=s3:https://s3.example.com/b/restic/app", "--cacert=/ca.pem",
                               "--insecure-tls", "-o", "s3.bucket-lookup=dns"]
    assert repository.Repository("/srv/r", addressing_style="path").global_args() == ["restic", "--repo=/srv/r"]


def test_command_lines():
    r = repository.Repository("/srv/r")
    base = ["restic", "--repo=/srv/r"]
    assert restic.init_command(r) == base + ["init", "--json"]
    assert restic.exists_command(r) == base + ["--no-lock", "cat", "config", "--json"]
    assert restic.check_command(r) == base + ["check", "--json"]
    assert restic.check_command(r, read_data=True) == base + ["check", "--json", "--read-data"]
    assert restic.check_command(r, read_data_subset="1/5") == base + ["check", "--json", "--read-data-subset=1/5"]
    assert restic.snapshots_command(r, tags={"backup": "b1", "ns": "app"}) == base + [
        "snapshots", "--json", "--tag=backup=b1,ns=app"]
    assert restic.forget_command(r, keep=dict(keep_last=1, keep_hourly=None), group_by="", prune=True) == base + [
        "forget", "--json", "--keep-last=1", "--group-by=", "--prune"]
    assert restic.forget_command(r, snapshot_ids=["8802d28d"]) == base + ["forget", "--json", "8802d28d"]
    assert restic.forget_command(r, keep=dict(keep_weekly=4, keep_monthly=6, keep_yearly=2, keep_within="7d"),
                                 hosts=["velero"]) == base + [
        "forget", "--json", "--keep-weekly=4", "--keep-monthly=6", "--keep-yearly=2", "--keep-within=7d",
        "--host=velero"]
    assert restic.prune_command(r, dry_run=True) == base + ["prune", "--json", "--dry-run"]
    assert restic.unlock_command(r) == base + ["unlock", "--json"]
    assert restic.stats_command(r, snapshot_ids=["886a0149"]) == base + ["stats", "--json", "886a0149"]
    assert restic.backup_command(r, tags={"volume": "data", "backup": "b"}) == base + [
        "backup", "--json", "--host=velero", "--tag=backup=b", "--tag=volume=data", "."]
    assert restic.restore_command(r, "886a0149") == base + ["restore", "--json", "886a0149", "--target=."]


def test_backup_tags_are_velero_s():
    tags = restic.volume_tags("nightly", "buid", "web-0", "puid", "app", "data")
    argv = restic.backup_command(repository.Repository("/r"), tags=tags)
    assert [a for a in argv if a.startswith("--tag=")] == [
        "--tag=backup=nightly", "--tag=backup-uid=buid", "--tag=ns=app", "--tag=pod=web-0", "--tag=pod-uid=puid",
        "--tag=volume=data"]


@pytest.mark.parametrize("call", [
    restic.forget_command,
    lambda r: restic.forget_command(r, keep=dict(keep_within="soon")),
    lambda r: restic.forget_command(r, keep=dict(keep_last=-1)),
    lambda r: restic.forget_command(r, snapshot_ids=["--keep-last=0"]),
    lambda r: restic.check_command(r, read_data_subset="half"),
    lambda r: restic.stats_command(r, mode="everything"),
    lambda r: restic.snapshots_command(r, tags=["a,b"]),
    lambda r: restic.restore_command(r, "-x"),
    lambda r: restic.backup_command(r, parent="--force"),
])
def test_bad_input_is_refused(call):
    with pytest.raises(InvalidOptionError):
        call(repository.Repository("/r"))


# ---------------------------------------------------------------- parsers

def test_parse_backup_output():
    summary = restic.parse_backup_output(BACKUP_JSON)
    assert summary["snapshot_id"] == "8802d28d"
    assert summary["files_new"] == 2 and summary["total_bytes_processed"] == 100006 and summary["data_added"] == 100704
    assert summary["errors"] == [] and "message_type" not in summary


def test_parse_backup_output_with_errors_and_noise():
    out = ('not json\n{"message_type":"error","error":{"Op":"open","Path":"x","Err":13},"during":"archival",'
           '"item":"/data/x"}\n' + BACKUP_JSON)
    summary = restic.parse_backup_output(out)
    assert summary["errors"] == [dict(item="/data/x", during="archival", message="open x (errno 13)")]
    with pytest.raises(restic.ResticError, match="no summary"):
        restic.parse_backup_output('{"message_type":"status","percent_done":0.5}\n')


def test_parse_snapshots():
    snaps = restic.parse_snapshots(SNAPSHOTS_JSON)
    assert [s["short_id"] for s in snaps] == ["8802d28d", "886a0149"]
    assert snaps[1]["parent"] == snaps[0]["id"]
    assert snaps[0]["tag_map"] == {"backup": "b1", "ns": "ns1", "volume": "v1"}
    assert snaps[0]["hostname"] == "velero" and snaps[0]["paths"] == ["/tmp/rexp/data"]
    assert restic.parse_snapshots("[]\n") == [] and restic.parse_snapshots("null") == []
    assert restic.find_snapshot(snaps, "886a0149")["id"].startswith("886a0149")
    assert restic.find_snapshot(snaps, "ffff") is None
    with pytest.raises(restic.ResticError, match="unreadable JSON"):
        restic.parse_snapshots("Fatal: x")


def test_parse_forget():
    report = restic.parse_forget(FORGET_JSON)
    assert report["kept"] == ["886a01497f8dbf0454319190c19630df700ef57ea9f846138efd5569a569b81f"]
    assert report["removed"] == ["8802d28d40d52dfa603d80ea351c5d1066d065f865208e84f986b326c03d5fae"]
    assert report["groups"][0]["reasons"][0]["matches"] == ["last snapshot"]
    assert restic.parse_forget("") == dict(groups=[], kept=[], removed=[])


def test_parse_stats_and_prune_and_locks():
    assert restic.parse_stats(STATS_JSON) == {"total_size": 200017, "total_file_count": 4, "snapshots_count": 2}
    assert restic.parse_stats(STATS_RAW_JSON)["total_blob_count"] == 5
    pruned = restic.parse_prune(PRUNE_TEXT)
    assert pruned["total_prune"] == "2 blobs / 375 B" and pruned["remaining"] == "3 blobs / 98.073 KiB"
    assert pruned["removed_anything"] is True
    assert restic.parse_prune(PRUNE_NOTHING)["removed_anything"] is False
    assert restic.parse_ids(LOCKS_TEXT + "noise\n") == [LOCKS_TEXT.strip()]


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("stderr, kind, text", [
    (STDERR_WRONG_PASSWORD, "wrong_password", "wrong repository password"),
    (STDERR_NO_REPO, "not_found", "not initialised"),
    (STDERR_BAD_KEY, "credentials", "refused the credentials"),
    (STDERR_REFUSED, "unreachable", "connection refused"),
    (STDERR_LOCKED, "locked", "unlock action"),
    (STDERR_EXISTS, "already_exists", "already exists"),
    (STDERR_EXISTS_FS, "already_exists", "already exists"),
    ("Fatal: something new\n", "failed", "something new"),
])
def test_error_mapping(stderr, kind, text):
    err = restic.error_from_result("snapshots", "s3:http://m/b/restic/app", 1, stderr)
    assert err.kind == kind and text in str(err) and err.rc == 1
    assert str(err).startswith("restic snapshots on s3:http://m/b/restic/app failed (exit status 1)")
    assert isinstance(err, NotFoundError) == (kind == "not_found")


@pytest.mark.parametrize("rc, kind", [(10, "not_found"), (11, "locked"), (12, "wrong_password"), (1, "failed")])
def test_exit_codes_of_newer_restic(rc, kind):
    assert restic.error_from_result("backup", "/r", rc, "Fatal: reworded message\n").kind == kind


def test_error_is_scrubbed():
    err = restic.error_from_result("init", "/r", 1, "Fatal: bad value %s and %s\n" % (PASSWORD, SECRET),
                                   [PASSWORD, SECRET])
    assert PASSWORD not in str(err) and SECRET not in str(err) and uploader_errors.REDACTED in str(err)


# ---------------------------------------------------------------- running

def fake_restic(tmp_path, body):
    path = tmp_path / "restic"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_run_local_env_and_errors(tmp_path):
    binary = fake_restic(tmp_path, 'echo "$RESTIC_PASSWORD|$AWS_SECRET_ACCESS_KEY|$*"\n'
                                   'echo "Fatal: wrong password or no key found" >&2\nexit 1\n')
    r = repo(restic_binary=binary)
    res = runner.run_local(r, restic.init_command(r), "init", check=False, base_env={"PATH": "/usr/bin:/bin"})
    assert res.rc == 1
    pw, secret, argv = res.stdout.strip().split("|")
    assert pw == PASSWORD and secret == SECRET and PASSWORD not in argv
    with pytest.raises(restic.ResticError) as err:
        runner.run_local(r, restic.init_command(r), "init", base_env={"PATH": "/usr/bin:/bin"})
    assert err.value.kind == "wrong_password"


def test_run_local_missing_binary_and_timeout(tmp_path):
    r = repository.Repository("/r", password="x", restic_binary=str(tmp_path / "nope"))
    with pytest.raises(restic.ResticError) as err:
        runner.run_local(r, restic.init_command(r), "init")
    assert err.value.kind == "not_installed"
    slow = repository.Repository("/r", password="x", restic_binary=fake_restic(tmp_path, "sleep 5\n"))
    with pytest.raises(restic.ResticError) as err:
        runner.run_local(slow, restic.init_command(slow), "init", timeout=0.5)
    assert err.value.kind == "timeout"


def test_ensure_repository_with_fake_runner():
    calls = []

    def run(r, argv, operation):
        calls.append(operation)
        if operation == "cat config":
            raise restic.error_from_result(operation, r.identifier, 1, STDERR_NO_REPO)
        if operation == "init":
            raise restic.error_from_result(operation, r.identifier, 1, STDERR_EXISTS)
    # lost the race against another node's init: not an error, not a change
    assert runner.ensure_repository(repo(), run) is False
    assert calls == ["cat config", "init"]

    def wrong(r, argv, operation):
        raise restic.error_from_result(operation, r.identifier, 1, STDERR_WRONG_PASSWORD)
    with pytest.raises(restic.ResticError, match="wrong repository password"):
        runner.ensure_repository(repo(), wrong)


# ---------------------------------------------------------------- node-agent snippet

def test_pod_script_reads_secrets_from_stdin(tmp_path):
    r = repo(cache_dir="/cache dir")
    names = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    binary = fake_restic(tmp_path, 'echo "$RESTIC_PASSWORD|$AWS_ACCESS_KEY_ID|$AWS_SECRET_ACCESS_KEY|'
                                   '$AWS_DEFAULT_REGION|$RESTIC_CACHE_DIR|$(pwd)|$RESTIC_PROGRESS_FPS|$*"\n')
    r.restic_binary = binary
    workdir = tmp_path / "vol dir's"
    workdir.mkdir()
    command = runner.pod_command(restic.backup_command(r, tags={"backup": "b"}), cwd=str(workdir), stdin_env=names,
                                 repo=r)
    assert command[:2] == ["/bin/sh", "-c"]
    for secret in (PASSWORD, ACCESS, SECRET, TOKEN):
        assert secret not in " ".join(command)
    stdin = runner.pod_stdin(r, names)
    assert stdin == "%s\n%s\n%s\n" % (PASSWORD, ACCESS, SECRET)
    # run the snippet the way the node agent would, with stdin left open after the last line
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={"PATH": "/bin"})
    proc.stdin.write(stdin)
    proc.stdin.flush()
    out = proc.stdout.read()
    proc.wait(timeout=10)
    proc.stdin.close()
    fields = out.strip().split("|")
    # restic's status lines slowed down: each crosses the API server (docs/performance.md)
    assert fields[:7] == [PASSWORD, ACCESS, SECRET, "minio", "/cache dir", str(workdir), str(runner.POD_PROGRESS_FPS)]
    assert "backup --json --host=velero --tag=backup=b ." in fields[7]


def test_pod_script_stops_the_command_when_the_stream_ends(tmp_path):
    """A cancelled run closes the exec stream: restic must not go on (and hold its lock) in the node agent."""
    marker, started = tmp_path / "stopped", tmp_path / "started"
    binary = fake_restic(tmp_path, 'trap \'echo TERM > "%s"; exit 143\' TERM\ntouch "%s"\nwhile :; do sleep 0.05; done\n'
                         % (marker, started))
    r = repo()
    r.restic_binary = binary
    command = runner.pod_command(restic.backup_command(r), stdin_env=("RESTIC_PASSWORD",), repo=r)
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={"PATH": "/bin"})
    proc.stdin.write(runner.pod_stdin(r))
    proc.stdin.flush()
    # The fake restic has its TERM trap once it says it started (a TERM before that would kill it untrapped).
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert started.exists(), "the fake restic never started"
    proc.stdin.close()  # the stream ends
    assert proc.wait(timeout=20) == 143
    assert marker.read_text() == "TERM\n"


def test_pod_script_without_stdin_fails_clearly():
    command = runner.pod_command(["true"], stdin_env=("RESTIC_PASSWORD",))
    proc = subprocess.run(command, input="", capture_output=True, text=True, check=False, env={"PATH": "/bin"})
    assert proc.returncode == 2 and "RESTIC_PASSWORD was not received" in proc.stderr


def test_pod_stdin_errors(tmp_path):
    with pytest.raises(InvalidOptionError, match="line break"):
        runner.pod_stdin(repository.Repository("/r", password="a\nb"))
    with pytest.raises(InvalidOptionError, match="AWS_ACCESS_KEY_ID"):
        runner.pod_stdin(repository.Repository("/r", password="a"), ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID"))
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    assert runner.pod_stdin(repository.Repository("/r", password_file=str(pw))) == "from-file\n"
    with pytest.raises(InvalidOptionError):
        runner.pod_script(["restic"], stdin_env=["bad name"])
