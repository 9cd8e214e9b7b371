/*
 * nfs_keyset_test.c: the engine's address tables against a plain
 * reference (a byte per key of a small universe), through millions of
 * random inserts, mask changes, deletions and sweeps.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"
#include "test.h"

/* Keys are drawn from a small universe so that collisions and clusters
 * happen; the reference holds the mask of each. */
#define UNIVERSE 5000u

static void key_of(unsigned i, unsigned klen, uint8_t *k)
{
	memset(k, 0, 16);
	/* Spread over the key so that every byte matters. */
	uint32_t x = i * 2654435761u;
	memcpy(k, &x, 4);
	if (klen == 16) {
		k[15] = (uint8_t)i;
		k[8] = (uint8_t)(i >> 8);
	}
}

static void check_all(const struct nfs_keyset *s, const uint16_t *ref, unsigned klen)
{
	size_t n = 0;
	for (unsigned i = 0; i < UNIVERSE; i++) {
		uint8_t k[16];
		key_of(i, klen, k);
		uint16_t *m = nfs_keyset_find(s, k);
		if (ref[i] == 0) {
			assert_null(m);
		} else {
			assert_non_null(m);
			assert_int_equal(*m, ref[i]);
			n++;
		}
	}
	assert_int_equal(s->n, n);
	/* No slot holds a key the reference does not know. */
	size_t used = 0;
	for (size_t j = 0; j < s->cap; j++)
		used += s->masks[j] != 0;
	assert_int_equal(used, n);
}

static void run(unsigned klen)
{
	struct nfs_keyset s;
	uint16_t *ref = calloc(UNIVERSE, sizeof(*ref));
	uint64_t seed = 42 + klen;
	assert_non_null(ref);
	nfs_keyset_init(&s, klen);
	assert_null(nfs_keyset_find(&s, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"));
	for (unsigned round = 0; round < 40; round++) {
		for (unsigned op = 0; op < 20000; op++) {
			unsigned i = (unsigned)(rn_test_rand(&seed) % UNIVERSE);
			uint8_t k[16];
			key_of(i, klen, k);
			unsigned what = (unsigned)(rn_test_rand(&seed) % 3);
			uint16_t bit = (uint16_t)(1u << (rn_test_rand(&seed) % RN_CAT_COUNT));
			if (what < 2) {
				uint16_t *m = NULL;
				RN_PASS(nfs_keyset_or(&s, k, bit, &m));
				assert_non_null(m);
				ref[i] |= bit;
				assert_int_equal(*m, ref[i]);
			} else {
				bool had = nfs_keyset_del(&s, k);
				assert_int_equal(had, ref[i] != 0);
				ref[i] = 0;
			}
		}
		check_all(&s, ref, klen);
		/* Clear one category everywhere; the sweep drops emptied keys. */
		uint16_t bit = (uint16_t)(1u << (round % RN_CAT_COUNT));
		for (size_t j = 0; j < s.cap; j++)
			if (s.masks[j])
				s.masks[j] = (uint16_t)((s.masks[j] & ~bit) | NFS_F_SEEN);
		for (unsigned i = 0; i < UNIVERSE; i++)
			ref[i] &= (uint16_t)~bit;
		nfs_keyset_sweep(&s, NFS_F_SEEN);
		check_all(&s, ref, klen);
	}
	RN_FAILS_WITH(nfs_keyset_or(&s, (const uint8_t *)"abcdefghijklmnop", 0, NULL),
	              RN_EINTERNAL);
	nfs_keyset_release(&s);
	nfs_keyset_release(&s); /* twice: safe */
	free(ref);
}

static void test_v4(void **state)
{
	(void)state;
	run(4);
}

static void test_v6(void **state)
{
	(void)state;
	run(16);
}

/* A million keys, as a full IPv4 load has: reserve, insert, look up. */
static void test_million(void **state)
{
	(void)state;
	struct nfs_keyset s;
	nfs_keyset_init(&s, 4);
	RN_PASS(nfs_keyset_reserve(&s, 1000000));
	size_t cap = s.cap;
	for (uint32_t i = 0; i < 1000000; i++) {
		uint32_t k = i * 7919u;
		RN_PASS(nfs_keyset_or(&s, (const uint8_t *)&k, 1, NULL));
	}
	assert_int_equal(s.cap, cap); /* no rehash after the reserve */
	assert_int_equal(s.n, 1000000);
	for (uint32_t i = 0; i < 1000000; i += 997) {
		uint32_t k = i * 7919u;
		assert_non_null(nfs_keyset_find(&s, (const uint8_t *)&k));
		k = i * 7919u + 1; /* odd multiples are never stored */
		assert_null(nfs_keyset_find(&s, (const uint8_t *)&k));
	}
	nfs_keyset_release(&s);
}

RN_TEST_MAIN(test_v4, test_v6, test_million)
