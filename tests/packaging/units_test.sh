#!/bin/sh
# The systemd units: each one, as configured by CMake, passes
# `systemd-analyze verify` (syntax, known settings, an executable
# ExecStart), and each keeps the hardening and capabilities its role needs:
# the score unit runs as repnet with none; the others start as root with a
# bounding set of what the drop and the role need, and no ambient one.
# The ExecStart paths name the installed repnetd; the check points them at
# the build's, so that verify can see an executable.
. "$REPNET_SRC/tests/integration/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is missing (package systemd)"
U="$REPNET_BUILD/packaging/systemd"
[ -d "$U" ] || fail "no configured units in $U"

# verify runs `man` on each Documentation= page: give it ours.
mkdir -p "$T/units" "$T/man/man1" "$T/man/man5" "$T/man/man8"
cp "$REPNET_SRC/docs/man/repnet.1" "$T/man/man1/"
cp "$REPNET_SRC/docs/man/repnet.conf.5" "$T/man/man5/"
cp "$REPNET_SRC/docs/man/repnetd.8" "$T/man/man8/"
export MANPATH="$T/man"
for f in "$U"/*.service; do
	sed "s#^\(Exec[A-Za-z]*=\)[^ ]*/repnetd #\1$REPNET_BUILD/repnetd #" "$f" >"$T/units/${f##*/}"
done
# A unit that cannot pass verify: if it passes, verify does not run here.
cat >"$T/units/repnet-broken.service" <<EOT
[Service]
ExecStart=$T/no-such-program
EOT
if systemd-analyze verify "$T/units/repnet-broken.service" >"$T/broken.out" 2>&1; then
	skip "systemd-analyze verify cannot run in this environment (it accepted a broken unit)"
fi

n=0
for f in "$T"/units/repnetd*.service; do
	if ! systemd-analyze verify "$f" >"$T/verify.out" 2>&1; then
		cat "$T/verify.out" >&2
		fail "systemd-analyze verify ${f##*/}"
	fi
	# verify reports some problems without failing: none is acceptable.
	if grep -v "^$" "$T/verify.out" | grep -q .; then
		cat "$T/verify.out" >&2
		fail "systemd-analyze verify ${f##*/} printed warnings"
	fi
	n=$((n + 1))
done
[ "$n" -eq 5 ] || fail "expected 5 units, verified $n"

# Every unit: foreground, the config it documents, the hardening.
for role in "" -collect -score -serve -sync; do
	f="$U/repnetd$role.service"
	conf=${role#-}; [ -n "$conf" ] || conf=repnet
	grep -q "^ExecStart=.*/repnetd -f -c /etc/repnet/$conf.conf$" "$f" || fail "$f: ExecStart"
	grep -q "^Type=simple$" "$f" || fail "$f: Type=simple (repnetd has no sd_notify)"
	for k in "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" \
		"PrivateTmp=yes" "PrivateDevices=yes" "ProtectKernelTunables=yes" \
		"ProtectKernelModules=yes" "ProtectControlGroups=yes" "RestrictNamespaces=yes" \
		"LockPersonality=yes" "MemoryDenyWriteExecute=yes" \
		"SystemCallFilter=@system-service" "ConfigurationDirectory=repnet"; do
		grep -q "^$k$" "$f" || fail "$f: missing $k"
	done
	# No capability is handed down as an ambient one any more: repnetd drops
	# every one itself, and the launcher keeps what the helpers need.
	grep -q "^AmbientCapabilities=" "$f" && fail "$f: AmbientCapabilities"
	if [ "$role" = -score ]; then
		# Needs no privilege at all: never root.
		for k in "User=repnet" "StateDirectory=repnet"; do
			grep -q "^$k$" "$f" || fail "$f: missing $k"
		done
	else
		# Starts as root and drops to core.user (repnet) by itself; the data
		# directory comes from tmpfiles.d, since StateDirectory= would give it
		# back to root at every start.
		grep -q "^User=" "$f" && fail "$f: User= (repnetd drops to core.user itself)"
		grep -q "^StateDirectory=" "$f" && fail "$f: StateDirectory= (chowns to root)"
		grep -q "^ReadWritePaths=/var/lib/repnet$" "$f" || fail "$f: missing ReadWritePaths"
	fi
	# The roles that serve the policy service may make its socket in
	# Postfix's spool, where docs/postfix.md puts it.
	case "$role" in "" | -serve)
		grep -q "^ReadWritePaths=-/var/spool/postfix/repnet$" "$f" ||
			fail "$f: the policy socket's directory is not writable" ;;
	esac
done
grep -q '^d /var/lib/repnet 0750 repnet repnet' "$REPNET_SRC/packaging/tmpfiles.d/repnet.conf" ||
	fail "tmpfiles.d: /var/lib/repnet"
grep -q '^u repnet ' "$REPNET_SRC/packaging/sysusers.d/repnet.conf" || fail "sysusers.d: the user"
grep -q '^m repnet adm$' "$REPNET_SRC/packaging/sysusers.d/repnet.conf" || fail "sysusers.d: adm"

# Capabilities and address families, role by role.
caps() { sed -n 's/^CapabilityBoundingSet=//p' "$U/$1.service"; }
fams() { sed -n 's/^RestrictAddressFamilies=//p' "$U/$1.service"; }
# The drop itself needs these; the roles add theirs.
S="CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_CHOWN CAP_DAC_READ_SEARCH"
[ "$(caps repnetd-score)" = "" ] || fail "score needs no capability: $(caps repnetd-score)"
[ "$(caps repnetd-collect)" = "$S CAP_NET_BIND_SERVICE" ] || fail "collect caps: $(caps repnetd-collect)"
[ "$(caps repnetd-serve)" = "$S CAP_NET_BIND_SERVICE" ] || fail "serve caps: $(caps repnetd-serve)"
[ "$(caps repnetd-sync)" = "$S CAP_NET_ADMIN" ] || fail "sync caps: $(caps repnetd-sync)"
[ "$(caps repnetd)" = "$S CAP_NET_BIND_SERVICE CAP_NET_ADMIN" ] || fail "all-roles caps: $(caps repnetd)"
for u in repnetd-collect repnetd-score repnetd-serve; do
	[ "$(fams $u)" = "AF_UNIX AF_INET AF_INET6" ] || fail "$u families: $(fams $u)"
done
for u in repnetd repnetd-sync; do
	[ "$(fams $u)" = "AF_UNIX AF_INET AF_INET6 AF_NETLINK" ] || fail "$u families: $(fams $u)"
done

# The capture drop-in verifies as a drop-in of the collect unit.
mkdir -p "$T/units/repnetd-collect.service.d"
cp "$REPNET_SRC/packaging/systemd/repnetd-collect-capture.conf" \
	"$T/units/repnetd-collect.service.d/capture.conf"
if ! systemd-analyze verify "$T/units/repnetd-collect.service" >"$T/verify.out" 2>&1 ||
	grep -q . "$T/verify.out"; then
	cat "$T/verify.out" >&2
	fail "verify with the capture drop-in"
fi

# What systemd makes of the hardening (informational: exposure per unit).
for f in "$T"/units/repnetd*.service; do
	systemd-analyze security --offline=yes "$f" 2>/dev/null |
		sed -n "s/^→ Overall exposure level for \(.*\)/  \1/p" || true
done
echo "units: $n verified"
