#!/usr/bin/env bash
# glance-storefs under faults, load and bad input, against real backends started by the project's
# own scripts; prints one table (RELIABILITY.md holds the last one, with this command). Run as root:
#     bash scripts/reliability.sh [--short] [--case TEXT] [GROUP...]
# GROUP: http swift keystone rbd cinder file unmount load names secrets fuzz (default: all); --case: only the
# cases whose name holds TEXT (`--case hung`). --short runs the
# test suite's versions (Tests/MountTests/ReliabilityTests.swift runs them with --json and asserts
# every check); without it, the long ones: 512 MiB images, default timeouts, 10 minutes of load,
# a million inputs per fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the cases mount FUSE and tmpfs file systems and start daemons: run as root" >&2; exit 1; }
bash scripts/install-deps.sh >/dev/null
swift-build --product glance-storefs >/dev/null
exec /usr/bin/python3 scripts/reliability/main.py --binary "$PWD/.build/debug/glance-storefs" "$@"
