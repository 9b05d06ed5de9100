#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: restic_repo
short_description: Manage the restic repositories that hold pod volume data
version_added: 0.1.0
description:
  - Creates (C(restic init)) or deletes a restic repository, or runs one maintenance action on it -
    C(check), C(snapshots), C(forget), C(prune), C(unlock) or C(stats).
  - The repository is given verbatim with O(repository), or derived from O(storage_location) and
    O(volume_namespace) exactly as Velero names it - C(s3:<endpoint_url>/<bucket>/<prefix>/restic/<namespace>),
    C(s3:s3-<region>.amazonaws.com/<bucket>/<prefix>/restic/<namespace>) on AWS, or
    C(<path>/<prefix>/restic/<namespace>) for a filesystem location - so the repositories of
    Velero's file-system backups are managed the same way.
  - restic runs where the module runs (the Ansible host or an execution environment). Secrets reach
    it through its environment only (C(RESTIC_PASSWORD) or C(RESTIC_PASSWORD_FILE), C(AWS_*)), never
    through its command line.
author:
  - kubedr.backup developers (@kubedr)
attributes:
  check_mode:
    support: full
    description:
      - O(state=present) only reports whether it would initialise; O(state=absent) counts what it would delete;
        O(action=forget) and O(action=prune) run restic with C(--dry-run); O(action=unlock) only lists the locks.
  diff_mode:
    support: none
    description: Not supported.
extends_documentation_fragment:
  - kubedr.backup.storage_location
