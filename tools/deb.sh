#!/usr/bin/env bash
# deb.sh — `make deb`: a Debian package of aysfs, built with dpkg-deb (no debhelper: the package
# is one folder tree, and every file of it is named here or by `make install`).
#
# The programs are built anew in build/deb with PREFIX=/usr: the supervisor finds its workers in
# the libexec folder compiled in from PREFIX (AYSFS_LIBEXEC), so objects built for /usr/local
# must not be reused. The units go to /lib/systemd/system (where Debian 12 keeps them), the
# example configuration becomes the conffile /etc/aysfs/config.toml, the users are made by
# packaging/deb/postinst. MAINTAINER names the package's maintainer.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
O=build/deb
ROOT=$TOP/$O/root
VERSION=${VERSION:?VERSION is set by make deb}
MAINTAINER=${MAINTAINER:-aysfs <aysfs@example.org>}
ARCH=$(dpkg --print-architecture)
MAKE=${MAKE:-make}
umask 022
# Dates in the package (changelog, file times) from the last commit: the same tree builds the
# same package.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || date +%s)}

cd "$TOP"
rm -rf "$ROOT"
$MAKE --no-print-directory O=$O V=release PREFIX=/usr bins
$MAKE --no-print-directory O=$O V=release PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
	DESTDIR="$ROOT" install >/dev/null

# Binaries without their debugging sections, man pages and documents compressed (Debian policy).
find "$ROOT/usr" -type f -perm -0100 -exec sh -c 'head -c4 "$1" | grep -q ELF' sh {} \; -print |
	xargs strip --strip-unneeded --remove-section=.comment --remove-section=.note
find "$ROOT/usr/share/man" -type f -exec gzip -9n {} +
ln -sf aysfs-supervisor.8.gz "$ROOT/usr/share/man/man8/aysfs.8.gz"
rm -f "$ROOT/usr/share/man/man8/aysfs.8"
DOC=$ROOT/usr/share/doc/aysfs
install -d "$DOC"
install -m 0644 packaging/deb/copyright "$DOC/copyright"
for f in README.md docs/CONFIG.md docs/SECURITY.md; do
	gzip -9n <"$f" >"$DOC/$(basename "$f").gz"
done
{
	printf 'aysfs (%s) unstable; urgency=medium\n\n  * Built from the repository by make deb.\n\n' "$VERSION"
	printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"

# The libraries the programs link, as dpkg-shlibdeps finds them (it wants a debian/control).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debian"
printf 'Source: aysfs\n\nPackage: aysfs\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"$ROOT"/usr/sbin/aysfs-supervisor -e"$ROOT"/usr/sbin/aysfs-ctl \
	-e"$ROOT"/usr/bin/aysfs-pack $(printf -- '-e%s ' "$ROOT"/usr/libexec/aysfs/*) 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d "$ROOT/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/postrm "$ROOT/DEBIAN/"
echo /etc/aysfs/config.toml >"$ROOT/DEBIAN/conffiles"
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINTAINER|" \
	-e "s|@SIZE@|$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)|" -e "s|@DEPENDS@|$depends|" \
	packaging/deb/control.in >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
	>"$ROOT/DEBIAN/md5sums"
find "$ROOT" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$O/aysfs_${VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$deb" >/dev/null
echo "deb: $deb"
