/*
 * recompute.c: the blocklist at a tick: the chunked merge of the sets, the
 * decisions, offences, escalation, and full passes.
 *
 * Design notes.
 *
 * The merge. Per address space, every set slice that still counts is a
 * sorted source of keys with a weight (struct src); so are the previous
 * blocklist's entries (for hysteresis and TTL) and the prefixes that
 * escalation produced. A min-heap orders the sources by chunk (key >>
 * CHUNK_BITS); each chunk's keys from every source accumulate into a
 * dense array of CSIZE slots (struct rslot: score, kinds seen, first and
 * last observation of the sets seen, previous entry, escalation
 * candidate) that stays in cache, and the touched slots are then decided
 * in key order. The work is proportional to the sets' total size plus the
 * previous blocklist; no address is ever probed against a set it is not
 * in, and no union of the sets is ever built. The decisions stream
 * straight into the new table and the delta, and the digest is updated
 * from the delta.
 *
 * Decisions, for an address with score s and kinds K at tick t:
 *   - protected: never listed (a previous listing is removed);
 *   - K may list when some kind in K has a category, and K has two kinds
 *     or one that may list alone;
 *   - listed before: renewed while s >= delist_threshold and K may list
 *     (the expiry moves to quantize(t + ttl) once less than half the TTL
 *     is left); otherwise kept, unchanged, until it expires;
 *   - not listed before: listed when s >= threshold and K may list; its
 *     offence count (bit-sliced per space, halved every offence_decay)
 *     grows by one and the TTL is ttl * ttl_growth^(offences-1), capped;
 *   - escalation: a /24 (/48) with escalate_v4 (v6) listed members is
 *     listed too, unless it overlaps a protected range, a configured CGNAT
 *     range, RFC 6598 or a shared pool. Host spaces are decided first, so
 *     that the candidates are known when their space is merged.
 *
 * Offences. Each space has a 3-slice bit-sliced counter of how often a
 * key was listed anew; it is kept after delisting and halved once per
 * offence_decay period (engine_off_decay(), at each tick).
 *
 * Incremental passes (recompute_inc.c) decide only the keys that can have
 * changed, with the same decisions (rpass_decide()) over slots of their
 * own: the sets are probed for those keys, not merged.
 *
 * State (recompute.h). A pass (struct rpass) lives for one tick and owns
 * what it builds: the table builder, each space's part of the delta and
 * its escalation candidates (struct rspace), an incremental pass's
 * decisions. The chunk accumulator (struct rchunk) is the engine's,
 * allocated at its first tick and kept: its touched bits are all clear
 * between chunks, so between ticks too. Nothing is allocated per key but
 * the amortised growth of the output lists, and the builder's spaces are
 * reserved ahead.
 *
 * Threading: none; the thread that owns the engine runs the pass.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/protect.h"
#include "scoring/recompute.h"

#ifndef CHUNK_BITS
#define CHUNK_BITS 16
#endif
#define CSIZE (1u << CHUNK_BITS)

/* ---- the chunk ------------------------------------------------------------------- */

/* What an incremental pass records for a key it delists. */
static const struct rlisting not_listed;

/* ---- offences ------------------------------------------------------------------- */

unsigned engine_off_get(const struct scoring_engine *e, unsigned space, uint64_t key)
{
	unsigned c = 0;
	for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++)
		if (e->off[space][j] != NULL && keyset_contains(e->off[space][j], key))
			c |= 1u << j;
	return c;
}

/* Sets key's offence count from was to now. */
static int off_set(struct scoring_engine *e, unsigned space, uint64_t key, unsigned was,
                   unsigned now)
{
	unsigned diff = was ^ now; /* see set_count_add() in engine.c on why XOR */
	for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++) {
		if (!((diff >> j) & 1))
			continue;
		if (e->off[space][j] == NULL && (e->off[space][j] = keyset_new()) == NULL)
			return -ENOMEM;
		if ((now >> j) & 1) {
			int rc = keyset_add(e->off[space][j], key);
			if (rc < 0)
				return rc;
		} else {
			keyset_remove(e->off[space][j], key);
		}
	}
	return RN_OK;
}

