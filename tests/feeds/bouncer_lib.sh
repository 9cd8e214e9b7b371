# bouncer_lib.sh: what the CrowdSec bouncer tests share. Sourced after
# tests/integration/lib.sh.
#
#   bouncer_ns PREFIX [ipset]  skips unless root with the bouncer and nft
#                              (and ipset), makes namespace PREFIX$$ with
#                              lo up: sets NS and X ("ip netns exec NS").
#   bouncer_repnetd KEY...     writes $T/r.conf: a serve-role repnetd whose
#                              decision stream takes the API keys KEY...,
#                              on 127.0.0.1:$HP, serving $T/list.json.
#   bouncer_conf MODE KEY DIR  prints the bouncer's configuration (MODE
#                              nftables or ipset), its pid and log in DIR.

bouncer_ns() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespace, nftables)"
	command -v crowdsec-firewall-bouncer >/dev/null || skip "crowdsec-firewall-bouncer is not installed"
	command -v nft >/dev/null || skip "nft is not installed"
	if [ "${2:-}" = ipset ]; then
		command -v ipset >/dev/null || skip "ipset is not installed"
	fi
	NS="$1$$"
	netns_add "$NS" || skip "cannot create a network namespace"
	ip -n "$NS" link set lo up
	X="ip netns exec $NS"
}

HP=$((20000 + $$ % 20000))

bouncer_repnetd() {
	cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:$HP"; roles = ["serve"]; };
feeds: { dnsbl: { list_file = "$T/list.json"; list_poll = "200ms"; listen = []; };
         policy: { listen = ""; };
         decisions: { api_keys_file = "$T/keys"; }; };
CONF
	printf '%s\n' "$@" >"$T/keys"
	chmod 600 "$T/keys"
}

bouncer_conf() {
	mkdir -p "$3"
	cat <<YAML
mode: $1
pid_dir: $3/
update_frequency: 1s
daemonize: false
log_mode: stdout
log_dir: $3/
log_level: info
api_url: http://127.0.0.1:$HP/
api_key: $2
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
ipset_type: nethash
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
}
