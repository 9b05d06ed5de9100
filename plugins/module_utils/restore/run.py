# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""The restore pipeline: storage -> safe extraction -> items -> filters, mapping, ordering -> cluster.

1. The backup is resolved (``backup_name``, or the newest Completed backup of ``schedule_name``)
   and checked (committed, Completed or PartiallyFailed).
2. Its tarball is downloaded into an anonymous temporary file and its items are copied, one after
   the other, into a single anonymous spool file in a private temporary directory
   (``archive.iter_archive`` refuses absolute paths, ``..``, links and devices; this module also
   caps the size including tar headers, keeps only ``metadata/`` and ``resources/`` and checks
   that every item is a JSON object with a name). Only names and spool offsets are kept in
   memory: items are read back one at a time, tier by tier. One file, not one per item: creating
   and removing a file per item cost a third of a restore's CPU time, in the filesystem.
3. Filters (``selection``), namespace mapping and the priority tiers (``restore_plan``) decide
   what is restored and in which order: CRDs first (then wait until Established and refresh
   discovery), namespaces before their items, then the priority list.
4. Each item is prepared (``restore_actions.prepare_for_restore``: skip rules, item action,
   metadata reset, resource modifiers, mapping) and created by a bounded pool of workers,
   concurrently within a tier. An item that exists already follows ``existing_resource_policy``.
5. The log, the results and the resource list go under ``restores/<name>/`` (not for a ReadOnly
   location, not in check mode).

Volume data: pods whose volumes have file-system backups are handed, after every tier is done, to
a ``PodVolumeRestorer`` (see below): ``fs_backup.NodeAgentVolumeRestorer`` (restic in the node
agents) when ``repository_password`` is given; without it such volumes are reported as warnings.
"""

import array
import copy
import gc
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import node_agent as fs_backup
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import hooks
from ansible_collections.kubedr.backup.plugins.module_utils.archive import results
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.restore import item_actions as actions
from ansible_collections.kubedr.backup.plugins.module_utils.restore import plan
from ansible_collections.kubedr.backup.plugins.module_utils.storage import store as storage_mod
from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog
from ansible_collections.kubedr.backup.plugins.module_utils.archive.runlog import RunLog
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import (
    ArchiveError,
    ClusterError,
    InvalidOptionError,
    KubedrError,
    NotFoundError,
)
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.node_agent import VolumeRestore
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import ApiException, ApiResource, KubeClient, api_path, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.restore.modifiers import ModifierError, validate_modifiers

SCHEDULE_LABEL = "velero.io/schedule-name"
RESTORABLE_PHASES = (results.COMPLETED, results.PARTIALLY_FAILED)
POLICIES = ("none", "update", "recreate")
# Deleting these would delete far more than the item (every custom resource of a CRD, every
# object of a namespace): under `recreate` they are updated in place instead.
NEVER_DELETED = frozenset([plan.CRD_GROUP_RESOURCE, selection.NAMESPACES])
DEFAULT_WORKERS = 16
DEFAULT_MAX_ARCHIVE_SIZE = "8Gi"
TAR_HEADER_SIZE = 512
CRD_ESTABLISHED_TIMEOUT = 60.0
DISCOVERY_TIMEOUT = 60.0
TERMINATING_TIMEOUT = 600.0  # Velero's resourceTerminatingTimeout
DELETE_TIMEOUT = 120.0
POLL_INTERVAL = 0.5

CREATED, UPDATED, SKIPPED, FAILED = "created", "updated", "skipped", "failed"
OUTCOMES = (CREATED, UPDATED, SKIPPED, FAILED)
# What check mode reports per item.
PLAN_CREATE, PLAN_UPDATE, PLAN_RECREATE = "create", "update", "recreate"
PLAN_SKIP, PLAN_SKIP_IDENTICAL, PLAN_SKIP_DIFFERS, PLAN_FAIL = "skip", "skip_identical", "skip_differs", "fail"
PLAN_OUTCOME = {PLAN_CREATE: CREATED, PLAN_UPDATE: UPDATED, PLAN_RECREATE: CREATED, PLAN_SKIP: SKIPPED,
                PLAN_SKIP_IDENTICAL: SKIPPED, PLAN_SKIP_DIFFERS: SKIPPED, PLAN_FAIL: FAILED}
HIDDEN = "<hidden>"

_SIZE = re.compile(r"^\s*(\d+)\s*(|k|K|Ki|M|Mi|G|Gi|T|Ti)B?\s*$")
_SIZE_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
               "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


# ---------------------------------------------------------------- options (pure)

def parse_size(value, option="max_archive_size"):
    """Bytes in ``1048576``, ``512Mi``, ``8Gi``, ``2G``."""
    match = _SIZE.match(str(value))
    if not match or int(match.group(1)) <= 0:
        raise InvalidOptionError("%s %r is not a size such as 512Mi, 8Gi or a number of bytes" % (option, value))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def default_restore_name(backup_name, moment):
    """``<backup>-<YYYYmmddHHMMSS>``, as ``velero restore create --from-backup`` names it."""
    return "%s-%s" % (backup_name, moment.strftime("%Y%m%d%H%M%S"))


def validate_options(options):
    """Checks that need neither cluster nor storage; returns the normalised options."""
    options = dict(options)
    if bool(options.get("backup_name")) == bool(options.get("schedule_name")):
        raise InvalidOptionError("give exactly one of backup_name and schedule_name")
    for key in ("backup_name", "schedule_name", "name"):
        if options.get(key):
            selection.validate_object_name(options[key], key.replace("_", " "))
    selection.validate_filters(options)
    plan.check_included_resources_restorable(options.get("included_resources"))
    policy = options.get("existing_resource_policy") or "none"
    if policy not in POLICIES:
        raise InvalidOptionError("existing_resource_policy must be one of %s, not %r" % (", ".join(POLICIES), policy))
    options["existing_resource_policy"] = policy
    options["namespace_mapping"] = plan.validate_namespace_mapping(options.get("namespace_mapping"))
    options["resource_modifiers"] = validate_modifiers(options.get("resource_modifiers"))
    plan.parse_priorities(options.get("priorities"))
    workers = DEFAULT_WORKERS if options.get("workers") is None else options["workers"]
    if not isinstance(workers, int) or workers < 1 or workers > 256:
        raise InvalidOptionError("workers must be a number from 1 to 256, not %r" % (workers,))
    options["workers"] = workers
    options["max_archive_size"] = parse_size(options.get("max_archive_size") or DEFAULT_MAX_ARCHIVE_SIZE)
    status = options.get("restore_status") or {}
    if not isinstance(status, dict) or set(status) - set(["included_resources", "excluded_resources"]):
        raise InvalidOptionError("restore_status must be a dict with included_resources and/or excluded_resources")
    selection.validate_includes_excludes("resources (restore_status)", status.get("included_resources"),
                                         status.get("excluded_resources"))
    options["restore_status"] = status
    options["restore_hooks"] = hooks.parse_restore_hooks_option(options.get("hooks"))
    if options.get("restore_pvs") is None:
        options["restore_pvs"] = True
    return options


def restore_status_resources(status_option, group_resources, api_resources):
    """The group-resources whose status is restored (Velero's spec.restoreStatus: nothing unless
    included_resources names them; ``*`` = all but the excluded)."""
    includes = selection.resolve_resource_patterns(status_option.get("included_resources"), api_resources)
    if not includes:
        return frozenset()
    excludes = selection.resolve_resource_patterns(status_option.get("excluded_resources"), api_resources)
    chosen = selection.IncludesExcludes(includes, excludes)
    return frozenset(gr for gr in group_resources if chosen.should_include(gr))


def hide_secret_values(obj):
    """A copy of a Secret for diffs and plans: every value of data/stringData and the
    last-applied annotation (which repeats them) replaced by a marker."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    obj = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if isinstance(obj.get(key), dict):
            obj[key] = dict((k, HIDDEN) for k in obj[key])
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if actions.LAST_APPLIED_ANNOTATION in annotations:
        annotations[actions.LAST_APPLIED_ANNOTATION] = HIDDEN
    return obj


