"""`make bench`: backup and restore throughput against the API server's own limits, and
peak memory, measured in ONE run on the local test bed (DESIGN.md section 9).

The machine is shared and noisy, so figures are reported as ratios of numbers taken
in the same run: backup items/s over raw paginated LIST items/s, restore items/s over
raw concurrent CREATE items/s. Peak RSS is the module process's own (wait4 rusage).

Environment knobs: BENCH_N (objects, default 20000), BENCH_NAMESPACES (default 100),
BENCH_RSS_SIZES (comma list of object counts for the RSS curve, default
"10000,50000,100000"; empty to skip), BENCH_CREATE_CONCURRENCY (comma list tried when
tuning the raw CREATE client, default "8,16,32,64"), BENCH_VOLUME_MIB (size of the pod volume
backed up and restored through the node agent and with plain restic, default 1024; 0 skips),
BENCH_ROUNDS (raw LIST and backup, and raw CREATE and restore, measured alternately this many times,
medians compared; default 3), BENCH_SETTLE_S (how long to wait for the controllers to make the Services' endpoints before
measuring, default 300), BENCH_PARTS (comma list of the parts to run, default
"objects,volume,uploaders,scale,fleet": the resources (with real Velero side by side), the pod
volume through the node agent against restic and kopia run plainly (BENCH_VOLUME_UPLOADERS, default
"restic,kopia"; BENCH_VOLUME_ROUNDS), the uploaders side by side, 300,000 objects through ansible-playbook (scale_bench.py,
SCALE_* knobs), the fleet playbook over three clusters (fleet_bench.py);
uploader_bench.py has the uploaders' knobs: BENCH_UPLOADER_MIB, BENCH_SMALL_FILES,
BENCH_SMALL_FILE_BYTES, BENCH_UPLOADER_ROUNDS), BENCH_VELERO (0 skips real Velero in the objects part; default 1),
BENCH_VELERO_VERSION (default v1.16.2; velero_side.py).

Every backup round of the objects part also runs kubedr through ansible-playbook (playbook_bench.py: the
collection's kubedr.backup.backup and a one-task playbook), and the restore too, beside the module alone.
"""
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402
testbed.ensure_collection_path()  # raw_restore reads backups with the collection's own archive reader
import cpu_use  # noqa: E402
import fixed_split  # noqa: E402
from measured import run_module_measured  # noqa: E402
import playbook_bench  # noqa: E402
import raw_restore  # noqa: E402
import velero_side  # noqa: E402
from bench_table import print_table  # noqa: E402

import urllib3  # noqa: E402
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import next_page_size  # noqa: E402

RESOURCES = (
    # (plural, api prefix, builder)
    ("configmaps", "/api/v1"),
    ("secrets", "/api/v1"),
    ("services", "/api/v1"),
    ("deployments", "/apis/apps/v1"),
)
BED = "bench"
PAYLOAD = "x" * 1024  # ~1 KiB of data per ConfigMap and Secret


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class RawClient(object):
    """A plain HTTP client for the API server: raw JSON over a pooled urllib3 connection.
    It is the yardstick the modules are measured against."""

    def __init__(self, kubeconfig, pool_size=64):
        cfg = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        self.host = cfg.host
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if cfg.api_key.get("authorization"):
            self.headers["Authorization"] = cfg.api_key["authorization"]
        self.http = urllib3.PoolManager(
            num_pools=2, maxsize=pool_size, block=True, cert_file=cfg.cert_file, key_file=cfg.key_file,
            ca_certs=cfg.ssl_ca_cert, cert_reqs="CERT_REQUIRED" if cfg.verify_ssl else "CERT_NONE")

    def request(self, method, path, body=None, fields=None):
        for attempt in range(6):
            resp = self.http.request(method, self.host + path, body=None if body is None else json.dumps(body),
                                     fields=fields, headers=self.headers, preload_content=True)
            if resp.status in (429, 500, 502, 503, 504):
                time.sleep(0.2 * (2 ** attempt))
                continue
            return resp
        return resp

    def create(self, path, body):
        resp = self.request("POST", path, body)
        if resp.status not in (200, 201, 409):
            raise RuntimeError("POST %s: %s %s" % (path, resp.status, resp.data[:300]))

    def count_in_namespaces(self, path, namespace_prefix):
        """How many items of a cluster-wide LIST sit in namespaces starting with the prefix."""
        return self.list_all(path, counted=lambda item: item["metadata"].get("namespace", "").startswith(
            namespace_prefix))

    def list_all(self, path, limit=500, counted=None, grow=False):
        """Paginated LIST of every item of one resource type; returns the item count (of the items
        ``counted`` accepts, when given). Pages of ``limit`` items, or with ``grow`` of the sizes the
        modules ask for (``next_page_size``: the first of ``limit``, then as many as fill 4 MiB)."""
        count, token = 0, None
        while True:
            query = "?limit=%d" % limit + ("&continue=%s" % token if token else "")
            resp = self.request("GET", path + query)
            document = json.loads(resp.data)
            items = document["items"]
            count += len(items) if counted is None else sum(1 for item in items if counted(item))
            token = document["metadata"].get("continue")
            if not token:
                return count
            if grow:
                limit = next_page_size(limit, len(resp.data))


