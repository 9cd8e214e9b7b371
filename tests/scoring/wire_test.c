/*
 * wire_test.c: Snapshot and Delta bodies: round trips of random tables
 * and deltas, canonical bytes, the size of a dense IPv4 snapshot, and the
 * decoder's refusals of hand-made hostile messages.
 */
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "test.h"
#include "scoring/table.h"

#define CAT_ANY (((1u << RN_CAT_COUNT) - 1) & ~1u)

static size_t rand_entries(uint64_t *s, struct scoring_entry *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct scoring_entry *e = &v[k];
		memset(e, 0, sizeof(*e));
		uint64_t r = rn_test_rand(s);
		if (r % 4 == 0) {
			uint8_t b[16] = {0x20,
			                 0x01,
			                 0x0d,
			                 0xb8,
			                 (uint8_t)(r >> 8),
			                 (uint8_t)(r >> 16),
			                 (uint8_t)(r >> 24),
			                 (uint8_t)(r >> 32)};
			rn_addr_set_v6(&e->prefix.addr, b);
			unsigned lens[] = {64, 64, 56, 48, 32, 24};
			e->prefix.len = (uint8_t)lens[(r >> 40) % 6];
		} else {
			rn_addr_set_v4(&e->prefix.addr, (uint32_t)(r >> 16));
			unsigned lens[] = {32, 32, 32, 24, 20, 8};
			e->prefix.len = (uint8_t)lens[(r >> 48) % 6];
		}
		rn_addr_mask(&e->prefix.addr, e->prefix.len);
		do {
			e->cats = (uint32_t)rn_test_rand(s) & CAT_ANY & 0x0e; /* few categories */
		} while (e->cats == 0);
		e->expires_ms = 3600000 * (int64_t)(1 + rn_test_rand(s) % 3);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = v[j].prefix.len == e->prefix.len &&
			      rn_addr_equal(&v[j].prefix.addr, &e->prefix.addr);
		if (!dup)
			k++;
	}
	return k;
}

static void assert_same(const struct scoring_table *a, const struct scoring_table *b)
{
	struct scoring_iter ia, ib;
	struct scoring_entry ea, eb;
	scoring_iter_init_all(&ia, a);
	scoring_iter_init_all(&ib, b);
	while (scoring_iter_next(&ia, &ea)) {
		assert_true(scoring_iter_next(&ib, &eb));
		assert_int_equal(ea.prefix.len, eb.prefix.len);
		assert_true(rn_addr_equal(&ea.prefix.addr, &eb.prefix.addr));
		assert_int_equal(ea.cats, eb.cats);
		assert_int_equal(ea.expires_ms, eb.expires_ms);
	}
	assert_false(scoring_iter_next(&ib, &eb));
	uint8_t da[32], db[32];
	scoring_table_digest(a, da);
	scoring_table_digest(b, db);
	assert_memory_equal(da, db, 32);
}

static void test_snapshot_roundtrip(void **state)
{
	(void)state;
	uint64_t seed = 11;
	for (int round = 0; round < 50; round++) {
		static struct scoring_entry v[3000];
		size_t n = rand_entries(&seed, v, (size_t)round * 60);
		struct scoring_table *t = NULL, *back = NULL;
		RN_PASS(scoring_table_build(v, n, false, &t));
		uint8_t *buf = NULL, *buf2 = NULL;
		size_t len = 0, len2 = 0;
		RN_PASS(scoring_snapshot_encode(t, &buf, &len));
		struct scoring_decode_stats st = {0};
		RN_PASS(scoring_snapshot_decode(buf, len, NULL, NULL, &back, &st));
		assert_same(t, back);
		/* Canonical: re-encoding gives the same bytes. */
		RN_PASS(scoring_snapshot_encode(back, &buf2, &len2));
		assert_int_equal(len, len2);
		assert_memory_equal(buf, buf2, len);
		/* Every truncation is refused, never half-applied. */
		for (size_t cut = 0; cut + 1 < len; cut += 1 + len / 23) {
			struct scoring_table *x = NULL;
			int rc = scoring_snapshot_decode(buf, cut, NULL, NULL, &x, &st);
			if (rc == RN_OK) {
				/* Only a cut at a field boundary can parse; then it must differ. */
				assert_true(scoring_table_count(x) <= n);
				scoring_table_free(x);
			}
		}
		free(buf);
		free(buf2);
		scoring_table_free(t);
		scoring_table_free(back);
	}
}

