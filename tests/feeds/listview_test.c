/*
 * listview_test.c: the list view against a brute-force model, its change
 * log, its limits, lookups running while the list changes, and the
 * change watcher (the sync role's wake-up).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/view/view.h"
#include "test.h"

static struct feeds_view_entry ent(const char *pfx, uint32_t cats, int64_t exp)
{
	struct feeds_view_entry e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(rn_prefix_parse_str(pfx, true, &e.prefix), RN_OK);
	e.categories = cats;
	e.expires_ms = exp;
	return e;
}

static uint32_t look(const struct feeds_view *v, const char *addr, int64_t *exp)
{
	struct rn_addr a;
	assert_int_equal(rn_addr_parse_str(addr, &a), RN_OK);
	return v->lookup(v->arg, &a, exp);
}

static void test_basic(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	int64_t exp;
	RN_PASS(feeds_listview_alloc(&lv, 100));
	feeds_listview_view(lv, &v);
	struct feeds_view_entry e[] = {
	        ent("192.0.2.1", 1u << 1, 0),    ent("192.0.2.0/24", 1u << 3, 5000),
	        ent("192.0.0.0/16", 1u << 4, 0), ent("2001:db8::/32", 1u << 10, 7),
	        ent("2001:db8::1", 1u << 2, 9),  ent("198.51.100.7", 1u << 1 | 1u << 5, 0),
	};
	RN_PASS(feeds_listview_apply(lv, e, RN_ARRAY_LEN(e), NULL, 0));
	assert_int_equal(feeds_listview_count(lv), 6);
	/* The most specific listing wins. */
	assert_int_equal(look(&v, "192.0.2.1", &exp), 1u << 1);
	assert_int_equal(exp, 0);
	assert_int_equal(look(&v, "192.0.2.2", &exp), 1u << 3);
	assert_int_equal(exp, 5000);
	assert_int_equal(look(&v, "192.0.3.2", NULL), 1u << 4);
	assert_int_equal(look(&v, "192.1.0.0", NULL), 0);
	assert_int_equal(look(&v, "2001:db8::1", &exp), 1u << 2);
	assert_int_equal(exp, 9);
	assert_int_equal(look(&v, "2001:db8::2", NULL), 1u << 10);
	assert_int_equal(look(&v, "2001:db9::2", NULL), 0);
	/* A v4-mapped address is the IPv4 address. */
	assert_int_equal(look(&v, "::ffff:198.51.100.7", NULL), 1u << 1 | 1u << 5);

	/* Delete a host: its enclosing prefix shows through. */
	struct rn_prefix d;
	RN_PASS(rn_prefix_parse_str("192.0.2.1", true, &d));
	RN_PASS(feeds_listview_apply(lv, NULL, 0, &d, 1));
	assert_int_equal(look(&v, "192.0.2.1", NULL), 1u << 3);
	/* Replacing an entry changes its categories. */
	struct feeds_view_entry r = ent("192.0.2.0/24", 1u << 7, 0);
	RN_PASS(feeds_listview_apply(lv, &r, 1, NULL, 0));
	assert_int_equal(look(&v, "192.0.2.1", NULL), 1u << 7);
	assert_int_equal(feeds_listview_count(lv), 5);

	/* Invalid entries are refused whole. */
	struct feeds_view_entry bad = ent("192.0.2.0/24", 0, 0);
	RN_FAILS_WITH(feeds_listview_apply(lv, &bad, 1, NULL, 0), RN_EPARSE);
	bad = ent("192.0.2.0/24", 1, 0);
	bad.prefix.len = 16; /* host bits set */
	bad.prefix.addr.u.v4 |= 1;
	RN_FAILS_WITH(feeds_listview_apply(lv, &bad, 1, NULL, 0), RN_EPARSE);
	feeds_listview_free(lv);
	feeds_listview_free(NULL);
}

struct walk_acc {
	struct feeds_view_entry v[16];
	size_t n;
};

static int walk_fn(void *arg, const struct feeds_view_entry *e)
{
	struct walk_acc *w = arg;
	if (w->n < 16)
		w->v[w->n] = *e;
	w->n++;
	return 0;
}

struct change_acc {
	int added, removed;
	char last[RN_PREFIX_STRLEN];
};

