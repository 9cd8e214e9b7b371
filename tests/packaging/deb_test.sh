#!/bin/sh
# The Debian package: scripts/package.sh builds it from this tree, lintian
# finds no error in it, `dpkg -i` installs it on this machine, the installed
# repnetd accepts the shipped /etc/repnet/repnet.conf (-n) and the files the
# issue lists are where they belong, then it is purged. Root only (dpkg),
# and only where dpkg-buildpackage, debhelper and lintian are installed.
# Safe to run twice: a repnet package or user left by this test (or a run
# killed half-way) is purged or removed first, and a repnet user this test
# made is removed again at the end.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for c in dpkg-buildpackage dh lintian; do
	command -v "$c" >/dev/null 2>&1 || skip "$c is not installed (dpkg-dev, debhelper, lintian)"
done
if dpkg-query -W -f='${db:Status-Status}' repnet 2>/dev/null | grep -q installed &&
	[ ! -e /var/lib/repnet-deb-test ]; then
	skip "a repnet package this test did not install is installed here"
fi
# What was here before: the repnet user, /var/lib/repnet.
user_before=$(getent passwd repnet >/dev/null && echo yes || echo no)
dir_before=$([ -e /var/lib/repnet ] && echo yes || echo no)
if [ -e /var/lib/repnet-deb-test ]; then
	read -r user_before dir_before </var/lib/repnet-deb-test
fi

purge() {
	dpkg --purge repnet >"$T/purge.log" 2>&1 || { cat "$T/purge.log" >&2; return 1; }
	if [ "$user_before" = no ] && getent passwd repnet >/dev/null; then
		userdel repnet 2>/dev/null || true
		if getent group repnet >/dev/null; then groupdel repnet 2>/dev/null || true; fi
	fi
	[ "$dir_before" = yes ] || rmdir /var/lib/repnet 2>/dev/null || true
	rm -f /var/lib/repnet-deb-test
}
cleanup_deb() {
	dpkg-query -W -f='${db:Status-Status}' repnet 2>/dev/null | grep -q . && purge || true
	cleanup
}
trap cleanup_deb EXIT
# A run killed half-way left the package: take it away first.
if [ -e /var/lib/repnet-deb-test ]; then purge || fail "purging a leftover"; fi

"$REPNET_SRC/scripts/package.sh" "$T/debs" >"$T/package.log" 2>&1 || { cat "$T/package.log" >&2; fail "package build"; }
DEB=$(ls "$T"/debs/repnet_*.deb)
[ -f "$DEB" ] || fail "no repnet .deb"

# lintian: no error (E:); warnings are printed for the log.
lintian "$DEB" >"$T/lintian.out" 2>&1 || true
cat "$T/lintian.out"
! grep -q '^E: ' "$T/lintian.out" || fail "lintian errors"

# What it holds.
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's#^\./#/#' >"$T/files"
for f in /usr/sbin/repnetd /usr/bin/repnet /usr/sbin/repnet-nfsync /usr/libexec/repnet/repnet-capture \
	/usr/libexec/repnet/repnet-launch /lib/systemd/system/repnetd.service \
	/lib/systemd/system/repnetd-collect.service /usr/lib/sysusers.d/repnet.conf \
	/usr/lib/tmpfiles.d/repnet.conf /usr/share/man/man8/repnetd.8.gz /usr/share/man/man1/repnet.1.gz \
	/usr/share/man/man8/repnet-nfsync.8.gz \
	/usr/share/man/man5/repnet.conf.5.gz /etc/repnet/repnet.conf /usr/share/repnet/repnet.proto \
	/usr/share/bash-completion/completions/repnet /usr/share/doc/repnet/copyright; do
	grep -qx "$f" "$T/files" || fail "the package does not hold $f"
done
dpkg-deb -e "$DEB" "$T/ctl"
grep -qx /etc/repnet/repnet.conf "$T/ctl/conffiles" || fail "/etc/repnet/repnet.conf is not a conffile"

echo "$user_before $dir_before" >/var/lib/repnet-deb-test
dpkg -i "$DEB" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; fail "dpkg -i"; }
[ "$(/usr/sbin/repnetd -n -c /etc/repnet/repnet.conf)" = "configuration OK" ] ||
	fail "repnetd -n on the shipped /etc/repnet/repnet.conf"
[ "$(/usr/sbin/repnetd --version)" = "repnetd 0.1.0" ] || fail "installed repnetd --version"
grep -q '^ExecStart=/usr/sbin/repnetd -f ' /lib/systemd/system/repnetd.service ||
	fail "the unit does not name /usr/sbin/repnetd"
getent passwd repnet >/dev/null || fail "no repnet user after install (sysusers)"
[ -d /var/lib/repnet ] || fail "no /var/lib/repnet after install (tmpfiles)"
# The installed repnet finds the installed demo data and repnetd.
/usr/bin/repnet demo --help | grep -qx "repnetd: /usr/sbin/repnetd" || fail "installed repnet demo does not find /usr/sbin/repnetd"
# Not enabled, not started: the configuration needs editing first.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	! systemctl is-enabled repnetd.service >/dev/null 2>&1 || fail "repnetd.service enabled at install"
fi

purge || fail "dpkg --purge"
[ ! -e /usr/sbin/repnetd ] && [ ! -e /etc/repnet/repnet.conf ] || fail "files left after purge"
echo "PASS: $(basename "$DEB") built, lintian without error, installed, checked and purged"
