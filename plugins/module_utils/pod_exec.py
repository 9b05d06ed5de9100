# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""Run a command in a pod's container through the API server's exec endpoint
(the Python client's websocket stream) and return its exit status and output.

The exit status is read from the exec status channel. A kubelet reports a non-zero
exit as `reason: NonZeroExitCode` with the code in `details.causes`. kwok (the test
bed's kubelet) reports it as a plain Failure whose message ends in `exit status N`
(it wraps the process error before the streaming server can see the code); both
forms are read here, so a non-zero exit is never mistaken for a transport error.
"""

import json
import re
import time

from ansible_collections.kubedr.backup.plugins.module_utils.errors import ClusterError

ERROR_CHANNEL = 3  # the exec protocol's status channel (kubernetes.stream.ws_client.ERROR_CHANNEL)

_KWOK_EXIT_STATUS = re.compile(r"exit status (\d+)\s*$")


class ExecResult(object):
    """How an exec'd command ended: rc, stdout and stderr (text)."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "ExecResult(rc=%r, stdout=%d chars, stderr=%d chars)" % (self.rc, len(self.stdout), len(self.stderr))


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


def exec_in_pod(api_client, namespace, pod, command, container=None, stdin=None, timeout=3600):
    """Run `command` (a list) in the pod and wait for it; returns ExecResult.

    stdin, when given, is written to the command's standard input (bytes or text);
    secrets travel this way or through the container's environment, never in argv."""
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
    deadline = time.time() + timeout
    try:
        if stdin is not None:
            ws.write_stdin(stdin)
        while ws.is_open():
            ws.update(timeout=1)
            if ws.peek_stdout():
                out.append(ws.read_stdout())
            if ws.peek_stderr():
                err.append(ws.read_stderr())
            if time.time() > deadline:
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
