# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument specs shared by the modules.

Kubernetes connection options use kubernetes.core's names, aliases and K8S_AUTH_*
environment variables; the storage location is one dict option whose keys use
amazon.aws's names, aliases and AWS_* variables, so the two sets cannot clash.
The matching documentation lives in plugins/doc_fragments (k8s_auth, storage_location).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.kubedr.backup.plugins.module_utils.common import useragent

# A kubeconfig is no_log: given as a dict it holds tokens and keys. ``new_module`` then narrows the
# masking to those secrets and keeps the dict itself out of the result's ``invocation``.
K8S_AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", no_log=True, fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    username=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_PASSWORD"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    no_proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_NO_PROXY"])),
    proxy_headers=dict(
        type="dict",
        options=dict(
            proxy_basic_auth=dict(type="str", no_log=True),
            basic_auth=dict(type="str", no_log=True),
            user_agent=dict(type="str"),
        ),
    ),
    persist_config=dict(type="bool", fallback=(env_fallback, ["K8S_AUTH_PERSIST_CONFIG"])),
    impersonate_user=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_IMPERSONATE_USER"])),
    impersonate_groups=dict(type="list", elements="str", fallback=(env_fallback, ["K8S_AUTH_IMPERSONATE_GROUPS"])),
    # Bounded waiting (not kubernetes.core options): defaults in kube/config.py.
    api_connect_timeout=dict(type="float", fallback=(env_fallback, ["KUBEDR_API_CONNECT_TIMEOUT"])),
    api_read_timeout=dict(type="float", fallback=(env_fallback, ["KUBEDR_API_READ_TIMEOUT"])),
)

# The connection options a module that makes no Kubernetes connection (restic_repo) accepts and
# ignores, so that module_defaults for group/kubedr.backup.kubedr apply to every module of the group
# (as every amazon.aws module accepts the common AWS options). Not ``password``: in restic_repo that
# is the former name of the repository password (documented by k8s_auth's IGNORED fragment).
K8S_AUTH_IGNORED_ARG_SPEC = dict((key, spec) for key, spec in K8S_AUTH_ARG_SPEC.items() if key != "password")

STORAGE_LOCATION_OPTIONS = dict(
    provider=dict(type="str", choices=["s3", "filesystem"], default="s3"),
    bucket=dict(type="str"),
    prefix=dict(type="str", default=""),
    path=dict(type="path"),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "s3_url"], fallback=(env_fallback, ["AWS_URL", "S3_URL"])),
    region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
    access_key=dict(  # an access key ID is no secret (amazon.aws: no_log=False); masking it garbles endpoints
        type="str", no_log=False, aliases=["aws_access_key_id", "aws_access_key"],
        fallback=(env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]),
    ),
    secret_key=dict(
        type="str", no_log=True, aliases=["aws_secret_access_key", "aws_secret_key"],
        fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]),
    ),
    session_token=dict(
        type="str", no_log=True, aliases=["aws_session_token", "security_token"],
        fallback=(env_fallback, ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]),
    ),
    profile=dict(type="str", aliases=["aws_profile"], fallback=(env_fallback, ["AWS_PROFILE"])),
    validate_certs=dict(type="bool", default=True),
    aws_ca_bundle=dict(type="path", fallback=(env_fallback, ["AWS_CA_BUNDLE"])),
    s3_addressing_style=dict(type="str", choices=["auto", "path", "virtual"], default="auto"),
    access_mode=dict(type="str", choices=["ReadWrite", "ReadOnly"], default="ReadWrite"),
    # Bounded waiting for the S3 endpoint (botocore's names); defaults in storage/s3.py.
    connect_timeout=dict(type="float"),
    read_timeout=dict(type="float"),
    # Immutable backups on an S3 Object Lock bucket (docs/immutability.md).
    object_lock=dict(type="str", choices=["governance", "compliance"]),
)

STORAGE_LOCATION_ARG_SPEC = dict(
    storage_location=dict(
        type="dict",
        required=True,
        options=STORAGE_LOCATION_OPTIONS,
        required_if=[("provider", "s3", ["bucket"]), ("provider", "filesystem", ["path"])],
    ),
)


