# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Live progress of the pod volumes of a run (pure, thread-safe).

The node agent's uploader prints JSON status lines while it works (restic: ``message_type``
``status`` with ``bytes_done``, ``total_bytes`` and ``seconds_remaining`` while backing up,
``bytes_restored`` and ``total_bytes`` while restoring); ``StatusLines``
reads them from the output as it arrives and ``VolumeProgress`` sums them over the volumes of a
run, for the run's progress object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.kubedr.backup.plugins.module_utils.volumes.restic import json_message

MAX_PENDING_LINE = 1 << 16  # a status line is a few hundred bytes; a longer one is not a status line


class VolumeProgress(object):
    """Counts and bytes of a run's volumes. ``expect(n, total_bytes)`` announces the work;
    ``update`` records a running volume's status; ``finish`` a volume's end."""

    def __init__(self):
        self._lock = threading.Lock()
        self.total = 0
        self.expected_bytes = 0  # bytes known before the volumes run (a restore's snapshot sizes)
        self._running = {}  # key -> (bytes_done, total_bytes, seconds_remaining)
        self._done = 0
        self._failed = 0
        self._done_bytes = 0
        self._sizes = {}  # key -> bytes known beforehand

    def expect(self, count):
        with self._lock:
            self.total += count

    def expect_sizes(self, sizes):
        """Volumes whose sizes are known beforehand ({key: bytes}): a restore's snapshots."""
        with self._lock:
            self.total += len(sizes)
            self.expected_bytes += sum(sizes.values())
            self._sizes.update(sizes)

    def update(self, key, bytes_done, total_bytes, seconds_remaining=None):
        with self._lock:
            self._running[key] = (bytes_done or 0, total_bytes or 0, seconds_remaining)

    def finish(self, key, nbytes=None, failed=False):
        """A volume ended; ``nbytes`` None: its size given to ``expect_sizes``."""
        with self._lock:
            self._running.pop(key, None)
            self._done += 1
            if failed:
                self._failed += 1
            else:
                self._done_bytes += (self._sizes.get(key, 0) if nbytes is None else nbytes) or 0

    def document(self):
        """The ``volumes`` part of a progress object, and the ETA in seconds (None when unknown)."""
        with self._lock:
            running_done = sum(done for done, _total, _eta in self._running.values())
            running_total = sum(total for _done, total, _eta in self._running.values())
            bytes_done = self._done_bytes + running_done
            known_total = self._done_bytes + running_total
            volumes = {
                "total": self.total,
                "done": self._done,
                "failed": self._failed,
                "bytesDone": bytes_done,
                "totalBytes": max(self.expected_bytes, known_total),
            }
            pending = self.total - self._done - len(self._running)
            etas = [eta for _done, _total, eta in self._running.values() if eta is not None]
        if pending <= 0 and etas:
            # Every volume has started: the slowest running one ends the run's volume work.
            return volumes, int(max(etas))
        return volumes, None


class StatusLines(object):
    """Feeds the status lines of one command's output, chunk by chunk, to ``VolumeProgress``."""

    def __init__(self, progress, key):
        self.progress = progress
        self.key = key
        self._pending = b""

    def __call__(self, chunk):
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_PENDING_LINE:
            self._pending = b""
        for line in lines:
            status = parse_status_line(line)
            if status is not None:
                self.progress.update(self.key, *status)


def parse_status_line(line):
    """(bytes_done, total_bytes, seconds_remaining) of a restic JSON status line (backup's
    bytes_done, or restore's bytes_restored plus bytes_skipped: 0.16 and later); None for any other line."""
    line = line.strip()
    if not line.startswith(b"{") or b'"status"' not in line:
        return None
    message = json_message(line)
    if message is None or message.get("message_type") != "status":
        return None
    if "bytes_done" in message or "bytes_restored" not in message:
        done = message.get("bytes_done")
    else:
        done = message.get("bytes_restored")
        skipped = message.get("bytes_skipped")
        if isinstance(done, (int, float)) and isinstance(skipped, (int, float)):
            done += skipped
    numbers = [done, message.get("total_bytes"), message.get("seconds_remaining")]
    if not all(value is None or isinstance(value, (int, float)) for value in numbers):
        return None
    return numbers[0] or 0, numbers[1] or 0, numbers[2]
