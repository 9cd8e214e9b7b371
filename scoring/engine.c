/*
 * engine.c: reputation sets, ticks, recompute and explain.
 *
 * Design notes.
 *
 * Sets. A reputation set is keyed by (kind, address space, time bucket).
 * It holds the number of events each address had, capped at the kind's
 * max_count, as a bit-sliced counter: slice j is the key set of addresses
 * whose count has bit j set. An address's share of the score from one set
 * is unit * count, where unit is the kind's weight decayed to the tick,
 * so slice j contributes unit << j to each of its members. Scores are
 * integer milli-points, so the sum does not depend on the order of the
 * additions. Ingest touches only the sets of the observations it takes.
 *
 * Recompute. Per address space, every set slice that still counts is a
 * sorted source of keys with a weight; so are the previous blocklist's
 * entries (for hysteresis and TTL) and the prefixes that escalation
 * produced. A min-heap orders the sources by chunk (key >> CHUNK_BITS);
 * each chunk's keys from every source accumulate into a dense array of
 * CHUNK slots (score, kinds seen, first and last observation of the sets
 * seen, previous entry) that stays
 * in cache, and the touched slots are then decided in key order. The
 * work is proportional to the sets' total size plus the previous
 * blocklist; no address is ever probed against a set it is not in, and no
 * union of the sets is ever built. The decisions stream straight into the
 * new table and the delta, and the digest is updated from the delta.
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
 *     range, RFC 6598 or a shared pool.
 *
 * Time. Ticks fall on multiples of tick_ms. Tick T counts exactly the
 * observations stamped before T: later ones wait in the hold buffer. T is
 * computed once the clock passes T + lateness_ms. A bucket counts in full
 * until it ends, then decays from its end.
 *
 * Threading: none. One thread owns an engine.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scoring/engine.h"
#include "scoring/protect.h"

#ifndef CHUNK_BITS
#define CHUNK_BITS 16
#endif
#define CSIZE (1u << CHUNK_BITS)

/* ---- formulas ------------------------------------------------------------- */

uint32_t engine_unit(const struct kslot *k, int64_t bucket_end_ms, int64_t t_ms)
{
	int64_t age = t_ms - bucket_end_ms;
	double f;
	if (!k->active || age >= k->horizon_ms)
		return 0;
	if (k->window_ms > 0 || age <= 0)
		f = 1.0;
	else
		f = exp2(-(double)age / (double)k->half_life_ms);
	double u = k->weight * f * SCORING_SCALE;
	return u <= 0.0 ? 0 : (uint32_t)llround(u);
}

bool engine_dead(const struct kslot *k, int64_t bucket_end_ms, int64_t t_ms)
{
	return !k->active || t_ms - bucket_end_ms >= k->horizon_ms;
}

int64_t engine_ttl(const struct scoring_conf *c, unsigned offences)
{
	if (offences < 1)
		offences = 1;
	double t = (double)c->ttl_ms * pow(c->ttl_growth, (double)(offences - 1));
	if (t > (double)c->ttl_max_ms)
		return c->ttl_max_ms;
	return (int64_t)t;
}

int64_t engine_quantize(const struct scoring_conf *c, int64_t t_ms)
{
	int64_t q = c->expiry_quantum_ms;
	return floor_div(t_ms + q - 1, q) * q;
}

int engine_kinds_resolve(const struct scoring_conf *c, struct kslot kinds[RN_KIND_MAX],
                         uint8_t bit_kind[ENGINE_MAX_ACTIVE_KINDS], char *err, size_t errlen)
{
	unsigned bit = 0;
	memset(kinds, 0, RN_KIND_MAX * sizeof(*kinds));
	for (unsigned k = 0; k < RN_KIND_MAX; k++) {
		const struct scoring_kind *row = &c->kinds[k];
		if (!(row->weight > 0) || rn_kind_name(k) == NULL || k == RN_KIND_UNSPECIFIED)
			continue;
		const char *name = rn_kind_name(k);
		if ((row->half_life_ms > 0) == (row->window_ms > 0)) {
			snprintf(err, errlen, "kind %s: exactly one of half_life and window", name);
			return RN_ECONF;
		}
		if (row->category >= RN_CAT_COUNT || row->max_count < 1 ||
		    row->max_count > SCORING_MAX_COUNT || row->weight > 1000) {
			snprintf(err, errlen, "kind %s: invalid row", name);
			return RN_ECONF;
		}
		if (bit >= ENGINE_MAX_ACTIVE_KINDS) {
			snprintf(err, errlen, "more than %d kinds have a weight",
			         ENGINE_MAX_ACTIVE_KINDS);
			return RN_ECONF;
		}
		struct kslot *s = &kinds[k];
		s->active = true;
		s->bit = (uint8_t)bit;
		bit_kind[bit++] = (uint8_t)k;
		s->category = row->category;
		s->alone = row->alone;
		s->max_count = row->max_count;
		s->nslices = row->max_count >= 8   ? 4
		             : row->max_count >= 4 ? 3
		             : row->max_count >= 2 ? 2
		                                   : 1;
		s->weight = row->weight;
		s->half_life_ms = row->half_life_ms;
		s->window_ms = row->window_ms;
		s->horizon_ms =
		        row->window_ms > 0 ? row->window_ms : row->half_life_ms * c->decay_horizon;
	}
	return RN_OK;
}

/* ---- lifecycle -------------------------------------------------------------- */

static int resolve_conf(struct scoring_engine *e)
{
	char err[128];
	if (e->conf.delist_threshold > e->conf.threshold || e->conf.ttl_max_ms < e->conf.ttl_ms ||
	    e->conf.bucket_ms <= 0 || e->conf.tick_ms <= 0 || e->conf.expiry_quantum_ms <= 0 ||
	    e->conf.offence_decay_ms <= 0 || e->conf.ipv6_prefix < 32 || e->conf.ipv6_prefix > 64) {
		log_warnx(
		        "scoring: delist_threshold must not exceed threshold, ttl_max must not be "
		        "below ttl, and durations must be positive");
		return RN_ECONF;
	}
	int rc = engine_kinds_resolve(&e->conf, e->kinds, e->bit_kind, err, sizeof(err));
	if (rc != RN_OK) {
		log_warnx("scoring: %s", err);
		return rc;
	}
	e->cat_kinds = e->alone_kinds = 0;
	e->max_horizon_ms = 0;
	for (unsigned k = 0; k < RN_KIND_MAX; k++) {
		const struct kslot *s = &e->kinds[k];
		if (!s->active)
			continue;
		if (s->category != RN_CAT_UNSPECIFIED)
			e->cat_kinds |= 1ull << s->bit;
		if (s->alone)
			e->alone_kinds |= 1ull << s->bit;
		if (s->horizon_ms > e->max_horizon_ms)
			e->max_horizon_ms = s->horizon_ms;
	}
	/* A new configuration can change any decision: the next tick is a full one. */
	e->dirty_on = e->conf.full_every > 1;
	e->force_full = true;
	return engine_protect_rebuild(e);
}

int engine_protect_rebuild(struct scoring_engine *e)
{
	struct rn_prefix_list special = {0}, rfc6598 = {0};
	struct scoring_protect *p = NULL, *q = NULL;
	struct rn_prefix shared;
	int rc;
	if (e->conf.default_never_block && (rc = rn_prefix_list_add_special(&special)) != RN_OK)
		goto out;
	if ((rc = rn_prefix_parse_str("100.64.0.0/10", true, &shared)) != RN_OK ||
	    (rc = rn_prefix_list_add(&rfc6598, &shared)) != RN_OK)
		goto out;
	const struct rn_prefix_list *pl[] = {&e->conf.allowlist, &e->conf.never_block, &special,
	                                     &e->extra};
	const struct rn_prefix_list *nl[] = {&e->conf.cgnat, &e->conf.shared_pools, &rfc6598};
	if ((rc = scoring_protect_build(pl, RN_ARRAY_LEN(pl), &p)) != RN_OK ||
	    (rc = scoring_protect_build(nl, RN_ARRAY_LEN(nl), &q)) != RN_OK)
		goto out;
	scoring_protect_free(e->protect);
	scoring_protect_free(e->noesc);
	e->protect = p;
	e->noesc = q;
	p = q = NULL;
out:
	scoring_protect_free(p);
	scoring_protect_free(q);
	rn_prefix_list_clear(&special);
	rn_prefix_list_clear(&rfc6598);
	return rc;
}

