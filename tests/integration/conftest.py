"""Session fixtures for the real test bed. Integration tests are never skipped:
if the test bed cannot start, every test errors with the reason."""
import os

import pytest

import testbed


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
