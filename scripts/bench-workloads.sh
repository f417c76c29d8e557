#!/usr/bin/env bash
# Operators' workloads on the mount, side by side with what an operator would run without it, in one
# run on the same images (issue 19): qemu-img convert and info of a qcow2 image, random 64 KiB reads,
# sha512sum, rsync -a of 200 images between writable stores, 4 parallel readers, writes into the file
# store, and listings of 10,000 and 100,000 images. It starts nginx (http), a single-node Ceph (rbd) and
# Swift with the project's own scripts, mounts file, http, rbd and swift stores, and prints one table:
# time (or rate) through the mount, time of the alternative, their ratio, the target, and the CPU
# steal while the row was measured (this VM shares its host). Median of 3 (BENCH_RUNS).
# BENCH_ONLY="5 8" runs only those workloads. Run as root:
#     bash scripts/bench-workloads.sh [WORKDIR]      (default /var/tmp/glance-storefs-bench-workloads)
# BENCH_SCALE (100000) is the large listing's size for the file store, BENCH_SWIFT_SCALE (the same)
# for the swift store (seeded by the bulk middleware, 10,000 objects a request), BENCH_RBD_SCALE (the
# same) for the rbd store: librbd makes images one by one (13 ms each here, 7 ms with four processes, so
# 90,000 more take about 11 minutes), and `rbd ls -l` opens every image (about 4 ms each): at more than
# 10,000 images that native listing is timed once, not three times.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work=${1:-/var/tmp/glance-storefs-bench-workloads}
runs=${BENCH_RUNS:-3}
scale=${BENCH_SCALE:-100000}
swift_scale=${BENCH_SWIFT_SCALE:-$scale}
rbd_scale=${BENCH_RBD_SCALE:-$scale}
py=/usr/bin/python3   # Debian's, with python3-rbd (not a pyenv shim)

bash scripts/install-deps.sh >/dev/null
swift-build -c release --product glance-storefs >/dev/null
bin=$PWD/.build/release/glance-storefs

