/*
 * property_test.c: the scorer's set algebra against a naive reference.
 *
 * Random observations (IPv4 hosts, IPv6 hosts aggregated to /64, IPv4
 * prefixes) are replayed through the engine. At every tick a reference
 * implementation recomputes the blocklist from scratch: it keeps each
 * observation as a plain record, sums per address over (kind, bucket)
 * with linear scans, and applies the listing rules (thresholds, the alone
 * rule, hysteresis, TTL growth with offence halving, escalation with its
 * CGNAT exclusion, protected ranges). The two must agree exactly, entry
 * by entry and field by field. The only shared code is the pure formulas
 * (the decay of a unit, the TTL, the expiry quantum).
 *
 * At every tick it also checks that no protected address is in the table
 * or added by the delta, that delta(old -> new) applied to old gives new
 * (entries and digest), and that the incrementally maintained digest
 * equals one computed from scratch.
 *
 * A second engine runs the same observations with incremental ticks
 * (rescoring only what changed, a full pass at the first tick only, every
 * closed bucket indexed); at every tick its decisions (entries,
 * categories, expiries, offences, flags), its digest and its delta must
 * equal the full engine's. The same comparison runs between two live
 * real-time engines fed events that arrive late.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "scoring/engine.h"

struct robs {
	unsigned space;
	uint64_t key;
	uint8_t kind;
	int64_t ts;
	uint32_t count;
};

struct rlist {
	unsigned space;
	uint64_t key;
	uint32_t cats;
	int64_t exp;
	uint32_t score;
	uint32_t first_s, last_s;
	uint8_t off, flags;
	int64_t first_ms, last_ms; /* before truncation, for escalation */
};

struct roff {
	unsigned space;
	uint64_t key;
	unsigned c;
};

struct cand {
	unsigned space;
	uint64_t key;
	uint64_t score;
	uint64_t kmask;
	int64_t first, last;
};

struct resc {
	uint64_t key;
	uint32_t cats, score;
	int64_t exp, first, last;
};

static struct {
	struct scoring_conf conf;
	struct kslot kinds[RN_KIND_MAX];
	uint8_t bit_kind[64];
	struct rn_prefix_list allow, noesc;
	struct robs *obs;
	size_t nobs;
	struct rlist *list;
	size_t nlist;
	struct roff *off;
	size_t noff;
	int64_t off_period;
	struct scoring_table *prev_table;
	struct scoring_table *full_t[4096], *inc_t[4096];
	int64_t full_at[4096], inc_at[4096];
	size_t full_d[4096][2], inc_d[4096][2];
	size_t nfull, ninc;
	unsigned ticks, listed_max, delisted, renewed, escalated, grown;
} R;

/* ---- reference helpers ------------------------------------------------------- */

static void key_prefix(unsigned space, uint64_t key, struct rn_prefix *p)
{
	key_to_prefix(space_family(space), space_plen(space), key, p);
}

/* Listing p would block an address of the list (IPv6 longer than /64 widens). */
static bool ref_overlaps(const struct rn_prefix_list *l, const struct rn_prefix *p)
{
	for (size_t i = 0; i < l->n; i++) {
		struct rn_prefix q = l->v[i];
		if (q.addr.family == RN_AF_INET6 && q.len > 64) {
			q.len = 64;
			rn_addr_mask(&q.addr, 64);
		}
		if (rn_prefix_overlaps(&q, p))
			return true;
	}
	return false;
}

static bool ref_protected(unsigned space, uint64_t key)
{
	struct rn_prefix p;
	key_prefix(space, key, &p);
	return ref_overlaps(&R.allow, &p);
}

static unsigned *ref_off(unsigned space, uint64_t key)
{
	for (size_t i = 0; i < R.noff; i++)
		if (R.off[i].space == space && R.off[i].key == key)
			return &R.off[i].c;
	R.off = realloc(R.off, (R.noff + 1) * sizeof(*R.off));
	R.off[R.noff] = (struct roff){space, key, 0};
	return &R.off[R.noff++].c;
}

static int cmp_obs_group(const void *a, const void *b)
{
	const struct robs *x = a, *y = b;
	int64_t bx = floor_div(x->ts, R.conf.bucket_ms), by = floor_div(y->ts, R.conf.bucket_ms);
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return bx < by ? -1 : bx > by;
}

static int cmp_obs_key(const void *a, const void *b)
{
	const struct robs *x = a, *y = b;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return cmp_obs_group(a, b);
}

