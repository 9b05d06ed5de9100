"""Fault injection on a test bed of its own (`cluster-up.sh faults`: its own kwok cluster and
its own MinIO), so stopping MinIO or the API server never disturbs other tests.

Each test injects a fault into a running module and checks what a user would: the phase and
the reason, that nothing half-written shows up as a backup, and that a rerun succeeds.

"Mid-run" is made exact: the module process (started here) is paused with SIGSTOP once it has
visibly started (its progress object exists, or restored items appear), the fault is injected,
and the module is resumed with SIGCONT. Only processes this file started, or the faults test
bed's own MinIO and kube-apiserver (by their recorded pids), are ever signalled."""
import datetime
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

import testbed
from testbed import wait_for

NAME = "faults"
BULK_NS = "faults-bulk"
BULK_COUNT = 3000
PASSWORD = "faults-repo-" + uuid.uuid4().hex
FAULTS_INJECTED = []  # (fault, outcome), printed at the end (docs/reliability.md)


# ---------------------------------------------------------------- the faults test bed

class FaultBed(object):
    """The faults cluster and MinIO, with the means to stop and restart them by their own pids."""

    def __init__(self, env):
        self.env = env
        self.kubeconfig = env["KUBECONFIG"]
        self.bin_dir = env["KUBEDR_BIN_DIR"]
        self.minio_dir = os.path.join(testbed.TESTBED_DIR, "minio-" + NAME)
        self.cluster_dir = os.path.join(testbed.TESTBED_DIR, "kwok", "clusters", NAME)
        self.last_snapshots = {}

    # MinIO -----------------------------------------------------------------------------

    def minio_pid(self):
        with open(os.path.join(self.minio_dir, "pid")) as f:
            return int(f.read().strip())

    def kill_minio(self):
        pid = self.minio_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=20, interval=0.1, what="MinIO to die")

    def start_minio(self):
        """Start MinIO again as cluster-up.sh does, on the same port and data directory."""
        with open(os.path.join(self.minio_dir, "port")) as f:
            port = f.read().strip()
        creds = {}
        with open(os.path.join(self.minio_dir, "credentials")) as f:
            for line in f:
                if "=" in line:
                    key, value = line.strip().split("=", 1)
                    creds[key] = value
        env = dict(os.environ, MINIO_BROWSER="off", **creds)  # credentials through the environment only
        script = ('nohup "$0" server --quiet --address "127.0.0.1:$1" --console-address 127.0.0.1:0 "$2" '
                  '>>"$3" 2>&1 & echo $!')
        out = subprocess.run(["bash", "-c", script, os.path.join(self.bin_dir, "minio"), port,
                              os.path.join(self.minio_dir, "data"), os.path.join(self.minio_dir, "minio.log")],
                             env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        with open(os.path.join(self.minio_dir, "pid"), "w") as f:
            f.write(out.strip() + "\n")
        s3 = self.s3()
        wait_for(lambda: _ok(lambda: s3.head_bucket(Bucket=self.env["KUBEDR_S3_BUCKET"])), timeout=60,
                 what="MinIO to serve again")

    def s3(self):
        import boto3
        import botocore.config
        return boto3.client(
            "s3", endpoint_url=self.env["KUBEDR_S3_ENDPOINT"], region_name="us-east-1",
            aws_access_key_id=self.env["KUBEDR_S3_ACCESS_KEY"], aws_secret_access_key=self.env["KUBEDR_S3_SECRET_KEY"],
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=2, read_timeout=10))

    def location(self, prefix):
        return {"provider": "s3", "bucket": self.env["KUBEDR_S3_BUCKET"], "endpoint_url": self.env["KUBEDR_S3_ENDPOINT"],
                "region": "us-east-1", "access_key": self.env["KUBEDR_S3_ACCESS_KEY"],
                "secret_key": self.env["KUBEDR_S3_SECRET_KEY"], "s3_addressing_style": "path", "prefix": prefix}

    def keys(self, prefix):
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=self.env["KUBEDR_S3_BUCKET"],
                                                                    Prefix=prefix + "/")
        return sorted(o["Key"][len(prefix) + 1:] for page in pages for o in page.get("Contents") or [])

    # kube-apiserver ---------------------------------------------------------------------

    COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")
    LEADER_ELECTED = ("kube-controller-manager", "kube-scheduler")

    def pidfile(self, component):
        return os.path.join(self.cluster_dir, "pids", component + ".pid")

    def logfile(self, component):
        return os.path.join(self.cluster_dir, "logs", component + ".log")

    def snapshot(self, component):
        """(pid, argv, cwd, env) of a kwokctl component, read from /proc by its recorded pid."""
        with open(self.pidfile(component)) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = dict(e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e)
        return pid, argv, os.readlink("/proc/%d/cwd" % pid), env

    def kill_apiserver(self):
        """SIGKILL kwokctl's kube-apiserver; returns what restarting the control plane needs."""
        snapshots = self.last_snapshots = dict((c, self.snapshot(c)) for c in self.COMPONENTS)
        pid = snapshots["kube-apiserver"][0]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=20, interval=0.1, what="kube-apiserver to die")
        return snapshots

    def start_apiserver(self, snapshots):
        """Start the kube-apiserver again, and every component that gave up meanwhile (the
        controller manager and the scheduler exit when they lose their leases)."""
        self._start("kube-apiserver", snapshots["kube-apiserver"])
        self.wait_ready()
        back = datetime.datetime.now(datetime.timezone.utc)
        # Each leader-elected component either renews its lease with the new API server or
        # exits once its renew deadline passes: wait until every one has done one or the other.
        wait_for(lambda: all(not _alive(snapshots[c][0]) or self.lease_renewed_since(c, back)
                             for c in self.LEADER_ELECTED), timeout=60, interval=0.2,
                 what="the controller manager and the scheduler to renew their leases or exit")
        for component in self.COMPONENTS[1:]:
            if not _alive(snapshots[component][0]):
                self._start(component, snapshots[component])

    def lease_renewed_since(self, component, moment):
        kubectl = os.path.join(self.bin_dir, "kubectl")
        out = subprocess.run([kubectl, "--kubeconfig", self.kubeconfig, "-n", "kube-system", "get", "lease",
                              component, "-o", "jsonpath={.spec.renewTime}"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False, timeout=10)
        if out.returncode != 0 or not out.stdout.strip():
            return False
        renewed = datetime.datetime.strptime(out.stdout.strip()[:19], "%Y-%m-%dT%H:%M:%S")
        return renewed.replace(tzinfo=datetime.timezone.utc) >= moment.replace(microsecond=0)

    def _start(self, component, snapshot):
        _pid, argv, cwd, env = snapshot
        log = self.logfile(component)
        out = subprocess.run(["bash", "-c", 'log=$1; shift; nohup "$@" >>"$log" 2>&1 & echo $!', "start", log] + argv,
                             cwd=cwd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        with open(self.pidfile(component), "w") as f:
            f.write(out.strip())

    def revive(self):
        """Restart components that died after an outage ended (a lost lease may be noticed late)."""
        for component in self.COMPONENTS[1:]:
            with open(self.pidfile(component)) as f:
                pid = int(f.read().strip())
            if not _alive(pid) and component in self.last_snapshots:
                self._start(component, self.last_snapshots[component])

    def wait_ready(self):
        # A restarted kube-apiserver fills its watch caches and runs its post-start hooks before /readyz
        # answers: seconds alone, but more than 90 s once while the other xdist worker's heavy tests held both
        # cores. The deadline is only a safety net; the failure shows the apiserver's own last lines.
        kubectl = os.path.join(self.bin_dir, "kubectl")
        try:
            wait_for(lambda: subprocess.run([kubectl, "--kubeconfig", self.kubeconfig, "get", "--raw", "/readyz"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                                            timeout=10).returncode == 0, timeout=300, what="kube-apiserver ready")
        except AssertionError as error:
            with open(self.logfile("kube-apiserver"), errors="replace") as log:
                raise AssertionError("%s; the last lines of its log:\n%s" % (error, "".join(log.readlines()[-30:])))

    # Clients ----------------------------------------------------------------------------

    def core_v1(self):
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        cfg.retries = 1
        return client.CoreV1Api(client.ApiClient(cfg))


def _free_port(rng, taken=()):
    """A free port for a server these tests stop and start again (the kube-apiserver, MinIO), far below 32767:
    kwokctl gives every other bed the first free port counting down from there, and once took the stopped
    kube-apiserver's (a SIGKILLed server's port is free at once; its connections' TIME_WAIT does not hold it),
    so the restart failed: "address already in use". Below the ephemeral range (32768-60999) no outgoing
    connection takes it as its source port either."""
    for _attempt in range(200):
        port = rng.randrange(20000, 30000)
        if port in taken:
            continue
        probe = socket.socket()
        try:
            probe.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
        finally:
            probe.close()
    raise RuntimeError("no free port between 20000 and 30000 for the fault bed")


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _ok(fn):
    try:
        fn()
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def fbed():
    rng = random.Random(os.getpid())
    apiserver_port = _free_port(rng)
    env = testbed.cluster_up(NAME, {"KUBEDR_APISERVER_PORT": str(apiserver_port),
                                    "KUBEDR_MINIO_PORT": str(_free_port(rng, taken=(apiserver_port,)))})
    bed = FaultBed(env)
    yield bed
    subprocess.run(["bash", os.path.join(testbed.REPO, "hack", "testbed", "cluster-down.sh"), NAME],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=300)
    for fault, outcome in FAULTS_INJECTED:
        print("\nfault injected: %s -> %s" % (fault, outcome))


@pytest.fixture(scope="module")
def bulk(fbed):
    """BULK_COUNT ConfigMaps of ~2 KiB each in BULK_NS: a backup and a restore take some seconds."""
    core = fbed.core_v1()
    try:
        core.create_namespace({"metadata": {"name": BULK_NS}})
    except Exception:  # left over from an earlier session on a reused cluster
        pass
    payload = {"blob": "x" * 2048}

    def create(i):
        try:
            core.create_namespaced_config_map(BULK_NS, {"metadata": {"name": "cm-%05d" % i}, "data": payload})
        except Exception as error:
            if getattr(error, "status", None) != 409:
                raise
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(BULK_COUNT)))
    return BULK_NS


# ---------------------------------------------------------------- running a module with a fault

class Running(object):
    """A module started in the background (the way Ansible runs it)."""

    def __init__(self, module, args):
        testbed.ensure_collection_path()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ansible_collections.kubedr.backup.plugins.modules." + module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=testbed.module_env())
        self.proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False)}))
        self.proc.stdin.close()
        self.proc.stdin = None  # communicate() must not flush it again
        self.paused = False

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def running(self):
        return self.proc.poll() is None

    def result(self, timeout=180):
        started = time.time()
        out, err = self.proc.communicate(timeout=timeout)
        self.elapsed = time.time() - started
        try:
            result = testbed.ModuleResult(json.loads(out))
        except ValueError:
            result = testbed.ModuleResult(failed=True, msg="module printed no JSON", stdout=out)
        result.rc = self.proc.returncode
        result.stderr = err
        return result


