# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a failed restic run and a failed kopia run have in common: an error that names its
cause (``kind``), the causes both tools report in the same words (the S3 client, the network,
TLS), secrets scrubbed from what they printed, the message a user reads, and a run's result.
Pure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import StorageError

REDACTED = "********"

# (kind, substring of the tool's stderr in lower case, what to tell the user), after each tool's own.
STORAGE_STDERR_PATTERNS = (
    ("credentials", "signature we calculated does not match",
     "S3 refused the credentials (check the access key and secret key)"),
    ("credentials", "access denied", "S3 denied access (check the credentials and the bucket policy)"),
    ("unreachable", "connection refused", "the storage endpoint is unreachable (connection refused)"),
    ("unreachable", "no such host", "the storage endpoint's host name does not resolve"),
    ("unreachable", "i/o timeout", "the storage endpoint did not answer (timeout)"),
    ("unreachable", "x509:", "TLS verification of the storage endpoint failed"),
)


class UploaderError(StorageError):
    """An uploader's command failed. ``kind`` names the cause (each tool lists its own)."""

    def __init__(self, message, kind="failed", rc=None):
        super(UploaderError, self).__init__(message)
        self.kind = kind
        self.rc = rc


class CommandResult(object):
    """A finished run: exit status, output, and the arguments it ran with (never a secret)."""

    def __init__(self, rc, stdout, stderr, argv=None):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.argv = argv or []

    def __repr__(self):
        return "%s(rc=%r)" % (type(self).__name__, self.rc)


def classify(stderr, patterns):
    """(kind, explanation) of the first of ``patterns`` found in ``stderr``; ("failed", None)."""
    low = (stderr or "").lower()
    for kind, needle, text in patterns:
        if needle in low:
            return kind, text
    return "failed", None


def redact(text, secrets):
    """text with every secret value (3 characters or more) replaced."""
    text = text or ""
    for secret in secrets or ():
        if secret and len(secret) >= 3:
            text = text.replace(secret, REDACTED)
    return text


def failure_message(tool, operation, repository, rc, explanation, said):
    """``restic backup on <repo> failed (exit status 1): <cause>. restic said: <its last lines>``."""
    detail = " | ".join(said[-4:])[:600]
    msg = "%s %s on %s failed (exit status %s)" % (tool, operation, repository, rc)
    if explanation:
        msg += ": " + explanation
    if detail:
        msg += ". %s said: %s" % (tool, detail)
    return msg