static int cmp_list(const void *a, const void *b)
{
	const struct rlist *x = a, *y = b;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static uint32_t ref_cats(uint64_t kmask)
{
	uint32_t c = 0;
	for (unsigned b = 0; b < 64; b++)
		if (kmask & (1ull << b)) {
			unsigned cat = R.kinds[R.bit_kind[b]].category;
			if (cat != 0)
				c |= 1u << cat;
		}
	return c;
}

static bool ref_eligible(uint64_t kmask)
{
	unsigned n = 0;
	bool cat = false, alone = false;
	for (unsigned b = 0; b < 64; b++)
		if (kmask & (1ull << b)) {
			const struct kslot *k = &R.kinds[R.bit_kind[b]];
			n++;
			cat |= k->category != 0;
			alone |= k->alone;
		}
	return cat && (n >= 2 || alone);
}

static uint32_t to_s(int64_t ms)
{
	return ms <= 0 ? 0 : (uint32_t)(ms / 1000);
}

/* The reference blocklist at tick t, from R.obs and the previous R.list. */
static void ref_tick(int64_t t)
{
	const struct scoring_conf *c = &R.conf;
	/* Offence memory halves once per period that began. */
	int64_t p = floor_div(t, c->offence_decay_ms);
	if (R.off_period == INT64_MIN) {
		R.off_period = p;
	} else if (p > R.off_period) {
		int64_t sh = p - R.off_period;
		R.off_period = p;
		for (size_t i = 0; i < R.noff; i++)
			R.off[i].c = sh >= 3 ? 0 : R.off[i].c >> sh;
	}
	/* Observations stamped before t. */
	size_t n = 0;
	while (n < R.nobs && R.obs[n].ts < t)
		n++;
	struct robs *a = malloc((n ? n : 1) * sizeof(*a));
	memcpy(a, R.obs, n * sizeof(*a));
	/* Per (kind, space, bucket): the first and last observation of any address. */
	qsort(a, n, sizeof(*a), cmp_obs_group);
	struct grp {
		uint8_t kind;
		unsigned space;
		int64_t bucket, first, last;
	} *gv = malloc((n ? n : 1) * sizeof(*gv));
	size_t ng = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t b = floor_div(a[i].ts, c->bucket_ms);
		if (ng == 0 || gv[ng - 1].kind != a[i].kind || gv[ng - 1].space != a[i].space ||
		    gv[ng - 1].bucket != b)
			gv[ng++] = (struct grp){a[i].kind, a[i].space, b, a[i].ts, a[i].ts};
		struct grp *g = &gv[ng - 1];
		g->first = a[i].ts < g->first ? a[i].ts : g->first;
		g->last = a[i].ts > g->last ? a[i].ts : g->last;
	}
	/* Per address: the score. */
	qsort(a, n, sizeof(*a), cmp_obs_key);
	struct cand *cv = malloc((n ? n : 1) * sizeof(*cv));
	size_t nc = 0;
	for (size_t i = 0; i < n;) {
		struct cand cd = {.space = a[i].space,
		                  .key = a[i].key,
		                  .first = INT64_MAX,
		                  .last = INT64_MIN};
		size_t j = i;
		while (j < n && a[j].space == cd.space && a[j].key == cd.key) {
			size_t g = j;
			uint64_t sum = 0;
			int64_t b = floor_div(a[j].ts, c->bucket_ms);
			while (g < n && a[g].space == cd.space && a[g].key == cd.key &&
			       a[g].kind == a[j].kind && floor_div(a[g].ts, c->bucket_ms) == b)
				sum += a[g++].count;
			const struct kslot *k = &R.kinds[a[j].kind];
			uint64_t cnt = sum > k->max_count ? k->max_count : sum;
			uint32_t unit = engine_unit(k, (b + 1) * c->bucket_ms, t);
			if (unit > 0) {
				cd.score += unit * cnt;
				cd.kmask |= 1ull << k->bit;
				for (size_t q = 0; q < ng; q++) {
					const struct grp *gp = &gv[q];
					if (gp->kind != a[j].kind || gp->space != cd.space ||
					    gp->bucket != b)
						continue;
					cd.first = gp->first < cd.first ? gp->first : cd.first;
					cd.last = gp->last > cd.last ? gp->last : cd.last;
				}
			}
			j = g;
		}
		cv[nc++] = cd;
		i = j;
	}
	/* Decide, space by space: hosts first, escalations into their prefixes. */
	uint64_t T = (uint64_t)llround(c->threshold * SCORING_SCALE);
	uint64_t D = (uint64_t)llround(c->delist_threshold * SCORING_SCALE);
	struct rlist *nl = malloc((R.nlist + nc + 1024) * sizeof(*nl));
	size_t nn = 0;
	struct resc *esc[SPACE_COUNT] = {0};
	size_t nesc[SPACE_COUNT] = {0};
	unsigned h4 = space_index(4, 32), h6 = space_index(6, (unsigned)c->ipv6_prefix);
	unsigned order[SPACE_COUNT], no = 0;
	order[no++] = h4;
	order[no++] = h6;
	for (unsigned s = 0; s < SPACE_COUNT; s++)
		if (s != h4 && s != h6)
			order[no++] = s;
	for (unsigned oi = 0; oi < no; oi++) {
		unsigned sp = order[oi];
		unsigned fam = space_family(sp);
		/* The keys of this space: candidates, previous listings, escalations. */
		size_t nk = 0, capk = 64;
		uint64_t *keys = malloc(capk * sizeof(*keys));
#define ADDKEY(k)                                                          \
	do {                                                               \
		if (nk == capk)                                            \
			keys = realloc(keys, (capk *= 2) * sizeof(*keys)); \
		keys[nk++] = (k);                                          \
	} while (0)
		for (size_t i = 0; i < nc; i++)
			if (cv[i].space == sp)
				ADDKEY(cv[i].key);
		for (size_t i = 0; i < R.nlist; i++)
			if (R.list[i].space == sp)
				ADDKEY(R.list[i].key);
		for (size_t i = 0; i < nesc[sp]; i++)
			ADDKEY(esc[sp][i].key);
		/* Sort and dedupe (simple insertion sort: small). */
		for (size_t i = 1; i < nk; i++)
			for (size_t j = i; j > 0 && keys[j - 1] > keys[j]; j--) {
				uint64_t x = keys[j];
				keys[j] = keys[j - 1];
				keys[j - 1] = x;
			}
		size_t m = 0;
		for (size_t i = 0; i < nk; i++)
			if (m == 0 || keys[m - 1] != keys[i])
				keys[m++] = keys[i];
		bool host = sp == h4 || sp == h6;
		int64_t thr = sp == h4                          ? c->escalate_v4
		              : sp == h6 && c->ipv6_prefix > 48 ? c->escalate_v6
		                                                : 0;
		unsigned eplen = sp == h4 ? 24 : 48;
		for (size_t ki = 0; ki < m; ki++) {
			uint64_t key = keys[ki];
			struct cand cd = {.space = sp, .key = key};
			for (size_t i = 0; i < nc; i++)
				if (cv[i].space == sp && cv[i].key == key)
					cd = cv[i];
			const struct rlist *pv = NULL;
			for (size_t i = 0; i < R.nlist; i++)
				if (R.list[i].space == sp && R.list[i].key == key)
					pv = &R.list[i];
			const struct resc *es = NULL;
			for (size_t i = 0; i < nesc[sp]; i++)
				if (esc[sp][i].key == key)
					es = &esc[sp][i];
			bool prot = ref_protected(sp, key);
			bool elig = ref_eligible(cd.kmask);
			bool listed = false;
			uint32_t cats = 0;
			int64_t exp = 0;
			struct rlist out = {.space = sp, .key = key};
			if (!prot) {
				if (pv != NULL) {
					if (cd.score >= D && elig) {
						unsigned o = pv->off ? pv->off : 1;
						int64_t ttl = engine_ttl(c, o);
						listed = true;
						cats = ref_cats(cd.kmask);
						exp = pv->exp;
						if (exp - t < ttl / 2) {
							exp = engine_quantize(c, t + ttl);
							R.renewed++;
						}
						out.off = pv->off;
					} else if (pv->exp > t) {
						listed = true;
						cats = pv->cats;
						exp = pv->exp;
						out.off = pv->off;
						if (pv->flags & SCORING_F_ESCALATED) {
							struct rn_prefix pp;
							key_prefix(sp, key, &pp);
							if (ref_overlaps(&R.noesc, &pp))
								listed = false;
							else
								out.flags |= SCORING_F_ESCALATED;
						}
					}
				} else if (cd.score >= T && elig) {
					unsigned *o = ref_off(sp, key);
					if (*o >= 1)
						R.grown++;
					*o = *o < 7 ? *o + 1 : 7;
					listed = true;
					cats = ref_cats(cd.kmask);
					exp = engine_quantize(c, t + engine_ttl(c, *o));
					out.off = (uint8_t)*o;
				}
				if (es != NULL) {
					if (listed) {
						cats |= es->cats;
						exp = es->exp > exp ? es->exp : exp;
					} else {
						listed = true;
						cats = es->cats;
						exp = es->exp;
					}
					out.flags |= SCORING_F_ESCALATED;
				}
			}
			if (!listed) {
				if (pv != NULL)
					R.delisted++;
				continue;
			}
			int64_t first = INT64_MAX, last = INT64_MIN;
			if (cd.kmask != 0) {
				first = cd.first;
				last = cd.last;
			}
			if (pv != NULL) {
				if ((int64_t)pv->first_s * 1000 < first)
					first = (int64_t)pv->first_s * 1000;
				if ((int64_t)pv->last_s * 1000 > last)
					last = (int64_t)pv->last_s * 1000;
			}
			uint64_t score = cd.score;
			if (es != NULL) {
				first = es->first < first ? es->first : first;
				last = es->last > last ? es->last : last;
				score = es->score > score ? es->score : score;
			}
			out.cats = cats;
			out.exp = exp;
			out.score = score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
			out.first_s = to_s(first);
			out.last_s = to_s(last);
			out.first_ms = first;
			out.last_ms = last;
			nl[nn++] = out;
		}
		if (host && thr > 0) {
			/* Escalation: group this space's listings by parent. */
			unsigned tsp = space_index(fam, eplen);
			uint64_t pm = key_mask(fam, eplen);
			for (size_t i = 0; i < nn;) {
				if (nl[i].space != sp) {
					i++;
					continue;
				}
				uint64_t parent = nl[i].key & pm;
				struct resc x = {
				        .key = parent, .first = INT64_MAX, .last = INT64_MIN};
				size_t members = 0, j = i;
				for (; j < nn && nl[j].space == sp && (nl[j].key & pm) == parent;
				     j++) {
					members++;
					x.cats |= nl[j].cats;
					x.exp = nl[j].exp > x.exp ? nl[j].exp : x.exp;
					x.score = nl[j].score > x.score ? nl[j].score : x.score;
					x.first =
					        nl[j].first_ms < x.first ? nl[j].first_ms : x.first;
					x.last = nl[j].last_ms > x.last ? nl[j].last_ms : x.last;
				}
				i = j;
				struct rn_prefix pp;
				key_prefix(tsp, parent, &pp);
				if ((int64_t)members < thr || ref_overlaps(&R.allow, &pp) ||
				    ref_overlaps(&R.noesc, &pp))
					continue;
				esc[tsp] = realloc(esc[tsp], (nesc[tsp] + 1) * sizeof(x));
				esc[tsp][nesc[tsp]++] = x;
				R.escalated++;
			}
		}
		free(keys);
	}
	for (unsigned s = 0; s < SPACE_COUNT; s++)
		free(esc[s]);
	qsort(nl, nn, sizeof(*nl), cmp_list);
	free(R.list);
	R.list = nl;
	R.nlist = nn;
	if (nn > R.listed_max)
		R.listed_max = (unsigned)nn;
	free(cv);
	free(gv);
	free(a);
}

