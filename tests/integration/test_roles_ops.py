"""roles/minio and roles/rbac against the test bed: the objects as specified, a second run changes
nothing, argument specs reject wrong types with a clear message, least privilege checked by the API server."""
import base64

import pytest

from test_playbooks_support import (
    assert_no_changes, delete_quietly, recap, role, subject_access, unique,
)


@pytest.fixture
def minio_vars(bed):
    """The in-cluster MinIO's root credentials are the test bed MinIO's, whose address stands in for the Service's
    (the kwok pods run nothing), so the bucket is created for real."""
    namespace = unique("ops-minio")
    bucket = unique("ops-bucket")
    yield {
        "minio_namespace": namespace, "minio_root_user": bed["KUBEDR_S3_ACCESS_KEY"],
        "minio_root_password": bed["KUBEDR_S3_SECRET_KEY"], "minio_bucket": bucket,
        "minio_bucket_endpoint": bed["KUBEDR_S3_ENDPOINT"],
    }


@pytest.fixture
def cleanup_minio(core_v1, s3):
    created = []
    yield created
    for role_vars in created:
        delete_quietly(core_v1.delete_namespace, role_vars["minio_namespace"])
        try:
            s3.delete_bucket(Bucket=role_vars["minio_bucket"])
        except Exception:  # not created
            pass


def test_minio_deployment_with_pvc_and_bucket(bed, core_v1, apps_v1, s3, minio_vars, cleanup_minio):
    cleanup_minio.append(minio_vars)
    first = role(bed, "minio", dict(minio_vars, minio_storage_size="2Gi"))
    assert recap(first.stdout)["changed"] == 3  # namespace, objects (one looped task), bucket
    namespace = minio_vars["minio_namespace"]

    secret = core_v1.read_namespaced_secret("minio-credentials", namespace)
    assert base64.b64decode(secret.data["MINIO_ROOT_USER"]).decode() == bed["KUBEDR_S3_ACCESS_KEY"]
    assert base64.b64decode(secret.data["MINIO_ROOT_PASSWORD"]).decode() == bed["KUBEDR_S3_SECRET_KEY"]
    assert bed["KUBEDR_S3_SECRET_KEY"] not in first.stdout

    pvc = core_v1.read_namespaced_persistent_volume_claim("minio-data", namespace)
    assert pvc.spec.resources.requests["storage"] == "2Gi" and pvc.spec.access_modes == ["ReadWriteOnce"]

    deployment = apps_v1.read_namespaced_deployment("minio", namespace)
    pod = deployment.spec.template.spec
    container = pod.containers[0]
    assert container.image.startswith("quay.io/minio/minio:")
    assert container.args[:2] == ["server", "/data"]
    assert container.env_from[0].secret_ref.name == "minio-credentials"
    assert pod.volumes[0].persistent_volume_claim.claim_name == "minio-data"
    assert pod.security_context.run_as_non_root is True
    assert container.security_context.allow_privilege_escalation is False
    assert deployment.spec.selector.match_labels == {"app.kubernetes.io/name": "minio", "app.kubernetes.io/instance": "minio"}

    service = core_v1.read_namespaced_service("minio", namespace)
    assert sorted((p.name, p.port) for p in service.spec.ports) == [("api", 9000), ("console", 9001)]
    assert service.spec.selector == deployment.spec.selector.match_labels

    s3.head_bucket(Bucket=minio_vars["minio_bucket"])  # created

    assert_no_changes(role(bed, "minio", dict(minio_vars, minio_storage_size="2Gi")).stdout)


def test_minio_statefulset_with_emptydir_then_absent(bed, core_v1, apps_v1, minio_vars, cleanup_minio):
    cleanup_minio.append(minio_vars)
    role_vars = dict(minio_vars, minio_workload_kind="StatefulSet", minio_storage_type="emptyDir", minio_name="store",
                     minio_create_bucket=False)
    role(bed, "minio", role_vars)
    namespace = minio_vars["minio_namespace"]
    statefulset = apps_v1.read_namespaced_stateful_set("store", namespace)
    assert statefulset.spec.service_name == "store"
    assert statefulset.spec.volume_claim_templates is None
    assert statefulset.spec.template.spec.volumes[0].empty_dir is not None
    assert core_v1.list_namespaced_persistent_volume_claim(namespace).items == []
    assert core_v1.read_namespaced_service("store", namespace).spec.ports[0].port == 9000
    assert_no_changes(role(bed, "minio", role_vars).stdout)

    role(bed, "minio", dict(role_vars, minio_state="absent"))
    assert apps_v1.list_namespaced_stateful_set(namespace).items == []
    assert [s.metadata.name for s in core_v1.list_namespaced_service(namespace).items] == []
    assert "store-credentials" not in [s.metadata.name for s in core_v1.list_namespaced_secret(namespace).items]


def test_minio_statefulset_with_volume_claim_template(bed, apps_v1, minio_vars, cleanup_minio):
    cleanup_minio.append(minio_vars)
    role(bed, "minio", dict(minio_vars, minio_workload_kind="StatefulSet", minio_storage_class="fast",
                            minio_create_bucket=False))
    statefulset = apps_v1.read_namespaced_stateful_set("minio", minio_vars["minio_namespace"])
    template = statefulset.spec.volume_claim_templates[0]
    assert template.metadata.name == "data" and template.spec.storage_class_name == "fast"
    assert template.spec.resources.requests["storage"] == "10Gi"


