"""The uploaders side by side, in the same run as the rest of `make bench` (issue 17, item 5):

(a) kopia through kubedr's node agent (k8s_backup with ``uploader_type: kopia``, the whole module
    process: start-up, the resources, the exec into the node-agent pod, the records) against plain
    kopia on the same data (``kopia repository create`` then ``kopia snapshot create``, which is what
    the node agent runs too);
(b) kopia against restic, both plain CLIs on the same data and the same MinIO: random data
    (incompressible, nothing to deduplicate) and many small files. For each: backup time,
    repository size (bytes under its prefix in the bucket) and the CLI's peak memory (its maxrss,
    from GNU time, which forks it from a 2 MiB process: a parent's resident size is carried into a
    child's maxrss).

Every measurement writes into a fresh repository (its own prefix, deleted once measured), so none
deduplicates against another. Rounds alternate which side goes first; medians are compared.
Secrets reach the CLIs through their environment only.

Knobs: BENCH_UPLOADER_MIB (random data, MiB; default 1024; 0 skips it and part a),
BENCH_SMALL_FILES (default 100000; 0 skips), BENCH_SMALL_FILE_BYTES (default 1024),
BENCH_UPLOADER_ROUNDS (default 3).
"""
import datetime
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import boto3
from botocore.config import Config

from volume_bench import make_volume, start_node_agent

from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient

from testbed import wait_for

GNU_TIME = "/usr/bin/time"
FILES_PER_DIR = 1000


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def make_small_files(directory, count, size):
    """``count`` files of ``size`` random bytes, FILES_PER_DIR to a directory."""
    for index in range(count):
        sub = os.path.join(directory, "d%04d" % (index // FILES_PER_DIR))
        if index % FILES_PER_DIR == 0:
            os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "f%06d" % index), "wb") as handle:
            handle.write(os.urandom(size))


def measured(argv, env, cwd=None):
    """Run a CLI under GNU time; returns (seconds, peak RSS MiB, stdout). Raises on failure."""
    with tempfile.NamedTemporaryFile(prefix="bench-time-") as report:
        started = time.time()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", report.name] + argv, cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        seconds = time.time() - started
        if proc.returncode != 0:
            raise RuntimeError("%s %s failed (%d): %s" % (argv[0], argv[1:3], proc.returncode,
                                                          proc.stderr.decode("utf-8", "replace")[-1500:]))
        maxrss_kib = int(open(report.name).read().split()[-1])
    return seconds, round(maxrss_kib / 1024.0, 1), proc.stdout


def version(binary):
    argv = [binary, "version"] if binary == "restic" else [binary, "--version"]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                          text=True).stdout.strip().splitlines()[0]


class Bucket(object):
    """The bench's MinIO bucket: bytes under a prefix, and deleting it."""

    def __init__(self, env):
        self.name = env["KUBEDR_S3_BUCKET"]
        self.client = boto3.client("s3", endpoint_url=env["KUBEDR_S3_ENDPOINT"], region_name="us-east-1",
                                   aws_access_key_id=env["KUBEDR_S3_ACCESS_KEY"],
                                   aws_secret_access_key=env["KUBEDR_S3_SECRET_KEY"],
                                   config=Config(s3={"addressing_style": "path"}))

    def objects(self, prefix):
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            yield from page.get("Contents") or ()

    def size(self, prefix):
        return sum(entry["Size"] for entry in self.objects(prefix))

    def record_seconds(self, prefix, backup):
        """Seconds from start to completion of a backup's one PodVolumeBackup record (whole seconds:
        the volume's part of the module's run, connect and create included)."""
        key = "%s/backups/%s/%s-podvolumebackups.json.gz" % (prefix, backup, backup)
        [record] = json.loads(gzip.decompress(self.client.get_object(Bucket=self.name, Key=key)["Body"].read()))
        status = record["status"]
        return int((parse_time(status["completionTimestamp"]) - parse_time(status["startTimestamp"])).total_seconds())

    def delete(self, prefix):
        keys = [{"Key": entry["Key"]} for entry in self.objects(prefix)]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.name, Delete={"Objects": keys[start:start + 1000]})


