# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""kopia repositories in Velero's layout, and running the kopia CLI against them.

Layout (Velero's ``getStorageVariables``, pkg/repository/provider/unified_repo.go): one
repository per volume namespace, in the bucket of the backup storage location under the S3 key
prefix ``<location prefix>/kopia/<namespace>/`` (beside ``restic/``); the endpoint is the host of
the location's URL, TLS off when its scheme is http. A filesystem location keeps it in the
directory ``<path>/<prefix>/kopia/<namespace>``. Velero connects as ``default@default``
(udmrepo.GetRepoUser/GetRepoDomain); so does kubedr, which makes it the maintenance owner of a
repository either creates, as Velero expects. The password is Velero's repository password (the
``velero-repo-credentials`` secret, the same one restic repositories use).

Every kopia command needs a connected configuration: each run connects in a fresh temporary
directory (``--config-file``, ``--cache-directory``) that it deletes at the end, and persists no
credential. Secrets (KOPIA_PASSWORD, the S3 keys) go only into kopia's environment: for a local
process through ``subprocess``'s env, in a node-agent pod on the exec's standard input (a shell
snippet reads them into its environment); never argv.

Two runners with one signature, so callers (the uploader, backup deletion, repository
maintenance) do not care where kopia runs::

    run_local(repo, args, operation, create=False, cwd=None, timeout=..., ok_codes=(0,))
    pod_runner(api_client, namespace, pod, container=None)  ->  the same callable, exec'd in a pod

