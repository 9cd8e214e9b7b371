/*
 * listview.h: the list view's internals, shared by its five files:
 *   - slab.c: the memory of IPv4 blocks (a slab of 8-byte size classes);
 *   - grace.c: grace periods, and memory retired until one has passed;
 *   - index.c: the lookup structure (buckets of IPv4 hosts, prefix
 *     tables): lookups, and building new blocks and tables from a batch;
 *   - listview.c: classes, the change log, batches, walk, changes,
 *     replace and the public API;
 *   - load.c: the bulk load (a builder, radix sort, bucket by bucket).
 * Internal to the view library; listview.c's design notes are the
 * reasoning behind all five.
 */
#ifndef REPNET_FEEDS_VIEW_LISTVIEW_H
#define REPNET_FEEDS_VIEW_LISTVIEW_H

#include <pthread.h>

#include "feeds/view/view.h"

#define LV_BUCKETS    65536u
#define LV_CLASSES    255u
#define LV_MIXED      0xffu
#define LV_STRIPES    16u
#define LV_CACHE_LINE 64u
#define LV_SLAB_MAX   512u   /* blocks up to this size come from the slab */
#define LV_SLAB_CHUNK 65536u /* the slab grows by chunks of this size */

/* The IPv4 hosts of one bucket, immutable once published. */
struct lv_block {
	uint16_t n;
	uint8_t cls; /* LV_MIXED: a class byte per entry follows low[] */
	uint8_t pad_;
	uint16_t low[]; /* sorted; then uint8_t cls[n] when mixed */
};

static inline size_t lv_block_size(size_t n, bool mixed)
{
	return sizeof(struct lv_block) + n * sizeof(uint16_t) + (mixed ? n : 0);
}

static inline const uint8_t *lv_block_cls(const struct lv_block *b)
{
	return (const uint8_t *)(b->low + b->n);
}

static inline size_t lv_round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* A (categories, expiry) pair that blocks refer to by index. */
struct lv_class {
	_Atomic uint32_t cats;
	_Atomic int64_t expires_ms;
	uint32_t refs; /* writer only */
	bool pending_free;
};

/* Prefix entries of one family, immutable once published. */
struct lv_ptable {
	size_t n;
	unsigned nlens;
	uint8_t lens[129]; /* the lengths present, longest first */
	size_t start[130]; /* entries of lens[i] are [start[i], start[i+1]) */
	struct feeds_view_entry e[];
};

/* ---- slab.c: block memory, writer only ------------------------------ */

struct lv_slab {
	void *free[LV_SLAB_MAX / 8 + 1]; /* a free list per 8-byte size class */
	char **chunks;
	size_t nchunks, capchunks;
	char *cur;
	size_t left;
	size_t big_bytes; /* blocks over LV_SLAB_MAX, from malloc */
};

/* A block of size bytes: from a chunk, or from malloc when large. */
void *lv_slab_alloc(struct lv_slab *s, size_t size);
/* Gives back a block of size bytes from lv_slab_alloc(). */
void lv_slab_release(struct lv_slab *s, void *p, size_t size);
/* At the end: frees p if it did not come from a chunk (the chunks go with lv_slab_destroy()). */
void lv_slab_discard(void *p, size_t size);
void lv_slab_destroy(struct lv_slab *s);
/* Bytes held: the chunks and the large blocks. */
size_t lv_slab_bytes(const struct lv_slab *s);

/* ---- grace.c: grace periods and retired memory ---------------------- */

struct lv_stripe {
	_Atomic long cnt;
	char pad_[LV_CACHE_LINE - sizeof(long)];
};

/* Something to free after a grace period: a slab block of size bytes, or malloc'd (size 0). */
struct lv_retired {
	void *p;
	size_t size;
};

struct lv_grace {
	_Alignas(LV_CACHE_LINE) _Atomic unsigned parity;
	_Alignas(LV_CACHE_LINE) struct lv_stripe readers[2][LV_STRIPES];
	struct lv_retired *retired; /* writer only */
	size_t nretired, capretired;
};

/* Each thread reads through one stripe, picked on its first read. */
extern _Atomic unsigned lv_grace_next_stripe;
extern _Thread_local unsigned lv_grace_my_stripe;

