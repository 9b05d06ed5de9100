# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


"""Exceptions the engine raises. Each message is for the user: it names the problem
and what to do, and never contains a secret (messages are built from the request,
not from the options dict)."""


class KubedrError(Exception):
    """Base of every error the modules turn into a clean `failed: true` with `msg`."""


class InvalidOptionError(KubedrError):
    """An option (or a combination of options) is invalid; nothing was done."""


class StorageError(KubedrError):
    """The storage location could not be read or written."""


class ClusterError(KubedrError):
    """The Kubernetes API server could not be reached or refused a request."""


class ArchiveError(KubedrError):
    """A backup archive is corrupt, hostile or not a Velero backup."""


class NotFoundError(KubedrError):
    """A named backup, restore or repository does not exist."""
