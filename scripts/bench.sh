#!/usr/bin/env bash
# Mount benchmark: one run, one 1 GiB image, side by side on the same machine and the same datadir:
#   first sequential read through glance-storefs vs libfuse's passthrough_ll (built here from
#   Debian's libfuse3-dev examples) vs rclone mount (cache off) vs cat of the datadir;
#   a second read (page cache kept across opens); a 1 GiB cp into a store vs cp through
#   passthrough_ll vs cp to the datadir; ls -l of 10,000 images vs the datadir; the daemon's
#   peak RSS during the copy. Prints figures, ratios and the targets. Run as root:
#       bash scripts/bench.sh [WORKDIR]        (default /var/tmp/glance-storefs-bench, on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench}
size_mib=${BENCH_SIZE_MIB:-1024}
images=${BENCH_IMAGES:-10000}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{data/fast,data/cheap,data/many,staging,tasks,mnt/ours,mnt/pll,mnt/rclone,pll,direct}
pids=()
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

build_passthrough_ll "$work/pll"

cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = fast:file, cheap:file, many:file
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = $work/data/fast
[cheap]
filesystem_store_datadir = $work/data/cheap
[many]
filesystem_store_datadir = $work/data/many
[os_glance_staging_store]
filesystem_store_datadir = $work/staging
[os_glance_tasks_store]
filesystem_store_datadir = $work/tasks
CONF

image=img-$(cat /proc/sys/kernel/random/uuid)
head -c $((size_mib << 20)) /dev/urandom > "$work/data/fast/$image"
cp "$work/data/fast/$image" "$work/source"   # the copy source, outside every mount
for i in $(seq 1 "$images"); do printf x > "$work/data/many/$(printf '%08d' "$i")-0000-4000-8000-000000000000"; done
sync

"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
ours_pid=$(pgrep -f -- "$work/mnt/ours -f --ready-fd" | head -1)
"$work/pll/passthrough_ll" -o source="$work/data/fast" "$work/mnt/pll"
rclone mount --vfs-cache-mode off --read-only "$work/data/fast" "$work/mnt/rclone" --daemon
sleep 1
for m in ours pll rclone; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done

bytes=$((size_mib << 20))
# The datadir's file stays in the page cache; each mount's own cache is dropped.
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; cat "$work/data/fast/$image" > /dev/null; }

cold; t_cat=$(elapsed cat "$work/data/fast/$image")
cold; t_ours=$(elapsed cat "$work/mnt/ours/fast/$image")
t_ours2=$(elapsed cat "$work/mnt/ours/fast/$image")
cold; t_pll=$(elapsed cat "$work/mnt/pll/$image")
cold; t_rclone=$(elapsed cat "$work/mnt/rclone/$image")

# Writes: 1 GiB cp from a cached source. Ours publishes only after the image is synced to disk.
cat "$work/source" > /dev/null
t_wdirect=$(elapsed sh -c "cp '$work/source' '$work/direct/copy' && sync '$work/direct/copy'")
t_wdirect_nosync=$(elapsed cp "$work/source" "$work/direct/copy2")
t_wpll=$(elapsed sh -c "cp '$work/source' '$work/mnt/pll/copy' && sync '$work/data/fast/copy'")
t_wpll_nosync=$(elapsed cp "$work/source" "$work/mnt/pll/copy2")
t_wours=$(elapsed cp "$work/source" "$work/mnt/ours/cheap/$image")
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$ours_pid/status")
cmp -s "$work/source" "$work/data/cheap/$image" || { echo "the copy through the mount differs" >&2; exit 1; }

# Listing, the median of three looks each: the mount's fresh every time (the kernel's dentries and
# inodes dropped, so it asks the daemon again), the datadir's warm (listed once just before): one
# sample of 0.1-0.2 s on this shared machine varied by 40% between runs.
fresh_pair() {  # fresh_pair CMD ARGS... (with the directory last): "datadir-seconds mount-seconds"
    sync; echo 2 > /proc/sys/vm/drop_caches
    "$@" "$work/data/many" >/dev/null
    echo "$(elapsed "$@" "$work/data/many") $(elapsed "$@" "$work/mnt/ours/many")"
}
median_col() { sort -g | sed -n 2p; }
ls_runs=$(for _ in 1 2 3; do fresh_pair ls -l; done)
t_ls_direct=$(echo "$ls_runs" | cut -d' ' -f1 | median_col)
t_ls_ours=$(echo "$ls_runs" | cut -d' ' -f2 | median_col)
n_listed=$(ls "$work/mnt/ours/many" | wc -l)
# The same walk without ls's two xattr lookups per file (security.selinux, system.posix_acl_access).
find_printf() { find "$1" -printf '%s %T@ %m\n'; }
find_runs=$(for _ in 1 2 3; do fresh_pair find_printf; done)
t_find_direct=$(echo "$find_runs" | cut -d' ' -f1 | median_col)
t_find_ours=$(echo "$find_runs" | cut -d' ' -f2 | median_col)

