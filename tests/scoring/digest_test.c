/*
 * digest_test.c: the state digest: libsodium's SipHash-2-4-128 against the
 * paper's vector, the digest against its definition and against values the
 * earlier implementation computed, and its algebra: order does not matter,
 * a delta updates it.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/table.h"

static void test_siphash_known_answers(void **state)
{
	(void)state;
	uint8_t key[16], msg[1] = {0}, a[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	assert_int_equal(crypto_shorthash_siphashx24_BYTES, 16);
	assert_int_equal(crypto_shorthash_siphashx24_KEYBYTES, 16);
	/* The reference vector of the SipHash paper's 128-bit mode, empty message. */
	static const uint8_t empty[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
	                                  0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
	crypto_shorthash_siphashx24(a, msg, 0, key);
	assert_memory_equal(a, empty, 16);
}

/* The digest of one listing as docs/design.md defines it, written out independently. */
static void spec_digest(const struct scoring_listing *l, uint8_t out[32])
{
	uint8_t m[24] = {0}, h[32];
	m[0] = l->prefix.addr.family;
	m[1] = l->prefix.len;
	m[2] = l->category;
	for (int i = 0; i < 8; i++)
		m[8 + i] = (uint8_t)((uint64_t)l->expires_ms >> (56 - 8 * i));
	if (l->prefix.addr.family == RN_AF_INET) {
		uint32_t a = l->prefix.addr.u.v4;
		for (int i = 0; i < 4; i++)
			m[20 + i] = (uint8_t)(a >> (24 - 8 * i));
	} else {
		memcpy(m + 16, l->prefix.addr.u.v6, 8);
	}
	crypto_shorthash_siphashx24(h, m, sizeof(m), (const uint8_t *)"repnet state dg1");
	crypto_shorthash_siphashx24(h + 16, m, sizeof(m), (const uint8_t *)"repnet state dg2");
	/* One listing's lane sums are its lanes: the hash bytes themselves. */
	memcpy(out, h, 32);
}

static void test_digest_matches_spec(void **state)
{
	(void)state;
	uint64_t seed = 11;
	for (int i = 0; i < 500; i++) {
		struct scoring_listing l;
		memset(&l, 0, sizeof(l));
		uint64_t r = rn_test_rand(&seed);
		if (i % 2 == 0) {
			unsigned len = 8 + (unsigned)(r % 25);
			uint32_t a = (uint32_t)(r >> 16);
			rn_addr_set_v4(&l.prefix.addr, len == 32 ? a : a & ~(0xffffffffu >> len));
			l.prefix.len = (uint8_t)len;
		} else {
			unsigned len = 16 + (unsigned)(r % 49);
			uint8_t b[16] = {0};
			uint64_t hi = rn_test_rand(&seed);
			if (len < 64)
				hi &= ~(~0ull >> len);
			for (int k = 0; k < 8; k++)
				b[k] = (uint8_t)(hi >> (56 - 8 * k));
			rn_addr_set_v6(&l.prefix.addr, b);
			l.prefix.len = (uint8_t)len;
		}
		l.category = (uint8_t)(1 + r % (RN_CAT_COUNT - 1));
		l.expires_ms = (int64_t)(rn_test_rand(&seed) >> 1);
		uint8_t want[32], got[32];
		spec_digest(&l, want);
		scoring_digest_listing(&l, got);
		assert_memory_equal(want, got, 32);
	}
}

/*
 * Digests computed by the implementation before it used libsodium (its own
 * SipHash-2-4-128), so that the format can never change unnoticed.
 */