options:
  state:
    description:
      - V(present) initialises the repository unless it exists (C(changed) only when it initialised).
      - V(absent) deletes every object under the repository's prefix in S3, or its directory on a filesystem.
        No password is needed.
      - Exactly one of O(state) and O(action) is required.
    type: str
    choices: [present, absent]
  action:
    description:
      - A maintenance action on an existing repository.
      - V(check) verifies the repository structure (and data, see O(read_data) and O(read_data_subset)).
      - V(snapshots) lists snapshots matching O(tags), O(hosts) and O(paths) (RV(snapshots)).
      - V(forget) removes snapshots according to the keep policy (O(keep_last) ...) or O(snapshot_ids);
        with O(prune) the unreferenced data is removed too.
      - V(prune) removes data no snapshot references.
      - V(unlock) removes stale locks (all locks with O(remove_all)).
      - V(stats) returns the repository statistics (RV(stats)).
    type: str
    choices: [check, snapshots, forget, prune, unlock, stats]
  repository:
    description:
      - The restic repository, for example C(s3:http://minio:9000/velero/restic/app) or C(/srv/backups/restic/app).
      - Mutually exclusive with O(volume_namespace); O(storage_location) still supplies the credentials and TLS settings.
    type: str
  volume_namespace:
    description:
      - The namespace whose pod volumes the repository holds; with O(storage_location) it names the repository
        as Velero does.
    type: str
  storage_location:
    description:
      - The backup storage location the repository belongs to, and the S3 credentials and TLS settings restic
        uses (its other suboptions are those of the other modules).
      - Required unless O(repository) is given.
    required: false
  password:
    description:
      - The repository password. Velero's default is C(static-passw0rd).
      - Can also be set with E(RESTIC_PASSWORD). Takes precedence over O(password_file).
    type: str
  password_file:
    description:
      - A file whose first line is the repository password. Can also be set with E(RESTIC_PASSWORD_FILE).
    type: path
  cache_dir:
    description:
      - restic's cache directory (E(RESTIC_CACHE_DIR)). restic's default when unset.
    type: path
  restic_path:
    description:
      - The restic executable.
    type: path
    default: restic
  timeout:
    description:
      - Seconds one restic command may run.
    type: int
    default: 3600
  read_data:
    description:
      - With O(action=check), read all data packs.
    type: bool
    default: false
  read_data_subset:
    description:
      - With O(action=check), read a subset of the data packs - C(n/t), C(x%) or a size such as C(500M).
    type: str
  tags:
    description:
      - Only snapshots carrying every one of these tags (C(key=value), for example C(backup=nightly-1))
        are listed (O(action=snapshots)), forgotten (O(action=forget)) or counted (O(action=stats)).
    type: list
    elements: str
  hosts:
    description:
      - Only snapshots of one of these hosts (Velero's is C(velero)).
    type: list
    elements: str
  paths:
    description:
      - Only snapshots of one of these paths.
    type: list
    elements: str
  latest:
    description:
      - With O(action=snapshots), only the last N snapshots of each host and path.
    type: int
  snapshot_ids:
    description:
      - With O(action=forget), snapshots to forget by ID; with O(action=stats), the snapshots to count.
    type: list
    elements: str
  keep_last:
    description:
      - Keep the last N snapshots (O(action=forget)).
    type: int
  keep_hourly:
    description:
      - Keep the last N hourly snapshots (O(action=forget)).
    type: int
  keep_daily:
    description:
      - Keep the last N daily snapshots (O(action=forget)).
    type: int
  keep_weekly:
    description:
      - Keep the last N weekly snapshots (O(action=forget)).
    type: int
  keep_monthly:
    description:
      - Keep the last N monthly snapshots (O(action=forget)).
    type: int
  keep_yearly:
    description:
      - Keep the last N yearly snapshots (O(action=forget)).
    type: int
  keep_within:
    description:
      - Keep the snapshots newer than this duration (C(1y5m7d2h)) relative to the latest snapshot (O(action=forget)).
    type: str
  keep_tags:
    description:
      - Keep the snapshots carrying these tags (O(action=forget)).
    type: list
    elements: str
  group_by:
    description:
      - How O(action=forget) groups snapshots before applying the keep policy - a comma-separated list of
        C(host), C(paths) and C(tags); the empty string treats all as one group. restic's default is C(host,paths).
    type: str
  prune:
    description:
      - With O(action=forget), also prune the repository when snapshots were removed.
    type: bool
    default: false
  max_unused:
    description:
      - With O(action=prune) or O(prune), the unused data tolerated (restic C(--max-unused), such as C(5%)).
    type: str
  remove_all:
    description:
      - With O(action=unlock), remove every lock, not only stale ones.
    type: bool
    default: false
  stats_mode:
    description:
      - With O(action=stats), restic's counting mode.
    type: str
    choices: [restore-size, files-by-contents, blobs-per-file, raw-data]
notes:
  - Written against restic 0.14 and later. restic 0.14 prints JSON for C(snapshots), C(forget) and C(stats) only;
    C(check) and C(prune) results are read from its text output.
requirements:
  - restic >= 0.14
  - boto3 >= 1.28.0 (only for O(state=absent) on S3)
seealso:
  - module: kubedr.backup.k8s_backup
"""

EXAMPLES = r"""
- name: Make sure the repository of namespace app exists (Velero's naming)
  kubedr.backup.restic_repo:
    state: present
    volume_namespace: app
    password: "{{ restic_password }}"
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
      access_key: "{{ minio_access_key }}"
      secret_key: "{{ minio_secret_key }}"

- name: List the volume snapshots of one backup
  kubedr.backup.restic_repo:
    action: snapshots
    repository: s3:http://minio.example:9000/velero/restic/app
    tags:
      - backup=nightly-20260101
    storage_location:
      s3_addressing_style: path
  register: snaps

- name: Keep a week of daily snapshots and prune
  kubedr.backup.restic_repo:
    action: forget
    volume_namespace: app
    keep_daily: 7
    prune: true
    storage_location:
      provider: filesystem
      path: /srv/backups
    password_file: /etc/kubedr/restic-password

- name: Read a tenth of the data back
  kubedr.backup.restic_repo:
    action: check
    read_data_subset: 10%
    repository: /srv/backups/restic/app

- name: Delete the repository
  kubedr.backup.restic_repo:
    state: absent
    volume_namespace: app
    storage_location:
      provider: filesystem
      path: /srv/backups
"""

RETURN = r"""
repository:
  description: The repository identifier restic was given.
  returned: always
  type: str
  sample: s3:http://minio.example:9000/velero/restic/app
command:
  description: The last restic command line run (never contains a secret).
  returned: when restic ran
  type: list
  elements: str
  sample: [restic, --repo, "s3:http://minio.example:9000/velero/restic/app", snapshots, --json]
initialized:
  description: Whether O(state=present) initialised the repository (or would have, in check mode).
  returned: when O(state=present)
  type: bool
  sample: true
deleted_objects:
  description: How many objects (files on a filesystem) O(state=absent) deleted, or would delete in check mode.
  returned: when O(state=absent)
  type: int
  sample: 12
snapshots:
  description: The matching snapshots, oldest first.
  returned: when O(action=snapshots)
  type: list
  elements: dict
  contains:
    id:
      description: The full snapshot ID.
      type: str
    short_id:
      description: The first 8 characters of the ID.
      type: str
    time:
      description: When the snapshot was taken (RFC 3339).
      type: str
    hostname:
      description: The host recorded in the snapshot.
      type: str
    username:
      description: The user that took the snapshot.
      type: str
    paths:
      description: The backed-up paths.
      type: list
      elements: str
    tags:
      description: The snapshot's tags.
      type: list
      elements: str
    tag_map:
      description: The C(key=value) tags as a dictionary.
      type: dict
    parent:
      description: The parent snapshot's ID, if any.
      type: str
    tree:
      description: The ID of the snapshot's root tree.
      type: str
forget:
  description: What O(action=forget) kept and removed (in check mode, would remove).
  returned: when O(action=forget)
  type: dict
  contains:
    kept:
      description: IDs of the snapshots kept.
      type: list
      elements: str
    removed:
      description: IDs of the snapshots removed.
      type: list
      elements: str
    groups:
      description: restic's per-group report (host, paths, tags, keep, remove, reasons).
      type: list
      elements: dict
    pruned:
      description: Whether a prune ran after the forget.
      type: bool
prune:
  description: restic's prune summary (C(to_repack), C(to_delete), C(total_prune), C(remaining), ...) and
    C(removed_anything).
  returned: when O(action=prune), or O(action=forget) with O(prune)
  type: dict
  sample: {total_prune: "2 blobs / 375 B", remaining: "3 blobs / 98.073 KiB", removed_anything: true}
check:
  description: The outcome of O(action=check).
  returned: when O(action=check)
  type: dict
  contains:
    errors_found:
      description: Whether restic found errors (the module fails when it did).
      type: bool
    output:
      description: restic's report.
      type: str
locks:
  description: The repository's lock IDs before O(action=unlock).
  returned: when O(action=unlock)
  type: list
  elements: str
locks_removed:
  description: The lock IDs O(action=unlock) removed (in check mode, none).
  returned: when O(action=unlock)
  type: list
  elements: str
stats:
  description: restic's statistics (C(total_size), C(total_file_count), C(snapshots_count), and in raw-data
    mode C(total_blob_count)).
  returned: when O(action=stats)
  type: dict
  sample: {total_size: 200017, total_file_count: 4, snapshots_count: 2}
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import restic
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.runner import run
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import STORAGE_LOCATION_OPTIONS
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"]),
    action=dict(type="str", choices=["check", "snapshots", "forget", "prune", "unlock", "stats"]),
    repository=dict(type="str"),
    volume_namespace=dict(type="str"),
    storage_location=dict(type="dict", options=STORAGE_LOCATION_OPTIONS),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["RESTIC_PASSWORD"])),
    password_file=dict(type="path", no_log=False, fallback=(env_fallback, ["RESTIC_PASSWORD_FILE"])),
    cache_dir=dict(type="path"),
    restic_path=dict(type="path", default="restic"),
    timeout=dict(type="int", default=3600),
    read_data=dict(type="bool", default=False),
    read_data_subset=dict(type="str"),
    tags=dict(type="list", elements="str"),
    hosts=dict(type="list", elements="str"),
    paths=dict(type="list", elements="str"),
    latest=dict(type="int"),
    snapshot_ids=dict(type="list", elements="str"),
    keep_last=dict(type="int", no_log=False),
    keep_hourly=dict(type="int", no_log=False),
    keep_daily=dict(type="int", no_log=False),
    keep_weekly=dict(type="int", no_log=False),
    keep_monthly=dict(type="int", no_log=False),
    keep_yearly=dict(type="int", no_log=False),
    keep_within=dict(type="str", no_log=False),
    keep_tags=dict(type="list", elements="str", no_log=False),
    group_by=dict(type="str"),
    prune=dict(type="bool", default=False),
    max_unused=dict(type="str"),
    remove_all=dict(type="bool", default=False),
    stats_mode=dict(type="str", choices=list(restic.STATS_MODES)),
)