static void test_delta_roundtrip(void **state)
{
	(void)state;
	uint64_t seed = 12;
	for (int round = 0; round < 50; round++) {
		static struct scoring_entry va[500], vb[500];
		size_t na = rand_entries(&seed, va, 300);
		size_t nb = 0;
		for (size_t i = 0; i < na; i++)
			if (rn_test_rand(&seed) % 3 != 0) {
				vb[nb] = va[i];
				if (rn_test_rand(&seed) % 5 == 0)
					vb[nb].expires_ms += 3600000;
				nb++;
			}
		nb += rand_entries(&seed, vb + nb, 50);
		/* rand_entries may have repeated an existing prefix: rebuild distinct. */
		size_t k = 0;
		for (size_t i = 0; i < nb; i++) {
			bool dup = false;
			for (size_t j = 0; j < k && !dup; j++)
				dup = vb[j].prefix.len == vb[i].prefix.len &&
				      rn_addr_equal(&vb[j].prefix.addr, &vb[i].prefix.addr);
			if (!dup)
				vb[k++] = vb[i];
		}
		nb = k;
		struct scoring_table *a = NULL, *b = NULL, *c = NULL;
		struct scoring_delta *d = NULL, *d2 = NULL;
		RN_PASS(scoring_table_build(va, na, false, &a));
		RN_PASS(scoring_table_build(vb, nb, false, &b));
		RN_PASS(scoring_delta_diff(a, b, &d));
		uint8_t base[32], got_base[32];
		scoring_table_digest(a, base);
		uint8_t *buf = NULL;
		size_t len = 0;
		RN_PASS(scoring_delta_encode(d, 77, base, &buf, &len));
		uint64_t seq = 0;
		RN_PASS(scoring_delta_decode(buf, len, NULL, &d2, &seq, got_base, NULL));
		assert_int_equal(seq, 77);
		assert_memory_equal(base, got_base, 32);
		assert_int_equal(scoring_delta_added(d), scoring_delta_added(d2));
		assert_int_equal(scoring_delta_removed(d), scoring_delta_removed(d2));
		RN_PASS(scoring_table_apply(a, d2, NULL, &c));
		assert_same(b, c);
		free(buf);
		scoring_delta_free(d);
		scoring_delta_free(d2);
		scoring_table_free(a);
		scoring_table_free(b);
		scoring_table_free(c);
	}
}

static void test_dry_run_refused(void **state)
{
	(void)state;
	struct scoring_entry e;
	memset(&e, 0, sizeof(e));
	rn_prefix_parse_str("192.0.2.1", true, &e.prefix);
	e.cats = 1u << RN_CAT_SCANNER;
	e.expires_ms = 1;
	struct scoring_table *t = NULL;
	RN_PASS(scoring_table_build(&e, 1, true, &t));
	uint8_t *buf = NULL;
	size_t len;
	RN_FAILS_WITH(scoring_snapshot_encode(t, &buf, &len), RN_ESTATE);
	assert_null(buf);
	scoring_table_free(t);
}

