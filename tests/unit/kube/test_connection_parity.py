"""Connection parity with kubernetes.core: kubeconfig path lists merged as kubectl merges KUBECONFIG,
no_proxy read as curl and Go read NO_PROXY (CIDRs, ports, suffixes), and the User-Agent every
request to the API server carries."""
import os

import pytest
import yaml

from ansible_collections.kubedr.backup.plugins.module_utils.common import useragent
from ansible_collections.kubedr.backup.plugins.module_utils.kube import config as kube_config
from ansible_collections.kubedr.backup.plugins.module_utils.kube.transport import HttpTransport

GALAXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "galaxy.yml")


def write(path, document):
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_kubeconfig_path_list_is_merged(tmp_path):
    """K8S_AUTH_KUBECONFIG=a:b (the option's environment variable) names two files: the context and
    cluster in one, the user in the other, as kubectl merges KUBECONFIG."""
    clusters = write(tmp_path / "clusters.yml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "work",
        "clusters": [{"name": "c", "cluster": {"server": "https://api.work.example:6443"}}],
        "contexts": [{"name": "work", "context": {"cluster": "c", "user": "u"}}]})
    users = write(tmp_path / "users.yml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "ignored-second",
        "users": [{"name": "u", "user": {"token": "from-the-second-file"}}]})
    listed = os.pathsep.join([clusters, str(tmp_path / "missing.yml"), users])
    settings = kube_config.resolve_connection({"kubeconfig": listed}, {})
    assert settings.host == "https://api.work.example:6443"
    assert settings.authorization() == "Bearer from-the-second-file"
    assert kube_config.kubeconfig_paths(listed, {"KUBECONFIG": "/elsewhere"}) == [
        clusters, str(tmp_path / "missing.yml"), users]


def test_no_proxy_cidr_keeps_the_proxy_off():
    settings = kube_config.resolve_connection({"host": "https://10.96.0.1:443", "api_key": "t",
                                               "proxy": "http://proxy.example:3128", "no_proxy": "10.96.0.0/12"})
    assert settings.effective_proxy() is None
    settings.no_proxy = "172.16.0.0/12"
    assert settings.effective_proxy() == "http://proxy.example:3128"


def test_the_collection_version_is_galaxy_s():
    with open(GALAXY) as handle:
        assert useragent.COLLECTION_VERSION == yaml.safe_load(handle)["version"]


@pytest.fixture
def module_name():
    useragent.set_module("kubedr.backup.k8s_backup")
    yield "kubedr.backup/%s (k8s_backup)" % useragent.COLLECTION_VERSION
    useragent.set_module(None)


def test_requests_carry_the_collection_user_agent(module_name, recording_server):
    """A local HTTP server records the User-Agent the transport sends (the API server's audit log
    shows it as userAgent)."""
    transport = HttpTransport(kube_config.resolve_connection({"host": recording_server.url, "api_key": "t"}))
    transport.request("GET", "/version")
    transport.request("GET", "/api", headers={"Accept": "application/json"})
    assert [headers.get_all("User-Agent") for headers in recording_server.headers] == [[module_name]] * 2
    assert transport.kubernetes_api_client().user_agent == module_name


def test_outside_a_module_the_user_agent_names_the_collection():
    useragent.set_module(None)
    assert useragent.user_agent() == "kubedr.backup/" + useragent.COLLECTION_VERSION
