#!/bin/sh
# Installs glance-storefs and what mount(8), fstab and systemd need. Run as root from the project:
#   bash mount-helpers/install.sh [BINARY]      (default: .build/release/glance-storefs, else debug)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-}
if [ -z "$binary" ]; then
    for candidate in "$here/../.build/release/glance-storefs" "$here/../.build/debug/glance-storefs"; do
        if [ -x "$candidate" ]; then binary=$candidate; break; fi
    done
fi
[ -n "$binary" ] && [ -x "$binary" ] || { echo "install.sh: build first (swift-build -c release)" >&2; exit 1; }
install -D -m 0755 "$binary" /usr/local/bin/glance-storefs
install -D -m 0755 "$here/mount.fuse.glance-storefs" /usr/sbin/mount.fuse.glance-storefs
install -D -m 0644 "$here/glance-storefs@.service" /etc/systemd/system/glance-storefs@.service
install -D -m 0644 "$here/../README.md" /usr/local/share/doc/glance-storefs/README.md
install -D -m 0644 "$here/../man/glance-storefs.1" /usr/local/share/man/man1/glance-storefs.1
install -D -m 0644 "$here/../man/mount.fuse.glance-storefs.8" /usr/local/share/man/man8/mount.fuse.glance-storefs.8
echo "installed /usr/local/bin/glance-storefs, /usr/sbin/mount.fuse.glance-storefs, /etc/systemd/system/glance-storefs@.service"
