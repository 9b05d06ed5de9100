# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selectors: kubectl's string syntax and Velero's metav1.LabelSelector form, both ways."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import as_list, nonempty_string, option_fields

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SELECTOR_KEYS = {"matchLabels": "match_labels", "matchExpressions": "match_expressions"}


_SELECTOR_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|>|<|[^\s(),!=<>]+)")


class LabelSelector(object):
    """A parsed kubectl label selector; ``matches(labels)`` applies it to a labels dict."""

    def __init__(self, text, requirements):
        self.text = text
        self.requirements = requirements  # list of (key, operator, values)

    def matches(self, labels):
        labels = labels or {}
        return all(_requirement_matches(req, labels) for req in self.requirements)

    def __repr__(self):
        return "LabelSelector(%r)" % self.text


def _requirement_matches(requirement, labels):
    key, op, values = requirement
    present = key in labels
    value = labels.get(key)
    if op == "exists":
        return present
    if op == "!exists":
        return not present
    if op in ("=", "in"):
        return present and value in values
    if op in ("!=", "notin"):
        return not present or value not in values
    if op in (">", "<"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            return False
        return number > values[0] if op == ">" else number < values[0]
    raise AssertionError(op)


def _validate_label_key(key, text):
    prefix, name = key.rpartition("/")[::2]
    if (not name or len(name) > 63 or not _LABEL_NAME.match(name)
            or ("/" in key and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)))):
        raise InvalidOptionError("label selector %r: %r is not a valid label key" % (text, key))


def _validate_label_value(value, text):
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise InvalidOptionError("label selector %r: %r is not a valid label value" % (text, value))


def parse_label_selector(text):
    """Parse kubectl label selector syntax; raise InvalidOptionError naming the problem."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidOptionError("label selector must be a string, got %r" % (text,))
    tokens = []
    position = 0
    stripped = text.strip()
    while position < len(stripped):
        match = _SELECTOR_TOKEN.match(stripped, position)
        if not match or match.end() == position:
            raise InvalidOptionError("label selector %r: unexpected character at %d" % (text, position))
        tokens.append(match.group(1))
        position = match.end()
        while position < len(stripped) and stripped[position].isspace():
            position += 1
    requirements = []
    index = 0

    def expect(condition, what):
        if not condition:
            raise InvalidOptionError("label selector %r: %s" % (text, what))

    while index < len(tokens):
        token = tokens[index]
        if token == "!":
            expect(index + 1 < len(tokens), "'!' must be followed by a label key")
            key = tokens[index + 1]
            _validate_label_key(key, text)
            requirements.append((key, "!exists", ()))
            index += 2
        else:
            key = token
            expect(key not in ("(", ")", ",", "=", "==", "!=", ">", "<"), "expected a label key, found %r" % key)
            _validate_label_key(key, text)
            nxt = tokens[index + 1] if index + 1 < len(tokens) else ","
            if nxt == ",":
                requirements.append((key, "exists", ()))
                index += 1
            elif nxt in ("=", "==", "!="):
                value = tokens[index + 2] if index + 2 < len(tokens) else ","
                if value == ",":  # `a=` selects an empty value
                    value = ""
                    index += 2
                else:
                    expect(value not in ("(", ")", "=", "==", "!=", "!", ">", "<"),
                           "expected a value after %r" % nxt)
                    index += 3
                _validate_label_value(value, text)
                requirements.append((key, "!=" if nxt == "!=" else "=", (value,)))
            elif nxt in (">", "<"):
                expect(index + 2 < len(tokens) and re.match(r"^-?\d+$", tokens[index + 2]),
                       "%r needs an integer" % nxt)
                requirements.append((key, nxt, (int(tokens[index + 2]),)))
                index += 3
            elif nxt in ("in", "notin"):
                expect(index + 2 < len(tokens) and tokens[index + 2] == "(", "expected '(' after %r" % nxt)
                index += 3
                values = []
                while True:
                    expect(index < len(tokens), "missing ')'")
                    if tokens[index] == ")":
                        index += 1
                        break
                    if tokens[index] == ",":
                        index += 1
                        continue
                    expect(tokens[index] not in ("(", "=", "==", "!=", "!", ">", "<"),
                           "unexpected %r in a value list" % tokens[index])
                    _validate_label_value(tokens[index], text)
                    values.append(tokens[index])
                    index += 1
                expect(values, "%r needs at least one value" % nxt)
                requirements.append((key, nxt, tuple(values)))
            else:
                raise InvalidOptionError("label selector %r: unexpected %r after key %r" % (text, nxt, key))
        if index < len(tokens):
            expect(tokens[index] == ",", "expected ',' before %r" % tokens[index])
            index += 1
            expect(index < len(tokens), "trailing ','")
    return LabelSelector(text, requirements)


# matchExpressions operators -> selection.LabelSelector's requirement operators.
_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def parse_selector_option(value, where):
    """A selection.LabelSelector from kubectl's string syntax or Velero's dict form."""
    if isinstance(value, str):
        try:
            return parse_label_selector(value)
        except InvalidOptionError as error:
            raise InvalidOptionError("%s: %s" % (where, error))
    fields = option_fields(value, where, ("match_labels", "match_expressions"), aliases=_SELECTOR_KEYS)
    match_labels = fields.get("match_labels") or {}
    if not isinstance(match_labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in match_labels.items()):
        raise InvalidOptionError("%s.match_labels: must map label names to string values" % where)
    requirements = [(key, "=", (label,)) for key, label in sorted(match_labels.items())]
    for i, expression in enumerate(as_list(fields.get("match_expressions"), where + ".match_expressions")):
        at = "%s.match_expressions[%d]" % (where, i)
        expression = option_fields(expression, at, ("key", "operator", "values"), required=("key", "operator"))
        operator = expression["operator"]
        values = as_list(expression.get("values"), at + ".values")
        if operator not in _SELECTOR_OPERATORS:
            raise InvalidOptionError("%s.operator: %r is not one of In, NotIn, Exists, DoesNotExist"
                                     % (at, operator))
        if operator in ("In", "NotIn") and not values:
            raise InvalidOptionError("%s.values: operator %s needs at least one value" % (at, operator))
        if operator in ("Exists", "DoesNotExist") and values:
            raise InvalidOptionError("%s.values: operator %s takes no values" % (at, operator))
        requirements.append((nonempty_string(expression["key"], at + ".key"), _SELECTOR_OPERATORS[operator],
                             tuple(str(v) for v in values)))
    return LabelSelector(json.dumps(value, sort_keys=True), requirements)


def to_label_selector(parsed):
    """A parsed selector as Velero's metav1.LabelSelector (matchLabels + matchExpressions)."""
    match_labels, expressions = {}, []
    operators = {"in": "In", "notin": "NotIn", "!=": "NotIn", "exists": "Exists", "!exists": "DoesNotExist"}
    for key, op, values in parsed.requirements:
        if op == "=":
            match_labels[key] = values[0]
        elif op in operators:
            expression = {"key": key, "operator": operators[op]}
            if values:
                expression["values"] = list(values)
            expressions.append(expression)
        else:
            raise InvalidOptionError("label selector %r: operator %r cannot be stored in a Velero backup "
                                     "(use =, !=, in, notin, exists or !key)" % (parsed.text, op))
    selector = {}
    if match_labels:
        selector["matchLabels"] = match_labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector
