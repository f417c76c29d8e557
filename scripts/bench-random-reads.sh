#!/usr/bin/env bash
# Read amplification of the http store, from nginx's own log: 200 random 64 KiB reads
# (POSIX_FADV_RANDOM, as fio or qemu ask) of a 256 MiB image through the mount, and a sequential cat of
# it, each on a fresh mount with the page cache dropped; the bytes nginx sent per byte asked, and the
# random reads' IOPS. A piece of issue 19's workloads (the rest is not written yet). Run as root:
#     bash scripts/bench-random-reads.sh [WORKDIR]     (default /var/tmp/glance-storefs-bench-random)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-random}
reads=${BENCH_RANDOM_READS:-200}
size_mib=256

bash scripts/install-deps.sh >/dev/null
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{nginx,mnt,staging,tasks}
cleanup() {
  findmnt -n "$work/mnt" >/dev/null 2>&1 && { fusermount3 -u "$work/mnt" 2>/dev/null || umount -l "$work/mnt"; }
  bash scripts/test-nginx.sh stop "$work/nginx" || true
  rm -rf "$work"
}
trap cleanup EXIT
ports=$(bash scripts/test-nginx.sh start "$work/nginx")
port=${ports%% *}
image=6b1a2e5c-3f0d-4c53-9a57-2f4e8d1c9b01
head -c $((size_mib << 20)) /dev/urandom > "$work/nginx/www/html/$image"
cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = web:http
[glance_store]
default_backend = web
[web]
storefs_index_url = http://127.0.0.1:$port/html/
[os_glance_staging_store]
filesystem_store_datadir = $work/staging
[os_glance_tasks_store]
filesystem_store_datadir = $work/tasks
CONF
log=$work/nginx/access.log
fresh_mount() {
  findmnt -n "$work/mnt" >/dev/null && fusermount3 -u "$work/mnt"
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$bin" mount --config-file "$work/glance-api.conf" "$work/mnt" -o ro 2>/dev/null
  : > "$log"
}
sent() { sleep 0.3; awk '$1 == "GET" && $2 ~ /'"$image"'$/ {s += $4} END {print s + 0}' "$log"; }
gets() { awk '$1 == "GET" && $2 ~ /'"$image"'$/ {n++} END {print n + 0}' "$log"; }

fresh_mount
t_random=$(elapsed python3 - "$work/mnt/web/$image" "$reads" <<'PY'
import os, random, sys
random.seed(7)
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
size = os.fstat(fd).st_size
for _ in range(int(sys.argv[2])):
    offset = random.randrange(0, size // 65536) * 65536
    assert len(os.pread(fd, 65536, offset)) == 65536
os.close(fd)
PY
)
random_sent=$(sent); random_gets=$(gets)
asked=$((reads * 65536))

fresh_mount
bytes=$((size_mib << 20))
t_seq=$(elapsed cat "$work/mnt/web/$image")
seq_sent=$(sent); seq_gets=$(gets)

echo
echo "http store read amplification — $(date -u +%Y-%m-%d), $(nproc) cores, ${size_mib} MiB image, nginx $(nginx -v 2>&1 | sed 's|.*/||')"
printf '%-52s %12s\n' "$reads random 64 KiB reads: bytes asked" "$asked"
printf '%-52s %12s\n' "  bytes nginx sent ($random_gets GETs)" "$random_sent"
printf '%-52s %12s\n' "  amplification (target <= 2)" "$(ratio "$random_sent" "$asked")"
printf '%-52s %12s\n' "  IOPS" "$(echo "scale=0; $reads / $t_random" | bc)"
printf '%-52s %12s\n' "sequential cat: bytes nginx sent ($seq_gets GETs)" "$seq_sent"
printf '%-52s %12s\n' "  amplification" "$(ratio "$seq_sent" "$bytes")"
printf '%-52s %12s\n' "  MB/s" "$(mbs "$t_seq")"
