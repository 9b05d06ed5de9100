#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The k8s_backup_metrics module: its documentation and argument spec; the metrics are
computed and published by module_utils/metrics."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_backup_metrics
short_description: Prometheus metrics of the backups and restores of a storage location
version_added: 0.2.0
description:
  - Computes Prometheus metrics from what a Velero-compatible storage location holds - its backups
    (committed, failed and running) and its restores - and pushes them to a Prometheus Pushgateway
    and/or writes them to a node-exporter textfile.
  - Because they are computed from the location, the numbers are the same after a restart, from
    another host or from a fresh CronJob pod; Velero's reset when its server restarts.
  - Names, types, help texts and the C(schedule) label are Velero's where Velero has the metric
    (C(velero_backup_success_total), C(velero_backup_partial_failure_total),
    C(velero_backup_failure_total), C(velero_backup_last_successful_timestamp),
    C(velero_backup_duration_seconds), C(velero_backup_items_total), C(velero_restore_success_total), ...);
    the others are prefixed C(kubedr_). Each C(*_total) counter is the number of backups or restores
    of that schedule and phase the location holds now, so it drops when gc deletes backups. See
    docs/monitoring.md for every metric and the alert rules shipped in C(prometheus/).
  - The metrics computed from the location replace their Pushgateway group whole (HTTP PUT). The
    outcome of a gc run (O(run.kind=gc)) goes to the same group plus the label C(run=gc), by HTTP POST,
    so a failed run keeps the time of the last successful one.
  - Reads the location only; works on V(ReadOnly) locations.
author:
  - kubedr.backup developers (@kubedr)
extends_documentation_fragment:
  - kubedr.backup.storage_location
  - kubedr.backup.k8s_auth.ignored
attributes:
  check_mode:
    support: full
    description: Computes the metrics and returns them; pushes and writes nothing.
  diff_mode:
    support: none
    description: Not supported.