/* ---- the comparison, at every tick --------------------------------------------- */

static void keep_tick(struct scoring_table **tv, int64_t *at, size_t (*dv)[2], size_t *n,
                      const struct scoring_tick *tick)
{
	if (*n >= 4096)
		fail_msg("too many ticks in one step");
	tv[*n] = scoring_table_ref((struct scoring_table *)tick->table);
	at[*n] = tick->tick_ms;
	dv[*n][0] = scoring_delta_added(tick->delta);
	dv[*n][1] = scoring_delta_removed(tick->delta);
	(*n)++;
}

static void on_tick_inc(void *arg, const struct scoring_tick *tick)
{
	(void)arg;
	keep_tick(R.inc_t, R.inc_at, R.inc_d, &R.ninc, tick);
}

/*
 * The incremental engine's ticks since the last call match the full
 * engine's. With first_seen false, an entry's first-seen time is not
 * compared: a late event that moves a set's first observation earlier
 * moves it for every member of the set in a full pass, and only for the
 * members rescored in an incremental one (a column of the display, like
 * the score, that waits for the next full pass; decisions, digest and
 * delta do not depend on it).
 */
static void compare_inc_x(bool first_seen)
{
	assert_int_equal(R.nfull, R.ninc);
	for (size_t k = 0; k < R.nfull; k++) {
		assert_int_equal(R.full_at[k], R.inc_at[k]);
		uint8_t a[32], b[32];
		scoring_table_digest(R.full_t[k], a);
		scoring_table_digest(R.inc_t[k], b);
		if (memcmp(a, b, 32) != 0 || R.full_d[k][0] != R.inc_d[k][0] ||
		    R.full_d[k][1] != R.inc_d[k][1])
			fail_msg("tick %lld: incremental differs (delta +%zu -%zu vs +%zu -%zu)",
			         (long long)R.full_at[k], R.inc_d[k][0], R.inc_d[k][1],
			         R.full_d[k][0], R.full_d[k][1]);
		struct scoring_iter ia, ib;
		struct scoring_entry x, y;
		scoring_iter_init_all(&ia, R.full_t[k]);
		scoring_iter_init_all(&ib, R.inc_t[k]);
		while (scoring_iter_next(&ia, &x)) {
			assert_true(scoring_iter_next(&ib, &y));
			if (x.prefix.len != y.prefix.len ||
			    !rn_addr_equal(&x.prefix.addr, &y.prefix.addr) || x.cats != y.cats ||
			    x.expires_ms != y.expires_ms || x.offences != y.offences ||
			    x.flags != y.flags ||
			    (first_seen && x.first_seen_ms != y.first_seen_ms))
				fail_msg("tick %lld: incremental entry differs: len %u/%u cats "
				         "%x/%x "
				         "exp %lld/%lld off %u/%u flags %x/%x first %lld/%lld",
				         (long long)R.full_at[k], x.prefix.len, y.prefix.len,
				         x.cats, y.cats, (long long)x.expires_ms,
				         (long long)y.expires_ms, x.offences, y.offences, x.flags,
				         y.flags, (long long)x.first_seen_ms,
				         (long long)y.first_seen_ms);
		}
		assert_false(scoring_iter_next(&ib, &y));
		scoring_table_free(R.full_t[k]);
		scoring_table_free(R.inc_t[k]);
	}
	R.nfull = R.ninc = 0;
}

