# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Prometheus text exposition format (version 0.0.4), written and read back (pure).

Written for the Pushgateway and for node-exporter's textfile collector, which both parse it with
Prometheus' own parser: ``# HELP`` and ``# TYPE`` once per family, before its samples; label values
escaped (backslash, double quote, newline); ``+Inf`` for the last histogram bucket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SAMPLE_NAME = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)")


def escape_label_value(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text):
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    """A sample value: integers without a fraction, ``+Inf``/``-Inf``/``NaN`` as Prometheus spells them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def format_labels(labels):
    if not labels:
        return ""
    for name in labels:
        if not _LABEL.match(name) or name.startswith("__"):
            raise ValueError("invalid label name %r" % name)
    return "{%s}" % ",".join('%s="%s"' % (name, escape_label_value(format_value(value) if name == "le" else value))
                             for name, value in sorted(labels.items()))


def format_family(family):
    if not _NAME.match(family.name):
        raise ValueError("invalid metric name %r" % family.name)
    lines = ["# HELP %s %s" % (family.name, escape_help(family.help)), "# TYPE %s %s" % (family.name, family.kind)]
    for suffix, labels, value in family.samples:
        lines.append("%s%s%s %s" % (family.name, suffix, format_labels(labels), format_value(value)))
    return "\n".join(lines) + "\n"


def format_families(families):
    """The exposition text of the families that have samples (a family without any, such as the
    volume bytes of a location with no readable volume records, is left out)."""
    return "".join(format_family(family) for family in families if family.samples)


def split_families(text):
    """{family name: its lines} of an exposition text, in order. A sample line belongs to the family
    its name starts with (``x_bucket`` to ``x`` when a ``# TYPE x`` came first)."""
    families = {}
    order = []
    current = None
    for line in (text or "").split("\n"):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                current = parts[2]
            else:
                continue
        else:
            match = _SAMPLE_NAME.match(line)
            if not match:
                continue
            name = match.group(1)
            if current is None or not (name == current or name.startswith(current + "_")):
                current = name
        if current not in families:
            families[current] = []
            order.append(current)
        families[current].append(line)
    return [(name, families[name]) for name in order]


def carry_over(previous_text, new_text, names):
    """``new_text`` plus the families of ``previous_text`` named in ``names`` that ``new_text``
    lacks: what a run that does not compute them (a backup run, for gc's outcome; a failed gc run,
    for the time of the last successful one) must not erase from a textfile."""
    present = set(name for name, _lines in split_families(new_text))
    kept = ["\n".join(lines) + "\n" for name, lines in split_families(previous_text) if name in names and name not in present]
    return new_text + "".join(kept)


def sample_values(text):
    """{(name, frozenset of label pairs): value} of an exposition text (comments skipped). Small
    and strict enough for tests and for reading a textfile back; not a full parser."""
    values = {}
    pattern = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in (text or "").split("\n"):
        if not line or line.startswith("#"):
            continue
        match = pattern.match(line.strip())
        if not match:
            continue
        labels = frozenset((k, re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v))
                           for k, v in label.findall(match.group(2) or ""))
        raw = match.group(3)
        values[(match.group(1), labels)] = float(raw.replace("Inf", "inf"))
    return values
