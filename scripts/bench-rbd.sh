#!/usr/bin/env bash
# rbd store benchmark, one run, one single-node Ceph (Debian's, bluestore on a sparse file, on
# 127.0.0.1), one 1 GiB image: sequential read and write through glance-storefs vs `rbd export` /
# `rbd import` vs rbd-fuse (Debian's), and the FUSE ceiling of this machine (libfuse's passthrough_ll
# on a local directory). Median of three runs each. Run as root:
#     bash scripts/bench-rbd.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-rbd, on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-rbd}
size_mib=${BENCH_SIZE_MIB:-1024}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{ceph,mnt/ours,mnt/rbdfuse,mnt/pll,pll,local,staging,tasks,data}
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  bash scripts/test-ceph.sh stop "$work/ceph" || true
  rm -rf "$work"
}
trap cleanup EXIT

conf=$(CEPH_OBJECTSTORE=bluestore bash scripts/test-ceph.sh start "$work/ceph")
build_passthrough_ll "$work/pll"
source_file=/dev/shm/glance-storefs-bench-rbd-source
trap 'rm -f "$source_file"; cleanup' EXIT
head -c $((size_mib << 20)) /dev/urandom > "$source_file"   # in RAM: the source costs nothing

write_config ceph rbd ceph "rbd_store_pool = images
rbd_store_ceph_conf = $conf"
"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
rbd-fuse -c "$conf" -p images "$work/mnt/rbdfuse"
"$work/pll/passthrough_ll" -o source="$work/local" "$work/mnt/pll"
sleep 1
for m in ours rbdfuse pll; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done

bytes=$((size_mib << 20))
# Before each run: what the last write run made is removed (the cluster holds a few GiB), caches dropped.
remove() {
  case $1 in
    rbd) rbd -c "$conf" rm --no-progress "images/$2" >/dev/null 2>&1 || true ;;  # rbd-fuse keeps its images open
    ours) rm "$work/mnt/ours/ceph/$2" ;;
    local) rm "$work/local/$2" ;;
  esac
}
cold() { remove_written; sync; echo 3 > /proc/sys/vm/drop_caches; }
# Writes: each run writes a new image (rbd-fuse cannot create one of a given size: it writes onto
# one made by `rbd create`, as its users do).
w_import() { local n; n=$(fresh rbd imp); rbd -c "$conf" import --no-progress "$source_file" "images/$n"; }
w_ours() { local n; n=$(fresh ours ours); cp "$source_file" "$work/mnt/ours/ceph/$n"; }
w_rbdfuse() { local n; n=$(fresh rbd fuse); rbd -c "$conf" create --size "${size_mib}M" "images/$n"; sleep 1
  dd if="$source_file" of="$work/mnt/rbdfuse/$n" bs=4M conv=notrunc,fsync status=none; }
w_pll() { local n; n=$(fresh local pll); cp "$source_file" "$work/mnt/pll/$n"; sync; }
t_import=$(median3 w_import)
t_wours=$(median3 w_ours)
t_wfuse=$(median3 w_rbdfuse)
t_wpll=$(median3 w_pll)
cold

# Reads of one image written through the mount (Glance's layout), and of the same bytes locally.
cp "$source_file" "$work/mnt/ours/ceph/read"
cp "$source_file" "$work/local/read"
cmp "$source_file" "$work/mnt/ours/ceph/read" || { echo "the mount wrote other bytes" >&2; exit 1; }
t_export=$(median3 rbd -c "$conf" export --no-progress images/read -)
t_rours=$(median3 cat "$work/mnt/ours/ceph/read")
t_rfuse=$(median3 cat "$work/mnt/rbdfuse/read")
t_rpll=$(median3 cat "$work/mnt/pll/read")
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$(pgrep -f -- "$work/mnt/ours -f --ready-fd" | head -1)"/status)

echo
echo "glance-storefs rbd benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, ceph $(ceph --version | awk '{print $3}') (1 OSD, bluestore on a sparse file), ${size_mib} MiB, median of 3"
printf '%-48s %8s\n' "sequential write" "MB/s"
printf '%-48s %8s\n' "rbd import" "$(mbs "$t_import")"
printf '%-48s %8s\n' "glance-storefs (cp into the mount, published)" "$(mbs "$t_wours")"
printf '%-48s %8s\n' "rbd-fuse (dd onto a created image, fsync)" "$(mbs "$t_wfuse")"
printf '%-48s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_wpll")"
printf '%-48s %8s\n' "sequential read" "MB/s"
printf '%-48s %8s\n' "rbd export to stdout" "$(mbs "$t_export")"
printf '%-48s %8s\n' "glance-storefs (cat through the mount)" "$(mbs "$t_rours")"
printf '%-48s %8s\n' "rbd-fuse (cat through its mount)" "$(mbs "$t_rfuse")"
printf '%-48s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_rpll")"
printf '%-48s %8s\n' "glance-storefs peak RSS (MiB)" "$rss"
echo
lesser() { if [ "$(echo "$1 > $2" | bc)" = 1 ]; then echo "$1"; else echo "$2"; fi; }  # the slower: the longer time
r1=$(ratio "$(lesser "$t_export" "$t_rpll")" "$t_rours"); r2=$(ratio "$t_rfuse" "$t_rours")
r3=$(ratio "$(lesser "$t_import" "$t_wpll")" "$t_wours")
printf '%-64s %6s  %s\n' "read vs the lesser of rbd export and passthrough_ll (>= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-64s %6s  %s\n' "read vs rbd-fuse (>= 2)" "$r2" "$(verdict "$r2 >= 2")"
printf '%-64s %6s  %s\n' "write vs the lesser of rbd import and passthrough_ll (>= 0.8)" "$r3" "$(verdict "$r3 >= 0.8")"
