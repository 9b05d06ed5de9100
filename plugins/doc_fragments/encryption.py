# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Client-side encryption of a backup (module_utils/storage/encryption.py).
    DOCUMENTATION = r"""
options:
  encryption:
    description:
      - Client-side encryption of the backup's resource archive and its side files (log, results,
        resource list, pod volume backups), with AES-256-GCM in authenticated chunks.
      - C(velero-backup.json) stays readable, so backups are listed without the key; it records the
        scheme, the key derivation parameters and a key check value (never the key) in the annotation
        C(kubedr.backup/encryption), so a wrong key fails before anything else is done.
      - A wrong key, a tampered or a truncated object fails with a clear error.
      - Velero cannot read an encrypted backup. Pod volume data is encrypted by restic anyway.
      - When a backup is created, encryption applies only if this option is given; reading an encrypted
        backup requires it.
    type: dict
    suboptions:
      passphrase:
        description:
          - A passphrase; the key is derived from it with scrypt and a random salt per backup.
          - Can also be set with the E(KUBEDR_ENCRYPTION_PASSPHRASE) environment variable, which applies
            also when O(encryption) is not given.
          - Mutually exclusive with O(encryption.key).
        type: str
      key:
        description:
          - A raw key - 32 random bytes in base64 (for example from C(openssl rand -base64 32)).
          - Mutually exclusive with O(encryption.passphrase).
        type: str
"""
