# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pages of a LIST answer: their metadata read without decoding the items, and their items
with ``apiVersion`` and ``kind`` set, either decoded or as the exact JSON text the server sent
(a backup writes that text as it is, so an item is never encoded again)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import re

_LIST_HEAD = re.compile(br'\A\s*\{\s*"kind"\s*:\s*"[^"\\]*"\s*,\s*"apiVersion"\s*:\s*"[^"\\]*"\s*,\s*"metadata"\s*:')
_METADATA_KEY = b'"metadata":'
_LIST_METADATA_SPAN = 64 * 1024  # list metadata is a resourceVersion, a continue token and a count
_JSON_DECODER = json.JSONDecoder()


def list_page_metadata(data):
    """The ``metadata`` object of a raw LIST page, read without decoding the items: built-in
    types send it first (``{"kind":..,"apiVersion":..,"metadata":{..},"items":[..]}``), custom
    resources last (sorted keys). None when neither end holds it."""
    head = _LIST_HEAD.match(data)
    if head:
        found = _decode_object_at(data[head.end():head.end() + _LIST_METADATA_SPAN])
        if found is not None:
            return found[0]
    start = data.rfind(_METADATA_KEY, max(0, len(data) - _LIST_METADATA_SPAN))
    if start >= 0:
        found = _decode_object_at(data[start + len(_METADATA_KEY):])
        # Only the top-level object's last key is followed by nothing but its closing brace.
        if found is not None and found[1].strip() == "}":
            return found[0]
    return None


def _decode_object_at(chunk):
    """(JSON object at the start of ``chunk``, the text after it), or None."""
    text = chunk.decode("utf-8", "replace")  # a head chunk may end inside a character of an item
    try:
        value, end = _JSON_DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except ValueError:
        return None
    return (value, text[end:]) if isinstance(value, dict) else None


def page_items(document, api_resource):
    """The items of a decoded LIST page, with ``apiVersion`` and ``kind`` set (a list of a
    built-in type leaves them out of its items)."""
    items = document.get("items") or []
    for item in items:
        item["apiVersion"] = api_resource.group_version
        item["kind"] = api_resource.kind
    return items


def raw_page_items(data, api_resource):
    """Yield ``(item dict, item JSON text)`` of a raw LIST page, one at a time (a page holds up to
    thousands: decoded all at once they took several times the page's size in each worker), the text
    exactly as the server sent the item (so it need not be encoded again), ``apiVersion`` and
    ``kind`` set on both (a list of a built-in type leaves them out of its items). Raises ValueError
    on malformed JSON, once the items before it were yielded."""
    try:
        for item, text in _walk_list_items(data.decode("utf-8")):
            yield _typed(item, text, api_resource)
    except (IndexError, UnicodeDecodeError) as error:
        raise ValueError("malformed LIST page: %s" % error)


def _walk_list_items(text):
    """Yield ``(item, text span)`` of the top-level ``items`` array, walking the object key by key."""
    decode = _JSON_DECODER.raw_decode
    position = _skip_space(text, 0)
    if text[position] != "{":
        raise ValueError("a LIST page is not a JSON object")
    position = _skip_space(text, position + 1)
    while text[position] != "}":
        key, position = decode(text, position)
        position = _skip_space(text, position)
        if text[position] != ":":
            raise ValueError("malformed LIST page at offset %d" % position)
        position = _skip_space(text, position + 1)
        if key == "items" and text[position] == "[":
            position = _skip_space(text, position + 1)
            while text[position] != "]":
                start = position
                item, position = decode(text, position)
                yield item, text[start:position]
                position = _skip_space(text, position)
                if text[position] == ",":
                    position = _skip_space(text, position + 1)
            position += 1
        else:
            _value, position = decode(text, position)
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)


def _skip_space(text, position):
    # The API server writes compact JSON: the regular expression runs only where there is space.
    if text[position] in " \t\r\n":
        position = _SPACE.match(text, position).end()
    return position


_SPACE = re.compile(r"[ \t\r\n]*")


@functools.lru_cache(maxsize=256)
def _typed_head(kind, group_version):
    """``{"kind":..,"apiVersion":..`` of an item's JSON text; made once per type, not once per item."""
    return '{"kind":%s,"apiVersion":%s' % (json.dumps(kind), json.dumps(group_version))


def _typed(item, text, api_resource):
    """The item with ``apiVersion``/``kind``, as (dict, UTF-8 JSON bytes)."""
    if not isinstance(item, dict):
        raise ValueError("a LIST page holds an item that is not an object")
    has_kind, has_version = "kind" in item, "apiVersion" in item
    if has_kind and has_version:
        return item, text.encode("utf-8")
    item["apiVersion"] = api_resource.group_version
    item["kind"] = api_resource.kind
    if has_kind or has_version:  # half-typed (never seen from a server): encode it whole
        return item, json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # As a GET of the single object would send it: kind and apiVersion first.
    head = _typed_head(api_resource.kind, api_resource.group_version)
    rest = text[1:].lstrip()
    return item, (head + ("}" if rest == "}" else "," + rest)).encode("utf-8")
