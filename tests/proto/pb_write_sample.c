/*
 * pb_write_sample.c: writes one message of each repnet/v1 type, the way
 * repnet encodes them, into a directory, for protoc_decode_test.sh to read
 * back with the real protoc.
 *
 *   pb_write_sample DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static int put(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int rc = rn_file_replace(path, buf, len, 0644);
	if (rc != RN_OK)
		fprintf(stderr, "%s: %s\n", path, rn_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pb_write_sample DIR\n");
		return 2;
	}
	const char *dir = argv[1];

	/* An observation batch, through the same packer the collectors use. */
	struct rn_obs obs[2];
	memset(obs, 0, sizeof(obs));
	rn_addr_parse_str("192.0.2.77", &obs[0].addr);
	obs[0].kind = RN_KIND_SASL_FAIL;
	obs[0].source = RN_SRC_POSTFIX;
	obs[0].count = 3;
	obs[0].ts_ms = 1795919209845;
	rn_obs_set_evidence(&obs[0], "sasl:LOGIN", 10);
	rn_addr_parse_str("2001:db8::25", &obs[1].addr);
	obs[1].prefix_len = 64;
	obs[1].kind = RN_KIND_SMTP_SPRAY;
	obs[1].source = RN_SRC_IPFIX;
	obs[1].count = 1;
	obs[1].ts_ms = 1795919210000;
	struct rn_obs_batch_meta meta = {.batch_seq = 42, .sent_ms = 1795919211000};
	memset(meta.collector_id, 0xab, sizeof(meta.collector_id));
	memcpy(meta.reporter, "member01", 8);
	uint8_t *buf;
	size_t len;
	if (rn_obs_batch_pack(&meta, obs, 2, &buf, &len) != RN_OK)
		return 1;
	if (put(dir, "batch.bin", buf, len) != RN_OK)
		return 1;
	free(buf);

	/* A delta inside a signed payload inside an envelope. */
	Repnet__V1__AddrSet as = REPNET__V1__ADDR_SET__INIT;
	as.family = 4;
	as.prefix_len = 32;
	as.cardinality = 0;
	Repnet__V1__AddrSet *asp = &as;
	Repnet__V1__CategorySet cs = REPNET__V1__CATEGORY_SET__INIT;
	cs.category = REPNET__V1__CATEGORY__CATEGORY_SASL_BRUTEFORCE;
	cs.expires_ms = 1795922809845;
	cs.sets = &asp;
	cs.n_sets = 1;
	Repnet__V1__CategorySet *csp = &cs;
	Repnet__V1__Delta delta = REPNET__V1__DELTA__INIT;
	uint8_t digest[32];
	memset(digest, 0x11, sizeof(digest));
	delta.base_seq = 6;
	delta.base_digest.data = digest;
	delta.base_digest.len = 32;
	delta.added = &csp;
	delta.n_added = 1;
	Repnet__V1__SignedPayload sp = REPNET__V1__SIGNED_PAYLOAD__INIT;
	sp.publisher = "member01";
	sp.epoch = 3;
	sp.seq = 7;
	sp.time_ms = 1795919211000;
	sp.expires_ms = 1795919271000;
	sp.digest.data = digest;
	sp.digest.len = 32;
	sp.body_case = REPNET__V1__SIGNED_PAYLOAD__BODY_DELTA;
	sp.delta = &delta;
	size_t plen = repnet__v1__signed_payload__get_packed_size(&sp);
	uint8_t *payload = malloc(plen);
	repnet__v1__signed_payload__pack(&sp, payload);
	if (put(dir, "payload.bin", payload, plen) != RN_OK)
		return 1;
	Repnet__V1__Envelope env = REPNET__V1__ENVELOPE__INIT;
	uint8_t keyid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, sig[64] = {0};
	env.version = 1;
	env.key_id.data = keyid;
	env.key_id.len = 8;
	env.payload.data = payload;
	env.payload.len = plen;
	env.signature.data = sig;
	env.signature.len = 64;
	len = repnet__v1__envelope__get_packed_size(&env);
	buf = malloc(len);
	repnet__v1__envelope__pack(&env, buf);
	if (put(dir, "envelope.bin", buf, len) != RN_OK)
		return 1;
	free(buf);
	free(payload);

	Repnet__V1__ResyncRequest rq = REPNET__V1__RESYNC_REQUEST__INIT;
	rq.publisher = "member01";
	rq.epoch = 3;
	rq.have_seq = 5;
	len = repnet__v1__resync_request__get_packed_size(&rq);
	buf = malloc(len);
	repnet__v1__resync_request__pack(&rq, buf);
	if (put(dir, "resync.bin", buf, len) != RN_OK)
		return 1;
	free(buf);
	return 0;
}