static int change_fn(void *arg, enum feeds_view_change what, const struct feeds_view_entry *e)
{
	struct change_acc *c = arg;
	if (what == FEEDS_VIEW_ADDED)
		c->added++;
	else
		c->removed++;
	rn_prefix_format(&e->prefix, c->last, sizeof(c->last));
	return 0;
}

static void test_walk_changes_replace(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	uint64_t ver;
	RN_PASS(feeds_listview_alloc(&lv, 8));
	feeds_listview_view(lv, &v);
	struct feeds_view_entry e[] = {ent("2001:db8::/32", 2, 0), ent("198.51.100.7", 2, 0),
	                               ent("10.0.0.0/8", 2, 0), ent("10.0.0.0/16", 4, 0),
	                               ent("10.0.0.1", 8, 0)};
	RN_PASS(feeds_listview_apply(lv, e, RN_ARRAY_LEN(e), NULL, 0));
	struct walk_acc w = {.n = 0};
	RN_PASS(v.walk(v.arg, walk_fn, &w, &ver));
	assert_int_equal(w.n, 5);
	assert_int_equal(ver, 1);
	/* Address order, shorter prefixes first at the same address, IPv4 first. */
	char s[RN_PREFIX_STRLEN];
	const char *want[] = {"10.0.0.0/8", "10.0.0.0/16", "10.0.0.1/32", "198.51.100.7/32",
	                      "2001:db8::/32"};
	for (size_t i = 0; i < 5; i++) {
		rn_prefix_format(&w.v[i].prefix, s, sizeof(s));
		assert_string_equal(s, want[i]);
	}

	/* Replace: one batch with the difference. */
	struct feeds_view_entry next[] = {ent("10.0.0.0/8", 2, 0), ent("10.0.0.1", 16, 0),
	                                  ent("203.0.113.9", 2, 0)};
	RN_PASS(feeds_listview_replace(lv, next, RN_ARRAY_LEN(next)));
	assert_int_equal(feeds_listview_version(lv), 2);
	struct change_acc c = {0};
	RN_PASS(v.changes(v.arg, 1, change_fn, &c, &ver));
	assert_int_equal(ver, 2);
	assert_int_equal(c.added, 2);   /* 10.0.0.1 changed, 203.0.113.9 new */
	assert_int_equal(c.removed, 3); /* 10.0.0.0/16, 198.51.100.7, 2001:db8::/32 */
	/* No change: the same state again is no new version. */
	RN_PASS(feeds_listview_replace(lv, next, RN_ARRAY_LEN(next)));
	assert_int_equal(feeds_listview_version(lv), 2);
	memset(&c, 0, sizeof(c));
	RN_PASS(v.changes(v.arg, 2, change_fn, &c, &ver));
	assert_int_equal(c.added + c.removed, 0);

	/* The log holds 8 changes: older positions must walk the full state. */
	RN_FAILS_WITH(v.changes(v.arg, 0, change_fn, &c, &ver), RN_ENOTFOUND);
	struct feeds_view_entry more[] = {ent("203.0.113.10", 2, 0), ent("203.0.113.11", 2, 0),
	                                  ent("203.0.113.12", 2, 0)};
	RN_PASS(feeds_listview_apply(lv, more, 3, NULL, 0));
	RN_PASS(feeds_listview_apply(lv, more, 1, NULL, 0)); /* no change, new version */
	struct feeds_view_entry one = ent("203.0.113.13", 2, 0);
	RN_PASS(feeds_listview_apply(lv, &one, 1, NULL, 0));
	RN_PASS(feeds_listview_apply(lv, &one, 0, &one.prefix, 1));
	/* Versions 2..6 hold 5 + 3 + 0 + 1 + 1 changes: version 2 fell out. */
	RN_FAILS_WITH(v.changes(v.arg, 1, change_fn, &c, &ver), RN_ENOTFOUND);
	memset(&c, 0, sizeof(c));
	RN_PASS(v.changes(v.arg, 2, change_fn, &c, &ver));
	assert_int_equal(c.added, 4);
	assert_int_equal(c.removed, 1);
	memset(&c, 0, sizeof(c));
	RN_PASS(v.changes(v.arg, 4, change_fn, &c, &ver));
	assert_int_equal(c.added, 1);
	assert_int_equal(c.removed, 1);
	assert_string_equal(c.last, "203.0.113.13/32");
	/* A batch larger than the log restarts it. */
	struct feeds_view_entry big[9];
	for (int i = 0; i < 9; i++) {
		char p[32];
		snprintf(p, sizeof(p), "192.0.2.%d", i + 1);
		big[i] = ent(p, 2, 0);
	}
	RN_PASS(feeds_listview_apply(lv, big, 9, NULL, 0));
	RN_FAILS_WITH(v.changes(v.arg, 6, change_fn, &c, &ver), RN_ENOTFOUND);
	RN_PASS(v.changes(v.arg, ver, change_fn, &c, &ver));
	feeds_listview_free(lv);
}