WRITING_ACTIONS = ("forget", "prune", "unlock")


def build_repository(params):
    loc = dict(params.get("storage_location") or {})
    if params.get("repository") and params.get("volume_namespace"):
        raise InvalidOptionError("give either repository or volume_namespace (with storage_location), not both")
    if not params.get("repository"):
        if not loc:
            raise InvalidOptionError("either repository, or storage_location with volume_namespace, is required")
        if not params.get("volume_namespace"):
            raise InvalidOptionError("volume_namespace is required to name the repository in storage_location")
    return restic.Repository.from_storage_location(
        loc, volume_namespace=params.get("volume_namespace"), repository=params.get("repository"),
        password=params.get("password") or None,
        password_file=None if params.get("password") else (params.get("password_file") or None),
        cache_dir=params.get("cache_dir"), restic_binary=params.get("restic_path"),
    )


class RepoManager(object):
    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.repo = build_repository(params)
        self.last_command = None
        self.loc = params.get("storage_location") or {}

    def run(self, argv, operation, check=True, ok_codes=(0,)):
        self.last_command = argv
        return restic.run_local(self.repo, argv, operation, timeout=self.params["timeout"], check=check,
                                ok_codes=ok_codes)

    def runner(self, repo, argv, operation):
        return self.run(argv, operation)

    def result(self, changed, **extra):
        out = dict(changed=changed, repository=self.repo.identifier)
        if self.last_command:
            out["command"] = list(self.last_command)
        out.update(extra)
        return out

    def need_password(self):
        if not self.repo.password and not self.repo.password_file:
            raise InvalidOptionError("the repository password is required (password, password_file, "
                                     "or the RESTIC_PASSWORD environment variable)")

    def need_writable(self, what):
        if self.loc.get("access_mode") == "ReadOnly":
            raise InvalidOptionError("storage_location is ReadOnly: refusing to %s" % what)

    # ----------------------------------------------------------------- state

    def present(self):
        self.need_password()
        self.need_writable("initialise a repository")
        if self.check_mode:
            exists = restic.repository_exists(self.repo, self.runner)
            return self.result(not exists, initialized=not exists)
        created = restic.ensure_repository(self.repo, self.runner)
        return self.result(created, initialized=created)

    def absent(self):
        self.need_writable("delete a repository")
        where = restic.parse_identifier(self.repo.identifier)
        if where["kind"] == "local":
            count = delete_directory(where["path"], self.check_mode)
        else:
            count = delete_s3_prefix(self.loc, where, self.check_mode)
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


