# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cancellation of a run by SIGTERM or SIGINT (an AWX cancel, a CronJob past its deadline, ^C).

The first signal sets ``REQUESTED`` and raises ``Cancelled`` in the main thread; work in other
threads (pod exec, item workers) looks at ``REQUESTED`` and stops. ``Cancelled`` is not an
``Exception``, so no handler meant for a failed item or request swallows it: it reaches the
run, which records it (log, results, progress: never Completed) and ends.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import signal
import threading

REQUESTED = threading.Event()
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_SHIELD = threading.Event()


class Cancelled(BaseException):
    def __init__(self, signum=None):
        self.signum = signum
        name = signal.Signals(signum).name if signum else "a signal"
        super(Cancelled, self).__init__("cancelled by %s before it ended" % name)


def install():
    """Handle SIGTERM and SIGINT in this (main) thread from now on."""
    def handler(signum, _frame):
        if REQUESTED.is_set():
            return  # a second signal: the cancellation is under way already
        REQUESTED.set()
        if not _SHIELD.is_set():
            raise Cancelled(signum)
    for signum in SIGNALS:
        signal.signal(signum, handler)


def check():
    """For work outside the main thread: stop here once a cancellation was asked for."""
    if REQUESTED.is_set():
        raise Cancelled()


class shielded(object):
    """A step that must not be cut in two (the commit of a backup): a signal during it is not
    raised; the step checks ``check()`` first, so a cancellation asked for before it wins and
    one asked for during it comes too late (the run ends as it was committed)."""

    def __enter__(self):
        _SHIELD.set()
        return self

    def __exit__(self, *exc):
        _SHIELD.clear()
        return False
