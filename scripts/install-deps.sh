#!/usr/bin/env bash
# Installs what building and testing glance-storefs needs on Debian 12 (run as root). Idempotent:
# apt is asked only for what is missing.
set -euo pipefail

packages=(
  pkg-config libssl-dev          # libcrypto: md5 / sha512 exactly as Glance computes them
  librbd-dev librados-dev        # the rbd store's driver links librbd and librados
  libradospp-dev                 # librados' C++ headers: reads into librbd's own buffers
  libgoogle-perftools-dev        # tcmalloc for the daemon (glibc's malloc kept librados' freed buffers)
  python3-glance-store           # Glance's own drivers, for the interoperability tests
  coreutils util-linux           # md5sum/sha512sum as reference digests; mount, unshare
  fuse3 libfuse3-dev             # the FUSE mount: fusermount3, mount.fuse3, libfuse3 headers
  qemu-utils rsync attr          # what the mount tests drive: qemu-img/qemu-io, rsync -a, getfattr
  systemd                        # systemd-analyze verify of the unit template
  curl                           # the swift tests reach Swift by its own API, not through the driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# python3-swiftclient (pulled in by glance-store) installs /usr/bin/swift, which shadows the Swift
# toolchain's `swift`: scripts call swift-build / swift-test.
command -v swift-build >/dev/null || { echo "swift-build not found: install the Swift 6 toolchain" >&2; exit 1; }
[ -e /dev/fuse ] || { modprobe fuse 2>/dev/null || true; }
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: the mount needs the kernel's FUSE module" >&2; exit 1; }
/usr/bin/python3 -c 'import glance_store' || { echo "python3-glance-store is not importable by /usr/bin/python3" >&2; exit 1; }
