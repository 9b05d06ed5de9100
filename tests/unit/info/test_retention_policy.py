"""Calendar retention (info/retention.py): restic's --keep-* rules per schedule, TTL beside them, the
newest Completed backup of a schedule never deleted; a seeded property test against a brute-force
reference."""
import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339
from ansible_collections.kubedr.backup.plugins.module_utils.info import retention

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


def backup(name, start, phase="Completed", schedule="nightly", expiration=None):
    return {"name": name, "phase": phase, "schedule": schedule, "committed": True,
            "start_timestamp": rfc3339(start), "expiration": rfc3339(expiration) if expiration else None}


def names(entries):
    return sorted(entry["name"] for entry in entries)


def nightly(days, hour=2):
    """One Completed backup a day for ``days`` days before NOW, named after its day."""
    return [backup("n-%02d" % day, NOW - datetime.timedelta(days=day, hours=12 - hour)) for day in range(days)]


def test_keep_daily_keeps_the_newest_backup_of_each_day():
    backups = nightly(10) + [backup("n-00-early", NOW - datetime.timedelta(hours=11))]
    decision = retention.decide({"keep_daily": 3}, backups, NOW)
    assert names(decision["keep"]) == ["n-00", "n-01", "n-02"]
    assert "n-00-early" in names(decision["delete"])
    reasons = dict((e["name"], e["reasons"]) for e in decision["keep"] + decision["delete"])
    assert reasons["n-01"] == ["daily 2026-12-01"]
    assert reasons["n-05"] == ["outside the retention policy"]
    assert decision["schedules"] == [{"schedule": "nightly", "keep": ["n-00", "n-01", "n-02"],
                                      "delete": [e["name"] for e in decision["delete"]]}]


def test_weekly_monthly_yearly_and_last_add_up():
    backups = nightly(400)
    decision = retention.decide({"keep_last": 2, "keep_weekly": 2, "keep_monthly": 3, "keep_yearly": 2}, backups, NOW)
    kept = dict((e["name"], e["reasons"]) for e in decision["keep"])
    # 2026-12-02 is a Wednesday: the newest of ISO week 48 is Sunday 2026-11-29 (n-03).
    assert kept["n-00"][0].startswith("newest Completed backup of schedule nightly")
    assert "keep_last 2" in kept["n-01"] and "weekly 2026-W48" in kept["n-03"]
    assert "monthly 2026-11" in kept["n-02"] and "monthly 2026-10" in kept["n-32"]
    assert "yearly 2025" in kept["n-336"]  # 2025-12-31
    assert len(kept) == 6


def test_a_rule_with_too_few_periods_keeps_the_oldest_too():
    decision = retention.decide({"keep_monthly": 6}, nightly(3), NOW)
    kept = dict((e["name"], e["reasons"]) for e in decision["keep"])
    assert sorted(kept) == ["n-00", "n-02"]  # 2026-12 and 2026-11 periods: n-00 and n-02 (Nov 30)... and the oldest
    assert any("found only 2 periods" in why for why in kept["n-02"])


def test_ttl_deletes_beside_the_policy_but_never_the_newest_completed():
    old = NOW - datetime.timedelta(days=1)
    backups = [backup("a", NOW - datetime.timedelta(days=3), expiration=old),
               backup("b", NOW - datetime.timedelta(days=2), expiration=old),
               backup("c", NOW - datetime.timedelta(days=1), expiration=old),
               backup("d", NOW - datetime.timedelta(hours=1), phase="Failed", expiration=old)]
    decision = retention.decide({}, backups, NOW)  # no rule: TTL only, with the newest Completed protected
    assert names(decision["delete"]) == ["a", "b", "d"]
    kept = decision["keep"][0]
    assert kept["name"] == "c" and kept["reasons"][0].startswith("newest Completed")
    assert any(why.startswith("(overridden) expired at") for why in kept["reasons"])
    # Kept by a rule, but expired: TTL still deletes it.
    decision = retention.decide({"keep_daily": 7}, backups, NOW)
    assert names(decision["delete"]) == ["a", "b", "d"]


def test_failed_backups_newer_than_the_newest_completed_stay_until_they_expire():
    backups = [backup("ok-old", NOW - datetime.timedelta(days=3)),
               backup("bad-old", NOW - datetime.timedelta(days=2), phase="PartiallyFailed"),
               backup("ok", NOW - datetime.timedelta(days=1)),
               backup("bad-new", NOW - datetime.timedelta(hours=1), phase="Failed")]
    decision = retention.decide({"keep_last": 1}, backups, NOW)
    assert names(decision["keep"]) == ["bad-new", "ok"]
    assert names(decision["delete"]) == ["bad-old", "ok-old"]
    reasons = dict((e["name"], e["reasons"]) for e in decision["delete"])
    assert reasons["bad-old"] == ["PartiallyFailed and older than the newest Completed backup"]


