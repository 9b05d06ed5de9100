# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Kubernetes API as raw JSON.

``KubeClient(auth_options)`` resolves kubernetes.core-style options (kubeconfig, explicit
host/token/certs, or in-cluster; see ``kube_config``) and talks raw JSON over a pool of urllib3
connections (``kube.transport``): no model classes, so items stay plain dicts exactly as the server
sent them, and the ``kubernetes`` package is imported only for pod exec and credential plugins. Lists
are paginated (``limit``/``continue``; pages are parsed in ``kube.pages``); 429/5xx and connection
errors are retried with backoff; discovery is one aggregated request per root (``/api``, ``/apis``)
where served, else the legacy per-group endpoints (parsed in ``kube.resources``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from urllib3 import exceptions as urllib3_exceptions
except ImportError:  # HAS_URLLIB3 (transport) says so
    urllib3_exceptions = None

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError
from ansible_collections.kubedr.backup.plugins.module_utils.kube import config as kube_config
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException, describe_api_error
from ansible_collections.kubedr.backup.plugins.module_utils.kube.pages import list_page_metadata, page_items
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import (
    Discovery,
    api_path,
    parse_aggregated_discovery,
    parse_legacy_resource_list,
)
from ansible_collections.kubedr.backup.plugins.module_utils.kube.transport import (
    CONNECTION_ERRORS,
    HAS_URLLIB3,
    HttpTransport,
    timed_out,
)

AGGREGATED_DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
RETRIABLE_STATUS = frozenset([429, 500, 502, 503, 504])
THROTTLED = 429
# How long a request answered 429 (API Priority and Fairness, or a proxy) keeps being retried, honouring
# Retry-After: throttling means the server is alive and asks to come back, so it does not count
# against max_attempts (docs/reliability.md).
THROTTLED_BUDGET_SECONDS = 300
MAX_RETRY_AFTER_SECONDS = 30
DEFAULT_PAGE_SIZE = 500  # the first page of a LIST: the items' size is not known yet
# Later pages ask for as many items as fill about PAGE_BYTES, within [MIN_PAGE_SIZE, MAX_PAGE_SIZE]. The API
# server's CPU per LIST falls steeply with fewer, larger pages (docs/performance.md, "Pages of 500 items":
# 300,000 ConfigMaps and Secrets took it 24-31 CPU s in pages of 500, 11-15 s in pages of 2,000, 4-9 s in pages
# of 10,000); pages of 10,000 raised the backup's peak RSS at 300,000 items to 1.44x its 30,000 figure, 2,500 to 1.21x.
PAGE_BYTES = 4 * 1024 * 1024
MIN_PAGE_SIZE = 10
MAX_PAGE_SIZE = 2500
MAX_LIST_RESTARTS = 2


class KubeClient(object):
    """Raw-JSON access to one cluster. Thread-safe for concurrent requests."""

    def __init__(self, auth=None, transport=None, max_attempts=5, page_size=DEFAULT_PAGE_SIZE,
                 timeout=None, throttled_budget=THROTTLED_BUDGET_SECONDS):
        if transport is None and not HAS_URLLIB3:
            raise ClusterError("the Python 'urllib3' package is required (pip install kubernetes)")
        self.transport = transport or HttpTransport(kube_config.resolve_connection(auth or {}))
        self.host = self.transport.host
        self.max_attempts = max_attempts
        self.page_size = page_size
        # (connect, read) seconds: the connection settings' (api_connect_timeout, api_read_timeout)
        self.timeout = timeout or getattr(self.transport, "timeout", None) or (10, 60)
        self.throttled_budget = throttled_budget
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
        attempt = throttles = 0
        throttled_since = None
        while True:
            attempt += 1
            try:
                return self.transport.request(method, path, query, body, headers, self.timeout)
            except ApiException as error:
                if error.status == THROTTLED:
                    # Throttling is no failure of the attempt: retried for as long as the budget lasts.
                    throttled_since = throttled_since or time.monotonic()
                    if time.monotonic() - throttled_since >= self.throttled_budget:
                        raise
                    attempt -= 1
                    throttles += 1
                    self._sleep_before_retry(min(throttles, 4), error)
                    continue
                if error.status not in RETRIABLE_STATUS or attempt >= self.max_attempts:
                    raise
                self._sleep_before_retry(attempt, error)
            except CONNECTION_ERRORS as error:
                if timed_out(error):
                    raise ClusterError(self._timeout_message(method, path, error))
                if attempt >= self.max_attempts:
                    raise ClusterError("cannot reach the Kubernetes API server at %s: %s"
                                       % (self.host, describe_api_error(error)))
                self._sleep_before_retry(attempt, error)

    def _timeout_message(self, method, path, error):
        if HAS_URLLIB3 and isinstance(error, urllib3_exceptions.ConnectTimeoutError):
            what, seconds, option = "accept a connection", self.timeout[0], "api_connect_timeout"
        else:
            what, seconds, option = "answer %s %s" % (method, path), self.timeout[1], "api_read_timeout"
        return ("the Kubernetes API server at %s did not %s within %s s (%s); it is hung or unreachable "
                "through the network" % (self.host, what, _seconds(seconds), option))

    @staticmethod
    def _sleep_before_retry(attempt, error):
        """Exponential backoff with jitter; at least what a Retry-After header asks (seconds, capped)."""
        delay = min(8.0, 0.25 * (2 ** (attempt - 1))) * (0.5 + random.random())
        headers = getattr(error, "headers", None) or {}
        retry_after = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
        if retry_after and str(retry_after).strip().isdigit():
            delay = max(delay, min(MAX_RETRY_AFTER_SECONDS, int(str(retry_after).strip())))
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

        The first page asks for ``page_size`` items; each next one for about as many as fill
        ``PAGE_BYTES`` at the size of the items just read (``next_page_size``): fewer for big Secrets or
        ConfigMaps, more for small items, but more only without a label selector (a filtered page holds
        fewer items than it asked for, so its size says nothing of the next one's).
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
            query["limit"] = next_page_size(query["limit"], len(data), grow=not label_selector)
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

    def count(self, api_resource, namespace=None):
        """How many items of a type there are, from a one-item page (its ``remainingItemCount``, which
        the server gives for a paginated LIST without selectors); None when the server does not say."""
        document = self.get(api_path(api_resource, namespace), {"limit": 1}) or {}
        remaining = (document.get("metadata") or {}).get("remainingItemCount")
        listed = len(document.get("items") or [])
        if remaining is None:
            return None if (document.get("metadata") or {}).get("continue") else listed
        return listed + int(remaining)

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
            raise ClusterError("discovery failed at %s: %s" % (self.host, describe_api_error(error)))
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
                                % ("%s/%s" % (group, version) if group else version, describe_api_error(error)))
                continue
            resources.extend(parse_legacy_resource_list(group, version, preferred, document))
        return Discovery(resources, warnings, aggregated=False)


def next_page_size(limit, page_bytes, grow=True):
    """How many items the next page of a LIST asks for, the last one having asked for ``limit`` and come back
    ``page_bytes`` long: about as many as fill PAGE_BYTES, within MIN_PAGE_SIZE and MAX_PAGE_SIZE, growing at
    most fourfold a page (the first pages' items may be smaller than the next ones') and only when ``grow``."""
    wanted = limit * PAGE_BYTES // max(1, page_bytes)
    if wanted >= limit:
        return max(limit, min(wanted, limit * 4, MAX_PAGE_SIZE)) if grow else limit
    return min(limit, max(MIN_PAGE_SIZE, wanted))


def _seconds(value):
    return ("%g" % value) if value is not None else "?"


def run_concurrently(fn, inputs, workers=8):
    """[(result, exception)] of fn over inputs with a bounded thread pool, in input order."""

    def guarded(value):
        try:
            return fn(value), None
        except Exception as error:  # the caller decides what a failure means
            return None, error

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(inputs) or 1))) as pool:
        return list(pool.map(guarded, inputs))
