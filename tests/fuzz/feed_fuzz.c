/*
 * feed_fuzz.c: the subscriber's whole path after the signature: payload
 * framing, the snapshot, delta and heartbeat decoders, every state check
 * and the apply. An input is a sequence of payloads, each a 2-byte
 * big-endian length and the bytes; the harness signs each with the key
 * the subscriber trusts (so mutations reach past the signature check) and
 * feeds them in order to a fresh, offline, ephemeral subscription. A
 * leading byte 0xff instead feeds the rest as one raw envelope.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/sub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct feeds_signer *signer;
static struct feeds_keyring *ring;
static struct feeds_bus_conf conf;

static void setup(void)
{
	static const uint8_t seed[32] = {'f', 'e', 'e', 'd', '-', 'f', 'u', 'z', 'z'};
	char pub[FEEDS_PUBKEY_B64];
	struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};
	struct rn_conf_error err;
	rn_log_set_level(RN_LOG_ERR);
	if (rn_conf_load(NULL, NULL, &sec, 1, &err) != RN_OK ||
	    feeds_signer_from_seed(&signer, seed, "pub1") != RN_OK ||
	    feeds_keyring_alloc(&ring) != RN_OK)
		abort();
	feeds_signer_public(signer, pub);
	if (feeds_keyring_add(ring, "pub1", pub, false) != RN_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (signer == NULL)
		setup();
	struct feeds_sub *s;
	struct feeds_sub_opts o = {
	        .data_dir = "/nonexistent",
	        .keyring = ring,
	        .offline = true,
	        .ephemeral = true,
	        .limits = {.max_listings = 100000, .max_sets = 64, .max_groups = 10000}};
	if (feeds_sub_start(&s, &conf, "pub1", NULL, NULL, &o) != RN_OK)
		abort();
	if (size > 0 && data[0] == 0xff) {
		feeds_sub_receive(s, data + 1, size - 1);
	} else {
		struct rn_cur c;
		rn_cur_init(&c, data, size);
		for (int i = 0; i < 16 && rn_cur_left(&c) >= 2; i++) {
			size_t n = rn_cur_u16(&c);
			if (n > rn_cur_left(&c))
				n = rn_cur_left(&c);
			const uint8_t *p = rn_cur_bytes(&c, n);
			uint8_t *env;
			size_t elen;
			if (feeds_envelope_seal(signer, p, n, &env, &elen) == RN_OK) {
				feeds_sub_receive(s, env, elen);
				free(env);
			}
		}
	}
	/* Whatever was applied must be a consistent state. */
	struct scoring_table *t = feeds_sub_table(s);
	if (t != NULL) {
		struct feeds_feed_status st;
		uint8_t d[32];
		feeds_sub_status(s, &st);
		scoring_table_digest(t, d);
		if (memcmp(d, st.digest, 32) != 0)
			abort();
		scoring_table_free(t);
	}
	feeds_sub_stop(s);
	return 0;
}
