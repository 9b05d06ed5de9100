# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a backup (or a restore) selects: Velero's include/exclude rules, pure.

- Namespace filters are globs (``*``, ``?``, ``[abc]``); ``*`` or an empty include list means all.
- Resource filters accept ``resource``, ``resource.group``, kind, singular and short names
  and globs; they are resolved once against discovery into group-resource names
  (``deployments.apps``, ``pods``) by one rule (``resolve_resource_patterns``): a name without
  its group that several groups serve (and the core group does not) is an error, never a guess.
- Cluster-scoped resources follow either the old style (``include_cluster_resources``:
  null/true/false, with ``included_resources``/``excluded_resources``) or the new style
  (``included|excluded_cluster_scoped_resources`` + ``included|excluded_namespace_scoped_resources``);
  mixing them is an error.
- Label selectors use kubectl's syntax (``a=b,c!=d,e in (x,y),!f,g``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.kuberesource import (
    CRDS,
    EVENTS,
    EVENTS_K8S_IO_EVENTS,
    EXCLUDE_FROM_BACKUP_LABEL,
    NAMESPACES,
)
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import DNS_SUBDOMAIN, parse_label_selector

# Never backed up (Velero does the same).
NEVER_BACKED_UP = frozenset([EVENTS, EVENTS_K8S_IO_EVENTS])
# Velero only backs up resources it can also restore and delete.
REQUIRED_VERBS = frozenset(["list", "get", "create", "delete"])

OLD_STYLE_OPTIONS = ("included_resources", "excluded_resources", "include_cluster_resources")
NEW_STYLE_OPTIONS = (
    "included_cluster_scoped_resources", "excluded_cluster_scoped_resources",
    "included_namespace_scoped_resources", "excluded_namespace_scoped_resources",
)

_GLOB_CHARS = re.compile(r"[*?\[]")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_glob(pattern):
    return bool(_GLOB_CHARS.search(pattern))


def glob_match(pattern, value):
    return fnmatch.fnmatchcase(value, pattern)


def validate_object_name(name, what="name"):
    """A Kubernetes object name (DNS subdomain: lowercase, digits, '-', '.', at most 253 chars)."""
    if not isinstance(name, str) or not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        raise InvalidOptionError(
            "%s %r is not a valid object name: use at most 253 lowercase letters, digits, '-' or '.', "
            "starting and ending with a letter or digit" % (what, name))
    return name


# ---------------------------------------------------------------- include/exclude

class IncludesExcludes(object):
    """An include list and an exclude list of exact names or globs (Velero's IncludesExcludes)."""

    def __init__(self, includes=None, excludes=None):
        self.includes = list(includes or [])
        self.excludes = list(excludes or [])

    def _matches(self, patterns, value):
        return any(p == "*" or glob_match(p, value) for p in patterns)

    def excluded(self, value):
        return self._matches(self.excludes, value)

    def should_include(self, value):
        """Everything in the includes (empty or '*' = all) except what the excludes match."""
        if self.excluded(value):
            return False
        return not self.includes or self._matches(self.includes, value)

    def include_everything(self):
        return not self.excludes and (not self.includes or self.includes == ["*"])


def validate_includes_excludes(option, includes, excludes, star_excludes_allowed=False):
    """Velero's list rules: '*' alone in an include list; never an item both included and excluded."""
    includes = includes or []
    excludes = excludes or []
    if "*" in includes and len(includes) > 1:
        raise InvalidOptionError("included_%s must either be ['*'] or a list without '*'" % option)
    if "*" in excludes and not star_excludes_allowed:
        raise InvalidOptionError("excluded_%s cannot contain '*'" % option)
    if "*" in excludes and (len(excludes) > 1 or includes):
        raise InvalidOptionError("excluded_%s: '*' must be alone and needs an empty include list" % option)
    both = sorted(set(includes) & set(excludes))
    if both:
        raise InvalidOptionError("%s %s both included and excluded" % (option, ", ".join(both)))


def validate_namespace_patterns(option, patterns):
    for pattern in patterns or []:
        # Globs are allowed: check the name with each glob character replaced by a letter.
        candidate = re.sub(r"[*?\[\]]", "x", pattern)
        if pattern != "*" and (len(candidate) > 63 or not _DNS_LABEL.match(candidate)):
            raise InvalidOptionError(
                "%s: %r is not a valid namespace name or glob (lowercase letters, digits and '-', "
                "at most 63 characters)" % (option, pattern))


# ---------------------------------------------------------------- resource names

def resource_names(api_resource):
    """Every name a user may use for a resource: plural, singular/kind, short names, each
    also qualified with the group (``deploy.apps``)."""
    names = set([api_resource.resource, api_resource.kind.lower()])
    names.update(s.lower() for s in api_resource.short_names or ())
    singular = getattr(api_resource, "singular", "") or ""
    if singular:
        names.add(singular.lower())
    if api_resource.group:
        names.update(["%s.%s" % (n, api_resource.group) for n in list(names)])
    return names