def paused_when(running, predicate, what, interval=0.02, timeout=120):
    """Pause the module as soon as ``predicate()`` holds; the module must still be running then."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            running.pause()
            assert running.running(), "the module finished before the fault could be injected (%s)" % what
            return
        assert running.running(), "the module ended before %s: %s" % (what, running.proc.stdout.read())
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def stored(fbed, key):
    """Whether MinIO holds ``key``, read on its drive (single-drive layout: <drive>/<bucket>/<key>/xl.meta, written
    before MinIO answers the PUT). A HEAD through S3 took long enough, polled, that a backup of the bulk
    namespace had finished its listing once before the fault came "mid-backup"; a stat takes microseconds."""
    return os.path.exists(os.path.join(fbed.minio_dir, "data", fbed.env["KUBEDR_S3_BUCKET"], key, "xl.meta"))


def listed_backups(fbed, location):
    info = testbed.run_module("k8s_backup_info", {"storage_location": location})
    assert not info.failed, info.get("msg")
    return [b["name"] for b in info["backups"]]


# ---------------------------------------------------------------- the faults

def finish_after_fault(run, kill, restart):
    """Inject a fault under the paused module (kill() returns what restart() needs), let the
    module finish, then undo the fault whatever happened; returns the module's result."""
    token = kill()
    try:
        run.resume()
        return run.result()
    finally:
        if run.paused:
            run.resume()
        restart(token)