# Velero's item filters (documented by the filters doc fragment).
FILTER_ARG_SPEC = dict(
    included_namespaces=dict(type="list", elements="str"),
    excluded_namespaces=dict(type="list", elements="str"),
    included_resources=dict(type="list", elements="str"),
    excluded_resources=dict(type="list", elements="str"),
    include_cluster_resources=dict(type="bool"),
    label_selector=dict(type="str"),
    or_label_selectors=dict(type="list", elements="str"),
)

# The restic repository password: one option name and one environment variable in every module
# (restic_repo adds its former name ``password`` as a deprecated alias). RESTIC_PASSWORD, the
# variable of earlier releases, is still read, with a deprecation warning (``new_module``).
REPOSITORY_PASSWORD_ENV = "KUBEDR_REPOSITORY_PASSWORD"
DEPRECATED_PASSWORD_ENV = "RESTIC_PASSWORD"
DEPRECATION = dict(version="1.0.0", collection_name="kubedr.backup")
REPOSITORY_PASSWORD_SPEC = dict(type="str", no_log=True, aliases=["restic_password"],
                                fallback=(env_fallback, [REPOSITORY_PASSWORD_ENV]))

# File-system backup/restore of pod volumes: the restic repository password and where the
# node agents run (documented by the node_agent doc fragment).
VOLUME_ARG_SPEC = dict(
    repository_password=REPOSITORY_PASSWORD_SPEC,
    node_agent=dict(
        type="dict",
        options=dict(
            namespace=dict(type="str", default="kubedr-node-agent"),
            label_selector=dict(type="str", default="app.kubernetes.io/name=kubedr-node-agent"),
            host_pods_path=dict(type="str", default="/host_pods"),
            container=dict(type="str"),
        ),
    ),
)


# Optional client-side encryption of a backup's archive and side files (documented by the
# encryption doc fragment; see module_utils/storage/encryption.py). No apply_defaults and no env
# fallback here: a new backup is encrypted only when the task gives ``encryption``; the engine
# reads KUBEDR_ENCRYPTION_PASSPHRASE (storage/encryption.py ``resolve_secret``), so that it never
# clashes with an explicit ``key``.
ENCRYPTION_PASSPHRASE_ENV = "KUBEDR_ENCRYPTION_PASSPHRASE"
ENCRYPTION_ARG_SPEC = dict(
    encryption=dict(
        type="dict",
        options=dict(
            enabled=dict(type="bool", default=True),
            passphrase=dict(type="str", no_log=True),
            key=dict(type="str", no_log=True),
        ),
        mutually_exclusive=[("passphrase", "key")],
    ),
)

# Integrity manifests (docs/integrity.md, archive/manifest.py): the Ed25519 key that signs a new
# backup's manifest (PEM content or a path; a secret), and what a restore or k8s_backup_info checks.
SIGNING_KEY_ARG_SPEC = dict(
    signing_key=dict(type="str", no_log=True, fallback=(env_fallback, ["KUBEDR_SIGNING_KEY"])),
)
VERIFY_KEY_SPEC = dict(type="str", no_log=False, fallback=(env_fallback, ["KUBEDR_VERIFY_KEY"]))
RESTORE_INTEGRITY_ARG_SPEC = dict(
    integrity=dict(type="str", choices=["required", "if_present", "ignore"], default="if_present"),
    verify_key=VERIFY_KEY_SPEC,
)
INFO_INTEGRITY_ARG_SPEC = dict(
    verify_integrity=dict(type="bool", default=False),
    verify_key=VERIFY_KEY_SPEC,
    repository_password=REPOSITORY_PASSWORD_SPEC,  # to look the pod volume snapshots up in their repositories
)

