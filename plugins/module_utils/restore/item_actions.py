# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens to one item from the backup before it is created: skip rules,
the restore item action of its kind, metadata reset, resource modifiers and
namespace mapping; plus the comparison with a live object that already exists.
Pure functions over plain dicts (items as the API returned them); inputs are never
modified.

Item actions have the signature `(item, ctx) -> (item or None, messages)`. With an
item, `messages` are warnings for the restore results; None means "do not restore
this item" and `messages` say why (prepare_for_restore turns them into the skip
reason).

prepare_for_restore runs, in this order:
1. skip rules (skips.skip_reason): completed pods, finished jobs, mirror pods;
2. the item action of the item's group-resource (it still sees managedFields and
   status, which the Service and PV decisions need);
3. reset_metadata (server-populated metadata and status go, restore labels come,
   except on Namespaces, as in Velero);
4. resource modifiers, whose conditions see the item's namespace in the backup (as
   Velero documents: modifiers match the original namespace);
5. namespace mapping of metadata.namespace (and of the name of Namespace items).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple

from ansible_collections.kubedr.backup.plugins.module_utils.common import kuberesource as kr
from ansible_collections.kubedr.backup.plugins.module_utils.restore.mapping import map_namespace
from ansible_collections.kubedr.backup.plugins.module_utils.restore.modifiers import apply_modifiers
from ansible_collections.kubedr.backup.plugins.module_utils.restore.patches import json_equal
from ansible_collections.kubedr.backup.plugins.module_utils.restore.skips import skip_reason

RESTORE_LABELS = (kr.BACKUP_NAME_LABEL, kr.RESTORE_NAME_LABEL)

# Set by the API server; creating an object with them fails or binds it to the old one.
# Velero's resetMetadata list, plus managedFields: the server records the restore as
# the manager (Velero patches the backed-up managedFields back after create; we do not).
# kubectl.kubernetes.io/last-applied-configuration is kept, as Velero keeps it: it is
# the user's intent for the next `kubectl apply`, and the Service action reads it.
SERVER_METADATA_FIELDS = (
    "generateName", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "managedFields",
)

LABEL_VALUE_MAX_LENGTH = 63  # validation.DNS1035LabelMaxLength
BIND_ANNOTATIONS = ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller")
PVC_ANNOTATIONS_DROPPED = BIND_ANNOTATIONS + (
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
    "velero.io/volume-snapshot-name",
    "velero.io/data-upload-name",
)
JOB_CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
PROJECTED_TOKEN_VOLUME_PREFIX = "kube-api-access-"


def velero_label_value(name):
    """A label value for a backup/restore name, as Velero's label.GetValidName makes it.

    Names longer than 63 characters keep their first 57 characters followed by the
    first 6 hex digits of the SHA-256 of the whole name.
    """
    if len(name) <= LABEL_VALUE_MAX_LENGTH:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    return name[:LABEL_VALUE_MAX_LENGTH - 6] + digest[:6]


def _drop(mapping, keys):
    for key in keys:
        mapping.pop(key, None)


def reset_metadata(item, backup_name, restore_name, restore_status=False, restore_labels=True):
    """A copy of `item` ready to be created: server-populated metadata and (unless
    restore_status) status removed, labels velero.io/backup-name and
    velero.io/restore-name added (unless restore_labels is false)."""
    # Only the dicts changed here are copied: item actions, modifiers and pod additions copy what they
    # change themselves, and a deep copy of every item was 5% of a restore's interpreter time.
    item = dict(item)
    metadata = item["metadata"] = dict(item.get("metadata") or {})
    _drop(metadata, SERVER_METADATA_FIELDS)
    if not restore_status:
        item.pop("status", None)
    if not restore_labels:
        return item
    labels = dict(metadata.get("labels") or {})
    labels[kr.BACKUP_NAME_LABEL] = velero_label_value(backup_name)
    labels[kr.RESTORE_NAME_LABEL] = velero_label_value(restore_name)
    metadata["labels"] = labels
    return item


