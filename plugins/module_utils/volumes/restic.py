# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""restic: repository naming (Velero's), environment, command lines, output parsers,
error mapping, and two ways to run it (a local process; a shell snippet for the node
agent's pod, with secrets arriving on standard input).

Everything except run_local() is pure. Secrets (repository password, S3 keys) are
only ever put in the environment (or named by RESTIC_PASSWORD_FILE); the command
line builders never take them, and error messages are scrubbed of them.

Written against restic 0.14 (Debian's), whose JSON output exists for `backup`,
`snapshots`, `forget` and `stats` but not for `init`, `check`, `prune`, `unlock`
or `restore`; its backup summary carries the short snapshot ID.
"""

import json
import os
import posixpath
import re
import subprocess

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError

RESTIC_DIR = "restic"
DEFAULT_HOST = "velero"  # Velero's `restic backup --host=velero`: keeps parents across pod names
DEFAULT_TIMEOUT = 3600
REDACTED = "********"

# The tag keys of a pod volume snapshot (DESIGN.md section 7, Velero's names).
VOLUME_TAG_KEYS = ("backup", "backup-uid", "pod", "pod-uid", "ns", "volume")

# Variable names that carry secrets into restic.
SECRET_ENV = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_ADDRESSING = {"path": "path", "virtual": "dns"}
_PRUNE_LINE = re.compile(r"^(to repack|this removes|to delete|total prune|remaining|unused size after prune):\s*(.+)$")


# --------------------------------------------------------------------------- errors

class ResticError(StorageError):
    """restic failed. `kind` names the cause: wrong_password, not_found, locked,
    already_exists, credentials, unreachable, timeout, not_installed, failed."""

    def __init__(self, message, kind="failed", rc=None):
        super(ResticError, self).__init__(message)
        self.kind = kind
        self.rc = rc


class ResticRepositoryNotFound(ResticError, NotFoundError):
    """The repository does not exist (not initialised)."""


# (kind, substring of restic's stderr, what to tell the user); first match wins.
_STDERR_PATTERNS = (
    ("wrong_password", "wrong password or no key found",
     "wrong repository password (or no key found for it)"),
    ("locked", "repository is already locked",
     "the repository is locked by another restic process; if that process is gone, run the unlock action"),
    ("already_exists", "already initialized", "the repository already exists"),
    ("already_exists", "config file already exists", "the repository already exists"),
    ("credentials", "signature we calculated does not match",
     "S3 refused the credentials (check the access key and secret key)"),
    ("credentials", "invalidaccesskeyid", "S3 refused the credentials (unknown access key)"),
    ("credentials", "access denied", "S3 denied access (check the credentials and the bucket policy)"),
    ("unreachable", "connection refused", "the storage endpoint is unreachable (connection refused)"),
    ("unreachable", "no such host", "the storage endpoint's host name does not resolve"),
    ("unreachable", "i/o timeout", "the storage endpoint did not answer (timeout)"),
    ("unreachable", "x509:", "TLS verification of the storage endpoint failed"),
    ("not_found", "specified bucket does not exist", "the bucket does not exist"),
    ("not_found", "is there a repository at the following location", "no restic repository there (not initialised)"),
)


_EXIT_CODES = {
    10: ("not_found", "no restic repository there (not initialised)"),
    11: ("locked", "the repository is locked by another restic process; if that process is gone, run the unlock action"),
    12: ("wrong_password", "wrong repository password (or no key found for it)"),
}


def classify_stderr(stderr):
    """(kind, short explanation) for restic's stderr; ('failed', None) when nothing matches."""
    low = (stderr or "").lower()
    for kind, needle, text in _STDERR_PATTERNS:
        if needle in low:
            return kind, text
    return "failed", None


def redact(text, secrets):
    """text with every non-empty secret value replaced."""
    text = text or ""
    for secret in secrets or ():
        if secret and len(secret) >= 3:
            text = text.replace(secret, REDACTED)
    return text


def error_from_result(operation, repository, rc, stderr, secrets=()):
    """The ResticError for a failed restic run: the mapped cause first, then the last
    lines of restic's own message (scrubbed of secrets)."""
    kind, text = classify_stderr(stderr)
    if kind == "failed" and rc in _EXIT_CODES:  # restic >= 0.17 documents these exit codes
        kind, text = _EXIT_CODES[rc]
    lines = [line.strip() for line in redact(stderr, secrets).splitlines() if line.strip()]
    detail = " | ".join(lines[-4:])[:600]
    msg = "restic %s on %s failed (exit status %s)" % (operation, repository, rc)
    if text:
        msg += ": " + text
    if detail:
        msg += ". restic said: " + detail
    cls = ResticRepositoryNotFound if kind == "not_found" else ResticError
    return cls(msg, kind=kind, rc=rc)


# --------------------------------------------------------------------------- naming

def repo_prefix(storage_location):
    """Everything of a repository identifier but the final "/<namespace>", as Velero's
    getRepoPrefix: s3:<s3Url>/<bucket>/<prefix>/restic, s3:s3-<region>.amazonaws.com/...
    (s3.amazonaws.com when no region is known), or <path>/restic for a filesystem location."""
    loc = storage_location or {}
    provider = loc.get("provider") or "s3"
    prefix = (loc.get("prefix") or "").strip("/")
    if provider == "filesystem":
        path = loc.get("path")
        if not path:
            raise InvalidOptionError("storage_location.path is required for a filesystem location")
        parts = [p for p in prefix.split("/") if p] + [RESTIC_DIR]
        return posixpath.join(os.path.abspath(path), *parts)
    if provider != "s3":
        raise InvalidOptionError("storage_location.provider must be s3 or filesystem, not %r" % provider)
    bucket = (loc.get("bucket") or "").strip("/")
    if not bucket:
        raise InvalidOptionError("storage_location.bucket is required for an s3 location")
    endpoint = loc.get("endpoint_url")
    if endpoint:
        url = endpoint.rstrip("/")
    elif loc.get("region"):
        url = "s3-%s.amazonaws.com" % loc["region"]
    else:
        url = "s3.amazonaws.com"
    return "s3:%s/%s" % (url, posixpath.normpath(posixpath.join(bucket, prefix, RESTIC_DIR)))


def repository_identifier(storage_location, volume_namespace):
    """Velero's GetRepoIdentifier: one repository per volume namespace."""
    if not volume_namespace or "/" in volume_namespace:
        raise InvalidOptionError("a volume namespace is required to name its restic repository (got %r)"
                                 % (volume_namespace,))
    return "%s/%s" % (repo_prefix(storage_location).rstrip("/"), volume_namespace)


def parse_identifier(identifier):
    """Where a repository lives: dict(kind='s3', endpoint_url, bucket, key_prefix) or
    dict(kind='local', path). Used to delete a repository; raises for other backends."""
    ident = identifier or ""
    if ident.startswith("s3:"):
        rest = ident[3:]
        scheme = "https://"
        for candidate in ("http://", "https://"):
            if rest.startswith(candidate):
                scheme, rest = candidate, rest[len(candidate):]
        parts = rest.strip("/").split("/")
        if len(parts) < 2:
            raise InvalidOptionError("cannot read the bucket out of repository %r" % ident)
        host, bucket, key = parts[0], parts[1], "/".join(parts[2:])
        endpoint = scheme + host
        if host in ("s3.amazonaws.com",) or (host.startswith("s3-") and host.endswith(".amazonaws.com")):
            endpoint = None  # AWS itself: let the SDK pick the regional endpoint
        return dict(kind="s3", endpoint_url=endpoint, host=host, bucket=bucket, key_prefix=key)
    if ident.startswith("local:"):
        return dict(kind="local", path=ident[len("local:"):])
    if ident.startswith("/"):
        return dict(kind="local", path=ident)
    raise InvalidOptionError("only s3: and local repositories are supported here, not %r" % ident)


# --------------------------------------------------------------------------- repository handle

class Repository(object):
    """A restic repository and how to reach it. Holds secrets; never printed whole."""

    def __init__(self, identifier, password=None, password_file=None, access_key=None, secret_key=None,
                 session_token=None, region=None, profile=None, cacert=None, validate_certs=True,
                 addressing_style=None, cache_dir=None, restic_binary="restic"):
        if not identifier:
            raise InvalidOptionError("a restic repository is required")
        self.identifier = identifier
        self.password = password
        self.password_file = password_file
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region
        self.profile = profile
        self.cacert = cacert
        self.validate_certs = validate_certs if validate_certs is not None else True
        self.addressing_style = addressing_style
        self.cache_dir = cache_dir
        self.restic_binary = restic_binary or "restic"

    def __repr__(self):
        return "Repository(%r)" % self.identifier

    @classmethod
    def from_storage_location(cls, storage_location, volume_namespace=None, repository=None, **kwargs):
        """The repository of a volume namespace in a storage location (or `repository`
        verbatim), with the location's S3 credentials and TLS settings."""
        loc = storage_location or {}
        ident = repository or repository_identifier(loc, volume_namespace)
        return cls(ident, access_key=loc.get("access_key"), secret_key=loc.get("secret_key"),
                   session_token=loc.get("session_token"), region=loc.get("region"), profile=loc.get("profile"),
                   cacert=loc.get("aws_ca_bundle"), validate_certs=loc.get("validate_certs", True),
                   addressing_style=loc.get("s3_addressing_style"), **kwargs)

    @property
    def is_s3(self):
        return self.identifier.startswith("s3:")

    def secrets(self):
        """The secret values, for scrubbing output."""
        return [v for v in (self.password, self.access_key, self.secret_key, self.session_token) if v]

    def env(self, base=None):
        """The environment restic runs with: `base` (default: none) plus credentials,
        password (RESTIC_PASSWORD, or RESTIC_PASSWORD_FILE) and cache directory."""
        env = dict(base or {})
        for name in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                     "RESTIC_REPOSITORY_FILE"):
            env.pop(name, None)
        if self.password is not None:
            env["RESTIC_PASSWORD"] = self.password
        elif self.password_file:
            env["RESTIC_PASSWORD_FILE"] = self.password_file
        for name, value in (("AWS_ACCESS_KEY_ID", self.access_key), ("AWS_SECRET_ACCESS_KEY", self.secret_key),
                            ("AWS_SESSION_TOKEN", self.session_token), ("AWS_DEFAULT_REGION", self.region),
                            ("AWS_PROFILE", self.profile), ("RESTIC_CACHE_DIR", self.cache_dir)):
            if value:
                env[name] = value
        return env

    def global_args(self):
        """`restic --repo ... [TLS options] [-o s3.bucket-lookup=...]`: no secrets."""
        args = [self.restic_binary, "--repo=" + self.identifier]
        if self.cacert:
            args.append("--cacert=" + self.cacert)
        if not self.validate_certs:
            args.append("--insecure-tls")
        lookup = _ADDRESSING.get(self.addressing_style or "auto")
        if lookup and self.is_s3:
            args += ["-o", "s3.bucket-lookup=" + lookup]
        return args


# --------------------------------------------------------------------------- command lines

def tag_list(tags):
    """Tags as restic strings: a dict becomes sorted `key=value`, a list is kept.
    Commas split tags in restic, so they are refused."""
    if not tags:
        return []
    if isinstance(tags, dict):
        items = ["%s=%s" % (k, tags[k]) for k in sorted(tags)]
    else:
        items = [str(t) for t in tags]
    for tag in items:
        if "," in tag or not tag:
            raise InvalidOptionError("restic tags cannot be empty or contain commas: %r" % tag)
    return items


def _filters(tags=None, hosts=None, paths=None):
    """Snapshot filters: every tag must match (one --tag with the list), any host, any path."""
    args = []
    tags = tag_list(tags)
    if tags:
        args.append("--tag=" + ",".join(tags))
    for host in hosts or ():
        args.append("--host=" + host)
    for path in paths or ():
        args.append("--path=" + path)
    return args


def validate_snapshot_id(value):
    """A snapshot ID (4 to 64 hex digits) or `latest`; anything else could be read as a flag."""
    value = str(value or "")
    if value != "latest" and not re.match(r"^[0-9a-f]{4,64}$", value):
        raise InvalidOptionError("not a restic snapshot ID: %r" % value)
    return value


def init_command(repo):
    return repo.global_args() + ["init"]


def exists_command(repo):
    """Reads the repository config: succeeds when the repository exists and the password opens it."""
    return repo.global_args() + ["--no-lock", "cat", "config"]


def check_command(repo, read_data=False, read_data_subset=None):
    args = repo.global_args() + ["check"]
    if read_data_subset:
        if not re.match(r"^(\d+/\d+|\d+(\.\d+)?%|\d+[kKmMgGtT]?)$", str(read_data_subset)):
            raise InvalidOptionError("read_data_subset must be n/t, x%% or a size such as 500M, not %r"
                                     % (read_data_subset,))
        args.append("--read-data-subset=" + str(read_data_subset))
    elif read_data:
        args.append("--read-data")
    return args


def snapshots_command(repo, tags=None, hosts=None, paths=None, latest=None):
    args = repo.global_args() + ["snapshots", "--json"] + _filters(tags, hosts, paths)
    if latest:
        args.append("--latest=%d" % int(latest))
    return args


KEEP_OPTIONS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly",
                "keep_within", "keep_within_hourly", "keep_within_daily", "keep_within_weekly",
                "keep_within_monthly", "keep_within_yearly")