def secret_diff(before, after):
    """Hide secret values in a before/after pair, but keep telling changed values apart."""
    hidden_before, hidden_after = hide_secret_values(before), hide_secret_values(after)
    if before.get("kind") != "Secret":
        return hidden_before, hidden_after
    for key in ("data", "stringData"):
        old, new = before.get(key) or {}, after.get(key) or {}
        for name in new:
            if name in old and old[name] != new[name]:
                hidden_after[key][name] = HIDDEN + " (changed)"
    return hidden_before, hidden_after


# ---------------------------------------------------------------- the extracted archive

class PackedRecords(object):
    """Records of ``width`` strings (or None) kept in one growing buffer, not as Python objects.

    Per-item records that live for the whole restore, allocated between the many short-lived
    item dicts, would pin the memory pools those dicts are freed into: the process would grow
    with the item count even though the items themselves are not kept."""

    _LENGTH = struct.Struct("!I")
    _NONE = 0xFFFFFFFF

    def __init__(self, width):
        self.width = width
        self._buffer = bytearray()
        self._count = 0

    def append(self, *fields):
        if len(fields) != self.width:
            raise ValueError("a record has %d fields, not %d" % (self.width, len(fields)))
        for field in fields:
            if field is None:
                self._buffer += self._LENGTH.pack(self._NONE)
            else:
                data = field.encode("utf-8", "surrogatepass")
                self._buffer += self._LENGTH.pack(len(data))
                self._buffer += data
        self._count += 1

    def __len__(self):
        return self._count

    def __iter__(self):
        buffer, unpack, size = bytes(self._buffer), self._LENGTH.unpack_from, self._LENGTH.size
        position = 0
        for _record in range(self._count):
            fields = []
            for _field in range(self.width):
                (length,) = unpack(buffer, position)
                position += size
                if length == self._NONE:
                    fields.append(None)
                else:
                    fields.append(buffer[position:position + length].decode("utf-8", "surrogatepass"))
                    position += length
            yield tuple(fields)


class ItemEntries(object):
    """``(source namespace or None, name, spool reference)`` of items, in the order added: the
    names packed (``PackedRecords``), the spool offsets and lengths in two arrays."""

    def __init__(self):
        self._names = PackedRecords(2)
        self._offsets = array.array("Q")
        self._lengths = array.array("Q")

    def append(self, namespace, name, reference):
        self._names.append(namespace, name)
        self._offsets.append(reference[0])
        self._lengths.append(reference[1])

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        for (namespace, name), offset, length in zip(self._names, self._offsets, self._lengths):
            yield namespace, name, (offset, length)


class GroupIndex(object):
    """The items of one group-resource in the archive: names and spool references only."""

    def __init__(self, group_resource, namespaced):
        self.group_resource = group_resource
        self.namespaced = namespaced
        self.entries = ItemEntries()
        self.preferred_only = ItemEntries()  # entries found only under <version>-preferredversion/

    def items(self):
        return self.entries if len(self.entries) else self.preferred_only


class ExtractedBackup(object):
    """The items of a Velero tarball in one spool file (anonymous, in a private directory), with
    an index of them by group-resource."""

    def __init__(self, directory):
        self.groups = {}
        self.format_version = None
        self._spool = tempfile.TemporaryFile(dir=directory)
        self._size = 0

    def add(self, data):
        """Keep an item's JSON; returns its reference for ``load``."""
        self._spool.write(data)
        reference = (self._size, len(data))
        self._size += len(data)
        return reference

    def sealed(self):
        """Done adding: what was added becomes readable (from any thread)."""
        self._spool.flush()
        return self

    def load(self, reference):
        offset, length = reference
        return json.loads(os.pread(self._spool.fileno(), length, offset).decode("utf-8"))

    def close(self):
        self._spool.close()

    def group(self, group_resource):
        return self.groups.get(group_resource)

    def items_of(self, group_resource):
        """(namespace, name, item) of every item of a group-resource, read one at a time."""
        index = self.groups.get(group_resource)
        for namespace, name, reference in (index.items() if index else ()):
            item = self.load(reference)
            if namespace:
                item.setdefault("metadata", {})["namespace"] = namespace  # the path decides, as in Velero
            yield namespace, name, item


def _check_item(path, data):
    try:
        item = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise ArchiveError("backup archive entry %s is not valid JSON: %s" % (path, error))
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict) \
            or not item["metadata"].get("name") or not item.get("apiVersion") or not item.get("kind"):
        raise ArchiveError("backup archive entry %s is not a Kubernetes object (apiVersion, kind and "
                           "metadata.name are required)" % path)
    return item


