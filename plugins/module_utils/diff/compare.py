# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two sets of items compared without holding either: ``Comparison`` keeps one digest per item
of the first side (``before``), streams the second side (``after``) against them and keeps only
the after-version of the items that differ, in an anonymous spool file. A second stream of the
first side then pairs each changed item with its before-version, one at a time.

Memory: a key and a 16-byte digest per item of the first side, plus the keys of the items added
and changed; the items themselves never accumulate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.diff.normalize import canonical_json, comparable, digest

# What a first-side key holds once the second side had it too (a later copy of it is ignored).
MATCHED = None
_ABSENT = object()


class Comparison(object):
    """Feed ``add_before`` every item of the first side, then ``add_after`` every item of the
    second; ``pairs(before_items)`` then yields the changed items. Keys are
    ``(group_resource, namespace or "", name)``; the first copy of a key on a side counts."""

    def __init__(self, include_status=False, directory=None):
        self.include_status = include_status
        self._before = {}  # key: digest, or MATCHED
        self._added = set()
        self._changed = {}  # key: (offset, length) of its after-version in the spool
        self._unchanged = {}  # group_resource: count
        self._spool = tempfile.TemporaryFile(dir=directory)
        self._spool_size = 0

    def _canonical(self, item):
        return canonical_json(comparable(item, self.include_status))

    def add_before(self, key, item):
        if key not in self._before:
            self._before[key] = digest(self._canonical(item))

    def add_after(self, key, item):
        known = self._before.get(key, _ABSENT)
        if known is _ABSENT:
            self._added.add(key)
            return
        if known is MATCHED:
            return
        self._before[key] = MATCHED
        canonical = self._canonical(item)
        if digest(canonical) == known:
            self._unchanged[key[0]] = self._unchanged.get(key[0], 0) + 1
            return
        self._spool.seek(self._spool_size)
        self._spool.write(canonical)
        self._changed[key] = (self._spool_size, len(canonical))
        self._spool_size += len(canonical)

    def forget(self, group_resources):
        """Leave types out of the result (a side could not read them whole)."""
        group_resources = set(group_resources)
        if not group_resources:
            return
        for keys in (self._before, self._added, self._changed):
            for key in [k for k in keys if k[0] in group_resources]:
                if isinstance(keys, set):
                    keys.discard(key)
                else:
                    del keys[key]
        for gr in group_resources:
            self._unchanged.pop(gr, None)

    def added(self):
        return sorted(self._added)

    def removed(self):
        return sorted((k for k, v in self._before.items() if v is not MATCHED))

    def changed(self):
        return sorted(self._changed)

    def unchanged_count(self):
        return sum(self._unchanged.values())

    def unchanged_per_resource(self):
        return dict(self._unchanged)

    def before_count(self):
        return len(self._before)

    def after_count(self):
        return len(self._added) + sum(1 for v in self._before.values() if v is MATCHED)

    def pairs(self, before_items):
        """``(key, before, after)`` of every changed item, both as compared (``comparable``),
        in the order ``before_items`` (the first side, streamed again) holds them."""
        wanted = dict(self._changed)
        for key, item in before_items:
            reference = wanted.pop(key, None)
            if reference is None:
                continue
            offset, length = reference
            self._spool.seek(offset)
            yield key, comparable(item, self.include_status), json.loads(self._spool.read(length).decode("utf-8"))
            if not wanted:
                return

    def close(self):
        self._spool.close()
