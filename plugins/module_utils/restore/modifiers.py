# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource modifiers: Velero's `resourceModifierRules` (version v1) as the
`resource_modifiers` option, applied to items before they are created.

A rule is `{conditions: {...}, patches: [...]}`, `{conditions: {...},
merge_patches: [...]}` or `{conditions: {...}, strategic_patches: [...]}` (Kubernetes
strategic merge patches, by the patch strategy the cluster's OpenAPI schema gives each field:
strategic_merge.py). Keys are snake_case; Velero's camelCase keys are accepted
too, so a Velero resource-modifier ConfigMap body works unchanged (the whole
`{version: v1, resourceModifierRules: [...]}` document, as a dict or YAML text).

Conditions (all must hold):
- `group_resource` (required): a glob over `resource.group` where `*` stops at dots,
  as in Velero (gobwas/glob with '.'): `pods`, `*.apps`, `*` (every core resource),
  `*.*` (resources of one-word groups such as `apps`), `**` (every resource).
- `resource_name_regex`: searched in metadata.name.
- `namespaces`: names or globs; namespaced items only (cluster-scoped items pass).
  They are the item's namespace in the backup, before `namespace_mapping`.
- `label_selector`: `{match_labels: {...}, match_expressions: [{key, operator, values}]}`
  (Velero's form) or kubectl's string syntax (`app=db,tier in (a,b)`).
- `matches`: Velero's list `[{path, value}]` (JSON-pointer equality tests; a missing
  path does not match) or a JMESPath expression string over the item, matching when
  its result is truthy (JMESPath truthiness: not null/false/empty).

Conditions are evaluated on the item as passed in, never on what an earlier rule
made of it; patches of the matching rules apply in order, each on the previous
result. A failing `test` operation skips the rest of its rule, silently (Velero).

Patch values: a string value is read as Velero reads it, so Velero configurations
keep their meaning: `"null"`, `"true"`/`"false"`, numbers and JSON objects/arrays
(`"{...}"`, `"[...]"`) become those JSON values, a double-quoted string (`'"8080"'`)
is the string inside the quotes, anything else is the string itself. Non-string
values (from YAML) are used as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import as_list, load_text, nonempty_string, option_fields
from ansible_collections.kubedr.backup.plugins.module_utils.selection.filters import glob_match
from ansible_collections.kubedr.backup.plugins.module_utils.selection.labels import LabelSelector, parse_selector_option
from ansible_collections.kubedr.backup.plugins.module_utils.restore import strategic_merge
from ansible_collections.kubedr.backup.plugins.module_utils.restore.patches import (
    PATCH_OPERATIONS,
    ModifierError,
    PatchTestFailed,
    json_equal,
    json_patch,
    merge_patch,
    parse_pointer,
    resolve_pointer,
)

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

OPTION = "resource_modifiers"
SUPPORTED_VERSION = "v1"

# Velero's camelCase keys (and RFC 6902's `op`) -> our snake_case keys.
_KEY_ALIASES = {
    "resourceModifierRules": "resource_modifier_rules",
    "groupResource": "group_resource",
    "resourceNameRegex": "resource_name_regex",
    "labelSelector": "label_selector",
    "matchLabels": "match_labels",
    "matchExpressions": "match_expressions",
    "mergePatches": "merge_patches",
    "strategicPatches": "strategic_patches",
    "patchData": "patch_data",
    "op": "operation",
}

_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


# ---------------------------------------------------------------- values and matchers

def velero_value(value):
    """A patch or match value read the way Velero reads its string values (see module doc)."""
    if not isinstance(value, str):
        return value
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    if value == "null":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.startswith("{") or value.startswith("["):
        return json.loads(value)
    if _JSON_NUMBER.match(value):
        return json.loads(value)
    return value


def glob_to_regex(pattern, separator="."):
    """Compile a glob the way Velero's group_resource globs work (gobwas/glob with '.').

    `*` matches within one dot-separated part, `**` across parts, `?` one character
    that is not a dot, `[abc]`/`[!abc]` a character class, `{a,b}` alternatives.
    """
    return re.compile("^%s$" % _translate_glob(pattern, re.escape(separator)))


def _translate_glob(pattern, separator):
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^%s]*" % separator)
        elif char == "?":
            out.append("[^%s]" % separator)
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise ValueError("unclosed '[' in %r" % pattern)
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[%s%s]" % ("^" if negate else "", body.replace("\\", "\\\\")))
            i = end
        elif char == "{":
            end = pattern.find("}", i)
            if end < 0:
                raise ValueError("unclosed '{' in %r" % pattern)
            alternatives = pattern[i + 1:end].split(",")
            out.append("(?:%s)" % "|".join(_translate_glob(alt, separator) for alt in alternatives))
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _jmespath_truthy(result):
    # JMESPath truthiness: 0 is true, empty containers and strings are false.
    return not (result is None or result is False or result in ("", [], {}))


# ---------------------------------------------------------------- validation

