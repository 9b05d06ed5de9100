# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Times and durations as Velero writes them: RFC 3339 stamps and Go durations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text, option="ttl", example="720h, 24h0m0s or 90m"):
    """Whole seconds in a Go duration string (``720h``, ``1h30m``, ``90s``); an int is seconds.

    Raises InvalidOptionError naming ``option``.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    value = str(text).strip()
    if value in ("0", ""):
        return 0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise InvalidOptionError("%s %r is not a duration such as %s" % (option, text, example))
    return int(total)


def format_duration(seconds):
    """Go's Duration.String() for whole seconds: ``720h0m0s``."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%dh%dm%ds" % (hours, minutes, secs)
    if minutes:
        return "%dm%ds" % (minutes, secs)
    return "%ds" % secs


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def parse_rfc3339(text):
    """The moment (UTC) of an RFC 3339 timestamp as this project writes it (``2026-12-02T07:00:00Z``),
    fractions and offsets accepted; None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)
