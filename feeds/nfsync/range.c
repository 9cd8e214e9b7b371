/*
 * range.c: listed prefixes and their normalised ranges.
 *
 * Design notes: prefixes go to interval sets, which nftables keeps as
 * start/end pairs and refuses to overlap. The engine therefore never sends
 * prefixes as such: it keeps the listed prefixes (with their categories)
 * in a sorted array, and derives the canonical form from them, inclusive
 * ranges sorted by start that neither overlap nor touch. Two states are
 * compared range by range, so a delta becomes exactly the ranges to delete
 * and to add. ipset's hash:net holds prefixes, not ranges, so for it the
 * ranges are split again into the minimal set of aligned prefixes, which
 * is unique, so the comparison stays exact. Prefix sets are meant to stay
 * small (escalated prefixes, DROP-style lists): insertion is a memmove.
 * Keys are network-order bytes of 4 or 16; nothing here is thread-safe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"

void nfs_rangevec_release(struct nfs_rangevec *rv)
{
	if (rv == NULL)
		return;
	free(rv->v);
	rv->v = NULL;
	rv->n = 0;
	rv->cap = 0;
}

int nfs_rangevec_push(struct nfs_rangevec *rv, const uint8_t *lo, const uint8_t *hi, unsigned klen)
{
	if (rv->n == rv->cap) {
		size_t ncap = rv->cap ? rv->cap * 2 : 16;
		struct nfs_range *v = realloc(rv->v, ncap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		rv->v = v;
		rv->cap = ncap;
	}
	struct nfs_range *r = &rv->v[rv->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->lo, lo, klen);
	memcpy(r->hi, hi, klen);
	return RN_OK;
}

void nfs_pfxset_init(struct nfs_pfxset *s, unsigned klen)
{
	memset(s, 0, sizeof(*s));
	s->klen = (uint8_t)klen;
}

void nfs_pfxset_release(struct nfs_pfxset *s)
{
	if (s == NULL)
		return;
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->cap = 0;
}

static int pfx_cmp(const struct nfs_pfx *p, const uint8_t *addr, unsigned len, unsigned klen)
{
	int c = memcmp(p->addr, addr, klen);
	if (c != 0)
		return c;
	return (int)p->len - (int)len;
}

/* Index of addr/len, or where it would go (*found false). */
static size_t pfx_search(const struct nfs_pfxset *s, const uint8_t *addr, unsigned len, bool *found)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = pfx_cmp(&s->v[mid], addr, len, s->klen);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int nfs_pfxset_or(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                  bool *changed)
{
	uint8_t a[16] = {0}, hi[16];
	bool found;

	nfs_prefix_bounds(addr, len, s->klen, a, hi);
	size_t i = pfx_search(s, a, len, &found);
	if (found) {
		*changed = (s->v[i].mask & bits & NFS_CAT_BITS) != (bits & NFS_CAT_BITS);
		s->v[i].mask |= bits;
		return RN_OK;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct nfs_pfx *v = realloc(s->v, ncap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = ncap;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	memset(&s->v[i], 0, sizeof(s->v[i]));
	memcpy(s->v[i].addr, a, s->klen);
	s->v[i].len = (uint8_t)len;
	s->v[i].mask = bits;
	s->n++;
	*changed = true;
	return RN_OK;
}

void nfs_pfxset_clear(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                      bool *changed)
{
	uint8_t a[16] = {0}, hi[16];
	bool found;

	*changed = false;
	nfs_prefix_bounds(addr, len, s->klen, a, hi);
	size_t i = pfx_search(s, a, len, &found);
	if (!found || (s->v[i].mask & bits) == 0)
		return;
	*changed = true;
	s->v[i].mask &= (uint16_t)~bits;
	if ((s->v[i].mask & NFS_CAT_BITS) == 0) {
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
		s->n--;
	}
}

/* Appends [lo, hi] to a sorted, merged list, merging when it touches the last. */
static int merge_push(struct nfs_rangevec *out, const uint8_t *lo, const uint8_t *hi, unsigned klen)
{
	if (out->n > 0) {
		struct nfs_range *last = &out->v[out->n - 1];
		uint8_t next[16];
		memcpy(next, last->hi, klen);
		/* Overlapping or adjacent: lo <= last.hi + 1. */
		bool touches = !nfs_key_inc(next, klen) || memcmp(lo, next, klen) <= 0;
		if (touches) {
			if (memcmp(hi, last->hi, klen) > 0)
				memcpy(last->hi, hi, klen);
			return RN_OK;
		}
	}
	return nfs_rangevec_push(out, lo, hi, klen);
}

int nfs_ranges_build(const struct nfs_pfxset *s, uint16_t select, struct nfs_rangevec *out)
{
	out->n = 0;
	/* Sorted by (address, length): starts are non-decreasing. */
	for (size_t i = 0; i < s->n; i++) {
		if ((s->v[i].mask & select) == 0)
			continue;
		uint8_t lo[16], hi[16];
		nfs_prefix_bounds(s->v[i].addr, s->v[i].len, s->klen, lo, hi);
		int rc = merge_push(out, lo, hi, s->klen);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static int range_cmp(const void *a, const void *b, void *arg)
{
	const struct nfs_range *x = a, *y = b;
	unsigned klen = *(const unsigned *)arg;
	int c = memcmp(x->lo, y->lo, klen);
	return c != 0 ? c : memcmp(x->hi, y->hi, klen);
}

void nfs_ranges_sort(struct nfs_rangevec *rv, unsigned klen)
{
	if (rv->n > 1)
		qsort_r(rv->v, rv->n, sizeof(*rv->v), range_cmp, &klen);
}

int nfs_ranges_normalise(struct nfs_rangevec *rv, unsigned klen)
{
	if (rv->n == 0)
		return RN_OK;
	qsort_r(rv->v, rv->n, sizeof(*rv->v), range_cmp, &klen);
	/* In place: out never runs ahead of the read index. */
	size_t o = 0;
	for (size_t i = 0; i < rv->n; i++) {
		struct nfs_range r = rv->v[i];
		if (memcmp(r.lo, r.hi, klen) > 0)
			continue; /* empty */
		if (o > 0) {
			struct nfs_range *last = &rv->v[o - 1];
			uint8_t next[16];
			memcpy(next, last->hi, klen);
			if (!nfs_key_inc(next, klen) || memcmp(r.lo, next, klen) <= 0) {
				if (memcmp(r.hi, last->hi, klen) > 0)
					memcpy(last->hi, r.hi, klen);
				continue;
			}
		}
		rv->v[o++] = r;
	}
	rv->n = o;
	return RN_OK;
}

int nfs_ranges_diff(const struct nfs_rangevec *old, const struct nfs_rangevec *nw, unsigned klen,
                    struct nfs_rangevec *del, struct nfs_rangevec *add)
{
	size_t i = 0, j = 0;
	int rc = RN_OK;
	while (rc == RN_OK && (i < old->n || j < nw->n)) {
		int c;
		if (i == old->n)
			c = 1;
		else if (j == nw->n)
			c = -1;
		else {
			c = memcmp(old->v[i].lo, nw->v[j].lo, klen);
			if (c == 0)
				c = memcmp(old->v[i].hi, nw->v[j].hi, klen);
		}
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			rc = nfs_rangevec_push(del, old->v[i].lo, old->v[i].hi, klen);
			i++;
		} else {
			rc = nfs_rangevec_push(add, nw->v[j].lo, nw->v[j].hi, klen);
			j++;
		}
	}
	return rc;
}

/* Number of trailing zero bits of k (klen*8 when k is zero). */
static unsigned trailing_zeros(const uint8_t *k, unsigned klen)
{
	unsigned n = 0;
	for (unsigned i = klen; i-- > 0;) {
		if (k[i] == 0) {
			n += 8;
			continue;
		}
		n += (unsigned)__builtin_ctz(k[i]);
		break;
	}
	return n;
}

int nfs_ranges_to_cidrs(const struct nfs_rangevec *in, unsigned klen, unsigned min_len,
                        struct nfs_rangevec *out)
{
	unsigned bits = klen * 8;
	for (size_t i = 0; i < in->n; i++) {
		uint8_t cur[16] = {0}, lo[16], hi[16];
		memcpy(cur, in->v[i].lo, klen);
		for (;;) {
			/* The largest aligned block at cur that stays inside the range. */
			unsigned tz = trailing_zeros(cur, klen);
			unsigned len = bits - (tz > bits ? bits : tz);
			if (len < min_len)
				len = min_len;
			for (;;) {
				nfs_prefix_bounds(cur, len, klen, lo, hi);
				if (memcmp(hi, in->v[i].hi, klen) <= 0)
					break;
				len++;
			}
			int rc = nfs_rangevec_push(out, lo, hi, klen);
			if (rc != RN_OK)
				return rc;
			if (memcmp(hi, in->v[i].hi, klen) == 0)
				break;
			memcpy(cur, hi, klen);
			if (!nfs_key_inc(cur, klen))
				break;
		}
	}
	return RN_OK;
}
