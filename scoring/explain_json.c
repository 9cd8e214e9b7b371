/*
 * explain_json.c: struct scoring_explain as JSON and back, losslessly:
 * how a running repnetd hands an explanation to `repnet explain`, which
 * then prints it exactly as it prints one it computed itself.
 *
 * Design notes: the form is the struct's, field for field: times in
 * milliseconds, scores in milli-points, kinds and categories by number,
 * doubles in the shortest text that reads back as the same value. It is a
 * form between repnet's own two programs of one version, not a public
 * format (`repnet explain --json` is that). The reader is strict (the
 * proto reader, every length checked, every count bounded by the
 * struct's arrays); members it does not know are skipped, so a newer
 * daemon may add some.
 */
#include <stddef.h>
#include <string.h>

#include "scoring/scoring.h"

static void entry_write(struct rn_jsonw *w, const struct scoring_entry *e)
{
	char p[RN_PREFIX_STRLEN];
	rn_prefix_format(&e->prefix, p, sizeof(p));
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_str(w, "prefix", p);
	rn_jsonw_kv_uint(w, "cats", e->cats);
	rn_jsonw_kv_int(w, "expires_ms", e->expires_ms);
	rn_jsonw_kv_uint(w, "score", e->score);
	rn_jsonw_kv_int(w, "first_seen_ms", e->first_seen_ms);
	rn_jsonw_kv_int(w, "last_seen_ms", e->last_seen_ms);
	rn_jsonw_kv_uint(w, "offences", e->offences);
	rn_jsonw_kv_uint(w, "flags", e->flags);
	rn_jsonw_obj_end(w);
}

static void contrib_write(struct rn_jsonw *w, const struct scoring_contrib *c)
{
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_uint(w, "kind", c->kind);
	rn_jsonw_kv_uint(w, "category", c->category);
	rn_jsonw_kv_bool(w, "alone", c->alone);
	rn_jsonw_key(w, "weight");
	rn_jsonw_double(w, c->weight);
	rn_jsonw_kv_int(w, "half_life_ms", c->half_life_ms);
	rn_jsonw_kv_int(w, "window_ms", c->window_ms);
	rn_jsonw_kv_int(w, "bucket_start_ms", c->bucket_start_ms);
	rn_jsonw_kv_int(w, "set_first_ms", c->set_first_ms);
	rn_jsonw_kv_int(w, "set_last_ms", c->set_last_ms);
	rn_jsonw_kv_uint(w, "count", c->count);
	rn_jsonw_key(w, "decay");
	rn_jsonw_double(w, c->decay);
	rn_jsonw_kv_uint(w, "points", c->points);
	rn_jsonw_key(w, "evidence");
	rn_jsonw_arr_begin(w);
	for (unsigned i = 0; i < c->nevidence; i++)
		rn_jsonw_str(w, c->evidence[i]);
	rn_jsonw_arr_end(w);
	rn_jsonw_key(w, "collectors");
	rn_jsonw_arr_begin(w);
	for (unsigned i = 0; i < c->nevidence; i++)
		rn_jsonw_str(w, c->collector[i]);
	rn_jsonw_arr_end(w);
	rn_jsonw_obj_end(w);
}

void scoring_explain_json_write(struct rn_jsonw *w, const struct scoring_explain *x)
{
	char p[RN_PREFIX_STRLEN];
	rn_prefix_format(&x->key, p, sizeof(p));
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_str(w, "key", p);
	rn_jsonw_kv_int(w, "at_ms", x->at_ms);
	rn_jsonw_kv_uint(w, "score", x->score);
	rn_jsonw_kv_bool(w, "eligible", x->eligible);
	rn_jsonw_kv_bool(w, "protected", x->protected_);
	rn_jsonw_kv_bool(w, "listed", x->listed);
	rn_jsonw_kv_bool(w, "dry_run", x->dry_run);
	if (x->listed) {
		rn_jsonw_key(w, "entry");
		entry_write(w, &x->entry);
	}
	rn_jsonw_kv_bool(w, "covered", x->covered);
	if (x->covered) {
		rn_jsonw_key(w, "cover");
		entry_write(w, &x->cover);
	}
	rn_jsonw_kv_uint(w, "offences", x->offences);
	rn_jsonw_kv_uint(w, "held", x->held);
	rn_jsonw_key(w, "threshold");
	rn_jsonw_double(w, x->threshold);
	rn_jsonw_key(w, "delist_threshold");
	rn_jsonw_double(w, x->delist_threshold);
	rn_jsonw_key(w, "contrib");
	rn_jsonw_arr_begin(w);
	for (unsigned i = 0; i < x->ncontrib && i < SCORING_EXPLAIN_MAX; i++)
		contrib_write(w, &x->contrib[i]);
	rn_jsonw_arr_end(w);
	rn_jsonw_obj_end(w);
}