def forget_command(repo, keep=None, keep_tags=None, tags=None, hosts=None, paths=None, group_by=None,
                   snapshot_ids=None, prune=False, dry_run=False):
    """`restic forget --json` with a keep policy (dict of KEEP_OPTIONS) and/or explicit IDs."""
    args = repo.global_args() + ["forget", "--json"]
    policy = False
    for name in KEEP_OPTIONS:
        value = (keep or {}).get(name)
        if value is None or value == "":
            continue
        if name.startswith("keep_within"):
            if not re.match(r"^(\d+[ymdh])+$", str(value)):
                raise InvalidOptionError("%s must be a duration such as 1y5m7d2h, not %r" % (name, value))
        elif int(value) < 0:
            raise InvalidOptionError("%s must not be negative" % name)
        args.append("--%s=%s" % (name.replace("_", "-"), value))
        policy = True
    for tag in tag_list(keep_tags):
        args.append("--keep-tag=" + tag)
        policy = True
    if not policy and not snapshot_ids:
        raise InvalidOptionError("forget needs a keep policy (keep_last, keep_daily, ...) or snapshot IDs")
    args += _filters(tags, hosts, paths)
    if group_by is not None:
        args.append("--group-by=" + group_by)
    if prune:
        args.append("--prune")
    if dry_run:
        args.append("--dry-run")
    return args + [validate_snapshot_id(sid) for sid in snapshot_ids or ()]


