# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The User-Agent of the collection's requests: ``kubedr.backup/<version> (<module>)``, sent to
the API server (kube/transport.py) and appended to botocore's for S3 (storage/s3.py), so audit
logs name the collection and the module instead of python-urllib3.

A module names itself once at its start (``adapter.args.new_module``); one module runs per process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLLECTION = "kubedr.backup"
COLLECTION_VERSION = "0.1.0"  # galaxy.yml's version (a unit test keeps them equal)

_MODULE = []


def set_module(name):
    """Record the running module's name (short or fully qualified)."""
    del _MODULE[:]
    if name:
        _MODULE.append(str(name).rsplit(".", 1)[-1])


def user_agent():
    """``kubedr.backup/0.1.0 (k8s_backup)``; without the parenthesis outside a module."""
    product = "%s/%s" % (COLLECTION, COLLECTION_VERSION)
    return "%s (%s)" % (product, _MODULE[0]) if _MODULE else product
