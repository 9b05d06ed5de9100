"""Access to the local test bed (DESIGN.md section 8) and to the collection's modules.

Shared by pytest fixtures, benchmarks and the demo. Reads `.testbed/env`, written by
`make cluster-up`; never guesses addresses or credentials.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED_DIR = os.path.join(REPO, ".testbed")
COLLECTIONS_DIR = os.path.join(TESTBED_DIR, "collections")


def ensure_collection_path():
    """Make `ansible_collections.kubedr.backup` importable: a symlink to the repo."""
    parent = os.path.join(COLLECTIONS_DIR, "ansible_collections", "kubedr")
    link = os.path.join(parent, "backup")
    os.makedirs(parent, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)
    if COLLECTIONS_DIR not in sys.path:
        sys.path.insert(0, COLLECTIONS_DIR)
    return COLLECTIONS_DIR


def free_port():
    """A loopback port nothing listens on now (the OS's choice), for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bed_name():
    """The test bed this process uses: $KUBEDR_TESTBED (parallel shards and helpers each have one), else kubedr."""
    return os.environ.get("KUBEDR_TESTBED") or "kubedr"


def read_env(name=None):
    """The `export K=V` lines of .testbed/env (or env-<name>) as a dict; None when absent."""
    name = name or bed_name()
    path = os.path.join(TESTBED_DIR, "env" if name == "kubedr" else "env-" + name)
    if not os.path.exists(path):
        return None
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                key, value = line[len("export "):].split("=", 1)
                env[key] = value
    return env


def cluster_up(name=None, extra_env=None):
    """Start (or reuse) the test bed and return its env dict. Raises with the script's output on failure.
    extra_env: settings for hack/testbed/cluster-up.sh (KUBEDR_APISERVER_PORT, KUBEDR_MINIO_PORT,
    KUBEDR_CONTROLLER_QPS)."""
    name = name or bed_name()
    script = os.path.join(REPO, "hack", "testbed", "cluster-up.sh")
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run(["bash", script, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError("test bed did not start (hack/testbed/cluster-up.sh %s):\n%s" % (name, proc.stdout[-4000:]))
    return read_env(name)


def module_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ensure_collection_path() + os.pathsep + env.get("PYTHONPATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_DIR
    if extra:
        env.update(extra)
    return env


class ModuleResult(dict):
    """A module's JSON result, plus how it ended."""

    rc = 0
    stderr = ""

    @property
    def failed(self):
        return bool(self.get("failed")) or self.rc != 0


def run_module(name, args, check_mode=False, diff=False, env=None, timeout=900):
    """Run kubedr.backup.<name> the way Ansible does (a separate Python process reading
    ANSIBLE_MODULE_ARGS) and return its parsed JSON result."""
    ensure_collection_path()
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubedr.backup.plugins.modules." + name],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": module_args}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_env(env), timeout=timeout, check=False,
    )
    try:
        result = ModuleResult(json.loads(proc.stdout))
    except ValueError:
        result = ModuleResult(failed=True, msg="module printed no JSON", stdout=proc.stdout)
    result.rc = proc.returncode
    result.stderr = proc.stderr
    return result


def run_playbook(playbook, extra_vars=None, env=None, check=False, timeout=1800):
    """Run ansible-playbook against localhost with this collection installed; returns CompletedProcess."""
    ensure_collection_path()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
    # The modules run with this interpreter (it has the collection's requirements), not a shim on PATH.
    extra = {"ansible_python_interpreter": sys.executable}
    extra.update(extra_vars or {})
    cmd += ["-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=module_env(env), timeout=timeout, check=False)


def wait_for(predicate, timeout=120, interval=0.5, what="condition"):
    """predicate()'s first true value, polling; AssertionError naming `what` after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class BackgroundLoop(object):
    """A daemon thread calling self.tick() every `interval` seconds inside a `with` block."""

    interval = 0.3

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _loop(self):
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self):
        raise NotImplementedError


# ---------------------------------------------------------------- node agents

NODE_AGENT_LABELS = {"app.kubernetes.io/name": "kubedr-node-agent"}  # roles/node_agent's, the modules' default selector


def create_node_agents(core_v1, apps_v1, namespace, host_pods_dir, node_selector=None, exist_ok=False):
    """Namespace ``namespace`` and in it a node-agent DaemonSet shaped like roles/node_agent's (its labels, the
    kubelet's pods directory mounted at ``host_pods_dir``), on the nodes of ``node_selector`` or all; kwok runs
    what is exec'd in it as a local process, in the test bed's host-pods directory. ``exist_ok``: what exists
    already is kept. Returns the modules' node_agent option."""
    spec = {"tolerations": [{"operator": "Exists"}], "containers": [{
        "name": "restic", "image": "restic/restic:0.17.3", "command": ["sleep", "infinity"],
        "volumeMounts": [{"name": "host-pods", "mountPath": host_pods_dir}]}],
        "volumes": [{"name": "host-pods", "hostPath": {"path": "/var/lib/kubelet/pods"}}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    creations = (
        lambda: core_v1.create_namespace({"metadata": {"name": namespace}}),
        lambda: apps_v1.create_namespaced_daemon_set(namespace, {
            "metadata": {"name": "node-agent", "labels": NODE_AGENT_LABELS},
            "spec": {"selector": {"matchLabels": NODE_AGENT_LABELS},
                     "template": {"metadata": {"labels": NODE_AGENT_LABELS}, "spec": spec}}}),
    )
    for create in creations:
        try:
            create()
        except Exception as error:
            if not (exist_ok and getattr(error, "status", None) == 409):
                raise
    return {"namespace": namespace, "host_pods_path": host_pods_dir}


def wait_for_node_agents(core_v1, namespace, count=None):
    """Until a node agent of ``namespace`` runs on every node, or ``count`` of them run."""
    def running():
        return [p for p in core_v1.list_namespaced_pod(namespace).items if p.status.phase == "Running"]
    if count is not None:
        wait_for(lambda: len(running()) == count, what="%d node agents" % count)
        return
    nodes = set(n.metadata.name for n in core_v1.list_node().items)
    wait_for(lambda: set(p.spec.node_name for p in running()) == nodes, what="node agents on every node")


def node_agents(core_v1, apps_v1, namespace, host_pods_dir, exist_ok=False):
    """create_node_agents on every node, once they all run: the node_agent option."""
    option = create_node_agents(core_v1, apps_v1, namespace, host_pods_dir, exist_ok=exist_ok)
    wait_for_node_agents(core_v1, namespace)
    return option
