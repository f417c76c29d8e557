#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what the tests need, builds,
# runs every test. Tests needing root (tmpfs and FUSE mounts) or Glance's code fail rather than skip.
# Every mount a test makes is unmounted and every daemon it starts is stopped, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ "$(id -u)" = 0 ] || { echo "the tests mount tmpfs and FUSE file systems: run as root" >&2; exit 1; }

swift-build --build-tests   # also builds glance-storefs, which the mount tests run
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift-test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# XCTest prints "Executed 0 tests" (every test here is Swift Testing); close with one plain line.
passed=$(grep '^✔ Test .* passed' "$log" | grep -vc '^✔ Test run' || true)
failed=$(grep '^✘ Test .* failed' "$log" | grep -vc '^✘ Test run' || true)
echo "swift-testing: $passed passed, $failed failed"
exit "$status"
