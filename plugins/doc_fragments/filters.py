# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Velero's item filters, shared by k8s_backup and k8s_restore (the items of the cluster for a
    # backup, the items of the backup for a restore).
    DOCUMENTATION = r"""
options:
  included_namespaces:
    description:
      - Namespaces whose items are taken; globs (C(*), C(?), C([abc])) allowed. C(*) or nothing means all.
      - For a restore, the namespace names in the backup (before its C(namespace_mapping)).
    type: list
    elements: str
  excluded_namespaces:
    description:
      - Namespaces to leave out; globs allowed.
    type: list
    elements: str
  included_resources:
    description:
      - Resources to take, as C(resource), C(resource.group), kind or short name; globs allowed.
    type: list
    elements: str
  excluded_resources:
    description:
      - Resources to leave out, named as in O(included_resources).
    type: list
    elements: str
  include_cluster_resources:
    description:
      - V(true) takes all cluster-scoped resources, V(false) none.
      - Unset, cluster-scoped resources are taken only when all namespaces are, plus those item actions
        pull in (the persistent volume of a claim, the definition of a custom resource, ...), as Velero does.
    type: bool
  label_selector:
    description:
      - Take only items matching this label selector (kubectl syntax, for example C(app=web,tier in (a,b))).
      - Mutually exclusive with O(or_label_selectors).
    type: str
  or_label_selectors:
    description:
      - Take items matching any of these label selectors.
    type: list
    elements: str
"""
