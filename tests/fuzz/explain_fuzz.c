/*
 * explain_fuzz.c: the reader of repnetd's /v1/explain answer
 * (scoring_explain_json_read()). What it accepts is written again and
 * read back: the second reading must give the same explanation.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/scoring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scoring_explain *x, *y;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (x == NULL) {
		x = malloc(sizeof(*x));
		y = malloc(sizeof(*y));
		if (x == NULL || y == NULL)
			abort();
	}
	char err[128];
	if (scoring_explain_json_read(data, size, x, err, sizeof(err)) != RN_OK)
		return 0;
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 16u << 20);
	rn_jsonw_init(&w, &b);
	scoring_explain_json_write(&w, x);
	if (rn_jsonw_finish(&w) != RN_OK ||
	    scoring_explain_json_read((const uint8_t *)rn_strbuf_str(&b), rn_strbuf_len(&b), y, err,
	                              sizeof(err)) != RN_OK ||
	    x->score != y->score || x->ncontrib != y->ncontrib || x->listed != y->listed ||
	    x->entry.expires_ms != y->entry.expires_ms)
		abort();
	rn_strbuf_release(&b);
	return 0;
}
