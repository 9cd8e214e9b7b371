/*
 * table_test.c: blocklist tables against a linear reference: lookup of
 * addresses (hosts, IPv6 aggregates, prefixes of every length), find,
 * ordered iteration, expiry; deltas: diff, apply, and apply's refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/protect.h"
#include "scoring/table.h"

#define CAT_ANY (((1u << RN_CAT_COUNT) - 1) & ~1u)

static void rand_entry(uint64_t *s, struct scoring_entry *e)
{
	memset(e, 0, sizeof(*e));
	uint64_t r = rn_test_rand(s);
	/* Clustered addresses so that prefixes and hosts overlap. */
	uint32_t base = 0xC6336400u + (uint32_t)(r % 4) * 0x10000u; /* 198.51.100.0 + k.0.0 */
	if (r % 5 == 0) {
		uint8_t b[16] = {0x20, 0x01,
		                 0x0d, 0xb8,
		                 0,    (uint8_t)(r >> 8 & 3),
		                 0,    (uint8_t)(r >> 16 & 7)};
		rn_addr_set_v6(&e->prefix.addr, b);
		e->prefix.len = (r >> 20) % 3 == 0 ? 48 : 64;
	} else {
		rn_addr_set_v4(&e->prefix.addr, base | (uint32_t)(r >> 24 & 0xffff));
		unsigned lens[] = {32, 32, 32, 24, 16, 12};
		e->prefix.len = (uint8_t)lens[(r >> 40) % 6];
	}
	rn_addr_mask(&e->prefix.addr, e->prefix.len);
	do {
		e->cats = (uint32_t)rn_test_rand(s) & CAT_ANY;
	} while (e->cats == 0);
	e->expires_ms = 1000 * (1 + (int64_t)(rn_test_rand(s) % 5));
}

/* Random distinct entries. */
static size_t rand_entries(uint64_t *s, struct scoring_entry *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		rand_entry(s, &v[k]);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = v[j].prefix.len == v[k].prefix.len &&
			      rn_addr_equal(&v[j].prefix.addr, &v[k].prefix.addr);
		if (!dup)
			k++;
	}
	return k;
}

static bool ref_lookup(const struct scoring_entry *v, size_t n, const struct rn_addr *a,
                       int64_t now, struct scoring_hit *hit)
{
	bool found = false;
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (!rn_prefix_contains(&v[i].prefix, a))
			continue;
		if (now != 0 && v[i].expires_ms <= now)
			continue;
		if (!found) {
			hit->cats = 0;
			hit->expires_ms = v[i].expires_ms;
		}
		found = true;
		hit->cats |= v[i].cats;
		if (v[i].expires_ms > hit->expires_ms)
			hit->expires_ms = v[i].expires_ms;
		if (v[i].prefix.len > best) {
			best = v[i].prefix.len;
			hit->prefix = v[i].prefix;
		}
	}
	return found;
}

