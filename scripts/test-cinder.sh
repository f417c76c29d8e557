#!/usr/bin/env bash
# A real Cinder (Debian's cinder 21.3: cinder-api, cinder-scheduler, cinder-volume) on 127.0.0.1 for the
# cinder store's tests and benchmark, with two volume backends:
#   rbd-1  RBD on the run's Ceph (`test-ceph.sh start`): pool `volumes`, cephx user client.cinder (its
#          keyring beside the cluster's ceph.conf, where that conf's `keyring` setting finds it)
#   nfs-1  NFS served by nfs-ganesha (VFS FSAL, NFSv3 through rpcbind) from a tmpfs export
# and volume types `rbd` and `nfs` selecting them. Keystone authenticates (`test-keystone.sh start`
# reserved Cinder's port and made its service user and volumev3 endpoints).
#   test-cinder.sh start DIR CEPH_CONF KEYSTONE_DIR   prints Cinder's port (also in DIR/port)
#   test-cinder.sh stop DIR            stops what `start DIR` started (by PID) and nothing else
#   test-cinder.sh relaunch DIR NAME   starts daemon NAME (cinder-api, ...) again, as `start` did;
#                                      `ganesha` stops the NFS server and starts a fresh one
# Cinder's database is a private PostgreSQL 15 (with sqlite, concurrent requests fail: "database is
# locked"), its message bus RabbitMQ as a plain process. cinder-volume runs in a private mount
# namespace where /usr/sbin/mount.nfs is a stand-in that bind-mounts the export (this kernel has no
# NFS client): that serves only Cinder's own mount; the cinder store's data path is real NFS to ganesha.
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
source "$(dirname "$0")/daemon-lib.sh"

stop() {
  # Cinder's services fork workers (one per backend for cinder-volume) that outlive a parent killed
  # alone for seconds: each service's whole process group (launch's setsid made it one).
  for name in cinder-api cinder-scheduler cinder-volume; do
    [ -s "$dir/log/$name.pid" ] || continue
    kill -- "-$(cat "$dir/log/$name.pid")" 2>/dev/null || true
  done
  for name in cinder-api cinder-scheduler cinder-volume; do
    [ -s "$dir/log/$name.pid" ] || continue
    for _ in $(seq 50); do pgrep -g "$(cat "$dir/log/$name.pid")" >/dev/null || break; sleep 0.1; done
    kill -9 -- "-$(cat "$dir/log/$name.pid")" 2>/dev/null || true
  done
  stop_launched
  # rpcbind and ganesha are started apart (they detach, or own port 111): by their pid files.
  for pidfile in "$dir/run/ganesha.pid" "$dir/run/rpcbind.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  # epmd (RabbitMQ's port mapper) detaches: found by its private port.
  if [ -s "$dir/epmd.port" ]; then
    pkill -f "epmd.*-port $(cat "$dir/epmd.port")" 2>/dev/null || true
    for pid in $(pgrep -x epmd); do
      { tr '\0' ' ' < "/proc/$pid/environ"; } 2>/dev/null | grep -q "ERL_EPMD_PORT=$(cat "$dir/epmd.port")" && kill "$pid" 2>/dev/null || true
    done
  fi
  mountpoint -q "$dir/export" && umount "$dir/export" || true
}

# ganesha in the background (it owns its pid file), answering NFS before this returns.
start_ganesha() {
  ganesha.nfsd -F -f "$dir/ganesha.conf" -L "$dir/log/ganesha.log" -p "$dir/run/ganesha.pid" \
    -N NIV_WARN </dev/null >>"$dir/log/ganesha.out" 2>&1 &
  disown
  local port; port=$(awk '{print $1}' "$dir/nfs.ports")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "ganesha did not listen on $port; logs in $dir/log" >&2
  return 1
}

case "$action" in
stop) stop; exit 0 ;;
relaunch)
  if [ "$3" = ganesha ]; then
    # A fresh ganesha: it lets go of files deleted behind its back (and of their space).
    pid=$(cat "$dir/run/ganesha.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
    start_ganesha
    exit 0
  fi
  relaunch "$3"; exit 0 ;;
start) ;;
*) echo "usage: $0 start DIR CEPH_CONF KEYSTONE_DIR | stop DIR | relaunch DIR NAME" >&2; exit 2 ;;
esac
ceph_conf=$3
keystone_dir=$(cd "$4" && pwd)
ceph_dir=$(dirname "$ceph_conf")

require_packages cinder-api cinder-scheduler cinder-volume rabbitmq-server postgresql-15 python3-psycopg2 \
  nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common ceph-common curl
