/*
 * journal_fuzz.c: the journal reader and replay. The input is scanned as a
 * journal image; then (to get past the CRCs) it is cut into records at
 * length bytes, framed with valid headers, and replayed: every record the
 * scan accepts is decoded as an observation batch and ingested.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scoring_engine *engine;
static struct rn_obs *obs;

static int replay(void *arg, const uint8_t *rec, size_t rlen, uint64_t end)
{
	(void)arg;
	(void)end;
	struct rn_obs_batch_meta meta;
	struct rn_obs_rejects rej;
	size_t n = 0;
	memset(&rej, 0, sizeof(rej));
	if (rn_obs_batch_unpack(rec, rlen, 1024, &meta, obs, &n, &rej) == RN_OK)
		scoring_engine_ingest(engine, obs, n, 1800000000000, NULL);
	return RN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scoring_conf c;
	if (obs == NULL) {
		rn_log_init("fuzz", true, RN_LOG_ERR);
		if (scoring_conf_defaults(&c) != RN_OK)
			abort();
		c.default_never_block = false;
		obs = calloc(1024, sizeof(*obs));
	}
	/* A fresh engine per input, so that runs do not depend on each other. */
	if (scoring_engine_new(&c, true, &engine) != RN_OK)
		abort();
	uint64_t gen;
	size_t valid;
	bool torn;
	if (journal_scan(data, size, &gen, &valid, &torn, replay, NULL) == RN_OK &&
	    (valid > size || valid < JOURNAL_HDR_LEN))
		abort();
	/* Framed: each record is [len byte][len bytes of payload]. */
	uint8_t *img = malloc(JOURNAL_HDR_LEN + size * 9 + 16);
	if (img == NULL) {
		scoring_engine_free(engine);
		engine = NULL;
		return 0;
	}
	journal_header(img, 7);
	size_t o = JOURNAL_HDR_LEN;
	for (size_t i = 0; i < size;) {
		size_t l = data[i++];
		if (l > size - i)
			l = size - i;
		if (l == 0)
			continue;
		journal_record_header(img + o, data + i, l);
		memcpy(img + o + JOURNAL_REC_HDR, data + i, l);
		o += JOURNAL_REC_HDR + l;
		i += l;
	}
	if (journal_scan(img, o, &gen, &valid, &torn, replay, NULL) != RN_OK || valid != o ||
	    torn || gen != 7)
		abort();
	/* Ticks over whatever was ingested, to exercise the sets it built. */
	scoring_engine_advance(engine, 1800000000000 + 60000, NULL, NULL);
	free(img);
	scoring_engine_free(engine);
	engine = NULL;
	return 0;
}
