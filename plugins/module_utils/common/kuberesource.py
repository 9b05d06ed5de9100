# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The project's vocabulary: group-resources, annotations and labels, named once.

Like Velero's ``pkg/kuberesource``: every package that compares a group-resource or reads
an annotation takes the name from here, so a spelling cannot drift between backup and restore.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Group-resources (``resource.group``; the core group has none).
PODS = "pods"
PVCS = "persistentvolumeclaims"
PVS = "persistentvolumes"
NAMESPACES = "namespaces"
SERVICE_ACCOUNTS = "serviceaccounts"
SECRETS = "secrets"
CONFIG_MAPS = "configmaps"
EVENTS = "events"
NODES = "nodes"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
CLUSTER_ROLE_BINDINGS = "clusterrolebindings.rbac.authorization.k8s.io"
CLUSTER_ROLES = "clusterroles.rbac.authorization.k8s.io"
PRIORITY_CLASSES = "priorityclasses.scheduling.k8s.io"

# Labels Velero sets or reads.
EXCLUDE_FROM_BACKUP_LABEL = "velero.io/exclude-from-backup"
SCHEDULE_NAME_LABEL = "velero.io/schedule-name"
BACKUP_NAME_LABEL = "velero.io/backup-name"
BACKUP_UID_LABEL = "velero.io/backup-uid"
RESTORE_NAME_LABEL = "velero.io/restore-name"
STORAGE_LOCATION_LABEL = "velero.io/storage-location"

# Pod volume annotations.
BACKUP_VOLUMES_ANNOTATION = "backup.velero.io/backup-volumes"
BACKUP_VOLUMES_EXCLUDES_ANNOTATION = "backup.velero.io/backup-volumes-excludes"
PVC_NAME_ANNOTATION = "velero.io/pvc-name"

# Velero's namespace and storage location names, as they appear in stored documents and logs.
VELERO_NAMESPACE = "velero"
DEFAULT_STORAGE_LOCATION = "default"
