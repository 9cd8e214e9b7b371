/*
 * listview.c: a blocklist in memory behind struct feeds_view, updated in
 * place while many threads read it.
 *
 * Design notes.
 *
 * Layout. IPv4 hosts (/32) live in 65536 buckets indexed by the upper 16
 * bits of the address. A bucket is one immutable block: a count, the
 * sorted lower 16 bits of its addresses, and either one class shared by
 * all of them (the common case: a list loaded from one source) or one
 * class byte per address. A class is a (categories, expiry) pair from a
 * table of 255; class 0xff marks a mixed block. At 1M random addresses a
 * bucket holds about 15 entries, so a block is about 36 bytes, carved
 * from a slab of 64 KB chunks, and the whole structure about 3 MB
 * (rbldnsd's ip4tset process needs 7.2 MB). Every
 * other entry (IPv4 prefixes shorter than /32, all of IPv6) lives in one
 * immutable table per family, sorted by length (longest first) and then
 * address, with a list of the lengths present, so that a lookup binary
 * searches only the lengths that exist, most specific first.
 *
 * Readers. lookup() takes no lock and allocates nothing: it enters a
 * read-side critical section (below), loads the bucket pointer and the
 * prefix tables with acquire, reads them, and leaves. Blocks and tables
 * are never changed once published.
 *
 * Writers. Updates are serialised by a mutex. A batch is sorted, merged
 * bucket by bucket into new blocks (each touched bucket is copied once),
 * and the prefix tables are rebuilt if they changed; each new block or
 * table is published with a release store and the old one is retired.
 * After the batch the writer waits for a grace period and frees what it
 * retired. So memory grows by the touched buckets only, never doubles.
 *
 * Grace periods are sleepable-RCU style with two counter sets (parity 0
 * and 1), each striped over cache lines. A reader loads the parity p,
 * increments its stripe of set p, and re-checks the parity: if it
 * changed, it undoes the increment and retries. It then reads, and
 * decrements the same counter. The writer flips the parity and waits for
 * the old set to drain. All of these are sequentially consistent: a
 * reader counted in the old set loaded the parity before the flip, so the
 * writer sees it and waits; a reader that increments the old set after
 * the writer looked sees the new parity in its re-check and retries; and
 * a reader counted in the new set loaded its pointers after the flip,
 * which follows the unpublishing. The writer side is the only one that
 * waits.
 *
 * Classes are reference counted by the writer. A class whose count drops
 * to zero keeps its slot until the end of the batch's grace period, so a
 * reader holding an old block never sees a slot reused under it.
 *
 * History. Each batch gets the next version; its changes are appended to
 * a bounded log (at most `history` changes). changes(since) replays the
 * log after since, or fails with RN_ENOTFOUND when the log was trimmed
 * past it. walk() and changes() run under the writer mutex, so they see
 * one consistent version.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "feeds/view/view.h"

#define LV_BUCKETS    65536u
#define LV_CLASSES    255u
#define LV_MIXED      0xffu
#define LV_STRIPES    16u
#define LV_CACHE_LINE 64u
#define LV_SLAB_MAX   512u   /* blocks up to this size come from the slab */
#define LV_SLAB_CHUNK 65536u /* the slab grows by chunks of this size */

struct lv_block {
	uint16_t n;
	uint8_t cls; /* LV_MIXED: a class byte per entry follows low[] */
	uint8_t pad_;
	uint16_t low[]; /* sorted; then uint8_t cls[n] when mixed */
};

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

struct lv_stripe {
	_Atomic long cnt;
	char pad_[LV_CACHE_LINE - sizeof(long)];
};

/* Something to free after a grace period: a slab block of size bytes, or malloc'd (size 0). */
struct lv_retired {
	void *p;
	size_t size;
};

struct lv_change {
	uint64_t version;
	enum feeds_view_change what;
	struct feeds_view_entry e;
};

struct feeds_listview {
	_Atomic(struct lv_block *) *buckets;
	_Atomic(struct lv_ptable *) ptab[2]; /* IPv4 prefixes, IPv6 */
	struct lv_class cls[LV_CLASSES];
	_Alignas(LV_CACHE_LINE) _Atomic unsigned parity;
	_Alignas(LV_CACHE_LINE) struct lv_stripe readers[2][LV_STRIPES];

	pthread_mutex_t lock; /* writers, walk, changes */
	size_t hosts;         /* IPv4 hosts in buckets */
	size_t block_bytes;
	uint64_t version;
	/* Retired memory, freed after the grace period. */
	struct lv_retired *retired;
	size_t nretired, capretired;
	/* The block slab: free lists per 8-byte size class, and chunks. */
	void *slab_free[LV_SLAB_MAX / 8 + 1];
	char **chunks;
	size_t nchunks, capchunks;
	char *slab_cur;
	size_t slab_left;
	size_t big_bytes; /* blocks over LV_SLAB_MAX, from malloc */
	/* The change log: a ring of at most hist_cap changes. */
	struct lv_change *hist;
	size_t hist_cap, hist_head, hist_len;
	uint64_t hist_base; /* changes after this version are all in the log */
	bool hist_off;      /* this batch is larger than the log */
};

