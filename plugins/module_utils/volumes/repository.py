# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A restic repository: its identifier, named as Velero names it, and how to reach it.

``Repository`` holds the secrets (password, S3 keys); they only ever go into restic's
environment (``env``), never into the global arguments every command line starts with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError

RESTIC_DIR = "restic"

# Variable names that carry secrets into restic.
SECRET_ENV = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# storage_location.s3_addressing_style -> restic's s3.bucket-lookup ("auto" is restic's default too).
_ADDRESSING = {"path": "path", "virtual": "dns"}


# --------------------------------------------------------------------------- naming

def repo_prefix(storage_location):
    """Everything of a repository identifier but the final "/<namespace>", as Velero's
    getRepoPrefix: s3:<s3Url>/<bucket>/<prefix>/restic, s3:s3-<region>.amazonaws.com/...
    (s3.amazonaws.com when no region is known), or <path>/restic for a filesystem location."""
    loc = storage_location or {}
    provider = loc.get("provider") or "s3"
    prefix = (loc.get("prefix") or "").strip("/")
    if provider == "filesystem":
        path = loc.get("path")
        if not path:
            raise InvalidOptionError("storage_location.path is required for a filesystem location")
        parts = [p for p in prefix.split("/") if p] + [RESTIC_DIR]
        return posixpath.join(os.path.abspath(path), *parts)
    if provider != "s3":
        raise InvalidOptionError("storage_location.provider must be s3 or filesystem, not %r" % provider)
    bucket = (loc.get("bucket") or "").strip("/")
    if not bucket:
        raise InvalidOptionError("storage_location.bucket is required for an s3 location")
    endpoint = loc.get("endpoint_url")
    if endpoint:
        url = endpoint.rstrip("/")
    elif loc.get("region"):
        url = "s3-%s.amazonaws.com" % loc["region"]
    else:
        url = "s3.amazonaws.com"
    return "s3:%s/%s" % (url, posixpath.normpath(posixpath.join(bucket, prefix, RESTIC_DIR)))


def repository_identifier(storage_location, volume_namespace):
    """Velero's GetRepoIdentifier: one repository per volume namespace."""
    if not volume_namespace or "/" in volume_namespace:
        raise InvalidOptionError("a volume namespace is required to name its restic repository (got %r)"
                                 % (volume_namespace,))
    return "%s/%s" % (repo_prefix(storage_location).rstrip("/"), volume_namespace)


def parse_identifier(identifier):
    """Where a repository lives: dict(kind='s3', endpoint_url, bucket, key_prefix) or
    dict(kind='local', path). Used to delete a repository; raises for other backends."""
    ident = identifier or ""
    if ident.startswith("s3:"):
        rest = ident[3:]
        scheme = "https://"
        for candidate in ("http://", "https://"):
            if rest.startswith(candidate):
                scheme, rest = candidate, rest[len(candidate):]
        parts = rest.strip("/").split("/")
        if len(parts) < 2:
            raise InvalidOptionError("cannot read the bucket out of repository %r" % ident)
        host, bucket, key = parts[0], parts[1], "/".join(parts[2:])
        endpoint = scheme + host
        if host in ("s3.amazonaws.com",) or (host.startswith("s3-") and host.endswith(".amazonaws.com")):
            endpoint = None  # AWS itself: let the SDK pick the regional endpoint
        return dict(kind="s3", endpoint_url=endpoint, host=host, bucket=bucket, key_prefix=key)
    if ident.startswith("local:"):
        return dict(kind="local", path=ident[len("local:"):])
    if ident.startswith("/"):
        return dict(kind="local", path=ident)
    raise InvalidOptionError("only s3: and local repositories are supported here, not %r" % ident)


# --------------------------------------------------------------------------- handle

class Repository(object):
    """A restic repository and how to reach it. Holds secrets; never printed whole."""

    def __init__(self, identifier, password=None, password_file=None, access_key=None, secret_key=None,
                 session_token=None, region=None, profile=None, cacert=None, validate_certs=True,
                 addressing_style=None, cache_dir=None, restic_binary="restic"):
        if not identifier:
            raise InvalidOptionError("a restic repository is required")
        self.identifier = identifier
        self.password = password
        self.password_file = password_file
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region
        self.profile = profile
        self.cacert = cacert
        self.validate_certs = validate_certs if validate_certs is not None else True
        self.addressing_style = addressing_style
        self.cache_dir = cache_dir
        self.restic_binary = restic_binary or "restic"

    def __repr__(self):
        return "Repository(%r)" % self.identifier

    @classmethod
    def from_storage_location(cls, storage_location, volume_namespace=None, repository=None, **kwargs):
        """The repository of a volume namespace in a storage location (or `repository`
        verbatim), with the location's S3 credentials and TLS settings."""
        loc = storage_location or {}
        ident = repository or repository_identifier(loc, volume_namespace)
        return cls(ident, access_key=loc.get("access_key"), secret_key=loc.get("secret_key"),
                   session_token=loc.get("session_token"), region=loc.get("region"), profile=loc.get("profile"),
                   cacert=loc.get("aws_ca_bundle"), validate_certs=loc.get("validate_certs", True),
                   addressing_style=loc.get("s3_addressing_style"), **kwargs)

    @property
    def is_s3(self):
        return self.identifier.startswith("s3:")

    def secrets(self):
        """The secret values, for scrubbing output."""
        return [v for v in (self.password, self.access_key, self.secret_key, self.session_token) if v]

    def env(self, base=None):
        """The environment restic runs with: `base` (default: none) plus credentials,
        password (RESTIC_PASSWORD, or RESTIC_PASSWORD_FILE) and cache directory."""
        env = dict(base or {})
        for name in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                     "RESTIC_REPOSITORY_FILE"):
            env.pop(name, None)
        if self.password is not None:
            env["RESTIC_PASSWORD"] = self.password
        elif self.password_file:
            env["RESTIC_PASSWORD_FILE"] = self.password_file
        for name, value in (("AWS_ACCESS_KEY_ID", self.access_key), ("AWS_SECRET_ACCESS_KEY", self.secret_key),
                            ("AWS_SESSION_TOKEN", self.session_token), ("AWS_DEFAULT_REGION", self.region),
                            ("AWS_PROFILE", self.profile), ("RESTIC_CACHE_DIR", self.cache_dir)):
            if value:
                env[name] = value
        return env

    def global_args(self):
        """`restic --repo ... [TLS options] [-o s3.bucket-lookup=...]`: no secrets."""
        args = [self.restic_binary, "--repo=" + self.identifier]
        if self.cacert:
            args.append("--cacert=" + self.cacert)
        if not self.validate_certs:
            args.append("--insecure-tls")
        lookup = _ADDRESSING.get(self.addressing_style or "auto")
        if lookup and self.is_s3:
            args += ["-o", "s3.bucket-lookup=" + lookup]
        return args
