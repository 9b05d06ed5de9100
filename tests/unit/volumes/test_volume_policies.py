"""Velero's volume policies (pure): parsing, each condition, the first match deciding."""
from decimal import Decimal

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import policies as vp

DOCUMENT = """
version: v1
volumePolicies:
- conditions:
    capacity: "10Gi,100Gi"
    storageClass: [gp2, ebs-sc]
  action: {type: skip}
- conditions:
    csi: {driver: ebs.csi.aws.com, volumeAttributes: {tier: gold}}
  action: {type: fs-backup}
- conditions:
    nfs: {server: 192.168.1.20}
  action: {type: skip}
- conditions:
    volumeTypes: [emptyDir]
    pvcLabels: {}
  action: {type: fs-backup}
- conditions:
    pvcLabels: {env: prod}
    pvcPhase: [Bound]
  action: {type: snapshot}
"""


def pv(capacity="20Gi", storage_class="gp2", **source):
    return {"spec": dict({"capacity": {"storage": capacity}, "storageClassName": storage_class}, **source)}


def pvc(labels=None, phase="Bound"):
    return {"metadata": {"labels": labels or {}}, "status": {"phase": phase}}


def decide(volume, claim=None, volume_pv=None, policies=None):
    policy = vp.matching_policy(policies or vp.parse_volume_policies(DOCUMENT), vp.volume_facts(volume, claim, volume_pv))
    return None if policy is None else (policy.index, policy.action)


CLAIM_VOLUME = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}


def test_capacity_and_storage_class():
    assert decide(CLAIM_VOLUME, pvc(), pv("20Gi", "gp2")) == (0, "skip")
    assert decide(CLAIM_VOLUME, pvc(), pv("200Gi", "gp2")) is None  # over the range
    assert decide(CLAIM_VOLUME, pvc(), pv("20Gi", "standard")) is None


def test_csi_driver_and_attributes():
    gold = pv("1Gi", "x", csi={"driver": "ebs.csi.aws.com", "volumeAttributes": {"tier": "gold", "z": "1"}})
    silver = pv("1Gi", "x", csi={"driver": "ebs.csi.aws.com", "volumeAttributes": {"tier": "silver"}})
    assert decide(CLAIM_VOLUME, pvc(), gold) == (1, "fs-backup")
    assert decide(CLAIM_VOLUME, pvc(), silver) is None


def test_nfs_on_a_pod_volume_and_volume_types():
    assert decide({"name": "n", "nfs": {"server": "192.168.1.20", "path": "/x"}}) == (2, "skip")
    assert decide({"name": "n", "nfs": {"server": "10.0.0.1", "path": "/x"}}) is None
    # pvcLabels {} is no condition; an emptyDir has no claim and matches.
    assert decide({"name": "cache", "emptyDir": {}}) == (3, "fs-backup")


def test_claim_labels_and_phase():
    assert decide(CLAIM_VOLUME, pvc({"env": "prod", "x": "y"}), pv("1Gi", "")) == (4, "snapshot")
    assert decide(CLAIM_VOLUME, pvc({"env": "prod"}, phase="Pending")) is None
    assert decide(CLAIM_VOLUME, pvc({"env": "dev"}), pv("1Gi", "")) is None


@pytest.mark.parametrize("capacity, inside, outside", [
    (",5Gi", ["0", "5Gi", "1M"], ["6Gi"]),
    ("5Gi,", ["5Gi", "1Ti"], ["4Gi", "0"]),
    ("1Gi,2Gi", ["1Gi", "1536Mi", "2Gi"], ["1023Mi", "3Gi"]),
    ("", ["0", "1Pi"], []),
])
def test_capacity_ranges_as_velero_reads_them(capacity, inside, outside):
    (policy,) = vp.parse_volume_policies([{"conditions": {"capacity": capacity}, "action": {"type": "skip"}}])
    for size in inside:
        assert vp.matches(policy, vp.volume_facts(CLAIM_VOLUME, pvc(), pv(size, ""))), size
    for size in outside:
        assert not vp.matches(policy, vp.volume_facts(CLAIM_VOLUME, pvc(), pv(size, ""))), size


def test_quantities():
    assert vp.parse_quantity("1Gi") == 2 ** 30 and vp.parse_quantity("1G") == 10 ** 9
    assert vp.parse_quantity("1e3") == 1000 and vp.parse_quantity("500m") == Decimal("0.5")


def test_snake_case_and_a_bare_list_are_accepted():
    (policy,) = vp.parse_volume_policies([{"conditions": {"storage_class": ["a"], "pvc_phase": ["Bound"]},
                                          "action": {"type": "skip"}}])
    assert policy.storage_classes == ("a",) and policy.pvc_phases == ("Bound",)


@pytest.mark.parametrize("value, message", [
    ("version: v2\nvolumePolicies: []", "only 'v1'"),
    ("[", "is neither JSON nor YAML"),
    (42, "must be Velero's resource policies document"),
    ([{"conditions": {}, "action": {"type": "delete"}}], r"volumePolicies\[0\].action.type: must be one of"),
    ([{"conditions": {"storageclass": ["a"]}, "action": {"type": "skip"}}], "unknown condition storageclass"),
    ([{"conditions": {"capacity": "10Gi"}, "action": {"type": "skip"}}], "is not a range"),
    ([{"conditions": {"capacity": "ten,"}, "action": {"type": "skip"}}], "not a Kubernetes quantity"),
    ([{"conditions": {"pvcLabels": ["a"]}, "action": {"type": "skip"}}], "pvcLabels: must be a map"),
    ([{"conditions": {"csi": {"drivr": "x"}}, "action": {"type": "skip"}}], "csi: must be a dict with driver"),
])
def test_bad_policies_are_clear_errors(value, message):
    with pytest.raises(InvalidOptionError, match=message):
        vp.parse_volume_policies(value)
