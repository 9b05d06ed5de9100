# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes Secret objects shown to a user (a restore's plan and diffs, the diff of two
backups): their values replaced by a marker, so that no output ever holds one. Pure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import LAST_APPLIED_ANNOTATION

HIDDEN = "<hidden>"
CHANGED = HIDDEN + " (changed)"
SECRET_KIND = "Secret"
SECRET_VALUE_FIELDS = ("data", "stringData")


def hide_secret_values(obj):
    """A copy of a Secret for diffs and plans: every value of data/stringData and the
    last-applied annotation (which repeats them) replaced by a marker. Other objects are
    returned as they are."""
    if not isinstance(obj, dict) or obj.get("kind") != SECRET_KIND:
        return obj
    obj = copy.deepcopy(obj)
    for key in SECRET_VALUE_FIELDS:
        if isinstance(obj.get(key), dict):
            obj[key] = dict((k, HIDDEN) for k in obj[key])
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED_ANNOTATION in annotations:
        annotations[LAST_APPLIED_ANNOTATION] = HIDDEN
    return obj


def secret_diff(before, after):
    """Hide secret values in a before/after pair, but keep telling changed values apart: a value
    present on both sides that differs reads ``<hidden> (changed)`` on the after side."""
    hidden_before, hidden_after = hide_secret_values(before), hide_secret_values(after)
    if not isinstance(before, dict) or before.get("kind") != SECRET_KIND or hidden_after is after:
        return hidden_before, hidden_after
    for key in SECRET_VALUE_FIELDS:
        old, new = before.get(key) or {}, (after or {}).get(key) or {}
        if not isinstance(old, dict) or not isinstance(new, dict):
            continue
        for name in new:
            if name in old and old[name] != new[name]:
                hidden_after[key][name] = CHANGED
    return hidden_before, hidden_after
