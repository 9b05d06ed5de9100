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

from ansible.module_utils.basic import env_fallback

K8S_AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
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
)

STORAGE_LOCATION_OPTIONS = dict(
    provider=dict(type="str", choices=["s3", "filesystem"], default="s3"),
    bucket=dict(type="str"),
    prefix=dict(type="str", default=""),
    path=dict(type="path"),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "s3_url"], fallback=(env_fallback, ["AWS_URL", "S3_URL"])),
    region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
    access_key=dict(
        type="str", no_log=True, aliases=["aws_access_key_id", "aws_access_key"],
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

# File-system backup/restore of pod volumes: the restic repository password and where the
# node agents run (documented by the node_agent doc fragment).
VOLUME_ARG_SPEC = dict(
    repository_password=dict(type="str", no_log=True, fallback=(env_fallback, ["KUBEDR_REPOSITORY_PASSWORD"])),
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
# encryption doc fragment; see module_utils/storage/encryption.py).
ENCRYPTION_ARG_SPEC = dict(
    encryption=dict(
        type="dict",
        apply_defaults=True,  # so that KUBEDR_ENCRYPTION_PASSPHRASE alone is enough
        options=dict(
            passphrase=dict(type="str", no_log=True, fallback=(env_fallback, ["KUBEDR_ENCRYPTION_PASSPHRASE"])),
            key=dict(type="str", no_log=True),
        ),
        mutually_exclusive=[("passphrase", "key")],
    ),
)


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
