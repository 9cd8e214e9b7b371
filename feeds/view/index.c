/*
 * index.c: the list view's lookup structure: IPv4 hosts in 65536 buckets
 * of immutable blocks, every other entry in one immutable prefix table
 * per family. Lookups (any thread, no lock, no allocation) and the
 * writer's building of new blocks and tables from a batch.
 *
 * Design notes: a block is a count, the sorted lower 16 bits of its
 * addresses and one class for the whole block or one class byte per
 * address (LV_MIXED); a lookup is one acquire load of the bucket and a
 * binary search. A prefix table is sorted by length, longest first, then
 * address, with the list of lengths present, so a lookup binary-searches
 * only the lengths that exist, most specific first; a host listing wins
 * over any prefix. The writer (under the view's lock) never changes what
 * it published: it merges a bucket's changes into a new block, or a
 * family's into a new table, publishes it with a release store, and
 * retires the old one until a grace period has passed (grace.c). Every
 * change goes to the view's log as it is merged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/view/listview.h"

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

uint32_t lv_lookup(void *arg, const struct rn_addr *a, int64_t *expires_ms)
{
	struct feeds_listview *lv = arg;
	uint32_t cats = 0;
	int64_t exp = 0;
	const struct lv_ptable *t;
	struct lv_stripe *s = lv_grace_enter(&lv->grace);

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
	lv_grace_leave(s);
	if (expires_ms != NULL)
		*expires_ms = exp;
	return cats;
}

int lv_entry_cmp(const void *pa, const void *pb)
{
	const struct feeds_view_entry *a = pa, *b = pb;
	int c = rn_addr_cmp(&a->prefix.addr, &b->prefix.addr);
	if (c != 0)
		return c;
	return (int)a->prefix.len - (int)b->prefix.len;
}

int lv_prefix_cmp(const void *pa, const void *pb)
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

int lv_apply_ptable(struct feeds_listview *lv, unsigned fi, const struct feeds_view_entry *add,
                    size_t nadd, const struct rn_prefix *del, size_t ndel)
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
		if ((rc = lv_grace_retire(&lv->grace, old, 0)) != RN_OK) {
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

int lv_apply_bucket(struct feeds_listview *lv, uint32_t hi, const struct feeds_view_entry *a,
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
		b = lv_slab_alloc(&lv->slab, lv_block_size(n, mixed));
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
	if ((rc = lv_grace_retire(&lv->grace, old, oldsize)) != RN_OK) {
		if (b != NULL) {
			lv->block_bytes -= lv_round8(lv_block_size(n, b->cls == LV_MIXED));
			lv_slab_release(&lv->slab, b, lv_block_size(n, b->cls == LV_MIXED));
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
