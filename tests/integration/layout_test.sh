#!/bin/sh
# The architecture is in the includes and in the links.
#   - proto knows nothing of the others; collector and scoring know only
#     proto; feeds' libraries know scoring and proto, and each other only
#     in the directions below.
#   - Nothing includes another library's internal headers: across a
#     boundary only LIB/LIB.h (or feeds/SUB/SUB.h) is included.
#   - Executables reach libraries through their public headers only.
#   - The privileged helpers and the launcher link only their own code.
#   - The feeds folder listing, the table below and docs/design.md agree.
. "$(dirname "$0")/lib.sh"
cd "$REPNET_SRC"

# The feeds libraries and what each may include, besides itself.
FEEDS_DEPS='
view:proto
http:proto
bus:scoring proto
replica:bus view scoring proto
rbl:view http proto
nfapply:proto
nfsync:nfapply view proto
'

# public_of NAME: the public header of a library (proto, feeds/bus, ...).
public_of() {
	case $1 in
	feeds/*) echo "$1/${1#feeds/}.h" ;;
	*) echo "$1/$1.h" ;;
	esac
}

# lib_of INCLUDE: the library an include path belongs to.
lib_of() {
	case $1 in
	feeds/*/*) echo "feeds/$(echo "$1" | cut -d/ -f2)" ;;
	*) echo "${1%%/*}" ;;
	esac
}

# check DIR LIB ALLOWED...: every include in DIR names DIR's own library or
# the public header of an allowed one.
check() {
	dir=$1 self=$2
	shift 2
	for f in $(find "$dir" -name '*.[ch]'); do
		grep -ho '#include "[a-z_]*/[a-z0-9_./-]*"' "$f" | sed 's/#include "\(.*\)"/\1/' |
			while read -r inc; do
				lib=$(lib_of "$inc")
				[ "$lib" = "$self" ] && continue
				ok=0
				for a in "$@"; do
					[ "$inc" = "$(public_of "$a")" ] && ok=1
					# The generated schema header belongs to proto's contract.
					[ "$a" = proto ] && [ "$inc" = "proto/repnet/v1/repnet.pb-c.h" ] && ok=1
				done
				[ $ok = 1 ] || {
					echo "$f includes $inc"
					echo x >>"$T/bad"
				}
			done
	done
}
check proto proto
check collector collector proto
check scoring scoring proto
echo "$FEEDS_DEPS" | while IFS=: read -r sub deps; do
	[ -n "$sub" ] || continue
	allowed=""
	for d in $deps; do
		case $d in
		proto | scoring) allowed="$allowed $d" ;;
		*) allowed="$allowed feeds/$d" ;;
		esac
	done
	# shellcheck disable=SC2086
	check "feeds/$sub" "feeds/$sub" $allowed
done
[ -f "$T/bad" ] && fail "dependency rule broken"

# Every folder of feeds is in the table, has its public header and its
# own CMake library, and is on docs/design.md's map; no file sits at the top.
listed=$(echo "$FEEDS_DEPS" | cut -d: -f1 | grep . | sort | tr '\n' ' ')
present=$(find feeds -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')
[ "$listed" = "$present" ] || fail "feeds/ holds '$present', the layout table '$listed'"
loose=$(find feeds -maxdepth 1 -type f ! -name CMakeLists.txt)
[ -z "$loose" ] || fail "files at the top of feeds/: $loose"
for sub in $present; do
	[ -f "feeds/$sub/$sub.h" ] || fail "feeds/$sub has no public header $sub.h"
	grep -q "add_library(repnet_$sub " "feeds/$sub/CMakeLists.txt" ||
		fail "feeds/$sub/CMakeLists.txt does not build repnet_$sub"
	grep -q "feeds/$sub/" docs/design.md || fail "docs/design.md does not map feeds/$sub/"
done

# Executables reach libraries through their public headers only.
if grep -rhoE '#include "(collector|scoring|feeds|proto)/[a-z0-9_/]+\.h"' src |
	grep -vE '"(collector/collector|scoring/scoring|proto/proto|feeds/([a-z]+)/\2)\.h"'; then
	fail "an executable includes an internal header"
fi

# The privileged helpers carry only their own code: no function of another
# library is linked in, and none of the libraries they have no use for is
# referenced.
symbols_check() { # BINARY FORBIDDEN-DEFINED-RE FORBIDDEN-UNDEFINED-RE
	bin="$REPNET_BUILD/$1"
	[ -x "$bin" ] || fail "$bin not built"
	if nm "$bin" | awk '$2 == "T" { print $3 }' | grep -E "$2"; then
		fail "$1 links code of other libraries (above)"
	fi
	if nm -u "$bin" | grep -E "$3"; then
		fail "$1 references libraries it must not use (above)"
	fi
}
symbols_check repnet-nfsync '^(feeds_(pub|sub|ingest|replica|federation|dnsbl|policy|rbl|http|sync|nfsync_(open|load|apply|tick))|scoring_|collector_|nng_)' \
	'(nng_|sodium|crypto_|roaring_|pcap_|xdp_|bpf_|protobuf_c_|config_)'
symbols_check repnet-capture '^(feeds_|scoring_|smtp_|postfix_|exim_|nf9_|ipfix_|sflow_|flow_detect)' \
	'(nng_|sodium|crypto_|roaring_|mnl_|nftnl_|protobuf_c_|config_)'
# The launcher carries its own loop, the privilege code and logging: no
# parser, no configuration, no library beyond libc.
symbols_check repnet-launch '^(feeds_|scoring_|collector_|nng_|rn_conf|rn_metrics|rn_obs|rn_connsrv|rn_json|rn_addr)' \
	'(nng_|sodium|crypto_|roaring_|pcap_|xdp_|bpf_|mnl_|nftnl_|protobuf_c_|config_)'
echo PASS