static _Atomic unsigned lv_next_stripe;
static _Thread_local unsigned lv_my_stripe = UINT32_MAX;

/* ---- read side ----------------------------------------------------- */

static inline struct lv_stripe *lv_read_enter(struct feeds_listview *lv)
{
	if (RN_UNLIKELY(lv_my_stripe == UINT32_MAX))
		lv_my_stripe = atomic_fetch_add(&lv_next_stripe, 1) % LV_STRIPES;
	for (;;) {
		unsigned p = atomic_load(&lv->parity);
		struct lv_stripe *s = &lv->readers[p][lv_my_stripe];
		atomic_fetch_add(&s->cnt, 1);
		if (RN_LIKELY(atomic_load(&lv->parity) == p))
			return s;
		atomic_fetch_sub(&s->cnt, 1);
	}
}

static inline void lv_read_leave(struct lv_stripe *s)
{
	atomic_fetch_sub_explicit(&s->cnt, 1, memory_order_release);
}

static void lv_synchronize(struct feeds_listview *lv)
{
	unsigned p = atomic_load(&lv->parity);
	atomic_store(&lv->parity, p ^ 1u);
	for (unsigned spins = 0;; spins++) {
		long sum = 0;
		for (unsigned i = 0; i < LV_STRIPES; i++)
			sum += atomic_load(&lv->readers[p][i].cnt);
		if (sum == 0)
			return;
		if (spins < 64)
			sched_yield();
		else {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
}

static inline size_t lv_block_size(size_t n, bool mixed)
{
	return sizeof(struct lv_block) + n * sizeof(uint16_t) + (mixed ? n : 0);
}

static inline const uint8_t *lv_block_cls(const struct lv_block *b)
{
	return (const uint8_t *)(b->low + b->n);
}

/* Index of low in b, or -1. */
static inline long lv_block_find(const struct lv_block *b, uint16_t low)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->low[mid] < low)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->low[lo] == low ? (long)lo : -1;
}

static int lv_addr_cmp_bits(const struct rn_addr *a, const struct rn_addr *b)
{
	if (a->family == RN_AF_INET)
		return a->u.v4 < b->u.v4 ? -1 : a->u.v4 > b->u.v4;
	return memcmp(a->u.v6, b->u.v6, 16);
}

