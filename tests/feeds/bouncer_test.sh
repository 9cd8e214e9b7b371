#!/bin/sh
# The real crowdsec-firewall-bouncer (Debian's package), pointed at
# repnetd's decision stream, puts repnet's listed addresses into its
# nftables sets inside a network namespace this test creates, and takes
# them out again when the list changes.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, nftables)"
command -v crowdsec-firewall-bouncer >/dev/null || skip "crowdsec-firewall-bouncer is not installed"
command -v nft >/dev/null || skip "nft is not installed"
NS="rncb$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up

cat >"$T/list.json" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"]}
{"prefix":"198.51.100.7/32","categories":["scanner"]}
{"prefix":"2001:db8::1/128","categories":["drop"]}
LIST
HP=$((20000 + $$ % 20000))
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:$HP"; roles = ["serve"]; };
feeds: { dnsbl: { list_file = "$T/list.json"; list_poll = "200ms"; listen = []; };
         policy: { listen = ""; };
         decisions: { api_keys_file = "$T/keys"; }; };
CONF
echo "bouncer-key-$$" >"$T/keys"
chmod 600 "$T/keys"
cat >"$T/bouncer.yaml" <<YAML
mode: nftables
pid_dir: $T/
update_frequency: 1s
daemonize: false
log_mode: stdout
log_dir: $T/
log_level: info
api_url: http://127.0.0.1:$HP/
api_key: bouncer-key-$$
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: true
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
YAML
ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"
ip netns exec "$NS" crowdsec-firewall-bouncer -c "$T/bouncer.yaml" >"$T/bouncer.log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"

# until_set CHECK: polls the bouncer's sets (into $T/sets) for up to 15 s.
sets() {
	ip netns exec "$NS" nft list set ip crowdsec crowdsec-blacklists 2>/dev/null || true
	ip netns exec "$NS" nft list set ip6 crowdsec6 crowdsec6-blacklists 2>/dev/null || true
}
until_set() {
	i=0
	while [ $i -lt 75 ]; do
		sets >"$T/sets"
		if eval "$1"; then return 0; fi
		i=$((i + 1)); sleep 0.2
	done
	cat "$T/sets" "$T/bouncer.log" >&2
	fail "bouncer sets never satisfied: $1"
}
has() { grep -q "$1 timeout" "$T/sets"; }
until_set 'has 192.0.2.1 && has 198.51.100.7 && has 2001:db8::1'
echo "initial: $(grep -o '[0-9a-f:.]* timeout [0-9a-z]*' "$T/sets" | tr '\n' ' ')"

# The list changes: 192.0.2.1 goes, 192.0.2.9 comes; the bouncer follows.
cat >"$T/list.new" <<'LIST'
{"prefix":"192.0.2.9/32","categories":["harvester"]}
{"prefix":"198.51.100.7/32","categories":["scanner"]}
{"prefix":"2001:db8::1/128","categories":["drop"]}
LIST
mv "$T/list.new" "$T/list.json"
until_set 'has 192.0.2.9 && ! has 192.0.2.1 && has 198.51.100.7'
echo "after the change: $(grep -o '[0-9a-f:.]* timeout [0-9a-z]*' "$T/sets" | tr '\n' ' ')"
curl -sf "http://127.0.0.1:$HP/metrics" >/dev/null 2>&1 && fail "metrics reachable outside the namespace"
ip netns exec "$NS" curl -sf "http://127.0.0.1:$HP/metrics" | grep -q 'repnet_decisions_polls_total{kind="delta"} [1-9]' ||
	fail "no delta polls counted"
echo PASS
