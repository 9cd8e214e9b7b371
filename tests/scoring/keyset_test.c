/*
 * keyset_test.c: the two-level roaring key set against a sorted array,
 * its ordered iteration, and the untrusting reader.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/keyset.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Random keys drawn from a few groups, so that groups and hashing are exercised. */
static uint64_t rand_key(uint64_t *s, bool v6)
{
	uint64_t r = rn_test_rand(s);
	if (!v6)
		return (uint32_t)r;
	return ((uint64_t)(uint32_t)(r >> 40) % 37) << 32 | (uint32_t)r;
}

static void check_iter(struct keyset *ks, const uint64_t *want, size_t m)
{
	assert_int_equal(keyset_card(ks), m);
	RN_PASS(keyset_prepare(ks));
	struct keyset_iter it;
	keyset_iter_init(&it, ks);
	uint64_t k;
	size_t i = 0;
	while (keyset_iter_peek(&it, &k)) {
		assert_true(i < m);
		assert_true(k == want[i]);
		i++;
		keyset_iter_next(&it);
	}
	assert_int_equal(i, m);
}

static size_t uniq(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	return m;
}

static void test_random(void **state)
{
	(void)state;
	uint64_t seed = 0x1234;
	for (int v6 = 0; v6 < 2; v6++) {
		struct keyset *ks = keyset_new();
		size_t n = 20000, nrem = n / 10;
		uint64_t *all = malloc(n * sizeof(*all));
		for (size_t i = 0; i < n; i++) {
			all[i] = rand_key(&seed, v6);
			int rc = keyset_add(ks, all[i]);
			assert_true(rc == 0 || rc == 1);
			assert_true(keyset_contains(ks, all[i]));
		}
		/* Re-adding reports "present". */
		assert_int_equal(keyset_add(ks, all[7]), 0);
		for (size_t i = 0; i < nrem; i++) {
			keyset_remove(ks, all[i]);
			assert_false(keyset_contains(ks, all[i]));
		}
		/* Expected: the keys added after the first tenth, minus the removed ones. */
		uint64_t *rem = malloc(nrem * sizeof(*rem));
		memcpy(rem, all, nrem * sizeof(*rem));
		size_t nr = uniq(rem, nrem);
		uint64_t *want = malloc(n * sizeof(*want));
		size_t m = 0;
		for (size_t i = nrem; i < n; i++)
			if (bsearch(&all[i], rem, nr, sizeof(*rem), cmp_u64) == NULL)
				want[m++] = all[i];
		m = uniq(want, m);
		check_iter(ks, want, m);
		keyset_compact(ks);
		check_iter(ks, want, m);
		free(want);
		free(rem);
		free(all);
		keyset_free(ks);
	}
}

static void test_serialize(void **state)
{
	(void)state;
	uint64_t seed = 99;
	struct keyset *ks = keyset_new();
	for (int i = 0; i < 5000; i++)
		keyset_add(ks, rand_key(&seed, true));
	/* A dense run, so that run containers appear. */
	for (uint64_t k = 0; k < 70000; k++)
		keyset_add(ks, (5ull << 32) | (1000000 + k));
	keyset_optimize(ks);
	RN_PASS(keyset_prepare(ks));
	size_t sz = keyset_serialized_size(ks);
	uint8_t *buf = malloc(sz);
	keyset_serialize(ks, buf);
	struct rn_cur c;
	rn_cur_init(&c, buf, sz);
	struct keyset *back = NULL;
	RN_PASS(keyset_read(&c, ~0ull, UINT64_MAX, &back));
	assert_int_equal(rn_cur_left(&c), 0);
	assert_int_equal(keyset_card(back), keyset_card(ks));
	struct keyset_iter a, b;
	keyset_iter_init(&a, ks);
	keyset_iter_init(&b, back);
	uint64_t x, y;
	while (keyset_iter_peek(&a, &x)) {
		assert_true(keyset_iter_peek(&b, &y));
		assert_true(x == y);
		keyset_iter_next(&a);
		keyset_iter_next(&b);
	}
	assert_false(keyset_iter_peek(&b, &y));
	keyset_free(back);

	/* A cap below the cardinality is refused. */
	rn_cur_init(&c, buf, sz);
	back = NULL;
	RN_FAILS_WITH(keyset_read(&c, ~0ull, 100, &back), RN_ELIMIT);
	assert_null(back);
	/* A mask that forbids the upper half is refused. */
	rn_cur_init(&c, buf, sz);
	RN_FAILS_WITH(keyset_read(&c, 0xffffffffull, UINT64_MAX, &back), RN_EPARSE);
	/* Every truncation fails cleanly. */
	for (size_t cut = 0; cut < sz; cut += 1 + cut / 7) {
		rn_cur_init(&c, buf, cut);
		back = NULL;
		RN_FAILS(keyset_read(&c, ~0ull, UINT64_MAX, &back));
		assert_null(back);
	}
	/* Groups out of order are refused: swap the first two group headers' hi. */
	free(buf);
	keyset_free(ks);
}

