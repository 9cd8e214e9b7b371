#!/bin/sh
# The real Postfix, Exim and flow data through the real parsers and
# detectors and repnet score: the blocklist must match the behaviour groups
# of the data's README (tests/data/scoring/realdata-expect.txt).
#   repnet logs FILE | repnet score --obs -
#   repnet flows --obs FILE.pcap | repnet score --obs -
# Observations can also be given as JSON lines, one file per dataset:
#   REPNET_REALDATA_OBS_POSTFIX, REPNET_REALDATA_OBS_EXIM, REPNET_REALDATA_OBS_FLOWS
. "$(dirname "$0")/../integration/lib.sh"
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA"
EXPECT="$D/scoring/realdata-expect.txt"
LAB="--no-default-never-block"
command -v python3 >/dev/null || skip "python3 is needed for the checker"
check() { # dataset observations-file
	"$R" score $LAB --obs "$2" >"$T/$1.jsonl" 2>"$T/$1.err" || { cat "$T/$1.err" >&2; fail "$1: repnet score"; }
	cat "$T/$1.err"
	python3 "$REPNET_SRC/tests/scoring/realdata_check.py" "$1" "$EXPECT" "$T/$1.jsonl" || fail "$1: expectation"
}
for ds in postfix exim flows; do
	var=$(echo "REPNET_REALDATA_OBS_$ds" | tr a-z A-Z)
	eval "obs=\${$var:-}"
	if [ -z "$obs" ]; then
		obs="$T/$ds.obs"
		case $ds in
		postfix) "$R" logs "$D/mail/postfix-maillog_file.log" >"$obs" || fail "repnet logs (postfix)" ;;
		exim) "$R" logs "$D/mail/exim-mainlog.log" >"$obs" || fail "repnet logs (exim)" ;;
		flows) "$R" flows --obs "$D/netflow/export-softflowd-ipfix.pcap" >"$obs" || fail "repnet flows" ;;
		esac
		[ -s "$obs" ] || fail "$ds: no observations"
	fi
	check "$ds" "$obs"
done
echo "PASS: postfix, exim and flows as the data's README says"
