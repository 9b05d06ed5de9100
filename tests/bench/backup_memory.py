"""Bench: the backup's write path without a cluster, for its memory and CPU per item.

A fake cluster serves N ConfigMaps and Secrets of SIZE bytes spread over NAMESPACES namespaces
``src-NNN`` (the objects of tests/bench/scale_bench.py), as raw LIST pages of 500 items built on
demand (the fake holds nothing); ``BackupRun`` (what the k8s_backup module runs: listing ->
worker processes -> tarball -> resource list, results, item digests, logs) writes the backup of
``src-*`` into a filesystem store in a temporary directory. Each size runs in a fresh process.

Per size it prints the items, the wall and CPU seconds of the run (this process and its workers),
the traced Python heap's peak (tracemalloc, this process only) and ru_maxrss of this process,
and the growth per item between the two sizes. Seeded: the same sizes give the same objects.

    python tests/bench/backup_memory.py                  # 20,000 and 200,000 objects
    python tests/bench/backup_memory.py 5000 50000       # other sizes
    BACKUP_MEMORY_TRACE=0 ...                            # without tracemalloc (for timings)
    BACKUP_MEMORY_TOP=15 ...                             # the top allocation sites at the peak
    BACKUP_MEMORY_PROFILE=/tmp/backup.prof ...           # cProfile of the run at the largest size
    BACKUP_MEMORY_COLLECTIONS=/tmp/before ...            # the code under /tmp/before/ansible_collections
"""
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import testbed  # noqa: E402

testbed.ensure_collection_path()
if os.environ.get("BACKUP_MEMORY_COLLECTIONS"):  # another build to compare with (a dir holding ansible_collections/)
    sys.path.insert(0, os.environ["BACKUP_MEMORY_COLLECTIONS"])

from ansible_collections.kubedr.backup.plugins.module_utils.backup import run as backup  # noqa: E402
try:
    from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import next_page_size  # noqa: E402
except ImportError:  # a build from before pages grew (BACKUP_MEMORY_COLLECTIONS): pages of PAGE items

    def next_page_size(limit, _page_bytes):
        return limit
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery  # noqa: E402
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store  # noqa: E402

