"""A cluster for unit tests of a backup run: discovery and LISTs (parsed and raw pages) of a few namespaces and
ConfigMaps held in a dict, one page each; nothing else."""
import json

from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource, Discovery

VERBS = ("create", "delete", "get", "list")
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS)
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS)


class ListingKube(object):
    """``items``: {group_resource: [item without apiVersion and kind]}."""
    host = "https://fake:6443"
    exec_client = None

    def __init__(self, items, resources=(NAMESPACES, CONFIGMAPS)):
        self.items, self.resources = items, list(resources)

    def discover(self):
        return Discovery(self.resources)

    def server_version(self):
        return {"gitVersion": "v1.36.1", "major": "1", "minor": "36"}

    def list_pages(self, api_resource, namespace=None, label_selector=None):
        yield [dict(i, apiVersion=api_resource.group_version, kind=api_resource.kind)
               for i in self.items.get(api_resource.group_resource, [])
               if namespace is None or i["metadata"].get("namespace") == namespace]

    def list_raw_pages(self, api_resource, namespace=None, label_selector=None):
        for items in self.list_pages(api_resource, namespace, label_selector):
            yield json.dumps({"kind": api_resource.kind + "List", "apiVersion": api_resource.group_version,
                              "metadata": {"resourceVersion": "1"}, "items": items}).encode()

    def list_items(self, api_resource, namespace=None, label_selector=None):
        for page in self.list_pages(api_resource, namespace, label_selector):
            yield from page