@dataclass(frozen=True)
class ModifierRule:
    """One validated rule; `index` is its position in the option (for messages)."""
    index: int
    group_resource: str
    group_resource_pattern: Any
    resource_name_regex: Optional[Any] = None
    namespaces: Tuple[str, ...] = ()
    label_selector: Optional[LabelSelector] = None
    matches: Tuple[Tuple[str, Any], ...] = ()
    matches_expression: Optional[Any] = None
    patches: Tuple[dict, ...] = ()
    merge_patches: Tuple[dict, ...] = ()
    strategic_patches: Tuple[dict, ...] = ()


def _fields(value, where, allowed, required=()):
    return option_fields(value, where, allowed, required, aliases=_KEY_ALIASES)


def _value(value, where):
    try:
        return velero_value(value)
    except ValueError as error:
        raise InvalidOptionError("%s: %r is not valid JSON: %s" % (where, value, error))


def _pointer(value, where):
    try:
        parse_pointer(value)
    except ModifierError as error:
        raise InvalidOptionError("%s: %s" % (where, error))
    return value


def _validate_matches(value, where):
    """(list form as (pointer, value) pairs, compiled JMESPath expression or None)."""
    if isinstance(value, str):
        if not HAS_JMESPATH:
            raise InvalidOptionError(
                "%s: a JMESPath expression needs the jmespath Python package on the host that "
                "runs the module (pip install jmespath)" % where)
        try:
            return (), jmespath.compile(value)
        except jmespath.exceptions.JMESPathError as error:
            raise InvalidOptionError("%s: %r is not a valid JMESPath expression: %s" % (where, value, error))
    tests = []
    for i, match in enumerate(as_list(value, where)):
        at = "%s[%d]" % (where, i)
        match = _fields(match, at, ("path", "value"), required=("path",))
        tests.append((_pointer(match["path"], at + ".path"), _value(match.get("value", ""), at + ".value")))
    return tuple(tests), None


def _validate_conditions(value, where):
    fields = _fields(value, where, ("group_resource", "resource_name_regex", "namespaces",
                                    "label_selector", "matches"), required=("group_resource",))
    group_resource = nonempty_string(fields["group_resource"], where + ".group_resource")
    try:
        pattern = glob_to_regex(group_resource)
    except (ValueError, re.error) as error:
        raise InvalidOptionError("%s.group_resource: %r is not a valid glob: %s" % (where, group_resource, error))
    name_regex = None
    if fields.get("resource_name_regex"):
        at = where + ".resource_name_regex"
        try:
            name_regex = re.compile(nonempty_string(fields["resource_name_regex"], at))
        except re.error as error:
            raise InvalidOptionError("%s: %r is not a valid regular expression: %s"
                                     % (at, fields["resource_name_regex"], error))
    namespaces = tuple(nonempty_string(ns, "%s.namespaces[%d]" % (where, i))
                       for i, ns in enumerate(as_list(fields.get("namespaces"), where + ".namespaces")))
    selector = None
    if fields.get("label_selector") is not None:
        selector = parse_selector_option(fields["label_selector"], where + ".label_selector")
    tests, expression = _validate_matches(fields.get("matches"), where + ".matches")
    return dict(group_resource=group_resource, group_resource_pattern=pattern,
                resource_name_regex=name_regex, namespaces=namespaces, label_selector=selector,
                matches=tests, matches_expression=expression)


def _validate_patch(value, where):
    fields = _fields(value, where, ("operation", "path", "from", "value"), required=("operation", "path"))
    operation = fields["operation"].lower() if isinstance(fields["operation"], str) else fields["operation"]
    if operation not in PATCH_OPERATIONS:
        raise InvalidOptionError("%s.operation: %r is not one of %s"
                                 % (where, fields["operation"], ", ".join(PATCH_OPERATIONS)))
    patch = {"operation": operation, "path": _pointer(fields["path"], where + ".path")}
    if operation in ("move", "copy"):
        if "from" not in fields:
            raise InvalidOptionError("%s.from: is required for %s" % (where, operation))
        patch["from"] = _pointer(fields["from"], where + ".from")
    if operation in ("add", "replace", "test"):
        if "value" not in fields:
            raise InvalidOptionError("%s.value: is required for %s" % (where, operation))
        patch["value"] = _value(fields["value"], where + ".value")
    return patch


def _validate_merge_patch(value, where):
    fields = _fields(value, where, ("patch_data",), required=("patch_data",))
    data = fields["patch_data"]
    if isinstance(data, str):
        data = load_text(data, where + ".patch_data")
    if not isinstance(data, dict):
        raise InvalidOptionError("%s.patch_data: must be a dict (or its JSON/YAML text)" % where)
    return data