static void test_dense_size(void **state)
{
	(void)state;
	/* 1M random IPv4 addresses in one category and expiry: at most 3 MB. */
	size_t n = 1000000;
	struct scoring_entry *v = calloc(n, sizeof(*v));
	uint64_t seed = 3;
	roaring_bitmap_t *seen = roaring_bitmap_create();
	size_t k = 0;
	while (k < n) {
		uint32_t a = (uint32_t)rn_test_rand(&seed);
		if (!roaring_bitmap_add_checked(seen, a))
			continue;
		rn_addr_set_v4(&v[k].prefix.addr, a);
		v[k].prefix.len = 32;
		v[k].cats = 1u << RN_CAT_SPAM_SOURCE;
		v[k].expires_ms = 86400000;
		k++;
	}
	roaring_bitmap_free(seen);
	struct scoring_table *t = NULL;
	RN_PASS(scoring_table_build(v, n, false, &t));
	uint8_t *buf = NULL;
	size_t len = 0;
	RN_PASS(scoring_snapshot_encode(t, &buf, &len));
	print_message("1M random IPv4 in one set: %zu bytes, %.2f B/address\n", len,
	              (double)len / (double)n);
	assert_true(len <= 3000000);
	free(buf);
	scoring_table_free(t);
	free(v);
}

/* ---- hostile messages ------------------------------------------------------- */

static uint8_t *v4_bitmap(const uint32_t *vals, size_t n, size_t *len)
{
	roaring_bitmap_t *bm = roaring_bitmap_of_ptr(n, vals);
	*len = roaring_bitmap_portable_size_in_bytes(bm);
	uint8_t *p = malloc(*len + 8);
	roaring_bitmap_portable_serialize(bm, (char *)p);
	roaring_bitmap_free(bm);
	return p;
}

struct msg {
	Repnet__V1__Snapshot s;
	Repnet__V1__CategorySet cs[2];
	Repnet__V1__CategorySet *csp[2];
	Repnet__V1__AddrSet as[2];
	Repnet__V1__AddrSet *asp[2];
	Repnet__V1__V6Group g[2];
	Repnet__V1__V6Group *gp[2];
};

/* A valid snapshot: 198.51.100.1 and .2 as spam sources; edit it to break it. */
static void msg_init(struct msg *m, uint8_t *bm, size_t bmlen)
{
	repnet__v1__snapshot__init(&m->s);
	for (int i = 0; i < 2; i++) {
		repnet__v1__category_set__init(&m->cs[i]);
		repnet__v1__addr_set__init(&m->as[i]);
		repnet__v1__v6_group__init(&m->g[i]);
		m->csp[i] = &m->cs[i];
		m->asp[i] = &m->as[i];
		m->gp[i] = &m->g[i];
	}
	m->s.sets = m->csp;
	m->s.n_sets = 1;
	m->s.listed = 2;
	m->cs[0].category = REPNET__V1__CATEGORY__CATEGORY_SPAM_SOURCE;
	m->cs[0].expires_ms = 1000;
	m->cs[0].sets = m->asp;
	m->cs[0].n_sets = 1;
	m->as[0].family = 4;
	m->as[0].prefix_len = 32;
	m->as[0].v4.data = bm;
	m->as[0].v4.len = bmlen;
	m->as[0].cardinality = 2;
}

static int decode_msg(const struct msg *m)
{
	size_t sz = repnet__v1__snapshot__get_packed_size(&m->s);
	uint8_t *buf = malloc(sz + 1);
	repnet__v1__snapshot__pack(&m->s, buf);
	struct scoring_table *t = NULL;
	int rc = scoring_snapshot_decode(buf, sz, NULL, NULL, &t, NULL);
	if (rc == RN_OK)
		assert_non_null(t);
	else
		assert_null(t);
	scoring_table_free(t);
	free(buf);
	return rc;
}

