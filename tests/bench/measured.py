"""Run a module as Ansible does, measuring its process: wall time and peak memory (bench.py, restore_workers.py)."""
import json
import os
import subprocess
import sys
import time

import testbed


# The module is started through this small launcher: Linux carries a parent's resident size
# into its child's peak (ru_maxrss) at exec, and this benchmark process grows large while it
# seeds objects; the launcher is small, so the peak it reports is the module's own. The backup
# forks worker processes, so the launcher also samples the whole process tree every 20 ms: the
# sum of proportional set sizes (pages shared by the forked workers counted once) and the sum of
# resident sizes (shared pages counted in every process). That sampling costs the measured process
# time (its memory map is read under its lock 50 times a second): timed runs go without it
# (``sample_tree=False``), and the tree's peaks are then None.
_LAUNCHER = """
import os, sys, threading
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", sys.argv[1]])

def tree(root):
    # /proc/<pid>/task/<tid>/children: cheap enough to sample often (no scan of every process)
    found, frontier = [], [root]
    while frontier:
        found.extend(frontier)
        children = []
        for member in frontier:
            try:
                for tid in os.listdir("/proc/%d/task" % member):
                    with open("/proc/%d/task/%s/children" % (member, tid)) as handle:
                        children.extend(int(child) for child in handle.read().split())
            except OSError:
                pass
        frontier = children
    return found

peak = {"Pss:": 0, "Rss:": 0}
stop = threading.Event()

def sample():
    while not stop.is_set():
        total = {"Pss:": 0, "Rss:": 0}
        for member in tree(pid):
            try:
                with open("/proc/%d/smaps_rollup" % member) as handle:
                    for line in handle:
                        fields = line.split()
                        if fields[0] in total:
                            total[fields[0]] += int(fields[1])
            except OSError:
                pass
        for key in peak:
            peak[key] = max(peak[key], total[key])
        stop.wait(0.02)

sampler = threading.Thread(target=sample)
if sys.argv[3] == "1":
    sampler.start()
status, usage = os.wait4(pid, 0)[1:]
stop.set()
if sampler.is_alive():
    sampler.join()
os.write(int(sys.argv[2]), b"%d %d %d %d" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss,
                                             peak["Pss:"], peak["Rss:"]))
"""


class Memory(object):
    """Peak memory of a module run, MiB: ``rss`` the largest single process (ru_maxrss), ``tree_pss``
    and ``tree_rss`` the sampled peaks of the process tree's summed PSS and RSS."""

    def __init__(self, maxrss_kib, pss_kib, rss_kib):
        self.rss = round(maxrss_kib / 1024.0, 1)
        self.tree_pss = round(pss_kib / 1024.0, 1) if pss_kib else None
        self.tree_rss = round(rss_kib / 1024.0, 1) if rss_kib else None

    def fields(self, prefix):
        return {prefix + "_peak_rss_mib": self.rss, prefix + "_tree_pss_mib": self.tree_pss,
                prefix + "_tree_rss_mib": self.tree_rss}


def run_module_measured(name, args, sample_tree=True):
    """Run a module as Ansible does; return (result dict, seconds, Memory) of that process (the process
    tree's peaks only with ``sample_tree``)."""
    testbed.ensure_collection_path()
    module_args = dict(args, _ansible_check_mode=False, _ansible_diff=False)
    read_fd, write_fd = os.pipe()
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, "ansible_collections.kubedr.backup.plugins.modules." + name, str(write_fd),
         "1" if sample_tree else "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=testbed.module_env(),
        pass_fds=(write_fd,))
    os.close(write_fd)
    out, err = proc.communicate(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}).encode())
    elapsed = time.time() - started
    with os.fdopen(read_fd, "rb") as report:
        rc, maxrss_kib, pss_kib, rss_kib = (int(v) for v in report.read().split())
    try:
        result = json.loads(out)
    except ValueError:
        raise RuntimeError("%s printed no JSON (rc %s): %s" % (name, rc, err[-2000:]))
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (name, result.get("msg")))
    return result, elapsed, Memory(maxrss_kib, pss_kib, rss_kib)
