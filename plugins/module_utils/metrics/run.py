# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Entry point of k8s_backup_metrics: read the location, compute the families, push them to a
Pushgateway and/or write them to a textfile."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.metrics import bucket, exposition, families, publish
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod

RUN_KINDS = ("backup", "restore", "gc")


def compute(store, run_outcome=None, now=None):
    """(families, summary) of the location; with a gc run's outcome, its families too."""
    now = time.time() if now is None else now
    backups, restores = bucket.read_location(store)
    computed = families.location_families(backups, restores, len(store.unfinished_deletions()), now)
    if run_outcome and run_outcome.get("kind") == "gc":
        computed += families.gc_run_families(run_outcome, now)
    summary = {
        "backups": len(backups),
        "restores": len(restores),
        "schedules": sorted(set(r.schedule for r in backups)),
        "backup_phases": dict((phase, sum(1 for r in backups if r.phase == phase))
                              for phase in families.PHASES + (bucket.IN_PROGRESS,)),
        "restore_phases": dict((phase, sum(1 for r in restores if r.phase == phase)) for phase in families.PHASES),
    }
    return computed, summary


def _check(options):
    run_outcome = options.get("run") or {}
    if run_outcome and run_outcome.get("kind") not in RUN_KINDS:
        raise InvalidOptionError("run.kind must be one of %s, not %r" % (", ".join(RUN_KINDS), run_outcome.get("kind")))
    grouping = options.get("pushgateway_grouping") or {}
    reserved = set(grouping) & set(["job", "run", "schedule", "phase", "le"])
    if reserved:
        raise InvalidOptionError("pushgateway_grouping must not name %s: the metrics carry those labels themselves"
                                 % ", ".join(sorted(reserved)))
    return run_outcome


def run(location, options, check_mode=False):
    run_outcome = _check(options)
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    computed, summary = compute(store, run_outcome)
    location_text = exposition.format_families([f for f in computed if f.name not in families.GC_RUN_FAMILIES])
    run_text = exposition.format_families([f for f in computed if f.name in families.GC_RUN_FAMILIES])
    result = {"changed": False, "metrics": location_text + run_text, "summary": summary, "pushed_to": []}
    if options.get("pushgateway_url"):
        headers = {}
        if options.get("pushgateway_username") or options.get("pushgateway_password"):
            headers = publish.basic_auth_header(options.get("pushgateway_username"), options.get("pushgateway_password"))
        gateway = publish.Pushgateway(options["pushgateway_url"], options.get("pushgateway_job") or "kubedr",
                                      options.get("pushgateway_grouping"), options.get("pushgateway_timeout") or 10,
                                      options.get("pushgateway_validate_certs", True), headers)
        if not check_mode:
            result["pushed_to"].append(gateway.push(location_text, "PUT"))
            if run_text:
                result["pushed_to"].append(gateway.push(run_text, "POST", {"run": "gc"}))
            result["changed"] = True
    if options.get("textfile"):
        if not check_mode:
            result["metrics"] = publish.write_textfile(options["textfile"], location_text + run_text, families.GC_RUN_FAMILIES)
            result["changed"] = True
        result["textfile"] = options["textfile"]
    return result
