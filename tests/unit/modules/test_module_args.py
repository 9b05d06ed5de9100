"""The modules' options: one repository password option and variable everywhere, restic_repo under
the group's module_defaults, what is no_log (kubeconfig, not access_key), encryption only when the
task asks for it - checked on the argument specs and on modules run as Ansible runs them (a process
reading ANSIBLE_MODULE_ARGS; no cluster: k8s_backup_info and restic_repo on a filesystem location)."""
import base64
import json

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

import testbed
from ansible_collections.kubedr.backup.plugins.module_utils.adapter import args
from ansible_collections.kubedr.backup.plugins.modules import k8s_backup, k8s_backup_info, k8s_restore, restic_repo

KEY_DATA = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nunit-test-private-key\n").decode()
TOKEN = "unit-test-token-6c1f0e"


def full_spec(module):
    return {"k8s_backup": args.common_argument_spec(k8s_backup.BACKUP_ARG_SPEC),
            "k8s_restore": args.common_argument_spec(k8s_restore.RESTORE_ARG_SPEC),
            "k8s_backup_info": args.common_argument_spec(k8s_backup_info.INFO_ARG_SPEC),
            "restic_repo": restic_repo.ARGUMENT_SPEC}[module]


@pytest.mark.parametrize("module", ["k8s_backup", "k8s_restore", "restic_repo"])
def test_one_repository_password_option_and_variable(module):
    spec = full_spec(module)["repository_password"]
    assert spec["no_log"] and spec["fallback"][1] == ["KUBEDR_REPOSITORY_PASSWORD"]
    assert "restic_password" in spec["aliases"]
    assert "password" not in full_spec(module) or module != "restic_repo"


def test_restic_repo_password_is_a_deprecated_alias():
    spec = restic_repo.ARGUMENT_SPEC["repository_password"]
    assert "password" in spec["aliases"]
    assert [alias["name"] for alias in spec["deprecated_aliases"]] == ["password"]


def test_restic_repo_accepts_the_group_s_connection_options():
    assert set(args.K8S_AUTH_ARG_SPEC) - {"password"} <= set(restic_repo.ARGUMENT_SPEC)
    validated = ArgumentSpecValidator(restic_repo.ARGUMENT_SPEC).validate(
        {"kubeconfig": "~/.kube/config", "context": "c", "state": "absent", "repository": "/tmp/r"})
    assert validated.error_messages == []


def test_what_is_no_log():
    assert args.K8S_AUTH_ARG_SPEC["kubeconfig"]["no_log"] is True
    options = args.STORAGE_LOCATION_OPTIONS
    assert options["access_key"]["no_log"] is False
    assert options["secret_key"]["no_log"] is True and options["session_token"]["no_log"] is True


@pytest.mark.parametrize("module", ["k8s_backup", "k8s_restore", "k8s_backup_info"])
def test_the_encryption_variable_alone_gives_no_encryption_option(module, monkeypatch):
    monkeypatch.setenv("KUBEDR_ENCRYPTION_PASSPHRASE", "from-the-environment")
    spec = dict((k, v) for k, v in full_spec(module).items() if k == "encryption")
    assert ArgumentSpecValidator(spec).validate({}).validated_parameters["encryption"] is None
    # Given with only a key, the variable does not make it two secrets.
    given = ArgumentSpecValidator(spec).validate({"encryption": {"key": "k"}})
    assert given.error_messages == [] and given.validated_parameters["encryption"]["passphrase"] is None


def dict_kubeconfig():
    return {"apiVersion": "v1", "kind": "Config", "current-context": "unit",
            "clusters": [{"name": "unit", "cluster": {"server": "https://api.unit.invalid:6443"}}],
            "users": [{"name": "unit", "user": {"client-key-data": KEY_DATA, "token": TOKEN}}],
            "contexts": [{"name": "unit", "context": {"cluster": "unit", "user": "unit"}}]}


def test_a_kubeconfig_dict_is_not_in_the_invocation(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path)}
    result = testbed.run_module("k8s_backup_info", {"kubeconfig": dict_kubeconfig(), "storage_location": location})
    text = json.dumps(result) + result.stderr
    assert not result.failed, result.get("msg")
    assert result["invocation"]["module_args"]["kubeconfig"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert KEY_DATA not in text and TOKEN not in text and "api.unit.invalid" not in text
    # Only the secrets are masked: the rest of the output is not garbled (v1 is a kubeconfig value too).
    assert result["invocation"]["module_args"]["storage_location"]["path"] == str(tmp_path)
    # Failing on a parameter check shows none of it either.
    bad = testbed.run_module("k8s_backup_info", {"kubeconfig": dict_kubeconfig(), "storage_location": location,
                                                 "bogus": 1})
    assert bad.failed and "bogus" in bad["msg"]
    assert KEY_DATA not in json.dumps(bad) + bad.stderr and TOKEN not in json.dumps(bad)


def test_a_kubeconfig_path_stays_visible(tmp_path):
    location = {"provider": "filesystem", "path": str(tmp_path)}
    result = testbed.run_module("k8s_backup_info", {"kubeconfig": "/etc/kube/unit.yml", "storage_location": location})
    assert not result.failed, result.get("msg")
    assert result["invocation"]["module_args"]["kubeconfig"] == "/etc/kube/unit.yml"


def test_restic_repo_under_the_group_s_defaults_and_its_old_names(tmp_path):
    """The options the README's module_defaults give every module of the group; the former password
    name and variable still work, with deprecation warnings, and stay masked."""
    (tmp_path / "restic" / "app").mkdir(parents=True)
    (tmp_path / "restic" / "app" / "config").write_text("x")
    params = {"kubeconfig": dict_kubeconfig(), "context": "unit", "validate_certs": False,
              "storage_location": {"provider": "filesystem", "path": str(tmp_path)},
              "volume_namespace": "app", "state": "absent", "password": "old-name-secret-1"}
    result = testbed.run_module("restic_repo", params)
    assert not result.failed, result.get("msg")
    assert result["changed"] and result["deleted_objects"] == 1
    assert "Alias 'password' is deprecated" in json.dumps(result.get("deprecations")), result.get("deprecations")
    assert "old-name-secret-1" not in json.dumps(result)
    params.pop("password")
    old_variable = testbed.run_module("restic_repo", params, env={"RESTIC_PASSWORD": "old-variable-secret-2",
                                                                  "KUBEDR_REPOSITORY_PASSWORD": ""})
    assert not old_variable.failed, old_variable.get("msg")
    assert "read from RESTIC_PASSWORD" in json.dumps(old_variable.get("deprecations"))
    assert "old-variable-secret-2" not in json.dumps(old_variable)
    current = testbed.run_module("restic_repo", params, env={"RESTIC_PASSWORD": "", "KUBEDR_REPOSITORY_PASSWORD": "n"})
    assert not current.failed and not current.get("deprecations"), current
