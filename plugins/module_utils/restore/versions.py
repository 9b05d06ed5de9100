# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which API version of a group-resource a restore creates its items in, when the backup holds
them in several (``k8s_backup all_api_versions``, Velero's EnableAPIGroupVersions). Pure.

Velero's order (``pkg/restore/prioritize_group_version.go``): the user's priorities for the
group-resource (``api_version_priorities``, as Velero's ``enableapigroupversions`` ConfigMap), the
first one both the backup and the cluster have; else the cluster's preferred version if the backup
has it; else the backup's preferred version if the cluster serves it; else the first version the
cluster serves that the backup has, in Kubernetes' version priority. A cluster that serves the
group-resource in none of the backup's versions gets no version: each item is then an error that
names both sides."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import version_priority

USER_PRIORITY = "user priority"
CLUSTER_PREFERRED = "cluster preferred version"
BACKUP_PREFERRED = "backup preferred version"
COMMON_VERSION = "highest priority common version"

_VERSION = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a DNS label, as every API version

VersionChoice = namedtuple("VersionChoice", "group_resource version rule backup_versions backup_preferred "
                                            "cluster_versions cluster_preferred")
VersionChoice.__doc__ = """The version chosen for a group-resource (``version`` None: the cluster serves
none of the backup's), the rule that chose it, and what each side has (versions in priority order)."""


def sort_versions(versions):
    """Versions in Kubernetes' priority order (GA, beta, alpha; higher numbers first)."""
    return sorted(set(versions), key=version_priority)


def choose_version(group_resource, backup_versions, backup_preferred, cluster_versions, cluster_preferred,
                   user_priorities=()):
    """The VersionChoice for one group-resource (see the module doc)."""
    backup_sorted, cluster_sorted = sort_versions(backup_versions), sort_versions(cluster_versions)
    backup, cluster = set(backup_sorted), set(cluster_sorted)

    def chosen(version, rule):
        return VersionChoice(group_resource, version, rule, tuple(backup_sorted), backup_preferred,
                             tuple(cluster_sorted), cluster_preferred)

    for version in user_priorities or ():
        if version in backup and version in cluster:
            return chosen(version, USER_PRIORITY)
    if cluster_preferred in backup:
        return chosen(cluster_preferred, CLUSTER_PREFERRED)
    if backup_preferred in cluster:
        return chosen(backup_preferred, BACKUP_PREFERRED)
    for version in cluster_sorted:
        if version in backup:
            return chosen(version, COMMON_VERSION)
    return chosen(None, None)


def unserved_message(choice):
    """The error of each item of a group-resource whose versions the cluster serves none of."""
    return ("the backup holds %s in version(s) %s; the cluster serves it in %s only: not restored (make the "
            "cluster serve one of the backup's versions, e.g. in the CustomResourceDefinition)" % (
                choice.group_resource, ", ".join(choice.backup_versions), ", ".join(choice.cluster_versions)))


def describe(choice):
    """What the restore result says of a choice (``api_versions``)."""
    return {"version": choice.version, "rule": choice.rule, "backup_versions": list(choice.backup_versions),
            "backup_preferred": choice.backup_preferred, "cluster_versions": list(choice.cluster_versions),
            "cluster_preferred": choice.cluster_preferred}


def parse_version_priorities(option):
    """``api_version_priorities``: ``{group_resource: [versions, first preferred]}``, the versions a
    list or a comma-separated string; or the text of Velero's ``restoreResourcesVersionPriority``
    (lines ``<group_resource>=<v>,<v>``). Returns a dict of tuples; InvalidOptionError when malformed."""
    if option is None or option == "" or option == {}:
        return {}
    if isinstance(option, str):
        option = _parse_velero_text(option)
    if not isinstance(option, dict):
        raise InvalidOptionError("api_version_priorities must be a dict {group_resource: [versions]} or Velero's "
                                 "restoreResourcesVersionPriority text, not %s" % type(option).__name__)
    priorities = {}
    for group_resource, versions in option.items():
        if not isinstance(group_resource, str) or not group_resource or "/" in group_resource:
            raise InvalidOptionError("api_version_priorities: %r is not a group-resource such as "
                                     "rockbands.music.example.io" % (group_resource,))
        if isinstance(versions, str):
            versions = [v.strip() for v in versions.split(",")]
        if not isinstance(versions, (list, tuple)) or not versions or not all(
                isinstance(v, str) and _VERSION.match(v) for v in versions):
            raise InvalidOptionError("api_version_priorities: the versions of %s must be a list of API versions "
                                     "such as [v2, v1], not %r" % (group_resource, versions))
        priorities[group_resource] = tuple(versions)
    return priorities


def _parse_velero_text(text):
    """Velero's ConfigMap data: one ``<group_resource>=<v>,<v>`` per line, spaces ignored."""
    parsed = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.replace(" ", "").strip()
        if not line:
            continue
        if line.count("=") != 1 or line.startswith("=") or line.endswith("="):
            raise InvalidOptionError("api_version_priorities line %d (%r) is not <group_resource>=<version>,<version>"
                                     % (number, line[:100]))
        group_resource, versions = line.split("=")
        parsed[group_resource] = versions
    return parsed
