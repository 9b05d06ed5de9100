"""Plays the parts of a node that kwok does not: when a pod runs on a node, the kubelet
creates each volume's directory under /var/lib/kubelet/pods/<uid>/volumes/ (the test
bed's KUBEDR_HOST_PODS_DIR stands for that directory); and a dynamic provisioner creates
a local PV for each pending claim of the storage class SIM_STORAGE_CLASS."""
import os

from testbed import BackgroundLoop

SIM_STORAGE_CLASS = "kubedr-sim-local"
SIM_PROVISIONER = "kubedr.test/local-sim"


def storage_class():
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": SIM_STORAGE_CLASS},
            "provisioner": SIM_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}


def provision(core_v1, pvc):
    """A local PV bound to the pending claim, as a dynamic provisioner would make it."""
    nodes = sorted(n.metadata.name for n in core_v1.list_node().items)
    core_v1.create_persistent_volume({
        "metadata": {"name": "pvc-" + pvc.metadata.uid, "annotations": {"pv.kubernetes.io/provisioned-by": SIM_PROVISIONER}},
        "spec": {"capacity": {"storage": pvc.spec.resources.requests["storage"]},
                 "accessModes": pvc.spec.access_modes, "persistentVolumeReclaimPolicy": "Delete",
                 "storageClassName": SIM_STORAGE_CLASS, "local": {"path": "/mnt/sim/" + pvc.metadata.uid},
                 "claimRef": {"namespace": pvc.metadata.namespace, "name": pvc.metadata.name, "uid": pvc.metadata.uid},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": nodes}]}]}}},
    })


def volume_dirs(core_v1, pod, host_pods):
    """The directories the kubelet would create for the pod's emptyDir and PVC volumes."""
    dirs = []
    for volume in pod.spec.volumes or []:
        if volume.empty_dir is not None:
            dirs.append(os.path.join(host_pods, pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", volume.name))
        elif volume.persistent_volume_claim is not None:
            pvc = core_v1.read_namespaced_persistent_volume_claim(volume.persistent_volume_claim.claim_name,
                                                                  pod.metadata.namespace)
            if pvc.spec.volume_name:
                dirs.append(os.path.join(host_pods, pod.metadata.uid, "volumes", "kubernetes.io~local-volume",
                                         pvc.spec.volume_name))
    return dirs


class KubeletVolumes(BackgroundLoop):
    """Background thread creating volume directories for the running pods of a namespace,
    and local PVs for its pending claims of SIM_STORAGE_CLASS."""

    def __init__(self, core_v1, namespace, host_pods):
        super(KubeletVolumes, self).__init__()
        self.core_v1 = core_v1
        self.namespace = namespace
        self.host_pods = host_pods
        self._provisioned = set()

    def tick(self):
        try:
            for pvc in self.core_v1.list_namespaced_persistent_volume_claim(self.namespace).items:
                if pvc.spec.storage_class_name == SIM_STORAGE_CLASS and not pvc.spec.volume_name \
                        and pvc.metadata.uid not in self._provisioned:
                    self._provisioned.add(pvc.metadata.uid)
                    provision(self.core_v1, pvc)
            for pod in self.core_v1.list_namespaced_pod(self.namespace).items:
                if pod.spec.node_name and pod.status.phase in ("Pending", "Running"):
                    for path in volume_dirs(self.core_v1, pod, self.host_pods):
                        os.makedirs(path, exist_ok=True)
        except Exception:  # the namespace may not exist yet; try again
            pass


def busybox_deployment(claim):
    """The seed scenario's Deployment: busybox mounting the claim at /data."""
    return {
        "metadata": {"name": "busybox"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "busybox"}},
                 "template": {"metadata": {"labels": {"app": "busybox"}},
                              "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                                       "command": ["sleep", "infinity"],
                                                       "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                                       "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}},
    }
