# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

"""Backup storage locations in Velero's object layout: S3 (boto3) and a local directory.

``open_store(storage_location)`` returns a BackupStore. Keys are relative to the location
root (``<bucket>/<prefix>/`` or ``<path>/<prefix>/``); layout helpers name the objects of a
backup and of a restore exactly as Velero does. ``velero-backup.json`` is the commit
marker of a backup: a backup without it does not exist for ``list_backups``.
"""

import errno
import gzip
import json
import os
import shutil
import tempfile

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    from boto3.s3.transfer import TransferConfig
    HAS_BOTO3 = True
except ImportError:  # reported when an s3 location is used
    HAS_BOTO3 = False

# Top-level folders Velero tolerates in a location; anything else makes it mark the location invalid.
VELERO_TOP_LEVEL_DIRS = frozenset(["backups", "restores", "restic", "kopia", "metadata", "plugins"])
BACKUP_METADATA = "velero-backup.json"
MULTIPART_CHUNK = 16 * 1024 * 1024


# ---------------------------------------------------------------- layout (pure)

def backup_dir(backup_name):
    return "backups/%s/" % backup_name


def backup_keys(backup_name):
    """Every object of a backup, by role, as keys relative to the location root."""
    base = backup_dir(backup_name) + backup_name
    return {
        "tarball": base + ".tar.gz",
        "metadata": backup_dir(backup_name) + BACKUP_METADATA,
        "logs": base + "-logs.gz",
        "resource_list": base + "-resource-list.json.gz",
        "results": base + "-results.gz",
        "pod_volume_backups": base + "-podvolumebackups.json.gz",
        "volume_snapshots": base + "-volumesnapshots.json.gz",
        "progress": base + "-progress.json",
    }


def restore_dir(restore_name):
    return "restores/%s/" % restore_name


def restore_keys(restore_name):
    base = restore_dir(restore_name) + "restore-" + restore_name
    return {
        "logs": base + "-logs.gz",
        "results": base + "-results.gz",
        "resource_list": base + "-resource-list.json.gz",
    }


GZIP_LEVEL = 6  # Go's default, so Velero's; gzip's own default (9) is several times slower for little


def gzip_json(document):
    """Velero's ``.json.gz`` encoding: compact JSON plus a newline, gzipped."""
    return gzip.compress(json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n",
                         compresslevel=GZIP_LEVEL)


def upload_gzipped(store, key, write):
    """Gzip what ``write(file object)`` writes into a temporary file, then upload it with the
    store's own ``upload_file`` (an encrypting store encrypts it): content that grows with the
    item count never sits in memory whole."""
    with tempfile.TemporaryFile() as compressed:
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=GZIP_LEVEL) as out:
            write(out)
        compressed.seek(0)
        store.upload_file(key, compressed)


def gunzip_json(data):
    """Inverse of gzip_json; a missing object (None) reads as None."""
    if data is None:
        return None
    try:
        text = gzip.decompress(data).decode("utf-8").strip()
        return json.loads(text) if text else None
    except (OSError, EOFError, ValueError) as error:
        raise StorageError("stored object is not gzipped JSON: %s" % error)


def _join(*parts):
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


# ---------------------------------------------------------------- stores

