"""Calendar retention (kubedr.backup.gc with kubedr_retention, k8s_backup_info retention) on backups the product
makes itself (k8s_backup with the schedule label and a TTL). The calendar arithmetic over months and years is in
tests/unit/info/test_retention_policy.py (with a seeded property test); here every backup is from today, so the
calendar rules are checked where real backups put them: one day, the newest of it, and the oldest kept when a rule
finds fewer periods than it keeps."""
import pytest

import testbed
from test_playbooks_support import (  # noqa: F401 pylint: disable=unused-import
    backups, configmaps, module_location, playbook, prefixed_location, s3_env,
)


@pytest.fixture
def location(prefixed_location):
    return prefixed_location


def backup(bed, location, namespace, name, schedule=None, ttl="720h"):
    labels = {"velero.io/schedule-name": schedule} if schedule else {}
    result = testbed.run_module("k8s_backup", dict(
        name=name, included_namespaces=[namespace], included_resources=["configmaps"], labels=labels, ttl=ttl,
        kubeconfig=bed["KUBECONFIG"], storage_location=module_location(bed, location)))
    assert not result.failed and result["phase"] == "Completed", result.get("msg")


def retention(bed, location, policy, **options):
    result = testbed.run_module("k8s_backup_info", dict(options, retention=policy,
                                                        storage_location=module_location(bed, location)))
    assert not result.failed, result.get("msg")
    return result["retention"]


def test_gc_keeps_the_policy_and_the_newest_completed_backup_of_each_schedule(bed, core_v1, namespace, location):
    configmaps(core_v1, namespace, count=1)
    for name in ("r1-a", "r1-b", "r1-c"):
        backup(bed, location, namespace, name, schedule="r1")
    backup(bed, location, namespace, "r2-only", schedule="r2", ttl="1s")  # expired, but the newest of r2
    backup(bed, location, namespace, "manual", ttl="1s")  # no schedule: TTL only
    testbed.wait_for(lambda: retention(bed, location, {})["delete"], timeout=10, interval=0.3,
                     what="the 1s TTLs to pass")

    # One day of real backups: keep_daily 3 keeps the newest of today, and the oldest (only 1 period of 3).
    daily = retention(bed, location, {"keep_daily": 3}, schedule="r1")
    kept = dict((e["name"], e["reasons"]) for e in daily["keep"])
    assert sorted(kept) == ["r1-a", "r1-c"]
    assert any(why.startswith("daily ") for why in kept["r1-c"]) and "found only 1 periods" in kept["r1-a"][0]
    assert [(e["name"], e["reasons"]) for e in daily["delete"]] == [("r1-b", ["outside the retention policy"])]

    policy = {"keep_last": 2}
    preview = playbook(bed, "kubedr.backup.gc", {"kubedr_storage_location": location, "kubedr_retention": policy},
                       env=s3_env(bed), check=True).stdout
    assert "2 of 5 backups to delete" in preview
    assert "r1-a: outside the retention policy" in preview and "manual: expired at " in preview
    assert sorted(backups(bed, location)) == ["manual", "r1-a", "r1-b", "r1-c", "r2-only"]  # check mode deletes nothing

    out = playbook(bed, "kubedr.backup.gc", {"kubedr_storage_location": location, "kubedr_retention": policy},
                   env=s3_env(bed)).stdout
    assert "2 of 5 backups to delete" in out
    assert sorted(backups(bed, location)) == ["r1-b", "r1-c", "r2-only"]
    protected = retention(bed, location, policy, schedule="r2")["keep"][0]
    assert protected["name"] == "r2-only" and protected["reasons"][0] == "newest Completed backup of schedule r2: never deleted"
    assert any(why.startswith("(overridden) expired at ") for why in protected["reasons"])


def test_a_bad_policy_is_a_clear_error_before_anything_is_deleted(bed, core_v1, namespace, location):
    configmaps(core_v1, namespace, count=1)
    backup(bed, location, namespace, "bad-a", schedule="bad", ttl="1s")
    out = playbook(bed, "kubedr.backup.gc", {"kubedr_storage_location": location,
                                             "kubedr_retention": {"keep_daily": 7, "time_zone": "Mars/Olympus"}},
                   env=s3_env(bed), expect_ok=False).stdout
    assert "retention.time_zone 'Mars/Olympus' is not a known time zone" in out
    assert sorted(backups(bed, location)) == ["bad-a"]
    result = testbed.run_module("k8s_backup_info", dict(retention={"keep_last": 1}, newest=1,
                                                        storage_location=module_location(bed, location)))
    assert result.failed and "retention cannot be combined with newest" in result["msg"]
