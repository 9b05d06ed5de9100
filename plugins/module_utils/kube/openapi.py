# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API server's OpenAPI v3 schemas of its types (``/openapi/v3``), read on first use, one
group-version document at a time, and kept for the run. Strategic merge patches take their
patch strategy from here, as the API server does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

GVK_EXTENSION = "x-kubernetes-group-version-kind"


class KindSchema(object):
    """One kind's schema and the components of its document (for ``$ref``)."""

    def __init__(self, schema, components):
        self.schema = schema
        self.components = components


def group_version_path(api_version):
    """``v1`` -> ``api/v1``, ``apps/v1`` -> ``apis/apps/v1`` (the index's keys)."""
    return "apis/" + api_version if "/" in api_version else "api/" + api_version


class OpenApiSchemas(object):
    """Schemas by apiVersion and kind, fetched lazily; safe to share between worker threads."""

    def __init__(self, kube):
        self.kube = kube
        self._lock = threading.Lock()
        self._index = None
        self._documents = {}

    def kind_schema(self, api_version, kind):
        """KindSchema of a kind the server publishes, else None (not served, or no schema)."""
        with self._lock:
            document = self._document(group_version_path(api_version or ""))
        if not document:
            return None
        group, _slash, version = (api_version or "").rpartition("/")
        components = (document.get("components") or {}).get("schemas") or {}
        for schema in components.values():
            for gvk in schema.get(GVK_EXTENSION) or ():
                if gvk.get("group", "") == group and gvk.get("version") == version and gvk.get("kind") == kind:
                    return KindSchema(schema, components)
        return None

    def _document(self, path):
        if path not in self._documents:
            if self._index is None:
                self._index = (self.kube.request("GET", "/openapi/v3") or {}).get("paths") or {}
            entry = self._index.get(path)
            url = (entry or {}).get("serverRelativeURL")
            if not url:
                self._documents[path] = None
            else:
                route, _q, query = url.partition("?")
                params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
                self._documents[path] = self.kube.request("GET", route, query=params or None)
        return self._documents[path]
