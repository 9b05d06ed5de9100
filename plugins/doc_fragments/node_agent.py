# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Pod volume data through restic or kopia in the node agent (roles/node_agent).
    DOCUMENTATION = r"""
options:
  repository_password:
    description:
      - Password of the restic and kopia repositories that hold pod volume data (one repository per volume
        namespace and uploader, under C(restic/) or C(kopia/) in the storage location). Velero uses one password
        for both kinds (its C(velero-repo-credentials) secret, key C(repository-password)).
      - Required when pod volumes are backed up or restored. Velero's default repositories use
        C(static-passw0rd); set it for Velero interoperability.
      - It reaches restic or kopia on the exec's standard input, never a command line.
      - One name in every module of the collection (C(restic_repo) included), and one environment variable -
        can also be set with E(KUBEDR_REPOSITORY_PASSWORD). When neither is given, E(RESTIC_PASSWORD) is read,
        with a deprecation warning (it will not be read from version 1.0.0 on).
    type: str
    aliases: [restic_password]
  node_agent:
    description:
      - Where the node agents run (see the P(kubedr.backup.node_agent#role) role). restic or kopia runs
        in the node agent on the volume's node, through the API server's exec.
    type: dict
    suboptions:
      namespace:
        description:
          - Namespace of the node-agent pods.
        type: str
        default: kubedr-node-agent
      label_selector:
        description:
          - Label selector of the node-agent pods.
        type: str
        default: app.kubernetes.io/name=kubedr-node-agent
      host_pods_path:
        description:
          - Where the node agent mounts the kubelet's pods directory (C(/var/lib/kubelet/pods)).
        type: str
        default: /host_pods
      container:
        description:
          - Container of the node-agent pod to exec into; the first one when not set.
        type: str
"""
