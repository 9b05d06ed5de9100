# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore read back from its records under ``restores/<name>/`` (pure: the caller fetches
the objects). Shared by the restore rerun (``restore/rerun.py``) and the restore listings
(``info/restores.py``), which may not import each other.

The records are those Velero writes: the log (its ``Starting restore`` line names the backup,
its ``Restore completed`` or ``Restore failed`` line the phase and counts), the results and the
resource list (``ns/name(outcome)`` per item)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RESTORE_COMPLETED, RESTORE_FAILED, RESTORE_STARTED, parse_fields

# What happened to one item, as the resource list records it (restore/report.py writes them).
CREATED, UPDATED, SKIPPED, FAILED = "created", "updated", "skipped", "failed"
OUTCOMES = (CREATED, UPDATED, SKIPPED, FAILED)
_ENTRY = re.compile(r"^(.*)\((\w+)\)$")


class StoredRestore(object):
    """What the records of restore ``name`` say: its backup, phase, times, counts and results.

    Feed it the log's lines (``read_log`` or ``read_line`` one by one), set ``results`` and
    ``resource_list`` from the stored documents, then ``settle_phase``."""

    def __init__(self, name):
        self.name = name
        self.backup_name = self.phase = self.started = self.completed = self.reason = None
        self.recreated = 0
        self.logged_counts = None  # the counts of the final log line, without per_resource
        self.results = {}
        self.resource_list = {}

    def read_line(self, line):
        if 'msg="Starting restore"' not in line and 'msg="Restore ' not in line:
            return
        fields = parse_fields(line)
        message = fields.get("msg")
        if message == RESTORE_STARTED:
            self.backup_name, self.started = fields.get("backup"), fields.get("time")
        elif message == RESTORE_COMPLETED:
            self.phase, self.completed = fields.get("phase"), fields.get("time")
            self.recreated = _int(fields.get("recreated"))
            self.logged_counts = dict((key, _int(fields.get(key))) for key in OUTCOMES + ("total", "recreated"))
        elif message == RESTORE_FAILED:
            self.phase, self.completed, self.reason = results.FAILED, fields.get("time"), fields.get("reason")

    def read_log(self, lines):
        for line in lines:
            self.read_line(line)

    def settle_phase(self):
        """A record whose log does not end (Velero's own records): its errors decide the phase."""
        if self.phase is None:
            errors = self.results.get("errors") or {}
            self.phase = results.PARTIALLY_FAILED if results.result_count(errors) else results.COMPLETED
        return self.phase

    def counts(self):
        """The module's item_counts out of the resource list (and the log's recreated count)."""
        per_resource = {}
        for key, entries in sorted(self.resource_list.items()):
            per = per_resource[key] = dict((outcome, 0) for outcome in OUTCOMES)
            for entry in entries:
                match = _ENTRY.match(entry)
                if match and match.group(2) in per:
                    per[match.group(2)] += 1
        totals = dict((o, sum(c[o] for c in per_resource.values())) for o in OUTCOMES)
        totals["total"] = sum(totals.values())
        totals["recreated"] = self.recreated
        totals["per_resource"] = per_resource
        return totals

    def per_namespace(self):
        """Items per namespace (``ns/name(outcome)`` entries; cluster-scoped items have no namespace)."""
        counts = {}
        for entries in self.resource_list.values():
            for entry in entries:
                match = _ENTRY.match(entry)
                display = match.group(1) if match else entry
                if "/" in display:
                    namespace = display.split("/", 1)[0]
                    counts[namespace] = counts.get(namespace, 0) + 1
        return dict(sorted(counts.items()))


def _int(value):
    try:
        return int(value or 0)
    except ValueError:
        return 0