VERBS = ("create", "delete", "get", "list")
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS)
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS)
SECRETS = ApiResource("", "v1", "secrets", "Secret", True, VERBS)
# Types discovery reports besides (not listed here: the backup selects by namespace).
OTHERS = [ApiResource(group, "v1", resource, kind, namespaced, VERBS)
          for group, resource, kind, namespaced in [
              ("", "pods", "Pod", True), ("", "services", "Service", True), ("", "serviceaccounts", "ServiceAccount", True),
              ("", "persistentvolumeclaims", "PersistentVolumeClaim", True), ("", "persistentvolumes", "PersistentVolume", False),
              ("apps", "deployments", "Deployment", True), ("apps", "statefulsets", "StatefulSet", True),
              ("rbac.authorization.k8s.io", "roles", "Role", True),
              ("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False)]]
PAGE = 500
NAMESPACE_COUNT = int(os.environ.get("BACKUP_MEMORY_NAMESPACES", "100"))
SIZE = int(os.environ.get("BACKUP_MEMORY_PAYLOAD", "128"))
SEED = 18


class SyntheticKube(object):
    """Serves ``count`` objects as scale_bench.py creates them: object i is a ConfigMap (even i) or a
    Secret (odd i) in namespace ``src-(i % NAMESPACE_COUNT)``, named ``obj-<i>``."""

    host = "https://synthetic:6443"
    exec_client = None

    def __init__(self, count):
        self.total = count
        self.payload = random.Random(SEED).choice("abcdef") * SIZE
        self.namespaces = ["src-%03d" % n for n in range(NAMESPACE_COUNT)]

    def discover(self):
        return Discovery([NAMESPACES, CONFIGMAPS, SECRETS] + OTHERS)

    def server_version(self):
        return {"gitVersion": "v1.36.1", "major": "1", "minor": "36"}

    def count(self, api_resource, namespace=None):
        return NAMESPACE_COUNT if api_resource.group_resource == "namespaces" else None

    def _objects(self, api_resource, namespace):
        if api_resource.group_resource == "namespaces":
            for n, name in enumerate(self.namespaces):
                yield {"metadata": {"name": name, "uid": "ns-%d" % n, "resourceVersion": "1"}}
            return
        parity = {"configmaps": 0, "secrets": 1}.get(api_resource.group_resource)
        if parity is None:
            return
        for i in range(parity, self.total, 2):
            ns = self.namespaces[i % NAMESPACE_COUNT]
            if namespace is not None and ns != namespace:
                continue
            field = "data" if parity == 0 else "stringData"
            yield {"metadata": {"name": "obj-%06d" % i, "namespace": ns, "uid": "u-%08d" % i,
                                "resourceVersion": str(1000 + i), "labels": {"bench": "scale"}},
                   field: {"payload": self.payload}}

    def _pages(self, api_resource, namespace):
        """(items, raw page) of PAGE items first, then of the sizes KubeClient asks for (``next_page_size``)."""
        objects, limit = self._objects(api_resource, namespace), PAGE
        while True:
            page = list(itertools.islice(objects, limit))
            data = json.dumps({"kind": api_resource.kind + "List", "apiVersion": api_resource.group_version,
                               "metadata": {"resourceVersion": "1"}, "items": page}, separators=(",", ":")).encode()
            yield page, data
            if len(page) < limit:
                return
            limit = next_page_size(limit, len(data))

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        for page, _data in self._pages(api_resource, namespace):
            yield [dict(item, apiVersion=api_resource.group_version, kind=api_resource.kind) for item in page]

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None):
        for _page, data in self._pages(api_resource, namespace):
            yield data

    def list_items(self, api_resource, namespace=None, label_selector=None):
        for page in self.list_pages(api_resource, namespace, label_selector):
            yield from page


def one_run(count, trace, top, profile):
    """One backup of ``count`` objects in this process; returns its figures."""
    directory = tempfile.mkdtemp(prefix="backup-memory-")
    try:
        store = open_store({"provider": "filesystem", "path": directory})
        store.check()
        options = {"name": "m", "ttl": "720h", "included_namespaces": ["src-*"]}
        if trace:
            import tracemalloc
            tracemalloc.start(int(os.environ.get("BACKUP_MEMORY_FRAMES", "1")))
        profiler = None
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        cpu, wall = os.times(), time.time()
        result = backup.BackupRun(SyntheticKube(count), store, options).execute()
        wall, after = time.time() - wall, os.times()
        figures = {"objects": count, "items": result["item_counts"]["total"], "phase": result["phase"],
                   "wall_s": round(wall, 3),
                   "cpu_s": round(after.user + after.system - cpu.user - cpu.system, 3),
                   "cpu_children_s": round(after.children_user + after.children_system
                                           - cpu.children_user - cpu.children_system, 3),
                   "archive_bytes": result["archive_size"]}
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        if trace:
            import tracemalloc
            figures["traced_peak"] = tracemalloc.get_traced_memory()[1]
            if top:
                snapshot = tracemalloc.take_snapshot()
                figures["top_now"] = ["%s: %d B in %d blocks" % (stat.traceback, stat.size, stat.count)
                                      for stat in snapshot.statistics("lineno")[:top]]
            tracemalloc.stop()
        figures["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        figures["maxrss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        figures["code"] = os.path.dirname(backup.__file__)
        return figures
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv):
    if len(argv) > 1 and argv[1] == "--one":
        count, profile = int(argv[2]), argv[3] if len(argv) > 3 else ""
        figures = one_run(count, os.environ.get("BACKUP_MEMORY_TRACE", "1") != "0",
                          int(os.environ.get("BACKUP_MEMORY_TOP", "0")), profile)
        sys.stdout.write(json.dumps(figures) + "\n")
        return 0
    sizes = [int(size) for size in argv[1:]] or [20000, 200000]
    runs = []
    for size in sizes:
        profile = os.environ.get("BACKUP_MEMORY_PROFILE", "") if size == max(sizes) else ""
        out = subprocess.check_output([sys.executable, os.path.abspath(__file__), "--one", str(size), profile])
        figures = json.loads(out.decode().strip().splitlines()[-1])
        runs.append(figures)
        print("%(objects)8d objects %(items)8d items %(phase)s  wall %(wall_s)7.2f s  cpu %(cpu_s)7.2f s"
              " (+ workers %(cpu_children_s)6.2f s)  maxrss %(mib)6.1f MiB (workers %(cmib)6.1f MiB)" % dict(
                  figures, mib=figures["maxrss"] / 2.0 ** 20, cmib=figures["maxrss_children"] / 2.0 ** 20)
              + ("  traced peak %.1f MiB" % (figures["traced_peak"] / 2.0 ** 20) if "traced_peak" in figures else ""))
        for line in figures.get("top_now", []):
            print("    " + line)
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        extra = float(large["items"] - small["items"])
        print("growth per item: maxrss %.1f B" % ((large["maxrss"] - small["maxrss"]) / extra)
              + (", traced peak %.1f B" % ((large["traced_peak"] - small["traced_peak"]) / extra)
                 if "traced_peak" in large else "")
              + ", maxrss ratio %.2fx" % (large["maxrss"] / float(small["maxrss"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
