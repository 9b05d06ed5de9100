"""CPU seconds of a measured step, split between the client and the test bed's servers (issue 18 item 3).

On the test bed kube-apiserver, etcd and the client share the machine's cores: a client that spends more CPU
per item than the raw LIST client leaves less to the API server. bench.py records, for each raw LIST and each
backup, the wall time and the CPU seconds of the client (this process for the raw client, the module's process
tree for the module), of kube-apiserver and of etcd (from /proc)."""
import os
import subprocess
import time

TICKS = os.sysconf("SC_CLK_TCK")
SERVERS = ("kube-apiserver", "etcd")


def pid_of(binary, bed):
    """The pid of the bed's ``binary`` process (its path names the bed's kwok cluster directory)."""
    out = subprocess.check_output(["ps", "-eo", "pid,args"]).decode()
    for line in out.splitlines()[1:]:
        pid, _space, args = line.strip().partition(" ")
        path = args.split(" ")[0]
        if os.path.basename(path) == binary and "/clusters/%s/" % bed in path:
            return int(pid)
    raise RuntimeError("no %s of test bed %s is running" % (binary, bed))


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(TICKS)  # utime + stime


class CpuUse(object):
    """``measure(step, client)``: runs ``step()`` and returns (its result, a dict of wall and CPU seconds);
    ``client`` is "self" (this process) or "children" (processes it waited for during the step)."""

    def __init__(self, bed):
        self.pids = dict((name, pid_of(name, bed)) for name in SERVERS)

    def measure(self, step, client):
        before = dict((name, cpu_of(pid)) for name, pid in self.pids.items())
        times, started = os.times(), time.time()
        result = step()
        wall, after = time.time() - started, os.times()
        if client == "self":
            used = after.user + after.system - times.user - times.system
        else:
            used = after.children_user + after.children_system - times.children_user - times.children_system
        figures = dict(("%s_cpu_s" % name.replace("-", "_"), cpu_of(pid) - before[name])
                       for name, pid in self.pids.items())
        figures.update(wall_s=wall, client_cpu_s=used)
        figures["cores_busy"] = (used + sum(figures["%s_cpu_s" % n.replace("-", "_")] for n in SERVERS)) / wall
        return result, figures


def medians(rows, median):
    """The median of each figure over rows (dicts of the same keys), rounded."""
    return dict((key, round(median([row[key] for row in rows]), 2)) for key in sorted(rows[0])) if rows else {}
