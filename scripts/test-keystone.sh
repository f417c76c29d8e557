#!/usr/bin/env bash
# A real Keystone (Debian's python3-keystone, sqlite, fernet tokens) on 127.0.0.1 and a Swift proxy
# that authenticates with it (keystonemiddleware's authtoken + Swift's keystoneauth), on the
# backends of a Swift that `test-swift.sh start SWIFT_DIR` started. For the tests of auth v3.
#   test-keystone.sh start DIR SWIFT_DIR   prints "KEYSTONE_PORT PROXY_PORT" (also in DIR/ports)
#   test-keystone.sh stop DIR              stops what `start DIR` started (by PID) and nothing else
#   test-keystone.sh relaunch DIR NAME     starts daemon NAME (keystone, proxy-keystone) again, as
#                                          `start` did: for the fault tests, which kill it
# Keystone holds: project `images` (domain Default) with user `glance` / `glancepw` (role member),
# project `service` with user `swift` / `swiftpw` (role admin, for the proxy's authtoken), and the
# object-store's endpoints http://127.0.0.1:PROXY_PORT/v1/AUTH_%(project_id)s (public, admin) and
# http://localhost:PROXY_PORT/... (internal) in region RegionOne. For the cinder store: project `service`
# also holds user `cinder` / `cinderpw` (role admin, for cinder-api's authtoken), and the volumev3
# endpoints http://127.0.0.1:CINDER_PORT/v3/%(project_id)s (public, internal, admin) name a port reserved
# here (DIR/cinder.port) on which `test-cinder.sh start` later serves Cinder's API.
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

source "$(dirname "$0")/daemon-lib.sh"
case "$action" in
stop) stop_launched; exit 0 ;;
relaunch) relaunch "$3"; exit 0 ;;
start) ;;
*) echo "usage: $0 start DIR SWIFT_DIR | stop DIR | relaunch DIR NAME" >&2; exit 2 ;;
esac
swift_dir=$(cd "$3" && pwd)

require_packages python3-keystone python3-keystonemiddleware curl
trap 'stop_launched' ERR
keystone_port=$(free_port); proxy_port=$(free_port); cinder_port=$(free_port)
echo "$cinder_port" > "$dir/cinder.port"
memcache_port=$(cat "$swift_dir/memcache.port")
mkdir -p "$dir/fernet" "$dir/credential" "$dir/log"
: > "$dir/pids"
cat > "$dir/keystone.conf" <<CONF
[DEFAULT]
log_file = $dir/log/keystone.log
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet
[fernet_receipts]
key_repository = $dir/fernet
[credential]
key_repository = $dir/credential
[identity]
# bcrypt's fewest rounds: 12 (the default) take 0.3 s of CPU per login, and a test run's parallel
# logins queued behind one another in this one process until requests through the proxy (which
# checks each new token with Keystone) timed out.
password_hash_rounds = 4
[cache]
# Validating a token costs ~0.2 s of queries without a cache: a dozen new tokens at once (one per
# test) made the proxy wait seconds for Keystone. Issued tokens are cached for their validation.
enabled = true
backend = dogpile.cache.memory
CONF
# keystone-manage prints eventlet's complaints at exit; its status says whether it worked.
manage() { keystone-manage --config-file "$dir/keystone.conf" "$@" >>"$dir/log/manage.log" 2>&1; }
manage db_sync
# Write-ahead logging: Keystone's connections keep read transactions open between requests, which
# in sqlite's default mode make every later write fail with "database is locked".
/usr/bin/python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$dir/keystone.db"
manage fernet_setup --keystone-user root --keystone-group root
manage credential_setup --keystone-user root --keystone-group root
manage bootstrap --bootstrap-password adminpw --bootstrap-region-id RegionOne \
  --bootstrap-public-url "http://127.0.0.1:$keystone_port/v3/" --bootstrap-internal-url "http://127.0.0.1:$keystone_port/v3/" \
  --bootstrap-admin-url "http://127.0.0.1:$keystone_port/v3/"

