"""A LIST that fails names what it listed: with all_api_versions, the version too, so that the
error tells the failed LIST of another served version from the one of the preferred version."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.backup.listing import ListTask
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import open_store
from test_backup_all_api_versions import GR, GROUP, ITEMS, ROCKBANDS_V1, ROCKBANDS_V2BETA1, TwoVersionCluster, run


@pytest.fixture
def store(tmp_path):
    real = open_store({"provider": "filesystem", "path": str(tmp_path)})
    real.check()
    return real


class FailingVersionCluster(TwoVersionCluster):
    """The API server cannot convert to v2beta1 (a broken conversion webhook): its LIST fails."""

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        if api_resource.group_resource == GR and api_resource.version == "v2beta1":
            raise ApiException(status=500, reason="conversion webhook for %s failed" % GR)
        return super(FailingVersionCluster, self).list_pages(api_resource, namespace, label_selector)


def test_a_failed_list_of_another_served_version_names_the_version(store):
    result = run(store, FailingVersionCluster(ITEMS), included_namespaces=["music"], all_api_versions=True)
    errors = result["backup_errors"]["namespaces"]["music"]
    assert len(errors) == 1, result["backup_errors"]
    assert errors[0].startswith("cannot list %s (version %s/v2beta1) in namespace music: HTTP 500" % (GR, GROUP)), errors
    assert result["phase"] == "PartiallyFailed"


def test_a_list_in_the_preferred_version_reads_as_before():
    assert ListTask(ROCKBANDS_V1, "music").describe() == "%s in namespace music" % GR
    assert ListTask(ROCKBANDS_V2BETA1).describe() == "%s (version %s/v2beta1)" % (GR, GROUP)