rm -rf "$work"
mkdir -p "$work"/{nginx,ceph,swift,mnt,scale,data,many,staging,tasks,tmp,direct}
rm -f "$work/table"
only=${BENCH_ONLY:-1 2 3 4 5 6 7 8}
want() { local n; for n in "$@"; do [[ " $only " == *" $n "* ]] && return 0; done; return 1; }
cleanup() {
  for m in "$work/mnt" "$work/scale"; do findmnt -n "$m" >/dev/null 2>&1 && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  bash scripts/test-nginx.sh stop "$work/nginx" || true
  bash scripts/test-swift.sh stop "$work/swift" || true
  bash scripts/test-ceph.sh stop "$work/ceph" || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- backends ---------------------------------------------------------------------------------
http_port=$(bash scripts/test-nginx.sh start "$work/nginx"); http_port=${http_port%% *}
html=$work/nginx/www/html
conf=$(CEPH_OBJECTSTORE=bluestore bash scripts/test-ceph.sh start "$work/ceph")
ceph -c "$conf" osd pool create many 8 >/dev/null 2>&1; rbd -c "$conf" pool init many
read -r sw_port _ < <(bash scripts/test-swift.sh start "$work/swift")
auth=http://127.0.0.1:$sw_port/auth/v1.0
url=http://127.0.0.1:$sw_port/v1/AUTH_test
token=$(curl -s -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$auth" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
swcurl() { curl -sf -H "X-Auth-Token: $token" "$@"; }
# Public reads, so qemu's own http driver (it sends no token) can open the objects.
for c in glance direct many; do swcurl -X PUT -H 'X-Container-Read: .r:*,.rlistings' "$url/$c" -o /dev/null; done

swift_section() {
  printf '[%s]\nswift_store_auth_address = %s\nswift_store_user = test:tester\nswift_store_key = testing\nswift_store_auth_version = 1\nswift_store_container = %s\n' "$1" "$auth" "$2"
}
cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = local:file, web:http, ceph:rbd, sw:swift
[glance_store]
default_backend = local
[local]
filesystem_store_datadir = $work/data
[web]
storefs_index_url = http://127.0.0.1:$http_port/html/
[ceph]
rbd_store_pool = images
rbd_store_ceph_conf = $conf
$(swift_section sw glance)
$(reserved_sections)
CONF
cat > "$work/scale.conf" <<CONF
[DEFAULT]
enabled_backends = many:file, manysw:swift, manyrbd:rbd
[glance_store]
default_backend = many
[many]
filesystem_store_datadir = $work/many
[manyrbd]
rbd_store_pool = many
rbd_store_ceph_conf = $conf
$(swift_section manysw many)
$(reserved_sections)
CONF
mnt=$work/mnt
daemon_pid() { pgrep -f -- " $1 .*--ready-fd" | head -1; }
remount() {
  findmnt -n "$mnt" >/dev/null && fusermount3 -u "$mnt"
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$bin" mount --config-file "$work/glance-api.conf" "$mnt"
}
remount
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { # the median of $runs runs of a command, each after `cold`
  local i t=(); for i in $(seq "$runs"); do cold; t+=("$(elapsed "$@")"); done
  printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p"
}
median_of() { local i t=(); for i in $(seq "$runs"); do t+=("$("$@")"); done; printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p"; }  # of a command that prints its time
bytes=$((1 << 30))   # what the MB/s rows are computed for
# This VM shares its host: the CPU time the hypervisor gave others while a row was measured (steal,
# from /proc/stat, since the row before) is printed with it, as a reading of how far a row may be off.
cpu_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
steal_mark=$(cpu_ticks)
steal_since_mark() {
  local now; now=$(cpu_ticks)
  steal=$(awk -v a="$steal_mark" -v b="$now" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f%%", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}')
  steal_mark=$now
}
# row WORKLOAD STORE OURS ALTERNATIVE_NAME ALTERNATIVE RATIO TARGET_TEXT TARGET_EXPR
row() { local v=-; [ "$7" = - ] || v=$(verdict "$8")
  steal_since_mark
  printf '%-30s %-6s %10s  %-30s %10s %7s  %-8s %5s  %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$steal" "$v" | tee -a "$work/table" >&2; }
faster() { ratio "$2" "$1"; }   # alternative time / our time: >1 is faster than the alternative

# --- images -----------------------------------------------------------------------------------
if want 1 2 3 4 6 7; then
echo "making images..." >&2
qcow=bench-qcow2
$py - "$work/tmp/disk.raw" <<'PY'
import os, random, sys
# 1 GiB of 64 KiB clusters, half of them holding random data, chosen at random.
random.seed(19)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.ftruncate(fd, 1 << 30)
for c in random.sample(range(16384), 8192):
    os.pwrite(fd, os.urandom(65536), c * 65536)
os.close(fd)
PY
qemu-img convert -f raw -O qcow2 "$work/tmp/disk.raw" "$work/data/$qcow"
rm "$work/tmp/disk.raw"
head -c 1G /dev/urandom > "$work/data/bench-1g"
for i in 1 2 3 4; do head -c 256M /dev/urandom > "$work/data/bench-par$i"; done
for f in "$qcow" bench-1g bench-par1 bench-par2 bench-par3 bench-par4; do
  cp "$work/data/$f" "$html/$f"
  cp "$work/data/$f" "$mnt/ceph/$f"
  cp "$work/data/$f" "$mnt/sw/$f"
done
cmp "$work/data/$qcow" "$mnt/sw/$qcow" && cmp "$work/data/$qcow" "$mnt/ceph/$qcow"
path() { echo "$mnt/$1/$2"; }
native_url() { case $1 in web) echo "http://127.0.0.1:$http_port/html/$2" ;; sw) echo "$url/glance/$2" ;; esac; }

fi

echo >&2
printf '%-30s %-6s %10s  %-30s %10s %7s  %-8s %5s  %s\n' workload store ours alternative time ratio target steal verdict | tee "$work/table" >&2
steal_mark=$(cpu_ticks)
# --- 1. qemu-img convert -O raw ------------------------------------------------------------
if want 1; then
out=$work/tmp/out.raw
convert() { qemu-img convert -O raw "$1" "$out"; rm -f "$out"; }
via_download() { curl -sf "$1" -o "$work/tmp/dl" && convert "$work/tmp/dl"; rm -f "$work/tmp/dl"; }
for s in local web ceph sw; do
  t_ours=$(median convert "$(path "$s" "$qcow")")
  case $s in
    local) alt="qemu-img on the datadir file"; t_alt=$(median convert "$work/data/$qcow") ;;
    ceph) alt="qemu-img rbd: driver"; t_alt=$(median convert "rbd:images/$qcow:conf=$conf") ;;
    *) alt="curl download + qemu-img"; t_alt=$(median via_download "$(native_url "$s" "$qcow")") ;;
  esac
  r=$(faster "$t_ours" "$t_alt"); row "qemu-img convert (s)" "$s" "$t_ours" "$alt" "$t_alt" "$r" ">= 0.9" "$r >= 0.9"
