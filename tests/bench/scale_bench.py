"""Bench part `scale`: backup and restore of 300,000 objects through ansible-playbook (the size of
velero#9169), against the API server's raw LIST and CREATE rates taken in the same run, with the
peak RSS of the module process at 30,000 and at 300,000 objects (flat memory: under 150 MiB at 300k
and at most 1.3x the 30k figure).

It runs on a test bed of its own (`bench2`), stopped at the end. One data set grows: SCALE_SIZES
(default "30000,300000") objects, ConfigMaps and Secrets of SCALE_PAYLOAD_BYTES (default 128) spread
over SCALE_NAMESPACES (default 100) namespaces `src-NNN`, created by SCALE_CONCURRENCY (default 32)
concurrent POSTs. At each size: the raw cluster-wide LIST (the two types in parallel) before and after
the backup, the better of the two is the limit; `ansible-playbook kubedr.backup.backup` of `src-*`;
a raw CREATE sample (a tenth of the size, at most 20,000) into namespaces of its own; then
`ansible-playbook kubedr.backup.restore` of that backup into namespaces `rNNNk-NNN`.

Times are the whole ansible-playbook command (start-up, the async job and its polls every 5 s).
Peak RSS is the module process's own high-water mark (VmHWM of /proc/<pid>/status), read every
50 ms from every process running AnsiballZ_k8s_backup.py / AnsiballZ_k8s_restore.py (the async
wrapper, the module and any worker it forks); the largest is reported. The memory of all of them
together (what a container's limit counts) is the peak of their summed PSS, read every 200 ms
(``*_tree_pss_mib``; reading a process's memory map often would slow it).

    python tests/bench/scale_bench.py            # alone: prints the figures, writes nothing
    SCALE_SIZES=2000,20000 python tests/bench/scale_bench.py
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402
import bench  # noqa: E402

BED = "bench2"
SOURCE = "src"
KINDS = (("configmaps", "ConfigMap", "data"), ("secrets", "Secret", "stringData"))


def default_log(msg):
    sys.stderr.write("[scale %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def object_specs(prefix, start, end, ns_count, payload):
    """(path, body) of objects start..end-1: ConfigMaps and Secrets alternately, round-robin over the namespaces."""
    nss = bench.namespaces(prefix, ns_count)
    for i in range(start, end):
        ns = nss[i % ns_count]
        plural, kind, field = KINDS[i % 2]
        yield ("/api/v1/namespaces/%s/%s" % (ns, plural),
               {"apiVersion": "v1", "kind": kind, "metadata": {"name": "obj-%06d" % i, "namespace": ns,
                                                               "labels": {"bench": "scale"}},
                field: {"payload": payload}})


class PeakRss(threading.Thread):
    """Largest VmHWM (KiB) of the processes whose command line names ``marker``, read every 50 ms, and the
    peak of their summed PSS, read every 200 ms (``tree_pss_mib``)."""

    PSS_EVERY = 4  # samples

    def __init__(self, marker, log=None, log_every=60):
        super(PeakRss, self).__init__(daemon=True)
        self.marker = marker.encode()
        self.peaks = {}
        self.tree_pss_peak = 0
        self._samples = 0
        self._done = threading.Event()
        self.log, self.log_every = log, log_every

    def run(self):
        started = last_log = time.time()
        while not self._done.is_set():
            self.sample()
            if self.log and time.time() - last_log >= self.log_every:
                # A long run says how far it got: its figures so far survive an interrupted bench.
                last_log = time.time()
                self.log("%s running for %.0f s, peak RSS so far %s MiB"
                         % (self.marker.decode(), last_log - started, self.mib))
            self._done.wait(0.05)

    def sample(self):
        self._samples += 1
        with_pss = self._samples % self.PSS_EVERY == 0
        pss_total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if self.marker not in f.read():
                        continue
                with open("/proc/%s/status" % pid) as f:
                    hwm = int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1))
                if with_pss:
                    with open("/proc/%s/smaps_rollup" % pid) as f:
                        pss_total += int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
            except (OSError, AttributeError):
                continue  # gone meanwhile, or a zombie
            self.peaks[pid] = max(hwm, self.peaks.get(pid, 0))
        self.tree_pss_peak = max(self.tree_pss_peak, pss_total)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self.join(5)

    @property
    def mib(self):
        return round(max(self.peaks.values()) / 1024.0, 1) if self.peaks else None

    @property
    def tree_pss_mib(self):
        return round(self.tree_pss_peak / 1024.0, 1) if self.tree_pss_peak else None


class Scale(object):
    def __init__(self, env, log, ns_count, payload, concurrency):
        self.env, self.log = env, log
        self.raw = bench.RawClient(env["KUBECONFIG"])
        self.ns_count, self.payload, self.concurrency = ns_count, payload, concurrency
        self.run_id = uuid.uuid4().hex[:6]
        self.location = {
            "provider": "s3", "bucket": env["KUBEDR_S3_BUCKET"], "prefix": "scale-" + self.run_id,
            "endpoint_url": env["KUBEDR_S3_ENDPOINT"], "region": "us-east-1", "s3_addressing_style": "path"}
        # The keys reach the modules through the environment, as in AWX (an AWS credential).
        self.playbook_env = {"AWS_ACCESS_KEY_ID": env["KUBEDR_S3_ACCESS_KEY"],
                             "AWS_SECRET_ACCESS_KEY": env["KUBEDR_S3_SECRET_KEY"], "ANSIBLE_NOCOLOR": "1"}

    def create(self, prefix, start, end):
        """POST objects start..end-1 under namespaces <prefix>-NNN; returns objects/s."""
        bench.ensure_namespaces(self.raw, bench.namespaces(prefix, self.ns_count))
        count, secs = bench.create_concurrently(self.raw, object_specs(prefix, start, end, self.ns_count, self.payload),
                                                self.concurrency)
        self.log("raw CREATE: %d objects into %s-* in %.1f s (%.0f/s, concurrency %d)"
                 % (count, prefix, secs, count / secs, self.concurrency))
        return count / secs

    def list_rate(self):
        """Items/s of one cluster-wide paginated LIST per type, the types in parallel (every item listed counts):
        the better of pages of 500 and pages grown as the modules grow theirs (``RawClient.list_all``)."""
        rates = []
        for grow in (False, True):
            started = time.time()
            with ThreadPoolExecutor(len(KINDS)) as pool:
                count = sum(pool.map(lambda path: self.raw.list_all(path, grow=grow), ["/api/v1/" + kind[0] for kind in KINDS]))
            secs = time.time() - started
            self.log("raw LIST, %s: %d items in %.2f s (%.0f/s)" % ("pages grown" if grow else "pages of 500", count, secs,
                                                                    count / secs))
            rates.append(count / secs)
        return max(rates)

    def playbook(self, name, module, extra_vars):
        """Run kubedr.backup.<name>; returns (output, seconds, PeakRss of the module's processes)."""
        extra = dict(kubedr_storage_location=self.location, kubedr_kubeconfig=self.env["KUBECONFIG"],
                     kubedr_poll_interval=5, **extra_vars)
        with PeakRss("AnsiballZ_%s.py" % module, self.log) as rss:
            started = time.time()
            proc = testbed.run_playbook("kubedr.backup." + name, extra, env=self.playbook_env, timeout=7200)
            secs = time.time() - started
        if proc.returncode != 0:
            raise RuntimeError("ansible-playbook kubedr.backup.%s failed (rc %d):\n%s"
                               % (name, proc.returncode, proc.stdout[-4000:]))
        return proc.stdout, secs, rss

    def backup(self, name):
        out, secs, rss = self.playbook("backup", "k8s_backup",
                                       {"kubedr_backup_name": name, "kubedr_included_namespaces": [SOURCE + "-*"]})
        items = int(re.search(r"Backup %s: Completed, (\d+) items" % re.escape(name), out).group(1))
        self.log("backup %s through ansible-playbook: %d items in %.1f s (%.0f/s), peak RSS %s MiB, all its processes' PSS %s MiB"
                 % (name, items, secs, items / secs, rss.mib, rss.tree_pss_mib))
        return items, secs, rss

    def restore(self, backup_name, target_prefix):
        mapping = dict(zip(bench.namespaces(SOURCE, self.ns_count), bench.namespaces(target_prefix, self.ns_count)))
        out, secs, rss = self.playbook("restore", "k8s_restore",
                                       {"kubedr_backup_name": backup_name, "kubedr_namespace_mapping": mapping})
        created = int(re.search(r"Completed, (\d+) created", out).group(1))
        self.log("restore of %s through ansible-playbook: %d created in %.1f s (%.0f/s), peak RSS %s MiB, all its processes' PSS %s MiB"
                 % (backup_name, created, secs, created / secs, rss.mib, rss.tree_pss_mib))
        return created, secs, rss

    def existing(self):
        """How many objects of the data set a bed left by an interrupted run holds (they are not created again)."""
        return sum(self.raw.count_in_namespaces("/api/v1/" + kind[0], SOURCE + "-") for kind in KINDS)

    def at_size(self, size, restore=True):
        """LIST, backup, LIST, raw CREATE sample, restore, at the current size; the figures of this size."""
        label = "%dk" % (size // 1000)
        list_before = self.list_rate()
        items, backup_secs, backup_rss = self.backup("scale-%s-%s" % (self.run_id, label))
        list_limit = max(list_before, self.list_rate())
        figures = {"objects": size, "list_limit_per_s": round(list_limit, 1), "backup_items": items,
                   "backup_s": round(backup_secs, 1), "backup_rss_mib": backup_rss.mib,
                   "backup_tree_pss_mib": backup_rss.tree_pss_mib,
                   "backup_ratio": round(items / backup_secs / list_limit, 3)}
        if not restore:
            return figures
        sample = max(1000, min(20000, size // 10))
        create_limit = self.create("raw%s" % label, 0, sample)
        created, restore_secs, restore_rss = self.restore("scale-%s-%s" % (self.run_id, label), "r%s" % label)
        figures.update(create_limit_per_s=round(create_limit, 1), restore_created=created,
                       restore_s=round(restore_secs, 1), restore_rss_mib=restore_rss.mib,
                       restore_tree_pss_mib=restore_rss.tree_pss_mib,
                       restore_ratio=round(created / restore_secs / create_limit, 3))
        return figures


def run(log=default_log, sizes=None, ns_count=None):
    """The `scale` part: figures at each size, and the keys of bench-results.json for 30k and 300k.
    SCALE_RESTORE_MAX: restore only at sizes up to it (a backup-only look at a larger size; the restore keys are
    then None). The data set of a bed left by an interrupted run is reused."""
    sizes = sizes or [int(s) for s in os.environ.get("SCALE_SIZES", "30000,300000").split(",")]
    ns_count = ns_count or int(os.environ.get("SCALE_NAMESPACES", "100"))
    payload = "x" * int(os.environ.get("SCALE_PAYLOAD_BYTES", "128"))
    env = testbed.cluster_up(BED)
    try:
        scale = Scale(env, log, ns_count, payload, int(os.environ.get("SCALE_CONCURRENCY", "32")))
        restore_max = int(os.environ.get("SCALE_RESTORE_MAX", "0")) or max(sizes)
        by_size, seeded = {}, scale.existing()
        for size in sorted(sizes):
            if size > seeded:
                scale.create(SOURCE, seeded, size)
                seeded = size
            by_size[size] = scale.at_size(size, restore=size <= restore_max)
            log("at %d objects: %s" % (size, json.dumps(by_size[size], sort_keys=True)))
    finally:
        subprocess.run(["bash", os.path.join(testbed.REPO, "hack", "testbed", "cluster-down.sh"), BED],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return report(by_size)


def report(by_size):
    result = {"scale_by_n": dict((str(size), figures) for size, figures in by_size.items())}
    largest, smallest = max(by_size), min(by_size)
    big, small = by_size[largest], by_size[smallest]
    # The keys are named for the sizes the part is made for; other sizes (a small run) keep them, and say
    # what they measured in scale_by_n.
    result.update(scale_300k_backup_s=big["backup_s"], scale_300k_restore_s=big.get("restore_s"),
                  scale_300k_backup_rss_mib=big["backup_rss_mib"], scale_300k_restore_rss_mib=big.get("restore_rss_mib"),
                  scale_300k_backup_ratio=big["backup_ratio"], scale_300k_restore_ratio=big.get("restore_ratio"),
                  scale_30k_backup_rss_mib=small["backup_rss_mib"], scale_30k_restore_rss_mib=small.get("restore_rss_mib"),
                  scale_300k_backup_tree_pss_mib=big.get("backup_tree_pss_mib"),
                  scale_30k_backup_tree_pss_mib=small.get("backup_tree_pss_mib"))
    for side in ("backup", "restore"):
        if small.get(side + "_rss_mib") and big.get(side + "_rss_mib"):
            result["scale_%s_rss_growth" % side] = round(big[side + "_rss_mib"] / small[side + "_rss_mib"], 2)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, sort_keys=True))
