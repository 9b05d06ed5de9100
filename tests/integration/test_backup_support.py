"""Helpers shared by the k8s_backup / k8s_backup_info integration tests (no tests here)."""
import gzip
import io
import json
import tarfile
import uuid

import testbed


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def s3_location(storage_location, test_prefix):
    location = dict(storage_location)
    location["prefix"] = unique("it/" + test_prefix)
    return location


def run_backup(bed, location, name, check_mode=False, **options):
    args = dict(options, name=name, storage_location=location, kubeconfig=bed["KUBECONFIG"])
    return testbed.run_module("k8s_backup", args, check_mode=check_mode)


def run_info(location, **options):
    return testbed.run_module("k8s_backup_info", dict(options, storage_location=location))


def assert_ok(result):
    assert not result.failed, "module failed: %s\n%s" % (result.get("msg"), result.stderr[-3000:])
    return result


def delete_prefix(s3, location):
    """Remove everything a test wrote under its prefix (and abandoned multipart uploads)."""
    prefix = location["prefix"] + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=prefix):
        for entry in page.get("Contents") or []:
            s3.delete_object(Bucket=location["bucket"], Key=entry["Key"])
    for upload in s3.list_multipart_uploads(Bucket=location["bucket"], Prefix=prefix).get("Uploads") or []:
        s3.abort_multipart_upload(Bucket=location["bucket"], Key=upload["Key"], UploadId=upload["UploadId"])


def object_key(location, key):
    return "/".join(p for p in (location.get("prefix"), key) if p)


def list_keys(s3, location):
    prefix = location["prefix"] + "/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=prefix):
        keys.extend(entry["Key"][len(prefix):] for entry in page.get("Contents") or [])
    return sorted(keys)


def get_object(s3, location, key):
    return s3.get_object(Bucket=location["bucket"], Key=object_key(location, key))["Body"].read()


def read_tarball(data):
    """[(path, bytes)] in archive order, asserting regular files only."""
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            assert member.isreg(), "not a regular file: %s" % member.name
            entries.append((member.name, tar.extractfile(member).read()))
    return entries


def s3_archive(s3, location, name):
    return read_tarball(get_object(s3, location, "backups/%s/%s.tar.gz" % (name, name)))


def archive_paths(s3, location, name):
    """The entry paths of a backup's tarball, in archive order."""
    return [entry[0] for entry in s3_archive(s3, location, name)]


def items_by_path(entries):
    return dict((path, json.loads(data)) for path, data in entries if path.startswith("resources/"))


def gz_json(data):
    return json.loads(gzip.decompress(data))


def raw_item(api_client, path):
    """The object as the API server returns it (raw JSON, no model classes)."""
    response = api_client.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                                   _return_http_data_only=True)
    return json.loads(response.data)


def configmap(core_v1, namespace, name, labels=None, data=None, **metadata):
    body = {"metadata": dict(metadata, name=name, labels=labels or {}), "data": data or {"key": name}}
    return core_v1.create_namespaced_config_map(namespace, body)


def paths_of(namespace, group_resource, names, version="v1"):
    """Both archive paths of each named item of a namespaced resource."""
    paths = set()
    for name in names:
        paths.add("resources/%s/namespaces/%s/%s.json" % (group_resource, namespace, name))
        paths.add("resources/%s/%s-preferredversion/namespaces/%s/%s.json" % (group_resource, version, namespace, name))
    return paths


def cluster_paths_of(group_resource, names, version="v1"):
    paths = set()
    for name in names:
        paths.add("resources/%s/cluster/%s.json" % (group_resource, name))
        paths.add("resources/%s/%s-preferredversion/cluster/%s.json" % (group_resource, version, name))
    return paths
