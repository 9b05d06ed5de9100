# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace mapping: the ``namespace_mapping`` option checked, and where an item of a source
namespace is restored. Pure functions over plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

# RFC 1123 label: what a namespace name must be.
_NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def validate_namespace_mapping(namespace_mapping, restored_namespaces=None):
    """Check a `namespace_mapping` option; return it as a plain dict.

    Two source namespaces must not land in one target namespace: neither two mapping
    entries with the same target, nor (when `restored_namespaces`, the source
    namespaces this restore includes, is given) a target that is also a restored
    source namespace left in place.
    """
    if not namespace_mapping:
        return {}
    if not isinstance(namespace_mapping, dict):
        raise InvalidOptionError("namespace_mapping: must be a dict of source namespace: target namespace")
    sources_by_target = {}
    for source, target in namespace_mapping.items():
        for role, name in (("source", source), ("target", target)):
            if not isinstance(name, str) or not _NAMESPACE_NAME.match(name):
                raise InvalidOptionError(
                    "namespace_mapping: %s namespace %r is not a valid namespace name "
                    "(lowercase letters, digits and '-', at most 63 characters)" % (role, name))
        sources_by_target.setdefault(target, []).append(source)
    if restored_namespaces is not None:
        for namespace in restored_namespaces:
            if namespace in sources_by_target and namespace not in namespace_mapping:
                sources_by_target[namespace].append(namespace)
    for target, sources in sorted(sources_by_target.items()):
        if len(sources) > 1:
            raise InvalidOptionError(
                "namespace_mapping: namespaces %s would all be restored into namespace %r; "
                "map each source namespace to a target namespace of its own"
                % (", ".join(repr(s) for s in sorted(sources)), target))
    return dict(namespace_mapping)


def map_namespace(namespace, namespace_mapping):
    """The namespace an item of source `namespace` is restored into ('' stays '')."""
    if not namespace:
        return namespace
    return (namespace_mapping or {}).get(namespace, namespace)


def source_namespace(target, namespace_mapping):
    """The source namespace restored into `target` (the inverse of map_namespace)."""
    reverse = dict((v, k) for k, v in (namespace_mapping or {}).items())
    return reverse.get(target, target)
