"""Velero's node agent on the test bed: kwok runs no containers, so this module plays the kubelet
for Velero's own pods.

- `LocalPod` runs a pod's container as a local process the way a kubelet would start it: in a
  private mount namespace, chrooted into a root assembled from this machine's top-level
  directories (but a /dev and a /tmp of its own) plus the container's volume mounts (hostPath,
  emptyDir, secret) at their mount paths, the image's binary at its command path (`/velero`),
  the container's environment resolved (fieldRef, secretKeyRef, value) and
  `/dev/termination-log` a file read after the exit. Nothing is created outside the pod's work
  directory and nothing outlives the process.
- `NodeAgents` creates the node-agent DaemonSet as `velero install --use-node-agent` renders
  it (kwok makes its pods Running on every node, which Velero checks before it hands a node a
  volume) with the `host-pods` hostPath on the test bed's KUBEDR_HOST_PODS_DIR, and runs
  `velero node-agent server` for each of its pods (`/host_pods` is that directory), each in a
  network namespace of its own (netns_bridge: controller-runtime's metrics port is fixed).
- `HostingPods` (a background loop) runs the pods Velero >= 1.17 creates for each pod volume
  backup/restore (`/velero pod-volume backup|restore`, pkg/exposer/pod_volume.go) once kwok
  reports them Running, and reports the process's end in the pod's status as the kubelet
  does (phase, the container's terminated state and termination message, which the node
  agent's micro-service watcher reads: pkg/datapath/micro_service_watcher.go). It also
  reports Velero's `restore-wait` init container of restored pods as running (kwok marks init
  containers terminated at once; the node agent restores a volume only while it runs).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml
from kubernetes.client.rest import ApiException

import netns_bridge
from kubelet_sim import volume_dirs
from testbed import BackgroundLoop, wait_for

RESTORE_WAIT = "restore-wait"

# Builds the container's root inside the new mount namespace, then execs the command in it. /dev and
# /tmp are the container's own (Velero keeps credentials files in /tmp/credentials/<namespace> and
# deletes them after use: processes sharing one /tmp delete each other's).
# $1 root directory (empty), $2 file of "source<TAB>target" mounts, $3 the command that starts the
# network bridge in a private network namespace ("" when the pod shares this machine's), then the command.
ROOT_SCRIPT = r"""set -eu
root=$1; mounts=$2; bridge=$3; shift 3
if [ -n "$bridge" ]; then
  ip link set lo up
  sh -c "$bridge" &
  tries=0
  until [ -e "$KUBEDR_BRIDGE_READY" ]; do
    tries=$((tries + 1)); [ $tries -lt 200 ] || { echo "network bridge did not start" >&2; exit 1; }
    sleep 0.05
  done