def prune_command(repo, dry_run=False, max_unused=None):
    args = repo.global_args() + ["prune"]
    if max_unused:
        args.append("--max-unused=" + str(max_unused))
    if dry_run:
        args.append("--dry-run")
    return args


def unlock_command(repo, remove_all=False):
    return repo.global_args() + ["unlock"] + (["--remove-all"] if remove_all else [])


def list_locks_command(repo):
    return repo.global_args() + ["--no-lock", "list", "locks"]


STATS_MODES = ("restore-size", "files-by-contents", "blobs-per-file", "raw-data")


def stats_command(repo, mode=None, tags=None, hosts=None, paths=None, snapshot_ids=None):
    args = repo.global_args() + ["stats", "--json"]
    if mode:
        if mode not in STATS_MODES:
            raise InvalidOptionError("stats mode must be one of %s" % ", ".join(STATS_MODES))
        args.append("--mode=" + mode)
    return args + _filters(tags, hosts, paths) + [validate_snapshot_id(sid) for sid in snapshot_ids or ()]


def volume_tags(backup, backup_uid, pod, pod_uid, namespace, volume):
    """The tags of a pod volume snapshot, as Velero sets them."""
    values = (backup, backup_uid, pod, pod_uid, namespace, volume)
    return dict(zip(VOLUME_TAG_KEYS, values))


