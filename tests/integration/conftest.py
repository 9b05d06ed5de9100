"""Session fixtures for the real test bed. Integration tests are never skipped:
if the test bed cannot start, every test errors with the reason."""
import json
import os

import pytest

import testbed

# Under pytest-xdist (`make integration` runs two workers) each worker has a test bed of its own, so
# tests never see another worker's namespaces, backups or node agents: gw0 keeps the usual bed (the
# ansible-test targets run on it afterwards), gwN gets <bed>-gwN. Set here, at import, so the
# processes the tests start (the demo, ansible-playbook) inherit it.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and _WORKER != "gw0":
    os.environ["KUBEDR_TESTBED"] = "%s-%s" % (testbed.bed_name(), _WORKER)

# Seconds each test file took in a recent run (tests/integration/durations.json): the longest files
# are handed out first, so the workers end together. A file not listed counts as DEFAULT_FILE_SECONDS.
DURATIONS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durations.json")
DEFAULT_FILE_SECONDS = 30


def pytest_collection_modifyitems(session, config, items):
    try:
        with open(DURATIONS_FILE) as handle:
            seconds = json.load(handle)
    except (OSError, ValueError):
        seconds = {}
    # A stable sort: the tests of a file keep their order and stay together.
    items.sort(key=lambda item: -seconds.get(os.path.basename(str(item.fspath)), DEFAULT_FILE_SECONDS))


@pytest.fixture(scope="session")
def bed():
    env = testbed.read_env()
    if env is None or os.environ.get("KUBEDR_FRESH_TESTBED"):
        env = testbed.cluster_up()
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def kubeconfig(bed):
    return bed["KUBECONFIG"]


@pytest.fixture(scope="session")
def api_client(bed):
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=bed["KUBECONFIG"], client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture(scope="session")
def core_v1(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps_v1(api_client):
    from kubernetes import client

    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def s3(bed):
    import boto3
    import botocore.config

    return boto3.client(
        "s3", endpoint_url=bed["KUBEDR_S3_ENDPOINT"], region_name="us-east-1",
        aws_access_key_id=bed["KUBEDR_S3_ACCESS_KEY"], aws_secret_access_key=bed["KUBEDR_S3_SECRET_KEY"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def storage_location(bed):
    """The `storage_location` option pointing at the test bed's MinIO bucket."""
    return {
        "provider": "s3",
        "bucket": bed["KUBEDR_S3_BUCKET"],
        "endpoint_url": bed["KUBEDR_S3_ENDPOINT"],
        "region": "us-east-1",
        "access_key": bed["KUBEDR_S3_ACCESS_KEY"],
        "secret_key": bed["KUBEDR_S3_SECRET_KEY"],
        "s3_addressing_style": "path",
    }


@pytest.fixture
def namespace(core_v1, request):
    """A fresh namespace named after the test, deleted afterwards."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:5]
    core_v1.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core_v1.delete_namespace(name)
    except Exception:  # already gone is fine
        pass