done

fi

# --- 2. qemu-img info, cold ------------------------------------------------------------------
if want 2; then
info_ours() { remount; elapsed qemu-img info "$(path "$1" "$qcow")"; }
info_native() { cold; elapsed timeout 60 qemu-img info "$1"; }
for s in local web ceph sw; do
  t_ours=$(median_of info_ours "$s")
  case $s in
    local) alt="qemu-img info, datadir file"; src="$work/data/$qcow" ;;
    ceph) alt="qemu-img info rbd:"; src="rbd:images/$qcow:conf=$conf" ;;
    *) alt="qemu-img info, its http driver"; src=$(native_url "$s" "$qcow") ;;
  esac
  t_alt=$(median_of info_native "$src")
  r=$(ratio "$t_ours" "$t_alt"); row "qemu-img info cold (s)" "$s" "$t_ours" "$alt" "$t_alt" "$r" "<= 1.5" "$r <= 1.5"
done

fi

# --- 3. random 64 KiB reads ----------------------------------------------------------------
if want 3; then
reader=$work/tmp/random_reads.py
cat > "$reader" <<'PY'
# 200 random 64 KiB reads (seeded) of a file (POSIX_FADV_RANDOM) or, over one keep-alive connection,
# an http URL (Range requests); prints reads per second.
import os, random, sys, time, http.client, urllib.parse
target, size, token = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else "")
random.seed(7)
offsets = [random.randrange(0, size // 65536) * 65536 for _ in range(200)]
start = time.time()
if target.startswith("http"):
    u = urllib.parse.urlparse(target)
    c = http.client.HTTPConnection(u.hostname, u.port)
    for o in offsets:
        h = {"Range": "bytes=%d-%d" % (o, o + 65535)}
        if token: h["X-Auth-Token"] = token
        c.request("GET", u.path, headers=h)
        assert len(c.getresponse().read()) == 65536
else:
    fd = os.open(target, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    for o in offsets: assert len(os.pread(fd, 65536, o)) == 65536
    os.close(fd)
print("%.0f" % (200 / (time.time() - start)))
PY
rbd_reader=$work/tmp/rbd_random_reads.py
cat > "$rbd_reader" <<'PY'
import random, sys, time, rados, rbd
conf, image, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(7)
offsets = [random.randrange(0, size // 65536) * 65536 for _ in range(200)]
with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx("images") as io, rbd.Image(io, image, read_only=True) as img:
    start = time.time()
    for o in offsets: assert len(img.read(o, 65536)) == 65536
    print("%.0f" % (200 / (time.time() - start)))
PY
one_gib=$((1 << 30))
iops() { cold; "$py" "$@"; }
nginx_sent() { sleep 0.3; awk '$1 == "GET" && $2 ~ /bench-1g$/ {s += $4} END {print s + 0}' "$work/nginx/access.log"; }
osd_read_bytes() { ceph -c "$conf" tell osd.0 perf dump 2>/dev/null | "$py" -c 'import json,sys; print(json.load(sys.stdin)["osd"]["op_out_bytes"])'; }
for s in local web ceph sw; do
  remount
  : > "$work/nginx/access.log"; before=$(osd_read_bytes)
  i_ours=$(iops "$reader" "$(path "$s" bench-1g)" "$one_gib")
  amp=-
  case $s in
    web) amp=$(ratio "$(nginx_sent)" $((200 * 65536))) ;;
    ceph) amp=$(ratio "$(( $(osd_read_bytes) - before ))" $((200 * 65536))) ;;
  esac
  case $s in
    local) alt="same reader on the datadir"; i_alt=$(iops "$reader" "$work/data/bench-1g" "$one_gib") ;;
    ceph) alt="librbd reads (python3-rbd)"; i_alt=$(iops "$rbd_reader" "$conf" bench-1g "$one_gib") ;;
    web) alt="Range GETs, keep-alive"; i_alt=$(iops "$reader" "$(native_url web bench-1g)" "$one_gib") ;;
    sw) alt="Range GETs, keep-alive"; i_alt=$(iops "$reader" "$(native_url sw bench-1g)" "$one_gib" "$token") ;;
  esac
  r=$(ratio "$i_ours" "$i_alt"); row "random 64K reads (IOPS)" "$s" "$i_ours" "$alt" "$i_alt" "$r" "-" ""
  [ "$amp" != - ] && row "  read amplification (x)" "$s" "$amp" "bytes served / bytes asked" "" "" "<= 2" "$amp <= 2"
