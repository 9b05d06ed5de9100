"""How the modules reach the API server, against the real one: a service account token in a token
file with the CA as data, a credential plugin (exec) through the kubernetes package, an explicit
host and token, and what a wrong token gives."""
import base64
import stat
import sys
import uuid

import pytest
import yaml

from test_backup_support import assert_ok, delete_prefix, run_backup, s3_location

from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException

SELF_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def whoami(client):
    review = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=SELF_REVIEW)
    return review["status"]["userInfo"]["username"]


@pytest.fixture(scope="module")
def admin(bed):
    return KubeClient({"kubeconfig": bed["KUBECONFIG"]})


@pytest.fixture(scope="module")
def service_account(admin):
    """A service account that may read one namespace (the ``view`` role there), and a token of it."""
    namespace = "conn-%s" % uuid.uuid4().hex[:6]
    admin.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": namespace}})
    admin.request("POST", "/api/v1/namespaces/%s/serviceaccounts" % namespace,
                  body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}})
    admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings" % namespace, body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    admin.request("POST", "/api/v1/namespaces/%s/configmaps" % namespace, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}})
    token = admin.request("POST", "/api/v1/namespaces/%s/serviceaccounts/reader/token" % namespace, body={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
    yield namespace, token["status"]["token"]
    admin.request("DELETE", "/api/v1/namespaces/%s" % namespace)


def bed_cluster(bed):
    with open(bed["KUBECONFIG"]) as handle:
        return dict(yaml.safe_load(handle)["clusters"][0]["cluster"])


def cluster_entry(bed):
    cluster = bed_cluster(bed)
    with open(cluster.pop("certificate-authority"), "rb") as handle:
        cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode()
    return cluster


def write_kubeconfig(path, cluster, user):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "bed", "cluster": cluster}], "users": [{"name": "sa", "user": user}],
        "contexts": [{"name": "sa", "context": {"cluster": "bed", "user": "sa"}}]}))
    return str(path)


def test_token_file_and_ca_data(bed, service_account, tmp_path):
    namespace, token = service_account
    (tmp_path / "token").write_text(token)
    # A relative tokenFile is read from the kubeconfig's own directory.
    client = KubeClient({"kubeconfig": write_kubeconfig(tmp_path / "config", cluster_entry(bed),
                                                        {"tokenFile": "token"})})
    assert whoami(client) == "system:serviceaccount:%s:reader" % namespace
    names = [item["metadata"]["name"] for item in client.list_items(
        admin_resource(client, "configmaps"), namespace)]
    assert "settings" in names


def test_credential_plugin_through_the_kubernetes_package(bed, service_account, tmp_path):
    namespace, token = service_account
    plugin = tmp_path / "get-token"
    plugin.write_text("#!%s\nimport json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      "'kind': 'ExecCredential', 'status': {'token': %r}}))\n" % (sys.executable, token))
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    path = write_kubeconfig(tmp_path / "config", cluster_entry(bed), {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}})
    client = KubeClient({"kubeconfig": path})
    assert whoami(client) == "system:serviceaccount:%s:reader" % namespace


def test_explicit_host_and_token_and_a_wrong_token(bed, service_account, admin):
    namespace, token = service_account
    ca_file = bed_cluster(bed)["certificate-authority"]
    client = KubeClient({"host": admin.host, "api_key": token, "ca_cert": ca_file})
    assert whoami(client) == "system:serviceaccount:%s:reader" % namespace
    wrong = KubeClient({"host": admin.host, "api_key": "not-a-token", "ca_cert": ca_file})
    with pytest.raises(ApiException) as raised:
        wrong.get("/api/v1/namespaces/%s/configmaps" % namespace)
    assert raised.value.status == 401 and "not-a-token" not in str(raised.value)
    # The server's certificate is checked against the CA: none given, certifi's bundle does not know it.
    unverified = KubeClient({"host": admin.host, "api_key": token}, max_attempts=1)
    from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import ClusterError
    with pytest.raises(ClusterError, match="cannot reach the Kubernetes API server.*CERTIFICATE_VERIFY_FAILED"):
        unverified.get("/version")
    assert KubeClient({"host": admin.host, "api_key": token, "validate_certs": False}).get("/version")["major"] == "1"


def test_a_backup_as_the_service_account(bed, s3, storage_location, service_account, tmp_path):
    """The whole module through a token file: the namespace it may read is backed up."""
    namespace, token = service_account
    (tmp_path / "token").write_text(token)
    path = write_kubeconfig(tmp_path / "config", cluster_entry(bed), {"tokenFile": str(tmp_path / "token")})
    location = s3_location(storage_location, "conn")
    name = "conn-%s" % uuid.uuid4().hex[:6]
    result = run_backup(dict(bed, KUBECONFIG=path), location, name, included_namespaces=[namespace],
                        included_resources=["configmaps"])
    assert_ok(result)
    assert result["item_counts"]["per_resource"]["v1/ConfigMap"] >= 1
    delete_prefix(s3, location)


def admin_resource(client, plural):
    return client.discover().find(plural)
