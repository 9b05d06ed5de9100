"""`make ee`: the execution environment's ansible-builder v3 build context (the image schedule_image names; the test
bed has no container engine, so the context is what is tested). The target is run as a user runs it; the
collection tarball in the context is then installed with ansible-galaxy as the image's galaxy stage installs it,
and the context's own introspection (what the image's builder stage runs) reads the installed collection's
requirements."""
import json
import os
import re
import subprocess
import sys
import tarfile

import yaml

import testbed


def run(argv, env=None, cwd=None, timeout=900):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                          env=env or dict(os.environ), timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed (rc %s):\n%s" % (" ".join(argv), proc.returncode, proc.stdout[-6000:])
    return proc.stdout


def requirement_names(lines):
    return sorted(re.split(r"[<>=!\[ #]", line.strip(), 1)[0].lower() for line in lines
                  if line.strip() and not line.strip().startswith("#"))


def test_make_ee_writes_a_build_context_with_the_built_collection(tmp_path):
    ee_dir = tmp_path / "ee"
    out = run(["make", "-s", "-C", testbed.REPO, "ee", "EE_DIR=%s" % ee_dir])
    context = ee_dir / "context"
    assert "build context: %s" % context in out

    with open(os.path.join(testbed.REPO, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)

    # The Containerfile: v3 stages, the base image and the checks of execution-environment.yml, uid 1000.
    containerfile = (context / "Containerfile").read_text()
    with open(os.path.join(testbed.REPO, "execution-environment.yml")) as f:
        definition = yaml.safe_load(f)
    assert definition["version"] == 3
    assert 'ARG EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    for stage in ("AS base", "AS galaxy", "AS builder", "AS final"):
        assert "FROM " in containerfile and stage in containerfile
    assert "restic version && kopia --version && ansible-doc kubedr.backup.k8s_backup" in containerfile
    assert "kopia/releases/download/v${KOPIA_VERSION}" in containerfile
    assert "ENV ANSIBLE_ASYNC_DIR=/tmp/.ansible_async" in containerfile
    assert containerfile.rstrip().splitlines()[-3] == "USER 1000"

    # The galaxy stage copies _build to /build and installs requirements.yml, whose first collection is the tarball
    # at /build/collection/: that is the context's _build/collection/kubedr-backup.tar.gz, the one make built.
    galaxy_stage = containerfile.split("AS galaxy", 1)[1].split("FROM ", 1)[0]
    assert "COPY _build /build" in galaxy_stage and "-r requirements.yml" in galaxy_stage
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    collections = requirements["collections"]
    assert collections[0] == {"name": "/build/collection/kubedr-backup.tar.gz", "type": "file"}
    assert sorted(c["name"] for c in collections[1:]) == ["amazon.aws", "kubernetes.core"]
    tarball = context / "_build" / "collection" / "kubedr-backup.tar.gz"
    built = ee_dir / "dist" / ("kubedr-backup-%s.tar.gz" % galaxy["version"])
    assert tarball.read_bytes() == built.read_bytes()

    with tarfile.open(str(tarball)) as archive:
        names = set(archive.getnames())
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("kubedr", "backup", galaxy["version"])
    for path in ("plugins/modules/k8s_backup.py", "plugins/modules/restic_repo.py", "roles/schedule/tasks/main.yml",
                 "playbooks/backup.yml", "playbooks/gc.yml", "meta/runtime.yml", "meta/execution-environment.yml",
                 "requirements.txt", "bindep.txt"):
        assert path in names, path
    assert not [n for n in names if n.startswith((".testbed", ".git/", "hack/"))]

    # The user's requirement files reach the builder stage unchanged.
    for name in ("requirements.txt", "bindep.txt"):
        with open(os.path.join(testbed.REPO, name)) as f:
            assert (context / "_build" / name).read_text() == f.read()

    # What the image's galaxy stage does with the tarball (Galaxy is not reachable here: without dependencies).
    collections_dir = tmp_path / "collections"
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_dir), ANSIBLE_NOCOLOR="1")
    run([os.path.join(bin_dir, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections_dir),
         str(tarball)], env=env)
    installed = collections_dir / "ansible_collections" / "kubedr" / "backup"
    assert (installed / "roles" / "schedule" / "meta" / "argument_specs.yml").is_file()
    doc = json.loads(run([os.path.join(bin_dir, "ansible-doc"), "--json", "kubedr.backup.k8s_backup"], env=env))
    assert "repository_password" in doc["kubedr.backup.k8s_backup"]["doc"]["options"]
    run([os.path.join(bin_dir, "ansible-playbook"), "--syntax-check", "-i", "localhost,", "kubedr.backup.backup"], env=env)

    # What the image's builder stage does: introspect the installed collections for their Python and system needs.
    pip_out, bindep_out = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(collections_dir),
         "--user-pip", str(context / "_build" / "requirements.txt"), "--user-bindep", str(context / "_build" / "bindep.txt"),
         "--write-pip", str(pip_out), "--write-bindep", str(bindep_out)])
    pip_lines = pip_out.read_text().splitlines()
    for needed in ("kubernetes", "boto3", "jmespath", "websocket-client"):
        assert needed in requirement_names(pip_lines), pip_lines
    assert [line for line in pip_lines if "collection kubedr.backup" in line], pip_lines
    assert [line for line in bindep_out.read_text().splitlines() if line.startswith("restic ")]

    # Idempotent: a second run rewrites the same context.
    first = sorted(str(p.relative_to(context)) for p in context.rglob("*"))
    run(["make", "-s", "-C", testbed.REPO, "ee", "EE_DIR=%s" % ee_dir])
    assert sorted(str(p.relative_to(context)) for p in context.rglob("*")) == first
