#!/usr/bin/env bash
# The package on a Glance host without Swift: a clean Debian 12 root (debootstrap, minbase), the .deb
# installed there with apt-get install ./...deb (apt resolves its Depends from Debian), then, inside
# that root: --version, --help, check of a configuration, man glance-storefs, and a file store mounted
# with mount -t fuse.glance-storefs (/dev, /proc, /sys bound in), written, read and unmounted.
#   bash scripts/test-deb.sh dist/glance-storefs_<version>_amd64.deb
# The debootstrapped root is kept as a tarball in /var/cache/glance-storefs-test (a fresh machine makes
# it once, ~3 min); every run unpacks a new copy and removes it, mounts and daemon included, on exit.
set -euo pipefail
deb=$(realpath "$1")
version=$(dpkg-deb --field "$deb" Version)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=/var/cache/glance-storefs-test
tarball=$cache/bookworm-minbase.tar
root=$(mktemp -d /tmp/storefs-deb-root.XXXXXX)
failures=0

cleanup() {
    # The daemon started inside the root, by PID (its /proc/PID/root is the root), then the mounts.
    for proc in /proc/[0-9]*; do
        if [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ]; then kill "${proc#/proc/}" 2>/dev/null || true; fi
    done
    if findmnt -n "$root/mnt/glance" >/dev/null 2>&1; then fusermount3 -uz "$root/mnt/glance" || true; fi
    for m in dev/pts dev proc sys; do
        if findmnt -n "$root/$m" >/dev/null 2>&1; then umount -l "$root/$m" || true; fi
    done
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

if [ ! -s "$tarball" ]; then
    mkdir -p "$cache"
    fresh=$(mktemp -d /tmp/storefs-debootstrap.XXXXXX)
    debootstrap --variant=minbase bookworm "$fresh" "$mirror" > "$cache/debootstrap.log" 2>&1 \
        || { echo "test-deb.sh: debootstrap failed (see $cache/debootstrap.log)" >&2; rm -rf "$fresh"; exit 1; }
    tar -C "$fresh" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf --one-file-system "$fresh"
fi
tar -C "$root" -xf "$tarball"

mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts inside the root (man-db's timers and the like).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

check() {  # check "what" command...: one line per assertion, the run fails on any
    local what=$1; shift
    if "$@"; then echo "✔ package: $what"; else echo "✘ package: $what"; failures=$((failures + 1)); fi
}

# apt runs inside the root only, on that root's own dpkg database and lock: the host's packages
# (debootstrap, dpkg-dev) come from scripts/install-deps.sh, and this runs after every other test.
export DEBIAN_FRONTEND=noninteractive
in_root apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root update >/dev/null
in_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root install --no-install-recommends \
    "/tmp/$(basename "$deb")" man-db > "$root/tmp/apt.log" 2>&1 \
    || { cat "$root/tmp/apt.log" >&2; echo "✘ package: apt-get install ./$(basename "$deb") failed"; exit 1; }
echo "✔ package: apt-get install ./$(basename "$deb") in a clean Debian 12 root (Depends: $(dpkg-deb --field "$deb" Depends))"

check "no Swift toolchain in the root" test ! -e "$root/opt/swift" -a ! -e "$root/usr/bin/swiftc"
check "every library the binary links is there" sh -c "! chroot '$root' ldd /usr/bin/glance-storefs | grep -Eq 'not found|swift'"
check "--version says $version" test "$(in_root glance-storefs --version)" = "glance-storefs $version"
check "mount --help describes the mount options" sh -c "chroot '$root' glance-storefs mount --help | grep -q 'metrics=ADDR:PORT'"
check "man glance-storefs shows the page" sh -c "chroot '$root' env MANWIDTH=100 man -P cat glance-storefs 2>/dev/null | grep -q 'MOUNT OPTIONS'"
check "man mount.fuse.glance-storefs shows the page" sh -c "chroot '$root' env MANWIDTH=100 man -P cat mount.fuse.glance-storefs 2>/dev/null | grep -q 'fuse.glance-storefs'"
check "bash completion installed" test -s "$root/usr/share/bash-completion/completions/glance-storefs"
check "the systemd unit runs /usr/bin/glance-storefs" grep -q '^ExecStart=/usr/bin/glance-storefs ' "$root/lib/systemd/system/glance-storefs@.service"
check "the example configuration is shipped" test -s "$root/usr/share/doc/glance-storefs/examples/glance-api.conf"

mkdir -p "$root/etc/glance" "$root/var/lib/glance/images" "$root/var/lib/glance/staging" "$root/var/lib/glance/tasks" "$root/mnt/glance"
cat > "$root/etc/glance/glance-api.conf" <<'CONF'
[DEFAULT]
enabled_backends = local:file
[glance_store]
default_backend = local
[local]
filesystem_store_datadir = /var/lib/glance/images
[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = /var/lib/glance/tasks
CONF
head -c 3000000 /dev/urandom > "$root/var/lib/glance/images/6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01"
check "check of the configuration" sh -c "chroot '$root' glance-storefs check --config-file /etc/glance/glance-api.conf | grep -q '^configuration OK: /etc/glance/glance-api.conf'"
check "mount -t fuse.glance-storefs" in_root mount -t fuse.glance-storefs /etc/glance/glance-api.conf /mnt/glance -o allow_other
check "the store lists its image with its size" sh -c "chroot '$root' ls -l /mnt/glance/local | grep -q ' 3000000 .* 6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01$'"
check "an image reads back as the datadir holds it" cmp "$root/var/lib/glance/images/6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01" "$root/mnt/glance/local/6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01"
check "cp into the store publishes an image" sh -c "chroot '$root' cp /usr/bin/glance-storefs /mnt/glance/local/0e9d4c3b-7a61-4f2e-8b5d-1c2a3b4c5d6e && cmp '$root/usr/bin/glance-storefs' '$root/var/lib/glance/images/0e9d4c3b-7a61-4f2e-8b5d-1c2a3b4c5d6e'"
check "umount inside the root" in_root umount /mnt/glance
check "nothing is left mounted" sh -c "! findmnt -n '$root/mnt/glance' >/dev/null"

if [ "$failures" -gt 0 ]; then echo "package: $failures check(s) failed"; exit 1; fi
echo "package: every check passed"