fi
mount -t tmpfs kubedr-pod-root "$root"
for entry in /*; do
  name=${entry#/}
  if [ "$name" = dev ] || [ "$name" = tmp ]; then continue; fi
  if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$root/$name"
  elif [ -d "$entry" ]; then mkdir "$root/$name"; mount --rbind "$entry" "$root/$name"; fi
done
mkdir "$root/dev" && mount -t tmpfs kubedr-pod-dev "$root/dev"
for dev in null zero full random urandom tty; do
  touch "$root/dev/$dev" && mount --bind "/dev/$dev" "$root/dev/$dev"
done
for link in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
  ln -s "${link#*:}" "$root/dev/${link%%:*}"
done
mkdir "$root/dev/shm" "$root/dev/pts" && mount --rbind /dev/shm "$root/dev/shm" && mount --rbind /dev/pts "$root/dev/pts"
while IFS="$(printf '\t')" read -r source target; do
  if [ -d "$source" ]; then mkdir -p "$root$target"; else mkdir -p "$(dirname "$root$target")"; touch "$root$target"; fi
  mount --bind "$source" "$root$target"
done < "$mounts"
exec chroot "$root" "$@"
"""


def loopback_ports(kubeconfig, *urls):
    """The ports of the API server (from the kubeconfig) and of the other URLs, all on 127.0.0.1."""
    with open(kubeconfig) as handle:
        config = yaml.safe_load(handle)
    urls = [cluster["cluster"]["server"] for cluster in config["clusters"]] + list(urls)
    ports = []
    for url in urls:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname in ("127.0.0.1", "localhost"), "%s is not on this machine's loopback" % url
        ports.append(parsed.port or (443 if parsed.scheme == "https" else 80))
    return sorted(set(ports))


class LocalPod(object):
    """One container of a pod, run as a local process (see the module's docstring).

    binaries maps a path in the image (`/velero`) to the local file that plays it; env is added to
    the container's own (KUBECONFIG: the process talks to the API server as the test bed's admin,
    there is no service account token)."""

    def __init__(self, core_v1, pod, binaries, env, bridge_ports=()):
        self.core_v1 = core_v1
        self.pod = pod
        self.container = pod.spec.containers[0]
        self.binaries = binaries
        self.env = env
        self.bridge_ports = list(bridge_ports)
        self.bridge = None
        self.workdir = tempfile.mkdtemp(prefix="velero-pod-%s-" % pod.metadata.name[:40])
        self.log_path = os.path.join(self.workdir, "container.log")
        self.termination_log = os.path.join(self.workdir, "termination-log")
        self.process = None
        self.started_at = None

    @property
    def name(self):
        return "%s/%s" % (self.pod.metadata.namespace, self.pod.metadata.name)

    def start(self):
        os.makedirs(os.path.join(self.workdir, "tmp", "home"))
        mounts = self._mounts()
        mounts_file = os.path.join(self.workdir, "mounts")
        with open(mounts_file, "w") as handle:
            handle.writelines("%s\t%s\n" % pair for pair in mounts)
        root = os.path.join(self.workdir, "root")
        os.mkdir(root)
        open(self.termination_log, "w").close()
        command = list(self.container.command or []) + list(self.container.args or [])
        unshare = ["unshare", "--mount", "--propagation", "private"]
        env = self._environment()
        bridge = ""
        if self.bridge_ports:
            bridge_dir = os.path.join(self.workdir, "bridge")
            os.mkdir(bridge_dir)
            self.bridge = netns_bridge.Outside(bridge_dir, self.bridge_ports)
            unshare.append("--net")
            bridge = " ".join([sys.executable, netns_bridge.__file__, bridge_dir] + [str(p) for p in self.bridge_ports])
            env["KUBEDR_BRIDGE_READY"] = os.path.join(bridge_dir, "ready")
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.log_path, "ab") as log:
            # A session of its own: stop() signals the process group (velero, any restic it runs, the bridge).
            self.process = subprocess.Popen(
                unshare + ["sh", "-c", ROOT_SCRIPT, "sh", root, mounts_file, bridge] + command, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def exited(self):
        return self.process is not None and self.process.poll() is not None

    def termination_message(self):
        with open(self.termination_log) as handle:
            return handle.read()[:4096]  # the kubelet's limit

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def stop(self):
        if self.process is not None:
            # The whole group, even when its leader has exited: the bridge may still hold the namespace.
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
            self._signal_group(signal.SIGKILL)
            self.process.wait(15)
        if self.bridge is not None:
            self.bridge.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _signal_group(self, sig):
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _mounts(self):
        """(local source, path in the container) of the container's volume mounts, the image binaries
        and the termination log. A hostPath that does not exist here (the node agent's
        /var/lib/kubelet/plugins, used for block volumes only) is left out: creating it would change
        this machine."""
        volumes = dict((v.name, v) for v in self.pod.spec.volumes or [])
        mounts = [(os.path.join(self.workdir, "tmp"), "/tmp")]  # first: the mounts below may be under it
        mounts += [(source, target) for target, source in sorted(self.binaries.items())]
        mounts.append((self.termination_log, "/dev/termination-log"))
        if self.env.get("KUBECONFIG"):
            # The kubeconfig and the certificates beside it (kwokctl's layout), at their paths: they may be under /tmp.
            directory = os.path.dirname(self.env["KUBECONFIG"])
            mounts.append((directory, directory))
        for mount in self.container.volume_mounts or []:
            source = self._volume_source(volumes[mount.name])
            if source is not None and os.path.exists(source):
                mounts.append((os.path.join(source, mount.sub_path) if mount.sub_path else source, mount.mount_path))
        for _source, target in mounts:
            top = "/" + target.strip("/").split("/")[0]
            if top not in ("/dev", "/tmp", target) and os.path.exists(top) and not os.path.exists(target):
                raise ValueError("%s: mount path %s would be created in this machine's %s" % (self.name, target, top))
        return mounts

    def _volume_source(self, volume):
        if volume.host_path is not None:
            return volume.host_path.path
        directory = os.path.join(self.workdir, "volumes", volume.name)
        if volume.empty_dir is not None:
            os.makedirs(directory, exist_ok=True)
            return directory
        if volume.secret is not None:
            secret = self.core_v1.read_namespaced_secret(volume.secret.secret_name, self.pod.metadata.namespace)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            for key, value in (secret.data or {}).items():
                path = os.path.join(directory, key)
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
                    handle.write(_b64(value))
            return directory
        return None  # projected service account tokens and the like: the process uses KUBECONFIG instead

    def _environment(self):
        env = {"PATH": os.environ["PATH"], "HOME": "/tmp/home"}  # in the container's own /tmp
        for var in self.container.env or []:
            env[var.name] = self._env_value(var)
        env.update(self.env)
        return env

    def _env_value(self, var):
        source = var.value_from
        if source is None:
            return var.value or ""
        if source.field_ref is not None:
            return {"spec.nodeName": self.pod.spec.node_name, "metadata.namespace": self.pod.metadata.namespace,
                    "metadata.name": self.pod.metadata.name, "metadata.uid": self.pod.metadata.uid,
                    "spec.serviceAccountName": self.pod.spec.service_account_name}[source.field_ref.field_path]
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            secret = self.core_v1.read_namespaced_secret(ref.name, self.pod.metadata.namespace)
            return _b64(secret.data[ref.key]).decode()
        raise ValueError("env %s of %s: unsupported source %s" % (var.name, self.name, source))


def _b64(value):
    return base64.b64decode(value)


class NodeAgents(object):
    """Velero's node-agent DaemonSet in `namespace` and a `velero node-agent server` per kwok node."""

    def __init__(self, core_v1, apps_v1, namespace, velero_binary, kubeconfig, host_pods_dir, s3_endpoint, env=None):
        self.core_v1 = core_v1
        self.apps_v1 = apps_v1
        self.namespace = namespace
        self.velero_binary = velero_binary
        self.kubeconfig = kubeconfig
        self.host_pods_dir = host_pods_dir
        self.env = dict(env or {}, KUBECONFIG=kubeconfig)
        self.bridge_ports = loopback_ports(kubeconfig, s3_endpoint)
        self.agents = []

    def rendered(self, install_flags=()):
        """The node-agent DaemonSet, the ServiceAccount its pods run as and the server's Deployment
        (no replicas), as `velero install --use-node-agent --dry-run` renders them; the DaemonSet's
        host-pods volume on the test bed's host-pods directory."""
        with tempfile.NamedTemporaryFile("w", suffix=".ini") as placeholder:
            # Only these three objects are used: the DaemonSet names the Secret, it holds no data of it.
            placeholder.write("[default]\n")
            placeholder.flush()
            rendered = subprocess.run(
                [self.velero_binary, "install", "--dry-run", "-o", "json", "--namespace", self.namespace,
                 "--use-node-agent", "--provider", "aws", "--plugins", "velero/velero-plugin-for-aws:v1.14.2",
                 "--bucket", "unused", "--secret-file", placeholder.name, "--kubeconfig", self.kubeconfig]
                + list(install_flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        assert rendered.returncode == 0, "velero install --dry-run: %s" % rendered.stderr
        # v1.16 prints its restic deprecation notice on standard output before the document.
        document = rendered.stdout[rendered.stdout.index("\n{") + 1:] if not rendered.stdout.startswith("{") \
            else rendered.stdout
        items = json.loads(document)["items"]
        [daemon_set] = [item for item in items if item["kind"] == "DaemonSet"]
        [account] = [item for item in items if item["kind"] == "ServiceAccount"]
        [deployment] = [item for item in items if item["kind"] == "Deployment"]
        for volume in daemon_set["spec"]["template"]["spec"]["volumes"]:
            if volume["name"] == "host-pods":
                volume["hostPath"]["path"] = self.host_pods_dir
        # The server runs out of cluster; its Deployment is there for what Velero reads from it (the
        # restore helper's image for restore-wait, pkg/restore/actions/pod_volume_restore_action.go).
        deployment["spec"]["replicas"] = 0
        return daemon_set, account, deployment

    def install(self, install_flags=()):
        daemon_set, account, deployment = self.rendered(install_flags)
        for create, body in ((self.core_v1.create_namespaced_service_account, account),
                             (self.apps_v1.create_namespaced_deployment, deployment)):
            try:
                create(self.namespace, body)
            except ApiException as error:
                if error.status != 409:  # made by the server's setup
                    raise
        self.apps_v1.create_namespaced_daemon_set(self.namespace, daemon_set)
        nodes = set(n.metadata.name for n in self.core_v1.list_node().items)
        wait_for(lambda: set(p.spec.node_name for p in self.pods()) == nodes, timeout=120,
                 what="node-agent pods Running on %s" % sorted(nodes))

    def pods(self):
        return [p for p in self.core_v1.list_namespaced_pod(self.namespace, label_selector="role=node-agent").items
                if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]

    def start(self):
        """`velero node-agent server` for each node-agent pod, each in a network namespace of its own
        (see netns_bridge); returns once each one runs its controllers."""
        for pod in self.pods():
            self.agents.append(self._start_agent(pod))

    def _start_agent(self, pod, attempts=3):
        for _attempt in range(attempts):
            # At start the node agent checks that /host_pods holds a directory for every pod Running on
            # its node, as the kubelet's pods directory does: create them for the pods kwok runs.
            self.kubelet_pod_dirs(pod.spec.node_name)
            agent = LocalPod(self.core_v1, pod, {"/velero": self.velero_binary}, self.env, self.bridge_ports)
            try:
                agent.start()
            except BaseException:
                agent.stop()
                raise
            wait_for(lambda: agent.exited() or "Starting workers" in agent.log(), timeout=60,
                     what="velero node-agent server on %s" % pod.spec.node_name)
            if not agent.exited():
                return agent
            log = agent.log()
            agent.stop()
        raise AssertionError("velero node-agent server on %s did not start:\n%s" % (pod.spec.node_name, log[-3000:]))

    def kubelet_pod_dirs(self, node):
        for pod in self.core_v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=%s,status.phase=Running"
                                                            % node).items:
            os.makedirs(os.path.join(self.host_pods_dir, pod.metadata.uid), exist_ok=True)

    def logs(self):
        return "\n".join("==== node agent %s\n%s" % (a.name, a.log()[-6000:]) for a in self.agents)

    def stop(self):
        for agent in self.agents:
            agent.stop()
        self.agents = []


class HostingPods(BackgroundLoop):
    """Runs Velero's pod volume hosting pods of `velero_namespace` (Velero >= 1.17) and keeps the
    restore-wait init container of restored pods in `namespaces` running (see the module's
    docstring)."""

    interval = 0.5

    def __init__(self, core_v1, velero_namespace, velero_binary, kubeconfig, host_pods_dir, env=None):
        super(HostingPods, self).__init__()
        self.core_v1 = core_v1
        self.host_pods_dir = host_pods_dir
        self.velero_namespace = velero_namespace
        self.velero_binary = velero_binary
        self.env = dict(env or {}, KUBECONFIG=kubeconfig)
        self.namespaces = []  # where restored pods' restore-wait is reported running; tests add theirs
        self.running = {}
        self.finished = []
        self.errors = []

    def tick(self):
        try:
            self._run_hosting_pods()
            self._reap()
            for namespace in self.namespaces:
                self._restore_wait_running(namespace)
        except Exception as error:  # the API server briefly busy: try again next tick, keep the reason
            self.errors.append(repr(error))

    def _run_hosting_pods(self):
        for pod in self.core_v1.list_namespaced_pod(self.velero_namespace).items:
            command = (pod.spec.containers[0].command or [])[:2]
            if command == ["/velero", "pod-volume"] and pod.status.phase == "Running" \
                    and pod.metadata.deletion_timestamp is None and pod.metadata.uid not in self.running \
                    and pod.metadata.uid not in [p.pod.metadata.uid for p in self.finished]:
                local = LocalPod(self.core_v1, pod, {"/velero": self.velero_binary}, self.env)
                self.running[pod.metadata.uid] = local
                local.start()

    def _reap(self):
        for uid, local in list(self.running.items()):
            if local.exited():
                del self.running[uid]
                self.finished.append(local)
                self._report_end(local)

    def _report_end(self, local):
        code = local.process.returncode
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        container = local.container
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
                           {"type": "ContainersReady", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": now}],
            "containerStatuses": [{
                "name": container.name, "image": container.image, "imageID": "", "ready": False, "started": False,
                "restartCount": 0, "state": {"terminated": {
                    "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                    "message": local.termination_message(), "startedAt": local.started_at, "finishedAt": now}}}],
        }
        self.core_v1.patch_namespaced_pod_status(local.pod.metadata.name, local.pod.metadata.namespace,
                                                 {"status": status})

    def _restore_wait_running(self, namespace):
        for pod in self.core_v1.list_namespaced_pod(namespace, label_selector="velero.io/restore-name").items:
            init = [c.name for c in pod.spec.init_containers or []]
            if RESTORE_WAIT not in init or pod.status.phase != "Running":
                continue
            statuses = pod.status.init_container_statuses or []
            index = init.index(RESTORE_WAIT)
            if index < len(statuses) and statuses[index].state.running is not None:
                continue
            # The kubelet starts init containers once the pod's volumes are set up (kubelet_sim makes them).
            if not all(os.path.isdir(d) for d in volume_dirs(self.core_v1, pod, self.host_pods_dir)):
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            patched = [{"name": c.name, "image": c.image, "ready": False, "restartCount": 0,
                        "state": {"running": {"startedAt": now}} if c.name == RESTORE_WAIT else
                        {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
                       for c in pod.spec.init_containers]
            self.core_v1.patch_namespaced_pod_status(pod.metadata.name, namespace,
                                                     {"status": {"initContainerStatuses": patched}})

    def logs(self):
        pods = list(self.running.values()) + self.finished
        text = "\n".join("==== hosting pod %s (exit %s)\n%s" % (
            p.name, p.process and p.process.poll(), p.log()[-6000:] if p.process else "") for p in pods)
        return text + ("\nrunner errors: %s" % self.errors[-5:] if self.errors else "")

    def __exit__(self, *exc):
        super(HostingPods, self).__exit__(*exc)
        for local in list(self.running.values()) + self.finished:
            local.stop()
        self.running = {}