def resolve_resource_patterns(patterns, api_resources, option="resources"):
    """Turn user resource names/globs into group-resource names (``deployments.apps``), by one rule
    for every filter that names resources (docs/backup.md, "Resource names"):

    - ``*`` is everything; a glob expands to every group-resource one of whose names it matches
      (``widgets.*`` matches ``widgets.a.example.com`` and ``widgets.b.example.com``);
    - a name with its group (``widgets.a.example.com``, ``deploy.apps``) is that group's resource;
    - a name without a group is the core group's resource when the core group has one by that
      name (``pods``, ``events``: as kubectl and Velero read them), else the one group-resource of
      that name; when several groups have it, InvalidOptionError names ``option`` and lists the
      qualified names to choose from: an ambiguous name never silently picks one group.

    A name discovery does not know stays as written, so it matches nothing rather than everything.
    """
    resolved = []
    for pattern in patterns or []:
        if pattern == "*":
            resolved.append("*")
            continue
        lowered = pattern.lower()
        if is_glob(lowered):
            matches = sorted(set(r.group_resource for r in api_resources
                                 if any(glob_match(lowered, n) for n in resource_names(r))))
            resolved.extend(matches or [lowered])
            continue
        candidates = [r for r in api_resources if "/" not in r.resource and lowered in resource_names(r)]
        core = [r for r in candidates if not r.group]
        chosen = sorted(set(r.group_resource for r in (core or candidates)))
        if len(chosen) > 1:
            raise InvalidOptionError(
                "%s: %r is ambiguous: it names %s. Write the resource with its group (one of %s), or a glob "
                "such as '%s.*' for all of them" % (
                    option, pattern, " and ".join(chosen), ", ".join(chosen), chosen[0].split(".", 1)[0]))
        resolved.append(chosen[0] if chosen else lowered)
    return _unique(resolved)


def _unique(values):
    seen = set()
    out = []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def backup_resources(api_resources):
    """One ApiResource per group-resource to back up: the server-preferred version of its group,
    or the group's first version that serves it. Drops resources without list/get/create/delete,
    subresources, and events."""
    chosen = {}
    for r in api_resources:
        if "/" in r.resource or not REQUIRED_VERBS.issubset(set(r.verbs or ())):
            continue
        if r.group_resource in NEVER_BACKED_UP:
            continue
        current = chosen.get(r.group_resource)
        if current is None or (r.preferred and not current.preferred):
            chosen[r.group_resource] = r
    return [chosen[k] for k in sorted(chosen)]


# ---------------------------------------------------------------- the whole selection

