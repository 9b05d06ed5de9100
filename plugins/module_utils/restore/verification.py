# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recording the outcome of a restore drill beside its backup (k8s_backup_verification).

Each drill writes a new object, ``<name>-verification-<UTC stamp>.json``, and never rewrites one, so that
records also land on object-lock buckets where the backup's own objects are immutable; the newest is the
backup's ``last_verification``. The record is written in the clear (it holds no data of the backup)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import verification as records
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_rfc3339, rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod


def run(location, options, check_mode=False, now=None):
    """Entry point of k8s_backup_verification: write one drill record of a committed backup."""
    name = validate_object_name(options.get("name"), "backup name")
    finished = now or utc_now()
    started = parse_rfc3339(options.get("started")) if options.get("started") else finished
    if started is None:
        raise InvalidOptionError("started must be an RFC 3339 time (2026-12-02T07:00:00Z), not %r" % options.get("started"))
    record = records.build_record(name, options, rfc3339(started), rfc3339(finished))
    store = storage_mod.open_store(location)
    store.check(for_write=not check_mode)
    if store.backup_metadata(name) is None:
        raise NotFoundError("backup %s not found in the storage location (no %s): a drill is recorded only for a "
                            "committed backup" % (name, store.url(layout.backup_keys(name)["metadata"])))
    stamp = finished.strftime("%Y%m%d%H%M%S")
    key, taken = layout.verification_key(name, stamp), 0
    while store.get_bytes(key) is not None:  # two drills in one second: a digit more, still sorted by time
        taken += 1
        key = layout.verification_key(name, "%s%d" % (stamp, taken))
    if not check_mode:
        store.ensure_writable()
        store.put_bytes(key, records.encode(record))
    return {"changed": True, "record": record, "key": key, "url": store.url(key)}