@dataclass(frozen=True)
class RestoreContext:
    """What item actions need to know about the restore as a whole.

    restore_status: group-resources whose status is restored too ("*": all).
    fs_backed_pvcs: (namespace in the backup, claim name) of every PVC whose data is
        restored by file-system backup (restic); their PVs are re-provisioned. Build it
        with fs_backed_pvcs(pod_volume_backups).
    reprovisioned_pvs: names of the backup's PVs that are not restored as-is (see
        pvs_to_reprovision); claims bound to them lose spec.volumeName so that a new
        volume is provisioned.
    resource_modifiers: modifiers.validate_modifiers() of the option.
    patch_schemas: where strategic merge patches find each type's patch strategy.
    """
    backup_name: str
    restore_name: str
    restore_uid: str = ""
    namespace_mapping: Mapping[str, str] = field(default_factory=dict)
    preserve_node_ports: bool = False
    restore_status: FrozenSet[str] = frozenset()
    fs_backed_pvcs: FrozenSet[Tuple[str, str]] = frozenset()
    reprovisioned_pvs: FrozenSet[str] = frozenset()
    resource_modifiers: Tuple[Any, ...] = ()
    patch_schemas: Any = None  # kube.openapi.OpenApiSchemas when a modifier has strategic merge patches

    def restores_status_of(self, group_resource):
        return "*" in self.restore_status or group_resource in self.restore_status

    def restores_status_of_item(self, group_resource, item):
        """Velero 1.16's per-object choice: the annotation velero.io/restore-status "true" or
        "false" (exactly) decides for its object; any other value, or none, defers to restore_status."""
        value = ((item.get("metadata") or {}).get("annotations") or {}).get(kr.RESTORE_STATUS_ANNOTATION)
        if value in ("true", "false"):
            return value == "true"
        return self.restores_status_of(group_resource)


# ---------------------------------------------------------------- persistent volumes

def pv_reprovision_reason(pv, fs_backed_pvcs=frozenset()):
    """Why a PV from the backup is not restored as-is (its claim gets a new volume), or None.

    Restored as-is only when its reclaim policy is Retain and its data does not come
    from a file-system backup (that data goes into a freshly provisioned volume).
    """
    spec = pv.get("spec") or {}
    claim = spec.get("claimRef") or {}
    if (claim.get("namespace"), claim.get("name")) in fs_backed_pvcs:
        return ("persistent volume is re-provisioned: its data is restored from a file-system backup "
                "of claim %s/%s" % (claim.get("namespace"), claim.get("name")))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy != "Retain":
        return ("persistent volume is re-provisioned: reclaim policy %s (only Retain volumes are "
                "restored as they were)" % (policy or "unset"))
    return None


def pvs_to_reprovision(pvs, fs_backed_pvcs=frozenset()):
    """Names of the PVs (items from the backup) that will not be restored as-is."""
    return frozenset(pv["metadata"]["name"] for pv in pvs if pv_reprovision_reason(pv, fs_backed_pvcs))


def fs_backed_pvcs(pod_volume_backups):
    """(namespace, claim) of every PVC with a file-system backup, from the backup's
    PodVolumeBackup objects (annotation velero.io/pvc-name; spec.pod.namespace)."""
    return frozenset(
        (((pvb.get("spec") or {}).get("pod") or {}).get("namespace"),
         ((pvb.get("metadata") or {}).get("annotations") or {})[kr.PVC_NAME_ANNOTATION])
        for pvb in pod_volume_backups or ()
        if ((pvb.get("metadata") or {}).get("annotations") or {}).get(kr.PVC_NAME_ANNOTATION))


def persistent_volume_action(pv, ctx):
    reason = pv_reprovision_reason(pv, ctx.fs_backed_pvcs)
    if reason:
        return None, [reason]
    pv = copy.deepcopy(pv)
    claim = (pv.get("spec") or {}).get("claimRef")
    if claim:
        # The claim gets a new uid when it is restored: let the controller bind it again.
        _drop(claim, ("uid", "resourceVersion"))
        if claim.get("namespace"):
            claim["namespace"] = map_namespace(claim["namespace"], ctx.namespace_mapping)
    _drop(pv.get("metadata", {}).get("annotations") or {}, BIND_ANNOTATIONS)
    return pv, []


