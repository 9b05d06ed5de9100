# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""restic command lines, its output parsers and its errors (pure).

The command line builders take a ``repository.Repository`` and never a secret: secrets
(repository password, S3 keys) only ever reach restic through its environment (or are
named by RESTIC_PASSWORD_FILE), and error messages are scrubbed of them. ``runner`` runs
the command lines.

Every command runs with ``--json`` and only restic's JSON is read, from restic 0.14
(Debian's) to 0.18. What the older releases lack degrades as follows (RESTIC_VERSIONS):
0.14 prints no JSON for `restore` and `check` (their outcome is the exit status alone:
``parse_restore_output`` and ``parse_check`` then return no counts), its backup summary
carries the short snapshot ID (``find_snapshot`` resolves it), its backup errors may have
no message, and its fatal errors are text (0.17 and later print an `exit_error` object and
exit with 10, 11 or 12 for a missing repository, a lock, a wrong password). `prune` prints
no JSON in any release: its summary lines are the one text read (``parse_prune``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploader_errors import (
    STORAGE_STDERR_PATTERNS, UploaderError, classify, failure_message, redact,
)

RESTIC_VERSIONS = "0.14 to 0.18"  # the releases these command lines and parsers are tested with
DEFAULT_HOST = "velero"  # Velero's `restic backup --host=velero`: keeps parents across pod names

# The tag keys of a pod volume snapshot (DESIGN.md section 7, Velero's names), sorted as restic lists them.
VOLUME_TAG_KEYS = ("backup", "backup-uid", "ns", "pod", "pod-uid", "volume")

_PRUNE_LINE = re.compile(r"^(to repack|this removes|to delete|total prune|remaining|unused size after prune):\s*(.+)$")


# --------------------------------------------------------------------------- errors

class ResticError(UploaderError):
    """restic failed. `kind` names the cause: wrong_password, not_found, locked,
    already_exists, credentials, unreachable, timeout, not_installed, failed."""


class ResticRepositoryNotFound(ResticError, NotFoundError):
    """The repository does not exist (not initialised)."""


# (kind, substring of restic's stderr, what to tell the user); first match wins.
_STDERR_PATTERNS = (
    ("unsupported", "unknown flag: --delete",
     "this restic has no `restore --delete` (restic 0.17 and later have it): upgrade the node agent's restic, "
     "or restore without delete_extra"),
    ("wrong_password", "wrong password or no key found",
     "wrong repository password (or no key found for it)"),
    ("locked", "repository is already locked",
     "the repository is locked by another restic process; if that process is gone, run the unlock action"),
    ("already_exists", "already initialized", "the repository already exists"),
    ("already_exists", "config file already exists", "the repository already exists"),
    ("credentials", "invalidaccesskeyid", "S3 refused the credentials (unknown access key)"),
) + STORAGE_STDERR_PATTERNS + (  # before "no repository": restic says both when it cannot reach one
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
    return classify(stderr, _STDERR_PATTERNS)


def error_from_result(operation, repository, rc, stderr, secrets=()):
    """The ResticError for a failed restic run: the mapped cause first, then the last
    lines of restic's own message (scrubbed of secrets)."""
    kind, text = classify_stderr(stderr)
    if kind == "failed" and rc in _EXIT_CODES:  # restic >= 0.17 documents these exit codes
        kind, text = _EXIT_CODES[rc]
    msg = failure_message("restic", operation, repository, rc, text, error_lines(redact(stderr, secrets)))
    cls = ResticRepositoryNotFound if kind == "not_found" else ResticError
    return cls(msg, kind=kind, rc=rc)


def error_lines(stderr):
    """restic's error messages, oldest first: the `message` of its JSON error objects
    (`exit_error` of 0.17 and later, `error` of backup, restore and check), any other line as is."""
    lines = []
    for line in (stderr or "").splitlines():
        line = line.strip()
        message = json_message(line)
        if message is not None:
            text = error_text(message) if message.get("message_type") == "error" else message.get("message")
            line = (text or "").strip()
        if line:
            lines.extend(part.strip() for part in line.splitlines() if part.strip())
    return lines


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
    return repo.global_args() + ["init", "--json"]


def exists_command(repo):
    """Reads the repository config: succeeds when the repository exists and the password opens it."""
    return repo.global_args() + ["--no-lock", "cat", "config", "--json"]


def check_command(repo, read_data=False, read_data_subset=None):
    args = repo.global_args() + ["check", "--json"]
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
    args = repo.global_args() + ["prune", "--json"]
    if max_unused:
        args.append("--max-unused=" + str(max_unused))
    if dry_run:
        args.append("--dry-run")
    return args


def unlock_command(repo, remove_all=False):
    return repo.global_args() + ["unlock", "--json"] + (["--remove-all"] if remove_all else [])


def list_locks_command(repo):
    """`restic list locks` prints one ID a line in every release (--json only makes its errors JSON)."""
    return repo.global_args() + ["--no-lock", "list", "locks", "--json"]


STATS_MODES = ("restore-size", "files-by-contents", "blobs-per-file", "raw-data")


def stats_command(repo, mode=None, tags=None, hosts=None, paths=None, snapshot_ids=None):
    args = repo.global_args() + ["stats", "--json"]
    if mode:
        if mode not in STATS_MODES:
            raise InvalidOptionError("stats mode must be one of %s" % ", ".join(STATS_MODES))
        args.append("--mode=" + mode)
    return args + _filters(tags, hosts, paths) + [validate_snapshot_id(sid) for sid in snapshot_ids or ()]


def volume_tags(backup, backup_uid, pod, pod_uid, namespace, volume):
    """The tags of a pod volume snapshot, as Velero sets them: the one definition, used for
    the snapshot (``backup_command``) and for the PodVolumeBackup record alike."""
    values = (backup, backup_uid, namespace, pod, pod_uid, volume)
    return dict(zip(VOLUME_TAG_KEYS, ("%s" % value for value in values)))


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


def restore_command(repo, snapshot_id, target=".", includes=None, excludes=None, verify=False, delete=False):
    """`restic restore --json <snapshot> --target <dir>` (Velero runs it with --target=. in the volume
    directory). restic 0.14 takes --json and prints text: see parse_restore_output. ``delete``: also
    remove the files of the target that the snapshot lacks (`--delete`, restic 0.17 and later; an
    older restic refuses the flag, classified as ``unsupported``)."""
    snapshot_id = validate_snapshot_id(snapshot_id)
    args = repo.global_args() + ["restore", "--json", snapshot_id, "--target=" + target]
    for pattern in includes or ():
        args.append("--include=" + pattern)
    for pattern in excludes or ():
        args.append("--exclude=" + pattern)
    if verify:
        args.append("--verify")
    if delete:
        args.append("--delete")
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


def json_message(line):
    """The JSON object of one line of restic's output (a dict with `message_type`), else None."""
    line = line.strip() if isinstance(line, str) else line.strip().decode("utf-8", "replace")
    if not line.startswith("{"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and message.get("message_type") else None


def json_messages(*outputs):
    """The JSON message lines of restic's outputs (stdout, stderr), in order."""
    return [m for text in outputs for m in (json_message(line) for line in (text or "").splitlines()) if m]


def error_text(message):
    """The text of a JSON `error` message: `error.message` (0.15 and later), the message itself
    (check), or what restic 0.14 gives (a Go error marshalled as its fields, such as
    {"Op": "open", "Path": ..., "Err": 13}, or nothing)."""
    err = message.get("error")
    if isinstance(err, dict):
        if err.get("message"):
            return err["message"]
        if err.get("Op") or err.get("Path"):
            return " ".join(str(err[k]) for k in ("Op", "Path") if err.get(k)) + (
                " (errno %s)" % err["Err"] if isinstance(err.get("Err"), int) else "")
        return None
    return err or message.get("message")


def _errors(messages):
    return [dict(item=m.get("item"), during=m.get("during"), message=error_text(m))
            for m in messages if m.get("message_type") == "error"]


def _summary(messages):
    found = [m for m in messages if m.get("message_type") == "summary"]
    return dict((k, v) for k, v in found[-1].items() if k != "message_type") if found else None


def parse_backup_output(stdout, stderr=""):
    """The JSON lines of `restic backup --json` -> the summary (snapshot_id, files_*, dirs_*,
    data_blobs, tree_blobs, data_added, total_files_processed, total_bytes_processed,
    total_duration; 0.17 and later add data_added_packed, backup_start, backup_end) plus
    `errors` (the per-file errors restic prints on stderr). Raises when there is no summary."""
    messages = json_messages(stdout, stderr)
    result = _summary(messages)
    if result is None:
        raise ResticError("restic backup printed no summary (it did not finish)")
    result["errors"] = _errors(messages)
    return result


RESTORE_COUNTS = ("total_files", "files_restored", "files_skipped", "total_bytes", "bytes_restored",
                  "bytes_skipped", "seconds_elapsed")


def parse_restore_output(stdout, stderr=""):
    """`restic restore --json` (0.16 and later) -> its summary counts (RESTORE_COUNTS; restic omits
    zeros) and `errors`; `reported` is False when restic printed no JSON summary (0.14, whose
    restore prints text only: the counts are then None and the exit status is the outcome)."""
    messages = json_messages(stdout, stderr)
    summary = _summary(messages)
    result = dict((name, (summary or {}).get(name, 0 if summary is not None else None)) for name in RESTORE_COUNTS)
    result.update(reported=summary is not None, errors=_errors(messages))
    return result


def parse_check(stdout, stderr=""):
    """`restic check --json` -> dict(errors_found, num_errors, broken_packs, suggest_repair_index,
    suggest_prune, errors). restic 0.18 prints the summary and its errors as JSON; 0.14 prints
    text only, so the exit status alone tells (errors_found False here, the counts None)."""
    messages = json_messages(stdout, stderr)
    summary = _summary(messages)
    errors = [error_text(m) for m in messages if m.get("message_type") == "error"]
    if summary is None:
        return dict(errors_found=bool(errors), num_errors=len(errors) if errors else None, broken_packs=None,
                    suggest_repair_index=None, suggest_prune=None, errors=errors)
    return dict(errors_found=bool(summary.get("num_errors")) or bool(errors), num_errors=summary.get("num_errors"),
                broken_packs=summary.get("broken_packs") or [],
                suggest_repair_index=bool(summary.get("suggest_repair_index")),
                suggest_prune=bool(summary.get("suggest_prune")), errors=errors)


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
    """restic prune prints no JSON (0.14 to 0.18): its `name: value` summary lines as a dict, plus
    `removed_anything` (False when nothing was deleted or repacked)."""
    report = {}
    for line in (text or "").splitlines():
        match = _PRUNE_LINE.match(line.strip())
        if match:
            report[match.group(1).replace(" ", "_")] = match.group(2).strip()
    total = report.get("total_prune", "")
    report["removed_anything"] = bool(total) and not total.startswith("0 blobs")
    return report


def parse_ids(stdout):
    """`restic list locks|packs|snapshots` -> the IDs (one a line; `list` has no JSON form)."""
    return [line.strip() for line in (stdout or "").splitlines() if re.match(r"^[0-9a-f]{64}$", line.strip())]
