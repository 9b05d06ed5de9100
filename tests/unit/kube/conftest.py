"""A local HTTP server that answers ``{}`` and records the headers of every request it gets: what
the transport really sends."""
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


class Recorded(object):
    def __init__(self, url):
        self.url = url
        self.headers = []  # one email.message.Message per request


@pytest.fixture
def recording_server():
    recorded = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):
            recorded.append(self.headers)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    result = Recorded("http://127.0.0.1:%d" % server.server_port)
    result.headers = recorded
    try:
        yield result
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