int scoring_engine_new(const struct scoring_conf *conf, bool live, struct scoring_engine **out)
{
	struct scoring_engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	int rc = scoring_conf_copy(&e->conf, conf);
	if (rc != RN_OK) {
		free(e);
		return rc;
	}
	e->live = live;
	e->clock = INT64_MIN;
	e->max_ts = INT64_MIN;
	e->last_tick = INT64_MIN;
	e->next_tick = INT64_MIN;
	e->off_period = INT64_MIN;
	uint16_t other;
	if ((rc = resolve_conf(e)) != RN_OK || (rc = engine_code_intern(e, "", &other)) != RN_OK ||
	    (rc = scoring_table_empty(&e->cur)) != RN_OK)
		goto fail;
	e->cur->dry_run = e->conf.dry_run;
	*out = e;
	return RN_OK;
fail:
	scoring_engine_free(e);
	return rc;
}

void engine_set_free(struct rset *s)
{
	if (s == NULL)
		return;
	for (unsigned j = 0; j < ENGINE_MAX_SLICES; j++)
		keyset_free(s->slice[j]);
	for (unsigned i = 0; i < s->nev; i++)
		keyset_free(s->ev[i].ks);
	free(s->ev);
	free(s);
}

void scoring_engine_free(struct scoring_engine *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nsets; i++)
		engine_set_free(e->sets[i]);
	free(e->sets);
	free(e->shash);
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++)
			keyset_free(e->off[s][j]);
		free(e->dirty[s].v);
	}
	free(e->codes);
	free(e->chash);
	free(e->held);
	free(e->scratch_slots);
	free(e->scratch_bits);
	free(e->scratch_touched);
	scoring_table_free(e->cur);
	scoring_protect_free(e->protect);
	scoring_protect_free(e->noesc);
	rn_prefix_list_clear(&e->extra);
	scoring_conf_release(&e->conf);
	free(e);
}

int scoring_engine_reconfigure(struct scoring_engine *e, const struct scoring_conf *conf)
{
	if (conf->bucket_ms != e->conf.bucket_ms || conf->ipv6_prefix != e->conf.ipv6_prefix) {
		log_warnx(
		        "scoring: bucket and ipv6_prefix shape the stored sets and need a restart "
		        "with an empty state");
		return RN_ECONF;
	}
	struct scoring_conf old = e->conf;
	int rc = scoring_conf_copy(&e->conf, conf);
	if (rc != RN_OK) {
		e->conf = old;
		return rc;
	}
	if ((rc = resolve_conf(e)) != RN_OK) {
		scoring_conf_release(&e->conf);
		e->conf = old;
		resolve_conf(e);
		return rc;
	}
	scoring_conf_release(&old);
	return RN_OK;
}

int scoring_engine_protect_extra(struct scoring_engine *e, const struct rn_prefix_list *l)
{
	struct rn_prefix_list n = {0};
	for (size_t i = 0; l != NULL && i < l->n; i++) {
		int rc = rn_prefix_list_add(&n, &l->v[i]);
		if (rc != RN_OK) {
			rn_prefix_list_clear(&n);
			return rc;
		}
	}
	struct rn_prefix_list old = e->extra;
	e->extra = n;
	int rc = engine_protect_rebuild(e);
	if (rc != RN_OK) {
		e->extra = old;
		rn_prefix_list_clear(&n);
		return rc;
	}
	rn_prefix_list_clear(&old);
	e->force_full = true;
	return RN_OK;
}

void engine_set_table(struct scoring_engine *e, struct scoring_table *t)
{
	scoring_table_free(e->cur);
	e->cur = t;
}

/* ---- sets ---------------------------------------------------------------------- */

static inline uint64_t set_key(unsigned kind, unsigned space, int64_t bucket)
{
	return (uint64_t)bucket << 16 | (uint64_t)kind << 8 | space;
}

static inline size_t set_hash(uint64_t key, size_t mask)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static int shash_rebuild(struct scoring_engine *e, size_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < e->nsets; i++) {
		const struct rset *s = e->sets[i];
		size_t k = set_hash(set_key(s->kind, s->space, s->bucket), cap - 1);
		while (h[k] != 0)
			k = (k + 1) & (cap - 1);
		h[k] = (uint32_t)i + 1;
	}
	free(e->shash);
	e->shash = h;
	e->shcap = cap;
	return RN_OK;
}

