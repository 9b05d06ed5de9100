"""The backup's worker processes and what they rest on: list metadata read without decoding
the items, items sliced out of a raw page, gzip fragments spliced into one tarball."""
import gzip
import io
import json
import os
import signal
import tarfile
import tempfile
import threading

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup
from ansible_collections.kubedr.backup.plugins.module_utils.backup import workers as backup_workers
from ansible_collections.kubedr.backup.plugins.module_utils.backup.workers import ArchiveWorkers, WorkerFailed
from ansible_collections.kubedr.backup.plugins.module_utils.kube.pages import list_page_metadata, raw_page_items
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource

CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, ["list"], True)
WIDGETS = ApiResource("example.com", "v1", "widgets", "Widget", True, ["list"], True)


def builtin_page(items, token=""):
    """A page as the API server writes one for a built-in type: metadata first, items untyped."""
    return json.dumps({"kind": "ConfigMapList", "apiVersion": "v1",
                       "metadata": {"resourceVersion": "7", "continue": token}, "items": items},
                      separators=(",", ":"), ensure_ascii=False).encode()


def custom_page(items, token=""):
    """A page of custom resources: sorted keys, so metadata comes last, items typed."""
    return json.dumps({"apiVersion": "example.com/v1", "items": items, "kind": "WidgetList",
                       "metadata": {"continue": token, "resourceVersion": "7"}},
                      separators=(",", ":"), sort_keys=True).encode()


def cm(name, **data):
    return {"metadata": {"name": name, "namespace": "shop"}, "data": data}


# ---------------------------------------------------------------- list metadata

def test_list_metadata_is_read_from_the_head_of_a_builtin_page():
    assert list_page_metadata(builtin_page([cm("a")], token="abc")) == {"resourceVersion": "7", "continue": "abc"}


def test_list_metadata_is_read_from_the_tail_of_a_custom_resource_page():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}}
    assert list_page_metadata(custom_page([widget], token="next")) == {"continue": "next", "resourceVersion": "7"}


@pytest.mark.parametrize("page", [
    b'{"items":[{"metadata":{"continue":"not-the-list-one"}}]}',  # an item's metadata is not the list's
    b'{"items":[],"kind":"X"}',
    b'not json at all',
    b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"continue":',  # cut short
])
def test_list_metadata_is_none_when_neither_end_holds_it(page):
    assert list_page_metadata(page) is None


def test_an_item_whose_text_mentions_metadata_does_not_fool_the_tail_reader():
    sneaky = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w"}, "spec": {"note": '"metadata":{"continue":"evil"}}'}}
    page = json.dumps({"apiVersion": "example.com/v1", "items": [sneaky], "kind": "WidgetList"}).encode()
    assert list_page_metadata(page) is None


# ---------------------------------------------------------------- items out of a raw page

def test_builtin_items_get_kind_and_api_version_first_and_keep_the_servers_bytes():
    page = builtin_page([cm("a", k="<&>é"), cm("b")])
    items = list(raw_page_items(page, CONFIGMAPS))
    assert [item["metadata"]["name"] for item, _data in items] == ["a", "b"]
    item, data = items[0]
    assert data.startswith(b'{"kind":"ConfigMap","apiVersion":"v1","metadata":')
    assert json.loads(data) == item == dict(cm("a", k="<&>é"), kind="ConfigMap", apiVersion="v1")
    head = b'{"kind":"ConfigMap","apiVersion":"v1",'
    assert data[len(head):] in page  # the rest is the server's own bytes, not encoded again
    assert "é".encode("utf-8") in data


def test_custom_resource_items_are_kept_byte_for_byte():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    page = custom_page([widget])
    [(item, data)] = raw_page_items(page, WIDGETS)
    assert item == widget
    assert data in page


def test_a_page_with_white_space_and_an_empty_item_is_read():
    page = b'{ "kind" : "ConfigMapList" ,\n "metadata" : { } ,\n "items" : [ {} , {"metadata":{"name":"x"}} ]\n}'
    items = list(raw_page_items(page, CONFIGMAPS))
    assert [json.loads(data) for _item, data in items] == [
        {"kind": "ConfigMap", "apiVersion": "v1"},
        {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}}]


def test_a_half_typed_item_is_encoded_whole():
    [(item, data)] = raw_page_items(builtin_page([{"kind": "Odd", "metadata": {"name": "x"}}]), CONFIGMAPS)
    assert json.loads(data) == item == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}}


