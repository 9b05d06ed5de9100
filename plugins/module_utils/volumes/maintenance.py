# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The restic_repo module's engine: create or delete a restic repository, or run one
maintenance action on it (check, snapshots, forget, prune, unlock, stats).

restic runs where the module runs (``runner.run_local``); a repository in S3 is deleted with
the storage's S3 client, one on a filesystem by removing its directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import s3
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import Repository, parse_identifier


def build_repository(params):
    loc = dict(params.get("storage_location") or {})
    if params.get("repository") and params.get("volume_namespace"):
        raise InvalidOptionError("give either repository or volume_namespace (with storage_location), not both")
    if not params.get("repository"):
        if not loc:
            raise InvalidOptionError("either repository, or storage_location with volume_namespace, is required")
        if not params.get("volume_namespace"):
            raise InvalidOptionError("volume_namespace is required to name the repository in storage_location")
    return Repository.from_storage_location(
        loc, volume_namespace=params.get("volume_namespace"), repository=params.get("repository"),
        password=params.get("repository_password") or None,
        password_file=None if params.get("repository_password") else (params.get("password_file") or None),
        cache_dir=params.get("cache_dir"), restic_binary=params.get("restic_path"),
    )


class RepoManager(object):
    """One run of the restic_repo module: its state or its action on one repository."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.repo = build_repository(params)
        self.last_command = None
        self.loc = params.get("storage_location") or {}

    def run(self, argv, operation, check=True, ok_codes=(0,)):
        self.last_command = argv
        return runner.run_local(self.repo, argv, operation, timeout=self.params["timeout"], check=check,
                                ok_codes=ok_codes)

    def run_for(self, repo, argv, operation):
        """``run`` in the shape runner.ensure_repository calls its runner."""
        return self.run(argv, operation)

    def result(self, changed, **extra):
        out = dict(changed=changed, repository=self.repo.identifier)
        if self.last_command:
            out["command"] = list(self.last_command)
        out.update(extra)
        return out

    def need_password(self):
        if not self.repo.password and not self.repo.password_file:
            raise InvalidOptionError("the repository password is required (repository_password, password_file, "
                                     "or the KUBEDR_REPOSITORY_PASSWORD environment variable)")

    def need_writable(self, what):
        if self.loc.get("access_mode") == "ReadOnly":
            raise InvalidOptionError("storage_location is ReadOnly: refusing to %s" % what)

    # ----------------------------------------------------------------- state

    def present(self):
        self.need_password()
        self.need_writable("initialise a repository")
        if self.check_mode:
            exists = runner.repository_exists(self.repo, self.run_for)
            return self.result(not exists, initialized=not exists)
        created = runner.ensure_repository(self.repo, self.run_for)
        return self.result(created, initialized=created)

    def absent(self):
        self.need_writable("delete a repository")
        where = parse_identifier(self.repo.identifier)
        if where["kind"] == "local":
            count = delete_directory(where["path"], self.check_mode)
        else:
            count = delete_s3_repository(self.loc, where, self.check_mode)
        return self.result(count > 0, deleted_objects=count)

    # ----------------------------------------------------------------- actions

    def check(self):
        argv = restic.check_command(self.repo, read_data=self.params["read_data"],
                                    read_data_subset=self.params.get("read_data_subset"))
        res = self.run(argv, "check")
        output = (res.stdout + res.stderr).strip()
        return self.result(False, check=dict(errors_found=False, output=output))

    def filters(self):
        return dict(tags=self.params.get("tags"), hosts=self.params.get("hosts"), paths=self.params.get("paths"))

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
        before = restic.parse_locks(self.run(restic.list_locks_command(self.repo), "list locks").stdout)
        if self.check_mode or not before:
            return self.result(False, locks=before, locks_removed=[])
        self.run(restic.unlock_command(self.repo, remove_all=self.params["remove_all"]), "unlock")
        after = set(restic.parse_locks(self.run(restic.list_locks_command(self.repo), "list locks").stdout))
        removed = [lock for lock in before if lock not in after]
        return self.result(bool(removed), locks=before, locks_removed=removed)

    def stats(self):
        res = self.run(restic.stats_command(self.repo, mode=self.params.get("stats_mode"),
                                            snapshot_ids=self.params.get("snapshot_ids"), **self.filters()), "stats")
        return self.result(False, stats=restic.parse_stats(res.stdout))

    def execute(self):
        if self.params.get("state") == "absent":
            return self.absent()
        self.need_password()
        if self.params.get("state") == "present":
            return self.present()
        return getattr(self, self.params["action"])()


def delete_directory(path, check_mode):
    if not os.path.isdir(path):
        return 0
    count = sum(len(files) for unused_root, unused_dirs, files in os.walk(path))
    if not check_mode:
        shutil.rmtree(path)
    return count


def delete_s3_repository(loc, where, check_mode):
    """Delete every object of the repository ``where`` (parse_identifier's) in S3; its count."""
    prefix = where["key_prefix"].strip("/")
    if not prefix:
        raise InvalidOptionError("refusing to delete a whole bucket: the repository has no path inside %s"
                                 % where["bucket"])
    if not s3.HAS_BOTO3:
        raise StorageError("boto3 is required to delete a repository in S3")
    client = s3.s3_client(loc, endpoint_url=where.get("endpoint_url"))
    return s3.delete_prefix(client, where["bucket"], prefix, dry_run=check_mode)


def manage_repository(params, check_mode):
    """The restic_repo module's work: its result dict."""
    return RepoManager(params, check_mode).execute()
