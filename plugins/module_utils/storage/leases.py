# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run per name: a lease object beside the run's records, taken with a conditional write.

The lease lives in the storage location, not in a cluster: the name it guards is unique per
location (two clusters backing up to one bucket share the namespace of names, and a restore
may target a cluster that cannot be reached yet). S3 gives the two operations it needs,
create-if-absent (``If-None-Match: *``) and replace-if-unchanged (``If-Match: <ETag>``); a
directory gives them through a hard link and a compare before rename.

The holder renews the lease every ``RENEW_SECONDS``; a lease not renewed for
``LEASE_SECONDS`` has expired and may be taken over, and so may a lease whose holder ran on
this host and is gone (its process no longer exists), so a rerun after a kill need not wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import hashlib
import json
import os
import socket
import tempfile
import uuid

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.common.timeutil import parse_rfc3339, rfc3339, utc_now
from ansible_collections.kubedr.backup.plugins.module_utils.common.wait import Repeating

try:
    import botocore.exceptions
except ImportError:  # the filesystem provider needs no boto3
    botocore = None

LEASE_SECONDS = 60
RENEW_SECONDS = 15
UNSUPPORTED_CODES = ("NotImplemented", "501")


class RunningElsewhere(KubedrError):
    """Another run holds the name."""


class ConditionalWritesUnsupported(KubedrError):
    """The storage location cannot make conditional writes."""


