/*
 * recompute_inc.c: incremental passes of the recompute.
 *
 * Design notes: between full ticks (scoring.full_every), a pass decides
 * again only the keys that can have changed: those marked dirty (observed
 * since the last tick, or members of a set that aged out: engine.c marks
 * them), the listings due for renewal or expired (rpass_mark_due()), the
 * escalation candidates, and the escalation parents of all of those. They
 * are sorted (radix) and get one slot each, in the engine's struct rinc;
 * each set slice is probed for them in a batch (keyset_find_keys()) and
 * adds what it gives straight to the slots of those it holds, so the work
 * is proportional to the dirty keys times the slices, not to the sets,
 * and no merge of the slices is needed. The decisions are collected (struct
 * chg, in key order) and merged with the previous space, which is copied
 * in spans around them; entries that stay are updated in place.
 * engine_recompute() (recompute.c) says why this reaches the decisions a
 * full pass would.
 *
 * Escalation is counted again, after a host space's pass, for the parents
 * of the keys it decided and the prefixes dirty in the target space, from
 * the host space as built; each of those parents is then dirty in the
 * target space, which is decided later in the same tick.
 *
 * Threading: none; the engine's thread runs the pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/protect.h"
#include "scoring/recompute.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void rinc_release(struct rinc *ri)
{
	free(ri->slots);
	free(ri->hits);
	free(ri->bhits);
	free(ri->bmasks);
	free(ri->cand);
	free(ri->tmp);
	memset(ri, 0, sizeof(*ri));
}

/* Grows *p (of *cap elements of size sz) to at least n, geometrically. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
	if (*cap >= n)
		return RN_OK;
	size_t c = *cap ? *cap : 256;
	while (c < n)
		c *= 2;
	void *np = realloc(*p, c * sz);
	if (np == NULL)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return RN_OK;
}

/*
 * Sorts v[0 .. n) by least-significant-digit radix, a byte per pass, with
 * tmp (n elements): every byte's counts in one read, and the bytes on
 * which all keys agree (the upper half of an IPv4 key) skipped.
 */
