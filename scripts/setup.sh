#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine for the rig: system packages, the Python venv, the virtual EVSE's
# npm packages. Idempotent: each part is skipped when already done (stamp files record the inputs' hashes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
# The CHIP controller wheel links libnl; namespaces need iproute2 and util-linux; the virtual EVSE needs Node.js.
for pkg in libnl-3-200 libnl-route-3-200 iproute2 util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
# The report tests: headless Chromium opens the rendered report; a PostgreSQL server holds the results database.
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need_apt+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: these Debian packages are missing: ${need_apt[*]}; run as root (or: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

node_major=$(node -e 'console.log(process.versions.node.split(".")[0])')
if ((node_major < 20)); then
  echo "setup: Node.js $node_major is too old for matter.js 0.17 (need 20 or newer)" >&2
  exit 1
fi

stamp_py="$VENV/.rig-installed"
want_py=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [[ ! -f "$stamp_py" || "$(cat "$stamp_py")" != "$want_py" ]]; then
  echo "setup: Python venv in $VENV"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  # labgrid's fork pyserial-labgrid replaces pyserial (the same `serial` module): a venv made before holds pyserial,
  # whose later removal would delete the fork's files too, so it goes first.
  if "$VENV/bin/python" -m pip show -q pyserial >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip uninstall -q -y --disable-pip-version-check pyserial
  fi
  # Every package from the lock, each checked against its hashes; then the project itself, adding nothing.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want_py" > "$stamp_py"
fi

stamp_js="virtual_evse/node_modules/.rig-installed"
want_js=$(sha256sum virtual_evse/package-lock.json | cut -c1-16)
if [[ ! -f "$stamp_js" || "$(cat "$stamp_js")" != "$want_js" ]]; then
  echo "setup: npm ci in virtual_evse/"
  (cd virtual_evse && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want_js" > "$stamp_js"
fi