def extract_backup(fileobj, directory, max_size):
    """Read a Velero tarball's items into a spool file in ``directory`` (private) and index them.

    Raises ArchiveError for a hostile or broken archive (see the module doc); nothing but the
    anonymous spool file is written, so no entry's path can reach the filesystem. Headers count
    towards ``max_size`` so that an archive of countless empty entries is capped too."""
    extracted = ExtractedBackup(directory)
    try:
        _index_archive(extracted, fileobj, max_size)
    except BaseException:
        extracted.close()
        raise
    return extracted.sealed()


def _index_archive(extracted, fileobj, max_size):
    total = 0
    for path, data in archive.iter_archive(fileobj, max_size):
        total += len(data) + TAR_HEADER_SIZE
        if total > max_size:
            raise ArchiveError("backup archive expands beyond %d bytes; refusing it" % max_size)
        if path == archive.VERSION_ENTRY:
            extracted.format_version = data.decode("utf-8", "replace").strip()
            continue
        parsed = archive.parse_item_path(path)
        if parsed is None:
            continue  # neither metadata/version nor resources/: not ours to read
        index = extracted.groups.get(parsed.group_resource)
        if parsed.version is not None and index is not None and index.entries:
            continue  # a copy of a type whose plain copies are restored: neither kept nor indexed
        item = _check_item(path, data)
        if index is None:
            index = extracted.groups[parsed.group_resource] = GroupIndex(parsed.group_resource,
                                                                         parsed.namespace is not None)
        entry = (parsed.namespace, item["metadata"]["name"], extracted.add(data))
        if parsed.version is not None:
            index.preferred_only.append(*entry)
        else:
            index.entries.append(*entry)
            if len(index.preferred_only):
                index.preferred_only = ItemEntries()  # the plain copies are restored, as Velero does
    if not extracted.groups:
        raise ArchiveError("backup archive holds no resources/ entries: it is not a Velero backup or it is empty")
    if extracted.format_version and not extracted.format_version.startswith("1."):
        raise ArchiveError("backup archive format %s is not supported (1.x is)" % extracted.format_version)


# ---------------------------------------------------------------- outcomes

class Outcomes(object):
    """Per item: what happened (Velero's resource list) and counts per resource. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}
        self._counts = {}
        self.recreated = 0

    def record(self, list_key, namespace, name, outcome):
        with self._lock:
            display = results.item_display_name(namespace, name)
            entries = self._entries.get(list_key)
            if entries is None:
                entries = self._entries[list_key] = PackedRecords(1)
            entries.append("%s(%s)" % (display, outcome))
            per = self._counts.setdefault(list_key, dict((o, 0) for o in OUTCOMES))
            per[outcome] += 1

    def count_recreated(self):
        with self._lock:
            self.recreated += 1

    def resource_list(self):
        return dict((key, self._sorted_entries(key)) for key in sorted(self._entries))

    def _sorted_entries(self, key):
        return sorted(entry for (entry,) in self._entries[key])

    def write_resource_list(self, out):
        """Velero's resource list as ``storage.gzip_json`` encodes it, written one resource at a
        time: only one resource's entries are ever decoded into memory."""
        out.write(b"{")
        for position, key in enumerate(sorted(self._entries)):
            out.write(b"," if position else b"")
            out.write(json.dumps(key).encode("utf-8") + b":")
            out.write(json.dumps(self._sorted_entries(key), separators=(",", ":")).encode("utf-8"))
        out.write(b"}\n")

    def counts(self):
        totals = dict((o, sum(c[o] for c in self._counts.values())) for o in OUTCOMES)
        totals["total"] = sum(totals.values())
        totals["recreated"] = self.recreated
        totals["per_resource"] = dict(sorted(self._counts.items()))
        return totals

    def changed(self):
        return any(c[CREATED] or c[UPDATED] for c in self._counts.values())


class PodVolumeRestorer(object):
    """The interface for volume data (file-system restore); fs_backup.NodeAgentVolumeRestorer
    implements it with restic in the node agents.

    When a restorer is given, every restored pod with file-system-backed volumes first gets the
    ``restore-wait`` init container (image ``init_image``); once every tier is done,
    ``restore_volumes`` gets the work for all of them at once. Without a restorer such volumes
    are reported as warnings and the pods are restored without the init container."""

    init_image = None

    def restore_volumes(self, work, restore_uid):
        """work: [fs_backup.VolumeRestore] (the restored pod's namespace and name, the volume, the
        restic snapshot, the repository identifier, the pod's namespace in the backup);
        restore_uid: the marker name restore-wait waits for. Returns [(entry, error message or
        None)] (fs_backup.restore_pod_volumes has this contract)."""
        raise NotImplementedError


def volume_work(source_pod, created_pod, snapshots, pod_volume_backups):
    """The VolumeRestore entries of one restored pod: {volume: snapshot} with the repository of
    each volume's PodVolumeBackup."""
    source = source_pod.get("metadata") or {}
    repositories = {}
    for pvb in pod_volume_backups or ():
        spec = pvb.get("spec") or {}
        owner = spec.get("pod") or {}
        if (owner.get("namespace"), owner.get("name")) == (source.get("namespace"), source.get("name")):
            repositories[spec.get("volume")] = spec.get("repoIdentifier")
    metadata = created_pod["metadata"]
    return [VolumeRestore(metadata.get("namespace"), metadata["name"], volume, snapshot, repositories.get(volume),
                          source.get("namespace")) for volume, snapshot in sorted(snapshots.items())]


class _Task(object):
    """One item to restore: where it comes from and the ApiResource it is created through."""

    __slots__ = ("group_resource", "api_resource", "item", "list_key", "source_namespace")

    def __init__(self, group_resource, api_resource, item, source_namespace):
        self.group_resource = group_resource
        self.api_resource = api_resource
        self.item = item
        self.list_key = results.resource_list_key(item.get("apiVersion"), item.get("kind"))
        self.source_namespace = source_namespace


def _api_reason(error):
    return describe_api_error(error) if isinstance(error, ApiException) else str(error)