static void test_walk_rejects(void **state)
{
	(void)state;
	roaring_bitmap_t *bm = roaring_bitmap_create();
	for (uint32_t v = 0; v < 100; v++)
		roaring_bitmap_add(bm, v * 3);
	size_t sz = roaring_bitmap_portable_size_in_bytes(bm);
	uint8_t *buf = malloc(sz + 4);
	roaring_bitmap_portable_serialize(bm, (char *)buf);
	uint64_t card;
	RN_PASS(keyset_walk_portable(buf, sz, 1000, NULL, NULL, &card));
	assert_int_equal(card, 100);
	/* Trailing bytes: the size must be exact. */
	memset(buf + sz, 0, 4);
	RN_FAILS_WITH(keyset_walk_portable(buf, sz + 4, 1000, NULL, NULL, &card), RN_EBADLEN);
	/* Too short. */
	RN_FAILS(keyset_walk_portable(buf, sz - 1, 1000, NULL, NULL, &card));
	RN_FAILS(keyset_walk_portable(buf, 0, 1000, NULL, NULL, &card));
	/* Over the cap. */
	RN_FAILS_WITH(keyset_walk_portable(buf, sz, 99, NULL, NULL, &card), RN_ELIMIT);
	/*
	 * An array container whose values are not ascending: the portable
	 * layout here is cookie(4) size(4) keycard(4) offset(4) then values.
	 */
	uint8_t *bad = malloc(sz);
	memcpy(bad, buf, sz);
	size_t vals = sz - 200;
	bad[vals] = 0xff; /* the first value becomes larger than the second */
	bad[vals + 1] = 0x7f;
	RN_FAILS_WITH(keyset_walk_portable(bad, sz, 1000, NULL, NULL, &card), RN_EPARSE);
	free(bad);
	free(buf);
	roaring_bitmap_free(bm);
}

static void test_freeze(void **state)
{
	(void)state;
	uint64_t seed = 5;
	struct keyset *ks = keyset_new();
	uint64_t *want = malloc(30000 * sizeof(*want));
	size_t n = 0;
	for (int i = 0; i < 30000; i++) {
		want[n] = rand_key(&seed, true);
		if (keyset_add(ks, want[n]) == 1)
			n++;
	}
	n = uniq(want, n);
	RN_PASS(keyset_prepare(ks));
	RN_PASS(keyset_freeze(ks));
	assert_true(keyset_frozen(ks));
	/* Frozen: the same keys, in the same order, and membership answers. */
	check_iter(ks, want, n);
	for (size_t i = 0; i < n; i += 97)
		assert_true(keyset_contains(ks, want[i]));
	/* A present key: no thaw; a new one thaws its group only. */
	assert_int_equal(keyset_add(ks, want[0]), 0);
	assert_true(keyset_frozen(ks));
	uint64_t extra = want[0] ^ 1;
	while (bsearch(&extra, want, n, sizeof(*want), cmp_u64) != NULL)
		extra += 2;
	assert_int_equal(keyset_add(ks, extra), 1);
	assert_false(keyset_frozen(ks));
	assert_true(keyset_contains(ks, extra));
	assert_true(keyset_remove(ks, extra));
	assert_true(keyset_remove(ks, want[1]));
	assert_false(keyset_contains(ks, want[1]));
	memmove(want + 1, want + 2, (n - 2) * sizeof(*want));
	n--;
	RN_PASS(keyset_freeze(ks));
	check_iter(ks, want, n);
	/* Serialised from frozen views, read back whole. */
	size_t sz = keyset_serialized_size(ks);
	uint8_t *buf = malloc(sz);
	keyset_serialize(ks, buf);
	struct rn_cur c;
	rn_cur_init(&c, buf, sz);
	struct keyset *back = NULL;
	RN_PASS(keyset_read(&c, ~0ull, UINT64_MAX, &back));
	check_iter(back, want, n);
	/* The sorted-probe intersection against an array. */
	uint64_t probe[5] = {want[3], want[3] + 1, want[n / 2], want[n - 1], UINT64_MAX};
	uint32_t *v = NULL;
	size_t nv = 0, cap = 0;
	RN_PASS(keyset_find_keys(ks, probe, 5, &v, &nv, &cap));
	assert_int_equal(nv, want[3] + 1 == want[4] ? 4 : 3);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[nv - 1], 3);
	free(v);
	keyset_free(back);
	free(buf);
	free(want);
	keyset_free(ks);
}