options:
  pushgateway_url:
    description:
      - Base URL of a Prometheus Pushgateway, such as C(http://pushgateway.monitoring:9091).
      - Must not hold a user or password; use O(pushgateway_username) and O(pushgateway_password).
    type: str
  pushgateway_job:
    description:
      - The C(job) label of the pushed group.
    type: str
    default: kubedr
  pushgateway_grouping:
    description:
      - More labels of the pushed group, such as a C(cluster) label, when several storage locations
        push to one Pushgateway (each location needs a group of its own, or they replace each other).
      - Must not name C(job), C(run), C(schedule), C(phase) or C(le).
    type: dict
    default: {}
  pushgateway_username:
    description:
      - User for HTTP basic authentication to the Pushgateway.
    type: str
  pushgateway_password:
    description:
      - Password for HTTP basic authentication to the Pushgateway.
    type: str
  pushgateway_timeout:
    description:
      - Seconds to wait for the Pushgateway.
    type: int
    default: 10
  pushgateway_validate_certs:
    description:
      - Verify the Pushgateway's TLS certificate.
    type: bool
    default: true
  textfile:
    description:
      - Path of a C(.prom) file in node-exporter's C(--collector.textfile.directory) to write the
        metrics to. Written atomically (a temporary file renamed over it), mode 0644.
    type: path
  run:
    description:
      - The outcome of the run the metrics are published after. Only a gc run's outcome is a metric
        of its own (C(kubedr_gc_last_run_success) and the others); backups and restores are read
        from the location.
    type: dict
    suboptions:
      kind:
        description: What ran.
        type: str
        choices: [backup, restore, gc]
        required: true
      succeeded:
        description: Whether the run succeeded.
        type: bool
        default: true
      deleted_backups:
        description: How many backups the gc run deleted.
        type: int
        default: 0
notes:
  - Scrape the Pushgateway with C(honor_labels) set to V(true), so the C(job) and C(schedule) labels stay as pushed.
seealso:
  - module: kubedr.backup.k8s_backup_info
"""

EXAMPLES = r"""
- name: Push the metrics of the location to a Pushgateway
  kubedr.backup.k8s_backup_metrics:
    storage_location:
      bucket: velero
      endpoint_url: https://minio.example.com
      s3_addressing_style: path
    pushgateway_url: http://pushgateway.monitoring:9091
    pushgateway_grouping:
      cluster: prod

- name: Write them for node-exporter's textfile collector
  kubedr.backup.k8s_backup_metrics:
    storage_location:
      bucket: velero
    textfile: /var/lib/node_exporter/textfile/kubedr.prom

- name: After a gc run that failed
  kubedr.backup.k8s_backup_metrics:
    storage_location:
      bucket: velero
    pushgateway_url: http://pushgateway.monitoring:9091
    run:
      kind: gc
      succeeded: false
      deleted_backups: 2
"""

RETURN = r"""
metrics:
  description: The metrics in Prometheus' text exposition format, as pushed or written.
  returned: always
  type: str
  sample: |
    # HELP velero_backup_success_total Total number of successful backups
    # TYPE velero_backup_success_total counter
    velero_backup_success_total{schedule="nightly"} 7
summary:
  description: What the metrics were computed from.
  returned: always
  type: dict
  contains:
    backups:
      description: Backups in the location (committed, failed and running).
      type: int
      sample: 8
    restores:
      description: Restores in the location.
      type: int
      sample: 1
    schedules:
      description: The schedules of the backups (V("") for backups of no schedule).
      type: list
      elements: str
      sample: ["", "nightly"]
    backup_phases:
      description: Backups per phase.
      type: dict
      sample: {"Completed": 7, "PartiallyFailed": 1, "Failed": 0, "InProgress": 0}
    restore_phases:
      description: Restores per phase.
      type: dict
      sample: {"Completed": 1, "PartiallyFailed": 0, "Failed": 0}
pushed_to:
  description: The Pushgateway group URLs pushed to (without credentials).
  returned: always
  type: list
  elements: str
  sample: ["http://pushgateway.monitoring:9091/metrics/job/kubedr/cluster/prod"]
textfile:
  description: The textfile written.
  returned: when O(textfile) is given
  type: str
  sample: /var/lib/node_exporter/textfile/kubedr.prom
"""

from ansible_collections.kubedr.backup.plugins.module_utils.adapter import runner as ansible_adapter
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    K8S_AUTH_IGNORED_ARG_SPEC,
    STORAGE_LOCATION_ARG_SPEC,
    new_module,
    storage_options,
)
from ansible_collections.kubedr.backup.plugins.module_utils.metrics.run import run

METRICS_ARG_SPEC = dict(
    pushgateway_url=dict(type="str"),
    pushgateway_job=dict(type="str", default="kubedr"),
    pushgateway_grouping=dict(type="dict", default={}),
    pushgateway_username=dict(type="str"),
    pushgateway_password=dict(type="str", no_log=True),
    pushgateway_timeout=dict(type="int", default=10),
    pushgateway_validate_certs=dict(type="bool", default=True),
    textfile=dict(type="path"),
    run=dict(type="dict", options=dict(
        kind=dict(type="str", choices=["backup", "restore", "gc"], required=True),
        succeeded=dict(type="bool", default=True),
        deleted_backups=dict(type="int", default=0),
    )),
)


def main():
    spec = dict(STORAGE_LOCATION_ARG_SPEC)
    spec.update(METRICS_ARG_SPEC)
    spec.update(K8S_AUTH_IGNORED_ARG_SPEC)
    module, unused_auth = new_module("k8s_backup_metrics", spec, supports_check_mode=True)
    options = dict((key, module.params[key]) for key in METRICS_ARG_SPEC)
    ansible_adapter.run(module, lambda: run(storage_options(module.params), options, module.check_mode))


if __name__ == "__main__":
    main()
