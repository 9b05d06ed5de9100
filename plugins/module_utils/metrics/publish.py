# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the metrics go: a Prometheus Pushgateway (its HTTP API, with the standard library) or a
node-exporter textfile (written whole, atomically).

Pushgateway groups: the metrics computed from the location replace their group whole (PUT
``/metrics/job/<job>/<grouping labels>``), so a backup deleted by gc disappears from them too; a
gc run's own outcome goes to the group with ``run="gc"`` added, by POST, which replaces only the
families pushed: a failed run leaves the time of the last successful one in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import os
import ssl
import tempfile

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit, urlunsplit
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, KubedrError
from ansible_collections.kubedr.backup.plugins.module_utils.metrics.exposition import CONTENT_TYPE, carry_over

_RESERVED_GROUPING = ("job",)


class PushError(KubedrError):
    """The Pushgateway refused the metrics or could not be reached."""


def grouping_path(job, grouping):
    """``/metrics/job/<job>/<label>/<value>...``; a value with a slash (or an empty one) is sent
    base64url-encoded (``<label>@base64/<value>``), as the Pushgateway's API defines."""
    if not job:
        raise InvalidOptionError("pushgateway job must not be empty")
    parts = ["metrics"]
    for label, value in [("job", job)] + sorted((grouping or {}).items()):
        if label in _RESERVED_GROUPING and parts != ["metrics"]:
            raise InvalidOptionError("pushgateway grouping must not name %r (it is the job option)" % label)
        text = str(value)
        if "/" in text or text == "":
            parts += [label + "@base64", base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii") or "="]
        else:
            parts += [label, quote(text, safe="")]
    return "/" + "/".join(parts)


def redacted(url):
    """The URL without user information, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += ":%d" % parts.port
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Pushgateway(object):
    """Pushes exposition text to one Pushgateway."""

    def __init__(self, url, job="kubedr", grouping=None, timeout=10, validate_certs=True, headers=None):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidOptionError("pushgateway_url must be an http:// or https:// URL, such as "
                                     "http://pushgateway.monitoring:9091")
        if parts.username or parts.password:
            raise InvalidOptionError("pushgateway_url must not hold a user or password: give them as "
                                     "pushgateway_username and pushgateway_password (kept out of logs)")
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.job = job
        self.grouping = dict(grouping or {})
        self.timeout = timeout
        self.headers = dict(headers or {})
        handlers = []
        if parts.scheme == "https" and not validate_certs:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            handlers.append(HTTPSHandler(context=context))
        self.opener = build_opener(*handlers)

    def url(self, extra_grouping=None):
        grouping = dict(self.grouping)
        grouping.update(extra_grouping or {})
        return self.base + grouping_path(self.job, grouping)

    def push(self, text, method="PUT", extra_grouping=None):
        """Send ``text``; PUT replaces the group, POST only the families sent. Returns the URL."""
        url = self.url(extra_grouping)
        headers = dict(self.headers)
        headers["Content-Type"] = CONTENT_TYPE
        request = Request(url, data=text.encode("utf-8"), headers=headers)
        request.get_method = lambda: method
        try:
            response = self.opener.open(request, timeout=self.timeout)
            response.read()
            response.close()
        except HTTPError as error:
            body = error.read().decode("utf-8", "replace").strip()[:500]
            raise PushError("the Pushgateway at %s refused the metrics (%s %s, HTTP %s): %s"
                            % (redacted(self.base), method, redacted(url), error.code, body or error.reason))
        except (URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            raise PushError("cannot reach the Pushgateway at %s (%s, timeout %ss): %s"
                            % (redacted(self.base), method, self.timeout, reason))
        return redacted(url)


def basic_auth_header(username, password):
    token = base64.b64encode(("%s:%s" % (username or "", password or "")).encode("utf-8")).decode("ascii")
    return {"Authorization": "Basic " + token}


def write_textfile(path, text, carried=()):
    """Write ``text`` to ``path`` atomically (a temporary file in the same directory, renamed over
    it), so node-exporter never reads half a file; the families named in ``carried`` that the old
    file has and ``text`` lacks are kept. Mode 0644: node-exporter runs as another user."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidOptionError("metrics_textfile %s: directory %s does not exist (node-exporter's "
                                 "--collector.textfile.directory)" % (path, directory))
    if not path.endswith(".prom"):
        raise InvalidOptionError("metrics_textfile %s must end in .prom: node-exporter's textfile collector "
                                 "reads only *.prom files" % path)
    previous = ""
    if carried and os.path.exists(path):
        with open(path) as f:
            previous = f.read()
    content = carry_over(previous, text, set(carried))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return content