# Set-up through keystone-wsgi-public's own server (one request at a time).
launch keystone-setup keystone-wsgi-public --host 127.0.0.1 --port "$keystone_port" -- --config-file "$dir/keystone.conf"
setup_pid=$(tail -n 1 "$dir/pids")
wait_for "http://127.0.0.1:$keystone_port/v3" keystone

# Projects, users, roles and the object-store endpoints, through Keystone's API (one process: the
# openstack CLI takes seconds per call).
PYTHONPATH="$(dirname "$0")" /usr/bin/python3 - "$keystone_port" "$proxy_port" "$cinder_port" <<'PY'
import sys
from keystone_admin import KeystoneAdmin
ks, proxy, cinder = sys.argv[1], sys.argv[2], sys.argv[3]
admin = KeystoneAdmin(ks)
call, roles = admin.call, admin.roles
for project, user, password, role in (("images", "glance", "glancepw", "member"), ("service", "swift", "swiftpw", "admin"),
                                      ("service", "cinder", "cinderpw", "admin")):
    known = call("GET", f"/projects?name={project}")[1]["projects"]
    pid = known[0]["id"] if known else call("POST", "/projects", {"project": {"name": project, "domain_id": "default"}})[1]["project"]["id"]
    uid = call("POST", "/users", {"user": {"name": user, "domain_id": "default", "password": password}})[1]["user"]["id"]
    call("PUT", f"/projects/{pid}/users/{uid}/roles/{roles[role]}")
sid = call("POST", "/services", {"service": {"type": "object-store", "name": "swift"}})[1]["service"]["id"]
# The internal endpoint names the same proxy as "localhost": a test can tell which one was chosen.
for interface, host in (("public", "127.0.0.1"), ("internal", "localhost"), ("admin", "127.0.0.1")):
    call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": interface, "region_id": "RegionOne",
                                             "url": f"http://{host}:{proxy}/v1/AUTH_%(project_id)s"}})
sid = call("POST", "/services", {"service": {"type": "volumev3", "name": "cinderv3"}})[1]["service"]["id"]
for interface in ("public", "internal", "admin"):
    call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": interface, "region_id": "RegionOne",
                                             "url": f"http://127.0.0.1:{cinder}/v3/%(project_id)s"}})
PY
kill "$setup_pid"
for _ in $(seq 50); do kill -0 "$setup_pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$setup_pid" 2>/dev/null || true
while kill -0 "$setup_pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$setup_pid/status" 2>/dev/null; do sleep 0.1; done
# Then the same application behind a threading server: one request at a time, the proxy's token
# checks would queue behind the tests' logins.
launch keystone /usr/bin/python3 -c '
import socketserver, sys, wsgiref.simple_server as wss
port, conf = int(sys.argv[2]), sys.argv[3]
sys.argv[1:] = ["--config-file", conf]
from keystone.server.wsgi import initialize_public_application
class Server(socketserver.ThreadingMixIn, wss.WSGIServer):
    daemon_threads = True
wss.make_server("127.0.0.1", port, initialize_public_application(), server_class=Server).serve_forever()
' keystone "$keystone_port" "$dir/keystone.conf"
wait_for "http://127.0.0.1:$keystone_port/v3" keystone

cat > "$dir/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $proxy_port
workers = 0
swift_dir = $swift_dir/etc
log_name = proxy-keystone
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl authtoken keystoneauth copy slo dlo versioned_writes symlink proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:$keystone_port
auth_url = http://127.0.0.1:$keystone_port
auth_type = password
interface = public
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = swiftpw
delay_auth_decision = True
memcached_servers = 127.0.0.1:$memcache_port
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
CONF
cat "$swift_dir/etc/proxy-filters.conf" >> "$dir/proxy-server.conf"
launch proxy-keystone swift-proxy-server "$dir/proxy-server.conf"
wait_for "http://127.0.0.1:$proxy_port/healthcheck" "the keystone proxy"
echo "$keystone_port $proxy_port" | tee "$dir/ports"