static void test_lookup(void **state)
{
	(void)state;
	uint64_t seed = 42;
	for (int round = 0; round < 20; round++) {
		struct scoring_entry v[400];
		size_t n = rand_entries(&seed, v, 50 + (size_t)round * 15);
		struct scoring_table *t = NULL;
		RN_PASS(scoring_table_build(v, n, false, &t));
		assert_int_equal(scoring_table_count(t), n);
		for (int q = 0; q < 3000; q++) {
			struct scoring_entry probe;
			rand_entry(&seed, &probe);
			struct rn_addr a = probe.prefix.addr;
			/* Fill host bits so the probe is an arbitrary address in the area. */
			if (a.family == RN_AF_INET)
				a.u.v4 |= (uint32_t)rn_test_rand(&seed) & 0xff;
			else
				a.u.v6[15] = (uint8_t)rn_test_rand(&seed);
			int64_t now = q % 3 == 0 ? 0 : 1000 * (int64_t)(q % 6);
			struct scoring_hit h1, h2;
			bool f1 = scoring_table_lookup(t, &a, now, &h1);
			bool f2 = ref_lookup(v, n, &a, now, &h2);
			assert_int_equal(f1, f2);
			if (f1) {
				assert_int_equal(h1.cats, h2.cats);
				assert_int_equal(h1.expires_ms, h2.expires_ms);
				assert_int_equal(h1.prefix.len, h2.prefix.len);
				assert_true(rn_addr_equal(&h1.prefix.addr, &h2.prefix.addr));
			}
		}
		/* Every entry is found exactly and iteration is ordered and complete. */
		for (size_t i = 0; i < n; i++) {
			struct scoring_entry e;
			assert_true(scoring_table_find(t, &v[i].prefix, &e));
			assert_int_equal(e.cats, v[i].cats);
			assert_int_equal(e.expires_ms, v[i].expires_ms);
		}
		struct scoring_iter it;
		struct scoring_entry e, prev;
		size_t k = 0;
		scoring_iter_init(&it, t);
		while (scoring_iter_next(&it, &e)) {
			if (k > 0) {
				bool ordered =
				        prev.prefix.addr.family < e.prefix.addr.family ||
				        (prev.prefix.addr.family == e.prefix.addr.family &&
				         (prev.prefix.len < e.prefix.len ||
				          (prev.prefix.len == e.prefix.len &&
				           rn_addr_cmp(&prev.prefix.addr, &e.prefix.addr) < 0)));
				assert_true(ordered);
			}
			prev = e;
			k++;
		}
		assert_int_equal(k, n);
		scoring_table_free(t);
	}
}

static void test_build_refuses(void **state)
{
	(void)state;
	struct scoring_entry e[2];
	struct scoring_table *t = NULL;
	memset(e, 0, sizeof(e));
	rn_prefix_parse_str("192.0.2.1", true, &e[0].prefix);
	e[0].cats = 1u << RN_CAT_SCANNER;
	e[0].expires_ms = 10;
	e[1] = e[0];
	RN_FAILS_WITH(scoring_table_build(e, 2, false, &t), RN_EPARSE); /* duplicate */
	e[1].cats = 0;
	RN_FAILS_WITH(scoring_table_build(e + 1, 1, false, &t), RN_EPARSE); /* no category */
	e[1].cats = 1;                                                      /* UNSPECIFIED */
	RN_FAILS_WITH(scoring_table_build(e + 1, 1, false, &t), RN_EPARSE);
	e[1] = e[0];
	e[1].prefix.len = 24; /* host bits set past the length */
	RN_FAILS_WITH(scoring_table_build(e + 1, 1, false, &t), RN_EPARSE);
	rn_prefix_parse_str("2001:db8::1", true, &e[1].prefix); /* a /128: finer than /64 */
	RN_FAILS_WITH(scoring_table_build(e + 1, 1, false, &t), RN_EPARSE);
	assert_null(t);
}

static void table_entries(const struct scoring_table *t, struct scoring_entry *v, size_t *n)
{
	struct scoring_iter it;
	scoring_iter_init_all(&it, t);
	*n = 0;
	while (scoring_iter_next(&it, &v[*n]))
		(*n)++;
}

static void assert_same_tables(const struct scoring_table *a, const struct scoring_table *b)
{
	static struct scoring_entry va[1000], vb[1000];
	size_t na, nb;
	table_entries(a, va, &na);
	table_entries(b, vb, &nb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(va[i].prefix.len, vb[i].prefix.len);
		assert_true(rn_addr_equal(&va[i].prefix.addr, &vb[i].prefix.addr));
		assert_int_equal(va[i].cats, vb[i].cats);
		assert_int_equal(va[i].expires_ms, vb[i].expires_ms);
	}
	uint8_t da[32], db[32];
	scoring_table_digest(a, da);
	scoring_table_digest(b, db);
	assert_memory_equal(da, db, 32);
}

