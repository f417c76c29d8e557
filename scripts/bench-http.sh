#!/usr/bin/env bash
# http store benchmark, one run, same nginx (Debian's, on 127.0.0.1), same 1 GiB file: sequential
# read through glance-storefs vs curl vs httpdirfs (Debian's), and the FUSE ceiling of this machine
# (libfuse's passthrough_ll on the served directory). Run as root:
#     bash scripts/bench-http.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-http)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-http}
size_mib=${BENCH_SIZE_MIB:-1024}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{srv,mnt/ours,mnt/httpdirfs,mnt/pll,pll,data,staging,tasks}
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  bash scripts/test-nginx.sh stop "$work/srv" || true
  rm -rf "$work"
}
trap cleanup EXIT

read -r port _ < <(bash scripts/test-nginx.sh start "$work/srv")
image=img-$(cat /proc/sys/kernel/random/uuid)
head -c $((size_mib << 20)) /dev/urandom > "$work/srv/www/html/$image"
chmod 644 "$work/srv/www/html/$image"
url=http://127.0.0.1:$port/html/$image

build_passthrough_ll "$work/pll"

write_config web http local "storefs_index_url = http://127.0.0.1:$port/json/"
"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
httpdirfs "http://127.0.0.1:$port/dirfs/" "$work/mnt/httpdirfs" >/dev/null 2>&1
"$work/pll/passthrough_ll" -o source="$work/srv/www/html" "$work/mnt/pll"
sleep 1
for m in ours httpdirfs pll; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done

bytes=$((size_mib << 20))
# The served file stays in the page cache (so nginx is not the limit); the mounts' caches are dropped.
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; cat "$work/srv/www/html/$image" > /dev/null; }

# Median of three runs each; httpdirfs (about 1 MB/s here) reads the first 32 MiB once.
t_curl=$(median3 curl -s -o /dev/null "$url")
t_ours=$(median3 cat "$work/mnt/ours/web/$image")
t_pll=$(median3 cat "$work/mnt/pll/$image")
hd_mib=$(( size_mib < 32 ? size_mib : 32 ))
cold; t_httpdirfs=$(elapsed dd if="$work/mnt/httpdirfs/$image" bs=1M count=$hd_mib status=none)
t_httpdirfs=$(echo "scale=6; $t_httpdirfs * $size_mib / $hd_mib" | bc)  # as if it read the whole file at that rate
cmp -s "$work/mnt/ours/web/$image" "$work/srv/www/html/$image" || { echo "the mount's bytes differ" >&2; exit 1; }
cmp -s -n $((hd_mib << 20)) "$work/mnt/httpdirfs/$image" "$work/srv/www/html/$image" || { echo "httpdirfs's bytes differ" >&2; exit 1; }

echo
echo "glance-storefs http benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, nginx $(nginx -v 2>&1 | cut -d/ -f2), ${size_mib} MiB"
printf '%-44s %8s\n' "sequential read" "MB/s"
printf '%-44s %8s\n' "curl -o /dev/null" "$(mbs "$t_curl")"
printf '%-44s %8s\n' "glance-storefs (cat through the mount)" "$(mbs "$t_ours")"
printf '%-44s %8s\n' "httpdirfs (first ${hd_mib} MiB through its mount)" "$(mbs "$t_httpdirfs")"
printf '%-44s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_pll")"
echo
lesser=$t_curl; [ "$(echo "$t_pll > $t_curl" | bc)" = 1 ] && lesser=$t_pll
r1=$(ratio "$lesser" "$t_ours"); r2=$(ratio "$t_httpdirfs" "$t_ours")
printf '%-60s %6s  %s\n' "vs the lesser of curl and passthrough_ll (target >= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-60s %6s  %s\n' "vs httpdirfs (target >= 1)" "$r2" "$(verdict "$r2 >= 1")"
