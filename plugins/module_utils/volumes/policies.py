# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's volume policies (the ``volumePolicies`` of a resource-policies ConfigMap,
version v1): which pod volumes the file-system backup takes, by the volume's capacity, storage
class, NFS or CSI source, volume type, and its claim's labels and phase. Pure functions.

The first policy whose conditions all hold decides: ``fs-backup`` backs the volume up whatever
the pod's annotations say, any other action (``skip``, ``snapshot``, ``custom``: kubedr takes no
snapshots) leaves it out. A volume no policy matches follows the annotations and
``default_volumes_to_fs_backup``, as in Velero."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple
from decimal import Decimal, InvalidOperation

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import load_text

OPTION = "volume_policies"
VERSION = "v1"
FS_BACKUP = "fs-backup"
ACTIONS = ("skip", FS_BACKUP, "snapshot", "custom")
CONDITIONS = ("capacity", "storageClass", "nfs", "csi", "volumeTypes", "pvcLabels", "pvcPhase")
_SNAKE = {"storage_class": "storageClass", "volume_types": "volumeTypes", "pvc_labels": "pvcLabels",
          "pvc_phase": "pvcPhase", "volume_attributes": "volumeAttributes", "volume_policies": "volumePolicies"}
# The volume sources Velero names (volume_types_conditions.go), in the order it tests a PV's.
VOLUME_TYPES = ("awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flocker",
                "flexVolume", "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs",
                "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
                "vsphereVolume", "configMap", "downwardAPI", "emptyDir", "ephemeral", "gitRepo", "projected",
                "secret")

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {None: 1, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10 ** 3, "M": 10 ** 6,
           "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}

Policy = namedtuple("Policy", "index action lower upper storage_classes nfs csi volume_types pvc_labels pvc_phases")
# What the conditions look at, for one pod volume (its claim and bound PV when it has them).
VolumeFacts = namedtuple("VolumeFacts", "capacity storage_class nfs csi volume_type pvc_labels pvc_phase")


def parse_quantity(text, where="quantity"):
    """A Kubernetes quantity (``10Gi``, ``500M``, ``1e3``) as a Decimal number of units."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise InvalidOptionError("%s: %r is not a Kubernetes quantity such as 10Gi or 500M" % (where, text))
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        raise InvalidOptionError("%s: %r is not a Kubernetes quantity such as 10Gi or 500M" % (where, text))


def _snake_to_velero(value):
    if isinstance(value, dict):
        return dict((_SNAKE.get(k, k), _snake_to_velero(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_snake_to_velero(v) for v in value]
    return value


def _strings(value, where):
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidOptionError("%s: must be a list of strings" % where)
    return tuple(value)


def _capacity(value, where):
    """Velero's "lower,upper" range; an empty side is unbounded (0)."""
    text = "," if value in (None, "") else str(value)
    parts = text.split(",")
    if len(parts) != 2:
        raise InvalidOptionError("%s: %r is not a range 'lower,upper' such as '10Gi,100Gi' or ',5Gi'" % (where, value))
    return tuple(parse_quantity(p, where) if p.strip() else Decimal(0) for p in parts)


def _source(value, where, fields):
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - set(fields):
        raise InvalidOptionError("%s: must be a dict with %s" % (where, " and/or ".join(fields)))
    return value


def _policy(value, index):
    where = "%s.volumePolicies[%d]" % (OPTION, index)
    if not isinstance(value, dict) or set(value) - {"conditions", "action"}:
        raise InvalidOptionError("%s: must be a dict with conditions and action" % where)
    action = value.get("action") or {}
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        raise InvalidOptionError("%s.action.type: must be one of %s" % (where, ", ".join(ACTIONS)))
    conditions = value.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise InvalidOptionError("%s.conditions: must be a dict" % where)
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        raise InvalidOptionError("%s.conditions: unknown condition %s (known: %s)"
                                 % (where, ", ".join(unknown), ", ".join(CONDITIONS)))
    labels = conditions.get("pvcLabels")
    if labels is not None and (not isinstance(labels, dict) or
                               not all(isinstance(v, str) for v in labels.values())):
        raise InvalidOptionError("%s.conditions.pvcLabels: must be a map of label names to strings" % where)
    lower, upper = _capacity(conditions.get("capacity"), where + ".conditions.capacity")
    return Policy(index, action["type"], lower, upper,
                  _strings(conditions.get("storageClass"), where + ".conditions.storageClass"),
                  _source(conditions.get("nfs"), where + ".conditions.nfs", ("server", "path")),
                  _source(conditions.get("csi"), where + ".conditions.csi", ("driver", "volumeAttributes")),
                  _strings(conditions.get("volumeTypes"), where + ".conditions.volumeTypes"),
                  labels or {}, _strings(conditions.get("pvcPhase"), where + ".conditions.pvcPhase"))


def parse_volume_policies(value):
    """The option (Velero's resource-policies document as a dict or its YAML text, or just the
    list of volume policies; snake_case keys are accepted) as a tuple of Policy."""
    if value in (None, "", [], {}):
        return ()
    if isinstance(value, str):
        value = load_text(value, OPTION)
    value = _snake_to_velero(value)
    if isinstance(value, dict):
        if value.get("version", VERSION) != VERSION:
            raise InvalidOptionError("%s.version: only %r is supported, got %r" % (OPTION, VERSION, value.get("version")))
        value = value.get("volumePolicies") or []
    if not isinstance(value, list):
        raise InvalidOptionError("%s: must be Velero's resource policies document or a list of volume policies"
                                 % OPTION)
    return tuple(_policy(policy, index) for index, policy in enumerate(value))


def _volume_type(source):
    field = next((name for name in VOLUME_TYPES if (source or {}).get(name) is not None), "")
    return "storageOS" if field == "storageos" else field  # Velero's spelling of that one


def volume_facts(volume, pvc=None, pv=None):
    """VolumeFacts of a pod volume (its dict in the pod spec), with its claim and bound PV when known."""
    source = pv.get("spec") if pv else volume
    source = source or {}
    capacity = ((source.get("capacity") or {}).get("storage")) if pv else None
    storage_class = source.get("storageClassName") or "" if pv else ""
    pvc_meta = (pvc or {}).get("metadata") or {}
    return VolumeFacts(parse_quantity(capacity) if capacity else Decimal(0), storage_class,
                       source.get("nfs"), source.get("csi"), _volume_type(source),
                       pvc_meta.get("labels") or None, ((pvc or {}).get("status") or {}).get("phase") or "")


def _in_range(lower, upper, capacity):
    if lower == 0 and upper >= capacity:
        return True
    if upper == 0 and lower <= capacity:
        return True
    return lower != 0 and upper != 0 and lower <= capacity <= upper


def _nfs_matches(wanted, nfs):
    if wanted is None:
        return True
    if nfs is None:
        return False
    return all(not wanted.get(key) or wanted[key] == nfs.get(key) for key in ("server", "path"))


def _csi_matches(wanted, csi):
    if wanted is None:
        return True
    if not wanted.get("driver"):
        return csi is not None
    if csi is None or wanted["driver"] != csi.get("driver"):
        return False
    attributes = csi.get("volumeAttributes") or {}
    return all(attributes.get(key) == value for key, value in (wanted.get("volumeAttributes") or {}).items())


def matches(policy, facts):
    """Whether every condition of a policy holds for a volume (Velero's semantics, condition by condition)."""
    if not _in_range(policy.lower, policy.upper, facts.capacity):
        return False
    if policy.storage_classes and facts.storage_class not in policy.storage_classes:
        return False
    if not _nfs_matches(policy.nfs, facts.nfs) or not _csi_matches(policy.csi, facts.csi):
        return False
    if policy.volume_types and facts.volume_type not in policy.volume_types:
        return False
    if policy.pvc_labels and not (facts.pvc_labels and
                                  all(facts.pvc_labels.get(k) == v for k, v in policy.pvc_labels.items())):
        return False
    return not policy.pvc_phases or facts.pvc_phase in policy.pvc_phases


def matching_policy(policies, facts):
    """The first policy that matches, or None (the annotations decide)."""
    return next((policy for policy in policies if matches(policy, facts)), None)
