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
 * listing's canonical 24 bytes:
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
#include <string.h>

#include "scoring/table.h"

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

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

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = rotl(v1, 13); \
		v1 ^= v0;          \
		v0 = rotl(v0, 32); \
		v2 += v3;          \
		v3 = rotl(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = rotl(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = rotl(v1, 17); \
		v1 ^= v2;          \
		v2 = rotl(v2, 32); \
	} while (0)

void siphash24_128(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t out[16])
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = k1 ^ 0x7465646279746573ull;
	v1 ^= 0xee;
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = le64(msg + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)msg[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xee;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	st64(out, v0 ^ v1 ^ v2 ^ v3);
	v1 ^= 0xdd;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	st64(out + 8, v0 ^ v1 ^ v2 ^ v3);
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
	siphash24_128(key_a, m, sizeof(m), h);
	siphash24_128(key_b, m, sizeof(m), h + 16);
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
