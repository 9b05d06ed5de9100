# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a command in a pod's container through the API server's exec endpoint and return its
exit status and output.

The exec goes over a websocket of our own (``WebSocketExec``: the connection settings, the
``websocket-client`` package) with every header of the connection, impersonation included.
Users whose kubeconfig needs a credential plugin are connected by the kubernetes package, and
their exec goes through its stream, which sends the Authorization header and no other.

The exit status is read from the exec status channel. A kubelet reports a non-zero
exit as `reason: NonZeroExitCode` with the code in `details.causes`. kwok (the test
bed's kubelet) reports it as a plain Failure whose message ends in `exit status N`
(it wraps the process error before the streaming server can see the code); both
forms are read here, so a non-zero exit is never mistaken for a transport error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from urllib.parse import quote, urlencode
except ImportError:  # Python 2 is not supported; the import only keeps sanity's compile tests quiet
    from urllib import quote, urlencode

from ansible_collections.kubedr.backup.plugins.module_utils.common import cancel
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import Deadline

STDIN_CHANNEL, STDOUT_CHANNEL, STDERR_CHANNEL = 0, 1, 2
ERROR_CHANNEL = 3  # the exec protocol's status channel (kubernetes.stream.ws_client.ERROR_CHANNEL)
# The channel protocols the API server speaks: one byte of channel, then the data, per message.
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
CONNECT_TIMEOUT = 30
CANCEL_CHECK_INTERVAL = 1.0  # seconds: how soon a running command notices a cancellation

_KWOK_EXIT_STATUS = re.compile(r"exit status (\d+)\s*$")


class ExecResult(object):
    """How an exec'd command ended: rc, stdout and stderr (text)."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "ExecResult(rc=%r, stdout=%d chars, stderr=%d chars)" % (self.rc, len(self.stdout), len(self.stderr))


def stopped_with_stream(command_line):
    """Shell lines that run ``command_line`` (already quoted) in the background and stop it with
    SIGTERM when the exec's standard input ends, then exit with its status. The script must have
    kept its standard input as fd 3 (``exec 3<&0``). Runtimes do not stop an exec'd command when
    its stream goes away: without this, a cancelled run would leave it running in the pod."""
    return [
        command_line + " </dev/null &",
        "command_pid=$!",
        '{ cat >/dev/null; kill -TERM "$command_pid"; } <&3 >/dev/null 2>&1 &',
        "watcher_pid=$!",
        "exec 3<&-",
        'set +e; wait "$command_pid"; status=$?',
        'kill "$watcher_pid" 2>/dev/null',
        'exit "$status"',
    ]


def exit_status_from_channel(status_text):
    """The exit code carried by the exec status channel (a metav1.Status as JSON).

    Returns an int, or raises ClusterError when the status is a failure that is not
    a command's exit (the command could not be run at all)."""
    if not status_text:
        raise ClusterError("exec ended without a status from the API server (connection lost?)")
    try:
        status = json.loads(status_text)
    except ValueError:
        raise ClusterError("exec returned an unreadable status: %r" % status_text[:200])
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message"))
    match = _KWOK_EXIT_STATUS.search(status.get("message") or "")
    if match:
        return int(match.group(1))
    raise ClusterError("exec failed: %s" % (status.get("message") or status.get("reason") or status_text[:200]))


class WebSocketExec(object):
    """Pod exec over a websocket of our own, from the connection settings (``kube_config``):
    the same TLS context, proxy, token and impersonation headers as every other request."""

    def __init__(self, settings, ssl_context=None):
        self.settings = settings
        self.ssl_context = ssl_context

    def url(self, namespace, pod, command, container=None, stdin=False):
        query = [("command", part) for part in command]
        if container:
            query.append(("container", container))
        query += [("stdin", "true" if stdin else "false"), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
        host = self.settings.host
        scheme = "wss://" if host.startswith("https://") else "ws://"
        return "%s%s/api/v1/namespaces/%s/pods/%s/exec?%s" % (
            scheme, host.split("://", 1)[1], quote(namespace, safe=""), quote(pod, safe=""), urlencode(query))

    def headers(self):
        """Header lines of the upgrade request: the settings' (impersonation, a line per group) and
        the current token (a rotated token file is read again)."""
        lines = ["%s: %s" % (name, value) for name, value in self.settings.headers]
        authorization = self.settings.authorization()
        if authorization:
            lines.append("Authorization: %s" % authorization)
        return lines

    def connect_options(self):
        # The connection and the upgrade's answer wait at most the connection settings' timeouts
        # (api_connect_timeout + api_read_timeout); the command itself, at most its own timeout.
        options = {"header": self.headers(), "subprotocols": list(CHANNEL_PROTOCOLS),
                   "timeout": getattr(self.settings, "connect_timeout", CONNECT_TIMEOUT)
                   + getattr(self.settings, "read_timeout", 0)}
        proxy = self.settings.effective_proxy()
        if proxy:
            host, port, userinfo = _split_proxy(proxy)
            options.update(http_proxy_host=host, http_proxy_port=port, proxy_type="http")
            credentials = (self.settings.proxy_headers.get("proxy_basic_auth")
                           or self.settings.proxy_headers.get("basic_auth") or userinfo)
            if credentials:
                options["http_proxy_auth"] = tuple(credentials.split(":", 1))
        else:
            options["http_no_proxy"] = ["*"]  # the settings decided: no proxy from the environment either
        return options

    def run(self, namespace, pod, command, container=None, stdin=None, timeout=3600, on_stdout=None,
            cancellable=False):
        try:
            import websocket
        except ImportError:
            raise ClusterError("pod exec needs the Python 'websocket-client' package (pip install kubernetes)")
        sslopt = {"context": self.ssl_context} if self.ssl_context is not None else {}
        if self.ssl_context is not None and self.settings.tls_server_name:
            sslopt["server_hostname"] = self.settings.tls_server_name
        ws = websocket.WebSocket(sslopt=sslopt, skip_utf8_validation=True)
        where = "%s/%s" % (namespace, pod)
        try:
            ws.connect(self.url(namespace, pod, command, container, stdin is not None), **self.connect_options())
        except websocket.WebSocketBadStatusException as error:
            raise ClusterError("cannot exec into pod %s: HTTP %s" % (where, getattr(error, "status_code", "?")))
        except (websocket.WebSocketException, OSError) as error:
            raise ClusterError("cannot exec into pod %s through %s: %s" % (where, self.settings.host, str(error)[:300]))
        received = {STDOUT_CHANNEL: [], STDERR_CHANNEL: [], ERROR_CHANNEL: []}
        deadline = Deadline(timeout)
        try:
            if stdin is not None:
                ws.send_binary(bytes(bytearray([STDIN_CHANNEL])) + (stdin.encode("utf-8") if not isinstance(
                    stdin, bytes) else stdin))
            while True:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise websocket.WebSocketTimeoutException()
                if cancellable:
                    cancel.check()  # closing the stream ends the command (volumes/runner.py's pod_script)
                ws.settimeout(min(remaining, CANCEL_CHECK_INTERVAL))
                try:
                    opcode, data = ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    if deadline.remaining() <= 0:
                        raise
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if data and data[0] in received:
                    received[data[0]].append(data[1:])
                    if on_stdout is not None and data[0] == STDOUT_CHANNEL:
                        on_stdout(data[1:])  # live output (restic's status lines) while the command runs
        except websocket.WebSocketTimeoutException:
            raise ClusterError("command in pod %s did not finish within %ss" % (where, timeout))
        except websocket.WebSocketConnectionClosedException:
            pass  # the server closed without a close frame: what was received is all there is
        except (websocket.WebSocketException, OSError) as error:
            raise ClusterError("exec in pod %s failed: %s" % (where, str(error)[:300]))
        finally:
            ws.close()
        text = dict((channel, b"".join(parts).decode("utf-8", "replace")) for channel, parts in received.items())
        return ExecResult(exit_status_from_channel(text[ERROR_CHANNEL]), text[STDOUT_CHANNEL], text[STDERR_CHANNEL])


class RefusedExec(object):
    """The exec client of a connection that must not exec (see ``HttpTransport.exec_client``):
    every exec fails with the reason, reported where any failed exec is (per hook, per volume)."""

    def __init__(self, reason):
        self.reason = reason

    def run(self, namespace, pod, command, container=None, stdin=None, timeout=None, on_stdout=None,
            cancellable=False):
        raise ClusterError(self.reason)


def _split_proxy(proxy):
    """(host, port, "user:password" or None) of a proxy URL (``http://user:pw@proxy:3128``)."""
    netloc = proxy.split("://", 1)[-1].split("/", 1)[0]
    userinfo, _sep, hostport = netloc.rpartition("@")
    host, _sep, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        host, port = hostport, "80"
    return host.strip("[]"), int(port), userinfo or None


def exec_in_pod(api_client, namespace, pod, command, container=None, stdin=None, timeout=3600, on_stdout=None,
                cancellable=False):
    """Run `command` (a list) in the pod and wait for it; returns ExecResult. ``api_client`` is the
    KubeClient's ``exec_client``: a WebSocketExec, a RefusedExec, or a kubernetes-package ApiClient.

    stdin, when given, is written to the command's standard input (bytes or text);
    secrets travel this way or through the container's environment, never in argv.
    ``on_stdout(bytes)``, when given, sees the output as it arrives; ``cancellable``: a cancellation of
    the run (common/cancel.py) ends the stream (neither through the kubernetes package)."""
    if isinstance(api_client, (WebSocketExec, RefusedExec)):
        return api_client.run(namespace, pod, command, container=container, stdin=stdin, timeout=timeout,
                              on_stdout=on_stdout, cancellable=cancellable)
    # The kubernetes package (its websocket stream) is imported only when a pod exec is needed.
    try:
        from kubernetes.client import ApiClient, CoreV1Api
        from kubernetes.stream import stream
    except ImportError:
        raise ClusterError("pod exec needs the Python 'kubernetes' package (pip install kubernetes)")
    # kubernetes.stream.stream() swaps the ApiClient's request method while it connects,
    # which is not thread-safe: concurrent execs (and plain requests) on a shared client
    # can leave it permanently switched to websockets. Each exec gets a client of its own.
    private = ApiClient(configuration=api_client.configuration)
    private.default_headers.update(api_client.default_headers)
    core = CoreV1Api(private)
    kwargs = dict(command=command, stdout=True, stderr=True, stdin=stdin is not None, tty=False,
                  _preload_content=False)
    if container:
        kwargs["container"] = container
    try:
        ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    except Exception as e:
        raise ClusterError("cannot exec into pod %s/%s: %s" % (namespace, pod, _reason(e)))
    out, err = [], []
    deadline = Deadline(timeout)
    try:
        if stdin is not None:
            ws.write_stdin(stdin)
        while ws.is_open():
            ws.update(timeout=1)
            if ws.peek_stdout():
                out.append(ws.read_stdout())
            if ws.peek_stderr():
                err.append(ws.read_stderr())
            if deadline.expired():
                raise ClusterError("command in pod %s/%s did not finish within %ss" % (namespace, pod, timeout))
        out.append(ws.read_stdout() or "")
        err.append(ws.read_stderr() or "")
        status_text = ws.read_channel(ERROR_CHANNEL)
    finally:
        ws.close()
        private.close()
    return ExecResult(exit_status_from_channel(status_text), "".join(out), "".join(err))


def _reason(exc):
    """A short reason for an API exception, without headers or request bodies."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return "%s %s" % (status, reason or "")
    return str(exc)[:300]
