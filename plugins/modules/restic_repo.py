#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The restic_repo module: documentation and argument spec; the work is module_utils/volumes/maintenance."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: restic_repo
short_description: Manage the restic and kopia repositories that hold pod volume data
version_added: 0.1.0
description:
  - Creates or deletes a restic or kopia repository (O(uploader_type)), or runs one maintenance action on it -
    C(check), C(snapshots), C(forget), C(prune), C(unlock) or C(stats).
  - The repository is given verbatim with O(repository), or derived from O(storage_location) and
    O(volume_namespace) exactly as Velero names it - C(s3:<endpoint_url>/<bucket>/<prefix>/restic/<namespace>),
    C(s3:s3-<region>.amazonaws.com/<bucket>/<prefix>/restic/<namespace>) on AWS, or
    C(<path>/<prefix>/restic/<namespace>) for a filesystem location - so the repositories of
    Velero's file-system backups are managed the same way. A kopia repository is Velero's too - the S3 prefix
    C(<prefix>/kopia/<namespace>/) of the location, or the directory C(<path>/<prefix>/kopia/<namespace>).
  - restic or kopia runs where the module runs (the Ansible host or an execution environment). Secrets reach
    it through its environment only (C(RESTIC_PASSWORD), C(RESTIC_PASSWORD_FILE), C(KOPIA_PASSWORD), C(AWS_*)),
    never through its command line. kopia connects as Velero does (C(default@default), the maintenance owner).
  - The module makes no Kubernetes connection. It accepts the Kubernetes connection options of the other
    modules (O(kubeconfig), O(context), O(host) ...) and ignores them, so that C(module_defaults) for
    C(group/kubedr.backup.kubedr) apply to every module of the group.
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
  - kubedr.backup.k8s_auth.ignored
options:
  uploader_type:
    description:
      - The kind of repository, as in M(kubedr.backup.k8s_backup). With V(kopia), O(cache_dir), O(restic_path),
        O(remove_all) are ignored and the restic-only options (C(keep_*) but O(keep_last), O(keep_tags),
        O(group_by), O(max_unused), O(stats_mode)) are refused.
    type: str
    choices: [restic, kopia]
    default: restic
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
      - V(check) verifies the repository structure (and data, see O(read_data) and O(read_data_subset)); kopia
        C(snapshot verify).
      - V(snapshots) lists snapshots matching O(tags), O(hosts) and O(paths) (RV(snapshots)).
      - V(forget) removes snapshots according to the keep policy (O(keep_last) ...) or O(snapshot_ids);
        with O(prune) the unreferenced data is removed too. kopia takes O(snapshot_ids) or O(keep_last) (per
        source) - Velero pins its kopia snapshots, so kopia's own retention never expires them.
      - V(prune) removes data no snapshot references; kopia C(maintenance run --full), whose safety margins keep
        recently unreferenced data for a while.
      - V(unlock) removes stale locks (all locks with O(remove_all)). kopia repositories have no locks - a no-op.
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
  repository_password:
    description:
      - The repository password, under the same name and environment variable as in the other modules
        (Velero's default is C(static-passw0rd)).
      - Can also be set with the E(KUBEDR_REPOSITORY_PASSWORD) environment variable. Takes precedence over
        O(password_file).
      - When neither this option nor O(password_file) is given and E(KUBEDR_REPOSITORY_PASSWORD) is not set,
        E(RESTIC_PASSWORD) is read, with a deprecation warning (it will not be read from version 1.0.0 on).
      - The alias O(password) is deprecated and will be removed in version 1.0.0. In this module it is the
        repository password, not the Kubernetes basic-auth password of the other modules.
    type: str
    aliases: [restic_password, password]
  password_file:
    description:
      - A file whose first line is the repository password. Can also be set with E(RESTIC_PASSWORD_FILE).
    type: path
  cache_dir:
    description: The restic cache directory (E(RESTIC_CACHE_DIR)); restic's default when unset.
    type: path
  restic_path:
    description: The restic executable.
    type: path
    default: restic
  kopia_path:
    description: The kopia executable (O(uploader_type=kopia)).
    type: path
    default: kopia
  timeout:
    description: Seconds one restic or kopia command may run.
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
    description: With O(action=snapshots), only the last N snapshots of each host and path (kopia, of each source).
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
  - Supports restic 0.14 to 0.18; only its JSON output is read, except C(prune)'s summary lines (restic has no JSON
    for them). With restic 0.14, C(check) reports no counts (its outcome is the exit status).
requirements:
  - restic >= 0.14 (or kopia >= 0.21 for O(uploader_type=kopia))
  - boto3 >= 1.28.0 (only for O(state=absent) on S3)
seealso:
  - module: kubedr.backup.k8s_backup
