"""Real Velero, run out of cluster beside the test bed (docs/testbed.md, "Real Velero beside the test bed").

As Velero's "Run Velero locally in development" guide does: Velero is installed into the cluster as
`velero-<version> install` renders it (CRDs, namespace, ServiceAccount, ClusterRoleBinding, the
cloud-credentials Secret, a BackupStorageLocation on the test bed's MinIO, the velero Deployment scaled to 0),
and `velero-<version> server --kubeconfig ...` runs as a local process with velero-plugin-for-aws in its
plugin directory. The binaries are the releases hack/testbed/build-binaries.sh builds into $KUBEDR_BIN_DIR.

API (test_velero_interop.py and the volume interop tests use it):

    server = VeleroServer("v1.18.3", bed, uploader_type="kopia")   # bed: the env dict of the `bed` fixture
    server.start()        # the lock, the install, `velero server`, until the BSL is Available
    server.cli("backup", "get")            # CompletedProcess of `velero-<v> --kubeconfig K -n NS backup get`
    server.wait_backup_phase(name, ("Completed",), timeout=60)    # the Backup object once in one of phases
    server.wait_restore_phase(name, ("Completed",), timeout=60)
    server.get("backups", name)            # a velero.io/v1 object of the server's namespace, or None
    server.restart()      # the process only: Velero syncs the BSL's backups at start (then once a minute)
    server.location       # kubedr's `storage_location` option for the same bucket and prefix
    server.stop()         # the server and its plugins, the namespace, the prefix's objects; releases the lock

    with VeleroServer(...) as server: ...  # start() and stop()

Options: namespace (default velero-v1-18-<random> for v1.18.x), bucket (velero-interop), prefix (default
fresh per server, so runs never see each other's backups), uploader_type, install_args (more `velero install`
flags, e.g. ("--use-node-agent",): the rendered DaemonSet is applied too), server_args (more `velero server`
flags, e.g. ("--features=EnableAPIGroupVersions",); read at each start and restart).
Attributes: version, binary, bsl_name ("default"), kubeconfig, rendered (the applied install's objects),
credentials_file (AWS shared credentials file, mode 0600, removed at stop), plugin_dir, log_path, workdir,
process_env (the server's environment: AWS_SHARED_CREDENTIALS_FILE, KUBECONFIG, $KUBEDR_BIN_DIR first on
PATH; give it to a node agent too), lock.waited (seconds start() waited for another Velero).

One Velero at a time on this machine: Velero's controller-runtime manager binds its own metrics server to
:8080 (Velero sets no address and has no flag for it; a build with `-X sigs.k8s.io/controller-runtime/pkg/
metrics/server.DefaultBindAddress=0` would not), and the CRDs are cluster-wide and differ between versions
(v1.18's backup phases include Queued, which v1.16's schema refuses). start() therefore takes an exclusive
lock on .testbed/velero.lock and holds it until stop(); another server waits for it. The server dies with
the test process (PR_SET_PDEATHSIG), so no run leaves one behind.

Secrets: the S3 keys reach Velero through the credentials file (the environment names the file) and the
rendered Secret (through kubectl's standard input), never a command line.
"""
import ctypes
import fcntl
import json
import os
import re
import signal
import subprocess
import time
import uuid

import boto3
import botocore.config

import testbed

BUCKET = "velero-interop"
BSL_NAME = "default"
LOCK_PATH = os.path.join(testbed.TESTBED_DIR, "velero.lock")
PR_SET_PDEATHSIG = 1
VELERO_RESOURCES = ("restores", "backups", "podvolumebackups", "podvolumerestores", "backuprepositories",
                    "deletebackuprequests", "downloadrequests", "serverstatusrequests")
VELERO_V2_RESOURCES = ("datauploads", "datadownloads")


def pinned_version(variable):
    """A version pinned in hack/testbed/versions.sh."""
    with open(os.path.join(testbed.REPO, "hack", "testbed", "versions.sh")) as handle:
        return re.search(r"^%s=(\S+)" % variable, handle.read(), re.M).group(1)


def die_with_parent():
    """preexec_fn: the server gets SIGTERM when the test process dies, so no run leaves it behind."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def namespace_for(version):
    """velero-v1-18-<random> for v1.18.3: a fresh namespace per server, so a server never waits for the
    deletion of the previous one's (the namespace controller takes up to a minute here)."""
    major, minor = version.lstrip("v").split(".")[:2]
    return "velero-v%s-%s-%s" % (major, minor, uuid.uuid4().hex[:5])


class VeleroError(AssertionError):
    """Velero did not do what a test waited for; the message ends with the server log's tail."""


