"""k8s_backup_info against the real test bed: listing, describing, logs/results/resource list."""
import pytest

from test_backup_support import assert_ok, configmap, list_keys, run_backup, run_info, s3_location


@pytest.fixture
def location(storage_location, request):
    return s3_location(storage_location, "info-" + request.node.name[:24])


def test_list_and_describe(bed, s3, core_v1, namespace, location):
    configmap(core_v1, namespace, "settings", {"app": "shop"})
    first = assert_ok(run_backup(bed, location, "first", included_namespaces=[namespace], ttl="24h"))
    second = assert_ok(run_backup(bed, location, "second", included_namespaces=[namespace],
                                  label_selector="app=shop", labels={"schedule": "nightly"}))

    listing = assert_ok(run_info(location))
    assert listing["changed"] is False
    by_name = dict((b["name"], b) for b in listing["backups"])
    assert sorted(by_name) == ["first", "second"]
    assert by_name["first"]["phase"] == "Completed"
    assert by_name["first"]["created"] == first["start_timestamp"]
    assert by_name["first"]["expiration"] == first["expiration"]
    assert by_name["first"]["items"] == first["items"]["total"]
    assert by_name["first"]["size"] == first["archive_size"] > 0
    # second selects only the labelled ConfigMap, plus its namespace
    assert by_name["second"]["items"] == 2 == second["items"]["total"]
    assert by_name["second"]["labels"] == {"schedule": "nightly", "velero.io/storage-location": "default"}

    described = assert_ok(run_info(location, name="second", logs=True, results=True, resource_list=True))["backup"]
    assert described["status"]["phase"] == "Completed"
    assert described["spec"]["labelSelector"] == {"matchLabels": {"app": "shop"}}
    assert described["item_counts"] == {"total": 2, "per_resource": {"v1/ConfigMap": 1, "v1/Namespace": 1},
                                        "per_namespace": {namespace: 1}}
    assert described["resource_list"] == {"v1/ConfigMap": ["%s/settings" % namespace], "v1/Namespace": [namespace]}
    empty = {"velero": [], "cluster": [], "namespaces": {}}
    assert described["results"] == {"warnings": empty, "errors": empty}
    assert any("Backed up item" in line and "name=settings" in line for line in described["logs"])
    assert described["logs"][-1].endswith("phase=Completed")
    plain = assert_ok(run_info(location, name="second"))["backup"]
    assert "logs" not in plain and "resource_list" not in plain


def test_unknown_backup_and_empty_location(s3, location):
    assert assert_ok(run_info(location))["backups"] == []
    missing = run_info(location, name="nope")
    assert missing.failed and "backup nope not found" in missing["msg"]
    assert list_keys(s3, location) == []


def test_read_only_location_lists_but_refuses_backups(bed, s3, core_v1, namespace, location):
    configmap(core_v1, namespace, "x")
    assert_ok(run_backup(bed, location, "ro", included_namespaces=[namespace]))
    read_only = dict(location, access_mode="ReadOnly")
    assert [b["name"] for b in assert_ok(run_info(read_only))["backups"]] == ["ro"]
    before = list_keys(s3, location)
    refused = run_backup(bed, read_only, "ro-2", included_namespaces=[namespace])
    assert refused.failed and "ReadOnly" in refused["msg"]
    refused = run_backup(bed, read_only, "ro", state="absent")
    assert refused.failed and "ReadOnly" in refused["msg"]
    assert list_keys(s3, location) == before
