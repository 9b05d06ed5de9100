# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Worker processes for the backup's main pass: raw LIST pages in, tar entries out.

Decoding LIST pages, encoding items and compressing them is CPU work that one Python
interpreter serialises (the GIL): alone it reached about a third of what the API server
serves. The main pass therefore forks a few workers once discovery and selection are done.
The parent keeps every request (pagination, retries, errors) and hands each raw page of a
worker task to the least busy worker; the worker decodes the page, selects items, writes them
as tar entries into a gzip fragment of its own (a temporary file) and answers with the names
it wrote and the references the item actions returned. At the end the parent splices each
fragment into the tarball (``ArchiveWriter.append_fragment``).

Forked, not spawned: a worker needs the selection and the action context as they are, and it
shares the parent's memory pages until it writes to them (the cyclic collector is frozen
before forking, so it does not touch them).

Wire format. Parent to worker: frames of ``!iI`` (task index, payload length) and the raw
page; a negative index asks the worker to close its fragment and exit. Worker to parent: one
JSON array per line, ``["page", task, names, refs]``, ``["closed", size, entries]`` or
``["failed", message]``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import hashlib
import json
import os
import posixpath
import selectors
import shutil
import signal
import struct
import tempfile
import threading

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.archive.manifest import item_line
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError

MAX_WORKERS = 4
PAGES_IN_FLIGHT = 2  # per worker: one being processed, one waiting in the pipe
_FRAME = struct.Struct("!iI")
_STOP = -1
_READ_SIZE = 256 * 1024
_COPY_SIZE = 1024 * 1024


def available_cpus():
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (a
    container limited to 2 CPUs on a 64-core host should not start 64 workers)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def worker_count(cpus=None):
    """How many workers to fork: none on one CPU (nothing would run in parallel)."""
    cpus = available_cpus() if cpus is None else cpus
    return 0 if cpus < 2 or not hasattr(os, "fork") else min(MAX_WORKERS, cpus)


class WorkerFailed(KubedrError):
    """A worker process failed or died; the backup cannot be committed whole."""