def backup_command(repo, tags=None, host=DEFAULT_HOST, path=".", parent=None, excludes=None):
    """`restic backup --json --host velero --tag k=v ... .`: run it in the volume directory
    (Velero does; the snapshot's path is then that directory)."""
    args = repo.global_args() + ["backup", "--json"]
    if host:
        args.append("--host=" + host)
    for tag in tag_list(tags):
        args.append("--tag=" + tag)
    if parent:
        args.append("--parent=" + validate_snapshot_id(parent))
    for pattern in excludes or ():
        args.append("--exclude=" + pattern)
    return args + [path]


def restore_command(repo, snapshot_id, target=".", includes=None, excludes=None, verify=False):
    """`restic restore <snapshot> --target <dir>` (Velero runs it with --target=. in the volume directory)."""
    snapshot_id = validate_snapshot_id(snapshot_id)
    args = repo.global_args() + ["restore", snapshot_id, "--target=" + target]
    for pattern in includes or ():
        args.append("--include=" + pattern)
    for pattern in excludes or ():
        args.append("--exclude=" + pattern)
    if verify:
        args.append("--verify")
    return args


# --------------------------------------------------------------------------- parsers

def _loads(text, what):
    try:
        return json.loads(text)
    except ValueError:
        raise ResticError("restic printed unreadable JSON for %s: %r" % (what, (text or "")[:200]))