static void test_class_limit(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	RN_PASS(feeds_listview_alloc(&lv, 0));
	feeds_listview_view(lv, &v);
	/* 255 distinct (categories, expiry) pairs among hosts; the 256th fails. */
	struct feeds_view_entry *e = calloc(256, sizeof(*e));
	assert_non_null(e);
	for (int i = 0; i < 256; i++) {
		rn_addr_set_v4(&e[i].prefix.addr, 0xC0000200u + (uint32_t)i);
		e[i].prefix.len = 32;
		e[i].categories = 2;
		e[i].expires_ms = i + 1;
	}
	RN_FAILS_WITH(feeds_listview_apply(lv, e, 256, NULL, 0), RN_ELIMIT);
	assert_int_equal(feeds_listview_count(lv), 0);
	RN_PASS(feeds_listview_apply(lv, e, 255, NULL, 0));
	assert_int_equal(look(&v, "192.0.2.77", NULL), 2);
	/* Freed classes are reused once their hosts are gone. */
	struct rn_prefix d[10];
	for (int i = 0; i < 10; i++)
		d[i] = e[i].prefix;
	RN_PASS(feeds_listview_apply(lv, NULL, 0, d, 10));
	RN_PASS(feeds_listview_apply(lv, e + 255, 1, NULL, 0));
	int64_t exp;
	assert_int_equal(look(&v, "192.0.2.255", &exp), 2);
	assert_int_equal(exp, 256);
	feeds_listview_free(lv);
	free(e);
}

/* Random batches against a brute-force model. */
#define MODEL_N 3000

struct model {
	struct feeds_view_entry e[MODEL_N];
	bool on[MODEL_N];
};

static uint32_t model_lookup(const struct model *m, const struct rn_addr *a)
{
	int best = -1;
	for (int i = 0; i < MODEL_N; i++)
		if (m->on[i] && rn_prefix_contains(&m->e[i].prefix, a) &&
		    (best < 0 || m->e[i].prefix.len > m->e[best].prefix.len))
			best = i;
	return best < 0 ? 0 : m->e[best].categories;
}

static void rand_addr(uint64_t *s, struct rn_addr *a)
{
	uint64_t r = rn_test_rand(s);
	if (r % 4 == 0) {
		uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
		b[5] = (uint8_t)(r >> 8);
		b[15] = (uint8_t)(r >> 16) & 7;
		rn_addr_set_v6(a, b);
	} else {
		/* Dense in a few /16s so that buckets fill and prefixes overlap. */
		rn_addr_set_v4(a, 0x0a000000u | (uint32_t)((r >> 8) % 3) << 16 |
		                          (uint32_t)(r >> 20) % 1024);
	}
}