def _validate_rule(value, index):
    where = "%s[%d]" % (OPTION, index)
    fields = _fields(value, where, ("conditions", "patches", "merge_patches", "strategic_patches"),
                     required=("conditions",))
    conditions = _validate_conditions(fields["conditions"], where + ".conditions")
    patches = tuple(_validate_patch(p, "%s.patches[%d]" % (where, i))
                    for i, p in enumerate(as_list(fields.get("patches"), where + ".patches")))
    merges = tuple(_validate_merge_patch(p, "%s.merge_patches[%d]" % (where, i))
                   for i, p in enumerate(as_list(fields.get("merge_patches"), where + ".merge_patches")))
    strategic = tuple(_validate_merge_patch(p, "%s.strategic_patches[%d]" % (where, i))
                      for i, p in enumerate(as_list(fields.get("strategic_patches"), where + ".strategic_patches")))
    if len([kind for kind in (patches, merges, strategic) if kind]) != 1:
        raise InvalidOptionError("%s: give one of patches, merge_patches or strategic_patches (one kind per rule)"
                                 % where)
    return ModifierRule(index=index, patches=patches, merge_patches=merges, strategic_patches=strategic,
                        **conditions)


def uses_strategic_patches(rules):
    """Whether validated rules need the cluster's schemas (strategic merge patches)."""
    return any(rule.strategic_patches for rule in rules or ())


def validate_modifiers(rules):
    """Check a `resource_modifiers` option; return a tuple of ModifierRule.

    Takes a list of rules, Velero's document `{version: v1, resource_modifier_rules: [...]}`
    (camelCase keys too) or that document as YAML/JSON text. Raises InvalidOptionError
    naming the rule index and field.
    """
    if rules is None or rules == []:
        return ()
    if isinstance(rules, str):
        rules = load_text(rules, OPTION)
    if isinstance(rules, dict):
        document = _fields(rules, OPTION, ("version", "resource_modifier_rules"),
                           required=("resource_modifier_rules",))
        version = document.get("version", SUPPORTED_VERSION)
        if not isinstance(version, str) or version.lower() != SUPPORTED_VERSION:
            raise InvalidOptionError("%s.version: only %r is supported, got %r" % (OPTION, SUPPORTED_VERSION, version))
        rules = document["resource_modifier_rules"]
    return tuple(_validate_rule(rule, index) for index, rule in enumerate(as_list(rules, OPTION)))


# ---------------------------------------------------------------- applying

def rule_matches(rule, item, group_resource):
    """Whether a validated rule's conditions hold for an item of `group_resource`."""
    if not rule.group_resource_pattern.match(group_resource):
        return False
    metadata = item.get("metadata") or {}
    namespace = metadata.get("namespace")
    if namespace and rule.namespaces and not any(glob_match(ns, namespace) for ns in rule.namespaces):
        return False
    if rule.resource_name_regex and not rule.resource_name_regex.search(metadata.get("name") or ""):
        return False
    if rule.label_selector and not rule.label_selector.matches(metadata.get("labels")):
        return False
    for pointer, expected in rule.matches:
        try:
            if not json_equal(resolve_pointer(item, pointer), expected):
                return False
        except ModifierError:
            return False
    if rule.matches_expression is not None and not _jmespath_truthy(rule.matches_expression.search(item)):
        return False
    return True


def _describe(item):
    metadata = item.get("metadata") or {}
    if metadata.get("namespace"):
        return "%s/%s" % (metadata["namespace"], metadata.get("name"))
    return str(metadata.get("name"))


def _strategic_patches(item, patches, schemas):
    kind_schema = schemas.kind_schema(item.get("apiVersion"), item.get("kind")) if schemas is not None else None
    if kind_schema is None:
        raise ModifierError("the cluster publishes no OpenAPI schema for %s %s: a strategic merge patch needs "
                            "its type's patch strategy (use merge_patches)" % (item.get("apiVersion"), item.get("kind")))
    walker = strategic_merge.SchemaWalker(kind_schema.components)
    for patch in patches:
        try:
            item = strategic_merge.strategic_merge(item, patch, kind_schema.schema, walker)
        except strategic_merge.StrategicMergeError as error:
            raise ModifierError("strategic merge patch: %s" % error)
    return item


def apply_modifiers(item, group_resource, rules, schemas=None):
    """Apply resource modifier rules to an item; return (item, indexes of the rules applied).

    `rules` are validate_modifiers()'s result (raw option values are validated first).
    `schemas` (kube.openapi.OpenApiSchemas) gives strategic merge patches the patch strategy
    of the item's type.
    The input is never modified: the item itself comes back when no rule applied, a
    new dict otherwise. Raises ModifierError naming the rule and the item when a patch
    cannot be applied.
    """
    if any(not isinstance(rule, ModifierRule) for rule in rules or ()):
        rules = validate_modifiers(rules)
    result = item
    applied = []
    for rule in rules or ():
        if not rule_matches(rule, item, group_resource):
            continue
        try:
            if rule.patches:
                result = json_patch(result, rule.patches)
            elif rule.strategic_patches:
                result = _strategic_patches(result, rule.strategic_patches, schemas)
            else:
                for patch in rule.merge_patches:
                    result = merge_patch(result, patch)
        except PatchTestFailed:
            continue
        except ModifierError as error:
            raise ModifierError("%s[%d] on %s %s: %s" % (OPTION, rule.index, group_resource, _describe(item), error))
        applied.append(rule.index)
    return result, applied