def tag_map(tags):
    """`key=value` tags as a dict (tags without '=' map to '')."""
    result = {}
    for tag in tags or ():
        key, sep, value = tag.partition("=")
        result[key] = value if sep else ""
    return result


def _snapshot(raw):
    return dict(
        id=raw.get("id"),
        short_id=raw.get("short_id") or (raw.get("id") or "")[:8],
        time=raw.get("time"),
        hostname=raw.get("hostname"),
        username=raw.get("username"),
        paths=raw.get("paths") or [],
        tags=raw.get("tags") or [],
        tag_map=tag_map(raw.get("tags")),
        parent=raw.get("parent"),
        tree=raw.get("tree"),
    )


def parse_snapshots(stdout):
    """`restic snapshots --json` -> list of snapshot dicts, oldest first."""
    data = _loads((stdout or "").strip() or "[]", "snapshots")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ResticError("restic snapshots --json did not print a list")
    return sorted((_snapshot(s) for s in data), key=lambda s: s["time"] or "")


def find_snapshot(snapshots, snapshot_id):
    """The snapshot whose full or short ID starts with snapshot_id (restic 0.14's backup
    summary has only the short ID); None when absent or ambiguous."""
    matches = [s for s in snapshots if (s.get("id") or "").startswith(snapshot_id or "-")]
    return matches[0] if len(matches) == 1 else None


def parse_backup_output(stdout):
    """The JSON lines of `restic backup --json` -> the summary (snapshot_id, files_*, dirs_*,
    data_blobs, tree_blobs, data_added, total_files_processed, total_bytes_processed,
    total_duration) plus `errors` (the error messages). Raises when there is no summary."""
    summary, errors = None, []
    for line in (stdout or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        kind = msg.get("message_type")
        if kind == "summary":
            summary = msg
        elif kind == "error":
            err = msg.get("error")
            text = err.get("message") if isinstance(err, dict) else err
            errors.append(dict(item=msg.get("item"), during=msg.get("during"), message=text))
    if summary is None:
        raise ResticError("restic backup printed no summary (it did not finish)")
    result = dict((k, v) for k, v in summary.items() if k != "message_type")
    result["errors"] = errors
    return result


def parse_forget(stdout):
    """`restic forget --json` -> dict(groups, kept: [ids], removed: [ids])."""
    data = _loads((stdout or "").strip() or "[]", "forget") or []
    groups, kept, removed = [], [], []
    for group in data:
        keep = [_snapshot(s) for s in group.get("keep") or []]
        remove = [_snapshot(s) for s in group.get("remove") or []]
        kept += [s["id"] for s in keep]
        removed += [s["id"] for s in remove]
        groups.append(dict(host=group.get("host"), paths=group.get("paths"), tags=group.get("tags"),
                           keep=keep, remove=remove,
                           reasons=[dict(id=(r.get("snapshot") or {}).get("id"), matches=r.get("matches") or [])
                                    for r in group.get("reasons") or []]))
    return dict(groups=groups, kept=kept, removed=removed)


def parse_stats(stdout):
    """`restic stats --json` -> dict (total_size, total_file_count, snapshots_count, ...)."""
    data = _loads((stdout or "").strip(), "stats")
    if not isinstance(data, dict):
        raise ResticError("restic stats --json did not print an object")
    return data


def parse_prune(text):
    """restic 0.14 prune prints no JSON: its `name: value` summary lines as a dict, plus
    `removed_anything` (False when nothing was deleted or repacked)."""
    report = {}
    for line in (text or "").splitlines():
        match = _PRUNE_LINE.match(line.strip())
        if match:
            report[match.group(1).replace(" ", "_")] = match.group(2).strip()
    total = report.get("total_prune", "")
    report["removed_anything"] = bool(total) and not total.startswith("0 blobs")
    return report


def parse_locks(stdout):
    """`restic list locks` -> the lock IDs."""
    return [line.strip() for line in (stdout or "").splitlines() if re.match(r"^[0-9a-f]{64}$", line.strip())]


# --------------------------------------------------------------------------- running

class ResticResult(object):
    def __init__(self, rc, stdout, stderr, argv=None):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.argv = argv or []

    def __repr__(self):
        return "ResticResult(rc=%r)" % self.rc


def run_local(repo, argv, operation, cwd=None, timeout=DEFAULT_TIMEOUT, base_env=None, check=True,
              ok_codes=(0,)):
    """Run a restic command line (from a builder above) as a local process with the
    repository's environment. Raises ResticError (mapped, scrubbed) unless rc is in
    ok_codes or check is False."""
    env = repo.env(os.environ if base_env is None else base_env)
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)
    except OSError as e:
        raise ResticError("cannot run %s: %s" % (argv[0], e.strerror or e), kind="not_installed")
    except subprocess.TimeoutExpired:
        raise ResticError("restic %s on %s did not finish within %ss" % (operation, repo.identifier, timeout),
                          kind="timeout")
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    result = ResticResult(proc.returncode, stdout, stderr, argv)
    if check and proc.returncode not in ok_codes:
        raise error_from_result(operation, repo.identifier, proc.returncode, stderr, repo.secrets())
    return result


