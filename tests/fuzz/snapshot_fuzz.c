/*
 * snapshot_fuzz.c: the repnet.v1.Snapshot body decoder. Whatever decodes
 * must re-encode canonically to bytes that decode to the same state, and
 * answer lookups.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/scoring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scoring_table *t = NULL, *u = NULL;
	struct scoring_decode_limits lim = {
	        .max_listings = 1 << 20, .max_sets = 256, .max_groups = 1 << 16};
	struct scoring_decode_stats st = {0};
	if (scoring_snapshot_decode(data, size, &lim, NULL, &t, &st) != RN_OK)
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (scoring_snapshot_encode(t, &buf, &len) != RN_OK)
		abort();
	if (scoring_snapshot_decode(buf, len, &lim, NULL, &u, NULL) != RN_OK)
		abort();
	uint8_t d1[32], d2[32];
	scoring_table_digest(t, d1);
	scoring_table_digest(u, d2);
	if (memcmp(d1, d2, 32) != 0 || scoring_table_count(t) != scoring_table_count(u))
		abort();
	struct scoring_iter it;
	struct scoring_entry e;
	struct scoring_hit h;
	scoring_iter_init(&it, t);
	for (int i = 0; i < 64 && scoring_iter_next(&it, &e); i++)
		if (!scoring_table_lookup(t, &e.prefix.addr, 0, &h))
			abort();
	free(buf);
	scoring_table_free(t);
	scoring_table_free(u);
	return 0;
}
