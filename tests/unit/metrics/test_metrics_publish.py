"""Pushing to a Pushgateway's HTTP API (a local HTTP server records what arrives) and the textfile."""
import base64
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.metrics import publish


class Recorder(BaseHTTPRequestHandler):
    received = []
    status = 200

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.received.append((self.command, self.path, dict(self.headers), body))
        self.send_response(self.status)
        self.end_headers()
        if self.status >= 400:
            self.wfile.write(b"pushed metrics are invalid or inconsistent with existing metrics")

    do_PUT = do_POST = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Recorder.received = []
    Recorder.status = 200
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()
    server.server_close()


def test_grouping_path_encodes_slashes_and_empty_values():
    assert publish.grouping_path("kubedr", {}) == "/metrics/job/kubedr"
    assert publish.grouping_path("kubedr", {"cluster": "prod eu"}) == "/metrics/job/kubedr/cluster/prod%20eu"
    encoded = base64.urlsafe_b64encode(b"s3://b/p").decode()
    assert publish.grouping_path("kubedr", {"location": "s3://b/p"}) == "/metrics/job/kubedr/location@base64/" + encoded
    assert publish.grouping_path("kubedr", {"x": ""}) == "/metrics/job/kubedr/x@base64/="


def test_put_and_post_with_basic_auth(gateway):
    pusher = publish.Pushgateway(gateway + "/", "kubedr", {"cluster": "prod"}, timeout=5,
                                 headers=publish.basic_auth_header("u", "p4ss"))
    assert pusher.push("a 1\n") == gateway + "/metrics/job/kubedr/cluster/prod"
    pusher.push("b 1\n", "POST", {"run": "gc"})
    (put, put_path, put_headers, put_body), (post, post_path, _headers, post_body) = Recorder.received
    assert (put, put_path, put_body) == ("PUT", "/metrics/job/kubedr/cluster/prod", "a 1\n")
    assert (post, post_path, post_body) == ("POST", "/metrics/job/kubedr/cluster/prod/run/gc", "b 1\n")
    assert put_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert put_headers["Authorization"] == "Basic " + base64.b64encode(b"u:p4ss").decode()


def test_a_refusal_names_the_status_and_the_gateways_reason(gateway):
    Recorder.status = 400
    with pytest.raises(publish.PushError, match=r"HTTP 400\): pushed metrics are invalid"):
        publish.Pushgateway(gateway).push("a 1\n")


def test_an_unreachable_gateway_is_a_clear_error():
    with pytest.raises(publish.PushError, match=r"cannot reach the Pushgateway at http://127.0.0.1:9 \(PUT, timeout 2s\)"):
        publish.Pushgateway("http://127.0.0.1:9", timeout=2).push("a 1\n")


def test_textfile_is_replaced_whole_and_readable_by_others(tmp_path):
    path = str(tmp_path / "kubedr.prom")
    publish.write_textfile(path, "# TYPE a gauge\na 1\n")
    publish.write_textfile(path, "# TYPE b gauge\nb 2\n")
    with open(path) as f:
        assert f.read() == "# TYPE b gauge\nb 2\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert os.listdir(str(tmp_path)) == ["kubedr.prom"]  # no temporary file left behind