/* ---- reading ------------------------------------------------------------ */

/* Integers first read as 64 bits, then range-checked into the struct's widths. */
struct entry_in {
	char prefix[RN_PREFIX_STRLEN];
	uint64_t cats, score, offences, flags;
	int64_t expires_ms, first_seen_ms, last_seen_ms;
};

#define EF(name, type, m)                                                                         \
	{                                                                                         \
		name, type, offsetof(struct entry_in, m), sizeof(((struct entry_in *)0)->m), NULL \
	}
static const struct rn_json_field entry_fields[] = {
        EF("prefix", RN_JSON_F_STR, prefix),
        EF("cats", RN_JSON_F_UINT, cats),
        EF("expires_ms", RN_JSON_F_INT, expires_ms),
        EF("score", RN_JSON_F_UINT, score),
        EF("first_seen_ms", RN_JSON_F_INT, first_seen_ms),
        EF("last_seen_ms", RN_JSON_F_INT, last_seen_ms),
        EF("offences", RN_JSON_F_UINT, offences),
        EF("flags", RN_JSON_F_UINT, flags),
};
#undef EF

static int entry_read(struct rn_json *r, int tok, struct scoring_entry *e)
{
	struct entry_in in;
	memset(&in, 0, sizeof(in));
	uint32_t seen = 0;
	int rc = rn_json_object(r, tok, entry_fields, RN_ARRAY_LEN(entry_fields), RN_JSON_FLAT, &in,
	                        &seen);
	if (rc != RN_OK)
		return rc;
	if (seen != (1u << RN_ARRAY_LEN(entry_fields)) - 1)
		return rn_json_fail(r, RN_EPARSE, "an entry lacks a member");
	if (in.cats > UINT32_MAX || in.score > UINT32_MAX || in.offences > UINT8_MAX ||
	    in.flags > UINT8_MAX)
		return rn_json_fail(r, RN_EPARSE, "an entry's number is out of range");
	if (rn_prefix_parse_str(in.prefix, false, &e->prefix) != RN_OK)
		return rn_json_fail(r, RN_EPARSE, "an entry's prefix is not a prefix");
	e->cats = (uint32_t)in.cats;
	e->expires_ms = in.expires_ms;
	e->score = (uint32_t)in.score;
	e->first_seen_ms = in.first_seen_ms;
	e->last_seen_ms = in.last_seen_ms;
	e->offences = (uint8_t)in.offences;
	e->flags = (uint8_t)in.flags;
	return RN_OK;
}

static int read_entry_fn(struct rn_json *r, int tok, void *base)
{
	return entry_read(r, tok, base);
}

/* A double member's value. */
static int read_double(struct rn_json *r, int tok, double *v)
{
	if (tok != RN_JSON_NUM || rn_json_double(r, v) != RN_OK)
		return rn_json_fail(r, RN_EPARSE, "expected a number");
	return RN_OK;
}

