#!/usr/bin/env bash
# Install everything the tests need, idempotently, cached outside the repo:
# Debian packages (restic), a Python virtualenv with the collection's and the
# tests' requirements, and the test bed's binaries. Prints nothing new when all is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"

# One installer at a time: test processes (one per xdist worker) and people start test beds together,
# and two pip installs or builds into the same cache directory corrupt it.
mkdir -p "$KUBEDR_CACHE_DIR"
exec 9>"$KUBEDR_CACHE_DIR/.install.lock"
flock 9

need_apt=()
command -v restic >/dev/null || need_apt+=(restic)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)   # used by ansible-test sanity
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test bed: installing Debian packages: ${need_apt[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq || { echo "test bed: FAILED: apt-get update" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null \
    || { echo "test bed: FAILED: apt-get install ${need_apt[*]}" >&2; exit 1; }
fi

# The virtualenv is keyed by the requirement files, so a change makes a new one.
req_hash=$(cat "$repo/requirements.txt" "$repo/test-requirements.txt" "$repo/tests/constraints.txt" | sha256sum | cut -c1-12)
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=$KUBEDR_CACHE_DIR/venv-py$pyver-$req_hash
if [ ! -f "$venv/.complete" ]; then
  echo "test bed: creating Python virtualenv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -c "$repo/tests/constraints.txt" -r "$repo/requirements.txt" -r "$repo/test-requirements.txt" \
    || { echo "test bed: FAILED: pip install -r requirements.txt -r test-requirements.txt" >&2; exit 1; }
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$KUBEDR_CACHE_DIR/venv-current"

bin_dir=$("$here/build-binaries.sh")
mkdir -p "$repo/.testbed"
{
  echo "export KUBEDR_VENV=$venv"
  echo "export KUBEDR_BIN_DIR=$bin_dir"
} > "$repo/.testbed/tools.env"

# ansible-test bootstraps pip in its sanity virtualenvs with a script it downloads from a
# host outside the reachable registries; give it a stand-in in its cache (pip from ensurepip + PyPI).
pip_ver=$("$venv/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
m = re.search(r"pip=['\"]([0-9.]+)['\"]", src)
print(m.group(1) if m else "24.2")
PY
)
mkdir -p "$HOME/.ansible/test/cache"
cp "$here/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
ls "$HOME/.ansible/test/cache/pip-$pip_ver-"*.whl >/dev/null 2>&1 ||
  "$venv/bin/pip" download -q --no-deps -d "$HOME/.ansible/test/cache" "pip==$pip_ver" \
  || { echo "test bed: FAILED: pip download pip==$pip_ver (for ansible-test)" >&2; exit 1; }
