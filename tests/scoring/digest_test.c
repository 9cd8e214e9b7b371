/*
 * digest_test.c: SipHash-2-4-128 against libsodium's implementation, and
 * the state digest's algebra: order does not matter, a delta updates it.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/table.h"

static void test_siphash_known_answers(void **state)
{
	(void)state;
	uint8_t key[16], msg[64], a[16], b[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(crypto_shorthash_siphashx24_BYTES, 16);
	/* Every length 0..63 covers each tail size and several blocks. */
	for (size_t len = 0; len < 64; len++) {
		siphash24_128(key, msg, len, a);
		crypto_shorthash_siphashx24(b, msg, len, key);
		assert_memory_equal(a, b, 16);
	}
	/* The reference vector of the SipHash paper's 128-bit mode, empty message. */
	static const uint8_t empty[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
	                                  0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
	siphash24_128(key, msg, 0, a);
	assert_memory_equal(a, empty, 16);
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
	        cmocka_unit_test(test_digest_algebra),
	        cmocka_unit_test(test_digest_of_table_and_delta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
