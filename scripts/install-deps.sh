#!/usr/bin/env bash
# Installs everything building, testing, benchmarking and fault-testing glance-storefs needs on Debian 12
# (run as root), in one apt transaction that waits for dpkg's lock. Nothing else in the project installs
# packages: the backend scripts only start daemons and fail at once, naming a missing package.
# Idempotent: apt is asked only for what is missing.
set -euo pipefail

packages=(
  # building
  pkg-config libssl-dev          # libcrypto: md5 / sha512 exactly as Glance computes them
  libxml2-dev                    # libxml2: the vmware store reads vSphere's SOAP answers with it
  librbd-dev librados-dev        # the rbd store's (and cinder's rbd transport) driver links librbd and librados
  libradospp-dev                 # librados' C++ headers: reads into librbd's own buffers
  libgoogle-perftools-dev        # tcmalloc for the daemon (glibc's malloc kept librados' freed buffers)
  fuse3 libfuse3-dev             # the FUSE mount: fusermount3, mount.fuse3, libfuse3 headers
  # what the tests drive and compare with
  python3-glance-store           # Glance's own drivers, for the interoperability tests
  coreutils util-linux procps    # md5sum/sha512sum as reference digests; mount, unshare; ps
  qemu-utils rsync attr strace   # what the mount tests drive: qemu-img/qemu-io, rsync -a, getfattr, strace
  qemu-block-extra               # bench-workloads.sh: qemu-img through its own rbd and http drivers
  mandoc man-db bsdextrautils    # the man pages: checked with mandoc -T lint, shown with man -l | col -b
  systemd                        # systemd-analyze verify of the unit template
  dpkg-dev debootstrap           # the .deb: dpkg-shlibdeps for its Depends; a clean Debian 12 root to install it in
  curl openssl uuid-runtime bc   # reaching backends by their own APIs; test certificates; uuidgen; figures
  # the backends the tests start (scripts/test-*.sh)
  nginx tinyproxy                                       # http store: nginx, and a forward proxy
  ceph-mon ceph-osd ceph-mgr ceph-common python3-rbd python3-rados   # rbd store: a single-node Ceph
  swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached   # swift store
  python3-keystone python3-keystonemiddleware           # Keystone for swift auth v3 and the cinder store
  cinder-api cinder-scheduler cinder-volume rabbitmq-server postgresql-15 python3-psycopg2   # a real Cinder
  nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common        # its NFS backend, served in user space
  libnfs-dev libnfs-utils                               # the cinder store's NFS transport; nfs-cat/nfs-cp
  python3-os-brick                                      # Glance's cinder driver, for the interop tests
  glance-api                                            # a real Glance: the catalogue and audit tests
  golang-go golang-github-vmware-govmomi-dev             # vmware store: govmomi's vCenter simulator, built here
  # the benchmarks' anchors
  rclone rbd-fuse httpdirfs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt or dpkg (unattended upgrades, a parallel install) may hold the lock: wait for it.
  lock=(-o DPkg::Lock::Timeout=600)
  # Debian's packages start their services when installed (nginx on port 80, memcached, ...); the
  # project runs its own instances on loopback, so nothing starts now. Ours only if none was there.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get "${lock[@]}" update -q
  apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi

# python3-swiftclient (pulled in by glance-store) installs /usr/bin/swift, which shadows the Swift
# toolchain's `swift`: scripts call swift-build / swift-test.
command -v swift-build >/dev/null || { echo "swift-build not found: install the Swift 6 toolchain" >&2; exit 1; }
[ -e /dev/fuse ] || { modprobe fuse 2>/dev/null || true; }
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: the mount needs the kernel's FUSE module" >&2; exit 1; }
/usr/bin/python3 -c 'import glance_store' || { echo "python3-glance-store is not importable by /usr/bin/python3" >&2; exit 1; }
