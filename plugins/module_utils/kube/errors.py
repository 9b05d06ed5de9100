# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""An error status from the API server, and the short reason the engine reports for it.

Its own module because the transport raises it, the client retries on it and the engine's
callers catch it: none of them needs the others to name it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class ApiException(Exception):
    """The API server answered with an error status. The same fields as the kubernetes package's
    ApiException; its text never holds the request's or the response's headers."""

    def __init__(self, status=None, reason=None, body=None, headers=None):
        super(ApiException, self).__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers or {}

    def __str__(self):
        return "(%s) Reason: %s" % (self.status, self.reason)


def describe_api_error(error):
    """A short reason for an API error (status and server message), never request headers."""
    if isinstance(error, ApiException):
        message = ""
        try:
            body = json.loads(error.body or "{}")
            message = body.get("message") or error.reason or ""
        except (ValueError, TypeError, AttributeError):
            message = error.reason or ""
        return "HTTP %s%s" % (error.status, (": " + message) if message else "")
    return "%s: %s" % (type(error).__name__, error)