done

fi

# --- 4. sha512sum of 1 GiB ---------------------------------------------------------------------
if want 4; then
for s in local web ceph sw; do
  t_ours=$(median sh -c "sha512sum < '$(path "$s" bench-1g)'")
  case $s in
    local) alt="sha512sum of the datadir file"; t_alt=$(median sh -c "sha512sum < '$work/data/bench-1g'") ;;
    ceph) alt="rbd export - | sha512sum"; t_alt=$(median sh -c "rbd -c '$conf' export --no-progress images/bench-1g - | sha512sum") ;;
    *) alt="curl | sha512sum"; t_alt=$(median sh -c "curl -sf '$(native_url "$s" bench-1g)' | sha512sum") ;;
  esac
  r=$(faster "$t_ours" "$t_alt"); row "sha512sum 1 GiB (s)" "$s" "$t_ours" "$alt" "$t_alt" "$r" ">= 0.9" "$r >= 0.9"
done

fi

# --- 5. rsync -a of 200 images of 5 MiB between writable stores -------------------------------
if want 5; then
mkdir -p "$work/set"
for i in $(seq -w 1 200); do head -c 5M /dev/urandom > "$work/set/set-$i"; done
rsync -a "$work/set/" "$mnt/ceph/"; rsync -a "$work/set/" "$mnt/sw/"; cp -a "$work/set/." "$work/data/"
set_names() { ls "$work/set"; }
clear_set() { # removes the set from store $1 (through the mount) or from the direct targets
  case $1 in
    local) (cd "$work/data" && rm -f set-*) ;;
    ceph) set_names | sed "s|^|$mnt/$1/|" | xargs rm -f; snaps_trimmed ;;
    sw) set_names | sed "s|^|$mnt/$1/|" | xargs rm -f ;;
    direct-local) rm -rf "$work/direct"; mkdir -p "$work/direct" ;;
    direct-ceph) for n in $(set_names); do rbd -c "$conf" rm --no-progress "many/$n" >/dev/null 2>&1 || true; done ;;
    direct-sw) for n in $(set_names); do swcurl -X DELETE "$url/direct/$n" -o /dev/null || true; done ;;
  esac
}
# Removing 200 images in Glance's layout (each with a protected snap) leaves the OSD trimming their
# snapshots in the background for seconds: the next timed run waits for that, whatever it copies.
snaps_trimmed() {
  for _ in $(seq 240); do
    ceph -c "$conf" pg ls snaptrim snaptrim_wait 2>/dev/null | grep -q '^[0-9]' || return 0
    sleep 0.5
  done
}
direct_copy() { # what an operator runs per image without the mount
  local from=$1 to=$2 n
  for n in $(set_names); do
    case $from-$to in
      local-ceph) rbd -c "$conf" import --no-progress "$work/data/$n" "many/$n" ;;
      local-sw) curl -sf -H "X-Auth-Token: $token" -T "$work/data/$n" "$url/direct/$n" -o /dev/null ;;
      ceph-local) rbd -c "$conf" export --no-progress "images/$n" "$work/direct/$n" ;;
      sw-local) curl -sf "$url/glance/$n" -o "$work/direct/$n" ;;
      ceph-sw) rbd -c "$conf" export --no-progress "images/$n" - | curl -sf -H "X-Auth-Token: $token" -T - "$url/direct/$n" -o /dev/null ;;
      sw-ceph) curl -sf "$url/glance/$n" | rbd -c "$conf" import --no-progress - "many/$n" ;;
    esac
  done
}
for pair in local:ceph local:sw ceph:local ceph:sw sw:local sw:ceph; do
  from=${pair%:*}; to=${pair#*:}
  t=(); a=()
  for i in $(seq "$runs"); do
    clear_set "$to"; clear_set "direct-$to"; cold
    t+=("$(elapsed rsync -a "$mnt/$from/" "$mnt/$to/" --include='set-*' --exclude='*')")
    cold
    a+=("$(elapsed direct_copy "$from" "$to")")
  done
  t_ours=$(printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
  t_alt=$(printf '%s\n' "${a[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
  t_again=$(elapsed rsync -a "$mnt/$from/" "$mnt/$to/" --include='set-*' --exclude='*')
  [ "$(ls "$mnt/$to" | grep -c '^set-')" = 200 ] || { echo "rsync $pair left $(ls "$mnt/$to" | grep -c '^set-') images" >&2; exit 1; }
  r=$(faster "$t_ours" "$t_alt"); row "rsync -a 200x5MiB (s)" "$pair" "$t_ours" "a loop of rbd/curl per image" "$t_alt" "$r" ">= 0.8" "$r >= 0.8"
  row "  no-op re-run (s)" "$pair" "$t_again" "" "" "" "< 5" "$t_again < 5"
  # The destination keeps the set it received (the same bytes): later pairs read it from there.
  clear_set "direct-$to"
done

fi

# --- 6. four parallel sequential readers ---------------------------------------------------------
if want 6; then
par_ours() { local i; for i in 1 2 3 4; do cat "$mnt/$1/bench-par$i" > /dev/null & done; wait; }
par_native() {
  local i; for i in 1 2 3 4; do
    case $1 in
      local) cat "$work/data/bench-par$i" > /dev/null & ;;
      ceph) rbd -c "$conf" export --no-progress "images/bench-par$i" - > /dev/null & ;;
      *) curl -sf "$(native_url "$1" "bench-par$i")" -o /dev/null & ;;
    esac
  done; wait
}
peak_rss() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$(daemon_pid "$mnt")/status"; }
# The peak so far (the images written through the mount, workloads 1-5), then the peak while each
# store's parallel readers run: writing 5 to clear_refs resets a process's VmHWM to its RSS now.
rss_before=$(peak_rss) rss=0
for s in local web ceph sw; do
  echo 5 > "/proc/$(daemon_pid "$mnt")/clear_refs"
  t_ours=$(median par_ours "$s"); peak=$(peak_rss); rss=$((peak > rss ? peak : rss))
  t_alt=$(median par_native "$s")
  case $s in local) alt="4 cat of datadir files" ;; ceph) alt="4 rbd export" ;; *) alt="4 curl" ;; esac
  r=$(faster "$t_ours" "$t_alt"); row "4 parallel readers (MB/s)" "$s" "$(mbs "$t_ours")" "$alt" "$(mbs "$t_alt")" "$r" ">= 0.9" "$r >= 0.9"
  row "  daemon peak RSS (MiB)" "$s" "$peak" "while they read" "" "" "<= 256" "$peak <= 256"