def persistent_volume_claim_action(pvc, ctx):
    pvc = copy.deepcopy(pvc)
    _drop(pvc.get("metadata", {}).get("annotations") or {}, PVC_ANNOTATIONS_DROPPED)
    spec = pvc.get("spec") or {}
    if spec.get("volumeName") in ctx.reprovisioned_pvs:
        del spec["volumeName"]
    return pvc, []


# ---------------------------------------------------------------- workloads

def _is_token_volume(volume, legacy_token_prefix):
    name = volume.get("name") or ""
    if name.startswith(legacy_token_prefix):
        return True
    return name.startswith(PROJECTED_TOKEN_VOLUME_PREFIX) and "projected" in volume


def pod_action(pod, ctx):
    """Unbind the pod from its node and drop its service-account token volumes (the
    admission plugin injects fresh ones); priority is recomputed from priorityClassName."""
    pod = copy.deepcopy(pod)
    spec = pod.setdefault("spec", {})
    _drop(spec, ("nodeName", "priority"))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    token_volumes = set(volume.get("name") for volume in spec.get("volumes") or ()
                        if _is_token_volume(volume, account + "-token-"))
    if token_volumes:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in token_volumes]
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            if container.get("volumeMounts"):
                container["volumeMounts"] = [m for m in container["volumeMounts"]
                                             if m.get("name") not in token_volumes]
    warnings = []
    if spec.pop("ephemeralContainers", None):
        warnings.append("ephemeral containers of pod %s were not restored: the API refuses them on create"
                        % pod.get("metadata", {}).get("name"))
    return pod, warnings


def _explicit_node_ports(service):
    """(port names, unnamed node port numbers, (port, protocol) pairs, health check?) that
    the user set explicitly: from kubectl's last-applied annotation if present, else from
    managedFields (server-side apply). Auto-assigned node ports are not explicit."""
    annotations = service.get("metadata", {}).get("annotations") or {}
    if kr.LAST_APPLIED_ANNOTATION in annotations:
        try:
            applied = json.loads(annotations[kr.LAST_APPLIED_ANNOTATION]).get("spec") or {}
        except (ValueError, AttributeError):
            applied = None
        if isinstance(applied, dict):
            names, numbers = set(), set()
            for port in applied.get("ports") or ():
                if isinstance(port, dict) and _positive(port.get("nodePort")):
                    if port.get("name"):
                        names.add(port["name"])
                    else:
                        numbers.add(int(port["nodePort"]))
            return names, numbers, set(), _positive(applied.get("healthCheckNodePort"))
    pairs, health_check = set(), False
    for entry in service.get("metadata", {}).get("managedFields") or ():
        spec_fields = ((entry.get("fieldsV1") or {}).get("f:spec")) or {}
        health_check = health_check or "f:healthCheckNodePort" in spec_fields
        for key, port_fields in (spec_fields.get("f:ports") or {}).items():
            if isinstance(port_fields, dict) and "f:nodePort" in port_fields:
                pairs.add(_managed_port_key(key))
    return set(), set(), pairs, health_check


def _positive(value):
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


def _managed_port_key(key):
    # managedFields list keys look like k:{"port":80,"protocol":"TCP"}.
    try:
        fields = json.loads(key[2:]) if key.startswith("k:") else {}
    except ValueError:
        fields = {}
    return fields.get("port"), fields.get("protocol", "TCP")


def service_action(service, ctx):
    """Let the cluster assign cluster IPs (headless services keep `None`) and, unless
    preserve_node_ports, node ports that were auto-assigned (explicit ones stay)."""
    service = copy.deepcopy(service)
    spec = service.setdefault("spec", {})
    if spec.get("clusterIP") != "None":
        _drop(spec, ("clusterIP", "clusterIPs"))
    if ctx.preserve_node_ports or spec.get("type") == "ExternalName":
        return service, []
    names, numbers, pairs, explicit_health_check = _explicit_node_ports(service)
    for port in spec.get("ports") or ():
        if "nodePort" not in port:
            continue
        explicit = (port.get("name") in names if port.get("name") else port["nodePort"] in numbers)
        if not (explicit or (port.get("port"), port.get("protocol", "TCP")) in pairs):
            del port["nodePort"]
    if spec.get("healthCheckNodePort") and not explicit_health_check:
        del spec["healthCheckNodePort"]
    return service, []