trap 'stop' ERR
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
rm -rf "$dir"/{pg,pgsock,rabbit,log,run,state,mnt,bin}
mkdir -p "$dir"/{pgsock,rabbit,log,run,state,mnt,bin,export,locks}
: > "$dir/pids"
keystone_port=$(awk '{print $1}' "$keystone_dir/ports")
port=$(cat "$keystone_dir/cinder.port")
pg_port=$(free_port); rabbit_port=$(free_port); rabbit_dist=$(free_port); epmd_port=$(free_port)
nfs_port=$(free_port); mnt_port=$(free_port); nlm_port=$(free_port); rquota_port=$(free_port)
echo "$epmd_port" > "$dir/epmd.port"

# PostgreSQL: its own cluster, socket only, trusted (nothing but loopback tests reach it). It runs as
# user postgres, who must reach its directories (mktemp -d makes DIR 0700).
chmod 755 "$dir"
chown postgres: "$dir/pgsock"
install -d -o postgres -g postgres "$dir/pg"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_postgres /usr/lib/postgresql/15/bin/initdb -D "$dir/pg" --auth=trust -U postgres >"$dir/log/initdb.log" 2>&1 ||
  { echo "initdb failed: $(tail -n 3 "$dir/log/initdb.log")" >&2; exit 1; }
launch postgres setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/15/bin/postgres \
  -D "$dir/pg" -p "$pg_port" -k "$dir/pgsock" -c listen_addresses= -c fsync=off -c max_connections=200

# RabbitMQ as a plain process (the /usr/sbin wrapper switches user): own node name, ports and data;
# one Erlang scheduler that sleeps when idle (its default spins, taking CPU the tests need).
cat > "$dir/rabbit/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$rabbit_port
loopback_users = none
CONF
echo '[].' > "$dir/rabbit/enabled_plugins"
rabbit=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin | head -n 1)
launch rabbitmq env HOME="$dir/rabbit" RABBITMQ_NODENAME="storefs$rabbit_port@localhost" \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$rabbit_port" RABBITMQ_DIST_PORT="$rabbit_dist" \
  ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" \
  RABBITMQ_LOGS="$dir/log/rabbitmq-server.log" RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins" RABBITMQ_CONF_ENV_FILE=/nonexistent \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none" \
  "$rabbit/rabbitmq-server"

# Ceph: the volumes pool and Cinder's user (caps as Cinder's documentation gives them).
timeout 60 ceph -c "$ceph_conf" osd pool create volumes 8 8 >/dev/null 2>&1
timeout 60 rbd -c "$ceph_conf" pool init volumes
timeout 30 ceph -c "$ceph_conf" auth get-or-create client.cinder mon 'profile rbd' \
  osd 'profile rbd pool=volumes, profile rbd pool=images' -o "$ceph_dir/ceph.client.cinder.keyring"

# NFS: rpcbind (port 111: the only one on this machine) and ganesha exporting a tmpfs.
# ganesha keeps files deleted behind its back open (Cinder deletes volumes through its own mount of
# the export) and their space with them, for a while: the benchmark asks for more (CINDER_EXPORT_SIZE).
mountpoint -q "$dir/export" || mount -t tmpfs -o "size=${CINDER_EXPORT_SIZE:-8g},mode=0777" storefs-cinder-export "$dir/export"
if ! pgrep -x rpcbind >/dev/null; then
  setsid rpcbind -f </dev/null >>"$dir/log/rpcbind.log" 2>&1 &
  echo $! > "$dir/run/rpcbind.pid"
