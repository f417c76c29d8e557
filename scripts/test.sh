#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what the tests need, builds,
# runs every test. Tests needing root (tmpfs mounts) or Glance's code fail rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ "$(id -u)" = 0 ] || { echo "the tests mount tmpfs file systems: run as root" >&2; exit 1; }

swift-build --build-tests
swift-test --skip-build