static void test_model(void **state)
{
	(void)state;
	static struct model m;
	struct feeds_listview *lv;
	struct feeds_view v;
	uint64_t seed = 42;
	RN_PASS(feeds_listview_alloc(&lv, 1000));
	feeds_listview_view(lv, &v);
	for (int i = 0; i < MODEL_N; i++) {
		struct rn_addr a;
		rand_addr(&seed, &a);
		unsigned max = rn_addr_maxlen(&a);
		unsigned len = rn_test_rand(&seed) % 3 == 0
		                       ? max - (unsigned)(rn_test_rand(&seed) % 12)
		                       : max;
		rn_addr_mask(&a, len);
		m.e[i].prefix.addr = a;
		m.e[i].prefix.len = (uint8_t)len;
		m.e[i].categories = 1u << (1 + rn_test_rand(&seed) % 10);
		m.e[i].expires_ms = (int64_t)(rn_test_rand(&seed) % 4);
		for (int j = 0; j < i; j++)
			if (rn_addr_equal(&m.e[j].prefix.addr, &a) && m.e[j].prefix.len == len)
				m.e[i].prefix.len = 0; /* a duplicate prefix: disable it */
	}
	for (int round = 0; round < 40; round++) {
		struct feeds_view_entry add[100];
		struct rn_prefix del[100];
		size_t na = 0, nd = 0;
		for (int k = 0; k < 100; k++) {
			int i = (int)(rn_test_rand(&seed) % MODEL_N);
			if (m.e[i].prefix.len == 0)
				continue;
			bool dup = false;
			for (size_t x = 0; x < na; x++)
				dup |= memcmp(&add[x].prefix, &m.e[i].prefix,
				              sizeof(add[x].prefix)) == 0;
			for (size_t x = 0; x < nd; x++)
				dup |= memcmp(&del[x], &m.e[i].prefix, sizeof(del[x])) == 0;
			if (dup)
				continue;
			if (rn_test_rand(&seed) % 3 == 0) {
				del[nd++] = m.e[i].prefix;
				m.on[i] = false;
			} else {
				add[na++] = m.e[i];
				m.on[i] = true;
			}
		}
		RN_PASS(feeds_listview_apply(lv, add, na, del, nd));
		for (int q = 0; q < 300; q++) {
			struct rn_addr a;
			rand_addr(&seed, &a);
			assert_int_equal(v.lookup(v.arg, &a, NULL), model_lookup(&m, &a));
		}
	}
	size_t on = 0;
	for (int i = 0; i < MODEL_N; i++)
		on += m.on[i];
	assert_int_equal(feeds_listview_count(lv), on);
	feeds_listview_free(lv);
}

/* Readers look up addresses that stay listed while a writer churns others. */
struct reader_arg {
	const struct feeds_view *v;
	_Atomic bool *stop;
	uint64_t misses, lookups;
};

static void *reader(void *p)
{
	struct reader_arg *r = p;
	struct rn_addr a;
	uint64_t s = (uint64_t)(uintptr_t)p | 1;
	while (!atomic_load(r->stop)) {
		/* Stable: 10.1.x.0 for x in 0..255, always category bit 1. */
		rn_addr_set_v4(&a, 0x0a010000u | (uint32_t)(rn_test_rand(&s) % 256) << 8);
		if (r->v->lookup(r->v->arg, &a, NULL) != 2)
			r->misses++;
		r->lookups++;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	_Atomic bool stop = false;
	pthread_t th[3];
	struct reader_arg ra[3];
	RN_PASS(feeds_listview_alloc(&lv, 256));
	feeds_listview_view(lv, &v);
	struct feeds_view_entry stable[256];
	for (int i = 0; i < 256; i++) {
		memset(&stable[i], 0, sizeof(stable[i]));
		rn_addr_set_v4(&stable[i].prefix.addr, 0x0a010000u | (uint32_t)i << 8);
		stable[i].prefix.len = 32;
		stable[i].categories = 2;
	}
	RN_PASS(feeds_listview_apply(lv, stable, 256, NULL, 0));
	for (int i = 0; i < 3; i++) {
		ra[i] = (struct reader_arg){.v = &v, .stop = &stop};
		assert_int_equal(pthread_create(&th[i], NULL, reader, &ra[i]), 0);
	}
	/* Churn the same buckets: hosts next to the stable ones, and prefixes. */
	uint64_t s = 7;
	for (int round = 0; round < 400; round++) {
		struct feeds_view_entry add[64];
		struct rn_prefix del[64];
		for (int k = 0; k < 64; k++) {
			memset(&add[k], 0, sizeof(add[k]));
			rn_addr_set_v4(&add[k].prefix.addr,
			               0x0a010000u | (uint32_t)(rn_test_rand(&s) % 256) << 8 |
			                       (uint32_t)(1 + rn_test_rand(&s) % 255));
			add[k].prefix.len = 32;
			add[k].categories = 1u << (2 + round % 8);
			add[k].expires_ms = round % 3;
			del[k] = add[k].prefix;
		}
		RN_PASS(feeds_listview_apply(lv, add, 64, NULL, 0));
		RN_PASS(feeds_listview_apply(lv, NULL, 0, del, 64));
	}
	atomic_store(&stop, true);
	uint64_t lookups = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ra[i].misses, 0);
		lookups += ra[i].lookups;
	}
	assert_true(lookups > 0);
	assert_int_equal(feeds_listview_count(lv), 256);
	feeds_listview_free(lv);
}

