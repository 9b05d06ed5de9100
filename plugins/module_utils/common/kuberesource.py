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
EVENTS_K8S_IO_EVENTS = "events.events.k8s.io"  # the same events, served by the events.k8s.io group
NODES = "nodes"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
CLUSTER_ROLE_BINDINGS = "clusterrolebindings.rbac.authorization.k8s.io"
CLUSTER_ROLES = "clusterroles.rbac.authorization.k8s.io"
PRIORITY_CLASSES = "priorityclasses.scheduling.k8s.io"
SERVICES = "services"
JOBS = "jobs.batch"
ROLE_BINDINGS = "rolebindings.rbac.authorization.k8s.io"
ROLES = "roles.rbac.authorization.k8s.io"
DEPLOYMENTS = "deployments.apps"
REPLICA_SETS = "replicasets.apps"
STATEFUL_SETS = "statefulsets.apps"
DAEMON_SETS = "daemonsets.apps"
CRON_JOBS = "cronjobs.batch"
REPLICATION_CONTROLLERS = "replicationcontrollers"
ENDPOINT_SLICES = "endpointslices.discovery.k8s.io"

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

# Pod exec hook annotations: prefixes of <prefix>container, command, on-error, timeout (and, on
# restore, exec-timeout, wait-timeout; init hooks: container-image, container-name, command).
PRE_BACKUP_HOOK_PREFIX = "pre.hook.backup.velero.io/"
POST_BACKUP_HOOK_PREFIX = "post.hook.backup.velero.io/"
INIT_RESTORE_HOOK_PREFIX = "init.hook.restore.velero.io/"
POST_RESTORE_HOOK_PREFIX = "post.hook.restore.velero.io/"

# Velero 1.16: "true" or "false" on an object overrides spec.restoreStatus for that object.
RESTORE_STATUS_ANNOTATION = "velero.io/restore-status"

# Annotations of the stored Backup object.
RESOURCE_TIMEOUT_ANNOTATION = "velero.io/resource-timeout"
# kubectl apply repeats the whole object (a Secret's values included) in this annotation.
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
SOURCE_CLUSTER_K8S_ANNOTATION_PREFIX = "velero.io/source-cluster-k8s-"  # + gitversion, major-version, minor-version

# Velero's namespace and storage location names, as they appear in stored documents and logs.
VELERO_NAMESPACE = "velero"
DEFAULT_STORAGE_LOCATION = "default"

# The API version of Velero's own objects (Backup, PodVolumeBackup, ...).
VELERO_API_VERSION = "velero.io/v1"
