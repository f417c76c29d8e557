#!/usr/bin/env bash
# A real single-node Swift (Debian's 2.30) on 127.0.0.1 for the swift store's tests and benchmark.
#   test-swift.sh start DIR   prints "PROXY_PORT SHORT_TOKEN_PORT TLS_PORT" once the proxies answer
#   test-swift.sh stop DIR    stops what `start DIR` started (by the PIDs it recorded) and nothing else
#   test-swift.sh relaunch DIR NAME   starts daemon NAME (proxy, object...) again, as `start` did
#                             (its PID in DIR/log/NAME.pid): for the fault tests, which kill it
# One replica, one device per ring on a plain directory (DIR/srv/d1), tempauth with the account
# AUTH_test (user test:tester, key testing, .admin) behind memcached, AUTH_revoke (user
# revoke:tester) for a test that revokes its token without touching anyone else's, AUTH_quota
# (quota:tester) whose quota reseller:admin sets (account_quotas) for the out-of-space tests, and
# AUTH_secret (secret:tester) whose key, swift-key-7Qe3vR, the secrets test looks for everywhere. Two proxies share the
# backends: PROXY_PORT with day-long tokens, SHORT_TOKEN_PORT whose tokens (user short:tester) live 5 seconds (the
# test of a token expiring in the middle of a read), TLS_PORT like PROXY_PORT over https with a
# certificate signed by DIR/tls/ca.pem. DIR/ports holds the three ports, DIR/memcache.port
# memcached's (flushing it revokes every token). With STOREFS_SWIFT_ACCOUNT_USAGE=1 the accounts'
# usage follows the writes within a second or two (a container-updater every second, account info
# re-read every second by the proxies), as account quotas need: the out-of-space tests' own Swift.
# Not by default: the updater re-reads every container's database at each pass, and a test run
# makes hundreds of containers.
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

source "$(dirname "$0")/daemon-lib.sh"
case "$action" in
stop) stop_launched; exit 0 ;;
relaunch) relaunch "$3"; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR | relaunch DIR NAME" >&2; exit 2 ;;
esac

require_packages swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached curl openssl
# Debian's packages start nothing here (no init system in use); ours run apart, with their own configs.
trap 'stop_launched' ERR
usage=${STOREFS_SWIFT_ACCOUNT_USAGE:-0}
recheck=60; [ "$usage" = 1 ] && recheck=1
mkdir -p "$dir/etc" "$dir/srv/d1" "$dir/log" "$dir/run"
: > "$dir/pids"
memcache_port=$(free_port); account_port=$(free_port); container_port=$(free_port); object_port=$(free_port)
proxy_port=$(free_port); short_port=$(free_port); tls_port=$(free_port)
test_certificate "$dir/tls"

# Rings in one python process (the swift-ring-builder CLI takes ~8 s for the three).
/usr/bin/python3 - "$dir/etc" "$account_port" "$container_port" "$object_port" <<'PY'
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], dict(zip(("account", "container", "object"), map(int, sys.argv[2:5])))
for kind, port in ports.items():
    b = RingBuilder(10, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1", "weight": 100})
    b.rebalance()
    b.get_ring().save(f"{etc}/{kind}.ring.gz")
PY

for kind in account container object; do
  port_var=${kind}_port
  cat > "$dir/etc/$kind-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${!port_var}
workers = 0
devices = $dir/srv
mount_check = false
swift_dir = $dir/etc
log_name = $kind-server
# The servers run as root here (files made as root): so must the updater (default: user swift).
user = root
recon_cache_path = $dir/run
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
[${kind}-replicator]
[${kind}-updater]
interval = 1
concurrency = 1
[${kind}-auditor]
CONF
done

# The filters every proxy's pipeline has but auth (test-keystone.sh's proxy uses them too).
{
  printf '[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:%s\n' "$memcache_port"
  for filter in catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk tempurl copy slo dlo versioned_writes symlink account_quotas; do
    printf '[filter:%s]\nuse = egg:swift#%s\n' "$filter" "${filter//-/_}"
  done
} > "$dir/etc/proxy-filters.conf"
proxy_conf() {  # PORT TOKEN_LIFE USER...
  cat <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
swift_dir = $dir/etc
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl tempauth account_quotas copy slo dlo versioned_writes symlink proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
recheck_account_existence = $recheck
[filter:tempauth]
use = egg:swift#tempauth
token_life = $2
$(for user in "${@:3}"; do echo "user_$user = testing .admin"; done)
user_reseller_admin = testing .reseller_admin
user_secret_tester = swift-key-7Qe3vR .admin
CONF
  cat "$dir/etc/proxy-filters.conf"
}
proxy_conf "$proxy_port" 86400 test_tester revoke_tester quota_tester > "$dir/etc/proxy-server.conf"
# tempauth hands out a user's unexpired token again, from any proxy sharing memcached: the short
# tokens are another user's (short:tester, key testing, account AUTH_short).
proxy_conf "$short_port" 5 short_tester > "$dir/etc/proxy-short.conf"
# Swift's own TLS ("for testing only", which this is).
proxy_conf "$tls_port" 86400 test_tester | sed "s#^bind_port = .*#&\ncert_file = $dir/tls/server.pem\nkey_file = $dir/tls/server.key#" \
  > "$dir/etc/proxy-tls.conf"

launch memcached memcached -l 127.0.0.1 -p "$memcache_port" -U 0 -u root -m 64
for kind in account container object; do launch $kind swift-$kind-server "$dir/etc/$kind-server.conf"; done
[ "$usage" = 1 ] && launch container-updater swift-container-updater "$dir/etc/container-server.conf"
launch proxy swift-proxy-server "$dir/etc/proxy-server.conf"
launch proxy-short swift-proxy-server "$dir/etc/proxy-short.conf"
launch proxy-tls swift-proxy-server "$dir/etc/proxy-tls.conf"

for url in "http://127.0.0.1:$proxy_port" "http://127.0.0.1:$short_port" "https://127.0.0.1:$tls_port"; do
  wait_for "$url/healthcheck" "a swift proxy"
done
# The account answers once the backends do (the proxy is up before them).
for i in $(seq 200); do
  token=$(curl -s -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
            "http://127.0.0.1:$proxy_port/auth/v1.0" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
  if [ -n "$token" ] && curl -sf -o /dev/null -X HEAD -H "X-Auth-Token: $token" "http://127.0.0.1:$proxy_port/v1/AUTH_test"; then break; fi
  [ "$i" = 200 ] && { echo "swift account did not answer; logs in $dir/log" >&2; stop_launched; exit 1; }
  sleep 0.1
done
echo "$memcache_port" > "$dir/memcache.port"
echo "$proxy_port $short_port $tls_port" | tee "$dir/ports"