static void test_digest_known_answers(void **state)
{
	(void)state;
	static const struct {
		const char *prefix;
		uint8_t cat;
		int64_t expires_ms;
		uint8_t digest[32];
	} v[] = {
	        {"192.0.2.1",
	         RN_CAT_SPAM_SOURCE,
	         1700000000000,
	         {0x9e, 0x20, 0x1c, 0x31, 0x08, 0xb9, 0xcf, 0x45, 0xb9, 0x9c, 0xd1,
	          0x3b, 0xba, 0x28, 0x50, 0x2c, 0xe3, 0xf0, 0x07, 0x7b, 0x5b, 0x45,
	          0x91, 0xc2, 0xfa, 0x57, 0x1f, 0xea, 0xfd, 0x8f, 0x1c, 0x20}},
	        {"198.51.100.0/24",
	         RN_CAT_DROP,
	         1700003600000,
	         {0xaf, 0xb2, 0xfc, 0xf3, 0xec, 0x22, 0xa3, 0x11, 0x44, 0xfc, 0x3f,
	          0x14, 0x3a, 0xa8, 0x30, 0x97, 0x95, 0x3f, 0x81, 0x6f, 0xfc, 0x07,
	          0x86, 0x53, 0x3d, 0x31, 0x88, 0xe3, 0xb9, 0xf8, 0xdc, 0x5f}},
	        {"2001:db8:1:2::/64",
	         RN_CAT_SASL_BRUTEFORCE,
	         1,
	         {0x67, 0xd3, 0xed, 0x75, 0xfa, 0x5e, 0xc2, 0xfa, 0xfe, 0x23, 0x44,
	          0xae, 0x63, 0x36, 0x0b, 0x9d, 0xaa, 0x81, 0xf6, 0xbe, 0x96, 0x45,
	          0xe0, 0xaf, 0x07, 0xa6, 0x26, 0x14, 0xb1, 0x57, 0x54, 0x53}},
	        {"2001:db8::/32",
	         RN_CAT_SCANNER,
	         4102444800000,
	         {0xd1, 0x1c, 0x37, 0x81, 0x5d, 0x33, 0x61, 0x36, 0xf9, 0xde, 0x93,
	          0xe4, 0x7d, 0x0d, 0x17, 0x38, 0xbe, 0x96, 0x63, 0x10, 0x6e, 0x9a,
	          0xda, 0x0f, 0x06, 0x0c, 0x6a, 0x68, 0x45, 0x13, 0xa4, 0xec}},
	};
	static const uint8_t sum[32] = {0x85, 0xc3, 0x3d, 0x1c, 0x4d, 0x6e, 0x96, 0x88,
	                                0xf4, 0x9b, 0xe9, 0xe2, 0xd5, 0x14, 0xa3, 0x98,
	                                0xe0, 0x48, 0xe3, 0xb9, 0x5c, 0x2d, 0xd2, 0xd5,
	                                0x44, 0x3b, 0x38, 0x4a, 0xae, 0xf3, 0xf1, 0xbf};
	uint8_t all[32] = {0}, d[32];
	for (size_t i = 0; i < RN_ARRAY_LEN(v); i++) {
		struct scoring_listing l;
		memset(&l, 0, sizeof(l));
		RN_PASS(rn_prefix_parse_str(v[i].prefix, true, &l.prefix));
		l.category = v[i].cat;
		l.expires_ms = v[i].expires_ms;
		scoring_digest_listing(&l, d);
		assert_memory_equal(d, v[i].digest, 32);
		scoring_digest_add(all, &l, 1);
	}
	assert_memory_equal(all, sum, 32);
}

