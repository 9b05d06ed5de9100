# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's log as Velero writes it: logrus-style text lines (``backup=velero/<name>`` or
``restore=velero/<name>``), kept in a temporary file so memory stays flat in the item count."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shutil
import tempfile
import threading
import time

from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import VELERO_NAMESPACE
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339, utc_now

BACKUP, RESTORE = "backup", "restore"
RESTORE_STARTED, RESTORE_COMPLETED, RESTORE_FAILED = "Starting restore", "Restore completed", "Restore failed"
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@-]+$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_ESCAPE = re.compile(r"\\(.)")


def logfmt(value):
    """One logrus field value: bare when it needs no quoting, else quoted and escaped."""
    text = str(value)
    if _PLAIN.match(text):
        return text
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def parse_fields(line):
    """The fields of one line as ``RunLog`` writes it (``logfmt``'s quoting undone)."""
    return dict((key, _ESCAPE.sub(r"\1", value[1:-1]) if value.startswith('"') else value)
                for key, value in _FIELD.findall(line))


class RunLog(object):
    """The log of one backup or restore (``kind`` is ``backup`` or ``restore``)."""

    def __init__(self, name, kind=BACKUP):
        self.name = name
        self._subject = "%s=%s/%s" % (kind, VELERO_NAMESPACE, name)
        self._file = tempfile.TemporaryFile()
        self._lock = threading.Lock()
        self._stamp_second = None
        self._stamp = None

    def _timestamp(self):
        second = int(time.time())
        if second != self._stamp_second:  # formatting a time per line costs more than the rest of it
            self._stamp_second, self._stamp = second, rfc3339(utc_now())
        return self._stamp

    def _write(self, line):
        with self._lock:
            self._file.write(line.encode("utf-8"))

    def log(self, level, msg, **fields):
        extra = "".join(" %s=%s" % (k, logfmt(v)) for k, v in sorted(fields.items()) if v not in (None, ""))
        self._write('time="%s" level=%s msg=%s %s%s\n' % (self._timestamp(), level, logfmt(msg), self._subject, extra))

    def item(self, resource, namespace, name, additional):
        """The per-item line of a backup, formatted directly: it is written once per item."""
        self._write('time="%s" level=info msg="Backed up item" %s resource=%s%s name=%s%s\n' % (
            self._timestamp(), self._subject, resource,
            " namespace=" + namespace if namespace else "", name, " additional=true" if additional else ""))

    def items(self, resource, names, additional=False):
        """The per-item lines of many ``(namespace, name)`` of one type, written at once (a page's worth)."""
        if not names:
            return
        head = 'time="%s" level=info msg="Backed up item" %s resource=%s' % (self._timestamp(), self._subject, resource)
        tail = " additional=true\n" if additional else "\n"
        self._write("".join("%s%s name=%s%s" % (head, " namespace=" + namespace if namespace else "", name, tail)
                            for namespace, name in names))

    def info(self, msg, **fields):
        self.log("info", msg, **fields)

    def warning(self, msg, **fields):
        self.log("warning", msg, **fields)

    def error(self, msg, **fields):
        self.log("error", msg, **fields)

    def copy_to(self, out):
        """Copy the whole log into ``out`` (a file object), leaving the log open for more lines."""
        with self._lock:
            self._file.seek(0)
            shutil.copyfileobj(self._file, out, 1024 * 1024)
            self._file.seek(0, 2)

    def close(self):
        self._file.close()