def _api_status_reason(error):
    try:
        return json.loads(error.body or "{}").get("reason")
    except (ValueError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------- the run

class RestoreRun(object):
    """One restore. ``execute()`` returns the module result."""

    def __init__(self, kube, store, options, backup_document, check_mode=False, diff=False,
                 volume_restorer=None, now=utc_now):
        self.kube = kube
        self.store = store
        self.options = options
        self.backup = backup_document
        self.backup_name = backup_document["metadata"]["name"]
        self.name = options["name"]
        self.check_mode = check_mode
        self.want_diff = diff
        self.volume_restorer = volume_restorer
        self.now = now
        self.uid = str(uuid.uuid4())
        self.policy = options["existing_resource_policy"]
        self.results = results.Results()
        self.outcomes = Outcomes()
        self.log = RunLog(self.name, runlog.RESTORE)
        self.plan = []
        self.diffs = []
        self._plan_lock = threading.Lock()
        self.extracted = None
        self.discovery = None
        self.selection = None
        self.ctx = None
        self.pod_volume_backups = []
        self.additional = set()  # (group_resource, namespace, name) pulled in by restored items
        self.ensured_namespaces = {}  # target namespace -> "exists" | "would-create" | "failed"
        self.pending_volumes = []
        self.pending_exec_hooks = []  # (created pod, [hooks.RestoreExecHook]) run after the volume data
        self.synthetic = []
        self._crd_pending = None
        self.started = None
        self.keys = storage_mod.restore_keys(self.name)

    # Reporting ---------------------------------------------------------------------

    def _scope(self, task):
        """Where a message about an item goes: its namespace in the cluster, else the cluster."""
        namespace = plan.map_namespace(task.source_namespace, self.options["namespace_mapping"])
        return {"namespace": namespace or None, "cluster": not namespace}

    def _finish(self, task, outcome, target, action=None, reason=None, warning=None, error=None):
        mapping = self.options["namespace_mapping"]
        namespace = plan.map_namespace(task.source_namespace, mapping) or None
        name = (target.get("metadata") or {}).get("name")
        if target is task.item and task.group_resource == selection.NAMESPACES:
            name = plan.map_namespace(name, mapping)
        label = "%s %s" % (task.group_resource, results.item_display_name(namespace, name))
        scope = {"namespace": namespace, "cluster": not namespace}
        if warning:
            self.results.warn("%s: %s" % (label, warning), **scope)
            self.log.warning(warning, resource=task.group_resource, namespace=namespace, name=name)
        if error:
            self.results.error("%s: %s" % (label, error), **scope)
            self.log.error(error, resource=task.group_resource, namespace=namespace, name=name)
        self.outcomes.record(task.list_key, namespace, name, outcome)
        self.log.info("Restore of item %s" % (action or outcome), resource=task.group_resource,
                      namespace=namespace, name=name, reason=reason)
        if self.check_mode:
            entry = {"resource": task.list_key, "group_resource": task.group_resource, "namespace": namespace,
                     "name": name, "action": action or outcome}
            if reason:
                entry["reason"] = reason
            with self._plan_lock:
                self.plan.append(entry)

    def _add_diff(self, task, live_diff):
        if not self.want_diff:
            return
        metadata = live_diff.before.get("metadata") or {}
        where = "%s %s" % (task.list_key, results.item_display_name(metadata.get("namespace"), metadata.get("name")))
        before, after = secret_diff(live_diff.before, live_diff.after)
        with self._plan_lock:
            self.diffs.append({"before_header": "%s (in the cluster)" % where,
                               "after_header": "%s (from backup %s)" % (where, self.backup_name),
                               "before": before, "after": after})

    # Discovery and selection ---------------------------------------------------------

    def _archive_api_resources(self):
        """ApiResources for the archive's group-resources the cluster does not serve (yet), so
        that filters and scope rules can name them before their CRDs are restored."""
        known = set(r.group_resource for r in self.discovery.resources)
        synthetic = []
        for group_resource, index in sorted(self.extracted.groups.items()):
            if group_resource in known or not len(index.items()):
                continue
            resource, group = (group_resource.split(".", 1) + [""])[:2]
            sample = self.extracted.load(next(iter(index.items()))[2])
            version = sample.get("apiVersion", "").rpartition("/")[2]
            synthetic.append(ApiResource(group, version, resource, sample.get("kind", ""), index.namespaced))
        return synthetic

    def _api_resource(self, group_resource, item):
        """The ApiResource an item is created through: its own apiVersion and kind, served by the cluster."""
        found = self.discovery.find_kind(item.get("apiVersion", ""), item.get("kind", ""))
        if found is not None and found.group_resource == group_resource:
            return found
        return None

    def _filter_resource(self, group_resource):
        found = self.discovery.find(group_resource)
        if found is not None:
            return found
        for synthetic in self.synthetic:
            if synthetic.group_resource == group_resource:
                return synthetic
        return None

    def _selected(self, group_resource, item, source_namespace):
        """None when the item is restored, else why not (filters only)."""
        api_resource = self._filter_resource(group_resource)
        if api_resource is None:
            return "resource not known"
        metadata = item.get("metadata") or {}
        key = (group_resource, source_namespace, metadata.get("name"))
        if key in self.additional:
            return self.selection.item_skip_reason(api_resource, item, additional=True)
        if not self.selection.lists_resource(api_resource):
            return "resource excluded"
        if group_resource == selection.NAMESPACES:
            if not self.selection.namespace_included(metadata.get("name", "")):
                return "namespace excluded"
            if self.selection.has_label_selector() and not self.selection.labels_match(metadata.get("labels")):
                return "does not match the label selector"
            return None
        return self.selection.item_skip_reason(api_resource, item)

    def _plan_additional(self):
        """Cluster-scoped items that restored items need, as backup item actions pull them in:
        the PV bound to a restored PVC, the CRD of restored custom resources."""
        for namespace, _name, item in self.extracted.items_of("persistentvolumeclaims"):
            if self._selected("persistentvolumeclaims", item, namespace) is None:
                volume = (item.get("spec") or {}).get("volumeName")
                if volume:
                    self.additional.add(("persistentvolumes", None, volume))
        crds = self.extracted.group(plan.CRD_GROUP_RESOURCE)
        for _ns, name, _path in (crds.items() if crds else ()):
            if name in self.extracted.groups and any(
                    self._selected(name, item, ns) is None for ns, _n, item in self.extracted.items_of(name)):
                self.additional.add((plan.CRD_GROUP_RESOURCE, None, name))

    def _build_context(self):
        pvs = [item for _ns, _n, item in self.extracted.items_of("persistentvolumes")]
        fs_backed = actions.fs_backed_pvcs(self.pod_volume_backups)
        if self.options["restore_pvs"]:
            reprovisioned = actions.pvs_to_reprovision(pvs, fs_backed)
        else:
            reprovisioned = frozenset(pv["metadata"]["name"] for pv in pvs)
        group_resources = list(self.extracted.groups)
        self.ctx = actions.RestoreContext(
            backup_name=self.backup_name, restore_name=self.name, restore_uid=self.uid,
            namespace_mapping=self.options["namespace_mapping"],
            preserve_node_ports=bool(self.options.get("preserve_node_ports")),
            restore_status=restore_status_resources(self.options["restore_status"], group_resources,
                                                    self.discovery.resources + self.synthetic),
            fs_backed_pvcs=fs_backed, reprovisioned_pvs=reprovisioned,
            resource_modifiers=self.options["resource_modifiers"])

    def _prepare(self):
        """Read everything and decide, before the first write to the cluster."""
        self.discovery = self.kube.discover()
        for warning in self.discovery.warnings:
            self.results.warn(warning)
            self.log.warning(warning)
        self.synthetic = self._archive_api_resources()
        self.selection = selection.BackupSelection(self.options, self.discovery.resources + self.synthetic)
        namespaces = set(ns for index in self.extracted.groups.values() for ns, _n, _ref in index.items() if ns)
        namespace_items = self.extracted.group(selection.NAMESPACES)
        namespaces.update(name for _ns, name, _ref in (namespace_items.items() if namespace_items else ()))
        restored_namespaces = sorted(ns for ns in namespaces if self.selection.namespace_included(ns))
        plan.validate_namespace_mapping(self.options["namespace_mapping"], restored_namespaces)
        self._plan_additional()
        self._build_context()

    # Namespaces ------------------------------------------------------------------------

    def _namespace_resource(self):
        return self.discovery.find(selection.NAMESPACES)

    def _ensure_namespace(self, target, definition=None, task=None):
        """Make sure the target namespace exists before its items: from its backed-up definition
        when the backup has it, else a bare one. A namespace being deleted is waited for."""
        state = self.ensured_namespaces.get(target)
        if state is not None:
            return state
        api_resource = self._namespace_resource()
        if definition is None:
            definition = self._backed_up_namespace(target)
        if task is None:
            task = _Task(selection.NAMESPACES, api_resource, definition or {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}}, None)
        state = self._restore_namespace(task, api_resource, target)
        self.ensured_namespaces[target] = state
        return state

    def _backed_up_namespace(self, target):
        index = self.extracted.group(selection.NAMESPACES)
        reverse = dict((v, k) for k, v in self.options["namespace_mapping"].items())
        source = reverse.get(target, target)
        for _ns, name, reference in (index.items() if index else ()):
            if name == source:
                return self.extracted.load(reference)
        return None

    def _restore_namespace(self, task, api_resource, target):
        try:
            return self._restore_namespace_or_raise(task, api_resource, target)
        except ApiException as error:  # forbidden and the like: its items fail, the run goes on
            self._finish(task, FAILED, {"metadata": {"name": target}}, PLAN_FAIL, error=_api_reason(error))
            return "failed"

    def _restore_namespace_or_raise(self, task, api_resource, target):
        live = self._get_live(api_resource, None, target)
        if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
            if self.check_mode:
                self._finish(task, CREATED, {"metadata": {"name": target}}, PLAN_CREATE,
                             reason="the namespace is being deleted; it would be created again once it is gone")
                return "would-create"
            self.log.info("Waiting for namespace to finish terminating", namespace=target)
            live = self._wait_gone(api_resource, None, target, TERMINATING_TIMEOUT)
            if live is not None:
                self._finish(task, FAILED, {"metadata": {"name": target}},
                             error="namespace %s is still terminating after %ds; nothing restored into it"
                             % (target, TERMINATING_TIMEOUT))
                return "failed"
        if live is None and self.check_mode:
            self._process(task)
            return "would-create"
        outcome = self._process(task, live=live)
        return "failed" if outcome == FAILED else "exists"

    # Items ----------------------------------------------------------------------------------

    def _get_live(self, api_resource, namespace, name):
        try:
            return self.kube.get(api_path(api_resource, namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _wait_gone(self, api_resource, namespace, name, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            live = self._get_live(api_resource, namespace, name)
            if live is None:
                return None
            time.sleep(POLL_INTERVAL)
        return self._get_live(api_resource, namespace, name)

    def _process(self, task, live=None):
        """Prepare and restore (or, in check mode, preview) one item; returns its outcome."""
        try:
            prepared = actions.prepare_for_restore(task.item, task.group_resource, self.ctx)
        except ModifierError as error:
            self._finish(task, FAILED, task.item, PLAN_FAIL, error=str(error))
            return FAILED
        for warning in prepared.warnings:
            self.results.warn(warning, **self._scope(task))
        if prepared.item is None:
            self._finish(task, SKIPPED, task.item, PLAN_SKIP, reason=prepared.skip_reason)
            return SKIPPED
        if task.group_resource == "persistentvolumes" and not self.options["restore_pvs"]:
            self._finish(task, SKIPPED, task.item, PLAN_SKIP, reason="restore_pvs is false")
            return SKIPPED
        desired = prepared.item
        if task.api_resource is None:
            task.api_resource = self._api_resource(task.group_resource, desired)
        if task.api_resource is None:
            if self.check_mode and task.group_resource in self.crd_pending:
                self._finish(task, CREATED, desired, PLAN_CREATE, reason="its CRD is restored first")
                return CREATED
            self._finish(task, FAILED, desired, PLAN_FAIL, error="the cluster does not serve %s %s"
                         % (desired.get("apiVersion"), desired.get("kind")))
            return FAILED
        desired = self._with_pod_additions(task, desired)
        try:
            if self.check_mode:
                return self._preview(task, desired)
            return self._create(task, desired, live)
        except ApiException as error:
            self._finish(task, FAILED, desired, PLAN_FAIL, error=_api_reason(error))
            return FAILED

    def _with_pod_additions(self, task, desired):
        """Pods get the init containers of their restore hooks, and restore-wait (first) when
        their volume data is restored."""
        if task.group_resource != "pods":
            return desired
        init_hooks = hooks.restore_hooks_for_pod(desired, self.options["restore_hooks"])[0]
        if init_hooks:
            desired = copy.deepcopy(desired)
            spec = desired.setdefault("spec", {})
            spec["initContainers"] = list(init_hooks) + list(spec.get("initContainers") or [])
        return self._with_volume_wait(task, desired)

    def _with_volume_wait(self, task, desired):
        if not self.options["restore_pvs"]:
            return desired
        snapshots = actions.pod_volume_snapshots(self.pod_volume_backups, task.item)
        if not snapshots:
            return desired
        if self.volume_restorer is None:
            self.results.warn("pod %s: data of volumes %s (file-system backup) is not restored: "
                              "repository_password was not given" % (desired["metadata"].get("name"),
                                                                     ", ".join(sorted(snapshots))),
                              **self._scope(task))
            return desired
        return actions.add_restore_wait_init_container(desired, sorted(snapshots), self.uid,
                                                       self.volume_restorer.init_image)

    def _namespace_of(self, task, desired):
        return desired["metadata"].get("namespace") if task.api_resource.namespaced else None

    def _create(self, task, desired, live=None):
        namespace = self._namespace_of(task, desired)
        if live is None:
            try:
                created = self._post(task, desired, namespace)
            except ApiException as error:
                if error.status != 409 or _api_status_reason(error) != "AlreadyExists":
                    raise
                live = self._get_live(task.api_resource, namespace, desired["metadata"]["name"])
                if live is None:  # deleted in between: try once more
                    created = self._post(task, desired, namespace)
            if live is None:
                self._after_create(task, desired, created)
                self._finish(task, CREATED, desired, PLAN_CREATE)
                return CREATED
        return self._existing(task, desired, live)

    def _post(self, task, desired, namespace):
        # Only a pod's answer is read (its uid for volume work and exec hooks): decoding every
        # created object would cost as much as encoding it.
        return self.kube.create(task.api_resource, desired, namespace, decode=task.group_resource == "pods")

    def _after_create(self, task, desired, created):
        if self.ctx.restores_status_of(task.group_resource) and desired.get("status"):
            path = api_path(task.api_resource, self._namespace_of(task, desired), desired["metadata"]["name"])
            try:
                self.kube.request("PATCH", path + "/status", body={"status": desired["status"]},
                                  content_type="application/merge-patch+json")
            except ApiException as error:
                if error.status not in (404, 405):  # no status subresource: status came with the create
                    self.results.warn("%s %s: status not restored: %s" % (
                        task.group_resource, desired["metadata"]["name"], _api_reason(error)), **self._scope(task))
        if task.group_resource != "pods":
            return
        if self.volume_restorer is not None and self.options["restore_pvs"]:
            snapshots = actions.pod_volume_snapshots(self.pod_volume_backups, task.item)
            if snapshots:
                with self._plan_lock:
                    self.pending_volumes.extend(volume_work(task.item, created, snapshots, self.pod_volume_backups))
        exec_hooks = hooks.restore_hooks_for_pod(desired, self.options["restore_hooks"])[1]
        if exec_hooks:
            with self._plan_lock:
                self.pending_exec_hooks.append((created, exec_hooks))

    def _run_exec_hooks(self):
        """Post-restore exec hooks, once volume data is back: each waits for its pod to run
        (its wait timeout; none means volume_restore_timeout), then runs in order."""
        for pod, exec_hooks in self.pending_exec_hooks:
            meta = pod["metadata"]
            scope = {"namespace": meta.get("namespace")}
            for restore_hook in exec_hooks:
                wait = restore_hook.wait_timeout or self.options.get("volume_restore_timeout") or 600
                try:
                    running = self._wait_for_running_pod(meta["namespace"], meta["name"], wait)
                except KubedrError as error:
                    self.results.error("pod %s: restore hook %s not run: %s" % (
                        meta["name"], restore_hook.hook.name, error), **scope)
                    break
                outcomes, failed = hooks.run_hooks(self.kube.exec_client, running, [restore_hook.hook])
                hooks.record_outcomes(outcomes, "pod %s: restore hook" % meta["name"], self.results, self.log,
                                      meta.get("namespace"))
                if failed:
                    break

    def _wait_for_running_pod(self, namespace, name, timeout):
        deadline = time.time() + timeout
        while True:
            try:
                pod = self.kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
            except ApiException as error:
                raise ClusterError("cannot read the pod: %s" % _api_reason(error))
            if (pod.get("status") or {}).get("phase") == "Running":
                return pod
            if time.time() > deadline:
                raise ClusterError("the pod was not running within %ss" % timeout)
            time.sleep(POLL_INTERVAL)

    def _decide(self, task, desired, live):
        """(action, patch body or None, live diff) for an item that exists already."""
        if task.group_resource == "serviceaccounts":
            merged = actions.merge_service_account(desired, live)
            differs = actions.diff_against_live(desired, live)
            if self.policy == "none" or merged is None:
                return (PLAN_SKIP_DIFFERS if differs.differs else PLAN_SKIP_IDENTICAL), None, differs
            return PLAN_UPDATE, merged, actions.diff_against_live(merged, live)
        live_diff = actions.diff_against_live(desired, live, "pods" if task.group_resource == "pods" else None)
        if not live_diff.differs:
            return PLAN_SKIP_IDENTICAL, None, live_diff
        if self.policy == "none":
            return PLAN_SKIP_DIFFERS, None, live_diff
        if self.policy == "update" or task.group_resource in NEVER_DELETED:
            return PLAN_UPDATE, desired, live_diff
        return PLAN_RECREATE, desired, live_diff

    def _existing(self, task, desired, live):
        action, body, live_diff = self._decide(task, desired, live)
        if task.group_resource == "persistentvolumes" and (live.get("status") or {}).get("phase") == "Released":
            self.results.warn("persistent volume %s exists and is Released (still reserved for a deleted claim); "
                              "a restored claim binds to it only once its spec.claimRef.uid is removed"
                              % desired["metadata"]["name"], cluster=True)
        if live_diff.differs:
            self._add_diff(task, live_diff)
        if action == PLAN_SKIP_IDENTICAL:
            self._finish(task, SKIPPED, desired, action, reason="exists and is identical")
            return SKIPPED
        if action == PLAN_SKIP_DIFFERS:
            self._finish(task, SKIPPED, desired, action, reason="exists and differs",
                         warning="exists in the cluster and differs from the backup; left unchanged "
                                 "(existing_resource_policy none)")
            return SKIPPED
        if self.check_mode:
            self._finish(task, PLAN_OUTCOME[action], desired, action, reason="exists and differs")
            return PLAN_OUTCOME[action]
        namespace = self._namespace_of(task, desired)
        name = desired["metadata"]["name"]
        if action == PLAN_UPDATE:
            body = dict(body)
            body["metadata"] = dict((k, v) for k, v in (body.get("metadata") or {}).items()
                                    if k not in actions.SERVER_METADATA_FIELDS)
            self.kube.patch(task.api_resource, name, body, namespace)
            self._finish(task, UPDATED, desired, action, reason="exists and differs")
            return UPDATED
        path = api_path(task.api_resource, namespace, name)
        self.kube.request("DELETE", path, body={"propagationPolicy": "Foreground"})
        if self._wait_gone(task.api_resource, namespace, name, DELETE_TIMEOUT) is not None:
            self._finish(task, FAILED, desired, action, error="deleted for recreate but still present after %ds"
                         % DELETE_TIMEOUT)
            return FAILED
        created = self._post(task, desired, namespace)
        self._after_create(task, desired, created)
        self.outcomes.count_recreated()
        self._finish(task, CREATED, desired, action, reason="exists and differs: deleted and created again")
        return CREATED

    def _preview(self, task, desired):
        namespace = self._namespace_of(task, desired)
        if namespace and self.ensured_namespaces.get(namespace) == "would-create":
            live = None
        else:
            live = self._get_live(task.api_resource, namespace, desired["metadata"]["name"])
        if live is None:
            self._finish(task, CREATED, desired, PLAN_CREATE)
            return CREATED
        return self._existing(task, desired, live)

    # Tiers ------------------------------------------------------------------------------------

    def _tasks(self, group_resource):
        """The items of a group-resource to restore, read one at a time; namespaces are ensured first."""
        for source_namespace, _name, item in self.extracted.items_of(group_resource):
            if self._selected(group_resource, item, source_namespace) is not None:
                continue
            if source_namespace:
                target = plan.map_namespace(source_namespace, self.options["namespace_mapping"])
                if self._ensure_namespace(target) == "failed":
                    task = _Task(group_resource, None, item, source_namespace)
                    self._finish(task, FAILED, dict(item, metadata=dict(item["metadata"], namespace=target)),
                                 PLAN_FAIL, error="namespace %s could not be restored" % target)
                    continue
            yield _Task(group_resource, None, item, source_namespace)

    def _restore_namespaces(self):
        for _ns, name, item in self.extracted.items_of(selection.NAMESPACES):
            if self._selected(selection.NAMESPACES, item, None) is None:
                target = plan.map_namespace(name, self.options["namespace_mapping"])
                task = _Task(selection.NAMESPACES, self._namespace_resource(), item, None)
                self._ensure_namespace(target, item, task)

    def _run_tier(self, pool, group_resources):
        """Restore the tier's items concurrently. At most workers * 4 items are in flight and only
        those futures are kept, so memory does not grow with the number of items."""
        window = threading.BoundedSemaphore(self.options["workers"] * 4)
        in_flight = set()
        lock = threading.Lock()
        lost = []  # the first ClusterError (the API server is gone): no more work is handed out
        failures = []  # engine bugs, re-raised once the tier is done

        def run(task):
            try:
                if not lost:
                    self._process(task)
            except ClusterError as error:
                lost.append(error)
            finally:
                window.release()

        def finished(future):
            with lock:
                in_flight.discard(future)
            error = future.exception()
            if error is not None:
                failures.append(error)

        for group_resource in group_resources:
            if lost:
                break
            if group_resource == selection.NAMESPACES:
                self._restore_namespaces()
                continue
            for task in self._tasks(group_resource):
                if lost:
                    break
                window.acquire()
                future = pool.submit(run, task)
                with lock:
                    in_flight.add(future)
                future.add_done_callback(finished)
        with lock:
            remaining = list(in_flight)
        wait_futures(remaining)
        if lost:
            raise lost[0]
        if failures:
            raise failures[0]

    def _wait_for_crds(self):
        """Wait until every CRD of the backup present in the cluster is Established, then refresh
        discovery until their resources are served."""
        crd_resource = self.discovery.find(plan.CRD_GROUP_RESOURCE)
        wanted = [name for name in self.crd_pending if crd_resource is not None]
        deadline = time.time() + CRD_ESTABLISHED_TIMEOUT
        for name in wanted:
            while True:
                live = self._get_live(crd_resource, None, name)
                conditions = ((live or {}).get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    break
                if live is None or time.time() > deadline:
                    self.results.warn("CustomResourceDefinition %s is not Established; its custom resources may "
                                      "fail" % name, cluster=True)
                    break
                time.sleep(POLL_INTERVAL)
        deadline = time.time() + DISCOVERY_TIMEOUT
        while wanted:
            self.discovery = self.kube.discover(refresh=True)
            served = set(r.group_resource for r in self.discovery.resources)
            if set(wanted) <= served or time.time() > deadline:
                break
            time.sleep(POLL_INTERVAL)

    def _restore_volumes(self):
        if not self.pending_volumes:
            return
        self.log.info("Restoring volume data", volumes=len(self.pending_volumes))
        for entry, error in self.volume_restorer.restore_volumes(self.pending_volumes, self.uid):
            if error:
                self.results.error(error, namespace=entry.namespace)
                self.log.error(error, namespace=entry.namespace, name=entry.pod)
            else:
                self.log.info("Restored volume data", namespace=entry.namespace, name=entry.pod, volume=entry.volume)

    def _restore_all(self):
        tiers = plan.restore_tiers(list(self.extracted.groups), self.options.get("priorities"))
        for gr in sorted(self.extracted.groups):
            if plan.is_never_restored(gr):
                self.log.info("Resource is never restored", resource=gr)
        with ThreadPoolExecutor(max_workers=self.options["workers"]) as pool:
            for tier in tiers:
                self._run_tier(pool, tier)
                if plan.CRD_GROUP_RESOURCE in tier and not self.check_mode:
                    self._wait_for_crds()
        if self.volume_restorer is not None and not self.check_mode:
            self._restore_volumes()
        if not self.check_mode:
            self._run_exec_hooks()

    # The whole run --------------------------------------------------------------------------

    @property
    def crd_pending(self):
        """Names of the backup's CRDs (= the group-resources they serve) that are restored."""
        if self._crd_pending is None:
            names = set()
            for _ns, name, item in self.extracted.items_of(plan.CRD_GROUP_RESOURCE):
                if self._selected(plan.CRD_GROUP_RESOURCE, item, None) is None:
                    names.add(name)
            self._crd_pending = names
        return self._crd_pending

    def execute(self, tarball):
        self.started = self.now()
        workdir = tempfile.mkdtemp(prefix="kubedr-restore-")
        try:
            os.chmod(workdir, 0o700)
            self.extracted = extract_backup(tarball, workdir, self.options["max_archive_size"])
            if not self.extracted.format_version:
                self.results.warn("backup archive has no metadata/version entry")
            self.pod_volume_backups = self.store.get_json_gz(
                storage_mod.backup_keys(self.backup_name)["pod_volume_backups"]) or []
            self.log.info("Starting restore", backup=self.backup_name, check_mode=self.check_mode or None)
            try:
                self._prepare()
            except ApiException as error:
                raise ClusterError("cannot read the cluster at %s: %s" % (self.kube.host, describe_api_error(error)))
            # What is alive now (imports, discovery, the index) lives to the end: the collector
            # need not walk it again at every collection the items' garbage triggers.
            gc.freeze()
            try:
                self._restore_all()
            except (ClusterError, ApiException) as error:
                return self._failed(error)
            phase = results.phase_for(self.results)
            completed = self.now()
            self.log.info("Restore completed", phase=phase, **dict(
                (k, v) for k, v in self.outcomes.counts().items() if k != "per_resource"))
            try:
                self._upload()
            except KubedrError as error:  # the cluster work is done; only its record under restores/ is missing
                self.results.warn("the restore's log, results and resource list could not be written to the storage "
                                  "location: %s" % error)
            return self._result(phase, completed)
        finally:
            if self.extracted is not None:
                self.extracted.close()
            shutil.rmtree(workdir, ignore_errors=True)
            self.log.close()

    def _writes_storage(self):
        return not self.check_mode and not self.store.read_only

    def _upload(self):
        if not self._writes_storage():
            return
        storage_mod.upload_gzipped(self.store, self.keys["logs"], self.log.copy_to)
        self.store.put_json_gz(self.keys["results"], self.results.to_dict())
        storage_mod.upload_gzipped(self.store, self.keys["resource_list"], self.outcomes.write_resource_list)

    def _failed(self, error):
        reason = _api_reason(error)
        self.results.error("restore failed: %s" % reason)
        self.log.error("Restore failed", reason=reason)
        try:
            self._upload()
        except KubedrError:
            pass
        result = self._result(results.FAILED, self.now())
        result.update(failed=True, msg="restore %s failed: %s" % (self.name, reason))
        return result

    def _result(self, phase, completed):
        result = {
            "changed": self.outcomes.changed(),
            "name": self.name,
            "backup_name": self.backup_name,
            "phase": None if self.check_mode else phase,
            "start_timestamp": rfc3339(self.started),
            "completion_timestamp": rfc3339(completed),
            "item_counts": self.outcomes.counts(),
            "restore_warnings": self.results.warnings,
            "restore_errors": self.results.errors,
            "warning_count": self.results.warning_count(),
            "error_count": self.results.error_count(),
            "storage": (dict((role, self.store.url(key)) for role, key in sorted(self.keys.items()))
                        if self._writes_storage() else {}),
        }
        if self.check_mode:
            result["plan"] = sorted(self.plan, key=lambda e: (e["resource"], e["namespace"] or "", e["name"]))
        if self.want_diff:
            result["diff"] = sorted(self.diffs, key=lambda d: d["before_header"])
        return result


# ---------------------------------------------------------------- entry point

def find_backup(store, options):
    """The velero-backup.json of the backup to restore; clear errors for unknown or unusable ones."""
    if options.get("schedule_name"):
        schedule = options["schedule_name"]
        candidates = []
        for name in store.list_backups():
            document = store.backup_metadata(name)
            labels = ((document or {}).get("metadata") or {}).get("labels") or {}
            status = (document or {}).get("status") or {}
            if labels.get(SCHEDULE_LABEL) == schedule and status.get("phase") == results.COMPLETED:
                document["metadata"]["name"] = name  # the folder names the backup
                candidates.append((status.get("startTimestamp") or "", name, document))
        if not candidates:
            raise NotFoundError("no Completed backup of schedule %s (label %s=%s) in the storage location"
                                % (schedule, SCHEDULE_LABEL, schedule))
        return max(candidates, key=lambda c: (c[0], c[1]))[2]
    name = options["backup_name"]
    document = store.backup_metadata(name)
    if document is None:
        raise NotFoundError("backup %s not found in the storage location (no %s under %s)"
                            % (name, storage_mod.BACKUP_METADATA, store.url(storage_mod.backup_dir(name))))
    phase = (document.get("status") or {}).get("phase")
    if phase not in RESTORABLE_PHASES:
        raise InvalidOptionError("backup %s is in phase %s; only Completed or PartiallyFailed backups can be "
                                 "restored" % (name, phase or "(none)"))
    document.setdefault("metadata", {})["name"] = name
    return document


def run(auth, location, options, check_mode=False, diff=False, kube_factory=KubeClient, volume_restorer=None):
    """Entry point of k8s_restore."""
    options = validate_options(options)
    store = storage_mod.open_store(location)
    store.check(for_write=False)
    backup = find_backup(store, options)
    backup_name = backup["metadata"]["name"]
    # An encrypted backup: the key is checked here, before anything touches the cluster.
    store = crypto.open_backup(store, options.get("encryption"), backup, "backup %s" % backup_name)
    if not options.get("name"):
        options["name"] = default_restore_name(backup_name, utc_now())
    if store.list_keys(storage_mod.restore_dir(options["name"])):
        raise InvalidOptionError("restore %s exists already in the storage location; give another name (or none: "
                                 "a name is derived from the backup and the time)" % options["name"])
    kube = kube_factory(auth)
    if volume_restorer is None and options.get("repository_password"):
        volume_restorer = fs_backup.NodeAgentVolumeRestorer(kube, location, options)
    tarball = storage_mod.download_to_tempfile(store, storage_mod.backup_keys(backup_name)["tarball"])
    try:
        return RestoreRun(kube, store, options, backup, check_mode, diff, volume_restorer).execute(tarball)
    finally:
        tarball.close()
