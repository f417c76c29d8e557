#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine as root: installs what is needed, builds glance-storefs,
# writes a demo configuration (embedded below: two file stores plus Glance's reserved stores) with a
# few small real images made by qemu-img, mounts it and shows it.
#   bash scripts/demo.sh [MOUNTPOINT]        (default /mnt/glance-demo; unmount: fusermount3 -u MOUNTPOINT)
set -euo pipefail
cd "$(dirname "$0")/.."
mountpoint=${1:-/mnt/glance-demo}
demo=${GLANCE_STOREFS_DEMO_DIR:-/var/tmp/glance-storefs-demo}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs
bin=$PWD/.build/release/glance-storefs

mkdir -p "$demo/fast" "$demo/cheap" "$mountpoint"
if findmnt -n "$mountpoint" >/dev/null; then fusermount3 -u "$mountpoint"; fi

cat > "$demo/glance-api.conf" <<CONF
# glance-storefs demo: the multi-store part of a glance-api.conf, unchanged from what Glance reads.
[DEFAULT]
enabled_backends = fast:file, cheap:file

[glance_store]
default_backend = fast

[fast]
store_description = Fast local disk for active images
filesystem_store_datadir = $demo/fast

[cheap]
store_description = Cheap disk for old images
filesystem_store_datadir = $demo/cheap
filesystem_thin_provisioning = true

[os_glance_staging_store]
filesystem_store_datadir = $demo/staging

[os_glance_tasks_store]
filesystem_store_datadir = $demo/tasks
CONF

# Images are files named by their Glance image id.
qcow=$demo/fast/6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01
raw=$demo/fast/0e9d4c3b-7a61-4f2e-8b5d-1c2a3b4c5d6e
old=$demo/cheap/a4c7e1f2-9b3d-4e5a-8c6f-7d8e9f0a1b2c
if [ ! -e "$qcow" ]; then
  qemu-img create -q -f qcow2 "$qcow" 1G
  qemu-io -c 'write -P 0x42 0 4M' -c 'write -P 0x17 512M 2M' "$qcow" >/dev/null
fi
[ -e "$raw" ] || head -c 8M /dev/urandom > "$raw"
[ -e "$old" ] || qemu-img convert -O qcow2 -c "$raw" "$old"

"$bin" check --config-file "$demo/glance-api.conf"
"$bin" mount --config-file "$demo/glance-api.conf" "$mountpoint"

set -x
ls -l "$mountpoint" "$mountpoint"/*
getfattr -d "$mountpoint/fast" "$mountpoint/fast/${qcow##*/}"
qemu-img info "$mountpoint/fast/${qcow##*/}"
{ set +x; } 2>/dev/null
echo
echo "mounted at $mountpoint; try: rsync -a --stats $mountpoint/fast/ $mountpoint/cheap/   then   fusermount3 -u $mountpoint"
