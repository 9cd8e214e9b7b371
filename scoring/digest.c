/*
 * digest.c: the state digest of a blocklist.
 *
 * Design notes: the state a feed replicates is a set of listings
 * (category, expiry, prefix). Its digest is a multiset hash: the sum, in
 * four 64-bit lanes modulo 2^64, of a 256-bit hash of each listing. Sums
 * commute, so the digest does not depend on order, and a delta updates it
 * by adding the hashes of what it adds and subtracting those of what it
 * removes: O(|delta|), never O(|state|). The per-listing hash is
 * SipHash-2-4 in its 128-bit output mode under two fixed keys, over the
 * listing's canonical 24 bytes (libsodium's crypto_shorthash_siphashx24,
 * which is that function: it needs no sodium_init()):
 *
 *   byte 0 family (4 or 6), byte 1 prefix length, byte 2 category,
 *   bytes 3-7 zero, bytes 8-15 expires_ms (big-endian two's complement),
 *   bytes 16-23 the prefix: IPv4 as 4 zero bytes and the 4 address bytes,
 *   IPv6 as the first 8 address bytes; bits past the length are zero.
 *
 * Lanes 0-1 are SipHash under key "repnet state dg1", lanes 2-3 under
 * "repnet state dg2"; each lane is the little-endian reading of 8 output
 * bytes, and the digest is the four lane sums, little-endian. The digest
 * is for detecting divergence between honest parties; the signature on
 * the payload that carries it is what resists forgery.
 */
#include <sodium.h>
#include <string.h>

#include "scoring/table.h"

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const uint8_t key_a[16] = "repnet state dg1";
static const uint8_t key_b[16] = "repnet state dg2";

static void listing_bytes(uint8_t m[24], unsigned family, unsigned plen, unsigned cat,
                          int64_t expires_ms, uint64_t key)
{
	memset(m, 0, 24);
	m[0] = (uint8_t)family;
	m[1] = (uint8_t)plen;
	m[2] = (uint8_t)cat;
	uint64_t e = (uint64_t)expires_ms;
	for (int i = 0; i < 8; i++)
		m[8 + i] = (uint8_t)(e >> (56 - 8 * i));
	/* IPv4 keys are below 2^32, so the same big-endian layout puts 4 zero bytes first. */
	for (int i = 0; i < 8; i++)
		m[16 + i] = (uint8_t)(key >> (56 - 8 * i));
}

void digest_tuple(uint64_t lanes[4], unsigned family, unsigned plen, unsigned cat,
                  int64_t expires_ms, uint64_t key, int sign)
{
	uint8_t m[24], h[32];
	listing_bytes(m, family, plen, cat, expires_ms, key);
	crypto_shorthash_siphashx24(h, m, sizeof(m), key_a);
	crypto_shorthash_siphashx24(h + 16, m, sizeof(m), key_b);
	for (int i = 0; i < 4; i++) {
		uint64_t v = le64(h + 8 * i);
		lanes[i] = sign > 0 ? lanes[i] + v : lanes[i] - v;
	}
}

void digest_load(const uint8_t d[32], uint64_t lanes[4])
{
	for (int i = 0; i < 4; i++)
		lanes[i] = le64(d + 8 * i);
}

void digest_store(const uint64_t lanes[4], uint8_t d[32])
{
	for (int i = 0; i < 4; i++)
		st64(d + 8 * i, lanes[i]);
}

void scoring_digest_add(uint8_t d[32], const struct scoring_listing *l, int sign)
{
	uint64_t key;
	if (key_from_prefix(&l->prefix, &key) != RN_OK)
		return;
	uint64_t lanes[4];
	digest_load(d, lanes);
	digest_tuple(lanes, l->prefix.addr.family, l->prefix.len, l->category, l->expires_ms, key,
	             sign);
	digest_store(lanes, d);
}

void scoring_digest_listing(const struct scoring_listing *l, uint8_t out[32])
{
	memset(out, 0, 32);
	scoring_digest_add(out, l, 1);
}

void scoring_digest_after(const uint8_t base[32], const struct scoring_delta *d, uint8_t out[32])
{
	uint64_t lanes[4];
	digest_load(base, lanes);
	for (size_t i = 0; i < d->del.n; i++) {
		const struct dtuple *t = &d->del.v[i];
		digest_tuple(lanes, t->family, t->plen, t->cat, t->expires_ms, t->key, -1);
	}
	for (size_t i = 0; i < d->add.n; i++) {
		const struct dtuple *t = &d->add.v[i];
		digest_tuple(lanes, t->family, t->plen, t->cat, t->expires_ms, t->key, 1);
	}
	digest_store(lanes, out);
}
