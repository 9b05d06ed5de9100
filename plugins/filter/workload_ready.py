# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The workload_ready filter: whether a Deployment, StatefulSet or DaemonSet (as kubernetes.core.k8s_info returns
it) is ready - what the verify playbook waits for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.restore.readiness import not_ready_reason

DOCUMENTATION = r"""
name: workload_ready
short_description: Whether a Deployment, StatefulSet or DaemonSet is ready
version_added: 0.1.0
description:
  - A Deployment is ready when its controller saw its latest spec and C(status.availableReplicas) reaches
    C(spec.replicas); a StatefulSet when C(status.readyReplicas) does; a DaemonSet when C(status.numberReady) reaches
    C(status.desiredNumberScheduled). Any other object is ready.
  - Used by the C(kubedr.backup.verify) playbook to wait for a restored copy.
options:
  _input:
    description: The object, as M(kubernetes.core.k8s_info) returns it.
    type: dict
    required: true
author:
  - kubedr.backup developers (@kubedr)
"""

EXAMPLES = r"""
- name: Deployments of a namespace that are not ready
  ansible.builtin.debug:
    msg: "{{ deployments.resources | reject('kubedr.backup.workload_ready') | map(attribute='metadata.name') | list }}"
"""

RETURN = r"""
_value:
  description: Whether the workload is ready.
  type: bool
"""


# The kinds the filter judges, as the restore's readiness gate names them (one definition of "ready").
_GROUP_RESOURCES = {"Deployment": kr.DEPLOYMENTS, "StatefulSet": kr.STATEFUL_SETS, "DaemonSet": kr.DAEMON_SETS}


def workload_ready(workload):
    workload = workload or {}
    group_resource = _GROUP_RESOURCES.get(workload.get("kind"))
    if group_resource is None:
        return True
    status, metadata = workload.get("status") or {}, workload.get("metadata") or {}
    if (status.get("observedGeneration") or 0) < (metadata.get("generation") or 1):
        return False  # the controller has not seen the restored object yet
    return not_ready_reason(group_resource, workload) is None


class FilterModule(object):
    def filters(self):
        return {"workload_ready": workload_ready}