def pod_script(argv, cwd=None, stdin_env=("RESTIC_PASSWORD",), repo=None):
    """A `/bin/sh -c` script for the node-agent pod: read each variable of `stdin_env`
    from one line of standard input (kwok and some runtimes close stdin only when the
    stream ends, so the script never waits for end of file), export them, change to
    `cwd`, and exec restic. Non-secret settings of `repo` (region, cache directory)
    are exported inline; secrets never appear in the script."""
    lines = ["set -e"]
    for name in stdin_env or ():
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", name):
            raise InvalidOptionError("bad environment variable name %r" % name)
        lines.append("IFS= read -r %s || { echo 'kubedr: %s was not received on standard input' >&2; exit 2; }; "
                     "export %s" % (name, name, name))
    if repo is not None:
        for name, value in (("AWS_DEFAULT_REGION", repo.region), ("RESTIC_CACHE_DIR", repo.cache_dir)):
            if value:
                lines.append("export %s=%s" % (name, shell_quote(value)))
    if cwd:
        lines.append("cd %s" % shell_quote(cwd))
    lines.append("exec " + " ".join(shell_quote(a) for a in argv))
    return "\n".join(lines) + "\n"


def pod_command(argv, cwd=None, stdin_env=("RESTIC_PASSWORD",), repo=None):
    """The exec command (argv list) for pod_exec.exec_in_pod."""
    return ["/bin/sh", "-c", pod_script(argv, cwd=cwd, stdin_env=stdin_env, repo=repo)]


def pod_stdin(repo, stdin_env=("RESTIC_PASSWORD",)):
    """The standard input that goes with pod_command: one line per variable, values from
    the repository's environment (a password file is read here)."""
    env = repo.env({})
    if "RESTIC_PASSWORD" in (stdin_env or ()) and "RESTIC_PASSWORD" not in env and repo.password_file:
        try:
            with open(repo.password_file) as f:
                env["RESTIC_PASSWORD"] = f.readline().rstrip("\r\n")
        except (IOError, OSError) as e:
            raise InvalidOptionError("cannot read the password file: %s" % (e.strerror or e))
    out = []
    for name in stdin_env or ():
        value = env.get(name)
        if value is None:
            raise InvalidOptionError("%s is needed by the command in the node-agent pod but is not set" % name)
        if "\n" in value or "\r" in value:
            raise InvalidOptionError("%s cannot contain a line break" % name)
        out.append(value)
    return "\n".join(out) + "\n"