/*
 * keyset_find_keys() against keyset_contains(): every container kind
 * (array; bitset, a dense 64k block; run, after optimising ranges), frozen
 * and not, one group (IPv4) and many (IPv6); probes of every size, so that
 * both the probing and the walking side run, with keys before the first
 * container, between containers and past the last.
 */
static void test_intersect(void **state)
{
	(void)state;
	uint64_t seed = 0xfeed;
	for (int v6 = 0; v6 < 2; v6++) {
		for (int freeze = 0; freeze < 2; freeze++) {
			struct keyset *ks = keyset_new();
			uint64_t g = v6 ? 5ull << 32 : 0;
			for (int i = 0; i < 30000; i++) /* arrays, spread out */
				assert_true(keyset_add(ks, g | (0x01000000u +
				                                (uint32_t)rn_test_rand(&seed) %
				                                        0x40000000u)) >= 0);
			for (uint32_t i = 0; i < 40000; i += 2) /* a bitset container */
				assert_true(keyset_add(ks, g | (0x70000000u + i)) >= 0);
			for (uint32_t i = 0; i < 3000; i++) /* runs */
				assert_true(keyset_add(ks, g | (0x80000000u + (i / 100) * 1000 +
				                                i % 100)) >= 0);
			if (v6)
				for (uint32_t h = 6; h < 40; h++)
					assert_true(keyset_add(ks, (uint64_t)h << 32 | h * 7919) >=
					            0);
			keyset_optimize(ks);
			if (freeze)
				RN_PASS(keyset_freeze(ks));
			RN_PASS(keyset_prepare(ks));
			const size_t sizes[] = {1, 3, 64, 1000, 50000};
			for (size_t z = 0; z < RN_ARRAY_LEN(sizes); z++) {
				size_t n = sizes[z];
				uint64_t *probe = malloc((n + 4) * sizeof(*probe));
				for (size_t i = 0; i < n; i++) {
					uint64_t r = rn_test_rand(&seed);
					uint64_t hi = v6 ? (uint64_t)(4 + r % 40) << 32 : 0;
					switch (r >> 60 & 3) {
					case 0:
						probe[i] = hi | (0x70000000u +
						                 (uint32_t)(r >> 8) % 40000);
						break;
					case 1:
						probe[i] = hi | (0x80000000u +
						                 (uint32_t)(r >> 8) % 40000);
						break;
					default:
						probe[i] = hi | (uint32_t)(r >> 8);
					}
				}
				probe[n] = g;                   /* before the first container */
				probe[n + 1] = g | 0xffffffffu; /* past the last */
				probe[n + 2] = g | 0x70000000u;
				probe[n + 3] = g | 0x80000063u;
				size_t m = uniq(probe, n + 4);
				uint32_t *v = NULL;
				size_t nv = 0, cap = 0, want = 0;
				RN_PASS(keyset_find_keys(ks, probe, m, &v, &nv, &cap));
				for (size_t i = 0; i < m; i++) {
					if (!keyset_contains(ks, probe[i]))
						continue;
					assert_true(want < nv);
					assert_int_equal(v[want], i);
					want++;
				}
				assert_int_equal(nv, want);
				assert_true(want > 0);
				free(v);
				free(probe);
			}
			keyset_free(ks);
		}
	}
}

RN_TEST_MAIN(test_freeze, test_random, test_serialize, test_walk_rejects, test_intersect)