def job_action(job, ctx):
    """Drop the old job's controller-uid from selector and pod template labels: the
    API server generates the new one (as Velero does)."""
    job = copy.deepcopy(job)
    spec = job.setdefault("spec", {})
    selector = spec.get("selector") or {}
    _drop(selector.get("matchLabels") or {}, JOB_CONTROLLER_UID_LABELS)
    _drop(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}, JOB_CONTROLLER_UID_LABELS)
    warnings = []
    if spec.get("manualSelector") and selector and not selector.get("matchLabels") \
            and not selector.get("matchExpressions"):
        warnings.append("job %s has manualSelector and only a controller-uid selector: the restored job "
                        "selects every pod of its namespace" % job.get("metadata", {}).get("name"))
    return job, warnings


# ---------------------------------------------------------------- accounts and RBAC

def service_account_action(account, ctx):
    """Drop references to the account's auto-created token secrets (recreated by the cluster)."""
    token_prefix = account.get("metadata", {}).get("name", "") + "-token-"
    if not any((ref.get("name") or "").startswith(token_prefix) for ref in account.get("secrets") or ()):
        return account, []
    account = copy.deepcopy(account)
    account["secrets"] = [ref for ref in account["secrets"] if not (ref.get("name") or "").startswith(token_prefix)]
    return account, []


def secret_action(secret, ctx):
    """Skip auto-created service-account token secrets; strip the token of manual ones
    (the token controller fills it again for the new account uid)."""
    if secret.get("type") != SERVICE_ACCOUNT_TOKEN_TYPE:
        return secret, []
    metadata = secret.get("metadata") or {}
    account = (metadata.get("annotations") or {}).get(SA_NAME_ANNOTATION)
    if account and (metadata.get("name") or "").startswith(account + "-token-"):
        return None, ["auto-created token secret of service account %s: the cluster creates it again" % account]
    secret = copy.deepcopy(secret)
    _drop(secret.get("metadata", {}).get("annotations") or {}, (SA_UID_ANNOTATION,))
    _drop(secret.get("data") or {}, ("token", "ca.crt"))
    return secret, []


def role_binding_action(binding, ctx):
    """Remap subjects' namespaces (RoleBinding and ClusterRoleBinding)."""
    if not ctx.namespace_mapping or not binding.get("subjects"):
        return binding, []
    binding = copy.deepcopy(binding)
    for subject in binding["subjects"]:
        if subject.get("namespace"):
            subject["namespace"] = map_namespace(subject["namespace"], ctx.namespace_mapping)
    return binding, []


ITEM_ACTIONS = {
    kr.PODS: pod_action,
    kr.SERVICES: service_action,
    kr.JOBS: job_action,
    kr.PVCS: persistent_volume_claim_action,
    kr.PVS: persistent_volume_action,
    kr.SERVICE_ACCOUNTS: service_account_action,
    kr.SECRETS: secret_action,
    kr.ROLE_BINDINGS: role_binding_action,
    kr.CLUSTER_ROLE_BINDINGS: role_binding_action,
}


def run_item_action(item, group_resource, ctx):
    """The item action for `group_resource` (none: the item unchanged)."""
    action = ITEM_ACTIONS.get(group_resource)
    if action is None:
        return item, []
    return action(item, ctx)


# ---------------------------------------------------------------- existing objects

def _union_by_name(first, second):
    names = set(ref.get("name") for ref in first)
    return list(first) + [ref for ref in second if ref.get("name") not in names]


