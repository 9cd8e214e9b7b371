/*
 * load.c: the list view's bulk load: a full new content (a list file, a
 * snapshot) gathered in a compact builder and made the view's content in
 * one pass, bucket by bucket.
 *
 * Design notes.
 *
 * Why. A list file of 1M addresses used to become 1M struct
 * feeds_view_entry (40 bytes each), sorted with qsort (whose merge sort
 * takes a second copy), copied again into the batch's host array, and
 * merged into each bucket through a temporary: about 85 MB at the peak
 * and a second of comparisons, for a result of 3 MB.
 *
 * The builder keeps an IPv4 host as its 32-bit address, and its
 * (categories, expiry) pair as a one-byte local class; the byte array
 * exists only once a second pair appears, so a list from one source costs
 * 4 bytes an address. Everything else (prefixes, IPv6) is kept whole:
 * such entries are few.
 *
 * Sorting is a stable LSD radix sort in two 16-bit passes: by the low
 * half into a temporary array, then by the high half (the bucket) into
 * an array of the low halves alone, whose histogram is the bucket
 * boundaries. The address array is freed after the first pass, so the
 * peak is 8 bytes an address (9 with classes), and the sort never
 * compares. Stability keeps input order among duplicates, so the last
 * one wins, as feeds_listview_replace() promised.
 *
 * Applying. Under the writer lock, a first pass compares each bucket's
 * new content with its published block (the same lows and classes:
 * unchanged, kept) and counts the changes, so that the change log is
 * either given every change of this version or restarted after it, as a
 * batch does; the classes are taken only then, so a full class table
 * fails with nothing changed. A second pass builds a block for each
 * changed bucket straight from the sorted lows, logs its differences,
 * publishes it and retires the old one; the prefix tables take the
 * batch path (lv_apply_ptable) with their difference. Readers see each
 * bucket switch from its old block to its new one, as with any batch;
 * the version is one batch. The sort's arrays are freed before the
 * blocks are built.
 *
 * The builder's and the sort's arrays are anonymous mappings, not
 * malloc's: they are megabytes that live for one load, and malloc would
 * keep them in its heap afterwards (its mmap threshold grows with the
 * blocks freed), so a serving process would hold its load's peak. A
 * mapping is given back to the system when it is unmapped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "feeds/view/listview.h"

/* An anonymous mapping of bytes (rounded up by the kernel), or NULL. */
static void *lv_map(size_t bytes)
{
	void *p = mmap(NULL, bytes > 0 ? bytes : 1, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Grows (or maps) p from old to bytes; NULL, p unchanged, on failure. */
static void *lv_remap(void *p, size_t old, size_t bytes)
{
	if (p == NULL)
		return lv_map(bytes);
	void *q = mremap(p, old > 0 ? old : 1, bytes, MREMAP_MAYMOVE);
	return q == MAP_FAILED ? NULL : q;
}

/* Safe on NULL. */
static void lv_unmap(void *p, size_t bytes)
{
	if (p != NULL)
		munmap(p, bytes > 0 ? bytes : 1);
}

struct lv_pentry {
	struct feeds_view_entry e;
	size_t seq; /* input order: the last duplicate wins */
};

struct feeds_listview_load {
	uint32_t *keys; /* IPv4 hosts, in input order */
	uint8_t *cls;   /* their local classes; NULL while all are class 0 */
	size_t n, cap, ccap;
	uint32_t lcats[LV_CLASSES];
	int64_t lexp[LV_CLASSES];
	unsigned nlcls, last;
	struct lv_pentry *pfx; /* prefixes and IPv6 */
	size_t npfx, cappfx;
};

int feeds_listview_load_alloc(struct feeds_listview_load **out)
{
	struct feeds_listview_load *ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return -ENOMEM;
	*out = ld;
	return RN_OK;
}

static void lv_load_clear(struct feeds_listview_load *ld)
{
	lv_unmap(ld->keys, ld->cap * sizeof(*ld->keys));
	lv_unmap(ld->cls, ld->ccap);
	free(ld->pfx);
	ld->keys = NULL;
	ld->cls = NULL;
	ld->pfx = NULL;
	ld->n = ld->cap = ld->ccap = ld->npfx = ld->cappfx = 0;
	ld->nlcls = ld->last = 0;
}

void feeds_listview_load_free(struct feeds_listview_load *ld)
{
	if (ld == NULL)
		return;
	lv_load_clear(ld);
	free(ld);
}

size_t feeds_listview_load_count(const struct feeds_listview_load *ld)
{
	return ld->n + ld->npfx;
}

/* The local class of (cats, exp), created if needed; -1 when full. */
static int lv_load_class(struct feeds_listview_load *ld, uint32_t cats, int64_t exp)
{
	if (ld->nlcls > 0 && ld->lcats[ld->last] == cats && ld->lexp[ld->last] == exp)
		return (int)ld->last;
	for (unsigned c = 0; c < ld->nlcls; c++)
		if (ld->lcats[c] == cats && ld->lexp[c] == exp) {
			ld->last = c;
			return (int)c;
		}
	if (ld->nlcls == LV_CLASSES)
		return -1;
	ld->lcats[ld->nlcls] = cats;
	ld->lexp[ld->nlcls] = exp;
	ld->last = ld->nlcls++;
	return (int)ld->last;
}

int feeds_listview_load_add(struct feeds_listview_load *ld, const struct feeds_view_entry *e)
{
	if (e->categories == 0)
		return RN_EPARSE;
	if (!lv_is_host4(&e->prefix)) {
		if (!lv_prefix_valid(&e->prefix))
			return RN_EPARSE;
		if (ld->npfx == ld->cappfx) {
			size_t cap = ld->cappfx ? ld->cappfx * 2 : 64;
			struct lv_pentry *v = realloc(ld->pfx, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			ld->pfx = v;
			ld->cappfx = cap;
		}
		ld->pfx[ld->npfx] = (struct lv_pentry){.e = *e, .seq = ld->npfx};
		ld->npfx++;
		return RN_OK;
	}
	int c = lv_load_class(ld, e->categories, e->expires_ms);
	if (c < 0 || ld->n == UINT32_MAX) /* the sort counts in 32 bits */
		return RN_ELIMIT;
	if (ld->n == ld->cap) {
		size_t cap = ld->cap ? ld->cap * 2 : 4096;
		uint32_t *k = lv_remap(ld->keys, ld->cap * sizeof(*k), cap * sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
		ld->keys = k;
		ld->cap = cap;
	}
	if ((c != 0 && ld->cls == NULL) || (ld->cls != NULL && ld->n == ld->ccap)) {
		/* Mapped when a second class appears; the zero pages are class 0. */
		uint8_t *v = lv_remap(ld->cls, ld->ccap, ld->cap);
		if (v == NULL)
			return -ENOMEM;
		ld->cls = v;
		ld->ccap = ld->cap;
	}
	ld->keys[ld->n] = e->prefix.addr.u.v4;
	if (ld->cls != NULL)
		ld->cls[ld->n] = (uint8_t)c;
	ld->n++;
	return RN_OK;
}

/* ---- sorting the hosts ------------------------------------------------ */

/*
 * The sorted hosts: bucket hi holds low[start[hi] .. start[hi + 1]) with
 * local classes cls[] (NULL: all class 0), unique.
 */
struct lv_sorted {
	uint32_t *start; /* LV_BUCKETS + 1 */
	uint16_t *low;   /* mappings of n entries */
	uint8_t *cls;
	size_t n;
};

static void lv_sorted_free(struct lv_sorted *s)
{
	free(s->start);
	lv_unmap(s->low, s->n * sizeof(*s->low));
	lv_unmap(s->cls, s->n);
	memset(s, 0, sizeof(*s));
}

/* Radix-sorts ld's hosts into s, emptying ld's host arrays. */
static int lv_load_sort(struct feeds_listview_load *ld, struct lv_sorted *s)
{
	size_t n = ld->n;
	uint32_t *cnt = calloc(LV_BUCKETS, sizeof(*cnt));
	uint32_t *tk = lv_map(n * sizeof(*tk));
	uint8_t *tc = ld->cls != NULL ? lv_map(n) : NULL;
	int rc = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->start = calloc(LV_BUCKETS + 1, sizeof(*s->start));
	if (cnt == NULL || tk == NULL || (ld->cls != NULL && tc == NULL) || s->start == NULL)
		goto fail;
	/* Pass 1: by the low half, into tk. */
	for (size_t i = 0; i < n; i++)
		cnt[ld->keys[i] & 0xffffu]++;
	uint32_t sum = 0;
	for (uint32_t i = 0; i < LV_BUCKETS; i++) {
		uint32_t c = cnt[i];
		cnt[i] = sum;
		sum += c;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t at = cnt[ld->keys[i] & 0xffffu]++;
		tk[at] = ld->keys[i];
		if (tc != NULL)
			tc[at] = ld->cls[i];
	}
	lv_unmap(ld->keys, ld->cap * sizeof(*ld->keys));
	lv_unmap(ld->cls, ld->ccap);
	ld->keys = NULL;
	ld->cls = NULL;
	ld->n = ld->cap = ld->ccap = 0;

	/* Pass 2: by the high half (the bucket), keeping the low half only. */
	s->low = lv_map(n * sizeof(*s->low));
	s->cls = tc != NULL ? lv_map(n) : NULL;
	if (s->low == NULL || (tc != NULL && s->cls == NULL))
		goto fail;
	for (size_t i = 0; i < n; i++)
		s->start[(tk[i] >> 16) + 1]++;
	for (uint32_t i = 0; i < LV_BUCKETS; i++) {
		s->start[i + 1] += s->start[i];
		cnt[i] = s->start[i];
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t at = cnt[tk[i] >> 16]++;
		s->low[at] = (uint16_t)tk[i];
		if (tc != NULL)
			s->cls[at] = tc[i];
	}
	lv_unmap(tk, n * sizeof(*tk));
	lv_unmap(tc, n);
	tk = NULL;
	tc = NULL;

	/* Duplicates are adjacent, in input order: keep the last. */
	size_t o = 0;
	for (uint32_t hi = 0; hi < LV_BUCKETS; hi++) {
		size_t b = s->start[hi], e = s->start[hi + 1];
		s->start[hi] = (uint32_t)o;
		for (size_t i = b; i < e; i++) {
			if (i + 1 < e && s->low[i + 1] == s->low[i])
				continue;
			s->low[o] = s->low[i];
			if (s->cls != NULL)
				s->cls[o] = s->cls[i];
			o++;
		}
	}
	s->start[LV_BUCKETS] = (uint32_t)o;
	rc = RN_OK;
fail:
	free(cnt);
	lv_unmap(tk, n * sizeof(*tk));
	lv_unmap(tc, n);
	if (rc != RN_OK)
		lv_sorted_free(s);
	return rc;
}

/* ---- prefixes ---------------------------------------------------------- */

static int lv_pentry_cmp(const void *pa, const void *pb)
{
	const struct lv_pentry *a = pa, *b = pb;
	int c = lv_entry_cmp(&a->e, &b->e);
	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The difference between the sorted, unique next[0..n) and family fi's table. */
struct lv_pdiff {
	struct feeds_view_entry *add;
	size_t nadd;
	struct rn_prefix *del;
	size_t ndel;
};

static int lv_prefix_diff(struct feeds_listview *lv, unsigned fi,
                          const struct feeds_view_entry *next, size_t n, struct lv_pdiff *d)
{
	const struct lv_ptable *t = atomic_load_explicit(&lv->ptab[fi], memory_order_relaxed);
	size_t nold = t != NULL ? t->n : 0;
	struct feeds_view_entry *cur = malloc((nold + 1) * sizeof(*cur));

	memset(d, 0, sizeof(*d));
	d->add = malloc((n + 1) * sizeof(*d->add));
	d->del = malloc((nold + 1) * sizeof(*d->del));
	if (cur == NULL || d->add == NULL || d->del == NULL) {
		free(cur);
		free(d->add);
		free(d->del);
		return -ENOMEM;
	}
	if (nold > 0)
		memcpy(cur, t->e, nold * sizeof(*cur));
	qsort(cur, nold, sizeof(*cur), lv_entry_cmp);
	size_t i = 0, j = 0;
	while (i < nold || j < n) {
		int c = i == nold ? 1 : j == n ? -1 : lv_entry_cmp(&cur[i], &next[j]);
		if (c < 0) {
			d->del[d->ndel++] = cur[i++].prefix;
		} else if (c > 0) {
			d->add[d->nadd++] = next[j++];
		} else {
			if (cur[i].categories != next[j].categories ||
			    cur[i].expires_ms != next[j].expires_ms)
				d->add[d->nadd++] = next[j];
			i++;
			j++;
		}
	}
	free(cur);
	return RN_OK;
}

/* ---- applying ---------------------------------------------------------- */

static unsigned lv_old_cls(const struct lv_block *b, size_t i)
{
	return b->cls != LV_MIXED ? b->cls : lv_block_cls(b)[i];
}

/*
 * Compares bucket hi's block with its new content (lows low[0..n), local
 * classes lc (NULL: 0) mapped to view classes by map, -1: none yet).
 * Returns the number of changes; with log set, logs them too (the class
 * of every new entry must then be mapped).
 */
static size_t lv_bucket_diff(struct feeds_listview *lv, uint32_t hi, const struct lv_block *old,
                             const uint16_t *low, const uint8_t *lc, size_t n, const int *map,
                             const struct feeds_listview_load *ld, bool log, int *rc)
{
	size_t nold = old != NULL ? old->n : 0, i = 0, j = 0, changes = 0;
	struct feeds_view_entry e;

	memset(&e, 0, sizeof(e));
	e.prefix.len = 32;
	while (i < nold || j < n) {
		int c = i == nold ? 1
		        : j == n  ? -1
		                  : (old->low[i] < low[j] ? -1 : old->low[i] > low[j]);
		unsigned l = j < n && lc != NULL ? lc[j] : 0;
		if (c == 0 && (int)lv_old_cls(old, i) == map[l]) {
			i++;
			j++;
			continue;
		}
		changes++;
		if (log && *rc == RN_OK) {
			if (c < 0) {
				unsigned oc = lv_old_cls(old, i);
				rn_addr_set_v4(&e.prefix.addr, hi << 16 | old->low[i]);
				e.categories = lv->cls[oc].cats;
				e.expires_ms = lv->cls[oc].expires_ms;
				*rc = lv_hist_add(lv, FEEDS_VIEW_REMOVED, &e);
			} else {
				rn_addr_set_v4(&e.prefix.addr, hi << 16 | low[j]);
				e.categories = ld->lcats[l];
				e.expires_ms = ld->lexp[l];
				*rc = lv_hist_add(lv, FEEDS_VIEW_ADDED, &e);
			}
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return changes;
}

/* Publishes bucket hi's new content; the classes' references are taken. */
static int lv_bucket_publish(struct feeds_listview *lv, uint32_t hi, struct lv_block *old,
                             const uint16_t *low, const uint8_t *lc, size_t n, const int *map)
{
	struct lv_block *b = NULL;
	if (n > 0) {
		unsigned c0 = (unsigned)map[lc != NULL ? lc[0] : 0];
		bool mixed = false;
		for (size_t x = 1; lc != NULL && x < n && !mixed; x++)
			mixed = map[lc[x]] != (int)c0;
		b = lv_slab_alloc(&lv->slab, lv_block_size(n, mixed));
		if (b == NULL)
			return -ENOMEM;
		b->n = (uint16_t)n;
		b->pad_ = 0;
		b->cls = mixed ? LV_MIXED : (uint8_t)c0;
		memcpy(b->low, low, n * sizeof(*low));
		if (mixed) {
			uint8_t *bc = (uint8_t *)(b->low + n);
			for (size_t x = 0; x < n; x++)
				bc[x] = (uint8_t)map[lc[x]];
		}
		lv->block_bytes += lv_round8(lv_block_size(n, mixed));
	}
	size_t nold = old != NULL ? old->n : 0;
	size_t oldsize = old != NULL ? lv_block_size(nold, old->cls == LV_MIXED) : 0;
	int rc = lv_grace_retire(&lv->grace, old, oldsize);
	if (rc != RN_OK) {
		if (b != NULL) {
			lv->block_bytes -= lv_round8(lv_block_size(n, b->cls == LV_MIXED));
			lv_slab_release(&lv->slab, b, lv_block_size(n, b->cls == LV_MIXED));
		}
		return rc;
	}
	for (size_t x = 0; x < nold; x++)
		lv_class_unref(lv, lv_old_cls(old, x));
	if (old != NULL)
		lv->block_bytes -= lv_round8(oldsize);
	lv->hosts = lv->hosts - nold + n;
	atomic_store_explicit(&lv->buckets[hi], b, memory_order_release);
	return RN_OK;
}

/* The existing class of (cats, exp), or -1; creates nothing. */
static int lv_class_find(struct feeds_listview *lv, uint32_t cats, int64_t exp)
{
	for (unsigned c = 0; c < LV_CLASSES; c++)
		if (atomic_load_explicit(&lv->cls[c].cats, memory_order_relaxed) == cats &&
		    atomic_load_explicit(&lv->cls[c].expires_ms, memory_order_relaxed) == exp)
			return (int)c;
	return -1;
}

int feeds_listview_replace_load(struct feeds_listview *lv, struct feeds_listview_load *ld)
{
	struct lv_sorted s;
	struct feeds_view_entry *pe = NULL;
	struct lv_pdiff pd[2];
	uint8_t *changed = NULL;
	size_t lcount[LV_CLASSES];
	int map[LV_CLASSES];
	size_t npe = 0;
	void (*wfn)(void *) = NULL;
	void *warg = NULL;
	int rc;

	memset(pd, 0, sizeof(pd));
	if ((rc = lv_load_sort(ld, &s)) != RN_OK)
		goto out_unlocked;
	/* Prefixes: sorted, unique (the last wins). */
	pe = malloc((ld->npfx + 1) * sizeof(*pe));
	changed = calloc(LV_BUCKETS, 1);
	if (pe == NULL || changed == NULL) {
		rc = -ENOMEM;
		goto out_unlocked;
	}
	if (ld->npfx > 1)
		qsort(ld->pfx, ld->npfx, sizeof(*ld->pfx), lv_pentry_cmp);
	for (size_t i = 0; i < ld->npfx; i++) {
		if (npe > 0 && lv_entry_cmp(&pe[npe - 1], &ld->pfx[i].e) == 0)
			pe[npe - 1] = ld->pfx[i].e;
		else
			pe[npe++] = ld->pfx[i].e;
	}
	size_t a4 = 0;
	while (a4 < npe && pe[a4].prefix.addr.family == RN_AF_INET)
		a4++;

	pthread_mutex_lock(&lv->lock);
	if ((rc = lv_prefix_diff(lv, 0, pe, a4, &pd[0])) != RN_OK ||
	    (rc = lv_prefix_diff(lv, 1, pe + a4, npe - a4, &pd[1])) != RN_OK)
		goto out;
	size_t total = pd[0].nadd + pd[0].ndel + pd[1].nadd + pd[1].ndel;

	/* First pass: which buckets change, and how many changes in all. */
	for (unsigned l = 0; l < ld->nlcls; l++) {
		map[l] = lv_class_find(lv, ld->lcats[l], ld->lexp[l]);
		lcount[l] = 0;
	}
	if (ld->nlcls == 0)
		map[0] = -1;
	for (uint32_t hi = 0; hi < LV_BUCKETS; hi++) {
		const struct lv_block *old =
		        atomic_load_explicit(&lv->buckets[hi], memory_order_relaxed);
		size_t b = s.start[hi], n = s.start[hi + 1] - b;
		if (old == NULL && n == 0)
			continue;
		size_t c = lv_bucket_diff(lv, hi, old, s.low + b, s.cls != NULL ? s.cls + b : NULL,
		                          n, map, ld, false, &rc);
		if (c == 0)
			continue;
		changed[hi] = 1;
		total += c;
		for (size_t x = 0; x < n; x++)
			lcount[s.cls != NULL ? s.cls[b + x] : 0]++;
	}
	if (total == 0)
		goto out; /* the same content: no new version */

	/* Classes, before any change: a full table fails with nothing changed. */
	for (unsigned l = 0; l < ld->nlcls; l++) {
		if (lcount[l] == 0)
			continue;
		int c = lv_class_get(lv, ld->lcats[l], ld->lexp[l]);
		if (c < 0) {
			for (unsigned k = 0; k < l; k++) {
				if (lcount[k] == 0)
					continue;
				lv->cls[map[k]].refs -= (uint32_t)lcount[k];
				if (lv->cls[map[k]].refs == 0)
					lv->cls[map[k]].pending_free = true;
			}
			rc = RN_ELIMIT;
			goto out;
		}
		map[l] = c;
		lv->cls[c].refs += (uint32_t)lcount[l];
	}

	lv->version++;
	lv->hist_off = total > lv->hist_cap;
	if (lv->hist_off) {
		lv->hist_len = 0;
		lv->hist_head = 0;
		lv->hist_base = lv->version;
	}
	/* Second pass: build, log and publish each changed bucket. */
	for (uint32_t hi = 0; hi < LV_BUCKETS && rc == RN_OK; hi++) {
		if (!changed[hi])
			continue;
		struct lv_block *old = atomic_load_explicit(&lv->buckets[hi], memory_order_relaxed);
		size_t b = s.start[hi], n = s.start[hi + 1] - b;
		const uint8_t *lc = s.cls != NULL ? s.cls + b : NULL;
		if (!lv->hist_off)
			lv_bucket_diff(lv, hi, old, s.low + b, lc, n, map, ld, true, &rc);
		if (rc == RN_OK)
			rc = lv_bucket_publish(lv, hi, old, s.low + b, lc, n, map);
	}
	lv_sorted_free(&s);
	if (rc == RN_OK)
		rc = lv_apply_ptable(lv, 0, pd[0].add, pd[0].nadd, pd[0].del, pd[0].ndel);
	if (rc == RN_OK)
		rc = lv_apply_ptable(lv, 1, pd[1].add, pd[1].nadd, pd[1].del, pd[1].ndel);
	/* A failure part-way leaves every published block and table whole. */
	lv_reclaim(lv);
	/* The version moved: the watcher is called, outside the lock. */
	wfn = lv->watch_fn;
	warg = lv->watch_arg;
out:
	pthread_mutex_unlock(&lv->lock);
	if (wfn != NULL)
		wfn(warg);
out_unlocked:
	for (unsigned fi = 0; fi < 2; fi++) {
		free(pd[fi].add);
		free(pd[fi].del);
	}
	lv_sorted_free(&s);
	free(pe);
	free(changed);
	lv_load_clear(ld);
	return rc;
}