class S3Conditions(object):
    """Conditional writes on an S3Store (objects addressed like its own)."""

    def __init__(self, store):
        self.store = store

    def _call(self, action, key, **kwargs):
        try:
            return getattr(self.store.client, action)(Bucket=self.store.bucket, Key=self.store._key(key), **kwargs)
        except botocore.exceptions.ClientError as error:
            code = str((error.response.get("Error") or {}).get("Code") or "")
            status = (error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return None
            if code in UNSUPPORTED_CODES or status == 501:
                raise ConditionalWritesUnsupported(
                    "the S3 endpoint %s does not support conditional writes (%s)" % (self.store.endpoint, code))
            if code in ("NoSuchKey", "404"):
                return {}
            raise self.store._fail(action.replace("_object", ""), key, error)
        except botocore.exceptions.BotoCoreError as error:
            raise self.store._fail(action.replace("_object", ""), key, error)

    def create(self, key, data):
        """Write ``data`` unless ``key`` exists: its version, or None when it existed."""
        response = self._call("put_object", key, Body=data, IfNoneMatch="*")
        return None if response is None else response.get("ETag")

    def read(self, key):
        """(data, version) of ``key``; (None, None) when absent."""
        response = self._call("get_object", key)
        if not response:
            return None, None
        return response["Body"].read(), response.get("ETag")

    def replace(self, key, data, version):
        """Write ``data`` if ``key`` is still at ``version``: the new version, or None."""
        response = self._call("put_object", key, Body=data, IfMatch=version)
        return None if response is None else response.get("ETag")


class DirectoryConditions(object):
    """Conditional writes on a FilesystemStore: create through a hard link (fails when the name
    exists), replace after comparing the content's digest (a small window, on one machine)."""

    def __init__(self, store):
        self.store = store

    def _temporary(self, path, data):
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        handle, temporary = tempfile.mkstemp(dir=parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return temporary

    def create(self, key, data):
        path = self.store._path(key)
        try:
            temporary = self._temporary(path, data)
            try:
                os.link(temporary, path)
            finally:
                os.unlink(temporary)
        except OSError as error:
            if error.errno == errno.EEXIST:
                return None
            raise StorageError("cannot write %s: %s" % (path, error.strerror or error))
        return hashlib.sha256(data).hexdigest()

    def read(self, key):
        data = self.store.get_bytes(key)
        return (None, None) if data is None else (data, hashlib.sha256(data).hexdigest())

    def replace(self, key, data, version):
        path = self.store._path(key)
        current, current_version = self.read(key)
        if current is None or current_version != version:
            return None
        try:
            os.rename(self._temporary(path, data), path)
        except OSError as error:
            raise StorageError("cannot write %s: %s" % (path, error.strerror or error))
        return hashlib.sha256(data).hexdigest()


def conditions_for(store):
    """The conditional writes of a store (an EncryptedStore's plain store: leases are not encrypted)."""
    plain = getattr(store, "plain_store", store)
    return S3Conditions(plain) if hasattr(plain, "client") else DirectoryConditions(plain)


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True


class RunLease(object):
    """The lease of one run on ``key``. ``holding()`` takes it (or raises RunningElsewhere
    naming the holder), renews it while the block runs, and gives it back at the end. ``lost``
    turns true when a renewal finds it taken over; the run checks it before committing."""

    def __init__(self, store, key, what, clock=utc_now, seconds=LEASE_SECONDS, renew_seconds=RENEW_SECONDS):
        self.store = store
        self.conditions = conditions_for(store)
        self.key = key
        self.what = what
        self.clock = clock
        self.seconds = seconds
        self.renew_seconds = renew_seconds
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "run": str(uuid.uuid4())}
        self.acquired = None
        self.version = None
        self.lost = False
        self.unsupported = None  # why no lease could be taken (the location cannot make conditional writes)
        self._renewing = None

    def _document(self):
        return json.dumps({"holder": self.holder, "acquiredTimestamp": rfc3339(self.acquired),
                           "renewTimestamp": rfc3339(self.clock()), "leaseSeconds": self.seconds},
                          sort_keys=True).encode("utf-8")

    def _free(self, current):
        """Whether a held lease may be taken over: expired, or left by a process of this host that is gone."""
        holder = current.get("holder") or {}
        if holder.get("host") == self.holder["host"] and isinstance(holder.get("pid"), int) \
                and not process_exists(holder["pid"]):
            return True
        renewed = parse_rfc3339(current.get("renewTimestamp"))
        seconds = current.get("leaseSeconds") if isinstance(current.get("leaseSeconds"), int) else self.seconds
        return renewed is None or self.clock() - renewed > datetime.timedelta(seconds=seconds)

    def _refusal(self, current):
        holder = current.get("holder") or {}
        renewed = parse_rfc3339(current.get("renewTimestamp"))
        expires = rfc3339(renewed + datetime.timedelta(seconds=current.get("leaseSeconds") or self.seconds)) \
            if renewed else "?"
        return RunningElsewhere(
            "%s is being run already, by process %s on host %s since %s (lease %s, renewed %s, expires %s unless "
            "renewed): wait for that run to end, or give another name" % (
                self.what, holder.get("pid", "?"), holder.get("host", "?"), current.get("acquiredTimestamp", "?"),
                self.store.url(self.key), current.get("renewTimestamp", "?"), expires))

    def acquire(self):
        self.acquired = self.clock()
        for _attempt in range(3):
            self.version = self.conditions.create(self.key, self._document())
            if self.version is not None:
                return
            data, version = self.conditions.read(self.key)
            if data is None:
                continue  # given back meanwhile: try to create it again
            try:
                current = json.loads(data.decode("utf-8"))
            except ValueError:
                current = {}
            if not isinstance(current, dict):
                current = {}
            if not self._free(current):
                raise self._refusal(current)
            self.version = self.conditions.replace(self.key, self._document(), version)
            if self.version is not None:
                return
        raise RunningElsewhere("%s: another run took the lease %s at the same moment; wait for it to end"
                               % (self.what, self.store.url(self.key)))

    def renew(self):
        try:
            version = self.conditions.replace(self.key, self._document(), self.version)
        except KubedrError:
            return  # the location is unreachable for now; the next renewal tries again
        if version is None:
            self.lost = True
        else:
            self.version = version

    def release(self):
        if self.version is None or self.lost:
            return
        try:
            data, _version = self.conditions.read(self.key)
            if data is not None and json.loads(data.decode("utf-8")).get("holder") == self.holder:
                self.store.delete(self.key)
        except (KubedrError, ValueError, AttributeError):
            pass  # left behind, it expires

    def check(self):
        if self.lost:
            raise RunningElsewhere("%s: another run took over its lease %s (this run was not renewing it in time); "
                                   "nothing was committed" % (self.what, self.store.url(self.key)))

    def warn_if_unsupported(self, result):
        """Add to a run's result, when no lease could be taken, why a concurrent run would go unnoticed."""
        if self.unsupported:
            result.setdefault("warnings", []).append(
                "%s: a concurrent run of the same name would not be detected" % self.unsupported)
        return result

    def __enter__(self):
        try:
            self.acquire()
        except ConditionalWritesUnsupported as error:
            self.unsupported = str(error)
            return self
        self._renewing = Repeating(self.renew_seconds, self.renew, name="kubedr-lease").__enter__()
        return self

    def __exit__(self, *exc):
        if self._renewing is not None:
            self._renewing.__exit__(*exc)
        self.release()
        return False