static void count_call(void *arg)
{
	(*(int *)arg)++;
}

/* The watcher is called once per batch that changed something, and no more once removed. */
static void test_watch(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	int calls = 0;
	RN_PASS(feeds_listview_alloc(&lv, 16));
	feeds_listview_view(lv, &v);
	assert_non_null(v.watch);
	v.watch(v.arg, count_call, &calls);
	struct feeds_view_entry e[] = {ent("192.0.2.1", 1u << 1, 0), ent("192.0.2.2", 1u << 1, 0)};
	RN_PASS(feeds_listview_apply(lv, e, 2, NULL, 0));
	assert_int_equal(calls, 1);
	/* replace(): the first load into an empty view, then a change, then no change. */
	struct feeds_view_entry r[] = {ent("192.0.2.1", 1u << 1, 0)};
	RN_PASS(feeds_listview_replace(lv, r, 1));
	assert_int_equal(calls, 2);
	struct feeds_view_entry r2[] = {ent("192.0.2.1", 1u << 1, 0)};
	RN_PASS(feeds_listview_replace(lv, r2, 1));
	assert_int_equal(calls, 2);
	v.watch(v.arg, NULL, NULL);
	RN_PASS(feeds_listview_apply(lv, e, 2, NULL, 0));
	assert_int_equal(calls, 2);
	feeds_listview_free(lv);
}

/* ---- the bulk load against the batch path ------------------------------ */

#define BULK_POOL 2000

struct entries {
	struct feeds_view_entry *v;
	size_t n, cap;
};

static int entries_fn(void *arg, const struct feeds_view_entry *e)
{
	struct entries *a = arg;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
		assert_non_null(a->v);
	}
	a->v[a->n++] = *e;
	return 0;
}

struct change_list {
	struct entries e;
	int what[8192];
};

static int change_list_fn(void *arg, enum feeds_view_change what, const struct feeds_view_entry *e)
{
	struct change_list *c = arg;
	assert_true(c->e.n < RN_ARRAY_LEN(c->what));
	c->what[c->e.n] = (int)what;
	return entries_fn(&c->e, e);
}

static void assert_same_entries(const struct entries *a, const struct entries *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_true(rn_addr_equal(&a->v[i].prefix.addr, &b->v[i].prefix.addr));
		assert_int_equal(a->v[i].prefix.len, b->v[i].prefix.len);
		assert_int_equal(a->v[i].categories, b->v[i].categories);
		assert_int_equal(a->v[i].expires_ms, b->v[i].expires_ms);
	}
}

/*
 * Full states (duplicates, several classes, hosts, prefixes, IPv6) loaded
 * by feeds_listview_replace_load() into one view and applied as batches
 * of the difference into another: the same content, lookups, versions and
 * change logs, including when a load overflows the log.
 */