``args`` is a kopia command without the binary and global flags (``["snapshot", "list",
"--all", "--json"]``; ``None`` only connects). ``create=True`` creates the repository when it
does not exist; a create that fails because another run created it meanwhile connects instead.
(kopia refuses to create over existing data, but two creations in the same instant can both pass
that check: one run serialises its creations, node_agent's gate; separate runs are not.) Both return
a CommandResult (uploader_errors) and raise KopiaError (KopiaRepositoryNotFound when the repository does not exist
and create is False), the cause mapped and the message scrubbed of secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import posixpath
import re
import shutil
import subprocess
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod, stopped_with_stream
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import parse_identifier
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploader_errors import (
    STORAGE_STDERR_PATTERNS, CommandResult, UploaderError, classify, failure_message, redact,
)

KOPIA_DIR = "kopia"
REPO_USER = "default"  # Velero's udmrepo.GetRepoUser()
REPO_HOST = "default"  # Velero's udmrepo.GetRepoDomain()
DEFAULT_TIMEOUT = 3600

# Variables that carry secrets into kopia, in the order the pod snippet reads them from stdin.
SECRET_ENV = ("KOPIA_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# Flags every command gets: no credential saved beside the config, no log files, no update check,
# no automatic maintenance (repository maintenance is an explicit action, as in Velero).
_QUIET_FLAGS = ("--no-persist-credentials", "--disable-file-logging", "--no-auto-maintenance", "--no-progress",
                "--disable-color")
_CLIENT_FLAGS = ("--override-username=" + REPO_USER, "--override-hostname=" + REPO_HOST, "--no-check-for-updates")
_NOT_INITIALIZED = "repository not initialized in the provided storage"
_NO_DIRECTORY = "cannot access storage path"  # a filesystem repository whose directory does not exist


# --------------------------------------------------------------------------- errors

class KopiaError(UploaderError):
    """kopia failed. `kind` names the cause: wrong_password, not_found, already_exists,
    credentials, unreachable, snapshot_not_found, timeout, not_installed, failed."""


class KopiaRepositoryNotFound(KopiaError, NotFoundError):
    """The repository does not exist (nothing initialised at its prefix)."""


# (kind, substring of kopia's stderr, lower case, what to tell the user); first match wins.
_STDERR_PATTERNS = (
    ("not_found", _NOT_INITIALIZED, "the kopia repository does not exist"),
    ("not_found", _NO_DIRECTORY, "the kopia repository does not exist"),
    ("wrong_password", "invalid repository password", "wrong repository password"),
    ("already_exists", "found existing data in storage location", "the repository already exists"),
    ("already_exists", "repository already initialized", "the repository already exists"),
    ("credentials", "access key id you provided does not exist", "S3 refused the credentials (unknown access key)"),
    ("unreachable", "bucket does not exist", "the bucket does not exist"),
    ("snapshot_not_found", "manifest not found", "the snapshot does not exist"),
    ("not_installed", "kopia: not found", "kopia is not installed where it runs (the node-agent image needs it)"),
    ("not_installed", "kopia: command not found", "kopia is not installed where it runs"),
) + STORAGE_STDERR_PATTERNS


def classify_stderr(stderr):
    """(kind, explanation) of kopia's error output; ("failed", None) when unknown."""
    return classify(stderr, _STDERR_PATTERNS)


def error_from_result(operation, repository, rc, stderr, secrets=()):
    """The KopiaError of a failed run: the mapped cause, then kopia's last lines (scrubbed)."""
    kind, text = classify_stderr(stderr)
    if rc == 127 and kind == "failed":
        kind, text = "not_installed", "kopia is not installed where it runs"
    lines = [line.strip() for line in redact(stderr, secrets).splitlines() if line.strip()]
    msg = failure_message("kopia", operation, repository, rc, text, lines)
    cls = KopiaRepositoryNotFound if kind == "not_found" else KopiaError
    return cls(msg, kind=kind, rc=rc)


# --------------------------------------------------------------------------- naming

def _volume_namespace(volume_namespace):
    if not volume_namespace or "/" in volume_namespace:
        raise InvalidOptionError("a volume namespace is required to name its kopia repository (got %r)"
                                 % (volume_namespace,))
    return volume_namespace


def key_prefix(storage_location, volume_namespace):
    """The S3 key prefix of a namespace's repository: "<prefix>/kopia/<namespace>/" (Velero:
    path.Join(prefix, "kopia", repoName) + "/")."""
    prefix = ((storage_location or {}).get("prefix") or "").strip("/")
    return posixpath.join(prefix, KOPIA_DIR, _volume_namespace(volume_namespace)) + "/"


def endpoint_of(storage_location):
    """(endpoint host[:port], disable_tls) as Velero derives them from s3Url (an AWS endpoint
    of the region when no URL is given)."""
    loc = storage_location or {}
    url = (loc.get("endpoint_url") or "").strip()
    if not url:
        region = loc.get("region")
        return ("s3-%s.amazonaws.com" % region if region else "s3.amazonaws.com"), False
    match = re.match(r"^(?:(https?)://)?([^/]+)/?$", url)
    if not match:
        raise InvalidOptionError("storage_location.endpoint_url must be scheme://host[:port] without a path, "
                                 "not %r" % url)
    return match.group(2), match.group(1) == "http"


# --------------------------------------------------------------------------- handle

class KopiaRepository(object):
    """A kopia repository and how to reach it: S3 (bucket, prefix, endpoint) or a directory.
    Holds the secrets; never printed whole. ``identifier`` names it in messages, in restic's
    style (``s3:http://host/bucket/prefix/kopia/ns`` or a path); Velero records none for kopia."""

    def __init__(self, bucket=None, prefix="", endpoint=None, disable_tls=False, region=None, path=None,
                 password=None, access_key=None, secret_key=None, session_token=None, cacert=None,
                 validate_certs=True, kopia_binary="kopia"):
        if not path and not bucket:
            raise InvalidOptionError("a kopia repository needs a bucket or a path")
        self.bucket = bucket
        self.prefix = prefix or ""
        self.endpoint = endpoint or "s3.amazonaws.com"
        self.disable_tls = bool(disable_tls)
        self.region = region
        self.path = path
        self.password = password
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.cacert = cacert
        self.validate_certs = validate_certs if validate_certs is not None else True
        self.kopia_binary = kopia_binary or "kopia"

    @classmethod
    def from_storage_location(cls, storage_location, volume_namespace, password=None, **kwargs):
        """The repository of a volume namespace in a storage location, with the location's
        credentials and TLS settings."""
        loc = storage_location or {}
        if (loc.get("provider") or "s3") == "filesystem":
            if not loc.get("path"):
                raise InvalidOptionError("storage_location.path is required for a filesystem location")
            path = posixpath.join(os.path.abspath(loc["path"]), key_prefix(loc, volume_namespace)).rstrip("/")
            return cls(path=path, password=password, **kwargs)
        bucket = (loc.get("bucket") or "").strip("/")
        if not bucket:
            raise InvalidOptionError("storage_location.bucket is required for an s3 location")
        endpoint, disable_tls = endpoint_of(loc)
        return cls(bucket=bucket, prefix=key_prefix(loc, volume_namespace), endpoint=endpoint,
                   disable_tls=disable_tls, region=loc.get("region"), password=password,
                   access_key=loc.get("access_key"), secret_key=loc.get("secret_key"),
                   session_token=loc.get("session_token"), cacert=loc.get("aws_ca_bundle"),
                   validate_certs=loc.get("validate_certs", True), **kwargs)

    @classmethod
    def from_identifier(cls, identifier, storage_location=None, password=None, **kwargs):
        """A repository named by its identifier (as ``identifier`` prints it), credentials and
        TLS settings from the storage location."""
        where = parse_identifier(identifier)
        loc = storage_location or {}
        if where["kind"] == "local":
            return cls(path=where["path"], password=password, **kwargs)
        endpoint, disable_tls = endpoint_of(dict(loc, endpoint_url=where["endpoint_url"]))
        return cls(bucket=where["bucket"], prefix=where["key_prefix"].strip("/") + "/", endpoint=endpoint,
                   disable_tls=disable_tls, region=loc.get("region"), password=password,
                   access_key=loc.get("access_key"), secret_key=loc.get("secret_key"),
                   session_token=loc.get("session_token"), cacert=loc.get("aws_ca_bundle"),
                   validate_certs=loc.get("validate_certs", True), **kwargs)

    @property
    def identifier(self):
        if self.path:
            return self.path
        scheme = "http://" if self.disable_tls else "https://"
        return "s3:%s%s/%s" % (scheme, self.endpoint, posixpath.join(self.bucket, self.prefix).rstrip("/"))

    def __repr__(self):
        return "KopiaRepository(%r)" % self.identifier

    def secrets(self):
        """The secret values, for scrubbing output."""
        return [v for v in (self.password, self.access_key, self.secret_key, self.session_token) if v]

    def env(self, base=None):
        """kopia's environment: `base` without kopia's own variables, plus the secrets."""
        env = dict((k, v) for k, v in (base or {}).items() if not k.startswith("KOPIA_"))
        for name, value in (("KOPIA_PASSWORD", self.password), ("AWS_ACCESS_KEY_ID", self.access_key),
                            ("AWS_SECRET_ACCESS_KEY", self.secret_key), ("AWS_SESSION_TOKEN", self.session_token)):
            if value:
                env[name] = value
        return env

    def stdin_env(self):
        """The secret variables this repository needs (for the pod snippet)."""
        env = self.env({})
        if "KOPIA_PASSWORD" not in env:
            raise InvalidOptionError("the repository password is required for kopia repository %s" % self.identifier)
        return tuple(name for name in SECRET_ENV if env.get(name))

    def storage_args(self):
        """`s3 --bucket ... --prefix ...` or `filesystem --path ...`: where, never a secret."""
        if self.path:
            return ["filesystem", "--path=" + self.path]
        args = ["s3", "--bucket=" + self.bucket, "--prefix=" + self.prefix, "--endpoint=" + self.endpoint]
        if self.region:
            args.append("--region=" + self.region)
        if self.disable_tls:
            args.append("--disable-tls")
        if not self.validate_certs:
            args.append("--disable-tls-verification")
        if self.cacert:
            args.append("--root-ca-pem-path=" + self.cacert)
        return args


# --------------------------------------------------------------------------- command lines

def global_args(repo, config_file):
    return [repo.kopia_binary, "--config-file=" + config_file] + list(_QUIET_FLAGS)


def connect_command(repo, config_file, cache_dir):
    return global_args(repo, config_file) + ["repository", "connect"] + repo.storage_args() + [
        "--cache-directory=" + cache_dir] + list(_CLIENT_FLAGS)


def create_command(repo, config_file, cache_dir):
    """`repository create` with kopia's defaults (hash, encryption, splitter: as Velero creates it)."""
    return global_args(repo, config_file) + ["repository", "create"] + repo.storage_args() + [
        "--cache-directory=" + cache_dir] + list(_CLIENT_FLAGS)


# --------------------------------------------------------------------------- local runner

def _run(argv, env, cwd, timeout, operation, repo):
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)
    except OSError as e:
        raise KopiaError("cannot run %s: %s" % (argv[0], e.strerror or e), kind="not_installed")
    except subprocess.TimeoutExpired:
        raise KopiaError("kopia %s on %s did not finish within %ss" % (operation, repo.identifier, timeout),
                         kind="timeout")
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def run_local(repo, args, operation, create=False, cwd=None, timeout=DEFAULT_TIMEOUT, ok_codes=(0,), base_env=None):
    """Connect (``create``: or create) in a temporary configuration, then run ``args`` (None:
    only connect) as a local process. Returns a CommandResult (uploader_errors); raises KopiaError."""
    repo.stdin_env()  # the password is required
    env = repo.env(os.environ if base_env is None else base_env)
    work = tempfile.mkdtemp(prefix="kubedr-kopia-")
    config, cache = os.path.join(work, "repository.config"), os.path.join(work, "cache")
    try:
        rc, out, err = _run(connect_command(repo, config, cache), env, None, timeout, "connect", repo)
        if rc != 0 and create and classify_stderr(err)[0] == "not_found":
            rc, out, err = _run(create_command(repo, config, cache), env, None, timeout, "create", repo)
            if rc != 0:  # fine when another run created it meanwhile; else the create's error is the cause
                create_err = err
                rc, out, err = _run(connect_command(repo, config, cache), env, None, timeout, "connect", repo)
                if rc != 0:
                    raise error_from_result("create", repo.identifier, rc, create_err, repo.secrets())
        if rc != 0:
            raise error_from_result("connect", repo.identifier, rc, err, repo.secrets())
        if args is None:
            return CommandResult(rc, out, err, [])
        rc, out, err = _run(global_args(repo, config) + list(args), env, cwd, timeout, operation, repo)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if rc not in ok_codes:
        raise error_from_result(operation, repo.identifier, rc, err, repo.secrets())
    return CommandResult(rc, out, err, list(args))


# --------------------------------------------------------------------------- pod runner

def shell_quote(value):
    value = str(value)
    if value and re.match(r"^[A-Za-z0-9_@%+=:,./-]+$", value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _line(argv):
    return " ".join(shell_quote(a) for a in argv)


def pod_script(repo, args, create=False, cwd=None):
    """A `/bin/sh -c` script for the node-agent pod: read the secrets from standard input (one
    line each, never waiting for end of file), connect (or create) in a temporary directory
    removed on exit, then run kopia ``args`` in ``cwd``. As restic's snippet (runner.py) does,
    a watcher stops kopia with SIGTERM when the exec's stream ends (the run was cancelled)."""
    config, cache = "$work/repository.config", "$work/cache"
    # The config and cache paths are expanded by the shell: build the lines with placeholders.
    connect = _line(connect_command(repo, "@CONFIG@", "@CACHE@"))
    create_line = _line(create_command(repo, "@CONFIG@", "@CACHE@"))
    lines = ["set -e", "exec 3<&0"]
    for name in repo.stdin_env():
        lines.append("IFS= read -r %s || { echo 'kubedr: %s was not received on standard input' >&2; exit 2; }; "
                     "export %s" % (name, name, name))
    lines += [
        'work=$(mktemp -d "${TMPDIR:-/tmp}/kubedr-kopia.XXXXXX")',
        "trap 'rm -rf \"$work\"' EXIT",
        # Connecting and creating print for people (a create prints the default policy): only the
        # command's own output reaches stdout, which is read as JSON.
        'if ! %s </dev/null >/dev/null 2>"$work/err"; then' % connect,
    ]
    if create:
        lines += [
            '  if grep -q -e %s -e %s "$work/err"; then' % (shell_quote(_NOT_INITIALIZED), shell_quote(_NO_DIRECTORY)),
            # A failed create is fine when another run created it meanwhile; else its error is the cause.
            '    %s </dev/null >/dev/null 2>"$work/create.err" || %s </dev/null >/dev/null 2>"$work/err" || '
            '{ cat "$work/create.err" >&2; exit 3; }'
            % (create_line, connect),
            '  else cat "$work/err" >&2; exit 3; fi',
        ]
    else:
        lines.append('  cat "$work/err" >&2; exit 3')
    lines.append("fi")
    if args is not None:
        if cwd:
            lines.append("cd %s" % shell_quote(cwd))
        lines.extend(stopped_with_stream(_line(global_args(repo, "@CONFIG@") + list(args))))
    script = "\n".join(lines) + "\n"
    return script.replace("@CONFIG@", '"' + config + '"').replace("@CACHE@", '"' + cache + '"')


def pod_stdin(repo):
    """The standard input that goes with pod_script: one line per secret variable."""
    env = repo.env({})
    out = []
    for name in repo.stdin_env():
        value = env[name]
        if "\n" in value or "\r" in value:
            raise InvalidOptionError("%s cannot contain a line break" % name)
        out.append(value)
    return "\n".join(out) + "\n"


def run_in_pod(api_client, namespace, pod, repo, args, operation, create=False, cwd=None, container=None,
               timeout=DEFAULT_TIMEOUT, ok_codes=(0,), on_stdout=None):
    """run_local's work exec'd in a node-agent pod (through the API server), secrets on stdin.
    Exit status 3 of the snippet means the connection failed (its stderr tells why)."""
    res = exec_in_pod(api_client, namespace, pod, ["/bin/sh", "-c", pod_script(repo, args, create=create, cwd=cwd)],
                      container=container, stdin=pod_stdin(repo), timeout=timeout, on_stdout=on_stdout,
                      cancellable=True)
    if res.rc not in ok_codes:
        where = "%s in pod %s/%s" % ("connect" if res.rc == 3 and args is not None else operation, namespace, pod)
        raise error_from_result(where, repo.identifier, res.rc, res.stderr, repo.secrets())
    return CommandResult(res.rc, res.stdout, res.stderr, list(args or []))


def pod_runner(api_client, namespace, pod, container=None):
    """A runner with run_local's signature that runs kopia in the given node-agent pod."""
    def runner(repo, args, operation, create=False, cwd=None, timeout=DEFAULT_TIMEOUT, ok_codes=(0,),
               on_stdout=None):
        return run_in_pod(api_client, namespace, pod, repo, args, operation, create=create, cwd=cwd,
                          container=container, timeout=timeout, ok_codes=ok_codes, on_stdout=on_stdout)
    return runner


# --------------------------------------------------------------------------- repository level

def repository_exists(repo, runner=run_local):
    """True when the repository exists and opens with the password; False when nothing is
    initialised there; raises for anything else (wrong password, unreachable, ...)."""
    try:
        runner(repo, None, "connect")
    except KopiaRepositoryNotFound:
        return False
    return True


def ensure_repository(repo, runner=run_local):
    """Create the repository unless it exists (a concurrent creation is harmless)."""
    runner(repo, None, "connect", create=True)


def parse_json(stdout, what):
    """kopia's --json output (one document)."""
    try:
        return json.loads(stdout or "null")
    except ValueError:
        raise KopiaError("kopia printed no readable JSON for %s: %s" % (what, (stdout or "")[:200]))
