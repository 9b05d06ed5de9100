# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The restic_repo module's work on a kopia repository (``uploader_type: kopia``), in Velero's
layout (``kopia.KopiaRepository``): create it, or run one maintenance action, every result read
from kopia's JSON output.

How restic's actions map to kopia: check is ``snapshot verify`` (``--verify-files-percent`` for
read_data and read_data_subset), snapshots is ``snapshot list --all``, forget deletes snapshots
(by ID, or all but the last ``keep_last`` of each source: Velero pins its snapshots, so kopia's
own retention policies never expire them), prune is ``maintenance run --full`` (kubedr connects
as Velero's ``default@default``, the maintenance owner of the repositories either creates),
unlock has nothing to do (kopia repositories have no locks), stats sums the snapshots and adds
``repository status``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia, kopia_snapshots
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import KopiaError, KopiaRepository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repo_admin import RepoManagerBase, read_password_file

# restic-only options, refused with uploader_type kopia (the action they belong to, for the message).
RESTIC_ONLY = ("keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within",
               "keep_within_hourly", "keep_within_daily", "keep_within_weekly", "keep_within_monthly",
               "keep_within_yearly", "keep_tags", "group_by", "max_unused", "stats_mode")
# The blobs that hold data and metadata (kopia's pack prefixes); maintenance's own log and
# schedule blobs change on every run and are not counted.
PACK_PREFIXES = ("p", "q")
NO_LOCKS = "kopia repositories have no locks: nothing to unlock"


def verify_percent(read_data, read_data_subset):
    """kopia's --verify-files-percent for restic's read_data / read_data_subset (n/t or x%)."""
    if read_data_subset:
        text = str(read_data_subset)
        fraction = re.match(r"^(\d+)/(\d+)$", text)
        percent = re.match(r"^(\d+(\.\d+)?)%$", text)
        if fraction and 0 < int(fraction.group(1)) <= int(fraction.group(2)):
            return 100.0 * int(fraction.group(1)) / int(fraction.group(2))
        if percent and float(percent.group(1)) <= 100:
            return float(percent.group(1))
        raise InvalidOptionError("with uploader_type kopia, read_data_subset must be n/t or x%%, not %r" % text)
    return 100.0 if read_data else 0.0


def describe(manifest):
    """A kopia snapshot manifest in the shape of restic_repo's snapshots (id, time, hostname,
    username, paths, tags as key=value, tag_map), plus pins, total_bytes and total_files.
    kopia's CLI stores tag `k` as `tag:k`, Velero's uploader as `k`: both read as `k`."""
    source = manifest.get("source") or {}
    summary = (manifest.get("rootEntry") or {}).get("summ") or {}
    tag_map = {}
    for key, value in sorted((manifest.get("tags") or {}).items()):
        tag_map[key[4:] if key.startswith("tag:") else key] = value
    return dict(
        id=manifest.get("id"), time=manifest.get("startTime"), end_time=manifest.get("endTime"),
        hostname=source.get("host"), username=source.get("userName"),
        paths=[source.get("path")] if source.get("path") else [],
        source="%s@%s:%s" % (source.get("userName"), source.get("host"), source.get("path")),
        tags=["%s=%s" % item for item in sorted(tag_map.items())], tag_map=tag_map,
        pins=manifest.get("pins") or [], total_bytes=int(summary.get("size") or 0),
        total_files=int(summary.get("files") or 0), incomplete=manifest.get("incomplete") or None,
    )


def parse_snapshot_list(stdout):
    """`kopia snapshot list --all --json` -> described snapshots, oldest first."""
    document = kopia.parse_json(stdout, "snapshot list") or []
    if not isinstance(document, list):
        raise KopiaError("kopia snapshot list --json did not print a list")
    return sorted((describe(m) for m in document if isinstance(m, dict)), key=lambda s: s["time"] or "")


def matches(snapshot, tags=None, hosts=None, paths=None):
    """restic's filters: every `key=value` tag, any host, any path."""
    for tag in tags or ():
        key, _sep, value = tag.partition("=")
        if snapshot["tag_map"].get(key) != value:
            return False
    if hosts and snapshot["hostname"] not in hosts:
        return False
    return not paths or any(path in snapshot["paths"] for path in paths)


def last_per_source(snapshots, count):
    """The last ``count`` snapshots of each source (snapshots oldest first)."""
    by_source = {}
    for snapshot in snapshots:
        by_source.setdefault(snapshot["source"], []).append(snapshot)
    kept = set(s["id"] for group in by_source.values() for s in group[-count:]) if count > 0 else set()
    return [s for s in snapshots if s["id"] in kept]


def pack_blobs(stdout):
    """The (id, length) of the pack blobs in `kopia blob list --json`."""
    document = kopia.parse_json(stdout, "blob list") or []
    return set((b.get("id"), b.get("length")) for b in document if isinstance(b, dict)
               and str(b.get("id") or "")[:1] in PACK_PREFIXES)


def repository_summary(stdout):
    """The parts of `kopia repository status --json` worth returning (never the storage's credentials)."""
    status = kopia.parse_json(stdout, "repository status") or {}
    content = status.get("contentFormat") or {}
    return dict(unique_id=status.get("uniqueIDHex"), storage_type=(status.get("storage") or {}).get("type"),
                hash=content.get("hash"), encryption=content.get("encryption"),
                format_version=content.get("version"),
                splitter=(status.get("objectFormat") or {}).get("splitter"))


class KopiaRepoManager(RepoManagerBase):
    """One run of the restic_repo module on a kopia repository: its state or its action."""

    def __init__(self, params, check_mode, runner=kopia.run_local):
        super(KopiaRepoManager, self).__init__(params, check_mode)
        given = [name for name in RESTIC_ONLY if params.get(name) not in (None, "", [])]
        if given:
            raise InvalidOptionError("%s only apply to restic repositories (uploader_type restic): with kopia, "
                                     "forget takes snapshot_ids or keep_last" % ", ".join(given))
        password = params.get("repository_password") or None
        if password is None and params.get("password_file"):
            password = read_password_file(params["password_file"])
        binary = params.get("kopia_path") or "kopia"
        if params.get("repository"):
            self.repo = KopiaRepository.from_identifier(params["repository"], self.loc, password=password,
                                                        kopia_binary=binary)
        else:
            self.repo = KopiaRepository.from_storage_location(self.loc, params.get("volume_namespace"),
                                                              password=password, kopia_binary=binary)
        self.runner = runner

    def has_password(self):
        return bool(self.repo.password)

    def run(self, args, operation, create=False, ok_codes=(0,)):
        self.last_command = [self.repo.kopia_binary] + list(args or ["repository", "connect"])
        return self.runner(self.repo, args, operation, create=create, timeout=self.params["timeout"],
                           ok_codes=ok_codes)

    def run_for(self, repo, args, operation, create=False):
        """``run`` in the shape kopia.repository_exists / ensure_repository call their runner."""
        return self.run(args, operation, create=create)

    # ----------------------------------------------------------------- state

    def present(self):
        self.need_writable("initialise a repository")
        # kopia connects to a filesystem repository only in an existing directory.
        exists = (not self.repo.path or os.path.isdir(self.repo.path)) and kopia.repository_exists(self.repo,
                                                                                                   self.run_for)
        if not exists and not self.check_mode:
            if self.repo.path and not os.path.isdir(self.repo.path):
                os.makedirs(self.repo.path, 0o700)
            kopia.ensure_repository(self.repo, self.run_for)
        return self.result(not exists, initialized=not exists)

    # ----------------------------------------------------------------- actions

    def check(self):
        percent = verify_percent(self.params.get("read_data"), self.params.get("read_data_subset"))
        args = ["snapshot", "verify", "--json", "--verify-files-percent=%g" % percent]
        res = self.run(args, "snapshot verify", ok_codes=(0, 1))
        result = kopia.parse_json(res.stdout, "snapshot verify") or {}
        errors = list(result.get("errorStrings") or [])
        count = int(result.get("errorCount") or 0)
        if res.rc != 0 or count or errors:
            raise KopiaError("kopia snapshot verify found %s error(s) in %s: %s" % (
                count or len(errors) or "some", self.repo.identifier,
                kopia.redact(" | ".join(errors[-4:]) or res.stderr.strip()[-600:], self.repo.secrets())[:600]),
                rc=res.rc)
        return self.result(False, check=dict(errors_found=False, num_errors=0, errors=[],
                                             verified_files_percent=percent, stats=result.get("stats") or {}))

    def listed(self):
        return parse_snapshot_list(self.run(kopia_snapshots.list_args(), "snapshot list").stdout)

    def snapshots(self):
        found = [s for s in self.listed() if matches(s, **self.filters())]
        if self.params.get("latest"):
            found = last_per_source(found, int(self.params["latest"]))
        return self.result(False, snapshots=found)

    def forget(self):
        self.need_writable("forget snapshots")
        ids, keep_last = self.params.get("snapshot_ids"), self.params.get("keep_last")
        if ids and keep_last is not None:
            raise InvalidOptionError("forget takes either snapshot_ids or keep_last, not both")
        if not ids and keep_last is None:
            raise InvalidOptionError("with uploader_type kopia, forget needs snapshot_ids or keep_last")
        if keep_last is not None and keep_last < 0:
            raise InvalidOptionError("keep_last must not be negative")
        before = self.listed()
        if ids:
            wanted = [kopia_snapshots.validate_snapshot_id(i) for i in ids]
            doomed = [s["id"] for s in before if any(s["id"].startswith(w) for w in wanted)]
        else:
            candidates = [s for s in before if matches(s, **self.filters())]
            kept = set(s["id"] for s in last_per_source(candidates, keep_last))
            doomed = [s["id"] for s in candidates if s["id"] not in kept]
        if doomed and not self.check_mode:
            self.run(kopia_snapshots.delete_args(doomed), "snapshot delete")
            after = set(s["id"] for s in self.listed())
            doomed = [sid for sid in doomed if sid not in after]
        report = dict(groups=[], kept=[s["id"] for s in before if s["id"] not in doomed], removed=doomed,
                      pruned=False)
        extra = {}
        if self.params.get("prune") and doomed and not self.check_mode:
            extra["prune"] = self.maintenance()
            report["pruned"] = True
        return self.result(bool(doomed), forget=report, **extra)

    def maintenance(self):
        """`kopia maintenance run --full`; what it removed, from the pack blobs before and after."""
        before = pack_blobs(self.run(["blob", "list", "--json"], "blob list").stdout)
        self.run(["maintenance", "run", "--full"], "maintenance run")
        command = self.last_command
        after = pack_blobs(self.run(["blob", "list", "--json"], "blob list").stdout)
        self.last_command = command  # the result names the maintenance run, not the listing
        return dict(packs_before=len(before), packs_after=len(after), packs_deleted=len(before - after),
                    packs_written=len(after - before), bytes_before=sum(n or 0 for _i, n in before),
                    bytes_after=sum(n or 0 for _i, n in after), removed_anything=bool(before - after))

    def prune(self):
        self.need_writable("prune")
        if self.check_mode:
            # kopia cannot tell beforehand what a maintenance run removes: connect and report its schedule.
            info = kopia.parse_json(self.run(["maintenance", "info", "--json"], "maintenance info").stdout,
                                    "maintenance info") or {}
            return self.result(False, prune=dict(removed_anything=None, owner=info.get("owner")))
        report = self.maintenance()
        return self.result(report["removed_anything"], prune=report)

    def unlock(self):
        self.need_writable("unlock")
        self.run(None, "connect")
        return self.result(False, locks=[], locks_removed=[], note=NO_LOCKS)

    def stats(self):
        snapshots = [s for s in self.listed() if matches(s, **self.filters())]
        ids = self.params.get("snapshot_ids")
        if ids:
            wanted = [kopia_snapshots.validate_snapshot_id(i) for i in ids]
            snapshots = [s for s in snapshots if any(s["id"].startswith(w) for w in wanted)]
        status = repository_summary(self.run(["repository", "status", "--json"], "repository status").stdout)
        return self.result(False, stats=dict(
            snapshots_count=len(snapshots), total_size=sum(s["total_bytes"] for s in snapshots),
            total_file_count=sum(s["total_files"] for s in snapshots), repository=status))