# Secrets of a kubeconfig given as a dict: masked wherever they would appear in the output.
KUBECONFIG_SECRET_KEYS = ("token", "password", "client-key-data")
KUBECONFIG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def kubeconfig_secrets(kubeconfig):
    """The secret values of a kubeconfig dict: its users' tokens, passwords and client keys, and
    every value of an auth-provider's config or a credential plugin's environment."""
    secrets = set()
    for entry in (kubeconfig.get("users") or []) if isinstance(kubeconfig, dict) else []:
        user = (entry.get("user") if isinstance(entry, dict) else None) or {}
        if not isinstance(user, dict):
            continue
        secrets.update(str(user[key]) for key in KUBECONFIG_SECRET_KEYS if user.get(key))
        provider = user.get("auth-provider") or {}
        if isinstance(provider, dict):
            secrets.update(_leaves(provider.get("config") or {}))
        plugin = user.get("exec") or {}
        if isinstance(plugin, dict):
            secrets.update(str(item.get("value")) for item in plugin.get("env") or []
                           if isinstance(item, dict) and item.get("value"))
    return secrets


def new_module(name, argument_spec, **kwargs):
    """The AnsibleModule of module ``name`` and its Kubernetes connection options (None for a
    module without them).

    The kubeconfig option is no_log, so that whatever fails while the parameters are checked shows
    none of it. Past that: a kubeconfig path is shown again (it is no secret); a kubeconfig dict is
    replaced in ``params`` (and so in ``invocation``) by Ansible's no_log placeholder, and only its
    secrets stay masked (masking every value would garble any output that contains C(v1)). A
    passphrase or password taken from the environment is masked too; RESTIC_PASSWORD is read when
    no repository password is given, with a deprecation warning."""
    module = AnsibleModule(argument_spec=argument_spec, **kwargs)
    useragent.set_module(name)
    auth = None
    if "kubeconfig" in argument_spec:
        auth = auth_options(module.params)
        kubeconfig = module.params.get("kubeconfig")
        if kubeconfig is not None:
            others = dict((k, v) for k, v in argument_spec.items() if k != "kubeconfig")
            keep = _no_log_values(others, module.params)
            module.no_log_values.difference_update(set(_leaves(kubeconfig)) - keep)
            if isinstance(kubeconfig, dict):
                module.no_log_values.update(kubeconfig_secrets(kubeconfig))
                module.params["kubeconfig"] = KUBECONFIG_PLACEHOLDER
    if "encryption" in argument_spec and os.environ.get(ENCRYPTION_PASSPHRASE_ENV):
        module.no_log_values.add(os.environ[ENCRYPTION_PASSPHRASE_ENV])
    if "repository_password" in argument_spec:
        _deprecated_password_env(module)
    return module, auth


def _leaves(value):
    """The text of every leaf of a structure, as Ansible lists the values of a no_log option."""
    if isinstance(value, dict):
        return set().union(*[_leaves(item) for item in value.values()]) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*[_leaves(item) for item in value]) if value else set()
    if value is None or isinstance(value, bool) or value == "":
        return set()
    return set([str(value)])


def _no_log_values(argument_spec, params):
    """The values of the no_log options (suboptions included) of ``params``."""
    values = set()
    for key, spec in argument_spec.items():
        value = (params or {}).get(key)
        if spec.get("no_log") and value:
            values.update(_leaves(value))
        if spec.get("options") and isinstance(value, dict):
            values.update(_no_log_values(spec["options"], value))
    return values


def _deprecated_password_env(module):
    """RESTIC_PASSWORD, read when neither repository_password (nor restic_repo's password_file)
    is given nor KUBEDR_REPOSITORY_PASSWORD is set."""
    params = module.params
    old = os.environ.get(DEPRECATED_PASSWORD_ENV)
    if params.get("repository_password") or params.get("password_file") or not old:
        return
    module.no_log_values.add(old)
    params["repository_password"] = old
    module.deprecate("the repository password was read from %s; set %s instead (or the repository_password option)"
                     % (DEPRECATED_PASSWORD_ENV, REPOSITORY_PASSWORD_ENV), **DEPRECATION)


def auth_options(params):
    """The Kubernetes connection options out of a module's params."""
    return dict((key, params.get(key)) for key in K8S_AUTH_ARG_SPEC)


def storage_options(params):
    """The storage_location dict out of a module's params (a copy)."""
    return dict(params["storage_location"])


def common_argument_spec(*extra_specs):
    """Kubernetes auth + storage location + the module's own options, as one argument_spec."""
    spec = dict(K8S_AUTH_ARG_SPEC)
    spec.update(STORAGE_LOCATION_ARG_SPEC)
    for extra in extra_specs:
        spec.update(extra)
    return spec
