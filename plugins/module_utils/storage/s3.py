# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""S3 (or MinIO): the one client factory, and a storage location in a bucket.

``s3_client`` is used by the backup store and by the restic repository management alike,
so both reach a location with the same TLS, addressing, retry and timeout settings.

The client is botocore's own (boto3's session and s3transfer cost a module run about 0.05 s of CPU
to import and set up, docs/performance.md): large objects go up in parts here (``upload_file``: at
UPLOAD_CONCURRENCY parts in flight) and come down as one streamed GET. A real file goes up as regions of it
(``FileRegion``, read as botocore sends and checksums them), so four concurrent uploads of a large backup hold
no part in memory; any other stream (an encrypting one) is read a part at a time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import io
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.common import useragent
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, NotFoundError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.fields import timeout_seconds
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage import object_lock
from ansible_collections.kubedr.backup.plugins.module_utils.storage.backup_store import MULTIPART_CHUNK, BackupStore

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
    HAS_BOTO3 = True  # botocore, which boto3 (the documented requirement) brings
except ImportError:  # callers check HAS_BOTO3 and say what needs boto3
    HAS_BOTO3 = False

MAX_ATTEMPTS = 5  # a request's attempts (botocore's standard retry mode, backing off up to 20 s between them)
DOWN_FOR = 60  # seconds an endpoint that refused every attempt of a request gets one attempt per request
DEFAULT_REGION = "us-east-1"  # when neither the option, the profile nor the environment names one
CONNECT_TIMEOUT = 10  # seconds; storage_location.connect_timeout
READ_TIMEOUT = 60  # seconds of silence on an open connection; storage_location.read_timeout
# S3 refuses a retain-until date in the past: an object of a backup whose ttl ran out while it was
# written is still locked this long after its write (a margin for the clocks of client and server).
MIN_LOCK = datetime.timedelta(seconds=10)
UPLOAD_CONCURRENCY = 4  # parts of one upload in flight (and in memory) at once
DOWNLOAD_CHUNK = 1024 * 1024  # bytes read from a GET's body at a time
PART_CHECKSUM = "CRC32"  # what s3transfer asks for too: S3 checks every part, and Object Lock needs a checksum


def s3_client(location, endpoint_url=None):
    """A botocore S3 client for a ``storage_location`` dict: its credentials or profile, region,
    endpoint (``endpoint_url`` when the location names none), addressing style, CA bundle or
    ``validate_certs``; Signature Version 4, standard retries, bounded timeouts, and the
    collection's User-Agent appended to botocore's.

    The region is the option's, else the profile's or the environment's (AWS_DEFAULT_REGION, as
    botocore reads it), else us-east-1 (what S3-compatible servers such as MinIO expect).

    Raises InvalidOptionError for an unknown profile. Callers check HAS_BOTO3 first."""
    verify = location.get("aws_ca_bundle") or (location.get("validate_certs") is not False)
    config = botocore.config.Config(
        s3={"addressing_style": location.get("s3_addressing_style") or "auto"},
        signature_version="s3v4",
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=timeouts(location)[0], read_timeout=timeouts(location)[1],
        user_agent_extra=useragent.user_agent(),
    )
    session = botocore.session.Session(profile=location.get("profile") or None)
    try:
        region = location.get("region") or session.get_config_variable("region") or DEFAULT_REGION
        client = session.create_client(
            "s3", region_name=region, endpoint_url=location.get("endpoint_url") or endpoint_url, verify=verify,
            config=config, aws_access_key_id=location.get("access_key") or None,
            aws_secret_access_key=location.get("secret_key") or None,
            aws_session_token=location.get("session_token") or None)
    except botocore.exceptions.ProfileNotFound:
        raise InvalidOptionError("storage_location.profile %r not found in the AWS configuration"
                                 % location.get("profile"))
    client.meta.events.register_first("needs-retry.s3", EndpointState().needs_retry)
    return client


def timeouts(location):
    """(connect, read) seconds of a location's S3 connections; InvalidOptionError for a bad value."""
    return (timeout_seconds(location.get("connect_timeout"), CONNECT_TIMEOUT, "storage_location.connect_timeout"),
            timeout_seconds(location.get("read_timeout"), READ_TIMEOUT, "storage_location.read_timeout"))


