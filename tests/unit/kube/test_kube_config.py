"""Connection settings from kubernetes.core-style options, kubeconfigs and the in-cluster account."""
import base64
import os

import pytest
import yaml

from ansible_collections.kubedr.backup.plugins.module_utils.kube import config as kube_config
from ansible_collections.kubedr.backup.plugins.module_utils.kube.transport import HttpTransport
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError


def b64(text):
    return base64.b64encode(text.encode()).decode()


def kubeconfig(current="dev", clusters=(), users=(), contexts=()):
    return {"apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": name, "cluster": body} for name, body in clusters],
            "users": [{"name": name, "user": body} for name, body in users],
            "contexts": [{"name": name, "context": body} for name, body in contexts]}


DEV = kubeconfig(
    clusters=[("dev", {"server": "https://dev.example:6443/", "certificate-authority-data": b64("CA PEM"),
                       "tls-server-name": "kubernetes"}),
              ("prod", {"server": "https://prod.example:6443", "certificate-authority": "ca.crt",
                        "insecure-skip-tls-verify": True, "proxy-url": "http://proxy.example:3128"})],
    users=[("dev-admin", {"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")}),
           ("prod-bot", {"token": "s3cr3t"}),
           ("prod-basic", {"username": "ops", "password": "pw"}),
           ("sso", {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "get-token"}})],
    contexts=[("dev", {"cluster": "dev", "user": "dev-admin"}),
              ("prod", {"cluster": "prod", "user": "prod-bot"}),
              ("prod-basic", {"cluster": "prod", "user": "prod-basic"}),
              ("sso", {"cluster": "dev", "user": "sso"}),
              ("anonymous", {"cluster": "prod"}),
              ("broken", {"cluster": "nowhere", "user": "prod-bot"})])


def test_current_context_with_certificate_data():
    settings = kube_config.settings_from_kubeconfig(kube_config.merge_kubeconfigs([(DEV, "/cfg")]))
    assert settings.host == "https://dev.example:6443"
    assert (settings.ca_data, settings.cert_data, settings.key_data) == (b"CA PEM", b"CERT", b"KEY")
    assert settings.tls_server_name == "kubernetes" and settings.verify_ssl
    assert settings.authorization() is None


def test_named_context_token_relative_ca_insecure_and_proxy():
    settings = kube_config.settings_from_kubeconfig(kube_config.merge_kubeconfigs([(DEV, "/cfg")]), "prod")
    assert settings.ca_file == "/cfg/ca.crt"  # relative to the kubeconfig's own directory
    assert settings.verify_ssl is False
    assert settings.proxy == "http://proxy.example:3128"
    assert settings.authorization() == "Bearer s3cr3t"


def test_basic_auth_and_no_user():
    merged = kube_config.merge_kubeconfigs([(DEV, "/cfg")])
    assert kube_config.settings_from_kubeconfig(merged, "prod-basic").authorization() == \
        "Basic " + b64("ops:pw")
    assert kube_config.settings_from_kubeconfig(merged, "anonymous").authorization() is None


def test_unknown_context_or_cluster_and_no_current_context_are_clear_errors():
    merged = kube_config.merge_kubeconfigs([(DEV, "/cfg")])
    with pytest.raises(InvalidOptionError, match="context nope is not in the kubeconfig"):
        kube_config.settings_from_kubeconfig(merged, "nope")
    with pytest.raises(InvalidOptionError, match="names cluster nowhere"):
        kube_config.settings_from_kubeconfig(merged, "broken")
    no_current = kube_config.merge_kubeconfigs([(dict(DEV, **{"current-context": ""}), "/cfg")])
    with pytest.raises(InvalidOptionError, match="no current-context"):
        kube_config.settings_from_kubeconfig(no_current)


def test_credential_plugins_go_to_the_kubernetes_package():
    merged = kube_config.merge_kubeconfigs([(DEV, "/cfg")])
    with pytest.raises(kube_config._NeedsLibrary):
        kube_config.settings_from_kubeconfig(merged, "sso")


def test_files_merge_as_kubectl_merges_them():
    first = kubeconfig(current="", clusters=[("dev", {"server": "https://first:6443", "certificate-authority": "a"})],
                       users=[("dev-admin", {"tokenFile": "token"})],
                       contexts=[("dev", {"cluster": "dev", "user": "dev-admin"})])
    second = kubeconfig(current="dev", clusters=[("dev", {"server": "https://second:6443"})],
                        contexts=[("dev", {"cluster": "other"})])
    merged = kube_config.merge_kubeconfigs([(first, "/one"), (second, "/two")])
    assert merged["current-context"] == "dev"  # the first file to set one
    settings = kube_config.settings_from_kubeconfig(merged)
    assert settings.host == "https://first:6443" and settings.ca_file == "/one/a"  # first definition wins
    assert settings.credentials.token_file == "/one/token"