static void radix_sort(uint64_t *v, size_t n, uint64_t *tmp)
{
	uint32_t cnt[8][256];
	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n; i++)
		for (unsigned d = 0; d < 8; d++)
			cnt[d][(uint8_t)(v[i] >> (8 * d))]++;
	uint64_t *src = v, *dst = tmp;
	for (unsigned d = 0; d < 8; d++) {
		if (cnt[d][(uint8_t)(v[0] >> (8 * d))] == n)
			continue; /* one value of this byte: already in order */
		uint32_t pos[256], sum = 0;
		for (unsigned b = 0; b < 256; b++) {
			pos[b] = sum;
			sum += cnt[d][b];
		}
		for (size_t i = 0; i < n; i++)
			dst[pos[(uint8_t)(src[i] >> (8 * d))]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

/* Sorts and deduplicates a space's dirty keys. */
static int kvec_norm(struct rinc *ri, struct kvec *d)
{
	if (d->sorted || d->n < 2) {
		d->sorted = true;
		return RN_OK;
	}
	if (d->n < 64 || d->n > UINT32_MAX) {
		qsort(d->v, d->n, sizeof(*d->v), cmp_u64);
	} else {
		int rc = grow((void **)&ri->tmp, &ri->captmp, d->n, sizeof(*ri->tmp));
		if (rc != RN_OK)
			return rc;
		radix_sort(d->v, d->n, ri->tmp);
	}
	size_t k = 0;
	for (size_t i = 0; i < d->n; i++)
		if (k == 0 || d->v[k - 1] != d->v[i])
			d->v[k++] = d->v[i];
	d->n = k;
	d->sorted = true;
	return RN_OK;
}

/*
 * Escalation after an incremental pass over a host space: the parents of
 * the keys rescored, and the prefixes rescored in the target space, are
 * counted again from the space as now built.
 */
static int escalate_inc(struct rpass *r, const struct kvec *dk)
{
	struct scoring_engine *e = r->e;
	const struct rcur *cur = &r->cur;
	unsigned fam = cur->family;
	unsigned tsp = space_index(fam, cur->esc_plen);
	uint64_t pmask = key_mask(fam, cur->esc_plen);
	const struct kvec *tk = &e->dirty[tsp];
	size_t cap = dk->n + tk->n;
	if (cap == 0)
		return RN_OK;
	uint64_t *par = malloc(cap * sizeof(*par));
	if (par == NULL)
		return -ENOMEM;
	size_t np = 0;
	for (size_t i = 0; i < dk->n; i++)
		par[np++] = dk->v[i] & pmask;
	for (size_t i = 0; i < tk->n; i++)
		par[np++] = tk->v[i];
	qsort(par, np, sizeof(*par), cmp_u64);
	int rc = RN_OK;
	struct tspace *s =
	        r->b.used[cur->space] && r->b.sp[cur->space].n > 0 ? &r->b.sp[cur->space] : NULL;
	if (s != NULL && s->family == RN_AF_INET)
		s->sstart[s->nhi] = (uint32_t)s->n; /* the sentinel, while building */
	for (size_t i = 0; i < np && rc == RN_OK; i++) {
		if (i > 0 && par[i] == par[i - 1])
			continue;
		uint64_t parent = par[i], last = key_last(fam, cur->esc_plen, parent);
		struct esc x = {.key = parent, .first = INT64_MAX, .last = INT64_MIN};
		uint32_t count = 0;
		if (s != NULL) {
			uint32_t hi = 0;
			for (size_t k = tspace_lower_bound(s, parent); k < s->n; k++) {
				hi = fam == RN_AF_INET ? tspace_hi_of(s, k, hi) : 0;
				uint64_t key = tspace_key(s, k, hi);
				if (key > last)
					break;
				const struct tcls *c = &r->b.cls[tspace_cls(s, k)];
				if ((c->cats & ESC_CATS) == 0)
					continue; /* says nothing of its neighbours */
				count++;
				x.cats |= c->cats & ESC_CATS;
				if (c->expires_ms > x.exp)
					x.exp = c->expires_ms;
				if (s->score[k] > x.score)
					x.score = s->score[k];
				if ((int64_t)s->first_s[k] * 1000 < x.first)
					x.first = (int64_t)s->first_s[k] * 1000;
				if ((int64_t)s->last_s[k] * 1000 > x.last)
					x.last = (int64_t)s->last_s[k] * 1000;
			}
		}
		/* Rescored in the target space either way: gained, kept or lost. */
		if ((rc = engine_dirty_mark(e, tsp, parent)) != RN_OK)
			break;
		if (count < (uint64_t)cur->esc_thr ||
		    protect_range(e->protect, fam, parent, last) ||
		    protect_range(e->noesc, fam, parent, last))
			continue;
		rc = esc_push(&r->sp[tsp].esc, &x);
	}
	free(par);
	return rc;
}

/*
 * Builds the space from the previous one and the collected decisions:
 * spans of unchanged entries are copied whole, only insertions and
 * deletions split them, and entries that stay are updated in place.
 */
static int merge_changes(struct rpass *r)
{
	struct scoring_engine *e = r->e;
	const struct tspace *p = r->cur.prev;
	unsigned fam = r->cur.family, plen = r->cur.plen;
	size_t pi = 0;
	ptrdiff_t shift = 0; /* insertions minus deletions so far */
	int rc = RN_OK;
	for (size_t i = 0; i < r->chg.n && rc == RN_OK; i++) {
		struct chg *c = &r->chg.v[i];
		if (c->prev != 0 && c->now.listed) {
			/* Stays: its index in the new space, for the pass below. */
			c->prev = (size_t)((ptrdiff_t)(c->prev - 1) + shift) + 1;
			continue;
		}
		size_t j = c->prev != 0 ? c->prev - 1
		                        : (p != NULL ? tspace_lower_bound(p, c->key) : 0);
		if (p != NULL && (rc = tbuilder_copy(&r->b, e->cur, p, pi, j)) != RN_OK)
			break;
		if (c->prev != 0) {
			pi = j + 1; /* deleted */
			shift--;
		} else {
			pi = j;
			rc = tbuilder_push(&r->b, fam, plen, c->key, c->now.cats, c->now.exp, 0,
			                   &c->now.rich);
			shift++;
		}
		c->prev = 0;
	}
	if (rc == RN_OK && p != NULL)
		rc = tbuilder_copy(&r->b, e->cur, p, pi, p->n);
	for (size_t i = 0; i < r->chg.n && rc == RN_OK; i++) {
		const struct chg *c = &r->chg.v[i];
		if (c->prev != 0 && c->now.listed)
			rc = tbuilder_set(&r->b, fam, plen, c->prev - 1, c->now.cats, c->now.exp,
			                  &c->now.rich);
	}
	return rc;
}

/*
 * The offence counts of the keys that may be listed anew (not listed, at
 * the threshold), looked up ahead in a batch: a decision would otherwise
 * search each of the offence slices for each of them, a binary search
 * over every container at each step.
 */
static int inc_offences(struct rpass *r, unsigned space, const struct kvec *dk, struct rslot *sl)
{
	struct scoring_engine *e = r->e;
	struct rinc *ri = &e->inc;
	size_t nc = 0;
	int rc;
	if ((rc = grow((void **)&ri->tmp, &ri->captmp, dk->n, sizeof(*ri->tmp))) != RN_OK ||
	    (rc = grow((void **)&ri->cand, &ri->capcand, dk->n, sizeof(*ri->cand))) != RN_OK)
		return rc;
	for (size_t i = 0; i < dk->n; i++)
		if (sl[i].prev == 0 && sl[i].score >= r->T) {
			ri->tmp[nc] = dk->v[i];
			ri->cand[nc++] = (uint32_t)i;
			sl[i].off = 1; /* a count of 0, unless a slice holds it */
		}
	for (unsigned j = 0; nc > 0 && j < ENGINE_OFF_SLICES; j++) {
		const struct keyset *ks = e->off[space][j];
		if (ks == NULL || keyset_card(ks) == 0)
			continue;
		size_t nh = 0;
		if ((rc = keyset_find_keys(ks, ri->tmp, nc, &ri->hits, &nh, &ri->caphits)) != RN_OK)
			return rc;
		for (size_t h = 0; h < nh; h++)
			sl[ri->cand[ri->hits[h]]].off += (uint8_t)(1u << j);
	}
	return RN_OK;
}

/*
 * The slots of the dirty keys dk (sorted, distinct): what every set slice
 * of the space that holds them gives them, their previous entries and
 * their escalation candidates. Each slice is probed for the dirty keys
 * alone (keyset_find_keys()), and what it gives is added straight to the
 * slots of the keys it holds: no merge of the slices.
 */
static int inc_slots(struct rpass *r, unsigned space, const struct kvec *dk, struct rslot *sl)
{
	struct scoring_engine *e = r->e;
	struct rinc *ri = &e->inc;
	const struct rcur *cur = &r->cur;
	for (size_t i = 0; i < dk->n; i++)
		rslot_clear(&sl[i]);
	for (size_t i = 0; i < e->nsets; i++) {
		const struct rset *s = e->sets[i];
		if (s->space != space || s->bidx != NULL)
			continue; /* an indexed set is found through its bucket's index, below */
		uint32_t unit =
		        engine_unit(&e->kinds[s->kind], (s->bucket + 1) * e->conf.bucket_ms, r->t);
		if (unit == 0)
			continue;
		uint64_t bit = 1ull << e->kinds[s->kind].bit;
		for (unsigned j = 0; j < s->nslices; j++) {
			const struct keyset *ks = s->slice[j];
			if (keyset_card(ks) == 0)
				continue;
			size_t nh = 0;
			int rc = keyset_find_keys(ks, dk->v, dk->n, &ri->hits, &nh, &ri->caphits);
			if (rc != RN_OK)
				return rc;
			uint64_t w = (uint64_t)unit << j;
			for (size_t h = 0; h < nh; h++)
				rslot_add(&sl[ri->hits[h]], w, bit, s->first_ms, s->last_ms);
		}
	}
	for (size_t i = 0; i < e->nbidx; i++) {
		const struct bidx *x = e->bidx[i];
		if (x->space != space)
			continue;
		/* What each of its slices gives: nothing once its set no longer counts. */
		uint64_t w[BIDX_MAX_SRC], bit[BIDX_MAX_SRC], live = 0;
		for (unsigned b = 0; b < x->nsrc; b++) {
			const struct rset *s = x->src[b].set;
			uint32_t unit = engine_unit(&e->kinds[s->kind],
			                            (s->bucket + 1) * e->conf.bucket_ms, r->t);
			w[b] = (uint64_t)unit << x->src[b].slice;
			bit[b] = 1ull << e->kinds[s->kind].bit;
			if (unit != 0)
				live |= 1ull << b;
		}
		if (live == 0)
			continue;
		size_t nh = 0;
		int rc = bidx_find(x, dk->v, dk->n, &ri->bhits, &ri->bmasks, &nh, &ri->capb);
		if (rc != RN_OK)
			return rc;
		for (size_t h = 0; h < nh; h++) {
			struct rslot *t = &sl[ri->bhits[h]];
			for (uint64_t m = ri->bmasks[h] & live; m != 0; m &= m - 1) {
				unsigned b = (unsigned)__builtin_ctzll(m);
				const struct rset *s = x->src[b].set;
				rslot_add(t, w[b], bit[b], s->first_ms, s->last_ms);
			}
		}
	}
	if (cur->prev != NULL)
		for (size_t i = 0; i < dk->n; i++) {
			ptrdiff_t k = tspace_find(cur->prev, dk->v[i], NULL);
			if (k >= 0)
				sl[i].prev = (uint32_t)k + 1;
		}
	/* Each candidate was marked dirty: its key is among dk. */
	for (size_t i = 0; i < cur->el->n; i++) {
		uint64_t key = cur->el->v[i].key;
		size_t lo = 0, hi = dk->n;
		while (lo < hi) {
			size_t m = lo + (hi - lo) / 2;
			if (dk->v[m] < key)
				lo = m + 1;
			else
				hi = m;
		}
		if (lo < dk->n && dk->v[lo] == key)
			sl[lo].esc = (uint32_t)i + 1;
	}
	return RN_OK;
}

int rpass_space_inc(struct rpass *r, unsigned space)
{
	struct scoring_engine *e = r->e;
	struct rinc *ri = &e->inc;
	rpass_space_begin(r, space);
	const struct rcur *cur = &r->cur;
	int rc = RN_OK;
	/* Escalation candidates are decided again too. */
	for (size_t i = 0; i < cur->el->n && rc == RN_OK; i++)
		rc = engine_dirty_mark(e, space, cur->el->v[i].key);
	if (rc != RN_OK)
		return rc;
	struct kvec *dk = &e->dirty[space];
	if ((rc = kvec_norm(ri, dk)) != RN_OK)
		return rc;
	if (dk->n > UINT32_MAX || (cur->prev != NULL && cur->prev->n >= UINT32_MAX))
		return -ERANGE;
	if (dk->n > r->inc_max)
		r->inc_max = dk->n;
	/* Room for everything the previous space had and every dirty key: no regrowth. */
	if (cur->prev != NULL || dk->n > 0) {
		rc = tbuilder_reserve(&r->b, cur->family, cur->plen,
		                      (cur->prev ? cur->prev->n : 0) + dk->n);
		if (rc != RN_OK)
			return rc;
	}
	if (dk->n == 0) {
		if (cur->prev != NULL)
			rc = tbuilder_copy(&r->b, e->cur, cur->prev, 0, cur->prev->n);
	} else {
		rc = grow((void **)&ri->slots, &ri->capslots, dk->n, sizeof(*ri->slots));
		if (rc == RN_OK)
			rc = inc_slots(r, space, dk, ri->slots);
		if (rc == RN_OK)
			rc = inc_offences(r, space, dk, ri->slots);
		/* Decided in key order, collected, then merged with the previous space. */
		r->collect = true;
		r->chg.n = 0;
		for (size_t i = 0; i < dk->n && rc == RN_OK; i++)
			rc = rpass_decide(r, dk->v[i], &ri->slots[i]);
		r->collect = false;
		if (rc == RN_OK)
			rc = merge_changes(r);
	}
	if (rc == RN_OK && cur->esc_thr > 0) {
		rc = kvec_norm(ri, &e->dirty[space_index(cur->family, cur->esc_plen)]);
		if (rc == RN_OK)
			rc = escalate_inc(r, dk);
	}
	return rc;
}

int rpass_mark_due(struct rpass *r)
{
	struct scoring_engine *e = r->e;
	const struct scoring_table *t = e->cur;
	int64_t half[ENGINE_OFF_MAX + 1];
	for (unsigned o = 0; o <= ENGINE_OFF_MAX; o++)
		half[o] = engine_ttl(&e->conf, o ? o : 1) / 2;
	/*
	 * Listings share few expiries (classes): per class, the offence counts
	 * (0 .. ENGINE_OFF_MAX, one bit each) for which a listing of it is due.
	 * When no class is due at any count, no listing is and nothing is walked.
	 */
	_Static_assert(ENGINE_OFF_MAX < 8, "one byte of offence counts per class");
	uint8_t *due = malloc(t->ncls ? t->ncls : 1);
	if (due == NULL)
		return -ENOMEM;
	bool any = false;
	for (size_t c = 0; c < t->ncls; c++) {
		due[c] = 0;
		for (unsigned o = 0; o <= ENGINE_OFF_MAX; o++)
			if (t->cls[c].expires_ms - r->t < half[o])
				due[c] |= (uint8_t)(1u << o);
		any |= due[c] != 0;
	}
	int rc = RN_OK;
	for (size_t si = 0; any && si < t->nsp && rc == RN_OK; si++) {
		const struct tspace *s = &t->sp[si];
		unsigned space = space_index(s->family, s->plen);
		uint32_t hi = 0;
		for (size_t i = 0; i < s->n && rc == RN_OK; i++) {
			uint8_t d = due[tspace_cls(s, i)];
			if (d == 0)
				continue;
			unsigned o = t->rich ? s->offences[i] : 0;
			if (!((d >> (o > ENGINE_OFF_MAX ? ENGINE_OFF_MAX : o)) & 1))
				continue;
			if (s->family == RN_AF_INET)
				hi = tspace_hi_of(s, i, hi);
			rc = engine_dirty_mark(e, space, tspace_key(s, i, hi));
		}
	}
	free(due);
	return rc;
}
