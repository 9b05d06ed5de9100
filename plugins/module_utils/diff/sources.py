# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two sides of a comparison, each read as a stream of ``(key, item)`` where key is
``(group_resource, namespace or "", name)``: a backup's tarball (downloaded once into an
anonymous temporary file, read as often as needed) or the live cluster (LIST per type, page
by page). Neither side is ever held in memory whole."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball
from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import (
    ArchiveError,
    ClusterError,
    InvalidOptionError,
    NotFoundError,
)
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import download_to_tempfile

COMPARABLE_PHASES = (results.COMPLETED, results.PARTIALLY_FAILED)
# A type the caller may not list (403) or the server cannot list (404, 405): warned about and
# left out of the comparison, instead of reporting every one of its items as removed.
NOT_LISTABLE = frozenset([403, 404, 405])


# ---------------------------------------------------------------- which backup

def find_backup(store, backup_name=None, schedule_name=None):
    """``(name, velero-backup.json)`` of the backup named, or of the newest Completed backup of a
    schedule (label velero.io/schedule-name, newest by start time). Clear errors for unknown
    backups and for phases whose archive is not whole."""
    if schedule_name:
        candidates = []
        for name in store.list_backups():
            document = store.backup_metadata(name) or {}
            labels = (document.get("metadata") or {}).get("labels") or {}
            status = document.get("status") or {}
            if labels.get(kr.SCHEDULE_NAME_LABEL) == schedule_name and status.get("phase") == results.COMPLETED:
                candidates.append((status.get("startTimestamp") or "", name, document))
        if not candidates:
            raise NotFoundError("no Completed backup of schedule %s (label %s=%s) in the storage location"
                                % (schedule_name, kr.SCHEDULE_NAME_LABEL, schedule_name))
        _started, name, document = max(candidates, key=lambda c: (c[0], c[1]))
        return name, document
    document = store.backup_metadata(backup_name)
    if document is None:
        raise NotFoundError("backup %s not found in the storage location (no %s under %s)"
                            % (backup_name, layout.BACKUP_METADATA, store.url(layout.backup_dir(backup_name))))
    phase = (document.get("status") or {}).get("phase")
    if phase not in COMPARABLE_PHASES:
        raise InvalidOptionError("backup %s is in phase %s; only Completed or PartiallyFailed backups can be "
                                 "compared" % (backup_name, phase or "(none)"))
    return backup_name, document


def backup_side(name, document):
    """How the result names a backup side."""
    status = document.get("status") or {}
    labels = (document.get("metadata") or {}).get("labels") or {}
    return {"kind": "backup", "name": name, "phase": status.get("phase"),
            "start_timestamp": status.get("startTimestamp"), "schedule": labels.get(kr.SCHEDULE_NAME_LABEL)}


def partial_warning(name, document):
    """A warning when a PartiallyFailed backup is compared (None otherwise)."""
    if (document.get("status") or {}).get("phase") != results.PARTIALLY_FAILED:
        return None
    return ("backup %s is PartiallyFailed: items it could not back up are missing from it and show as added "
            "(or not as removed)" % name)


# ---------------------------------------------------------------- a backup's items

def _is_item_copy(path, parsed):
    """The plain copy of an item, or the copy under ``<version>-preferredversion/`` (the same
    item); not the copies in the other versions of Velero's EnableAPIGroupVersions."""
    if parsed.version is None:
        return True
    prefix = "%s/%s/%s%s/" % (tarball.RESOURCES_DIR, parsed.group_resource, parsed.version,
                              tarball.PREFERRED_VERSION_SUFFIX)
    return path.startswith(prefix)


