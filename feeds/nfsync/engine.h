/*
 * engine.h: internals of the sync engine: the desired state (key sets of
 * addresses and sorted prefix sets, each with a category mask) and the
 * normalised ranges derived from it. Internal to nfsync; tests include it.
 */
#ifndef REPNET_FEEDS_NFSYNC_ENGINE_H
#define REPNET_FEEDS_NFSYNC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeds/nfsync/nfsync.h"

/* ------------------------------------------------------------------ */
/* Key sets: address -> category mask                                 */
/* ------------------------------------------------------------------ */

/*
 * An open-addressing hash table (linear probing, backward-shift deletion)
 * from a 4- or 16-byte key to a 16-bit mask. Bits 0..RN_CAT_COUNT-1 are
 * the categories that list the key; the top bits are scratch flags of the
 * engine. A slot whose mask is 0 is empty, so a stored key always has a
 * non-zero mask. Keys are hashed with a per-table random seed, so listed
 * addresses cannot be chosen to collide. A caller may change the mask
 * through the pointer it gets, but never to 0: a zero mask in the middle
 * of a probe cluster would hide the keys after it. nfs_keyset_del()
 * removes a key properly.
 */
#define NFS_CAT_BITS  ((uint16_t)((1u << RN_CAT_COUNT) - 1u))
#define NFS_F_WAS     ((uint16_t)0x2000u) /* present before this batch */
#define NFS_F_TOUCHED ((uint16_t)0x4000u) /* touched by this batch */
#define NFS_F_SEEN    ((uint16_t)0x8000u) /* seen in a kernel dump */

struct nfs_keyset {
	uint8_t klen;
	uint8_t shift; /* 64 - log2(cap) */
	size_t n;      /* slots in use */
	size_t cap;    /* power of two, or 0 before the first insert */
	uint64_t seed;
	uint8_t *keys;   /* cap * klen */
	uint16_t *masks; /* cap */
};

void nfs_keyset_init(struct nfs_keyset *s, unsigned klen);
void nfs_keyset_release(struct nfs_keyset *s);
/* Grows the table so that n keys fit without rehashing. */
int nfs_keyset_reserve(struct nfs_keyset *s, size_t n);
/* A pointer to the mask of key, or NULL. Valid until the next change. */
uint16_t *nfs_keyset_find(const struct nfs_keyset *s, const uint8_t *key);
/* ORs bits (non-zero) into key's mask, inserting it; *mask gets the slot. */
int nfs_keyset_or(struct nfs_keyset *s, const uint8_t *key, uint16_t bits, uint16_t **mask);
/* Removes key. Returns true when it was present. */
bool nfs_keyset_del(struct nfs_keyset *s, const uint8_t *key);
/* Removes every slot whose mask has no category bit; clears flags in keep. */
void nfs_keyset_sweep(struct nfs_keyset *s, uint16_t clear);
static inline const uint8_t *nfs_keyset_key(const struct nfs_keyset *s, size_t slot)
{
	return s->keys + slot * s->klen;
}

/* ------------------------------------------------------------------ */
/* Prefixes and ranges                                                 */
/* ------------------------------------------------------------------ */

struct nfs_rangevec {
	struct nfs_range *v;
	size_t n;
	size_t cap;
};

void nfs_rangevec_release(struct nfs_rangevec *rv);
int nfs_rangevec_push(struct nfs_rangevec *rv, const uint8_t *lo, const uint8_t *hi, unsigned klen);

/* A listed prefix with its category mask; addr has no bits past len. */
struct nfs_pfx {
	uint8_t addr[16];
	uint8_t len;
	uint8_t pad_;
	uint16_t mask;
};

/* Prefixes of one family, sorted by (address, length), unique. */
struct nfs_pfxset {
	struct nfs_pfx *v;
	size_t n;
	size_t cap;
	uint8_t klen;
};

void nfs_pfxset_init(struct nfs_pfxset *s, unsigned klen);
void nfs_pfxset_release(struct nfs_pfxset *s);
/* ORs bits into the mask of addr/len, inserting it. *changed: newly listed. */
int nfs_pfxset_or(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                  bool *changed);
/* Clears bits; drops the prefix when no category is left. *changed: gone. */
void nfs_pfxset_clear(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                      bool *changed);

/*
 * The normalised form of the prefixes whose mask shares a bit with
 * select: sorted, inclusive ranges that neither overlap nor touch
 * (adjacent ranges are merged). nftables rejects overlapping intervals,
 * and one canonical form makes diffs exact.
 */
int nfs_ranges_build(const struct nfs_pfxset *s, uint16_t select, struct nfs_rangevec *out);
/* Sorts ranges by (lo, hi). */
void nfs_ranges_sort(struct nfs_rangevec *rv, unsigned klen);
/* The same from a list of ranges (any order, may overlap); klen 4 or 16. */
int nfs_ranges_normalise(struct nfs_rangevec *rv, unsigned klen);
/*
 * Compares two normalised lists: ranges only in old go to del, ranges only
 * in new go to add (both appended).
 */
int nfs_ranges_diff(const struct nfs_rangevec *old, const struct nfs_rangevec *nw, unsigned klen,
                    struct nfs_rangevec *del, struct nfs_rangevec *add);
/*
 * Splits normalised ranges into CIDR-aligned ranges (the minimal set of
 * prefixes covering them), none shorter than min_len: what ipset's
 * hash:net can hold (it refuses /0).
 */
int nfs_ranges_to_cidrs(const struct nfs_rangevec *in, unsigned klen, unsigned min_len,
                        struct nfs_rangevec *out);

/*
 * Applies the keys that may change without a restart (the reconcile and
 * dump intervals) from a reloaded configuration.
 */
void feeds_nfsync_reload(struct feeds_nfsync *s, const struct feeds_sync_conf *conf);

#endif /* REPNET_FEEDS_NFSYNC_ENGINE_H */
