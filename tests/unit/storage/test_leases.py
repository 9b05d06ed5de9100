"""One run per name: the lease beside a run's records (on a directory location; the S3 half
is exercised against MinIO by tests/integration/test_run_lease.py)."""
import datetime
import json
import subprocess
import sys

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.storage import leases
from ansible_collections.kubedr.backup.plugins.module_utils.storage.filesystem import FilesystemStore

KEY = "backups/b/b-lease.json"


class Clock(object):
    def __init__(self):
        self.now = datetime.datetime(2026, 12, 2, 7, 0, 0, tzinfo=datetime.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path):
    return FilesystemStore(str(tmp_path))


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def stored(store):
    return json.loads(store.get_bytes(KEY))


def test_a_second_run_is_refused_naming_the_first_and_the_lease_is_given_back(store):
    clock = Clock()
    with leases.RunLease(store, KEY, "backup b", clock=clock) as first:
        assert stored(store)["holder"] == first.holder
        second = leases.RunLease(store, KEY, "backup b", clock=clock)
        second.holder = dict(second.holder, host="other-host")
        with pytest.raises(leases.RunningElsewhere) as refused:
            second.acquire()
        message = str(refused.value)
        assert "backup b is being run already" in message and first.holder["host"] in message
        assert "expires 2026-12-02T07:01:00Z" in message
    assert store.get_bytes(KEY) is None


def test_an_expired_lease_is_taken_over_and_its_holder_learns_it(store):
    clock = Clock()
    first = leases.RunLease(store, KEY, "backup b", clock=clock)
    first.holder = dict(first.holder, host="other-host")
    first.acquire()
    clock.advance(59)
    second = leases.RunLease(store, KEY, "backup b", clock=clock)
    with pytest.raises(leases.RunningElsewhere):
        second.acquire()
    clock.advance(2)  # not renewed for 61 s
    second.acquire()
    assert stored(store)["holder"] == second.holder
    first.renew()
    assert first.lost
    with pytest.raises(leases.RunningElsewhere) as lost:
        first.check()
    assert "took over" in str(lost.value)
    first.release()  # not its lease any more: left alone
    assert stored(store)["holder"] == second.holder


def test_renewal_keeps_a_lease_alive(store):
    clock = Clock()
    first = leases.RunLease(store, KEY, "backup b", clock=clock)
    first.holder = dict(first.holder, host="other-host")
    first.acquire()
    for _night in range(5):
        clock.advance(40)
        first.renew()
        with pytest.raises(leases.RunningElsewhere):
            leases.RunLease(store, KEY, "backup b", clock=clock).acquire()
    assert not first.lost


def test_a_lease_left_by_a_dead_process_of_this_host_is_free_at_once(store):
    clock = Clock()
    left = leases.RunLease(store, KEY, "backup b", clock=clock)
    left.holder = dict(left.holder, pid=dead_pid())
    left.acquire()
    rerun = leases.RunLease(store, KEY, "backup b", clock=clock)
    rerun.acquire()
    assert stored(store)["holder"] == rerun.holder


def test_garbage_in_the_lease_object_counts_as_expired(store):
    store.put_bytes(KEY, b"\xff not json")
    lease = leases.RunLease(store, KEY, "backup b", clock=Clock())
    lease.acquire()
    assert stored(store)["holder"] == lease.holder
