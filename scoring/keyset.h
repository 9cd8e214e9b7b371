/*
 * keyset.h: sets of 64-bit keys as a two-level roaring map. Internal to
 * the scoring library.
 *
 * A key is an IPv4 address (the upper 32 bits are zero) or the upper 64
 * bits of an IPv6 address, masked to a prefix length. The upper 32 bits
 * select a group; each group is a roaring bitmap of the lower 32 bits,
 * exactly as the wire's V6Group. IPv4 sets have one group, 0.
 */
#ifndef REPNET_SCORING_KEYSET_H
#define REPNET_SCORING_KEYSET_H

#include <roaring/roaring.h>

#include "scoring/scoring.h"

struct keyset {
	uint32_t *hi;          /* group keys, in insertion order */
	roaring_bitmap_t **bm; /* one bitmap per group */
	char **frozen;         /* per group: the buffer behind a frozen view, or NULL */
	size_t n, cap;
	uint32_t *hash;  /* open addressing on hi: group index + 1, 0 empty */
	size_t hcap;     /* a power of two, or 0 while n <= 4 */
	uint32_t *order; /* group indexes sorted by hi, valid unless dirty */
	bool dirty;
	uint64_t card;
};

/* An empty set; free with keyset_free(). */
struct keyset *keyset_new(void);
void keyset_free(struct keyset *ks);
/* 1 when key was added, 0 when it was present, -ENOMEM. */
int keyset_add(struct keyset *ks, uint64_t key);
bool keyset_contains(const struct keyset *ks, uint64_t key);
/* True when key was present. */
bool keyset_remove(struct keyset *ks, uint64_t key);
static inline uint64_t keyset_card(const struct keyset *ks)
{
	return ks->card;
}
/*
 * Which of keys (sorted, distinct, at most UINT32_MAX) a holds: their
 * indexes into keys are appended to the array *v (n used, cap allocated),
 * ascending, without allocating roaring containers. For each group, the
 * keys are probed into the bitmap, or the bitmap is walked and looked up
 * among the keys when that costs less (few containers, many keys).
 */
int keyset_find_keys(const struct keyset *a, const uint64_t *keys, size_t nkeys, uint32_t **v,
                     size_t *n, size_t *cap);
/* Heap bytes, from roaring's statistics. */
size_t keyset_bytes(const struct keyset *ks);
/* Sorts the group order if groups were added; needed before iteration. */
int keyset_prepare(struct keyset *ks);
/*
 * Freezes every group: each bitmap becomes a read-only view of one
 * contiguous buffer (roaring's frozen layout), which iterates several
 * times faster than containers scattered over the heap. A write to a
 * frozen group thaws it first. For sets that no longer change.
 */
int keyset_freeze(struct keyset *ks);
static inline bool keyset_frozen(const struct keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		if (ks->frozen[i] == NULL)
			return false;
	return true;
}
/* Run-length optimises and shrinks every group (after bulk loads). */
void keyset_optimize(struct keyset *ks);
/* Drops empty groups. */
void keyset_compact(struct keyset *ks);

#define KEYSET_ITER_BUF 256

/* Ascending traversal of a prepared set. No allocation. */
struct keyset_iter {
	const struct keyset *ks;
	size_t gi;
	uint64_t hi; /* current group's key << 32 */
	roaring_uint32_iterator_t rit;
	uint32_t buf[KEYSET_ITER_BUF];
	uint32_t n, pos;
	bool done;
};
void keyset_iter_init(struct keyset_iter *it, const struct keyset *ks);
/* The current key, or false at the end. */
static inline bool keyset_iter_peek(const struct keyset_iter *it, uint64_t *key)
{
	if (it->done)
		return false;
	*key = it->hi | it->buf[it->pos];
	return true;
}
void keyset_iter_refill(struct keyset_iter *it);
static inline void keyset_iter_next(struct keyset_iter *it)
{
	if (++it->pos == it->n)
		keyset_iter_refill(it);
}

/*
 * Serialisation for the scorer's own snapshots:
 *   u32 ngroups, then per group u32 hi, u32 len, len bytes of portable
 *   roaring; groups strictly ascending. Big-endian integers.
 */
size_t keyset_serialized_size(const struct keyset *ks);
/* Appends keyset_serialized_size() bytes to w. ks must be prepared. */
void keyset_serialize_to(const struct keyset *ks, struct rn_wcur *w);
/* Writes keyset_serialized_size() bytes at dst. ks must be prepared. */
void keyset_serialize(const struct keyset *ks, uint8_t *dst);
/*
 * Reads one serialised set from c, trusting nothing: exact roaring sizes,
 * strictly ascending keys, no bits outside mask, at most max_card keys.
 * The bitmaps are rebuilt from the walked values, never kept as read.
 * On failure the cursor is failed and *out untouched.
 */
int keyset_read(struct rn_cur *c, uint64_t mask, uint64_t max_card, struct keyset **out);

/*
 * Walks one untrusted portable roaring bitmap of exactly len bytes: calls
 * fn(arg, value) for each value in ascending order after checking that the
 * values are strictly ascending and as many as the bitmap's cardinality,
 * and at most max_card. Shared by keyset_read() and the wire decoders.
 */
int keyset_walk_portable(const uint8_t *buf, size_t len, uint64_t max_card,
                         int (*fn)(void *arg, uint32_t v), void *arg, uint64_t *card);

#endif /* REPNET_SCORING_KEYSET_H */