def merge_service_account(backup_account, live_account):
    """The live ServiceAccount with what the backed-up one adds, or None if nothing.

    Secrets and imagePullSecrets: union by name; labels and annotations: keys only the
    backup has are added, the live values win (as Velero merges). The restore labels
    are not added. Pass the prepared (desired) account as `backup_account`.
    """
    merged = copy.deepcopy(live_account)
    for key in ("secrets", "imagePullSecrets"):
        union = _union_by_name(merged.get(key) or [], backup_account.get(key) or [])
        if union:
            merged[key] = copy.deepcopy(union)
    metadata = merged.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        backup_values = (backup_account.get("metadata") or {}).get(key) or {}
        added = dict((k, v) for k, v in backup_values.items()
                     if k not in (metadata.get(key) or {}) and k not in RESTORE_LABELS)
        if added:
            metadata[key] = dict(metadata.get(key) or {}, **added)
    return None if json_equal(merged, live_account) else merged


class LiveDiff(NamedTuple):
    """differs: whether creating/updating from the backup changes the live object;
    before/after: the live object and what it would become, without server-populated
    fields, for Ansible's `diff` (before/after dicts)."""
    differs: bool
    before: dict
    after: dict


def _comparable(obj):
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    metadata = obj.get("metadata") or {}
    _drop(metadata, SERVER_METADATA_FIELDS)
    labels = metadata.get("labels") or {}
    _drop(labels, RESTORE_LABELS)
    if "labels" in metadata and not labels:
        del metadata["labels"]
    return obj


def _overlay(live, desired):
    """`live` with what `desired` sets: dicts key by key, lists of equal length element
    by element, anything else replaced. Fields only the live object has (defaults the
    server filled in, cluster IPs...) stay, so they do not count as differences."""
    if isinstance(live, dict) and isinstance(desired, dict):
        result = dict(live)
        for key, value in desired.items():
            result[key] = _overlay(live.get(key), value) if key in live else value
        return result
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [_overlay(a, b) for a, b in zip(live, desired)]
    return desired


def diff_against_live(desired, live, group_resource=None):
    """Compare the item to create with the object already in the cluster.

    Ignores status, server-populated metadata (uid, resourceVersion, managedFields...)
    and the velero.io restore labels. `after` is the live object with every field the
    desired item sets; it differs from `before` exactly when the backup would change
    something. With group_resource `pods`, the live pod loses what pod_action removes
    from the desired one (node, token volumes the cluster injected afresh), so those
    do not count as differences.
    """
    if group_resource == kr.PODS:
        live = pod_action(live, None)[0]
    before = _comparable(live)
    after = _overlay(before, _comparable(desired))
    return LiveDiff(not json_equal(before, after), before, after)


# ---------------------------------------------------------------- composition

class PreparedItem(NamedTuple):
    """prepare_for_restore's answer: the item to create (None when skipped), why it is
    skipped, warnings for the results, and the indexes of the resource modifier rules
    that changed it."""
    item: Optional[dict]
    skip_reason: Optional[str]
    warnings: List[str]
    applied_modifiers: List[int]


def prepare_for_restore(item, group_resource, ctx):
    """Turn an item from the backup into the object to create (see the module doc for
    the steps). Raises modifiers.ModifierError when a resource modifier cannot be
    applied to this item (record it as this item's error and go on)."""
    reason = skip_reason(item, group_resource)
    if reason:
        return PreparedItem(None, reason, [], [])
    prepared, messages = run_item_action(item, group_resource, ctx)
    if prepared is None:
        return PreparedItem(None, "; ".join(messages), [], [])
    # Velero creates a namespace with its backed-up labels only (restore.go getNamespace), so
    # `kubectl delete ns -l velero.io/restore-name=...` matches no namespace after either tool's restore.
    prepared = reset_metadata(prepared, ctx.backup_name, ctx.restore_name,
                              ctx.restores_status_of_item(group_resource, item),
                              restore_labels=group_resource != kr.NAMESPACES)
    applied = []
    if ctx.resource_modifiers:
        prepared, applied = apply_modifiers(prepared, group_resource, ctx.resource_modifiers, ctx.patch_schemas)
    metadata = prepared.setdefault("metadata", {})
    if metadata.get("namespace"):
        metadata["namespace"] = map_namespace(metadata["namespace"], ctx.namespace_mapping)
    if group_resource == kr.NAMESPACES and metadata.get("name"):
        metadata["name"] = map_namespace(metadata["name"], ctx.namespace_mapping)
    return PreparedItem(prepared, None, messages, applied)