fi
cat > "$dir/ganesha.conf" <<CONF
NFS_CORE_PARAM {
  Bind_addr = 127.0.0.1;
  NFS_Port = $nfs_port; MNT_Port = $mnt_port; NLM_Port = $nlm_port; Rquota_Port = $rquota_port;
  Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
  Protocols = 3, 4;
  # NFSv3 clients mount the pseudo path (/export, what Cinder's shares file names), as v4 ones do.
  Mount_Path_Pseudo = true;
}
NFSV4 { Graceless = true; }
MDCACHE { Dir_Chunk = 0; }
EXPORT {
  Export_Id = 1; Path = $dir/export; Pseudo = /export;
  Access_Type = RW; Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP;
  Attr_Expiration_Time = 0;
  SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
CONF
for _ in $(seq 50); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
echo "$nfs_port $mnt_port" > "$dir/nfs.ports"
start_ganesha
echo "127.0.0.1:/export" > "$dir/nfs_shares"

# Cinder's own mount of the share, in cinder-volume's private namespace: a bind mount of the export.
cat > "$dir/bin/mount.nfs" <<SH
#!/bin/sh
# Stand-in for mount.nfs inside cinder-volume's mount namespace (this kernel has no NFS client).
[ \$# -ge 2 ] || { echo "usage: mount.nfs remotetarget dir [-rvVwfnsh] [-o nfsoptions]"; exit 1; }
exec mount --bind "$dir/export" "\$2"
SH
chmod 755 "$dir/bin/mount.nfs"

secret_uuid=$(uuidgen)
cat > "$dir/cinder.conf" <<CONF
[DEFAULT]
host = storefs-test
state_path = $dir/state
transport_url = rabbit://guest:guest@127.0.0.1:$rabbit_port/
auth_strategy = keystone
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $port
osapi_volume_workers = 1
enabled_backends = rbd-1,nfs-1
graceful_shutdown_timeout = 2
# The volume service tells the scheduler its pools every 10 s (Cinder's default: 60 s, with the
# announcements at start lost when the scheduler is not listening yet: no pool for a minute or more).
periodic_interval = 10
periodic_fuzzy_delay = 0
log_dir = $dir/log
rootwrap_config = /etc/cinder/rootwrap.conf
my_ip = 127.0.0.1
[database]
connection = postgresql+psycopg2://postgres@/cinder?host=$dir/pgsock&port=$pg_port
[oslo_concurrency]
lock_path = $dir/locks
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$keystone_port
auth_url = http://127.0.0.1:$keystone_port
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = cinder
password = cinderpw
[rbd-1]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = rbd-1
rbd_pool = volumes
rbd_ceph_conf = $ceph_conf
rbd_user = cinder
rbd_secret_uuid = $secret_uuid
[nfs-1]
volume_driver = cinder.volume.drivers.nfs.NfsDriver
volume_backend_name = nfs-1
nfs_shares_config = $dir/nfs_shares
nfs_mount_point_base = $dir/mnt
nfs_sparsed_volumes = true
nfs_snapshot_support = false
nas_secure_file_operations = false
nas_secure_file_permissions = false
CONF

for _ in $(seq 100); do [ -S "$dir/pgsock/.s.PGSQL.$pg_port" ] && break; sleep 0.1; done
as_postgres psql -h "$dir/pgsock" -p "$pg_port" -U postgres -qc 'CREATE DATABASE cinder' >/dev/null
cinder-manage --config-file "$dir/cinder.conf" db sync >>"$dir/log/manage.log" 2>&1
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$rabbit_port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$rabbit_port") 2>/dev/null || { echo "RabbitMQ did not listen; logs in $dir/log" >&2; stop; exit 1; }

# cinder-volume first (started with the scheduler, both announcements can be lost), in its own mount
# namespace with the mount.nfs stand-in.
launch cinder-volume unshare -m --propagation private sh -c \
  "mount --bind '$dir/bin/mount.nfs' /usr/sbin/mount.nfs && exec cinder-volume --config-file '$dir/cinder.conf'"
launch cinder-scheduler cinder-scheduler --config-file "$dir/cinder.conf"
launch cinder-api cinder-api --config-file "$dir/cinder.conf"
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -s "http://127.0.0.1:$port/" >/dev/null || { echo "cinder-api did not answer; logs in $dir/log" >&2; stop; exit 1; }

# Volume types for the two backends, and the wait for the scheduler to know both pools (as admin).
/usr/bin/python3 - "$keystone_port" "$port" <<'PY'
import json, sys, time, urllib.request, urllib.error
ks, cinder = sys.argv[1], sys.argv[2]
def call(method, url, body=None, token=None, timeout=30):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.headers, json.loads(r.read() or b"{}")
headers, body = call("POST", f"http://127.0.0.1:{ks}/v3/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": "adminpw"}}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
token, project = headers["X-Subject-Token"], body["token"]["project"]["id"]
base = f"http://127.0.0.1:{cinder}/v3/{project}"
for name in ("rbd", "nfs"):
    vt = call("POST", f"{base}/types", {"volume_type": {"name": name, "os-volume-type-access:is_public": True}}, token)[1]["volume_type"]
    call("POST", f"{base}/types/{vt['id']}/extra_specs", {"extra_specs": {"volume_backend_name": f"{name}-1"}}, token)
# The tests' project may hold more than Cinder's default 10 volumes (tests run in parallel).
projects = call("GET", f"http://127.0.0.1:{ks}/v3/projects?name=images", token=token)[1]["projects"]
call("PUT", f"{base}/os-quota-sets/{projects[0]['id']}", {"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1}}, token)
deadline = time.time() + 90
while True:
    try:
        pools = call("GET", f"{base}/scheduler-stats/get_pools", token=token, timeout=70)[1]["pools"]
        if {p["name"].split("#")[-1] for p in pools} >= {"rbd-1", "nfs-1"}: break
    except (urllib.error.URLError, OSError):
        pass
    if time.time() > deadline: sys.exit("the scheduler did not see both volume backends")
    time.sleep(0.5)
PY
echo "$port" | tee "$dir/port"