class Kopia(object):
    """Plain kopia on an S3 prefix, a fresh configuration and cache per repository."""

    name = "kopia"

    def __init__(self, env, password):
        endpoint = env["KUBEDR_S3_ENDPOINT"]
        self.endpoint = endpoint.split("://", 1)[-1]
        self.tls = endpoint.startswith("https://")
        self.bucket = env["KUBEDR_S3_BUCKET"]
        self.env = dict(os.environ, KOPIA_PASSWORD=password, AWS_ACCESS_KEY_ID=env["KUBEDR_S3_ACCESS_KEY"],
                        AWS_SECRET_ACCESS_KEY=env["KUBEDR_S3_SECRET_KEY"], KOPIA_CHECK_FOR_UPDATES="false")
        self.work = None

    def _global(self):
        return ["kopia", "--config-file=" + os.path.join(self.work, "repository.config"), "--no-progress",
                "--disable-file-logging"]

    def init(self, prefix):
        """Create the repository (and connect to it); returns its seconds and peak MiB."""
        self.work = tempfile.mkdtemp(prefix="bench-kopia-")
        storage = ["s3", "--bucket=" + self.bucket, "--prefix=" + prefix + "/", "--endpoint=" + self.endpoint,
                   "--cache-directory=" + os.path.join(self.work, "cache")]
        if not self.tls:
            storage.append("--disable-tls")
        seconds, peak, _out = measured(self._global() + ["repository", "create"] + storage, self.env)
        return seconds, peak

    def backup(self, directory):
        seconds, peak, _out = measured(self._global() + ["snapshot", "create", ".", "--json"], self.env, cwd=directory)
        return seconds, peak

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)


class Restic(object):
    """Plain restic on an S3 prefix, a fresh cache per repository."""

    name = "restic"

    def __init__(self, env, password):
        self.url = "s3:%s/%s" % (env["KUBEDR_S3_ENDPOINT"], env["KUBEDR_S3_BUCKET"])
        self.env = dict(os.environ, RESTIC_PASSWORD=password, AWS_ACCESS_KEY_ID=env["KUBEDR_S3_ACCESS_KEY"],
                        AWS_SECRET_ACCESS_KEY=env["KUBEDR_S3_SECRET_KEY"])
        self.work = self.repo = None

    def _global(self):
        return ["restic", "-r", self.repo, "--cache-dir", os.path.join(self.work, "cache"), "--quiet"]

    def init(self, prefix):
        self.work = tempfile.mkdtemp(prefix="bench-restic-")
        self.repo = "%s/%s" % (self.url, prefix)
        seconds, peak, _out = measured(self._global() + ["init"], self.env)
        return seconds, peak

    def backup(self, directory):
        seconds, peak, _out = measured(self._global() + ["backup", ".", "--host", "bench", "--json"], self.env,
                                       cwd=directory)
        return seconds, peak

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)


def compare_tools(bucket, base, directory, tools, rounds, log, label):
    """kopia against restic on one data set: per tool, the medians over ``rounds`` alternated runs."""
    runs = dict((tool.name, []) for tool in tools)
    for round_number in range(rounds):
        for tool in (tools if round_number % 2 == 0 else tools[::-1]):
            prefix = "%s/%s-%s-%d" % (base, label, tool.name, round_number)
            init_secs, _init_peak = tool.init(prefix)
            try:
                seconds, peak = tool.backup(directory)
            finally:
                tool.close()
            size = bucket.size(prefix + "/")
            bucket.delete(prefix + "/")
            runs[tool.name].append((seconds, peak, size, init_secs))
            log("%s, %s, round %d: backup %.2fs, peak %.0f MiB, repository %.1f MB (init %.2fs)"
                % (label, tool.name, round_number + 1, seconds, peak, size / 1e6, init_secs))
    figures = {}
    for name, entries in runs.items():
        figures[name] = {
            "backup_seconds": round(median([e[0] for e in entries]), 2),
            "backup_rounds_seconds": [round(e[0], 2) for e in entries],
            "peak_rss_mib": round(median([e[1] for e in entries]), 1),
            "repository_bytes": int(median([e[2] for e in entries])),
            "init_seconds": round(median([e[3] for e in entries]), 2),
        }
    figures["kopia_time_over_restic"] = round(figures["kopia"]["backup_seconds"] / figures["restic"]["backup_seconds"], 3)
    figures["kopia_size_over_restic"] = round(
        figures["kopia"]["repository_bytes"] / float(max(1, figures["restic"]["repository_bytes"])), 3)
    figures["kopia_memory_over_restic"] = round(figures["kopia"]["peak_rss_mib"] / figures["restic"]["peak_rss_mib"], 3)
    return figures


class VolumePod(object):
    """A pod with an emptyDir volume "data" annotated for file-system backup, in a namespace of its
    own; ``directory`` is where the node agent finds the volume's files."""

    def __init__(self, kube, host_pods, run_id):
        self.kube = kube
        self.namespace = "bench-kopia-" + run_id
        node = sorted(n["metadata"]["name"] for n in kube.get("/api/v1/nodes")["items"])[0]
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": self.namespace}})
        kube.request("POST", "/api/v1/namespaces/%s/pods" % self.namespace, body={
            "metadata": {"name": "vol", "annotations": {"backup.velero.io/backup-volumes": "data"}},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}],
                     "volumes": [{"name": "data", "emptyDir": {}}]}})
        pod = wait_for(self._running, what="the bench's volume pod running")
        self.directory = os.path.join(host_pods, pod["metadata"]["uid"], "volumes", "kubernetes.io~empty-dir", "data")
        os.makedirs(self.directory)

    def _running(self):
        pod = self.kube.get("/api/v1/namespaces/%s/pods/vol" % self.namespace)
        return pod if (pod.get("status") or {}).get("phase") == "Running" else None

    def delete(self):
        shutil.rmtree(os.path.dirname(os.path.dirname(os.path.dirname(self.directory))), ignore_errors=True)
        self.kube.request("DELETE", "/api/v1/namespaces/" + self.namespace)


