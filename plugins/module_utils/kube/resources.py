# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Resource types as discovery reports them, their REST paths, and the parsing of both
discovery formats (aggregated ``/api`` + ``/apis``, and the legacy per-group lists)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

_ApiResourceBase = namedtuple(
    "_ApiResourceBase", "group version resource kind namespaced verbs preferred short_names singular")


class ApiResource(_ApiResourceBase):
    """One resource type in one version, as discovery reports it (immutable).

    ``group`` is ``""`` for the core group; ``preferred`` is true when ``version`` is the
    server-preferred version of its group."""

    __slots__ = ()

    def __new__(cls, group, version, resource, kind, namespaced, verbs=(), preferred=True, short_names=(),
                singular=""):
        return super(ApiResource, cls).__new__(cls, group, version, resource, kind, bool(namespaced),
                                               tuple(verbs or ()), bool(preferred), tuple(short_names or ()),
                                               singular or "")

    @property
    def group_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_resource(self):
        return "%s.%s" % (self.resource, self.group) if self.group else self.resource


_KUBE_VERSION = re.compile(r"^v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?$")
_STABILITY = {None: 0, "beta": 1, "alpha": 2}


def version_priority(version):
    """Sort key of an API version in Kubernetes' priority order (as ``kubectl`` and the API server rank
    a group's versions): GA before beta before alpha, a higher major then minor number first
    (``v2, v1, v2beta1, v1beta2, v1alpha1``); versions of another form last, alphabetically."""
    match = _KUBE_VERSION.match(version or "")
    if match is None:
        return (3, 0, 0, version or "")
    major, stability, minor = match.groups()
    return (_STABILITY[stability], -int(major), -int(minor or 0), "")


def api_path(api_resource, namespace=None, name=None):
    """The REST path of a resource collection or item (namespace None = all namespaces)."""
    root = "/apis/%s" % api_resource.group_version if api_resource.group else "/api/%s" % api_resource.version
    parts = [root]
    if api_resource.namespaced and namespace:
        parts.append("namespaces/%s" % namespace)
    parts.append(api_resource.resource)
    if name:
        parts.append(name)
    return "/".join(parts)


def parse_aggregated_discovery(document):
    """ApiResources out of an APIGroupDiscoveryList (``/api`` or ``/apis``); stale versions are
    returned separately as ``group/version`` strings."""
    resources = []
    stale = []
    for group_entry in document.get("items") or []:
        group = (group_entry.get("metadata") or {}).get("name") or ""
        for index, version_entry in enumerate(group_entry.get("versions") or []):
            version = version_entry.get("version")
            if version_entry.get("freshness") == "Stale":
                stale.append("%s/%s" % (group, version) if group else version)
                continue
            for entry in version_entry.get("resources") or []:
                kind = (entry.get("responseKind") or {}).get("kind") or ""
                resources.append(ApiResource(
                    group, version, entry.get("resource"), kind, entry.get("scope") == "Namespaced",
                    entry.get("verbs"), index == 0, entry.get("shortNames"), entry.get("singularResource")))
    return resources, stale


def parse_legacy_resource_list(group, version, preferred, document):
    """ApiResources out of an APIResourceList (``/api/v1``, ``/apis/<group>/<version>``)."""
    return [
        ApiResource(group, version, entry.get("name"), entry.get("kind"), entry.get("namespaced"),
                    entry.get("verbs"), preferred, entry.get("shortNames"), entry.get("singularName"))
        for entry in document.get("resources") or []
    ]


class Discovery(object):
    """The result of one discovery run: every ApiResource, plus warnings for groups that failed."""

    def __init__(self, resources, warnings=None, aggregated=False):
        self.resources = list(resources)
        self.warnings = list(warnings or [])
        self.aggregated = aggregated
        # Looked up per item by the restore and per reference by the backup: tables built once, in
        # discovery order, rather than a scan of every resource each time.
        self._by_group_resource = {}
        self._by_kind = {}
        for r in self.resources:
            if "/" in r.resource:  # subresources are never looked up
                continue
            self._by_group_resource.setdefault(r.group_resource, []).append(r)
            self._by_kind.setdefault((r.group, r.version, r.kind), r)

    def find(self, group_resource):
        """The ApiResource to use for a group-resource (preferred version first), or None."""
        matches = self._by_group_resource.get(group_resource, ())
        for r in matches:
            if r.preferred:
                return r
        return matches[0] if matches else None

    def served_versions(self, group_resource):
        """The ApiResources of a group-resource in every version the server serves it in, in
        Kubernetes' version priority (``version_priority``)."""
        return sorted(self._by_group_resource.get(group_resource, ()), key=lambda r: version_priority(r.version))

    def find_kind(self, api_version, kind):
        group, version = api_version.rpartition("/")[::2]
        return self._by_kind.get((group, version, kind))
