# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the scripts that source it
# Pinned versions of every test-bed component. Sourced by the other scripts.
# Changing a version changes the cache directory, so old and new builds never mix.
KUBE_VERSION=v1.36.1          # kube-apiserver, controller-manager, scheduler, kubectl
ETCD_VERSION=v3.6.10          # the etcd kwok pairs with Kubernetes 1.36
KWOK_VERSION=v0.8.0           # kwok + kwokctl (its default Kubernetes is 1.36.1)
# MinIO's RELEASE.* tags are not served by the Go module proxy; this pseudo-version
# is the source tree of 2026-02-12.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# restic comes from Debian (bookworm: 0.14.0); etcd-server from Debian is too old (3.4).
PUSHGATEWAY_VERSION=v1.11.1   # github.com/prometheus/pushgateway (the metrics tests push to it)
PROMTOOL_VERSION=v0.305.0     # github.com/prometheus/prometheus/cmd/promtool (Prometheus 3.5.0; checks the alert rules)

KUBEDR_CACHE_DIR=${KUBEDR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedr}
KUBEDR_BIN_DIR=${KUBEDR_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_minio-${MINIO_VERSION:0:23}}
# The monitoring tools have a cache directory of their own, so adding or bumping them never rebuilds
# Kubernetes; build-binaries.sh links them into $KUBEDR_BIN_DIR, which is on the tests' PATH.
KUBEDR_MONITORING_BIN_DIR=${KUBEDR_MONITORING_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/pushgateway-${PUSHGATEWAY_VERSION}_promtool-${PROMTOOL_VERSION}}
