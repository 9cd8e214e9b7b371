/*
 * state_fuzz.c: the scorer's snapshot loader. The input is tried as a
 * whole file, and (so that the fuzzer gets past the CRCs) as a body
 * wrapped in a header with correct CRCs. Whatever loads must save and load
 * back (with the same journal position and applied batches), and answer
 * explain.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scoring_conf conf;
static bool have_conf;

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void try_load(const uint8_t *buf, size_t len)
{
	struct scoring_engine *e = NULL, *f = NULL;
	struct batches b = {0}, b2 = {0};
	struct jpos pos, pos2;
	if (state_load(buf, len, &conf, true, &e, &b, &pos) != RN_OK)
		return;
	uint8_t *out = NULL;
	size_t olen = 0;
	if (state_save(e, &b, pos, &out, &olen) != RN_OK)
		abort();
	if (state_load(out, olen, &conf, true, &f, &b2, &pos2) != RN_OK || pos.gen != pos2.gen ||
	    pos.off != pos2.off || b.n != b2.n)
		abort();
	for (size_t i = 0; i < b.n; i++) {
		const struct batch_mark *m = batches_find(&b2, b.v[i].id);
		if (m == NULL || m->seq != b.v[i].seq)
			abort();
	}
	static struct scoring_explain x;
	struct rn_addr a;
	rn_addr_set_v4(&a, 0xC6336401u);
	scoring_engine_explain(f, &a, &x);
	free(out);
	batches_release(&b);
	batches_release(&b2);
	scoring_engine_free(e);
	scoring_engine_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!have_conf) {
		rn_log_init("fuzz", true, RN_LOG_ERR);
		if (scoring_conf_defaults(&conf) != RN_OK)
			abort();
		have_conf = true;
	}
	try_load(data, size);
	if (size > (64u << 20))
		return 0;
	uint8_t *w = malloc(STATE_HDR_LEN + size + 1);
	if (w == NULL)
		return 0;
	memcpy(w, "RNSS", 4);
	put32(w + 4, 1);
	put32(w + 8, 0);
	put32(w + 12, (uint32_t)size);
	put32(w + 16, rn_crc32c(0, data, size));
	put32(w + 20, rn_crc32c(0, w, 20));
	if (size > 0)
		memcpy(w + STATE_HDR_LEN, data, size);
	try_load(w, STATE_HDR_LEN + size);
	free(w);
	return 0;
}