void engine_off_decay(struct scoring_engine *e, int64_t t)
{
	int64_t p = floor_div(t, e->conf.offence_decay_ms);
	if (e->off_period == INT64_MIN || p <= e->off_period) {
		if (e->off_period == INT64_MIN)
			e->off_period = p;
		return;
	}
	int64_t shifts = p - e->off_period;
	e->off_period = p;
	if (shifts > ENGINE_OFF_SLICES)
		shifts = ENGINE_OFF_SLICES;
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		for (int64_t k = 0; k < shifts; k++) {
			keyset_free(e->off[s][0]);
			for (unsigned j = 0; j + 1 < ENGINE_OFF_SLICES; j++)
				e->off[s][j] = e->off[s][j + 1];
			e->off[s][ENGINE_OFF_SLICES - 1] = NULL;
		}
	}
}

/* ---- sources and the merge ------------------------------------------------------ */

static inline uint64_t src_chunk(const struct src *s)
{
	return s->key >> CHUNK_BITS;
}

static void src_load(struct src *s)
{
	switch (s->type) {
	case SRC_SET:
		s->done = !keyset_iter_peek(&s->it, &s->key);
		break;
	case SRC_PREV:
		if (s->pi >= s->ps->n) {
			s->done = true;
			break;
		}
		if (s->ps->family == RN_AF_INET)
			s->phi = tspace_hi_of(s->ps, s->pi, s->phi);
		s->key = tspace_key(s->ps, s->pi, s->phi);
		break;
	case SRC_ESC:
		if (s->pi >= s->el->n)
			s->done = true;
		else
			s->key = s->el->v[s->pi].key;
		break;
	}
}

static struct src *srcset_add(struct srcset *ss)
{
	struct src *x = &ss->v[ss->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

static void srcset_release(struct srcset *ss)
{
	free(ss->v);
	memset(ss, 0, sizeof(*ss));
}

struct heap {
	struct src **v;
	size_t n;
};

static void heap_down(struct heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && src_chunk(h->v[l]) < src_chunk(h->v[m]))
			m = l;
		if (r < h->n && src_chunk(h->v[r]) < src_chunk(h->v[m]))
			m = r;
		if (m == i)
			return;
		struct src *t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static inline struct rslot *touch(struct rchunk *ch, uint32_t i)
{
	struct rslot *sl = &ch->slots[i];
	uint64_t bit = 1ull << (i & 63);
	if (!(ch->bits[i >> 6] & bit)) {
		ch->bits[i >> 6] |= bit;
		ch->touched[ch->n++] = i;
		rslot_clear(sl);
	}
	return sl;
}

/* Adds what one set gives key (its weight, its kind, its observations) to key's slot. */
static inline void slot_add(struct rchunk *ch, uint64_t key, uint64_t w, uint64_t bit,
                            int64_t first, int64_t last)
{
	rslot_add(touch(ch, (uint32_t)(key & (CSIZE - 1))), w, bit, first, last);
}

/* Feeds one source's keys of chunk c into the slots. */
static void src_consume(struct rpass *r, struct src *s, uint64_t c)
{
	switch (s->type) {
	case SRC_SET: {
		uint64_t w = s->w, bit = 1ull << s->bit;
		int64_t first = s->first, last = s->last;
		struct keyset_iter *it = &s->it;
		for (;;) {
			uint64_t key = it->hi | it->buf[it->pos];
			if (key >> CHUNK_BITS != c) {
				s->key = key;
				return;
			}
			slot_add(&r->ch, key, w, bit, first, last);
			keyset_iter_next(it);
			if (it->done) {
				s->done = true;
				return;
			}
		}
	}
	case SRC_PREV:
	case SRC_ESC:
		while (!s->done && src_chunk(s) == c) {
			struct rslot *sl = touch(&r->ch, (uint32_t)(s->key & (CSIZE - 1)));
			if (s->type == SRC_PREV)
				sl->prev = (uint32_t)s->pi + 1;
			else
				sl->esc = (uint32_t)s->pi + 1;
			s->pi++;
			src_load(s);
		}
		return;
	}
}

/* ---- decisions -------------------------------------------------------------------- */

/* The listings a key loses and gains, into the delta and the digest. */
static int push_delta(struct rpass *r, uint64_t key, const struct rlisting *was,
                      const struct rlisting *now)
{
	struct rspace *sp = &r->sp[r->cur.space];
	unsigned family = r->cur.family, plen = r->cur.plen;
	uint32_t cats_o = was->cats, cats_n = now->listed ? now->cats : 0;
	int64_t exp_o = was->exp, exp_n = now->listed ? now->exp : 0;
	int rc = RN_OK;
	for (uint32_t m = cats_o; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_n & (1u << c)) || exp_n != exp_o) {
			rc = dlist_push(&sp->del, family, plen, key, c, exp_o);
			digest_tuple(r->lanes, family, plen, c, exp_o, key, -1);
		}
	}
	for (uint32_t m = cats_n; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_o & (1u << c)) || exp_n != exp_o) {
			rc = dlist_push(&sp->add, family, plen, key, c, exp_n);
			digest_tuple(r->lanes, family, plen, c, exp_n, key, 1);
		}
	}
	return rc;
}

