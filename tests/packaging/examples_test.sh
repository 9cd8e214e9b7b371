#!/bin/sh
# The example configurations in docs/examples pass `repnetd -n` (syntax, key
# names, types, ranges, the peers group, roles; -n also checks that the
# files they name exist, which under /etc/repnet they do not here: those
# errors, and only those, are let through), a broken copy of each fails, and
# single-host.conf is what gen-single-host.sh makes of this build: every
# key, with its current default, and valid with every line uncommented.
. "$REPNET_SRC/tests/integration/lib.sh"

E="$REPNET_SRC/docs/examples"
D="$REPNET_BUILD/repnetd"
# n_check ARGS...: repnetd -n ARGS, which also checks that the files the
# configuration names exist (an example's are under /etc/repnet, absent
# here): passes when every error left is a missing file; prints the others.
n_check() {
	_out=$("$D" -n "$@" 2>&1) && return 0
	_left=$(printf '%s\n' "$_out" | grep -v '^repnetd: warning: ' |
		grep -v -E '^repnetd: error: [a-z_.]+ = ".*": No such file or directory$' || true)
	[ -z "$_left" ] && printf '%s\n' "$_out" | grep -q "No such file" && return 0
	printf '%s\n' "$_left"
	return 1
}

for f in single-host edge-collector scorer member; do
	[ -f "$E/$f.conf" ] || fail "no docs/examples/$f.conf"
	out=$(n_check -c "$E/$f.conf") || fail "$f.conf: $out"
	# The same check must be able to fail: a misspelt key, a bad value.
	sed 's/^  data_dir = /  data_dirx = /' "$E/$f.conf" >"$T/typo.conf"
	! cmp -s "$E/$f.conf" "$T/typo.conf" || fail "$f.conf sets no core.data_dir"
	if "$D" -n -c "$T/typo.conf" >"$T/out" 2>&1; then
		fail "$f.conf with a misspelt key passed -n"
	fi
	grep -q "data_dirx" "$T/out" || { cat "$T/out" >&2; fail "$f.conf: the error does not name the key"; }
	if "$D" -n -c "$E/$f.conf" -o core.roles=collect,bogus >"$T/out" 2>&1; then
		fail "$f.conf with an unknown role passed -n"
	fi
done

# The roles each example is for.
roles() { "$REPNET_BUILD/repnet" config --dump -c "$E/$1.conf" | sed -n 's/^  roles = //p'; }
[ "$(roles edge-collector)" = '["collect"];' ] || fail "edge-collector roles: $(roles edge-collector)"
[ "$(roles scorer)" = '["score", "publish"];' ] || fail "scorer roles: $(roles scorer)"
[ "$(roles member)" = '["serve", "sync"];' ] || fail "member roles: $(roles member)"
"$REPNET_BUILD/repnet" config --dump -c "$E/edge-collector.conf" |
	grep -q 'ingest_url = "tls+tcp://scorer.example.net:7400";' || fail "edge-collector: ingest_url"

# single-host.conf: current, and every default it shows is valid.
"$E/gen-single-host.sh" "$REPNET_BUILD/repnet" >"$T/single-host.conf"
diff -u "$E/single-host.conf" "$T/single-host.conf" ||
	fail "single-host.conf is stale: run docs/examples/gen-single-host.sh build/repnet > docs/examples/single-host.conf"
sed 's/^\( *\)# \([a-z_0-9]* = .*;\)$/\1\2/' "$E/single-host.conf" >"$T/all.conf"
n=$(grep -c '^ *[a-z_0-9]* = ' "$T/all.conf")
keys=$("$REPNET_BUILD/repnet" config | awk -F'|' 'NR > 2 && $3 !~ /group/' | wc -l)
[ "$n" -eq "$keys" ] || fail "single-host.conf shows $n keys, repnet config has $keys (not groups)"
out=$(n_check -c "$T/all.conf") || fail "single-host.conf uncommented: $out"
echo "examples: 4 valid, 4 broken copies refused; single-host.conf shows $n keys"
