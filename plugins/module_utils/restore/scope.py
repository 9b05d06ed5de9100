# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What of the backup a restore restores, and through which API resources: discovery (plus
the archive's group-resources the cluster does not serve yet), the filters, the cluster-scoped
items restored items pull in, and the ``RestoreContext`` the item actions see."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ArchiveError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.openapi import OpenApiSchemas
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.selection import filters as selection
from ansible_collections.kubedr.backup.plugins.module_utils.restore import item_actions as actions
from ansible_collections.kubedr.backup.plugins.module_utils.restore import named_items
from ansible_collections.kubedr.backup.plugins.module_utils.restore import versions as api_versions
from ansible_collections.kubedr.backup.plugins.module_utils.restore.modifiers import uses_strategic_patches
from ansible_collections.kubedr.backup.plugins.module_utils.restore.items import MALFORMED_ITEM_ERRORS, Task
from ansible_collections.kubedr.backup.plugins.module_utils.restore.plan import parse_priorities
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import validate_namespace_mapping
from ansible_collections.kubedr.backup.plugins.module_utils.restore.policy import PLAN_FAIL
from ansible_collections.kubedr.backup.plugins.module_utils.restore.report import FAILED, ItemResult


def restore_status_resources(status_option, group_resources, api_resources):
    """The group-resources whose status is restored (Velero's spec.restoreStatus: nothing unless
    included_resources names them; ``*`` = all but the excluded)."""
    includes = selection.resolve_resource_patterns(status_option.get("included_resources"), api_resources,
                                                   "restore_status.included_resources")
    if not includes:
        return frozenset()
    excludes = selection.resolve_resource_patterns(status_option.get("excluded_resources"), api_resources,
                                                   "restore_status.excluded_resources")
    chosen = selection.IncludesExcludes(includes, excludes)
    return frozenset(gr for gr in group_resources if chosen.should_include(gr))


def version_choices(extracted, discovery, priorities):
    """``(group_resource, VersionChoice)`` for each group-resource the backup holds in several API
    versions, its index set to read the chosen version's copies; the choice is None (the backup's
    preferred version is read) when the cluster does not serve the group-resource at all."""
    for group_resource, index in sorted(extracted.groups.items()):
        if not index.versions:
            continue
        served = discovery.served_versions(group_resource)
        if not served:
            index.chosen_version = None
            yield group_resource, None
            continue
        backup_versions, backup_preferred = extracted.versions_of(group_resource)
        choice = api_versions.choose_version(
            group_resource, backup_versions, backup_preferred, [r.version for r in served],
            next((r.version for r in served if r.preferred), None), priorities.get(group_resource))
        index.chosen_version = choice.version if choice.version in index.versions \
            and choice.version != backup_preferred else None
        yield group_resource, choice


def in_restored_copies(extracted, invalid):
    """Whether an invalid archive entry is among the copies restored: the plain (and preferred-version)
    ones, or those of the API version chosen for its group-resource (``version_choices``)."""
    try:
        parsed = archive.parse_item_path(invalid.path)
    except ArchiveError:
        return True
    other_version = parsed is not None and parsed.version is not None and not archive.is_preferred_copy(invalid.path)
    index = extracted.group(invalid.group_resource)
    chosen = index.chosen_version if index is not None else None
    return (parsed.version if other_version else None) == chosen


