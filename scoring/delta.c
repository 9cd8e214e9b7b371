/*
 * delta.c: deltas between blocklist tables: diff and apply.
 *
 * Design notes: a delta is two lists of listings (family, length, key,
 * category, expiry), removals and additions, each sorted in that order; a
 * renewal is a removal and an addition of the same listing with another
 * expiry. Diffing walks two tables space by space in key order. Applying
 * merges the delta with the old table space by space into a new table,
 * strictly (a removed listing must be there with its expiry, an added one
 * must not), and takes the digest from the old one and the delta alone.
 * Deltas are immutable once built; any thread may read one it holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/protect.h"
#include "scoring/table.h"

/* ---- deltas ------------------------------------------------------------------ */

int dlist_push(struct dlist *l, unsigned family, unsigned plen, uint64_t key, unsigned cat,
               int64_t expires_ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dtuple *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct dtuple){.key = key,
	                               .expires_ms = expires_ms,
	                               .family = (uint8_t)family,
	                               .plen = (uint8_t)plen,
	                               .cat = (uint8_t)cat};
	return RN_OK;
}

void dlist_release(struct dlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int dlist_append(struct dlist *a, struct dlist *b)
{
	if (b->n == 0)
		return RN_OK;
	if (a->n == 0) {
		dlist_release(a);
		*a = *b;
		memset(b, 0, sizeof(*b));
		return RN_OK;
	}
	if (a->cap < a->n + b->n) {
		struct dtuple *v = realloc(a->v, (a->n + b->n) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		a->v = v;
		a->cap = a->n + b->n;
	}
	memcpy(a->v + a->n, b->v, b->n * sizeof(*b->v));
	a->n += b->n;
	dlist_release(b);
	return RN_OK;
}

int dtuple_cmp(const struct dtuple *a, const struct dtuple *b)
{
	unsigned x = space_index(a->family, a->plen), y = space_index(b->family, b->plen);
	if (x != y)
		return x < y ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->cat != b->cat)
		return a->cat < b->cat ? -1 : 1;
	return 0;
}

void dtuple_listing(const struct dtuple *t, struct scoring_listing *out)
{
	key_to_prefix(t->family, t->plen, t->key, &out->prefix);
	out->category = t->cat;
	out->expires_ms = t->expires_ms;
}

void scoring_delta_free(struct scoring_delta *d)
{
	if (d == NULL)
		return;
	dlist_release(&d->add);
	dlist_release(&d->del);
	free(d);
}

size_t scoring_delta_added(const struct scoring_delta *d)
{
	return d->add.n;
}

size_t scoring_delta_removed(const struct scoring_delta *d)
{
	return d->del.n;
}

bool scoring_delta_empty(const struct scoring_delta *d)
{
	return d->add.n == 0 && d->del.n == 0;
}

void scoring_delta_get_added(const struct scoring_delta *d, size_t i, struct scoring_listing *out)
{
	dtuple_listing(&d->add.v[i], out);
}

void scoring_delta_get_removed(const struct scoring_delta *d, size_t i, struct scoring_listing *out)
{
	dtuple_listing(&d->del.v[i], out);
}

/* One entry's change: listings removed then added. */
static int diff_entry(struct scoring_delta *d, unsigned family, unsigned plen, uint64_t key,
                      uint32_t cats_o, int64_t exp_o, uint32_t cats_n, int64_t exp_n)
{
	int rc = RN_OK;
	for (uint32_t m = cats_o; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_n & (1u << c)) || exp_n != exp_o)
			rc = dlist_push(&d->del, family, plen, key, c, exp_o);
	}
	for (uint32_t m = cats_n; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_o & (1u << c)) || exp_n != exp_o)
			rc = dlist_push(&d->add, family, plen, key, c, exp_n);
	}
	return rc;
}