static void compare_inc(void)
{
	compare_inc_x(true);
}

static void on_tick(void *arg, const struct scoring_tick *tick)
{
	keep_tick(R.full_t, R.full_at, R.full_d, &R.nfull, tick);
	R.ticks++;
	ref_tick(tick->tick_ms);
	const struct scoring_table *t = tick->table;
	struct scoring_iter it;
	struct scoring_entry e;
	size_t i = 0;
	scoring_iter_init_all(&it, t);
	while (scoring_iter_next(&it, &e)) {
		if (i >= R.nlist)
			fail_msg("tick %lld: engine lists more than the reference (%zu)",
			         (long long)tick->tick_ms, R.nlist);
		const struct rlist *r = &R.list[i++];
		struct rn_prefix rp;
		key_prefix(r->space, r->key, &rp);
		char a1[RN_PREFIX_STRLEN], a2[RN_PREFIX_STRLEN];
		rn_prefix_format(&e.prefix, a1, sizeof(a1));
		rn_prefix_format(&rp, a2, sizeof(a2));
		if (strcmp(a1, a2) != 0 || e.cats != r->cats || e.expires_ms != r->exp ||
		    e.score != r->score || e.offences != r->off || e.flags != r->flags ||
		    e.first_seen_ms != (int64_t)r->first_s * 1000 ||
		    e.last_seen_ms != (int64_t)r->last_s * 1000) {
			for (size_t k = 0; k < R.nobs && getenv("PT_DEBUG"); k++)
				if (R.obs[k].space == r->space && R.obs[k].key == r->key &&
				    R.obs[k].ts < tick->tick_ms)
					print_message("obs kind %u ts %lld count %u\n",
					              R.obs[k].kind, (long long)R.obs[k].ts,
					              R.obs[k].count);
			if (getenv("PT_DEBUG") && arg != NULL) {
				struct scoring_explain *x = malloc(sizeof(*x));
				scoring_engine_explain(arg, &rp.addr, x);
				for (unsigned k = 0; k < x->ncontrib; k++)
					print_message(
					        "engine: kind %u bucket %lld count %u points %u\n",
					        x->contrib[k].kind,
					        (long long)x->contrib[k].bucket_start_ms,
					        x->contrib[k].count, x->contrib[k].points);
				struct scoring_engine *en = arg;
				print_message("held %zu next_tick %lld\n", en->nheld,
				              (long long)en->next_tick);
				free(x);
			}
			fail_msg("tick %lld entry %zu: engine %s cats %x exp %lld score %u off %u "
			         "flags %x first %lld last %lld; reference %s cats %x exp %lld "
			         "score %u off %u flags %x first %lld last %lld",
			         (long long)tick->tick_ms, i, a1, e.cats, (long long)e.expires_ms,
			         e.score, e.offences, e.flags, (long long)e.first_seen_ms,
			         (long long)e.last_seen_ms, a2, r->cats, (long long)r->exp,
			         r->score, r->off, r->flags, (long long)r->first_s * 1000,
			         (long long)r->last_s * 1000);
		}
		/* Allowlisted addresses never appear. */
		assert_false(ref_overlaps(&R.allow, &e.prefix));
	}
	assert_int_equal(i, R.nlist);
	/* Nor are they ever added by a delta. */
	for (size_t k = 0; k < scoring_delta_added(tick->delta); k++) {
		struct scoring_listing l;
		scoring_delta_get_added(tick->delta, k, &l);
		assert_false(ref_overlaps(&R.allow, &l.prefix));
	}
	/* delta(old -> new) applied to old gives new. */
	struct scoring_table *applied = NULL, *fresh = NULL;
	RN_PASS(scoring_table_apply(R.prev_table, tick->delta, NULL, &applied));
	uint8_t d1[32], d2[32], d3[32];
	scoring_table_digest(applied, d1);
	scoring_table_digest(t, d2);
	assert_memory_equal(d1, d2, 32);
	struct scoring_delta *diff = NULL;
	RN_PASS(scoring_delta_diff(applied, t, &diff));
	assert_true(scoring_delta_empty(diff));
	scoring_delta_free(diff);
	/* The incremental digest equals one computed from the entries. */
	struct scoring_entry *ents = malloc((scoring_table_count(t) + 1) * sizeof(*ents));
	size_t ne = 0;
	scoring_iter_init_all(&it, t);
	while (scoring_iter_next(&it, &ents[ne]))
		ne++;
	RN_PASS(scoring_table_build(ents, ne, false, &fresh));
	scoring_table_digest(fresh, d3);
	assert_memory_equal(d2, d3, 32);
	free(ents);
	scoring_table_free(fresh);
	scoring_table_free(applied);
	scoring_table_free(R.prev_table);
	R.prev_table = scoring_table_ref((struct scoring_table *)t);
}