class MachineLock(object):
    """An exclusive flock on .testbed/velero.lock: one Velero at a time on this machine (see the top)."""

    def __init__(self, note):
        self.note = note
        self.waited = None  # seconds spent waiting for another holder
        self._handle = None

    def acquire(self, timeout=900):
        os.makedirs(testbed.TESTBED_DIR, exist_ok=True)
        handle = open(LOCK_PATH, "a+")
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > timeout:
                    handle.seek(0)
                    holder = handle.read().strip()
                    handle.close()
                    raise VeleroError("another Velero holds %s for %ss (%s)" % (LOCK_PATH, timeout, holder))
                time.sleep(1)
        self.waited = time.monotonic() - started
        handle.seek(0)
        handle.truncate()
        handle.write("pid %d: %s\n" % (os.getpid(), self.note))  # who holds it, for the message above
        handle.flush()
        self._handle = handle

    @property
    def held(self):
        return self._handle is not None

    def release(self):
        if self._handle is not None:
            self._handle.close()  # releases the flock
            self._handle = None


def run_kubectl(env, *args, stdin=None, check=True):
    """kubectl of the test bed against env's cluster; its stdout (VeleroError on failure with check)."""
    cmd = [os.path.join(env["KUBEDR_BIN_DIR"], "kubectl"), "--kubeconfig", env["KUBECONFIG"]] + list(args)
    proc = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120, check=False)
    if check and proc.returncode != 0:
        raise VeleroError("%s exited %d: %s" % (" ".join(cmd), proc.returncode, proc.stderr))
    return proc.stdout


def strip_velero_finalizers(api, namespace):
    """Velero's finalizers (restores, pod volume backups, data uploads) are removed by its controllers; once
    they are stopped, strip them so that the namespace can be deleted."""
    from kubernetes.client.rest import ApiException
    for version, resources in (("v1", VELERO_RESOURCES), ("v2alpha1", VELERO_V2_RESOURCES)):
        for resource in resources:
            try:
                items = api.list_namespaced_custom_object("velero.io", version, namespace, resource)["items"]
            except ApiException:
                continue  # that version's CRDs do not have it
            for item in items:
                if item["metadata"].get("finalizers"):
                    api.patch_namespaced_custom_object("velero.io", version, namespace, resource,
                                                       item["metadata"]["name"], {"metadata": {"finalizers": None}})


def delete_prefix(s3, bucket, prefix):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents") or []]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