static void test_digest_algebra(void **state)
{
	(void)state;
	struct scoring_listing l[50];
	uint64_t seed = 7;
	for (int i = 0; i < 50; i++) {
		memset(&l[i], 0, sizeof(l[i]));
		if (i % 3 == 0) {
			uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, (uint8_t)i};
			rn_addr_set_v6(&l[i].prefix.addr, b);
			l[i].prefix.len = 64;
		} else {
			rn_addr_set_v4(&l[i].prefix.addr, (uint32_t)rn_test_rand(&seed));
			l[i].prefix.len = 32;
		}
		l[i].category = (uint8_t)(1 + i % 9);
		l[i].expires_ms = 1700000000000 + i * 1000;
	}
	uint8_t fwd[32] = {0}, back[32] = {0}, zero[32] = {0};
	for (int i = 0; i < 50; i++)
		scoring_digest_add(fwd, &l[i], 1);
	for (int i = 49; i >= 0; i--)
		scoring_digest_add(back, &l[i], 1);
	assert_memory_equal(fwd, back, 32);
	assert_memory_not_equal(fwd, zero, 32);
	/* Removing everything returns to the empty digest. */
	for (int i = 0; i < 50; i += 2)
		scoring_digest_add(fwd, &l[i], -1);
	for (int i = 1; i < 50; i += 2)
		scoring_digest_add(fwd, &l[i], -1);
	assert_memory_equal(fwd, zero, 32);
	/* Each field matters. */
	uint8_t d0[32], d1[32];
	scoring_digest_listing(&l[1], d0);
	struct scoring_listing m = l[1];
	m.category++;
	scoring_digest_listing(&m, d1);
	assert_memory_not_equal(d0, d1, 32);
	m = l[1];
	m.expires_ms++;
	scoring_digest_listing(&m, d1);
	assert_memory_not_equal(d0, d1, 32);
	m = l[1];
	m.prefix.addr.u.v4 ^= 1;
	scoring_digest_listing(&m, d1);
	assert_memory_not_equal(d0, d1, 32);
	m = l[1];
	m.prefix.addr.u.v4 &= 0xffffff00u;
	m.prefix.len = 24;
	struct scoring_listing m2 = m;
	m2.prefix.len = 25;
	scoring_digest_listing(&m, d0);
	scoring_digest_listing(&m2, d1);
	assert_memory_not_equal(d0, d1, 32);
}

static void test_digest_of_table_and_delta(void **state)
{
	(void)state;
	struct scoring_entry e[3];
	memset(e, 0, sizeof(e));
	rn_prefix_parse_str("192.0.2.1", true, &e[0].prefix);
	e[0].cats = 1u << RN_CAT_SPAM_SOURCE | 1u << RN_CAT_SCANNER;
	e[0].expires_ms = 5000;
	rn_prefix_parse_str("198.51.100.0/24", true, &e[1].prefix);
	e[1].cats = 1u << RN_CAT_DROP;
	e[1].expires_ms = 6000;
	rn_prefix_parse_str("2001:db8:1:2::/64", true, &e[2].prefix);
	e[2].cats = 1u << RN_CAT_SASL_BRUTEFORCE;
	e[2].expires_ms = 7000;
	struct scoring_table *t = NULL, *empty = NULL;
	RN_PASS(scoring_table_build(e, 3, false, &t));
	RN_PASS(scoring_table_empty(&empty));
	/* The table's digest is the sum over its listings (one per category). */
	uint8_t want[32] = {0}, got[32];
	for (int i = 0; i < 3; i++) {
		for (uint32_t m = e[i].cats; m; m &= m - 1) {
			struct scoring_listing l = {.prefix = e[i].prefix,
			                            .category = (uint8_t)__builtin_ctz(m),
			                            .expires_ms = e[i].expires_ms};
			scoring_digest_add(want, &l, 1);
		}
	}
	scoring_table_digest(t, got);
	assert_memory_equal(want, got, 32);
	/* The digest after the delta from empty equals the table's. */
	struct scoring_delta *d = NULL;
	RN_PASS(scoring_delta_diff(empty, t, &d));
	assert_int_equal(scoring_delta_added(d), 4);
	assert_int_equal(scoring_delta_removed(d), 0);
	uint8_t z[32] = {0}, after[32];
	scoring_digest_after(z, d, after);
	assert_memory_equal(after, got, 32);
	scoring_delta_free(d);
	scoring_table_free(t);
	scoring_table_free(empty);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_siphash_known_answers),
	        cmocka_unit_test(test_digest_matches_spec),
	        cmocka_unit_test(test_digest_known_answers),
	        cmocka_unit_test(test_digest_algebra),
	        cmocka_unit_test(test_digest_of_table_and_delta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