static void test_hostile(void **state)
{
	(void)state;
	uint32_t two[] = {0xC6336401u, 0xC6336402u};
	size_t bl;
	uint8_t *bm = v4_bitmap(two, 2, &bl);
	struct msg m;

	msg_init(&m, bm, bl);
	RN_PASS(decode_msg(&m));

	msg_init(&m, bm, bl);
	m.as[0].cardinality = 3; /* says 3, holds 2 */
	RN_FAILS(decode_msg(&m));
	msg_init(&m, bm, bl);
	m.s.listed = 5;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.as[0].prefix_len = 31; /* .1 has a bit past /31 */
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.as[0].prefix_len = 7; /* too short to ever list */
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.as[0].family = 5;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.as[0].v4.len = bl + 4; /* trailing bytes after the bitmap */
	memset(bm + bl, 0, 4);
	RN_FAILS(decode_msg(&m));
	msg_init(&m, bm, bl);
	m.as[0].v4.len = bl - 1;
	RN_FAILS(decode_msg(&m));
	msg_init(&m, bm, bl);
	m.cs[0].category = REPNET__V1__CATEGORY__CATEGORY_UNSPECIFIED;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.cs[0].expires_ms = 0;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	msg_init(&m, bm, bl);
	m.cs[0].category = (Repnet__V1__Category)200; /* unknown: skipped, counted */
	m.s.listed = 2;
	RN_PASS(decode_msg(&m));
	/* The same listing twice (two AddrSets of one CategorySet). */
	msg_init(&m, bm, bl);
	m.as[1] = m.as[0];
	m.cs[0].n_sets = 2;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	/* One address with two expiries (two categories). */
	msg_init(&m, bm, bl);
	m.cs[1] = m.cs[0];
	m.cs[1].category = REPNET__V1__CATEGORY__CATEGORY_SCANNER;
	m.cs[1].expires_ms = 2000;
	m.s.n_sets = 2;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	m.cs[1].expires_ms = 1000; /* same expiry: fine, two categories */
	RN_PASS(decode_msg(&m));
	/* An IPv4 set with IPv6 groups. */
	msg_init(&m, bm, bl);
	m.as[0].v6 = m.gp;
	m.as[0].n_v6 = 1;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	/* IPv6: groups out of order, and a /32 whose lower half is not zero. */
	uint32_t lo[] = {0, 5};
	size_t ll;
	uint8_t *lbm = v4_bitmap(lo, 2, &ll);
	msg_init(&m, bm, bl);
	m.as[0].family = 6;
	m.as[0].prefix_len = 64;
	m.as[0].v4.len = 0;
	m.as[0].v4.data = NULL;
	m.as[0].v6 = m.gp;
	m.as[0].n_v6 = 2;
	m.as[0].cardinality = 4;
	m.s.listed = 4;
	m.g[0].hi = 0x20010db8;
	m.g[0].lo.data = lbm;
	m.g[0].lo.len = ll;
	m.g[1] = m.g[0];
	m.g[1].hi = 0x20010db9;
	RN_PASS(decode_msg(&m));
	m.g[1].hi = 0x20010db8;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	m.g[1].hi = 0x20010db9;
	m.as[0].prefix_len = 32;
	RN_FAILS_WITH(decode_msg(&m), RN_EPARSE);
	/* Over the caps. */
	msg_init(&m, bm, bl);
	size_t sz = repnet__v1__snapshot__get_packed_size(&m.s);
	uint8_t *buf = malloc(sz);
	repnet__v1__snapshot__pack(&m.s, buf);
	struct scoring_decode_limits lim = {.max_listings = 1};
	struct scoring_table *t = NULL;
	RN_FAILS_WITH(scoring_snapshot_decode(buf, sz, &lim, NULL, &t, NULL), RN_ELIMIT);
	lim = (struct scoring_decode_limits){.max_sets = 1};
	RN_PASS(scoring_snapshot_decode(buf, sz, &lim, NULL, &t, NULL));
	scoring_table_free(t);
	t = NULL;
	/* Garbage is refused. */
	for (size_t i = 0; i < sz; i++)
		buf[i] ^= 0x5a;
	RN_FAILS(scoring_snapshot_decode(buf, sz, NULL, NULL, &t, NULL));
	assert_null(t);
	free(buf);
	free(lbm);
	free(bm);
}

RN_TEST_MAIN(test_snapshot_roundtrip, test_delta_roundtrip, test_dry_run_refused, test_dense_size,
             test_hostile)
