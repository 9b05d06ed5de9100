"""Per namespace or cluster-wide (issue 18, backup/listing.py): with namespaces selected, a backup lists each
type in each selected namespace when that costs less than one cluster-wide LIST whose items outside the
selection are dropped, by the measured costs and the cluster's namespace count. The backup's log says which
way it listed, and the archive holds exactly the selected items either way."""
import gzip
import re

import pytest

from test_backup_support import (
    archive_paths, assert_ok, configmap, delete_prefix, get_object, paths_of, run_backup, s3_location, unique,
)


@pytest.fixture
def three_namespaces(core_v1):
    names = [unique("listing-%d" % i) for i in range(3)]
    for name in names:
        core_v1.create_namespace({"metadata": {"name": name}})
        configmap(core_v1, name, "settings")
    yield names
    for name in names:
        core_v1.delete_namespace(name)


@pytest.fixture
def location(storage_location, s3):
    where = s3_location(storage_location, "listing")
    yield where
    delete_prefix(s3, where)


def listing_line(s3, location, name):
    log = gzip.decompress(get_object(s3, location, "backups/%s/%s-logs.gz" % (name, name))).decode()
    return next(line for line in log.splitlines() if "Listing resources" in line)


def namespaces_in(paths):
    """The namespaces of the namespaced items of an archive (Namespace objects are cluster-scoped)."""
    found = set()
    for path in paths:
        match = re.match(r"resources/[^/]+/(?:[^/]+-preferredversion/)?namespaces/([^/]+)/[^/]+\.json$", path)
        if match:
            found.add(match.group(1))
    return found


# ConfigMaps only (one namespaced type). Two namespaces of a test bed's seven or more: two requests cost less
# than reading the ConfigMaps of the five others, so each is listed in place. Every namespace but one: one
# request per namespace would cost far more than the one namespace's items, so the type is listed cluster-wide.
@pytest.mark.parametrize("all_but_one, way", [(False, 'listing="per namespace"'), (True, "listing=cluster-wide")])
def test_the_selected_namespaces_items_and_no_others(bed, s3, location, three_namespaces, all_but_one, way):
    other = three_namespaces[2]
    selection = {"included_namespaces": ["*"], "excluded_namespaces": [other]} if all_but_one else {
        "included_namespaces": three_namespaces[:2]}
    name = unique("listing")
    assert_ok(run_backup(bed, location, name, included_resources=["configmaps"], **selection))
    assert way in listing_line(s3, location, name)
    paths = set(archive_paths(s3, location, name))
    for namespace in three_namespaces[:2]:
        assert paths_of(namespace, "configmaps", ["settings", "kube-root-ca.crt"]) <= paths
    backed_up = namespaces_in(paths)
    assert other not in backed_up
    if not all_but_one:
        assert backed_up == set(three_namespaces[:2])
    else:
        assert "kube-system" in backed_up
