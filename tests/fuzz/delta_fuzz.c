/*
 * delta_fuzz.c: the repnet.v1.Delta body decoder, and applying what it
 * decodes. A decoded delta re-encodes to one that decodes to the same
 * listings; applied to a state it either fails cleanly or yields a table
 * whose digest is the base digest updated by the delta.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/scoring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scoring_table *base;

static void base_init(void)
{
	if (base != NULL)
		return;
	/* A small state the deltas can refer to. */
	struct scoring_entry e[3];
	memset(e, 0, sizeof(e));
	rn_prefix_parse_str("198.51.100.1", true, &e[0].prefix);
	e[0].cats = 1u << RN_CAT_SPAM_SOURCE;
	e[0].expires_ms = 3600000;
	rn_prefix_parse_str("203.0.113.0/24", true, &e[1].prefix);
	e[1].cats = 1u << RN_CAT_SCANNER;
	e[1].expires_ms = 7200000;
	rn_prefix_parse_str("2001:db8::/64", true, &e[2].prefix);
	e[2].cats = 1u << RN_CAT_SASL_BRUTEFORCE;
	e[2].expires_ms = 3600000;
	if (scoring_table_build(e, 3, false, &base) != RN_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	base_init();
	struct scoring_delta *d = NULL, *d2 = NULL;
	struct scoring_decode_limits lim = {
	        .max_listings = 1 << 20, .max_sets = 256, .max_groups = 1 << 16};
	uint64_t seq;
	uint8_t bd[32];
	if (scoring_delta_decode(data, size, &lim, &d, &seq, bd, NULL) != RN_OK)
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (scoring_delta_encode(d, seq, bd, &buf, &len) != RN_OK)
		abort();
	uint64_t seq2;
	uint8_t bd2[32];
	if (scoring_delta_decode(buf, len, &lim, &d2, &seq2, bd2, NULL) != RN_OK || seq2 != seq ||
	    memcmp(bd, bd2, 32) != 0 || scoring_delta_added(d) != scoring_delta_added(d2) ||
	    scoring_delta_removed(d) != scoring_delta_removed(d2))
		abort();
	struct scoring_table *t = NULL;
	if (scoring_table_apply(base, d, NULL, &t) == RN_OK) {
		uint8_t want[32], got[32];
		scoring_table_digest(base, want);
		scoring_digest_after(want, d, want);
		scoring_table_digest(t, got);
		if (memcmp(want, got, 32) != 0)
			abort();
		scoring_table_free(t);
	}
	free(buf);
	scoring_delta_free(d);
	scoring_delta_free(d2);
	return 0;
}
