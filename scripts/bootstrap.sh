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
  libcmocka-dev linux-libc-dev"
# Real peers and clients the tests talk to.
test_pkgs="dnsutils nftables ipset iproute2 bsdutils nfdump curl procps
  python3 util-linux logrotate tzdata rbldnsd postfix swaks crowdsec-firewall-bouncer
  systemd groff-base man-db bsdextrautils openssl tcpdump xz-utils zstd"
bench_pkgs="rbldnsd dnsperf pmacct fail2ban hyperfine bc"

pkgs="$build_pkgs $test_pkgs"
if [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs $bench_pkgs"
fi

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "bootstrap: all packages present"
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
