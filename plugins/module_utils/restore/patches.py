# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON documents changed the standard ways: RFC 6901 pointers, RFC 6902 JSON patches and
RFC 7396 merge patches, and JSON equality (true is not 1). What resource modifiers apply."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError

PATCH_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")

_ARRAY_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


class ModifierError(KubedrError):
    """A patch could not be applied to one item (missing path, bad index...)."""


class PatchTestFailed(ModifierError):
    """A JSON patch `test` operation did not hold."""


def parse_pointer(pointer):
    """RFC 6901: `/a~1b/0` -> ['a/b', '0']; '' is the whole document."""
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise ModifierError("%r is not a JSON pointer (it must be empty or start with '/')" % (pointer,))
    if pointer == "":
        return []
    # ~1 first: '~01' must become '~1', not '/'.
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _array_index(token, array, pointer, allow_end):
    if allow_end and token == "-":
        return len(array)
    if not _ARRAY_INDEX.match(token):
        raise ModifierError("%s: %r is not an array index" % (pointer, token))
    index = int(token)
    if index > len(array) or (index == len(array) and not allow_end):
        raise ModifierError("%s: index %d is out of range (array of %d)" % (pointer, index, len(array)))
    return index


def _parent(document, pointer):
    """(container, last token) for a non-empty pointer; the container must exist."""
    tokens = parse_pointer(pointer)
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, node, pointer, allow_end=False)]
        else:
            raise ModifierError("%s: %r does not exist" % (pointer, token))
    return node, tokens[-1]


def resolve_pointer(document, pointer):
    """The value at `pointer`; ModifierError when it does not exist."""
    if pointer == "":
        return document
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise ModifierError("%s: %r does not exist" % (pointer, token))
        return parent[token]
    if isinstance(parent, list):
        return parent[_array_index(token, parent, pointer, allow_end=False)]
    raise ModifierError("%s: cannot look into a %s" % (pointer, type(parent).__name__))


def _add(document, pointer, value):
    if pointer == "":
        return value
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(token, parent, pointer, allow_end=True), value)
    else:
        raise ModifierError("%s: cannot add into a %s" % (pointer, type(parent).__name__))
    return document


def _remove(document, pointer):
    if pointer == "":
        raise ModifierError("cannot remove the whole document")
    resolve_pointer(document, pointer)
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        return parent.pop(token)
    return parent.pop(int(token))


def json_equal(left, right):
    """JSON equality: like ==, but true and 1 differ (Python says they are equal)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return False
    return left == right


def _apply_operation(document, operation):
    op, path = operation["operation"], operation["path"]
    if op == "add":
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op == "remove":
        _remove(document, path)
        return document
    if op == "replace":
        resolve_pointer(document, path)
        if path == "":
            return copy.deepcopy(operation["value"])
        _remove(document, path)
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op == "test":
        if not json_equal(resolve_pointer(document, path), operation["value"]):
            raise PatchTestFailed("test %s failed" % path)
        return document
    source = operation["from"]
    if op == "move":
        if path.startswith(source + "/"):
            raise ModifierError("move: %s is inside %s" % (path, source))
        if path == source:
            resolve_pointer(document, path)
            return document
        return _add(document, path, _remove(document, source))
    # copy
    return _add(document, path, copy.deepcopy(resolve_pointer(document, source)))


def json_patch(document, operations):
    """Apply an RFC 6902 patch; return a new document and leave `document` alone.

    `operations` are dicts with `operation` (or `op`), `path`, `from` and `value`.
    Raises PatchTestFailed when a `test` fails, ModifierError for any other failure;
    either way nothing is applied (a patch is atomic).
    """
    result = copy.deepcopy(document)
    for operation in operations:
        operation = dict(operation)
        if "op" in operation:
            operation["operation"] = operation.pop("op")
        if operation.get("operation") not in PATCH_OPERATIONS:
            raise ModifierError("unsupported patch operation %r" % (operation.get("operation"),))
        try:
            result = _apply_operation(result, operation)
        except KeyError as missing:
            raise ModifierError("%s %s: the operation needs %s"
                                % (operation["operation"], operation.get("path"), missing))
    return result


def merge_patch(target, patch):
    """Apply an RFC 7396 JSON merge patch; return a new document (null deletes)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
