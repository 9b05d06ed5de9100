"""Smoke tests proving the test bed is real: an API server that stores and pages,
a scheduler and kwok kubelets that run pods, exec with real exit codes, MinIO, restic."""
import filecmp
import os
import subprocess
import uuid

from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import exec_in_pod
from testbed import wait_for


def test_thousand_configmaps_are_listed_back_paginated(core_v1, namespace):
    names = set("cm-%04d" % i for i in range(1000))
    from concurrent.futures import ThreadPoolExecutor

    def create(name):
        core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": {"k": name}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, sorted(names)))

    listed, pages, token = [], 0, None
    while True:
        page = core_v1.list_namespaced_config_map(namespace, limit=100, _continue=token)
        listed += [cm.metadata.name for cm in page.items if cm.metadata.name.startswith("cm-")]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert sorted(listed) == sorted(names)
    assert pages >= 10  # the server really paged (1000+ items, 100 a page)


def running_pod(core_v1, namespace, selector):
    def check():
        pods = core_v1.list_namespaced_pod(namespace, label_selector=selector).items
        for pod in pods:
            if pod.status.phase == "Running" and pod.spec.node_name:
                return pod
        return None
    return wait_for(check, what="a Running pod with %s in %s" % (selector, namespace))


def make_deployment(apps_v1, namespace, name):
    apps_v1.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "infinity"]}]},
            },
        },
    })


def test_deployment_pod_is_scheduled_to_a_kwok_node_and_running(core_v1, apps_v1, namespace):
    make_deployment(apps_v1, namespace, "web")
    pod = running_pod(core_v1, namespace, "app=web")
    node = core_v1.read_node(pod.spec.node_name)
    assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"
    nodes = [n.metadata.name for n in core_v1.list_node().items]
    assert len(nodes) >= 2


def test_exec_returns_stdout_and_real_exit_status(api_client, core_v1, apps_v1, namespace, bed):
    make_deployment(apps_v1, namespace, "shell")
    pod = running_pod(core_v1, namespace, "app=shell")
    token = uuid.uuid4().hex
    ok = exec_in_pod(api_client, namespace, pod.metadata.name, ["sh", "-c", "echo out-%s; echo err >&2" % token])
    assert ok.rc == 0
    assert ok.stdout.strip() == "out-" + token
    assert ok.stderr.strip() == "err"

    failed = exec_in_pod(api_client, namespace, pod.metadata.name, ["sh", "-c", "echo before; exit 3"])
    assert failed.rc == 3
    assert failed.stdout.strip() == "before"

    # The command runs on this machine, in the directory that plays the kubelet pods dir.
    where = exec_in_pod(api_client, namespace, pod.metadata.name, ["pwd"])
    assert os.path.realpath(where.stdout.strip()) == os.path.realpath(bed["KUBEDR_HOST_PODS_DIR"])

    # Standard input reaches the command (how secrets are handed over without argv).
    piped = exec_in_pod(api_client, namespace, pod.metadata.name, ["sh", "-c", "read -r line; echo got-$line"],
                        stdin="secret-%s\n" % token)
    assert piped.rc == 0 and piped.stdout.strip() == "got-secret-" + token


def test_minio_put_get_list_path_style(s3, bed):
    bucket = bed["KUBEDR_S3_BUCKET"]
    prefix = "smoke-%s/" % uuid.uuid4().hex[:8]
    body = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key=prefix + "a.bin", Body=body)
    s3.put_object(Bucket=bucket, Key=prefix + "b.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key=prefix + "a.bin")["Body"].read() == body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [prefix + "a.bin", prefix + "b.txt"]
    assert s3.meta.config.s3["addressing_style"] == "path"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})


def test_restic_backup_and_restore_through_minio(bed, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "1.txt").write_text("one\n")
    (src / "sub" / "2.bin").write_bytes(os.urandom(300000))
    repo = "s3:%s/%s/smoke-restic-%s" % (bed["KUBEDR_S3_ENDPOINT"], bed["KUBEDR_S3_BUCKET"], uuid.uuid4().hex[:8])
    pwfile = tmp_path / "pw"
    pwfile.write_text("smoke-password\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=bed["KUBEDR_S3_ACCESS_KEY"], AWS_SECRET_ACCESS_KEY=bed["KUBEDR_S3_SECRET_KEY"],
               RESTIC_REPOSITORY=repo, RESTIC_PASSWORD_FILE=str(pwfile), RESTIC_CACHE_DIR=str(tmp_path / "cache"))

    def restic(*args, cwd=None):
        proc = subprocess.run(["restic"] + list(args), env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    restic("init")
    restic("backup", "--host", "smoke", ".", cwd=str(src))
    dst = tmp_path / "dst"
    restic("restore", "latest", "--target", str(dst))
    cmp = filecmp.dircmp(str(src), str(dst))
    assert sorted(os.listdir(str(dst))) == ["1.txt", "sub"]
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert (dst / "sub" / "2.bin").read_bytes() == (src / "sub" / "2.bin").read_bytes()
