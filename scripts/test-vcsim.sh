#!/usr/bin/env bash
# govmomi's vCenter simulator on 127.0.0.1 for the vmware store's tests and benchmark.
#   test-vcsim.sh start DIR      prints PORT once it answers (also in DIR/port)
#   test-vcsim.sh stop DIR       stops what `start DIR` started (by PID) and nothing else
#   test-vcsim.sh relaunch DIR   starts it again on the same port after it was killed
# The simulator is our own small main (scripts/vcsim/main.go) over Debian's govmomi library, built
# offline with Debian's Go in GOPATH mode into .build-vcsim/ (once per version of main.go, ~15 s).
# One datacenter DC0 with datastores LocalDS_0 and LocalDS_1 (their files in DIR/datastores/LocalDS_<n>,
# kept across a relaunch: the inventory is made anew, the datastores' files stay), HTTPS with a
# 2048-bit certificate signed by DIR/tls/ca.pem (the simulator's own key is 1024-bit, which TLS
# libraries refuse), user `storefs` with password `vcsim-secret-Pw4x` (the secrets test looks for
# it everywhere), every HTTP request logged to DIR/access.log as "METHOD URI STATUS BYTES_RECEIVED".
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)

source "$(dirname "$0")/daemon-lib.sh"
case "$action" in
stop) stop_launched; exit 0 ;;
relaunch) relaunch vcsim; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop|relaunch DIR" >&2; exit 2 ;;
esac

require_packages golang-go golang-github-vmware-govmomi-dev openssl curl

# build_vcsim: .build-vcsim/vcsim-<hash of main.go>, built when missing (into a temporary name, so
# that two runs building at once never see half a binary).
build_vcsim() {
  local hash out work
  hash=$(sha256sum "$repo/scripts/vcsim/main.go" | cut -c1-16)
  out="$repo/.build-vcsim/vcsim-$hash"
  if [ ! -x "$out" ]; then
    work=$(mktemp -d "$repo/.build-vcsim.XXXXXX")
    mkdir -p "$work/src/storefs-vcsim" "$repo/.build-vcsim"
    cp "$repo/scripts/vcsim/main.go" "$work/src/storefs-vcsim/"
    (cd "$work/src/storefs-vcsim" && GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$work:/usr/share/gocode" \
      GOCACHE="$repo/.build-vcsim/gocache" go build -o "$work/vcsim" .) >&2 \
      || { rm -rf "$work"; echo "$(basename "$0"): building the simulator failed" >&2; exit 1; }
    mv "$work/vcsim" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
    rm -rf "$work"
  fi
  echo "$out"
}

binary=$(build_vcsim)
mkdir -p "$dir/log" "$dir/datastores"
test_certificate "$dir/tls"
port=$(free_port)
rm -f "$dir/port"
launch vcsim env TMPDIR="$dir/datastores" "$binary" -l "127.0.0.1:$port" -tlscert "$dir/tls/server.pem" \
  -tlskey "$dir/tls/server.key" -username storefs -password vcsim-secret-Pw4x -ds 2 -access-log "$dir/access.log" \
  -datastore-dir "$dir/datastores"
wait_for "https://127.0.0.1:$port/about" "the vCenter simulator"
echo "$port" > "$dir/port"
echo "$port"
