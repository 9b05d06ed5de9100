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
      - Encryption is a choice made in the task. A new backup is encrypted only when this option is given
        (and O(encryption.enabled) is not V(false)); the environment variable E(KUBEDR_ENCRYPTION_PASSPHRASE)
        alone never encrypts a backup.
      - To read an encrypted backup (describe, restore, delete, or a rerun of its C(k8s_backup) task) its
        key or passphrase is needed - from this option, else from E(KUBEDR_ENCRYPTION_PASSPHRASE), so that
        what was written with the variable can be read with it. An unencrypted backup is read as it is.
    type: dict
    suboptions:
      enabled:
        description:
          - Whether a new backup is encrypted. V(false) writes it unencrypted even though a passphrase or key
            is given (for example through C(module_defaults)).
          - With O(encryption.enabled=true) alone, the passphrase is E(KUBEDR_ENCRYPTION_PASSPHRASE)'s.
        type: bool
        default: true
      passphrase:
        description:
          - A passphrase; the key is derived from it with scrypt and a random salt per backup.
          - When neither this nor O(encryption.key) is given, the E(KUBEDR_ENCRYPTION_PASSPHRASE) environment
            variable is used (see O(encryption) for when it applies).
          - Mutually exclusive with O(encryption.key).
        type: str
      key:
        description:
          - A raw key - 32 random bytes in base64 (for example from C(openssl rand -base64 32)).
          - Mutually exclusive with O(encryption.passphrase).
        type: str
"""
