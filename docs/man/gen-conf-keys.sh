#!/bin/sh
# Generates the KEYS section of repnet.conf(5) from `repnet config`, so that
# the man page cannot drift from the configuration tables.
#
#   docs/man/gen-conf-keys.sh build/repnet              the roff text, on stdout
#   docs/man/gen-conf-keys.sh build/repnet --update F   rewrites F between the
#                                                       KEYS markers in place
#
# core.data_dir's built-in default is a configure-time path (REPNET_DATA_DIR),
# so it is written as such rather than as this build's value.
set -eu
repnet=${1:?usage: gen-conf-keys.sh REPNET [--update FILE]}

gen() {
	"$repnet" config | awk -F'|' '
	function trim(s) { gsub(/^ +| +$/, "", s); gsub(/`/, "", s); return s }
	function roff(s) {
		gsub(/\\/, "\\e", s)
		if (s ~ /^[.\047]/) s = "\\&" s
		return s
	}
	NR <= 2 { next }
	NF != 8 { printf "gen-conf-keys: bad row %d: %s\n", NR, $0 > "/dev/stderr"; bad = 1; exit 1 }
	{
		key = trim($2); type = roff(trim($3)); def = roff(trim($4)); range = roff(trim($5))
		reload = trim($6); help = trim($7)
		if (key == "core.data_dir")
			def = "set at build time (cmake -DREPNET_DATA_DIR; packages use /var/lib/repnet)"
		n = split(key, part, ".")
		sec = part[1]
		if (n > 2) sec = part[1] "." part[2]
		if (sec != cursec) { print ".SS " sec; cursec = sec }
		print ".TP"
		print ".B " roff(key)
		# List defaults are comma-separated: a space lets long ones wrap.
		gsub(/,/, ", ", def)
		line = "Type: " type "."
		line = line " Default: " (def == "(none)" ? "none" : def) "."
		if (range != "") line = line " Range: " range "."
		line = line (reload == "yes" ? " Reloaded on SIGHUP." : " Needs a restart.")
		print line
		print ".br"
		print roff(help)
	}'
}

if [ "${2:-}" = "--update" ]; then
	f=${3:?--update needs a file}
	tmp="$f.tmp.$$"
	keys="$f.keys.$$"
	gen >"$keys"
	awk -v keys="$keys" '
	/^\.\\" BEGIN KEYS/ { print; while ((getline l < keys) > 0) print l; skip = 1; next }
	/^\.\\" END KEYS/ { skip = 0 }
	!skip { print }' "$f" >"$tmp"
	rm -f "$keys"
	mv "$tmp" "$f"
else
	gen
fi
