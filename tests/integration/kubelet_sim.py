"""Plays the part of the kubelet that kwok does not: when a pod runs on a node, the
kubelet creates each volume's directory under /var/lib/kubelet/pods/<uid>/volumes/.
The test bed's KUBEDR_HOST_PODS_DIR stands for that directory; this fills it in."""
import os
import threading
import time

PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir"}


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


class KubeletVolumes(object):
    """Background thread creating volume directories for the running pods of a namespace."""

    def __init__(self, core_v1, namespace, host_pods):
        self.core_v1 = core_v1
        self.namespace = namespace
        self.host_pods = host_pods
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _loop(self):
        while not self._stop.is_set():
            try:
                for pod in self.core_v1.list_namespaced_pod(self.namespace).items:
                    if pod.spec.node_name and pod.status.phase in ("Pending", "Running"):
                        for path in volume_dirs(self.core_v1, pod, self.host_pods):
                            os.makedirs(path, exist_ok=True)
            except Exception:  # the namespace may not exist yet; try again
                pass
            time.sleep(0.3)