/* The entry of exactly prefix (masked a, len) in table t, or NULL. */
static const struct feeds_view_entry *lv_ptable_find(const struct lv_ptable *t, unsigned li,
                                                     const struct rn_addr *a)
{
	size_t lo = t->start[li], hi = t->start[li + 1];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = lv_addr_cmp_bits(&t->e[mid].prefix.addr, a);
		if (c == 0)
			return &t->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint32_t lv_lookup(void *arg, const struct rn_addr *a, int64_t *expires_ms)
{
	struct feeds_listview *lv = arg;
	uint32_t cats = 0;
	int64_t exp = 0;
	const struct lv_ptable *t;
	struct lv_stripe *s = lv_read_enter(lv);

	if (a->family == RN_AF_INET) {
		const struct lv_block *b =
		        atomic_load_explicit(&lv->buckets[a->u.v4 >> 16], memory_order_acquire);
		if (b != NULL) {
			long i = lv_block_find(b, (uint16_t)a->u.v4);
			if (i >= 0) {
				unsigned c = b->cls != LV_MIXED ? b->cls : lv_block_cls(b)[i];
				cats = atomic_load_explicit(&lv->cls[c].cats, memory_order_relaxed);
				exp = atomic_load_explicit(&lv->cls[c].expires_ms,
				                           memory_order_relaxed);
				goto done;
			}
		}
		t = atomic_load_explicit(&lv->ptab[0], memory_order_acquire);
	} else if (a->family == RN_AF_INET6) {
		t = atomic_load_explicit(&lv->ptab[1], memory_order_acquire);
	} else {
		goto done;
	}
	if (t != NULL) {
		for (unsigned li = 0; li < t->nlens; li++) {
			struct rn_addr m = *a;
			rn_addr_mask(&m, t->lens[li]);
			const struct feeds_view_entry *e = lv_ptable_find(t, li, &m);
			if (e != NULL) {
				cats = e->categories;
				exp = e->expires_ms;
				break;
			}
		}
	}
done:
	lv_read_leave(s);
	if (expires_ms != NULL)
		*expires_ms = exp;
	return cats;
}

/* ---- write side ---------------------------------------------------- */

static size_t lv_round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/*
 * Block memory. Blocks are small (about 36 bytes at 1M addresses) and
 * many, so they come from a slab: 64 KB chunks cut in 8-byte size
 * classes, with a free list per class, without malloc's per-chunk header
 * and 16-byte rounding (about 1 MB saved at 1M addresses). Larger blocks
 * come from malloc. Only the writer allocates and frees (under the lock).
 */
static void *lv_block_alloc(struct feeds_listview *lv, size_t size)
{
	size_t sz = lv_round8(size);
	if (sz > LV_SLAB_MAX) {
		void *p = malloc(sz);
		if (p != NULL)
			lv->big_bytes += sz;
		return p;
	}
	void **head = &lv->slab_free[sz / 8];
	if (*head != NULL) {
		void *p = *head;
		memcpy(head, p, sizeof(void *));
		return p;
	}
	if (lv->slab_left < sz) {
		if (lv->nchunks == lv->capchunks) {
			size_t cap = lv->capchunks ? lv->capchunks * 2 : 64;
			char **v = realloc(lv->chunks, cap * sizeof(*v));
			if (v == NULL)
				return NULL;
			lv->chunks = v;
			lv->capchunks = cap;
		}
		char *c = malloc(LV_SLAB_CHUNK);
		if (c == NULL)
			return NULL;
		lv->chunks[lv->nchunks++] = c;
		lv->slab_cur = c;
		lv->slab_left = LV_SLAB_CHUNK;
	}
	void *p = lv->slab_cur;
	lv->slab_cur += sz;
	lv->slab_left -= sz;
	return p;
}

static void lv_block_release(struct feeds_listview *lv, void *p, size_t size)
{
	size_t sz = lv_round8(size);
	if (sz > LV_SLAB_MAX) {
		lv->big_bytes -= sz;
		free(p);
		return;
	}
	memcpy(p, &lv->slab_free[sz / 8], sizeof(void *));
	lv->slab_free[sz / 8] = p;
}

/* Queues p (a block of size bytes, or malloc'd memory when size is 0). */
static int lv_retire(struct feeds_listview *lv, void *p, size_t size)
{
	if (p == NULL)
		return RN_OK;
	if (lv->nretired == lv->capretired) {
		size_t cap = lv->capretired ? lv->capretired * 2 : 1024;
		struct lv_retired *v = realloc(lv->retired, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		lv->retired = v;
		lv->capretired = cap;
	}
	lv->retired[lv->nretired++] = (struct lv_retired){p, size};
	return RN_OK;
}

static void lv_retired_free(struct feeds_listview *lv, const struct lv_retired *r)
{
	if (r->size == 0)
		free(r->p);
	else
		lv_block_release(lv, r->p, r->size);
}

/* After a grace period: frees retired memory and releases unused classes. */
static void lv_reclaim(struct feeds_listview *lv)
{
	lv_synchronize(lv);
	for (size_t i = 0; i < lv->nretired; i++)
		lv_retired_free(lv, &lv->retired[i]);
	lv->nretired = 0;
	for (unsigned c = 0; c < LV_CLASSES; c++)
		if (lv->cls[c].pending_free && lv->cls[c].refs == 0) {
			lv->cls[c].pending_free = false;
			atomic_store_explicit(&lv->cls[c].cats, 0, memory_order_relaxed);
		}
}

/*
 * The class of (cats, exp), creating it if needed. A free slot has
 * cats == 0 and is not pending. Returns the index or -1 when full.
 */
static int lv_class_get(struct feeds_listview *lv, uint32_t cats, int64_t exp)
{
	int freeslot = -1;
	for (unsigned c = 0; c < LV_CLASSES; c++) {
		uint32_t cc = atomic_load_explicit(&lv->cls[c].cats, memory_order_relaxed);
		if (cc == cats &&
		    atomic_load_explicit(&lv->cls[c].expires_ms, memory_order_relaxed) == exp) {
			lv->cls[c].pending_free = false;
			return (int)c;
		}
		if (cc == 0 && !lv->cls[c].pending_free && freeslot < 0)
			freeslot = (int)c;
	}
	if (freeslot >= 0) {
		atomic_store_explicit(&lv->cls[freeslot].expires_ms, exp, memory_order_relaxed);
		atomic_store_explicit(&lv->cls[freeslot].cats, cats, memory_order_relaxed);
		lv->cls[freeslot].refs = 0;
	}
	return freeslot;
}

static void lv_class_unref(struct feeds_listview *lv, unsigned c)
{
	if (--lv->cls[c].refs == 0)
		lv->cls[c].pending_free = true;
}

static int lv_hist_add(struct feeds_listview *lv, enum feeds_view_change what,
                       const struct feeds_view_entry *e)
{
	if (lv->hist_off)
		return RN_OK;
	if (lv->hist == NULL) {
		lv->hist = malloc(lv->hist_cap * sizeof(*lv->hist));
		if (lv->hist == NULL)
			return -ENOMEM;
	}
	if (lv->hist_len == lv->hist_cap) {
		/* Drop the oldest; the log now starts after its version. */
		lv->hist_base = lv->hist[lv->hist_head].version;
		lv->hist_head = (lv->hist_head + 1) % lv->hist_cap;
		lv->hist_len--;
		/* Every change of that version must go, or replay would be partial. */
		while (lv->hist_len > 0 && lv->hist[lv->hist_head].version == lv->hist_base) {
			lv->hist_head = (lv->hist_head + 1) % lv->hist_cap;
			lv->hist_len--;
		}
	}
	struct lv_change *ch = &lv->hist[(lv->hist_head + lv->hist_len) % lv->hist_cap];
	ch->version = lv->version;
	ch->what = what;
	ch->e = *e;
	lv->hist_len++;
	return RN_OK;
}

/* Sort orders. */
static int lv_entry_cmp(const void *pa, const void *pb)
{
	const struct feeds_view_entry *a = pa, *b = pb;
	int c = rn_addr_cmp(&a->prefix.addr, &b->prefix.addr);
	if (c != 0)
		return c;
	return (int)a->prefix.len - (int)b->prefix.len;
}

static int lv_prefix_cmp(const void *pa, const void *pb)
{
	const struct rn_prefix *a = pa, *b = pb;
	int c = rn_addr_cmp(&a->addr, &b->addr);
	if (c != 0)
		return c;
	return (int)a->len - (int)b->len;
}

/* Table order: longest first, then address. */
static int lv_ptable_cmp(const void *pa, const void *pb)
{
	const struct feeds_view_entry *a = pa, *b = pb;
	if (a->prefix.len != b->prefix.len)
		return (int)b->prefix.len - (int)a->prefix.len;
	return lv_addr_cmp_bits(&a->prefix.addr, &b->prefix.addr);
}

static bool lv_is_host4(const struct rn_prefix *p)
{
	return p->addr.family == RN_AF_INET && p->len == 32;
}

static bool lv_prefix_valid(const struct rn_prefix *p)
{
	if (p->addr.family != RN_AF_INET && p->addr.family != RN_AF_INET6)
		return false;
	if (p->len > rn_addr_maxlen(&p->addr))
		return false;
	struct rn_addr m = p->addr;
	rn_addr_mask(&m, p->len);
	return rn_addr_equal(&m, &p->addr);
}

/* A new table holding e[0..n), in lookup order. */
static struct lv_ptable *lv_ptable_build(const struct feeds_view_entry *e, size_t n)
{
	struct lv_ptable *t = malloc(sizeof(*t) + n * sizeof(t->e[0]));
	if (t == NULL)
		return NULL;
	t->n = n;
	if (n > 0)
		memcpy(t->e, e, n * sizeof(e[0]));
	qsort(t->e, n, sizeof(t->e[0]), lv_ptable_cmp);
	t->nlens = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || t->e[i].prefix.len != t->e[i - 1].prefix.len) {
			t->lens[t->nlens] = t->e[i].prefix.len;
			t->start[t->nlens] = i;
			t->nlens++;
		}
	}
	t->start[t->nlens] = n;
	return t;
}

