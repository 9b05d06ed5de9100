"""Volume data restored in place from a kopia snapshot (k8s_restore volume_data_in_place, through the
restore_volumes playbook): the backup is made with uploader_type kopia, the files are changed and one
is added, and the restore puts the snapshot's contents back and removes the added file (delete_extra,
kopia's snapshot restore --delete-extra). The set-up is test_restore_in_place's; the node agent's
exec runs kopia as a local process."""
import uuid

import pytest

from test_playbooks_support import playbook
from test_restore_in_place import assert_scaled_back, backed_up_app, change_files, read_files, restore_vars

PASSWORD = "in-place-kopia-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def app(bed, core_v1, apps_v1, s3, storage_location, tmp_path_factory):
    with backed_up_app(bed, core_v1, apps_v1, s3, storage_location, str(tmp_path_factory.mktemp("disks")),
                       PASSWORD, uploader_type="kopia") as backed_up:
        yield backed_up


def test_kopia_volume_data_restored_in_place(bed, core_v1, apps_v1, app):
    namespace = app["namespace"]
    changed = change_files(app)
    assert set(changed) == {"a.txt", "added.txt", "b.txt"} and changed["a.txt"] != app["snapshot_files"]["a.txt"]
    before = apps_v1.read_namespaced_deployment("web", namespace)
    preview = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app), check=True).stdout
    assert ("would restore snapshot %s (kopia, from %s/data) into claim %s/data, removing the files it lacks"
            % (app["snapshot_id"], namespace, namespace)) in preview, preview

    out = playbook(bed, "kubedr.backup.restore_volumes", restore_vars(bed, app)).stdout
    assert "%s/data: Completed, snapshot %s" % (namespace, app["snapshot_id"]) in out, out
    # Every file as the snapshot holds it; added.txt, which the snapshot lacks, removed.
    assert read_files(app["disk"]) == app["snapshot_files"]
    assert_scaled_back(apps_v1, core_v1, namespace, before)
