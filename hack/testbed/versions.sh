# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the scripts that source it
# Pinned versions of every test-bed component. Sourced by the other scripts.
# Changing a version changes the cache directory, so old and new builds never mix.
KUBE_VERSION=v1.36.1          # kube-apiserver, controller-manager, scheduler, kubectl
ETCD_VERSION=v3.6.10          # the etcd kwok pairs with Kubernetes 1.36
KWOK_VERSION=v0.8.0           # kwok + kwokctl (its default Kubernetes is 1.36.1)
# MinIO's RELEASE.* tags are not served by the Go module proxy; this pseudo-version
# is the source tree of 2026-02-12.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# etcd-server from Debian is too old (3.4). Debian's restic (bookworm: 0.14.0) is still installed:
# the tests run the node agent with it too (the oldest restic kubedr supports).
PUSHGATEWAY_VERSION=v1.11.1   # github.com/prometheus/pushgateway (the metrics tests push to it)
PROMTOOL_VERSION=v0.305.0     # github.com/prometheus/prometheus/cmd/promtool (Prometheus 3.5.0; checks the alert rules)

RESTIC_VERSION=v0.18.1        # github.com/restic/restic (the test bed's restic, first on PATH)
KOPIA_VERSION=v0.21.1         # github.com/kopia/kopia (the kopia uploader's CLI)
# Real Velero, run out of cluster beside the test bed for the interop tests: v1.18.3 backs up pod
# volumes with kopia only, v1.16.2 is the last release that backs them up with restic.
VELERO_VERSIONS="v1.18.3 v1.16.2"
# The proxy serves no velero-plugin-for-aws release older than v1.14.2 (v1.12.x/v1.13.x, the pairs
# of Velero 1.16/1.17, are refused); v1.14.2 speaks the same ObjectStore plugin API to both.
VELERO_AWS_PLUGIN_VERSION=v1.14.2
# Velero v1.18.3 requires k8s.io/cli-runtime v0.33.12 (and .11), which the proxy refuses; v0.33.10 is the
# newest patch of that minor it serves (cli-runtime only backs the CLI's output printers).
VELERO_V1_18_3_REPLACES="k8s.io/cli-runtime=k8s.io/cli-runtime@v0.33.10"

KUBEDR_CACHE_DIR=${KUBEDR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedr}
KUBEDR_BIN_DIR=${KUBEDR_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_minio-${MINIO_VERSION:0:23}}
# The monitoring tools have a cache directory of their own, so adding or bumping them never rebuilds
# Kubernetes; build-binaries.sh links them into $KUBEDR_BIN_DIR, which is on the tests' PATH.
KUBEDR_MONITORING_BIN_DIR=${KUBEDR_MONITORING_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/pushgateway-${PUSHGATEWAY_VERSION}_promtool-${PROMTOOL_VERSION}}
# The uploaders and Velero have cache directories of their own too (linked into $KUBEDR_BIN_DIR).
KUBEDR_UPLOADER_BIN_DIR=${KUBEDR_UPLOADER_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/restic-${RESTIC_VERSION}_kopia-${KOPIA_VERSION}}
# "-nometrics": built without controller-runtime's fixed :8080 metrics listener (build-binaries.sh).
KUBEDR_VELERO_BIN_DIR=${KUBEDR_VELERO_BIN_DIR:-$KUBEDR_CACHE_DIR/bin/velero-${VELERO_VERSIONS// /-}_aws-${VELERO_AWS_PLUGIN_VERSION}-nometrics}