done
row "daemon peak RSS (MiB)" "all" "$rss" "4 parallel readers, any store" "" "" "<= 256" "$rss <= 256"
row "  peak before (MiB)" "all" "$rss_before" "images written, workloads 1-5" "" "" "<= 256" "$rss_before <= 256"

fi

# --- 7. writes into the file store -------------------------------------------------------------
if want 7; then
src=/dev/shm/glance-storefs-bench-workloads-1g
cp "$work/data/bench-1g" "$src"
w_ours() { cp "$src" "$mnt/local/written"; rm "$work/data/written"; }
w_direct() { cp "$src" "$work/direct/written" && sync "$work/direct/written"; rm "$work/direct/written"; }
t=(); a=()
for i in $(seq "$runs"); do  # alternated, as the disk's pace drifts
  cold; cat "$src" > /dev/null; t+=("$(elapsed w_ours)")
  cold; cat "$src" > /dev/null; a+=("$(elapsed w_direct)")
done
rm -f "$src"
t_ours=$(printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
t_alt=$(printf '%s\n' "${a[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
r=$(faster "$t_ours" "$t_alt"); row "cp 1 GiB into file store (MB/s)" local "$(mbs "$t_ours")" "cp + sync into the datadir" "$(mbs "$t_alt")" "$r" ">= 0.8" "$r >= 0.8"
fusermount3 -u "$mnt"

fi

# --- 8. scale: listings of 10,000 and 100,000 images ---------------------------------------------
if want 8; then
seed_files() { $py - "$work/many" "$1" "$2" <<'PY'
import os, sys
d, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(lo, hi):
    with open(os.path.join(d, "img-%06d" % i), "wb") as f: f.write(b"x" * (i % 4096 + 1))
PY
}
seed_swift() { local lo=$1 hi=$2 part
  for ((part = lo; part < hi; part += 10000)); do
    rm -rf "$work/tmp/objs"; mkdir -p "$work/tmp/objs"
    $py - "$work/tmp/objs" "$part" "$((part + 10000 < hi ? part + 10000 : hi))" <<'PY'
import os, sys
d, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(lo, hi):
    with open(os.path.join(d, "img-%06d" % i), "wb") as f: f.write(b"x" * (i % 4096 + 1))
PY
    (cd "$work/tmp/objs" && tar cf ../objs.tar img-*)
    swcurl -X PUT -H "Accept: application/json" --data-binary @"$work/tmp/objs.tar" "$url/many?extract-archive=tar" | grep -q '"Errors": \[\]' \
      || { echo "bulk upload to swift failed" >&2; exit 1; }
  done
  rm -rf "$work/tmp/objs" "$work/tmp/objs.tar"
}
seed_rbd() { # four processes, each its slice: librbd's create is a few round trips to the OSD and monitor
  local lo=$1 hi=$2 p step pids=()
  step=$(((hi - lo + 3) / 4))
  for p in 0 1 2 3; do
    $py - "$conf" "$((lo + p * step))" "$((lo + (p + 1) * step < hi ? lo + (p + 1) * step : hi))" <<'PY' &
import sys, time, rados, rbd
conf, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx("many") as io:
    for i in range(lo, hi):
        # A create failed once in 90,000 (errno 9, with four creating at once): asked again, and one
        # that had gone through before its error counts as made.
        for attempt in range(5):
            try:
                rbd.RBD().create(io, "img-%06d" % i, 1 << 20, old_format=False)
                break
            except rbd.ImageExists:
                break
            except rbd.OSError:
                if attempt == 4: raise
                time.sleep(0.5)
PY
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "seeding rbd images failed" >&2; exit 1; }; done
}
scale_mount() {
  findmnt -n "$work/scale" >/dev/null && fusermount3 -u "$work/scale"
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$bin" mount --config-file "$work/scale.conf" "$work/scale" -o ro
}
list_ours() { scale_mount; elapsed ls -l "$work/scale/$1"; }
find_ours() { scale_mount; elapsed find "$work/scale/$1" -printf '%s %T@ %p\n'; }
list_native() { cold; case $1 in
  many) elapsed ls -l "$work/many" ;;
  manysw) elapsed /usr/bin/swift --auth "$auth" -U test:tester -K testing list --lh many ;;
  manyrbd) elapsed rbd -c "$conf" ls -l many ;;
