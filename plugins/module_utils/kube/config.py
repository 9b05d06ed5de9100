# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the cluster is and how to authenticate: kubernetes.core-style options, a kubeconfig or
the in-cluster service account, resolved into ``ConnectionSettings``.

Kubeconfigs with static credentials (token, token file, client certificate, basic auth) are read
here directly: importing the ``kubernetes`` package costs about 0.2 s of model classes, a sixth of
a whole 20,000-object backup. Users that need a credential plugin (``exec``, ``auth-provider``)
are handed to the ``kubernetes`` package's own loader, which runs and refreshes them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import os
import threading
import time

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import timeout_seconds

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2 is not supported; the import only keeps sanity's compile tests quiet
    from urlparse import urlsplit

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_FILE_REFRESH_SECONDS = 60  # projected service account tokens rotate; re-read them as client-go does
# Seconds: to open a connection, and to wait for any answer on it (an API server that accepted the
# connection and sends nothing). The options api_connect_timeout and api_read_timeout override them.
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_READ_TIMEOUT = 60


class Credentials(object):
    """The ``Authorization`` header value of a request: static, read from a file (re-read every
    minute), or from a ``kubernetes`` Configuration (credential plugins and their refresh)."""

    def __init__(self, header=None, token_file=None, library_configuration=None):
        self._header = header
        self.token_file = token_file
        self.library_configuration = library_configuration
        self._read_at = None
        self._lock = threading.Lock()

    def header(self):
        if self.library_configuration is not None:
            return self.library_configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if self.token_file:
            with self._lock:
                if self._read_at is None or time.time() - self._read_at > TOKEN_FILE_REFRESH_SECONDS:
                    self._header = "Bearer " + _read_text(self.token_file, "token file").strip()
                    self._read_at = time.time()
        return self._header


class ConnectionSettings(object):
    """Everything needed to open connections to one API server. Certificates are file paths or
    PEM bytes (``*_data``)."""

    def __init__(self, host, verify_ssl=True, ca_file=None, ca_data=None, cert_file=None, key_file=None,
                 cert_data=None, key_data=None, tls_server_name=None, credentials=None):
        self.host = (host or "").rstrip("/")
        self.verify_ssl = verify_ssl
        self.ca_file = ca_file
        self.ca_data = ca_data
        self.cert_file = cert_file
        self.key_file = key_file
        self.cert_data = cert_data
        self.key_data = key_data
        self.tls_server_name = tls_server_name
        self.credentials = credentials or Credentials()
        self.proxy = None
        self.no_proxy = None
        self.proxy_headers = {}
        self.headers = []  # (name, value) sent with every request (impersonation); a name may repeat
        self.connect_timeout = DEFAULT_CONNECT_TIMEOUT
        self.read_timeout = DEFAULT_READ_TIMEOUT

    def authorization(self):
        return self.credentials.header()

    def effective_proxy(self):
        """The proxy to reach the API server through, or None (none set, or ``no_proxy`` covers it)."""
        return self.proxy if self.proxy and not bypasses_proxy(self.host, self.no_proxy) else None


class _NeedsLibrary(Exception):
    """The kubeconfig user needs a credential plugin: the kubernetes package loads it."""


def _read_text(path, what):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError) as error:
        raise InvalidOptionError("cannot read the %s %s: %s" % (what, path, error.strerror or error))


def _decode_data(value, what):
    try:
        return base64.b64decode("".join(str(value).split()), validate=True)
    except (ValueError, TypeError):
        raise InvalidOptionError("the kubeconfig's %s is not valid base64" % what)


def _named(entries, name, kind):
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(kind) or {}
    return None


def merge_kubeconfigs(documents):
    """One kubeconfig out of several ``(document, base directory)``, as kubectl merges the files of
    ``KUBECONFIG``: the first file to set ``current-context`` sets it, the first definition of a
    name wins. Relative paths are made absolute against their own file's directory."""
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    seen = {"clusters": set(), "users": set(), "contexts": set()}
    for document, base in documents:
        document = document or {}
        if not isinstance(document, dict):
            raise InvalidOptionError("a kubeconfig is not a mapping")
        if not merged["current-context"] and document.get("current-context"):
            merged["current-context"] = document["current-context"]
        for section, kind, path_keys in (("clusters", "cluster", ("certificate-authority",)),
                                         ("users", "user", ("client-certificate", "client-key", "tokenFile")),
                                         ("contexts", "context", ())):
            for entry in document.get(section) or []:
                if not isinstance(entry, dict) or entry.get("name") in seen[section]:
                    continue
                seen[section].add(entry.get("name"))
                body = dict(entry.get(kind) or {})
                for key in path_keys:
                    if body.get(key) and not os.path.isabs(body[key]):
                        body[key] = os.path.join(base, body[key])
                merged[section].append({"name": entry.get("name"), kind: body})
    return merged