def test_minio_stopped_mid_backup_fails_cleanly_and_a_rerun_commits(fbed, bulk):
    prefix = "minio-" + uuid.uuid4().hex[:6]
    location = fbed.location(prefix)
    args = {"kubeconfig": fbed.kubeconfig, "storage_location": location, "name": "b1", "included_namespaces": [bulk]}
    run = Running("k8s_backup", args)
    paused_when(run, lambda: stored(fbed, "%s/backups/b1/b1-progress.json" % prefix), "the backup's progress",
                interval=0.002)
    result = finish_after_fault(run, fbed.kill_minio, lambda token: fbed.start_minio())
    FAULTS_INJECTED.append(("MinIO killed mid-backup", result.get("phase")))

    assert result.failed and result.get("phase") == "Failed", result
    assert result["msg"].startswith("backup b1 failed: ")
    assert "S3" in result["msg"] and "Traceback" not in result["msg"]
    # Once a request has found the endpoint refusing every attempt, the failure record and the lease's release
    # get one attempt each (storage/s3.py EndpointState): 6-18 s here, 70-90 s with a backoff series per write.
    assert run.elapsed < 60, "the backup took %.0f s to fail on a dead S3 endpoint" % run.elapsed
    assert "velero" in result["backup_errors"] and result["backup_errors"]["velero"]
    # Nothing half-written is a backup: no commit marker, not listed.
    assert "backups/b1/velero-backup.json" not in fbed.keys(prefix)
    assert "b1" not in listed_backups(fbed, location)

    rerun = testbed.run_module("k8s_backup", args)
    assert not rerun.failed, rerun.get("msg")
    assert rerun["phase"] == "Completed" and rerun["changed"]
    assert rerun["item_counts"]["per_resource"]["v1/ConfigMap"] >= BULK_COUNT
    assert "b1" in listed_backups(fbed, location)