static uint32_t cats_of(const struct scoring_engine *e, uint64_t kmask)
{
	uint32_t cats = 0;
	for (uint64_t m = kmask & e->cat_kinds; m != 0; m &= m - 1)
		cats |= 1u << e->kinds[e->bit_kind[__builtin_ctzll(m)]].category;
	return cats;
}

int esc_push(struct esclist *l, const struct esc *x)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct esc *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *x;
	return RN_OK;
}

/* Ends the parent being counted: a candidate of its space when enough members are listed. */
static int esc_finish(struct rpass *r)
{
	struct rcur *cur = &r->cur;
	struct escacc *a = &cur->acc;
	if (!a->active)
		return RN_OK;
	a->active = false;
	if (a->count < (uint64_t)cur->esc_thr)
		return RN_OK;
	unsigned fam = cur->family;
	uint64_t last = key_last(fam, cur->esc_plen, a->parent);
	if (protect_range(r->e->protect, fam, a->parent, last) ||
	    protect_range(r->e->noesc, fam, a->parent, last))
		return RN_OK;
	a->x.key = a->parent;
	return esc_push(&r->sp[space_index(fam, cur->esc_plen)].esc, &a->x);
}

/* Counts a listed key toward its parent; first and last are its observations (ms). */
static int esc_note(struct rpass *r, uint64_t key, const struct rlisting *now, int64_t first,
                    int64_t last)
{
	uint32_t cats = now->cats & ESC_CATS;
	if (cats == 0)
		return RN_OK; /* says nothing of its neighbours */
	struct rcur *cur = &r->cur;
	uint64_t parent = key & key_mask(cur->family, cur->esc_plen);
	struct escacc *a = &cur->acc;
	if (a->active && a->parent != parent) {
		int rc = esc_finish(r);
		if (rc != RN_OK)
			return rc;
	}
	if (!a->active) {
		memset(a, 0, sizeof(*a));
		a->active = true;
		a->parent = parent;
		a->x.first = INT64_MAX;
		a->x.last = INT64_MIN;
	}
	a->count++;
	a->x.cats |= cats;
	if (now->exp > a->x.exp)
		a->x.exp = now->exp;
	if (now->rich.score > a->x.score)
		a->x.score = now->rich.score;
	if (first < a->x.first)
		a->x.first = first;
	if (last > a->x.last)
		a->x.last = last;
	return RN_OK;
}

static inline uint32_t to_s(int64_t ms)
{
	if (ms <= 0)
		return 0;
	int64_t s = ms / 1000;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static int chg_push(struct chglist *l, uint64_t key, size_t prev, const struct rlisting *now)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct chg *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct chg *c = &l->v[l->n++];
	c->key = key;
	c->prev = prev;
	c->now = *now;
	return RN_OK;
}