/* ---- the scenario ---------------------------------------------------------------- */

static void set_kind(struct scoring_conf *c, enum rn_kind k, double w, int64_t hl, int64_t win,
                     enum rn_category cat, bool alone, unsigned max)
{
	c->kinds[k] = (struct scoring_kind){.weight = w,
	                                    .half_life_ms = hl,
	                                    .window_ms = win,
	                                    .category = (uint8_t)cat,
	                                    .alone = alone,
	                                    .max_count = (uint8_t)max};
}

static void add_prefix(struct rn_prefix_list *l, const char *s)
{
	struct rn_prefix p;
	if (rn_prefix_parse_str(s, true, &p) != RN_OK || rn_prefix_list_add(l, &p) != RN_OK)
		fail_msg("prefix %s", s);
}

static void run_scenario(uint64_t seed, size_t nobs, bool variant)
{
	memset(&R, 0, sizeof(R));
	R.off_period = INT64_MIN;
	struct scoring_conf *c = &R.conf;
	RN_PASS(scoring_conf_defaults(c));
	memset(c->kinds, 0, sizeof(c->kinds));
	set_kind(c, RN_KIND_SASL_FAIL, 1.25, 120000, 0, RN_CAT_SASL_BRUTEFORCE, true, 8);
	set_kind(c, RN_KIND_PREGREET, 5, 300000, 0, RN_CAT_PROTOCOL_BOT, true, 1);
	set_kind(c, RN_KIND_NO_RDNS, 1, 0, 180000, RN_CAT_UNSPECIFIED, false, 1);
	set_kind(c, RN_KIND_HANGUP, 1, 60000, 0, RN_CAT_PROTOCOL_BOT, false, 3);
	set_kind(c, RN_KIND_RATE_LIMITED, 3, 100000, 0, RN_CAT_SPAM_SOURCE, false, 3);
	set_kind(c, RN_KIND_IMPORTED, 6, 0, 600000, RN_CAT_DROP, true, 1);
	c->bucket_ms = 60000;
	c->tick_ms = 10000;
	c->full_every = 1;
	c->lateness_ms = 2000;
	c->decay_horizon = 4;
	c->ttl_ms = 300000;
	c->ttl_max_ms = 2400000;
	c->ttl_growth = 2;
	c->offence_decay_ms = 1800000;
	c->expiry_quantum_ms = 60000;
	c->escalate_v4 = 3;
	c->escalate_v6 = 2;
	c->default_never_block = false;
	if (variant) {
		/* IPv6 aggregated to /56, no evidence, no lateness allowance. */
		c->ipv6_prefix = 56;
		c->evidence = false;
		c->lateness_ms = 0;
		c->escalate_v4 = 5;
	}
	add_prefix(&c->allowlist, "10.0.3.8/29");
	add_prefix(&c->allowlist, "2001:db8:0:2::5/128");
	add_prefix(&c->cgnat, "10.0.2.0/24");
	add_prefix(&R.allow, "10.0.3.8/29");
	add_prefix(&R.allow, "2001:db8:0:2::5/128");
	add_prefix(&R.noesc, "10.0.2.0/24");
	add_prefix(&R.noesc, "100.64.0.0/10");
	char err[128];
	RN_PASS(engine_kinds_resolve(c, R.kinds, R.bit_kind, err, sizeof(err)));

	struct scoring_engine *e = NULL, *ei = NULL;
	RN_PASS(scoring_engine_new(c, false, &e));
	c->full_every = 100000; /* incremental after its first tick */
	RN_PASS(scoring_engine_new(c, false, &ei));
	c->full_every = 1;
	/* Every closed bucket of two slices or more is indexed (bidx.c), however small. */
	ei->bidx_min_keys = 1;
	RN_PASS(scoring_table_empty(&R.prev_table));

	/* Observations, in time order, in bursts. */
	struct rn_obs *obs = calloc(nobs, sizeof(*obs));
	const enum rn_kind kinds[] = {RN_KIND_SASL_FAIL, RN_KIND_PREGREET,     RN_KIND_NO_RDNS,
	                              RN_KIND_HANGUP,    RN_KIND_RATE_LIMITED, RN_KIND_SMTP_CONNECT,
	                              RN_KIND_SASL_FAIL, RN_KIND_HANGUP};
	int64_t ts = 1700000000000;
	for (size_t i = 0; i < nobs; i++) {
		struct rn_obs *o = &obs[i];
		uint64_t r = rn_test_rand(&seed);
		ts += (int64_t)(r % 100 < 1 ? 100000 + r % 200000 : r % 4000);
		o->ts_ms = ts;
		o->count = 1 + (uint32_t)(r >> 8) % 3;
		o->kind = (uint16_t)kinds[(r >> 12) % RN_ARRAY_LEN(kinds)];
		o->source = RN_SRC_POSTFIX;
		unsigned sel = (unsigned)(r >> 20) % 100;
		if (sel < 72) {
			rn_addr_set_v4(&o->addr, 0x0A000000u | (uint32_t)((r >> 28) % 4) << 8 |
			                                 (uint32_t)(r >> 32) % 16);
		} else if (sel < 82) {
			o->kind = (r >> 40) % 4 == 0 ? RN_KIND_RATE_LIMITED : RN_KIND_IMPORTED;
			unsigned third = (unsigned)(r >> 44) % 5;
			rn_addr_set_v4(&o->addr, 0x0A000000u | (third % 4) << 8);
			o->prefix_len = third == 4 ? 16 : 24;
		} else {
			uint8_t b[16] = {0x20, 0x01,
			                 0x0d, 0xb8,
			                 0,    (uint8_t)((r >> 28) % 2),
			                 0,    (uint8_t)((r >> 30) % 4)};
			b[15] = (uint8_t)(r >> 36) % 8;
			rn_addr_set_v6(&o->addr, b);
		}
		rn_obs_set_evidence(o, "code", 4);
		/* The reference keeps what the engine will keep. */
		if (!R.kinds[o->kind].active)
			continue;
		unsigned plen = o->addr.family == RN_AF_INET ? (o->prefix_len ? o->prefix_len : 32)
		                                             : (unsigned)c->ipv6_prefix;
		unsigned sp = space_index(o->addr.family, plen);
		uint64_t key = key_of_addr(&o->addr, plen);
		if (ref_protected(sp, key))
			continue;
		R.obs = realloc(R.obs, (R.nobs + 1) * sizeof(*R.obs));
		R.obs[R.nobs++] = (struct robs){sp, key, (uint8_t)o->kind, o->ts_ms, o->count};
	}
	struct scoring_ingest_stats st = {0};
	for (size_t i = 0; i < nobs;) {
		size_t b = 1 + rn_test_rand(&seed) % 40;
		if (b > nobs - i)
			b = nobs - i;
		RN_PASS(scoring_engine_ingest(e, obs + i, b, 0, &st));
		RN_PASS(scoring_engine_advance(e, 0, on_tick, e));
		RN_PASS(scoring_engine_ingest(ei, obs + i, b, 0, NULL));
		RN_PASS(scoring_engine_advance(ei, 0, on_tick_inc, NULL));
		compare_inc();
		i += b;
	}
	RN_PASS(scoring_engine_flush(e, on_tick, e));
	RN_PASS(scoring_engine_flush(ei, on_tick_inc, NULL));
	compare_inc();
	assert_int_equal(st.accepted + st.ignored + st.protected, nobs);
	assert_int_equal(st.stale + st.bad + st.future, 0);
	/* Ticks continue well past the last burst, so every listing expires. */
	struct rn_obs tail = obs[nobs - 1];
	tail.ts_ms += 3 * c->ttl_max_ms;
	tail.kind = RN_KIND_NO_RDNS; /* never lists alone */
	tail.prefix_len = 0;
	rn_addr_set_v4(&tail.addr, 0x0A000300u);
	R.obs = realloc(R.obs, (R.nobs + 1) * sizeof(*R.obs));
	R.obs[R.nobs++] = (struct robs){space_index(4, 32), 0x0A000300u, RN_KIND_NO_RDNS,
	                                tail.ts_ms, tail.count};
	RN_PASS(scoring_engine_ingest(e, &tail, 1, 0, &st));
	RN_PASS(scoring_engine_advance(e, 0, on_tick, e));
	RN_PASS(scoring_engine_ingest(ei, &tail, 1, 0, NULL));
	RN_PASS(scoring_engine_advance(ei, 0, on_tick_inc, NULL));
	compare_inc();
	assert_int_equal(scoring_table_count(scoring_engine_table(e)), 0);
	print_message("seed %llu: %u ticks, up to %u listed, %u delisted, %u renewed, "
	              "%u escalations, %u repeat offences, %llu protected drops\n",
	              (unsigned long long)seed, R.ticks, R.listed_max, R.delisted, R.renewed,
	              R.escalated, R.grown, (unsigned long long)st.protected);
	/* The scenario must exercise what it claims to. */
	assert_true(R.ticks > 100);
	assert_true(R.listed_max > 10);
	assert_true(R.delisted > 0);
	assert_true(R.renewed > 0);
	assert_true(R.escalated > 0);
	assert_true(R.grown > 0);
	assert_true(st.protected > 0);
	/* Closed buckets were indexed, and late observations dropped indexes. */
	print_message("seed %llu: %llu bucket indexes built\n", (unsigned long long)seed,
	              (unsigned long long)ei->bidx_built);
	assert_true(ei->bidx_built > 10);
	free(obs);
	scoring_engine_free(e);
	scoring_engine_free(ei);
	scoring_table_free(R.prev_table);
	free(R.obs);
	free(R.list);
	free(R.off);
	rn_prefix_list_clear(&R.allow);
	rn_prefix_list_clear(&R.noesc);
	scoring_conf_release(c);
}

