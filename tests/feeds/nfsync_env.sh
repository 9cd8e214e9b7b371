# nfsync_env.sh: sourced by the netfilter sync tests. They need root (to
# create network namespaces and change nftables and ipset there), the real
# nft, ipset and ip tools, and python3; without them they are skipped,
# with the reason.
set -eu
: "${REPNET_BUILD:?}" "${REPNET_SRC:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces, nftables)"; exit 77; }
for t in ip nft ipset python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
done
probe="rn8-probe-$$"
if ! ip netns add "$probe" 2>/dev/null; then
	echo "SKIP: cannot create a network namespace here"
	exit 77
fi
ip netns del "$probe"
NFSYNC_TEST="$REPNET_SRC/tests/feeds/nfsync_test.py"