class BackupStore(object):
    """Common operations; subclasses implement the object primitives."""

    read_only = False

    def ensure_writable(self):
        if self.read_only:
            raise InvalidOptionError("the storage location is ReadOnly (storage_location.access_mode); "
                                     "nothing can be written to it")

    def get_json_gz(self, key):
        return gunzip_json(self.get_bytes(key))

    def put_json_gz(self, key, document):
        self.put_bytes(key, gzip_json(document))

    def backup_metadata(self, backup_name):
        """The stored ``velero-backup.json`` as a dict, or None when the backup is not committed."""
        data = self.get_bytes(backup_keys(backup_name)["metadata"])
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise StorageError("%s of backup %s is not valid JSON: %s" % (BACKUP_METADATA, backup_name, error))

    def list_backups(self):
        """Names of committed backups (those with velero-backup.json), sorted."""
        names = set()
        for key in self.list_keys("backups/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == BACKUP_METADATA:
                names.add(parts[1])
        return sorted(names)

    def delete_backup(self, backup_name):
        """Delete every object under ``backups/<name>/``, the commit marker first so a partly
        deleted backup is never listed. Returns the number of objects deleted."""
        self.ensure_writable()
        keys = self.list_keys(backup_dir(backup_name))
        marker = backup_keys(backup_name)["metadata"]
        ordered = [k for k in keys if k == marker] + [k for k in keys if k != marker]
        for key in ordered:
            self.delete(key)
        return len(ordered)

    def unexpected_top_level_dirs(self):
        """Top-level folders Velero would reject (it marks such a location unavailable)."""
        return sorted(d for d in self.top_level_dirs() if d not in VELERO_TOP_LEVEL_DIRS)

    def backup_size(self, backup_name):
        return self.size(backup_keys(backup_name)["tarball"])


class FilesystemStore(BackupStore):
    """A location on a local (or mounted) directory: ``<path>/<prefix>/``."""

    def __init__(self, path, prefix="", read_only=False):
        if not path:
            raise InvalidOptionError("storage_location.path is required for the filesystem provider")
        self.root = os.path.abspath(os.path.join(path, *[p for p in prefix.split("/") if p]))
        self.read_only = read_only

    def _path(self, key):
        if ".." in key.split("/"):
            raise StorageError("invalid object key %s" % key)
        return os.path.join(self.root, *key.split("/"))

    def check(self, for_write=True):
        """Fail early when the directory cannot be used. Nothing is created here (the first write
        creates what it needs), so a check-mode run leaves no trace; a missing directory is fine
        for writing when it can be created, an error for reading."""
        if os.path.isdir(self.root):
            if for_write and not self.read_only and not os.access(self.root, os.W_OK):
                raise StorageError("storage location directory %s is not writable" % self.root)
            return
        if self.read_only or not for_write:
            raise StorageError("storage location directory %s does not exist" % self.root)
        ancestor = os.path.dirname(self.root)
        while not os.path.isdir(ancestor) and ancestor != os.path.dirname(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.access(ancestor, os.W_OK):
            raise StorageError("storage location directory %s cannot be created (%s is not writable)"
                               % (self.root, ancestor))

    def url(self, key):
        return self._path(key)

    def _write(self, key, writer):
        self.ensure_writable()
        target = self._path(key)
        parent = os.path.dirname(target)
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent)
            # Write beside the target and rename: a reader never sees a half-written object.
            handle, temporary = tempfile.mkstemp(dir=parent, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    writer(out)
                os.rename(temporary, target)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
        except OSError as error:
            raise StorageError("cannot write %s: %s" % (target, error.strerror or error))

    def put_bytes(self, key, data):
        self._write(key, lambda out: out.write(data))

    def upload_file(self, key, fileobj):
        self._write(key, lambda out: shutil.copyfileobj(fileobj, out, MULTIPART_CHUNK))

    def get_bytes(self, key):
        try:
            with open(self._path(key), "rb") as handle:
                return handle.read()
        except (IOError, OSError) as error:
            if error.errno == errno.ENOENT:
                return None
            raise StorageError("cannot read %s: %s" % (self._path(key), error.strerror))

    def download_file(self, key, fileobj):
        try:
            with open(self._path(key), "rb") as handle:
                shutil.copyfileobj(handle, fileobj, MULTIPART_CHUNK)
        except (IOError, OSError) as error:
            if error.errno == errno.ENOENT:
                raise NotFoundError("object %s does not exist in the storage location" % key)
            raise StorageError("cannot read %s: %s" % (self._path(key), error.strerror))

    def size(self, key):
        try:
            return os.path.getsize(self._path(key))
        except OSError:
            return None

    def list_keys(self, prefix):
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        keys = []
        for directory, _subdirs, files in os.walk(base):
            for filename in files:
                if filename.startswith(".tmp-"):
                    continue
                relative = os.path.relpath(os.path.join(directory, filename), self.root)
                keys.append(relative.replace(os.sep, "/"))
        return sorted(keys)

    def delete(self, key):
        self.ensure_writable()
        path = self._path(key)
        try:
            os.unlink(path)
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise StorageError("cannot delete %s: %s" % (path, error.strerror))
        # Drop emptied folders so a deleted backup leaves nothing behind.
        parent = os.path.dirname(path)
        while parent != self.root and parent.startswith(self.root):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)

    def top_level_dirs(self):
        if not os.path.isdir(self.root):
            return []
        return sorted(d for d in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, d)))


