# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the backup and restore listings (pure): schedule, phase, label selector, expired,
newest N. Options are checked before the location is read, so a typo is an error and never an
empty listing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import as_list
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import SCHEDULE_NAME_LABEL
from ansible_collections.kubedr.backup.plugins.module_utils.info.progress import UNKNOWN, parse_time
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import validate_object_name
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_selector_option

UPLOADING = "Uploading"
# The phases a listing can show. Velero's own (a Backup or Restore object it committed), and the
# ones only a run without a final record has (kubedr's progress object, or Unknown).
VELERO_BACKUP_PHASES = ("New", "FailedValidation", "InProgress", "WaitingForPluginOperations",
                        "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed",
                        "Completed", "PartiallyFailed", "Failed", "Deleting")
BACKUP_PHASES = VELERO_BACKUP_PHASES + (UPLOADING, UNKNOWN)
RESTORE_PHASES = ("New", "FailedValidation", "InProgress", "WaitingForPluginOperations",
                  "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed",
                  "Completed", "PartiallyFailed", "Failed", UNKNOWN)
# Phases no committed kubedr backup has: asking for them without include_uncommitted lists nothing.
RUNNING_PHASES = ("New", results.IN_PROGRESS, UPLOADING, UNKNOWN)
_SCHEDULED_NAME = "%s-\\d{14}"  # <schedule>-YYYYmmddHHMMSS, as Velero and the playbooks name scheduled backups


def scheduled_name_matches(schedule, name):
    """Whether ``name`` is the name of a run of ``schedule`` (for a backup without stored labels)."""
    return bool(re.match("^" + _SCHEDULED_NAME % re.escape(schedule) + "$", name or ""))


class ListingFilter(object):
    """The filter options of a listing, checked: ``kind`` backup or restore."""

    def __init__(self, options, kind):
        self.kind = kind
        self.schedule = options.get("schedule") or None
        if self.schedule is not None:
            validate_object_name(self.schedule, "schedule")
        self.backup_name = options.get("backup_name") or None
        if self.backup_name is not None:
            validate_object_name(self.backup_name, "backup_name")
        self.phases = self._phases(options.get("phase"))
        selector = options.get("label_selector")
        self.selector = parse_selector_option(selector, "label_selector") if selector not in (None, "") else None
        self.expired = options.get("expired")
        self.newest = self._newest(options.get("newest"))
        self.include_uncommitted = bool(options.get("include_uncommitted"))
        running = sorted(set(self.phases or ()) & set(RUNNING_PHASES))
        if kind == "backup" and running and not self.include_uncommitted:
            raise InvalidOptionError("phase %s: only a backup that is not committed yet has it; add "
                                     "include_uncommitted: true to list those" % ", ".join(running))

    def _phases(self, value):
        if value in (None, "", []):
            return None
        known = BACKUP_PHASES if self.kind == "backup" else RESTORE_PHASES
        phases = [value] if isinstance(value, str) else as_list(value, "phase")
        for phase in phases:
            if phase not in known:
                raise InvalidOptionError("phase %r is not a %s phase (one of %s)" % (phase, self.kind, ", ".join(known)))
        return frozenset(phases)

    @staticmethod
    def _newest(value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidOptionError("newest must be a whole number of at least 1, not %r" % (value,))
        return value

    def active(self):
        return any(x is not None for x in (self.schedule, self.backup_name, self.phases, self.selector,
                                           self.expired, self.newest))

    def matches(self, summary, now=None):
        """Whether a listing entry passes every filter but ``newest``. A backup's labels and schedule
        are its stored ones; a restore's are those of the backup it restored."""
        labels = summary.get("labels") if self.kind == "backup" else summary.get("backup_labels")
        labels = labels or {}
        if self.schedule is not None:
            schedule = labels.get(SCHEDULE_NAME_LABEL)
            name = summary.get("name") if self.kind == "backup" else summary.get("backup_name")
            if schedule != self.schedule and not (schedule is None and not summary.get("committed", True)
                                                  and scheduled_name_matches(self.schedule, name)):
                return False
        if self.backup_name is not None and summary.get("backup_name") != self.backup_name:
            return False
        if self.phases is not None and summary.get("phase") not in self.phases:
            return False
        if self.selector is not None and not self.selector.matches(labels):
            return False
        if self.expired is not None:
            expiration = parse_time(summary.get("expiration"))
            if (expiration is not None and now is not None and expiration < now) != bool(self.expired):
                return False
        return True

    def apply(self, summaries, now=None):
        """The entries that pass, oldest first; with ``newest``, only the N most recent of them."""
        kept = [summary for summary in summaries if self.matches(summary, now)]
        return kept[-self.newest:] if self.newest else kept
