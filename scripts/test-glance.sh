#!/usr/bin/env bash
# Debian's glance-api (a plain foreground process, sqlite, Keystone's authtoken pipeline) on
# 127.0.0.1, authenticating with the Keystone `test-keystone.sh start KEYSTONE_DIR` started: for the
# tests of Glance's catalogue in the mount and of `audit`.
#   test-glance.sh start DIR KEYSTONE_DIR [CEPH_CONF [SWIFT_DIR]]   prints Glance's port (also in DIR/port)
#   test-glance.sh stop DIR                                         stops what `start DIR` started (by PID)
# Stores: `fast` and `slow` (file, datadirs DIR/stores/fast and DIR/stores/slow; `fast` the default),
# the reserved stores in DIR/stores/staging and DIR/stores/tasks, and with CEPH_CONF an rbd store
# `ceph` in the pool `glance-audit` of that Ceph, with SWIFT_DIR a swift store `obj` (container
# `glance-audit` of account AUTH_test on that Swift, tempauth; images over 1 MiB in 1 MiB segments). DIR/glance-api.conf is the operator's file as
# Glance reads it: the tests mount and audit with it unchanged. Keystone gains user `glance-service`
# (project service, role admin) for glance-api's authtoken, and the `image` endpoints
# http://127.0.0.1:PORT (public) and http://localhost:PORT (internal).
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

source "$(dirname "$0")/daemon-lib.sh"
case "$action" in
stop) stop_launched; exit 0 ;;
start) ;;
*) echo "usage: $0 start DIR KEYSTONE_DIR [CEPH_CONF] | stop DIR" >&2; exit 2 ;;
esac
keystone_dir=$(cd "$3" && pwd)
ceph_conf=${4:-}
swift_dir=${5:-}

require_packages glance-api python3-keystonemiddleware curl
trap 'stop_launched' ERR
read -r keystone_port _ < "$keystone_dir/ports"
port=$(free_port)
echo "$port" > "$dir/port"
mkdir -p "$dir/log" "$dir/stores/fast" "$dir/stores/slow" "$dir/stores/staging" "$dir/stores/tasks"
: > "$dir/pids"

PYTHONPATH="$(dirname "$0")" /usr/bin/python3 - "$keystone_port" "$port" <<'PY'
import sys
from keystone_admin import KeystoneAdmin
ks, glance = sys.argv[1], sys.argv[2]
admin = KeystoneAdmin(ks)
call, roles = admin.call, admin.roles
pid = call("GET", "/projects?name=service")[1]["projects"][0]["id"]
users = call("GET", "/users?name=glance-service")[1]["users"]
uid = users[0]["id"] if users else call("POST", "/users", {"user": {"name": "glance-service", "domain_id": "default", "password": "glance-service-pw"}})[1]["user"]["id"]
call("PUT", f"/projects/{pid}/users/{uid}/roles/{roles['admin']}")
# The image service's endpoints name this run's port (a second start replaces them).
for service in call("GET", "/services?type=image")[1]["services"]:
    for endpoint in call("GET", f"/endpoints?service_id={service['id']}")[1]["endpoints"]:
        call("DELETE", f"/endpoints/{endpoint['id']}")
    call("DELETE", f"/services/{service['id']}")
sid = call("POST", "/services", {"service": {"type": "image", "name": "glance"}})[1]["service"]["id"]
for interface, host in (("public", "127.0.0.1"), ("internal", "localhost"), ("admin", "127.0.0.1")):
    call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": interface, "region_id": "RegionOne",
                                             "url": f"http://{host}:{glance}"}})
PY

backends="fast:file, slow:file"
rbd_section=""
if [ -n "$ceph_conf" ]; then
  ceph -c "$ceph_conf" osd pool create glance-audit 8 >/dev/null 2>&1 || true
  rbd -c "$ceph_conf" pool init glance-audit >/dev/null 2>&1 || true
  backends="$backends, ceph:rbd"
  rbd_section="[ceph]
rbd_store_pool = glance-audit
rbd_store_ceph_conf = $ceph_conf
rbd_store_user = admin
store_description = Ceph (rbd)"
fi
swift_section=""
if [ -n "$swift_dir" ]; then
  read -r swift_port _ < "$swift_dir/ports"
  backends="$backends, obj:swift"
  cat > "$dir/glance-swift.conf" <<CONF
[ref1]
auth_address = http://127.0.0.1:$swift_port/auth/v1.0
user = test:tester
key = testing
auth_version = 1
CONF
  swift_section="[obj]
swift_store_config_file = $dir/glance-swift.conf
default_swift_reference = ref1
swift_store_container = glance-audit
swift_store_create_container_on_put = True
swift_store_large_object_size = 1
swift_store_large_object_chunk_size = 1
store_description = Swift"
fi
cat > "$dir/glance-api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
workers = 0
log_file = $dir/log/glance-api.log
enabled_backends = $backends
show_multiple_locations = True
show_image_direct_url = True
enabled_import_methods = [glance-direct,web-download,copy-image]
[database]
connection = sqlite:///$dir/glance.db
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$keystone_port
auth_url = http://127.0.0.1:$keystone_port
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance-service
password = glance-service-pw
region_name = RegionOne
[oslo_policy]
enforce_new_defaults = False
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = $dir/stores/fast
store_description = Fast disks
[slow]
filesystem_store_datadir = $dir/stores/slow
store_description = Slow disks
$rbd_section
$swift_section
[os_glance_staging_store]
filesystem_store_datadir = $dir/stores/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/stores/tasks
CONF
glance-manage --config-file "$dir/glance-api.conf" db_sync >>"$dir/log/manage.log" 2>&1
launch glance-api /usr/bin/glance-api --config-file "$dir/glance-api.conf"
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1 && { echo "$port"; exit 0; }
  sleep 0.1
done
echo "glance-api did not answer at http://127.0.0.1:$port; logs in $dir/log" >&2
stop_launched
exit 1