def _s3_error_code(error):
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class S3Store(BackupStore):
    """A location in an S3 bucket (or MinIO): ``s3://<bucket>/<prefix>/``."""

    def __init__(self, options):
        if not HAS_BOTO3:
            raise StorageError("the Python 'boto3' package is required for the s3 provider (pip install boto3)")
        if not options.get("bucket"):
            raise InvalidOptionError("storage_location.bucket is required for the s3 provider")
        self.bucket = options["bucket"]
        self.prefix = (options.get("prefix") or "").strip("/")
        self.endpoint = options.get("endpoint_url") or "AWS S3"
        self.read_only = options.get("access_mode") == "ReadOnly"
        try:
            session = boto3.session.Session(
                aws_access_key_id=options.get("access_key"), aws_secret_access_key=options.get("secret_key"),
                aws_session_token=options.get("session_token"), profile_name=options.get("profile"),
                region_name=options.get("region") or "us-east-1")
        except botocore.exceptions.ProfileNotFound:
            raise InvalidOptionError("storage_location.profile %r not found in the AWS configuration"
                                     % options.get("profile"))
        verify = options.get("aws_ca_bundle") or (options.get("validate_certs") is not False)
        config = botocore.config.Config(
            s3={"addressing_style": options.get("s3_addressing_style") or "auto"},
            signature_version="s3v4",
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10, read_timeout=120,
        )
        self.client = session.client("s3", endpoint_url=options.get("endpoint_url"), verify=verify, config=config)
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_CHUNK, multipart_chunksize=MULTIPART_CHUNK,
                                       max_concurrency=4, use_threads=True)

    def _key(self, key):
        return _join(self.prefix, key)

    def url(self, key):
        return "s3://%s/%s" % (self.bucket, self._key(key))

    def _fail(self, action, key, error):
        """A StorageError that names the request and the reason; never credentials."""
        code = _s3_error_code(error)
        where = "s3://%s/%s" % (self.bucket, self._key(key)) if key is not None else "bucket %s" % self.bucket
        if isinstance(error, botocore.exceptions.NoCredentialsError):
            return StorageError("no S3 credentials: set storage_location.access_key and secret_key (or a profile)")
        if isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
            return StorageError("cannot reach the S3 endpoint %s: %s" % (self.endpoint, type(error).__name__))
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied", "InvalidToken",
                    "ExpiredToken"):
            return StorageError("S3 refused to %s %s at %s (%s): check storage_location.access_key/secret_key "
                                "and the bucket policy" % (action, where, self.endpoint, code or "HTTP 403"))
        if code == "NoSuchBucket" or (code == "404" and key is None):
            return StorageError("S3 bucket %s does not exist at %s" % (self.bucket, self.endpoint))
        return StorageError("S3 could not %s %s at %s: %s" % (action, where, self.endpoint, code or error))

    def check(self, for_write=True):
        """Fail early, before anything is written, when the bucket is missing or refuses us."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("access", None, error)

    def put_bytes(self, key, data):
        self.ensure_writable()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("write", key, error)

    def upload_file(self, key, fileobj):
        """Multipart, streaming upload of a (large) binary file object."""
        self.ensure_writable()
        try:
            self.client.upload_fileobj(fileobj, self.bucket, self._key(key), Config=self.transfer)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("upload", key, error)
        except Exception as error:  # s3transfer wraps failures of its worker threads
            raise self._fail("upload", key, getattr(error, "last_exception", None) or error)

    def get_bytes(self, key):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, error)
        except botocore.exceptions.BotoCoreError as error:
            raise self._fail("read", key, error)

    def download_file(self, key, fileobj):
        try:
            self.client.download_fileobj(self.bucket, self._key(key), fileobj, Config=self.transfer)
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) in ("NoSuchKey", "404"):
                raise NotFoundError("object %s does not exist in the storage location" % self.url(key))
            raise self._fail("download", key, error)
        except botocore.exceptions.BotoCoreError as error:
            raise self._fail("download", key, error)

    def size(self, key):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, error)

    def list_keys(self, prefix):
        full = _join(self.prefix, prefix) + ("/" if prefix.endswith("/") else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(entry["Key"][strip:] for entry in page.get("Contents") or [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("list", prefix, error)
        return sorted(keys)

    def delete(self, key):
        self.ensure_writable()
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("delete", key, error)

    def top_level_dirs(self):
        full = self.prefix + "/" if self.prefix else ""
        try:
            response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, Delimiter="/")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("list", "", error)
        return sorted(p["Prefix"][len(full):].strip("/") for p in response.get("CommonPrefixes") or [])


def open_store(location):
    """A BackupStore for a ``storage_location`` dict (the module option)."""
    provider = location.get("provider") or "s3"
    read_only = location.get("access_mode") == "ReadOnly"
    if provider == "filesystem":
        return FilesystemStore(location.get("path"), location.get("prefix") or "", read_only)
    if provider == "s3":
        return S3Store(location)
    raise InvalidOptionError("storage_location.provider must be s3 or filesystem, not %r" % provider)


def download_to_tempfile(store, key, directory=None):
    """Download an object into an anonymous temporary file, returned rewound (for safe reading)."""
    handle = tempfile.TemporaryFile(dir=directory)
    try:
        store.download_file(key, handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle
