/*
 * engine.c: reputation sets, ingest, offences, ticks and explain; the
 * recompute at each tick is in recompute.c.
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
 * Dirty keys. When incremental ticks are on, ingest marks each key it
 * adds to a set, and pruning marks every member of a set it drops, so
 * that the next incremental recompute decides them again.
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
	e->rt = e->live && e->conf.realtime_ms > 0;
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
	                                     &e->extra, &e->delist};
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
	e->bidx_min_keys = BIDX_MIN_KEYS;
	uint16_t other, nobody;
	if ((rc = resolve_conf(e)) != RN_OK || (rc = engine_code_intern(e, "", &other)) != RN_OK ||
	    (rc = engine_from_intern(e, "", &nobody)) != RN_OK ||
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
	free(e->from);
	free(e->held);
	free(e->held_from);
	free(e->late.v);
	free(e->lq.v);
	rchunk_release(&e->chunk);
	rinc_release(&e->inc);
	for (size_t i = 0; i < e->nbidx; i++)
		bidx_free(e->bidx[i]);
	free(e->bidx);
	scoring_table_free(e->retired);
	scoring_table_free(e->cur);
	scoring_protect_free(e->protect);
	scoring_protect_free(e->noesc);
	rn_prefix_list_clear(&e->extra);
	rn_prefix_list_clear(&e->delist);
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
	e->bidx_recheck = true;
	return RN_OK;
}

/* Replaces *dst with a copy of l and rebuilds the protected ranges; the next tick is full. */
static int protect_list_set(struct scoring_engine *e, struct rn_prefix_list *dst,
                            const struct rn_prefix_list *l)
{
	struct rn_prefix_list n = {0};
	for (size_t i = 0; l != NULL && i < l->n; i++) {
		int rc = rn_prefix_list_add(&n, &l->v[i]);
		if (rc != RN_OK) {
			rn_prefix_list_clear(&n);
			return rc;
		}
	}
	struct rn_prefix_list old = *dst;
	*dst = n;
	int rc = engine_protect_rebuild(e);
	if (rc != RN_OK) {
		*dst = old;
		rn_prefix_list_clear(&n);
		return rc;
	}
	rn_prefix_list_clear(&old);
	e->force_full = true;
	return RN_OK;
}

int scoring_engine_protect_extra(struct scoring_engine *e, const struct rn_prefix_list *l)
{
	return protect_list_set(e, &e->extra, l);
}

int scoring_engine_delist_set(struct scoring_engine *e, const struct rn_prefix_list *l)
{
	int rc = protect_list_set(e, &e->delist, l);
	/* Live with real time: the next pass (a full one) publishes it at once. */
	if (rc == RN_OK && e->rt)
		e->touched = true;
	return rc;
}

void engine_set_table(struct scoring_engine *e, struct scoring_table *t)
{
	scoring_table_free(e->retired);
	e->retired = e->cur;
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

int engine_dirty_mark(struct scoring_engine *e, unsigned space, uint64_t key)
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
			if ((rc = engine_dirty_mark(e, s->space, key)) != RN_OK)
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
			bidx_drop(e, s->bidx);
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
	bool froze = false;
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
		froze = true;
	}
	if (!e->conf.bucket_index) {
		while (e->nbidx > 0)
			bidx_drop(e, e->bidx[0]);
		return RN_OK;
	}
	/* Their buckets may be complete now (or indexing was just turned on): index them. */
	if (!froze && !e->bidx_recheck)
		return RN_OK;
	e->bidx_recheck = false;
	return bidx_update(e);
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
		char(*c)[ENGINE_CODE_MAX] = realloc(e->codes, cap * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		e->codes = c;
		e->capcodes = cap;
	}
	snprintf(e->codes[e->ncodes], ENGINE_CODE_MAX, "%s", code);
	e->chash[k] = (uint32_t)e->ncodes + 1;
	*out = (uint16_t)e->ncodes++;
	return RN_OK;
}

int engine_from_intern(struct scoring_engine *e, const char *name, uint16_t *out)
{
	/* A few names (the collectors configured); the last one found is tried first. */
	size_t last = e->from_last;
	if (last < e->nfrom && strcmp(e->from[last], name) == 0) {
		*out = (uint16_t)last;
		return RN_OK;
	}
	for (size_t i = 0; i < e->nfrom; i++) {
		if (strcmp(e->from[i], name) == 0) {
			e->from_last = i;
			*out = (uint16_t)i;
			return RN_OK;
		}
	}
	if (e->nfrom >= ENGINE_MAX_FROM) {
		*out = 0; /* attributed to nobody rather than refused */
		return RN_OK;
	}
	if (e->nfrom == e->capfrom) {
		size_t cap = e->capfrom ? e->capfrom * 2 : 8;
		char(*v)[RN_COLLECTOR_NAME_MAX] = realloc(e->from, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		e->from = v;
		e->capfrom = cap;
	}
	snprintf(e->from[e->nfrom], RN_COLLECTOR_NAME_MAX, "%s", name);
	*out = (uint16_t)e->nfrom++;
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

/* ---- late observations (real time) ---------------------------------------------- */

/*
 * Notes an observation that arrived after its bucket ended, to be decided
 * at its own time at the next pass. Beyond ENGINE_MAX_LATE (or on
 * allocation failure) it is decided at the clock only, like any other.
 */
static void late_note(struct scoring_engine *e, unsigned space, uint64_t key, int64_t ts)
{
	struct lvec *l = &e->late;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct late *v = cap > ENGINE_MAX_LATE ? NULL : realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			e->late_dropped++;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct late){.key = key, .ts = ts, .space = (uint8_t)space};
}

static int late_cmp(const void *a, const void *b)
{
	const struct late *x = a, *y = b;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/*
 * The score and contributing kinds of key at time ts, from the sets whose
 * bucket had begun by then, each decayed to ts: what a pass at ts would
 * have seen (at bucket granularity, like every score).
 */
static uint64_t score_at(const struct scoring_engine *e, unsigned space, uint64_t key, int64_t ts,
                         uint64_t *kmask)
{
	uint64_t score = 0;
	*kmask = 0;
	for (size_t i = 0; i < e->nsets; i++) {
		const struct rset *s = e->sets[i];
		if (s->space != space || s->bucket * e->conf.bucket_ms > ts)
			continue;
		const struct kslot *k = &e->kinds[s->kind];
		uint32_t unit = engine_unit(k, (s->bucket + 1) * e->conf.bucket_ms, ts);
		if (unit == 0)
			continue;
		unsigned count = set_count(s, key);
		if (count == 0)
			continue;
		score += (uint64_t)unit * count;
		*kmask |= 1ull << k->bit;
	}
	return score;
}

/*
 * Decides the late observations noted since the last pass at their own
 * time: those at which their key reached the threshold, with kinds that
 * may list, go to e->lq (one per key, the earliest) for the pass to list.
 */
static void late_resolve(struct scoring_engine *e)
{
	struct lvec *l = &e->late;
	e->lq.n = 0;
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), late_cmp);
	uint64_t T = (uint64_t)llround(e->conf.threshold * SCORING_SCALE);
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct late *x = &l->v[i];
		if (k > 0 && l->v[k - 1].space == x->space && l->v[k - 1].key == x->key)
			continue; /* this key already qualified, earlier */
		uint64_t km;
		if (score_at(e, x->space, x->key, x->ts, &km) < T || (km & e->cat_kinds) == 0 ||
		    (__builtin_popcountll(km) < 2 && (km & e->alone_kinds) == 0))
			continue;
		x->kmask = km;
		l->v[k++] = *x;
	}
	/* The qualified ones become lq; the note buffer is reused for the next pass. */
	struct lvec q = e->lq;
	e->lq = (struct lvec){.v = l->v, .n = k, .cap = l->cap};
	*l = (struct lvec){.v = q.v, .n = 0, .cap = q.cap};
}

const struct late *engine_late_find(const struct scoring_engine *e, unsigned space, uint64_t key)
{
	size_t lo = 0, hi = e->lq.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct late *x = &e->lq.v[mid];
		if (x->space < space || (x->space == space && x->key < key))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < e->lq.n && e->lq.v[lo].space == space && e->lq.v[lo].key == key)
		return &e->lq.v[lo];
	return NULL;
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

static int apply_obs(struct scoring_engine *e, const struct rn_obs *o, uint16_t from,
                     unsigned space, uint64_t key)
{
	const struct kslot *k = &e->kinds[o->kind];
	int64_t bucket = floor_div(o->ts_ms, e->conf.bucket_ms);
	struct rset *s;
	int rc = engine_set_get(e, o->kind, space, bucket, &s);
	if (rc != RN_OK)
		return rc;
	s->frozen = false; /* a late observation thaws what it writes to */
	if (s->bidx != NULL) {
		/* Its bucket's index no longer holds: its sets are probed one by one again. */
		bidx_drop(e, s->bidx);
		e->bidx_thawed++;
	}
	if ((rc = set_count_add(s, k, key, o->count)) != RN_OK)
		return rc;
	if (e->dirty_on && (rc = engine_dirty_mark(e, space, key)) != RN_OK)
		return rc;
	if (o->ts_ms < s->first_ms)
		s->first_ms = o->ts_ms;
	if (o->ts_ms > s->last_ms)
		s->last_ms = o->ts_ms;
	if (e->conf.evidence && (o->evidence[0] != '\0' || from != 0)) {
		char code[ENGINE_CODE_MAX];
		size_t el = strnlen(o->evidence, RN_EVIDENCE_MAX - 1);
		memcpy(code, o->evidence, el);
		code[el] = '\0';
		if (from != 0)
			snprintf(code + el, sizeof(code) - el, "%c%s", ENGINE_CODE_SEP,
			         e->from[from]);
		rc = set_evidence_add(e, s, code, key);
	}
	return rc;
}

static int hold(struct scoring_engine *e, const struct rn_obs *o, uint16_t from)
{
	if (e->nheld == e->capheld) {
		size_t cap = e->capheld ? e->capheld * 2 : 256;
		if (cap > (size_t)e->conf.hold_max)
			cap = (size_t)e->conf.hold_max;
		if (cap <= e->nheld)
			return RN_ELIMIT;
		uint16_t *f = realloc(e->held_from, cap * sizeof(*f));
		if (f == NULL)
			return -ENOMEM;
		e->held_from = f;
		struct rn_obs *v = realloc(e->held, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		e->held = v;
		e->capheld = cap;
	}
	e->held_from[e->nheld] = from;
	e->held[e->nheld++] = *o;
	return RN_OK;
}

int scoring_engine_ingest(struct scoring_engine *e, const struct rn_obs *obs, size_t n,
                          int64_t now_ms, struct scoring_ingest_stats *st)
{
	return scoring_engine_ingest_from(e, NULL, obs, n, now_ms, st);
}

int scoring_engine_ingest_from(struct scoring_engine *e, const char *collector,
                               const struct rn_obs *obs, size_t n, int64_t now_ms,
                               struct scoring_ingest_stats *st)
{
	struct scoring_ingest_stats local;
	if (st == NULL) {
		memset(&local, 0, sizeof(local));
		st = &local;
	}
	uint16_t from = 0;
	if (collector != NULL && collector[0] != '\0') {
		int rc = engine_from_intern(e, collector, &from);
		if (rc != RN_OK)
			return rc;
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
		/* Real time: late is what arrives after its bucket ended (passes run at the clock). */
		bool late = e->rt ? bend <= e->clock
		                  : e->last_tick != INT64_MIN && o->ts_ms < e->last_tick;
		if (late)
			st->late++;
		if (o->ts_ms >= e->next_tick && !e->rt) {
			int rc = hold(e, o, from);
			if (rc == RN_OK) {
				st->held++;
				continue;
			}
			if (rc != RN_ELIMIT)
				return rc;
			st->overflow++;
		}
		int rc = apply_obs(e, o, from, space, key);
		if (rc != RN_OK)
			return rc;
		e->touched = true;
		if (e->rt && late)
			late_note(e, space, key, o->ts_ms);
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
		uint16_t from = e->held_from[i];
		if (o->ts_ms >= t) {
			e->held_from[k] = from;
			e->held[k++] = *o;
			continue;
		}
		/* Checked when it was held; the kind may have been switched off since. */
		if (!e->kinds[o->kind].active || !obs_space(e, o, &space, &key))
			continue;
		int rc = apply_obs(e, o, from, space, key);
		if (rc != RN_OK) {
			/* Keep what is left held, so nothing is lost on a retry. */
			memmove(&e->held[k], &e->held[i], (e->nheld - i) * sizeof(*o));
			memmove(&e->held_from[k], &e->held_from[i],
			        (e->nheld - i) * sizeof(*e->held_from));
			e->nheld = k + (e->nheld - i);
			return rc;
		}
	}
	e->nheld = k;
	return RN_OK;
}

/* ---- ticks --------------------------------------------------------------------- */

/*
 * Computes the blocklist at t. A real-time pass (rt_pass) is incremental
 * unless a full one is forced, and does not count toward full_every.
 */
static int run_tick(struct scoring_engine *e, int64_t t, bool rt_pass, scoring_tick_fn cb,
                    void *arg)
{
	int64_t t0 = rn_time_mono_ns();
	int rc = held_release(e, t);
	if (rc != RN_OK)
		return rc;
	engine_off_decay(e, t);
	if ((rc = sets_prune(e, t)) != RN_OK || (rc = sets_freeze(e, t)) != RN_OK)
		return rc;
	struct scoring_table *nt = NULL;
	struct scoring_delta *d = NULL;
	bool full = !e->dirty_on || e->force_full || !e->cur->rich ||
	            (!rt_pass && e->since_full + 1 >= (uint64_t)e->conf.full_every);
	late_resolve(e);
	e->touched = false;
	rc = engine_recompute(e, t, full, &nt, &d);
	e->lq.n = 0;
	if (rc != RN_OK)
		return rc;
	engine_set_table(e, nt);
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		e->dirty[s].n = 0;
		e->dirty[s].sorted = true;
	}
	e->force_full = false;
	if (full)
		e->since_full = 0;
	else if (!rt_pass)
		e->since_full++;
	e->last_tick = t;
	e->seq++;
	if (cb != NULL) {
		struct scoring_tick tick = {.tick_ms = t,
		                            .table = nt,
		                            .delta = d,
		                            .seq = e->seq,
		                            .elapsed_ns = rn_time_mono_ns() - t0,
		                            .realtime = rt_pass};
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
	if (e->rt) {
		/* Real time: nothing is held, so the tick runs at the clock, for decay and expiry. */
		if (now < e->next_tick)
			return RN_OK;
		int rc = run_tick(e, now > e->last_tick ? now : e->last_tick, false, cb, arg);
		if (rc != RN_OK)
			return rc;
		e->next_tick = (floor_div(now, tick) + 1) * tick;
		return RN_OK;
	}
	if (e->next_tick + e->conf.lateness_ms > now)
		return RN_OK;
	int64_t last_due = floor_div(now - e->conf.lateness_ms, tick) * tick;
	if (e->live && (last_due - e->next_tick) / tick > ENGINE_MAX_CATCHUP) {
		log_notice("scoring: %lld ticks behind; computing the newest only",
		           (long long)((last_due - e->next_tick) / tick));
		e->next_tick = last_due;
	}
	while (e->next_tick <= last_due) {
		int rc = run_tick(e, e->next_tick, false, cb, arg);
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
		int rc = run_tick(e, e->next_tick, false, cb, arg);
		if (rc != RN_OK)
			return rc;
		e->next_tick += e->conf.tick_ms;
	}
	if (!e->live && e->clock < target)
		e->clock = target;
	return RN_OK;
}

bool scoring_engine_rt_pending(const struct scoring_engine *e)
{
	if (!e->rt)
		return false;
	return e->touched || e->late.n > 0;
}

int scoring_engine_realtime(struct scoring_engine *e, int64_t now_ms, scoring_tick_fn cb, void *arg)
{
	if (!e->rt)
		return RN_OK;
	if (now_ms > e->clock)
		e->clock = now_ms;
	if (!scoring_engine_rt_pending(e) || e->clock == INT64_MIN)
		return RN_OK;
	return run_tick(e, e->clock > e->last_tick ? e->clock : e->last_tick, true, cb, arg);
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
	for (size_t i = 0; i < e->nbidx; i++) {
		st->index_bytes += bidx_bytes(e->bidx[i]);
		st->indexed_buckets++;
	}
	st->set_bytes += st->index_bytes;
	st->held = e->nheld;
	st->evidence_codes = e->ncodes;
}

/* ---- explain ------------------------------------------------------------------- */

/* One evidence code of a contribution: the evidence, and the collector behind it. */
static void explain_code(const struct scoring_engine *e, uint16_t id, struct scoring_contrib *c)
{
	const char *code = e->codes[id];
	unsigned j = c->nevidence++;
	if (id == 0) {
		snprintf(c->evidence[j], sizeof(c->evidence[j]), "(other)");
		c->collector[j][0] = '\0';
		return;
	}
	const char *sep = strrchr(code, ENGINE_CODE_SEP);
	size_t el = sep != NULL ? (size_t)(sep - code) : strlen(code);
	if (el >= sizeof(c->evidence[j]))
		el = sizeof(c->evidence[j]) - 1;
	memcpy(c->evidence[j], code, el);
	c->evidence[j][el] = '\0';
	snprintf(c->collector[j], sizeof(c->collector[j]), "%s", sep != NULL ? sep + 1 : "");
}

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
					explain_code(e, s->ev[j].code, c);
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
	out->offences = engine_off_get(e, space, key);
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