/*
 * Applies the prefix part of a batch to family fi: adds (sorted, unique)
 * and dels (sorted). Builds a new table when anything changed.
 */
static int lv_apply_ptable(struct feeds_listview *lv, unsigned fi,
                           const struct feeds_view_entry *add, size_t nadd,
                           const struct rn_prefix *del, size_t ndel)
{
	struct lv_ptable *old = atomic_load_explicit(&lv->ptab[fi], memory_order_relaxed);
	size_t nold = old != NULL ? old->n : 0;
	struct feeds_view_entry *cur = NULL, *next = NULL;
	size_t nnext = 0;
	int rc = RN_OK;

	if (nadd == 0 && ndel == 0)
		return RN_OK;
	cur = malloc((nold + 1) * sizeof(*cur));
	next = malloc((nold + nadd + 1) * sizeof(*next));
	if (cur == NULL || next == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (nold > 0)
		memcpy(cur, old->e, nold * sizeof(*cur));
	qsort(cur, nold, sizeof(*cur), lv_entry_cmp);
	/* Three-way merge in address order. */
	size_t i = 0, j = 0, k = 0;
	bool changed = false;
	while (i < nold || j < nadd) {
		int c;
		if (i == nold)
			c = 1;
		else if (j == nadd)
			c = -1;
		else
			c = lv_entry_cmp(&cur[i], &add[j]);
		const struct feeds_view_entry *keep = c <= 0 ? &cur[i] : &add[j];
		/* Is keep's prefix deleted? */
		while (k < ndel && lv_prefix_cmp(&del[k], &keep->prefix) < 0)
			k++;
		bool deleted = c < 0 && k < ndel && lv_prefix_cmp(&del[k], &keep->prefix) == 0;
		if (c == 0) {
			/* Replaced by the added entry. */
			if (cur[i].categories != add[j].categories ||
			    cur[i].expires_ms != add[j].expires_ms) {
				changed = true;
				if ((rc = lv_hist_add(lv, FEEDS_VIEW_ADDED, &add[j])) != RN_OK)
					goto fail;
			}
			next[nnext++] = add[j];
			i++;
			j++;
		} else if (c < 0) {
			if (deleted) {
				changed = true;
				if ((rc = lv_hist_add(lv, FEEDS_VIEW_REMOVED, &cur[i])) != RN_OK)
					goto fail;
			} else {
				next[nnext++] = cur[i];
			}
			i++;
		} else {
			changed = true;
			if ((rc = lv_hist_add(lv, FEEDS_VIEW_ADDED, &add[j])) != RN_OK)
				goto fail;
			next[nnext++] = add[j];
			j++;
		}
	}
	if (changed) {
		struct lv_ptable *t = nnext > 0 ? lv_ptable_build(next, nnext) : NULL;
		if (nnext > 0 && t == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = lv_retire(lv, old, 0)) != RN_OK) {
			free(t);
			goto fail;
		}
		atomic_store_explicit(&lv->ptab[fi], t, memory_order_release);
	}
fail:
	free(cur);
	free(next);
	return rc;
}

