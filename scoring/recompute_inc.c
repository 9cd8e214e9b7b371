/*
 * recompute_inc.c: incremental passes of the recompute.
 *
 * Design notes: between full ticks (scoring.full_every), a pass decides
 * again only the keys that can have changed: those marked dirty (observed
 * since the last tick, or members of a set that aged out: engine.c marks
 * them), the listings due for renewal or expired (rpass_mark_due()), the
 * escalation candidates, and the escalation parents of all of those. The
 * merge runs over those keys alone: each set slice is probed for them
 * (one roaring iterator moving forward), so the work is proportional to
 * the dirty keys, not to the sets. The decisions are collected (struct
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

/* Sorts and deduplicates a space's dirty keys. */
static void kvec_norm(struct kvec *d)
{
	if (d->sorted || d->n < 2) {
		d->sorted = true;
		return;
	}
	qsort(d->v, d->n, sizeof(*d->v), cmp_u64);
	size_t k = 0;
	for (size_t i = 0; i < d->n; i++)
		if (k == 0 || d->v[k - 1] != d->v[i])
			d->v[k++] = d->v[i];
	d->n = k;
	d->sorted = true;
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

int rpass_space_inc(struct rpass *r, unsigned space)
{
	struct scoring_engine *e = r->e;
	rpass_space_begin(r, space);
	const struct rcur *cur = &r->cur;
	int rc = RN_OK;
	/* Escalation candidates are decided again too. */
	for (size_t i = 0; i < cur->el->n && rc == RN_OK; i++)
		rc = engine_dirty_mark(e, space, cur->el->v[i].key);
	if (rc != RN_OK)
		return rc;
	struct kvec *dk = &e->dirty[space];
	kvec_norm(dk);
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
		struct srcset ss = {0};
		rc = rpass_set_sources(r, space, dk, &ss);
		if (rc == RN_OK) {
			struct src *x = srcset_add(&ss);
			x->type = SRC_DIRTY;
			x->arr = dk->v;
			x->end = dk->n;
			src_load(x);
			if (cur->el->n > 0) {
				x = srcset_add(&ss);
				x->type = SRC_ESC;
				x->el = cur->el;
				src_load(x);
			}
			r->collect = true;
			r->chg.n = 0;
			rc = rpass_merge(r, &ss);
			r->collect = false;
		}
		srcset_release(&ss);
		if (rc == RN_OK)
			rc = merge_changes(r);
	}
	if (rc == RN_OK && cur->esc_thr > 0) {
		kvec_norm(&e->dirty[space_index(cur->family, cur->esc_plen)]);
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
