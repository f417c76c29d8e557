#!/usr/bin/env bash
# A real single-node Ceph (Debian's ceph 16.2) on 127.0.0.1 for the rbd store's tests and benchmark.
#   test-ceph.sh start DIR    one mon, one mgr (usage figures: statfs), one OSD and pool `images`, all
#                             state in DIR; prints DIR/ceph.conf
#   test-ceph.sh stop DIR     stops that cluster's daemons (by their pid files) and nothing else
#   test-ceph.sh relaunch DIR osd|mon   starts the OSD or the monitor again after it was killed
#                             (the fault tests; with memstore, a killed OSD comes back empty)
# cephx is on: client.admin (DIR/ceph.client.admin.keyring) and client.glance with Glance's documented
# caps on pool `images` (DIR/ceph.client.glance.keyring). The OSD keeps data in RAM (memstore, about
# twice the bytes stored); CEPH_OBJECTSTORE=bluestore puts it on a sparse file instead (benchmarks).
set -euo pipefail
source "$(dirname "$0")/daemon-lib.sh"
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
conf=$dir/ceph.conf

stop() {
  # The OSD first (it reports to the mon on the way down), then the mon.
  for pidfile in "$dir/run/osd.0.pid" "$dir/run/mgr.x.pid" "$dir/run/mon.a.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    # A test cluster's data is thrown away: no need to wait for a clean shutdown for long.
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile"
  done
}

case "$action" in
stop) stop; exit 0 ;;
relaunch)
  for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
  case "$3" in
  osd) ceph-osd -c "$conf" -i 0 </dev/null >>"$dir/log/setup.log" 2>&1 ;;
  mon) ceph-mon -c "$conf" -i a </dev/null >>"$dir/log/setup.log" 2>&1 ;;
  *) echo "usage: $0 relaunch DIR osd|mon" >&2; exit 2 ;;
  esac
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR | relaunch DIR osd|mon" >&2; exit 2 ;;
esac

require_packages ceph-mon ceph-osd ceph-mgr ceph-common python3-rbd python3-rados uuid-runtime

v2=$(free_port); v1=$(free_port)
fsid=$(uuidgen)
store=${CEPH_OBJECTSTORE:-memstore}
rm -rf "$dir"/{mon,mgr,osd,run,log,keyring,monmap,*.keyring}
mkdir -p "$dir"/{mon,mgr,osd,run,log}

cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]
mon initial members = a
public network = 127.0.0.1/32
ms bind port min = $(free_port)
ms bind port max = 65000
run dir = $dir/run
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
admin socket = $dir/run/\$name.asok
keyring = $dir/ceph.\$name.keyring
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
mon data avail crit = 0
mon data avail warn = 0
mon warn on pool no redundancy = false
mon allow pool delete = true
paxos propose interval = 0.05
paxos min wait = 0.01
osd objectstore = $store
memstore device bytes = 4294967296
bluestore block path = $dir/osd-block
bluestore block size = 34359738368
bluestore block create = true
osd memory target = 1073741824
[mon.a]
mon data = $dir/mon
[mgr.x]
mgr data = $dir/mgr
[osd.0]
osd data = $dir/osd
keyring = $dir/osd/keyring
[client]
admin socket = $dir/run/\$name.\$pid.asok
CONF

ceph-authtool --create-keyring "$dir/ceph.mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$dir/ceph.mon.keyring" --import-keyring "$dir/ceph.client.admin.keyring" >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/ceph.mon.keyring" 2>>"$dir/log/setup.log"
# Detached from every descriptor the caller let us inherit (a test runner's pipes).
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
ceph-mon -c "$conf" -i a </dev/null >>"$dir/log/setup.log" 2>&1

trap 'stop' ERR
timeout 30 ceph -c "$conf" auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' -o "$dir/mgr/keyring"
ceph-mgr -c "$conf" -i x --keyring "$dir/mgr/keyring" </dev/null >>"$dir/log/setup.log" 2>&1
osd_uuid=$(uuidgen)
secret=$(ceph-authtool --gen-print-key)
printf '{"cephx_secret": "%s"}' "$secret" > "$dir/osd-secret.json"
id=$(timeout 60 ceph -c "$conf" osd new "$osd_uuid" -i "$dir/osd-secret.json")
[ "$id" = 0 ] || { echo "unexpected osd id '$id'" >&2; exit 1; }
ceph-authtool --create-keyring "$dir/osd/keyring" --name osd.0 --add-key "$secret" >/dev/null
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/setup.log" 2>&1
ceph-osd -c "$conf" -i 0 </dev/null >>"$dir/log/setup.log" 2>&1
for _ in $(seq 300); do
  timeout 10 ceph -c "$conf" osd dump 2>/dev/null | grep -q '^osd.0 up' && break
  sleep 0.1
done
timeout 10 ceph -c "$conf" osd dump | grep -q '^osd.0 up' || { echo "osd.0 did not come up (see $dir/log)" >&2; exit 1; }
timeout 60 ceph -c "$conf" osd pool create images 8 8 >/dev/null 2>&1
timeout 60 rbd -c "$conf" pool init images
# Glance's documented user for its rbd store.
timeout 30 ceph -c "$conf" auth get-or-create client.glance mon 'profile rbd' osd 'profile rbd pool=images' \
  -o "$dir/ceph.client.glance.keyring"
echo "$conf"
