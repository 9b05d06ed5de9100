# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The progress object of a running backup or restore (``<name>-progress.json``).

Readers (``k8s_backup_info``, the playbooks' wait) poll it while the run goes on, so it is
rewritten at most every ``interval`` seconds, by whichever thread reports progress first; a
write that fails never fails the run. On an object-lock location nothing is rewritten: the store
writes each version under a numbered key (``layout.numbered_key``) and readers take the last.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import threading
import time

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import Repeating

DEFAULT_INTERVAL = 5.0  # seconds between rewrites
# On an object-lock location each write is a new object kept until the backup expires (storage/s3.py
# numbers them): fewer of them, still well inside info/progress.py's DEFAULT_STALE_AFTER.
WRITE_ONCE_INTERVAL = 30.0


def progress_document(phase, started, updated, done, total, volumes=None, eta_seconds=None, done_key="itemsBackedUp",
                      extra=None):
    """A progress object. ``done_key``: ``itemsBackedUp`` for a backup (Velero's name),
    ``itemsRestored`` for a restore. ``volumes``: VolumeProgress.document()'s counts and bytes."""
    document = {"phase": phase, "startTimestamp": rfc3339(started), "updateTimestamp": rfc3339(updated),
                "totalItems": total, done_key: done, "etaSeconds": eta_seconds}
    if volumes is not None:
        document["volumes"] = volumes
    document.update(extra or {})
    return document


class ProgressRecorder(object):
    """Writes ``build(phase)`` (a progress document) to ``store`` under ``key``: ``report`` at
    most every ``interval`` seconds and never waiting for another thread's write, ``force``
    always. Disabled (a reader-only location, check mode) it does nothing."""

    def __init__(self, store, key, build, interval=DEFAULT_INTERVAL, enabled=True, clock=time.monotonic):
        self.store = store
        self.key = key
        self.build = build
        self.interval = interval
        self.enabled = enabled
        self.clock = clock
        self._lock = threading.Lock()
        self._last = None

    def report(self, phase):
        if not self.enabled or (self._last is not None and self.clock() - self._last < self.interval):
            return
        if not self._lock.acquire(False):
            return  # another thread is writing it now
        try:
            self._write(phase)
        finally:
            self._lock.release()

    def force(self, phase):
        if not self.enabled:
            return
        with self._lock:
            self._write(phase)

    def ticking(self, phase):
        """A context in which the object is rewritten every ``interval`` seconds by a timer thread
        (work that reports nothing itself, such as volume uploads, stays visible)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return Repeating(self.interval, lambda: self.report(phase), name="kubedr-progress")

    def _write(self, phase):
        self._last = self.clock()
        try:
            data = json.dumps(self.build(phase), sort_keys=True).encode("utf-8") + b"\n"
            self.store.put_bytes(self.key, data)
        except KubedrError:
            pass  # progress is for watchers; the run's own outcome is recorded elsewhere
