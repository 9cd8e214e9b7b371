#!/bin/sh
# `cmake --install` into a temporary prefix puts every file in its FHS
# place, and the installed programs find each other and their data there:
# repnet demo finds share/repnet/demo and sbin/repnetd, and (as root, in a
# network namespace of this test's own) repnetd starts the installed
# capture helper from libexec/repnet rather than the build's.
. "$REPNET_SRC/tests/integration/lib.sh"

R="$T/root"
cmake --install "$REPNET_BUILD" --prefix "$R" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "cmake --install"; }

# GNUInstallDirs as this build configured them (relative to the prefix).
. "$REPNET_BUILD/packaging/install-dirs.sh"
for v in bindir sbindir libexecdir datadir mandir docdir unitdir sysusersdir tmpfilesdir; do
	eval "x=\$$v"
	[ -n "$x" ] || fail "no $v in install-dirs.sh"
	case "$x" in /*) skip "$v is absolute ($x): a --prefix install cannot relocate it" ;; esac
done

expect_x() { [ -x "$R/$1" ] && [ -f "$R/$1" ] || fail "not installed (executable): $1"; }
expect_f() { [ -f "$R/$1" ] || fail "not installed: $1"; }
expect_x "$bindir/repnet"
expect_x "$sbindir/repnetd"
expect_x "$sbindir/repnet-nfsync"
expect_x "$libexecdir/repnet/repnet-capture"
expect_x "$libexecdir/repnet/repnet-launch"
expect_f "$mandir/man1/repnet.1"
expect_f "$mandir/man5/repnet.conf.5"
expect_f "$mandir/man8/repnetd.8"
expect_f "$mandir/man8/repnet-nfsync.8"
for u in repnetd repnetd-collect repnetd-score repnetd-serve repnetd-sync; do
	expect_f "$unitdir/$u.service"
	# The prefix of the install, not the one configured (/usr/local).
	grep -q "^ExecStart=$R/$sbindir/repnetd -f " "$R/$unitdir/$u.service" ||
		fail "$u.service does not run the installed repnetd ($R/$sbindir/repnetd)"
done
expect_f "$sysusersdir/repnet.conf"
expect_f "$tmpfilesdir/repnet.conf"
for e in single-host edge-collector scorer member; do
	expect_f "$docdir/examples/$e.conf"
done
# The capture drop-in is not among the example configurations (repnetd -n
# checks every file there below); the feed's schema and bash completion.
expect_f "$datadir/repnet/systemd/repnetd-collect-capture.conf"
[ ! -e "$R/$docdir/examples/repnetd-collect-capture.conf" ] || fail "the drop-in is among the examples"
expect_f "$datadir/repnet/repnet.proto"
expect_f "$datadir/bash-completion/completions/repnet"
bash -n "$R/$datadir/bash-completion/completions/repnet" || fail "bash completion: syntax"
expect_f "$docdir/deployment.md"
expect_f "$docdir/postfix.md"
expect_f "$datadir/repnet/demo/mail/postfix-maillog_file.log"
expect_f "$datadir/repnet/demo/mail/exim-mainlog.log"
expect_f "$datadir/repnet/demo/netflow/export-softflowd-v9.pcap"
cmp -s "$R/$datadir/repnet/demo/netflow/export-softflowd-v9.pcap" \
	"$REPNET_SRC/tests/data/netflow/export-softflowd-v9.pcap" || fail "demo pcap differs"
# Nothing of the build or the tests leaks into the tree.
if find "$R" -name '*_test*' -o -name '*.o' -o -name 'CMakeFiles' | grep -q .; then
	fail "build or test files installed"
fi

# The installed programs run, and find what belongs to them.
"$R/$bindir/repnet" --help >"$T/help" || fail "installed repnet --help"
grep -q "^  demo " "$T/help" || fail "installed repnet --help lists no demo"
"$R/$sbindir/repnetd" -V | grep -q "^repnetd " || fail "installed repnetd -V"
"$R/$bindir/repnet" demo --help >"$T/demo-help" || fail "installed repnet demo --help"
grep -qx "Demo data (--data): $R/$datadir/repnet/demo" "$T/demo-help" ||
	{ cat "$T/demo-help" >&2; fail "installed repnet demo does not use the installed data"; }
grep -qx "repnetd: $R/$sbindir/repnetd" "$T/demo-help" ||
	{ cat "$T/demo-help" >&2; fail "installed repnet demo does not find the installed repnetd"; }
# The build's repnet, by contrast, uses the source tree's data.
"$REPNET_BUILD/repnet" demo --help | grep -qx "Demo data (--data): $REPNET_SRC/tests/data" ||
	fail "the build's repnet demo does not use the source tree's data"
D="$R/$sbindir/repnetd"
# n_check ARGS...: repnetd -n ARGS, which also checks that the files the
# configuration names exist (an example's are under /etc/repnet, absent
# here): passes when every error left is a missing file; prints the others.
n_check() {
	_out=$("$D" -n "$@" 2>&1) && return 0
	_left=$(printf '%s\n' "$_out" | grep -v '^repnetd: warning: ' |
		grep -v -E '^repnetd: error: [a-z_.]+ = ".*": No such file or directory$' || true)
	[ -z "$_left" ] && printf '%s\n' "$_out" | grep -q "No such file" && return 0
	printf '%s\n' "$_left"
	return 1
}
n=0
for e in "$R/$docdir/examples/"*; do
	n_check -c "$e" >"$T/n.out" ||
		fail "installed repnetd -n on the installed ${e##*/}: $(cat "$T/n.out")"
	n=$((n + 1))
done
[ "$n" -eq 4 ] || fail "$n example configurations installed, want 4"

# The installed daemon starts the installed launcher, which starts the
# installed capture helper (root only: it drops to nobody, and the helper
# opens an AF_PACKET socket, on the loopback of a namespace of our own).
if [ "$(id -u)" -ne 0 ]; then
	echo "install: tree and programs checked; helper lookup not run (needs root)"
	exit 0
fi
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is missing"
NS="repnet-inst-$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 0755 "$T" # nobody reaches the installed tree and the data directory
ip netns exec "$NS" "$R/$sbindir/repnetd" -f -o core.roles=collect -o core.user=nobody \
	-o core.data_dir="$T/var" -o core.http_listen= \
	-o collector.flow.backend=tpacket -o collector.flow.interface=lo \
	-o collector.flow.netflow_listen=127.0.0.1:2055 -o collector.flow.ipfix_listen= \
	-o collector.flow.sflow_listen= -o collector.syslog.udp_listen= \
	-o collector.syslog.tcp_listen= -o feeds.bus.ingest_url=tcp://127.0.0.1:7400 \
	>"$T/d.log" 2>&1 &
DPID=$!
DAEMON_PIDS="$DAEMON_PIDS $DPID"
wait_for "$T/d.log" "capture on lo" 10
# The launcher's line comes with the drop, once every role runs.
wait_for "$T/d.log" "repnetd .* running" 30
grep -q "from helper $R/$libexecdir/repnet/repnet-capture, pid" "$T/d.log" ||
	{ cat "$T/d.log" >&2; fail "installed repnetd did not start the installed helper"; }
grep -q "through $R/$libexecdir/repnet/repnet-launch, pid" "$T/d.log" ||
	{ cat "$T/d.log" >&2; fail "installed repnetd did not start the installed launcher"; }
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" -eq 0 ] || { cat "$T/d.log" >&2; fail "repnetd exit status $EXIT_STATUS"; }
echo "install: tree, programs, demo data, the installed launcher and capture helper checked"
