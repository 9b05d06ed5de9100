"""Where each second of a small backup goes (issue 18 item 2; docs/performance.md, "Fixed cost").

On the test bed of $KUBEDR_TESTBED (started with hack/testbed/cluster-up.sh), FIXED_N (default 50)
ConfigMaps in one namespace are backed up FIXED_ROUNDS (default 5) times each way, the ways alternating
in every round, and every figure is the CPU time (user + sys of the process and all it waited for,
from wait4) and the wall time of the whole command, medians over the rounds:

- ``python``: the interpreter alone (``python -c pass``);
- ``imports``: the interpreter importing kubedr.backup.k8s_backup (the collection's modules compiled
  from source, as AnsiballZ does: PYTHONDONTWRITEBYTECODE and no __pycache__);
- ``imports_cached``: the same with the compiled modules cached (what ``python -m`` with bytecode allowed does
  from the second run on; AnsiballZ never can: its modules are read from a zip);
- ``ansible_empty``: ansible-playbook of a play with one ``debug`` task (the controller's start);
- ``module``: k8s_backup alone (its own process, ANSIBLE_MODULE_ARGS on stdin, as bench.py runs it), with
  the module's steps profiled in the same process (``cProfile`` on CPU time, ``steps``);
- ``direct``: ansible-playbook of tests/bench/playbooks/backup_direct.yml (one task, foreground);
- ``collection``: ansible-playbook kubedr.backup.backup (the async job and kubedr.backup.wait_for_run).

    KUBEDR_TESTBED=p3 python tests/bench/fixed_cost.py        # prints a JSON report
    FIXED_COLLECTIONS=/tmp/before KUBEDR_TESTBED=p3 python tests/bench/fixed_cost.py   # another copy
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402
import playbook_bench  # noqa: E402

MODULE = "ansible_collections.kubedr.backup.plugins.modules.k8s_backup"
# Another copy of the collection to measure (a directory holding ansible_collections/kubedr/backup), e.g. the
# tree before a change, for alternated before/after runs; default: the test bed's (this checkout).
OTHER_COLLECTIONS = os.environ.get("FIXED_COLLECTIONS")
if OTHER_COLLECTIONS:
    _module_env = testbed.module_env

    def _other_module_env(extra=None):
        env = _module_env(extra)
        env.update(PYTHONPATH=OTHER_COLLECTIONS, ANSIBLE_COLLECTIONS_PATH=OTHER_COLLECTIONS)
        return env

    testbed.module_env = _other_module_env

# Runs in the module's process: the module's main() profiled on CPU time; the profile's cumulative CPU
# seconds of each step, and the process's own CPU split (before main, in main), go to the file argv[1].
_PROFILED = r"""
import cProfile, json, pstats, resource, sys, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started = cpu()
import importlib
report, name, timer = sys.argv[1:4]
sys.argv[1:] = []  # AnsibleModule reads its arguments from stdin only when argv holds none
module = importlib.import_module(name)
imported = cpu()
profile = cProfile.Profile(time.process_time if timer == "cpu" else time.perf_counter)
try:
    profile.runcall(module.main)
except SystemExit:
    pass
ended = cpu()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
stats = pstats.Stats(profile).stats
steps = {}
for (path, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
    key = "%s:%s" % ("/".join(path.split("/")[-2:]), function)
    steps[key] = max(steps.get(key, 0.0), cumulative)
with open(report, "w") as out:
    json.dump({"before_main_cpu": imported - started, "main_cpu": ended - imported,
               "workers_cpu": children.ru_utime + children.ru_stime, "steps": steps}, out)
"""

# (label, profile key): the steps a backup's time goes to, as the profile names their functions.
STEPS = (
    ("main() in all", "modules/k8s_backup.py:main"),
    ("argument spec, AnsibleModule", "adapter/args.py:new_module"),
    ("S3 store: botocore session, client, models", "storage/store.py:open_store"),
    ("bucket check (HEAD bucket)", "storage/s3.py:check"),
    ("existing backup (GET, twice)", "storage/backup_store.py:backup_metadata"),
    ("write check", "storage/backup_store.py:ensure_writable"),
    ("lease taken (PUT, GET)", "storage/leases.py:__enter__"),
    ("Kubernetes client (kubeconfig, TLS)", "kube/client.py:__init__"),
    ("discovery, selection, namespaces", "backup/scope.py:read"),
    ("listing, item actions, tar.gz (the main process)", "backup/run.py:_collect"),
    ("item digests, uploads, manifest, commit", "backup/run.py:_upload"),
    ("lease released", "storage/leases.py:__exit__"),
    ("result to JSON (exit_json)", "module_utils/basic.py:exit_json"),
)


def measured(argv, stdin=None, env=None, timeout=600):
    """(CPU seconds, wall seconds, stdout) of one command: wait4's rusage of it and every process it waited for."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = out.decode(errors="replace")[-3000:]
        raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv[:4]), proc.returncode, tail))
    return usage.ru_utime + usage.ru_stime, wall, out


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def seed(kubeconfig, namespace, count):
    kubectl = os.path.join(os.environ.get("KUBEDR_BIN_DIR", ""), "kubectl")
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    docs += [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c%03d" % i, "namespace": namespace},
              "data": {"k": "x" * 512}} for i in range(count)]
    subprocess.run([kubectl, "--kubeconfig", kubeconfig, "apply", "-f", "-"], check=True, stdout=subprocess.DEVNULL,
                   input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}).encode())


