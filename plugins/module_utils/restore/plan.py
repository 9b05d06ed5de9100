# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The order of a restore: the `priorities` option and the tiers of group-resources it
gives (CRDs first, then the priority list). Pure functions over plain data; what is never
restored is decided in ``skips``.

Group-resources are written the way Velero writes them in a backup archive:
`resource.group` (`deployments.apps`), just `resource` for the core group
(`pods`, `namespaces`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.restore.skips import canonical_group_resource, is_never_restored

# DESIGN.md section 6, in this order. Velero resolves these entries through discovery;
# entries without a group are resolved with skips.GROUP_RESOURCE_ALIASES.
DEFAULT_HIGH_PRIORITIES = (
    "customresourcedefinitions",
    kr.NAMESPACES,
    "storageclasses",
    "volumesnapshotclass.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    kr.PVS,
    kr.PVCS,
    "clusterroles",
    "roles",
    kr.SERVICE_ACCOUNTS,
    "clusterrolebindings",
    "rolebindings",
    kr.SECRETS,
    kr.CONFIG_MAPS,
    "limitranges",
    "priorityclasses",
    kr.PODS,
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    kr.SERVICES,
)
DEFAULT_LOW_PRIORITIES = (
    "clusterbootstraps.run.tanzu.vmware.com",
    "clusters.cluster.x-k8s.io",
    "clusterresourcesets.addons.cluster.x-k8s.io",
)

PRIORITY_SEPARATOR = "-"


def parse_priorities(priorities):
    """Split a `priorities` option into (high, low) tuples.

    Accepts a list (`[a, b, "-", c]`) or Velero's comma-separated string
    (`"a,b,-,c"`); entries before the `-` separator come first, entries after it last.
    None means the defaults.
    """
    if priorities is None:
        return DEFAULT_HIGH_PRIORITIES, DEFAULT_LOW_PRIORITIES
    if isinstance(priorities, str):
        priorities = [part.strip() for part in priorities.split(",")] if priorities.strip() else []
    if not isinstance(priorities, (list, tuple)):
        raise InvalidOptionError("priorities: must be a list of resource names, got %s"
                                 % type(priorities).__name__)
    for index, entry in enumerate(priorities):
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidOptionError("priorities[%d]: must be a non-empty resource name, got %r"
                                     % (index, entry))
    entries = [entry.strip() for entry in priorities]
    if entries.count(PRIORITY_SEPARATOR) > 1:
        raise InvalidOptionError("priorities: the separator %r may appear only once (high ... - low ...)"
                                 % PRIORITY_SEPARATOR)
    if PRIORITY_SEPARATOR not in entries:
        return tuple(entries), ()
    split_at = entries.index(PRIORITY_SEPARATOR)
    return tuple(entries[:split_at]), tuple(entries[split_at + 1:])


def _resolve_entry(entry, present):
    """The group-resources of the backup a priority entry stands for (sorted).

    Exact or aliased names first; an entry without a group also matches every
    group-resource whose resource part it is (`clusters` -> `clusters.cluster.x-k8s.io`),
    which is how discovery would resolve it for a custom resource.
    """
    canonical = canonical_group_resource(entry)
    if canonical in present:
        return [canonical]
    if "." in entry:
        return []
    return sorted(gr for gr in present if gr.split(".", 1)[0] == entry)


def restore_tiers(group_resources, priorities=None):
    """Order the group-resources of a backup into tiers for the restore.

    Returns a list of lists: tiers are restored one after the other, the
    group-resources of one tier (and their items) concurrently. CRDs always form the
    first tier; then one tier per high-priority entry, in order; then one tier with
    every other resource (alphabetical: Velero restores those alphabetically, and
    their order carries no dependency); then one tier per low-priority entry.
    Entries not in the backup are ignored, each group-resource appears once (its
    first place wins) and never-restored resources are left out.
    """
    high, low = parse_priorities(priorities)
    present = set(gr for gr in group_resources if not is_never_restored(gr))
    placed = set()
    tiers = []

    def take(candidates):
        tier = [gr for gr in candidates if gr not in placed]
        placed.update(tier)
        if tier:
            tiers.append(tier)

    take([kr.CRDS] if kr.CRDS in present else [])
    for entry in high:
        take(_resolve_entry(entry, present))
    low_tiers = [_resolve_entry(entry, present) for entry in low]
    low_placed = set(gr for tier in low_tiers for gr in tier)
    take(sorted(present - placed - low_placed))
    for tier in low_tiers:
        take(tier)
    return tiers
