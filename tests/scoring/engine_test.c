/*
 * engine_test.c: the scoring engine's rules, one scenario each:
 * hysteresis, TTL growth on repeat offences and offence decay, the alone
 * rule, prefix escalation and what it must never cross, event-time replay
 * against live operation, dry run, the ingest counters, explain,
 * reconfiguration, and real-time scoring (listing between ticks, late
 * events decided at their own time).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/engine.h"

#define MIN 60000
#define T0  1800000000000 /* a multiple of every duration used below */

static struct scoring_conf base_conf(void)
{
	struct scoring_conf c;
	if (scoring_conf_defaults(&c) != RN_OK)
		fail_msg("defaults");
	memset(c.kinds, 0, sizeof(c.kinds));
	c.kinds[RN_KIND_SASL_FAIL] = (struct scoring_kind){.weight = 1,
	                                                   .half_life_ms = 10 * MIN,
	                                                   .category = RN_CAT_SASL_BRUTEFORCE,
	                                                   .alone = true,
	                                                   .max_count = 15};
	c.kinds[RN_KIND_HANGUP] = (struct scoring_kind){.weight = 4,
	                                                .half_life_ms = 10 * MIN,
	                                                .category = RN_CAT_PROTOCOL_BOT,
	                                                .alone = false,
	                                                .max_count = 3};
	c.kinds[RN_KIND_NO_RDNS] = (struct scoring_kind){.weight = 2,
	                                                 .window_ms = 30 * MIN,
	                                                 .category = RN_CAT_UNSPECIFIED,
	                                                 .alone = false,
	                                                 .max_count = 1};
	c.kinds[RN_KIND_PREGREET] = (struct scoring_kind){.weight = 5,
	                                                  .half_life_ms = 60 * MIN,
	                                                  .category = RN_CAT_PROTOCOL_BOT,
	                                                  .alone = true,
	                                                  .max_count = 1};
	c.bucket_ms = MIN;
	c.tick_ms = 10000;
	c.full_every = 1; /* scores in the table are fresh at every tick */
	c.lateness_ms = 0;
	c.realtime_ms = 0; /* ticks only; the real-time tests turn it on */
	c.ttl_ms = 10 * MIN;
	c.ttl_max_ms = 80 * MIN;
	c.ttl_growth = 2;
	c.expiry_quantum_ms = MIN;
	c.offence_decay_ms = 24 * 60 * MIN;
	c.default_never_block = false;
	return c;
}

static struct rn_obs ob(const char *ip, enum rn_kind kind, int64_t ts, uint32_t count)
{
	struct rn_obs o;
	memset(&o, 0, sizeof(o));
	if (rn_addr_parse_str(ip, &o.addr) != RN_OK)
		fail_msg("address %s", ip);
	o.kind = (uint16_t)kind;
	o.ts_ms = ts;
	o.count = count;
	o.source = RN_SRC_POSTFIX;
	return o;
}

static void feed(struct scoring_engine *e, struct rn_obs o)
{
	RN_PASS(scoring_engine_ingest(e, &o, 1, 0, NULL));
	RN_PASS(scoring_engine_advance(e, 0, NULL, NULL));
}

/* Moves the replay clock to t with an observation nothing lists. */
static void clock_to(struct scoring_engine *e, int64_t t)
{
	feed(e, ob("192.0.2.250", RN_KIND_NO_RDNS, t, 1));
}

static bool listed(struct scoring_engine *e, const char *pfx, struct scoring_entry *out)
{
	struct rn_prefix p;
	struct scoring_entry tmp;
	if (rn_prefix_parse_str(pfx, true, &p) != RN_OK)
		fail_msg("prefix %s", pfx);
	return scoring_table_find(scoring_engine_table(e), &p, out ? out : &tmp);
}