@pytest.mark.parametrize("page", [b'{"items":[1]}', b'{"items":[{"a":1}', b'[]', b'{"items":[{]}', b'\xff'])
def test_a_malformed_page_raises_value_error(page):
    with pytest.raises(ValueError):
        list(raw_page_items(page, CONFIGMAPS))


def test_items_are_decoded_one_at_a_time():
    """A worker holds one decoded item of a page at a time, not thousands (their dicts took several times
    the page's size in each worker process)."""
    items = raw_page_items(builtin_page([cm("a"), cm("b")]), CONFIGMAPS)
    first, _data = next(items)
    assert first["metadata"]["name"] == "a"
    assert [item["metadata"]["name"] for item, _data in items] == ["b"]


def test_the_items_before_a_malformed_one_come_first():
    page = builtin_page([cm("a")])[:-2] + b',{"metadata":}]}'
    items = raw_page_items(page, CONFIGMAPS)
    assert next(items)[0]["metadata"]["name"] == "a"
    with pytest.raises(ValueError):
        next(items)


def test_no_items_gives_nothing():
    assert list(raw_page_items(builtin_page([]), CONFIGMAPS)) == []


# ---------------------------------------------------------------- fragments

def write_fragment(names, mtime=1700000000):
    spool = tempfile.TemporaryFile()
    writer = archive.ArchiveWriter(spool, mtime=mtime, fragment=True)
    for name in names:
        writer.add_item(CONFIGMAPS, dict(cm(name), kind="ConfigMap", apiVersion="v1"))
    size = writer.close()
    spool.seek(0)
    return backup_workers.Fragment(spool, size, writer.entries)


def test_fragments_spliced_into_a_tarball_read_as_one_archive():
    out = io.BytesIO()
    writer = archive.ArchiveWriter(out, mtime=1700000000)
    writer.add_item(CONFIGMAPS, dict(cm("first"), kind="ConfigMap", apiVersion="v1"))
    writer.append_fragments([write_fragment(["a", "b"]), write_fragment([]), write_fragment(["c"])])
    writer.add_item(CONFIGMAPS, dict(cm("last"), kind="ConfigMap", apiVersion="v1"))
    writer.close()
    data = out.getvalue()

    names = [path for path, _data in archive.iter_archive(io.BytesIO(data))]
    assert names[0] == archive.VERSION_ENTRY
    plain = [n.rsplit("/", 1)[1] for n in names if n.startswith("resources/configmaps/namespaces/")]
    assert plain == ["first.json", "a.json", "b.json", "c.json", "last.json"]
    assert len(names) == 1 + 2 * 5  # every item twice (preferred-version copy)
    assert writer.entries == len(names)
    # gzip and tar read it as one stream too, and the tar ends on a whole record.
    raw_tar = gzip.decompress(data)
    assert len(raw_tar) % archive.RECORD == 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.getnames() == names


def test_a_fragment_has_no_version_entry_and_no_end_of_archive():
    fragment = write_fragment(["a"])
    raw = gzip.decompress(fragment.fileobj.read())
    assert len(raw) == fragment.size
    assert raw[:512].rstrip(b"\0").startswith(b"resources/")
    assert raw[-1024:] != b"\0" * 1024 or len(raw) % archive.RECORD != 0


# ---------------------------------------------------------------- worker processes

class Task(object):
    def __init__(self, name):
        self.name = name


def archive_names(writer, task, data):
    """What a worker does with a page here: every name of the page becomes an item."""
    names = json.loads(data)
    if "explode" in names:
        raise RuntimeError("cannot archive %s" % task.name)
    for name in names:
        writer.add_item(CONFIGMAPS, dict(cm(name), kind="ConfigMap", apiVersion="v1"))
    return [("shop", name) for name in names], [["persistentvolumes", None, "pv-" + name] for name in names]


class Collector(object):
    def __init__(self):
        self.pages, self.done, self.failures = [], [], []
        self.finished = threading.Event()

    def deliver(self, task, names, refs):
        self.pages.append((task.name, names, refs))

    def task_done(self, task):
        self.done.append(task.name)
        self.finished.set()

    def fail(self, error):
        self.failures.append(str(error))
        self.finished.set()


