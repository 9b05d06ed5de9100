"""Restore precision (issue 20) on the test bed, the way a user gets there: objects annotated in
the live cluster, backed up by k8s_backup, restored by k8s_restore.

Status restore per object: Velero 1.16's annotation velero.io/restore-status "true" or "false"
decides for its object, over the restore_status option."""
from kubernetes.client.rest import ApiException

from test_backup_support import assert_ok, run_backup, unique
from test_restore_support import (  # noqa: F401 pylint: disable=unused-import
    assert_restored, crd_obj, delete_raw, doomed_namespaces, filesystem_location, get_raw, run_restore, wait_for,
    stored_restore, warning_messages,
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


def shop_objects(namespace):
    """A small application: a Deployment with its ServiceAccount, Role, RoleBinding and claim, and
    bystanders the item restore must leave out."""
    def workload(name, account=None, claim=None):
        pod_spec = {"containers": [{"name": "app", "image": "busybox"}]}
        if account:
            pod_spec["serviceAccountName"] = account
        if claim:
            pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
        return ("/apis/apps/v1/namespaces/%s/deployments" % namespace, {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}})

    core = "/api/v1/namespaces/%s/" % namespace
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/" % namespace
    return [
        (core + "serviceaccounts", {"metadata": {"name": "runner"}}),
        (rbac + "roles", {"metadata": {"name": "editor"},
                          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        (rbac + "rolebindings", {"metadata": {"name": "runner-edit"},
                                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "editor"},
                                 "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": namespace}]}),
        (core + "persistentvolumeclaims", {"metadata": {"name": "web-data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        workload("web", account="runner", claim="web-data"),
        workload("other"),
        (core + "configmaps", {"metadata": {"name": "loose"}, "data": {"k": "v"}}),
        (core + "secrets", {"metadata": {"name": "db-a"}, "stringData": {"k": "a"}}),
        (core + "secrets", {"metadata": {"name": "db-b"}, "stringData": {"k": "b"}}),
        (core + "secrets", {"metadata": {"name": "tls"}, "stringData": {"k": "t"}}),
    ]


def test_restore_named_items_with_what_they_need(bed, api_client, namespace, tmp_path, doomed_namespaces):
    for path, body in shop_objects(namespace):
        post(api_client, path, body)
    location = filesystem_location(tmp_path)
    assert_ok(run_backup(bed, location, "shop", included_namespaces=[namespace]))

    def restore(check_mode=False, **options):
        target = doomed_namespaces(unique("named"))
        result = run_restore(bed, location, check_mode=check_mode, backup_name="shop", name=unique("r"),
                             namespace_mapping={namespace: target}, **options)
        assert not result.failed, result.get("msg")
        if check_mode:
            created = [(p["resource"], p["name"]) for p in result["plan"] if p["action"] == "create"]
        else:  # the restore's resource list, as `velero restore describe --details` shows it
            created = [(resource, entry[:-len("(created)")].partition("/")[2] or None)
                       for resource, entries in stored_restore(location, result["name"], "resource_list").items()
                       for entry in entries if entry.endswith("(created)")]
        return target, result, sorted(created, key=lambda e: (e[0], e[1] or ""))

    needed = [("apps/v1/Deployment", "web"), ("rbac.authorization.k8s.io/v1/Role", "editor"),
              ("rbac.authorization.k8s.io/v1/RoleBinding", "runner-edit"),
              ("v1/PersistentVolumeClaim", "web-data"), ("v1/ServiceAccount", "runner")]

    # The preview names exactly the Deployment and what it needs, and creates nothing.
    target, preview, created = restore(check_mode=True, items=["deploy/%s/web" % namespace])
    assert [entry for entry in created if entry[0] != "v1/Namespace"] == needed
    assert get_raw(api_client, "/api/v1/namespaces/" + target) is None

    target, result, created = restore(items=["deployments/%s/web" % namespace])
    assert_restored(result)
    assert [entry for entry in created if entry[0] != "v1/Namespace"] == needed
    base = "/api/v1/namespaces/%s/" % target
    assert get_raw(api_client, "/apis/apps/v1/namespaces/%s/deployments/web" % target) is not None
    assert get_raw(api_client, "/apis/apps/v1/namespaces/%s/deployments/other" % target) is None
    assert get_raw(api_client, base + "persistentvolumeclaims/web-data") is not None
    binding = get_raw(api_client, "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/runner-edit" % target)
    assert binding["subjects"][0]["namespace"] == target  # the subject follows the mapping
    assert get_raw(api_client, base + "configmaps/loose") is None and get_raw(api_client, base + "secrets/db-a") is None

    # Globs, no related items, and a pattern that names nothing is a warning, not a silent no-op.
    target, result, created = restore(items=["secrets/%s/db-*" % namespace, "secrets/%s/nope" % namespace,
                                             "deployments/%s/web" % namespace], with_related=False)
    assert_restored(result)
    assert [entry for entry in created if entry[0] != "v1/Namespace"] == [
        ("apps/v1/Deployment", "web"), ("v1/Secret", "db-a"), ("v1/Secret", "db-b")]
    assert any("names no item of the backup" in w and "nope" in w for w in warning_messages(result)), \
        result.get("warnings")
    assert get_raw(api_client, "/api/v1/namespaces/%s/serviceaccounts/runner" % target) is None


STRATEGIC_MODIFIERS = """
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^web$"
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.dr.example/app:1", "env": [{"name": "MODE", "value": "dr"}]}]}}}}
"""


def test_strategic_merge_patch_modifier_merges_containers_by_name(bed, api_client, namespace, tmp_path,
                                                                  doomed_namespaces):
    pod_spec = {"containers": [
        {"name": "app", "image": "registry.example/app:1",
         "env": [{"name": "MODE", "value": "prod"}, {"name": "KEEP", "value": "1"}]},
        {"name": "sidecar", "image": "registry.example/sidecar:1"}]}
    post(api_client, "/apis/apps/v1/namespaces/%s/deployments" % namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}})
    location = filesystem_location(tmp_path)
    assert_ok(run_backup(bed, location, "smp", included_namespaces=[namespace]))
    target = doomed_namespaces(unique("smp"))
    options = dict(backup_name="smp", included_resources=["deployments"], namespace_mapping={namespace: target},
                   resource_modifiers=STRATEGIC_MODIFIERS)

    # The preview over the live Deployment shows what the patch makes of it.
    in_place = dict(options)
    in_place.update(namespace_mapping={}, existing_resource_policy="update")
    preview = run_restore(bed, location, check_mode=True, diff=True, name="smp-preview", **in_place)
    assert not preview.failed, preview.get("msg")
    assert [p["action"] for p in preview["plan"] if p["name"] == "web"] == ["update"]
    assert "registry.dr.example/app:1" in str(preview.get("diff")), preview.get("diff")

    assert_restored(run_restore(bed, location, name="smp", **options))
    containers = get_raw(api_client, "/apis/apps/v1/namespaces/%s/deployments/web" % target)[
        "spec"]["template"]["spec"]["containers"]
    # Merged by name, as the API server merges a strategic patch: the sidecar and the other variable stay.
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "registry.dr.example/app:1"), ("sidecar", "registry.example/sidecar:1")]
    assert containers[0]["env"] == [{"name": "MODE", "value": "dr"}, {"name": "KEEP", "value": "1"}]


