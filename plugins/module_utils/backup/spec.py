# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup options as the ``spec`` of a Velero Backup, and every check of them that needs
neither the cluster nor the storage."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kubedr.backup.plugins.module_utils.archive import manifest as integrity_manifest
from ansible_collections.kubedr.backup.plugins.module_utils.archive.velero import velero_hooks
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import DEFAULT_STORAGE_LOCATION
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import format_duration, parse_duration
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import parse_label_selector, to_label_selector
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.policies import parse_volume_policies

DEFAULT_TTL_SECONDS = 720 * 3600  # Velero's, for a zero TTL

# Options stored under Velero's field name as given.
_CAMEL_LIST_OPTIONS = {
    "excluded_namespaces": "excludedNamespaces",
    "included_resources": "includedResources",
    "excluded_resources": "excludedResources",
    "included_cluster_scoped_resources": "includedClusterScopedResources",
    "excluded_cluster_scoped_resources": "excludedClusterScopedResources",
    "included_namespace_scoped_resources": "includedNamespaceScopedResources",
    "excluded_namespace_scoped_resources": "excludedNamespaceScopedResources",
}


def _ttl(options):
    # Velero: a zero TTL means the default one.
    return format_duration(parse_duration(options.get("ttl") or "0") or DEFAULT_TTL_SECONDS)


def _hooks(option):
    hooks.parse_hooks_option(option)  # validates; raises InvalidOptionError on a bad shape
    return velero_hooks(option)


def backup_spec(options):
    """The ``spec`` of the stored velero.io/v1 Backup (Velero's field names; empty fields omitted
    as Go's omitempty does; the fields Velero's server fills in when a request leaves them out,
    as it fills them: ``snapshotMoveData`` false, else ``velero backup describe`` says "auto")."""
    spec = {
        "includedNamespaces": options.get("included_namespaces") or ["*"],
        "ttl": _ttl(options),
        "storageLocation": DEFAULT_STORAGE_LOCATION,
        "defaultVolumesToFsBackup": bool(options.get("default_volumes_to_fs_backup")),
        "snapshotMoveData": False,  # kubedr moves no CSI snapshot data
        "hooks": _hooks(options.get("hooks")),
        "metadata": {},
        "csiSnapshotTimeout": "10m0s",
        "itemOperationTimeout": "4h0m0s",
    }
    for option, field in _CAMEL_LIST_OPTIONS.items():
        if options.get(option):
            spec[field] = list(options[option])
    if options.get("include_cluster_resources") is not None:
        spec["includeClusterResources"] = bool(options["include_cluster_resources"])
    if options.get("label_selector"):
        spec["labelSelector"] = to_label_selector(parse_label_selector(options["label_selector"]))
    if options.get("or_label_selectors"):
        spec["orLabelSelectors"] = [to_label_selector(parse_label_selector(s))
                                    for s in options["or_label_selectors"]]
    ordered = selection.parse_ordered_resources(options.get("ordered_resources"))
    if ordered:
        spec["orderedResources"] = dict((k, ",".join(v)) for k, v in ordered.items())
    return spec


def validate_options(options):
    """Every check that needs no cluster and no storage; raises InvalidOptionError. Returns the spec."""
    selection.validate_object_name(options.get("name"), "backup name")
    selection.validate_filters(options)
    for key, value in (options.get("labels") or {}).items():
        parse_label_selector("%s=%s" % (key, value))
    signing_key(options)  # a bad key fails before anything is written
    parse_volume_policies(options.get("volume_policies"))
    return backup_spec(options)


def signing_key(options, environ=None):
    """The Ed25519 key that signs the backup's integrity manifest (``signing_key``, else
    KUBEDR_SIGNING_KEY), or None: the manifest is then written unsigned."""
    environ = os.environ if environ is None else environ
    value = options.get("signing_key") or environ.get(integrity_manifest.SIGNING_KEY_ENV)
    if not value:
        return None
    option = "signing_key" if options.get("signing_key") else integrity_manifest.SIGNING_KEY_ENV
    return integrity_manifest.load_signing_key(value, option)