static void on_tick_full(void *arg, const struct scoring_tick *tick)
{
	(void)arg;
	keep_tick(R.full_t, R.full_at, R.full_d, &R.nfull, tick);
}

/*
 * Real time, with events that arrive late, some buckets after their own
 * ended: a live engine that rescores everything at every pass and one
 * that rescores incrementally, with every closed bucket indexed however
 * small, must agree at every pass and tick. A late event writes to a
 * closed bucket, which drops that bucket's index; later ticks index it
 * again.
 */
static void run_realtime(uint64_t seed, size_t nobs)
{
	memset(&R, 0, sizeof(R));
	struct scoring_conf c;
	RN_PASS(scoring_conf_defaults(&c));
	memset(c.kinds, 0, sizeof(c.kinds));
	set_kind(&c, RN_KIND_SASL_FAIL, 1.25, 120000, 0, RN_CAT_SASL_BRUTEFORCE, true, 8);
	set_kind(&c, RN_KIND_PREGREET, 5, 300000, 0, RN_CAT_PROTOCOL_BOT, true, 1);
	set_kind(&c, RN_KIND_NO_RDNS, 1, 0, 180000, RN_CAT_UNSPECIFIED, false, 1);
	set_kind(&c, RN_KIND_HANGUP, 1, 60000, 0, RN_CAT_PROTOCOL_BOT, false, 3);
	c.bucket_ms = 60000;
	c.tick_ms = 10000;
	c.realtime_ms = 20;
	c.decay_horizon = 4;
	c.ttl_ms = 300000;
	c.ttl_max_ms = 2400000;
	c.expiry_quantum_ms = 60000;
	c.escalate_v4 = 3;
	c.default_never_block = false;
	c.full_every = 1;
	struct scoring_engine *e = NULL, *ei = NULL;
	RN_PASS(scoring_engine_new(&c, true, &e));
	c.full_every = 100000;
	RN_PASS(scoring_engine_new(&c, true, &ei));
	ei->bidx_min_keys = 1;
	int64_t now = 1700000000000;
	RN_PASS(scoring_engine_advance(e, now, NULL, NULL));
	RN_PASS(scoring_engine_advance(ei, now, NULL, NULL));
	const enum rn_kind kinds[] = {RN_KIND_SASL_FAIL, RN_KIND_PREGREET, RN_KIND_NO_RDNS,
	                              RN_KIND_HANGUP};
	uint64_t late = 0;
	bool off_seen = false, indexed_while_off = false;
	for (size_t i = 0; i < nobs;) {
		size_t b = 1 + rn_test_rand(&seed) % 20;
		struct rn_obs v[20];
		for (size_t k = 0; k < b; k++) {
			uint64_t r = rn_test_rand(&seed);
			memset(&v[k], 0, sizeof(v[k]));
			/* One in eight stamped up to three buckets ago. */
			v[k].ts_ms = r % 8 == 0 ? now - (int64_t)((r >> 3) % 180000) : now;
			v[k].count = 1 + (uint32_t)(r >> 24) % 3;
			v[k].kind = (uint16_t)kinds[(r >> 28) % RN_ARRAY_LEN(kinds)];
			v[k].source = RN_SRC_POSTFIX;
			rn_addr_set_v4(&v[k].addr, 0x0A000000u | (uint32_t)((r >> 32) % 4) << 8 |
			                                   (uint32_t)(r >> 40) % 24);
		}
		struct scoring_ingest_stats st = {0};
		RN_PASS(scoring_engine_ingest(e, v, b, now, &st));
		RN_PASS(scoring_engine_ingest(ei, v, b, now, NULL));
		late += st.late;
		RN_PASS(scoring_engine_realtime(e, now, on_tick_full, NULL));
		RN_PASS(scoring_engine_realtime(ei, now, on_tick_inc, NULL));
		RN_PASS(scoring_engine_advance(e, now, on_tick_full, NULL));
		RN_PASS(scoring_engine_advance(ei, now, on_tick_inc, NULL));
		if (!c.bucket_index && R.ninc > 0 && ei->nbidx != 0)
			indexed_while_off = true; /* a pass ran with indexing off */
		compare_inc_x(false);
		now += (int64_t)(rn_test_rand(&seed) % 3000);
		size_t before = i;
		i += b;
		/* Indexing off for the middle third (the indexes go at the next tick), then on again. */
		if ((before < nobs / 3) != (i < nobs / 3) ||
		    (before < 2 * nobs / 3) != (i < 2 * nobs / 3)) {
			c.bucket_index = i >= 2 * nobs / 3;
			RN_PASS(scoring_engine_reconfigure(ei, &c));
			RN_PASS(scoring_engine_reconfigure(e, &c)); /* the same full tick in both */
			off_seen |= !c.bucket_index;
		}
	}
	assert_true(off_seen);
	assert_false(indexed_while_off);
	print_message("real time, seed %llu: %llu late events; %llu bucket indexes built, "
	              "%llu dropped by a late event\n",
	              (unsigned long long)seed, (unsigned long long)late,
	              (unsigned long long)ei->bidx_built, (unsigned long long)ei->bidx_thawed);
	assert_true(late > 100);
	assert_true(ei->bidx_built > 10);
	assert_true(ei->bidx_thawed > 0);
	assert_true(scoring_table_count(scoring_engine_table(e)) > 0);
	scoring_engine_free(e);
	scoring_engine_free(ei);
	scoring_conf_release(&c);
}

static void test_realtime(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++)
		run_realtime(seed * 0xD1B54A32D192ED03ull, 6000);
}

static void test_reference(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++)
		run_scenario(seed * 0x9E3779B97F4A7C15ull, 3500, seed % 2 == 0);
}

RN_TEST_MAIN(test_reference, test_realtime)
