# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running restic command lines (``restic``): as a local process, or exec'd in a node-agent
pod through the API server with a shell snippet that takes the secrets from standard input.

Both raise ``restic.ResticError`` (the cause mapped, the message scrubbed of secrets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod, stopped_with_stream
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploader_errors import CommandResult

DEFAULT_TIMEOUT = 3600
# restic backup's exit status 3: some files could not be read, the snapshot was written anyway.
BACKUP_INCOMPLETE = 3
FULL_ID_LENGTH = 64  # hex digits of a snapshot ID
# Status lines per second of restic --json in a node agent. restic's default is 60, and each line crosses the
# API server's exec stream: a restore through the node agent ran at 0.73 of plain restic with 60 lines/s and
# as fast as plain restic with 2 (docs/performance.md). The progress object is rewritten every 5 s at most.
POD_PROGRESS_FPS = 2


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
        raise restic.ResticError("cannot run %s: %s" % (argv[0], e.strerror or e), kind="not_installed")
    except subprocess.TimeoutExpired:
        raise restic.ResticError("restic %s on %s did not finish within %ss" % (operation, repo.identifier, timeout),
                                 kind="timeout")
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    result = CommandResult(proc.returncode, stdout, stderr, argv)
    if check and proc.returncode not in ok_codes:
        raise restic.error_from_result(operation, repo.identifier, proc.returncode, stderr, repo.secrets())
    return result


def pod_script(argv, cwd=None, stdin_env=("RESTIC_PASSWORD",), repo=None):
    """A `/bin/sh -c` script for the node-agent pod: read each variable of `stdin_env`
    from one line of standard input (kwok and some runtimes close stdin only when the
    stream ends, so the script never waits for end of file), export them, change to
    `cwd`, and run restic. Non-secret settings of `repo` (region, cache directory)
    are exported inline, and restic's status lines slowed to POD_PROGRESS_FPS; secrets
    never appear in the script.

    A stream that ends before restic does (the run was cancelled, its process killed) must not
    leave restic running in the node agent with its repository locked: a watcher waits for
    the end of standard input and then stops restic with SIGTERM, on which restic removes its
    lock. (Runtimes do not stop an exec'd command when its stream goes away.)"""
    lines = ["set -e", "exec 3<&0"]
    for name in stdin_env or ():
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", name):
            raise InvalidOptionError("bad environment variable name %r" % name)
        lines.append("IFS= read -r %s || { echo 'kubedr: %s was not received on standard input' >&2; exit 2; }; "
                     "export %s" % (name, name, name))
    lines.append("export RESTIC_PROGRESS_FPS=%d" % POD_PROGRESS_FPS)
    if repo is not None:
        for name, value in (("AWS_DEFAULT_REGION", repo.region), ("RESTIC_CACHE_DIR", repo.cache_dir)):
            if value:
                lines.append("export %s=%s" % (name, shell_quote(value)))
    if cwd:
        lines.append("cd %s" % shell_quote(cwd))
    lines.extend(stopped_with_stream(" ".join(shell_quote(a) for a in argv)))
    return "\n".join(lines) + "\n"


def pod_command(argv, cwd=None, stdin_env=("RESTIC_PASSWORD",), repo=None):
    """The exec command (argv list) for kube.exec.exec_in_pod."""
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
               stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT, check=True, ok_codes=(0,), on_stdout=None):
    """Run a restic command line inside a node-agent pod (through the API server's exec),
    secrets on stdin. Returns a CommandResult; raises ResticError like run_local.
    ``on_stdout(bytes)`` sees the output as it arrives."""
    res = exec_in_pod(api_client, namespace, pod, pod_command(argv, cwd=cwd, stdin_env=stdin_env, repo=repo),
                      container=container, stdin=pod_stdin(repo, stdin_env), timeout=timeout, on_stdout=on_stdout,
                      cancellable=True)
    result = CommandResult(res.rc, res.stdout, res.stderr, argv)
    if check and res.rc not in ok_codes:
        raise restic.error_from_result(operation + " in pod %s/%s" % (namespace, pod), repo.identifier, res.rc,
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
        runner(repo, restic.exists_command(repo), "cat config")
    except restic.ResticRepositoryNotFound:
        return False
    return True


def ensure_repository(repo, runner=run_local):
    """Initialise the repository unless it exists; True when it was initialised.
    Safe against a concurrent init (another node's run winning the race)."""
    if repository_exists(repo, runner):
        return False
    try:
        runner(repo, restic.init_command(repo), "init")
    except restic.ResticError as e:
        if e.kind == "already_exists":
            return False
        raise
    return True


def backup_directory(repo, directory, tags, host=restic.DEFAULT_HOST, parent=None, timeout=DEFAULT_TIMEOUT):
    """Back up a local directory (restic runs in it, path '.'): the parsed summary.
    Exit status 3 (some files unreadable, snapshot written) comes back with `errors`."""
    res = run_local(repo, restic.backup_command(repo, tags=tags, host=host, parent=parent), "backup", cwd=directory,
                    timeout=timeout, ok_codes=(0, BACKUP_INCOMPLETE))
    return _backup_summary(repo, res, tags, lambda argv, operation: run_local(repo, argv, operation, timeout=timeout))


def restore_directory(repo, snapshot_id, directory, timeout=DEFAULT_TIMEOUT):
    """Restore a snapshot into a local directory (restic runs in it, --target .): the parsed
    restore summary (restic.parse_restore_output)."""
    res = run_local(repo, restic.restore_command(repo, snapshot_id, target="."), "restore", cwd=directory,
                    timeout=timeout)
    return restic.parse_restore_output(res.stdout, res.stderr)


def volume_backup_in_pod(api_client, namespace, pod, repo, volume_dir, tags, host=restic.DEFAULT_HOST, parent=None,
                         container=None, stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT, on_stdout=None):
    """`restic backup` of a pod volume directory (as the node agent sees it) exec'd in the
    node-agent pod: the parsed summary (snapshot_id, totals, errors, incomplete); its status
    lines go to ``on_stdout`` as they arrive."""
    res = run_in_pod(api_client, namespace, pod, repo, restic.backup_command(repo, tags=tags, host=host, parent=parent),
                     "backup", cwd=volume_dir, container=container, stdin_env=stdin_env, timeout=timeout,
                     ok_codes=(0, BACKUP_INCOMPLETE), on_stdout=on_stdout)

    def run(argv, operation):
        return run_in_pod(api_client, namespace, pod, repo, argv, operation, container=container, stdin_env=stdin_env,
                          timeout=600)
    return _backup_summary(repo, res, tags, run)


def _backup_summary(repo, res, tags, run):
    """The parsed summary with the full snapshot ID: restic 0.14's summary has the short one,
    resolved among the snapshots carrying the backup's tags (one more restic run)."""
    summary = restic.parse_backup_output(res.stdout, res.stderr)
    summary["incomplete"] = res.rc == BACKUP_INCOMPLETE
    short = summary.get("snapshot_id") or ""
    if short and len(short) < FULL_ID_LENGTH:
        listed = restic.parse_snapshots(run(restic.snapshots_command(repo, tags=tags), "snapshots").stdout)
        found = restic.find_snapshot(listed, short)
        if found is None:
            raise restic.ResticError("restic backup reported snapshot %s, which the repository does not list" % short)
        summary["snapshot_id"] = found["id"]
    return summary


def volume_restore_in_pod(api_client, namespace, pod, repo, snapshot_id, volume_dir, container=None,
                          stdin_env=("RESTIC_PASSWORD",), timeout=DEFAULT_TIMEOUT, on_stdout=None, delete=False):
    """`restic restore <snapshot> --target .` exec'd in the node-agent pod inside the
    restored pod's volume directory: the parsed restore summary (restic.parse_restore_output);
    its status lines go to ``on_stdout`` as they arrive (restic 0.16 and later print them).
    ``delete``: files the snapshot lacks are removed (restic.restore_command)."""
    res = run_in_pod(api_client, namespace, pod, repo,
                     restic.restore_command(repo, snapshot_id, target=".", delete=delete),
                     "restore", cwd=volume_dir, container=container, stdin_env=stdin_env, timeout=timeout,
                     on_stdout=on_stdout)
    return restic.parse_restore_output(res.stdout, res.stderr)


def ensure_repository_in_pod(api_client, namespace, pod, repo, container=None, stdin_env=("RESTIC_PASSWORD",)):
    """ensure_repository, run inside the node-agent pod."""
    def runner(r, argv, operation):
        return run_in_pod(api_client, namespace, pod, r, argv, operation, container=container, stdin_env=stdin_env,
                          timeout=600)
    return ensure_repository(repo, runner)
