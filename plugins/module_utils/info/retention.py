# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calendar retention of whole backups (pure): which backups of each schedule a gc deletes, and why.

The rules, per schedule (docs/retention.md):

- only Completed backups fill the slots of a policy: ``keep_last`` N newest, and for each calendar
  rule (hourly, daily, weekly, monthly, yearly) the newest backup of each of the N most recent periods
  that hold one, as restic's ``forget --keep-*`` does (newest first, a period counted when its first
  backup is met); when a rule finds fewer than N periods, the oldest Completed backup is kept too
  (restic 0.17's rule);
- a backup is deleted when its TTL expired, or, when the policy has a rule, when no rule keeps it;
- the newest Completed backup of a schedule is never deleted, expired or not;
- a Failed or PartiallyFailed backup newer than the newest Completed one is kept until it expires (it is
  the evidence of what goes wrong); an older one falls outside the policy;
- backups without a schedule label are deleted on TTL only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_rfc3339, rfc3339

try:
    import zoneinfo
except ImportError:  # Python < 3.9: only UTC
    zoneinfo = None

COMPLETED = "Completed"
CALENDAR_RULES = ("hourly", "daily", "weekly", "monthly", "yearly")
POLICY_KEYS = ("keep_last",) + tuple("keep_" + rule for rule in CALENDAR_RULES)


def _period(rule, moment):
    """The label of the period of ``rule`` that holds ``moment`` (a local time)."""
    if rule == "hourly":
        return moment.strftime("%Y-%m-%d %H:00")
    if rule == "daily":
        return moment.strftime("%Y-%m-%d")
    if rule == "weekly":
        year, week, _day = moment.isocalendar()
        return "%04d-W%02d" % (year, week)
    if rule == "monthly":
        return moment.strftime("%Y-%m")
    return moment.strftime("%Y")


class Policy(object):
    """A checked retention policy: keep_last and keep_<rule> counts, and the time zone of the periods."""

    def __init__(self, options):
        options = options or {}
        unknown = sorted(set(options) - set(POLICY_KEYS) - {"time_zone"})
        if unknown:
            raise InvalidOptionError("retention: unknown keys %s (known: %s, time_zone)"
                                     % (", ".join(unknown), ", ".join(POLICY_KEYS)))
        self.counts = {}
        for key in POLICY_KEYS:
            value = options.get(key)
            if value is None:
                value = 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidOptionError("retention.%s must be a whole number of at least 0, not %r" % (key, value))
            self.counts[key] = value
        self.time_zone_name = options.get("time_zone") or "UTC"
        self.zone = self._zone(self.time_zone_name)

    @staticmethod
    def _zone(name):
        if name == "UTC":
            return datetime.timezone.utc
        if zoneinfo is None:
            raise InvalidOptionError("retention.time_zone %s needs Python 3.9 or later (zoneinfo); use UTC" % name)
        try:
            return zoneinfo.ZoneInfo(name)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise InvalidOptionError("retention.time_zone %r is not a known time zone (an IANA name such as "
                                     "Europe/Paris, or UTC)" % (name,))

    @property
    def has_rules(self):
        return any(self.counts.values())

    def view(self):
        view = dict(self.counts)
        view["time_zone"] = self.time_zone_name
        return view


def _moment(summary):
    return parse_rfc3339(summary.get("start_timestamp") or summary.get("created")) or datetime.datetime.min.replace(
        tzinfo=datetime.timezone.utc)


def _newest_first(summaries):
    return sorted(summaries, key=lambda s: (_moment(s), s["name"]), reverse=True)


def policy_slots(policy, completed):
    """{name: [why]} of the Completed backups (newest first) the policy's rules keep."""
    kept = {}
    for summary in completed[:policy.counts["keep_last"]]:
        kept.setdefault(summary["name"], []).append("keep_last %d" % policy.counts["keep_last"])
    for rule in CALENDAR_RULES:
        wanted = policy.counts["keep_" + rule]
        if not wanted or not completed:
            continue
        left, last = wanted, None
        for summary in completed:
            if not left:
                break
            period = _period(rule, _moment(summary).astimezone(policy.zone))
            if period != last:
                kept.setdefault(summary["name"], []).append("%s %s" % (rule, period))
                last, left = period, left - 1
        if left:
            oldest = completed[-1]["name"]
            kept.setdefault(oldest, []).append("oldest Completed backup: keep_%s %d found only %d periods"
                                               % (rule, wanted, wanted - left))
    return kept


def _decide_group(policy, schedule, summaries, now):
    """(keep, delete) entries of one schedule's backups."""
    ordered = _newest_first(summaries)
    completed = [s for s in ordered if s.get("phase") == COMPLETED]
    newest_completed = completed[0] if completed else None
    slots = policy_slots(policy, completed) if schedule is not None and policy.has_rules else {}
    keep, delete = [], []
    for summary in ordered:
        kept_why, delete_why = list(slots.get(summary["name"], [])), []
        expiration = parse_rfc3339(summary.get("expiration"))
        if expiration is not None and expiration < now:
            delete_why.append("expired at %s (TTL)" % rfc3339(expiration))
        if schedule is not None and policy.has_rules and summary["name"] not in slots:
            if summary.get("phase") == COMPLETED:
                delete_why.append("outside the retention policy")
            elif newest_completed is None or _moment(summary) > _moment(newest_completed):
                kept_why.append("%s and newer than the newest Completed backup: kept until it expires"
                                % summary.get("phase"))
            else:
                delete_why.append("%s and older than the newest Completed backup" % summary.get("phase"))
        if schedule is not None and summary is newest_completed:
            kept_why.insert(0, "newest Completed backup of schedule %s: never deleted" % schedule)
            delete_why = ["(overridden) " + why for why in delete_why]
            entry = _entry(summary, schedule, kept_why + delete_why)
            keep.append(entry)
            continue
        if delete_why:
            delete.append(_entry(summary, schedule, delete_why))
        else:
            keep.append(_entry(summary, schedule, kept_why or ["not expired"]))
    return keep, delete


def _entry(summary, schedule, reasons):
    return {"name": summary["name"], "schedule": schedule, "phase": summary.get("phase"),
            "start_timestamp": summary.get("start_timestamp"), "reasons": reasons}


def decide(options, summaries, now):
    """The retention decision over the listed backups (committed ones): ``delete`` and ``keep`` (newest
    first, each with its schedule and reasons), and per schedule the names of each."""
    policy = Policy(options)
    groups = {}
    for summary in summaries:
        if summary.get("committed", True):
            groups.setdefault(summary.get("schedule"), []).append(summary)
    keep, delete, schedules = [], [], []
    for schedule in sorted(groups, key=lambda s: (s is not None, s or "")):
        group_keep, group_delete = _decide_group(policy, schedule, groups[schedule], now)
        keep.extend(group_keep)
        delete.extend(group_delete)
        schedules.append({"schedule": schedule, "keep": [e["name"] for e in group_keep],
                          "delete": [e["name"] for e in group_delete]})
    return {"policy": policy.view(), "keep": keep, "delete": delete, "schedules": schedules}
