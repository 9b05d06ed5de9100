"""storage/s3.py: the one S3 client factory (the backup store and restic_repo's deletion share it)
and the deletion of a prefix, against botocore's Stubber (no network)."""
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ansible_collections.kubedr.backup.plugins.module_utils.common import useragent
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import s3
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repo_admin
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import parse_identifier

MINIO = {"endpoint_url": "http://minio:9000", "s3_addressing_style": "path", "access_key": "ak", "secret_key": "sk"}


def test_client_settings():
    client = s3.s3_client(dict(MINIO, validate_certs=False))
    config = client.meta.config
    assert client.meta.endpoint_url == "http://minio:9000"
    assert client.meta.region_name == "us-east-1"
    assert config.signature_version == "s3v4"
    assert config.s3 == {"addressing_style": "path"}
    assert (config.connect_timeout, config.read_timeout) == (10, 60)
    assert config.retries == {"total_max_attempts": 6, "mode": "standard"}  # 5 retries after the first
    assert client._endpoint.http_session._verify is False


def test_timeouts_are_options_and_bad_ones_are_refused():
    config = s3.s3_client(dict(MINIO, connect_timeout=2, read_timeout=3.5)).meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 3.5)
    for bad in (0, -1, "soon", 10 ** 6):
        with pytest.raises(InvalidOptionError, match="storage_location.read_timeout must be a number of seconds"):
            s3.s3_client(dict(MINIO, read_timeout=bad))


def test_ca_bundle_wins_over_validate_certs():
    client = s3.s3_client(dict(MINIO, aws_ca_bundle="/etc/ca.pem", validate_certs=False))
    assert client._endpoint.http_session._verify == "/etc/ca.pem"
    assert s3.s3_client(MINIO)._endpoint.http_session._verify is True


def test_the_location_endpoint_wins_over_the_repository_s():
    assert s3.s3_client(MINIO, endpoint_url="http://other:1").meta.endpoint_url == "http://minio:9000"
    aws = s3.s3_client({"region": "eu-west-1"}, endpoint_url=None)
    assert aws.meta.region_name == "eu-west-1" and "amazonaws.com" in aws.meta.endpoint_url
    assert s3.s3_client({}, endpoint_url="https://h:1").meta.endpoint_url == "https://h:1"


def test_unknown_profile_is_an_option_error():
    with pytest.raises(InvalidOptionError, match="storage_location.profile 'nope' not found"):
        s3.s3_client({"profile": "nope"})


def listed(keys):
    return {"Contents": [{"Key": key} for key in keys], "IsTruncated": False}


def test_delete_prefix_counts_and_deletes():
    client = s3.s3_client(MINIO)
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", listed(["r/app/config", "r/app/keys/k1"]),
                          {"Bucket": "b", "Prefix": "r/app/"})
        stub.add_response("delete_objects", {}, {"Bucket": "b", "Delete": {
            "Objects": [{"Key": "r/app/config"}, {"Key": "r/app/keys/k1"}], "Quiet": True}})
        assert s3.delete_prefix(client, "b", "r/app") == 2
        stub.assert_no_pending_responses()


def test_delete_prefix_dry_run_only_counts():
    client = s3.s3_client(MINIO)
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", listed(["r/app/config"]), {"Bucket": "b", "Prefix": "r/app/"})
        assert s3.delete_prefix(client, "b", "r/app", dry_run=True) == 1


def test_delete_prefix_errors_name_the_place():
    client = s3.s3_client(MINIO)
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "no", 403)
        with pytest.raises(StorageError, match=r"cannot delete s3://b/r/app/: AccessDenied no"):
            s3.delete_prefix(client, "b", "r/app")
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", listed(["r/app/config"]), {"Bucket": "b", "Prefix": "r/app/"})
        stub.add_response("delete_objects", {"Errors": [{"Key": "r/app/config", "Code": "AccessDenied"}]},
                          {"Bucket": "b", "Delete": {"Objects": [{"Key": "r/app/config"}], "Quiet": True}})
        with pytest.raises(StorageError, match=r"could not delete 1 objects under s3://b/r/app/ "
                                               r"\(first: r/app/config AccessDenied\)"):
            s3.delete_prefix(client, "b", "r/app")


