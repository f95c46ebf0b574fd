#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds once, runs unit tests and the integration tests
# against real PostgreSQL 15 servers (a primary + 2 streaming standbys that the tests start themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
