#!/bin/bash
# smtp_bench.sh: lines per second per core of repnet's SMTP pipeline on the
# real Postfix log repeated to at least 1M lines, beside fail2ban-regex
# (Debian's fail2ban, postfix filter) on the same file, in the same run.
# Each program is pinned to one CPU (taskset -c ${CPU:-0}) and measured in
# CPU seconds (user + system), so the figure is per core whatever else the
# shared machine runs; wall time is printed too. Not a CTest: a benchmark.
#
#   tests/bench/smtp_bench.sh [BUILD_DIR] [REPEAT]
#
# Needs: fail2ban (scripts/bootstrap.sh --bench). Bounded: one pass each.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$SRC/build}
REPEAT=${2:-311}                       # 311 x 3,220 = 1,001,420 lines
CPU=${CPU:-0}
LOG=$SRC/tests/data/mail/postfix-maillog_file.log
W=$(mktemp -d "${TMPDIR:-/tmp}/repnet-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
F=$W/postfix-1M.log
for _ in $(seq "$REPEAT"); do cat "$LOG"; done >"$F"
LINES=$(wc -l <"$F")
echo "input: $LINES lines, $(($(stat -c %s "$F") / 1048576)) MiB ($REPEAT x $(basename "$LOG"))"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME CMD...: CPU seconds of CMD (and its children), pinned.
measure() {
	local name=$1; shift
	local t0 t1 w0 w1
	t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	w0=$(date +%s.%N)
	( taskset -c "$CPU" "$@" >"$W/$name.out" 2>"$W/$name.err" ) || { echo "$name failed:"; tail -n 5 "$W/$name.err"; return 1; }
	w1=$(date +%s.%N)
	t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	local cpu
	cpu=$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)
	printf '%-34s cpu %7.2f s  wall %7.2f s  %10.0f lines/s per core\n' "$name" "$cpu" \
		"$(echo "$w1 - $w0" | bc -l)" "$(echo "$LINES / $cpu" | bc -l)"
	eval "CPU_$name=$cpu"
}

measure repnet_detect "$B/repnet" logs --summary "$F"
measure repnet_nodetect "$B/repnet" logs --summary --no-detect "$F"
measure repnet_json "$B/repnet" logs "$F"
grep -E '^(lines|events|signals) ' "$W/repnet_detect.out" | tr '\n' ' '; echo

if command -v fail2ban-regex >/dev/null; then
	measure fail2ban_regex fail2ban-regex "$F" /etc/fail2ban/filter.d/postfix.conf
	grep -E '^Lines:' "$W/fail2ban_regex.out" || true
	printf 'ratio repnet (parsers + detectors) / fail2ban-regex: %.1fx\n' \
		"$(echo "$CPU_fail2ban_regex / $CPU_repnet_detect" | bc -l)"
	printf 'ratio repnet (JSON out) / fail2ban-regex:            %.1fx\n' \
		"$(echo "$CPU_fail2ban_regex / $CPU_repnet_json" | bc -l)"
else
	echo "fail2ban-regex: not installed (scripts/bootstrap.sh --bench)"
fi
# crowdsec (Debian's 1.4.6) in replay mode with the hub's Postfix parser and
# scenario, from the copy of the hub the package ships (no network), its
# local API on loopback, in a private configuration under $W.
if command -v crowdsec >/dev/null && [ -f /usr/share/crowdsec/hub/.index.json ]; then
	C=$W/cs
	mkdir -p "$C/etc" "$C/data"
	cp -r /usr/share/crowdsec/hub "$C/hub"
	cp -r /etc/crowdsec/patterns /etc/crowdsec/profiles.yaml "$C/etc/"
	echo "simulation: false" >"$C/etc/simulation.yaml"
	: >"$C/etc/acquis.yaml"
	cat >"$C/etc/config.yaml" <<CONF
common: { daemonize: false, log_media: stdout, log_level: error }
config_paths:
  config_dir: $C/etc/
  data_dir: $C/data/
  simulation_path: $C/etc/simulation.yaml
  hub_dir: $C/hub/
  index_path: $C/hub/.index.json
  notification_dir: $C/etc/notifications/
  plugin_dir: $C/plugins/
crowdsec_service: { acquisition_path: $C/etc/acquis.yaml, parser_routines: 1, buckets_routines: 1, output_routines: 1 }
db_config: { type: sqlite, db_path: $C/data/crowdsec.db, use_wal: false }
prometheus: { enabled: false }
api:
  client: { credentials_path: $C/etc/local_api_credentials.yaml }
  server: { enable: true, listen_uri: "127.0.0.1:${CS_PORT:-18089}", profiles_path: $C/etc/profiles.yaml }
CONF
	for it in "parsers install crowdsecurity/syslog-logs" "parsers install crowdsecurity/postfix-logs" \
		"parsers install crowdsecurity/dateparse-enrich" "scenarios install crowdsecurity/postfix-spam"; do
		# shellcheck disable=SC2086
		timeout 60 cscli -c "$C/etc/config.yaml" --branch master $it >/dev/null 2>&1 || echo "cscli $it failed"
	done
	timeout 60 cscli -c "$C/etc/config.yaml" machines add bench --password benchpw \
		-f "$C/etc/local_api_credentials.yaml" --force >/dev/null 2>&1
	sed -i "s#url: .*#url: http://127.0.0.1:${CS_PORT:-18089}#" "$C/etc/local_api_credentials.yaml"
	if measure crowdsec_replay timeout 900 crowdsec -c "$C/etc/config.yaml" -dsn "file://$F" -type syslog; then
		printf 'ratio repnet (parsers + detectors) / crowdsec replay: %.1fx\n' \
			"$(echo "$CPU_crowdsec_replay / $CPU_repnet_detect" | bc -l)"
	fi
else
	echo "crowdsec: not installed"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