esac; }
declare -A first_ls
scale_row() { # STORE COUNT
  local s=$1 n=$2 t_ls t_find t_alt r rss t_rsync
  [ "$(ls "$work/scale/$s" 2>/dev/null | wc -l)" = "$n" ] || { scale_mount; [ "$(ls "$work/scale/$s" | wc -l)" = "$n" ] || { echo "$s lists $(ls "$work/scale/$s" | wc -l), not $n" >&2; exit 1; }; }
  local alt_runs=$runs; [ "$s" = manyrbd ] && [ "$n" -gt 10000 ] && alt_runs=1   # rbd ls -l: ~4 ms an image
  t_ls=$(median_of list_ours "$s"); t_find=$(median_of find_ours "$s"); t_alt=$(runs=$alt_runs median_of list_native "$s")
  scale_mount; ls -l "$work/scale/$s" > /dev/null
  rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$(daemon_pid "$work/scale")/status")
  case $s in many) alt="ls -l of the datadir" ;; manysw) alt="swift list --lh" ;; manyrbd) alt="rbd ls -l" ;; esac
  r=$(ratio "$t_ls" "$t_alt"); row "ls -l $n images (s)" "$s" "$t_ls" "$alt" "$t_alt" "$r" "<= 2" "$r <= 2"
  r=$(ratio "$t_find" "$t_alt"); row "find -printf $n images (s)" "$s" "$t_find" "$alt" "$t_alt" "$r" "<= 2" "$r <= 2"
  row "  daemon RSS listing (MiB)" "$s" "$rss" "" "" "" "<= 256" "$rss <= 256"
  if [ "$s" = many ]; then  # a no-op rsync -a: the destination holds the same files, sizes and times
    rm -rf "$work/tmp/copy"; cp -a "$work/many" "$work/tmp/copy"
    scale_mount; t_rsync=$(elapsed rsync -a "$work/scale/many/" "$work/tmp/copy/")
    cold; t_alt=$(elapsed rsync -a "$work/many/" "$work/tmp/copy/")
    rm -rf "$work/tmp/copy"
    r=$(ratio "$t_rsync" "$t_alt"); row "no-op rsync -a $n images (s)" "$s" "$t_rsync" "rsync -a of the datadir" "$t_alt" "$r" "<= 2" "$r <= 2"
  fi
  if [ -n "${first_ls[$s]:-}" ]; then
    local slope; slope=$(echo "scale=2; ($t_ls / ${first_ls[$s]}) / ($n / 10000)" | bc)
    row "  ls -l growth 10k -> $n" "$s" "$slope" "time ratio / count ratio" "" "" "~1 linear" "$slope <= 1.3"
  fi
  first_ls[$s]=$t_ls
}
echo "seeding 10,000 images per store..." >&2
seed_files 0 10000; seed_swift 0 10000; seed_rbd 0 10000
for s in many manysw manyrbd; do scale_row "$s" 10000; done
if [ "$scale" -gt 10000 ]; then seed_files 10000 "$scale"; scale_row many "$scale"; fi
if [ "$swift_scale" -gt 10000 ]; then seed_swift 10000 "$swift_scale"; scale_row manysw "$swift_scale"; fi
if [ "$rbd_scale" -gt 10000 ]; then seed_rbd 10000 "$rbd_scale"; scale_row manyrbd "$rbd_scale"; fi
fusermount3 -u "$work/scale"

fi
echo
echo "glance-storefs workloads — $(date -u +%Y-%m-%d), $(nproc) cores, qemu-img $(qemu-img --version | awk 'NR==1 {print $3}'), ceph $(ceph --version | awk '{print $3}'), swift $(dpkg-query -W -f='${Version}' swift-proxy), nginx; median of $runs"
echo "ratio: for times and rates, how much faster the mount is (alternative time / ours); for latency and listings, ours / alternative"
cat "$work/table"