int scoring_delta_diff(const struct scoring_table *old, const struct scoring_table *new_,
                       struct scoring_delta **out)
{
	struct scoring_delta *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	int rc = RN_OK;
	size_t a = 0, b = 0;
	while (a < old->nsp || b < new_->nsp) {
		const struct tspace *sa = a < old->nsp ? &old->sp[a] : NULL;
		const struct tspace *sb = b < new_->nsp ? &new_->sp[b] : NULL;
		unsigned ia = sa ? space_index(sa->family, sa->plen) : SPACE_COUNT;
		unsigned ib = sb ? space_index(sb->family, sb->plen) : SPACE_COUNT;
		if (ia != ib) {
			/* A space only one side has. */
			const struct scoring_table *t = ia < ib ? old : new_;
			const struct tspace *s = ia < ib ? sa : sb;
			uint32_t hi = 0;
			for (size_t i = 0; i < s->n && rc == RN_OK; i++) {
				if (s->family == RN_AF_INET)
					hi = tspace_hi_of(s, i, hi);
				const struct tcls *c = &t->cls[tspace_cls(s, i)];
				uint64_t key = tspace_key(s, i, hi);
				rc = ia < ib ? diff_entry(d, s->family, s->plen, key, c->cats,
				                          c->expires_ms, 0, 0)
				             : diff_entry(d, s->family, s->plen, key, 0, 0, c->cats,
				                          c->expires_ms);
			}
			if (ia < ib)
				a++;
			else
				b++;
			if (rc != RN_OK)
				goto fail;
			continue;
		}
		size_t i = 0, j = 0;
		uint32_t hia = 0, hib = 0;
		while ((i < sa->n || j < sb->n) && rc == RN_OK) {
			uint64_t ka = UINT64_MAX, kb = UINT64_MAX;
			if (i < sa->n) {
				if (sa->family == RN_AF_INET)
					hia = tspace_hi_of(sa, i, hia);
				ka = tspace_key(sa, i, hia);
			}
			if (j < sb->n) {
				if (sb->family == RN_AF_INET)
					hib = tspace_hi_of(sb, j, hib);
				kb = tspace_key(sb, j, hib);
			}
			uint32_t co = 0, cn = 0;
			int64_t eo = 0, en = 0;
			uint64_t key = ka < kb ? ka : kb;
			if (i < sa->n && ka == key) {
				const struct tcls *c = &old->cls[tspace_cls(sa, i)];
				co = c->cats;
				eo = c->expires_ms;
				i++;
			}
			if (j < sb->n && kb == key) {
				const struct tcls *c = &new_->cls[tspace_cls(sb, j)];
				cn = c->cats;
				en = c->expires_ms;
				j++;
			}
			rc = diff_entry(d, sa->family, sa->plen, key, co, eo, cn, en);
		}
		if (rc != RN_OK)
			goto fail;
		a++;
		b++;
	}
	*out = d;
	return RN_OK;
fail:
	scoring_delta_free(d);
	return rc;
}

static bool dlist_sorted(const struct dlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].cat == 0 || l->v[i].cat >= RN_CAT_COUNT)
			return false;
		if (i > 0 && dtuple_cmp(&l->v[i - 1], &l->v[i]) >= 0)
			return false;
	}
	return true;
}

/* Above this many classes in the old table, apply() rebuilds entry by entry. */
#define APPLY_SPAN_MAX_CLASSES 1024