# One FUSE round trip: a getxattr that ls -l sends for every file (answered without the store).
rtt_us=$(/usr/bin/python3 - "$work/mnt/ours/many" <<'PY'
import os, sys, time
n = 5000
t = time.perf_counter()
for _ in range(n):
    try: os.getxattr(sys.argv[1], "security.selinux")
    except OSError: pass
print("%.1f" % ((time.perf_counter() - t) / n * 1e6))
PY
)

echo
echo "glance-storefs mount benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), ${size_mib} MiB image, $images images listed"
printf '%-52s %10s\n' "measure" "MB/s"
printf '%-52s %10s\n' "cat of the datadir (page cache)" "$(mbs "$t_cat")"
printf '%-52s %10s\n' "first read: glance-storefs" "$(mbs "$t_ours")"
printf '%-52s %10s\n' "first read: passthrough_ll" "$(mbs "$t_pll")"
printf '%-52s %10s\n' "first read: rclone mount (cache off)" "$(mbs "$t_rclone")"
printf '%-52s %10s\n' "second read: glance-storefs" "$(mbs "$t_ours2")"
printf '%-52s %10s\n' "write: cp into a store (published synced)" "$(mbs "$t_wours")"
printf '%-52s %10s\n' "write: cp through passthrough_ll + sync" "$(mbs "$t_wpll")"
printf '%-52s %10s\n' "write: cp through passthrough_ll (no sync)" "$(mbs "$t_wpll_nosync")"
printf '%-52s %10s\n' "write: cp to the datadir + sync" "$(mbs "$t_wdirect")"
printf '%-52s %10s\n' "write: cp to the datadir (no sync)" "$(mbs "$t_wdirect_nosync")"
printf '%-52s %10s\n' "ls -l of $n_listed images: glance-storefs (s)" "$t_ls_ours"
printf '%-52s %10s\n' "ls -l of $images images: datadir (s)" "$t_ls_direct"
printf '%-52s %10s\n' "find -printf size/mtime/mode: glance-storefs (s)" "$t_find_ours"
printf '%-52s %10s\n' "find -printf size/mtime/mode: datadir (s)" "$t_find_direct"
printf '%-52s %10s\n' "one FUSE round trip (getxattr, µs)" "$rtt_us"
printf '%-52s %10s\n' "daemon peak RSS after the copy (MiB)" "$((rss_kib / 1024))"
echo
r1=$(ratio "$t_pll" "$t_ours"); r2=$(ratio "$t_rclone" "$t_ours"); r3=$(ratio "$t_cat" "$t_ours2")
r4=$(ratio "$t_wpll_nosync" "$t_wours"); r4s=$(ratio "$t_wpll" "$t_wours"); r5=$(ratio "$t_ls_ours" "$t_ls_direct")
printf '%-60s %6s  %s\n' "first read vs passthrough_ll (target >= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-60s %6s  %s\n' "first read vs rclone (target >= 4)" "$r2" "$(verdict "$r2 >= 4")"
printf '%-60s %6s  %s\n' "second read vs cat (target >= 0.5)" "$r3" "$(verdict "$r3 >= 0.5")"
printf '%-60s %6s  %s\n' "write vs passthrough_ll, no sync (target >= 0.8)" "$r4" "$(verdict "$r4 >= 0.8")"
printf '%-60s %6s  %s\n' "write vs passthrough_ll + sync (same durability)" "$r4s" "$(verdict "$r4s >= 0.8")"
printf '%-60s %6s  %s\n' "ls -l time vs datadir (target <= 2)" "$r5" "$(verdict "$r5 <= 2")"
r6=$(ratio "$t_find_ours" "$t_find_direct")
printf '%-60s %6s  %s\n' "find -printf time vs datadir (no xattrs; same target)" "$r6" "$(verdict "$r6 <= 2")"
printf '%-60s %6s  %s\n' "peak RSS MiB (target <= 128)" "$((rss_kib / 1024))" "$(verdict "$((rss_kib / 1024)) <= 128")"
