# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes strategic merge patches (what ``kubectl patch --type strategic`` sends), applied
to an item before it is created, for resource modifiers' ``strategic_patches``.

The patch strategy of each field comes from the cluster's OpenAPI v3 schema of the item's type
(``x-kubernetes-patch-strategy``, ``x-kubernetes-patch-merge-key``), the metadata the API
server itself merges by. Maps merge recursively and ``null`` deletes a key; a list whose strategy
is ``merge`` merges its elements by the merge key (objects) or as a set (scalars); any other list
is replaced. Directives: ``$patch: replace | delete`` (on a map, or as a list element),
``$retainKeys``, ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``.
A type with no patch metadata (a custom resource) merges as a JSON merge patch would, directives
apart. Pure functions over plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


class StrategicMergeError(ValueError):
    """A patch that cannot be applied (the message says where and why)."""


class SchemaWalker(object):
    """Field schemas of one OpenAPI v3 document: ``$ref`` and ``allOf`` wrappers followed."""

    def __init__(self, components):
        self.components = components or {}

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and seen < 32:
            seen += 1
            if "$ref" in node:
                node = self.components.get(node["$ref"].rsplit("/", 1)[-1]) or {}
            elif node.get("allOf") and "properties" not in node and "items" not in node:
                # A wrapper ({default, allOf: [{$ref}]}): the patch metadata sits on the wrapper's owner.
                node = node["allOf"][0]
            else:
                return node
        return node if isinstance(node, dict) else {}

    def field(self, schema, key):
        schema = self.resolve(schema)
        node = (schema.get("properties") or {}).get(key)
        if node is None and isinstance(schema.get("additionalProperties"), dict):
            node = schema["additionalProperties"]
        return node or {}

    def items(self, field_schema):
        return self.resolve(field_schema).get("items") or {}


def strategic_merge(original, patch, schema=None, walker=None):
    """``original`` with ``patch`` applied (neither is modified). ``schema`` is the OpenAPI
    schema of the object's type (None: no patch metadata); raises StrategicMergeError."""
    if not isinstance(patch, dict):
        raise StrategicMergeError("a strategic merge patch must be an object")
    merged = _merge_map(original if isinstance(original, dict) else {}, patch, schema or {},
                        walker or SchemaWalker({}), "")
    if merged is None:
        raise StrategicMergeError("$patch: delete at the top would delete the whole object")
    return merged


def _merge_map(original, patch, schema, walker, where):
    directive = patch.get(PATCH)
    if directive == "delete":
        return None
    if directive == "replace":
        return _without_directives(patch)
    if directive is not None:
        raise StrategicMergeError("%s: unknown $patch directive %r (replace or delete)" % (where or "/", directive))
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key in (PATCH, RETAIN_KEYS) or key.startswith(SET_ELEMENT_ORDER) or \
                key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            continue
        path = "%s/%s" % (where, key)
        if value is None:
            result.pop(key, None)
            continue
        field = walker.field(schema, key)
        current = result.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged = _merge_map(current, value, field, walker, path)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, dict):
            merged = _merge_map({}, value, field, walker, path)
            if merged is not None:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(current if isinstance(current, list) else [], value, field, walker, path)
        else:
            result[key] = copy.deepcopy(value)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            field = key[len(DELETE_FROM_PRIMITIVE_LIST):]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in (value or [])]
        elif key.startswith(SET_ELEMENT_ORDER):
            field = key[len(SET_ELEMENT_ORDER):]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _ordered(result[field], value, _merge_key(walker.field(schema, field), walker))
    if RETAIN_KEYS in patch:
        keep = patch[RETAIN_KEYS]
        if not isinstance(keep, list):
            raise StrategicMergeError("%s: $retainKeys must be a list of field names" % (where or "/"))
        result = dict((k, v) for k, v in result.items() if k in keep)
    return result


def _merge_key(field_schema, _walker):
    """(merge?, merge key) of a list field: the metadata sits on the field's own schema node."""
    node = field_schema or {}
    strategies = str(node.get("x-kubernetes-patch-strategy") or "").split(",")
    return ("merge" in strategies), node.get("x-kubernetes-patch-merge-key")


def _merge_list(original, patch, field_schema, walker, where):
    merge, key = _merge_key(field_schema, walker)
    if any(isinstance(e, dict) and e.get(PATCH) == "replace" for e in patch):
        return [_without_directives(e) for e in patch if not (isinstance(e, dict) and e.get(PATCH) == "replace")]
    if not merge:
        return [_without_directives(e) if isinstance(e, dict) else copy.deepcopy(e) for e in patch]
    if not key:  # a set of scalars: the union, in order
        result = list(original)
        result.extend(copy.deepcopy(v) for v in patch if v not in result)
        return result
    result = copy.deepcopy(original)
    items_schema = walker.items(field_schema)
    for element in patch:
        if not isinstance(element, dict) or key not in element:
            raise StrategicMergeError("%s: every element must be an object with the merge key %r" % (where, key))
        found = next((i for i, e in enumerate(result) if isinstance(e, dict) and e.get(key) == element[key]), None)
        if element.get(PATCH) == "delete":
            if found is not None:
                del result[found]
            continue
        if found is None:
            result.append(_merge_map({}, element, items_schema, walker, "%s[%s=%s]" % (where, key, element[key])))
        else:
            result[found] = _merge_map(result[found], element, items_schema, walker,
                                       "%s[%s=%s]" % (where, key, element[key]))
    return result


def _ordered(values, order, merge):
    """``values`` in the order ``$setElementOrder`` gives; elements it does not name keep theirs, after."""
    _merges, key = merge

    def identity(value):
        return value.get(key) if key and isinstance(value, dict) else value

    wanted = [identity(v) for v in order]
    ranked = sorted(enumerate(values), key=lambda pair: (
        wanted.index(identity(pair[1])) if identity(pair[1]) in wanted else len(wanted), pair[0]))
    return [value for _index, value in ranked]


def _without_directives(value):
    if isinstance(value, dict):
        return dict((k, _without_directives(v)) for k, v in value.items()
                    if k not in (PATCH, RETAIN_KEYS) and not k.startswith(SET_ELEMENT_ORDER)
                    and not k.startswith(DELETE_FROM_PRIMITIVE_LIST))
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value