/*
 * Merges the changes of one bucket: adds a[0..na) (sorted by address,
 * unique, with class indexes ac[]) and dels d[0..nd) (sorted) into a new
 * block.
 */
static int lv_apply_bucket(struct feeds_listview *lv, uint32_t hi, const struct feeds_view_entry *a,
                           const uint8_t *ac, size_t na, const struct rn_prefix *d, size_t nd)
{
	struct lv_block *old = atomic_load_explicit(&lv->buckets[hi], memory_order_relaxed);
	size_t nold = old != NULL ? old->n : 0;
	size_t cap = nold + na;
	uint16_t *nl = malloc(cap * sizeof(*nl) + cap + 1);
	if (nl == NULL)
		return -ENOMEM;
	uint8_t *nc = (uint8_t *)(nl + cap);
	size_t i = 0, j = 0, k = 0, n = 0;
	int rc = RN_OK;
	bool changed = false;

	while (i < nold || j < na) {
		uint16_t ol = i < nold ? old->low[i] : 0;
		uint16_t al = j < na ? (uint16_t)a[j].prefix.addr.u.v4 : 0;
		int c = i == nold ? 1 : j == na ? -1 : (ol < al ? -1 : ol > al);
		unsigned oc =
		        i < nold ? (old->cls != LV_MIXED ? old->cls : lv_block_cls(old)[i]) : 0;
		if (c <= 0) {
			uint32_t key = hi << 16 | ol;
			while (k < nd && d[k].addr.u.v4 < key)
				k++;
			if (c < 0 && k < nd && d[k].addr.u.v4 == key) {
				struct feeds_view_entry e = {.categories = lv->cls[oc].cats,
				                             .expires_ms = lv->cls[oc].expires_ms};
				e.prefix = d[k];
				if ((rc = lv_hist_add(lv, FEEDS_VIEW_REMOVED, &e)) != RN_OK)
					goto fail;
				lv_class_unref(lv, oc);
				changed = true;
				i++;
				continue;
			}
		}
		if (c < 0) {
			nl[n] = ol;
			nc[n++] = (uint8_t)oc;
			i++;
		} else {
			if (c == 0) {
				if (oc == ac[j]) {
					/* Same data: not a change; drop the extra reference. */
					lv_class_unref(lv, ac[j]);
					nl[n] = ol;
					nc[n++] = (uint8_t)oc;
					i++;
					j++;
					continue;
				}
				lv_class_unref(lv, oc);
				i++;
			}
			if ((rc = lv_hist_add(lv, FEEDS_VIEW_ADDED, &a[j])) != RN_OK)
				goto fail;
			changed = true;
			nl[n] = al;
			nc[n++] = ac[j];
			j++;
		}
	}
	if (!changed)
		goto fail; /* nothing to publish; rc is RN_OK */
	struct lv_block *b = NULL;
	if (n > 0) {
		bool mixed = false;
		for (size_t x = 1; x < n; x++)
			if (nc[x] != nc[0])
				mixed = true;
		b = lv_block_alloc(lv, lv_block_size(n, mixed));
		if (b == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		b->n = (uint16_t)n;
		b->pad_ = 0;
		b->cls = mixed ? LV_MIXED : nc[0];
		memcpy(b->low, nl, n * sizeof(*nl));
		if (mixed)
			memcpy((uint8_t *)(b->low + n), nc, n);
		lv->block_bytes += lv_round8(lv_block_size(n, mixed));
	}
	size_t oldsize = old != NULL ? lv_block_size(nold, old->cls == LV_MIXED) : 0;
	if ((rc = lv_retire(lv, old, oldsize)) != RN_OK) {
		if (b != NULL) {
			lv->block_bytes -= lv_round8(lv_block_size(n, b->cls == LV_MIXED));
			lv_block_release(lv, b, lv_block_size(n, b->cls == LV_MIXED));
		}
		goto fail;
	}
	if (old != NULL)
		lv->block_bytes -= lv_round8(oldsize);
	lv->hosts = lv->hosts - nold + n;
	atomic_store_explicit(&lv->buckets[hi], b, memory_order_release);
fail:
	free(nl);
	return rc;
}

/* Removes duplicate prefixes from a sorted array of entries; the last wins. */
static size_t lv_unique_entries(struct feeds_view_entry *e, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (o > 0 && lv_entry_cmp(&e[o - 1], &e[i]) == 0)
			e[o - 1] = e[i];
		else
			e[o++] = e[i];
	}
	return o;
}

static size_t lv_unique_prefixes(struct rn_prefix *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (o == 0 || lv_prefix_cmp(&p[o - 1], &p[i]) != 0)
			p[o++] = p[i];
	return o;
}

/*
 * Applies sorted, unique adds and dels. Runs under the lock. The batch's
 * changes go to the log unless there are more than it holds, in which
 * case the log restarts after this version.
 */
