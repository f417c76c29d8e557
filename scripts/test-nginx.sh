#!/usr/bin/env bash
# A real nginx (Debian's) on 127.0.0.1 for the http store's tests and benchmark.
#   test-nginx.sh start DIR    serves DIR/www/html (put images there), prints "HTTP_PORT HTTPS_PORT PROXY_PORT"
#   test-nginx.sh stop DIR     stops that nginx (by its pid file) and nothing else
#   test-nginx.sh relaunch DIR starts that nginx again on the same ports, after it was killed
# Locations: /html/ (HTML autoindex), /json/ (JSON autoindex), /norange/ (Range ignored), /dirfs/,
# /r301/ /r302/ /r303/ /r307/ /r308/ (redirect to /html/), /rel/ (relative Location),
# /hop1/ ... /hop6/ (from /hop1/, 6 redirects: one more than Glance follows; from /hop2/, 5), and on HTTPS_PORT /html/ with
# a certificate signed by DIR/tls/ca.pem. Requests are logged to DIR/access.log as
# "METHOD URI STATUS BODY_BYTES RANGE". PROXY_PORT is a forward proxy (tinyproxy, Debian's; CONNECT
# to any port) logging each connection to DIR/tmp/proxy.log.
set -euo pipefail
source "$(dirname "$0")/daemon-lib.sh"
action=$1
dir=$(cd "$2" && pwd)
case "$action" in
stop)
  for pidfile in "$dir/nginx.pid" "$dir/tinyproxy.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi   # tinyproxy waits for open tunnels
  done
  exit 0 ;;
relaunch)
  for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
  rm -f "$dir/nginx.pid"
  nginx -c "$dir/nginx.conf" -p "$dir" </dev/null >/dev/null 2>>"$dir/error.log"
  for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR | relaunch DIR" >&2; exit 2 ;;
esac

require_packages nginx tinyproxy openssl
# Ours runs apart from the packaged nginx, with its own config.
mkdir -p "$dir/www/html" "$dir/tls" "$dir/tmp"
chmod 755 "$dir" "$dir/www" "$dir/www/html"
test_certificate "$dir/tls"
port=$(free_port); tls_port=$(free_port); proxy_port=$(free_port)
cat > "$dir/nginx.conf" <<CONF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
  # Tests read these: which requests arrived, with which status and how many bytes were sent.
  log_format storefs '\$request_method \$request_uri \$status \$body_bytes_sent \$http_range';
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:$port;
    access_log $dir/access.log storefs;
    root $dir/www;
    location /html/ { autoindex on; }
    location /json/ { alias $dir/www/html/; autoindex on; autoindex_format json; }
    # httpdirfs 1.2.5 wants Accept-Ranges on the listing itself (its issue #188): for the benchmark.
    location /dirfs { alias $dir/www/html; autoindex on; add_header Accept-Ranges bytes always; }
    location /norange/ { alias $dir/www/html/; autoindex on; max_ranges 0; }
$(for code in 301 302 303 307 308; do echo "    location ~ ^/r$code/(.*)\$ { return $code /html/\$1; }"; done)
    location ~ ^/rel/(.*)\$ { absolute_redirect off; return 302 /html/\$1; }
$(for i in 1 2 3 4 5; do echo "    location ~ ^/hop$i/(.*)\$ { return 302 /hop$((i + 1))/\$1; }"; done)
    location ~ ^/hop6/(.*)\$ { return 302 /html/\$1; }
  }
  server {
    listen 127.0.0.1:$tls_port ssl;
    access_log off;
    ssl_certificate $dir/tls/server.pem;
    ssl_certificate_key $dir/tls/server.key;
    root $dir/www;
    location /html/ { autoindex on; }
  }
}
CONF
# Detached from our stdout and from every descriptor the caller let us inherit (a test runner's
# pipes): whoever reads the printed ports or the runner's output waits for EOF.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
nginx -c "$dir/nginx.conf" -p "$dir" </dev/null >/dev/null 2>>"$dir/error.log"
for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
# The proxy: tinyproxy (Debian's), every port allowed for CONNECT (no ConnectPort line), loopback only.
chmod 0777 "$dir/tmp"
cat > "$dir/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port $proxy_port
Listen 127.0.0.1
Timeout 60
PidFile "$dir/tinyproxy.pid"
LogFile "$dir/tmp/proxy.log"
LogLevel Connect
MaxClients 64
Allow 127.0.0.1
CONF
tinyproxy -c "$dir/tinyproxy.conf" </dev/null >/dev/null 2>>"$dir/error.log"
for _ in $(seq 50); do [ -s "$dir/tinyproxy.pid" ] && break; sleep 0.1; done
[ -s "$dir/tinyproxy.pid" ] || { echo "tinyproxy did not start (see $dir/error.log)" >&2; exit 1; }
echo "$port $tls_port $proxy_port"
