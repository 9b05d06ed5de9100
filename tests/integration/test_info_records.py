"""What a user reads about backups and restores, on the real test bed: k8s_backup_info's filters
(schedule, phase, labels, newest), the backups that are not committed (one running, held by its
pre hook; one that failed because the location refused its archive), ``details`` (pod volumes,
items per namespace, hooks and their outcome), and k8s_restore_info (restores listed, filtered,
described with their log, results and resource list)."""
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import testbed
from test_backup_support import assert_ok, configmap, delete_prefix, run_backup, run_info, s3_location
from test_backup_volumes import db_pod
from test_fs_backup_engine import node_agent  # noqa: F401 pylint: disable=unused-import
from test_restore_support import doomed_namespaces, run_restore  # noqa: F401 pylint: disable=unused-import

PASSWORD = "info-records-" + uuid.uuid4().hex
NIGHTLY = {"velero.io/schedule-name": "nightly"}


@pytest.fixture
def location(storage_location, s3):
    location = s3_location(storage_location, "info-records")
    yield location
    delete_prefix(s3, location)


class RefusingS3(object):
    """A forwarder in front of MinIO that refuses (403 AccessDenied, as a bucket policy would) every
    PUT of a backup archive (``*.tar.gz``) and passes everything else through unchanged (the
    signature covers the Host header, which is kept)."""

    def __init__(self, endpoint):
        target = urllib.parse.urlparse(endpoint)
        refused = self.refused = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urllib.parse.urlparse(self.path).path
                if self.command == "PUT" and path.endswith(".tar.gz"):
                    refused.append(path)
                    message = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                               b'<Message>Access Denied.</Message></Error>')
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                    return
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ("expect", "connection"))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


GC_LISTING_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: List the expired backups
      kubedr.backup.k8s_backup_info:
        storage_location: "{{ location }}"
        schedule: "{{ kubedr_schedule_name | default(omit, true) }}"
        label_selector: "{{ {'matchLabels': kubedr_gc_label_selector} if kubedr_gc_label_selector | default({}) else omit }}"
        expired: true
      register: kubedr_gc_listing
    - ansible.builtin.debug:
        msg: "expired: {{ kubedr_gc_listing.backups | map(attribute='name') | list }}"