static int lv_apply_sorted(struct feeds_listview *lv, const struct feeds_view_entry *add,
                           size_t nadd, const struct rn_prefix *del, size_t ndel)
{
	struct feeds_view_entry *h = NULL, *pa = NULL;
	struct rn_prefix *hd = NULL, *pd = NULL;
	uint8_t *ac = NULL;
	size_t nh = 0, npa = 0, nhd = 0, npd = 0;
	int rc = RN_OK;

	/* Split hosts (buckets) from prefixes (tables), keeping the order. */
	size_t nh4 = 0, nhd4 = 0;
	for (size_t i = 0; i < nadd; i++)
		nh4 += lv_is_host4(&add[i].prefix);
	for (size_t i = 0; i < ndel; i++)
		nhd4 += lv_is_host4(&del[i]);
	h = malloc((nh4 + 1) * sizeof(*h));
	pa = malloc((nadd - nh4 + 1) * sizeof(*pa));
	hd = malloc((nhd4 + 1) * sizeof(*hd));
	pd = malloc((ndel - nhd4 + 1) * sizeof(*pd));
	ac = malloc(nh4 + 1);
	if (h == NULL || pa == NULL || hd == NULL || pd == NULL || ac == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nadd; i++) {
		if (lv_is_host4(&add[i].prefix))
			h[nh++] = add[i];
		else
			pa[npa++] = add[i];
	}
	for (size_t i = 0; i < ndel; i++) {
		if (lv_is_host4(&del[i]))
			hd[nhd++] = del[i];
		else
			pd[npd++] = del[i];
	}
	/* Classes first, so that a full class table fails before any change. */
	for (size_t i = 0; i < nh; i++) {
		int c = lv_class_get(lv, h[i].categories, h[i].expires_ms);
		if (c < 0) {
			for (size_t j = 0; j < i; j++)
				lv_class_unref(lv, ac[j]);
			rc = RN_ELIMIT;
			goto out;
		}
		lv->cls[c].refs++;
		ac[i] = (uint8_t)c;
	}
	lv->version++;
	lv->hist_off = nadd + ndel > lv->hist_cap;
	if (lv->hist_off) {
		lv->hist_len = 0;
		lv->hist_head = 0;
		lv->hist_base = lv->version;
	}

	/* IPv4 hosts, bucket by bucket. */
	size_t ia = 0, id = 0;
	while (ia < nh || id < nhd) {
		uint32_t ha = ia < nh ? h[ia].prefix.addr.u.v4 >> 16 : UINT32_MAX;
		uint32_t hb = id < nhd ? hd[id].addr.u.v4 >> 16 : UINT32_MAX;
		uint32_t hi = ha < hb ? ha : hb;
		size_t ea = ia, ed = id;
		while (ea < nh && h[ea].prefix.addr.u.v4 >> 16 == hi)
			ea++;
		while (ed < nhd && hd[ed].addr.u.v4 >> 16 == hi)
			ed++;
		rc = lv_apply_bucket(lv, hi, h + ia, ac + ia, ea - ia, hd + id, ed - id);
		if (rc != RN_OK)
			goto reclaim;
		ia = ea;
		id = ed;
	}

	/* Prefixes, per family; the IPv4 ones sort before the IPv6 ones. */
	size_t a4 = 0, d4 = 0;
	while (a4 < npa && pa[a4].prefix.addr.family == RN_AF_INET)
		a4++;
	while (d4 < npd && pd[d4].addr.family == RN_AF_INET)
		d4++;
	rc = lv_apply_ptable(lv, 0, pa, a4, pd, d4);
	if (rc == RN_OK)
		rc = lv_apply_ptable(lv, 1, pa + a4, npa - a4, pd + d4, npd - d4);
reclaim:
	/*
	 * A failure part-way (out of memory) leaves a consistent state: every
	 * published block and table is whole. The version still moved on.
	 */
	lv_reclaim(lv);
out:
	free(h);
	free(pa);
	free(hd);
	free(pd);
	free(ac);
	return rc;
}