/* Enters a read-side critical section; never blocks. */
static inline struct lv_stripe *lv_grace_enter(struct lv_grace *g)
{
	if (RN_UNLIKELY(lv_grace_my_stripe == UINT32_MAX))
		lv_grace_my_stripe = atomic_fetch_add(&lv_grace_next_stripe, 1) % LV_STRIPES;
	for (;;) {
		unsigned p = atomic_load(&g->parity);
		struct lv_stripe *s = &g->readers[p][lv_grace_my_stripe];
		atomic_fetch_add(&s->cnt, 1);
		if (RN_LIKELY(atomic_load(&g->parity) == p))
			return s;
		atomic_fetch_sub(&s->cnt, 1);
	}
}

static inline void lv_grace_leave(struct lv_stripe *s)
{
	atomic_fetch_sub_explicit(&s->cnt, 1, memory_order_release);
}

/* Waits until every reader that entered before the call has left (writer). */
void lv_grace_wait(struct lv_grace *g);
/* Queues p (a slab block of size bytes, or malloc'd memory when size is 0). */
int lv_grace_retire(struct lv_grace *g, void *p, size_t size);
/* Waits for a grace period, then frees what was retired before it. */
void lv_grace_reclaim(struct lv_grace *g, struct lv_slab *slab);
/* At the end, with no reader left: frees what is still retired. */
void lv_grace_destroy(struct lv_grace *g);

/* ---- the list view -------------------------------------------------- */

struct lv_change {
	uint64_t version;
	enum feeds_view_change what;
	struct feeds_view_entry e;
};

struct feeds_listview {
	_Atomic(struct lv_block *) *buckets;
	_Atomic(struct lv_ptable *) ptab[2]; /* IPv4 prefixes, IPv6 */
	struct lv_class cls[LV_CLASSES];
	struct lv_grace grace;

	pthread_mutex_t lock; /* writers, walk, changes */
	size_t hosts;         /* IPv4 hosts in buckets */
	size_t block_bytes;
	uint64_t version;
	struct lv_slab slab;
	/* The change log: a ring of at most hist_cap changes. */
	struct lv_change *hist;
	size_t hist_cap, hist_head, hist_len;
	uint64_t hist_base; /* changes after this version are all in the log */
	bool hist_off;      /* this batch is larger than the log */
	/* The change watcher (feeds_view.watch), under lock; called after it is dropped. */
	void (*watch_fn)(void *arg);
	void *watch_arg;
};

/* listview.c, for index.c: the change log and class references (writer). */
int lv_hist_add(struct feeds_listview *lv, enum feeds_view_change what,
                const struct feeds_view_entry *e);
void lv_class_unref(struct feeds_listview *lv, unsigned c);
/* The class of (cats, exp), created if needed (no reference taken); -1 when full. */
int lv_class_get(struct feeds_listview *lv, uint32_t cats, int64_t exp);
/* After a batch: waits for a grace period, frees retired memory and unused classes. */
void lv_reclaim(struct feeds_listview *lv);
bool lv_is_host4(const struct rn_prefix *p);
/* A family, a length within it and no host bits set. */
bool lv_prefix_valid(const struct rn_prefix *p);

/* ---- index.c --------------------------------------------------------- */

/* feeds_view.lookup: lock-free, allocation-free. */
uint32_t lv_lookup(void *arg, const struct rn_addr *a, int64_t *expires_ms);
/* Sort orders: by address then length (entries, prefixes). */
int lv_entry_cmp(const void *pa, const void *pb);
int lv_prefix_cmp(const void *pa, const void *pb);
/*
 * Applies the prefix part of a batch to family fi: adds (sorted, unique)
 * and dels (sorted). Builds a new table when anything changed. Writer.
 */
int lv_apply_ptable(struct feeds_listview *lv, unsigned fi, const struct feeds_view_entry *add,
                    size_t nadd, const struct rn_prefix *del, size_t ndel);
/*
 * Merges the changes of one bucket: adds a[0..na) (sorted by address,
 * unique, with class indexes ac[]) and dels d[0..nd) (sorted) into a new
 * block. Writer.
 */
int lv_apply_bucket(struct feeds_listview *lv, uint32_t hi, const struct feeds_view_entry *a,
                    const uint8_t *ac, size_t na, const struct rn_prefix *d, size_t nd);

#endif /* REPNET_FEEDS_VIEW_LISTVIEW_H */
