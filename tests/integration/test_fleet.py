"""kubedr.backup.fleet: one ansible-playbook run backs up every cluster of an inventory group with Ansible's
forks; a cluster that cannot be reached fails alone, named in the summary and at the end of the play."""
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import uuid

import pytest
import yaml

import testbed

FLEET_BED = "h2-fleet"


@pytest.fixture(scope="module")
def second_cluster(bed):
    env = testbed.cluster_up(FLEET_BED)
    yield env
    subprocess.run(["bash", os.path.join(testbed.REPO, "hack", "testbed", "cluster-down.sh"), FLEET_BED],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def kubectl(env, *args):
    return subprocess.run(["kubectl", "--kubeconfig", env["KUBECONFIG"]] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=True).stdout


def seed(env, namespace, configmap):
    kubectl(env, "create", "namespace", namespace)
    kubectl(env, "-n", namespace, "create", "configmap", configmap, "--from-literal=cluster=" + configmap)


def run_fleet(inventory_path, bed, extra_vars):
    testbed.ensure_collection_path()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory_path,
           "kubedr.backup.fleet", "-f", "5", "-e", json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable))]
    env = testbed.module_env({"AWS_ACCESS_KEY_ID": bed["KUBEDR_S3_ACCESS_KEY"],
                              "AWS_SECRET_ACCESS_KEY": bed["KUBEDR_S3_SECRET_KEY"],
                              "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=300,
                          check=False)


def test_fleet_backs_up_every_cluster_and_names_the_one_that_failed(bed, second_cluster, storage_location, s3, tmp_path):
    run = uuid.uuid4().hex[:6]
    namespace = "fleet-" + run
    seed(bed, namespace, "first")
    seed(second_cluster, namespace, "second")
    broken = tmp_path / "broken-kubeconfig.yaml"
    # A cluster whose API server is gone: nothing listens on port 1.
    broken.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "gone", "user": {"token": "x"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    location = dict((k, v) for k, v in storage_location.items() if k not in ("access_key", "secret_key"))
    location["prefix"] = "fleet/" + run
    inventory = {"kubedr_clusters": {
        "vars": {"kubedr_storage_location": location, "kubedr_included_namespaces": [namespace],
                 "kubedr_poll_interval": 5},
        "hosts": {"prod.east": {"kubedr_kubeconfig": bed["KUBECONFIG"]},
                  "prod_west": {"kubedr_kubeconfig": second_cluster["KUBECONFIG"]},
                  "gone": {"kubedr_kubeconfig": str(broken)}}}}
    inventory_path = tmp_path / "clusters.yml"
    inventory_path.write_text(yaml.safe_dump(inventory))

    proc = run_fleet(str(inventory_path), bed, {"kubedr_schedule_name": "nightly"})
    out = proc.stdout

    assert proc.returncode != 0, "the play must fail when one cluster failed:\n" + out[-6000:]
    recap = dict((host, dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counters)))
                 for host, counters in re.findall(r"^(\S+)\s*:\s*(ok=.*)$", out, re.M))
    assert recap["gone"]["failed"] == 1 and recap["prod.east"]["failed"] == 0 and recap["prod_west"]["failed"] == 0, out[-6000:]
    # The summary names every cluster's outcome, and the failure names the cluster and why.
    summary = out[out.index("TASK [Summary of the fleet]"):]
    assert re.search(r"prod-east: backup nightly-prod-east-\d{14}\s+Completed, \d+ items", summary), summary[:3000]
    assert re.search(r"prod-west: backup nightly-prod-west-\d{14}\s+Completed, \d+ items", summary), summary[:3000]
    assert re.search(r"gone: FAILED: .*127\.0\.0\.1", summary), summary[:3000]
    assert re.search(r"fatal: \[gone\]: FAILED! => .*cluster gone \(gone\): ", out), out[-4000:]

    # Each cluster's own objects are in its own backup, under the shared prefix.
    listed = s3.list_objects_v2(Bucket=location["bucket"], Prefix=location["prefix"] + "/backups/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    for cluster, configmap in (("prod-east", "first"), ("prod-west", "second")):
        marker = [k for k in keys if re.search(r"/nightly-%s-\d{14}/velero-backup\.json$" % cluster, k)]
        assert len(marker) == 1, keys
        tarball = marker[0].replace("velero-backup.json", "%s.tar.gz" % marker[0].split("/")[-2])
        body = s3.get_object(Bucket=location["bucket"], Key=tarball)["Body"].read()
        names = tarfile.open(fileobj=io.BytesIO(body)).getnames()
        assert "resources/configmaps/namespaces/%s/%s.json" % (namespace, configmap) in names, names
    assert not [k for k in keys if "/nightly-gone-" in k and k.endswith("velero-backup.json")]