int feeds_listview_apply(struct feeds_listview *lv, const struct feeds_view_entry *add, size_t nadd,
                         const struct rn_prefix *del, size_t ndel)
{
	struct feeds_view_entry *a = NULL;
	struct rn_prefix *d = NULL;
	int rc;

	for (size_t i = 0; i < nadd; i++)
		if (!lv_prefix_valid(&add[i].prefix) || add[i].categories == 0)
			return RN_EPARSE;
	for (size_t i = 0; i < ndel; i++)
		if (!lv_prefix_valid(&del[i]))
			return RN_EPARSE;
	a = malloc((nadd + 1) * sizeof(*a));
	d = malloc((ndel + 1) * sizeof(*d));
	if (a == NULL || d == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (nadd > 0)
		memcpy(a, add, nadd * sizeof(*a));
	if (ndel > 0)
		memcpy(d, del, ndel * sizeof(*d));
	qsort(a, nadd, sizeof(*a), lv_entry_cmp);
	qsort(d, ndel, sizeof(*d), lv_prefix_cmp);
	nadd = lv_unique_entries(a, nadd);
	ndel = lv_unique_prefixes(d, ndel);
	pthread_mutex_lock(&lv->lock);
	rc = lv_apply_sorted(lv, a, nadd, d, ndel);
	pthread_mutex_unlock(&lv->lock);
out:
	free(a);
	free(d);
	return rc;
}

/* ---- walk and changes ---------------------------------------------- */

/* Calls fn for every entry in address order. Runs under the lock. */
static int lv_walk_locked(struct feeds_listview *lv,
                          int (*fn)(void *fnarg, const struct feeds_view_entry *e), void *fnarg)
{
	struct feeds_view_entry *p4 = NULL;
	size_t n4 = 0, i4 = 0;
	int rc = RN_OK;
	const struct lv_ptable *t4 = atomic_load_explicit(&lv->ptab[0], memory_order_relaxed);
	const struct lv_ptable *t6 = atomic_load_explicit(&lv->ptab[1], memory_order_relaxed);

	if (t4 != NULL && t4->n > 0) {
		p4 = malloc(t4->n * sizeof(*p4));
		if (p4 == NULL)
			return -ENOMEM;
		memcpy(p4, t4->e, t4->n * sizeof(*p4));
		qsort(p4, t4->n, sizeof(*p4), lv_entry_cmp);
		n4 = t4->n;
	}
	for (uint32_t hi = 0; hi < LV_BUCKETS; hi++) {
		const struct lv_block *b =
		        atomic_load_explicit(&lv->buckets[hi], memory_order_relaxed);
		for (size_t x = 0; b != NULL && x < b->n; x++) {
			struct feeds_view_entry e;
			memset(&e, 0, sizeof(e));
			rn_addr_set_v4(&e.prefix.addr, hi << 16 | b->low[x]);
			e.prefix.len = 32;
			unsigned c = b->cls != LV_MIXED ? b->cls : lv_block_cls(b)[x];
			e.categories = lv->cls[c].cats;
			e.expires_ms = lv->cls[c].expires_ms;
			/* Prefixes that start before this host come first. */
			while (i4 < n4 && lv_entry_cmp(&p4[i4], &e) < 0)
				if ((rc = fn(fnarg, &p4[i4++])) != 0)
					goto out;
			if ((rc = fn(fnarg, &e)) != 0)
				goto out;
		}
	}
	while (i4 < n4)
		if ((rc = fn(fnarg, &p4[i4++])) != 0)
			goto out;
	if (t6 != NULL && t6->n > 0) {
		struct feeds_view_entry *p6 = malloc(t6->n * sizeof(*p6));
		if (p6 == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(p6, t6->e, t6->n * sizeof(*p6));
		qsort(p6, t6->n, sizeof(*p6), lv_entry_cmp);
		for (size_t x = 0; x < t6->n && rc == 0; x++)
			rc = fn(fnarg, &p6[x]);
		free(p6);
	}
out:
	free(p4);
	return rc;
}

static int lv_walk(void *arg, int (*fn)(void *fnarg, const struct feeds_view_entry *e), void *fnarg,
                   uint64_t *version)
{
	struct feeds_listview *lv = arg;
	pthread_mutex_lock(&lv->lock);
	if (version != NULL)
		*version = lv->version;
	int rc = lv_walk_locked(lv, fn, fnarg);
	pthread_mutex_unlock(&lv->lock);
	return rc;
}

static int lv_changes(void *arg, uint64_t since,
                      int (*fn)(void *fnarg, enum feeds_view_change what,
                                const struct feeds_view_entry *e),
                      void *fnarg, uint64_t *version)
{
	struct feeds_listview *lv = arg;
	int rc = RN_OK;
	pthread_mutex_lock(&lv->lock);
	if (version != NULL)
		*version = lv->version;
	if (since > lv->version || since < lv->hist_base) {
		rc = RN_ENOTFOUND;
		goto out;
	}
	for (size_t i = 0; i < lv->hist_len; i++) {
		const struct lv_change *ch = &lv->hist[(lv->hist_head + i) % lv->hist_cap];
		if (ch->version <= since)
			continue;
		if ((rc = fn(fnarg, ch->what, &ch->e)) != 0)
			break;
	}
out:
	pthread_mutex_unlock(&lv->lock);
	return rc;
}

/* ---- replace: apply the difference to a full new state -------------- */

struct lv_diff {
	struct feeds_view_entry *next; /* sorted, unique */
	size_t n, i;
	struct feeds_view_entry *add;
	size_t nadd;
	struct rn_prefix *del;
	size_t ndel, capdel;
};

static int lv_diff_del(struct lv_diff *d, const struct rn_prefix *p)
{
	if (d->ndel == d->capdel) {
		size_t cap = d->capdel ? d->capdel * 2 : 256;
		struct rn_prefix *v = realloc(d->del, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		d->del = v;
		d->capdel = cap;
	}
	d->del[d->ndel++] = *p;
	return RN_OK;
}

static int lv_diff_fn(void *arg, const struct feeds_view_entry *e)
{
	struct lv_diff *d = arg;
	while (d->i < d->n && lv_entry_cmp(&d->next[d->i], e) < 0)
		d->add[d->nadd++] = d->next[d->i++];
	if (d->i < d->n && lv_entry_cmp(&d->next[d->i], e) == 0) {
		if (d->next[d->i].categories != e->categories ||
		    d->next[d->i].expires_ms != e->expires_ms)
			d->add[d->nadd++] = d->next[d->i];
		d->i++;
		return 0;
	}
	return lv_diff_del(d, &e->prefix);
}

int feeds_listview_replace(struct feeds_listview *lv, struct feeds_view_entry *e, size_t n)
{
	struct lv_diff d = {.next = e};
	int rc;

	for (size_t i = 0; i < n; i++)
		if (!lv_prefix_valid(&e[i].prefix) || e[i].categories == 0)
			return RN_EPARSE;
	qsort(e, n, sizeof(*e), lv_entry_cmp);
	d.n = lv_unique_entries(e, n);
	pthread_mutex_lock(&lv->lock);
	if (lv->hosts == 0 && atomic_load(&lv->ptab[0]) == NULL &&
	    atomic_load(&lv->ptab[1]) == NULL) {
		/* An empty view (the first load): everything is an addition. */
		rc = d.n > 0 ? lv_apply_sorted(lv, e, d.n, NULL, 0) : RN_OK;
		pthread_mutex_unlock(&lv->lock);
		return rc;
	}
	d.add = malloc((d.n + 1) * sizeof(*d.add));
	if (d.add == NULL) {
		pthread_mutex_unlock(&lv->lock);
		return -ENOMEM;
	}
	rc = lv_walk_locked(lv, lv_diff_fn, &d);
	while (rc == RN_OK && d.i < d.n)
		d.add[d.nadd++] = d.next[d.i++];
	/* Both lists are in address order already, as lv_apply_sorted wants. */
	if (rc == RN_OK && (d.nadd > 0 || d.ndel > 0))
		rc = lv_apply_sorted(lv, d.add, d.nadd, d.del, d.ndel);
	pthread_mutex_unlock(&lv->lock);
	free(d.add);
	free(d.del);
	return rc;
}

/* ---- lifecycle ----------------------------------------------------- */

int feeds_listview_alloc(struct feeds_listview **out, size_t history)
{
	struct feeds_listview *lv = aligned_alloc(
	        LV_CACHE_LINE, (sizeof(*lv) + LV_CACHE_LINE - 1) / LV_CACHE_LINE * LV_CACHE_LINE);
	if (lv == NULL)
		return -ENOMEM;
	memset(lv, 0, sizeof(*lv));
	lv->buckets = calloc(LV_BUCKETS, sizeof(*lv->buckets));
	if (lv->buckets == NULL) {
		free(lv);
		return -ENOMEM;
	}
	pthread_mutex_init(&lv->lock, NULL);
	lv->hist_cap = history;
	*out = lv;
	return RN_OK;
}

void feeds_listview_free(struct feeds_listview *lv)
{
	if (lv == NULL)
		return;
	for (uint32_t i = 0; i < LV_BUCKETS; i++) {
		struct lv_block *b = atomic_load(&lv->buckets[i]);
		if (b != NULL && lv_round8(lv_block_size(b->n, b->cls == LV_MIXED)) > LV_SLAB_MAX)
			free(b);
	}
	free(lv->buckets);
	free(atomic_load(&lv->ptab[0]));
	free(atomic_load(&lv->ptab[1]));
	for (size_t i = 0; i < lv->nretired; i++)
		if (lv->retired[i].size == 0 || lv_round8(lv->retired[i].size) > LV_SLAB_MAX)
			free(lv->retired[i].p);
	free(lv->retired);
	for (size_t i = 0; i < lv->nchunks; i++)
		free(lv->chunks[i]);
	free(lv->chunks);
	free(lv->hist);
	pthread_mutex_destroy(&lv->lock);
	free(lv);
}

void feeds_listview_view(struct feeds_listview *lv, struct feeds_view *v)
{
	v->arg = lv;
	v->lookup = lv_lookup;
	v->walk = lv_walk;
	v->changes = lv_changes;
}

size_t feeds_listview_count(struct feeds_listview *lv)
{
	pthread_mutex_lock(&lv->lock);
	size_t n = lv->hosts;
	for (unsigned fi = 0; fi < 2; fi++) {
		const struct lv_ptable *t = atomic_load(&lv->ptab[fi]);
		n += t != NULL ? t->n : 0;
	}
	pthread_mutex_unlock(&lv->lock);
	return n;
}

size_t feeds_listview_memory(struct feeds_listview *lv)
{
	pthread_mutex_lock(&lv->lock);
	size_t n = sizeof(*lv) + LV_BUCKETS * sizeof(*lv->buckets) + lv->nchunks * LV_SLAB_CHUNK +
	           lv->big_bytes;
	for (unsigned fi = 0; fi < 2; fi++) {
		const struct lv_ptable *t = atomic_load(&lv->ptab[fi]);
		n += t != NULL ? sizeof(*t) + t->n * sizeof(t->e[0]) : 0;
	}
	pthread_mutex_unlock(&lv->lock);
	return n;
}

uint64_t feeds_listview_version(struct feeds_listview *lv)
{
	pthread_mutex_lock(&lv->lock);
	uint64_t v = lv->version;
	pthread_mutex_unlock(&lv->lock);
	return v;
}