def test_a_repository_at_the_bucket_root_is_never_deleted():
    with pytest.raises(InvalidOptionError, match="refusing to delete a whole bucket"):
        repo_admin.delete_s3_repository(MINIO, parse_identifier("s3:http://minio:9000/b"), check_mode=True)


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    """No region or profile from the developer's own environment."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def test_the_region_of_the_profile_and_of_the_environment(monkeypatch, tmp_path):
    """The region is not forced to us-east-1: the option, else the profile's or AWS_DEFAULT_REGION,
    else us-east-1 (S3-compatible servers)."""
    config = tmp_path / "aws-config"
    config.write_text("[profile far]\nregion = ap-south-1\n")
    (tmp_path / "aws-credentials").write_text("[far]\naws_access_key_id = a\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    assert s3.s3_client({"profile": "far"}).meta.region_name == "ap-south-1"
    assert s3.s3_client({"profile": "far", "region": "eu-west-3"}).meta.region_name == "eu-west-3"
    assert s3.s3_client(MINIO).meta.region_name == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert s3.s3_client(MINIO).meta.region_name == "eu-central-1"


class Sent(Exception):
    pass


def test_s3_requests_carry_the_collection_user_agent():
    useragent.set_module("restic_repo")
    try:
        client = s3.s3_client(MINIO)
    finally:
        useragent.set_module(None)
    sent = []

    def capture(request, **_kwargs):
        sent.append(request.headers["User-Agent"])
        raise Sent()

    client.meta.events.register("before-send.s3.HeadBucket", capture)
    with pytest.raises(Sent):
        client.head_bucket(Bucket="b")
    expected = "kubedr.backup/%s (restic_repo)" % useragent.COLLECTION_VERSION
    assert client.meta.config.user_agent_extra == expected
    assert expected in (sent[0].decode() if isinstance(sent[0], bytes) else sent[0])


def test_store_errors_carry_botocores_message():
    """An S3 failure names the endpoint and botocore's own message, not only the exception class."""
    store = s3.S3Store(dict(MINIO, bucket="b"))
    with Stubber(store.client) as stub:
        stub.add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)
        with pytest.raises(StorageError, match=r"S3 could not .* at http://minio:9000: SlowDown Please reduce"):
            store.get_bytes("backups/x/velero-backup.json")
    error = s3.botocore.exceptions.EndpointConnectionError(endpoint_url="http://minio:9000/b")
    message = str(store._fail("read", "k", error))
    assert message == ("cannot reach the S3 endpoint http://minio:9000: "
                       'Could not connect to the endpoint URL: "http://minio:9000/b"')


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def refused():
    return botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1/b/k")


def test_a_request_refused_at_every_attempt_leaves_the_next_ones_a_single_attempt_until_the_endpoint_answers():
    clock = Clock()
    state = s3.EndpointState(clock)
    for attempt in range(1, s3.MAX_ATTEMPTS):  # botocore's own policy decides these retries
        assert state.needs_retry(caught_exception=refused(), attempts=attempt) is None
    assert state.needs_retry(caught_exception=refused(), attempts=s3.MAX_ATTEMPTS) is None
    clock.now += s3.DOWN_FOR - 1
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        state.needs_retry(caught_exception=refused(), attempts=1)
    state.needs_retry(response=({}, {}), attempts=1)  # an answer, even an error status, means it is up
    assert state.needs_retry(caught_exception=refused(), attempts=1) is None


def test_a_down_endpoint_gets_its_retries_back_after_a_while_and_timeouts_are_never_retried():
    clock = Clock()
    state = s3.EndpointState(clock)
    state.needs_retry(caught_exception=refused(), attempts=s3.MAX_ATTEMPTS)
    clock.now += s3.DOWN_FOR
    assert state.needs_retry(caught_exception=refused(), attempts=1) is None
    timeout = botocore.exceptions.ReadTimeoutError(endpoint_url="http://minio:9000/b/k")
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        s3.EndpointState(clock).needs_retry(caught_exception=timeout, attempts=1)
    connect = botocore.exceptions.ConnectTimeoutError(endpoint_url="http://minio:9000/b/k")
    with pytest.raises(botocore.exceptions.ConnectTimeoutError):
        s3.EndpointState(clock).needs_retry(caught_exception=connect, attempts=1)
