#!/usr/bin/env bash
# Installs what poold's build, tests, demo and benchmarks need on Debian 12 (run as root, or with sudo).
# Services the packages would start by themselves (PostgreSQL's default cluster, pgbouncer, pgpool, etcd) are not
# started: every test and benchmark runs its own servers on free loopback ports.
# With package names as arguments, installs only those (scripts/wdnet.sh uses it for its own tools).
set -euo pipefail
PACKAGES=(postgresql-15 postgresql-client-15 postgresql-contrib libncurses-dev libpq-dev libssl-dev
          pgbouncer pgpool2 tmux python3 procps iproute2 iputils-ping iputils-arping etcd-server etcd-client)
[ $# -gt 0 ] && PACKAGES=("$@")
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "install-deps: installing ${missing[*]}"
  # keep package scripts from starting services
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
[ $# -gt 0 ] && exit 0
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || {
  echo "install-deps: the Swift 6 toolchain is not installed (expected swift on PATH or /opt/swift)" >&2; exit 1; }
