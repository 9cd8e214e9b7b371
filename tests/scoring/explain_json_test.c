/*
 * explain_json_test.c: an explanation as repnetd hands it to repnet
 * explain (scoring_explain_json_write/read): one from a real engine, with
 * a listing, a covering prefix, evidence and collectors, reads back equal
 * field for field; answers that are not whole or not in range are refused
 * with a reason.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/engine.h"

#define MIN 60000
#define T0  1800000000000

static char *write_json(const struct scoring_explain *x)
{
	struct rn_strbuf b;
	struct rn_jsonw w;
	char *s;
	rn_strbuf_init(&b, 16u << 20);
	rn_jsonw_init(&w, &b);
	scoring_explain_json_write(&w, x);
	RN_PASS(rn_jsonw_finish(&w));
	RN_PASS(rn_strbuf_take(&b, &s, NULL));
	return s;
}

static int prefix_cmp(const struct rn_prefix *a, const struct rn_prefix *b)
{
	return a->len != b->len ? 1 : rn_addr_cmp(&a->addr, &b->addr);
}

static void same_entry(const struct scoring_entry *a, const struct scoring_entry *b)
{
	assert_int_equal(prefix_cmp(&a->prefix, &b->prefix), 0);
	assert_int_equal(a->cats, b->cats);
	assert_int_equal(a->expires_ms, b->expires_ms);
	assert_int_equal(a->score, b->score);
	assert_int_equal(a->first_seen_ms, b->first_seen_ms);
	assert_int_equal(a->last_seen_ms, b->last_seen_ms);
	assert_int_equal(a->offences, b->offences);
	assert_int_equal(a->flags, b->flags);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct scoring_conf c;
	struct scoring_engine *e;
	RN_PASS(scoring_conf_defaults(&c));
	c.default_never_block = false;
	c.lateness_ms = 0;
	RN_PASS(scoring_engine_new(&c, false, &e));
	/* SASL failures with two evidence codes from a named collector, and an imported prefix. */
	struct rn_obs o[12];
	memset(o, 0, sizeof(o));
	for (int i = 0; i < 11; i++) {
		RN_PASS(rn_addr_parse_str("192.0.2.7", &o[i].addr));
		o[i].kind = RN_KIND_SASL_FAIL;
		o[i].source = RN_SRC_POSTFIX;
		o[i].count = 1;
		o[i].ts_ms = T0 + i * 1000;
		rn_obs_set_evidence(&o[i], i % 2 ? "auth:LOGIN" : "auth:PLAIN", 10);
	}
	RN_PASS(rn_addr_parse_str("192.0.2.0", &o[11].addr));
	o[11].prefix_len = 24;
	o[11].kind = RN_KIND_IMPORTED;
	o[11].source = RN_SRC_IMPORT;
	o[11].count = 1;
	o[11].ts_ms = T0;
	RN_PASS(scoring_engine_ingest(e, o, RN_ARRAY_LEN(o), 0, NULL));
	RN_PASS(scoring_engine_advance(e, 0, NULL, NULL));
	/* The event clock moves on a minute (an observation that lists nothing), and ticks. */
	struct rn_obs later = o[0];
	RN_PASS(rn_addr_parse_str("198.51.100.250", &later.addr));
	later.kind = RN_KIND_NO_RDNS;
	later.ts_ms = T0 + MIN;
	RN_PASS(scoring_engine_ingest(e, &later, 1, 0, NULL));
	RN_PASS(scoring_engine_advance(e, 0, NULL, NULL));

	struct scoring_explain *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));
	assert_non_null(x);
	assert_non_null(y);
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("192.0.2.7", &a));
	RN_PASS(scoring_engine_explain(e, &a, x));
	assert_true(x->listed);
	assert_true(x->covered);
	assert_true(x->ncontrib >= 1);
	assert_true(x->contrib[0].nevidence >= 2);
	/* A collector's name on the first code, as the scorer's keyring gives them. */
	snprintf(x->contrib[0].collector[0], sizeof(x->contrib[0].collector[0]), "edge\"1");

	char *s = write_json(x);
	char err[128];
	RN_PASS(scoring_explain_json_read((const uint8_t *)s, strlen(s), y, err, sizeof(err)));
	assert_int_equal(prefix_cmp(&x->key, &y->key), 0);
	assert_int_equal(x->at_ms, y->at_ms);
	assert_int_equal(x->score, y->score);
	assert_int_equal(x->eligible, y->eligible);
	assert_int_equal(x->protected_, y->protected_);
	assert_int_equal(x->listed, y->listed);
	assert_int_equal(x->dry_run, y->dry_run);
	assert_int_equal(x->covered, y->covered);
	same_entry(&x->entry, &y->entry);
	same_entry(&x->cover, &y->cover);
	assert_int_equal(x->offences, y->offences);
	assert_int_equal(x->held, y->held);
	assert_true(x->threshold == y->threshold);
	assert_true(x->delist_threshold == y->delist_threshold);
	assert_int_equal(x->ncontrib, y->ncontrib);
	for (unsigned i = 0; i < x->ncontrib; i++) {
		const struct scoring_contrib *p = &x->contrib[i], *q = &y->contrib[i];
		assert_int_equal(p->kind, q->kind);
		assert_int_equal(p->category, q->category);
		assert_int_equal(p->alone, q->alone);
		assert_true(p->weight == q->weight);
		assert_true(p->decay == q->decay);
		assert_int_equal(p->half_life_ms, q->half_life_ms);
		assert_int_equal(p->window_ms, q->window_ms);
		assert_int_equal(p->bucket_start_ms, q->bucket_start_ms);
		assert_int_equal(p->set_first_ms, q->set_first_ms);
		assert_int_equal(p->set_last_ms, q->set_last_ms);
		assert_int_equal(p->count, q->count);
		assert_int_equal(p->points, q->points);
		assert_int_equal(p->nevidence, q->nevidence);
		for (unsigned j = 0; j < p->nevidence; j++) {
			assert_string_equal(p->evidence[j], q->evidence[j]);
			assert_string_equal(p->collector[j], q->collector[j]);
		}
	}
	/* Written again, the same text. */
	char *s2 = write_json(y);
	assert_string_equal(s, s2);
	free(s2);
	free(s);
	free(x);
	free(y);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

