/*
 * nfs_range_test.c: prefix normalisation, range diffs and the CIDR split,
 * checked address by address against a bitmap of a 4,096-address window,
 * at the bottom, in the middle and at the top of the IPv4 space, and
 * against hand-worked cases for IPv6 and /0.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"
#include "test.h"

#define WIN 4096u

static void v4(uint32_t a, uint8_t *k)
{
	k[0] = (uint8_t)(a >> 24);
	k[1] = (uint8_t)(a >> 16);
	k[2] = (uint8_t)(a >> 8);
	k[3] = (uint8_t)a;
}

static uint32_t u4(const uint8_t *k)
{
	return (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 | (uint32_t)k[2] << 8 | k[3];
}

/* Marks the addresses of each range in the window bitmap; checks shape. */
static void cover(const struct nfs_rangevec *rv, uint32_t base, uint8_t *bits, bool merged)
{
	memset(bits, 0, WIN);
	for (size_t i = 0; i < rv->n; i++) {
		uint32_t lo = u4(rv->v[i].lo), hi = u4(rv->v[i].hi);
		assert_true(lo <= hi);
		assert_true(lo >= base && hi - base < WIN);
		if (i > 0) {
			uint32_t phi = u4(rv->v[i - 1].hi);
			/* Sorted, and merged ranges neither overlap nor touch. */
			assert_true(lo > phi);
			if (merged)
				assert_true(lo > phi + 1);
		}
		for (uint32_t a = lo;; a++) {
			assert_int_equal(bits[a - base], 0);
			bits[a - base] = 1;
			if (a == hi)
				break;
		}
	}
}

static void window(uint32_t base, uint64_t seed)
{
	uint8_t *want = calloc(WIN, 1), *got = calloc(WIN, 1);
	assert_non_null(want);
	assert_non_null(got);
	struct nfs_pfxset ps;
	struct nfs_rangevec prev = {0};
	nfs_pfxset_init(&ps, 4);
	for (int round = 0; round < 300; round++) {
		/* Add or remove a random prefix of length 20..32 in the window. */
		unsigned len = 20 + (unsigned)(rn_test_rand(&seed) % 13);
		uint32_t a = base + (uint32_t)(rn_test_rand(&seed) % WIN);
		uint8_t k[4];
		bool changed;
		v4(a, k);
		uint16_t bit = (uint16_t)(1u << (rn_test_rand(&seed) % 3));
		if (rn_test_rand(&seed) % 3 == 0)
			nfs_pfxset_clear(&ps, k, len, bit, &changed);
		else
			RN_PASS(nfs_pfxset_or(&ps, k, len, bit, &changed));
		/* Reference: the union of every listed prefix. */
		memset(want, 0, WIN);
		for (size_t i = 0; i < ps.n; i++) {
			uint8_t lo[4], hi[4];
			nfs_prefix_bounds(ps.v[i].addr, ps.v[i].len, 4, lo, hi);
			for (uint32_t x = u4(lo);; x++) {
				want[x - base] = 1;
				if (x == u4(hi))
					break;
			}
		}
		struct nfs_rangevec rv = {0}, cidr = {0}, del = {0}, add = {0};
		RN_PASS(nfs_ranges_build(&ps, NFS_CAT_BITS, &rv));
		cover(&rv, base, got, true);
		assert_memory_equal(got, want, WIN);

		/* The same ranges from an unordered, overlapping list. */
		struct nfs_rangevec mix = {0};
		for (size_t i = ps.n; i-- > 0;) {
			uint8_t lo[4], hi[4];
			nfs_prefix_bounds(ps.v[i].addr, ps.v[i].len, 4, lo, hi);
			RN_PASS(nfs_rangevec_push(&mix, lo, hi, 4));
		}
		RN_PASS(nfs_ranges_normalise(&mix, 4));
		assert_int_equal(mix.n, rv.n);
		for (size_t i = 0; i < rv.n; i++)
			assert_memory_equal(&mix.v[i], &rv.v[i], sizeof(rv.v[i]));

		/* The CIDR split covers the same addresses with aligned blocks,
		 * and no two blocks could merge into one. */
		RN_PASS(nfs_ranges_to_cidrs(&rv, 4, 1, &cidr));
		cover(&cidr, base, got, false);
		assert_memory_equal(got, want, WIN);
		for (size_t i = 0; i < cidr.n; i++) {
			int l = nfs_range_cidr_len(&cidr.v[i], 4);
			assert_true(l >= 20 && l <= 32);
			if (i > 0 && l == nfs_range_cidr_len(&cidr.v[i - 1], 4) &&
			    u4(cidr.v[i].lo) == u4(cidr.v[i - 1].hi) + 1) {
				struct nfs_range both = {{0}, {0}};
				memcpy(both.lo, cidr.v[i - 1].lo, 4);
				memcpy(both.hi, cidr.v[i].hi, 4);
				assert_int_equal(nfs_range_cidr_len(&both, 4), -1);
			}
		}

		/* Applying the diff to the previous ranges gives the new ones. */
		RN_PASS(nfs_ranges_diff(&prev, &rv, 4, &del, &add));
		uint8_t *old = calloc(WIN, 1);
		assert_non_null(old);
		cover(&prev, base, old, true);
		struct nfs_rangevec tmp = {0};
		for (size_t i = 0; i < prev.n; i++) {
			bool gone = false;
			for (size_t j = 0; j < del.n; j++)
				if (memcmp(&del.v[j], &prev.v[i], sizeof(del.v[j])) == 0)
					gone = true;
			if (!gone)
				RN_PASS(nfs_rangevec_push(&tmp, prev.v[i].lo, prev.v[i].hi, 4));
		}
		for (size_t j = 0; j < add.n; j++)
			RN_PASS(nfs_rangevec_push(&tmp, add.v[j].lo, add.v[j].hi, 4));
		RN_PASS(nfs_ranges_normalise(&tmp, 4));
		assert_int_equal(tmp.n, rv.n);
		for (size_t i = 0; i < rv.n; i++)
			assert_memory_equal(&tmp.v[i], &rv.v[i], sizeof(rv.v[i]));
		free(old);
		nfs_rangevec_release(&tmp);
		nfs_rangevec_release(&prev);
		prev = rv;
		nfs_rangevec_release(&cidr);
		nfs_rangevec_release(&del);
		nfs_rangevec_release(&add);
		nfs_rangevec_release(&mix);
	}
	nfs_rangevec_release(&prev);
	nfs_pfxset_release(&ps);
	free(want);
	free(got);
}

