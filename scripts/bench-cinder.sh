#!/usr/bin/env bash
# cinder store benchmark, one run: a real Cinder (scripts/test-cinder.sh) with RBD volumes on a
# single-node Ceph (bluestore on a sparse file) and NFS volumes on nfs-ganesha (tmpfs export), one
# 1 GiB image: sequential write and read through glance-storefs vs the backends' direct tools on the
# same volumes — `rbd import` / `rbd export` for RBD, libnfs's `nfs-cp` / `nfs-cat` for NFS — and the
# FUSE ceiling of this machine (libfuse's passthrough_ll on a local directory). Median of three
# runs each. Run as root:
#     bash scripts/bench-cinder.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-cinder)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-cinder}
size_mib=${BENCH_SIZE_MIB:-1024}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{ceph,swift,keystone,cinder,mnt/ours,mnt/pll,pll,local,staging,tasks,data}
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  bash scripts/test-cinder.sh stop "$work/cinder" || true
  bash scripts/test-keystone.sh stop "$work/keystone" || true
  bash scripts/test-swift.sh stop "$work/swift" || true
  bash scripts/test-ceph.sh stop "$work/ceph" || true
  rm -rf "$work"
}
trap cleanup EXIT

conf=$(CEPH_OBJECTSTORE=bluestore bash scripts/test-ceph.sh start "$work/ceph")
bash scripts/test-swift.sh start "$work/swift" >/dev/null
bash scripts/test-keystone.sh start "$work/keystone" "$work/swift" >/dev/null
CINDER_EXPORT_SIZE=16g bash scripts/test-cinder.sh start "$work/cinder" "$conf" "$work/keystone" >/dev/null
keystone=$(awk '{print $1}' "$work/keystone/ports")
export CEPH_CONF=$conf   # the mount's librados finds client.cinder's keyring through it
build_passthrough_ll "$work/pll"
source_file=/dev/shm/glance-storefs-bench-cinder-source
trap 'rm -f "$source_file"; cleanup' EXIT
head -c $((size_mib << 20)) /dev/urandom > "$source_file"

options() {
  printf 'cinder_store_auth_address = http://127.0.0.1:%s/v3\ncinder_store_user_name = glance\ncinder_store_password = glancepw\ncinder_store_project_name = images\ncinder_volume_type = %s\n' "$keystone" "$1"
}
cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = local:file, vrbd:cinder, vnfs:cinder
[glance_store]
default_backend = vrbd
[local]
filesystem_store_datadir = $work/data
[vrbd]
$(options rbd)
[vnfs]
$(options nfs)
[os_glance_staging_store]
filesystem_store_datadir = $work/staging
[os_glance_tasks_store]
filesystem_store_datadir = $work/tasks
CONF
"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
"$work/pll/passthrough_ll" -o source="$work/local" "$work/mnt/pll"
sleep 1
for m in ours pll; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done

bytes=$((size_mib << 20))
export_dir=$work/cinder/export
remove() {
  case $1 in
    rbd) rbd -c "$conf" rm --no-progress "volumes/$2" >/dev/null 2>&1 || true ;;
    nfs) rm -f "$export_dir/$2" ;;
    ours-rbd) rm "$work/mnt/ours/vrbd/$2" ;;
    ours-nfs) rm "$work/mnt/ours/vnfs/$2" ;;
    local) rm "$work/local/$2" ;;
  esac
}
# ganesha keeps files deleted behind its back (every run's) open, and slows down as they pile up: a
# fresh one before each run (not timed; after the mount let go of its idle read attachments), so no
# run pays for the ones before it.
cold() { remove_written; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2.5; bash scripts/test-cinder.sh relaunch "$work/cinder" ganesha; }
w_import() { local n; n=$(fresh rbd imp); rbd -c "$conf" import --no-progress "$source_file" "volumes/$n"; }
w_nfscp() { local n; n=$(fresh nfs cp); nfs-cp "$source_file" "nfs://127.0.0.1/export/$n" >/dev/null; }
w_ours_rbd() { local n; n=$(fresh ours-rbd ours); cp "$source_file" "$work/mnt/ours/vrbd/$n"; }
w_ours_nfs() { local n; n=$(fresh ours-nfs ours); cp "$source_file" "$work/mnt/ours/vnfs/$n"; }
w_pll() { local n; n=$(fresh local pll); cp "$source_file" "$work/mnt/pll/$n"; sync; }
t_import=$(median3 w_import)
t_wrbd=$(median3 w_ours_rbd)
t_nfscp=$(median3 w_nfscp)
t_wnfs=$(median3 w_ours_nfs)
t_wpll=$(median3 w_pll)
cold

