# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the restic_repo module does alike for a restic and a kopia repository (``maintenance``
and ``kopia_maintenance`` build on it): its result, the checks of the password and of a
ReadOnly location, and deleting the repository (``state: absent``) with the storage's S3
client, or by removing its directory on a filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError, StorageError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import s3
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.repository import parse_identifier

ACTIONS = ("check", "snapshots", "forget", "prune", "unlock", "stats")


def check_naming(params):
    """Either ``repository`` or ``storage_location`` with ``volume_namespace`` names the repository."""
    loc = params.get("storage_location") or {}
    if params.get("repository") and params.get("volume_namespace"):
        raise InvalidOptionError("give either repository or volume_namespace (with storage_location), not both")
    if not params.get("repository"):
        if not loc:
            raise InvalidOptionError("either repository, or storage_location with volume_namespace, is required")
        if not params.get("volume_namespace"):
            raise InvalidOptionError("volume_namespace is required to name the repository in storage_location")


class RepoManagerBase(object):
    """One run of the restic_repo module on one repository (``self.repo``, set by the subclass,
    has ``identifier``). Subclasses implement present() and the ACTIONS."""

    def __init__(self, params, check_mode):
        check_naming(params)
        self.params = params
        self.check_mode = check_mode
        self.loc = params.get("storage_location") or {}
        self.last_command = None
        self.repo = None

    def result(self, changed, **extra):
        out = dict(changed=changed, repository=self.repo.identifier)
        if self.last_command:
            out["command"] = list(self.last_command)
        out.update(extra)
        return out

    def has_password(self):
        raise NotImplementedError

    def need_password(self):
        if not self.has_password():
            raise InvalidOptionError("the repository password is required (repository_password, password_file, "
                                     "or the KUBEDR_REPOSITORY_PASSWORD environment variable)")

    def need_writable(self, what):
        if self.loc.get("access_mode") == "ReadOnly":
            raise InvalidOptionError("storage_location is ReadOnly: refusing to %s" % what)

    def filters(self):
        return dict(tags=self.params.get("tags"), hosts=self.params.get("hosts"), paths=self.params.get("paths"))

    def absent(self):
        """Delete every object of the repository (no password needed)."""
        self.need_writable("delete a repository")
        where = parse_identifier(self.repo.identifier)
        if where["kind"] == "local":
            count = delete_directory(where["path"], self.check_mode)
        else:
            count = delete_s3_repository(self.loc, where, self.check_mode)
        return self.result(count > 0, deleted_objects=count)

    def execute(self):
        if self.params.get("state") == "absent":
            return self.absent()
        self.need_password()
        if self.params.get("state") == "present":
            return self.present()
        action = self.params.get("action")
        if action not in ACTIONS:
            raise InvalidOptionError("action must be one of %s" % ", ".join(ACTIONS))
        return getattr(self, action)()


def read_password_file(path):
    """The first line of a password file."""
    try:
        with open(path) as f:
            return f.readline().rstrip("\r\n")
    except (IOError, OSError) as e:
        raise InvalidOptionError("cannot read the password file %s: %s" % (path, e.strerror or e))


def delete_directory(path, check_mode):
    if not os.path.isdir(path):
        return 0
    count = sum(len(files) for unused_root, unused_dirs, files in os.walk(path))
    if not check_mode:
        shutil.rmtree(path)
    return count


def delete_s3_repository(loc, where, check_mode):
    """Delete every object of the repository ``where`` (parse_identifier's) in S3; its count."""
    prefix = where["key_prefix"].strip("/")
    if not prefix:
        raise InvalidOptionError("refusing to delete a whole bucket: the repository has no path inside %s"
                                 % where["bucket"])
    if not s3.HAS_BOTO3:
        raise StorageError("boto3 is required to delete a repository in S3")
    client = s3.s3_client(loc, endpoint_url=where.get("endpoint_url"))
    return s3.delete_prefix(client, where["bucket"], prefix, dry_run=check_mode)