static void test_windows(void **state)
{
	(void)state;
	window(0x00000000u, 1); /* the bottom: 0.0.0.0 */
	window(0x0a000000u, 2); /* 10.0.0.0 */
	window(0xfffff000u, 3); /* the top: 255.255.255.255 */
}

static void test_edges(void **state)
{
	(void)state;
	struct nfs_pfxset ps;
	struct nfs_rangevec rv = {0}, cidr = {0};
	uint8_t k[16] = {0};
	bool changed;

	/* 0.0.0.0/0 is one range; ipset needs it as two /1s. */
	nfs_pfxset_init(&ps, 4);
	RN_PASS(nfs_pfxset_or(&ps, k, 0, 1, &changed));
	assert_true(changed);
	RN_PASS(nfs_pfxset_or(&ps, k, 0, 1, &changed));
	assert_false(changed);
	RN_PASS(nfs_ranges_build(&ps, NFS_CAT_BITS, &rv));
	assert_int_equal(rv.n, 1);
	assert_true(nfs_key_is_zero(rv.v[0].lo, 4));
	assert_true(nfs_key_is_max(rv.v[0].hi, 4));
	assert_int_equal(nfs_range_cidr_len(&rv.v[0], 4), 0);
	RN_PASS(nfs_ranges_to_cidrs(&rv, 4, 1, &cidr));
	assert_int_equal(cidr.n, 2);
	assert_int_equal(nfs_range_cidr_len(&cidr.v[0], 4), 1);
	assert_int_equal(nfs_range_cidr_len(&cidr.v[1], 4), 1);
	nfs_pfxset_clear(&ps, k, 0, 1, &changed);
	assert_true(changed);
	assert_int_equal(ps.n, 0);
	nfs_rangevec_release(&cidr);
	nfs_pfxset_release(&ps);

	/* Host bits are cleared on insert: 10.1.2.3/8 is 10.0.0.0/8. */
	nfs_pfxset_init(&ps, 4);
	v4(0x0a010203u, k);
	RN_PASS(nfs_pfxset_or(&ps, k, 8, 1, &changed));
	v4(0x0a000000u, k);
	RN_PASS(nfs_pfxset_or(&ps, k, 8, 2, &changed));
	assert_int_equal(ps.n, 1);
	assert_int_equal(ps.v[0].mask, 3);
	/* Clearing one category keeps the prefix; the other drops it. */
	nfs_pfxset_clear(&ps, k, 8, 1, &changed);
	assert_int_equal(ps.n, 1);
	nfs_pfxset_clear(&ps, k, 8, 2, &changed);
	assert_int_equal(ps.n, 0);
	nfs_pfxset_release(&ps);

	/* IPv6: 2001:db8::/33 and 2001:db8:8000::/33 touch: one /32 range. */
	nfs_pfxset_init(&ps, 16);
	uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
	RN_PASS(nfs_pfxset_or(&ps, a, 33, 1, &changed));
	a[4] = 0x80;
	RN_PASS(nfs_pfxset_or(&ps, a, 33, 1, &changed));
	RN_PASS(nfs_ranges_build(&ps, NFS_CAT_BITS, &rv));
	assert_int_equal(rv.n, 1);
	assert_int_equal(nfs_range_cidr_len(&rv.v[0], 16), 32);
	/* ::/0 with the 2001:db8::/32 inside it is ::/0. */
	uint8_t z[16] = {0};
	RN_PASS(nfs_pfxset_or(&ps, z, 0, 1, &changed));
	RN_PASS(nfs_ranges_build(&ps, NFS_CAT_BITS, &rv));
	assert_int_equal(rv.n, 1);
	assert_int_equal(nfs_range_cidr_len(&rv.v[0], 16), 0);
	nfs_rangevec_release(&rv);
	nfs_pfxset_release(&ps);

	/* Increment and decrement wrap only at the ends. */
	uint8_t m[4] = {0xff, 0xff, 0xff, 0xff};
	assert_false(nfs_key_inc(m, 4));
	assert_true(nfs_key_is_zero(m, 4));
	assert_false(nfs_key_dec(m, 4));
	assert_true(nfs_key_is_max(m, 4));
	uint8_t n[4] = {0, 0, 1, 0};
	assert_true(nfs_key_dec(n, 4));
	assert_int_equal(u4(n), 0xffu);
}

RN_TEST_MAIN(test_windows, test_edges)
