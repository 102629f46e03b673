#!/usr/bin/env bash
# Builds the Debian package from a release binary with Debian's own tools
# (dpkg-shlibdeps for the library dependencies, dpkg-deb for the archive):
#
#   contrib/debian/build.sh [BINARY [OUTDIR]]
#
# BINARY defaults to target/release/sluice (build it first with
# `cargo build --release`), OUTDIR to target/debian. Prints the path of the
# .deb it wrote. The package holds the binary, the shipped conf/ under
# /etc/sluice (conffiles), the systemd unit, sysusers.d and tmpfiles.d
# entries, logrotate, the man page (`sluice manpage`), copyright, changelog.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/target/release/sluice}
out=${2:-$root/target/debian}

die() { echo "build.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip gzip md5sum; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dpkg-dev binutils)"
done
[ -x "$bin" ] || die "no binary at $bin (cargo build --release)"

version=$("$bin" --version | awk '{print $2}')
logged=$(sed -n '1s/^sluice (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$version" = "$logged" ] ||
    die "the binary is $version but contrib/debian/changelog's latest entry is $logged"
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/sluice
mkdir -p "$pkg/DEBIAN"

# The binary, without the debug info the release profile keeps.
install -D -m 0755 "$bin" "$pkg/usr/bin/sluice"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/sluice"

# The shipped configuration: $CONFDIR and $LOCAL_CONFDIR are both /etc/sluice
# when the unit runs `sluice run -c /etc/sluice/sluice.conf`.
(cd "$root/conf" && find . -type f ! -name '.*' ! -name '*~' -print0) |
    while IFS= read -r -d '' f; do
        install -D -m 0644 "$root/conf/$f" "$pkg/etc/sluice/${f#./}"
    done
install -D -m 0644 "$root/contrib/logrotate/sluice" "$pkg/etc/logrotate.d/sluice"

install -D -m 0644 "$root/contrib/systemd/sluice.service" "$pkg/lib/systemd/system/sluice.service"
install -D -m 0644 "$here/sluice.sysusers" "$pkg/usr/lib/sysusers.d/sluice.conf"
install -D -m 0644 "$here/sluice.tmpfiles" "$pkg/usr/lib/tmpfiles.d/sluice.conf"

install -d -m 0755 "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/sluice"
mkdir "$work/man"
"$bin" manpage --dir "$work/man" >/dev/null
for page in "$work/man"/*.1; do
    gzip -9n <"$page" >"$pkg/usr/share/man/man1/$(basename "$page").gz"
done
install -m 0644 "$here/copyright" "$pkg/usr/share/doc/sluice/copyright"
gzip -9n <"$here/changelog" >"$pkg/usr/share/doc/sluice/changelog.gz"
install -m 0644 "$root/README.md" "$pkg/usr/share/doc/sluice/README.md"
chmod 0644 "$pkg"/usr/share/man/man1/*.gz "$pkg/usr/share/doc/sluice/changelog.gz"

for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$pkg/DEBIAN/$script"
done
(cd "$pkg" && find etc -type f | sort | sed 's|^|/|') >"$pkg/DEBIAN/conffiles"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$pkg/DEBIAN/md5sums"

# dpkg-shlibdeps reads the package names from a debian/control.
mkdir -p "$work/src/debian"
printf 'Source: sluice\n\nPackage: sluice\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/sluice") ||
    die "dpkg-shlibdeps failed"
depends=${shlibs#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps found no library dependency"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" "$here/control" >"$pkg/DEBIAN/control"

mkdir -p "$out"
deb=$out/sluice_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >/dev/null
echo "$deb"