def test_minio_argument_specs_reject_bad_input(bed, minio_vars):
    wrong_type = role(bed, "minio", dict(minio_vars, minio_api_port="nine-thousand"), expect_ok=False)
    assert wrong_type.returncode != 0
    assert "minio_api_port" in wrong_type.stdout and "int" in wrong_type.stdout

    bad_choice = role(bed, "minio", dict(minio_vars, minio_workload_kind="DaemonSet"), expect_ok=False)
    assert "minio_workload_kind" in bad_choice.stdout and "Deployment, StatefulSet" in bad_choice.stdout

    missing = dict(minio_vars)
    del missing["minio_root_password"]
    missing_out = role(bed, "minio", missing, expect_ok=False)
    assert "minio_root_password" in missing_out.stdout and "required" in missing_out.stdout


# ----------------------------------------------------------------------------- rbac

@pytest.fixture
def rbac_names(api_client, core_v1):
    from kubernetes import client

    suffix = unique("ops")
    names = {"rbac_backup_cluster_role": suffix + "-backup", "rbac_restore_cluster_role": suffix + "-restore",
             "rbac_node_agent_namespace": suffix + "-na"}
    yield names
    rbac = client.RbacAuthorizationV1Api(api_client)
    for name in (names["rbac_backup_cluster_role"], names["rbac_restore_cluster_role"]):
        delete_quietly(rbac.delete_cluster_role, name)
        delete_quietly(rbac.delete_cluster_role_binding, name)
    delete_quietly(core_v1.delete_namespace, names["rbac_node_agent_namespace"])


def test_rbac_least_privilege(bed, api_client, rbac_names):
    from kubernetes import client

    backup_sa = {"kind": "ServiceAccount", "name": "backupper", "namespace": "default"}
    restorer = {"kind": "User", "name": rbac_names["rbac_restore_cluster_role"] + "-alice"}
    role_vars = dict(rbac_names, rbac_backup_subjects=[backup_sa], rbac_restore_subjects=[restorer])
    role(bed, "rbac", role_vars)
    assert_no_changes(role(bed, "rbac", role_vars).stdout)

    rbac = client.RbacAuthorizationV1Api(api_client)
    backup_role = rbac.read_cluster_role(rbac_names["rbac_backup_cluster_role"])
    assert [sorted(r.verbs) for r in backup_role.rules if r.resources] == [["get", "list"]]
    binding = rbac.read_cluster_role_binding(rbac_names["rbac_restore_cluster_role"])
    assert binding.subjects[0].api_group == "rbac.authorization.k8s.io" and binding.subjects[0].kind == "User"

    node_agent_ns = rbac_names["rbac_node_agent_namespace"]
    backup_user = "system:serviceaccount:default:backupper"
    restore_user = restorer["name"]
    # Backup: read everything, change nothing; exec only into the node agent's namespace.
    assert subject_access(api_client, backup_user, "list", "secrets")
    assert subject_access(api_client, backup_user, "get", "deployments", "shop", group="apps")
    assert subject_access(api_client, backup_user, "list", "customresourcedefinitions", group="apiextensions.k8s.io")
    for verb in ("create", "update", "patch", "delete"):
        assert not subject_access(api_client, backup_user, verb, "configmaps", "default")
    assert subject_access(api_client, backup_user, "create", "pods", node_agent_ns, subresource="exec")
    assert not subject_access(api_client, backup_user, "create", "pods", "default", subresource="exec")
    assert not subject_access(api_client, backup_user, "impersonate", "users")
    # Restore: create/patch/delete, escalate and bind for RBAC objects, no impersonation.
    assert subject_access(api_client, restore_user, "create", "configmaps", "shop")
    assert subject_access(api_client, restore_user, "patch", "deployments", "shop", group="apps")
    assert subject_access(api_client, restore_user, "delete", "services", "shop")
    assert subject_access(api_client, restore_user, "escalate", "clusterroles", group="rbac.authorization.k8s.io")
    assert subject_access(api_client, restore_user, "bind", "roles", "shop", group="rbac.authorization.k8s.io")
    assert not subject_access(api_client, restore_user, "impersonate", "users")
    assert subject_access(api_client, restore_user, "create", "pods", node_agent_ns, subresource="exec")
    # (create on every resource includes pods/exec anywhere: an identity that can create any pod can run anything,
    # so the restore identity is powerful by nature - see docs/operations.md.)

    role(bed, "rbac", dict(role_vars, rbac_state="absent"))
    assert not subject_access(api_client, backup_user, "list", "secrets")
    names = [r.metadata.name for r in rbac.list_cluster_role().items]
    assert rbac_names["rbac_backup_cluster_role"] not in names and rbac_names["rbac_restore_cluster_role"] not in names


def test_rbac_argument_specs_reject_bad_input(bed, rbac_names):
    out = role(bed, "rbac", dict(rbac_names, rbac_backup_role="perhaps"), expect_ok=False)
    assert out.returncode != 0 and "rbac_backup_role" in out.stdout and "bool" in out.stdout