/* An array of at most 4 strings into char[4][size] at dst; *n their number. */
static int read_strs(struct rn_json *r, int tok, char *dst, size_t size, unsigned *n)
{
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	*n = 0;
	while ((tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		if (tok == RN_JSON_STR) {
			if (*n == 4)
				return rn_json_fail(r, RN_ELIMIT, "more than 4 evidence codes");
			if (r->str_len >= size || memchr(r->str, '\0', r->str_len) != NULL)
				return rn_json_fail(r, RN_EPARSE,
				                    "a string is too long, or holds a NUL");
			memcpy(dst + *n * size, r->str, r->str_len + 1);
			(*n)++;
		} else {
			return tok < 0 ? tok : rn_json_fail(r, RN_EPARSE, "expected a string");
		}
	}
	return RN_OK;
}

struct contrib_in {
	struct scoring_contrib *c;
	uint64_t kind, category, count, points;
	int64_t half_life_ms, window_ms, bucket_start_ms, set_first_ms, set_last_ms;
	bool alone;
	unsigned ncol;
	char col[4][RN_COLLECTOR_NAME_MAX];
};

static int c_weight(struct rn_json *r, int tok, void *base)
{
	return read_double(r, tok, &((struct contrib_in *)base)->c->weight);
}

static int c_decay(struct rn_json *r, int tok, void *base)
{
	return read_double(r, tok, &((struct contrib_in *)base)->c->decay);
}

static int c_evidence(struct rn_json *r, int tok, void *base)
{
	struct scoring_contrib *c = ((struct contrib_in *)base)->c;
	return read_strs(r, tok, c->evidence[0], sizeof(c->evidence[0]), &c->nevidence);
}

static int c_collectors(struct rn_json *r, int tok, void *base)
{
	struct contrib_in *in = base;
	return read_strs(r, tok, in->col[0], sizeof(in->col[0]), &in->ncol);
}

#define CF(name, type, m)                                           \
	{                                                           \
		name, type, offsetof(struct contrib_in, m), 0, NULL \
	}
#define CFN(name, fn)                        \
	{                                    \
		name, RN_JSON_F_FN, 0, 0, fn \
	}
static const struct rn_json_field contrib_fields[] = {
        CF("kind", RN_JSON_F_UINT, kind),
        CF("category", RN_JSON_F_UINT, category),
        CF("alone", RN_JSON_F_BOOL, alone),
        CFN("weight", c_weight),
        CF("half_life_ms", RN_JSON_F_INT, half_life_ms),
        CF("window_ms", RN_JSON_F_INT, window_ms),
        CF("bucket_start_ms", RN_JSON_F_INT, bucket_start_ms),
        CF("set_first_ms", RN_JSON_F_INT, set_first_ms),
        CF("set_last_ms", RN_JSON_F_INT, set_last_ms),
        CF("count", RN_JSON_F_UINT, count),
        CFN("decay", c_decay),
        CF("points", RN_JSON_F_UINT, points),
        CFN("evidence", c_evidence),
        CFN("collectors", c_collectors),
};
#undef CF
#undef CFN

static int contrib_read(struct rn_json *r, int tok, struct scoring_contrib *c)
{
	struct contrib_in in;
	memset(&in, 0, sizeof(in));
	memset(c, 0, sizeof(*c));
	in.c = c;
	uint32_t seen = 0;
	int rc =
	        rn_json_object(r, tok, contrib_fields, RN_ARRAY_LEN(contrib_fields), 0, &in, &seen);
	if (rc != RN_OK)
		return rc;
	if (seen != (1u << RN_ARRAY_LEN(contrib_fields)) - 1)
		return rn_json_fail(r, RN_EPARSE, "a contribution lacks a member");
	if (in.kind >= RN_KIND_MAX || in.category > UINT8_MAX || in.count > UINT32_MAX ||
	    in.points > UINT32_MAX)
		return rn_json_fail(r, RN_EPARSE, "a contribution's number is out of range");
	if (in.ncol != c->nevidence)
		return rn_json_fail(r, RN_EPARSE, "evidence and collectors differ in length");
	c->kind = (uint8_t)in.kind;
	c->category = (uint8_t)in.category;
	c->alone = in.alone;
	c->half_life_ms = in.half_life_ms;
	c->window_ms = in.window_ms;
	c->bucket_start_ms = in.bucket_start_ms;
	c->set_first_ms = in.set_first_ms;
	c->set_last_ms = in.set_last_ms;
	c->count = (unsigned)in.count;
	c->points = (uint32_t)in.points;
	memcpy(c->collector, in.col, sizeof(c->collector));
	return RN_OK;
}

struct explain_in {
	struct scoring_explain *x;
	char key[RN_PREFIX_STRLEN];
	int64_t at_ms;
	uint64_t score, offences, held;
	bool eligible, protected_, listed, dry_run, covered;
};

static int x_entry(struct rn_json *r, int tok, void *base)
{
	return read_entry_fn(r, tok, &((struct explain_in *)base)->x->entry);
}

static int x_cover(struct rn_json *r, int tok, void *base)
{
	return read_entry_fn(r, tok, &((struct explain_in *)base)->x->cover);
}

static int x_threshold(struct rn_json *r, int tok, void *base)
{
	return read_double(r, tok, &((struct explain_in *)base)->x->threshold);
}

static int x_delist(struct rn_json *r, int tok, void *base)
{
	return read_double(r, tok, &((struct explain_in *)base)->x->delist_threshold);
}

static int x_contrib(struct rn_json *r, int tok, void *base)
{
	struct scoring_explain *x = ((struct explain_in *)base)->x;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	x->ncontrib = 0;
	while ((tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		if (tok < 0)
			return tok;
		if (x->ncontrib == SCORING_EXPLAIN_MAX)
			return rn_json_fail(r, RN_ELIMIT, "too many contributions");
		int rc = contrib_read(r, tok, &x->contrib[x->ncontrib]);
		if (rc != RN_OK)
			return rc;
		x->ncontrib++;
	}
	return RN_OK;
}

#define XF(name, type, m)                                                                        \
	{                                                                                        \
		name, type, offsetof(struct explain_in, m), sizeof(((struct explain_in *)0)->m), \
		        NULL                                                                     \
	}
#define XFN(name, fn)                        \
	{                                    \
		name, RN_JSON_F_FN, 0, 0, fn \
	}
static const struct rn_json_field explain_fields[] = {
        XF("key", RN_JSON_F_STR, key),
        XF("at_ms", RN_JSON_F_INT, at_ms),
        XF("score", RN_JSON_F_UINT, score),
        XF("eligible", RN_JSON_F_BOOL, eligible),
        XF("protected", RN_JSON_F_BOOL, protected_),
        XF("listed", RN_JSON_F_BOOL, listed),
        XF("dry_run", RN_JSON_F_BOOL, dry_run),
        XFN("entry", x_entry),
        XF("covered", RN_JSON_F_BOOL, covered),
        XFN("cover", x_cover),
        XF("offences", RN_JSON_F_UINT, offences),
        XF("held", RN_JSON_F_UINT, held),
        XFN("threshold", x_threshold),
        XFN("delist_threshold", x_delist),
        XFN("contrib", x_contrib),
};
#undef XF
#undef XFN

int scoring_explain_json_read(const uint8_t *buf, size_t len, struct scoring_explain *x, char *err,
                              size_t errlen)
{
	char str[256];
	struct rn_json r;
	struct explain_in in;
	memset(x, 0, sizeof(*x));
	memset(&in, 0, sizeof(in));
	in.x = x;
	rn_json_init(&r, buf, len, str, sizeof(str));
	uint32_t seen = 0;
	int tok = rn_json_next(&r);
	int rc = tok < 0 ? tok
	                 : rn_json_object(&r, tok, explain_fields, RN_ARRAY_LEN(explain_fields), 0,
	                                  &in, &seen);
	if (rc == RN_OK && (tok = rn_json_next(&r)) != RN_JSON_END)
		rc = tok < 0 ? tok : rn_json_fail(&r, RN_EPARSE, "more after the object");
	/* entry (bit 7) when listed, cover (bit 9) when covered; the rest always. */
	uint32_t want = ((1u << RN_ARRAY_LEN(explain_fields)) - 1) & ~(1u << 7) & ~(1u << 9);
	if (in.listed)
		want |= 1u << 7;
	if (in.covered)
		want |= 1u << 9;
	if (rc == RN_OK && seen != want)
		rc = rn_json_fail(&r, RN_EPARSE,
		                  "the explanation lacks a member, or has one too many");
	if (rc == RN_OK &&
	    (in.score > UINT32_MAX || in.offences > UINT32_MAX || in.held > UINT32_MAX))
		rc = rn_json_fail(&r, RN_EPARSE, "a number is out of range");
	if (rc == RN_OK && rn_prefix_parse_str(in.key, false, &x->key) != RN_OK)
		rc = rn_json_fail(&r, RN_EPARSE, "the key is not a prefix");
	if (rc != RN_OK) {
		if (err != NULL && errlen > 0)
			rn_json_error(&r, err, errlen);
		return rc;
	}
	x->at_ms = in.at_ms;
	x->score = (uint32_t)in.score;
	x->eligible = in.eligible;
	x->protected_ = in.protected_;
	x->listed = in.listed;
	x->dry_run = in.dry_run;
	x->covered = in.covered;
	x->offences = (unsigned)in.offences;
	x->held = (unsigned)in.held;
	return RN_OK;
}
