/*
 * federation_test.c: quorum, trust weight, never-block and the circuit
 * breaker, with members' feeds fed through the full subscriber checks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds/replica/internal.h"
#include "feeds/bus/payload.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/sub.h"
#include "scoring/scoring.h"
#include "test.h"

static struct feeds_bus_conf conf;
static struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};
static char tmpdir[64];

struct got {
	struct rn_obs *v;
	size_t n, cap;
};

static void emit(void *arg, const struct rn_obs *obs, size_t n)
{
	struct got *g = arg;
	if (g->n + n > g->cap) {
		g->cap = (g->n + n) * 2;
		g->v = realloc(g->v, g->cap * sizeof(*g->v));
	}
	memcpy(g->v + g->n, obs, n * sizeof(*obs));
	g->n += n;
}

struct peer {
	struct feeds_signer *sg;
	struct feeds_sub *sub;
	uint64_t seq;
};

/* Hosts base..base+n-1 in 198.18.0.0/15 (in test ranges: never-block is off here). */
static struct scoring_table *hosts(uint32_t base, size_t n)
{
	struct scoring_entry *e = calloc(n, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		rn_addr_set_v4(&e[i].prefix.addr, 0xC6120000u + base + (uint32_t)i);
		e[i].prefix.len = 32;
		e[i].cats = 1u << RN_CAT_SPAM_SOURCE;
		e[i].expires_ms = rn_time_now_ms() + 3600000;
	}
	struct scoring_table *t;
	RN_PASS(scoring_table_build(e, n, false, &t));
	free(e);
	return t;
}

static int send_snapshot(struct peer *p, struct scoring_table *t)
{
	uint8_t *body, *pl, *env, d[32];
	size_t blen, pllen, elen;
	struct feeds_payload_hdr h = {0};
	scoring_table_digest(t, d);
	RN_PASS(scoring_snapshot_encode(t, &body, &blen));
	snprintf(h.publisher, sizeof(h.publisher), "%s", feeds_signer_name(p->sg));
	h.epoch = 1;
	h.seq = ++p->seq;
	h.time_ms = rn_time_now_ms();
	h.expires_ms = h.time_ms + 60000;
	memcpy(h.digest, d, 32);
	RN_PASS(feeds_payload_build(&h, FEEDS_BODY_SNAPSHOT, body, blen, &pl, &pllen));
	RN_PASS(feeds_envelope_seal(p->sg, pl, pllen, &env, &elen));
	int rc = feeds_sub_receive(p->sub, env, elen);
	free(body);
	free(pl);
	free(env);
	return rc;
}

