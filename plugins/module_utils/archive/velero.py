# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's documents of a backup: the velero.io/v1 Backup stored as ``velero-backup.json``
(its status and annotations), the progress object, and the parts of the spec that Velero
spells differently from the module options (hooks, label selectors)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import uuid

from ansible_collections.kubedr.backup.plugins.module_utils.archive.tarball import FORMAT_VERSION
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import (
    DEFAULT_STORAGE_LOCATION, RESOURCE_TIMEOUT_ANNOTATION, SOURCE_CLUSTER_K8S_ANNOTATION_PREFIX,
    STORAGE_LOCATION_LABEL, VELERO_NAMESPACE)
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_label_selector, to_label_selector

HOOK_LISTS = ("pre", "post")  # the hook lists of a spec.hooks.resources entry
RESOURCE_TIMEOUT = "10m0s"
# Annotation suffix -> field of the API server's /version answer.
_SOURCE_CLUSTER_VERSION = (("gitversion", "gitVersion"), ("major-version", "major"), ("minor-version", "minor"))


def _camel(key):
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def velero_selector(selector):
    """A label selector option (a string or a snake_case dict) as Velero's LabelSelector."""
    if isinstance(selector, str):
        return to_label_selector(parse_label_selector(selector))
    return dict((_camel(k), v) for k, v in (selector or {}).items())


def velero_hooks(option):
    """The ``hooks`` option (Velero's spec.hooks in snake_case, already validated) in Velero's
    field names."""
    resources = []
    for index, entry in enumerate((option or {}).get("resources") or []):
        converted = {"name": "hook-%d" % index}  # Velero requires a name; hooks.py names unnamed entries so
        for key, value in entry.items():
            if key == "label_selector":
                converted["labelSelector"] = velero_selector(value)
            elif key in HOOK_LISTS:
                converted[key] = [{"exec": dict((_camel(k), v) for k, v in (hook.get("exec") or {}).items())}
                                  for hook in value or []]
            else:
                converted[_camel(key)] = value
        resources.append(converted)
    return {"resources": resources} if resources else {}


def expiration(started, ttl_seconds):
    return rfc3339(started + datetime.timedelta(seconds=ttl_seconds))


def backup_status(phase, started, ttl_seconds, items, warnings, errors, completed=None, hooks=(0, 0)):
    """The Backup's ``status``; zero counts are omitted as Go's omitempty does. ``hooks``: the exec
    hooks attempted and failed, as Velero's ``hookStatus`` (present even when empty, as Velero
    writes it)."""
    attempted, failed = hooks
    status = {
        "version": 1,
        "formatVersion": FORMAT_VERSION,
        "phase": phase,
        "startTimestamp": rfc3339(started),
        "expiration": expiration(started, ttl_seconds),
        "progress": {"totalItems": items, "itemsBackedUp": items},
        "hookStatus": dict((key, count) for key, count in (("hooksAttempted", attempted), ("hooksFailed", failed))
                           if count),
    }
    if completed is not None:
        status["completionTimestamp"] = rfc3339(completed)
    if warnings:
        status["warnings"] = warnings
    if errors:
        status["errors"] = errors
    return status


def backup_annotations(server_version, extra=None):
    """The Backup's annotations: Velero's resource timeout, ``extra`` (the encryption parameters)
    and the source cluster's version fields that the server reported."""
    annotations = {RESOURCE_TIMEOUT_ANNOTATION: RESOURCE_TIMEOUT}
    annotations.update(extra or {})
    for key, field in _SOURCE_CLUSTER_VERSION:
        if server_version.get(field):
            annotations[SOURCE_CLUSTER_K8S_ANNOTATION_PREFIX + key] = server_version[field]
    return annotations


def backup_object(name, spec, status, labels=None, annotations=None, uid=None, created=None):
    """The velero.io/v1 Backup stored as velero-backup.json."""
    metadata_labels = dict(labels or {})
    metadata_labels[STORAGE_LOCATION_LABEL] = DEFAULT_STORAGE_LOCATION
    metadata = {
        "name": name,
        "namespace": VELERO_NAMESPACE,
        "uid": uid or str(uuid.uuid4()),
        "creationTimestamp": created,
        "labels": metadata_labels,
        "annotations": dict(annotations or {}),
        "generation": 1,
    }
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": metadata, "spec": spec, "status": status}