static void test_diff_apply(void **state)
{
	(void)state;
	uint64_t seed = 4242;
	for (int round = 0; round < 200; round++) {
		struct scoring_entry va[300], vb[300];
		size_t na = rand_entries(&seed, va, 1 + rn_test_rand(&seed) % 200);
		/* b: some of a (some changed), plus new ones. */
		size_t nb = 0;
		for (size_t i = 0; i < na; i++) {
			uint64_t r = rn_test_rand(&seed) % 4;
			if (r == 0)
				continue;
			vb[nb] = va[i];
			if (r == 2)
				vb[nb].cats ^= 1u << (1 + rn_test_rand(&seed) % 10);
			if (r == 3)
				vb[nb].expires_ms += 1000;
			if (vb[nb].cats != 0)
				nb++;
		}
		struct scoring_entry extra[100];
		size_t ne = rand_entries(&seed, extra, rn_test_rand(&seed) % 100);
		for (size_t i = 0; i < ne; i++) {
			bool dup = false;
			for (size_t j = 0; j < nb && !dup; j++)
				dup = vb[j].prefix.len == extra[i].prefix.len &&
				      rn_addr_equal(&vb[j].prefix.addr, &extra[i].prefix.addr);
			if (!dup)
				vb[nb++] = extra[i];
		}
		struct scoring_table *a = NULL, *b = NULL, *c = NULL;
		struct scoring_delta *d = NULL;
		RN_PASS(scoring_table_build(va, na, false, &a));
		RN_PASS(scoring_table_build(vb, nb, false, &b));
		RN_PASS(scoring_delta_diff(a, b, &d));
		RN_PASS(scoring_table_apply(a, d, NULL, &c));
		assert_same_tables(b, c);
		/* Applying it twice fails: the removed listings are gone. */
		struct scoring_table *twice = NULL;
		if (!scoring_delta_empty(d)) {
			int rc = scoring_table_apply(c, d, NULL, &twice);
			assert_true(rc == RN_ESTATE);
			assert_null(twice);
		}
		/* The delta's listings are ordered. */
		for (size_t i = 1; i < scoring_delta_added(d); i++)
			assert_true(dtuple_cmp(&d->add.v[i - 1], &d->add.v[i]) < 0);
		scoring_delta_free(d);
		scoring_table_free(a);
		scoring_table_free(b);
		scoring_table_free(c);
	}
}