def s3_client(loc, where):
    if not HAS_BOTO3:
        raise StorageError("boto3 is required to delete a repository in S3")
    verify = loc.get("aws_ca_bundle") or loc.get("validate_certs", True)
    style = loc.get("s3_addressing_style") or "auto"
    config = botocore.config.Config(s3={"addressing_style": style}, retries={"max_attempts": 5, "mode": "standard"})
    session = boto3.session.Session(profile_name=loc.get("profile")) if loc.get("profile") else boto3.session.Session()
    return session.client(
        "s3", endpoint_url=loc.get("endpoint_url") or where.get("endpoint_url"),
        region_name=loc.get("region") or "us-east-1", verify=verify, config=config,
        aws_access_key_id=loc.get("access_key"), aws_secret_access_key=loc.get("secret_key"),
        aws_session_token=loc.get("session_token"),
    )


def delete_s3_prefix(loc, where, check_mode):
    prefix = where["key_prefix"].strip("/")
    if not prefix:
        raise InvalidOptionError("refusing to delete a whole bucket: the repository has no path inside %s"
                                 % where["bucket"])
    client = s3_client(loc, where)
    bucket = where["bucket"]
    count = 0
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/"):
            keys = [dict(Key=obj["Key"]) for obj in page.get("Contents") or []]
            count += len(keys)
            if keys and not check_mode:
                response = client.delete_objects(Bucket=bucket, Delete=dict(Objects=keys, Quiet=True))
                failed = response.get("Errors") or []
                if failed:
                    raise StorageError("could not delete %d objects under s3://%s/%s/ (first: %s %s)" % (
                        len(failed), bucket, prefix, failed[0].get("Key"), failed[0].get("Code")))
    except botocore.exceptions.BotoCoreError as e:
        raise StorageError("cannot delete s3://%s/%s/: %s" % (bucket, prefix, type(e).__name__))
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error") or {}
        raise StorageError("cannot delete s3://%s/%s/: %s %s" % (bucket, prefix, error.get("Code"),
                                                                 error.get("Message") or ""))
    return count


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("state", "action")],
        required_one_of=[("state", "action")],
    )
    run(module, lambda: RepoManager(module.params, module.check_mode).execute())


if __name__ == "__main__":
    main()
