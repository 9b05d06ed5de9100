# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What of an item counts when two versions of it are compared, and how a difference is told.
Pure functions over items as the API returned them (plain dicts); inputs are never modified.

An item is compared without what changes by itself and is nobody's change: the server's
bookkeeping in ``metadata`` (resourceVersion, uid, generation, creationTimestamp, managedFields,
selfLink), ``status`` (unless asked for) and the labels a restore adds (velero.io/backup-name,
velero.io/restore-name). Two versions are equal when their canonical JSON (sorted keys) is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import hashlib
import json
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr

IGNORED_METADATA_FIELDS = ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields", "selfLink")
RESTORE_LABELS = (kr.BACKUP_NAME_LABEL, kr.RESTORE_NAME_LABEL)
DIGEST_SIZE = 16  # bytes of BLAKE2b per item: the one thing kept for every item of the first side
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def comparable(item, include_status=False):
    """A copy of ``item`` with only what a comparison looks at (see the module doc)."""
    result = dict(item)
    if not include_status:
        result.pop("status", None)
    metadata = dict(result.get("metadata") or {})
    for key in IGNORED_METADATA_FIELDS:
        metadata.pop(key, None)
    labels = metadata.get("labels")
    if isinstance(labels, dict) and any(label in labels for label in RESTORE_LABELS):
        labels = dict((k, v) for k, v in labels.items() if k not in RESTORE_LABELS)
        if labels:
            metadata["labels"] = labels
        else:
            del metadata["labels"]
    result["metadata"] = metadata
    return result


def canonical_json(obj):
    """Compact JSON with sorted keys: equal objects give equal bytes."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def digest(canonical):
    """The fingerprint of an item's canonical JSON."""
    return hashlib.blake2b(canonical, digest_size=DIGEST_SIZE).digest()


def _step(path, key):
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    if _PLAIN_KEY.match(key):
        return "%s.%s" % (path, key) if path else key
    return "%s[%s]" % (path, json.dumps(key))


def changed_paths(before, after, path=""):
    """The paths of the fields that differ, sorted: ``data.color``, ``spec.template.spec.
    containers[0].image``, ``metadata.labels["app.kubernetes.io/name"]``. A list whose length
    changed is one path; so is a field that changed type. Values never appear."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in before or key not in after:
                paths.append(_step(path, key))
            elif before[key] != after[key]:
                paths.extend(changed_paths(before[key], after[key], _step(path, key)))
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        for index, (old, new) in enumerate(zip(before, after)):
            if old != new:
                paths.extend(changed_paths(old, new, _step(path, index)))
        return paths
    return [path] if before != after else []


def pretty_lines(obj):
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def unified_diff(before, after, before_header, after_header, context=3):
    """A unified text diff of two objects shown as indented JSON with sorted keys."""
    lines = difflib.unified_diff(pretty_lines(before), pretty_lines(after), before_header, after_header,
                                 n=context, lineterm="")
    return "\n".join(lines) + "\n"
