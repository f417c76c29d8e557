#!/usr/bin/env bash
# The sheep daemon's simulator (scripts/sheepdog/sheep_sim.py: no registry packages sheepdog) on
# 127.0.0.1, formatted with one copy, as `dog cluster format -c 1` leaves a one-node cluster.
#   test-sheepdog.sh start DIR   prints the port (also in DIR/port; DIR/control.port asks for a
#                                cluster of one's own: a line "new" there answers its port)
#   test-sheepdog.sh stop DIR    stops what `start DIR` started (by PID)
#   test-sheepdog.sh relaunch DIR sheep   starts it again as `start` did (for the fault tests,
#                                which kill it; its clusters start empty again)
# The requests it served are in DIR/access.log (opcode, result, bytes in, bytes out).
set -euo pipefail
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

source "$(dirname "$0")/daemon-lib.sh"
case "$action" in
stop) stop_launched; exit 0 ;;
relaunch) relaunch "$3"; exit 0 ;;
start) ;;
*) echo "usage: $0 start DIR | stop DIR | relaunch DIR sheep" >&2; exit 2 ;;
esac

trap 'stop_launched' ERR
mkdir -p "$dir/log"
: > "$dir/pids"
port=$(free_port); control=$(free_port)
echo "$port" > "$dir/port"
echo "$control" > "$dir/control.port"
launch sheep /usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/sheepdog/sheep_sim.py" --port "$port" \
  --control-port "$control" --access-log "$dir/access.log"
# Ready when it answers; then formatted (MAKE_FS, opcode 0x84: one copy, 4 MiB objects).
/usr/bin/python3 - "$port" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the sheep simulator did not start")
req = bytearray(48)
struct.pack_into("<BBHIII", req, 0, 0x0A, 0x84, 0, 0, 1, 0)
req[32], req[44] = 1, 22
s.sendall(req)
rsp = s.recv(48)
sys.exit(0 if struct.unpack_from("<I", rsp, 16)[0] == 0 else "formatting failed")
PY
echo "$port"
