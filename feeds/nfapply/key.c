/*
 * key.c: arithmetic on addresses as network-order keys of 4 or 16 bytes,
 * shared by the sync engine's range planning and the applier's element
 * encoding.
 *
 * Design notes: a key is klen bytes, most significant first, so memcmp
 * orders keys as addresses; increments and decrements carry byte by byte
 * and report wrap-around instead of wrapping silently (a range open to
 * the top of the address space has no end element). Pure functions on
 * caller memory: no state, safe from any thread.
 */
#include <string.h>

#include "feeds/nfapply/nfapply.h"

int nfs_key_cmp(const uint8_t *a, const uint8_t *b, unsigned klen)
{
	return memcmp(a, b, klen);
}

bool nfs_key_inc(uint8_t *k, unsigned klen)
{
	for (unsigned i = klen; i-- > 0;) {
		if (++k[i] != 0)
			return true;
	}
	return false;
}

bool nfs_key_dec(uint8_t *k, unsigned klen)
{
	for (unsigned i = klen; i-- > 0;) {
		if (k[i]-- != 0)
			return true;
	}
	return false;
}

bool nfs_key_is_max(const uint8_t *k, unsigned klen)
{
	for (unsigned i = 0; i < klen; i++)
		if (k[i] != 0xff)
			return false;
	return true;
}

bool nfs_key_is_zero(const uint8_t *k, unsigned klen)
{
	for (unsigned i = 0; i < klen; i++)
		if (k[i] != 0)
			return false;
	return true;
}

void nfs_prefix_bounds(const uint8_t *addr, unsigned len, unsigned klen, uint8_t *lo, uint8_t *hi)
{
	for (unsigned i = 0; i < klen; i++) {
		unsigned bit0 = i * 8;
		uint8_t keep;
		if (len >= bit0 + 8)
			keep = 0xff;
		else if (len <= bit0)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (len - bit0)));
		lo[i] = addr[i] & keep;
		hi[i] = (uint8_t)(lo[i] | (uint8_t)~keep);
	}
}

int nfs_range_cidr_len(const struct nfs_range *r, unsigned klen)
{
	/* lo must have zeros exactly where hi has the trailing ones. */
	for (unsigned len = 0; len <= klen * 8; len++) {
		uint8_t lo[16], hi[16];
		nfs_prefix_bounds(r->lo, len, klen, lo, hi);
		if (memcmp(lo, r->lo, klen) == 0 && memcmp(hi, r->hi, klen) == 0)
			return (int)len;
	}
	return -1;
}