class EndpointState(object):
    """One client's retry decisions beyond botocore's standard mode (a needs-retry handler, asked first;
    raising ends the request with that error):

    - an attempt that timed out is not retried: botocore would wait the whole timeout again each time, and a
      hung endpoint must cost the configured wait once;
    - once a request has spent all its attempts on connections refused, the endpoint counts as down, and later
      requests get one attempt each until it answers again or DOWN_FOR seconds pass. A backup whose endpoint
      died still writes its failure record, best effort, and releases its lease: one backoff series per write
      made that 70-90 s on the test bed; a blip shorter than DOWN_FOR after a failed request costs the
      requests made meanwhile their retries."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.down_since = None

    def needs_retry(self, caught_exception=None, attempts=1, **_kwargs):
        if isinstance(caught_exception, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            raise caught_exception
        if isinstance(caught_exception, botocore.exceptions.EndpointConnectionError):
            if self.down_since is not None and self.clock() - self.down_since < DOWN_FOR:
                raise caught_exception
            if attempts >= MAX_ATTEMPTS:
                self.down_since = self.clock()
        elif caught_exception is None:
            self.down_since = None  # it answered, whatever the status
        return None


def delete_prefix(client, bucket, prefix, dry_run=False):
    """Delete every object under ``<prefix>/`` of the bucket (only count them with ``dry_run``);
    returns how many there were."""
    count = 0
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/"):
            keys = [dict(Key=obj["Key"]) for obj in page.get("Contents") or []]
            count += len(keys)
            if keys and not dry_run:
                response = client.delete_objects(Bucket=bucket, Delete=dict(Objects=keys, Quiet=True))
                failed = response.get("Errors") or []
                if failed:
                    raise StorageError("could not delete %d objects under s3://%s/%s/ (first: %s %s)" % (
                        len(failed), bucket, prefix, failed[0].get("Key"), failed[0].get("Code")))
    except botocore.exceptions.BotoCoreError as e:
        raise StorageError("cannot delete s3://%s/%s/: %s" % (bucket, prefix, e))
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error") or {}
        raise StorageError("cannot delete s3://%s/%s/: %s %s" % (bucket, prefix, error.get("Code"),
                                                                 error.get("Message") or ""))
    return count


def _join(*parts):
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _s3_error_code(error):
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class S3Store(BackupStore):
    """A location in an S3 bucket (or MinIO): ``s3://<bucket>/<prefix>/``.

    With ``object_lock`` (governance or compliance; docs/immutability.md) the bucket must have
    Object Lock, a backup run's objects are written once with a retention (``lock_backup``), and
    the objects under ``backups/`` are read in the version first written (``object_lock.py``)."""

    def __init__(self, options):
        if not HAS_BOTO3:
            raise StorageError("the Python 'boto3' package is required for the s3 provider (pip install boto3)")
        if not options.get("bucket"):
            raise InvalidOptionError("storage_location.bucket is required for the s3 provider")
        self.bucket = options["bucket"]
        self.prefix = (options.get("prefix") or "").strip("/")
        self.endpoint = options.get("endpoint_url") or "AWS S3"
        self.read_only = options.get("access_mode") == "ReadOnly"
        self.object_lock = options.get("object_lock") or None
        if self.object_lock not in (None,) + object_lock.MODES:
            raise InvalidOptionError("storage_location.object_lock must be one of %s, not %r"
                                     % (", ".join(object_lock.MODES), self.object_lock))
        self.retain_until = None  # set by lock_backup: every write is then locked until then
        self.written_once = set()  # keys written with a lock by this store
        self._numbers = {}  # {progress key: its last numbered write}
        self._lock_enabled = None
        self.timeouts = timeouts(options)
        self.client = s3_client(options)

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
        if isinstance(error, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            connect = isinstance(error, botocore.exceptions.ConnectTimeoutError)
            return StorageError("the S3 endpoint %s did not %s within %g s (storage_location.%s): %s" % (
                self.endpoint, "accept a connection" if connect else "answer a request to %s %s" % (action, where),
                self.timeouts[0] if connect else self.timeouts[1], "connect_timeout" if connect else "read_timeout",
                error))
        if isinstance(error, botocore.exceptions.EndpointConnectionError):
            # botocore's message names the URL it tried and why; it never holds credentials.
            return StorageError("cannot reach the S3 endpoint %s: %s" % (self.endpoint, error))
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied", "InvalidToken",
                    "ExpiredToken"):
            return StorageError("S3 refused to %s %s at %s (%s): check storage_location.access_key/secret_key "
                                "and the bucket policy" % (action, where, self.endpoint, code or "HTTP 403"))
        if code == "NoSuchBucket" or (code == "404" and key is None):
            return StorageError("S3 bucket %s does not exist at %s" % (self.bucket, self.endpoint))
        message = ((getattr(error, "response", None) or {}).get("Error") or {}).get("Message")
        reason = "%s %s" % (code, message) if code and message else (code or error)
        return StorageError("S3 could not %s %s at %s: %s" % (action, where, self.endpoint, reason))

    def check(self, for_write=True):
        """Fail early, before anything is written, when the bucket is missing or refuses us, or
        cannot lock objects while ``object_lock`` asks for it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("access", None, error)
        if self.object_lock and not self.lock_enabled():
            raise StorageError(
                "storage_location.object_lock=%s asks for immutable backups, but the bucket %s at %s has no Object "
                "Lock: nothing was written. Create the bucket with Object Lock (mc mb --with-lock; aws s3api "
                "create-bucket --object-lock-enabled-for-bucket), or drop object_lock (docs/immutability.md)" % (self.object_lock, self.bucket, self.endpoint))

    def lock_enabled(self):
        """Whether the bucket has Object Lock enabled (asked once)."""
        if self._lock_enabled is None:
            try:
                self._lock_enabled = object_lock.lock_enabled(self.client, self.bucket)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                raise self._fail("read the Object Lock configuration of", None, error)
        return self._lock_enabled

    def lock_backup(self, backup_name, until):
        """From now on, every object this store writes is locked until ``until`` (the backup's
        expiration) and written once. A name that already has objects (an earlier run that failed
        or was killed: locked, they cannot be written again) is refused."""
        if not self.object_lock:
            return
        left = [k for k in self.list_keys(layout.backup_dir(backup_name))
                if k != layout.backup_keys(backup_name)["lease"]]
        if left:
            raise StorageError(
                "backup %s: %d objects of an earlier run of this name are in %s (%s ...), and on an object-lock "
                "location nothing is written twice: give the backup another name" % (
                    backup_name, len(left), self.url(layout.backup_dir(backup_name)), left[0].split("/")[-1]))
        self.retain_until = until

    def _lock_args(self, key):
        if self.retain_until is None:
            return {}
        if key in self.written_once:
            raise StorageError("%s was written already, and objects of an immutable backup are written once"
                               % self.url(key))
        self.written_once.add(key)
        return {"ObjectLockMode": self.object_lock.upper(),
                "ObjectLockRetainUntilDate": max(self.retain_until, utc_now() + MIN_LOCK)}

    def _write_key(self, key):
        """The key a write goes to: a numbered key for each write of the progress object of a locked run."""
        if self.retain_until is None or not layout.written_in_place(key):
            return key
        self._numbers[key] = self._numbers.get(key, 0) + 1
        return layout.numbered_key(key, self._numbers[key])

    def put_bytes(self, key, data):
        self.ensure_writable()
        key = self._write_key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._lock_args(key))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("write", key, error)

    def upload_file(self, key, fileobj):
        """Streaming upload of a (large) binary file object: one PUT up to MULTIPART_CHUNK, else in parts."""
        self.ensure_writable()
        extra = self._lock_args(key)
        parts = _file_parts(fileobj) or _read_parts(fileobj)
        try:
            first = next(parts, b"")
            if len(first) < MULTIPART_CHUNK:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=first, **extra)
            else:
                self._upload_parts(self._key(key), first, parts, extra)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("upload", key, error)

    def _upload_parts(self, full_key, first, parts, extra):
        """A multipart upload, UPLOAD_CONCURRENCY parts in flight: the next part is taken only once one
        has been sent. Any failure aborts the upload (S3 would otherwise keep, and bill, its parts)."""
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key,
                                                        ChecksumAlgorithm=PART_CHECKSUM, **extra)["UploadId"]
        done, pending = [], deque()
        try:
            with ThreadPoolExecutor(max_workers=UPLOAD_CONCURRENCY) as pool:
                chunk, number = first, 1
                while len(chunk):
                    pending.append(pool.submit(self._upload_part, full_key, upload_id, number, chunk))
                    if len(pending) >= UPLOAD_CONCURRENCY:
                        done.append(pending.popleft().result())
                    chunk, number = next(parts, b""), number + 1
                done.extend(part.result() for part in pending)
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": done})
        except BaseException:
            for part in pending:
                part.cancel()
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                pass  # the first error is the one to report; a bucket lifecycle rule clears what is left
            raise

    def _upload_part(self, full_key, upload_id, number, data):
        response = self.client.upload_part(Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number,
                                           Body=data, ChecksumAlgorithm=PART_CHECKSUM)
        part = {"PartNumber": number, "ETag": response["ETag"]}
        if response.get("Checksum" + PART_CHECKSUM):
            part["Checksum" + PART_CHECKSUM] = response["Checksum" + PART_CHECKSUM]
        return part

    def _version(self, key):
        """{} to read the current version of ``key``; on an object-lock location, the version of a
        backup object first written (later versions and delete markers are not kubedr's); None when
        no version holds content."""
        if not self.object_lock or not key.startswith("backups/"):
            return {}
        version_id = object_lock.original_version(self.client, self.bucket, self._key(key))
        return None if version_id is None else {"VersionId": version_id}

    def get_bytes(self, key):
        try:
            version = self._version(key)
            if version is not None:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **version)["Body"].read()
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) not in ("NoSuchKey", "404"):
                raise self._fail("read", key, error)
        except botocore.exceptions.BotoCoreError as error:
            raise self._fail("read", key, error)
        if layout.written_in_place(key):  # a locked run wrote its progress under numbered keys: the last
            numbered = layout.numbered_names(key, self.list_keys(key[:-len(".json")] + "-"))
            if numbered:
                return self.get_bytes(numbered[-1])
        return None

    def download_file(self, key, fileobj):
        try:
            version = self._version(key)
            if version is None:
                raise NotFoundError("object %s does not exist in the storage location" % self.url(key))
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **version)["Body"]
            try:
                for chunk in iter(lambda: body.read(DOWNLOAD_CHUNK), b""):
                    fileobj.write(chunk)
            finally:
                body.close()
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) in ("NoSuchKey", "404"):
                raise NotFoundError("object %s does not exist in the storage location" % self.url(key))
            raise self._fail("download", key, error)
        except botocore.exceptions.BotoCoreError as error:
            raise self._fail("download", key, error)

    def size(self, key):
        try:
            version = self._version(key)
            if version is None:
                return None
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key), **version)["ContentLength"]
        except botocore.exceptions.ClientError as error:
            if _s3_error_code(error) in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, error)

    def list_keys(self, prefix):
        """Keys under ``prefix``; on an object-lock location, under ``backups/`` also those whose
        current version is a delete marker (a backup object deleted by someone else stays readable)."""
        full = _join(self.prefix, prefix) + ("/" if prefix.endswith("/") else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            if self.object_lock and prefix.startswith("backups"):
                keys = [key[strip:] for key, entries in object_lock.versions(self.client, self.bucket, full).items()
                        if any(not is_marker for _id, is_marker, _time in entries)]
            else:
                keys = []
                for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                    keys.extend(entry["Key"][strip:] for entry in page.get("Contents") or [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("list", prefix, error)
        return sorted(keys)

    def delete(self, key):
        """Delete an object; on an object-lock location, every version of it (else S3 would only add a
        delete marker and keep paying for the versions)."""
        self.ensure_writable()
        try:
            if not self.object_lock:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
                return
            for version_id, _is_marker, _time in object_lock.versions(self.client, self.bucket, self._key(key)).get(
                    self._key(key)) or []:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key), VersionId=version_id)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("delete", key, error)

    def locked_until(self, keys, now=utc_now):
        """(mode, latest retain-until as RFC 3339) of the objects of ``keys`` still locked, or None
        when none is (or the bucket has no Object Lock). Every version of a key counts. A legal hold
        has no date: (``legal_hold``, None)."""
        if not self.lock_enabled():
            return None
        latest = None
        try:
            for key in keys:
                for version_id, is_marker, _time in object_lock.versions(self.client, self.bucket, self._key(key)).get(
                        self._key(key)) or []:
                    if is_marker:
                        continue
                    mode, until, held = object_lock.retention(self.client, self.bucket, self._key(key), version_id)
                    if held:
                        return object_lock.LEGAL_HOLD, None
                    if object_lock.still_locked(until, now()) and (latest is None or until > latest[1]):
                        latest = (mode, until)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("read the retention of", None, error)
        return None if latest is None else ((latest[0] or "").lower(), rfc3339(object_lock.utc(latest[1])))

    def top_level_dirs(self):
        full = self.prefix + "/" if self.prefix else ""
        try:
            response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, Delimiter="/")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise self._fail("list", "", error)
        return sorted(p["Prefix"][len(full):].strip("/") for p in response.get("CommonPrefixes") or [])