def settings_from_kubeconfig(config, context=None):
    """ConnectionSettings of a context of a merged kubeconfig; raises _NeedsLibrary for users with a
    credential plugin and InvalidOptionError for a broken or incomplete one."""
    context_name = context or config.get("current-context")
    if not context_name:
        raise InvalidOptionError("the kubeconfig has no current-context; name one with the context option")
    context_entry = _named(config.get("contexts") or [], context_name, "context")
    if context_entry is None:
        raise InvalidOptionError("context %s is not in the kubeconfig" % context_name)
    cluster = _named(config.get("clusters") or [], context_entry.get("cluster"), "cluster")
    if not cluster or not cluster.get("server"):
        raise InvalidOptionError("context %s names cluster %s, which the kubeconfig does not define (with a server)"
                                 % (context_name, context_entry.get("cluster")))
    user = (_named(config.get("users") or [], context_entry.get("user"), "user") or {}) \
        if context_entry.get("user") else {}
    if user.get("exec") or user.get("auth-provider"):
        raise _NeedsLibrary()
    settings = ConnectionSettings(
        cluster["server"], verify_ssl=not cluster.get("insecure-skip-tls-verify", False),
        ca_file=cluster.get("certificate-authority"), tls_server_name=cluster.get("tls-server-name"))
    if cluster.get("certificate-authority-data"):
        settings.ca_data = _decode_data(cluster["certificate-authority-data"], "certificate-authority-data")
    settings.cert_file, settings.key_file = user.get("client-certificate"), user.get("client-key")
    if user.get("client-certificate-data"):
        settings.cert_data = _decode_data(user["client-certificate-data"], "client-certificate-data")
    if user.get("client-key-data"):
        settings.key_data = _decode_data(user["client-key-data"], "client-key-data")
    if cluster.get("proxy-url"):
        settings.proxy = cluster["proxy-url"]
    # Token first, then basic auth, as the kubernetes package orders them.
    if user.get("token"):
        settings.credentials = Credentials(header="Bearer " + user["token"])
    elif user.get("tokenFile"):
        settings.credentials = Credentials(token_file=user["tokenFile"])
    elif user.get("username") and user.get("password"):
        settings.credentials = Credentials(header=basic_auth(user["username"], user["password"]))
    return settings


def basic_auth(username, password):
    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")


def kubeconfig_paths(kubeconfig, environ):
    """The kubeconfig files to merge: the option (K8S_AUTH_KUBECONFIG), else ``KUBECONFIG``, else
    ~/.kube/config. The option and the variable are path lists (``a:b``), as kubectl reads KUBECONFIG."""
    listed = [path for path in (kubeconfig or environ.get("KUBECONFIG") or "").split(os.pathsep) if path]
    return [os.path.expanduser(path) for path in listed] or [os.path.expanduser(DEFAULT_KUBECONFIG)]


def load_kubeconfig_files(paths):
    """The merged kubeconfig of the files that exist (at least one must)."""
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = []
    for path in paths:
        if not os.path.exists(path):
            continue
        try:
            with open(path) as handle:
                documents.append((yaml.load(handle, Loader=loader), os.path.dirname(os.path.abspath(path))))
        except yaml.YAMLError as error:
            # Only where: the YAML error's text quotes the line, which may hold a token.
            mark = getattr(error, "problem_mark", None)
            where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
            raise InvalidOptionError("%s is not a valid kubeconfig: not YAML%s" % (path, where))
        except (IOError, OSError) as error:
            raise InvalidOptionError("cannot read %s: %s" % (path, error.strerror or error))
    if not documents:
        raise IOError("no kubeconfig at %s" % os.pathsep.join(paths))
    return merge_kubeconfigs(documents)


def in_cluster_settings(environ, account_dir=None):
    """The pod's service account, as client-go's in-cluster config reads it."""
    account_dir = account_dir or SERVICE_ACCOUNT_DIR
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_file = os.path.join(account_dir, "token")
    if not host or not port or not os.path.isfile(token_file):
        return None
    if ":" in host:  # an IPv6 address
        host = "[%s]" % host
    ca_file = os.path.join(account_dir, "ca.crt")
    return ConnectionSettings("https://%s:%s" % (host, port), ca_file=ca_file if os.path.isfile(ca_file) else None,
                              credentials=Credentials(token_file=token_file))


