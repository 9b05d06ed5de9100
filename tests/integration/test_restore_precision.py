"""Restore precision (issue 20) on the test bed, the way a user gets there: objects annotated in
the live cluster, backed up by k8s_backup, restored by k8s_restore.

Status restore per object: Velero 1.16's annotation velero.io/restore-status "true" or "false"
decides for its object, over the restore_status option."""
from kubernetes.client.rest import ApiException

from test_backup_support import assert_ok, run_backup, unique
from test_restore_support import (  # noqa: F401 pylint: disable=unused-import
    assert_restored, crd_obj, delete_raw, doomed_namespaces, filesystem_location, get_raw, run_restore, wait_for,
)


def post(api_client, path, body):
    api_client.call_api(path, "POST", body=body, auth_settings=["BearerToken"], _preload_content=False)


def posted_once_served(api_client, path, body):
    """True once the POST succeeded; False while a new type is not served yet (404)."""
    try:
        post(api_client, path, body)
    except ApiException as error:
        if error.status != 404:
            raise
        return False
    return True


def widget(group, namespace, name, restore_status=None):
    annotations = {"velero.io/restore-status": restore_status} if restore_status is not None else {}
    return {"apiVersion": group + "/v1", "kind": "Widget", "spec": {"size": 1},
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations}}


def test_restore_status_annotation_decides_per_object(bed, api_client, namespace, tmp_path, doomed_namespaces):
    group = "%s.kubedr.test" % unique("st")
    crd = crd_obj(group)  # as a backup holds it: keep only what a user writes
    crd = {"apiVersion": crd["apiVersion"], "kind": crd["kind"], "metadata": {"name": crd["metadata"]["name"]},
           "spec": crd["spec"]}
    post(api_client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets." + group
    try:
        wait_for(lambda: any(c["type"] == "Established" and c["status"] == "True"
                             for c in (get_raw(api_client, crd_path).get("status") or {}).get("conditions") or []),
                 timeout=60, what="CRD established")
        base = "/apis/%s/v1/namespaces/%s/widgets" % (group, namespace)
        # "TRUE" is not Velero's "true": an invalid value defers to the option, as in Velero.
        annotated = {"plain": None, "always": "true", "never": "false", "shouting": "TRUE"}
        for name, value in annotated.items():
            body = widget(group, namespace, name, value)
            wait_for(lambda: posted_once_served(api_client, base, body), timeout=30, what="widget %s created (the new type is served)" % name)
            api_client.call_api(base + "/" + name + "/status", "PATCH", body={"status": {"ready": name}},
                                header_params={"Content-Type": "application/merge-patch+json"},
                                auth_settings=["BearerToken"], _preload_content=False)
        location = filesystem_location(tmp_path)
        assert_ok(run_backup(bed, location, "annotated", included_namespaces=[namespace]))

        def restored_status(restore_name, **options):
            target = doomed_namespaces(unique("st"))
            assert_restored(run_restore(bed, location, backup_name="annotated", name=restore_name,
                                        namespace_mapping={namespace: target}, **options))
            path = "/apis/%s/v1/namespaces/%s/widgets/" % (group, target)
            return {name: (get_raw(api_client, path + name).get("status") or {}).get("ready") for name in annotated}

        # No restore_status option: only the object annotated "true" keeps its status.
        assert restored_status("by-annotation") == {"plain": None, "always": "always", "never": None,
                                                    "shouting": None}
        # The option includes widgets: every widget but the one annotated "false".
        assert restored_status("by-option", restore_status={"included_resources": ["widgets." + group]}) == {
            "plain": "plain", "always": "always", "never": None, "shouting": "shouting"}
    finally:
        delete_raw(api_client, crd_path)