def test_kubeconfig_paths_follow_the_option_then_kubeconfig_then_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ops")
    assert kube_config.kubeconfig_paths("~/k.yml", {"KUBECONFIG": "/x"}) == ["/home/ops/k.yml"]
    assert kube_config.kubeconfig_paths(None, {"KUBECONFIG": "/a:/b:"}) == ["/a", "/b"]
    assert kube_config.kubeconfig_paths(None, {}) == ["/home/ops/.kube/config"]


def test_explicit_options_override_the_kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(DEV))
    settings = kube_config.resolve_connection({
        "kubeconfig": str(path), "context": "prod", "host": "https://override:6443", "api_key": "explicit",
        "ca_cert": "/etc/ca.pem", "validate_certs": True, "impersonate_user": "system:serviceaccount:a:b",
        "impersonate_groups": ["g1", "g2"], "no_proxy": "override", "proxy_headers": {"user_agent": "x",
                                                                                      "basic_auth": None}})
    assert settings.host == "https://override:6443"
    assert settings.authorization() == "Bearer explicit"
    assert (settings.ca_file, settings.ca_data, settings.verify_ssl) == ("/etc/ca.pem", None, True)
    assert settings.headers == [("Impersonate-User", "system:serviceaccount:a:b"), ("Impersonate-Group", "g1"),
                                ("Impersonate-Group", "g2")]
    assert settings.proxy_headers == {"user_agent": "x"}
    assert kube_config.bypasses_proxy(settings.host, settings.no_proxy)
    assert settings.effective_proxy() is None  # the kubeconfig's proxy-url, but no_proxy covers the host
    settings.no_proxy = "elsewhere.example"
    assert settings.effective_proxy() == "http://proxy.example:3128"


def test_host_and_token_alone_read_no_kubeconfig(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/does/not/exist")
    settings = kube_config.resolve_connection({"host": "https://api:6443", "username": "u", "password": "p"})
    assert settings.host == "https://api:6443" and settings.authorization() == "Basic " + b64("u:p")


def test_in_cluster_account_when_no_kubeconfig_exists(tmp_path, monkeypatch):
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("first\n")
    (account / "ca.crt").write_text("CA")
    monkeypatch.setattr(kube_config, "SERVICE_ACCOUNT_DIR", str(account))
    environ = {"KUBECONFIG": str(tmp_path / "missing"), "KUBERNETES_SERVICE_HOST": "fd00::1",
               "KUBERNETES_SERVICE_PORT": "443"}
    settings = kube_config.resolve_connection({}, environ)
    assert settings.host == "https://[fd00::1]:443" and settings.ca_file == str(account / "ca.crt")
    assert settings.authorization() == "Bearer first"
    # A projected token rotates: it is read again once the refresh period has passed.
    (account / "token").write_text("second\n")
    assert settings.authorization() == "Bearer first"
    now = [kube_config.time.time() + kube_config.TOKEN_FILE_REFRESH_SECONDS + 1]
    monkeypatch.setattr(kube_config.time, "time", lambda: now[0])
    assert settings.authorization() == "Bearer second"


def test_no_configuration_at_all_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidOptionError, match="no Kubernetes configuration"):
        kube_config.resolve_connection({}, {"KUBECONFIG": str(tmp_path / "missing")})
    with pytest.raises(InvalidOptionError, match="cannot load the Kubernetes configuration from"):
        kube_config.resolve_connection({"kubeconfig": str(tmp_path / "missing")}, {})


