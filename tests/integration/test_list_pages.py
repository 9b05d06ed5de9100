"""LIST pages that grow (kube/client.py next_page_size): a LIST asks for 500 items first, then for as many as fill
about 4 MiB (at most 2,500), and keeps pages of 500 under a label selector. Through the collection's playbooks, as
users run them: a namespace of 3,000 ConfigMaps (pages of 500, 2,000 and the rest) is backed up whole, once and no
more, a second run of the same name leaves the committed backup as it is, a label-selected backup holds exactly
the matching half, and the restore puts every ConfigMap back."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from test_backup_support import archive_paths
from test_playbooks_support import backups, delete_prefix, delete_quietly, location_vars, playbook, s3_env, unique

COUNT = 3000


@pytest.fixture
def location(storage_location, s3):
    where = location_vars(storage_location, "list-pages")
    yield where
    delete_prefix(s3, where)


def configmap_names(core_v1, namespace):
    """Every ConfigMap name of a namespace, listed in pages (the kubernetes client's, not ours)."""
    names, token = [], None
    while True:
        page = core_v1.list_namespaced_config_map(namespace, limit=500, _continue=token)
        names.extend(item.metadata.name for item in page.items)
        token = page.metadata._continue
        if not token:
            return names


def archived_configmaps(s3, location, name, namespace):
    """The ConfigMap names of a backup's tarball, at their plain paths (each also has a preferred-version copy)."""
    prefix = "resources/configmaps/namespaces/%s/" % namespace
    return [path[len(prefix):-len(".json")] for path in archive_paths(s3, location, name) if path.startswith(prefix)]


def test_thousands_of_configmaps_back_up_and_restore_whole_across_grown_pages(bed, core_v1, s3, namespace, location):
    def create(index):
        core_v1.create_namespaced_config_map(namespace, {"metadata": {
            "name": "cm-%04d" % index, "labels": {"half": "even" if index % 2 == 0 else "odd"}}, "data": {"i": str(index)}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(COUNT)))
    expected = sorted(configmap_names(core_v1, namespace))
    assert len(expected) == COUNT + 1  # and kube-root-ca.crt

    base = {"kubedr_storage_location": location, "kubedr_included_namespaces": [namespace],
            "kubedr_included_resources": ["configmaps"], "kubedr_poll_interval": 1}
    name = unique("pages")
    for run in range(2):  # the second run finds the backup committed and leaves it as it is
        out = playbook(bed, "kubedr.backup.backup", dict(base, kubedr_backup_name=name), env=s3_env(bed)).stdout
        assert re.search(r"Backup %s: Completed, %d items, 0 warnings, 0 errors" % (name, COUNT + 1), out), out[-3000:]
    assert sorted(archived_configmaps(s3, location, name, namespace)) == expected  # each once, none lost
    assert backups(bed, location)[name]["item_count"] == COUNT + 1

    selected = unique("pages-even")
    out = playbook(bed, "kubedr.backup.backup", dict(base, kubedr_backup_name=selected, kubedr_label_selector="half=even"),
                   env=s3_env(bed)).stdout
    assert re.search(r"Backup %s: Completed, %d items," % (selected, COUNT // 2), out), out[-3000:]
    assert sorted(archived_configmaps(s3, location, selected, namespace)) == [
        "cm-%04d" % index for index in range(0, COUNT, 2)]

    target = unique("pages-restored")
    try:
        out = playbook(bed, "kubedr.backup.restore", {
            "kubedr_storage_location": location, "kubedr_backup_name": name,
            "kubedr_namespace_mapping": {namespace: target}, "kubedr_poll_interval": 1}, env=s3_env(bed)).stdout
        created = re.search(r"Restore \S+ of backup %s: Completed, (\d+) created" % name, out)
        assert created, out[-3000:]
        # kube-root-ca.crt too, unless the controller made the new namespace's own first
        assert int(created.group(1)) in (COUNT, COUNT + 1)
        assert sorted(configmap_names(core_v1, target)) == expected
    finally:
        delete_quietly(core_v1.delete_namespace, target)