static void test_apply_refuses(void **state)
{
	(void)state;
	struct scoring_entry e;
	memset(&e, 0, sizeof(e));
	rn_prefix_parse_str("203.0.113.7", true, &e.prefix);
	e.cats = 1u << RN_CAT_SCANNER;
	e.expires_ms = 5000;
	struct scoring_table *t = NULL, *o = NULL;
	RN_PASS(scoring_table_build(&e, 1, false, &t));
	uint64_t key = 0xCB007107u;
	struct scoring_delta d;
	memset(&d, 0, sizeof(d));
	/* Removing with the wrong expiry. */
	RN_PASS(dlist_push(&d.del, 4, 32, key, RN_CAT_SCANNER, 4000));
	RN_FAILS_WITH(scoring_table_apply(t, &d, NULL, &o), RN_ESTATE);
	dlist_release(&d.del);
	/* Adding what is there. */
	RN_PASS(dlist_push(&d.add, 4, 32, key, RN_CAT_SCANNER, 5000));
	RN_FAILS_WITH(scoring_table_apply(t, &d, NULL, &o), RN_ESTATE);
	dlist_release(&d.add);
	/* Adding a category with another expiry than the entry's. */
	RN_PASS(dlist_push(&d.add, 4, 32, key, RN_CAT_SPAM_SOURCE, 6000));
	RN_FAILS_WITH(scoring_table_apply(t, &d, NULL, &o), RN_ESTATE);
	dlist_release(&d.add);
	/* Unordered listings. */
	RN_PASS(dlist_push(&d.add, 4, 32, key + 2, RN_CAT_SPAM_SOURCE, 6000));
	RN_PASS(dlist_push(&d.add, 4, 32, key + 1, RN_CAT_SPAM_SOURCE, 6000));
	RN_FAILS_WITH(scoring_table_apply(t, &d, NULL, &o), RN_EPARSE);
	dlist_release(&d.add);
	/* A renewal is fine: remove the old expiry, add the new one. */
	RN_PASS(dlist_push(&d.del, 4, 32, key, RN_CAT_SCANNER, 5000));
	RN_PASS(dlist_push(&d.add, 4, 32, key, RN_CAT_SCANNER, 9000));
	RN_PASS(scoring_table_apply(t, &d, NULL, &o));
	struct scoring_entry got;
	assert_true(scoring_table_find(o, &e.prefix, &got));
	assert_int_equal(got.expires_ms, 9000);
	scoring_table_free(o);
	/* Applied under a protect list covering it: kept in the state, suppressed. */
	struct rn_prefix_list pl = {0};
	struct rn_prefix p;
	rn_prefix_parse_str("203.0.113.0/24", true, &p);
	rn_prefix_list_add(&pl, &p);
	const struct rn_prefix_list *lists[] = {&pl};
	struct scoring_protect *prot = NULL;
	RN_PASS(scoring_protect_build(lists, 1, &prot));
	RN_PASS(scoring_table_apply(t, &d, prot, &o));
	assert_int_equal(scoring_table_count(o), 1);
	assert_int_equal(scoring_table_count_suppressed(o), 1);
	struct scoring_hit hit;
	assert_false(scoring_table_lookup(o, &e.prefix.addr, 0, &hit));
	struct scoring_iter it;
	scoring_iter_init(&it, o);
	assert_false(scoring_iter_next(&it, &got));
	scoring_iter_init_all(&it, o);
	assert_true(scoring_iter_next(&it, &got));
	assert_true(got.flags & SCORING_F_SUPPRESSED);
	scoring_table_free(o);
	scoring_protect_free(prot);
	rn_prefix_list_clear(&pl);
	dlist_release(&d.add);
	dlist_release(&d.del);
	scoring_table_free(t);
}

static void test_protect(void **state)
{
	(void)state;
	struct rn_prefix_list pl = {0};
	const char *ranges[] = {"10.0.0.0/8", "10.1.0.0/16", "192.0.2.5", "2001:db8::/32",
	                        "2001:db9::1/128"};
	for (size_t i = 0; i < RN_ARRAY_LEN(ranges); i++) {
		struct rn_prefix p;
		RN_PASS(rn_prefix_parse_str(ranges[i], true, &p));
		RN_PASS(rn_prefix_list_add(&pl, &p));
	}
	const struct rn_prefix_list *lists[] = {&pl, NULL};
	struct scoring_protect *p = NULL;
	RN_PASS(scoring_protect_build(lists, 2, &p));
	assert_int_equal(protect_count(p, RN_AF_INET), 2); /* 10/8 absorbed 10.1/16 */
	struct {
		const char *pfx;
		bool hit;
	} cases[] = {
	        {"10.2.3.4", true},           {"9.255.255.255", false},  {"11.0.0.0", false},
	        {"10.0.0.0/7", true},         {"192.0.2.0/24", true},    {"192.0.2.4", false},
	        {"192.0.2.6/31", false},      {"2001:db8:5::/48", true}, {"2001:db9::/64", true},
	        {"2001:db9:0:1::/64", false}, {"2001:db7::/32", false},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		struct rn_prefix q;
		RN_PASS(rn_prefix_parse_str(cases[i].pfx, true, &q));
		if (scoring_protect_overlaps(p, &q) != cases[i].hit)
			fail_msg("%s: want %d", cases[i].pfx, cases[i].hit);
	}
	/* An address next to a protected /128 shares its /64: protected too. */
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("2001:db9::2", &a));
	assert_true(scoring_protect_contains(p, &a));
	scoring_protect_free(p);
	rn_prefix_list_clear(&pl);
}

RN_TEST_MAIN(test_lookup, test_build_refuses, test_diff_apply, test_apply_refuses, test_protect)