static void test_quorum(void **state)
{
	(void)state;
	struct rn_conf_error err;
	RN_PASS(rn_conf_load(NULL, NULL, &sec, 1, &err));
	struct got g = {0};
	struct feeds_federation *f;
	struct feeds_federation_opts fo = {.quorum = 2,
	                                   .weight_alone = 5.0,
	                                   .refresh_ms = 60000,
	                                   .emit = emit,
	                                   .arg = &g,
	                                   .no_thread = true};
	RN_PASS(feeds_federation_start(&f, &fo));
	struct feeds_keyring *ring;
	RN_PASS(feeds_keyring_alloc(&ring));
	struct peer p[3];
	const char *names[3] = {"m1", "m2", "m3"};
	const double weights[3] = {1.0, 1.0, 5.0};
	for (int i = 0; i < 3; i++) {
		uint8_t seed[32] = {(uint8_t)('a' + i)};
		char pk[FEEDS_PUBKEY_B64], dir[128];
		RN_PASS(feeds_signer_from_seed(&p[i].sg, seed, names[i]));
		feeds_signer_public(p[i].sg, pk);
		RN_PASS(feeds_keyring_add(ring, names[i], pk, false));
		snprintf(dir, sizeof(dir), "%s/q", tmpdir);
		struct feeds_sub_opts so = {.data_dir = dir,
		                            .keyring = ring,
		                            .offline = true,
		                            .on_change = feeds_federation_on_change,
		                            .arg = f};
		RN_PASS(feeds_sub_start(&p[i].sub, &conf, names[i], NULL, NULL, &so));
		RN_PASS(feeds_federation_add(f, p[i].sub, names[i], weights[i]));
		p[i].seq = 0;
	}

	/* One member alone with 10,000 addresses: none of them is offered. */
	struct scoring_table *t1 = hosts(0, 10000);
	RN_PASS(send_snapshot(&p[0], t1));
	assert_int_equal(g.n, 0);
	feeds_federation_refresh(f);
	assert_int_equal(g.n, 0);

	/* A second member agrees on 100 of them: exactly those 100, with k = 2. */
	struct scoring_table *t2 = hosts(5000, 100);
	RN_PASS(send_snapshot(&p[1], t2));
	assert_int_equal(g.n, 100);
	for (size_t i = 0; i < g.n; i++) {
		assert_int_equal(g.v[i].kind, RN_KIND_PEER_LISTED);
		assert_int_equal(g.v[i].count, 2);
		assert_int_equal(g.v[i].addr.u.v4, 0xC6120000u + 5000 + (uint32_t)i);
		assert_string_equal(g.v[i].evidence, "peers:2/3");
	}
	g.n = 0;
	feeds_federation_refresh(f);
	assert_int_equal(g.n, 100);

	/* A member trusted enough lists alone. */
	g.n = 0;
	struct scoring_table *t3 = hosts(20000, 7);
	RN_PASS(send_snapshot(&p[2], t3));
	assert_int_equal(g.n, 7);
	assert_int_equal(g.v[0].count, 1);

	for (int i = 0; i < 3; i++) {
		feeds_sub_stop(p[i].sub);
		feeds_signer_free(p[i].sg);
	}
	feeds_federation_stop(f);
	feeds_keyring_free(ring);
	scoring_table_free(t1);
	scoring_table_free(t2);
	scoring_table_free(t3);
	free(g.v);
	rn_conf_release(&sec, 1);
}

/* The circuit breaker holds back a change that adds too much at once. */
static void test_breaker(void **state)
{
	(void)state;
	struct rn_conf_error err;
	RN_PASS(rn_conf_load(NULL, NULL, &sec, 1, &err));
	struct feeds_keyring *ring;
	RN_PASS(feeds_keyring_alloc(&ring));
	struct peer p;
	uint8_t seed[32] = {'b'};
	char pk[FEEDS_PUBKEY_B64], dir[128];
	RN_PASS(feeds_signer_from_seed(&p.sg, seed, "m9"));
	feeds_signer_public(p.sg, pk);
	RN_PASS(feeds_keyring_add(ring, "m9", pk, false));
	snprintf(dir, sizeof(dir), "%s/b", tmpdir);
	struct feeds_sub_opts so = {.data_dir = dir,
	                            .keyring = ring,
	                            .offline = true,
	                            .breaker = true,
	                            .quarantine_add = 5000,
	                            .quarantine_pct = 50};
	RN_PASS(feeds_sub_start(&p.sub, &conf, "m9", NULL, NULL, &so));
	p.seq = 0;
	struct scoring_table *small = hosts(0, 1000), *more = hosts(0, 1400),
	                     *huge = hosts(0, 9000);
	RN_PASS(send_snapshot(&p, small));
	RN_PASS(send_snapshot(&p, more)); /* +400 of 1000: under 50% */
	RN_FAILS_WITH(send_snapshot(&p, huge), RN_EQUARANTINE);
	struct feeds_feed_status st;
	feeds_sub_status(p.sub, &st);
	assert_true(st.quarantined);
	assert_int_equal(st.listed, 1400);
	assert_int_equal(st.rejected[FEEDS_REJ_QUARANTINED], 1);
	feeds_sub_stop(p.sub);
	feeds_signer_free(p.sg);
	feeds_keyring_free(ring);
	scoring_table_free(small);
	scoring_table_free(more);
	scoring_table_free(huge);
	rn_conf_release(&sec, 1);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/repnet-fed-XXXXXX");
	return mkdtemp(tmpdir) == NULL;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) != 0;
}

RN_TEST_MAIN_GROUP(setup, teardown, test_quorum, test_breaker)