def run_in_pod(api_client, namespace, pod, repo, argv, operation, cwd=None, container=None,
               stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT, check=True, ok_codes=(0,)):
    """Run a restic command line inside a node-agent pod (through the API server's exec),
    secrets on stdin. Returns a ResticResult; raises ResticError like run_local."""
    from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod

    res = exec_in_pod(api_client, namespace, pod, pod_command(argv, cwd=cwd, stdin_env=stdin_env, repo=repo),
                      container=container, stdin=pod_stdin(repo, stdin_env), timeout=timeout)
    result = ResticResult(res.rc, res.stdout, res.stderr, argv)
    if check and res.rc not in ok_codes:
        raise error_from_result(operation + " in pod %s/%s" % (namespace, pod), repo.identifier, res.rc,
                                res.stderr, repo.secrets())
    return result


def shell_quote(value):
    value = str(value)
    if value and re.match(r"^[A-Za-z0-9_@%+=:,./-]+$", value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


# --------------------------------------------------------------------------- higher level helpers

def repository_exists(repo, runner=run_local):
    """True when the repository exists and opens with the password; False when it does not
    exist; raises for anything else (wrong password, unreachable, ...)."""
    try:
        runner(repo, exists_command(repo), "cat config")
    except ResticRepositoryNotFound:
        return False
    return True


def ensure_repository(repo, runner=run_local):
    """Initialise the repository unless it exists; True when it was initialised.
    Safe against a concurrent init (another node's run winning the race)."""
    if repository_exists(repo, runner):
        return False
    try:
        runner(repo, init_command(repo), "init")
    except ResticError as e:
        if e.kind == "already_exists":
            return False
        raise
    return True


def backup_directory(repo, directory, tags, host=DEFAULT_HOST, parent=None, timeout=DEFAULT_TIMEOUT):
    """Back up a local directory (restic runs in it, path '.'): the parsed summary.
    Exit status 3 (some files unreadable, snapshot written) comes back with `errors`."""
    res = run_local(repo, backup_command(repo, tags=tags, host=host, parent=parent), "backup", cwd=directory,
                    timeout=timeout, ok_codes=(0, 3))
    summary = parse_backup_output(res.stdout)
    summary["incomplete"] = res.rc == 3
    return summary


def restore_directory(repo, snapshot_id, directory, timeout=DEFAULT_TIMEOUT):
    """Restore a snapshot into a local directory (restic runs in it, --target .)."""
    run_local(repo, restore_command(repo, snapshot_id, target="."), "restore", cwd=directory, timeout=timeout)


def volume_backup_in_pod(api_client, namespace, pod, repo, volume_dir, tags, host=DEFAULT_HOST, parent=None,
                         container=None, stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT):
    """`restic backup` of a pod volume directory (as the node agent sees it) exec'd in the
    node-agent pod: the parsed summary (snapshot_id, totals, errors, incomplete)."""
    res = run_in_pod(api_client, namespace, pod, repo, backup_command(repo, tags=tags, host=host, parent=parent),
                     "backup", cwd=volume_dir, container=container, stdin_env=stdin_env, timeout=timeout,
                     ok_codes=(0, 3))
    summary = parse_backup_output(res.stdout)
    summary["incomplete"] = res.rc == 3
    return summary


def volume_restore_in_pod(api_client, namespace, pod, repo, snapshot_id, volume_dir, container=None,
                          stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT):
    """`restic restore <snapshot> --target .` exec'd in the node-agent pod inside the
    restored pod's volume directory."""
    run_in_pod(api_client, namespace, pod, repo, restore_command(repo, snapshot_id, target="."), "restore",
               cwd=volume_dir, container=container, stdin_env=stdin_env, timeout=timeout)


def ensure_repository_in_pod(api_client, namespace, pod, repo, container=None, stdin_env=("RESTIC_PASSWORD",)):
    """ensure_repository, run inside the node-agent pod."""
    def runner(r, argv, operation):
        return run_in_pod(api_client, namespace, pod, r, argv, operation, container=container, stdin_env=stdin_env,
                          timeout=600)
    return ensure_repository(repo, runner)