"""

EXAMPLES = r"""
- name: Make sure the repository of namespace app exists (Velero's naming)
  kubedr.backup.restic_repo:
    state: present
    volume_namespace: app
    repository_password: "{{ restic_password }}"
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

- name: Under the module_defaults of the other modules, their Kubernetes options are ignored
  kubedr.backup.restic_repo:
    action: check
    volume_namespace: app
  module_defaults:
    group/kubedr.backup.kubedr:
      kubeconfig: ~/.kube/config
      repository_password: "{{ restic_password }}"
      storage_location:
        provider: filesystem
        path: /srv/backups

- name: Read a tenth of the data back
  kubedr.backup.restic_repo:
    action: check
    read_data_subset: 10%
    repository: /srv/backups/restic/app

- name: Verify a tenth of the files of the kopia repository of namespace app, then run its full maintenance
  kubedr.backup.restic_repo:
    uploader_type: kopia
    action: "{{ item }}"
    read_data_subset: 10%
    volume_namespace: app
    storage_location:
      provider: filesystem
      path: /srv/backups
  loop: [check, prune]

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
  description: The repository identifier restic was given (for kopia, the same form, naming its prefix).
  returned: always
  type: str
  sample: s3:http://minio.example:9000/velero/restic/app
command:
  description: The last restic or kopia command line run (never contains a secret).
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
      description: The ID of the snapshot's root tree (restic).
      type: str
    pins:
      description: The snapshot's pins (kopia; Velero's is C(velero-pin)).
      type: list
      elements: str
    total_bytes:
      description: The snapshot's size (kopia).
      type: int
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
    C(removed_anything); for kopia C(packs_before), C(packs_after), C(packs_deleted), C(bytes_before),
    C(bytes_after) and C(removed_anything) (null in check mode).
  returned: when O(action=prune), or O(action=forget) with O(prune)
  type: dict
  sample: {total_prune: "2 blobs / 375 B", remaining: "3 blobs / 98.073 KiB", removed_anything: true}
check:
  description: The outcome of O(action=check).
  returned: when O(action=check)
  type: dict
  contains:
    errors_found:
      description: Whether errors were found (the module fails when they were).
      type: bool
    num_errors:
      description: How many (null with restic 0.14, which reports none).
      type: int
    broken_packs:
      description: restic's damaged pack files (restic 0.18).
      type: list
      elements: str
    suggest_repair_index:
      description: Whether restic suggests C(restic repair index).
      type: bool
    suggest_prune:
      description: Whether restic suggests a prune.
      type: bool
    stats:
      description: kopia's verification counts (C(processedObjectCount), C(readFileCount), ...).
      type: dict
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
note:
  description: Why O(action=unlock) did nothing on a kopia repository.
  returned: when O(action=unlock) and O(uploader_type=kopia)
  type: str
stats:
  description: restic's statistics (C(total_size), C(total_file_count), C(snapshots_count), and in raw-data
    mode C(total_blob_count)); for kopia the same three summed over the snapshots, and C(repository) (its
    C(unique_id), C(hash), C(encryption), C(splitter), C(storage_type)).
  returned: when O(action=stats)
  type: dict
  sample: {total_size: 200017, total_file_count: 4, snapshots_count: 2}
"""

from ansible.module_utils.basic import env_fallback

from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    DEPRECATION,
    K8S_AUTH_IGNORED_ARG_SPEC,
    REPOSITORY_PASSWORD_SPEC,
    STORAGE_LOCATION_OPTIONS,
    new_module,
)
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.runner import run
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.maintenance import UPLOADER_TYPES, manage_repository
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.restic import STATS_MODES

ARGUMENT_SPEC = dict(
    uploader_type=dict(type="str", choices=list(UPLOADER_TYPES), default="restic"),
    state=dict(type="str", choices=["present", "absent"]),
    action=dict(type="str", choices=["check", "snapshots", "forget", "prune", "unlock", "stats"]),
    repository=dict(type="str"),
    volume_namespace=dict(type="str"),
    storage_location=dict(type="dict", options=STORAGE_LOCATION_OPTIONS),
    repository_password=dict(REPOSITORY_PASSWORD_SPEC, aliases=REPOSITORY_PASSWORD_SPEC["aliases"] + ["password"],
                             deprecated_aliases=[dict(DEPRECATION, name="password")]),
    password_file=dict(type="path", no_log=False, fallback=(env_fallback, ["RESTIC_PASSWORD_FILE"])),
    cache_dir=dict(type="path"),
    restic_path=dict(type="path", default="restic"),
    kopia_path=dict(type="path", default="kopia"),
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
    stats_mode=dict(type="str", choices=list(STATS_MODES)),
)
ARGUMENT_SPEC.update(K8S_AUTH_IGNORED_ARG_SPEC)


def main():
    module, unused_auth = new_module(
        "restic_repo", ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("state", "action")],
        required_one_of=[("state", "action")],
    )
    run(module, lambda: manage_repository(module.params, module.check_mode))


if __name__ == "__main__":
    main()
