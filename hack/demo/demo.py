"""`make demo`: the seed article's disaster-recovery story on the local test bed.

1. a namespace test-ns-b with a busybox Deployment whose PVC holds 1.txt and 2.txt;
2. the restic node agent (roles/node_agent) on every node;
3. `ansible-playbook kubedr.backup.backup` with file-system backup of pod volumes;
4. the disaster: the namespace and the volume files are deleted;
5. `ansible-playbook kubedr.backup.restore`;
6. a summary: what was backed up, what came back, the files compared, durations.

The demo can be run again and again on the same test bed. Its restic repository password is made on the first
run and kept in .testbed/demo/repository-password (mode 0600); later runs reuse it, as a user keeps the password of
their repositories, so each run's pod volume backup goes into the repository the first run created (restic
deduplicates it) and the restore reads it back. A new password per run would meet the repository of the previous
run and fail ("wrong password or no key found"). If that file is gone while the bucket still holds the demo's
repositories (made by a run whose password is lost, or by an older demo), those repositories cannot be opened: the
demo says so and removes its own prefix (`demo/`) first. The password reaches the playbooks as
KUBEDR_REPOSITORY_PASSWORD in their environment (never on a command line).

kwok plays the nodes' kubelets but mounts nothing, so tests/integration/kubelet_sim.py
creates the pods' volume directories and provisions the claims (a real cluster's kubelet
and storage provisioner do that).
"""
import gzip
import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import testbed  # noqa: E402
from kubelet_sim import KubeletVolumes, busybox_deployment, storage_class, volume_dirs  # noqa: E402
from testbed import wait_for  # noqa: E402

from kubernetes import client, config  # noqa: E402

NAMESPACE = "test-ns-b"
AGENT_NAMESPACE = "kubedr-node-agent"
FILES = {"1.txt": "the first file of the seed scenario\n", "2.txt": "and the second one\n"}
PREFIX = "demo"
PASSWORD_FILE = os.path.join(testbed.TESTBED_DIR, "demo", "repository-password")


def say(text):
    print("\n\033[1m== %s\033[0m" % text, flush=True)