int rpass_decide(struct rpass *r, uint64_t key, const struct rslot *sl)
{
	struct scoring_engine *e = r->e;
	const struct scoring_conf *c = &e->conf;
	const struct rcur *cur = &r->cur;
	unsigned fam = cur->family, plen = cur->plen;
	int64_t t = r->t;
	bool has_prev = sl->prev != 0;
	const struct esc *es = sl->esc ? &cur->el->v[sl->esc - 1] : NULL;
	/* Real time: an address that reached the threshold at the time of a late event. */
	const struct late *lt = NULL;
	if (!has_prev && sl->score < r->T && e->lq.n > 0)
		lt = engine_late_find(e, cur->space, key);

	/* Most candidates: never listed, not enough. */
	if (!has_prev && es == NULL && lt == NULL && sl->score < r->T)
		return RN_OK;

	struct rlisting was = {0}, now = {0};
	if (has_prev) {
		size_t pi = sl->prev - 1;
		const struct tcls *pc = &e->cur->cls[tspace_cls(cur->prev, pi)];
		was.listed = true;
		was.cats = pc->cats;
		was.exp = pc->expires_ms;
		if (e->cur->rich) {
			was.rich.score = cur->prev->score[pi];
			was.rich.first_s = cur->prev->first_s[pi];
			was.rich.last_s = cur->prev->last_s[pi];
			was.rich.offences = cur->prev->offences[pi];
			was.rich.flags = cur->prev->flags[pi];
		}
	}
	uint64_t last_key = key_last(fam, plen, key);
	bool prot = protect_range(e->protect, fam, key, last_key);
	bool elig = (sl->kmask & e->cat_kinds) != 0 &&
	            (__builtin_popcountll(sl->kmask) >= 2 || (sl->kmask & e->alone_kinds) != 0);
	int rc;

	if (!prot) {
		if (has_prev) {
			if (sl->score >= r->D && elig) {
				unsigned o = was.rich.offences ? was.rich.offences : 1;
				int64_t ttl = engine_ttl(c, o);
				now.listed = true;
				now.cats = cats_of(e, sl->kmask);
				now.exp = was.exp;
				if (now.exp - t < ttl / 2)
					now.exp = engine_quantize(c, t + ttl);
				now.rich.offences = was.rich.offences;
			} else if (was.exp > t) {
				now.listed = true;
				now.cats = was.cats;
				now.exp = was.exp;
				now.rich.offences = was.rich.offences;
				if (was.rich.flags & SCORING_F_ESCALATED) {
					if (protect_range(e->noesc, fam, key, last_key))
						now.listed = false;
					else
						now.rich.flags |= SCORING_F_ESCALATED;
				}
			}
		} else if ((sl->score >= r->T && elig) ||
		           (lt != NULL && engine_quantize(c, lt->ts + engine_ttl(c, 1)) > t)) {
			/* Listed from the time it reached the threshold: now, or a late event's. */
			int64_t at = lt != NULL ? lt->ts : t;
			unsigned off =
			        sl->off != 0 ? sl->off - 1u : engine_off_get(e, cur->space, key);
			unsigned o = off < ENGINE_OFF_MAX ? off + 1 : ENGINE_OFF_MAX;
			if ((rc = off_set(e, cur->space, key, off, o)) != RN_OK)
				return rc;
			now.listed = true;
			now.cats = cats_of(e, sl->kmask | (lt != NULL ? lt->kmask : 0));
			now.exp = engine_quantize(c, at + engine_ttl(c, o));
			if (now.exp <= t)
				now.exp = engine_quantize(c, t + 1);
			now.rich.offences = (uint8_t)o;
		}
		if (es != NULL) {
			if (now.listed) {
				now.cats |= es->cats;
				if (es->exp > now.exp)
					now.exp = es->exp;
			} else {
				now.listed = true;
				now.cats = es->cats;
				now.exp = es->exp;
			}
			now.rich.flags |= SCORING_F_ESCALATED;
		}
	}
	if ((rc = push_delta(r, key, &was, &now)) != RN_OK)
		return rc;
	if (!now.listed)
		return r->collect && has_prev ? chg_push(&r->chg, key, sl->prev, &not_listed)
		                              : RN_OK;

	int64_t first = INT64_MAX, last = INT64_MIN;
	if (sl->kmask != 0) {
		first = sl->first;
		last = sl->last;
	}
	if (has_prev) {
		if ((int64_t)was.rich.first_s * 1000 < first)
			first = (int64_t)was.rich.first_s * 1000;
		if ((int64_t)was.rich.last_s * 1000 > last)
			last = (int64_t)was.rich.last_s * 1000;
	}
	uint64_t score = sl->score;
	if (es != NULL) {
		if (es->first < first)
			first = es->first;
		if (es->last > last)
			last = es->last;
		if (es->score > score)
			score = es->score;
	}
	now.rich.score = score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
	now.rich.first_s = to_s(first);
	now.rich.last_s = to_s(last);
	if (r->collect)
		return chg_push(&r->chg, key, sl->prev, &now);
	if ((rc = tbuilder_push(&r->b, fam, plen, key, now.cats, now.exp, 0, &now.rich)) != RN_OK)
		return rc;
	if (cur->esc_thr > 0)
		rc = esc_note(r, key, &now, first, last);
	return rc;
}