static void test_bulk_load(void **state)
{
	(void)state;
	static struct feeds_view_entry pool[BULK_POOL], raw[BULK_POOL * 2], next[BULK_POOL * 2];
	struct feeds_listview *bulk, *inc;
	struct feeds_view vb, vi;
	uint64_t seed = 4242;
	RN_PASS(feeds_listview_alloc(&bulk, 1500));
	RN_PASS(feeds_listview_alloc(&inc, 1500));
	feeds_listview_view(bulk, &vb);
	feeds_listview_view(inc, &vi);
	for (int i = 0; i < BULK_POOL; i++) {
		struct rn_addr a;
		rand_addr(&seed, &a);
		unsigned max = rn_addr_maxlen(&a);
		unsigned len = rn_test_rand(&seed) % 5 == 0
		                       ? max - (unsigned)(rn_test_rand(&seed) % 12)
		                       : max;
		rn_addr_mask(&a, len);
		memset(&pool[i], 0, sizeof(pool[i]));
		pool[i].prefix.addr = a;
		pool[i].prefix.len = (uint8_t)len;
	}
	for (int round = 0; round < 8; round++) {
		size_t nraw = 0, nnext = 0;
		/* Round 0 has one class (the compact path); later ones up to six. */
		for (int i = 0; i < BULK_POOL; i++) {
			if (rn_test_rand(&seed) % 2 == 0)
				continue;
			raw[nraw] = pool[i];
			raw[nraw].categories = round == 0 ? 2 : 1u << (1 + rn_test_rand(&seed) % 3);
			raw[nraw].expires_ms = round == 0 ? 0 : (int64_t)(rn_test_rand(&seed) % 2);
			nraw++;
			/* A later duplicate with other data: the last wins. */
			if (round > 0 && rn_test_rand(&seed) % 8 == 0) {
				raw[nraw] = raw[nraw - 1];
				raw[nraw].categories <<= 4;
				nraw++;
			}
		}
		/* Shuffle, so that duplicates are apart and hosts out of order. */
		for (size_t i = nraw; i > 1; i--) {
			size_t j = (size_t)(rn_test_rand(&seed) % i);
			struct feeds_view_entry t = raw[i - 1];
			raw[i - 1] = raw[j];
			raw[j] = t;
		}
		/* The model: the last of each prefix, in any order. */
		for (size_t i = 0; i < nraw; i++) {
			size_t j = 0;
			while (j < nnext &&
			       !(rn_addr_equal(&next[j].prefix.addr, &raw[i].prefix.addr) &&
			         next[j].prefix.len == raw[i].prefix.len))
				j++;
			next[j] = raw[i];
			if (j == nnext)
				nnext++;
		}
		struct entries cur = {0};
		RN_PASS(vi.walk(vi.arg, entries_fn, &cur, NULL));
		struct rn_prefix *del = calloc(cur.n + 1, sizeof(*del));
		size_t ndel = 0;
		assert_non_null(del);
		for (size_t i = 0; i < cur.n; i++) {
			bool kept = false;
			for (size_t j = 0; j < nnext && !kept; j++)
				kept = rn_addr_equal(&next[j].prefix.addr, &cur.v[i].prefix.addr) &&
				       next[j].prefix.len == cur.v[i].prefix.len;
			if (!kept)
				del[ndel++] = cur.v[i].prefix;
		}
		uint64_t before = feeds_listview_version(inc);
		RN_PASS(feeds_listview_apply(inc, next, nnext, del, ndel));

		struct feeds_listview_load *ld;
		RN_PASS(feeds_listview_load_alloc(&ld));
		for (size_t i = 0; i < nraw; i++)
			RN_PASS(feeds_listview_load_add(ld, &raw[i]));
		assert_int_equal(feeds_listview_load_count(ld), nraw);
		RN_PASS(feeds_listview_replace_load(bulk, ld));
		assert_int_equal(feeds_listview_load_count(ld), 0);
		feeds_listview_load_free(ld);

		assert_int_equal(feeds_listview_version(bulk), feeds_listview_version(inc));
		assert_int_equal(feeds_listview_count(bulk), nnext);
		assert_int_equal(feeds_listview_count(inc), nnext);
		struct entries wb = {0}, wi = {0};
		RN_PASS(vb.walk(vb.arg, entries_fn, &wb, NULL));
		RN_PASS(vi.walk(vi.arg, entries_fn, &wi, NULL));
		assert_same_entries(&wb, &wi);
		static struct change_list cb, ci;
		memset(&cb, 0, sizeof(cb));
		memset(&ci, 0, sizeof(ci));
		int rb = vb.changes(vb.arg, before, change_list_fn, &cb, NULL);
		int ri = vi.changes(vi.arg, before, change_list_fn, &ci, NULL);
		assert_int_equal(rb, ri);
		assert_same_entries(&cb.e, &ci.e);
		assert_memory_equal(cb.what, ci.what, sizeof(cb.what));
		for (int q = 0; q < 2000; q++) {
			struct rn_addr a;
			int64_t eb = -1, ei = -2;
			rand_addr(&seed, &a);
			assert_int_equal(vb.lookup(vb.arg, &a, &eb), vi.lookup(vi.arg, &a, &ei));
			assert_int_equal(eb, ei);
		}
		free(cur.v);
		free(del);
		free(wb.v);
		free(wi.v);
		free(cb.e.v);
		free(ci.e.v);
	}
	/* The same state again is no new version. */
	uint64_t ver = feeds_listview_version(bulk);
	struct entries same = {0};
	RN_PASS(vb.walk(vb.arg, entries_fn, &same, NULL));
	RN_PASS(feeds_listview_replace(bulk, same.v, same.n));
	assert_int_equal(feeds_listview_version(bulk), ver);
	/* An empty load empties the view. */
	RN_PASS(feeds_listview_replace(bulk, NULL, 0));
	assert_int_equal(feeds_listview_count(bulk), 0);
	assert_int_equal(feeds_listview_version(bulk), ver + 1);
	/* Too many classes: RN_ELIMIT at add(), and a bad entry RN_EPARSE. */
	struct feeds_listview_load *ld;
	RN_PASS(feeds_listview_load_alloc(&ld));
	for (int i = 0; i < 255; i++) {
		struct feeds_view_entry e = ent("192.0.2.1", 2, i);
		RN_PASS(feeds_listview_load_add(ld, &e));
	}
	struct feeds_view_entry e = ent("192.0.2.1", 2, 1000);
	RN_FAILS_WITH(feeds_listview_load_add(ld, &e), RN_ELIMIT);
	e.categories = 0;
	RN_FAILS_WITH(feeds_listview_load_add(ld, &e), RN_EPARSE);
	feeds_listview_load_free(ld);
	free(same.v);
	feeds_listview_free(bulk);
	feeds_listview_free(inc);
}