def child_pids(pid):
    """The processes whose parent is ``pid`` (the backup's worker processes)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def test_a_backup_worker_killed_mid_backup_fails_the_backup_cleanly_and_a_rerun_commits(fbed, bulk):
    prefix = "worker-" + uuid.uuid4().hex[:6]
    location = fbed.location(prefix)
    args = {"kubeconfig": fbed.kubeconfig, "storage_location": location, "name": "w1", "included_namespaces": [bulk]}
    run = Running("k8s_backup", args)
    paused_when(run, lambda: child_pids(run.proc.pid), "the backup's worker processes", interval=0.005)
    workers = child_pids(run.proc.pid)
    assert workers, "the paused backup has no worker process"

    def kill_worker():
        os.kill(workers[0], signal.SIGKILL)  # a process this test started, through the module

    result = finish_after_fault(run, kill_worker, lambda token: None)
    FAULTS_INJECTED.append(("a backup worker process killed mid-backup", result.get("phase")))

    assert result.failed and result.get("phase") == "Failed", result
    assert "worker process" in result["msg"] and "Traceback" not in result["msg"], result["msg"]
    assert "backups/w1/velero-backup.json" not in fbed.keys(prefix)
    assert "w1" not in listed_backups(fbed, location)
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived the module"

    rerun = testbed.run_module("k8s_backup", args)
    assert not rerun.failed, rerun.get("msg")
    assert rerun["phase"] == "Completed"
    assert rerun["item_counts"]["per_resource"]["v1/ConfigMap"] >= BULK_COUNT


def _node_agent(fbed, core, apps):
    fbed.revive()  # the DaemonSet controller and the scheduler must be up
    return testbed.node_agents(core, apps, "faults-agent", fbed.env["KUBEDR_HOST_PODS_DIR"], exist_ok=True)


def backed_up_bulk(fbed, bulk, backup_name, prefix_word):
    """A Completed backup of the bulk namespace under a fresh prefix; returns (common module
    options, the target namespace of a restore, a function counting the ConfigMaps restored there)."""
    location = fbed.location(prefix_word + "-" + uuid.uuid4().hex[:6])
    common = {"kubeconfig": fbed.kubeconfig, "storage_location": location}
    backup = testbed.run_module("k8s_backup", dict(common, name=backup_name, included_namespaces=[bulk]))
    assert backup["phase"] == "Completed", backup.get("msg")
    target = "faults-%s-%s" % (prefix_word, uuid.uuid4().hex[:5])
    core = fbed.core_v1()

    def restored_count():
        try:
            return len(core.list_namespaced_config_map(
                target, label_selector="velero.io/backup-name=" + backup_name).items)
        except Exception:
            return 0
    return common, target, restored_count


def test_minio_stopped_mid_restore_the_restore_completes_and_says_its_record_is_missing(fbed, bulk):
    common, target, restored_count = backed_up_bulk(fbed, bulk, "b4", "minio")
    location = common["storage_location"]
    prefix = location["prefix"]
    core = fbed.core_v1()

    # The archive is read before anything is created: once items appear, the bucket is not needed
    # until the restore's own record is written at the end.
    run = Running("k8s_restore", dict(common, backup_name="b4", namespace_mapping={bulk: target}, name="r4",
                                      workers=4))
    paused_when(run, lambda: restored_count() >= 100, "the first restored items", interval=0.1)
    result = finish_after_fault(run, fbed.kill_minio, lambda token: fbed.start_minio())
    FAULTS_INJECTED.append(("MinIO killed mid-restore", result.get("phase")))

    assert not result.failed, result.get("msg")
    assert result["phase"] == "Completed", result["restore_errors"]
    assert any("could not be written to the storage location" in w and "S3" in w
               for w in result["restore_warnings"]["velero"]), result["restore_warnings"]
    assert restored_count() == BULK_COUNT
    # Only what the restore wrote while MinIO was up: its progress object and its lease (which expires;
    # a rerun of r4 on this host takes it over at once, its holder being gone). No record of the restore.
    assert sorted(k for k in fbed.keys(prefix) if k.startswith("restores/r4/")) == [
        "restores/r4/restore-r4-lease.json", "restores/r4/restore-r4-progress.json"]
    # Nothing is lost: the backup is intact and a rerun (with its record) finds everything there.
    rerun = testbed.run_module("k8s_restore", dict(common, backup_name="b4", namespace_mapping={bulk: target},
                                                   name="r5"))
    assert rerun["phase"] == "Completed" and rerun["item_counts"]["created"] == 0, rerun.get("msg")
    assert [k for k in fbed.keys(prefix) if k.startswith("restores/r5/")]
    core.delete_namespace(target)


def running_pod(core, namespace, name):
    pod = core.read_namespaced_pod(name, namespace)
    return pod if pod.status.phase == "Running" else None


def _restic_in(directory):
    """Pids of restic processes whose working directory is ``directory``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != "restic":
                    continue
            if os.readlink("/proc/%s/cwd" % pid) == directory:
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_restic_killed_mid_volume_fails_that_volume_only(fbed):
    from kubernetes import client
    core = fbed.core_v1()
    apps = client.AppsV1Api(core.api_client)
    agent = _node_agent(fbed, core, apps)
    namespace = "faults-vol-" + uuid.uuid4().hex[:5]
    core.create_namespace({"metadata": {"name": namespace}})
    node = sorted(n.metadata.name for n in core.list_node().items)[0]
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "app"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}],
                 "volumes": [{"name": "big", "emptyDir": {}}, {"name": "small", "emptyDir": {}}]}})
    pod = wait_for(lambda: running_pod(core, namespace, "app"), what="the pod running")
    dirs = {}
    for volume in ("big", "small"):
        dirs[volume] = os.path.join(fbed.env["KUBEDR_HOST_PODS_DIR"], pod.metadata.uid, "volumes",
                                    "kubernetes.io~empty-dir", volume)
        os.makedirs(dirs[volume])
    with open(os.path.join(dirs["big"], "random.bin"), "wb") as f:
        for _index in range(128):
            f.write(os.urandom(1024 * 1024))
    with open(os.path.join(dirs["small"], "note.txt"), "w") as f:
        f.write("small volume\n")

    prefix = "restic-" + uuid.uuid4().hex[:6]
    location = fbed.location(prefix)
    args = {"kubeconfig": fbed.kubeconfig, "storage_location": location, "name": "v1",
            "included_namespaces": [namespace], "default_volumes_to_fs_backup": True,
            "repository_password": PASSWORD, "node_agent": agent}
    run = Running("k8s_backup", args)
    killed = []
    deadline = time.time() + 180
    while not killed and time.time() < deadline and run.running():
        for pid in _restic_in(dirs["big"]):
            os.kill(pid, signal.SIGKILL)  # exactly the restic of the big volume, started by this test's module
            killed.append(pid)
        time.sleep(0.01)
    result = run.result(timeout=300)
    FAULTS_INJECTED.append(("restic killed mid-volume", result.get("phase")))
    assert killed, "restic never ran in the big volume's directory"

    assert not result.failed, result.get("msg")
    assert result["phase"] == "PartiallyFailed", result["backup_errors"]
    volumes = dict((v["volume"], v) for v in result["pod_volumes"])
    assert volumes["big"]["phase"] == "Failed" and not volumes["big"]["snapshot_id"]
    assert volumes["big"]["message"]
    assert volumes["small"]["phase"] == "Completed" and volumes["small"]["snapshot_id"]
    assert any("big" in message for message in result["backup_errors"]["namespaces"][namespace])
    # The objects are committed (PartiallyFailed is restorable) and listed.
    assert "v1" in listed_backups(fbed, location)
    assert result["item_counts"]["per_resource"]["v1/Pod"] == 1

    rerun = testbed.run_module("k8s_backup", dict(args, name="v2"), timeout=600)
    assert not rerun.failed, rerun.get("msg")
    assert rerun["phase"] == "Completed", rerun["backup_errors"]
    assert sorted((v["volume"], v["phase"]) for v in rerun["pod_volumes"]) == [("big", "Completed"),
                                                                               ("small", "Completed")]
    core.delete_namespace(namespace)