class RestoreScope(object):
    """The items of an extracted backup that are restored. ``prepare()`` reads the cluster's
    discovery and decides, before the first write."""

    def __init__(self, kube, options, extracted, backup_name, restore_name, restore_uid):
        self.kube = kube
        self.options = options
        self.extracted = extracted
        self.backup_name = backup_name
        self.restore_name = restore_name
        self.restore_uid = restore_uid
        self.discovery = None
        self.synthetic = []
        self.selection = None
        self.named = None  # the parsed ``items`` patterns; None restores every item the filters select
        self.ctx = None
        self.additional = set()  # (group_resource, namespace, name) pulled in by restored items
        self._crd_pending = None
        self._served = {}
        self.api_versions = {}  # group_resource -> versions.VersionChoice, for backups holding several versions
        self._version_priorities = {}
        self._report = None

    def prepare(self, report, pod_volume_backups):
        self.discovery = self.kube.discover()
        for warning in self.discovery.warnings:
            report.results.warn(warning)
            report.log.warning(warning)
        self._report = report
        self._version_priorities = api_versions.parse_version_priorities(self.options.get("api_version_priorities"))
        self._choose_api_versions()
        self.synthetic = self._archive_api_resources()
        self.selection = selection.BackupSelection(self.options, self.discovery.resources + self.synthetic)
        if self.options.get("priorities") is not None:  # the user's: names resolve by the filters' one rule
            high, low = parse_priorities(self.options["priorities"])
            selection.resolve_resource_patterns(high + low, self.discovery.resources + self.synthetic, "priorities")
        namespaces = set(ns for index in self.extracted.groups.values() for ns, _n, _ref in index.items() if ns)
        namespace_items = self.extracted.group(kr.NAMESPACES)
        namespaces.update(name for _ns, name, _ref in (namespace_items.items() if namespace_items else ()))
        restored_namespaces = sorted(ns for ns in namespaces if self.selection.namespace_included(ns))
        validate_namespace_mapping(self.options["namespace_mapping"], restored_namespaces)
        self.named = named_items.parse_item_patterns(self.options.get("items"), self.discovery.resources + self.synthetic)
        if self.named is not None:
            self._warn_unmatched_patterns(report)
            if self.options.get("with_related", True):
                self._plan_related()
        self._plan_additional()
        self.ctx = self._restore_context(pod_volume_backups)
        self._report_invalid_items(report)

    def _choose_api_versions(self):
        """For each group-resource the backup holds in several versions, the version its items are
        created in (``versions.choose_version``), against the cluster's discovery. One the cluster does
        not serve at all keeps the backup's preferred version (its CRD may be restored first: chosen
        again after the CRDs' tier, at ``rediscover``)."""
        for group_resource, choice in version_choices(self.extracted, self.discovery, self._version_priorities):
            if choice is None:
                self.api_versions.pop(group_resource, None)
                self._report.api_versions.pop(group_resource, None)
                continue
            if self.api_versions.get(group_resource) == choice:
                continue
            self.api_versions[group_resource] = choice
            self._report.api_versions[group_resource] = api_versions.describe(choice)
            fields = dict(resource=group_resource, backup_versions=",".join(choice.backup_versions),
                          cluster_versions=",".join(choice.cluster_versions))
            if choice.version is None:
                self._report.log.warning("No API version of the backup is served", **fields)
            else:
                self._report.log.info("API version chosen", version=choice.version, rule=choice.rule, **fields)

    def unserved_version(self, group_resource):
        """Why no item of a group-resource can be created when the cluster serves it in none of the
        versions the backup holds it in (else None)."""
        choice = self.api_versions.get(group_resource)
        if choice is None or choice.version is not None:
            return None
        return api_versions.unserved_message(choice)

    def _report_invalid_items(self, report):
        """The archive's entries that are not usable items (``index.InvalidItem``): an error each,
        as the item's own, unless the filters leave its namespace or resource out anyway; the run
        goes on (and ends PartiallyFailed)."""
        for invalid in self.extracted.invalid:
            if invalid.group_resource is None:  # a malformed path: no item to name
                report.results.error(invalid.reason)
                report.log.error(invalid.reason)
                continue
            if invalid.namespace and not self.selection.namespace_included(invalid.namespace):
                continue
            if not in_restored_copies(self.extracted, invalid):
                continue  # a copy in another API version than the one restored
            if invalid.group_resource == kr.NAMESPACES and not self.selection.namespace_included(invalid.name):
                continue
            api_resource = self._filter_resource(invalid.group_resource)
            if api_resource is not None and not self.selection.lists_resource(api_resource) \
                    and (invalid.group_resource, invalid.namespace, invalid.name) not in self.additional:
                continue
            stand_in = {"metadata": {"name": invalid.name}}
            task = Task(invalid.group_resource, None, stand_in, invalid.namespace)
            task.list_key = invalid.list_key or invalid.group_resource
            report.finish(task, ItemResult(FAILED, stand_in, PLAN_FAIL, error=invalid.reason))
        hidden = self.extracted.invalid_count - len(self.extracted.invalid)
        if hidden > 0:
            message = ("backup archive has %d more entries that are not valid items (not listed one by one)"
                       % hidden)
            report.results.error(message)
            report.log.error(message)

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

    def _warn_unmatched_patterns(self, report):
        for pattern in self.named:
            if not any(named_items.named([pattern], group_resource, ns, name)
                       for group_resource, index in self.extracted.groups.items() for ns, name, _ref in index.items()):
                message = "items: %r names no item of the backup" % pattern.text
                report.results.warn(message)
                report.log.warning(message)

    def _plan_related(self):
        """The items the named items pull in (``named_items.references``, and the bindings of a
        ServiceAccount), transitively: they are restored as additional items."""
        loaded = {}  # group-resource -> [(namespace, name, item)], each referenced type read once

        def items_of(group_resource):
            if group_resource not in loaded:
                loaded[group_resource] = list(self.extracted.items_of(group_resource))
            return loaded[group_resource]

        pending = []
        for group_resource in list(self.extracted.groups):
            if not any("*" in p.group_resources or group_resource in p.group_resources for p in self.named):
                continue
            for namespace, name, item in self.extracted.items_of(group_resource):
                if named_items.named(self.named, group_resource, namespace, name) and \
                        self.selected(group_resource, item, namespace) is None:
                    pending.append((group_resource, namespace, item))
        while pending:
            group_resource, namespace, item = pending.pop()
            wanted = named_items.references(group_resource, namespace, item)
            if group_resource == kr.SERVICE_ACCOUNTS:
                account = (item.get("metadata") or {}).get("name")
                wanted.extend((gr, ns, name) for gr in (kr.ROLE_BINDINGS, kr.CLUSTER_ROLE_BINDINGS)
                              for ns, name, binding in items_of(gr)
                              if named_items.binds_service_account(binding, ns, namespace, account))
            for ref_group_resource, ref_namespace, ref_name in wanted:
                for ns, name, referenced in items_of(ref_group_resource):
                    key = (ref_group_resource, ns, name)
                    if ns == ref_namespace and key not in self.additional and named_items.named_part(ref_name, name):
                        self.additional.add(key)
                        pending.append((ref_group_resource, ns, referenced))

    def _plan_additional(self):
        """Cluster-scoped items that restored items need, as backup item actions pull them in:
        the PV bound to a restored PVC, the CRD of restored custom resources."""
        for namespace, _name, item in self.extracted.items_of(kr.PVCS):
            if self.selected(kr.PVCS, item, namespace) is None:
                spec = item.get("spec")
                volume = spec.get("volumeName") if isinstance(spec, dict) else None
                if volume and isinstance(volume, str):
                    self.additional.add((kr.PVS, None, volume))
        crds = self.extracted.group(kr.CRDS)
        for _ns, name, _path in (crds.items() if crds else ()):
            if name in self.extracted.groups and any(
                    self.selected(name, item, ns) is None for ns, _n, item in self.extracted.items_of(name)):
                self.additional.add((kr.CRDS, None, name))

    def _restore_context(self, pod_volume_backups):
        pvs = [item for _ns, _n, item in self.extracted.items_of(kr.PVS)]
        fs_backed = actions.fs_backed_pvcs(pod_volume_backups)
        if self.options["restore_pvs"]:
            reprovisioned = set()
            for pv in pvs:  # one at a time: a malformed PV is its own error (at its restore), no one else's
                try:
                    reprovisioned.update(actions.pvs_to_reprovision([pv], fs_backed))
                except MALFORMED_ITEM_ERRORS:
                    reprovisioned.add(pv["metadata"]["name"])
            reprovisioned = frozenset(reprovisioned)
        else:
            reprovisioned = frozenset(pv["metadata"]["name"] for pv in pvs)
        return actions.RestoreContext(
            backup_name=self.backup_name, restore_name=self.restore_name, restore_uid=self.restore_uid,
            namespace_mapping=self.options["namespace_mapping"],
            preserve_node_ports=bool(self.options.get("preserve_node_ports")),
            restore_status=restore_status_resources(self.options["restore_status"], list(self.extracted.groups),
                                                    self.discovery.resources + self.synthetic),
            fs_backed_pvcs=fs_backed, reprovisioned_pvs=reprovisioned,
            resource_modifiers=self.options["resource_modifiers"],
            patch_schemas=OpenApiSchemas(self.kube) if uses_strategic_patches(self.options["resource_modifiers"])
            else None)

    def api_resource(self, group_resource, item):
        """The ApiResource an item is created through: its own apiVersion and kind, served by the cluster."""
        found = self.discovery.find_kind(item.get("apiVersion", ""), item.get("kind", ""))
        if found is not None and found.group_resource == group_resource:
            return found
        return None

    def served_as(self, item):
        """The ApiResource the cluster serves an item's apiVersion and kind as (None: not served).
        Looked up once per apiVersion and kind and discovery (items come by the thousand)."""
        discovery = self.discovery
        key = (discovery, item.get("apiVersion", ""), item.get("kind", ""))
        try:
            return self._served[key]
        except KeyError:
            found = self._served[key] = discovery.find_kind(key[1], key[2])
            return found

    def namespace_resource(self):
        return self.discovery.find(kr.NAMESPACES)

    def _filter_resource(self, group_resource):
        found = self.discovery.find(group_resource)
        if found is not None:
            return found
        for synthetic in self.synthetic:
            if synthetic.group_resource == group_resource:
                return synthetic
        return None

    def selected(self, group_resource, item, source_namespace):
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
        if self.named is not None and not named_items.named(self.named, group_resource, source_namespace,
                                                            metadata.get("name")):
            return "not named in items"
        if group_resource == kr.NAMESPACES:
            if not self.selection.namespace_included(metadata.get("name", "")):
                return "namespace excluded"
            if self.selection.has_label_selector() and not self.selection.labels_match(metadata.get("labels")):
                return "does not match the label selector"
            return None
        return self.selection.item_skip_reason(api_resource, item)

    @property
    def crd_pending(self):
        """Names of the backup's CRDs (= the group-resources they serve) that are restored."""
        if self._crd_pending is None:
            names = set()
            for _ns, name, item in self.extracted.items_of(kr.CRDS):
                if self.selected(kr.CRDS, item, None) is None:
                    names.add(name)
            self._crd_pending = names
        return self._crd_pending

    def rediscover(self, wanted):
        """Refresh discovery; True when it serves every group-resource in ``wanted``."""
        self.discovery = self.kube.discover(refresh=True)
        self._choose_api_versions()  # the restored CRDs' versions are served now
        return set(wanted) <= set(r.group_resource for r in self.discovery.resources)