/*
 * A load needing classes the view has no room for fails with nothing
 * changed, and its classes are released.
 */
static void test_bulk_class_limit(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	RN_PASS(feeds_listview_alloc(&lv, 16));
	feeds_listview_view(lv, &v);
	struct feeds_view_entry *e = calloc(255, sizeof(*e));
	assert_non_null(e);
	for (int i = 0; i < 200; i++) {
		rn_addr_set_v4(&e[i].prefix.addr, 0xC0000200u + (uint32_t)i);
		e[i].prefix.len = 32;
		e[i].categories = 2;
		e[i].expires_ms = i + 1;
	}
	RN_PASS(feeds_listview_replace(lv, e, 200));
	/*
	 * Half the hosts and 100 new pairs on other hosts: the view holds the
	 * old 200 pairs while it takes the new ones, 300 in all.
	 */
	struct feeds_listview_load *ld;
	RN_PASS(feeds_listview_load_alloc(&ld));
	for (int i = 0; i < 100; i++)
		RN_PASS(feeds_listview_load_add(ld, &e[i]));
	for (int i = 0; i < 100; i++) {
		struct feeds_view_entry x = e[i];
		rn_addr_set_v4(&x.prefix.addr, 0xC6336400u + (uint32_t)i);
		x.expires_ms = 1000 + i;
		RN_PASS(feeds_listview_load_add(ld, &x));
	}
	RN_FAILS_WITH(feeds_listview_replace_load(lv, ld), RN_ELIMIT);
	assert_int_equal(feeds_listview_count(lv), 200);
	assert_int_equal(feeds_listview_version(lv), 1);
	assert_int_equal(look(&v, "198.51.100.1", NULL), 0);
	int64_t exp;
	assert_int_equal(look(&v, "192.0.2.150", &exp), 2);
	assert_int_equal(exp, 151);
	/* The failed load's slots were given back: 200 + 50 new pairs fit. */
	for (int i = 0; i < 100; i++)
		RN_PASS(feeds_listview_load_add(ld, &e[i]));
	for (int i = 0; i < 50; i++) {
		struct feeds_view_entry x = e[i];
		rn_addr_set_v4(&x.prefix.addr, 0xC6336400u + (uint32_t)i);
		x.expires_ms = 1000 + i;
		RN_PASS(feeds_listview_load_add(ld, &x));
	}
	RN_PASS(feeds_listview_replace_load(lv, ld));
	assert_int_equal(feeds_listview_count(lv), 150);
	assert_int_equal(look(&v, "198.51.100.1", &exp), 2);
	assert_int_equal(exp, 1001);
	assert_int_equal(look(&v, "192.0.2.150", NULL), 0);
	assert_int_equal(look(&v, "192.0.2.9", &exp), 2);
	assert_int_equal(exp, 10);
	feeds_listview_load_free(ld);
	feeds_listview_free(lv);
	free(e);
}

RN_TEST_MAIN(test_basic, test_walk_changes_replace, test_class_limit, test_model, test_concurrent,
             test_watch, test_bulk_load, test_bulk_class_limit)