class BackupSelection(object):
    """Velero's backup filters resolved against discovery: which resource types to list and
    which items to keep. Build with ``BackupSelection(filters, api_resources)`` where filters
    holds the module options (snake_case Velero fields)."""

    def __init__(self, filters, api_resources):
        validate_filters(filters)
        self.api_resources = list(api_resources)
        self.namespaces = IncludesExcludes(filters.get("included_namespaces") or ["*"],
                                           filters.get("excluded_namespaces"))
        self._namespace_decisions = {}  # asked once per item, for a few namespaces: globs matched once each
        self.new_style = any(filters.get(k) for k in NEW_STYLE_OPTIONS)

        def resolve(key):
            return resolve_resource_patterns(filters.get(key), self.api_resources, key)

        if self.new_style:
            self.namespace_scoped = IncludesExcludes(resolve("included_namespace_scoped_resources"),
                                                     resolve("excluded_namespace_scoped_resources"))
            self.cluster_scoped = IncludesExcludes(resolve("included_cluster_scoped_resources"),
                                                   resolve("excluded_cluster_scoped_resources"))
        else:
            self.resources = IncludesExcludes(resolve("included_resources"), resolve("excluded_resources"))
            self.include_cluster_resources = filters.get("include_cluster_resources")
        self.label_selector = parse_label_selector(filters.get("label_selector"))
        self.or_label_selectors = [parse_label_selector(s) for s in filters.get("or_label_selectors") or []]

    # Resource types --------------------------------------------------------

    def lists_resource(self, api_resource):
        """Whether items of this resource type are listed in the main pass (Velero's ShouldInclude)."""
        gr = api_resource.group_resource
        if gr in NEVER_BACKED_UP:
            return False
        if self.new_style:
            if api_resource.namespaced:
                return self.namespace_scoped.should_include(gr)
            if self.cluster_scoped.excluded(gr):
                return False
            if (not self.cluster_scoped.includes and not self.cluster_scoped.excludes
                    and self.namespaces.include_everything() and self.namespace_scoped.include_everything()):
                return True
            return gr == NAMESPACES or (bool(self.cluster_scoped.includes)
                                        and self.cluster_scoped.should_include(gr))
        if not api_resource.namespaced and self.include_cluster_resources is False:
            return False
        if (gr != NAMESPACES and not api_resource.namespaced and self.include_cluster_resources is None
                and not self.namespaces.include_everything()):
            return False
        return self.resources.should_include(gr)

    def resource_excluded(self, api_resource):
        """Whether an item pulled in by an action must still be left out (Velero's ShouldExclude)."""
        gr = api_resource.group_resource
        if gr in NEVER_BACKED_UP:
            return True
        if self.new_style:
            scope = self.namespace_scoped if api_resource.namespaced else self.cluster_scoped
            return scope.excluded(gr)
        if self.resources.excluded(gr):
            return True
        if not api_resource.namespaced:
            if self.include_cluster_resources is False:
                return True
            if self.include_cluster_resources is None and not self.resources.should_include(gr):
                return True
        return False

    def crds_filtered(self):
        """True when CRDs were explicitly filtered out (excluded, or no cluster-scoped resources at
        all), so custom resources come without their CRD. An include list that merely does not
        name CRDs does not count: a custom resource is useless without its definition."""
        if self.new_style:
            return self.cluster_scoped.excluded(CRDS)
        return self.resources.excluded(CRDS) or self.include_cluster_resources is False

    def list_label_selector(self):
        """A selector string the API server can apply while listing (None: filter client-side only)."""
        return self.label_selector.text if self.label_selector else None

    # Items -----------------------------------------------------------------

    def namespace_included(self, namespace):
        included = self._namespace_decisions.get(namespace)
        if included is None:
            included = self._namespace_decisions[namespace] = self.namespaces.should_include(namespace)
        return included

    def labels_match(self, labels):
        if self.label_selector is not None:
            return self.label_selector.matches(labels)
        if self.or_label_selectors:
            return any(s.matches(labels) for s in self.or_label_selectors)
        return True

    def has_label_selector(self):
        return self.label_selector is not None or bool(self.or_label_selectors)

    def item_skip_reason(self, api_resource, item, additional=False):
        """None when the item is backed up, else why not (for the log). Items pulled in by an
        action (``additional``) skip the label selector, as in Velero."""
        metadata = item.get("metadata") or {}
        labels = metadata.get("labels") or {}
        namespace = metadata.get("namespace") or ""
        if labels.get(EXCLUDE_FROM_BACKUP_LABEL) == "true":
            return "labelled %s=true" % EXCLUDE_FROM_BACKUP_LABEL
        if metadata.get("deletionTimestamp"):
            return "being deleted"
        if api_resource.namespaced and not self.namespace_included(namespace):
            return "namespace %s excluded" % namespace
        if api_resource.group_resource == NAMESPACES and not self.namespace_included(metadata.get("name", "")):
            return "namespace excluded"
        if additional:
            excluded = (self.crds_filtered() if api_resource.group_resource == CRDS
                        else self.resource_excluded(api_resource))
            return "resource excluded" if excluded else None
        if api_resource.group_resource != NAMESPACES and not self.labels_match(labels):
            return "does not match the label selector"
        return None


def validate_filters(filters):
    """Reject inconsistent filter options before anything is read or written."""
    old = [k for k in OLD_STYLE_OPTIONS if filters.get(k) not in (None, [])]
    new = [k for k in NEW_STYLE_OPTIONS if filters.get(k)]
    if old and new:
        raise InvalidOptionError(
            "cannot mix the old resource filters (%s) with the scoped ones (%s); use one style"
            % (", ".join(old), ", ".join(new)))
    if filters.get("label_selector") and filters.get("or_label_selectors"):
        raise InvalidOptionError("label_selector and or_label_selectors are mutually exclusive; use one")
    validate_namespace_patterns("included_namespaces", filters.get("included_namespaces"))
    validate_namespace_patterns("excluded_namespaces", filters.get("excluded_namespaces"))
    validate_includes_excludes("namespaces", filters.get("included_namespaces"), filters.get("excluded_namespaces"))
    validate_includes_excludes("resources", filters.get("included_resources"), filters.get("excluded_resources"))
    for scope in ("cluster_scoped_resources", "namespace_scoped_resources"):
        validate_includes_excludes(scope, filters.get("included_" + scope), filters.get("excluded_" + scope),
                                   star_excludes_allowed=True)
    parse_label_selector(filters.get("label_selector"))
    for selector in filters.get("or_label_selectors") or []:
        parse_label_selector(selector)


def parse_ordered_resources(ordered):
    """``ordered_resources`` ({resource: "ns/name,ns/name" or [names]}) as {resource: [names]}."""
    parsed = {}
    for resource, names in (ordered or {}).items():
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        if not isinstance(names, list):
            raise InvalidOptionError("ordered_resources[%s] must be a list of names or a comma-separated string"
                                     % resource)
        parsed[resource] = [str(n) for n in names]
    return parsed