class VeleroServer(object):
    """One `velero-<version> server` process and what it needs in the cluster and in MinIO."""

    def __init__(self, version, env, namespace=None, bucket=BUCKET, prefix=None, uploader_type="kopia",
                 install_args=(), server_args=()):
        self.version = version
        self.server_args = tuple(server_args)  # more `velero server` flags (the bench's --client-qps, ...)
        self.env = env
        self.binary = os.path.join(env["KUBEDR_BIN_DIR"], "velero-" + version)
        self.namespace = namespace or namespace_for(version)
        self.bucket = bucket
        self.prefix = prefix or "run-%s-%s" % (version.replace(".", "-"), uuid.uuid4().hex[:8])
        self.bsl_name = BSL_NAME
        self.uploader_type = uploader_type
        self.install_args = install_args
        self.rendered = []
        self.install_notes = ""
        self.lock = MachineLock("velero %s in namespace %s" % (version, self.namespace))
        self.kubeconfig = env["KUBECONFIG"]
        self.workdir = os.path.join(testbed.TESTBED_DIR, "velero", version)  # one server at a time (the lock)
        self.credentials_file = os.path.join(self.workdir, "credentials")
        self.plugin_dir = os.path.join(self.workdir, "plugins")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.process = None
        self._log = None
        self._api = None
        self.process_env = dict((k, v) for k, v in os.environ.items()
                                if not k.startswith(("AWS_", "KUBEDR_S3_")))  # the file names the keys
        self.process_env.update(AWS_SHARED_CREDENTIALS_FILE=self.credentials_file, KUBECONFIG=self.kubeconfig,
                                PATH=env["KUBEDR_BIN_DIR"] + os.pathsep + os.environ.get("PATH", ""))

    # ------------------------------------------------------------------ what tests read

    @property
    def location(self):
        """kubedr's storage_location option for the BSL's bucket and prefix."""
        return {"provider": "s3", "bucket": self.bucket, "prefix": self.prefix, "region": "us-east-1",
                "endpoint_url": self.env["KUBEDR_S3_ENDPOINT"], "access_key": self.env["KUBEDR_S3_ACCESS_KEY"],
                "secret_key": self.env["KUBEDR_S3_SECRET_KEY"], "s3_addressing_style": "path"}

    def s3(self):
        return boto3.client("s3", endpoint_url=self.env["KUBEDR_S3_ENDPOINT"], region_name="us-east-1",
                            aws_access_key_id=self.env["KUBEDR_S3_ACCESS_KEY"],
                            aws_secret_access_key=self.env["KUBEDR_S3_SECRET_KEY"],
                            config=botocore.config.Config(s3={"addressing_style": "path"}))

    def cli(self, *args, check=True, timeout=120):
        """`velero-<v> --kubeconfig K -n NS <args>`; with check, a failure raises with its output."""
        cmd = [self.binary, "--kubeconfig", self.kubeconfig, "-n", self.namespace] + list(args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                              env=self.process_env, check=False)
        if check and proc.returncode != 0:
            raise VeleroError("%s exited %d:\n%s\n%s%s" % (" ".join(cmd), proc.returncode, proc.stdout,
                                                           proc.stderr, self.log_tail()))
        return proc

    def get(self, resource, name, version="v1"):
        from kubernetes.client.rest import ApiException
        try:
            return self.api().get_namespaced_custom_object("velero.io", version, self.namespace, resource, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def wait_backup_phase(self, name, phases, timeout=60):
        return self.wait_phase("backups", name, phases, timeout)

    def wait_restore_phase(self, name, phases, timeout=60):
        return self.wait_phase("restores", name, phases, timeout)

    def wait_phase(self, resource, name, phases, timeout=60):
        """The object once its status.phase is one of phases; VeleroError on timeout or a server exit."""
        return self.wait_until(lambda: self._in_phase(resource, name, phases), timeout,
                               "%s/%s in phase %s" % (resource, name, "|".join(phases)),
                               lambda: (self.get(resource, name) or {}).get("status"))

    def log_tail(self, lines=15):
        """For a failure message: the log's warnings and errors (startup registers ~60 plugins at info level,
        which would bury them), then its last lines."""
        try:
            with open(self.log_path, errors="replace") as handle:
                text = handle.readlines()
        except OSError:
            return ""
        problems = [line for line in text[:-lines] if re.search(r"level=(warning|error|fatal)", line)][-20:]
        return "\n--- %s: warnings and errors, then the last %d lines ---\n%s" % (
            self.log_path, lines, "".join(problems + text[-lines:]))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if not os.path.exists(self.binary):
            raise VeleroError("%s is missing: run hack/testbed/build-binaries.sh (make cluster-up)" % self.binary)
        self.lock.acquire()
        try:
            self._prepare_files()
            self._ensure_bucket()
            self._install()
            self._run_server()
            self.wait_until(self._bsl_available, 60, "BackupStorageLocation %s Available" % self.bsl_name,
                            lambda: (self.get("backupstoragelocations", self.bsl_name) or {}).get("status"))
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self):
        """Stop and start the server process only; what start() made stays. Velero syncs a storage location's
        backups when it starts and then once a minute (backupSyncReconcilePeriod is a constant; the flag
        --backup-sync-period only spaces syncs out further), so a restart is how a test gets a sync now."""
        self._stop_process()
        self._run_server()

    def stop(self):
        """Stop the server (its process group: the plugins too), then remove what start() made."""
        try:
            if self.process is not None:
                self._stop_process()
            if self.lock.held:  # this server's objects, not those of another holding the lock
                strip_velero_finalizers(self.api(), self.namespace)
                self.kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")
                for item in self.rendered:  # the ClusterRoleBinding
                    if item["kind"] not in ("CustomResourceDefinition", "Namespace") \
                            and not item["metadata"].get("namespace"):
                        self.kubectl("delete", item["kind"].lower(), item["metadata"]["name"], "--ignore-not-found")
                delete_prefix(self.s3(), self.bucket, self.prefix)
        finally:
            if self.lock.held and os.path.exists(self.credentials_file):
                os.remove(self.credentials_file)
            if self._log is not None:
                self._log.close()
                self._log = None
            self.lock.release()

    # ------------------------------------------------------------------ internals

    def api(self):
        if self._api is None:
            from kubernetes import client, config
            configuration = client.Configuration()
            config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
            self._api = client.CustomObjectsApi(client.ApiClient(configuration))
        return self._api

    def wait_until(self, predicate, timeout, what, state=lambda: None):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                raise VeleroError("velero server exited %s while waiting for %s%s"
                                  % (self.process.returncode, what, self.log_tail()))
            if time.monotonic() > deadline:
                raise VeleroError("timed out after %ss waiting for %s (last: %s)%s"
                                  % (timeout, what, json.dumps(state()), self.log_tail()))
            time.sleep(0.5)

    def _in_phase(self, resource, name, phases):
        obj = self.get(resource, name)
        return obj if obj and (obj.get("status") or {}).get("phase") in phases else None

    def _bsl_available(self):
        return self._in_phase("backupstoragelocations", self.bsl_name, ("Available",))

    def _prepare_files(self):
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        os.makedirs(self.plugin_dir, exist_ok=True)
        plugin = os.path.join(self.plugin_dir, "velero-plugin-for-aws")
        if os.path.lexists(plugin):  # a previous run's may point at another build
            os.remove(plugin)
        os.symlink(os.path.join(self.env["KUBEDR_BIN_DIR"], "velero-plugin-for-aws"), plugin)
        fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n" % (
                self.env["KUBEDR_S3_ACCESS_KEY"], self.env["KUBEDR_S3_SECRET_KEY"]))

    def _ensure_bucket(self):
        s3 = self.s3()
        if self.bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            try:
                s3.create_bucket(Bucket=self.bucket)
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass  # made meanwhile by another test process

    def kubectl(self, *args, stdin=None, check=True):
        return run_kubectl(self.env, *args, stdin=stdin, check=check)

    def render_install(self):
        """`velero-<v> install ... --dry-run -o json` as a user installs Velero on this bucket and prefix: the
        CRDs, the namespace, the ServiceAccount and its ClusterRoleBinding, the cloud-credentials Secret
        (from the credentials file), the BSL and the velero Deployment (plus what install_args ask for)."""
        plugin_image = "velero/velero-plugin-for-aws:" + pinned_version("VELERO_AWS_PLUGIN_VERSION")
        bsl_config = "region=us-east-1,s3ForcePathStyle=true,s3Url=" + self.env["KUBEDR_S3_ENDPOINT"]
        cmd = [self.binary, "install", "--kubeconfig", self.kubeconfig, "--namespace", self.namespace,
               "--provider", "aws", "--plugins", plugin_image, "--bucket", self.bucket, "--prefix", self.prefix,
               "--backup-location-config", bsl_config,
               "--secret-file", self.credentials_file, "--use-volume-snapshots=false",
               "--uploader-type", self.uploader_type, "--dry-run", "-o", "json"] + list(self.install_args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False, env=self.process_env)
        if proc.returncode != 0:
            raise VeleroError("%s exited %d: %s" % (" ".join(cmd), proc.returncode, proc.stderr))
        # v1.16 prints its restic deprecation warning before the JSON
        start = proc.stdout.index("{")
        self.install_notes = proc.stdout[:start].strip()
        return json.loads(proc.stdout[start:])["items"]

    def _install(self):
        """Apply the rendered install with the Deployment scaled to 0, as Velero's "run locally" guide does
        (the restore item action for pod volumes reads the restore helper's image from that Deployment).
        The CRDs go first, by server-side apply: it replaces another version's (client-side apply would
        overflow the last-applied annotation); the namespace is reused once a previous run's is gone."""
        self.rendered = self.render_install()
        crds = [i for i in self.rendered if i["kind"] == "CustomResourceDefinition"]
        others = [i for i in self.rendered if i["kind"] != "CustomResourceDefinition"]
        for item in others:
            if item["kind"] == "Deployment" and item["metadata"]["name"] == "velero":
                item["spec"]["replicas"] = 0
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "velero-install", "-f", "-",
                     stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": crds}))
        self.kubectl("wait", "--for", "condition=Established", "--timeout", "60s",
                     *["customresourcedefinition/" + i["metadata"]["name"] for i in crds])
        self.wait_until(lambda: self._namespace_phase() != "Terminating", 120,
                        "the previous namespace %s to be deleted" % self.namespace)
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "velero-install", "-f", "-",
                     stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": others}))

    def _namespace_phase(self):
        return self.kubectl("get", "namespace", self.namespace, "-o", "jsonpath={.status.phase}",
                            "--ignore-not-found", check=False).strip()

    def _run_server(self):
        cmd = [self.binary, "server", "--kubeconfig", self.kubeconfig, "--namespace", self.namespace,
               "--plugin-dir", self.plugin_dir, "--uploader-type", self.uploader_type,
               # no sync skipped for being too soon after the last one (Velero's default is a minute)
               "--backup-sync-period", "1s", "--store-validation-frequency", "10s",
               "--metrics-address", "127.0.0.1:%d" % testbed.free_port(), "--profiler-address", "",
               "--log-level", "info"] + list(self.server_args)
        mode = "w"
        if self._log is not None:  # a restart appends
            self._log.close()
            mode = "a"
        self._log = open(self.log_path, mode)
        self._log.write("# %s\n" % " ".join(cmd))
        self._log.flush()
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=self.process_env, cwd=self.workdir, start_new_session=True,
                                        preexec_fn=die_with_parent)

    def _stop_process(self):
        process, self.process = self.process, None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # plugins that outlived the server
        except ProcessLookupError:
            pass
        process.wait(10)


def describe_field(text, label):
    """The value after `label:` on its own line in `velero ... describe` output, or None."""
    match = re.search(r"^\s*%s:\s*(.*)$" % re.escape(label), text, re.M)
    return match.group(1).strip() if match else None