int engine_set_get(struct scoring_engine *e, unsigned kind, unsigned space, int64_t bucket,
                   struct rset **out)
{
	struct rset *ls = e->last_set;
	if (ls != NULL && ls->kind == kind && ls->space == space && ls->bucket == bucket) {
		*out = ls;
		return RN_OK;
	}
	uint64_t key = set_key(kind, space, bucket);
	if (e->shcap != 0) {
		size_t mask = e->shcap - 1;
		for (size_t k = set_hash(key, mask); e->shash[k] != 0; k = (k + 1) & mask) {
			struct rset *s = e->sets[e->shash[k] - 1];
			if (s->kind == kind && s->space == space && s->bucket == bucket) {
				*out = e->last_set = s;
				return RN_OK;
			}
		}
	}
	if (e->nsets == e->capsets) {
		size_t cap = e->capsets ? e->capsets * 2 : 64;
		struct rset **v = realloc(e->sets, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		e->sets = v;
		e->capsets = cap;
	}
	struct rset *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->kind = (uint8_t)kind;
	s->space = (uint8_t)space;
	s->bucket = bucket;
	s->first_ms = INT64_MAX;
	s->last_ms = INT64_MIN;
	e->sets[e->nsets++] = s;
	if ((e->nsets + 1) * 2 > e->shcap) {
		if (shash_rebuild(e, e->shcap ? e->shcap * 2 : 256) != RN_OK) {
			e->nsets--;
			free(s);
			return -ENOMEM;
		}
	} else {
		size_t mask = e->shcap - 1;
		size_t k = set_hash(key, mask);
		while (e->shash[k] != 0)
			k = (k + 1) & mask;
		e->shash[k] = (uint32_t)e->nsets;
	}
	*out = e->last_set = s;
	return RN_OK;
}

static int mark_dirty(struct scoring_engine *e, unsigned space, uint64_t key)
{
	struct kvec *d = &e->dirty[space];
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		uint64_t *v = realloc(d->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->sorted = d->n == 0 || (d->sorted && key > d->v[d->n - 1]);
	d->v[d->n++] = key;
	return RN_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts and deduplicates a space's dirty keys. */
static void dirty_norm(struct kvec *d)
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

/* Marks every member of s for rescoring: its contribution is about to go. */
static int mark_set_dirty(struct scoring_engine *e, struct rset *s)
{
	for (unsigned j = 0; j < s->nslices; j++) {
		int rc = keyset_prepare(s->slice[j]);
		if (rc != RN_OK)
			return rc;
		struct keyset_iter it;
		uint64_t key;
		for (keyset_iter_init(&it, s->slice[j]); keyset_iter_peek(&it, &key);
		     keyset_iter_next(&it))
			if ((rc = mark_dirty(e, s->space, key)) != RN_OK)
				return rc;
	}
	return RN_OK;
}

/*
 * Drops the sets no kind counts any more at t: past their horizon, or
 * decayed to nothing. Their members are rescored at the next tick.
 */
static int sets_prune(struct scoring_engine *e, int64_t t)
{
	size_t k = 0;
	for (size_t i = 0; i < e->nsets; i++) {
		struct rset *s = e->sets[i];
		const struct kslot *ks = &e->kinds[s->kind];
		int64_t bend = (s->bucket + 1) * e->conf.bucket_ms;
		if (engine_dead(ks, bend, t) || engine_unit(ks, bend, t) == 0) {
			int rc = e->dirty_on ? mark_set_dirty(e, s) : RN_OK;
			if (rc != RN_OK) {
				/* Keep the rest; this one is dropped at the next tick. */
				memmove(&e->sets[k], &e->sets[i],
				        (e->nsets - i) * sizeof(*e->sets));
				e->nsets = k + (e->nsets - i);
				e->last_set = NULL;
				shash_rebuild(e, e->shcap ? e->shcap : 256);
				return rc;
			}
			engine_set_free(s);
			continue;
		}
		e->sets[k++] = s;
	}
	if (k == e->nsets)
		return RN_OK;
	e->nsets = k;
	e->last_set = NULL;
	return shash_rebuild(e, e->shcap ? e->shcap : 256);
}

static int slice_ensure(struct rset *s, unsigned n)
{
	while (s->nslices < n) {
		s->slice[s->nslices] = keyset_new();
		if (s->slice[s->nslices] == NULL)
			return -ENOMEM;
		s->nslices++;
	}
	return RN_OK;
}

/* The count of key in s. */
static unsigned set_count(const struct rset *s, uint64_t key)
{
	unsigned c = 0;
	for (unsigned j = 0; j < s->nslices; j++)
		if (keyset_contains(s->slice[j], key))
			c |= 1u << j;
	return c;
}

static int set_count_add(struct rset *s, const struct kslot *k, uint64_t key, uint32_t add)
{
	int rc = slice_ensure(s, k->nslices);
	if (rc != RN_OK)
		return rc;
	if (s->nslices == 1 && k->max_count == 1) {
		rc = keyset_add(s->slice[0], key);
		return rc < 0 ? rc : RN_OK;
	}
	unsigned c = set_count(s, key);
	uint64_t n = (uint64_t)c + add;
	if (n > k->max_count)
		n = c > k->max_count ? c : k->max_count;
	/*
	 * Written with an explicit XOR on purpose: gcc 12.2 at -O2 (Debian 12)
	 * miscompiles the equivalent "bool was, now; if (was == now) continue;"
	 * loop (tree-vrp), skipping every bit that was clear before.
	 */
	uint64_t diff = (uint64_t)c ^ n;
	for (unsigned j = 0; j < s->nslices; j++) {
		if (!((diff >> j) & 1))
			continue;
		if ((n >> j) & 1) {
			rc = keyset_add(s->slice[j], key);
			if (rc < 0)
				return rc;
		} else {
			keyset_remove(s->slice[j], key);
		}
	}
	return RN_OK;
}

/*
 * Freezes the sets whose bucket has ended: nothing but a late observation
 * writes to them any more, and frozen key sets iterate several times
 * faster (their containers are contiguous instead of scattered).
 */
static int sets_freeze(struct scoring_engine *e, int64_t t)
{
	for (size_t i = 0; i < e->nsets; i++) {
		struct rset *s = e->sets[i];
		if (s->frozen || (s->bucket + 1) * e->conf.bucket_ms > t)
			continue;
		for (unsigned j = 0; j < s->nslices; j++) {
			int rc = keyset_freeze(s->slice[j]);
			if (rc != RN_OK)
				return rc;
		}
		for (unsigned j = 0; j < s->nev; j++) {
			int rc = keyset_freeze(s->ev[j].ks);
			if (rc != RN_OK)
				return rc;
		}
		s->frozen = true;
	}
	return RN_OK;
}

/* ---- evidence codes ------------------------------------------------------------ */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int engine_code_intern(struct scoring_engine *e, const char *code, uint16_t *out)
{
	if (e->chcap == 0 || (e->ncodes + 1) * 2 > e->chcap) {
		size_t cap = e->chcap ? e->chcap * 2 : 64;
		uint32_t *h = calloc(cap, sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < e->ncodes; i++) {
			size_t k = str_hash(e->codes[i]) & (cap - 1);
			while (h[k] != 0)
				k = (k + 1) & (cap - 1);
			h[k] = (uint32_t)i + 1;
		}
		free(e->chash);
		e->chash = h;
		e->chcap = cap;
	}
	size_t mask = e->chcap - 1;
	size_t k = str_hash(code) & mask;
	for (; e->chash[k] != 0; k = (k + 1) & mask) {
		if (strcmp(e->codes[e->chash[k] - 1], code) == 0) {
			*out = (uint16_t)(e->chash[k] - 1);
			return RN_OK;
		}
	}
	if (e->ncodes >= ENGINE_MAX_CODES) {
		*out = 0; /* "(other)" */
		return RN_OK;
	}
	if (e->ncodes == e->capcodes) {
		size_t cap = e->capcodes ? e->capcodes * 2 : 64;
		char(*c)[RN_EVIDENCE_MAX] = realloc(e->codes, cap * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		e->codes = c;
		e->capcodes = cap;
	}
	snprintf(e->codes[e->ncodes], RN_EVIDENCE_MAX, "%s", code);
	e->chash[k] = (uint32_t)e->ncodes + 1;
	*out = (uint16_t)e->ncodes++;
	return RN_OK;
}

static int set_evidence_add(struct scoring_engine *e, struct rset *s, const char *code,
                            uint64_t key)
{
	uint16_t id;
	int rc = engine_code_intern(e, code, &id);
	if (rc != RN_OK)
		return rc;
	struct evset *ev = NULL;
	for (unsigned i = 0; i < s->nev; i++)
		if (s->ev[i].code == id)
			ev = &s->ev[i];
	if (ev == NULL) {
		if (s->nev == s->capev) {
			unsigned cap = s->capev ? s->capev * 2u : 2u;
			struct evset *v = realloc(s->ev, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			s->ev = v;
			s->capev = (uint16_t)cap;
		}
		ev = &s->ev[s->nev];
		ev->code = id;
		ev->ks = keyset_new();
		if (ev->ks == NULL)
			return -ENOMEM;
		s->nev++;
	}
	rc = keyset_add(ev->ks, key);
	return rc < 0 ? rc : RN_OK;
}

/* ---- ingest --------------------------------------------------------------------- */

/* The space and key an observation goes to; false when its prefix is not kept. */
static bool obs_space(const struct scoring_engine *e, const struct rn_obs *o, unsigned *space,
                      uint64_t *key)
{
	unsigned plen = o->prefix_len;
	if (o->addr.family == RN_AF_INET) {
		if (plen == 0 || plen >= 32)
			plen = 32;
		else if (plen < 8)
			return false;
	} else if (o->addr.family == RN_AF_INET6) {
		unsigned agg = (unsigned)e->conf.ipv6_prefix;
		if (plen == 0 || plen >= agg)
			plen = agg;
		else if (plen < 16)
			return false;
	} else {
		return false;
	}
	*space = space_index(o->addr.family, plen);
	*key = key_of_addr(&o->addr, plen);
	return true;
}

static int apply_obs(struct scoring_engine *e, const struct rn_obs *o, unsigned space, uint64_t key)
{
	const struct kslot *k = &e->kinds[o->kind];
	int64_t bucket = floor_div(o->ts_ms, e->conf.bucket_ms);
	struct rset *s;
	int rc = engine_set_get(e, o->kind, space, bucket, &s);
	if (rc != RN_OK)
		return rc;
	s->frozen = false; /* a late observation thaws what it writes to */
	if ((rc = set_count_add(s, k, key, o->count)) != RN_OK)
		return rc;
	if (e->dirty_on && (rc = mark_dirty(e, space, key)) != RN_OK)
		return rc;
	if (o->ts_ms < s->first_ms)
		s->first_ms = o->ts_ms;
	if (o->ts_ms > s->last_ms)
		s->last_ms = o->ts_ms;
	if (e->conf.evidence && o->evidence[0] != '\0') {
		char code[RN_EVIDENCE_MAX];
		memcpy(code, o->evidence, RN_EVIDENCE_MAX);
		code[RN_EVIDENCE_MAX - 1] = '\0';
		rc = set_evidence_add(e, s, code, key);
	}
	return rc;
}

static int hold(struct scoring_engine *e, const struct rn_obs *o)
{
	if (e->nheld == e->capheld) {
		size_t cap = e->capheld ? e->capheld * 2 : 256;
		if (cap > (size_t)e->conf.hold_max)
			cap = (size_t)e->conf.hold_max;
		if (cap <= e->nheld)
			return RN_ELIMIT;
		struct rn_obs *v = realloc(e->held, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		e->held = v;
		e->capheld = cap;
	}
	e->held[e->nheld++] = *o;
	return RN_OK;
}

int scoring_engine_ingest(struct scoring_engine *e, const struct rn_obs *obs, size_t n,
                          int64_t now_ms, struct scoring_ingest_stats *st)
{
	struct scoring_ingest_stats local;
	if (st == NULL) {
		memset(&local, 0, sizeof(local));
		st = &local;
	}
	if (e->live && now_ms > e->clock)
		e->clock = now_ms;
	for (size_t i = 0; i < n; i++) {
		const struct rn_obs *o = &obs[i];
		if (o->kind >= RN_KIND_MAX || !e->kinds[o->kind].active) {
			st->ignored++;
			continue;
		}
		const struct kslot *k = &e->kinds[o->kind];
		unsigned space;
		uint64_t key;
		if (o->count == 0 || o->ts_ms < 0 || !obs_space(e, o, &space, &key)) {
			st->bad++;
			continue;
		}
		if (e->live && o->ts_ms > now_ms + e->conf.max_future_ms) {
			st->future++;
			continue;
		}
		/* Replay: one absurd timestamp must not make the clock leap a year. */
		if (!e->live && e->max_ts != INT64_MIN &&
		    o->ts_ms > e->max_ts + ENGINE_MAX_REPLAY_JUMP) {
			st->future++;
			continue;
		}
		unsigned fam = space_family(space);
		if (protect_range(e->protect, fam, key, key_last(fam, space_plen(space), key))) {
			st->protected ++;
			continue;
		}
		int64_t bend = (floor_div(o->ts_ms, e->conf.bucket_ms) + 1) * e->conf.bucket_ms;
		if (e->last_tick != INT64_MIN && engine_dead(k, bend, e->last_tick)) {
			st->stale++;
			continue;
		}
		if (!e->live && o->ts_ms > e->clock)
			e->clock = o->ts_ms;
		if (o->ts_ms > e->max_ts)
			e->max_ts = o->ts_ms;
		if (e->next_tick == INT64_MIN) {
			int64_t base = e->live ? now_ms : o->ts_ms;
			e->next_tick = (floor_div(base, e->conf.tick_ms) + 1) * e->conf.tick_ms;
		}
		st->accepted++;
		if (e->last_tick != INT64_MIN && o->ts_ms < e->last_tick)
			st->late++;
		if (o->ts_ms >= e->next_tick) {
			int rc = hold(e, o);
			if (rc == RN_OK) {
				st->held++;
				continue;
			}
			if (rc != RN_ELIMIT)
				return rc;
			st->overflow++;
		}
		int rc = apply_obs(e, o, space, key);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

/* Applies the held observations stamped before t. */
static int held_release(struct scoring_engine *e, int64_t t)
{
	size_t k = 0;
	for (size_t i = 0; i < e->nheld; i++) {
		const struct rn_obs *o = &e->held[i];
		unsigned space;
		uint64_t key;
		if (o->ts_ms >= t) {
			e->held[k++] = *o;
			continue;
		}
		/* Checked when it was held; the kind may have been switched off since. */
		if (!e->kinds[o->kind].active || !obs_space(e, o, &space, &key))
			continue;
		int rc = apply_obs(e, o, space, key);
		if (rc != RN_OK) {
			/* Keep what is left held, so nothing is lost on a retry. */
			memmove(&e->held[k], &e->held[i], (e->nheld - i) * sizeof(*o));
			e->nheld = k + (e->nheld - i);
			return rc;
		}
	}
	e->nheld = k;
	return RN_OK;
}

/* ---- offences ------------------------------------------------------------------- */

static unsigned off_get(const struct scoring_engine *e, unsigned space, uint64_t key)
{
	unsigned c = 0;
	for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++)
		if (e->off[space][j] != NULL && keyset_contains(e->off[space][j], key))
			c |= 1u << j;
	return c;
}

static int off_set(struct scoring_engine *e, unsigned space, uint64_t key, unsigned was,
                   unsigned now)
{
	unsigned diff = was ^ now; /* see set_count_add() on why XOR */
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

/* Halves every offence count once per offence_decay period that began. */
static void off_decay(struct scoring_engine *e, int64_t t)
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

/* ---- recompute ----------------------------------------------------------------- */

enum { SRC_SET, SRC_PREV, SRC_ESC, SRC_DIRTY, SRC_ARR };

struct esc {
	uint64_t key;
	uint32_t cats;
	uint32_t score;
	int64_t exp;
	int64_t first, last;
};

struct esclist {
	struct esc *v;
	size_t n, cap;
};

struct src {
	uint8_t type;
	uint8_t bit;
	bool done;
	uint64_t key;
	uint64_t w;
	int64_t first, last; /* the set's first and last observation */
	const struct tspace *ps;
	size_t pi;
	uint32_t phi;
	const struct esclist *el;
	const uint64_t *arr; /* SRC_ARR: keys of a set slice among the dirty ones */
	size_t ps_n;
	struct keyset_iter it;
};

struct slot {
	uint64_t score;
	uint64_t kmask;
	int64_t first, last; /* over the sets it is in */
	uint32_t prev;       /* index + 1 into the previous space */
	uint32_t esc;        /* index + 1 into the escalation list */
};

/* An incremental tick's decision about one key. */
struct chg {
	uint64_t key;
	size_t prev; /* index + 1 of its previous entry, or 0 */
	bool listed;
	uint32_t cats;
	int64_t exp;
	struct trich rich;
};

struct escacc {
	bool active;
	uint64_t parent;
	uint32_t count;
	struct esc x;
};

struct rc {
	struct scoring_engine *e;
	int64_t t;
	uint64_t T, D; /* thresholds in milli-points */
	struct tbuilder b;
	uint64_t lanes[4];
	struct dlist add[SPACE_COUNT], del[SPACE_COUNT];
	struct slot *slots;
	uint64_t *tbits;
	uint32_t *touched;
	size_t ntouched;
	struct esclist esc[SPACE_COUNT];
	struct escacc acc;
	/* the space being decided */
	unsigned space;
	const struct tspace *prev;
	const struct esclist *el;
	int64_t esc_thr;
	unsigned esc_plen;
	/* Incremental ticks collect decisions, then merge them with the previous space. */
	bool collect;
	struct chg *chg;
	size_t nchg, capchg;
};

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
	case SRC_ARR:
	case SRC_DIRTY:
		if (s->pi >= s->ps_n)
			s->done = true;
		else
			s->key = s->arr[s->pi];
		break;
	}
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

static inline struct slot *touch(struct rc *r, uint32_t i)
{
	struct slot *sl = &r->slots[i];
	uint64_t bit = 1ull << (i & 63);
	if (!(r->tbits[i >> 6] & bit)) {
		r->tbits[i >> 6] |= bit;
		r->touched[r->ntouched++] = i;
		sl->score = 0;
		sl->kmask = 0;
		sl->first = INT64_MAX;
		sl->last = INT64_MIN;
		sl->prev = 0;
		sl->esc = 0;
	}
	return sl;
}

/* Feeds one source's keys of chunk c into the slots. */
static void src_consume(struct rc *r, struct src *s, uint64_t c)
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
			struct slot *sl = touch(r, (uint32_t)(key & (CSIZE - 1)));
			sl->score += w;
			sl->kmask |= bit;
			if (first < sl->first)
				sl->first = first;
			if (last > sl->last)
				sl->last = last;
			keyset_iter_next(it);
			if (it->done) {
				s->done = true;
				return;
			}
		}
	}
	case SRC_ARR: {
		uint64_t w = s->w, bit = 1ull << s->bit;
		for (;;) {
			uint64_t key = s->arr[s->pi];
			if (key >> CHUNK_BITS != c) {
				s->key = key;
				return;
			}
			struct slot *sl = touch(r, (uint32_t)(key & (CSIZE - 1)));
			sl->score += w;
			sl->kmask |= bit;
			if (s->first < sl->first)
				sl->first = s->first;
			if (s->last > sl->last)
				sl->last = s->last;
			if (++s->pi == s->ps_n) {
				s->done = true;
				return;
			}
		}
	}
	case SRC_DIRTY:
		/* Every key to rescore gets a slot, and its previous entry if it has one. */
		for (;;) {
			uint64_t key = s->arr[s->pi];
			if (key >> CHUNK_BITS != c) {
				s->key = key;
				return;
			}
			struct slot *sl = touch(r, (uint32_t)(key & (CSIZE - 1)));
			if (r->prev != NULL) {
				ptrdiff_t k = tspace_find(r->prev, key, NULL);
				if (k >= 0)
					sl->prev = (uint32_t)k + 1;
			}
			if (++s->pi == s->ps_n) {
				s->done = true;
				return;
			}
		}
	case SRC_PREV:
	case SRC_ESC:
		while (!s->done && src_chunk(s) == c) {
			struct slot *sl = touch(r, (uint32_t)(s->key & (CSIZE - 1)));
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

static int push_delta(struct rc *r, unsigned family, unsigned plen, uint64_t key, uint32_t cats_o,
                      int64_t exp_o, uint32_t cats_n, int64_t exp_n)
{
	int rc = RN_OK;
	for (uint32_t m = cats_o; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_n & (1u << c)) || exp_n != exp_o) {
			rc = dlist_push(&r->del[r->space], family, plen, key, c, exp_o);
			digest_tuple(r->lanes, family, plen, c, exp_o, key, -1);
		}
	}
	for (uint32_t m = cats_n; m != 0 && rc == RN_OK; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		if (!(cats_o & (1u << c)) || exp_n != exp_o) {
			rc = dlist_push(&r->add[r->space], family, plen, key, c, exp_n);
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

/*
 * Categories whose members count toward escalating their prefix. A
 * reflector is an abused server (an open resolver, an NTP server with
 * monlist): its neighbours are no more suspect for it, so reflector
 * listings never escalate.
 */
#define ESC_CATS (((1u << RN_CAT_COUNT) - 1) & ~(1u << RN_CAT_REFLECTOR))

static int esc_push(struct esclist *l, const struct esc *x)
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

static int esc_finish(struct rc *r)
{
	struct escacc *a = &r->acc;
	if (!a->active)
		return RN_OK;
	a->active = false;
	if (a->count < (uint64_t)r->esc_thr)
		return RN_OK;
	unsigned fam = space_family(r->space);
	uint64_t last = key_last(fam, r->esc_plen, a->parent);
	if (protect_range(r->e->protect, fam, a->parent, last) ||
	    protect_range(r->e->noesc, fam, a->parent, last))
		return RN_OK;
	a->x.key = a->parent;
	return esc_push(&r->esc[space_index(fam, r->esc_plen)], &a->x);
}

static int esc_note(struct rc *r, uint64_t key, uint32_t cats, int64_t exp, uint32_t score,
                    int64_t first, int64_t last)
{
	cats &= ESC_CATS;
	if (cats == 0)
		return RN_OK; /* says nothing of its neighbours */
	unsigned fam = space_family(r->space);
	uint64_t parent = key & key_mask(fam, r->esc_plen);
	struct escacc *a = &r->acc;
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
	if (exp > a->x.exp)
		a->x.exp = exp;
	if (score > a->x.score)
		a->x.score = score;
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

static int chg_push(struct rc *r, uint64_t key, size_t prev, bool listed, uint32_t cats,
                    int64_t exp, const struct trich *rich)
{
	if (r->nchg == r->capchg) {
		size_t cap = r->capchg ? r->capchg * 2 : 256;
		struct chg *v = realloc(r->chg, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		r->chg = v;
		r->capchg = cap;
	}
	struct chg *c = &r->chg[r->nchg++];
	memset(c, 0, sizeof(*c));
	c->key = key;
	c->prev = prev;
	c->listed = listed;
	c->cats = cats;
	c->exp = exp;
	if (rich != NULL)
		c->rich = *rich;
	return RN_OK;
}

/* Decides one address or prefix of the current space. */
static int decide(struct rc *r, uint64_t key, const struct slot *sl)
{
	struct scoring_engine *e = r->e;
	const struct scoring_conf *c = &e->conf;
	unsigned fam = space_family(r->space), plen = space_plen(r->space);
	int64_t t = r->t;
	uint64_t T = r->T, D = r->D;
	bool has_prev = sl->prev != 0;
	const struct esc *es = sl->esc ? &r->el->v[sl->esc - 1] : NULL;

	/* Most candidates: never listed, not enough. */
	if (!has_prev && es == NULL && sl->score < T)
		return RN_OK;

	uint32_t cats_p = 0;
	int64_t exp_p = 0;
	struct trich rp = {0};
	if (has_prev) {
		size_t pi = sl->prev - 1;
		const struct tcls *pc = &e->cur->cls[tspace_cls(r->prev, pi)];
		cats_p = pc->cats;
		exp_p = pc->expires_ms;
		if (e->cur->rich) {
			rp.score = r->prev->score[pi];
			rp.first_s = r->prev->first_s[pi];
			rp.last_s = r->prev->last_s[pi];
			rp.offences = r->prev->offences[pi];
			rp.flags = r->prev->flags[pi];
		}
	}
	uint64_t last_key = key_last(fam, plen, key);
	bool prot = protect_range(e->protect, fam, key, last_key);
	bool elig = (sl->kmask & e->cat_kinds) != 0 &&
	            (__builtin_popcountll(sl->kmask) >= 2 || (sl->kmask & e->alone_kinds) != 0);
	bool listed = false;
	uint32_t cats = 0;
	int64_t exp = 0;
	struct trich rn = {0};
	int rc;

	if (!prot) {
		if (has_prev) {
			if (sl->score >= D && elig) {
				unsigned o = rp.offences ? rp.offences : 1;
				int64_t ttl = engine_ttl(c, o);
				listed = true;
				cats = cats_of(e, sl->kmask);
				exp = exp_p;
				if (exp - t < ttl / 2)
					exp = engine_quantize(c, t + ttl);
				rn.offences = rp.offences;
			} else if (exp_p > t) {
				listed = true;
				cats = cats_p;
				exp = exp_p;
				rn.offences = rp.offences;
				if (rp.flags & SCORING_F_ESCALATED) {
					if (protect_range(e->noesc, fam, key, last_key))
						listed = false;
					else
						rn.flags |= SCORING_F_ESCALATED;
				}
			}
		} else if (sl->score >= T && elig) {
			unsigned was = off_get(e, r->space, key);
			unsigned o = was < ENGINE_OFF_MAX ? was + 1 : ENGINE_OFF_MAX;
			if ((rc = off_set(e, r->space, key, was, o)) != RN_OK)
				return rc;
			listed = true;
			cats = cats_of(e, sl->kmask);
			exp = engine_quantize(c, t + engine_ttl(c, o));
			rn.offences = (uint8_t)o;
		}
		if (es != NULL) {
			if (listed) {
				cats |= es->cats;
				if (es->exp > exp)
					exp = es->exp;
			} else {
				listed = true;
				cats = es->cats;
				exp = es->exp;
			}
			rn.flags |= SCORING_F_ESCALATED;
		}
	}
	if ((rc = push_delta(r, fam, plen, key, cats_p, exp_p, listed ? cats : 0,
	                     listed ? exp : 0)) != RN_OK)
		return rc;
	if (!listed)
		return r->collect && has_prev ? chg_push(r, key, sl->prev, false, 0, 0, NULL)
		                              : RN_OK;

	int64_t first = INT64_MAX, last = INT64_MIN;
	if (sl->kmask != 0) {
		first = sl->first;
		last = sl->last;
	}
	if (has_prev) {
		if ((int64_t)rp.first_s * 1000 < first)
			first = (int64_t)rp.first_s * 1000;
		if ((int64_t)rp.last_s * 1000 > last)
			last = (int64_t)rp.last_s * 1000;
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
	rn.score = score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
	rn.first_s = to_s(first);
	rn.last_s = to_s(last);
	if (r->collect)
		return chg_push(r, key, sl->prev, true, cats, exp, &rn);
	if ((rc = tbuilder_push(&r->b, fam, plen, key, cats, exp, 0, &rn)) != RN_OK)
		return rc;
	if (r->esc_thr > 0)
		rc = esc_note(r, key, cats, exp, rn.score, first, last);
	return rc;
}

/* Decides every touched slot of chunk c, in key order, and clears them. */
static int decide_chunk(struct rc *r, uint64_t c)
{
	int rc = RN_OK;
	if (r->ntouched <= 32) {
		/* Insertion sort: a chunk touches a handful of slots when the data is sparse. */
		uint32_t *v = r->touched;
		for (size_t i = 1; i < r->ntouched; i++) {
			uint32_t x = v[i];
			size_t j = i;
			for (; j > 0 && v[j - 1] > x; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		for (size_t i = 0; i < r->ntouched && rc == RN_OK; i++) {
			uint32_t k = r->touched[i];
			rc = decide(r, c << CHUNK_BITS | k, &r->slots[k]);
		}
		for (size_t i = 0; i < r->ntouched; i++)
			r->tbits[r->touched[i] >> 6] &= ~(1ull << (r->touched[i] & 63));
	} else {
		for (uint32_t w = 0; w < CSIZE / 64; w++) {
			uint64_t bits = r->tbits[w];
			r->tbits[w] = 0;
			while (bits != 0 && rc == RN_OK) {
				uint32_t k = w * 64 + (uint32_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				rc = decide(r, c << CHUNK_BITS | k, &r->slots[k]);
			}
		}
		if (rc != RN_OK)
			memset(r->tbits, 0, CSIZE / 8);
	}
	r->ntouched = 0;
	return rc;
}

/* Sets the current space and its escalation parameters. */
static void space_begin(struct rc *r, unsigned space)
{
	struct scoring_engine *e = r->e;
	unsigned fam = space_family(space), plen = space_plen(space);
	r->space = space;
	r->prev = table_space(e->cur, fam, plen);
	r->el = &r->esc[space];
	r->esc_thr = 0;
	memset(&r->acc, 0, sizeof(r->acc));
	if (fam == RN_AF_INET && plen == 32 && e->conf.escalate_v4 > 0) {
		r->esc_thr = e->conf.escalate_v4;
		r->esc_plen = 24;
	} else if (fam == RN_AF_INET6 && plen == (unsigned)e->conf.ipv6_prefix && plen > 48 &&
	           e->conf.escalate_v6 > 0) {
		r->esc_thr = e->conf.escalate_v6;
		r->esc_plen = 48;
	}
}

/* Runs the chunked merge over the sources, deciding every touched key in order. */
static int merge_run(struct rc *r, struct src *srcs, size_t nsrc)
{
	struct src **hv = calloc(nsrc ? nsrc : 1, sizeof(*hv));
	if (hv == NULL)
		return -ENOMEM;
	struct heap h = {.v = hv, .n = 0};
	for (size_t i = 0; i < nsrc; i++)
		if (!srcs[i].done)
			hv[h.n++] = &srcs[i];
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
 * The set slices of space that count at r->t, as sources: over their own
 * keys, or (only != NULL) over those of their keys that are in only,
 * found by probing and kept in one array (*keys, freed by the caller).
 */
static int set_sources(struct rc *r, unsigned space, const struct kvec *only, struct src **out,
                       size_t *n, uint64_t **keys)
{
	struct scoring_engine *e = r->e;
	size_t cap = 3;
	for (size_t i = 0; i < e->nsets; i++)
		if (e->sets[i]->space == space)
			cap += e->sets[i]->nslices;
	struct src *srcs = calloc(cap, sizeof(*srcs));
	size_t *start = calloc(cap, sizeof(*start));
	if (srcs == NULL || start == NULL) {
		free(srcs);
		free(start);
		return -ENOMEM;
	}
	uint64_t *kv = NULL;
	size_t nkv = 0, capkv = 0, k = 0;
	int rc = RN_OK;
	for (size_t i = 0; i < e->nsets && rc == RN_OK; i++) {
		struct rset *s = e->sets[i];
		if (s->space != space)
			continue;
		uint32_t unit =
		        engine_unit(&e->kinds[s->kind], (s->bucket + 1) * e->conf.bucket_ms, r->t);
		if (unit == 0)
			continue;
		for (unsigned j = 0; j < s->nslices && rc == RN_OK; j++) {
			struct keyset *ks = s->slice[j];
			if (keyset_card(ks) == 0)
				continue;
			if ((rc = keyset_prepare(ks)) != RN_OK)
				break;
			struct src *x = &srcs[k];
			x->bit = e->kinds[s->kind].bit;
			x->first = s->first_ms;
			x->last = s->last_ms;
			x->w = (uint64_t)unit << j;
			if (only == NULL) {
				x->type = SRC_SET;
				keyset_iter_init(&x->it, ks);
				src_load(x);
				if (!x->done)
					k++;
				continue;
			}
			size_t before = nkv;
			rc = keyset_intersect_keys(ks, only->v, only->n, &kv, &nkv, &capkv);
			if (rc != RN_OK || nkv == before)
				continue;
			x->type = SRC_ARR;
			start[k] = before;
			x->ps_n = nkv - before;
			k++;
		}
	}
	if (rc != RN_OK) {
		free(kv);
		free(srcs);
		free(start);
		return rc;
	}
	/* The array may have moved while it grew: point the sources at it now. */
	for (size_t i = 0; i < k; i++) {
		if (srcs[i].type != SRC_ARR)
			continue;
		srcs[i].arr = kv + start[i];
		srcs[i].pi = 0;
		src_load(&srcs[i]);
	}
	free(start);
	*out = srcs;
	*n = k;
	*keys = kv;
	return RN_OK;
}

/* A full recompute of one address space. */
static int space_run(struct rc *r, unsigned space)
{
	struct src *srcs = NULL;
	uint64_t *kv = NULL;
	size_t n = 0;
	space_begin(r, space);
	int rc = RN_OK;
	if (r->prev != NULL) {
		/* Most of the previous listings stay: start with room for them and a tenth more. */
		rc = tbuilder_reserve(&r->b, space_family(space), space_plen(space),
		                      r->prev->n + r->prev->n / 10 + 64);
		if (rc != RN_OK)
			return rc;
	}
	rc = set_sources(r, space, NULL, &srcs, &n, &kv);
	if (rc != RN_OK)
		return rc;
	if (r->prev != NULL) {
		struct src *x = &srcs[n];
		x->type = SRC_PREV;
		x->ps = r->prev;
		src_load(x);
		n++;
	}
	if (r->el->n > 0) {
		struct src *x = &srcs[n];
		x->type = SRC_ESC;
		x->el = r->el;
		src_load(x);
		n++;
	}
	rc = merge_run(r, srcs, n);
	if (rc == RN_OK && r->esc_thr > 0)
		rc = esc_finish(r);
	free(srcs);
	free(kv);
	return rc;
}

/*
 * Escalation after an incremental pass over a host space: the parents of
 * the keys rescored, and the prefixes rescored in the target space, are
 * counted again from the space as now built.
 */
static int escalate_inc(struct rc *r, const struct kvec *dk)
{
	struct scoring_engine *e = r->e;
	unsigned fam = space_family(r->space);
	unsigned tsp = space_index(fam, r->esc_plen);
	uint64_t pmask = key_mask(fam, r->esc_plen);
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
	        r->b.used[r->space] && r->b.sp[r->space].n > 0 ? &r->b.sp[r->space] : NULL;
	if (s != NULL && s->family == RN_AF_INET)
		s->sstart[s->nhi] = (uint32_t)s->n; /* the sentinel, while building */
	for (size_t i = 0; i < np && rc == RN_OK; i++) {
		if (i > 0 && par[i] == par[i - 1])
			continue;
		uint64_t parent = par[i], last = key_last(fam, r->esc_plen, parent);
		struct esc x = {.key = parent, .first = INT64_MAX, .last = INT64_MIN};
		uint32_t count = 0;
		if (s != NULL) {
			uint32_t cur = 0;
			for (size_t k = tspace_lower_bound(s, parent); k < s->n; k++) {
				cur = fam == RN_AF_INET ? tspace_hi_of(s, k, cur) : 0;
				uint64_t key = tspace_key(s, k, cur);
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
		if ((rc = mark_dirty(e, tsp, parent)) != RN_OK)
			break;
		if (count < (uint64_t)r->esc_thr || protect_range(e->protect, fam, parent, last) ||
		    protect_range(e->noesc, fam, parent, last))
			continue;
		rc = esc_push(&r->esc[tsp], &x);
	}
	free(par);
	return rc;
}

/*
 * Builds the space from the previous one and the collected decisions:
 * spans of unchanged entries are copied whole, only insertions and
 * deletions split them, and entries that stay are updated in place.
 */
static int merge_changes(struct rc *r)
{
	struct scoring_engine *e = r->e;
	const struct tspace *p = r->prev;
	unsigned fam = space_family(r->space), plen = space_plen(r->space);
	size_t pi = 0;
	ptrdiff_t shift = 0; /* insertions minus deletions so far */
	int rc = RN_OK;
	for (size_t i = 0; i < r->nchg && rc == RN_OK; i++) {
		struct chg *c = &r->chg[i];
		if (c->prev != 0 && c->listed) {
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
			rc = tbuilder_push(&r->b, fam, plen, c->key, c->cats, c->exp, 0, &c->rich);
			shift++;
		}
		c->prev = 0;
	}
	if (rc == RN_OK && p != NULL)
		rc = tbuilder_copy(&r->b, e->cur, p, pi, p->n);
	for (size_t i = 0; i < r->nchg && rc == RN_OK; i++) {
		const struct chg *c = &r->chg[i];
		if (c->prev != 0 && c->listed)
			rc = tbuilder_set(&r->b, fam, plen, c->prev - 1, c->cats, c->exp, &c->rich);
	}
	return rc;
}

/* An incremental pass over one space: only its dirty keys are decided again. */
static int space_run_inc(struct rc *r, unsigned space)
{
	struct scoring_engine *e = r->e;
	space_begin(r, space);
	int rc = RN_OK;
	/* Escalation candidates are decided again too. */
	for (size_t i = 0; i < r->el->n && rc == RN_OK; i++)
		rc = mark_dirty(e, space, r->el->v[i].key);
	if (rc != RN_OK)
		return rc;
	struct kvec *dk = &e->dirty[space];
	dirty_norm(dk);
	/* Room for everything the previous space had and every dirty key: no regrowth. */
	if (r->prev != NULL || dk->n > 0) {
		rc = tbuilder_reserve(&r->b, space_family(space), space_plen(space),
		                      (r->prev ? r->prev->n : 0) + dk->n);
		if (rc != RN_OK)
			return rc;
	}
	if (dk->n == 0) {
		if (r->prev != NULL)
			rc = tbuilder_copy(&r->b, e->cur, r->prev, 0, r->prev->n);
	} else {
		struct src *srcs = NULL;
		uint64_t *kv = NULL;
		size_t n = 0;
		if ((rc = set_sources(r, space, dk, &srcs, &n, &kv)) != RN_OK)
			return rc;
		struct src *x = &srcs[n++];
		x->type = SRC_DIRTY;
		x->arr = dk->v;
		x->ps_n = dk->n;
		src_load(x);
		if (r->el->n > 0) {
			x = &srcs[n++];
			x->type = SRC_ESC;
			x->el = r->el;
			src_load(x);
		}
		r->collect = true;
		r->nchg = 0;
		rc = merge_run(r, srcs, n);
		r->collect = false;
		free(srcs);
		free(kv);
		if (rc == RN_OK)
			rc = merge_changes(r);
	}
	if (rc == RN_OK && r->esc_thr > 0) {
		dirty_norm(&e->dirty[space_index(space_family(space), r->esc_plen)]);
		rc = escalate_inc(r, dk);
	}
	return rc;
}

/*
 * Marks the listings whose decision may change with time alone: expired,
 * or within half a TTL of expiring (a renewal is due, if the score holds).
 */
static int attention(struct rc *r)
{
	struct scoring_engine *e = r->e;
	const struct scoring_table *t = e->cur;
	int64_t half[ENGINE_OFF_MAX + 1];
	for (unsigned o = 0; o <= ENGINE_OFF_MAX; o++)
		half[o] = engine_ttl(&e->conf, o ? o : 1) / 2;
	for (size_t si = 0; si < t->nsp; si++) {
		const struct tspace *s = &t->sp[si];
		unsigned space = space_index(s->family, s->plen);
		uint32_t cur = 0;
		for (size_t i = 0; i < s->n; i++) {
			int64_t exp = t->cls[tspace_cls(s, i)].expires_ms;
			unsigned o = t->rich ? s->offences[i] : 0;
			if (exp - r->t >= half[o > ENGINE_OFF_MAX ? ENGINE_OFF_MAX : o])
				continue;
			if (s->family == RN_AF_INET)
				cur = tspace_hi_of(s, i, cur);
			int rc = mark_dirty(e, space, tspace_key(s, i, cur));
			if (rc != RN_OK)
				return rc;
		}
	}
	return RN_OK;
}

static void rc_release(struct rc *r)
{
	for (unsigned i = 0; i < SPACE_COUNT; i++) {
		dlist_release(&r->add[i]);
		dlist_release(&r->del[i]);
		free(r->esc[i].v);
	}
	free(r->chg);
	tbuilder_release(&r->b);
	free(r);
}

/*
 * Computes the blocklist at t: the new table and the delta from the
 * current one. A full pass decides every key of every set; an incremental
 * one decides the dirty keys and copies the rest, which reaches the same
 * decisions (listings, categories, expiries) because nothing else can
 * have changed: scores only fall without new observations, a listing's
 * fate only changes at its renewal window or expiry, and a key whose set
 * aged out was marked dirty when the set was dropped. Only the rich
 * columns of untouched entries (score, last seen) are left as they were
 * until the next full pass.
 */
static int recompute(struct scoring_engine *e, int64_t t, bool full, struct scoring_table **out_t,
                     struct scoring_delta **out_d)
{
	struct rc *r = calloc(1, sizeof(*r));
	struct scoring_delta *d = NULL;
	int rc = -ENOMEM;
	if (r == NULL)
		return -ENOMEM;
	r->e = e;
	r->t = t;
	r->T = (uint64_t)llround(e->conf.threshold * SCORING_SCALE);
	r->D = (uint64_t)llround(e->conf.delist_threshold * SCORING_SCALE);
	tbuilder_init(&r->b, true, e->conf.dry_run);
	digest_load(e->cur->digest, r->lanes);
	if (e->scratch_slots == NULL) {
		e->scratch_slots = malloc(CSIZE * sizeof(struct slot));
		e->scratch_bits = calloc(CSIZE / 64, sizeof(uint64_t));
		e->scratch_touched = malloc(CSIZE * sizeof(uint32_t));
		if (e->scratch_slots == NULL || e->scratch_bits == NULL ||
		    e->scratch_touched == NULL)
			goto fail;
	}
	/* The touched bits are all clear between chunks, so between ticks too. */
	r->slots = e->scratch_slots;
	r->tbits = e->scratch_bits;
	r->touched = e->scratch_touched;
	if (!full &&
	    ((rc = tbuilder_seed_classes(&r->b, e->cur)) != RN_OK || (rc = attention(r)) != RN_OK))
		goto fail;

	bool need[SPACE_COUNT] = {false};
	for (size_t i = 0; i < e->nsets; i++)
		need[e->sets[i]->space] = true;
	for (size_t i = 0; i < e->cur->nsp; i++)
		need[space_index(e->cur->sp[i].family, e->cur->sp[i].plen)] = true;
	for (unsigned s = 0; !full && s < SPACE_COUNT; s++)
		if (e->dirty[s].n > 0)
			need[s] = true;

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
		if (!need[s] && r->esc[s].n == 0 &&
		    !(!full && host && (e->conf.escalate_v4 > 0 || e->conf.escalate_v6 > 0)))
			continue;
		rc = full ? space_run(r, s) : space_run_inc(r, s);
		if (rc != RN_OK)
			goto fail;
		/* Escalation may have marked keys of later spaces. */
		for (unsigned k = 0; !full && k < SPACE_COUNT; k++)
			if (e->dirty[k].n > 0)
				need[k] = true;
	}

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		if ((rc = dlist_append(&d->add, &r->add[s])) != RN_OK ||
		    (rc = dlist_append(&d->del, &r->del[s])) != RN_OK)
			goto fail;
	}
	uint8_t digest[32];
	digest_store(r->lanes, digest);
	rc = tbuilder_finish(&r->b, digest, out_t);
	if (rc != RN_OK)
		goto fail;
	*out_d = d;
	rc_release(r);
	return RN_OK;
fail:
	if (e->scratch_bits != NULL)
		memset(e->scratch_bits, 0, CSIZE / 8);
	scoring_delta_free(d);
	rc_release(r);
	return rc;
}

/* ---- ticks --------------------------------------------------------------------- */

static int run_tick(struct scoring_engine *e, int64_t t, scoring_tick_fn cb, void *arg)
{
	int64_t t0 = rn_time_mono_ns();
	int rc = held_release(e, t);
	if (rc != RN_OK)
		return rc;
	off_decay(e, t);
	if ((rc = sets_prune(e, t)) != RN_OK || (rc = sets_freeze(e, t)) != RN_OK)
		return rc;
	struct scoring_table *nt = NULL;
	struct scoring_delta *d = NULL;
	bool full = !e->dirty_on || e->force_full || !e->cur->rich ||
	            e->since_full + 1 >= (uint64_t)e->conf.full_every;
	if ((rc = recompute(e, t, full, &nt, &d)) != RN_OK)
		return rc;
	engine_set_table(e, nt);
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		e->dirty[s].n = 0;
		e->dirty[s].sorted = true;
	}
	e->force_full = false;
	e->since_full = full ? 0 : e->since_full + 1;
	e->last_tick = t;
	e->seq++;
	if (cb != NULL) {
		struct scoring_tick tick = {.tick_ms = t,
		                            .table = nt,
		                            .delta = d,
		                            .seq = e->seq,
		                            .elapsed_ns = rn_time_mono_ns() - t0};
		cb(arg, &tick);
	}
	scoring_delta_free(d);
	return RN_OK;
}

int scoring_engine_advance(struct scoring_engine *e, int64_t now_ms, scoring_tick_fn cb, void *arg)
{
	if (e->live) {
		if (now_ms > e->clock)
			e->clock = now_ms;
		if (e->next_tick == INT64_MIN)
			e->next_tick = (floor_div(now_ms, e->conf.tick_ms) + 1) * e->conf.tick_ms;
	}
	if (e->next_tick == INT64_MIN || e->clock == INT64_MIN)
		return RN_OK;
	int64_t now = e->clock;
	int64_t tick = e->conf.tick_ms;
	if (e->next_tick + e->conf.lateness_ms > now)
		return RN_OK;
	int64_t last_due = floor_div(now - e->conf.lateness_ms, tick) * tick;
	if (e->live && (last_due - e->next_tick) / tick > ENGINE_MAX_CATCHUP) {
		log_notice("scoring: %lld ticks behind; computing the newest only",
		           (long long)((last_due - e->next_tick) / tick));
		e->next_tick = last_due;
	}
	while (e->next_tick <= last_due) {
		int rc = run_tick(e, e->next_tick, cb, arg);
		if (rc != RN_OK)
			return rc;
		e->next_tick += tick;
	}
	return RN_OK;
}

int scoring_engine_flush(struct scoring_engine *e, scoring_tick_fn cb, void *arg)
{
	if (e->next_tick == INT64_MIN || e->max_ts == INT64_MIN)
		return RN_OK;
	int64_t target = (floor_div(e->max_ts, e->conf.tick_ms) + 1) * e->conf.tick_ms;
	while (e->next_tick <= target) {
		int rc = run_tick(e, e->next_tick, cb, arg);
		if (rc != RN_OK)
			return rc;
		e->next_tick += e->conf.tick_ms;
	}
	if (!e->live && e->clock < target)
		e->clock = target;
	return RN_OK;
}

const struct scoring_table *scoring_engine_table(const struct scoring_engine *e)
{
	return e->cur;
}

int64_t scoring_engine_clock(const struct scoring_engine *e)
{
	return e->clock;
}

int64_t scoring_engine_last_tick(const struct scoring_engine *e)
{
	return e->last_tick;
}

void scoring_engine_stats(const struct scoring_engine *e, struct scoring_engine_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sets = e->nsets;
	for (size_t i = 0; i < e->nsets; i++) {
		const struct rset *s = e->sets[i];
		for (unsigned j = 0; j < s->nslices; j++) {
			st->set_keys += keyset_card(s->slice[j]);
			st->set_bytes += keyset_bytes(s->slice[j]);
		}
		for (unsigned j = 0; j < s->nev; j++)
			st->set_bytes += keyset_bytes(s->ev[j].ks);
	}
	st->held = e->nheld;
	st->evidence_codes = e->ncodes;
}

/* ---- explain ------------------------------------------------------------------- */

int scoring_engine_explain(struct scoring_engine *e, const struct rn_addr *a,
                           struct scoring_explain *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family != RN_AF_INET && a->family != RN_AF_INET6)
		return RN_EPARSE;
	unsigned plen = a->family == RN_AF_INET ? 32 : (unsigned)e->conf.ipv6_prefix;
	unsigned space = space_index(a->family, plen);
	uint64_t key = key_of_addr(a, plen);
	int64_t t = e->last_tick != INT64_MIN ? e->last_tick : e->clock;
	if (t == INT64_MIN)
		t = 0;
	key_to_prefix(a->family, plen, key, &out->key);
	out->at_ms = t;
	out->threshold = e->conf.threshold;
	out->delist_threshold = e->conf.delist_threshold;
	out->dry_run = e->conf.dry_run;
	out->protected_ = protect_range(e->protect, a->family, key, key_last(a->family, plen, key));
	uint64_t kmask = 0, score = 0;
	for (size_t i = 0; i < e->nsets; i++) {
		const struct rset *s = e->sets[i];
		if (s->space != space)
			continue;
		unsigned count = set_count(s, key);
		if (count == 0)
			continue;
		const struct kslot *k = &e->kinds[s->kind];
		const struct scoring_kind *row = &e->conf.kinds[s->kind];
		int64_t bend = (s->bucket + 1) * e->conf.bucket_ms;
		uint32_t unit = engine_unit(k, bend, t);
		if (out->ncontrib < SCORING_EXPLAIN_MAX) {
			struct scoring_contrib *c = &out->contrib[out->ncontrib++];
			c->kind = s->kind;
			c->category = row->category;
			c->alone = row->alone;
			c->weight = row->weight;
			c->half_life_ms = row->half_life_ms;
			c->window_ms = row->window_ms;
			c->bucket_start_ms = s->bucket * e->conf.bucket_ms;
			c->set_first_ms = s->first_ms;
			c->set_last_ms = s->last_ms;
			c->count = count;
			c->decay = row->weight > 0 ? unit / (row->weight * SCORING_SCALE) : 0;
			c->points = unit * count;
			for (unsigned j = 0; j < s->nev && c->nevidence < 4; j++)
				if (keyset_contains(s->ev[j].ks, key))
					snprintf(c->evidence[c->nevidence++], RN_EVIDENCE_MAX, "%s",
					         e->codes[s->ev[j].code][0]
					                 ? e->codes[s->ev[j].code]
					                 : "(other)");
		}
		if (unit > 0) {
			score += (uint64_t)unit * count;
			kmask |= 1ull << k->bit;
		}
	}
	for (size_t i = 0; i < e->nheld; i++) {
		unsigned hs;
		uint64_t hk;
		if (obs_space(e, &e->held[i], &hs, &hk) && hs == space && hk == key)
			out->held += e->held[i].count;
	}
	out->score = score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
	out->eligible = (kmask & e->cat_kinds) != 0 &&
	                (__builtin_popcountll(kmask) >= 2 || (kmask & e->alone_kinds) != 0);
	out->offences = off_get(e, space, key);
	out->listed = scoring_table_find(e->cur, &out->key, &out->entry);
	/* The most specific listed prefix that covers it, if any. */
	for (size_t i = e->cur->nsp; i-- > 0 && !out->covered;) {
		const struct tspace *s = &e->cur->sp[i];
		if (s->family != a->family || s->plen >= plen)
			continue;
		uint32_t cur = 0;
		ptrdiff_t k = tspace_find(s, key_of_addr(a, s->plen), &cur);
		if (k >= 0) {
			tspace_entry(e->cur, s, (size_t)k, cur, &out->cover);
			out->covered = true;
		}
	}
	return RN_OK;
}
