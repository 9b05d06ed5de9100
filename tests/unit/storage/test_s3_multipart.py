"""storage/s3.py's own transfers (botocore only, no s3transfer): one PUT for a small file, parts for
a large one (all sent, listed in order, aborted on a failure) and a streamed GET, against botocore's
Stubber (no network)."""
import io

import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import s3

MINIO = {"endpoint_url": "http://minio:9000", "s3_addressing_style": "path", "access_key": "ak", "secret_key": "sk",
         "bucket": "b", "prefix": "p"}
CHUNK = 5


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setattr(s3, "MULTIPART_CHUNK", CHUNK)
    return s3.S3Store(MINIO)


def test_a_small_file_is_one_put(store):
    with Stubber(store.client) as stub:
        stub.add_response("put_object", {}, {"Bucket": "b", "Key": "p/backups/x/x.tar.gz", "Body": b"abc"})
        store.upload_file("backups/x/x.tar.gz", io.BytesIO(b"abc"))
        stub.assert_no_pending_responses()


def test_a_large_file_goes_up_in_parts_listed_in_order(store):
    data = b"0123456789abcdefghijk"  # 5 parts of 5, 5, 5, 5, 1 bytes
    sent = {}
    with Stubber(store.client) as stub:
        stub.add_response("create_multipart_upload", {"UploadId": "u1"},
                          {"Bucket": "b", "Key": "p/k", "ChecksumAlgorithm": "CRC32"})
        for _part in range(5):
            expected = {"Bucket": "b", "Key": "p/k", "UploadId": "u1", "PartNumber": ANY, "Body": ANY,
                        "ChecksumAlgorithm": "CRC32"}
            stub.add_response("upload_part", {"ETag": '"e"'}, expected)
        stub.add_response("complete_multipart_upload", {}, {
            "Bucket": "b", "Key": "p/k", "UploadId": "u1",
            "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": '"e"'} for n in range(1, 6)]}})
        store.client.meta.events.register(
            "before-parameter-build.s3.UploadPart", lambda params, **_: sent.update({params["PartNumber"]: params["Body"]}))
        store.upload_file("k", io.BytesIO(data))
        stub.assert_no_pending_responses()
    assert b"".join(sent[n] for n in sorted(sent)) == data


def test_a_failed_part_aborts_the_upload_and_says_where(store):
    with Stubber(store.client) as stub:
        stub.add_response("create_multipart_upload", {"UploadId": "u1"})
        stub.add_client_error("upload_part", "SlowDown", "Please reduce your request rate.", 503)
        stub.add_response("upload_part", {"ETag": '"e"'})
        stub.add_response("abort_multipart_upload", {}, {"Bucket": "b", "Key": "p/k", "UploadId": "u1"})
        with pytest.raises(StorageError, match=r"S3 could not upload s3://b/p/k at http://minio:9000: SlowDown"):
            store.upload_file("k", io.BytesIO(b"0123456789"))
        stub.assert_no_pending_responses()


def test_a_download_streams_the_body(store):
    body = io.BytesIO(b"x" * (3 * s3.DOWNLOAD_CHUNK + 7))
    with Stubber(store.client) as stub:
        stub.add_response("get_object", {"Body": body}, {"Bucket": "b", "Key": "p/backups/x/x.tar.gz"})
        out = io.BytesIO()
        store.download_file("backups/x/x.tar.gz", out)
    assert out.getvalue() == b"x" * (3 * s3.DOWNLOAD_CHUNK + 7)


def _region_bytes(body):
    """What botocore would send of a FileRegion body (read from its start, left as found)."""
    assert isinstance(body, s3.FileRegion), "a real file's part is a region of it, never bytes in memory"
    position = body.tell()
    body.seek(0)
    data = body.read()
    body.seek(position)
    return data


def test_a_real_file_goes_up_as_regions_of_it(store, tmp_path):
    data = b"0123456789abcdefghijk"
    sent = {}
    with open(str(tmp_path / "tarball"), "w+b") as handle:
        handle.write(data)
        handle.seek(0)
        with Stubber(store.client) as stub:
            stub.add_response("create_multipart_upload", {"UploadId": "u1"})
            for _part in range(5):
                stub.add_response("upload_part", {"ETag": '"e"'})
            stub.add_response("complete_multipart_upload", {})
            store.client.meta.events.register(
                "before-parameter-build.s3.UploadPart",
                lambda params, **_: sent.update({params["PartNumber"]: _region_bytes(params["Body"])}))
            store.upload_file("k", handle)
            stub.assert_no_pending_responses()
    assert sorted(sent) == [1, 2, 3, 4, 5] and b"".join(sent[n] for n in sorted(sent)) == data


def test_a_small_real_file_is_one_put_of_a_region(store, tmp_path):
    sent = []
    with open(str(tmp_path / "small"), "w+b") as handle:
        handle.write(b"abc")
        handle.seek(0)
        with Stubber(store.client) as stub:
            stub.add_response("put_object", {})
            store.client.meta.events.register(
                "before-parameter-build.s3.PutObject", lambda params, **_: sent.append(_region_bytes(params["Body"])))
            store.upload_file("k", handle)
            stub.assert_no_pending_responses()
    assert sent == [b"abc"]


def test_a_file_region_reads_seeks_and_measures_only_its_bytes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with open(str(path), "rb") as handle:
        region = s3.FileRegion(handle.fileno(), 3, 4)
        assert len(region) == 4 and region.read(2) == b"34" and region.tell() == 2 and len(region) == 2
        assert region.read() == b"56" and region.read() == b""
        assert region.seek(0, 2) == 4 and region.seek(-3, 1) == 1 and region.read(10) == b"456"
        assert region.seek(0) == 0 and region.read(-1) == b"3456"
        other = s3.FileRegion(handle.fileno(), 0, 3)  # another region of the same file reads independently
        region.seek(1)
        assert other.read() == b"012" and region.read(1) == b"4"
