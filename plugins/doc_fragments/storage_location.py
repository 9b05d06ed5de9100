# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The storage location: one dict, keys named as in amazon.aws.
    DOCUMENTATION = r"""
options:
  storage_location:
    description:
      - Where backups are kept, laid out exactly as Velero lays out a backup storage location
        (C(backups/), C(restores/), C(restic/) under O(storage_location.prefix)).
    type: dict
    required: true
    suboptions:
      provider:
        description:
          - V(s3) for S3 or an S3-compatible server such as MinIO, V(filesystem) for a local directory.
        type: str
        choices: [s3, filesystem]
        default: s3
      bucket:
        description:
          - The S3 bucket. Required when O(storage_location.provider=s3).
        type: str
      prefix:
        description:
          - Folder inside the bucket under which the Velero layout starts.
        type: str
        default: ""
      path:
        description:
          - The directory of a V(filesystem) location. Required when O(storage_location.provider=filesystem).
        type: path
      endpoint_url:
        description:
          - URL of an S3-compatible server (MinIO). Can also be set with E(AWS_URL) or E(S3_URL).
        type: str
        aliases: [aws_endpoint_url, s3_url]
      region:
        description:
          - The S3 region. Can also be set with E(AWS_REGION) or E(AWS_DEFAULT_REGION).
        type: str
        aliases: [aws_region]
      access_key:
        description:
          - The access key ID. Can also be set with E(AWS_ACCESS_KEY_ID) or E(AWS_ACCESS_KEY).
        type: str
        aliases: [aws_access_key_id, aws_access_key]
      secret_key:
        description:
          - The secret access key. Can also be set with E(AWS_SECRET_ACCESS_KEY) or E(AWS_SECRET_KEY).
        type: str
        aliases: [aws_secret_access_key, aws_secret_key]
      session_token:
        description:
          - A session token for temporary credentials. Can also be set with E(AWS_SESSION_TOKEN) or E(AWS_SECURITY_TOKEN).
        type: str
        aliases: [aws_session_token, security_token]
      profile:
        description:
          - A profile of the AWS shared credentials file. Can also be set with E(AWS_PROFILE).
        type: str
        aliases: [aws_profile]
      validate_certs:
        description:
          - Whether to verify the S3 server's TLS certificate.
        type: bool
        default: true
      aws_ca_bundle:
        description:
          - A CA bundle used to verify the S3 server. Can also be set with E(AWS_CA_BUNDLE).
        type: path
      s3_addressing_style:
        description:
          - How the bucket is addressed. MinIO needs V(path).
        type: str
        choices: [auto, path, virtual]
        default: auto
      access_mode:
        description:
          - V(ReadOnly) refuses every write to the location (use it for the source of a migration);
            a restore then writes no logs or results under C(restores/).
        type: str
        choices: [ReadWrite, ReadOnly]
        default: ReadWrite
      connect_timeout:
        description:
          - Seconds to wait for the S3 endpoint to accept a connection.
          - Defaults to 10 seconds.
        type: float
      read_timeout:
        description:
          - Seconds to wait for any answer from the S3 endpoint on an open connection.
          - A request unanswered within O(storage_location.connect_timeout) or this time is not retried; the run
            fails with a reason naming the endpoint. Reading the backup archive's body is retried by the
            transfer manager, up to 5 times. Connection failures and S3's own retryable errors are retried.
          - Defaults to 60 seconds.
        type: float
      object_lock:
        description:
          - Immutable backups on an S3 bucket created with Object Lock (see docs/immutability.md).
          - Before anything is written, the bucket's Object Lock configuration is read; a bucket without
            Object Lock, or a V(filesystem) location, fails the task.
          - Every object of a new backup is written once, locked in this retention mode until the backup's
            expiration (its O(kubedr.backup.k8s_backup#module:ttl); a ttl of V(0s) means Velero's default,
            720h). V(governance) can be lifted by an identity with C(s3:BypassGovernanceRetention);
            V(compliance) by nobody, not even the account's root, until the date passes.
          - The objects of backups are read in the version first written. An object overwritten or deleted
            (a delete marker) by someone else is read past, so a backup stays restorable.
          - Deleting a backup (O(kubedr.backup.k8s_backup#module:state=absent), the gc playbook) skips a
            backup that is still locked and says until when (C(locked_until)); once the lock has passed,
            every version of its objects is deleted, which needs C(s3:DeleteObjectVersion).
          - Give the same value to every module reading the location, so they read past tampering too.
        type: str
        choices: [governance, compliance]
requirements:
  - boto3 >= 1.28.0
"""