def main():
    env = testbed.read_env()
    if env is None:
        raise SystemExit("no test bed %s: hack/testbed/cluster-up.sh %s" % (testbed.bed_name(), testbed.bed_name()))
    rounds = int(os.environ.get("FIXED_ROUNDS", "5"))
    count = int(os.environ.get("FIXED_N", "50"))
    run_id = uuid.uuid4().hex[:6]
    namespace = "fixed-%s" % run_id
    seed(env["KUBECONFIG"], namespace, count)
    location = {"provider": "s3", "bucket": env["KUBEDR_S3_BUCKET"], "prefix": "fixed-" + run_id,
                "endpoint_url": env["KUBEDR_S3_ENDPOINT"], "region": "us-east-1", "s3_addressing_style": "path",
                "access_key": env["KUBEDR_S3_ACCESS_KEY"], "secret_key": env["KUBEDR_S3_SECRET_KEY"]}
    python = sys.executable
    compiled_env = testbed.module_env({"PYTHONDONTWRITEBYTECODE": "1"})
    cached_env = dict(compiled_env, PYTHONPYCACHEPREFIX=tempfile.mkdtemp(prefix="kubedr-pyc-"))
    cached_env.pop("PYTHONDONTWRITEBYTECODE")
    empty = os.path.join(tempfile.mkdtemp(prefix="kubedr-fixed-"), "empty.yml")
    with open(empty, "w") as handle:
        handle.write("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    figures, profiles = {}, {}

    def add(way, cpu, wall):
        figures.setdefault(way, {"cpu": [], "wall": []})
        figures[way]["cpu"].append(cpu)
        figures[way]["wall"].append(wall)

    measured([python, "-c", "import %s" % MODULE], env=cached_env)  # fills the bytecode cache
    for number in range(rounds):
        add("python", *measured([python, "-c", "pass"], env=compiled_env)[:2])
        add("imports", *measured([python, "-c", "import %s" % MODULE], env=compiled_env)[:2])
        add("imports_cached", *measured([python, "-c", "import %s" % MODULE], env=cached_env)[:2])
        add("ansible_empty", *measured([playbook, "-i", "localhost,", "-c", "local", empty],
                                       env=testbed.module_env())[:2])
        name = "fixed-%s-%d" % (run_id, number)
        args = {"ANSIBLE_MODULE_ARGS": {"name": name + "-m", "storage_location": location,
                                        "kubeconfig": env["KUBECONFIG"], "included_namespaces": [namespace],
                                        "_ansible_check_mode": False, "_ansible_diff": False}}
        for timer in ("cpu", "wall"):  # the steps' CPU seconds, then (another run) their wall seconds
            args["ANSIBLE_MODULE_ARGS"]["name"] = "%s-m%s" % (name, timer[0])
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                cpu, wall, out = measured([python, "-c", _PROFILED, report.name, MODULE, timer],
                                          stdin=json.dumps(args).encode(), env=compiled_env)
                result = json.loads(out[out.index(b"{"):])
                if result.get("failed") or result.get("phase") != "Completed":
                    raise RuntimeError("the backup did not complete: %s" % result.get("msg"))
                add("module_profiled_" + timer, cpu, wall)
                profiles.setdefault(timer, []).append(json.load(open(report.name)))
        add("module", *measured([python, "-m", MODULE], stdin=json.dumps(dict(args, ANSIBLE_MODULE_ARGS=dict(
            args["ANSIBLE_MODULE_ARGS"], name=name + "-m"))).encode(), env=compiled_env)[:2])
        for style in ("direct", "collection"):
            _children_cpu_delta()
            _out, wall = playbook_bench.run_playbook(env, playbook_bench.PLAYBOOKS[("backup", style)], {
                "kubedr_storage_location": location, "kubedr_kubeconfig": env["KUBECONFIG"],
                "kubedr_backup_name": "%s-%s" % (name, style[0]), "kubedr_included_namespaces": [namespace]})
            # run_playbook waits for the command itself: its CPU is what the children's total grew by
            add(style, _children_cpu_delta(), wall)
    report = {"objects": count, "rounds": rounds,
              "whole": dict((way, {"cpu_s": round(median(v["cpu"]), 3), "wall_s": round(median(v["wall"]), 3)})
                            for way, v in figures.items()),
              "module_process": {
                  "before_main_cpu_s": round(median([p["before_main_cpu"] for p in profiles["cpu"]]), 3),
                  "main_cpu_s": round(median([p["main_cpu"] for p in profiles["cpu"]]), 3),
                  "workers_cpu_s": round(median([p["workers_cpu"] for p in profiles["cpu"]]), 3)},
              # (CPU seconds, wall seconds) of each step, as profiled (cProfile adds its own cost to both)
              "steps_s": dict((label, (round(median([p["steps"].get(key, 0.0) for p in profiles["cpu"]]), 4),
                                       round(median([p["steps"].get(key, 0.0) for p in profiles["wall"]]), 4)))
                              for label, key in STEPS)}
    print(json.dumps(report, indent=1))


_LAST_CHILDREN = [None]


def _children_cpu_delta():
    """CPU seconds of the children this process reaped since the last call."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    previous, _LAST_CHILDREN[0] = _LAST_CHILDREN[0], total
    return total - (previous or 0.0)


if __name__ == "__main__":
    main()