def node_agent_against_plain(bucket, base, location, pod, agent, host_pods, password, rounds, run_module, env, log):
    """Part a: seconds of k8s_backup (uploader_type kopia) and of plain kopia create + snapshot."""
    kopia = Kopia(env, password)
    agent_secs, plain_secs, agent_peaks, volume_secs = [], [], [], []
    for round_number in range(rounds):
        for side in (("plain", "node_agent") if round_number % 2 == 0 else ("node_agent", "plain")):
            prefix = "%s/na-%s-%d" % (base, side, round_number)
            if side == "plain":
                init_secs, _peak = kopia.init(prefix + "/kopia/" + pod.namespace)
                try:
                    seconds, _peak = kopia.backup(pod.directory)
                finally:
                    kopia.close()
                plain_secs.append(init_secs + seconds)
                log("kopia plain, round %d: create %.2fs + snapshot %.2fs" % (round_number + 1, init_secs, seconds))
            else:
                args = dict(kubeconfig=env["KUBECONFIG"], name="bench-kopia-%d" % round_number,
                            storage_location=dict(location, prefix=prefix), included_namespaces=[pod.namespace],
                            uploader_type="kopia", repository_password=password,
                            node_agent={"namespace": agent, "host_pods_path": host_pods})
                result, seconds, memory = run_module("k8s_backup", args)
                [volume] = result["pod_volumes"]
                if volume["phase"] != "Completed":
                    raise RuntimeError("the bench's kopia volume backup failed: %s" % volume)
                agent_secs.append(seconds)
                agent_peaks.append(memory.rss)
                volume_secs.append(bucket.record_seconds(prefix, args["name"]))
                log("kopia through the node agent (k8s_backup), round %d: %.2fs (the volume: %ss by its record)"
                    % (round_number + 1, seconds, volume_secs[-1]))
            bucket.delete(prefix + "/")
    plain, through_agent = median(plain_secs), median(agent_secs)
    return {"plain_seconds": round(plain, 2), "plain_rounds_seconds": [round(s, 2) for s in plain_secs],
            "node_agent_seconds": round(through_agent, 2), "node_agent_rounds_seconds": [round(s, 2) for s in agent_secs],
            "node_agent_module_peak_rss_mib": round(median(agent_peaks), 1),
            "node_agent_volume_rounds_seconds": volume_secs,
            "ratio": round(plain / through_agent, 3)}  # node agent throughput over plain kopia's


def run(env, location, log, run_module):
    """Returns the ``uploaders`` part of bench-results.json."""
    mib = int(os.environ.get("BENCH_UPLOADER_MIB", "1024"))
    small_files = int(os.environ.get("BENCH_SMALL_FILES", "100000"))
    small_size = int(os.environ.get("BENCH_SMALL_FILE_BYTES", "1024"))
    rounds = max(1, int(os.environ.get("BENCH_UPLOADER_ROUNDS", "3")))
    run_id = uuid.uuid4().hex[:6]
    base = "%s/uploaders-%s" % (location["prefix"], run_id)
    password = uuid.uuid4().hex
    bucket = Bucket(env)
    host_pods = env["KUBEDR_HOST_PODS_DIR"]
    report = {"rounds": rounds, "kopia_version": version("kopia"), "restic_version": version("restic")}
    tools = [Kopia(env, password), Restic(env, password)]
    kube = KubeClient({"kubeconfig": env["KUBECONFIG"]})
    scratch = tempfile.mkdtemp(prefix="bench-small-files-", dir=host_pods)
    pod = agent = None
    try:
        if mib:
            agent, _settings, _pod_name = start_node_agent(kube, host_pods)
            pod = VolumePod(kube, host_pods, run_id)
            log("writing %d MiB of random data" % mib)
            make_volume(pod.directory, mib)
            report["node_agent_kopia"] = dict(node_agent_against_plain(
                bucket, base, location, pod, agent, host_pods, password, rounds, run_module, env, log), volume_mib=mib)
            report["random"] = dict(compare_tools(bucket, base, pod.directory, tools, rounds, log, "random"),
                                    mib=mib)
        if small_files:
            log("writing %d files of %d random bytes" % (small_files, small_size))
            make_small_files(scratch, small_files, small_size)
            report["small_files"] = dict(compare_tools(bucket, base, scratch, tools, rounds, log, "small-files"),
                                         files=small_files, file_bytes=small_size)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if pod is not None:
            pod.delete()
        if agent is not None:
            kube.request("DELETE", "/api/v1/namespaces/" + agent)
        bucket.delete(base + "/")
    return report
