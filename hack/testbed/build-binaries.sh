#!/usr/bin/env bash
# Build the test bed's binaries once into $KUBEDR_BIN_DIR (outside the repo) and reuse them.
# Set KUBEDR_BIN_DIR to a directory of ready-made binaries to skip building.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"

mkdir -p "$KUBEDR_BIN_DIR"
work=$KUBEDR_CACHE_DIR/build
mkdir -p "$work"

fail() { # component version what-failed
  echo "test bed: FAILED to build $1 $2 with: $3" >&2
  exit 1
}

run_step() { # component version function (its commands are echoed on failure via set -x)
  local comp=$1 ver=$2; shift 2
  echo "test bed: building $comp $ver (go build, cached under $KUBEDR_CACHE_DIR/bin)" >&2
  ( set -x; "$@" ) || fail "$comp" "$ver" "$* (see the go command traced above)"
}

have() { for b in "$@"; do [ -x "$KUBEDR_BIN_DIR/$b" ] || return 1; done; }

command -v go >/dev/null || fail go "any" "go (not on PATH)"

# Kubernetes: a throwaway module requiring k8s.io/kubernetes, with every staging
# module (v0.0.0 in its go.mod) replaced by its published v0.<minor>.<patch>.
build_kubernetes() {
  local dir=$work/kubernetes-$KUBE_VERSION staging_ver
  staging_ver=v0.${KUBE_VERSION#v1.}
  mkdir -p "$dir"
  local kmod
  kmod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubedr.local/kubebuild"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0\s*(//.*)?$' "$kmod" | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'
  } > "$dir/go.mod"
  local ldflags
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$KUBEDR_BIN_DIR/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local dir=$work/etcd-$ETCD_VERSION
  mkdir -p "$dir"
  printf 'module kubedr.local/etcdbuild\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$dir/go.mod"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$KUBEDR_BIN_DIR/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  GOBIN=$KUBEDR_BIN_DIR go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

build_minio() {
  GOBIN=$KUBEDR_BIN_DIR go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
}

# The Pushgateway and promtool (the metrics and alert rules tests), in $KUBEDR_MONITORING_BIN_DIR.
# Each is built in a throwaway module that requires the upstream module at the pinned version and
# repeats its replace and exclude directives (Prometheus has some, which `go install module@version`
# refuses; that form also asks the proxy for the module's version list, which it does not serve here).
# The binary is built beside its final place and moved there, so an interrupted build never leaves a
# half-written binary that `have_monitoring` would take for a finished one.
build_in_module() { # module version package binary target-dir [extra ldflags] [extra -replace old=new@v ...]
  local module=$1 version=$2 package=$3 binary=$4 target=$5 ldextra=${6:-} dir upstream r
  local extra_replaces=("${@:7}")
  dir=$work/$binary-$version
  mkdir -p "$dir" &&
  printf 'module kubedr.local/%sbuild\ngo 1.26\nrequire %s %s\n' "$binary" "$module" "$version" > "$dir/go.mod" &&
  upstream=$(cd "$dir" && go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])') &&
  local edits &&
  mapfile -t edits < <(go mod edit -json "$upstream" | python3 -c '
import json, sys
mod = json.load(sys.stdin)
def at(m):
    return m["Path"] + ("@" + m["Version"] if m.get("Version") else "")
for r in mod.get("Replace") or []:
    print("-replace=%s=%s" % (at(r["Old"]), at(r["New"])))
for e in mod.get("Exclude") or []:
    print("-exclude=%s" % at(e))
') &&
  for r in "${extra_replaces[@]}"; do edits+=("-replace=$r"); done &&
  { [ ${#edits[@]} -eq 0 ] || (cd "$dir" && go mod edit "${edits[@]}"); } &&
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldextra" -o "$dir/$binary.new" "$package") &&
  mv -f "$dir/$binary.new" "$target/$binary"
}

prometheus_version() { echo "-X github.com/prometheus/common/version.Version=${1#v}"; }

build_pushgateway() {
  build_in_module github.com/prometheus/pushgateway "$PUSHGATEWAY_VERSION" github.com/prometheus/pushgateway pushgateway \
    "$KUBEDR_MONITORING_BIN_DIR" "$(prometheus_version "$PUSHGATEWAY_VERSION")"
}

build_promtool() {
  build_in_module github.com/prometheus/prometheus "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool promtool \
    "$KUBEDR_MONITORING_BIN_DIR" "$(prometheus_version "$PROMTOOL_VERSION")"
}

build_restic() {
  build_in_module github.com/restic/restic "$RESTIC_VERSION" github.com/restic/restic/cmd/restic restic "$KUBEDR_UPLOADER_BIN_DIR"
}

build_kopia() {
  build_in_module github.com/kopia/kopia "$KOPIA_VERSION" github.com/kopia/kopia kopia "$KUBEDR_UPLOADER_BIN_DIR" \
    "-X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION#v}"
}

# controller-runtime serves metrics on :8080 with no flag to move it, so a Velero server and its
# node agents could not run side by side on one machine: the test bed's builds leave it off.
build_velero() { # version: the binary is velero-<version>
  local replaces_var="VELERO_${1//./_}_REPLACES" replaces
  replaces_var=${replaces_var^^}
  read -r -a replaces <<< "${!replaces_var:-}"
  build_in_module github.com/vmware-tanzu/velero "$1" github.com/vmware-tanzu/velero/cmd/velero "velero-$1" \
    "$KUBEDR_VELERO_BIN_DIR" "-X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$1 -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0" \
    "${replaces[@]}"
}

build_velero_aws_plugin() {
  build_in_module github.com/vmware-tanzu/velero-plugin-for-aws "$VELERO_AWS_PLUGIN_VERSION" \
    github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws velero-plugin-for-aws "$KUBEDR_VELERO_BIN_DIR"
}

have_in() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }
have_monitoring() { have_in "$KUBEDR_MONITORING_BIN_DIR" "$@"; }

have kwok kwokctl || run_step kwok "$KWOK_VERSION" build_kwok
have etcd || run_step etcd "$ETCD_VERSION" build_etcd
have kube-apiserver kube-controller-manager kube-scheduler kubectl || run_step kubernetes "$KUBE_VERSION" build_kubernetes
have minio || run_step minio "$MINIO_VERSION" build_minio
mkdir -p "$KUBEDR_MONITORING_BIN_DIR"
have_monitoring pushgateway || run_step pushgateway "$PUSHGATEWAY_VERSION" build_pushgateway
have_monitoring promtool || run_step promtool "$PROMTOOL_VERSION" build_promtool
mkdir -p "$KUBEDR_UPLOADER_BIN_DIR" "$KUBEDR_VELERO_BIN_DIR"
have_in "$KUBEDR_UPLOADER_BIN_DIR" restic || run_step restic "$RESTIC_VERSION" build_restic
have_in "$KUBEDR_UPLOADER_BIN_DIR" kopia || run_step kopia "$KOPIA_VERSION" build_kopia
for v in $VELERO_VERSIONS; do
  have_in "$KUBEDR_VELERO_BIN_DIR" "velero-$v" || run_step velero "$v" build_velero "$v"
done
have_in "$KUBEDR_VELERO_BIN_DIR" velero-plugin-for-aws || run_step velero-plugin-for-aws "$VELERO_AWS_PLUGIN_VERSION" build_velero_aws_plugin
# $KUBEDR_BIN_DIR is the one directory on the tests' PATH: link the tools of these versions into it
# (restic there comes before Debian's /usr/bin/restic).
link() { # target-dir binary
  [ "$(readlink "$KUBEDR_BIN_DIR/$2" || true)" = "$1/$2" ] || ln -sfn "$1/$2" "$KUBEDR_BIN_DIR/$2"
}
for b in pushgateway promtool; do link "$KUBEDR_MONITORING_BIN_DIR" "$b"; done
for b in restic kopia; do link "$KUBEDR_UPLOADER_BIN_DIR" "$b"; done
for v in $VELERO_VERSIONS; do link "$KUBEDR_VELERO_BIN_DIR" "velero-$v"; done
link "$KUBEDR_VELERO_BIN_DIR" velero-plugin-for-aws
echo "$KUBEDR_BIN_DIR"
