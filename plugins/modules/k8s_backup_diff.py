#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_backup_diff module: its documentation and argument spec; the comparison is
module_utils/diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_backup_diff
short_description: Show what changed between two backups, or between a backup and the live cluster
version_added: 0.1.0
description:
  - Compares the items of a backup (O(backup_name), or the newest Completed backup of O(schedule_name)) with
    another backup (O(against_backup)) or with the live cluster (O(against=cluster), the default), and lists
    the items added, removed and modified, with the fields that differ and a diff of each modified item.
  - The backup is the C(before) side; the other backup or the cluster is the C(after) side. An item is
    V(added) when only the after side has it.
  - What changes by itself is not a change - C(metadata.resourceVersion), C(uid), C(generation),
    C(creationTimestamp), C(managedFields), C(selfLink), C(status) (unless O(include_status=true)), and the
    labels a restore adds (C(velero.io/backup-name), C(velero.io/restore-name)).
  - The values of Secrets never appear - a changed value reads C(<hidden> (changed)) and the other values
    C(<hidden>), in RV(modified[].unified_diff) and in Ansible's diff alike.
  - The filters select the items of both sides the same way, as a backup selects them - the live items a
    backup would take (not labelled C(velero.io/exclude-from-backup), not being deleted). Live items are
    read in the API version the backup holds them in.
  - Memory does not grow with the size of the items - one digest per item of the first backup is kept, and
    only the modified items are read whole, one at a time.
  - Reads only; works on V(ReadOnly) locations. Backups written by Velero are read the same way.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.k8s_auth
  - kubedr.backup.storage_location
  - kubedr.backup.filters
  - kubedr.backup.encryption
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode changes nothing.
  diff_mode:
    support: full
    description:
      - Returns Ansible's before/after diff of every modified item (at most O(max_diffs)).
      - The module never reports C(changed), and Ansible prints a task's diff only when it is changed - add
        C(changed_when) with the result's RV(differs) to see the diffs in the play's output (the
        C(kubedr.backup.diff) playbook does).
