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
# One Ceph cluster (Debian's, on 127.0.0.1) for every rbd test of the run; each test makes its own
# pool. Stopped on the way out, whatever happens.
ceph_dir=$(mktemp -d /var/tmp/storefs-test-ceph.XXXXXX)
# One Swift (Debian's, on 127.0.0.1) likewise; each test uses containers of its own.
# And a Keystone (Debian's) with a proxy that trusts it, on that Swift, for auth v3.
swift_dir=$(mktemp -d /var/tmp/storefs-test-swift.XXXXXX)
keystone_dir=$(mktemp -d /var/tmp/storefs-test-keystone.XXXXXX)
# And a Cinder (Debian's) with RBD volumes on that Ceph and NFS volumes on nfs-ganesha, behind that
# Keystone; each cinder test uses a volume type of its own.
cinder_dir=$(mktemp -d /var/tmp/storefs-test-cinder.XXXXXX)
# And govmomi's vCenter simulator (built here from Debian's library); each vmware test uses an image
# directory of its own.
vcsim_dir=$(mktemp -d /var/tmp/storefs-test-vcsim.XXXXXX)
# And Debian's glance-api behind that Keystone, with file stores, an rbd store on that Ceph and a swift
# store on that Swift: the
# catalogue and audit tests plant their inconsistencies in it.
glance_dir=$(mktemp -d /var/tmp/storefs-test-glance.XXXXXX)
# And the sheep daemon's simulator (no registry packages sheepdog); each sheepdog test asks it for a
# cluster of its own.
sheep_dir=$(mktemp -d /var/tmp/storefs-test-sheep.XXXXXX)
stop_backends() {
  bash scripts/test-cinder.sh stop "$cinder_dir"; bash scripts/test-ceph.sh stop "$ceph_dir"
  bash scripts/test-keystone.sh stop "$keystone_dir"; bash scripts/test-swift.sh stop "$swift_dir"
  bash scripts/test-vcsim.sh stop "$vcsim_dir"; bash scripts/test-glance.sh stop "$glance_dir"
  bash scripts/test-sheepdog.sh stop "$sheep_dir"
}
trap 'stop_backends; rm -rf "$ceph_dir" "$swift_dir" "$keystone_dir" "$cinder_dir" "$vcsim_dir" "$glance_dir" "$sheep_dir" "$log"' EXIT
export STOREFS_TEST_CEPH_CONF STOREFS_TEST_SWIFT_DIR="$swift_dir" STOREFS_TEST_KEYSTONE_DIR="$keystone_dir" STOREFS_TEST_CINDER_DIR="$cinder_dir"
export STOREFS_TEST_VCSIM_DIR="$vcsim_dir" STOREFS_TEST_GLANCE_DIR="$glance_dir" STOREFS_TEST_SHEEPDOG_DIR="$sheep_dir"
STOREFS_TEST_CEPH_CONF=$(bash scripts/test-ceph.sh start "$ceph_dir") || { echo "Ceph did not start: the rbd tests cannot run" >&2; exit 1; }
bash scripts/test-swift.sh start "$swift_dir" >/dev/null || { echo "Swift did not start: the swift tests cannot run" >&2; exit 1; }
bash scripts/test-keystone.sh start "$keystone_dir" "$swift_dir" >/dev/null || { echo "Keystone did not start: the auth v3 tests cannot run" >&2; exit 1; }
bash scripts/test-vcsim.sh start "$vcsim_dir" >/dev/null || { echo "the vCenter simulator did not start: the vmware tests cannot run" >&2; exit 1; }
bash scripts/test-sheepdog.sh start "$sheep_dir" >/dev/null || { echo "the sheep simulator did not start: the sheepdog tests cannot run" >&2; exit 1; }
bash scripts/test-glance.sh start "$glance_dir" "$keystone_dir" "$STOREFS_TEST_CEPH_CONF" "$swift_dir" >/dev/null || { echo "Glance did not start: the catalogue and audit tests cannot run" >&2; exit 1; }
set +e
# The catalogue and sheepdog tests run after the others, apart: the sheep simulator (Python) and Glance
# working beside the other suites on two cores pushed an http store's reads past their 10 s timeout.
apart='Sheepdog|GlanceClient|GlanceCatalogue'
swift-test --skip-build --skip "ReliabilityTests|Cinder|$apart" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
swift-test --skip-build --filter "$apart" --skip ReliabilityTests 2>&1 | tee -a "$log"
catalogue=${PIPESTATUS[0]}
[ "$status" = 0 ] && status=$catalogue
# The cinder tests next, apart, with Cinder started only now: its services, RabbitMQ, PostgreSQL and
# ganesha on the same two cores starved the other suites' requests past their 10 s timeouts.
if bash scripts/test-cinder.sh start "$cinder_dir" "$STOREFS_TEST_CEPH_CONF" "$keystone_dir" >/dev/null; then
  swift-test --skip-build --filter Cinder --skip ReliabilityTests 2>&1 | tee -a "$log"
  cinder=${PIPESTATUS[0]}
else
  echo "Cinder did not start: the cinder tests cannot run" >&2
  cinder=1
fi
[ "$status" = 0 ] && status=$cinder
# The reliability cases (Tests/MountTests/ReliabilityTests.swift) start backends of their own, kill
# and stop daemons and time the failures: they run last, alone, on a machine the rest no longer
# loads, with the run's shared backends already stopped.
stop_backends
swift-test --skip-build --filter ReliabilityTests 2>&1 | tee -a "$log"
reliability=${PIPESTATUS[0]}
[ "$status" = 0 ] && status=$reliability
# The Debian package, last: built (release, static Swift runtime) and installed in a clean Debian 12
# root made by debootstrap, where a file store is mounted with mount -t fuse.glance-storefs.
if deb=$(bash scripts/build-deb.sh | sed -n 1p) && [ -f "$deb" ]; then
  bash scripts/test-deb.sh "$deb" 2>&1 | tee -a "$log"
  package=${PIPESTATUS[0]}
else
  echo "✘ package: scripts/build-deb.sh failed" | tee -a "$log"
  package=1
fi
[ "$status" = 0 ] && status=$package
set -e
# XCTest prints "Executed 0 tests" (every test here is Swift Testing); close with one plain line.
passed=$(grep '^✔ Test .* passed' "$log" | grep -vc '^✔ Test run' || true)
failed=$(grep '^✘ Test .* failed' "$log" | grep -vc '^✘ Test run' || true)
echo "swift-testing: $passed passed, $failed failed"
echo "package: $(grep -c '^✔ package:' "$log" || true) checks passed, $(grep -c '^✘ package:' "$log" || true) failed"
exit "$status"
