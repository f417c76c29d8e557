# Shared by the scripts that start test daemons (sourced). They run apart from Debian's packaged
# services, on 127.0.0.1, and every one started is recorded in $dir/pids so that `stop` ends those
# and nothing else.

# require_packages PACKAGE...: fails at once, naming every one that is not installed. Installing is
# scripts/install-deps.sh's job alone (one apt transaction before anything starts: parallel tests and
# apt's lock do not mix).
require_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$(basename "$0"): missing Debian package(s): ${missing[*]} (run: bash scripts/install-deps.sh)" >&2
  exit 1
}

# A free TCP port on 127.0.0.1.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# DIR/ca.pem and a certificate for 127.0.0.1 signed by it (DIR/server.pem, DIR/server.key), made once.
test_certificate() {
  local tls=$1
  mkdir -p "$tls"
  [ -f "$tls/server.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=glance-storefs test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
}

# launch NAME COMMAND...: in the background, its output in $dir/log/NAME.log, its PID recorded (in
# $dir/pids with all the others, and in $dir/log/NAME.pid), and the command in $dir/log/NAME.cmd so
# that `relaunch NAME` starts it again the same way (the fault tests stop and restart daemons).
# Daemons must not keep the caller's pipes open (a test harness waits for them to close).
launch() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
  echo $! >> "$dir/pids"
  echo $! > "$dir/log/$name.pid"
  printf '%q ' "$@" > "$dir/log/$name.cmd"
}

# relaunch NAME: what `launch NAME ...` started, started again (same command, same ports).
relaunch() {
  local name=$1 command old
  command=$(cat "$dir/log/$name.cmd")
  old=$(cat "$dir/log/$name.pid")
  # The old one must be gone (killed by whoever relaunches; a zombie not yet reaped counts as
  # gone), and is no longer ours to stop.
  if kill -0 "$old" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$old/status" 2>/dev/null; then
    echo "$name (PID $old) is still running" >&2
    return 1
  fi
  sed -i "/^$old\$/d" "$dir/pids"
  eval "launch $name $command"
}

# Ends what `launch` started (TERM, then KILL after 5 s).
stop_launched() {
  [ -f "$dir/pids" ] || return 0
  local pids pid
  pids=$(cat "$dir/pids")
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir/pids"
}

# wait_for URL WHAT: until URL answers 2xx (20 s at most); else says so, stops everything, fails.
wait_for() {
  local i
  for i in $(seq 200); do
    curl -sf --cacert "$dir/tls/ca.pem" "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$2 did not answer at $1; logs in $dir/log" >&2
  stop_launched
  exit 1
}
