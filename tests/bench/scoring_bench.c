/*
 * scoring_bench.c: the scorer's figures.
 *
 *   scoring_bench [N=1000000] [SETS=12] [DESIGNS=1]
 *
 * Builds N candidate IPv4 addresses spread over SETS reputation sets (each
 * holding 22% of the candidates, uniformly random, as in the issue's
 * measurement: 12 sets of 220k for 1M), through the real ingest path, and
 * prints:
 *   - ingest rate (observations per second);
 *   - full recompute time, first tick (everything new) and steady state;
 *   - the time to ingest a batch of 10k observations and recompute, and the
 *     incremental pass after 100 and 2000 (what a real-time pass does);
 *   - lookup ns/op on the resulting blocklist, listed and random addresses;
 *   - bytes per listed address in memory (table) and serialised (Snapshot);
 *   - with DESIGNS=1, the candidate recompute designs on the same sets:
 *     roaring_bitmap_or_many, lazy in-place ORs, the union as a sorted
 *     array with weights accumulated by merge, bit-sliced counters over
 *     roaring, and this engine's chunked merge; each must list the same
 *     addresses.
 * Single thread, bounded sizes. Not a test: figures only.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>

#include "scoring/engine.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static inline uint64_t xr(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define T0 1800000000000

static const enum rn_kind kinds[] = {
        RN_KIND_SASL_FAIL,         RN_KIND_PREGREET,      RN_KIND_RBL_LISTED,
        RN_KIND_UNKNOWN_RECIPIENT, RN_KIND_HANGUP,        RN_KIND_NO_RDNS,
        RN_KIND_LOST_CONNECTION,   RN_KIND_TIMEOUT,       RN_KIND_PROTOCOL_ERROR,
        RN_KIND_CLIENT_REJECT,     RN_KIND_SENDER_REJECT, RN_KIND_HELO_REJECT,
        RN_KIND_SCAN_HORIZONTAL,   RN_KIND_SCAN_VERTICAL, RN_KIND_AUTH_BRUTEFORCE,
        RN_KIND_NON_SMTP};

/* Weights in points, so that about a tenth of the candidates cross 5. */
static double weight_of(size_t i)
{
	static const double w[] = {2, 1.5, 2.5, 1, 1.5, 1, 2, 1.5, 1, 2.5, 1, 2, 1.5, 1, 2, 1};
	return w[i % RN_ARRAY_LEN(w)];
}

static struct scoring_conf make_conf(size_t nsets)
{
	struct scoring_conf c;
	if (scoring_conf_defaults(&c) != RN_OK)
		exit(1);
	memset(c.kinds, 0, sizeof(c.kinds));
	for (size_t i = 0; i < nsets && i < RN_ARRAY_LEN(kinds); i++)
		c.kinds[kinds[i]] = (struct scoring_kind){.weight = weight_of(i),
		                                          .half_life_ms = 86400000,
		                                          .category = RN_CAT_SPAM_SOURCE,
		                                          .alone = true,
		                                          .max_count = 1};
	c.default_never_block = false;
	c.escalate_v4 = 0;
	c.evidence = false;
	c.tick_ms = 60000;
	c.lateness_ms = 0;
	c.hold_max = 0;
	return c;
}

struct tickinfo {
	int64_t ns;
	size_t added, removed, listed;
};

static void on_tick(void *arg, const struct scoring_tick *t)
{
	struct tickinfo *ti = arg;
	ti->ns = t->elapsed_ns;
	ti->added = scoring_delta_added(t->delta);
	ti->removed = scoring_delta_removed(t->delta);
	ti->listed = scoring_table_count(t->table);
}