class ItemDigestLog(object):
    """A backup's item digests taken as its archive is written (``ArchiveWriter(item_log=...)``), not by
    reading the archive back (which took 50 us an entry in the main process, after the listing): one line
    ``["<SHA-256 hex>","<path>"]`` per file entry, in archive order, in a temporary file; a fragment's
    log follows its own when the fragment is spliced in. The lines are those archive/manifest.py's
    ``write_item_digests`` makes from the finished tarball, which verification recomputes."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.count = 0

    def add(self, path, data):
        self.add_copies([path], data)

    def add_copies(self, paths, data):
        """The lines of the same bytes written at each path (an item and its preferred-version copy)."""
        # Once per item in the workers: normpath per line and a second SHA-256 of the same bytes were a tenth of a
        # worker's CPU (docs/performance.md); a path that normpath would leave as it is needs no call to it.
        digest = hashlib.sha256(data).hexdigest()
        lines = []
        for path in paths:
            if not path or path[0] in "./" or path[-1] == "/" or "//" in path or "/." in path:
                path = posixpath.normpath(path)
            lines.append(item_line(path, digest))
        self.file.write(b"".join(lines))
        self.count += len(paths)

    def extend(self, other):
        other.file.flush()
        other.file.seek(0)
        shutil.copyfileobj(other.file, self.file, _COPY_SIZE)
        self.count += other.count

    def copy_to(self, out):
        """Write the lines into ``out`` (``storage.upload_gzipped`` hands a gzip stream at the large side files'
        level); returns ``{"count", "sha256"}``, the SHA-256 of the lines."""
        self.file.flush()
        self.file.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: self.file.read(_COPY_SIZE), b""):
            digest.update(chunk)
            out.write(chunk)
        return {"count": self.count, "sha256": digest.hexdigest()}

    def close(self):
        self.file.close()


class Fragment(object):
    """What one worker wrote: a temporary file of gzip members holding ``size`` bytes of tar, and the
    ItemDigestLog of its ``entries``."""

    def __init__(self, fileobj, size, entries, item_log=None):
        self.fileobj = fileobj
        self.size = size
        self.entries = entries
        self.item_log = item_log


class _Worker(object):
    def __init__(self, pid, to_worker, from_worker, spool, item_log):
        self.pid = pid
        self.to_worker = to_worker
        self.from_worker = from_worker
        self.spool = spool
        self.item_log = item_log  # written by the worker, read by the parent once the worker closed
        self.in_flight = 0
        self.write_lock = threading.Lock()
        self.buffer = b""
        self.closed = None  # (size, entries) once the worker closed its fragment
        self.exited = False


class ArchiveWorkers(object):
    """A small pool of forked workers that archive raw LIST pages.

    ``archive_page(writer, task, data)`` runs in a worker and returns ``(names, refs)``: the
    ``(namespace, name)`` of every item written and the references the actions returned.
    ``tasks`` is the list the pages belong to (a worker finds a page's task by its index)."""

    def __init__(self, count, tasks, archive_page, mtime, compresslevel=archive.TARBALL_GZIP_LEVEL):
        self.tasks = list(tasks)
        self._index = dict((id(task), position) for position, task in enumerate(self.tasks))
        self._archive_page = archive_page
        self._mtime = mtime
        self._compresslevel = compresslevel
        self._workers = []
        self._lock = threading.Condition()
        self._submitted = {}
        self._replied = {}
        self._sealed = set()
        self._failure = None
        self._reader = None
        self._deliver = self._task_done = self._fail = None
        self._start(count)

    # Parent side -------------------------------------------------------------------------

    def _start(self, count):
        gc.freeze()  # the collector then leaves the shared pages alone in the children
        try:
            for _number in range(count):
                self._fork_one()
        except Exception:
            self.close()
            raise

    def _fork_one(self):
        to_worker_read, to_worker = os.pipe()
        from_worker, from_worker_write = os.pipe()
        spool = tempfile.TemporaryFile()
        item_log = ItemDigestLog()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the module
            status = 2
            try:
                for fd in [to_worker, from_worker] + [fd for w in self._workers for fd in (w.to_worker, w.from_worker)]:
                    os.close(fd)
                status = self._serve(to_worker_read, from_worker_write, spool, item_log)
            finally:
                os._exit(status)
        os.close(to_worker_read)
        os.close(from_worker_write)
        self._workers.append(_Worker(pid, to_worker, from_worker, spool, item_log))

    def handles(self, task):
        return id(task) in self._index

    def listen(self, deliver, task_done, fail):
        """Start reading answers: ``deliver(task, names, refs)`` for each page, ``task_done(task)``
        once a sealed task's last page is answered, ``fail(error)`` when a worker fails."""
        self._deliver, self._task_done, self._fail = deliver, task_done, fail
        self._reader = threading.Thread(target=self._read_answers, name="archive-workers")
        self._reader.daemon = True
        self._reader.start()

    def submit(self, task, data):
        """Hand a raw page to the least busy worker (blocks while every worker is busy)."""
        position = self._index[id(task)]
        with self._lock:
            while True:
                self._raise_if_failed()
                worker = min(self._workers, key=lambda w: w.in_flight)
                if worker.in_flight < PAGES_IN_FLIGHT:
                    break
                self._lock.wait(1.0)
            worker.in_flight += 1
            self._submitted[position] = self._submitted.get(position, 0) + 1
        with worker.write_lock:
            try:
                _write_all(worker.to_worker, _FRAME.pack(position, len(data)))
                _write_all(worker.to_worker, data)
            except OSError as error:
                raise WorkerFailed("a backup worker process stopped taking pages: %s" % error)

    def seal(self, task):
        """No more pages of ``task`` will come; ``task_done`` follows its last answer."""
        position = self._index[id(task)]
        with self._lock:
            self._sealed.add(position)
            done = self._submitted.get(position, 0) == self._replied.get(position, 0)
        if done:
            self._task_done(task)

    def finish(self):
        """Close every worker's fragment and wait for the workers; returns the Fragments."""
        for worker in self._workers:
            with worker.write_lock:
                try:
                    _write_all(worker.to_worker, _FRAME.pack(_STOP, 0))
                except OSError as error:
                    raise WorkerFailed("a backup worker process ended early: %s" % error)
        if self._reader is not None:
            self._reader.join()
        self._reap()
        with self._lock:
            self._raise_if_failed()
        fragments = []
        for worker in self._workers:
            if worker.closed is None:
                raise WorkerFailed("a backup worker process ended without closing its part of the archive")
            worker.spool.seek(0)
            worker.item_log.count = worker.closed[1]  # one line per entry, counted in the worker
            fragments.append(Fragment(worker.spool, worker.closed[0], worker.closed[1], worker.item_log))
        return fragments

    def close(self):
        """Stop workers that still run (failure paths) and drop their spool files."""
        with self._lock:
            if self._failure is None:
                self._failure = "the backup stopped"  # also keeps the reader from reporting the kills
            self._lock.notify_all()
        for worker in self._workers:
            if not worker.exited:
                try:
                    os.kill(worker.pid, signal.SIGKILL)
                except OSError:
                    pass
        self._reap()
        for worker in self._workers:
            for fd in (worker.to_worker, worker.from_worker):
                try:
                    os.close(fd)
                except OSError:
                    pass
            worker.spool.close()
            worker.item_log.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)

    def _reap(self):
        for worker in self._workers:
            if not worker.exited:
                try:
                    _pid, status = os.waitpid(worker.pid, 0)
                except ChildProcessError:
                    status = 0
                worker.exited = True
                if worker.closed is not None and status != 0:
                    worker.closed = None  # it said it closed but then failed: do not trust the fragment

    def _raise_if_failed(self):
        if self._failure is not None:
            raise WorkerFailed(self._failure)

    def _read_answers(self):
        selector = selectors.DefaultSelector()
        for worker in self._workers:
            selector.register(worker.from_worker, selectors.EVENT_READ, worker)
        open_count = len(self._workers)
        try:
            while open_count:
                for key, _events in selector.select():
                    worker = key.data
                    chunk = os.read(worker.from_worker, _READ_SIZE)
                    if not chunk:
                        selector.unregister(worker.from_worker)
                        open_count -= 1
                        if worker.closed is None:
                            self._failed("a backup worker process (pid %d) died" % worker.pid)
                        continue
                    worker.buffer += chunk
                    while b"\n" in worker.buffer:
                        line, worker.buffer = worker.buffer.split(b"\n", 1)
                        self._answer(worker, json.loads(line))
        except Exception as error:  # a broken answer: the backup cannot be trusted
            self._failed("reading from the backup workers failed: %s" % error)
        finally:
            selector.close()

    def _answer(self, worker, message):
        kind = message[0]
        if kind == "page":
            position, names, refs = message[1], message[2], message[3]
            task = self.tasks[position]
            self._deliver(task, names, refs)
            with self._lock:
                worker.in_flight -= 1
                self._replied[position] = self._replied.get(position, 0) + 1
                done = position in self._sealed and self._replied[position] == self._submitted[position]
                self._lock.notify_all()
            if done:
                self._task_done(task)
        elif kind == "closed":
            worker.closed = (message[1], message[2])
        else:
            self._failed("a backup worker process failed: %s" % message[1])

    def _failed(self, message):
        with self._lock:
            first = self._failure is None
            if first:
                self._failure = message
            self._lock.notify_all()
        if first and self._fail is not None:
            self._fail(WorkerFailed(message))

    # Worker side --------------------------------------------------------------------------

    def _serve(self, pages, answers, spool, item_log):
        """The worker's loop; returns its exit status."""
        gc.disable()  # decoded items hold no cycles; the collector would only cost time
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):  # the module's stdout carries its result: a worker never writes there
            os.dup2(devnull, fd)
        try:
            writer = archive.ArchiveWriter(spool, self._compresslevel, self._mtime, fragment=True, item_log=item_log)
            while True:
                header = _read_exact(pages, _FRAME.size)
                if header is None:
                    return 1  # the parent went away
                position, length = _FRAME.unpack(header)
                if position == _STOP:
                    break
                data = _read_exact(pages, length)
                names, refs = self._archive_page(writer, self.tasks[position], data)
                _send(answers, ["page", position, names, refs])
            size = writer.close()
            spool.flush()
            item_log.file.flush()  # os._exit follows: nothing buffered may stay behind
            _send(answers, ["closed", size, writer.entries])
            return 0
        except Exception as error:
            try:
                _send(answers, ["failed", "%s: %s" % (type(error).__name__, error)])
            except OSError:
                pass
            return 1


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd, size):
    """Exactly ``size`` bytes from ``fd``, or None at end of file."""
    parts, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 4 * 1024 * 1024))
        if not chunk:
            return None
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _send(fd, message):
    _write_all(fd, json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
