# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shape checks for options given as nested dicts (hooks, resource modifiers, selectors):
each error names the option path, so the user sees where the mistake is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def load_text(text, where):
    """An option given as JSON or YAML text (a Velero ConfigMap body) -> data; a clear error naming
    ``where`` otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if not HAS_YAML:
        raise InvalidOptionError("%s: is not JSON (YAML text needs the PyYAML package)" % where)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidOptionError("%s: is neither JSON nor YAML: %s" % (where, error))


def option_fields(value, where, allowed, required=(), aliases=None):
    """``value`` as a dict of snake_case keys; ``aliases`` maps Velero's camelCase keys to ours.
    Unknown, repeated or missing keys are errors naming ``where``."""
    if not isinstance(value, dict):
        raise InvalidOptionError("%s: must be a dict, got %s" % (where, type(value).__name__))
    aliases = aliases or {}
    found = {}
    for key, item in value.items():
        name = aliases.get(key, key)
        if name not in allowed:
            raise InvalidOptionError("%s: unknown field %r (expected %s)" % (where, key, ", ".join(allowed)))
        if name in found:
            raise InvalidOptionError("%s: field %r is given twice" % (where, name))
        found[name] = item
    for name in required:
        if found.get(name) in (None, "", [], {}):
            raise InvalidOptionError("%s.%s: is required" % (where, name))
    return found


def as_list(value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidOptionError("%s: must be a list, got %s" % (where, type(value).__name__))
    return value


def nonempty_string(value, where):
    if not isinstance(value, str) or not value:
        raise InvalidOptionError("%s: must be a non-empty string, got %r" % (where, value))
    return value


def timeout_seconds(value, default, option):
    """A timeout option in seconds (a number above 0, at most a day), or ``default`` when not given."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0
    if not 0 < seconds <= 86400:
        raise InvalidOptionError("%s must be a number of seconds above 0 (at most a day), got %r" % (option, value))
    return seconds