/* The candidate designs, on plain bitmaps of the same sets. */
static void designs(roaring_bitmap_t **sets, const uint32_t *w, size_t nsets, uint32_t thr,
                    const roaring_bitmap_t *want)
{
	double t0, t1;
	/* 1. or_many, then accumulate the weights over the sorted union. */
	t0 = now_ns();
	roaring_bitmap_t *u = roaring_bitmap_or_many(nsets, (const roaring_bitmap_t **)sets);
	t1 = now_ns();
	printf("  union: roaring_bitmap_or_many          %8.1f ms\n", (t1 - t0) / 1e6);
	roaring_bitmap_free(u);
	t0 = now_ns();
	u = roaring_bitmap_copy(sets[0]);
	for (size_t i = 1; i < nsets; i++)
		roaring_bitmap_lazy_or_inplace(u, sets[i], false);
	roaring_bitmap_repair_after_lazy(u);
	t1 = now_ns();
	printf("  union: lazy in-place ORs               %8.1f ms\n", (t1 - t0) / 1e6);
	/* 2. Union as a sorted array, each set merged into a score array. */
	t0 = now_ns();
	uint64_t nu = roaring_bitmap_get_cardinality(u);
	uint32_t *uv = malloc(nu * sizeof(*uv));
	uint32_t *score = calloc(nu, sizeof(*score));
	roaring_bitmap_to_uint32_array(u, uv);
	uint32_t *sv = malloc(nu * sizeof(*sv));
	for (size_t i = 0; i < nsets; i++) {
		uint64_t ns = roaring_bitmap_get_cardinality(sets[i]);
		roaring_bitmap_to_uint32_array(sets[i], sv);
		size_t k = 0;
		for (uint64_t j = 0; j < ns; j++) {
			while (uv[k] < sv[j])
				k++;
			score[k] += w[i];
		}
	}
	roaring_bitmap_t *l2 = roaring_bitmap_create();
	for (uint64_t k = 0; k < nu; k++)
		if (score[k] >= thr)
			roaring_bitmap_add(l2, uv[k]);
	t1 = now_ns();
	printf("  union as array + merged weights        %8.1f ms  (after the lazy union)  %s\n",
	       (t1 - t0) / 1e6, roaring_bitmap_equals(l2, want) ? "same" : "DIFFERENT");
	/* 3. Bit-sliced counters: score += w * set, as ripple-carry adds of bitmaps. */
	t0 = now_ns();
	roaring_bitmap_t *slice[16] = {0};
	unsigned nsl = 0;
	uint32_t total = 0;
	for (size_t i = 0; i < nsets; i++)
		total += w[i];
	while ((1u << nsl) <= total)
		nsl++;
	for (unsigned b = 0; b < nsl; b++)
		slice[b] = roaring_bitmap_create();
	for (size_t i = 0; i < nsets; i++) {
		for (unsigned bit = 0; bit < nsl; bit++) {
			if (!(w[i] & (1u << bit)))
				continue;
			roaring_bitmap_t *carry = roaring_bitmap_copy(sets[i]);
			for (unsigned b = bit; b < nsl && !roaring_bitmap_is_empty(carry); b++) {
				roaring_bitmap_t *nc = roaring_bitmap_and(slice[b], carry);
				roaring_bitmap_xor_inplace(slice[b], carry);
				roaring_bitmap_free(carry);
				carry = nc;
			}
			roaring_bitmap_free(carry);
		}
	}
	/* score >= thr, from the top slice down: gt | (eq & ...). */
	roaring_bitmap_t *gt = roaring_bitmap_create(), *eq = roaring_bitmap_copy(u);
	for (unsigned b = nsl; b-- > 0;) {
		if (thr & (1u << b)) {
			roaring_bitmap_and_inplace(eq, slice[b]);
		} else {
			roaring_bitmap_t *x = roaring_bitmap_and(eq, slice[b]);
			roaring_bitmap_or_inplace(gt, x);
			roaring_bitmap_free(x);
			roaring_bitmap_andnot_inplace(eq, slice[b]);
		}
	}
	roaring_bitmap_or_inplace(gt, eq);
	t1 = now_ns();
	printf("  bit-sliced counters (%u slices)         %8.1f ms                          %s\n",
	       nsl, (t1 - t0) / 1e6, roaring_bitmap_equals(gt, want) ? "same" : "DIFFERENT");
	for (unsigned b = 0; b < nsl; b++)
		roaring_bitmap_free(slice[b]);
	roaring_bitmap_free(gt);
	roaring_bitmap_free(eq);
	roaring_bitmap_free(l2);
	free(uv);
	free(sv);
	free(score);
	roaring_bitmap_free(u);
}

/*
 * Wire size in a steady state: n addresses listed over a day, a
 * twenty-fourth of them each hour, so expiries spread as they do live
 * (TTL 1 day, renewed in its second half), encoded with a given expiry
 * quantum.
 */