def _library_settings(auth, kubeconfig):
    """ConnectionSettings through the kubernetes package's loader (credential plugins)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    configuration = k8s_client.Configuration()
    try:
        if isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, context=auth.get("context"),
                                                  client_configuration=configuration,
                                                  persist_config=bool(auth.get("persist_config")))
        else:
            k8s_config.load_kube_config(config_file=kubeconfig, context=auth.get("context"),
                                        client_configuration=configuration,
                                        persist_config=bool(auth.get("persist_config")))
    except (ConfigException, IOError, OSError) as error:
        raise _load_failure(kubeconfig, error)
    settings = ConnectionSettings(configuration.host, verify_ssl=configuration.verify_ssl,
                                  ca_file=configuration.ssl_ca_cert, cert_file=configuration.cert_file,
                                  key_file=configuration.key_file,
                                  tls_server_name=getattr(configuration, "tls_server_name", None),
                                  credentials=Credentials(library_configuration=configuration))
    return settings


def _load_failure(kubeconfig, error):
    return InvalidOptionError("cannot load the Kubernetes configuration%s: %s" % (
        " from %s" % kubeconfig if isinstance(kubeconfig, str) else "", error))


def _kubeconfig_settings(auth, environ):
    kubeconfig, context = auth.get("kubeconfig"), auth.get("context")
    if isinstance(kubeconfig, dict):
        config = merge_kubeconfigs([(kubeconfig, os.getcwd())])
    else:
        try:
            config = load_kubeconfig_files(kubeconfig_paths(kubeconfig, environ))
        except IOError as error:
            if kubeconfig is not None or context:
                raise _load_failure(kubeconfig, error)
            settings = in_cluster_settings(environ)
            if settings is None:
                raise InvalidOptionError(
                    "no Kubernetes configuration: give kubeconfig (or host and credentials), set K8S_AUTH_KUBECONFIG "
                    "or KUBECONFIG, or run in a pod with a service account (%s)" % error)
            return settings
    try:
        return settings_from_kubeconfig(config, context)
    except _NeedsLibrary:
        return _library_settings(auth, kubeconfig)
    except InvalidOptionError as error:
        raise _load_failure(kubeconfig, error)


def resolve_connection(auth, environ=None):
    """ConnectionSettings from kubernetes.core-style options: a kubeconfig (path, dict, or the
    default files) or in-cluster config when no host is given, then the explicit options on top."""
    environ = os.environ if environ is None else environ
    explicit_host = auth.get("host")
    if auth.get("kubeconfig") is not None or auth.get("context") or not explicit_host:
        settings = _kubeconfig_settings(auth, environ)
    else:
        settings = ConnectionSettings(explicit_host)
    if explicit_host:
        settings.host = explicit_host.rstrip("/")
    if auth.get("api_key"):
        settings.credentials = Credentials(header="Bearer " + auth["api_key"])
    elif auth.get("username") and auth.get("password"):
        settings.credentials = Credentials(header=basic_auth(auth["username"], auth["password"]))
    if auth.get("client_cert"):
        settings.cert_file, settings.cert_data = auth["client_cert"], None
    if auth.get("client_key"):
        settings.key_file, settings.key_data = auth["client_key"], None
    if auth.get("ca_cert"):
        settings.ca_file, settings.ca_data = auth["ca_cert"], None
    if auth.get("validate_certs") is not None:
        settings.verify_ssl = bool(auth["validate_certs"])
    if auth.get("proxy"):
        settings.proxy = auth["proxy"]
    if auth.get("no_proxy"):
        settings.no_proxy = auth["no_proxy"]
    settings.proxy_headers = dict((k, v) for k, v in (auth.get("proxy_headers") or {}).items() if v)
    if auth.get("impersonate_user"):
        settings.headers.append(("Impersonate-User", auth["impersonate_user"]))
    # One header line per group: the API server reads every Impersonate-Group line and takes a
    # comma inside one as part of a single group's name.
    settings.headers.extend(("Impersonate-Group", group) for group in auth.get("impersonate_groups") or [])
    settings.connect_timeout = timeout_seconds(auth.get("api_connect_timeout"), DEFAULT_CONNECT_TIMEOUT, "api_connect_timeout")
    settings.read_timeout = timeout_seconds(auth.get("api_read_timeout"), DEFAULT_READ_TIMEOUT, "api_read_timeout")
    if not settings.host:
        raise InvalidOptionError("the Kubernetes configuration names no API server (host)")
    return settings


def bypasses_proxy(host_url, no_proxy):
    """True when ``no_proxy`` covers the API server's URL. Its comma-separated entries are read as curl
    and Go read NO_PROXY: ``*``; a host name, which covers its subdomains too (a leading dot is
    allowed); an IP address or a CIDR (``10.0.0.0/8``, ``fd00::/8``), which covers the addresses in it;
    each optionally with ``:port`` (``[v6]:port`` for IPv6), which then covers that port only."""
    if not no_proxy:
        return False
    parts = urlsplit(host_url)
    hostname = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    address = _ip_address(hostname)
    for entry in (part.strip().lower() for part in no_proxy.split(",")):
        if entry == "*":
            return True
        name, entry_port = _split_port(entry)
        if not name or (entry_port is not None and entry_port != port):
            continue
        network = _ip_network(name)
        if network is not None:
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        name = name.lstrip(".").rstrip(".")
        if name and (hostname == name or hostname.endswith("." + name)):
            return True
    return False


def _split_port(entry):
    """(host, port or None) of a no_proxy entry: ``host:port``, ``[v6]:port``, ``[v6]``; a bare IPv6
    address or CIDR has no port."""
    if entry.startswith("["):
        host, _sep, rest = entry[1:].partition("]")
        return host, (_port(rest[1:]) if rest.startswith(":") else None)
    if entry.count(":") == 1:
        host, _sep, port = entry.partition(":")
        return host, _port(port)
    return entry, None


def _port(text):
    return int(text) if text.isdigit() else -1  # -1: a malformed port matches nothing


def _ip_address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip_network(text):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
