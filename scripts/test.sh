#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds once, runs unit tests and the integration tests
# against real PostgreSQL 15 servers (a primary + 2 streaming standbys that the tests start themselves),
# some of them with the real Python drivers from a venv (scripts/driver-venv.sh). The watchdog tests need root:
# they build their own LAN of network namespaces (scripts/wdnet.sh; iproute2, iputils-ping and iputils-arping
# come from install-deps.sh). The etcd client's tests start their own etcd members (etcd-server) on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
bash scripts/driver-venv.sh   # pinned psycopg, psycopg2-binary, asyncpg for DriverIntegrationTests
swift build --build-tests
swift test --skip-build