options:
  backup_name:
    description:
      - The backup to compare from (the before side).
      - Exactly one of O(backup_name) and O(schedule_name) is required.
    type: str
  schedule_name:
    description:
      - Compare from the newest C(Completed) backup of this schedule (the backups labelled
        C(velero.io/schedule-name=<schedule_name>)), for example last night's.
    type: str
  against:
    description:
      - What to compare the backup with - V(cluster), the live cluster (the Kubernetes connection options are
        used), or V(backup), the backup O(against_backup).
      - Defaults to V(backup) when O(against_backup) is given, else V(cluster).
    type: str
    choices: [cluster, backup]
  against_backup:
    description:
      - The backup to compare with (the after side).
    type: str
  include_status:
    description:
      - Also compare the C(status) of the items.
    type: bool
    default: false
  max_diffs:
    description:
      - How many modified items get a diff (RV(modified[].unified_diff) and Ansible's diff), in the order of
        RV(modified); every modified item is listed with its RV(modified[].fields) regardless.
    type: int
    default: 100
notes:
  - Comparing two backups, O(included_resources) and O(excluded_resources) name resources by plural,
    C(resource.group) or kind; short names (C(cm)) need the cluster's discovery, so only work with
    O(against=cluster).
  - Cluster-scoped items that a backup pulls in for namespaced ones (the volume of a claim, the definition of a
    custom resource) are compared only when the filters take cluster-scoped resources.
  - A type the caller may not list in the cluster is left out of the comparison, with a warning.
  - Comparing two backups, the Kubernetes connection options are accepted, so C(module_defaults) for the
    C(kubedr) group apply, but they are not used.
requirements:
  - boto3 >= 1.28.0
seealso:
  - module: kubedr.backup.k8s_backup
  - module: kubedr.backup.k8s_backup_info
  - module: kubedr.backup.k8s_restore
"""

EXAMPLES = r"""
- name: What changed in namespace shop since last night's backup
  kubedr.backup.k8s_backup_diff:
    schedule_name: nightly
    included_namespaces: [shop]
    storage_location:
      bucket: velero
      endpoint_url: http://minio.example:9000
      s3_addressing_style: path
  register: drift

- name: Show each modified item's diff
  ansible.builtin.debug:
    msg: "{{ drift.modified | map(attribute='unified_diff') | list }}"
  when: drift.differs

- name: Fail an audit when the cluster drifted from the approved backup
  kubedr.backup.k8s_backup_diff:
    backup_name: approved-20240101
    excluded_resources: [pods, endpointslices.discovery.k8s.io, leases.coordination.k8s.io]
    storage_location:
      provider: filesystem
      path: /srv/backups
  register: audit
  failed_when: audit.differs

- name: Compare two backups
  kubedr.backup.k8s_backup_diff:
    backup_name: nightly-20240101020000
    against_backup: nightly-20240102020000
    storage_location:
      bucket: velero
  diff: true
"""

RETURN = r"""
differs:
  description: Whether anything was added, removed or modified.
  returned: success
  type: bool
  sample: true
compared:
  description: The two sides - C(before) (a backup) and C(after) (a backup, or the cluster).
  returned: success
  type: dict
  contains:
    before:
      description: C(kind=backup), with its C(name), C(phase), C(start_timestamp) and C(schedule).
      type: dict
      sample: {"kind": "backup", "name": "nightly-20240101020000", "phase": "Completed",
               "start_timestamp": "2024-01-01T02:00:00Z", "schedule": "nightly"}
    after:
      description: A backup as in RV(compared.before), or C(kind=cluster) with the API server's C(host).
      type: dict
      sample: {"kind": "cluster", "host": "https://10.0.0.1:6443"}
added:
  description: The items only the after side has, sorted by resource, namespace and name.
  returned: success
  type: list
  elements: dict
  contains:
    resource:
      description: The group-resource (C(deployments.apps), C(configmaps)).
      type: str
      sample: configmaps
    namespace:
      description: Its namespace; null for a cluster-scoped item.
      type: str
      sample: shop
    name:
      description: Its name.
      type: str
      sample: feature-flags
  sample: [{"resource": "configmaps", "namespace": "shop", "name": "feature-flags"}]
removed:
  description: The items only the before side has; entries as in RV(added).
  returned: success
  type: list
  elements: dict
  sample: [{"resource": "configmaps", "namespace": "shop", "name": "legacy"}]
modified:
  description: The items both sides have that differ; entries as in RV(added), plus the keys below.
  returned: success
  type: list
  elements: dict
  contains:
    fields:
      description: The paths of the fields that differ (never their values).
      type: list
      elements: str
      sample: ["data.color", "metadata.labels[\"app.kubernetes.io/version\"]"]
    unified_diff:
      description:
        - A unified diff of the item (indented JSON, sorted keys), Secret values hidden.
        - Only for the first O(max_diffs) modified items.
      returned: for the first O(max_diffs) modified items
      type: str
      sample: "--- configmaps shop/settings (backup nightly-1)\n+++ configmaps shop/settings (the cluster)\n..."
  sample: [{"resource": "configmaps", "namespace": "shop", "name": "settings", "fields": ["data.color"]}]
summary:
  description:
    - One line per item - C(+) added, C(-) removed, C(~) modified with the fields that differ.
  returned: success
  type: list
  elements: str
  sample: ["+ configmaps shop/feature-flags", "- configmaps shop/legacy", "~ configmaps shop/settings: data.color"]
counts:
  description:
    - Items C(added), C(removed), C(modified), C(unchanged); C(before) and C(after), the items of each side in
      scope; C(per_resource), the four counts per group-resource.
  returned: success
  type: dict
  sample: {"added": 1, "removed": 1, "modified": 2, "unchanged": 14, "before": 17, "after": 17,
           "per_resource": {"configmaps": {"added": 1, "removed": 1, "modified": 1, "unchanged": 2}}}
diffs_omitted:
  description: Modified items without a diff (beyond O(max_diffs)).
  returned: success
  type: int
  sample: 0
diff:
  description: Ansible's diff - C(before_header), C(after_header), C(before) and C(after) of each modified item
    that has a diff, Secret values hidden.
  returned: in diff mode
  type: list
  elements: dict
  sample: [{"before_header": "configmaps shop/settings (backup nightly-1)",
            "after_header": "configmaps shop/settings (the cluster)",
            "before": {"data": {"color": "blue"}}, "after": {"data": {"color": "green"}}}]
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    ENCRYPTION_ARG_SPEC,
    FILTER_ARG_SPEC,
    common_argument_spec,
    new_module,
    storage_options,
)
from ansible_collections.kubedr.backup.plugins.module_utils.diff.run import run

DIFF_ARG_SPEC = dict(
    backup_name=dict(type="str"),
    schedule_name=dict(type="str"),
    against=dict(type="str", choices=["cluster", "backup"]),
    against_backup=dict(type="str"),
    include_status=dict(type="bool", default=False),
    max_diffs=dict(type="int", default=100),
)
for _shared in (FILTER_ARG_SPEC, ENCRYPTION_ARG_SPEC):
    DIFF_ARG_SPEC.update(_shared)


def main():
    module, auth = new_module(
        "k8s_backup_diff", common_argument_spec(DIFF_ARG_SPEC), supports_check_mode=True,
        required_one_of=[("backup_name", "schedule_name")],
        mutually_exclusive=[("backup_name", "schedule_name")],
    )
    options = dict((key, module.params[key]) for key in DIFF_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(auth, storage_options(module.params), options, diff=module._diff))


if __name__ == "__main__":
    main()
