#!/usr/bin/env bash
# Start the test bed: a kwokctl cluster (etcd, kube-apiserver, controller-manager,
# scheduler, kwok) from locally built binaries with two kwok nodes and exec
# simulation, and a MinIO server on a loopback port with a bucket.
# Writes .testbed/env. Usage: cluster-up.sh [cluster-name]   (default: kubedr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${1:-kubedr}
tb=$repo/.testbed
if [ "$name" = kubedr ]; then envfile=$tb/env; else envfile=$tb/env-$name; fi

"$here/install-deps.sh"
. "$tb/tools.env"
. "$here/versions.sh"
B=$KUBEDR_BIN_DIR
PY=$KUBEDR_VENV/bin/python
export PATH=$B:$PATH   # kwokctl runs kubectl from PATH
export KWOK_WORKDIR=$tb/kwok
mkdir -p "$tb" "$KWOK_WORKDIR"

die() { echo "test bed: FAILED: $*" >&2; exit 1; }

kubeconfig=$KWOK_WORKDIR/clusters/$name/kubeconfig.yaml
if [ -f "$kubeconfig" ] && kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  echo "test bed: cluster $name already running" >&2
else
  kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
  create=(kwokctl create cluster --name "$name" --runtime binary
    --kube-apiserver-binary "$B/kube-apiserver"
    --kube-controller-manager-binary "$B/kube-controller-manager"
    --kube-scheduler-binary "$B/kube-scheduler"
    --kwok-controller-binary "$B/kwok"
    --etcd-binary "$B/etcd"
    --enable-crds "Exec,ClusterExec"
    --kubeconfig "$tb/kubeconfig-merged-$name"
    --wait 180s)
  # KUBEDR_APISERVER_PORT (the fault tests set it): a fixed port for a kube-apiserver that a test stops and
  # starts again. kwokctl's own choice is the first free port below 32767, which another bed being created
  # meanwhile takes while the stopped one is down ("bind: address already in use" on the restart).
  if [ -n "${KUBEDR_APISERVER_PORT:-}" ]; then
    create+=(--kube-apiserver-port "$KUBEDR_APISERVER_PORT")
  fi
  # KUBEDR_CONTROLLER_QPS (make bench sets it): controllers that catch up with a step's 5,000 Services in seconds,
  # not minutes (20 requests/s by default), so that each measured step can wait for a quiet API server first.
  if [ -n "${KUBEDR_CONTROLLER_QPS:-}" ]; then
    create+=(--extra-args "kube-controller-manager=kube-api-qps=$KUBEDR_CONTROLLER_QPS"
             --extra-args "kube-controller-manager=kube-api-burst=$((2 * KUBEDR_CONTROLLER_QPS))")
  fi
  echo "test bed: starting kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION: ${create[*]}" >&2
  # On 2 busy cores kwokctl has once applied its CRDs before the new kube-apiserver listened, and given up
  # ("failed to init crds ... connection refused"): a second attempt on a clean slate, then a loud failure.
  for attempt in 1 2; do
    "${create[@]}" >"$tb/kwokctl-$name.log" 2>&1 && break
    tail -30 "$tb/kwokctl-$name.log" >&2
    [ "$attempt" = 2 ] && die "${create[*]} (log: $tb/kwokctl-$name.log)"
    echo "test bed: kwokctl create cluster $name failed (attempt $attempt); deleting it and trying again" >&2
    kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
  done
fi
export KUBECONFIG=$kubeconfig

# Two kwok nodes; kwok plays their kubelets.
kwokctl scale node --name "$name" --replicas 2 >/dev/null 2>&1 || die "kwokctl scale node --name $name --replicas 2"

# The directory that plays the nodes' kubelet pods directory (/var/lib/kubelet/pods).
host_pods=$tb/host-pods-$name
mkdir -p "$host_pods"

# Exec into any container runs a local command (kwok's Exec simulation).
# Exec'd commands run in this directory.
for i in $(seq 1 60); do
  kubectl get crd clusterexecs.kwok.x-k8s.io >/dev/null 2>&1 && break
  sleep 1
done
kubectl apply -f - >/dev/null <<YAML || die "kubectl apply ClusterExec"
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: $host_pods
YAML

# MinIO on a free loopback port, credentials generated once per test bed.
minio_dir=$tb/minio-$name
mkdir -p "$minio_dir/data"
if [ ! -f "$minio_dir/credentials" ]; then
  (umask 077; printf 'MINIO_ROOT_USER=kubedr%s\nMINIO_ROOT_PASSWORD=%s\n' \
    "$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    "$(head -c24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$minio_dir/credentials")
fi
. "$minio_dir/credentials"
minio_running() { # the recorded PID is alive AND is the MinIO of this data directory (PIDs get reused)
  local pid
  pid=$(cat "$minio_dir/pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$minio_dir/data"
}
if minio_running; then
  port=$(cat "$minio_dir/port")
else
  # KUBEDR_MINIO_PORT (the fault tests set it): a port outside the ephemeral range, which an outgoing
  # connection could take as its source port while a test has MinIO stopped.
  port=${KUBEDR_MINIO_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  cport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "$port" > "$minio_dir/port"
  # Credentials reach MinIO through its environment, never its command line.
  MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD MINIO_BROWSER=off \
    nohup "$B/minio" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
    "$minio_dir/data" >"$minio_dir/minio.log" 2>&1 &
  echo $! > "$minio_dir/pid"
fi
for i in $(seq 1 60); do
  "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/minio/health/ready', timeout=2)" 2>/dev/null && break
  [ "$i" = 60 ] && { tail -20 "$minio_dir/minio.log" >&2; die "minio $MINIO_VERSION did not become ready on 127.0.0.1:$port"; }
  sleep 1
done
bucket=kubedr-test
AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD "$PY" - "$port" "$bucket" <<'PY' || die "creating bucket in minio"
import sys, boto3, botocore.config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % sys.argv[1], region_name="us-east-1",
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
if sys.argv[2] not in names:
    s3.create_bucket(Bucket=sys.argv[2])
PY

(umask 077; cat > "$envfile" <<ENV
export KUBECONFIG=$kubeconfig
export KUBEDR_S3_ENDPOINT=http://127.0.0.1:$port
export KUBEDR_S3_ACCESS_KEY=$MINIO_ROOT_USER
export KUBEDR_S3_SECRET_KEY=$MINIO_ROOT_PASSWORD
export KUBEDR_S3_BUCKET=$bucket
export KUBEDR_HOST_PODS_DIR=$host_pods
export KUBEDR_CLUSTER_NAME=$name
export KUBEDR_BIN_DIR=$B
export KUBEDR_VENV=$KUBEDR_VENV
ENV
)
echo "test bed: ready ($envfile)" >&2
