"""The AWX custom credential types shipped in docs/awx/credential-types: valid definitions (inputs, required,
injector templates naming only their inputs) whose injectors set exactly the variables the playbooks and the
modules read - the environment fallbacks of storage_location (endpoint_url, access_key, secret_key) and of
repository_password - and that the playbooks hand those options to the modules unset, so the fallbacks apply."""
import glob
import os
import re

import yaml

from ansible_collections.kubedr.backup.plugins.module_utils.adapter.args import (
    REPOSITORY_PASSWORD_ENV, REPOSITORY_PASSWORD_SPEC, STORAGE_LOCATION_OPTIONS,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = os.path.join(REPO, "docs", "awx", "credential-types")
TEMPLATE = re.compile(r"^\{\{ (\w+) \}\}$")


def load(name):
    with open(os.path.join(TYPES, name)) as handle:
        return yaml.safe_load(handle)


def injected_env(definition):
    """{environment variable: input id} of the type's env injectors."""
    injected = {}
    for variable, template in definition["injectors"]["env"].items():
        match = TEMPLATE.match(template)
        assert match, "%s: %r is not one input" % (variable, template)
        injected[variable] = match.group(1)
    return injected


def env_fallbacks(spec):
    fallback = spec.get("fallback")
    return list(fallback[1]) if fallback else []


def tasks_of(path):
    """Every task of a playbook or task file, blocks flattened."""
    with open(os.path.join(REPO, "playbooks", path)) as handle:
        document = yaml.safe_load(handle)
    pending = [t for play in document for t in play.get("tasks") or []] if "hosts" in document[0] else list(document)
    found = []
    while pending:
        task = pending.pop(0)
        found.append(task)
        for key in ("block", "rescue", "always"):
            pending.extend(task.get(key) or [])
    return found


def module_tasks(path, module):
    return [t[module] for t in tasks_of(path) if module in t]


def test_every_shipped_type_is_a_valid_definition():
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(TYPES, "*.yml")))
    assert files == ["kubedr-repository-password.yml", "kubedr-s3-storage.yml"]
    for name in files:
        definition = load(name)
        assert sorted(definition) == ["description", "injectors", "inputs", "kind", "name"], name
        assert definition["kind"] == "cloud" and definition["name"].startswith("kubedr.backup ")
        fields = definition["inputs"]["fields"]
        ids = [f["id"] for f in fields]
        assert len(set(ids)) == len(ids) and all(f["type"] == "string" and f["label"] for f in fields)
        assert set(definition["inputs"]["required"]) <= set(ids)
        assert sorted(definition["injectors"]) == ["env"]  # nothing in extra_vars, where -v would show it
        assert sorted(set(injected_env(definition).values())) == sorted(ids)  # every input is injected
        secret = [f["id"] for f in fields if f.get("secret")]
        assert secret == [f["id"] for f in fields if "password" in f["id"] or "secret" in f["id"]], name


def test_s3_type_injects_the_storage_location_fallbacks():
    injected = injected_env(load("kubedr-s3-storage.yml"))
    assert injected == {"AWS_URL": "endpoint_url", "AWS_ACCESS_KEY_ID": "access_key",
                        "AWS_SECRET_ACCESS_KEY": "secret_key"}
    for variable, option in injected.items():
        # The option of the same name reads that variable first: nothing else in the environment wins over it.
        assert env_fallbacks(STORAGE_LOCATION_OPTIONS[option])[0] == variable
    assert STORAGE_LOCATION_OPTIONS["secret_key"]["no_log"] is True


def test_password_type_injects_the_repository_password_fallback():
    assert injected_env(load("kubedr-repository-password.yml")) == {REPOSITORY_PASSWORD_ENV: "repository_password"}
    assert env_fallbacks(REPOSITORY_PASSWORD_SPEC) == ["KUBEDR_REPOSITORY_PASSWORD"]
    assert REPOSITORY_PASSWORD_SPEC["no_log"] is True
    # gc reads the variable itself (it passes the password to k8s_backup state=absent and restic_repo prune).
    with open(os.path.join(REPO, "playbooks", "gc.yml")) as handle:
        gc = yaml.safe_load(handle)[0]
    assert "lookup('ansible.builtin.env', 'KUBEDR_REPOSITORY_PASSWORD')" in gc["vars"]["kubedr_gc_repository_password"]


def test_playbooks_leave_the_injected_options_to_the_modules():
    """backup and restore give repository_password only when a variable sets it (omit otherwise), and every module
    task takes kubedr_storage_location whole: the modules' fallbacks read what the credentials inject."""
    for path, module in (("tasks/backup.yml", "kubedr.backup.k8s_backup"), ("tasks/restore.yml", "kubedr.backup.k8s_restore")):
        (task,) = module_tasks(path, module)
        assert task["repository_password"].replace(" ", "").endswith("|default(omit))}}"), task["repository_password"]
        assert task["storage_location"] == "{{ kubedr_storage_location }}"
    for path in ("gc.yml", "backup.yml", "restore.yml", "tasks/backup.yml", "tasks/restore.yml"):
        for task in tasks_of(path):
            for module, args in task.items():
                if module.startswith("kubedr.backup.") and isinstance(args, dict) and "storage_location" in args:
                    assert args["storage_location"] == "{{ kubedr_storage_location }}", (path, module)
