# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to restore: the options checked before anything is read (the module's defaults come
from here), and the backup they name, resolved in the storage location."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.hooks import parse_restore_hooks_option
from ansible_collections.kubedr.backup.plugins.module_utils.restore.integrity import integrity_settings
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import validate_namespace_mapping
from ansible_collections.kubedr.backup.plugins.module_utils.restore.modifiers import validate_modifiers
from ansible_collections.kubedr.backup.plugins.module_utils.restore.named_items import parse_item_patterns
from ansible_collections.kubedr.backup.plugins.module_utils.restore.plan import parse_priorities
from ansible_collections.kubedr.backup.plugins.module_utils.restore.readiness import validate_option as ready_gate_option
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import NONE, POLICIES
from ansible_collections.kubedr.backup.plugins.module_utils.restore.skips import check_included_resources_restorable
from ansible_collections.kubedr.backup.plugins.module_utils.restore.versions import parse_version_priorities

# Within the API server connections kept open (kube/transport.py's pool): 32 beat 16 in every round on the test
# bed, etcd spending less CPU per write with more in flight (docs/performance.md, "Restore: request by request
# against the raw POST; 32 workers").
DEFAULT_WORKERS = 32
DEFAULT_MAX_ARCHIVE_SIZE = "8Gi"
RESTORABLE_PHASES = (results.COMPLETED, results.PARTIALLY_FAILED)

_SIZE = re.compile(r"^\s*(\d+)\s*(|k|K|Ki|M|Mi|G|Gi|T|Ti)B?\s*$")
_SIZE_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
               "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def parse_size(value, option="max_archive_size"):
    """Bytes in ``1048576``, ``512Mi``, ``8Gi``, ``2G``."""
    match = _SIZE.match(str(value))
    if not match or int(match.group(1)) <= 0:
        raise InvalidOptionError("%s %r is not a size such as 512Mi, 8Gi or a number of bytes" % (option, value))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def default_restore_name(backup_name, moment):
    """``<backup>-<YYYYmmddHHMMSS>``, as ``velero restore create --from-backup`` names it."""
    return "%s-%s" % (backup_name, moment.strftime("%Y%m%d%H%M%S"))


def validate_options(options):
    """Checks that need neither cluster nor storage; returns the normalised options."""
    options = dict(options)
    if bool(options.get("backup_name")) == bool(options.get("schedule_name")):
        raise InvalidOptionError("give exactly one of backup_name and schedule_name")
    for key in ("backup_name", "schedule_name", "name"):
        if options.get(key):
            selection.validate_object_name(options[key], key.replace("_", " "))
    selection.validate_filters(options)
    check_included_resources_restorable(options.get("included_resources"))
    policy = options.get("existing_resource_policy") or NONE
    if policy not in POLICIES:
        raise InvalidOptionError("existing_resource_policy must be one of %s, not %r" % (", ".join(POLICIES), policy))
    options["existing_resource_policy"] = policy
    options["namespace_mapping"] = validate_namespace_mapping(options.get("namespace_mapping"))
    options["resource_modifiers"] = validate_modifiers(options.get("resource_modifiers"))
    parse_priorities(options.get("priorities"))
    parse_version_priorities(options.get("api_version_priorities"))
    workers = DEFAULT_WORKERS if options.get("workers") is None else options["workers"]
    if not isinstance(workers, int) or workers < 1 or workers > 256:
        raise InvalidOptionError("workers must be a number from 1 to 256, not %r" % (workers,))
    options["workers"] = workers
    options["max_archive_size"] = parse_size(options.get("max_archive_size") or DEFAULT_MAX_ARCHIVE_SIZE)
    status = options.get("restore_status") or {}
    if not isinstance(status, dict) or set(status) - set(["included_resources", "excluded_resources"]):
        raise InvalidOptionError("restore_status must be a dict with included_resources and/or excluded_resources")
    selection.validate_includes_excludes("resources (restore_status)", status.get("included_resources"),
                                         status.get("excluded_resources"))
    options["restore_status"] = status
    options["restore_hooks"] = parse_restore_hooks_option(options.get("hooks"))
    if options.get("restore_pvs") is None:
        options["restore_pvs"] = True
    parse_item_patterns(options.get("items"), [])  # the shape now; resource names once discovery is read
    if options.get("with_related") is None:
        options["with_related"] = True
    options["wait_for_ready"] = ready_gate_option(options.get("wait_for_ready"))
    integrity_settings(options)  # the mode and verify_key (read and parsed) fail here, before any read
    return options


def find_backup(store, options):
    """The velero-backup.json of the backup to restore; clear errors for unknown or unusable ones."""
    if options.get("schedule_name"):
        schedule = options["schedule_name"]
        candidates = []
        for name in store.list_backups():
            document = store.backup_metadata(name)
            labels = ((document or {}).get("metadata") or {}).get("labels") or {}
            status = (document or {}).get("status") or {}
            if labels.get(SCHEDULE_NAME_LABEL) == schedule and status.get("phase") == results.COMPLETED:
                document["metadata"]["name"] = name  # the folder names the backup
                candidates.append((status.get("startTimestamp") or "", name, document))
        if not candidates:
            raise NotFoundError("no Completed backup of schedule %s (label %s=%s) in the storage location"
                                % (schedule, SCHEDULE_NAME_LABEL, schedule))
        return max(candidates, key=lambda c: (c[0], c[1]))[2]
    name = options["backup_name"]
    document = store.backup_metadata(name)
    if document is None:
        raise NotFoundError("backup %s not found in the storage location (no %s under %s)"
                            % (name, layout.BACKUP_METADATA, store.url(layout.backup_dir(name))))
    phase = (document.get("status") or {}).get("phase")
    if phase not in RESTORABLE_PHASES:
        raise InvalidOptionError("backup %s is in phase %s; only Completed or PartiallyFailed backups can be "
                                 "restored" % (name, phase or "(none)"))
    document.setdefault("metadata", {})["name"] = name
    return document
