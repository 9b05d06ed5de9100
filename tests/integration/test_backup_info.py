"""k8s_backup_info against the real test bed: listing, describing, logs/results/resource list."""
import pytest

from test_backup_support import assert_ok, configmap, delete_prefix, list_keys, run_backup, run_info, s3_location


@pytest.fixture
def location(storage_location, s3, request):
    location = s3_location(storage_location, "info-" + request.node.name[:24])
    yield location
    delete_prefix(s3, location)


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
    assert by_name["first"]["item_count"] == first["item_counts"]["total"]
    assert by_name["first"]["size"] == first["archive_size"] > 0
    # second selects only the labelled ConfigMap, plus its namespace
    assert by_name["second"]["item_count"] == 2 == second["item_counts"]["total"]
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


def test_action_group_module_defaults_in_a_playbook(bed, s3, core_v1, namespace, location, tmp_path):
    import sys

    import testbed
    configmap(core_v1, namespace, "from-playbook")
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/kubedr.backup.kubedr:
      kubeconfig: "{{ kubeconfig }}"
      storage_location: "{{ location }}"
  tasks:
    - kubedr.backup.k8s_backup:
        name: played
        included_namespaces: ["{{ ns }}"]
      register: made
    - kubedr.backup.k8s_backup:
        name: played
        included_namespaces: ["{{ ns }}"]
      register: again
    - kubedr.backup.k8s_backup_info:
        name: played
        resource_list: true
      register: described
    - ansible.builtin.assert:
        that:
          - made is changed
          - again is not changed
          - described.backup.phase == 'Completed'
          - described.backup.resource_list['v1/ConfigMap'] | select('equalto', ns ~ '/from-playbook') | list | length == 1
""")
    extra_vars = {"kubeconfig": bed["KUBECONFIG"], "location": location, "ns": namespace,
                  "ansible_python_interpreter": sys.executable}  # the test venv, which has kubernetes and boto3
    proc = testbed.run_playbook(str(playbook), extra_vars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert location["secret_key"] not in proc.stdout
    assert "backups/played/velero-backup.json" in list_keys(s3, location)
