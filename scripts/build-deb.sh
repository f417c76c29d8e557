#!/usr/bin/env bash
# Builds dist/glance-storefs_<version>_amd64.deb: the release binary with the Swift runtime linked in
# (--static-swift-stdlib: nothing from the toolchain is loaded at run time, so a Glance host needs no
# Swift), the mount(8) helper, the systemd unit, the man pages, shell completions and an example
# configuration. Depends come from dpkg-shlibdeps (the Debian libraries the binary links) plus fuse3
# (fusermount3, mount.fuse3). Needs the build dependencies of scripts/install-deps.sh.
#   bash scripts/build-deb.sh && apt-get install ./dist/glance-storefs_*_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=$(sed -n 's/.*public static let version = "\(.*\)".*/\1/p' Sources/StorefsCLI/CLI.swift)
[ -n "$version" ] || { echo "build-deb.sh: no version in Sources/StorefsCLI/CLI.swift" >&2; exit 1; }
arch=$(dpkg --print-architecture)

# Its own build folder: the static runtime changes every link, and .build/release stays what bench.sh measures.
scratch=.build-deb
# Its progress goes to stderr: stdout is the path of the package, first.
swift-build -c release --static-swift-stdlib --scratch-path "$scratch" --product glance-storefs >&2
binary="$scratch/release/glance-storefs"
said=$("$binary" --version)
[ "$said" = "glance-storefs $version" ] || { echo "build-deb.sh: the binary says '$said', not $version" >&2; exit 1; }
if ldd "$binary" | grep -Eq 'swift|not found'; then
    echo "build-deb.sh: the binary still loads the Swift runtime or misses a library:" >&2
    ldd "$binary" >&2
    exit 1
fi

work=$(mktemp -d /tmp/storefs-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg="$work/pkg"
install -D -m 0755 "$binary" "$pkg/usr/bin/glance-storefs"
strip --strip-unneeded "$pkg/usr/bin/glance-storefs"
# /sbin is /usr/sbin on Debian 12: mount(8) finds /sbin/mount.fuse.glance-storefs there.
install -D -m 0755 mount-helpers/mount.fuse.glance-storefs "$pkg/usr/sbin/mount.fuse.glance-storefs"
sed -e 's|/usr/local/bin/glance-storefs|/usr/bin/glance-storefs|g' \
    -e 's|file:///usr/local/share/doc/glance-storefs/README.md|man:glance-storefs(1)|' \
    mount-helpers/glance-storefs@.service > "$work/unit"
install -D -m 0644 "$work/unit" "$pkg/lib/systemd/system/glance-storefs@.service"
for page in man/glance-storefs.1 man/mount.fuse.glance-storefs.8; do
    section=${page##*.}
    install -d "$pkg/usr/share/man/man$section"
    gzip -9n < "$page" > "$pkg/usr/share/man/man$section/$(basename "$page").gz"
done
install -d "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
    "$pkg/usr/share/fish/vendor_completions.d"
"$binary" --generate-completion-script bash > "$pkg/usr/share/bash-completion/completions/glance-storefs"
"$binary" --generate-completion-script zsh > "$pkg/usr/share/zsh/vendor-completions/_glance-storefs"
"$binary" --generate-completion-script fish > "$pkg/usr/share/fish/vendor_completions.d/glance-storefs.fish"
doc="$pkg/usr/share/doc/glance-storefs"
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 mount-helpers/fstab.example "$doc/examples/fstab.example"
install -D -m 0644 packaging/glance-api.conf.example "$doc/examples/glance-api.conf"
install -D -m 0644 packaging/copyright "$doc/copyright"

# dpkg-shlibdeps reads the libraries the binary links and the Debian packages that ship them.
mkdir -p "$work/src/debian"
printf 'Source: glance-storefs\n\nPackage: glance-storefs\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/glance-storefs" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d "$pkg/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: glance-storefs
Version: $version
Architecture: $arch
Maintainer: glance-storefs developers <glance-storefs@localhost>
Installed-Size: $size
Depends: $shlibs, fuse3
Recommends: man-db
Section: admin
Priority: optional
Homepage: https://opendev.org/openstack/glance
Description: FUSE file system of every store of an OpenStack Glance multi-store configuration
 Mounts the stores of a glance-api.conf (enabled_backends) as directories: each image a
 regular file named by its id, backed by drivers for Glance's file, http, rbd, swift,
 cinder, vmware and sheepdog stores. Inspect stores with ls, qemu-img, sha512sum and
 getfattr; migrate images between stores with rsync or mv; compare stores with Glance's
 catalogue (glance-storefs audit). Images are published atomically on close.
CONTROL
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"

mkdir -p dist
deb="dist/glance-storefs_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$root/$deb"
dpkg-deb --field "$deb" Version Depends
