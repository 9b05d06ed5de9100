# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""The Kubernetes API as raw JSON.

``KubeClient(auth_options)`` resolves kubernetes.core-style options (kubeconfig, explicit
host/token/certs, or in-cluster; see ``kube_config``) and talks raw JSON over a pool of urllib3
connections: no model classes, so items stay plain dicts exactly as the server sent them, and the
``kubernetes`` package is imported only for pod exec and credential plugins. Lists are paginated
(``limit``/``continue``); 429/5xx and connection errors are retried with backoff; discovery is one
aggregated request per root (``/api``, ``/apis``) where served, else the legacy per-group endpoints.
"""

import atexit
import json
import os
import random
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections import namedtuple

from ansible_collections.kubedr.backup.plugins.module_utils.kube import config as kube_config
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, InvalidOptionError

try:
    from urllib.parse import urlencode
except ImportError:  # Python 2 is not supported; the import only keeps sanity's compile tests quiet
    from urllib import urlencode

try:
    import urllib3
    from urllib3._collections import HTTPHeaderDict  # urllib3 1.26 has it only there
    HAS_URLLIB3 = True
except ImportError:  # reported by the module as a missing requirement
    HAS_URLLIB3 = False
    HTTPHeaderDict = dict


class ApiException(Exception):
    """The API server answered with an error status. The same fields as the kubernetes package's
    ApiException; its text never holds the request's or the response's headers."""

    def __init__(self, status=None, reason=None, body=None, headers=None):
        super(ApiException, self).__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers or {}

    def __str__(self):
        return "(%s) Reason: %s" % (self.status, self.reason)


AGGREGATED_DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
RETRIABLE_STATUS = frozenset([429, 500, 502, 503, 504])
DEFAULT_PAGE_SIZE = 500
PAGE_BYTES = 16 * 1024 * 1024  # target size of one LIST page in memory
MIN_PAGE_SIZE = 10
MAX_LIST_RESTARTS = 2
DEFAULT_TIMEOUT = (10, 120)  # (connect, read) seconds


_ApiResourceBase = namedtuple(
    "_ApiResourceBase", "group version resource kind namespaced verbs preferred short_names singular")


class ApiResource(_ApiResourceBase):
    """One resource type in one version, as discovery reports it (immutable).

    ``group`` is ``""`` for the core group; ``preferred`` is true when ``version`` is the
    server-preferred version of its group."""

    __slots__ = ()

    def __new__(cls, group, version, resource, kind, namespaced, verbs=(), preferred=True, short_names=(),
                singular=""):
        return super(ApiResource, cls).__new__(cls, group, version, resource, kind, bool(namespaced),
                                               tuple(verbs or ()), bool(preferred), tuple(short_names or ()),
                                               singular or "")

    @property
    def group_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_resource(self):
        return "%s.%s" % (self.resource, self.group) if self.group else self.resource


def api_path(api_resource, namespace=None, name=None):
    """The REST path of a resource collection or item (namespace None = all namespaces)."""
    root = "/apis/%s" % api_resource.group_version if api_resource.group else "/api/%s" % api_resource.version
    parts = [root]
    if api_resource.namespaced and namespace:
        parts.append("namespaces/%s" % namespace)
    parts.append(api_resource.resource)
    if name:
        parts.append(name)
    return "/".join(parts)


def parse_aggregated_discovery(document):
    """ApiResources out of an APIGroupDiscoveryList (``/api`` or ``/apis``); stale versions are
    returned separately as ``group/version`` strings."""
    resources = []
    stale = []
    for group_entry in document.get("items") or []:
        group = (group_entry.get("metadata") or {}).get("name") or ""
        for index, version_entry in enumerate(group_entry.get("versions") or []):
            version = version_entry.get("version")
            if version_entry.get("freshness") == "Stale":
                stale.append("%s/%s" % (group, version) if group else version)
                continue
            for entry in version_entry.get("resources") or []:
                kind = (entry.get("responseKind") or {}).get("kind") or ""
                resources.append(ApiResource(
                    group, version, entry.get("resource"), kind, entry.get("scope") == "Namespaced",
                    entry.get("verbs"), index == 0, entry.get("shortNames"), entry.get("singularResource")))
    return resources, stale


def parse_legacy_resource_list(group, version, preferred, document):
    """ApiResources out of an APIResourceList (``/api/v1``, ``/apis/<group>/<version>``)."""
    return [
        ApiResource(group, version, entry.get("name"), entry.get("kind"), entry.get("namespaced"),
                    entry.get("verbs"), preferred, entry.get("shortNames"), entry.get("singularName"))
        for entry in document.get("resources") or []
    ]


class Discovery(object):
    """The result of one discovery run: every ApiResource, plus warnings for groups that failed."""

    def __init__(self, resources, warnings=None, aggregated=False):
        self.resources = list(resources)
        self.warnings = list(warnings or [])
        self.aggregated = aggregated

    def find(self, group_resource):
        """The ApiResource to use for a group-resource (preferred version first), or None."""
        matches = [r for r in self.resources if r.group_resource == group_resource and "/" not in r.resource]
        preferred = [r for r in matches if r.preferred]
        return (preferred or matches or [None])[0]

    def find_kind(self, api_version, kind):
        group, version = api_version.rpartition("/")[::2]
        for r in self.resources:
            if r.group == group and r.version == version and r.kind == kind and "/" not in r.resource:
                return r
        return None


def _describe_exception(error):
    """A short reason for an API error (status and server message), never request headers."""
    if isinstance(error, ApiException):
        message = ""
        try:
            body = json.loads(error.body or "{}")
            message = body.get("message") or error.reason or ""
        except (ValueError, TypeError, AttributeError):
            message = error.reason or ""
        return "HTTP %s%s" % (error.status, (": " + message) if message else "")
    return "%s: %s" % (type(error).__name__, error)


_LIST_HEAD = re.compile(br'\A\s*\{\s*"kind"\s*:\s*"[^"\\]*"\s*,\s*"apiVersion"\s*:\s*"[^"\\]*"\s*,\s*"metadata"\s*:')
_METADATA_KEY = b'"metadata":'
_LIST_METADATA_SPAN = 64 * 1024  # list metadata is a resourceVersion, a continue token and a count
_JSON_DECODER = json.JSONDecoder()


def list_page_metadata(data):
    """The ``metadata`` object of a raw LIST page, read without decoding the items: built-in
    types send it first (``{"kind":..,"apiVersion":..,"metadata":{..},"items":[..]}``), custom
    resources last (sorted keys). None when neither end holds it."""
    head = _LIST_HEAD.match(data)
    if head:
        found = _decode_object_at(data[head.end():head.end() + _LIST_METADATA_SPAN])
        if found is not None:
            return found[0]
    start = data.rfind(_METADATA_KEY, max(0, len(data) - _LIST_METADATA_SPAN))
    if start >= 0:
        found = _decode_object_at(data[start + len(_METADATA_KEY):])
        # Only the top-level object's last key is followed by nothing but its closing brace.
        if found is not None and found[1].strip() == "}":
            return found[0]
    return None


def _decode_object_at(chunk):
    """(JSON object at the start of ``chunk``, the text after it), or None."""
    text = chunk.decode("utf-8", "replace")  # a head chunk may end inside a character of an item
    try:
        value, end = _JSON_DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except ValueError:
        return None
    return (value, text[end:]) if isinstance(value, dict) else None


def page_items(document, api_resource):
    """The items of a decoded LIST page, with ``apiVersion`` and ``kind`` set (a list of a
    built-in type leaves them out of its items)."""
    items = document.get("items") or []
    for item in items:
        item["apiVersion"] = api_resource.group_version
        item["kind"] = api_resource.kind
    return items


def raw_page_items(data, api_resource):
    """``[(item dict, item JSON text)]`` of a raw LIST page, the text exactly as the server sent
    the item (so it need not be encoded again), ``apiVersion`` and ``kind`` set on both (a list
    of a built-in type leaves them out of its items). Raises ValueError on malformed JSON."""
    try:
        return [_typed(item, text, api_resource) for item, text in _walk_list_items(data.decode("utf-8"))]
    except (IndexError, UnicodeDecodeError) as error:
        raise ValueError("malformed LIST page: %s" % error)


def _walk_list_items(text):
    """Yield ``(item, text span)`` of the top-level ``items`` array, walking the object key by key."""
    decode = _JSON_DECODER.raw_decode
    position = _skip_space(text, 0)
    if text[position] != "{":
        raise ValueError("a LIST page is not a JSON object")
    position = _skip_space(text, position + 1)
    while text[position] != "}":
        key, position = decode(text, position)
        position = _skip_space(text, position)
        if text[position] != ":":
            raise ValueError("malformed LIST page at offset %d" % position)
        position = _skip_space(text, position + 1)
        if key == "items" and text[position] == "[":
            position = _skip_space(text, position + 1)
            while text[position] != "]":
                start = position
                item, position = decode(text, position)
                yield item, text[start:position]
                position = _skip_space(text, position)
                if text[position] == ",":
                    position = _skip_space(text, position + 1)
            position += 1
        else:
            _value, position = decode(text, position)
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)


def _skip_space(text, position):
    # The API server writes compact JSON: the regular expression runs only where there is space.
    if text[position] in " \t\r\n":
        position = _SPACE.match(text, position).end()
    return position


_SPACE = re.compile(r"[ \t\r\n]*")


def _typed(item, text, api_resource):
    """The item with ``apiVersion``/``kind``, as (dict, UTF-8 JSON bytes)."""
    if not isinstance(item, dict):
        raise ValueError("a LIST page holds an item that is not an object")
    has_kind, has_version = "kind" in item, "apiVersion" in item
    if has_kind and has_version:
        return item, text.encode("utf-8")
    item["apiVersion"] = api_resource.group_version
    item["kind"] = api_resource.kind
    if has_kind or has_version:  # half-typed (never seen from a server): encode it whole
        return item, json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # As a GET of the single object would send it: kind and apiVersion first.
    head = '{"kind":%s,"apiVersion":%s' % (json.dumps(api_resource.kind), json.dumps(api_resource.group_version))
    rest = text[1:].lstrip()
    return item, (head + ("}" if rest == "}" else "," + rest)).encode("utf-8")


class KubeClient(object):
    """Raw-JSON access to one cluster. Thread-safe for concurrent requests."""

    def __init__(self, auth=None, transport=None, max_attempts=5, page_size=DEFAULT_PAGE_SIZE,
                 timeout=DEFAULT_TIMEOUT):
        if transport is None and not HAS_URLLIB3:
            raise ClusterError("the Python 'urllib3' package is required (pip install kubernetes)")
        self.transport = transport or HttpTransport(kube_config.resolve_connection(auth or {}))
        self.host = self.transport.host
        self.max_attempts = max_attempts
        self.page_size = page_size
        self.timeout = timeout
        self._discovery = None
        self._exec_client = None
        self._lock = threading.Lock()

    @property
    def exec_client(self):
        """What pod exec connects through (``pod_exec.exec_in_pod``), built on first use: our own
        websocket on the same settings, or, for credential-plugin users, a kubernetes-package
        ApiClient (the package imported then); a RefusedExec when exec must not run."""
        with self._lock:
            if self._exec_client is None:
                self._exec_client = self.transport.exec_client()
            return self._exec_client

    # Requests ------------------------------------------------------------------

    def request(self, method, path, query=None, body=None, accept="application/json", content_type=None):
        """One API request returning the decoded JSON body; retries 429/5xx and connection errors."""
        data = self.request_raw(method, path, query, body, accept, content_type)
        return json.loads(data) if data else None

    def request_raw(self, method, path, query=None, body=None, accept="application/json", content_type=None):
        """One API request returning the raw response body (bytes); retries as ``request``."""
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.transport.request(method, path, query, body, headers, self.timeout)
            except ApiException as error:
                if error.status not in RETRIABLE_STATUS or attempt >= self.max_attempts:
                    raise
                self._sleep_before_retry(attempt, error)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if attempt >= self.max_attempts:
                    raise ClusterError("cannot reach the Kubernetes API server at %s: %s"
                                       % (self.host, _describe_exception(error)))
                self._sleep_before_retry(attempt, error)

    @staticmethod
    def _sleep_before_retry(attempt, error):
        delay = min(8.0, 0.25 * (2 ** (attempt - 1))) * (0.5 + random.random())
        retry_after = getattr(error, "headers", None) and error.headers.get("Retry-After")
        if retry_after and str(retry_after).isdigit():
            delay = max(delay, min(30, int(retry_after)))
        time.sleep(delay)

    def get(self, path, query=None):
        return self.request("GET", path, query=query)

    def create(self, api_resource, body, namespace=None, decode=True):
        """POST a new object; returns the created object, or None when ``decode`` is false (the
        answer is then not decoded: most callers only need to know it succeeded)."""
        if not decode:
            self.request_raw("POST", api_path(api_resource, namespace), body=body)
            return None
        return self.request("POST", api_path(api_resource, namespace), body=body)

    def patch(self, api_resource, name, body, namespace=None, patch_type="application/merge-patch+json"):
        return self.request("PATCH", api_path(api_resource, namespace, name), body=body, content_type=patch_type)

    def delete(self, api_resource, name, namespace=None):
        return self.request("DELETE", api_path(api_resource, namespace, name))

    def server_version(self):
        return self.get("/version") or {}

    # Lists ---------------------------------------------------------------------

    def _pages(self, api_resource, namespace, label_selector, page_size, decode):
        """Yield ``(raw page, decoded page or None)`` of a paginated LIST.

        Pages are bounded in items and, adaptively, in bytes: when a page comes back larger than
        ``PAGE_BYTES`` (big Secrets or ConfigMaps), the next pages ask for proportionally fewer items.
        When a continue token expires (410, a list slower than etcd compaction), the list starts
        over once more: items of the first pages then come again, so callers dedupe (backups do)."""
        query = {"limit": page_size or self.page_size}
        if label_selector:
            query["labelSelector"] = label_selector
        path = api_path(api_resource, namespace)
        restarts = 0
        while True:
            try:
                data = self.request_raw("GET", path, query)
            except ApiException as error:
                if error.status != 410 or "continue" not in query or restarts >= MAX_LIST_RESTARTS:
                    raise
                restarts += 1
                del query["continue"]
                continue
            if len(data) > PAGE_BYTES:
                query["limit"] = max(MIN_PAGE_SIZE, query["limit"] * PAGE_BYTES // len(data))
            document = json.loads(data) if decode else None
            metadata = list_page_metadata(data) if document is None else document.get("metadata")
            if metadata is None:  # neither end of the page holds it: decode the whole page
                metadata = json.loads(data).get("metadata")
            yield data, document
            token = (metadata or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def list_pages(self, api_resource, namespace=None, label_selector=None, page_size=None):
        """Yield pages (lists of item dicts, ``apiVersion``/``kind`` set) of a paginated LIST
        (see ``_pages`` for page sizes and expired continue tokens)."""
        for _data, document in self._pages(api_resource, namespace, label_selector, page_size, decode=True):
            yield page_items(document, api_resource)

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None, page_size=None):
        """Yield the raw bytes of every page of a paginated LIST, items left undecoded (for a
        process that decodes them elsewhere; ``page_items`` turns one into items)."""
        for data, _document in self._pages(api_resource, namespace, label_selector, page_size, decode=False):
            yield data

    def list_items(self, api_resource, namespace=None, label_selector=None):
        """Every item of a resource type, one at a time (pages fetched lazily)."""
        for page in self.list_pages(api_resource, namespace, label_selector):
            yield from page

    # Discovery -----------------------------------------------------------------

    def discover(self, refresh=False):
        """Every resource type the server serves (cached for the life of the client)."""
        with self._lock:
            if self._discovery is None or refresh:
                self._discovery = self._discover()
            return self._discovery

    def _discover(self):
        try:
            core = self.request("GET", "/api", accept=AGGREGATED_DISCOVERY_ACCEPT)
            groups = self.request("GET", "/apis", accept=AGGREGATED_DISCOVERY_ACCEPT)
        except ApiException as error:
            raise ClusterError("discovery failed at %s: %s" % (self.host, _describe_exception(error)))
        if core.get("kind") == "APIGroupDiscoveryList" and groups.get("kind") == "APIGroupDiscoveryList":
            resources, stale = [], []
            for document in (core, groups):
                found, stale_versions = parse_aggregated_discovery(document)
                resources.extend(found)
                stale.extend(stale_versions)
            warnings = ["discovery: API %s is stale (its server is unavailable); its resources are skipped" % gv
                        for gv in stale]
            return Discovery(resources, warnings, aggregated=True)
        return self._legacy_discovery(core, groups)

    def _legacy_discovery(self, core, groups):
        targets = [("", version, index == 0) for index, version in enumerate(core.get("versions") or [])]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            for version in group.get("versions") or []:
                targets.append((group["name"], version["version"], version["version"] == preferred))
        resources, warnings = [], []
        results = run_concurrently(
            lambda target: self.get("/apis/%s/%s" % target[:2] if target[0] else "/api/%s" % target[1]), targets)
        for target, (document, error) in zip(targets, results):
            group, version, preferred = target
            if error is not None:
                warnings.append("discovery of %s failed (%s); its resources are skipped"
                                % ("%s/%s" % (group, version) if group else version, _describe_exception(error)))
                continue
            resources.extend(parse_legacy_resource_list(group, version, preferred, document))
        return Discovery(resources, warnings, aggregated=False)


def run_concurrently(fn, inputs, workers=8):
    """[(result, exception)] of fn over inputs with a bounded thread pool, in input order."""
    from concurrent.futures import ThreadPoolExecutor

    def guarded(value):
        try:
            return fn(value), None
        except Exception as error:  # the caller decides what a failure means
            return None, error

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(inputs) or 1))) as pool:
        return list(pool.map(guarded, inputs))


# ---------------------------------------------------------------- transport

class HttpTransport(object):
    """Requests to one API server over a pool of keep-alive connections. ``request`` returns the
    body of a 2xx answer and raises ApiException for any other status; connection failures raise
    urllib3's or the socket's errors (KubeClient retries both)."""

    def __init__(self, settings, pool_size=32):
        self.settings = settings
        self.host = settings.host
        self._ssl_context = None
        self._headers = HTTPHeaderDict()
        for name, value in settings.headers:
            self._headers.add(name, value)  # a repeated name goes out as lines of its own
        pool_options = dict(num_pools=4, maxsize=pool_size)
        if self.host.startswith("https"):
            self._ssl_context = pool_options["ssl_context"] = _ssl_context(settings)
            if not settings.verify_ssl:
                pool_options.update(cert_reqs="CERT_NONE", assert_hostname=False)
            if settings.tls_server_name:
                pool_options["server_hostname"] = settings.tls_server_name
        proxy = settings.effective_proxy()
        if proxy:
            self._pool = urllib3.ProxyManager(proxy, proxy_headers=_proxy_headers(settings), **pool_options)
        else:
            self._pool = urllib3.PoolManager(**pool_options)

    def request(self, method, path, query=None, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
        url = self.host + path + ("?" + urlencode(query) if query else "")
        all_headers = self._headers.copy()
        all_headers.update(headers or {})
        authorization = self.settings.authorization()
        if authorization:
            all_headers["Authorization"] = authorization
        response = self._pool.request(method, url, body=body, headers=all_headers, redirect=False,
                                      timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]))
        if not 200 <= response.status < 300:
            raise ApiException(response.status, response.reason, response.data, dict(response.headers))
        return response.data

    def exec_client(self):
        """The pod exec client of these settings (see ``KubeClient.exec_client``)."""
        from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import RefusedExec, WebSocketExec

        if self.settings.credentials.library_configuration is None:
            return WebSocketExec(self.settings, self._ssl_context)
        try:
            return self.kubernetes_api_client()
        except ClusterError as error:  # each exec fails with the reason, where exec failures are reported
            return RefusedExec(str(error))

    def kubernetes_api_client(self):
        """A kubernetes-package ApiClient with these settings (imports the package), for the pod exec
        of credential-plugin users. Refused under impersonation: the package's websocket client sends
        the Authorization header and no other, so a command would run as the connection's own
        identity, not the one asked."""
        settings = self.settings
        impersonated = sorted(set(name for name, _value in settings.headers if name.startswith("Impersonate-")))
        if impersonated:
            raise ClusterError(
                "pod exec (hooks, pod volume data) cannot impersonate for a kubeconfig user with a credential "
                "plugin: the kubernetes package connects those, and its websocket client sends no %s header, "
                "so the command would run as the connection's own user. Connect with that identity's "
                "kubeconfig or token instead of impersonate_user/impersonate_groups"
                % "/".join(impersonated))
        try:
            from kubernetes import client as k8s_client
        except ImportError:
            raise ClusterError("pod exec (hooks, pod volume data) needs the Python 'kubernetes' package "
                               "(pip install kubernetes)")

        configuration = settings.credentials.library_configuration
        if configuration is None:
            configuration = k8s_client.Configuration()
            configuration.host = settings.host
            configuration.verify_ssl = settings.verify_ssl
            configuration.ssl_ca_cert = settings.ca_file or _private_file(settings.ca_data)
            configuration.cert_file = settings.cert_file or _private_file(settings.cert_data)
            configuration.key_file = settings.key_file or _private_file(settings.key_data)
            if settings.tls_server_name:
                configuration.tls_server_name = settings.tls_server_name

            def refresh(conf):  # token files rotate: read through the settings before each request
                header = settings.authorization()
                conf.api_key = {"BearerToken": header} if header else {}

            refresh(configuration)
            configuration.refresh_api_key_hook = refresh
        proxy = settings.effective_proxy()
        if proxy:
            configuration.proxy = proxy
            configuration.proxy_headers = _proxy_headers(settings)
        api_client = k8s_client.ApiClient(configuration)
        return api_client


def _proxy_headers(settings):
    return urllib3.util.make_headers(**settings.proxy_headers) if settings.proxy_headers else None


def _ssl_context(settings):
    """The TLS context of the connections: the cluster's CA (else certifi's bundle, as the
    kubernetes package does) and the client certificate. Certificates given as data go through
    files in a private directory only for as long as loading them takes."""
    if not settings.verify_ssl:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            if settings.ca_data:
                context = ssl.create_default_context(cadata=settings.ca_data.decode("ascii", "replace"))
            elif settings.ca_file:
                context = ssl.create_default_context(cafile=settings.ca_file)
            else:
                context = ssl.create_default_context(cafile=_default_ca_bundle())
        except (ssl.SSLError, OSError, ValueError) as error:
            raise InvalidOptionError("cannot load the cluster's CA certificate%s: %s" % (
                " " + settings.ca_file if settings.ca_file and not settings.ca_data else "", error))
    if settings.cert_file or settings.cert_data:
        directory = tempfile.mkdtemp(prefix="kubedr-tls-") if settings.cert_data or settings.key_data else None
        try:
            cert_file = settings.cert_file or _write_private(directory, settings.cert_data)
            key_file = settings.key_file or (_write_private(directory, settings.key_data) if settings.key_data else None)
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError) as error:
            raise InvalidOptionError("cannot load the client certificate and key: %s" % error)
        finally:
            if directory:
                shutil.rmtree(directory, ignore_errors=True)
    return context


def _default_ca_bundle():
    try:
        import certifi
        return certifi.where()
    except ImportError:
        return None


def _write_private(directory, data):
    """A new file (mode 0600) in ``directory`` holding ``data``; its path."""
    fd, path = tempfile.mkstemp(suffix=".pem", dir=directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


_PRIVATE_DIRS = []


def _private_file(data):
    """A file holding ``data`` (certificates for the kubernetes package, which reads only files),
    in a private directory removed when the process exits; None for no data."""
    if not data:
        return None
    if not _PRIVATE_DIRS:
        _PRIVATE_DIRS.append(tempfile.mkdtemp(prefix="kubedr-tls-"))
        atexit.register(shutil.rmtree, _PRIVATE_DIRS[0], True)
    return _write_private(_PRIVATE_DIRS[0], data)


def describe_api_error(error):
    """Public form of the error summary, for callers that catch ApiException."""
    return _describe_exception(error)