def start(tasks, count=2):
    workers = ArchiveWorkers(count, tasks, archive_names, mtime=1700000000)
    collector = Collector()
    workers.listen(collector.deliver, collector.task_done, collector.fail)
    return workers, collector


def test_workers_archive_pages_and_report_names_references_and_completed_tasks():
    tasks = [Task("one"), Task("two")]
    workers, collector = start(tasks)
    try:
        for index in range(6):
            workers.submit(tasks[index % 2], json.dumps(["cm-%d-%d" % (index, n) for n in range(50)]).encode())
        workers.seal(tasks[0])
        workers.seal(tasks[1])
        out = io.BytesIO()
        writer = archive.ArchiveWriter(out)
        writer.append_fragments(workers.finish())  # before close(), which drops the spool files
        writer.close()
    finally:
        workers.close()
    assert sorted(collector.done) == ["one", "two"]
    assert collector.failures == []
    assert len(collector.pages) == 6
    reported = sorted(name for _task, names, _refs in collector.pages for _ns, name in names)
    assert reported == sorted("cm-%d-%d" % (i, n) for i in range(6) for n in range(50))
    assert all(len(refs) == 50 and refs[0][0] == "persistentvolumes" for _t, _n, refs in collector.pages)

    written = sorted(path.rsplit("/", 1)[1][:-5] for path, _data in archive.iter_archive(io.BytesIO(out.getvalue()))
                     if path.startswith("resources/configmaps/namespaces/"))
    assert written == reported
    assert writer.entries == 1 + 2 * 300


def test_a_task_sealed_before_any_page_is_done_at_once():
    tasks = [Task("empty")]
    workers, collector = start(tasks)
    try:
        workers.seal(tasks[0])
        assert collector.done == ["empty"]
        workers.finish()
    finally:
        workers.close()


def test_a_worker_that_fails_on_a_page_fails_the_pool_with_its_reason():
    tasks = [Task("bad")]
    workers, collector = start(tasks, count=1)
    try:
        workers.submit(tasks[0], json.dumps(["explode"]).encode())
        assert collector.finished.wait(30)
        assert collector.failures and "cannot archive bad" in collector.failures[0]
        with pytest.raises(WorkerFailed):
            workers.submit(tasks[0], b"[]")
        with pytest.raises(WorkerFailed):
            workers.finish()
    finally:
        workers.close()


def test_a_killed_worker_is_reported_and_its_fragment_is_never_used():
    tasks = [Task("t")]
    workers, collector = start(tasks, count=1)
    try:
        os.kill(workers._workers[0].pid, signal.SIGKILL)
        assert collector.finished.wait(30)
        assert collector.failures and "died" in collector.failures[0]
        with pytest.raises(WorkerFailed):
            workers.finish()
    finally:
        workers.close()
    assert all(worker.exited for worker in workers._workers)


def test_worker_count_follows_the_cpus():
    assert backup_workers.worker_count(1) == 0
    assert backup_workers.worker_count(2) == 2
    assert backup_workers.worker_count(64) == backup_workers.MAX_WORKERS
    assert backup_workers.available_cpus() >= 1


# ---------------------------------------------------------------- the pipeline both ways

def test_a_backup_through_workers_holds_what_a_backup_without_them_holds(tmp_path, monkeypatch):
    from test_backup_run import FakeKube, obj
    from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store

    items = {"namespaces": [obj("shop")],
             "configmaps": [dict(obj("cm-%03d" % i, "shop"), data={"v": "é<%d>" % i}) for i in range(700)]}

    def archive_of(name, count):
        monkeypatch.setattr(backup_workers, "worker_count", lambda: count)
        store = open_store({"provider": "filesystem", "path": str(tmp_path / name)})
        result = backup.BackupRun(FakeKube(items), store, {"name": name, "ttl": "720h"}).execute()
        assert result["phase"] == "Completed", result
        with open(str(tmp_path / name / "backups" / name / (name + ".tar.gz")), "rb") as handle:
            return result, dict((path, json.loads(data)) for path, data in archive.iter_archive(handle)
                                if path != archive.VERSION_ENTRY)

    with_workers, archived = archive_of("w", 2)
    alone, listed = archive_of("a", 0)
    assert archived == listed
    assert with_workers["item_counts"] == alone["item_counts"]
    assert with_workers["item_counts"]["per_resource"]["v1/ConfigMap"] == 700
