#!/usr/bin/env bash
# swift store benchmark, one run, one single-node Swift (Debian's 2.30, on 127.0.0.1, devices on disk):
# sequential read and write of a 1 GiB image through glance-storefs vs curl / the swift CLI vs
# rclone mount (Debian's, --vfs-cache-mode off), the FUSE ceiling of this machine (libfuse's
# passthrough_ll on a local directory), and `ls -l` of a container of 10,000 objects vs
# `swift list --lh`. Median of three runs each. Run as root:
#     bash scripts/bench-swift.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-swift, on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-swift}
size_mib=${BENCH_SIZE_MIB:-1024}
many=${BENCH_OBJECTS:-10000}

bash scripts/install-deps.sh
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{swift,mnt/ours,mnt/rclone,mnt/pll,pll,local,staging,tasks,data,many}
source_file=/dev/shm/glance-storefs-bench-swift-source
rclone_pid=
cleanup() {
  for m in "$work"/mnt/*; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  [ -n "$rclone_pid" ] && kill "$rclone_pid" 2>/dev/null || true
  bash scripts/test-swift.sh stop "$work/swift" || true
  rm -rf "$work" "$source_file"
}
trap cleanup EXIT

read -r port _ < <(bash scripts/test-swift.sh start "$work/swift")
auth=http://127.0.0.1:$port/auth/v1.0
url=http://127.0.0.1:$port/v1/AUTH_test
swiftcli() { /usr/bin/swift --auth "$auth" -U test:tester -K testing "$@"; }
token=$(curl -s -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$auth" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
curl -sf -X PUT -H "X-Auth-Token: $token" "$url/glance" -o /dev/null
build_passthrough_ll "$work/pll"
head -c $((size_mib << 20)) /dev/urandom > "$source_file"   # in RAM: the source costs nothing

# 10,000 small objects in their own container, made in one request (the bulk middleware).
( cd "$work/many" && for i in $(seq -w 1 "$many"); do echo "$i" > "image-$i.raw"; done && tar cf ../many.tar image-* )
curl -sf -X PUT -H "X-Auth-Token: $token" -H "Accept: application/json" --data-binary @"$work/many.tar" \
  "$url/many?extract-archive=tar" | grep -q '"Number Files Created": '"$((10#$many))" || { echo "bulk upload failed" >&2; exit 1; }

cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = local:file, sw:swift, many:swift
[glance_store]
default_backend = sw
[local]
filesystem_store_datadir = $work/data
[sw]
swift_store_auth_address = $auth
swift_store_user = test:tester
swift_store_key = testing
swift_store_auth_version = 1
swift_store_container = glance
[many]
swift_store_auth_address = $auth
swift_store_user = test:tester
swift_store_key = testing
swift_store_auth_version = 1
swift_store_container = many
[os_glance_staging_store]
filesystem_store_datadir = $work/staging
[os_glance_tasks_store]
filesystem_store_datadir = $work/tasks
CONF
"$bin" mount --config-file "$work/glance-api.conf" "$work/mnt/ours"
export RCLONE_CONFIG_SW_TYPE=swift RCLONE_CONFIG_SW_AUTH=$auth RCLONE_CONFIG_SW_USER=test:tester RCLONE_CONFIG_SW_KEY=testing
# Its directory cache is cut to a second: it must see the image the read runs use, written through ours.
setsid rclone mount sw:glance "$work/mnt/rclone" --vfs-cache-mode off --dir-cache-time 1s </dev/null >"$work/rclone.log" 2>&1 &
rclone_pid=$!
"$work/pll/passthrough_ll" -o source="$work/local" "$work/mnt/pll"
for _ in $(seq 50); do findmnt -n "$work/mnt/rclone" >/dev/null && break; sleep 0.2; done
for m in ours rclone pll; do findmnt -n "$work/mnt/$m" >/dev/null || { echo "$m did not mount" >&2; exit 1; }; done

bytes=$((size_mib << 20))
# Before each run: what the last write run made is removed, caches dropped, our listing cache stale.
remove() {
  case $1 in
    swift) swiftcli delete glance "$2" >/dev/null 2>&1 || true ;;
    local) rm -f "$work/local/$2" ;;
  esac
}
cold() { remove_written; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2.5; }
w_cli() { local n; n=$(fresh swift cli); swiftcli upload glance "$source_file" --object-name "$n"; }
w_ours() { local n; n=$(fresh swift ours); cp "$source_file" "$work/mnt/ours/sw/$n"; }
w_rclone() { local n; n=$(fresh swift rcl); cp "$source_file" "$work/mnt/rclone/$n"; }
w_pll() { local n; n=$(fresh local pll); cp "$source_file" "$work/mnt/pll/$n"; sync; }
t_wcli=$(median3 w_cli)
t_wours=$(median3 w_ours)
t_wrclone=$(median3 w_rclone)
t_wpll=$(median3 w_pll)
cold

# Reads of one image written through the mount (Glance's layout: a DLO of 200 MB segments at
# Glance's default sizes, as the size of a copy is not known in advance), and the same bytes locally.
cp "$source_file" "$work/mnt/ours/sw/read"
cp "$source_file" "$work/local/read"
cmp "$source_file" "$work/mnt/ours/sw/read" || { echo "the mount wrote other bytes" >&2; exit 1; }
sleep 2
cmp "$source_file" "$work/mnt/rclone/read" || { echo "rclone reads other bytes" >&2; exit 1; }
t_curl=$(median3 curl -sf -H "X-Auth-Token: $token" "$url/glance/read" -o /dev/null)
t_rours=$(median3 cat "$work/mnt/ours/sw/read")
t_rrclone=$(median3 cat "$work/mnt/rclone/read")
t_rpll=$(median3 cat "$work/mnt/pll/read")
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$(pgrep -f -- "$work/mnt/ours -f --ready-fd" | head -1)"/status)

# ls -l of the 10,000-object container, vs the swift CLI's listing of it.
t_list=$(median3 swiftcli list --lh many)
t_ls=$(median3 ls -l "$work/mnt/ours/many")
listed=$(ls "$work/mnt/ours/many" | wc -l)
[ "$listed" = "$((10#$many))" ] || { echo "ls showed $listed entries" >&2; exit 1; }

echo
echo "glance-storefs swift benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, swift $(dpkg-query -W -f='${Version}' swift-proxy) (1 replica, tempauth), ${size_mib} MiB, median of 3"
printf '%-52s %8s\n' "sequential write" "MB/s"
printf '%-52s %8s\n' "swift CLI upload (one PUT)" "$(mbs "$t_wcli")"
printf '%-52s %8s\n' "glance-storefs (cp into the mount: DLO, published)" "$(mbs "$t_wours")"
printf '%-52s %8s\n' "rclone mount (cp, --vfs-cache-mode off)" "$(mbs "$t_wrclone")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_wpll")"
printf '%-52s %8s\n' "sequential read" "MB/s"
printf '%-52s %8s\n' "curl GET" "$(mbs "$t_curl")"
printf '%-52s %8s\n' "glance-storefs (cat through the mount)" "$(mbs "$t_rours")"
printf '%-52s %8s\n' "rclone mount (cat)" "$(mbs "$t_rrclone")"
printf '%-52s %8s\n' "FUSE ceiling: passthrough_ll, local file" "$(mbs "$t_rpll")"
printf '%-52s %8s\n' "glance-storefs peak RSS (MiB)" "$rss"
printf '%-52s %8s\n' "listing of $((10#$many)) objects" "seconds"
printf '%-52s %8s\n' "swift list --lh" "$t_list"
printf '%-52s %8s\n' "ls -l through the mount" "$t_ls"
echo
lesser() { if [ "$(echo "$1 > $2" | bc)" = 1 ]; then echo "$1"; else echo "$2"; fi; }  # the slower: the longer time
r1=$(ratio "$(lesser "$t_curl" "$t_rpll")" "$t_rours"); r2=$(ratio "$t_rrclone" "$t_rours")
r3=$(ratio "$t_wcli" "$t_wours"); r4=$(ratio "$t_ls" "$t_list")
printf '%-64s %6s  %s\n' "read vs the lesser of curl and passthrough_ll (>= 0.9)" "$r1" "$(verdict "$r1 >= 0.9")"
printf '%-64s %6s  %s\n' "read vs rclone mount (>= 1.5)" "$r2" "$(verdict "$r2 >= 1.5")"
printf '%-64s %6s  %s\n' "write vs swift CLI upload (>= 0.8)" "$r3" "$(verdict "$r3 >= 0.8")"
printf '%-64s %6s  %s\n' "ls -l time / swift list --lh time (<= 2)" "$r4" "$(verdict "$r4 <= 2")"
