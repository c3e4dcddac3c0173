#!/usr/bin/env bash
# Sets up a fresh Debian box (as root) or a dev machine: system packages that are missing,
# then .venv/ at the project root with retail-edge installed (editable) and its dev tools.
# Usage: scripts/bootstrap.sh [demo|test]
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-demo}"

pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want() { have_pkg "$1" || pkgs+=("$1"); }

if command -v dpkg-query >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || want python3
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || want python3-venv
  ldconfig -p 2>/dev/null | grep -q 'libzbar.so.0' || want libzbar0
  command -v mosquitto >/dev/null 2>&1 || { want mosquitto; want mosquitto-clients; }
  ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0' || want libglib2.0-0
  command -v pg_ctlcluster >/dev/null 2>&1 || want postgresql  # the reference cloud (tests and demo)
  # the pages load no web fonts: Chinese needs a CJK font on the box that shows them (the demo's
  # and the tests' Chromium; tests/e2e/test_kiosk_layout.py fails on missing-glyph boxes)
  want fonts-noto-cjk
  if [ "$purpose" = "test" ]; then
    command -v chromium >/dev/null 2>&1 || want chromium
    command -v systemd-analyze >/dev/null 2>&1 || want systemd
    ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || true
  fi
  if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "missing system packages: ${pkgs[*]} (run as root, or: sudo apt-get install ${pkgs[*]})" >&2
      exit 1
    fi
    echo "installing system packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"retail-edge needs Python >= 3.11, this is {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
extras="[cloud]"  # the demo runs the reference cloud receiver when PostgreSQL is there
[ "$purpose" = "test" ] && extras="[dev]"
.venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v -E "^\s*$|WARNING: Location|ignored: it is neither" || true
.venv/bin/retail-edge --help >/dev/null
echo "ready: .venv/bin/retail-edge"