def test_a_broken_kubeconfig_names_the_file_and_keeps_secrets_out(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [ {name: a, token: s3cr3t\n")
    with pytest.raises(InvalidOptionError) as raised:
        kube_config.resolve_connection({"kubeconfig": str(path)}, {})
    assert str(path) in str(raised.value) and "s3cr3t" not in str(raised.value)
    with pytest.raises(InvalidOptionError, match="not valid base64"):
        kube_config.settings_from_kubeconfig(kube_config.merge_kubeconfigs([(kubeconfig(
            clusters=[("dev", {"server": "https://x", "certificate-authority-data": "%%%"})],
            contexts=[("dev", {"cluster": "dev"})]), "/")]))


def test_kubeconfig_given_as_a_dict(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = kube_config.resolve_connection({"kubeconfig": DEV, "context": "prod"}, {})
    assert settings.ca_file == os.path.join(str(tmp_path), "ca.crt")


@pytest.mark.parametrize("host, no_proxy, bypassed", [
    ("https://api.corp.example:6443", "corp.example", True),
    ("https://api.corp.example:6443", ".corp.example", True),
    ("https://corp.example", ".corp.example", True),
    ("https://api.corp.example:6443", "example.org, other", False),
    ("https://10.0.0.1:6443", "10.0.0.1", True),
    ("https://anything", "*", True),
    ("https://anything", None, False),
    # CIDRs, ports and suffixes, as curl and Go read NO_PROXY.
    ("https://10.1.2.3:6443", "10.0.0.0/8", True),
    ("https://10.1.2.3:6443", "192.168.0.0/16,10.1.2.0/24", True),
    ("https://11.1.2.3:6443", "10.0.0.0/8", False),
    ("https://[fd00::1]:6443", "fd00::/8", True),
    ("https://[fd00::1]:6443", "10.0.0.0/8", False),
    ("https://[fd00::1]:6443", "[fd00::1]:6443", True),
    ("https://10.1.2.3:6443", "10.1.2.3:6443", True),
    ("https://10.1.2.3:6443", "10.1.2.3:443", False),
    ("https://api.corp.example", "api.corp.example:443", True),
    ("https://api.corp.example:6443", "corp.example:6443", True),
    ("https://api.corp.example:6443", ".corp.example:443", False),
    ("https://api.corp.example:6443", " .Corp.Example ", True),
    ("https://notcorp.example:6443", "corp.example", False),
    ("https://api.corp.example:6443", "10.0.0.0/8", False),  # a CIDR never matches a name
])
def test_no_proxy(host, no_proxy, bypassed):
    assert kube_config.bypasses_proxy(host, no_proxy) is bypassed


def test_each_impersonated_group_goes_out_as_a_header_line_of_its_own(recording_server):
    """The API server reads every Impersonate-Group line; one comma-joined line would name a single
    group "g1,g2". A local HTTP server records the lines the transport really sends."""
    settings = kube_config.resolve_connection({
        "host": recording_server.url, "api_key": "t",
        "impersonate_user": "jane", "impersonate_groups": ["developers", "ops,oncall"]})
    transport = HttpTransport(settings)
    assert transport.request("GET", "/api", headers={"Accept": "application/json"}) == b"{}"
    assert transport.request("GET", "/apis") == b"{}"  # the fixed headers are not consumed by a request
    received = [[headers.get_all("Impersonate-Group"), headers.get_all("Impersonate-User")]
                for headers in recording_server.headers]
    assert received == [[["developers", "ops,oncall"], ["jane"]]] * 2


def test_the_kubernetes_package_exec_is_refused_under_impersonation():
    """Credential-plugin users exec through the kubernetes package, whose websocket client sends the
    Authorization header and no other: a command would run as the connection's own user."""
    from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError

    options = {"host": "https://api.example:6443", "api_key": "t"}
    plain = HttpTransport(kube_config.resolve_connection(options))
    assert plain.kubernetes_api_client().configuration.host == "https://api.example:6443"
    for extra, named in (({"impersonate_user": "jane"}, "Impersonate-User header"),
                         ({"impersonate_groups": ["ops"]}, "Impersonate-Group header")):
        transport = HttpTransport(kube_config.resolve_connection(dict(options, **extra)))
        refused = "cannot impersonate for a kubeconfig user with a credential plugin: .* no %s" % named
        with pytest.raises(ClusterError, match=refused):
            transport.kubernetes_api_client()


def test_pod_exec_websocket_carries_the_connection_headers_and_proxy():
    """Pod exec goes over a websocket of our own with the same token, impersonation lines and
    proxy as every other request; only credential-plugin users go through the kubernetes package."""
    from ansible_collections.kubedr.backup.plugins.module_utils.kube import exec as pod_exec

    settings = kube_config.resolve_connection({
        "host": "https://api.example:6443", "api_key": "t0k", "impersonate_user": "jane",
        "impersonate_groups": ["dev", "ops"], "proxy": "http://bob:pw@proxy.example:3128"})
    client = HttpTransport(settings).exec_client()
    assert isinstance(client, pod_exec.WebSocketExec) and client.ssl_context is not None
    assert client.url("shop", "db-0", ["/bin/sh", "-c", "echo a&b"], container="main", stdin=True) == (
        "wss://api.example:6443/api/v1/namespaces/shop/pods/db-0/exec?command=%2Fbin%2Fsh&command=-c&"
        "command=echo+a%26b&container=main&stdin=true&stdout=true&stderr=true&tty=false")
    options = client.connect_options()
    assert options["header"] == ["Impersonate-User: jane", "Impersonate-Group: dev", "Impersonate-Group: ops",
                                 "Authorization: Bearer t0k"]
    assert options["subprotocols"] == ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    assert (options["http_proxy_host"], options["http_proxy_port"], options["http_proxy_auth"]) == (
        "proxy.example", 3128, ("bob", "pw"))
    direct = HttpTransport(kube_config.resolve_connection({"host": "http://127.0.0.1:8080"})).exec_client()
    assert direct.url("a", "b", ["true"]).startswith("ws://127.0.0.1:8080/api/v1/namespaces/a/pods/b/exec?")
    assert direct.ssl_context is None and direct.connect_options()["http_no_proxy"] == ["*"]
    assert "Authorization" not in " ".join(direct.headers())
