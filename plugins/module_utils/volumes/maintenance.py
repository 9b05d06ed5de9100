# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The restic_repo module's engine: create or delete a restic or a kopia repository, or run
one maintenance action on it (check, snapshots, forget, prune, unlock, stats).

restic runs where the module runs (``runner.run_local``); kopia's actions are
``kopia_maintenance``'s. Deleting a repository is ``repo_admin``'s, for both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia_maintenance import KopiaRepoManager
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repo_admin import RepoManagerBase
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.uploaders import DEFAULT_UPLOADER, KOPIA, UPLOADER_TYPES


def build_repository(params):
    return Repository.from_storage_location(
        dict(params.get("storage_location") or {}), volume_namespace=params.get("volume_namespace"),
        repository=params.get("repository"), password=params.get("repository_password") or None,
        password_file=None if params.get("repository_password") else (params.get("password_file") or None),
        cache_dir=params.get("cache_dir"), restic_binary=params.get("restic_path"),
    )


class RepoManager(RepoManagerBase):
    """One run of the restic_repo module on a restic repository: its state or its action."""

    def __init__(self, params, check_mode):
        super(RepoManager, self).__init__(params, check_mode)
        self.repo = build_repository(params)

    def run(self, argv, operation, check=True, ok_codes=(0,)):
        self.last_command = argv
        return runner.run_local(self.repo, argv, operation, timeout=self.params["timeout"], check=check,
                                ok_codes=ok_codes)

    def run_for(self, repo, argv, operation):
        """``run`` in the shape runner.ensure_repository calls its runner."""
        return self.run(argv, operation)

    def has_password(self):
        return bool(self.repo.password or self.repo.password_file)

    # ----------------------------------------------------------------- state

    def present(self):
        self.need_password()
        self.need_writable("initialise a repository")
        if self.check_mode:
            exists = runner.repository_exists(self.repo, self.run_for)
            return self.result(not exists, initialized=not exists)
        created = runner.ensure_repository(self.repo, self.run_for)
        return self.result(created, initialized=created)

    # ----------------------------------------------------------------- actions

    def check(self):
        argv = restic.check_command(self.repo, read_data=self.params["read_data"],
                                    read_data_subset=self.params.get("read_data_subset"))
        res = self.run(argv, "check", check=False)
        report = restic.parse_check(res.stdout, res.stderr)
        if res.rc != 0:
            error = restic.error_from_result("check", self.repo.identifier, res.rc, res.stderr, self.repo.secrets())
            if report["errors_found"] or report["num_errors"]:
                error = restic.ResticError("restic check found %s error(s) in %s: %s" % (
                    report["num_errors"] or len(report["errors"]), self.repo.identifier,
                    " | ".join(report["errors"][-4:])[:600] or "see restic's report"), rc=res.rc)
            raise error
        return self.result(False, check=report)

    def snapshots(self):
        res = self.run(restic.snapshots_command(self.repo, latest=self.params.get("latest"), **self.filters()),
                       "snapshots")
        return self.result(False, snapshots=restic.parse_snapshots(res.stdout))

    def forget(self):
        self.need_writable("forget snapshots")
        keep = dict((name, self.params.get(name)) for name in restic.KEEP_OPTIONS if name in self.params)
        ids = self.params.get("snapshot_ids")
        if ids:
            if any(v is not None for v in keep.values()) or self.params.get("keep_tags"):
                raise InvalidOptionError("forget takes either snapshot_ids or a keep policy, not both")
            report = self.forget_ids(ids)
        else:
            argv = restic.forget_command(self.repo, keep=keep, keep_tags=self.params.get("keep_tags"),
                                         group_by=self.params.get("group_by"), dry_run=self.check_mode,
                                         **self.filters())
            report = restic.parse_forget(self.run(argv, "forget").stdout)
        report["pruned"] = False
        extra = {}
        if self.params["prune"] and not self.check_mode and report["removed"]:
            prune_res = self.run(restic.prune_command(self.repo, max_unused=self.params.get("max_unused")), "prune")
            extra["prune"] = restic.parse_prune(prune_res.stdout)
            report["pruned"] = True
        return self.result(bool(report["removed"]), forget=report, **extra)

    def listed_ids(self):
        return [s["id"] for s in restic.parse_snapshots(self.run(restic.snapshots_command(self.repo), "snapshots").stdout)]

    def forget_ids(self, ids):
        """restic prints nothing when forgetting by ID: compare the snapshot lists."""
        ids = [restic.validate_snapshot_id(sid) for sid in ids]
        before = self.listed_ids()
        matching = [sid for sid in before if any(sid.startswith(want) for want in ids)]
        if matching and not self.check_mode:
            self.run(restic.forget_command(self.repo, snapshot_ids=ids), "forget")
            after = set(self.listed_ids())
            matching = [sid for sid in matching if sid not in after]
        return dict(groups=[], kept=[sid for sid in before if sid not in matching], removed=matching)

    def prune(self):
        self.need_writable("prune")
        res = self.run(restic.prune_command(self.repo, dry_run=self.check_mode,
                                            max_unused=self.params.get("max_unused")), "prune")
        report = restic.parse_prune(res.stdout)
        return self.result(report["removed_anything"], prune=report)

    def unlock(self):
        self.need_writable("unlock")
        before = restic.parse_ids(self.run(restic.list_locks_command(self.repo), "list locks").stdout)
        if self.check_mode or not before:
            return self.result(False, locks=before, locks_removed=[])
        self.run(restic.unlock_command(self.repo, remove_all=self.params["remove_all"]), "unlock")
        after = set(restic.parse_ids(self.run(restic.list_locks_command(self.repo), "list locks").stdout))
        removed = [lock for lock in before if lock not in after]
        return self.result(bool(removed), locks=before, locks_removed=removed)

    def stats(self):
        res = self.run(restic.stats_command(self.repo, mode=self.params.get("stats_mode"),
                                            snapshot_ids=self.params.get("snapshot_ids"), **self.filters()), "stats")
        return self.result(False, stats=restic.parse_stats(res.stdout))


def manage_repository(params, check_mode):
    """The restic_repo module's work: its result dict."""
    uploader = params.get("uploader_type") or DEFAULT_UPLOADER
    if uploader not in UPLOADER_TYPES:
        raise InvalidOptionError("uploader_type must be one of %s" % ", ".join(UPLOADER_TYPES))
    manager = KopiaRepoManager if uploader == KOPIA else RepoManager
    return manager(params, check_mode).execute()
