#!/bin/sh
# Builds repnet's Debian package from this tree (debian/, dpkg-buildpackage)
# into OUTDIR, without touching the tree: the committed and uncommitted
# files are copied to a scratch directory and built there.
#
#   scripts/package.sh OUTDIR
#
# Needs debhelper and dpkg-dev and the build dependencies (scripts/bootstrap.sh).
set -eu
out=${1:?usage: scripts/package.sh OUTDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/repnet-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree="$work/repnet-$version"
mkdir -p "$tree"
# The tracked files, as they are in the working tree (not build outputs).
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
	(cd "$src" && xargs -0 cp --parents -P -t "$tree" 2>/dev/null) || true
[ -f "$tree/debian/rules" ] || { echo "package: no debian/rules copied" >&2; exit 1; }
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=${REPNET_JOBS:-2} nocheck" \
	dpkg-buildpackage -b -uc -us >"$work/build.log" 2>&1) || {
	tail -n 40 "$work/build.log" >&2
	echo "package: dpkg-buildpackage failed" >&2
	exit 1
}
cp "$work"/*.deb "$out"/
ls "$out"/*.deb