def test_schedules_are_separate_and_unscheduled_backups_follow_ttl_only():
    backups = nightly(3) + [backup("w-%d" % d, NOW - datetime.timedelta(days=d), schedule="weekly") for d in range(3)]
    backups += [backup("manual", NOW - datetime.timedelta(days=9), schedule=None),
                backup("manual-expired", NOW - datetime.timedelta(days=9), schedule=None,
                       expiration=NOW - datetime.timedelta(seconds=1))]
    decision = retention.decide({"keep_last": 1}, backups, NOW)
    assert [s["schedule"] for s in decision["schedules"]] == [None, "nightly", "weekly"]
    assert names(decision["keep"]) == ["manual", "n-00", "w-0"]
    assert names(decision["delete"]) == ["manual-expired", "n-01", "n-02", "w-1", "w-2"]


def test_time_zone_moves_the_day_boundary():
    # 23:30 UTC and 00:30 UTC the next day are the same day in America/New_York.
    backups = [backup("before", datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
               backup("late", datetime.datetime(2026, 11, 30, 23, 30, tzinfo=UTC)),
               backup("early", datetime.datetime(2026, 12, 1, 0, 30, tzinfo=UTC))]
    assert names(retention.decide({"keep_daily": 2}, backups, NOW)["keep"]) == ["early", "late"]
    in_new_york = retention.decide({"keep_daily": 2, "time_zone": "America/New_York"}, backups, NOW)
    assert names(in_new_york["keep"]) == ["before", "early"]


@pytest.mark.parametrize("options,message", [
    ({"keep_daily": -1}, "keep_daily must be a whole number"),
    ({"keep_dayly": 1}, "unknown keys keep_dayly"),
    ({"keep_last": "3"}, "keep_last must be a whole number"),
    ({"time_zone": "Mars/Olympus"}, "not a known time zone"),
])
def test_bad_policies_are_clear_errors(options, message):
    with pytest.raises(InvalidOptionError, match=message):
        retention.Policy(options)


# The property: a brute-force reference (periods grouped, the N most recent, the newest of each) agrees.
def reference_kept(policy, summaries, now):
    completed = sorted([s for s in summaries if s["phase"] == "Completed"],
                       key=lambda s: (s["start_timestamp"], s["name"]), reverse=True)
    slots = set(s["name"] for s in completed[:policy.get("keep_last", 0)])
    for rule in retention.CALENDAR_RULES:
        wanted = policy.get("keep_" + rule, 0)
        if not wanted or not completed:
            continue
        periods = {}
        for s in completed:
            moment = datetime.datetime.strptime(s["start_timestamp"], "%Y-%m-%dT%H:%M:%SZ")
            label = {"hourly": (moment.date(), moment.hour), "daily": moment.date(),
                     "weekly": moment.isocalendar()[:2], "monthly": (moment.year, moment.month),
                     "yearly": moment.year}[rule]
            periods.setdefault(label, []).append(s)
        recent = sorted(periods, reverse=True)[:wanted]
        slots.update(periods[label][0]["name"] for label in recent)
        if len(recent) < wanted:
            slots.add(completed[-1]["name"])
    has_rules = any(policy.values())
    newest = completed[0]["name"] if completed else None
    kept = set()
    for s in summaries:
        expired = s["expiration"] is not None and s["expiration"] < rfc3339(now)
        if s["name"] == newest:
            kept.add(s["name"])
        elif expired:
            continue
        elif not has_rules or s["name"] in slots:
            kept.add(s["name"])
        elif s["phase"] != "Completed" and (newest is None or s["start_timestamp"] > completed[0]["start_timestamp"]):
            kept.add(s["name"])
    return kept


START = datetime.datetime(2024, 1, 1, tzinfo=UTC)
backups_strategy = st.lists(st.tuples(st.integers(0, 3 * 365 * 24 * 60),
                                      st.sampled_from(["Completed", "Completed", "PartiallyFailed", "Failed"]),
                                      st.one_of(st.none(), st.integers(-30 * 24 * 60, 30 * 24 * 60))),
                            max_size=40, unique_by=lambda t: t[0])
policy_strategy = st.fixed_dictionaries({key: st.integers(0, 6) for key in retention.POLICY_KEYS})


@settings(max_examples=1500, deadline=None)
@given(backups_strategy, policy_strategy)
def test_property_matches_the_reference_and_keeps_the_newest_completed(raw, policy):
    now = START + datetime.timedelta(days=3 * 365)
    summaries = [backup("b%03d" % i, START + datetime.timedelta(minutes=minute), phase,
                        expiration=None if ttl is None else now + datetime.timedelta(minutes=ttl))
                 for i, (minute, phase, ttl) in enumerate(raw)]
    decision = retention.decide(policy, summaries, now)
    kept, deleted = set(names(decision["keep"])), set(names(decision["delete"]))
    assert kept | deleted == set(s["name"] for s in summaries) and not kept & deleted
    assert kept == reference_kept(policy, summaries, now)
    completed = [s for s in summaries if s["phase"] == "Completed"]
    if completed:
        newest = max(completed, key=lambda s: s["start_timestamp"])["name"]
        assert newest in kept and any(s["name"] in kept for s in completed)
    for entry in decision["delete"] + decision["keep"]:
        assert entry["reasons"]
