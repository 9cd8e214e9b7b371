/*
 * json_fuzz.c: the strict JSON reader. Whatever it accepts, the writer
 * writes again token by token, and the reader reads that copy back to the
 * same tokens: strings, numbers and nesting survive the round trip, and
 * no input makes the reader run past its buffer or its depth.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies every token of r into w; returns the reader's verdict. */
static int copy(struct rn_json *r, struct rn_jsonw *w)
{
	for (;;) {
		int tok = rn_json_next(r);
		if (tok < 0)
			return tok;
		if (r->depth > RN_JSON_DEPTH_MAX || r->str_len >= r->str_cap)
			abort();
		switch (tok) {
		case RN_JSON_END:
			return RN_OK;
		case RN_JSON_OBJ_BEGIN:
			rn_jsonw_obj_begin(w);
			break;
		case RN_JSON_OBJ_END:
			rn_jsonw_obj_end(w);
			break;
		case RN_JSON_ARR_BEGIN:
			rn_jsonw_arr_begin(w);
			break;
		case RN_JSON_ARR_END:
			rn_jsonw_arr_end(w);
			break;
		case RN_JSON_KEY:
			rn_jsonw_key(w, r->str);
			break;
		case RN_JSON_STR:
			rn_jsonw_strn(w, r->str, r->str_len);
			break;
		case RN_JSON_NUM:
			rn_jsonw_numf(w, "%s", r->num);
			break;
		case RN_JSON_TRUE:
		case RN_JSON_FALSE:
			rn_jsonw_bool(w, tok == RN_JSON_TRUE);
			break;
		case RN_JSON_NULL:
			rn_jsonw_null(w);
			break;
		default:
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s1[4096], s2[4096];
	struct rn_json r;
	char err[128];
	rn_json_init(&r, data, size, s1, sizeof(s1));
	struct rn_strbuf b;
	rn_strbuf_init(&b, size * 8 + 64);
	struct rn_jsonw w;
	rn_jsonw_init(&w, &b);
	int rc = copy(&r, &w);
	rn_json_error(&r, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc != RN_OK) {
		if (rc != RN_EPARSE && rc != RN_ELIMIT)
			abort();
		rn_strbuf_release(&b);
		return 0;
	}
	if (rn_jsonw_finish(&w) != RN_OK)
		abort();
	/* The copy reads back token for token. */
	struct rn_json a, c;
	rn_json_init(&a, data, size, s1, sizeof(s1));
	rn_json_init(&c, (const uint8_t *)rn_strbuf_str(&b), rn_strbuf_len(&b), s2, sizeof(s2));
	for (;;) {
		int ta = rn_json_next(&a), tc = rn_json_next(&c);
		if (ta != tc)
			abort();
		if ((ta == RN_JSON_KEY || ta == RN_JSON_STR) &&
		    (a.str_len != c.str_len || memcmp(a.str, c.str, a.str_len) != 0))
			abort();
		if (ta == RN_JSON_NUM && strcmp(a.num, c.num) != 0)
			abort();
		if (ta == RN_JSON_END)
			break;
	}
	rn_strbuf_release(&b);
	return 0;
}