int scoring_table_apply(const struct scoring_table *old, const struct scoring_delta *d,
                        const struct scoring_protect *protect, struct scoring_table **out)
{
	if (!dlist_sorted(&d->add) || !dlist_sorted(&d->del))
		return RN_EPARSE;
	struct tbuilder b;
	tbuilder_init(&b, false, old->dry_run);
	int rc = RN_OK;
	size_t si = 0, ai = 0, ri = 0;
	/*
	 * Spans of old entries the delta does not touch are copied whole, with
	 * their classes (and so their suppression, made under the same
	 * protection) unchanged: a small delta costs what its keys cost, not
	 * a pass over every entry. Seeding keeps old's classes, used or not;
	 * once they are many, a pass entry by entry drops the unused ones.
	 */
	bool spans = old->ncls <= APPLY_SPAN_MAX_CLASSES;
	if (spans && (rc = tbuilder_seed_classes(&b, old)) != RN_OK)
		goto fail;
	for (;;) {
		/* The next space any source has. */
		unsigned idx = SPACE_COUNT;
		if (si < old->nsp)
			idx = space_index(old->sp[si].family, old->sp[si].plen);
		if (ai < d->add.n) {
			unsigned x = space_index(d->add.v[ai].family, d->add.v[ai].plen);
			idx = x < idx ? x : idx;
		}
		if (ri < d->del.n) {
			unsigned x = space_index(d->del.v[ri].family, d->del.v[ri].plen);
			idx = x < idx ? x : idx;
		}
		if (idx == SPACE_COUNT)
			break;
		unsigned family = space_family(idx), plen = space_plen(idx);
		const struct tspace *s = NULL;
		if (si < old->nsp && space_index(old->sp[si].family, old->sp[si].plen) == idx)
			s = &old->sp[si++];
		size_t i = 0;
		uint32_t hi = 0;
		for (;;) {
			uint64_t key = UINT64_MAX;
			bool any = false;
			if (spans && s != NULL && i < s->n) {
				/* Copy up to the delta's next key in this space, or to the end. */
				size_t j = s->n;
				bool ha = ai < d->add.n && space_index(d->add.v[ai].family,
				                                       d->add.v[ai].plen) == idx;
				bool hd = ri < d->del.n && space_index(d->del.v[ri].family,
				                                       d->del.v[ri].plen) == idx;
				if (ha || hd) {
					uint64_t k = ha ? d->add.v[ai].key : UINT64_MAX;
					if (hd && d->del.v[ri].key < k)
						k = d->del.v[ri].key;
					j = tspace_lower_bound(s, k);
				}
				if (j > i) {
					if ((rc = tbuilder_copy(&b, old, s, i, j)) != RN_OK)
						goto fail;
					i = j;
				}
				if (i >= s->n && !ha && !hd)
					break;
			}
			if (s != NULL && i < s->n) {
				if (family == RN_AF_INET)
					hi = tspace_hi_of(s, i, hi);
				key = tspace_key(s, i, hi);
				any = true;
			}
			bool has_add = ai < d->add.n &&
			               space_index(d->add.v[ai].family, d->add.v[ai].plen) == idx;
			bool has_del = ri < d->del.n &&
			               space_index(d->del.v[ri].family, d->del.v[ri].plen) == idx;
			if (has_add && (!any || d->add.v[ai].key < key)) {
				key = d->add.v[ai].key;
				any = true;
			}
			if (has_del && (!any || d->del.v[ri].key < key)) {
				key = d->del.v[ri].key;
				any = true;
			}
			if (!any)
				break;
			uint32_t cats = 0;
			int64_t exp = 0;
			if (s != NULL && i < s->n && tspace_key(s, i, hi) == key) {
				const struct tcls *c = &old->cls[tspace_cls(s, i)];
				cats = c->cats;
				exp = c->expires_ms;
				i++;
			}
			for (; ri < d->del.n &&
			       space_index(d->del.v[ri].family, d->del.v[ri].plen) == idx &&
			       d->del.v[ri].key == key;
			     ri++) {
				const struct dtuple *t = &d->del.v[ri];
				if (!(cats & (1u << t->cat)) || t->expires_ms != exp) {
					rc = RN_ESTATE;
					goto fail;
				}
				cats &= ~(1u << t->cat);
			}
			for (; ai < d->add.n &&
			       space_index(d->add.v[ai].family, d->add.v[ai].plen) == idx &&
			       d->add.v[ai].key == key;
			     ai++) {
				const struct dtuple *t = &d->add.v[ai];
				if ((cats & (1u << t->cat)) ||
				    (cats != 0 && t->expires_ms != exp)) {
					rc = RN_ESTATE;
					goto fail;
				}
				cats |= 1u << t->cat;
				exp = t->expires_ms;
			}
			if (cats == 0)
				continue;
			uint32_t cf =
			        protect_range(protect, family, key, key_last(family, plen, key))
			                ? TCLS_SUPPRESSED
			                : 0;
			if ((rc = tbuilder_push(&b, family, plen, key, cats, exp, cf, NULL)) !=
			    RN_OK)
				goto fail;
		}
	}
	uint8_t digest[32];
	scoring_digest_after(old->digest, d, digest);
	return tbuilder_finish(&b, digest, out);
fail:
	tbuilder_release(&b);
	return rc;
}
