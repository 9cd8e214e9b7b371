/*
 * keyset.c: the engine's address tables, key -> category mask.
 *
 * Design notes: open addressing with linear probing over two parallel
 * arrays (keys, masks); a mask of 0 marks an empty slot, so the engine
 * never stores a key without a category bit. Deletion shifts the
 * following cluster back (no tombstones), so lookups stay short after
 * millions of deltas. The table doubles at 3/4 load. Hashing mixes the
 * key with a per-table seed from getrandom(2): the addresses come from
 * feeds that an attacker may partly influence, and must not be able to
 * pile into one cluster. Not thread-safe: the engine owns its tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "feeds/nfsync/engine.h"

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static size_t slot_of(const struct nfs_keyset *s, const uint8_t *key)
{
	uint64_t h;
	if (s->klen == 4) {
		uint32_t x;
		memcpy(&x, key, 4);
		h = fmix64((uint64_t)x ^ s->seed);
	} else {
		uint64_t a, b;
		memcpy(&a, key, 8);
		memcpy(&b, key + 8, 8);
		h = fmix64(a ^ s->seed) ^ fmix64(b + (s->seed | 1u) * 0x9e3779b97f4a7c15ULL);
	}
	return (size_t)(h >> s->shift);
}

void nfs_keyset_init(struct nfs_keyset *s, unsigned klen)
{
	memset(s, 0, sizeof(*s));
	s->klen = (uint8_t)klen;
	if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) != (ssize_t)sizeof(s->seed))
		s->seed = (uint64_t)(uintptr_t)s ^ 0x5bd1e9955bd1e995ULL;
}

void nfs_keyset_release(struct nfs_keyset *s)
{
	if (s == NULL)
		return;
	free(s->keys);
	free(s->masks);
	s->keys = NULL;
	s->masks = NULL;
	s->n = 0;
	s->cap = 0;
}

static int rehash(struct nfs_keyset *s, size_t ncap)
{
	unsigned bits = 0;
	while (((size_t)1 << bits) < ncap)
		bits++;
	uint8_t *keys = malloc(ncap * s->klen);
	uint16_t *masks = calloc(ncap, sizeof(*masks));
	if (keys == NULL || masks == NULL) {
		free(keys);
		free(masks);
		return -ENOMEM;
	}
	uint8_t *okeys = s->keys;
	uint16_t *omasks = s->masks;
	size_t ocap = s->cap;
	s->keys = keys;
	s->masks = masks;
	s->cap = ncap;
	s->shift = (uint8_t)(64 - bits);
	for (size_t i = 0; i < ocap; i++) {
		if (omasks[i] == 0)
			continue;
		size_t j = slot_of(s, okeys + i * s->klen);
		while (masks[j] != 0)
			j = (j + 1) & (ncap - 1);
		memcpy(keys + j * s->klen, okeys + i * s->klen, s->klen);
		masks[j] = omasks[i];
	}
	free(okeys);
	free(omasks);
	return RN_OK;
}

int nfs_keyset_reserve(struct nfs_keyset *s, size_t n)
{
	size_t need = 16;
	while (need / 4 * 3 < n) {
		if (need > SIZE_MAX / 4)
			return RN_ELIMIT;
		need *= 2;
	}
	if (need <= s->cap)
		return RN_OK;
	return rehash(s, need);
}

uint16_t *nfs_keyset_find(const struct nfs_keyset *s, const uint8_t *key)
{
	if (s->cap == 0)
		return NULL;
	size_t m = s->cap - 1;
	for (size_t j = slot_of(s, key);; j = (j + 1) & m) {
		if (s->masks[j] == 0)
			return NULL;
		if (memcmp(s->keys + j * s->klen, key, s->klen) == 0)
			return &s->masks[j];
	}
}

int nfs_keyset_or(struct nfs_keyset *s, const uint8_t *key, uint16_t bits, uint16_t **mask)
{
	if (bits == 0)
		return RN_EINTERNAL;
	/* Room first, so that one probe finds the key or its empty slot. */
	int rc = nfs_keyset_reserve(s, s->n + 1);
	if (rc != RN_OK)
		return rc;
	size_t m = s->cap - 1, j = slot_of(s, key);
	for (; s->masks[j] != 0; j = (j + 1) & m) {
		if (memcmp(s->keys + j * s->klen, key, s->klen) == 0) {
			s->masks[j] |= bits;
			if (mask != NULL)
				*mask = &s->masks[j];
			return RN_OK;
		}
	}
	memcpy(s->keys + j * s->klen, key, s->klen);
	s->masks[j] = bits;
	s->n++;
	if (mask != NULL)
		*mask = &s->masks[j];
	return RN_OK;
}

/* Empties slot i and shifts the rest of its cluster back. */
static void del_at(struct nfs_keyset *s, size_t i)
{
	size_t m = s->cap - 1;
	size_t j = i;
	for (;;) {
		j = (j + 1) & m;
		if (s->masks[j] == 0)
			break;
		size_t home = slot_of(s, s->keys + j * s->klen);
		/* The entry at j may fill i when i lies on its probe path. */
		if (((j - home) & m) >= ((j - i) & m)) {
			memcpy(s->keys + i * s->klen, s->keys + j * s->klen, s->klen);
			s->masks[i] = s->masks[j];
			i = j;
		}
	}
	s->masks[i] = 0;
	s->n--;
}

bool nfs_keyset_del(struct nfs_keyset *s, const uint8_t *key)
{
	uint16_t *f = nfs_keyset_find(s, key);
	if (f == NULL)
		return false;
	del_at(s, (size_t)(f - s->masks));
	return true;
}

void nfs_keyset_sweep(struct nfs_keyset *s, uint16_t clear)
{
	for (size_t i = 0; i < s->cap; i++) {
		/* A shifted entry may land in i; look at i again. */
		while (s->masks[i] != 0 && (s->masks[i] & NFS_CAT_BITS) == 0)
			del_at(s, i);
		s->masks[i] &= (uint16_t)~clear;
	}
}