def test_restore_with_policy_none_overwrites_nothing_and_reports_each_difference(fbed):
    core = fbed.core_v1()
    namespace = "faults-none-" + uuid.uuid4().hex[:5]
    core.create_namespace({"metadata": {"name": namespace}})
    for name in ("same", "changed", "gone"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": {"v": "backed-up"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "backed-up"}})
    prefix = "none-" + uuid.uuid4().hex[:6]
    common = {"kubeconfig": fbed.kubeconfig, "storage_location": fbed.location(prefix)}
    backup = testbed.run_module("k8s_backup", dict(common, name="n1", included_namespaces=[namespace]))
    assert backup["phase"] == "Completed", backup.get("msg")

    # The live objects move on: two changed, one deleted, one left alone.
    core.patch_namespaced_config_map("changed", namespace, {"data": {"v": "live-edit"}})
    core.patch_namespaced_secret("creds", namespace, {"stringData": {"token": "live-secret-edit"}})
    core.delete_namespaced_config_map("gone", namespace)

    restore = testbed.run_module("k8s_restore", dict(common, backup_name="n1", name="rn1",
                                                     included_resources=["configmaps", "secrets"]))
    FAULTS_INJECTED.append(("restore over existing objects, policy none", restore.get("phase")))
    assert not restore.failed, restore.get("msg")
    assert restore["phase"] == "Completed"
    # Nothing was overwritten.
    assert core.read_namespaced_config_map("changed", namespace).data == {"v": "live-edit"}
    import base64
    assert base64.b64decode(core.read_namespaced_secret("creds", namespace).data["token"]) == b"live-secret-edit"
    assert core.read_namespaced_config_map("gone", namespace).data == {"v": "backed-up"}  # missing: created
    # Each difference is reported, once, naming the item; identical items are skipped silently.
    warnings = restore["restore_warnings"]["namespaces"][namespace]
    differs = [w for w in warnings if "differs from the backup" in w and "kube-root-ca.crt" not in w]
    assert len(differs) == 2, warnings
    assert any("configmaps %s/changed" % namespace in w for w in differs)
    assert any("secrets %s/creds" % namespace in w for w in differs)
    assert not any("/same" in w for w in warnings)
    assert "live-secret-edit" not in json.dumps(restore) and "backed-up" not in json.dumps(restore)
    configmaps = restore["item_counts"]["per_resource"]["v1/ConfigMap"]
    assert configmaps["created"] == 1 and configmaps["updated"] == 0
    assert restore["item_counts"]["per_resource"]["v1/Secret"]["skipped"] == 1

    # A rerun is just as careful.
    again = testbed.run_module("k8s_restore", dict(common, backup_name="n1", name="rn2",
                                                   included_resources=["configmaps", "secrets"]))
    assert again["phase"] == "Completed" and again["item_counts"]["created"] == 0 and again["item_counts"]["updated"] == 0
    assert core.read_namespaced_config_map("changed", namespace).data == {"v": "live-edit"}
    core.delete_namespace(namespace)


def test_apiserver_stopped_mid_backup_fails_cleanly_and_a_rerun_commits(fbed, bulk):
    prefix = "apis-" + uuid.uuid4().hex[:6]
    location = fbed.location(prefix)
    args = {"kubeconfig": fbed.kubeconfig, "storage_location": location, "name": "b2", "included_namespaces": [bulk]}
    run = Running("k8s_backup", args)
    paused_when(run, lambda: stored(fbed, "%s/backups/b2/b2-progress.json" % prefix), "the backup's progress",
                interval=0.002)
    result = finish_after_fault(run, fbed.kill_apiserver, fbed.start_apiserver)
    FAULTS_INJECTED.append(("kube-apiserver killed mid-backup", result.get("phase")))

    assert result.failed and result.get("phase") == "Failed", result
    assert "cannot reach the Kubernetes API server" in result["msg"], result["msg"]
    assert run.elapsed < 60  # retries are bounded: a dead API server fails the run, it does not hang
    assert "backups/b2/velero-backup.json" not in fbed.keys(prefix)
    assert "b2" not in listed_backups(fbed, location)

    rerun = testbed.run_module("k8s_backup", args)
    assert not rerun.failed, rerun.get("msg")
    assert rerun["phase"] == "Completed"
    assert rerun["item_counts"]["per_resource"]["v1/ConfigMap"] >= BULK_COUNT
    assert "b2" in listed_backups(fbed, location)


def test_apiserver_stopped_mid_restore_fails_cleanly_and_a_rerun_converges(fbed, bulk):
    common, target, restored_count = backed_up_bulk(fbed, bulk, "b3", "copy")
    core = fbed.core_v1()

    args = dict(common, backup_name="b3", namespace_mapping={bulk: target}, name="r1", workers=4)
    run = Running("k8s_restore", args)
    paused_when(run, lambda: restored_count() >= 100, "the first restored items", interval=0.1)
    result = finish_after_fault(run, fbed.kill_apiserver, fbed.start_apiserver)
    FAULTS_INJECTED.append(("kube-apiserver killed mid-restore", result.get("phase")))

    assert result.failed and result.get("phase") == "Failed", result
    assert "cannot reach the Kubernetes API server" in result["msg"], result["msg"]
    assert run.elapsed < 60, "the restore went on handing out work after the API server was gone"
    partial = restored_count()
    assert 100 <= partial < BULK_COUNT

    rerun = testbed.run_module("k8s_restore", dict(args, name="r2"))
    assert not rerun.failed, rerun.get("msg")
    assert rerun["phase"] == "Completed", rerun["restore_errors"]
    counts = rerun["item_counts"]["per_resource"]["v1/ConfigMap"]
    # What the first run created is found identical and left alone; the rest is created; no duplicates.
    # (+1: the namespace's kube-root-ca.crt, in the backup and created afresh by the controller manager)
    assert counts["created"] + counts["skipped"] == BULK_COUNT + 1 and counts["failed"] == 0
    assert counts["skipped"] >= partial - 10  # items in flight when the server died may or may not be there
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(target).items
             if cm.metadata.name.startswith("cm-")]
    assert len(names) == len(set(names)) == BULK_COUNT
    core.delete_namespace(target)