/* Each of these is refused, with a reason. */
static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "[]",
	        /* a member missing (threshold) */
	        "{\"key\":\"192.0.2.7/32\",\"at_ms\":1,\"score\":0,\"eligible\":false,"
	        "\"protected\":false,\"listed\":false,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"delist_threshold\":2.5,\"contrib\":[]}",
	        /* listed without its entry */
	        "{\"key\":\"192.0.2.7/32\",\"at_ms\":1,\"score\":0,\"eligible\":false,"
	        "\"protected\":false,\"listed\":true,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"threshold\":4.5,\"delist_threshold\":2.5,\"contrib\":["
	        "]}",
	        /* a score past 32 bits */
	        "{\"key\":\"192.0.2.7/32\",\"at_ms\":1,\"score\":4294967296,\"eligible\":false,"
	        "\"protected\":false,\"listed\":false,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"threshold\":4.5,\"delist_threshold\":2.5,\"contrib\":["
	        "]}",
	        /* not a prefix */
	        "{\"key\":\"192.0.2.7/33\",\"at_ms\":1,\"score\":0,\"eligible\":false,"
	        "\"protected\":false,\"listed\":false,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"threshold\":4.5,\"delist_threshold\":2.5,\"contrib\":["
	        "]}",
	        /* five evidence codes */
	        "{\"key\":\"192.0.2.7/32\",\"at_ms\":1,\"score\":0,\"eligible\":false,"
	        "\"protected\":false,\"listed\":false,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"threshold\":4.5,\"delist_threshold\":2.5,\"contrib\":["
	        "{\"kind\":13,\"category\":1,\"alone\":true,\"weight\":1,\"half_life_ms\":1,"
	        "\"window_ms\":0,\"bucket_start_ms\":0,\"set_first_ms\":0,\"set_last_ms\":0,"
	        "\"count\":1,\"decay\":1,\"points\":1000,\"evidence\":[\"a\",\"b\",\"c\",\"d\","
	        "\"e\"],"
	        "\"collectors\":[\"\",\"\",\"\",\"\",\"\"]}]}",
	        /* trailing bytes */
	        "{\"key\":\"192.0.2.7/32\",\"at_ms\":1,\"score\":0,\"eligible\":false,"
	        "\"protected\":false,\"listed\":false,\"dry_run\":false,\"covered\":false,"
	        "\"offences\":0,\"held\":0,\"threshold\":4.5,\"delist_threshold\":2.5,\"contrib\":["
	        "]}x",
	};
	struct scoring_explain *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		char err[128] = "";
		int rc = scoring_explain_json_read((const uint8_t *)bad[i], strlen(bad[i]), x, err,
		                                   sizeof(err));
		if (rc == RN_OK)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
	/* The last one without its trailing byte is whole. */
	const char *ok = bad[RN_ARRAY_LEN(bad) - 1];
	RN_PASS(scoring_explain_json_read((const uint8_t *)ok, strlen(ok) - 1, x, NULL, 0));
	free(x);
}

RN_TEST_MAIN(test_roundtrip, test_refused)