"""


def start_backup(bed, location, name, **options):
    """k8s_backup started in the background, as Ansible runs it; returns the process."""
    testbed.ensure_collection_path()
    args = dict(options, name=name, storage_location=location, kubeconfig=bed["KUBECONFIG"],
                _ansible_check_mode=False, _ansible_diff=False)
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.kubedr.backup.plugins.modules.k8s_backup"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=testbed.module_env())
    proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc.stdin.close()
    proc.stdin = None  # sent whole: communicate() later only reads
    return proc


def by_name(listing, key="backups"):
    return dict((entry["name"], entry) for entry in listing[key])


def test_backup_listing_filters_uncommitted_and_details(bed, core_v1, namespace, location, node_agent,  # noqa: F811
                                                         tmp_path):
    configmap(core_v1, namespace, "settings", {"app": "shop"})
    pod, directory = db_pod(bed, core_v1, namespace, {
        "backup.velero.io/backup-volumes": "data",
        "pre.hook.backup.velero.io/command": json.dumps(["/bin/sh", "-c", "echo frozen"]),
        "post.hook.backup.velero.io/command": json.dumps(["/bin/sh", "-c", "echo cannot thaw >&2; exit 3"]),
        "post.hook.backup.velero.io/on-error": "Continue",
    }, [{"name": "data", "emptyDir": {}}])
    with open(os.path.join(directory, "table.dat"), "wb") as handle:
        handle.write(os.urandom(256 * 1024))
    agent = {"namespace": node_agent.namespace, "host_pods_path": node_agent.host_pods_path}
    with_volume = assert_ok(run_backup(bed, location, "nightly-20240101020000", included_namespaces=[namespace],
                                       labels=NIGHTLY, repository_password=PASSWORD, node_agent=agent))
    assert with_volume["phase"] == "Completed", with_volume["backup_errors"]
    assert_ok(run_backup(bed, location, "nightly-20240102020000", included_namespaces=[namespace],
                         included_resources=["configmaps"], labels=dict(NIGHTLY, tier="gold")))
    assert_ok(run_backup(bed, location, "manual", included_namespaces=[namespace], included_resources=["configmaps"],
                         labels={"tier": "gold"}, ttl="1s"))  # expired at once

    # A backup whose location refuses its archive: Failed, never committed, its log and results kept.
    with RefusingS3(location["endpoint_url"]) as refusing:
        failed = run_backup(bed, dict(location, endpoint_url=refusing.endpoint), "refused",
                            included_namespaces=[namespace], included_resources=["configmaps"])
    assert failed.failed and failed["phase"] == "Failed" and refusing.refused, failed.get("msg")

    # A backup held in its pre hook: running, seen by name and by include_uncommitted.
    release = tmp_path / "release"
    slow_ns = namespace + "-slow"
    core_v1.create_namespace({"metadata": {"name": slow_ns}})
    try:
        core_v1.create_namespaced_pod(slow_ns, {
            "metadata": {"name": "slow", "annotations": {"pre.hook.backup.velero.io/command": json.dumps(
                ["/bin/sh", "-c", "while [ ! -e %s ]; do sleep 0.1; done" % release])}},
            "spec": {"nodeName": pod.spec.node_name, "containers": [{"name": "main", "image": "busybox"}]}})
        testbed.wait_for(lambda: core_v1.read_namespaced_pod("slow", slow_ns).status.phase == "Running",
                         what="pod slow running")
        running = start_backup(bed, location, "nightly-20240103020000", included_namespaces=[slow_ns], labels=NIGHTLY)
        try:
            # Listed from its lease first (phase New), then from its progress object once written.
            seen = testbed.wait_for(lambda: (by_name(assert_ok(run_info(location, include_uncommitted=True))).get(
                "nightly-20240103020000") or {}).get("progress") and by_name(assert_ok(run_info(
                    location, include_uncommitted=True)))["nightly-20240103020000"], timeout=60,
                what="the running backup listed with its progress")
            assert (seen["phase"], seen["committed"], seen["progress"]["phase"]) == ("InProgress", False, "InProgress")
            # Not committed: not in the default listing; its schedule (by its name) and phase select it.
            assert "nightly-20240103020000" not in by_name(assert_ok(run_info(location)))
            live = assert_ok(run_info(location, include_uncommitted=True, schedule="nightly",
                                      phase=["InProgress", "Uploading"]))
            assert list(by_name(live)) == ["nightly-20240103020000"]
            # A progress object older than stale_after reads as a dead run.

            def dead():
                described = assert_ok(run_info(location, name="nightly-20240103020000", stale_after="1s"))["backup"]
                return described if described["phase"] == "Unknown" else None
            stale = testbed.wait_for(dead, timeout=30, what="the backup read as Unknown")
            assert "the run seems dead" in stale["notes"][0]
        finally:
            release.write_text("go")
            out, err = running.communicate(timeout=120)
        assert json.loads(out)["phase"] == "Completed", err[-2000:]
    finally:
        core_v1.delete_namespace(slow_ns)

    # Listing: committed only by default, oldest first; the filters.
    listed = assert_ok(run_info(location))["backups"]
    expected = ["manual", "nightly-20240101020000", "nightly-20240102020000", "nightly-20240103020000"]
    assert sorted(b["name"] for b in listed) == expected
    # Oldest first; two backups started in the same second (timestamps are whole seconds) by completion, then name.
    assert listed == sorted(listed, key=lambda b: (b["start_timestamp"], b["completion_timestamp"], b["name"]))
    assert list(by_name(assert_ok(run_info(location, schedule="nightly", newest=2)))) == [
        "nightly-20240102020000", "nightly-20240103020000"]
    assert list(by_name(assert_ok(run_info(location, label_selector="tier=gold,velero.io/schedule-name")))) == [
        "nightly-20240102020000"]
    everything = by_name(assert_ok(run_info(location, include_uncommitted=True, phase="Failed")))
    assert list(everything) == ["refused"]
    refused = everything["refused"]
    assert refused["committed"] is False and refused["error_count"] == 1
    assert "AccessDenied" in refused["failure_reason"] or "Access Denied" in refused["failure_reason"]

    # The task the gc playbook can use: its label dict and schedule as filters, expired ones only.
    play = tmp_path / "gc-listing.yml"
    play.write_text(GC_LISTING_PLAY)
    proc = testbed.run_playbook(str(play), {"location": location, "kubedr_gc_label_selector": {"tier": "gold"}})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "expired: ['manual']" in proc.stdout, proc.stdout[-3000:]
    assert location["secret_key"] not in proc.stdout

    # The failed backup, described: its log and results say why.
    described = assert_ok(run_info(location, name="refused", logs=True, results=True))["backup"]
    assert described["phase"] == "Failed"
    assert any('msg="Backup failed"' in line for line in described["logs"])
    assert described["results"]["errors"]["velero"][0].startswith("backup failed: ")

    # --details: the pod volume, the items per namespace, the hooks and their outcome.
    detailed = assert_ok(run_info(location, name="nightly-20240101020000", details=True))["backup"]["details"]
    [volume] = detailed["volumes"]
    assert (volume["namespace"], volume["pod"], volume["volume"], volume["phase"], volume["error"]) == (
        namespace, "db", "data", "Completed", None)
    assert volume["snapshot_id"] == with_volume["pod_volumes"][0]["snapshot_id"]
    assert volume["bytes"] >= 256 * 1024 and volume["duration_seconds"] >= 0
    assert detailed["volume_totals"]["per_phase"] == {"Completed": 1}
    assert detailed["resources_per_namespace"][namespace]["v1/ConfigMap"] >= 1
    assert detailed["resources_per_namespace"][namespace]["v1/Pod"] == 1
    hooks = [(h["pod"], h["phase"], h["outcome"], h["on_error"]) for h in detailed["hooks"]]
    assert hooks == [("db", "pre", "ok", None), ("db", "post", "failed", "Continue")]
    assert "cannot thaw" in detailed["hooks"][1]["message"]
    assert PASSWORD not in json.dumps(detailed)


def test_restore_records_listed_filtered_and_described(bed, core_v1, namespace, location, doomed_namespaces):
    configmap(core_v1, namespace, "settings", {"app": "shop"})
    configmap(core_v1, namespace, "flags")
    assert_ok(run_backup(bed, location, "nightly-20240101020000", included_namespaces=[namespace], labels=NIGHTLY))
    assert_ok(run_backup(bed, location, "manual", included_namespaces=[namespace]))
    target = namespace[:50] + "-r"
    doomed_namespaces(target, target + "2")
    done = assert_ok(run_restore(bed, location, backup_name="nightly-20240101020000", name="first",
                                 namespace_mapping={namespace: target}))
    assert done["phase"] == "Completed"
    nobody = "system:serviceaccount:%s:nobody" % namespace
    denied = assert_ok(run_restore(bed, location, backup_name="manual", name="denied",
                                   namespace_mapping={namespace: target + "2"}, impersonate_user=nobody))
    assert denied["phase"] == "PartiallyFailed"

    listing = assert_ok(testbed.run_module("k8s_restore_info", {"storage_location": location}))
    restores = by_name(listing, "restores")
    assert sorted(restores) == ["denied", "first"]
    newest = max(listing["restores"], key=lambda r: (r["start_timestamp"], r["name"]))["name"]  # "denied" but for a tie
    first = restores["first"]
    assert (first["backup_name"], first["schedule"], first["phase"]) == ("nightly-20240101020000", "nightly", "Completed")
    assert first["item_counts"]["created"] == done["item_counts"]["created"] >= 3  # the namespace, two ConfigMaps
    # Its log's "Starting restore" line: after the archive was read, before the first item was written.
    assert done["start_timestamp"] <= first["start_timestamp"] <= first["completion_timestamp"]
    assert restores["denied"]["error_count"] == denied["error_count"] > 0

    def names(**filters):
        return list(by_name(assert_ok(testbed.run_module("k8s_restore_info", dict(filters, storage_location=location))),
                            "restores"))
    assert names(schedule="nightly") == ["first"]
    assert names(phase=["PartiallyFailed", "Failed"]) == ["denied"]
    assert names(backup_name="manual") == ["denied"]
    assert names(newest=1) == [newest]

    described = assert_ok(testbed.run_module("k8s_restore_info", {
        "storage_location": location, "name": "first", "logs": True, "results": True, "resource_list": True,
        "details": True}))["restore"]
    assert described["logs"][0].endswith("backup=nightly-20240101020000") and "Starting restore" in described["logs"][0]
    assert "%s/settings(created)" % target in described["resource_list"]["v1/ConfigMap"]
    assert described["item_counts"]["per_namespace"][target] == sum(
        described["details"]["resources_per_namespace"][target].values()) >= 2
    assert described["results"] == {"warnings": done["restore_warnings"], "errors": done["restore_errors"]}
    assert described["details"]["resources_per_namespace"][target]["v1/ConfigMap"] >= 2
    missing = testbed.run_module("k8s_restore_info", {"storage_location": location, "name": "nope"})
    assert missing.failed and "restore nope not found" in missing["msg"]
    bad = testbed.run_module("k8s_restore_info", {"storage_location": location, "phase": ["Complete"]})
    assert bad.failed and "Complete" in bad["msg"]
