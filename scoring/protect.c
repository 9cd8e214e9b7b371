/*
 * protect.c: protected ranges (allowlists, never-block ranges, CGNAT and
 * shared pools).
 *
 * Design notes: every prefix becomes an interval of keys, IPv4 addresses
 * or the upper 64 bits of IPv6 addresses, and the intervals of a family
 * are sorted and merged, so a check is one bisection. An IPv6 prefix
 * longer than /64 widens to its /64: the scorer never lists anything finer
 * than an aggregate of at most /64, and listing the aggregate would block
 * the protected address inside it. Immutable after build.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/protect.h"
#include "scoring/table.h"

struct prange {
	uint64_t lo, hi;
};

struct scoring_protect {
	struct prange *r[2]; /* [0] IPv4, [1] IPv6 */
	size_t n[2];
};

static int cmp_range(const void *a, const void *b)
{
	const struct prange *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void merge(struct prange *v, size_t *n)
{
	if (*n == 0)
		return;
	qsort(v, *n, sizeof(*v), cmp_range);
	size_t k = 0;
	for (size_t i = 1; i < *n; i++) {
		if (v[i].lo <= v[k].hi || (v[k].hi != UINT64_MAX && v[i].lo == v[k].hi + 1)) {
			if (v[i].hi > v[k].hi)
				v[k].hi = v[i].hi;
		} else {
			v[++k] = v[i];
		}
	}
	*n = k + 1;
}

int scoring_protect_build(const struct rn_prefix_list *const *lists, size_t nlists,
                          struct scoring_protect **out)
{
	struct scoring_protect *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	size_t total = 0;
	for (size_t i = 0; i < nlists; i++)
		if (lists[i] != NULL)
			total += lists[i]->n;
	for (int f = 0; f < 2; f++) {
		p->r[f] = malloc((total ? total : 1) * sizeof(struct prange));
		if (p->r[f] == NULL) {
			scoring_protect_free(p);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < nlists; i++) {
		if (lists[i] == NULL)
			continue;
		for (size_t k = 0; k < lists[i]->n; k++) {
			const struct rn_prefix *pf = &lists[i]->v[k];
			unsigned fam = pf->addr.family;
			if (fam != RN_AF_INET && fam != RN_AF_INET6)
				continue;
			unsigned plen = pf->len;
			if (fam == RN_AF_INET6 && plen > SPACE_V6_MAXLEN)
				plen = SPACE_V6_MAXLEN;
			uint64_t lo = key_of_addr(&pf->addr, plen);
			int f = fam == RN_AF_INET ? 0 : 1;
			p->r[f][p->n[f]++] = (struct prange){lo, key_last(fam, plen, lo)};
		}
	}
	merge(p->r[0], &p->n[0]);
	merge(p->r[1], &p->n[1]);
	*out = p;
	return RN_OK;
}

void scoring_protect_free(struct scoring_protect *p)
{
	if (p == NULL)
		return;
	free(p->r[0]);
	free(p->r[1]);
	free(p);
}

bool protect_range(const struct scoring_protect *p, unsigned family, uint64_t lo, uint64_t hi)
{
	if (p == NULL)
		return false;
	int f = family == RN_AF_INET ? 0 : 1;
	const struct prange *v = p->r[f];
	size_t b = 0, e = p->n[f];
	/* The first range that ends at or after lo. */
	while (b < e) {
		size_t m = b + (e - b) / 2;
		if (v[m].hi < lo)
			b = m + 1;
		else
			e = m;
	}
	return b < p->n[f] && v[b].lo <= hi;
}

size_t protect_count(const struct scoring_protect *p, unsigned family)
{
	return p == NULL ? 0 : p->n[family == RN_AF_INET ? 0 : 1];
}

bool scoring_protect_overlaps(const struct scoring_protect *p, const struct rn_prefix *pfx)
{
	unsigned fam = pfx->addr.family;
	if (fam != RN_AF_INET && fam != RN_AF_INET6)
		return false;
	unsigned plen = pfx->len;
	if (fam == RN_AF_INET6 && plen > SPACE_V6_MAXLEN)
		plen = SPACE_V6_MAXLEN;
	uint64_t lo = key_of_addr(&pfx->addr, plen);
	return protect_range(p, fam, lo, key_last(fam, plen, lo));
}

bool scoring_protect_contains(const struct scoring_protect *p, const struct rn_addr *a)
{
	if (a->family != RN_AF_INET && a->family != RN_AF_INET6)
		return false;
	uint64_t k = key_of_addr(a, a->family == RN_AF_INET ? 32 : SPACE_V6_MAXLEN);
	return protect_range(p, a->family, k, k);
}