static void wire_steady(const uint32_t *cv, size_t n, int64_t quantum)
{
	struct scoring_conf c;
	if (scoring_conf_defaults(&c) != RN_OK)
		exit(1);
	memset(c.kinds, 0, sizeof(c.kinds));
	c.kinds[RN_KIND_PREGREET] = (struct scoring_kind){.weight = 5,
	                                                  .half_life_ms = 6 * 3600000,
	                                                  .category = RN_CAT_PROTOCOL_BOT,
	                                                  .alone = true,
	                                                  .max_count = 1};
	c.default_never_block = false;
	c.escalate_v4 = 0;
	c.evidence = false;
	c.tick_ms = 3600000;
	c.lateness_ms = 0;
	c.expiry_quantum_ms = quantum;
	struct scoring_engine *e = NULL;
	if (scoring_engine_new(&c, false, &e) != RN_OK)
		exit(1);
	size_t chunk = 65536;
	struct rn_obs *ob = calloc(chunk, sizeof(*ob));
	for (size_t h = 0; h < 24; h++) {
		size_t from = n * h / 24, to = n * (h + 1) / 24, k = 0;
		for (size_t i = from; i < to; i++) {
			struct rn_obs *o = &ob[k++];
			memset(o, 0, sizeof(*o));
			/* A fixed permutation: each hour's addresses are spread over the space. */
			rn_addr_set_v4(&o->addr, cv[(i * 2654435761u) % n]);
			o->kind = RN_KIND_PREGREET;
			o->count = 1;
			o->ts_ms = T0 + (int64_t)h * 3600000 + 1000;
			if (k == chunk || i + 1 == to) {
				scoring_engine_ingest(e, ob, k, 0, NULL);
				k = 0;
			}
		}
		scoring_engine_advance(e, 0, NULL, NULL);
	}
	scoring_engine_flush(e, NULL, NULL);
	const struct scoring_table *t = scoring_engine_table(e);
	uint8_t *snap = NULL;
	size_t slen = 0;
	scoring_snapshot_encode(t, &snap, &slen);
	printf("wire, listed over a day, expiry quantum %lldh: %zu listed in %zu expiries, "
	       "Snapshot "
	       "%.2f MB = %.2f B/address\n",
	       (long long)(quantum / 3600000), scoring_table_count(t), t->ncls, (double)slen / 1e6,
	       (double)slen / (double)scoring_table_count(t));
	free(snap);
	free(ob);
	scoring_engine_free(e);
	scoring_conf_release(&c);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t nsets = argc > 2 ? strtoull(argv[2], NULL, 10) : 12;
	int with_designs = argc > 3 ? atoi(argv[3]) : 1;
	if (n > 50000000 || nsets < 1 || nsets > RN_ARRAY_LEN(kinds))
		return 2;
	rn_log_init("bench", true, RN_LOG_WARNING);
	printf("# scoring_bench: %zu candidate IPv4 addresses, %zu sets of %.0f%% each (uniform "
	       "random)\n",
	       n, nsets, 22.0);

	/* Candidates: distinct random addresses. */
	roaring_bitmap_t *cand = roaring_bitmap_create();
	for (size_t have = 0; have < n;)
		have += roaring_bitmap_add_checked(cand, (uint32_t)xr() | 0x01000000u);
	uint32_t *cv = malloc(n * sizeof(*cv));
	roaring_bitmap_to_uint32_array(cand, cv);
	roaring_bitmap_free(cand);

	struct scoring_conf c = make_conf(nsets);
	struct scoring_engine *e = NULL;
	if (scoring_engine_new(&c, false, &e) != RN_OK)
		return 1;
	roaring_bitmap_t **sets = calloc(nsets, sizeof(*sets));
	uint32_t *w = calloc(nsets, sizeof(*w));
	size_t per = n * 22 / 100, chunk = 65536;
	struct rn_obs *ob = calloc(chunk, sizeof(*ob));
	double ingest_ns = 0;
	size_t nobs = 0;
	size_t h0 = heap_bytes();
	for (size_t s = 0; s < nsets; s++) {
		sets[s] = roaring_bitmap_create();
		w[s] = (uint32_t)(weight_of(s) * SCORING_SCALE);
		size_t k = 0;
		for (size_t i = 0; i < per; i++) {
			uint32_t a = cv[xr() % n];
			roaring_bitmap_add(sets[s], a);
			struct rn_obs *o = &ob[k++];
			memset(o, 0, sizeof(*o));
			rn_addr_set_v4(&o->addr, a);
			o->kind = (uint16_t)kinds[s];
			o->count = 1;
			o->ts_ms = T0 + (int64_t)(xr() % 50000);
			if (k == chunk || i + 1 == per) {
				double t0 = now_ns();
				scoring_engine_ingest(e, ob, k, 0, NULL);
				ingest_ns += now_ns() - t0;
				nobs += k;
				k = 0;
			}
		}
	}
	struct scoring_engine_stats est;
	scoring_engine_stats(e, &est);
	printf("ingest: %zu observations in %.0f ms: %.2f M obs/s; sets: %zu, %.1f MB (%.1f B per "
	       "set member, roaring)\n",
	       nobs, ingest_ns / 1e6, (double)nobs / ingest_ns * 1e3, est.sets,
	       (double)est.set_bytes / 1e6, (double)est.set_bytes / (double)est.set_keys);
	(void)h0;

	/* The first tick lists everything; the next ones are steady state. */
	struct tickinfo ti = {0};
	struct rn_obs clk;
	memset(&clk, 0, sizeof(clk));
	rn_addr_set_v4(&clk.addr, cv[0]);
	clk.kind = (uint16_t)kinds[0];
	clk.count = 1;
	clk.ts_ms = T0 + 60000;
	scoring_engine_ingest(e, &clk, 1, 0, NULL);
	scoring_engine_advance(e, 0, on_tick, &ti);
	printf("recompute, first tick:   %7.1f ms  (%zu listed, delta +%zu -%zu)\n", ti.ns / 1e6,
	       ti.listed, ti.added, ti.removed);
	int reps = getenv("BENCH_TICKS") ? atoi(getenv("BENCH_TICKS")) : 3;
	double best[2] = {1e30, 1e30}, best_cpu[2] = {1e30, 1e30}, ibest = 1e30, ibest_cpu = 1e30;
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1) {
			/* Past the end of the bucket: its sets are closed, and frozen at the next tick. */
			clk.ts_ms = T0 + 3600000 + 60000;
			scoring_engine_ingest(e, &clk, 1, 0, NULL);
			scoring_engine_advance(e, 0, on_tick, &ti);
		}
		for (int r = 0; r < reps; r++) {
			/* A full recompute: forced by handing the engine its own configuration. */
			scoring_engine_reconfigure(e, &c);
			clk.ts_ms += 60000;
			scoring_engine_ingest(e, &clk, 1, 0, NULL);
			double c0 = cpu_ns();
			scoring_engine_advance(e, 0, on_tick, &ti);
			double c1 = cpu_ns() - c0;
			best[phase] = ti.ns < best[phase] ? (double)ti.ns : best[phase];
			best_cpu[phase] = c1 < best_cpu[phase] ? c1 : best_cpu[phase];
		}
	}
	for (int r = 0; r < reps; r++) {
		/* An incremental tick, with nothing new. */
		clk.ts_ms += 60000;
		scoring_engine_ingest(e, &clk, 1, 0, NULL);
		double c0 = cpu_ns();
		scoring_engine_advance(e, 0, on_tick, &ti);
		double c1 = cpu_ns() - c0;
		ibest = ti.ns < ibest ? (double)ti.ns : ibest;
		ibest_cpu = c1 < ibest_cpu ? c1 : ibest_cpu;
	}
	printf("recompute, full, sets of the open bucket: %7.1f ms wall, %6.1f ms CPU (best of "
	       "%d)\n",
	       best[0] / 1e6, best_cpu[0] / 1e6, reps);
	printf("recompute, full, sets of closed buckets:  %7.1f ms wall, %6.1f ms CPU (best of "
	       "%d)\n",
	       best[1] / 1e6, best_cpu[1] / 1e6, reps);
	printf("recompute, incremental, nothing new:      %7.1f ms wall, %6.1f ms CPU (best of "
	       "%d)\n",
	       ibest / 1e6, ibest_cpu / 1e6, reps);
	scoring_engine_stats(e, &est);
	printf("closed buckets indexed: %zu, %.1f MB (sets and indexes %.1f MB)\n",
	       est.indexed_buckets, (double)est.index_bytes / 1e6, (double)est.set_bytes / 1e6);

	/*
	 * Batches of observations, applied, and the incremental tick that takes
	 * them in: 10k (the figure), and the real-time passes'
	 * sizes, a trickle and 100k observations/s coalesced over a 20 ms
	 * interval (2000 per pass); real-time passes run this same incremental
	 * recompute over the keys touched since the last pass. full_every is
	 * raised so that no periodic full pass lands among them (real-time
	 * passes never count toward it). Each is repeated; the median and the
	 * best are printed, since one run on a shared machine says little.
	 */
	struct scoring_conf ci = c;
	ci.full_every = 100000;
	scoring_engine_reconfigure(e, &ci);
	clk.ts_ms += 60000;
	scoring_engine_ingest(e, &clk, 1, 0, NULL);
	scoring_engine_advance(e, 0, on_tick, &ti); /* the reconfiguration's full tick */
	int breps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 9;
	if (breps < 1 || breps > 1000)
		breps = 9;
	size_t bsz[] = {10000, 100, 2000};
	size_t nbsz = RN_ARRAY_LEN(bsz);
	if (getenv("BENCH_ONLY") != NULL) { /* one size, for a profile of it */
		bsz[0] = strtoull(getenv("BENCH_ONLY"), NULL, 10);
		nbsz = bsz[0] >= 1 && bsz[0] <= 65536 ? 1 : 0;
	}
	double *wv = calloc((size_t)breps, sizeof(*wv)), *cv2 = calloc((size_t)breps, sizeof(*cv2));
	for (size_t x = 0; x < nbsz; x++) {
		size_t nb = bsz[x], added = 0;
		double ing = 0;
		for (int r = 0; r < breps; r++) {
			for (size_t i = 0; i < nb; i++) {
				memset(&ob[i], 0, sizeof(ob[i]));
				rn_addr_set_v4(&ob[i].addr, cv[xr() % n]);
				ob[i].kind = (uint16_t)kinds[xr() % nsets];
				ob[i].count = 1;
				ob[i].ts_ms = clk.ts_ms + 1000;
			}
			double i0 = cpu_ns();
			scoring_engine_ingest(e, ob, nb, 0, NULL);
			ing += cpu_ns() - i0;
			clk.ts_ms += 60000;
			scoring_engine_ingest(e, &clk, 1, 0, NULL);
			double k2 = cpu_ns();
			scoring_engine_advance(e, 0, on_tick, &ti);
			cv2[r] = cpu_ns() - k2;
			wv[r] = (double)ti.ns;
			added += ti.added;
		}
		qsort(wv, (size_t)breps, sizeof(*wv), cmp_dbl);
		qsort(cv2, (size_t)breps, sizeof(*cv2), cmp_dbl);
		printf("%zu observations, then the incremental tick: median %.1f ms wall %.1f ms "
		       "CPU, "
		       "best %.1f ms wall %.1f ms CPU (%d runs; ingest %.2f ms CPU; %.0f listed "
		       "per "
		       "run)\n",
		       nb, wv[breps / 2] / 1e6, cv2[breps / 2] / 1e6, wv[0] / 1e6, cv2[0] / 1e6,
		       breps, ing / breps / 1e6, (double)added / breps);
	}
	free(wv);
	free(cv2);

	/* Lookups. */
	double t0, t1;
	const struct scoring_table *t = scoring_engine_table(e);
	size_t q = 2000000;
	uint32_t *hit = malloc(q * sizeof(*hit)), *miss = malloc(q * sizeof(*miss));
	struct scoring_iter it;
	struct scoring_entry en;
	uint32_t *listed = malloc(scoring_table_count(t) * sizeof(*listed));
	size_t nl = 0;
	scoring_iter_init(&it, t);
	while (scoring_iter_next(&it, &en))
		listed[nl++] = en.prefix.addr.u.v4;
	for (size_t i = 0; i < q; i++) {
		hit[i] = listed[xr() % nl];
		miss[i] = (uint32_t)xr();
	}
	struct scoring_hit h;
	struct rn_addr a;
	size_t found = 0;
	t0 = now_ns();
	for (size_t i = 0; i < q; i++) {
		rn_addr_set_v4(&a, hit[i]);
		found += scoring_table_lookup(t, &a, 0, &h);
	}
	t1 = now_ns();
	printf("lookup, listed addresses: %6.1f ns/op (%zu found)\n", (t1 - t0) / (double)q, found);
	found = 0;
	t0 = now_ns();
	for (size_t i = 0; i < q; i++) {
		rn_addr_set_v4(&a, miss[i]);
		found += scoring_table_lookup(t, &a, 0, &h);
	}
	t1 = now_ns();
	printf("lookup, random addresses: %6.1f ns/op (%zu found)\n", (t1 - t0) / (double)q, found);

	/* Bytes per listed address. */
	uint8_t *snap = NULL;
	size_t slen = 0;
	scoring_snapshot_encode(t, &snap, &slen);
	size_t tb = scoring_table_bytes(t);
	printf("memory: table %.1f MB for %zu listed = %.2f B/address (with score, first/last seen "
	       "and offence columns; lookup part %.2f B)\n",
	       (double)tb / 1e6, nl, (double)tb / (double)nl,
	       (double)(nl * sizeof(struct trec) + 65537 * 4) / (double)nl);
	printf("wire: Snapshot body %.2f MB = %.2f B/listed address (%zu expiries)\n",
	       (double)slen / 1e6, (double)slen / (double)nl, t->ncls);
	free(snap);
	if (getenv("BENCH_WIRE") == NULL || atoi(getenv("BENCH_WIRE")) != 0) {
		wire_steady(cv, n, 3600000);
		wire_steady(cv, n, 6 * 3600000);
		wire_steady(cv, n, 12 * 3600000);
	}

	if (with_designs) {
		/* The same decision on plain bitmaps: score >= threshold, every set current. */
		roaring_bitmap_t *want = roaring_bitmap_create();
		roaring_bitmap_t *u =
		        roaring_bitmap_or_many(nsets, (const roaring_bitmap_t **)sets);
		uint64_t nu = roaring_bitmap_get_cardinality(u);
		uint32_t *uv = malloc(nu * sizeof(*uv));
		roaring_bitmap_to_uint32_array(u, uv);
		for (uint64_t i = 0; i < nu; i++) {
			uint32_t sc = 0;
			for (size_t s = 0; s < nsets; s++)
				if (roaring_bitmap_contains(sets[s], uv[i]))
					sc += w[s];
			if (sc >= 5000)
				roaring_bitmap_add(want, uv[i]);
		}
		free(uv);
		roaring_bitmap_free(u);
		printf("candidate designs (same %zu sets, listing at 5 points; %llu qualify):\n",
		       nsets, (unsigned long long)roaring_bitmap_get_cardinality(want));
		designs(sets, w, nsets, 5000, want);
		/* This engine, on a fresh engine with the same sets: a full tick. */
		struct scoring_engine *f = NULL;
		c.full_every = 1;
		scoring_engine_new(&c, false, &f);
		for (size_t s = 0; s < nsets; s++) {
			uint64_t ns = roaring_bitmap_get_cardinality(sets[s]);
			uint32_t *sv = malloc(ns * sizeof(*sv));
			roaring_bitmap_to_uint32_array(sets[s], sv);
			for (uint64_t i = 0; i < ns; i += chunk) {
				size_t k = ns - i < chunk ? (size_t)(ns - i) : chunk;
				for (size_t j = 0; j < k; j++) {
					memset(&ob[j], 0, sizeof(ob[j]));
					rn_addr_set_v4(&ob[j].addr, sv[i + j]);
					ob[j].kind = (uint16_t)kinds[s];
					ob[j].count = 1;
					ob[j].ts_ms = T0 + 1000;
				}
				scoring_engine_ingest(f, ob, k, 0, NULL);
			}
			free(sv);
		}
		struct rn_obs c2 = clk;
		c2.ts_ms = T0 + 60000;
		scoring_engine_ingest(f, &c2, 1, 0, NULL);
		scoring_engine_advance(f, 0, on_tick, &ti); /* the first tick: everything new */
		double first = (double)ti.ns;
		c2.ts_ms += 60000;
		scoring_engine_ingest(f, &c2, 1, 0, NULL);
		scoring_engine_advance(f, 0, on_tick, &ti); /* the next: the same decisions again */
		roaring_bitmap_t *got = roaring_bitmap_create();
		scoring_iter_init(&it, scoring_engine_table(f));
		while (scoring_iter_next(&it, &en))
			roaring_bitmap_add(got, en.prefix.addr.u.v4);
		roaring_bitmap_remove(got, c2.addr.u.v4);
		roaring_bitmap_remove(want, c2.addr.u.v4);
		printf("  this engine: chunked merge, full tick  %8.1f ms  (table, delta, digest; "
		       "%.1f ms for the first, all new) "
		       "%s\n",
		       ti.ns / 1e6, first / 1e6,
		       roaring_bitmap_equals(got, want) ? "same" : "DIFFERENT");
		roaring_bitmap_free(got);
		roaring_bitmap_free(want);
		scoring_engine_free(f);
	}
	for (size_t s = 0; s < nsets; s++)
		roaring_bitmap_free(sets[s]);
	free(sets);
	free(w);
	free(ob);
	free(cv);
	free(hit);
	free(miss);
	free(listed);
	scoring_engine_free(e);
	scoring_conf_release(&c);
	return 0;
}
