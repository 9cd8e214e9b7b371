#!/bin/sh
# Install everything repnet needs to build and test, from Debian 12's
# package registry. Idempotent: when every package is already installed it
# changes nothing and does not touch the network.
#
#   scripts/bootstrap.sh          build and test dependencies
#   scripts/bootstrap.sh --bench  also the peers the benchmarks compare against
set -eu

build_pkgs="gcc g++ make cmake pkg-config clang llvm lld libclang-rt-14-dev
  libmnl-dev libnftnl-dev libnng-dev nng-utils libmbedtls-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libroaring-dev libxdp-dev libbpf-dev libsodium-dev libconfig-dev libpcap-dev
  libcmocka-dev linux-libc-dev libsystemd-dev"
# Real peers and clients the tests talk to.
test_pkgs="dnsutils nftables ipset iproute2 bsdutils nfdump curl procps
  python3 util-linux logrotate tzdata rbldnsd postfix swaks crowdsec-firewall-bouncer
  systemd groff-base man-db bsdextrautils openssl tcpdump prometheus xz-utils zstd
  dpkg-dev debhelper lintian
  systemd-journal-remote rsyslog libivykis0 libnet1 libwrap0 libjson-c5 libpcre3
  unbound dnsmasq-base"
bench_pkgs="rbldnsd dnsperf pmacct fail2ban hyperfine bc"

pkgs="$build_pkgs $test_pkgs"
if [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs $bench_pkgs"
fi

# syslog-ng-core conflicts with rsyslog, so collector.syslog_relay_test runs
# it from the package extracted into its temporary directory: the .deb is
# fetched once into this cache (its runtime libraries are in test_pkgs).
sng_cache=/var/cache/repnet-test
fetch_syslog_ng() {
	for f in "$sng_cache"/syslog-ng-core_*.deb; do
		[ -f "$f" ] && return 0
	done
	s=""
	[ "$(id -u)" -eq 0 ] || s="sudo"
	echo "bootstrap: fetching syslog-ng-core into $sng_cache"
	$s mkdir -p "$sng_cache"
	(cd "$sng_cache" && $s apt-get download -q syslog-ng-core) ||
		echo "bootstrap: could not fetch syslog-ng-core; collector.syslog_relay_test skips it" >&2
}

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "bootstrap: all packages present"
	fetch_syslog_ng
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "bootstrap: need root or sudo to install:$missing" >&2
		exit 1
	}
	sudo="sudo"
fi
echo "bootstrap: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix installs unconfigured: the tests write their own main.cf.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
fetch_syslog_ng
