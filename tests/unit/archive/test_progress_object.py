"""The progress object's writer: throttled, never blocking, never failing the run."""
import datetime
import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive.progress import ProgressRecorder, progress_document
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError


class Store(object):
    def __init__(self, fail=False):
        self.writes = []
        self.fail = fail

    def put_bytes(self, key, data):
        if self.fail:
            raise StorageError("bucket gone")
        self.writes.append((key, json.loads(data)))


class Clock(object):
    now = 0.0

    def __call__(self):
        return self.now


def test_report_is_throttled_and_force_is_not():
    store, clock = Store(), Clock()
    recorder = ProgressRecorder(store, "k", lambda phase: {"phase": phase}, interval=5, clock=clock)
    recorder.report("InProgress")
    clock.now = 4.9
    recorder.report("InProgress")
    assert len(store.writes) == 1
    clock.now = 5.0
    recorder.report("InProgress")
    recorder.force("Completed")
    assert [w[1]["phase"] for w in store.writes] == ["InProgress", "InProgress", "Completed"]


def test_disabled_writes_nothing_and_failures_are_swallowed():
    store = Store()
    ProgressRecorder(store, "k", lambda phase: {}, enabled=False).force("Completed")
    assert store.writes == []
    ProgressRecorder(Store(fail=True), "k", lambda phase: {}).force("Completed")  # no exception


def test_ticking_writes_while_nothing_else_reports():
    store = Store()
    recorder = ProgressRecorder(store, "k", lambda phase: {"phase": phase}, interval=0.01)
    with recorder.ticking("InProgress"):
        while len(store.writes) < 3:
            pass
    count = len(store.writes)
    assert count >= 3
    assert len(store.writes) == count  # the timer stopped with the context


def test_document_shape():
    moment = datetime.datetime(2026, 12, 2, 7, 0, 0, tzinfo=datetime.timezone.utc)
    doc = progress_document("InProgress", moment, moment, 3, 10, {"total": 1}, 7, done_key="itemsRestored",
                            extra={"backup": "b"})
    assert doc == {"phase": "InProgress", "startTimestamp": "2026-12-02T07:00:00Z",
                   "updateTimestamp": "2026-12-02T07:00:00Z", "totalItems": 10,
                   "itemsRestored": 3, "etaSeconds": 7, "volumes": {"total": 1}, "backup": "b"}