def deployment_body(name, node_selector=None, min_ready_seconds=0):
    pod_spec = {"containers": [{"name": "app", "image": "busybox"}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "minReadySeconds": min_ready_seconds, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def test_readiness_gated_tiers(bed, api_client, namespace, tmp_path, doomed_namespaces):
    """The operator's Deployment is available before the next tier (its custom resources; a
    ConfigMap here) is created; a Deployment that never becomes ready is an error naming it."""
    deployments = "/apis/apps/v1/namespaces/%s/deployments" % namespace
    # Available only 3 s after its pod is ready: without the gate the next tier would start well before.
    post(api_client, deployments, deployment_body("operator", min_ready_seconds=3))
    post(api_client, deployments, deployment_body("stuck", node_selector={"kubedr.test/no-such-node": "x"}))
    post(api_client, "/api/v1/namespaces/%s/configmaps" % namespace, {"metadata": {"name": "db-instance"}})
    location = filesystem_location(tmp_path)
    assert_ok(run_backup(bed, location, "operator", included_namespaces=[namespace],
                         included_resources=["deployments", "configmaps"]))
    # Deployments in the main tier, the ConfigMap after the "-": the last tier.
    priorities = ["namespaces", "-", "configmaps"]

    target = doomed_namespaces(unique("gated"))
    result = run_restore(bed, location, backup_name="operator", name="gated", priorities=priorities,
                         items=["deployments/%s/operator" % namespace, "configmaps/%s/db-instance" % namespace],
                         namespace_mapping={namespace: target}, wait_for_ready={"resources": ["deployments"],
                                                                                "timeout": 120})
    assert_restored(result)
    operator = get_raw(api_client, "/apis/apps/v1/namespaces/%s/deployments/operator" % target)
    available = next(c for c in operator["status"]["conditions"] if c["type"] == "Available")
    config_map = get_raw(api_client, "/api/v1/namespaces/%s/configmaps/db-instance" % target)
    assert available["status"] == "True"
    # RFC 3339 UTC stamps compare as text: the next tier started once the operator was available.
    assert config_map["metadata"]["creationTimestamp"] >= available["lastTransitionTime"]

    target = doomed_namespaces(unique("stuck"))
    result = run_restore(bed, location, backup_name="operator", name="stuck", priorities=priorities,
                         items=["deployments/%s/stuck" % namespace, "configmaps/%s/db-instance" % namespace],
                         namespace_mapping={namespace: target}, wait_for_ready={"resources": ["deploy"], "timeout": 3})
    assert_restored(result, phase="PartiallyFailed")
    assert result["restore_errors"]["namespaces"][target] == [
        "deployments.apps %s/stuck not ready after 3s, before the next tier: 0 of 1 replicas available" % target]
    assert get_raw(api_client, "/api/v1/namespaces/%s/configmaps/db-instance" % target) is not None
