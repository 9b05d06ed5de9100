"""restic 0.14 (Debian's, /usr/bin/restic or KUBEDR_TEST_RESTIC) and the test bed's current restic
(0.18, first on PATH) on one repository, exec'd in a node agent as a backup and a restore run them:
each restores what the other backed up, byte for byte, and every result is read from JSON."""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.volumes import repository, restic, runner
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import StatusLines, VolumeProgress
from test_fs_backup_engine import node_agent  # noqa: F401 pylint: disable=unused-import
from testbed import wait_for

PASSWORD = "versions-" + uuid.uuid4().hex
OLD = os.environ.get("KUBEDR_TEST_RESTIC") or "/usr/bin/restic"
NEW = shutil.which("restic")
SECRETS_ON_STDIN = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def version(binary):
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(part) for part in out.split()[1].split(".")[:2])


@pytest.fixture
def binaries():
    assert NEW and os.path.realpath(NEW) != os.path.realpath(OLD), "the test bed's restic must come before %s" % OLD
    assert version(OLD) == (0, 14) and version(NEW) >= (0, 17), (version(OLD), version(NEW))
    return OLD, NEW


def volume_dir(bed, name, files):
    path = os.path.join(bed["KUBEDR_HOST_PODS_DIR"], str(uuid.uuid4()), "volumes", "kubernetes.io~empty-dir", name)
    os.makedirs(path)
    for fname, data in files.items():
        with open(os.path.join(path, fname), "wb") as f:
            f.write(data)
    return path


def read_files(path):
    out = {}
    for fname in sorted(os.listdir(path)):
        with open(os.path.join(path, fname), "rb") as f:
            out[fname] = f.read()
    return out


def test_each_restic_restores_what_the_other_backed_up(bed, api_client, core_v1, s3, node_agent,  # noqa: F811
                                                       storage_location, binaries):
    old_binary, new_binary = binaries
    location = dict(storage_location, prefix="it-versions-" + uuid.uuid4().hex[:8])
    repos = dict((which, repository.Repository.from_storage_location(location, "app", password=PASSWORD,
                                                                     restic_binary=binary))
                 for which, binary in (("old", old_binary), ("new", new_binary)))
    pods = wait_for(lambda: [p.metadata.name for p in core_v1.list_namespaced_pod(node_agent.namespace).items
                             if p.status.phase == "Running"], what="a running node agent")
    agent = pods[0]

    def in_agent(call, which, *args, **kwargs):
        return call(api_client, node_agent.namespace, agent, repos[which], *args, stdin_env=SECRETS_ON_STDIN, **kwargs)

    first = {"a.txt": b"first version\n", "b.bin": os.urandom(300000)}
    second = dict(first, **{"a.txt": b"second version\n", "c.txt": b"added by restic 0.14\n"})
    source = volume_dir(bed, "data", first)
    progress = VolumeProgress()
    try:
        # The current restic creates the repository (format version 2) and backs up the first version.
        assert in_agent(runner.ensure_repository_in_pod, "new") is True
        config = json.loads(runner.run_local(repos["old"], restic.exists_command(repos["old"]), "cat config").stdout)
        assert config["version"] == 2
        tags_new = restic.volume_tags("b-new", "u1", "pod", "pod-uid", "app", "data")
        made_new = in_agent(runner.volume_backup_in_pod, "new", source, tags_new, on_stdout=StatusLines(progress, "new"))
        assert len(made_new["snapshot_id"]) == 64 and made_new["errors"] == [] and not made_new["incomplete"]
        assert made_new["total_bytes_processed"] == sum(len(d) for d in first.values())
        assert made_new["data_added_packed"] > 0  # a 0.17+ field: the summary really is the new one's

        # restic 0.14 backs up the second version into the same repository: its short ID is resolved.
        for fname, data in second.items():
            with open(os.path.join(source, fname), "wb") as f:
                f.write(data)
        made_old = in_agent(runner.volume_backup_in_pod, "old", source,
                            restic.volume_tags("b-old", "u2", "pod", "pod-uid", "app", "data"))
        assert len(made_old["snapshot_id"]) == 64 and made_old["snapshot_id"] != made_new["snapshot_id"]
        assert "data_added_packed" not in made_old and made_old["files_new"] == 1

        # Each restores the other's snapshot.
        into_old = volume_dir(bed, "restored-by-old", {})
        by_old = in_agent(runner.volume_restore_in_pod, "old", made_new["snapshot_id"], into_old)
        assert by_old["reported"] is False and by_old["files_restored"] is None  # 0.14 prints no JSON here
        assert read_files(into_old) == first
        into_new = volume_dir(bed, "restored-by-new", {})
        by_new = in_agent(runner.volume_restore_in_pod, "new", made_old["snapshot_id"], into_new)
        assert by_new["reported"] is True and by_new["files_restored"] == 3
        assert by_new["bytes_restored"] == sum(len(d) for d in second.values()) and by_new["errors"] == []
        assert read_files(into_new) == second

        # Both list both snapshots, with Velero's tags.
        for repo in repos.values():
            listed = restic.parse_snapshots(runner.run_local(repo, restic.snapshots_command(repo), "snapshots").stdout)
            assert [s["id"] for s in listed] == [made_new["snapshot_id"], made_old["snapshot_id"]]
            assert listed[1]["tag_map"]["backup"] == "b-old"
    finally:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location["bucket"], Prefix=location["prefix"] + "/")
        keys = [dict(Key=o["Key"]) for page in pages for o in page.get("Contents") or []]
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=location["bucket"], Delete=dict(Objects=keys[start:start + 1000]))
