# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fix for a failure, where there is one, named from the failure's messages (pure).

A run's per-item messages say what failed; these say once what to do about it: an identity
the API server refuses (HTTP 401) or forbids (HTTP 403) and the ClusterRole of the
kubedr.backup.rbac role it needs; a node without a running node agent and the role that
installs it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

BACKUP, RESTORE = "backup", "restore"
RBAC_ROLE = "kubedr.backup.rbac"
NODE_AGENT_ROLE = "kubedr.backup.node_agent"
CLUSTER_ROLES = {BACKUP: "kubedr-backup", RESTORE: "kubedr-restore"}  # the rbac role's defaults
NO_NODE_AGENT = "no running node agent"

_FORBIDDEN = re.compile(r"\bHTTP 403\b")
_UNAUTHORIZED = re.compile(r"\bHTTP 401\b")
_USER = re.compile(r'User "([^"]+)" cannot')
_AGENT_NAMESPACE = re.compile(NO_NODE_AGENT + r" on node \S+ \(namespace ([^,)\s]+)")


def _subject(user):
    """The rbac role's subject entry for an API server user name."""
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return "{kind: ServiceAccount, name: %s, namespace: %s}" % (parts[3], parts[2])
    return "{kind: User, name: %s}" % user


def forbidden_fix(kind, users=()):
    """What a run refused with HTTP 403 needs: the ClusterRole of its kind, bound to the identity."""
    who = ", ".join(users) if users else "the identity the module runs as"
    subjects = ", ".join(_subject(user) for user in users) or "{kind: ServiceAccount, name: ..., namespace: ...}"
    return ("HTTP 403 (forbidden) for %s: a %s needs the ClusterRole %s bound to it; the %s role creates and binds it "
            "(rbac_%s_subjects: [%s])" % (who, kind, CLUSTER_ROLES[kind], RBAC_ROLE, kind, subjects))


UNAUTHORIZED_FIX = ("HTTP 401 (unauthorized): the API server did not accept the credentials (kubeconfig and context, "
                    "api_key / K8S_AUTH_API_KEY, or the in-cluster token): they are wrong or expired")


def node_agent_fix(namespace):
    return ("no running node agent: install it with the %s role (node_agent_namespace: %s, the namespace the "
            "node_agent option names) so that it runs on every node with pod volumes" % (NODE_AGENT_ROLE, namespace))


def fixes(kind, messages, node_agent_namespace=None):
    """The fixes for a run's messages (its errors, or a failure's reason): one line per problem."""
    messages = list(messages)
    found = []
    forbidden = [m for m in messages if _FORBIDDEN.search(m)]
    if forbidden:
        found.append(forbidden_fix(kind, sorted(set(u for m in forbidden for u in _USER.findall(m)))))
    if any(_UNAUTHORIZED.search(m) for m in messages):
        found.append(UNAUTHORIZED_FIX)
    agentless = [m for m in messages if NO_NODE_AGENT in m]
    if agentless:  # the namespace the failed run looked in (a restore may report a backup's failure)
        named = sorted(set(n for m in agentless for n in _AGENT_NAMESPACE.findall(m)))
        namespace = ", ".join(named) or node_agent_namespace
        if namespace:
            found.append(node_agent_fix(namespace))
    return found


def with_fix(kind, message, node_agent_namespace=None):
    """A failure's message followed by its fix, when there is one."""
    found = fixes(kind, [message], node_agent_namespace)
    return "%s. %s" % (message, " ".join(found)) if found else message
