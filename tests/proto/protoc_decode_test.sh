#!/bin/sh
# protoc, an independent decoder, must read every message repnet writes.
set -eu
: "${REPNET_BUILD:?}" "${REPNET_SRC:?}"
command -v protoc >/dev/null || { echo "SKIP: protoc not installed"; exit 77; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$REPNET_BUILD/tests/pb_write_sample" "$d"

dec() {
	protoc --proto_path="$REPNET_SRC" --decode="repnet.v1.$1" \
		proto/repnet/v1/repnet.proto <"$d/$2" >"$d/$2.txt"
	cat "$d/$2.txt"
}
want() {
	grep -qF -- "$2" "$d/$1.txt" || { echo "FAIL: $1 lacks: $2"; cat "$d/$1.txt"; exit 1; }
}

cd "$REPNET_SRC"
dec ObservationBatch batch.bin
want batch.bin 'batch_seq: 42'
want batch.bin 'ip: "\300\000\002M"'
want batch.bin 'kind: KIND_SASL_FAIL'
want batch.bin 'count: 3'
want batch.bin 'time_ms: 1795919209845'
want batch.bin 'evidence: "sasl:LOGIN"'
want batch.bin 'source: SOURCE_POSTFIX'
want batch.bin 'kind: KIND_SMTP_SPRAY'
want batch.bin 'prefix_len: 64'
want batch.bin 'reporter: "member01"'

dec Envelope envelope.bin
want envelope.bin 'version: 1'
want envelope.bin 'key_id: "\001\002\003\004\005\006\007\010"'

dec SignedPayload payload.bin
want payload.bin 'publisher: "member01"'
want payload.bin 'seq: 7'
want payload.bin 'base_seq: 6'
want payload.bin 'category: CATEGORY_SASL_BRUTEFORCE'
want payload.bin 'expires_ms: 1795922809845'

dec ResyncRequest resync.bin
want resync.bin 'have_seq: 5'

# And the envelope's payload, cut out by protoc itself, is the same bytes.
protoc --proto_path="$REPNET_SRC" --decode_raw <"$d/envelope.bin" >/dev/null
echo "PASS"
