# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The existing-object policy: what a restore does with an item the cluster has already
(``existing_resource_policy`` none, update or recreate), decided from the item and the live
object alone. No I/O: the caller reads the live object and carries the decision out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import NamedTuple, Optional

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.restore.item_actions import (
    LiveDiff,
    diff_against_live,
    merge_service_account,
)

NONE, UPDATE, RECREATE = "none", "update", "recreate"
POLICIES = (NONE, UPDATE, RECREATE)
# Deleting these would delete far more than the item (every custom resource of a CRD, every
# object of a namespace): under `recreate` they are updated in place instead.
NEVER_DELETED = frozenset([kr.CRDS, kr.NAMESPACES])

# The action taken on one item, as check mode reports it in its plan.
PLAN_CREATE, PLAN_UPDATE, PLAN_RECREATE = "create", "update", "recreate"
PLAN_SKIP, PLAN_SKIP_IDENTICAL, PLAN_SKIP_DIFFERS, PLAN_FAIL = "skip", "skip_identical", "skip_differs", "fail"


class Decision(NamedTuple):
    """action: PLAN_SKIP_IDENTICAL, PLAN_SKIP_DIFFERS, PLAN_UPDATE or PLAN_RECREATE; body: what
    to patch the live object with (update) or create (recreate), else None; live_diff: the
    live object against what it would become."""
    action: str
    body: Optional[dict]
    live_diff: LiveDiff


def decide(policy, group_resource, desired, live):
    """The decision for ``desired`` (the prepared item) when ``live`` exists already."""
    if group_resource == kr.SERVICE_ACCOUNTS:
        # Merged into the live account (what the backup adds), never replaced: as Velero does.
        merged = merge_service_account(desired, live)
        differs = diff_against_live(desired, live)
        if policy == NONE or merged is None:
            return Decision(PLAN_SKIP_DIFFERS if differs.differs else PLAN_SKIP_IDENTICAL, None, differs)
        return Decision(PLAN_UPDATE, merged, diff_against_live(merged, live))
    live_diff = diff_against_live(desired, live, kr.PODS if group_resource == kr.PODS else None)
    if not live_diff.differs:
        return Decision(PLAN_SKIP_IDENTICAL, None, live_diff)
    if policy == NONE:
        return Decision(PLAN_SKIP_DIFFERS, None, live_diff)
    if policy == UPDATE or group_resource in NEVER_DELETED:
        return Decision(PLAN_UPDATE, desired, live_diff)
    return Decision(PLAN_RECREATE, desired, live_diff)
