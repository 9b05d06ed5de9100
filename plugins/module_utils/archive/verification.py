# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a restore drill (pure): ``backups/<name>/<name>-verification-<stamp>.json``, one per drill,
and the view of it that ``k8s_backup_info`` shows as ``last_verification``.

A record holds what the drill did and how it ended, never a secret: the backup and restore names, where
it restored (namespace mapping, a cluster label the user gives, never a kubeconfig), the workloads that
became ready or not, the step that failed and its message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

KIND = "BackupVerification"
API_VERSION = "kubedr.io/v1"
PHASES = ("Passed", "Failed")
MAX_TEXT = 2000  # a failure message is a summary, not a log


def _text(value, option):
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidOptionError("%s must be a string" % option)
    return value[:MAX_TEXT]


def _names(value, option):
    value = value or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidOptionError("%s must be a list of strings" % option)
    return sorted(value)


def build_record(backup_name, options, started, finished):
    """The record of one drill from the module's options; ``started``/``finished`` are RFC 3339 times."""
    phase = options.get("phase")
    if phase not in PHASES:
        raise InvalidOptionError("phase must be one of %s, not %r" % (", ".join(PHASES), phase))
    mapping = options.get("namespace_mapping") or {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InvalidOptionError("namespace_mapping must map namespace names to namespace names")
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "backupName": backup_name,
        "phase": phase,
        "startTimestamp": started,
        "completionTimestamp": finished,
        "restoreName": _text(options.get("restore_name"), "restore_name"),
        "namespaceMapping": dict(sorted(mapping.items())),
        "cluster": _text(options.get("cluster"), "cluster"),
        "readyWorkloads": _names(options.get("ready_workloads"), "ready_workloads"),
        "notReadyWorkloads": _names(options.get("not_ready_workloads"), "not_ready_workloads"),
        "failedStep": _text(options.get("failed_step"), "failed_step"),
        "message": _text(options.get("failure_message"), "failure_message"),
    }


def encode(record):
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def view(record, url):
    """``last_verification`` of a backup: the outcome of its newest drill record."""
    if not isinstance(record, dict) or record.get("kind") != KIND:
        return {"phase": "Unknown", "completion_timestamp": None, "message": "unreadable drill record", "record": url}
    return {
        "phase": record.get("phase"),
        "start_timestamp": record.get("startTimestamp"),
        "completion_timestamp": record.get("completionTimestamp"),
        "restore_name": record.get("restoreName"),
        "namespace_mapping": record.get("namespaceMapping") or {},
        "cluster": record.get("cluster"),
        "not_ready_workloads": record.get("notReadyWorkloads") or [],
        "failed_step": record.get("failedStep"),
        "message": record.get("message"),
        "record": url,
    }
