# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Velero's object layout in a storage location, and its gzip encodings (pure).

Keys are relative to the location root (``<bucket>/<prefix>/`` or ``<path>/<prefix>/``) and
name the objects of a backup and of a restore exactly as Velero does. ``velero-backup.json``
is the commit marker of a backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import json

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError

# Top-level folders Velero tolerates in a location; anything else makes it mark the location invalid.
VELERO_TOP_LEVEL_DIRS = frozenset(["backups", "restores", "restic", "kopia", "metadata", "plugins"])
BACKUP_METADATA = "velero-backup.json"
GZIP_LEVEL = 6  # Go's default, so Velero's; gzip's own default (9) is several times slower for little
# The side files that grow with the item count (item digests, logs, resource lists): at 300,000 items the item
# digests are 82 MB of lines, mostly hex digests, which level 6 took 1.6 s to compress and level 1 0.7 s, 7 %
# larger (docs/performance.md, "Pages of 500 items").
LARGE_GZIP_LEVEL = 1


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
        "volume_info": base + "-volumeinfo.json.gz",  # Velero >= 1.13's BackupVolumeInfo list
        "progress": base + "-progress.json",
        "lease": base + "-lease.json",
        "manifest": base + "-manifest.json",  # the integrity manifest (archive/manifest.py), before the marker
        "item_digests": base + "-itemdigests.json.gz",  # the manifest's per-item SHA-256 list, one JSON line each
    }


def numbered_key(key, number):
    """The ``number``-th write of an object that is rewritten during a run (``written_in_place``) on a
    location where every object is written once (object lock): ``<name>-progress-000001.json``."""
    return "%s-%06d.json" % (key[:-len(".json")], number)


def written_in_place(key):
    """Whether a backup object is rewritten while its run goes on (the progress object)."""
    return key.startswith("backups/") and key.endswith("-progress.json")


def numbered_names(key, names):
    """Of object file names (or keys), those that are numbered writes of ``key``, oldest first."""
    stem = key.split("/")[-1][:-len(".json")] + "-"
    return sorted(n for n in names if n.split("/")[-1].startswith(stem) and n.endswith(".json")
                  and n.split("/")[-1][len(stem):-len(".json")].isdigit())


def deletion_record_key(backup_name):
    """The record of a deletion in progress (``backup/delete.py``): what is left to forget and delete."""
    return backup_dir(backup_name) + backup_name + "-deletion.json"


def verification_key(backup_name, stamp):
    """The record of one restore drill of a backup (``restore/verification.py``), written once per drill
    (``stamp`` is its UTC time, YYYYmmddHHMMSS): records are never rewritten, even on object-lock buckets."""
    return "%s%s-verification-%s.json" % (backup_dir(backup_name), backup_name, stamp)


def verification_keys(backup_name, keys):
    """Of ``keys``, the drill records of the backup, oldest first (their stamps sort by time)."""
    stem = "%s%s-verification-" % (backup_dir(backup_name), backup_name)
    return sorted(k for k in keys if k.startswith(stem) and k.endswith(".json") and k[len(stem):-len(".json")].isdigit())


def restore_dir(restore_name):
    return "restores/%s/" % restore_name


def restore_keys(restore_name):
    base = restore_dir(restore_name) + "restore-" + restore_name
    return {
        "logs": base + "-logs.gz",
        "results": base + "-results.gz",
        "resource_list": base + "-resource-list.json.gz",
        "progress": base + "-progress.json",
        "lease": base + "-lease.json",
    }


def gzip_json(document):
    """Velero's ``.json.gz`` encoding: compact JSON plus a newline, gzipped."""
    return gzip.compress(json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n",
                         compresslevel=GZIP_LEVEL)


def gunzip_json(data):
    """Inverse of gzip_json; a missing object (None) reads as None."""
    if data is None:
        return None
    try:
        text = gzip.decompress(data).decode("utf-8").strip()
        return json.loads(text) if text else None
    except (OSError, EOFError, ValueError) as error:
        raise StorageError("stored object is not gzipped JSON: %s" % error)
