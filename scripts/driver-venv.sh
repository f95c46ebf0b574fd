#!/usr/bin/env bash
# The Python drivers the driver integration tests use (Tests/drivers/scenarios.py), pinned, in a venv at
# .build/driver-venv. Idempotent: pip runs only when a pinned version is missing. Needs python3-venv and
# libpq5 (psycopg 3 is the pure-Python build that loads the system libpq); installs them when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.build/driver-venv
PINS=(psycopg==3.2.3 psycopg2-binary==2.9.13 asyncpg==0.32.0)
need=()
for p in python3 python3-venv libpq5; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "driver-venv: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$VENV"
  mkdir -p .build
  python3 -m venv "$VENV"
fi
installed=$("$VENV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' || true)
missing=()
for pin in "${PINS[@]}"; do
  grep -qx "$(echo "$pin" | tr 'A-Z_' 'a-z-')" <<<"$installed" || missing+=("$pin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "driver-venv: pip install ${missing[*]}"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input "${PINS[@]}"
fi
"$VENV/bin/python" -c 'import psycopg, psycopg2, asyncpg; psycopg.pq.version()' \
  || { echo "driver-venv: the drivers do not import (is libpq5 installed?)" >&2; exit 1; }
