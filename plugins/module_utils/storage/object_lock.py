# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""S3 Object Lock: a bucket's lock configuration, and the versions of an object (docs/immutability.md).

A bucket with Object Lock is versioned: writing a key again adds a version, deleting it without a
version ID adds a delete marker, and a locked version cannot be removed before its retain-until
date (compliance: by nobody; governance: only with s3:BypassGovernanceRetention). kubedr writes
every object of an immutable backup once, so its original content is the key's OLDEST version;
whatever came later (an overwrite, a delete marker) is not kubedr's and is read past.

Functions take a boto3 S3 client and raise botocore's errors; the store turns those into
StorageError with its own wording.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

MODES = ("governance", "compliance")
NO_CONFIGURATION = ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "InvalidRequest",
                    "NoSuchObjectLockConfiguration")


def error_code(error):
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


def lock_enabled(client, bucket):
    """Whether Object Lock is enabled on the bucket (False when it has no lock configuration)."""
    try:
        response = client.get_object_lock_configuration(Bucket=bucket)
    except Exception as error:  # botocore's ClientError; the codes tell "no configuration" apart
        if error_code(error) in NO_CONFIGURATION:
            return False
        raise
    return (response.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") == "Enabled"


def versions(client, bucket, prefix):
    """{key: [(version ID, is a delete marker, last modified)] oldest first} of every key under ``prefix``."""
    found = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions") or []:
            found.setdefault(entry["Key"], []).append((entry["VersionId"], False, entry["LastModified"]))
        for entry in page.get("DeleteMarkers") or []:
            found.setdefault(entry["Key"], []).append((entry["VersionId"], True, entry["LastModified"]))
    # S3 lists the versions of a key newest first; the time sorts them when pages interleave.
    for key, entries in found.items():
        entries.reverse()
        entries.sort(key=lambda entry: entry[2])
    return found


def original_version(client, bucket, key):
    """The version ID of the first content written under ``key`` (None when no version holds content)."""
    for version_id, is_marker, _modified in versions(client, bucket, key).get(key) or []:
        if not is_marker:
            return version_id
    return None


LEGAL_HOLD = "legal_hold"


def retention(client, bucket, key, version_id=None):
    """(mode, retain-until datetime, legal hold on) of a version of ``key`` (the current one without
    ``version_id``); mode and date None when it has no retention."""
    extra = {"VersionId": version_id} if version_id else {}
    response = client.head_object(Bucket=bucket, Key=key, **extra)
    return (response.get("ObjectLockMode"), response.get("ObjectLockRetainUntilDate"),
            response.get("ObjectLockLegalHoldStatus") == "ON")


def still_locked(until, now):
    return until is not None and until > now


def utc(moment):
    """An aware datetime in UTC (botocore gives its own tzutc)."""
    return moment.astimezone(datetime.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
