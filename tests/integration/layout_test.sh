#!/bin/sh
# The architecture is in the includes: collector and scoring know only
# proto; feeds knows scoring and proto; nothing includes another library's
# internal headers; proto knows nothing of the others.
. "$(dirname "$0")/lib.sh"
cd "$REPNET_SRC"
bad=0
check() { # dir allowed-libs...
	dir=$1; shift
	for f in $(find "$dir" -name '*.[ch]'); do
		grep -ho '#include "[a-z_]*/[a-z0-9_./-]*"' "$f" | sed 's/#include "\(.*\)"/\1/' |
		while read -r inc; do
			lib=${inc%%/*}
			[ "$lib" = "$dir" ] && continue
			ok=0
			for a in "$@"; do
				if [ "$inc" = "$a/$a.h" ]; then ok=1; fi
				# The generated schema header belongs to proto's contract.
				if [ "$a" = proto ] && [ "$inc" = "proto/repnet/v1/repnet.pb-c.h" ]; then ok=1; fi
			done
			[ $ok = 1 ] || { echo "$f includes $inc"; echo x >>"$T/bad"; }
		done
	done
}
check proto
check collector proto
check scoring proto
check feeds scoring proto
[ -f "$T/bad" ] && fail "dependency rule broken"
# Executables reach libraries through their public headers only.
if grep -rhoE '#include "(collector|scoring|feeds|proto)/[a-z0-9_]+\.h"' src |
	grep -vE '"(collector/collector|scoring/scoring|feeds/feeds|proto/proto)\.h"'; then
	fail "an executable includes an internal header"
fi
echo PASS
