#!/usr/bin/env bash
# Stop what cluster-up.sh started, by its own records (kwokctl's pid files, MinIO's pid).
# Usage: cluster-down.sh [cluster-name]   (default: kubedr)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${1:-kubedr}
tb=$repo/.testbed
[ -f "$tb/tools.env" ] && . "$tb/tools.env"
export KWOK_WORKDIR=$tb/kwok
if [ -n "${KUBEDR_BIN_DIR:-}" ] && [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
  PATH=$KUBEDR_BIN_DIR:$PATH kwokctl delete cluster --name "$name" --kubeconfig "$tb/kubeconfig-merged-$name" >/dev/null 2>&1 || true
fi
pidf=$tb/minio-$name/pid
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  # Only the MinIO serving this test bed's data directory: a recorded PID may have been reused.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$tb/minio-$name/data"; then
    kill "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
fi
rm -rf "$tb/minio-$name/data" "$tb/host-pods-$name"
if [ "$name" = kubedr ]; then rm -f "$tb/env"; else rm -f "$tb/env-$name"; fi
echo "test bed: $name stopped" >&2