class BackupItems(object):
    """The items of one backup. The tarball is downloaded once into an anonymous file in
    ``directory`` (decrypted on the way when ``store`` is an encrypting store) and streamed at
    every ``items()``. An item may come twice (plain and preferred-version copy): callers keep
    the first."""

    def __init__(self, store, name, directory, max_total_size=tarball.DEFAULT_MAX_TOTAL_SIZE):
        self.name = name
        self.max_total_size = max_total_size
        self.unlisted = set()  # a backup lists everything it holds
        key = layout.backup_keys(name)["tarball"]
        self._handle = download_to_tempfile(store, key, directory)

    def items(self):
        self._handle.seek(0)
        for path, data in tarball.iter_archive(self._handle, self.max_total_size):
            parsed = tarball.parse_item_path(path)
            if parsed is None or not _is_item_copy(path, parsed):
                continue
            try:
                item = json.loads(data.decode("utf-8"))
            except ValueError as error:
                raise ArchiveError("backup %s: archive entry %s is not valid JSON: %s" % (self.name, path, error))
            if not isinstance(item, dict):
                raise ArchiveError("backup %s: archive entry %s is not a JSON object" % (self.name, path))
            yield (parsed.group_resource, parsed.namespace or "", parsed.name), item

    def close(self):
        self._handle.close()


# ---------------------------------------------------------------- the cluster's items

def listed_namespaces(scope):
    """The namespaces to list namespaced types in one by one (the names given, when every
    included namespace is a plain name), or None to list them cluster-wide."""
    includes = scope.selection.namespaces.includes
    if not includes or "*" in includes or any(selection.is_glob(name) for name in includes):
        return None
    return sorted(name for name in set(includes) if scope.selection.namespace_included(name))


class ClusterItems(object):
    """The live items of the types in scope, each read in the version the backup holds it in
    (``versions``: group_resource to ``(apiVersion, kind)`` as found in the backup) when the
    cluster serves that version, else in the server-preferred one. ``warn(message)`` hears of
    types read in another version or that cannot be listed; the latter are in ``unlisted``."""

    def __init__(self, kube, discovery, scope, versions, warn):
        self.kube = kube
        self.discovery = discovery
        self.scope = scope
        self.versions = versions
        self.warn = warn
        self.unlisted = set()

    def read_version(self, api_resource):
        """The ApiResource to list ``api_resource``'s items through (see the class doc)."""
        gr = api_resource.group_resource
        stored = self.versions.get(gr)
        if stored is None or stored[0] == api_resource.group_version:
            return api_resource
        found = self.discovery.find_kind(stored[0], stored[1])
        if found is not None and found.group_resource == gr and "list" in found.verbs:
            return found
        self.warn("%s: the backup holds version %s, which the cluster no longer serves; live items are read in %s, "
                  "so every item differs at least in apiVersion" % (gr, stored[0], api_resource.group_version))
        return api_resource

    def items(self):
        namespaces = listed_namespaces(self.scope)
        label_selector = self.scope.selection.list_label_selector()
        for listed in self.scope.listed_types():
            api_resource = self.read_version(listed)
            # Namespaces are taken by name, never by label (as a backup takes them).
            selector = None if listed.group_resource == kr.NAMESPACES else label_selector
            where = namespaces if api_resource.namespaced and namespaces is not None else [None]
            for namespace in where:
                try:
                    for page in self.kube.list_pages(api_resource, namespace, selector):
                        for item in page:
                            metadata = item.get("metadata") or {}
                            item_namespace = (metadata.get("namespace") or "") if api_resource.namespaced else ""
                            yield (listed.group_resource, item_namespace, metadata.get("name")), item
                except ApiException as error:
                    self._list_failed(listed.group_resource, namespace, error)

    def _list_failed(self, group_resource, namespace, error):
        where = " in namespace %s" % namespace if namespace else ""
        reason = describe_api_error(error)
        if error.status not in NOT_LISTABLE:
            raise ClusterError("cannot list %s%s: %s" % (group_resource, where, reason))
        self.unlisted.add(group_resource)
        self.warn("cannot list %s%s (%s): %s is left out of the comparison"
                  % (group_resource, where, reason, group_resource))