class FileRegion(io.RawIOBase):
    """``size`` bytes of an open file from ``start``, read with pread: botocore reads a body to checksum and sign
    it, seeks back to 0 and reads it again to send it (and again on a retry), so a part never sits in memory,
    and parts of one file can be read by several threads at once."""

    def __init__(self, fd, start, size):
        super(FileRegion, self).__init__()
        self._fd, self._start, self._size, self._position = fd, start, size, 0

    def __len__(self):
        return self._size - self._position

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = min(max(0, base + offset), self._size)
        return self._position

    def read(self, size=-1):
        left = self._size - self._position
        size = left if size is None or size < 0 else min(size, left)
        data = os.pread(self._fd, size, self._start + self._position) if size else b""
        self._position += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _file_parts(fileobj):
    """Regions of MULTIPART_CHUNK from the file's current position to its end, or None for what is no real
    file (an encrypting stream, a BytesIO)."""
    try:
        fileobj.flush()
        fd, start = fileobj.fileno(), fileobj.tell()
        end = os.fstat(fd).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return (FileRegion(fd, offset, min(MULTIPART_CHUNK, end - offset)) for offset in range(start, end, MULTIPART_CHUNK))


def _read_parts(fileobj):
    """Parts of MULTIPART_CHUNK read into memory, one at a time as they are taken."""
    return iter(lambda: fileobj.read(MULTIPART_CHUNK), b"")