# Reads of one image written through the mount to each backend, by the mount and by the direct
# tool on the same volume.
cp "$source_file" "$work/mnt/ours/vrbd/read"
cp "$source_file" "$work/mnt/ours/vnfs/read"
cp "$source_file" "$work/local/read"
for s in vrbd vnfs; do cmp "$source_file" "$work/mnt/ours/$s/read" || { echo "the mount wrote other bytes to $s" >&2; exit 1; }; done
vol_rbd=$(getfattr --only-values -n user.glance.cinder.volume_id "$work/mnt/ours/vrbd/read")
vol_nfs=$(getfattr --only-values -n user.glance.cinder.volume_id "$work/mnt/ours/vnfs/read")
sleep 3   # the mount's read attachments (made by cmp) go when idle
t_export=$(median3 rbd -c "$conf" export --no-progress "volumes/volume-$vol_rbd" -)
t_rrbd=$(median3 cat "$work/mnt/ours/vrbd/read")
t_nfscat=$(median3 nfs-cat "nfs://127.0.0.1/export/volume-$vol_nfs")
t_rnfs=$(median3 cat "$work/mnt/ours/vnfs/read")
t_rpll=$(median3 cat "$work/mnt/pll/read")
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$(pgrep -f -- "$work/mnt/ours -f --ready-fd" | head -1)"/status)

echo
echo "glance-storefs cinder benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, cinder $(dpkg-query -W -f='${Version}' cinder-volume), ceph $(ceph --version | awk '{print $3}') (1 OSD, bluestore on a sparse file), nfs-ganesha $(dpkg-query -W -f='${Version}' nfs-ganesha) (tmpfs), ${size_mib} MiB, median of 3"
printf '%-52s %8s\n' "sequential write" "MB/s"
printf '%-52s %8s\n' "rbd import (RBD backend's pool)" "$(mbs "$t_import")"
printf '%-52s %8s\n' "glance-storefs, RBD volume (cp, published)" "$(mbs "$t_wrbd")"
printf '%-52s %8s\n' "nfs-cp (libnfs, NFSv3 to ganesha)" "$(mbs "$t_nfscp")"
printf '%-52s %8s\n' "glance-storefs, NFS volume (cp, published)" "$(mbs "$t_wnfs")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_wpll")"
printf '%-52s %8s\n' "sequential read" "MB/s"
printf '%-52s %8s\n' "rbd export of the volume to stdout" "$(mbs "$t_export")"
printf '%-52s %8s\n' "glance-storefs, RBD volume (cat)" "$(mbs "$t_rrbd")"
printf '%-52s %8s\n' "nfs-cat of the volume file" "$(mbs "$t_nfscat")"
printf '%-52s %8s\n' "glance-storefs, NFS volume (cat)" "$(mbs "$t_rnfs")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_rpll")"
printf '%-52s %8s\n' "glance-storefs peak RSS (MiB)" "$rss"
echo
lesser() { if [ "$(echo "$1 > $2" | bc)" = 1 ]; then echo "$1"; else echo "$2"; fi; }  # the slower: the longer time
r1=$(ratio "$(lesser "$t_export" "$t_rpll")" "$t_rrbd"); r2=$(ratio "$(lesser "$t_import" "$t_wpll")" "$t_wrbd")
r3=$(ratio "$(lesser "$t_nfscat" "$t_rpll")" "$t_rnfs"); r4=$(ratio "$(lesser "$t_nfscp" "$t_wpll")" "$t_wnfs")
printf '%-68s %6s  %s\n' "RBD read vs the lesser of rbd export and passthrough_ll (>= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-68s %6s  %s\n' "RBD write vs the lesser of rbd import and passthrough_ll (>= 0.8)" "$r2" "$(verdict "$r2 >= 0.8")"
printf '%-68s %6s  %s\n' "NFS read vs the lesser of nfs-cat and passthrough_ll (>= 0.9)" "$r3" "$(verdict "$r3 >= 0.9")"
printf '%-68s %6s  %s\n' "NFS write vs the lesser of nfs-cp and passthrough_ll (>= 0.8)" "$r4" "$(verdict "$r4 >= 0.8")"