static void test_hysteresis(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	feed(e, ob("198.51.100.1", RN_KIND_SASL_FAIL, T0, 6)); /* 6 points */
	feed(e, ob("198.51.100.2", RN_KIND_SASL_FAIL, T0, 4)); /* 4: below the threshold */
	clock_to(e, T0 + 20000);
	struct scoring_entry x;
	assert_true(listed(e, "198.51.100.1", &x));
	assert_false(listed(e, "198.51.100.2", NULL));
	assert_int_equal(x.score, 6000);
	assert_int_equal(x.offences, 1);
	assert_int_equal(x.expires_ms, T0 + 11 * MIN); /* tick at T0+10s, +10m, rounded up */
	assert_true(x.cats == 1u << RN_CAT_SASL_BRUTEFORCE);
	/*
	 * 6 points decay from the bucket's end (T0+1m) with a 10 minute half
	 * life: below 5 after 2.6 minutes, below 2.5 after 12.6. In between,
	 * listed and, once less than half the TTL is left, renewed.
	 */
	clock_to(e, T0 + 5 * MIN);
	assert_true(listed(e, "198.51.100.1", &x));
	assert_true(x.score < 5000 && x.score >= 2500);
	assert_int_equal(x.expires_ms, T0 + 11 * MIN);
	clock_to(e, T0 + 7 * MIN);
	assert_true(listed(e, "198.51.100.1", &x));
	assert_int_equal(x.expires_ms, T0 + 17 * MIN); /* renewed at T0+6m10s */
	clock_to(e, T0 + 13 * MIN);
	assert_true(listed(e, "198.51.100.1", &x));
	assert_int_equal(x.expires_ms, T0 + 23 * MIN); /* again at T0+12m10s: 2.76 >= 2.5 */
	/* Below 2.5 from T0+13.6m: not renewed again, but kept until it expires. */
	clock_to(e, T0 + 22 * MIN);
	assert_true(listed(e, "198.51.100.1", &x));
	assert_true(x.score < 2500);
	assert_int_equal(x.expires_ms, T0 + 23 * MIN);
	clock_to(e, T0 + 23 * MIN + 10000);
	assert_false(listed(e, "198.51.100.1", NULL));
	/* The other address never reached the threshold, so it was never listed. */
	assert_false(listed(e, "198.51.100.2", NULL));
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_ttl_growth(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	/* A short memory for the score, so each offence is a separate listing. */
	c.kinds[RN_KIND_PREGREET].half_life_ms = MIN;
	c.tick_ms = MIN;
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	int64_t t = T0;
	int64_t want[] = {10, 20, 40, 80, 80}; /* minutes: doubling, capped at ttl_max */
	for (int i = 0; i < 5; i++) {
		feed(e, ob("203.0.113.9", RN_KIND_PREGREET, t, 1));
		clock_to(e, t + MIN);
		struct scoring_entry x;
		assert_true(listed(e, "203.0.113.9", &x));
		assert_int_equal(x.offences, i + 1);
		/* Listed at the tick t+1m; the expiry is on a minute already. */
		assert_int_equal(x.expires_ms, t + MIN + want[i] * MIN);
		/* After it expired, and its bucket is past its horizon (8 half-lives). */
		t = x.expires_ms + 10 * MIN;
		clock_to(e, t);
		assert_false(listed(e, "203.0.113.9", NULL));
	}
	/*
	 * Offences halve every offence_decay (1 day here): three period
	 * boundaries later the count of 5 is 0, and the next listing is a
	 * first one again.
	 */
	t += 3 * 24 * 60 * MIN;
	clock_to(e, t);
	feed(e, ob("203.0.113.9", RN_KIND_PREGREET, t, 1));
	clock_to(e, t + MIN);
	struct scoring_entry x;
	assert_true(listed(e, "203.0.113.9", &x));
	assert_int_equal(x.offences, 1);
	assert_int_equal(x.expires_ms, t + MIN + 10 * MIN);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_alone_rule(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	/* HANGUP may not list alone, however many. */
	feed(e, ob("198.51.100.10", RN_KIND_HANGUP, T0, 3)); /* 12 points */
	/* NO_RDNS has no category: with HANGUP, two kinds and a category. */
	feed(e, ob("198.51.100.11", RN_KIND_HANGUP, T0, 1));
	feed(e, ob("198.51.100.11", RN_KIND_NO_RDNS, T0, 1)); /* 4 + 2 */
	/* NO_RDNS with SASL_FAIL: the category comes from SASL_FAIL. */
	feed(e, ob("198.51.100.12", RN_KIND_SASL_FAIL, T0, 3));
	feed(e, ob("198.51.100.12", RN_KIND_NO_RDNS, T0, 1)); /* 3 + 2 */
	clock_to(e, T0 + 20000);
	struct scoring_entry x;
	assert_false(listed(e, "198.51.100.10", NULL));
	assert_true(listed(e, "198.51.100.11", &x));
	assert_true(x.cats == 1u << RN_CAT_PROTOCOL_BOT);
	assert_true(listed(e, "198.51.100.12", &x));
	assert_true(x.cats == 1u << RN_CAT_SASL_BRUTEFORCE);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void add_prefix(struct rn_prefix_list *l, const char *s)
{
	struct rn_prefix p;
	RN_PASS(rn_prefix_parse_str(s, true, &p));
	RN_PASS(rn_prefix_list_add(l, &p));
}

static void test_escalation(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	c.escalate_v4 = 32;
	c.escalate_v6 = 4;
	add_prefix(&c.cgnat, "198.51.100.0/24");
	add_prefix(&c.shared_pools, "192.0.2.0/25");
	add_prefix(&c.allowlist, "203.0.113.200");
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	const char *nets[] = {"203.0.113", "198.51.100", "100.64.7",
	                      "192.0.2",   "203.0.114",  "203.0.115"};
	for (size_t n = 0; n < RN_ARRAY_LEN(nets); n++) {
		int hosts = n == 4 ? 31 : 40; /* one short of the threshold in 203.0.114 */
		for (int h = 1; h <= hosts; h++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "%s.%d", nets[n], h);
			feed(e, ob(ip, RN_KIND_PREGREET, T0 + h * 100, 1));
		}
	}
	feed(e, ob("203.0.113.200", RN_KIND_PREGREET, T0, 1));
	/* IPv6: 4 /64s of one /48 escalate; 3 of another do not. */
	const char *v6[] = {"2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::1",
	                    "2001:db8:1:4::9", "2001:db8:2:1::1", "2001:db8:2:2::1",
	                    "2001:db8:2:3::1"};
	for (size_t i = 0; i < RN_ARRAY_LEN(v6); i++)
		feed(e, ob(v6[i], RN_KIND_PREGREET, T0 + 5000, 1));
	clock_to(e, T0 + 30000);
	struct scoring_entry x;
	assert_true(listed(e, "203.0.115.0/24", &x));
	assert_true(x.flags & SCORING_F_ESCALATED);
	assert_true(x.cats == 1u << RN_CAT_PROTOCOL_BOT);
	assert_true(listed(e, "203.0.115.7", NULL));     /* members stay listed */
	assert_false(listed(e, "203.0.113.0/24", NULL)); /* would block 203.0.113.200 */
	assert_true(listed(e, "203.0.113.7", NULL));
	assert_false(listed(e, "203.0.113.200", NULL));   /* the allowlisted address */
	assert_false(listed(e, "198.51.100.0/24", NULL)); /* configured CGNAT */
	assert_true(listed(e, "198.51.100.7", NULL));     /* ... its members still are */
	assert_false(listed(e, "100.64.7.0/24", NULL));   /* RFC 6598 */
	assert_true(listed(e, "100.64.7.7", NULL));
	assert_false(listed(e, "192.0.2.0/24", NULL));   /* overlaps a shared pool */
	assert_false(listed(e, "203.0.114.0/24", NULL)); /* 31 < 32 */
	assert_true(listed(e, "2001:db8:1::/48", &x));
	assert_true(x.flags & SCORING_F_ESCALATED);
	assert_true(listed(e, "2001:db8:1:4::/64", NULL));
	assert_false(listed(e, "2001:db8:2::/48", NULL));
	/* A lookup of any address in the escalated /24 hits it. */
	struct rn_addr a;
	struct scoring_hit hit;
	RN_PASS(rn_addr_parse_str("203.0.115.250", &a));
	assert_true(scoring_table_lookup(scoring_engine_table(e), &a, 0, &hit));
	assert_int_equal(hit.prefix.len, 24);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_escalation_allowlist(void **state)
{
	(void)state;
	/* 40 listed in 203.0.115.0/24 and an allowlisted host inside it. */
	struct scoring_conf c = base_conf();
	c.escalate_v4 = 32;
	add_prefix(&c.allowlist, "203.0.115.5");
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	for (int h = 0; h < 40; h++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "203.0.115.%d", 100 + h);
		feed(e, ob(ip, RN_KIND_PREGREET, T0 + h * 100, 1));
	}
	clock_to(e, T0 + 30000);
	assert_true(listed(e, "203.0.115.100", NULL));
	assert_false(listed(e, "203.0.115.0/24", NULL));
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

/* ---- replay against live ---------------------------------------------------- */

struct tickrec {
	int64_t t[4096];
	uint8_t d[4096][32];
	size_t n;
};

static void rec_tick(void *arg, const struct scoring_tick *tick)
{
	struct tickrec *r = arg;
	if (r->n < RN_ARRAY_LEN(r->t)) {
		r->t[r->n] = tick->tick_ms;
		scoring_table_digest(tick->table, r->d[r->n]);
		r->n++;
	}
}

struct arrival {
	struct rn_obs o;
	int64_t at;
};

static int cmp_arrival(const void *a, const void *b)
{
	const struct arrival *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* Runs the live engine with observations delayed by up to max_delay; returns mismatches. */
static size_t live_vs_replay(uint64_t seed, int64_t max_delay, uint64_t *late)
{
	struct scoring_conf c = base_conf();
	c.lateness_ms = 5000;
	c.max_future_ms = 0;
	size_t n = 3000;
	struct arrival *v = calloc(n, sizeof(*v));
	const enum rn_kind kinds[] = {RN_KIND_SASL_FAIL, RN_KIND_HANGUP, RN_KIND_NO_RDNS,
	                              RN_KIND_PREGREET};
	int64_t ts = T0;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rn_test_rand(&seed);
		ts += (int64_t)(r % 700);
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.%u.%u", (unsigned)(r >> 10) % 4,
		         (unsigned)(r >> 20) % 50);
		v[i].o = ob(ip, kinds[(r >> 30) % 4], ts, 1 + (uint32_t)(r >> 40) % 3);
		if (v[i].o.kind == RN_KIND_PREGREET && (r >> 50) % 8 != 0)
			v[i].o.kind = RN_KIND_SASL_FAIL;
		v[i].at = ts + (int64_t)((r >> 44) % (uint64_t)(max_delay + 1));
	}
	/* Replay: in timestamp order, as a log would be read. */
	struct tickrec *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct scoring_engine *re = NULL, *le = NULL;
	RN_PASS(scoring_engine_new(&c, false, &re));
	for (size_t i = 0; i < n; i++) {
		RN_PASS(scoring_engine_ingest(re, &v[i].o, 1, 0, NULL));
		RN_PASS(scoring_engine_advance(re, 0, rec_tick, a));
	}
	RN_PASS(scoring_engine_flush(re, rec_tick, a));
	/* Live: in arrival order, with the wall clock stepping a second at a time. */
	qsort(v, n, sizeof(*v), cmp_arrival);
	RN_PASS(scoring_engine_new(&c, true, &le));
	struct scoring_ingest_stats st = {0};
	int64_t now = T0;
	RN_PASS(scoring_engine_advance(le, now, rec_tick, b));
	size_t i = 0;
	while (b->n < a->n) {
		now += 1000;
		while (i < n && v[i].at <= now) {
			RN_PASS(scoring_engine_ingest(le, &v[i].o, 1, now, &st));
			i++;
		}
		RN_PASS(scoring_engine_advance(le, now, rec_tick, b));
	}
	size_t bad = 0;
	for (size_t k = 0; k < a->n; k++)
		if (a->t[k] != b->t[k] || memcmp(a->d[k], b->d[k], 32) != 0)
			bad++;
	*late = st.late;
	scoring_engine_free(re);
	scoring_engine_free(le);
	free(a);
	free(b);
	free(v);
	scoring_conf_release(&c);
	return bad;
}

static void test_replay_equals_live(void **state)
{
	(void)state;
	uint64_t late = 0;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		/* Delays within the lateness allowance: identical blocklists at every tick. */
		assert_int_equal(live_vs_replay(seed, 4999, &late), 0);
		assert_int_equal(late, 0);
	}
	/* The negative control: delays past the allowance make the two differ. */
	size_t bad = live_vs_replay(9, 60000, &late);
	assert_true(late > 0);
	assert_true(bad > 0);
}

/* ---- the rest ------------------------------------------------------------------ */

static void test_dry_run(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	c.dry_run = true;
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	feed(e, ob("198.51.100.1", RN_KIND_PREGREET, T0, 1));
	clock_to(e, T0 + 20000);
	const struct scoring_table *t = scoring_engine_table(e);
	assert_true(listed(e, "198.51.100.1", NULL));
	assert_true(scoring_table_dry_run(t));
	uint8_t *buf = NULL;
	size_t len;
	RN_FAILS_WITH(scoring_snapshot_encode(t, &buf, &len), RN_ESTATE);
	struct scoring_explain *x = malloc(sizeof(*x));
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("198.51.100.1", &a));
	RN_PASS(scoring_engine_explain(e, &a, x));
	assert_true(x->dry_run && x->listed);
	free(x);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_counters(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	add_prefix(&c.allowlist, "198.51.100.66");
	c.default_never_block = true; /* 127.0.0.0/8 and the documentation ranges */
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, true, &e));
	struct scoring_ingest_stats st = {0};
	int64_t now = T0 + 60 * MIN;
	struct rn_obs v[] = {
	        ob("8.8.4.4", RN_KIND_SASL_FAIL, now - 1000, 1),       /* accepted */
	        ob("8.8.4.4", RN_KIND_SMTP_CONNECT, now - 1000, 1),    /* ignored */
	        ob("198.51.100.66", RN_KIND_SASL_FAIL, now - 1000, 1), /* protected */
	        ob("127.0.0.1", RN_KIND_SASL_FAIL, now - 1000, 1),     /* protected (RFC 6890) */
	        ob("8.8.4.4", RN_KIND_SASL_FAIL, now + 6 * MIN, 1),    /* future */
	        ob("8.8.4.4", RN_KIND_SASL_FAIL, -5, 1),               /* bad: negative time */
	        ob("8.8.4.4", RN_KIND_SASL_FAIL, now - 1000, 0),       /* bad: count 0 */
	        ob("8.8.4.4", RN_KIND_SASL_FAIL, now + 20000, 1),      /* held: next tick */
	};
	v[RN_ARRAY_LEN(v) - 2].count = 0;
	struct rn_obs p4 = ob("8.0.0.0", RN_KIND_SASL_FAIL, now - 1000, 1);
	p4.prefix_len = 4; /* bad: too short a prefix */
	RN_PASS(scoring_engine_ingest(e, v, RN_ARRAY_LEN(v), now, &st));
	RN_PASS(scoring_engine_ingest(e, &p4, 1, now, &st));
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.ignored, 1);
	assert_int_equal(st.protected, 2);
	assert_int_equal(st.future, 1);
	assert_int_equal(st.bad, 3);
	/* After ticks: an observation from a bucket already past its horizon is stale. */
	RN_PASS(scoring_engine_advance(e, now + 5 * 60 * MIN, NULL, NULL));
	memset(&st, 0, sizeof(st));
	struct rn_obs old = ob("8.8.4.4", RN_KIND_SASL_FAIL, now - 4 * 60 * MIN, 1);
	struct rn_obs late = ob("8.8.4.4", RN_KIND_SASL_FAIL, now + 4 * 60 * MIN, 1);
	RN_PASS(scoring_engine_ingest(e, &old, 1, now + 5 * 60 * MIN, &st));
	RN_PASS(scoring_engine_ingest(e, &late, 1, now + 5 * 60 * MIN, &st));
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.late, 1);
	assert_int_equal(st.accepted, 1);
	scoring_engine_free(e);
	/* Replay: a timestamp a year and a day past the newest is refused, not followed. */
	RN_PASS(scoring_engine_new(&c, false, &e));
	memset(&st, 0, sizeof(st));
	struct rn_obs a = ob("8.8.4.4", RN_KIND_SASL_FAIL, T0, 1);
	struct rn_obs leap = ob("8.8.4.4", RN_KIND_SASL_FAIL, T0 + 367ll * 86400000, 1);
	RN_PASS(scoring_engine_ingest(e, &a, 1, 0, &st));
	RN_PASS(scoring_engine_ingest(e, &leap, 1, 0, &st));
	assert_int_equal(st.future, 1);
	assert_true(scoring_engine_clock(e) == T0);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_explain(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	c.escalate_v4 = 3;
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	struct rn_obs o = ob("198.51.100.5", RN_KIND_SASL_FAIL, T0, 4);
	rn_obs_set_evidence(&o, "auth:LOGIN", 10);
	feed(e, o);
	feed(e, ob("198.51.100.5", RN_KIND_NO_RDNS, T0 + 2000, 1));
	feed(e, ob("198.51.100.6", RN_KIND_PREGREET, T0 + 2000, 1));
	feed(e, ob("198.51.100.7", RN_KIND_PREGREET, T0 + 2000, 1));
	o = ob("198.51.100.5", RN_KIND_SASL_FAIL, T0 + MIN + 1, 2);
	rn_obs_set_evidence(&o, "auth:PLAIN", 10);
	feed(e, o);
	clock_to(e, T0 + 2 * MIN);
	struct scoring_explain *x = calloc(1, sizeof(*x));
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("198.51.100.5", &a));
	RN_PASS(scoring_engine_explain(e, &a, x));
	assert_int_equal(x->ncontrib, 3);
	assert_true(x->listed);
	assert_true(x->eligible);
	assert_false(x->protected_);
	assert_true(x->covered); /* three listed hosts escalated the /24 */
	assert_int_equal(x->cover.prefix.len, 24);
	unsigned seen = 0;
	uint32_t total = 0;
	for (unsigned i = 0; i < x->ncontrib; i++) {
		const struct scoring_contrib *k = &x->contrib[i];
		total += k->points;
		if (k->kind == RN_KIND_SASL_FAIL && k->count == 4) {
			assert_string_equal(k->evidence[0], "auth:LOGIN");
			assert_true(k->decay < 1.0); /* the first bucket has ended */
			seen |= 1;
		} else if (k->kind == RN_KIND_SASL_FAIL && k->count == 2) {
			assert_string_equal(k->evidence[0], "auth:PLAIN");
			assert_true(k->decay == 1.0); /* the current bucket counts in full */
			seen |= 2;
		} else if (k->kind == RN_KIND_NO_RDNS) {
			assert_int_equal(k->points, 2000); /* a window: no decay */
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	assert_int_equal(total, x->score);
	/* IPv6 is explained as its aggregate. */
	feed(e, ob("2001:db8::1", RN_KIND_PREGREET, T0 + 2 * MIN, 1));
	RN_PASS(rn_addr_parse_str("2001:db8::77", &a));
	RN_PASS(scoring_engine_explain(e, &a, x));
	assert_int_equal(x->key.len, 64);
	assert_int_equal(x->ncontrib, 1);
	free(x);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

static void test_reconfigure(void **state)
{
	(void)state;
	struct scoring_conf c = base_conf();
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(&c, false, &e));
	feed(e, ob("198.51.100.1", RN_KIND_PREGREET, T0, 1));
	clock_to(e, T0 + 20000);
	assert_true(listed(e, "198.51.100.1", NULL));
	/* A new bucket length would misread every stored set. */
	struct scoring_conf d;
	RN_PASS(scoring_conf_copy(&d, &c));
	d.bucket_ms = 2 * MIN;
	RN_FAILS_WITH(scoring_engine_reconfigure(e, &d), RN_ECONF);
	d.bucket_ms = c.bucket_ms;
	d.delist_threshold = 9; /* above the threshold: refused, old kept */
	RN_FAILS_WITH(scoring_engine_reconfigure(e, &d), RN_ECONF);
	d.delist_threshold = c.delist_threshold;
	/* Allowlisting a listed address removes it at the next tick, in the delta too. */
	add_prefix(&d.allowlist, "198.51.100.0/28");
	RN_PASS(scoring_engine_reconfigure(e, &d));
	struct tickrec *r = calloc(1, sizeof(*r));
	struct rn_obs clk = ob("192.0.2.250", RN_KIND_NO_RDNS, T0 + 40000, 1);
	RN_PASS(scoring_engine_ingest(e, &clk, 1, 0, NULL));
	RN_PASS(scoring_engine_advance(e, 0, rec_tick, r));
	assert_true(r->n > 0);
	assert_false(listed(e, "198.51.100.1", NULL));
	/* Peers' declared infrastructure is protected the same way. */
	feed(e, ob("198.51.100.77", RN_KIND_PREGREET, T0 + 50000, 1));
	clock_to(e, T0 + 70000);
	assert_true(listed(e, "198.51.100.77", NULL));
	struct rn_prefix_list extra = {0};
	add_prefix(&extra, "198.51.100.77");
	RN_PASS(scoring_engine_protect_extra(e, &extra));
	clock_to(e, T0 + 90000);
	assert_false(listed(e, "198.51.100.77", NULL));
	rn_prefix_list_clear(&extra);
	free(r);
	scoring_conf_release(&d);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

/* ---- real time ------------------------------------------------------------------ */

struct rtrec {
	size_t passes, ticks;
	size_t added; /* listings the deltas added */
};

static void rt_tick(void *arg, const struct scoring_tick *tick)
{
	struct rtrec *r = arg;
	if (tick->realtime)
		r->passes++;
	else
		r->ticks++;
	r->added += scoring_delta_added(tick->delta);
}

/* A live real-time engine whose periodic tick (1 h) cannot run during a test. */
static struct scoring_engine *rt_engine(struct scoring_conf *c, int64_t full_every)
{
	*c = base_conf();
	c->tick_ms = 60 * MIN;
	c->realtime_ms = 20;
	c->full_every = full_every;
	struct scoring_engine *e = NULL;
	RN_PASS(scoring_engine_new(c, true, &e));
	/* Starts the clock: the first tick is due at T0 + 1h. */
	RN_PASS(scoring_engine_advance(e, T0, NULL, NULL));
	return e;
}

static void test_realtime_lists_at_once(void **state)
{
	(void)state;
	for (int64_t fe = 1; fe <= 20; fe += 19) {
		struct scoring_conf c;
		struct scoring_engine *e = rt_engine(&c, fe);
		struct rtrec r = {0};
		int64_t now = T0 + 10 * MIN;
		/* Nothing observed: a pass does nothing. */
		RN_PASS(scoring_engine_realtime(e, now, rt_tick, &r));
		assert_int_equal(r.passes, 0);
		/* A burst: 1000 addresses over the threshold, one below; one pass lists them. */
		struct rn_obs *v = calloc(1001, sizeof(*v));
		for (unsigned i = 0; i < 1000; i++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "198.51.%u.%u", 100 + i / 25, i % 25);
			v[i] = ob(ip, RN_KIND_PREGREET, now - 1000, 1);
		}
		v[1000] = ob("203.0.113.9", RN_KIND_SASL_FAIL, now - 1000, 4);
		/* Stamped after the hour's first ticks would have been: nothing is held. */
		v[999].ts_ms = now + 30000;
		struct scoring_ingest_stats st = {0};
		RN_PASS(scoring_engine_ingest(e, v, 1001, now, &st));
		assert_int_equal(st.held, 0);
		assert_false(listed(e, "198.51.100.0", NULL));
		assert_true(scoring_engine_rt_pending(e));
		RN_PASS(scoring_engine_advance(e, now + 20, rt_tick, &r));
		RN_PASS(scoring_engine_realtime(e, now + 20, rt_tick, &r));
		assert_int_equal(r.ticks, 0); /* the hourly tick could not have run */
		assert_int_equal(r.passes, 1);
		assert_int_equal(r.added, 1000);
		assert_true(listed(e, "198.51.100.0", NULL));
		assert_true(listed(e, "198.51.139.24", NULL));
		assert_false(listed(e, "203.0.113.9", NULL));
		assert_false(scoring_engine_rt_pending(e));
		/* The same address again: rescored, nothing new to publish. */
		RN_PASS(scoring_engine_ingest(e, v, 1, now + 40, NULL));
		RN_PASS(scoring_engine_realtime(e, now + 40, rt_tick, &r));
		assert_int_equal(r.passes, 2);
		assert_int_equal(r.added, 1000);
		/* A fifth SASL failure takes the other one over: listed at the next pass. */
		struct rn_obs one = ob("203.0.113.9", RN_KIND_SASL_FAIL, now + 50, 1);
		RN_PASS(scoring_engine_ingest(e, &one, 1, now + 60, NULL));
		RN_PASS(scoring_engine_realtime(e, now + 60, rt_tick, &r));
		assert_true(listed(e, "203.0.113.9", NULL));
		assert_int_equal(r.added, 1001);
		/* The periodic tick still runs, at the clock, for decay and expiry. */
		RN_PASS(scoring_engine_advance(e, T0 + 60 * MIN + 5, rt_tick, &r));
		assert_int_equal(r.ticks, 1);
		assert_int_equal(scoring_engine_last_tick(e), T0 + 60 * MIN + 5);
		/* Expired listings leave at a tick: 10 minute TTL, rounded to the minute. */
		RN_PASS(scoring_engine_advance(e, T0 + 121 * MIN, rt_tick, &r));
		assert_false(listed(e, "198.51.100.0", NULL));
		free(v);
		scoring_engine_free(e);
		scoring_conf_release(&c);
	}
}

/*
 * An event that arrives after its bucket ended counts what it counted when
 * it happened: its address is decided at its own time, with the older
 * evidence decayed to that time, and listed with the expiry it would have
 * had.
 */
static void test_realtime_late_event(void **state)
{
	(void)state;
	for (int pass = 0; pass < 4; pass++) {
		bool rt = pass < 3;
		struct scoring_conf c;
		struct scoring_engine *e = rt_engine(&c, pass == 1 ? 1 : 20);
		if (!rt) {
			/* The control: ticks only (every 10 s, no lateness allowance). */
			struct scoring_conf d = base_conf();
			d.realtime_ms = 0;
			scoring_engine_free(e);
			scoring_conf_release(&c);
			c = d;
			RN_PASS(scoring_engine_new(&c, true, &e));
			RN_PASS(scoring_engine_advance(e, T0, NULL, NULL));
		}
		struct rtrec r = {0};
		int64_t now = T0 + 30 * MIN;
		/* A hang-up (4 points, not enough alone), observed on time, 15 (pass 2: 45) minutes ago. */
		int64_t th = now - (pass == 2 ? 45 : 15) * MIN;
		struct rn_obs h = ob("198.51.100.7", RN_KIND_HANGUP, th, 1);
		RN_PASS(scoring_engine_ingest(e, &h, 1, th + 1000, NULL));
		RN_PASS(scoring_engine_realtime(e, th + 1000, rt_tick, &r));
		RN_PASS(scoring_engine_advance(e, th + 1000, NULL, NULL));
		assert_false(listed(e, "198.51.100.7", NULL));
		/*
		 * Three SASL failures stamped 5 minutes ago arrive now. At their time:
		 * 4 * 2^(-9/10) + 3 = 5.14 points, listed; now, 4 * 2^(-14/10) +
		 * 3 * 2^(-4/10) = 3.79, which a decision at the clock would not list.
		 * Pass 2: the hang-up is 30 minutes older, 0.27 + 3 at their time.
		 */
		int64_t ts = now - 5 * MIN;
		struct rn_obs f = ob("198.51.100.7", RN_KIND_SASL_FAIL, ts, 3);
		/* The clock has moved on meanwhile (the control ticked every 10 s). */
		RN_PASS(scoring_engine_advance(e, now, rt_tick, &r));
		assert_int_equal(r.ticks, rt ? 0 : 90);
		assert_int_equal(r.added, 0);
		struct scoring_ingest_stats st = {0};
		RN_PASS(scoring_engine_ingest(e, &f, 1, now, &st));
		assert_int_equal(st.late, 1);
		if (rt) {
			RN_PASS(scoring_engine_realtime(e, now, rt_tick, &r));
			assert_int_equal(r.ticks, 0);
		} else {
			RN_PASS(scoring_engine_advance(e, now + 10000, rt_tick, &r));
			assert_true(r.ticks > 0);
		}
		struct scoring_entry x;
		bool l = listed(e, "198.51.100.7", &x);
		if (pass < 2) {
			assert_true(l);
			assert_int_equal(x.expires_ms,
			                 ts + 10 * MIN); /* from its time: ttl 10 min */
			assert_int_equal(x.offences, 1);
			assert_true(x.cats & (1u << RN_CAT_SASL_BRUTEFORCE));
			assert_true(x.cats & (1u << RN_CAT_PROTOCOL_BOT));
			assert_int_equal(r.added, 2);
		} else {
			assert_false(l);
		}
		scoring_engine_free(e);
		scoring_conf_release(&c);
	}
}

RN_TEST_MAIN(test_hysteresis, test_ttl_growth, test_alone_rule, test_escalation,
             test_escalation_allowlist, test_replay_equals_live, test_dry_run, test_counters,
             test_explain, test_reconfigure, test_realtime_lists_at_once, test_realtime_late_event)
