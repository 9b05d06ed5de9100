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
CONTROLLERS = "kube-controller-manager"
# The bed is quiet when its servers and controllers together use less than this many cores over QUIET_WINDOW
# seconds, QUIET_WINDOWS windows in a row (idle, the bench's bed uses about 0.03: kwok's node heartbeats).
QUIET_CORES = 0.15
QUIET_WINDOW = 2.0
QUIET_WINDOWS = 2


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
    """``measure(step, client)``: waits for a quiet bed (``wait_quiet``), runs ``step()`` and returns (its result,
    a dict of wall and CPU seconds and of the wait); ``client`` is "self" (this process) or "children" (processes
    it waited for during the step)."""

    def __init__(self, bed):
        self.pids = dict((name, pid_of(name, bed)) for name in SERVERS)
        self.controllers = pid_of(CONTROLLERS, bed)

    def wait_quiet(self, timeout=600):
        """Wait until the controllers have caught up with what the steps before created (the Endpoints and
        EndpointSlices of their Services, the Deployments' status) and the API server has nothing left to do:
        each measured step then starts on the same idle bed, whatever ran before it. Returns (seconds waited,
        whether it became quiet)."""
        pids = list(self.pids.values()) + [self.controllers]
        started, calm = time.time(), 0
        while time.time() - started < timeout:
            before = sum(cpu_of(pid) for pid in pids)
            time.sleep(QUIET_WINDOW)  # the window the CPU rate is measured over
            calm = calm + 1 if (sum(cpu_of(pid) for pid in pids) - before) / QUIET_WINDOW < QUIET_CORES else 0
            if calm >= QUIET_WINDOWS:
                return time.time() - started, True
        return time.time() - started, False

    def measure(self, step, client):
        waited, quiet = self.wait_quiet()
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
        # busy_at_start 1: the bed never became quiet within wait_quiet's timeout (measured anyway, and said so)
        figures.update(wall_s=wall, client_cpu_s=used, quiet_wait_s=waited, busy_at_start=0.0 if quiet else 1.0)
        figures["cores_busy"] = (used + sum(figures["%s_cpu_s" % n.replace("-", "_")] for n in SERVERS)) / wall
        return result, figures


def medians(rows, median):
    """The median of each figure over rows (dicts of the same keys), rounded."""
    return dict((key, round(median([row[key] for row in rows]), 2)) for key in sorted(rows[0])) if rows else {}
