/*
 * listview.c: a blocklist in memory behind struct feeds_view, updated in
 * place while many threads read it. This file holds the classes, the
 * change log, batches, walk, changes, replace and the public API; the
 * lookup structure is index.c, block memory slab.c, grace periods
 * grace.c and bulk loads load.c (listview.h names what they share).
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
 * Full states (a list file, a replica snapshot, replace()) take another
 * path, load.c's bulk load: the entries are gathered as 4-byte keys, radix
 * sorted into per-bucket low halves, compared with the published blocks
 * bucket by bucket, and only the buckets that differ get a new block
 * built straight from the sorted keys. It is one batch with the same
 * version and change log as applying the difference, without the array
 * of 40-byte entries, the comparison sort or the per-bucket merge
 * temporaries: at 1M addresses its peak is about 8 bytes an address.
 *
 * Grace periods are sleepable-RCU style, with striped reader counters;
 * grace.c's design notes give the argument. The writer side is the only
 * one that waits.
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
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "feeds/view/listview.h"

/* ---- classes and the change log (writer) ----------------------------- */

/* After a grace period: frees retired memory and releases unused classes. */
void lv_reclaim(struct feeds_listview *lv)
{
	lv_grace_reclaim(&lv->grace, &lv->slab);
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
int lv_class_get(struct feeds_listview *lv, uint32_t cats, int64_t exp)
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

void lv_class_unref(struct feeds_listview *lv, unsigned c)
{
	if (--lv->cls[c].refs == 0)
		lv->cls[c].pending_free = true;
}

int lv_hist_add(struct feeds_listview *lv, enum feeds_view_change what,
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

bool lv_is_host4(const struct rn_prefix *p)
{
	return p->addr.family == RN_AF_INET && p->len == 32;
}

bool lv_prefix_valid(const struct rn_prefix *p)
{
	if (p->addr.family != RN_AF_INET && p->addr.family != RN_AF_INET6)
		return false;
	if (p->len > rn_addr_maxlen(&p->addr))
		return false;
	struct rn_addr m = p->addr;
	rn_addr_mask(&m, p->len);
	return rn_addr_equal(&m, &p->addr);
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
	void (*wfn)(void *) = lv->watch_fn;
	void *warg = lv->watch_arg;
	pthread_mutex_unlock(&lv->lock);
	if (wfn != NULL)
		wfn(warg);
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

/* ---- replace: a bulk load of a full new state (load.c) ---------------- */

int feeds_listview_replace(struct feeds_listview *lv, struct feeds_view_entry *e, size_t n)
{
	struct feeds_listview_load *ld = NULL;
	int rc = feeds_listview_load_alloc(&ld);
	for (size_t i = 0; rc == RN_OK && i < n; i++)
		rc = feeds_listview_load_add(ld, &e[i]);
	if (rc == RN_OK)
		rc = feeds_listview_replace_load(lv, ld);
	feeds_listview_load_free(ld);
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
		if (b != NULL)
			lv_slab_discard(b, lv_block_size(b->n, b->cls == LV_MIXED));
	}
	free(lv->buckets);
	free(atomic_load(&lv->ptab[0]));
	free(atomic_load(&lv->ptab[1]));
	lv_grace_destroy(&lv->grace);
	lv_slab_destroy(&lv->slab);
	free(lv->hist);
	pthread_mutex_destroy(&lv->lock);
	free(lv);
}

static void lv_watch(void *arg, void (*fn)(void *fnarg), void *fnarg)
{
	struct feeds_listview *lv = arg;
	pthread_mutex_lock(&lv->lock);
	lv->watch_fn = fn;
	lv->watch_arg = fnarg;
	pthread_mutex_unlock(&lv->lock);
}

void feeds_listview_view(struct feeds_listview *lv, struct feeds_view *v)
{
	v->arg = lv;
	v->lookup = lv_lookup;
	v->walk = lv_walk;
	v->changes = lv_changes;
	v->watch = lv_watch;
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
	size_t n = sizeof(*lv) + LV_BUCKETS * sizeof(*lv->buckets) + lv_slab_bytes(&lv->slab);
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
