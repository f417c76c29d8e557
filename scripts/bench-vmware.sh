#!/usr/bin/env bash
# vmware store benchmark, one run, govmomi's vCenter simulator on 127.0.0.1 (HTTPS, datastores on
# disk): sequential read and write of a 1 GiB image through glance-storefs vs curl GET / PUT on the
# same datastore URL (/folder/...), and the FUSE ceiling of this machine (libfuse's passthrough_ll on
# a local directory). Median of three runs each. Run as root:
#     bash scripts/bench-vmware.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-vmware, on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-vmware}
size_mib=${BENCH_SIZE_MIB:-1024}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{vcsim,mnt/ours,mnt/pll,pll,local,staging,tasks,data}
source_file=/dev/shm/glance-storefs-bench-vmware-source
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  bash scripts/test-vcsim.sh stop "$work/vcsim" || true
  rm -rf "$work" "$source_file"
}
trap cleanup EXIT

port=$(bash scripts/test-vcsim.sh start "$work/vcsim")
ca=$work/vcsim/tls/ca.pem
folder() { echo "https://127.0.0.1:$port/folder/bench/$1?dcPath=DC0&dsName=LocalDS_0"; }
# The datastore's own directory (the simulator keeps its files there).
datastore=$work/vcsim/datastores/LocalDS_0
build_passthrough_ll "$work/pll"
head -c $((size_mib << 20)) /dev/urandom > "$source_file"   # in RAM: the source costs nothing

write_config vm vmware vm "vmware_server_host = 127.0.0.1:$port
vmware_server_username = storefs
vmware_server_password = vcsim-secret-Pw4x
vmware_ca_file = $ca
vmware_store_image_dir = /bench
vmware_datastores = DC0:LocalDS_0"
"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
"$work/pll/passthrough_ll" -o source="$work/local" "$work/mnt/pll"
for m in ours pll; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done
# The image directory exists before curl's first PUT (the simulator's PUT makes it; vCenter's may not).
echo x > "$work/mnt/ours/vm/warm" && rm "$work/mnt/ours/vm/warm"

bytes=$((size_mib << 20))
# Before each run: what the last write run made is removed, caches dropped, our listing cache stale.
remove() {
  case $1 in
    vm) rm -f "$datastore/bench/$2" "$datastore"/bench/.storefs-*."$2" ;;
    local) rm -f "$work/local/$2" ;;
  esac
}
cold() { remove_written; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2.5; }
w_curl() { local n; n=$(fresh vm curl); curl -sf --cacert "$ca" -u storefs:vcsim-secret-Pw4x -X PUT -T "$source_file" "$(folder "$n")" -o /dev/null; sync; }
w_ours() { local n; n=$(fresh vm ours); cp "$source_file" "$work/mnt/ours/vm/$n"; sync; }
w_pll() { local n; n=$(fresh local pll); cp "$source_file" "$work/mnt/pll/$n"; sync; }
t_wcurl=$(median3 w_curl)
t_wours=$(median3 w_ours)
t_wpll=$(median3 w_pll)
cold

cp "$source_file" "$work/mnt/ours/vm/read"
cp "$source_file" "$work/local/read"
cmp "$source_file" "$work/mnt/ours/vm/read" || { echo "the mount wrote other bytes" >&2; exit 1; }
t_curl=$(median3 curl -sf --cacert "$ca" "$(folder read)" -o /dev/null)
t_rours=$(median3 cat "$work/mnt/ours/vm/read")
t_rpll=$(median3 cat "$work/mnt/pll/read")
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$(pgrep -f -- "$work/mnt/ours -f --ready-fd" | head -1)"/status)

echo
echo "glance-storefs vmware benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, govmomi $(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev) simulator (HTTPS), ${size_mib} MiB, median of 3"
printf '%-52s %8s\n' "sequential write" "MB/s"
printf '%-52s %8s\n' "curl PUT (/folder, one request)" "$(mbs "$t_wcurl")"
printf '%-52s %8s\n' "glance-storefs (cp into the mount: PUT + move)" "$(mbs "$t_wours")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_wpll")"
printf '%-52s %8s\n' "sequential read" "MB/s"
printf '%-52s %8s\n' "curl GET (/folder)" "$(mbs "$t_curl")"
printf '%-52s %8s\n' "glance-storefs (cat through the mount)" "$(mbs "$t_rours")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_rpll")"
printf '%-52s %8s\n' "glance-storefs peak RSS (MiB)" "$rss"
echo
lesser() { if [ "$(echo "$1 > $2" | bc)" = 1 ]; then echo "$1"; else echo "$2"; fi; }  # the slower: the longer time
r1=$(ratio "$(lesser "$t_curl" "$t_rpll")" "$t_rours")
r2=$(ratio "$(lesser "$t_wcurl" "$t_wpll")" "$t_wours")
printf '%-64s %6s  %s\n' "read vs the lesser of curl and passthrough_ll (>= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-64s %6s  %s\n' "write vs the lesser of curl and passthrough_ll (>= 0.8)" "$r2" "$(verdict "$r2 >= 0.8")"
