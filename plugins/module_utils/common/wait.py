# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one wait helper: poll a predicate on a monotonic clock until it holds or time runs out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.kubedr.backup.plugins.module_utils.common import cancel


class Deadline(object):
    """A point on the monotonic clock; ``remaining()`` never goes below zero."""

    def __init__(self, timeout, clock=time.monotonic):
        self._clock = clock
        self._end = clock() + timeout

    def remaining(self):
        return max(0.0, self._end - self._clock())

    def expired(self):
        return self._clock() >= self._end


def poll(predicate, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """Call ``predicate()`` until it returns a truthy value, and return that value.

    Returns the last (falsy) value when ``timeout`` seconds pass first: the caller decides
    what a timeout means. The predicate is always called at least once, and once more at
    the deadline, so a condition that becomes true during the last sleep is seen. A cancelled
    run (common/cancel.py) stops waiting at the next round, in any thread.
    """
    deadline = Deadline(timeout, clock)
    while True:
        cancel.check()
        result = predicate()
        if result:
            return result
        remaining = deadline.remaining()
        if remaining <= 0:
            return result
        sleep(min(interval, remaining))


class Repeating(object):
    """A context in which ``action()`` runs every ``interval`` seconds in a daemon thread (a
    progress object kept fresh, a lease renewed); leaving it stops the thread and waits for it."""

    def __init__(self, interval, action, name="kubedr-repeating"):
        self.interval = interval
        self.action = action
        self.name = name
        self._stop = threading.Event()
        self._thread = None

    def _run(self):
        while not self._stop.wait(self.interval):
            self.action()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name=self.name)
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
