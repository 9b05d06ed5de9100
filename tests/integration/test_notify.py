"""Webhook notifications as a user sees them: the collection's playbooks POST Slack-compatible JSON to a
local HTTP receiver (a thread here) at the end of a run, whether it succeeded or failed; the URL, which may
hold a token, comes from the environment (as the schedule role's CronJob passes it) and never shows in the
play's output; a receiver that refuses, or a Pushgateway nobody listens on, fails the play after the run."""
import base64
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from test_playbooks_support import delete_prefix, location_vars, playbook, recap, role, s3_env, unique
import test_schedule
from test_schedule import cronjob

schedule = test_schedule.schedule  # the fixture: a schedule's variables, its objects removed afterwards
TOKEN = "T000-" + uuid.uuid4().hex  # what a Slack incoming webhook URL holds


class Receiver(object):
    """An HTTP server on a free port recording each POST's path and JSON body."""

    def __init__(self, status=200):
        self.calls = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.calls.append((self.path, self.headers.get("Content-Type"), json.loads(body.decode())))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status == 200 else b"no_service")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/services/%s" % (self.server.server_port, TOKEN)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def location(storage_location, s3):
    location = location_vars(storage_location, "notify")
    yield location
    delete_prefix(s3, location)


def webhook_env(bed, url):
    return dict(s3_env(bed), KUBEDR_WEBHOOK_URL=url)


def test_a_completed_and_a_failed_backup_are_posted(bed, core_v1, namespace, location):
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    name = unique("notify")
    with Receiver() as receiver:
        done = playbook(bed, "kubedr.backup.backup", {"kubedr_storage_location": location, "kubedr_backup_name": name,
                                                      "kubedr_included_namespaces": [namespace], "kubedr_poll_interval": 1},
                        env=webhook_env(bed, receiver.url)).stdout
        failed = playbook(bed, "kubedr.backup.backup", {"kubedr_storage_location": location, "kubedr_backup_name": name + "-x",
                                                        "kubedr_ttl": "soon", "kubedr_included_namespaces": [namespace],
                                                        "kubedr_poll_interval": 1},
                          env=webhook_env(bed, receiver.url), expect_ok=False).stdout

    assert len(receiver.calls) == 2
    (path, content_type, message), (_path, _type, failure) = receiver.calls
    assert path == "/services/" + TOKEN and content_type == "application/json"
    assert message["text"].startswith("kubedr backup %s: Completed (" % name), message
    assert " items, 0 warnings, 0 errors)" in message["text"]
    assert message["blocks"][0]["text"]["text"].startswith("*kubedr backup %s: Completed*" % name)
    assert message["blocks"][1]["text"]["text"] == "No errors."
    assert "Webhook: notified (HTTP 200)" in done

    assert recap(failed).get("failed") == 1
    assert failure["text"].startswith("kubedr backup %s-x: Failed" % name), failure
    assert "First errors: " in failure["text"] and "ttl 'soon' is not a duration" in failure["text"]
    assert "ttl 'soon' is not a duration" in failure["blocks"][1]["text"]["text"]
    for output in (done, failed):
        assert TOKEN not in output


def test_publishing_failures_fail_the_play_after_the_run(bed, location):
    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))
    unused = "http://127.0.0.1:%d" % gone.getsockname()[1]
    gone.close()
    with Receiver(status=500) as receiver:
        output = playbook(bed, "kubedr.backup.gc", {"kubedr_storage_location": location, "kubedr_pushgateway_url": unused},
                          env=webhook_env(bed, receiver.url), expect_ok=False).stdout
    assert recap(output).get("failed") == 1, output[-3000:]
    assert "0 of 0 backups expired" in output  # the run itself went through
    assert len(receiver.calls) == 1 and receiver.calls[0][2]["text"].startswith("kubedr gc ")
    assert "the metrics were not published: cannot reach the Pushgateway at %s" % unused in output
    assert "the webhook call failed: Status code was 500" in output, output[-3000:]
    assert TOKEN not in output


def test_the_schedule_role_passes_the_webhook_url_as_a_secret(bed, api_client, core_v1, schedule):
    url = "https://hooks.example.com/services/" + TOKEN
    role(bed, "schedule", dict(schedule, schedule_webhook_url=url, schedule_pushgateway_url="http://pushgateway:9091",
                               schedule_pushgateway_grouping={"cluster": "prod"}))
    (container,) = cronjob(api_client, schedule).spec.job_template.spec.template.spec.containers
    playbook_vars = json.loads(container.command[container.command.index("-e") + 1])
    assert playbook_vars["kubedr_pushgateway_url"] == "http://pushgateway:9091"
    assert playbook_vars["kubedr_pushgateway_grouping"] == {"cluster": "prod"}
    assert TOKEN not in json.dumps(container.command)
    (webhook,) = [entry for entry in container.env if entry.name == "KUBEDR_WEBHOOK_URL"]
    ref = webhook.value_from.secret_key_ref
    secret = core_v1.read_namespaced_secret(ref.name, schedule["schedule_namespace"])
    assert base64.b64decode(secret.data[ref.key]).decode() == url
