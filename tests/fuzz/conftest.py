"""Fixtures of the fuzzing run (``make fuzz``): the test bed, a fresh namespace and a storage
location prefix of their own, removed afterwards."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import testbed  # noqa: E402


@pytest.fixture(scope="session")
def bed():
    env = testbed.read_env()
    if env is None:
        env = testbed.cluster_up()
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def api_client(bed):
    from kubernetes import client, config
    cfg = client.Configuration()
    config.load_kube_config(config_file=bed["KUBECONFIG"], client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
def namespace(api_client):
    from kubernetes import client
    name = "fuzz-" + uuid.uuid4().hex[:6]
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def location(bed):
    import boto3
    import botocore.config
    location = {"provider": "s3", "bucket": bed["KUBEDR_S3_BUCKET"], "endpoint_url": bed["KUBEDR_S3_ENDPOINT"],
                "region": "us-east-1", "access_key": bed["KUBEDR_S3_ACCESS_KEY"],
                "secret_key": bed["KUBEDR_S3_SECRET_KEY"], "s3_addressing_style": "path",
                "prefix": "fuzz-" + uuid.uuid4().hex[:6]}
    yield location
    s3 = boto3.client("s3", endpoint_url=location["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=location["access_key"], aws_secret_access_key=location["secret_key"],
                      config=botocore.config.Config(s3={"addressing_style": "path"}))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=location["prefix"] + "/"):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents") or []]
        if keys:
            s3.delete_objects(Bucket=location["bucket"], Delete={"Objects": keys})
