# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Requests to one API server over a pool of urllib3 connections, on the resolved connection
settings (``kube.config``): TLS context, token, proxy and impersonation headers; and the pod exec
client of those same settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import shutil
import ssl
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common import useragent
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError, InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.kube.exec import RefusedExec, WebSocketExec

try:
    from urllib.parse import urlencode
except ImportError:  # Python 2 is not supported; the import only keeps sanity's compile tests quiet
    from urllib import urlencode

try:
    import urllib3
    from urllib3._collections import HTTPHeaderDict  # urllib3 1.26 has it only there
    HAS_URLLIB3 = True
    # What a request raises when the server could not be reached (KubeClient retries these).
    CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, OSError)
except ImportError:  # reported by the module as a missing requirement
    HAS_URLLIB3 = False
    HTTPHeaderDict = dict
    CONNECTION_ERRORS = (OSError,)


def timed_out(error):
    """Whether a connection error is a timeout: the server (or a blackhole on its way) took the
    connection or the request and did not answer in time. KubeClient never retries these, so that a
    hung server costs the configured wait once, not once per attempt. (urllib3's NewConnectionError,
    a refused connection, derives from its ConnectTimeoutError: it is no timeout.)"""
    if HAS_URLLIB3 and isinstance(error, urllib3.exceptions.NewConnectionError):
        return False
    if HAS_URLLIB3 and isinstance(error, urllib3.exceptions.TimeoutError):
        return True
    return isinstance(error, TimeoutError)


class HttpTransport(object):
    """Requests to one API server over a pool of keep-alive connections. ``request`` returns the
    body of a 2xx answer and raises ApiException for any other status; connection failures raise
    urllib3's or the socket's errors (KubeClient retries both). ``pool_size``: how many connections are kept
    open between requests (more are opened when more requests run at once, and closed after them); a
    restore's default 32 workers and a backup's parallel LISTs stay within it."""

    def __init__(self, settings, pool_size=64):
        self.settings = settings
        self.host = settings.host
        self._ssl_context = None
        self._headers = HTTPHeaderDict()
        self._headers["User-Agent"] = useragent.user_agent()  # audit logs name the collection and the module
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
            self._server, self._base_path = None, None
        else:
            self._pool = urllib3.PoolManager(**pool_options)
            # Every request goes to this one server: its connection pool is asked for directly, which
            # spares each request the manager's parsing of the URL and lookup of the pool (about a tenth
            # of the client's CPU per request; docs/performance.md).
            self._server = self._pool.connection_from_url(self.host)
            self._base_path = urllib3.util.parse_url(self.host).path or ""

    @property
    def timeout(self):
        """(connect, read) seconds of this server's connections (api_connect_timeout, api_read_timeout)."""
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        timeout = timeout or self.timeout
        target = path + ("?" + urlencode(query) if query else "")
        all_headers = self._headers.copy()
        all_headers.update(headers or {})
        authorization = self.settings.authorization()
        if authorization:
            all_headers["Authorization"] = authorization
        # retries=False: KubeClient alone decides what is retried (urllib3 would retry a read timeout
        # of a GET three more times on its own, each waiting the whole read timeout).
        timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        if self._server is not None:
            response = self._server.request(method, self._base_path + target, body=body, headers=all_headers,
                                            redirect=False, retries=False, timeout=timeout)
        else:
            response = self._pool.request(method, self.host + target, body=body, headers=all_headers, redirect=False,
                                          retries=False, timeout=timeout)
        if not 200 <= response.status < 300:
            raise ApiException(response.status, response.reason, response.data, dict(response.headers))
        return response.data

    def exec_client(self):
        """The pod exec client of these settings (see ``KubeClient.exec_client``)."""
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
        api_client.user_agent = useragent.user_agent()
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