def object_body(kind_index, name, namespace):
    plural = RESOURCES[kind_index][0]
    meta = {"name": name, "namespace": namespace, "labels": {"bench": "kubedr"}}
    if plural == "configmaps":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"payload": PAYLOAD}}
    if plural == "secrets":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"payload": PAYLOAD}}
    if plural == "services":
        # Headless: the test bed's service CIDR is a /24, far too small for thousands of ClusterIPs.
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]}}
    # Paused: the deployment controller (20 requests/s by default) would otherwise spend half an
    # hour creating 5,000 ReplicaSets, and their events, while the measurements run.
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 0, "paused": True, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def namespaces(prefix, count):
    return ["%s-%03d" % (prefix, i) for i in range(count)]


def object_specs(prefix, n, ns_count, start=0):
    """(path, body) for objects start..n-1, spread round-robin over the namespaces and kinds."""
    nss = namespaces(prefix, ns_count)
    for i in range(start, n):
        ns = nss[i % ns_count]
        kind_index = (i // ns_count) % len(RESOURCES)
        plural, prefix_path = RESOURCES[kind_index]
        yield ("%s/namespaces/%s/%s" % (prefix_path, ns, plural), object_body(kind_index, "obj-%06d" % i, ns))


def services_in(n, ns_count):
    """How many of the first n objects are Services (see ``object_specs``)."""
    return sum(1 for i in range(n) if RESOURCES[(i // ns_count) % len(RESOURCES)][0] == "services")


def create_concurrently(raw, specs, concurrency):
    """Create every (path, body) with `concurrency` threads; returns (count, seconds)."""
    specs = list(specs)
    started = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda spec: raw.create(*spec), specs, chunksize=64))
    return len(specs), time.time() - started


def ensure_namespaces(raw, names):
    for name in names:
        raw.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def item_total(result):
    return result["item_counts"]["total"]


class Bench(object):
    def __init__(self, env, bed=BED):
        self.env = env
        self.bed = bed
        self.raw = RawClient(env["KUBECONFIG"])
        self.run_id = uuid.uuid4().hex[:6]
        self.location = {
            "provider": "s3", "bucket": env["KUBEDR_S3_BUCKET"], "prefix": "bench-" + self.run_id,
            "endpoint_url": env["KUBEDR_S3_ENDPOINT"], "region": "us-east-1",
            "access_key": env["KUBEDR_S3_ACCESS_KEY"], "secret_key": env["KUBEDR_S3_SECRET_KEY"],
            "s3_addressing_style": "path",
        }
        self.auth = {"kubeconfig": env["KUBECONFIG"]}

    def seed(self, prefix, n, ns_count, start=0, concurrency=32):
        ensure_namespaces(self.raw, namespaces(prefix, ns_count))
        count, secs = create_concurrently(self.raw, object_specs(prefix, n, ns_count, start), concurrency)
        log("seeded %d objects into %s-* in %.1fs (%.0f/s)" % (count, prefix, secs, count / secs))

    def settle(self, prefix, expected, timeout):
        """Wait (up to ``timeout`` seconds) until the controllers have made the Endpoints and
        EndpointSlices of the benchmark's Services, so that they do not write while the
        measurements run and every backup round holds the same items. Returns the seconds waited."""
        started = time.time()
        while True:
            counts = [self.raw.count_in_namespaces(path, prefix + "-") for path in
                      ("/api/v1/endpoints", "/apis/discovery.k8s.io/v1/endpointslices")]
            if min(counts) >= expected or time.time() - started > timeout:
                log("controllers: %d endpoints, %d endpoint slices for %d services after %.0fs"
                    % (counts[0], counts[1], expected, time.time() - started))
                return time.time() - started
            time.sleep(3)

    def list_limit(self, prefix, ns_count, per_namespace_too=True):
        """The best rate a plain paginated client lists the benchmark's objects at: the better of
        one cluster-wide LIST per resource type (types in parallel; on this cluster of its own the
        benchmark's objects are nearly all there is) and one LIST per type and namespace (8 in
        parallel). Returns (items, seconds) of the faster way."""
        per_namespace = ["%s/namespaces/%s/%s" % (api, ns, plural)
                         for ns in namespaces(prefix, ns_count) for plural, api in RESOURCES]
        cluster_wide = ["%s/%s" % (api, plural) for plural, api in RESOURCES]
        ways = [(per_namespace, 8, False)] if per_namespace_too else []
        best = None
        # Pages of 500 (kubectl's) and pages grown as the modules grow theirs: on 300,000 items the API server
        # spent 24-31 CPU s in pages of 500 and 11-15 in pages of 2,000 (docs/performance.md).
        for paths, workers, grow in ways + [(cluster_wide, len(RESOURCES), False), (cluster_wide, len(RESOURCES), True)]:
            started = time.time()
            with ThreadPoolExecutor(workers) as pool:
                count = sum(pool.map(lambda path: self.raw.list_all(path, grow=grow), paths))
            secs = time.time() - started
            log("raw LIST, %d requests in parallel, %s: %d objects in %.2fs" % (
                workers, "pages grown" if grow else "pages of 500", count, secs))
            if best is None or count / secs > best[0] / best[1]:
                best = (count, secs)
        return best

    def tune_create(self, sample, ns_count, wait_quiet=lambda: None):
        """The raw CREATE's best concurrency on a sample, each try started on a quiet bed (``wait_quiet()``)."""
        best = None
        for concurrency in [int(c) for c in os.environ.get("BENCH_CREATE_CONCURRENCY", "8,16,32,64").split(",")]:
            wait_quiet()
            prefix = "bench-tune-%s-c%d" % (self.run_id, concurrency)
            ensure_namespaces(self.raw, namespaces(prefix, ns_count))
            count, secs = create_concurrently(self.raw, object_specs(prefix, sample, ns_count), concurrency)
            log("raw CREATE tuning: concurrency %d -> %.0f objects/s" % (concurrency, count / secs))
            if best is None or count / secs > best[1]:
                best = (concurrency, count / secs)
        return best[0]

    def backup(self, name, prefix, sample_tree=True):
        args = dict(self.auth, name=name, storage_location=self.location, included_namespaces=[prefix + "-*"])
        result, secs, memory = run_module_measured("k8s_backup", args, sample_tree)
        return item_total(result), secs, memory

    def restore(self, backup_name, src_prefix, dst_prefix, ns_count, sample_tree=True):
        mapping = dict(zip(namespaces(src_prefix, ns_count), namespaces(dst_prefix, ns_count)))
        args = dict(self.auth, backup_name=backup_name, storage_location=self.location, namespace_mapping=mapping)
        result, secs, memory = run_module_measured("k8s_restore", args, sample_tree)
        return result["item_counts"]["created"], secs, memory


def main():
    # A cluster of its own, so leftovers of other tests do not skew the figures.
    # Controllers that catch up in seconds: every measured step waits for a quiet bed (cpu_use.wait_quiet).
    os.environ.setdefault("KUBEDR_CONTROLLER_QPS", "200")
    env = testbed.cluster_up(BED)
    parts = set(p.strip() for p in os.environ.get("BENCH_PARTS", "objects,volume,uploaders,scale,fleet").split(","))
    bench = Bench(env)
    report = {"run_id": bench.run_id}
    if "objects" in parts:
        objects_part(bench, report)

    volume_mib = int(os.environ.get("BENCH_VOLUME_MIB", "1024"))
    if volume_mib and "volume" in parts:
        testbed.ensure_collection_path()
        import volume_bench
        report["volume"] = volume_bench.run(env, bench.location, volume_mib, log)

    if "uploaders" in parts:
        testbed.ensure_collection_path()
        import uploader_bench
        report["uploaders"] = uploader_bench.run(env, bench.location, log, run_module_measured)

    if "scale" in parts:  # 300,000 objects through ansible-playbook, on a test bed of its own
        import scale_bench
        report.update(scale_bench.run(log))

    if "fleet" in parts:  # the fleet playbook over three test-bed clusters
        import fleet_bench
        report.update(fleet_bench.run(log))

    with open(os.path.join(testbed.REPO, "bench-results.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print_table(report)


def cpu_line(used):
    return "CPU s: client %.2f, kube-apiserver %.2f, etcd %.2f (%.2f cores busy); started after %.0fs waiting for %s" % (
        used["client_cpu_s"], used["kube_apiserver_cpu_s"], used["etcd_cpu_s"], used["cores_busy"], used["quiet_wait_s"],
        "a quiet bed" if not used["busy_at_start"] else "a quiet bed, IN VAIN: the bed was still busy")


def objects_part(bench, report):
    """Backup and restore of BENCH_N objects against the raw LIST and CREATE limits, and peak RSS."""
    n = int(os.environ.get("BENCH_N", "20000"))
    ns_count = int(os.environ.get("BENCH_NAMESPACES", "100"))
    rss_sizes = [int(s) for s in os.environ.get("BENCH_RSS_SIZES", "10000,50000,100000").split(",") if s]
    have_restore = os.path.exists(os.path.join(testbed.REPO, "plugins", "modules", "k8s_restore.py"))
    src = "bench-%s-src" % bench.run_id
    report.update(n_objects=n, namespaces=ns_count)

    bench.seed(src, n, ns_count)
    report["settle_seconds"] = round(bench.settle(src, services_in(n, ns_count), int(os.environ.get("BENCH_SETTLE_S", "300"))))

    # LIST and backup alternate, BENCH_ROUNDS times: each leaves the API server garbage to collect
    # (its Go collector runs during whatever comes next), so each is measured after the other and
    # the medians are compared. Each round: the raw LIST, the module alone (python -m), the collection's
    # playbook and the one-task playbook. The module's backup of the last round is the one restored.
    source_namespaces = namespaces(src, ns_count)
    rates = {"list": [], "module": [], "collection": [], "direct": []}
    seconds = {"module": [], "collection": [], "direct": []}
    backup_name = None
    split = []  # per round: (raw LIST items/s, backup s, backup of nothing s, floor s); fixed_split.py
    cpu = cpu_use.CpuUse(bench.bed)
    cpu_rows = {"list": [], "backup": [], "create": [], "restore": [], "raw_restore": []}
    for round_number in range(max(1, int(os.environ.get("BENCH_ROUNDS", "3")))):
        (listed, secs_listed), used = cpu.measure(
            lambda: bench.list_limit(src, ns_count, per_namespace_too=round_number == 0), "self")
        cpu_rows["list"].append(used)
        rates["list"].append(listed / secs_listed)
        log("raw LIST, round %d: %d objects in %.2fs (%.0f/s); %s" % (
            round_number + 1, listed, secs_listed, listed / secs_listed, cpu_line(used)))
        backup_name = "bench-%s-full-%d" % (bench.run_id, round_number)
        # Timed without sampling the process tree's memory (measured.py); the peaks come from one more backup.
        (items, secs, memory), used = cpu.measure(lambda: bench.backup(backup_name, src, sample_tree=False), "children")
        cpu_rows["backup"].append(used)
        log("k8s_backup CPU, round %d: %s" % (round_number + 1, cpu_line(used)))
        rates["module"].append(items / secs)
        seconds["module"].append(secs)
        log("k8s_backup, round %d: %d items in %.2fs (%.0f/s), peak RSS %.0f MiB"
            % (round_number + 1, items, secs, items / secs, memory.rss))
        split.append(measure_fixed_cost(bench, cpu, backup_name, listed / secs_listed, secs))
        main_rate, main_ratio = fixed_split.main_pass_ratio(items, secs, split[-1][2], listed / secs_listed)
        log("fixed cost, round %d: a backup of nothing %.2fs, the floor of a Python module %.2fs; main pass %.0f/s (%.3f)"
            % (round_number + 1, split[-1][2], split[-1][3], main_rate, main_ratio))
        for style in ("collection", "direct"):
            cpu.wait_quiet()
            played, secs = playbook_bench.backup(bench.env, style, bench.location, "%s-%s" % (backup_name, style),
                                                 [src + "-*"])
            rates[style].append(played / secs)
            seconds[style].append(secs)
            log("ansible-playbook (%s), round %d: %d items in %.2fs (%.0f/s)" % (
                style, round_number + 1, played, secs, played / secs))
    cpu.wait_quiet()
    memory = bench.backup(backup_name + "-memory", src)[2]
    log("k8s_backup's peak memory: RSS %.0f MiB, process tree PSS %.0f MiB, RSS %.0f MiB" % (
        memory.rss, memory.tree_pss, memory.tree_rss))
    report.update(list_limit_per_s=round(median(rates["list"]), 1),
                  list_rounds_per_s=[round(r, 1) for r in rates["list"]],
                  backup_items=items, backup_seconds=round(seconds["module"][-1], 2),
                  backup_per_s=round(median(rates["module"]), 1),
                  backup_rounds_per_s=[round(r, 1) for r in rates["module"]], **memory.fields("backup"))
    report["backup_ratio"] = round(report["backup_per_s"] / report["list_limit_per_s"], 3)
    report.update(fixed_split.report_fields(items, split, median))
    report.update(list_cpu=cpu_use.medians(cpu_rows["list"], median), backup_cpu=cpu_use.medians(cpu_rows["backup"], median))
    report.update(module_backup_s=round(median(seconds["module"]), 2), module_backup_per_s=report["backup_per_s"],
                  playbook_backup_s=round(median(seconds["collection"]), 2),
                  playbook_backup_per_s=round(median(rates["collection"]), 1),
                  playbook_backup_rounds_s=[round(s, 2) for s in seconds["collection"]],
                  playbook_direct_backup_s=round(median(seconds["direct"]), 2),
                  playbook_direct_backup_per_s=round(median(rates["direct"]), 1))
    report["playbook_backup_ratio"] = round(report["playbook_backup_per_s"] / report["list_limit_per_s"], 3)

    concurrency = bench.tune_create(min(2000, n), min(ns_count, 20), cpu.wait_quiet)
    # Raw CREATE and restore alternate too, BENCH_ROUNDS times, each into namespaces of its own. The Services each
    # side creates keep the controllers writing Endpoints and EndpointSlices after it (at their default 20 requests/s,
    # for minutes: whichever went next paid for the steps before, more in each round), so every step first waits for
    # a quiet bed (cpu_use.wait_quiet; KUBEDR_CONTROLLER_QPS makes that seconds). The medians are compared, and the
    # ratio of each round's pair.
    # The restore's own yardstick alternates with them: its backup's items posted by the raw client (raw_restore.py).
    creates, restores, restore_seconds, same_items = [], [], [], []
    sides = ["create", "restore"] + (["raw_restore"] if have_restore else [])
    for round_number in range(max(1, int(os.environ.get("BENCH_ROUNDS", "3")))):
        for side in sides[round_number % len(sides):] + sides[:round_number % len(sides)]:
            if side == "raw_restore":
                mapping = dict(zip(source_namespaces, namespaces("bench-%s-rr%d" % (bench.run_id, round_number),
                                                                 ns_count)))
                (posted, created, secs), used = cpu.measure(
                    lambda: raw_restore.post_all(bench.raw, bench.location, backup_name, mapping, concurrency), "self")
                cpu_rows["raw_restore"].append(used)
                same_items.append(created / secs)
                log("raw POST of the backup's items, round %d: %d created of %d in %.1fs (%.0f/s); %s" % (
                    round_number + 1, created, posted, secs, created / secs, cpu_line(used)))
            elif side == "create":
                raw_prefix = "bench-%s-raw%d" % (bench.run_id, round_number)
                ensure_namespaces(bench.raw, namespaces(raw_prefix, ns_count))
                (count, secs), used = cpu.measure(
                    lambda: create_concurrently(bench.raw, object_specs(raw_prefix, n, ns_count), concurrency), "self")
                cpu_rows["create"].append(used)
                creates.append(count / secs)
                log("raw CREATE, round %d: %d objects in %.1fs at concurrency %d (%.0f/s); %s" % (
                    round_number + 1, count, secs, concurrency, count / secs, cpu_line(used)))
            elif have_restore:
                (restored, secs, memory), used = cpu.measure(lambda: bench.restore(  # one process: ru_maxrss
                    backup_name, src, "bench-%s-rst%d" % (bench.run_id, round_number), ns_count, sample_tree=False),
                    "children")
                cpu_rows["restore"].append(used)
                restores.append(restored / secs)
                restore_seconds.append(secs)
                log("k8s_restore, round %d: %d items in %.1fs (%.0f/s), peak RSS %.0f MiB; %s" % (
                    round_number + 1, restored, secs, restored / secs, memory.rss, cpu_line(used)))
    report.update(create_limit_per_s=round(median(creates), 1), create_concurrency=concurrency,
                  create_rounds_per_s=[round(r, 1) for r in creates], create_cpu=cpu_use.medians(cpu_rows["create"], median),
                  restore_cpu=cpu_use.medians(cpu_rows["restore"], median))
    if have_restore:
        report.update(restore_items=restored, restore_seconds=round(median(restore_seconds), 2),
                      module_restore_s=round(median(restore_seconds), 2), restore_per_s=round(median(restores), 1),
                      restore_rounds_per_s=[round(r, 1) for r in restores], **memory.fields("restore"))
        report["module_restore_per_s"] = report["restore_per_s"]
        report["restore_ratio"] = round(report["restore_per_s"] / report["create_limit_per_s"], 3)
        report.update(raw_restore_per_s=round(median(same_items), 1), raw_restore_rounds_per_s=[round(r, 1) for r in same_items],
                      raw_restore_cpu=cpu_use.medians(cpu_rows["raw_restore"], median))
        report["restore_same_items_ratio"] = round(report["restore_per_s"] / report["raw_restore_per_s"], 3)
        report.update(restore_round_ratios=[round(r / c, 3) for r, c in zip(restores, creates)],
                      restore_same_items_round_ratios=[round(r / c, 3) for r, c in zip(restores, same_items)])
        for style, key in (("collection", "playbook"), ("direct", "playbook_direct")):
            mapping = dict(zip(source_namespaces, namespaces("bench-%s-p%s" % (bench.run_id, style[0]), ns_count)))
            cpu.wait_quiet()
            restored, secs = playbook_bench.restore(bench.env, style, bench.location, backup_name, mapping)
            report.update({key + "_restore_s": round(secs, 2), key + "_restore_per_s": round(restored / secs, 1)})
            log("ansible-playbook (%s) restore: %d items in %.1fs (%.0f/s)" % (style, restored, secs, restored / secs))
        report["playbook_restore_ratio"] = round(report["playbook_restore_per_s"] / report["create_limit_per_s"], 3)
    else:
        report.update(restore_per_s=None, restore_ratio=None, restore_peak_rss_mib=None)

    if os.environ.get("BENCH_VELERO", "1") != "0" and have_restore:
        velero_part(bench, report, source_namespaces)

    # Peak RSS as the number of objects grows: one growing data set, one backup (and restore) per size.
    rss_by_n = {}
    grow = "bench-%s-grow" % bench.run_id
    seeded = 0
    for size in sorted(rss_sizes):
        bench.seed(grow, size, ns_count, start=seeded)
        seeded = size
        name = "bench-%s-rss-%d" % (bench.run_id, size)
        items, secs, backup_memory = bench.backup(name, grow)
        entry = dict(backup_items=items, backup_per_s=round(items / secs, 1), **backup_memory.fields("backup"))
        if have_restore:
            restored, secs, restore_memory = bench.restore(name, grow, "bench-%s-rr%d" % (bench.run_id, size),
                                                           ns_count)
            entry.update(restore_items=restored, **restore_memory.fields("restore"))
        rss_by_n[str(size)] = entry
        log("RSS at %d objects: %s" % (size, entry))
    report["rss_by_n"] = rss_by_n


def measure_fixed_cost(bench, cpu, backup_name, list_rate, backup_seconds):
    """One round's (raw LIST items/s, backup s, backup of nothing s, floor s), each after a quiet bed."""
    cpu.wait_quiet()
    empty_items, empty_seconds, _memory = bench.backup(backup_name + "-nothing", "bench-%s-none" % bench.run_id,
                                                       sample_tree=False)
    if empty_items:
        raise RuntimeError("the backup of nothing backed up %d items" % empty_items)
    cpu.wait_quiet()
    return list_rate, backup_seconds, empty_seconds, fixed_split.floor_seconds()


def velero_part(bench, report, source_namespaces):
    """Real Velero on the same objects (velero_side.py), at its defaults and tuned. Ratios: Velero's seconds
    over kubedr's through the collection's playbook (how many times faster kubedr is, as users run both)."""
    velero = velero_side.run(bench.env, source_namespaces, "bench-%s-v" % bench.run_id, log, namespaces)
    report["velero"] = velero
    for label, prefix in (("default", "velero_"), ("tuned", "velero_tuned_")):
        figures = velero[label]
        report[prefix + "backup_s"] = figures["backup_s"]
        report[prefix + "restore_s"] = figures["restore_s"]
        report[prefix + "backup_ratio"] = round(figures["backup_s"] / report["playbook_backup_s"], 2)
        report[prefix + "restore_ratio"] = round(figures["restore_s"] / report["playbook_restore_s"], 2)


if __name__ == "__main__":
    main()