def playbook(name, extra, check=True, env=None):
    """Run a playbook with its output shown as it goes; returns its duration."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           name, "-e", json.dumps(dict(extra, ansible_python_interpreter=sys.executable))]
    started = time.time()
    proc = subprocess.run(cmd, env=testbed.module_env(dict(env or {}, ANSIBLE_FORCE_COLOR="1")), check=False)
    if check and proc.returncode != 0:
        raise SystemExit("demo: %s failed (exit %d)" % (name, proc.returncode))
    return time.time() - started


def main():
    env = testbed.read_env() or testbed.cluster_up()
    os.environ.update(env)
    cfg = client.Configuration()
    config.load_kube_config(config_file=env["KUBECONFIG"], client_configuration=cfg)
    api = client.ApiClient(cfg)
    core, apps, storage = client.CoreV1Api(api), client.AppsV1Api(api), client.StorageV1Api(api)
    host_pods = env["KUBEDR_HOST_PODS_DIR"]
    location = {"provider": "s3", "bucket": env["KUBEDR_S3_BUCKET"], "prefix": PREFIX,
                "endpoint_url": env["KUBEDR_S3_ENDPOINT"], "region": "us-east-1",
                "access_key": env["KUBEDR_S3_ACCESS_KEY"], "secret_key": env["KUBEDR_S3_SECRET_KEY"],
                "s3_addressing_style": "path"}
    node_agent = {"namespace": AGENT_NAMESPACE, "host_pods_path": host_pods}
    run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    backup_name, restore_name = "demo-" + run_id, "demo-restore-" + run_id
    timings = {}
    password = repository_password(env, location)

    say("1. The application: namespace %s, Deployment busybox, a PVC holding 1.txt and 2.txt" % NAMESPACE)
    if NAMESPACE in [n.metadata.name for n in core.list_namespace().items]:
        core.delete_namespace(NAMESPACE)
        wait_for(lambda: NAMESPACE not in [n.metadata.name for n in core.list_namespace().items], what="cleanup")
    if "kubedr-sim-local" not in [s.metadata.name for s in storage.list_storage_class().items]:
        storage.create_storage_class(storage_class())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    core.create_namespaced_persistent_volume_claim(NAMESPACE, {
        "metadata": {"name": "busybox-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "kubedr-sim-local",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    apps.create_namespaced_deployment(NAMESPACE, busybox_deployment("busybox-data"))

    with KubeletVolumes(core, NAMESPACE, host_pods):
        pod = wait_for(lambda: _running_pod(core), what="the busybox pod")
        (volume_dir,) = wait_for(lambda: [d for d in volume_dirs(core, pod, host_pods) if os.path.isdir(d)],
                                 what="the volume directory")
        for name, text in FILES.items():
            with open(os.path.join(volume_dir, name), "w") as f:
                f.write(text)
        print("pod %s on %s; its volume %s holds %s" % (
            pod.metadata.name, pod.spec.node_name, os.path.relpath(volume_dir, host_pods), ", ".join(FILES)))

        say("2. The restic node agent on every node (role kubedr.backup.node_agent)")
        timings["node agent"] = playbook(os.path.join(HERE, "node-agent.yml"), dict(
            node_agent_kubeconfig=env["KUBECONFIG"], node_agent_namespace=AGENT_NAMESPACE,
            node_agent_repository_password=password, node_agent_s3_access_key=env["KUBEDR_S3_ACCESS_KEY"],
            node_agent_s3_secret_key=env["KUBEDR_S3_SECRET_KEY"], node_agent_s3_region="us-east-1",
            node_agent_host_pods_mount=host_pods))

        say("3. Back up (ansible-playbook kubedr.backup.backup, file-system backup of pod volumes)")
        common = dict(kubedr_kubeconfig=env["KUBECONFIG"], kubedr_storage_location=location,
                      kubedr_node_agent=node_agent, kubedr_poll_interval=1)
        password_env = {"KUBEDR_REPOSITORY_PASSWORD": password}
        timings["backup"] = playbook("kubedr.backup.backup", dict(
            common, kubedr_backup_name=backup_name, kubedr_included_namespaces=[NAMESPACE],
            kubedr_default_volumes_to_fs_backup=True, kubedr_fail_on_partial=True), env=password_env)
        backed_up = _stored_json(env, location, "backups/%s/%s-resource-list.json.gz" % (backup_name, backup_name))
        volumes = _stored_json(env, location, "backups/%s/%s-podvolumebackups.json.gz" % (backup_name, backup_name))

        say("4. The disaster: namespace %s and the volume files are deleted" % NAMESPACE)
        core.delete_namespace(NAMESPACE)
        for name in FILES:
            os.remove(os.path.join(volume_dir, name))
        wait_for(lambda: NAMESPACE not in [n.metadata.name for n in core.list_namespace().items],
                 what="the namespace to be gone")
        print("namespace gone; files gone: %s" % ", ".join(sorted(FILES)))

        say("5. Restore (ansible-playbook kubedr.backup.restore)")
        timings["restore"] = playbook("kubedr.backup.restore", dict(
            common, kubedr_backup_name=backup_name, kubedr_restore_name=restore_name, kubedr_fail_on_partial=True),
            env=password_env)
        restored = wait_for(lambda: _running_pod(core), what="the restored pod")
        (new_dir,) = wait_for(lambda: [d for d in volume_dirs(core, restored, host_pods) if os.path.isdir(d)],
                              what="the restored volume directory")
        verified = {}
        for name, text in FILES.items():
            path = os.path.join(new_dir, name)
            verified[name] = os.path.exists(path) and open(path).read() == text
        came_back = _stored_json(env, location, "restores/%s/restore-%s-resource-list.json.gz" % (
            restore_name, restore_name))

    say("6. Summary")
    kinds = ", ".join("%s %d" % (key.split("/")[-1], len(names)) for key, names in sorted(backed_up.items()))
    print("backup %s: %d items (%s)" % (backup_name, sum(len(v) for v in backed_up.values()), kinds))
    print("pod volumes: %s" % ", ".join("%s/%s %s (snapshot %s)" % (
        v["spec"]["pod"]["name"], v["spec"]["volume"], v["status"]["phase"], v["status"]["snapshotID"][:8])
        for v in volumes or []))
    created = [entry for entries in came_back.values() for entry in entries if entry.endswith("(created)")]
    print("restore %s: %d items created; restored pod %s has init container %s" % (
        restore_name, len(created), restored.metadata.name,
        (restored.spec.init_containers or [client.V1Container(name="none")])[0].name))
    for name, ok in sorted(verified.items()):
        print("file %s: %s" % (name, "identical to the original" if ok else "MISSING OR DIFFERENT"))
    print("durations: %s" % ", ".join("%s %.1fs" % kv for kv in timings.items()))
    if not all(verified.values()):
        raise SystemExit("demo: the volume data did not come back")
    print("\nDisaster recovered.")


def repository_password(env, location):
    """The demo's repository password: kept in PASSWORD_FILE (0600) from the first run on. Made anew only when the
    file is missing, after removing the demo's prefix, whose repositories no known password opens."""
    if os.path.exists(PASSWORD_FILE):
        with open(PASSWORD_FILE) as f:
            password = f.read().strip()
        if password:
            print("repository password: the one of the first demo run (%s)" % os.path.relpath(PASSWORD_FILE, REPO))
            return password
    s3 = _s3(env)
    stale = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=PREFIX + "/"):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents") or []]
        if keys:
            s3.delete_objects(Bucket=location["bucket"], Delete={"Objects": keys})
            stale += len(keys)
    if stale:
        print("no demo password kept: removed the %d objects under %s/ left by earlier runs "
              "(their restic repositories need a password that is lost)" % (stale, PREFIX))
    os.makedirs(os.path.dirname(PASSWORD_FILE), mode=0o700, exist_ok=True)
    password = uuid.uuid4().hex
    descriptor = os.open(PASSWORD_FILE + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(password + "\n")
    os.replace(PASSWORD_FILE + ".new", PASSWORD_FILE)
    print("repository password: new, kept in %s (mode 0600) for the next runs" % os.path.relpath(PASSWORD_FILE, REPO))
    return password


def _s3(env):
    import boto3
    import botocore.config
    return boto3.client("s3", endpoint_url=env["KUBEDR_S3_ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id=env["KUBEDR_S3_ACCESS_KEY"], aws_secret_access_key=env["KUBEDR_S3_SECRET_KEY"],
                        config=botocore.config.Config(s3={"addressing_style": "path"}))


def _running_pod(core):
    for pod in core.list_namespaced_pod(NAMESPACE, label_selector="app=busybox").items:
        if pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None:
            return pod
    return None


def _stored_json(env, location, key):
    body = _s3(env).get_object(Bucket=location["bucket"], Key="%s/%s" % (location["prefix"], key))["Body"].read()
    return json.loads(gzip.decompress(body))


if __name__ == "__main__":
    main()