/* Decides every touched slot of chunk c, in key order, and clears them. */
static int decide_chunk(struct rpass *r, uint64_t c)
{
	struct rchunk *ch = &r->ch;
	int rc = RN_OK;
	if (ch->n <= 32) {
		/* Insertion sort: a chunk touches a handful of slots when the data is sparse. */
		uint32_t *v = ch->touched;
		for (size_t i = 1; i < ch->n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			for (; j > 0 && v[j - 1] > x; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		for (size_t i = 0; i < ch->n && rc == RN_OK; i++) {
			uint32_t k = ch->touched[i];
			rc = rpass_decide(r, c << CHUNK_BITS | k, &ch->slots[k]);
		}
		for (size_t i = 0; i < ch->n; i++)
			ch->bits[ch->touched[i] >> 6] &= ~(1ull << (ch->touched[i] & 63));
	} else {
		for (uint32_t w = 0; w < CSIZE / 64; w++) {
			uint64_t bits = ch->bits[w];
			ch->bits[w] = 0;
			while (bits != 0 && rc == RN_OK) {
				uint32_t k = w * 64 + (uint32_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				rc = rpass_decide(r, c << CHUNK_BITS | k, &ch->slots[k]);
			}
		}
		if (rc != RN_OK)
			memset(ch->bits, 0, CSIZE / 8);
	}
	ch->n = 0;
	return rc;
}

/* ---- passes over a space ---------------------------------------------------------- */

void rpass_space_begin(struct rpass *r, unsigned space)
{
	struct scoring_engine *e = r->e;
	struct rcur *cur = &r->cur;
	unsigned fam = space_family(space), plen = space_plen(space);
	cur->space = space;
	cur->family = fam;
	cur->plen = plen;
	cur->prev = table_space(e->cur, fam, plen);
	cur->el = &r->sp[space].esc;
	cur->esc_thr = 0;
	memset(&cur->acc, 0, sizeof(cur->acc));
	if (fam == RN_AF_INET && plen == 32 && e->conf.escalate_v4 > 0) {
		cur->esc_thr = e->conf.escalate_v4;
		cur->esc_plen = 24;
	} else if (fam == RN_AF_INET6 && plen == (unsigned)e->conf.ipv6_prefix && plen > 48 &&
	           e->conf.escalate_v6 > 0) {
		cur->esc_thr = e->conf.escalate_v6;
		cur->esc_plen = 48;
	}
}

/*
 * The chunked merge of ss's sources: decides every key they touch, in key
 * order, into the builder and the delta.
 */
static int rpass_merge(struct rpass *r, struct srcset *ss)
{
	struct src **hv = calloc(ss->n ? ss->n : 1, sizeof(*hv));
	if (hv == NULL)
		return -ENOMEM;
	struct heap h = {.v = hv, .n = 0};
	for (size_t i = 0; i < ss->n; i++)
		if (!ss->v[i].done)
			hv[h.n++] = &ss->v[i];
	for (size_t i = h.n / 2 + 1; i-- > 0;)
		heap_down(&h, i);
	int rc = RN_OK;
	while (h.n > 0 && rc == RN_OK) {
		uint64_t c = src_chunk(h.v[0]);
		while (h.n > 0 && src_chunk(h.v[0]) == c) {
			struct src *x = h.v[0];
			src_consume(r, x, c);
			if (x->done)
				h.v[0] = h.v[--h.n];
			heap_down(&h, 0);
		}
		rc = decide_chunk(r, c);
	}
	free(hv);
	return rc;
}

/*
 * The set slices of space that count at r->t, as sources into ss (empty on
 * entry; the caller releases it, also on failure). Room is left for two
 * more sources.
 */
static int rpass_set_sources(struct rpass *r, unsigned space, struct srcset *ss)
{
	struct scoring_engine *e = r->e;
	size_t cap = 2;
	for (size_t i = 0; i < e->nsets; i++)
		if (e->sets[i]->space == space)
			cap += e->sets[i]->nslices;
	if ((ss->v = calloc(cap, sizeof(*ss->v))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < e->nsets; i++) {
		struct rset *s = e->sets[i];
		if (s->space != space)
			continue;
		uint32_t unit =
		        engine_unit(&e->kinds[s->kind], (s->bucket + 1) * e->conf.bucket_ms, r->t);
		if (unit == 0)
			continue;
		for (unsigned j = 0; j < s->nslices; j++) {
			struct keyset *ks = s->slice[j];
			if (keyset_card(ks) == 0)
				continue;
			int rc = keyset_prepare(ks);
			if (rc != RN_OK)
				return rc;
			struct src *x = srcset_add(ss);
			x->type = SRC_SET;
			x->bit = e->kinds[s->kind].bit;
			x->first = s->first_ms;
			x->last = s->last_ms;
			x->w = (uint64_t)unit << j;
			keyset_iter_init(&x->it, ks);
			src_load(x);
			if (x->done)
				ss->n--;
		}
	}
	return RN_OK;
}

/* A full pass over one address space. */
static int space_run(struct rpass *r, unsigned space)
{
	struct srcset ss = {0};
	rpass_space_begin(r, space);
	const struct rcur *cur = &r->cur;
	int rc = RN_OK;
	if (cur->prev != NULL) {
		/* Most of the previous listings stay: start with room for them and a tenth more. */
		rc = tbuilder_reserve(&r->b, cur->family, cur->plen,
		                      cur->prev->n + cur->prev->n / 10 + 64);
		if (rc != RN_OK)
			return rc;
	}
	rc = rpass_set_sources(r, space, &ss);
	if (rc == RN_OK && cur->prev != NULL) {
		struct src *x = srcset_add(&ss);
		x->type = SRC_PREV;
		x->ps = cur->prev;
		src_load(x);
	}
	if (rc == RN_OK && cur->el->n > 0) {
		struct src *x = srcset_add(&ss);
		x->type = SRC_ESC;
		x->el = cur->el;
		src_load(x);
	}
	if (rc == RN_OK)
		rc = rpass_merge(r, &ss);
	if (rc == RN_OK && cur->esc_thr > 0)
		rc = esc_finish(r);
	srcset_release(&ss);
	return rc;
}

/* ---- the recompute ------------------------------------------------------------------ */

/* Allocates the engine's chunk accumulator, once. */
static int rchunk_alloc(struct rchunk *ch)
{
	if (ch->slots != NULL)
		return RN_OK;
	ch->slots = malloc(CSIZE * sizeof(*ch->slots));
	ch->bits = calloc(CSIZE / 64, sizeof(*ch->bits));
	ch->touched = malloc(CSIZE * sizeof(*ch->touched));
	ch->n = 0;
	if (ch->slots == NULL || ch->bits == NULL || ch->touched == NULL) {
		rchunk_release(ch);
		return -ENOMEM;
	}
	return RN_OK;
}

void rchunk_release(struct rchunk *ch)
{
	free(ch->slots);
	free(ch->bits);
	free(ch->touched);
	memset(ch, 0, sizeof(*ch));
}

static void rpass_free(struct rpass *r)
{
	for (unsigned i = 0; i < SPACE_COUNT; i++) {
		dlist_release(&r->sp[i].add);
		dlist_release(&r->sp[i].del);
		free(r->sp[i].esc.v);
	}
	free(r->chg.v);
	tbuilder_release(&r->b);
	free(r);
}

/*
 * A full pass decides every key of every set; an incremental one decides
 * the dirty keys and copies the rest, which reaches the same decisions
 * (listings, categories, expiries) because nothing else can have changed:
 * scores only fall without new observations, a listing's fate only
 * changes at its renewal window or expiry, and a key whose set aged out
 * was marked dirty when the set was dropped. Only the rich columns of
 * untouched entries (score, last seen; first seen, when a late event moved
 * a set's first observation earlier) are left as they were until the next
 * full pass.
 */
int engine_recompute(struct scoring_engine *e, int64_t t, bool full, struct scoring_table **out_t,
                     struct scoring_delta **out_d)
{
	struct rpass *r = calloc(1, sizeof(*r));
	struct scoring_delta *d = NULL;
	int rc;
	if (r == NULL)
		return -ENOMEM;
	r->e = e;
	r->t = t;
	r->T = (uint64_t)llround(e->conf.threshold * SCORING_SCALE);
	r->D = (uint64_t)llround(e->conf.delist_threshold * SCORING_SCALE);
	tbuilder_init(&r->b, true, e->conf.dry_run);
	if (e->retired != NULL &&
	    atomic_load_explicit(&e->retired->refs, memory_order_acquire) == 1) {
		tbuilder_reuse(&r->b, e->retired); /* nobody reads it any more */
		e->retired = NULL;
	}
	digest_load(e->cur->digest, r->lanes);
	if ((rc = rchunk_alloc(&e->chunk)) != RN_OK)
		goto fail;
	r->ch = e->chunk;
	if (!full && ((rc = tbuilder_seed_classes(&r->b, e->cur)) != RN_OK ||
	              (rc = rpass_mark_due(r)) != RN_OK))
		goto fail;

	for (size_t i = 0; i < e->nsets; i++)
		r->sp[e->sets[i]->space].need = true;
	for (size_t i = 0; i < e->cur->nsp; i++)
		r->sp[space_index(e->cur->sp[i].family, e->cur->sp[i].plen)].need = true;
	for (unsigned s = 0; !full && s < SPACE_COUNT; s++)
		if (e->dirty[s].n > 0)
			r->sp[s].need = true;

	/* Hosts first: they feed escalation. */
	unsigned h4 = space_index(RN_AF_INET, 32);
	unsigned h6 = space_index(RN_AF_INET6, (unsigned)e->conf.ipv6_prefix);
	unsigned order[SPACE_COUNT], no = 0;
	order[no++] = h4;
	order[no++] = h6;
	for (unsigned s = 0; s < SPACE_COUNT; s++)
		if (s != h4 && s != h6)
			order[no++] = s;
	for (unsigned i = 0; i < no; i++) {
		unsigned s = order[i];
		bool host = s == h4 || s == h6;
		/* An incremental host pass escalates from what the target space has dirty too. */
		if (!r->sp[s].need && r->sp[s].esc.n == 0 &&
		    !(!full && host && (e->conf.escalate_v4 > 0 || e->conf.escalate_v6 > 0)))
			continue;
		rc = full ? space_run(r, s) : rpass_space_inc(r, s);
		if (rc != RN_OK)
			goto fail;
		/* Escalation may have marked keys of later spaces. */
		for (unsigned k = 0; !full && k < SPACE_COUNT; k++)
			if (e->dirty[k].n > 0)
				r->sp[k].need = true;
	}

	/* After a burst (a large set aged out), the incremental arrays are not kept that large. */
	if (e->inc.capslots > (1u << 16) && r->inc_max * 4 < e->inc.capslots)
		rinc_release(&e->inc);

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		if ((rc = dlist_append(&d->add, &r->sp[s].add)) != RN_OK ||
		    (rc = dlist_append(&d->del, &r->sp[s].del)) != RN_OK)
			goto fail;
	}
	uint8_t digest[32];
	digest_store(r->lanes, digest);
	rc = tbuilder_finish(&r->b, digest, out_t);
	if (rc != RN_OK)
		goto fail;
	*out_d = d;
	rpass_free(r);
	return RN_OK;
fail:
	if (e->chunk.bits != NULL)
		memset(e->chunk.bits, 0, CSIZE / 8);
	scoring_delta_free(d);
	rpass_free(r);
	return rc;
}
