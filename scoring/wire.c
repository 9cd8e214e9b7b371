/*
 * wire.c: repnet.v1.Snapshot and repnet.v1.Delta bodies.
 *
 * Design notes: encoding groups listings by (category, expiry) into
 * CategorySets and, inside each, by (family, prefix length) into
 * AddrSets. Listings arrive in (family, length, key, category) order, so
 * each group's keys for one address space arrive ascending and go straight
 * into a buffer; when the space changes every group's buffer becomes one
 * run-optimised roaring bitmap (IPv4) or a run of V6Groups (IPv6). The
 * output is canonical: CategorySets by (category, expiry), AddrSets by
 * (family, length), V6Groups by hi, so equal states encode to equal bytes.
 *
 * Decoding trusts nothing. protobuf-c unpacks under a byte budget; then
 * every set is checked (known category, positive expiry, family and
 * length, field presence, caps) and every bitmap is walked by
 * keyset_walk_portable(), which also checks exact sizes, strict order and
 * cardinality. Each AddrSet yields one ascending run of listings; the runs
 * are merged with a heap into (family, length, key, category) order, where
 * duplicates and prefixes with two expiries are refused. A failure at any
 * point frees everything and returns an error: nothing half-decoded
 * escapes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "scoring/keyset.h"
#include "scoring/protect.h"
#include "scoring/table.h"

/* ---- encoding ------------------------------------------------------------- */

struct egroup {
	uint8_t cat;
	int64_t exp;
	Repnet__V1__CategorySet *cs;
	uint64_t *keys; /* this space's keys, ascending */
	size_t nkeys, capkeys;
};

struct encoder {
	struct egroup *g;
	size_t n, cap;
	uint32_t *map; /* open addressing: group index + 1 */
	size_t mapcap;
	unsigned family, plen; /* the space being collected */
	bool have_space;
	uint64_t listed; /* distinct entries, for Snapshot.listed */
	size_t payload;  /* bytes of roaring data, for the budget of the pack */
};

static void addrset_free(Repnet__V1__AddrSet *a)
{
	if (a == NULL)
		return;
	free(a->v4.data);
	for (size_t i = 0; i < a->n_v6; i++) {
		if (a->v6[i] != NULL)
			free(a->v6[i]->lo.data);
		free(a->v6[i]);
	}
	free(a->v6);
	free(a);
}

static void catset_free(Repnet__V1__CategorySet *cs)
{
	if (cs == NULL)
		return;
	for (size_t i = 0; i < cs->n_sets; i++)
		addrset_free(cs->sets[i]);
	free(cs->sets);
	free(cs);
}

static void encoder_release(struct encoder *e)
{
	for (size_t i = 0; i < e->n; i++) {
		catset_free(e->g[i].cs);
		free(e->g[i].keys);
	}
	free(e->g);
	free(e->map);
	memset(e, 0, sizeof(*e));
}

static inline size_t group_hash(unsigned cat, int64_t exp, size_t mask)
{
	uint64_t h = ((uint64_t)exp ^ ((uint64_t)cat << 56)) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & mask;
}

static int encoder_group(struct encoder *e, unsigned cat, int64_t exp, struct egroup **out)
{
	if (e->mapcap == 0 || (e->n + 1) * 2 > e->mapcap) {
		size_t cap = e->mapcap ? e->mapcap * 2 : 64;
		uint32_t *m = calloc(cap, sizeof(*m));
		if (m == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < e->n; i++) {
			size_t h = group_hash(e->g[i].cat, e->g[i].exp, cap - 1);
			while (m[h] != 0)
				h = (h + 1) & (cap - 1);
			m[h] = (uint32_t)i + 1;
		}
		free(e->map);
		e->map = m;
		e->mapcap = cap;
	}
	size_t mask = e->mapcap - 1;
	size_t h = group_hash(cat, exp, mask);
	for (; e->map[h] != 0; h = (h + 1) & mask) {
		struct egroup *g = &e->g[e->map[h] - 1];
		if (g->cat == cat && g->exp == exp) {
			*out = g;
			return RN_OK;
		}
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct egroup *ng = realloc(e->g, cap * sizeof(*ng));
		if (ng == NULL)
			return -ENOMEM;
		e->g = ng;
		e->cap = cap;
	}
	struct egroup *g = &e->g[e->n];
	memset(g, 0, sizeof(*g));
	g->cs = malloc(sizeof(*g->cs));
	if (g->cs == NULL)
		return -ENOMEM;
	repnet__v1__category_set__init(g->cs);
	g->cat = (uint8_t)cat;
	g->exp = exp;
	g->cs->category = (Repnet__V1__Category)cat;
	g->cs->expires_ms = exp;
	e->map[h] = (uint32_t)e->n + 1;
	e->n++;
	*out = g;
	return RN_OK;
}

/* Serialises a bitmap into a malloc'd portable buffer. */
static int bitmap_bytes(roaring_bitmap_t *bm, ProtobufCBinaryData *out)
{
	roaring_bitmap_run_optimize(bm);
	size_t sz = roaring_bitmap_portable_size_in_bytes(bm);
	uint8_t *p = malloc(sz ? sz : 1);
	if (p == NULL)
		return -ENOMEM;
	out->len = roaring_bitmap_portable_serialize(bm, (char *)p);
	out->data = p;
	return RN_OK;
}

static int bitmap_from(const uint64_t *keys, size_t n, ProtobufCBinaryData *out)
{
	roaring_bitmap_t *bm = roaring_bitmap_create();
	if (bm == NULL)
		return -ENOMEM;
	uint32_t buf[256];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		buf[k++] = (uint32_t)keys[i];
		if (k == RN_ARRAY_LEN(buf)) {
			roaring_bitmap_add_many(bm, k, buf);
			k = 0;
		}
	}
	if (k > 0)
		roaring_bitmap_add_many(bm, k, buf);
	int rc = bitmap_bytes(bm, out);
	roaring_bitmap_free(bm);
	return rc;
}

/* Turns one group's keys for the current space into an AddrSet. */
static int group_flush(struct encoder *e, struct egroup *g)
{
	if (g->nkeys == 0)
		return RN_OK;
	Repnet__V1__AddrSet *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	repnet__v1__addr_set__init(a);
	a->family = e->family;
	a->prefix_len = e->plen;
	a->cardinality = g->nkeys;
	int rc = RN_OK;
	if (e->family == RN_AF_INET) {
		rc = bitmap_from(g->keys, g->nkeys, &a->v4);
		e->payload += a->v4.len;
	} else {
		size_t ngroups = 0;
		for (size_t i = 0; i < g->nkeys; i++)
			if (i == 0 || g->keys[i] >> 32 != g->keys[i - 1] >> 32)
				ngroups++;
		a->v6 = calloc(ngroups, sizeof(*a->v6));
		if (a->v6 == NULL)
			rc = -ENOMEM;
		for (size_t i = 0; i < g->nkeys && rc == RN_OK;) {
			size_t j = i;
			while (j < g->nkeys && g->keys[j] >> 32 == g->keys[i] >> 32)
				j++;
			Repnet__V1__V6Group *vg = calloc(1, sizeof(*vg));
			if (vg == NULL) {
				rc = -ENOMEM;
				break;
			}
			repnet__v1__v6_group__init(vg);
			vg->hi = (uint32_t)(g->keys[i] >> 32);
			a->v6[a->n_v6++] = vg;
			rc = bitmap_from(g->keys + i, j - i, &vg->lo);
			e->payload += vg->lo.len + 16;
			i = j;
		}
	}
	if (rc == RN_OK) {
		Repnet__V1__AddrSet **ns = realloc(g->cs->sets, (g->cs->n_sets + 1) * sizeof(*ns));
		if (ns == NULL) {
			rc = -ENOMEM;
		} else {
			g->cs->sets = ns;
			g->cs->sets[g->cs->n_sets++] = a;
			a = NULL;
		}
	}
	addrset_free(a);
	g->nkeys = 0;
	return rc;
}

static int encoder_flush(struct encoder *e)
{
	for (size_t i = 0; i < e->n; i++) {
		int rc = group_flush(e, &e->g[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static int encoder_add(struct encoder *e, unsigned family, unsigned plen, uint64_t key,
                       unsigned cat, int64_t exp)
{
	int rc;
	if (!e->have_space || family != e->family || plen != e->plen) {
		if (e->have_space && (rc = encoder_flush(e)) != RN_OK)
			return rc;
		e->family = family;
		e->plen = plen;
		e->have_space = true;
	}
	struct egroup *g;
	if ((rc = encoder_group(e, cat, exp, &g)) != RN_OK)
		return rc;
	if (g->nkeys == g->capkeys) {
		size_t cap = g->capkeys ? g->capkeys * 2 : 64;
		uint64_t *k = realloc(g->keys, cap * sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
		g->keys = k;
		g->capkeys = cap;
	}
	g->keys[g->nkeys++] = key;
	return RN_OK;
}

static int cmp_group(const void *a, const void *b)
{
	const Repnet__V1__CategorySet *x = *(Repnet__V1__CategorySet *const *)a;
	const Repnet__V1__CategorySet *y = *(Repnet__V1__CategorySet *const *)b;
	if (x->category != y->category)
		return x->category < y->category ? -1 : 1;
	return x->expires_ms < y->expires_ms ? -1 : x->expires_ms > y->expires_ms;
}

/* Finishes: *sets gets the CategorySets sorted, owned by the caller. */
static int encoder_finish(struct encoder *e, Repnet__V1__CategorySet ***sets, size_t *n)
{
	int rc = encoder_flush(e);
	if (rc != RN_OK)
		return rc;
	Repnet__V1__CategorySet **v = calloc(e->n ? e->n : 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < e->n; i++) {
		v[i] = e->g[i].cs;
		e->g[i].cs = NULL;
	}
	qsort(v, e->n, sizeof(*v), cmp_group);
	*sets = v;
	*n = e->n;
	return RN_OK;
}

static void sets_free(Repnet__V1__CategorySet **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		catset_free(v[i]);
	free(v);
}

int scoring_snapshot_encode(const struct scoring_table *t, uint8_t **out, size_t *len)
{
	if (t->dry_run)
		return RN_ESTATE;
	struct encoder e;
	memset(&e, 0, sizeof(e));
	Repnet__V1__Snapshot m = REPNET__V1__SNAPSHOT__INIT;
	int rc = RN_OK;
	for (size_t si = 0; si < t->nsp && rc == RN_OK; si++) {
		const struct tspace *s = &t->sp[si];
		uint32_t hi = 0;
		for (size_t i = 0; i < s->n && rc == RN_OK; i++) {
			if (s->family == RN_AF_INET)
				hi = tspace_hi_of(s, i, hi);
			const struct tcls *c = &t->cls[tspace_cls(s, i)];
			uint64_t key = tspace_key(s, i, hi);
			for (uint32_t mk = c->cats; mk != 0 && rc == RN_OK; mk &= mk - 1)
				rc = encoder_add(&e, s->family, s->plen, key,
				                 (unsigned)__builtin_ctz(mk), c->expires_ms);
		}
	}
	if (rc == RN_OK)
		rc = encoder_finish(&e, &m.sets, &m.n_sets);
	encoder_release(&e);
	if (rc != RN_OK)
		return rc;
	m.listed = t->count;
	size_t sz = repnet__v1__snapshot__get_packed_size(&m);
	uint8_t *buf = malloc(sz ? sz : 1);
	if (buf == NULL) {
		rc = -ENOMEM;
	} else {
		*len = repnet__v1__snapshot__pack(&m, buf);
		*out = buf;
	}
	sets_free(m.sets, m.n_sets);
	return rc;
}

static int encode_list(const struct dlist *l, Repnet__V1__CategorySet ***sets, size_t *n)
{
	struct encoder e;
	memset(&e, 0, sizeof(e));
	int rc = RN_OK;
	for (size_t i = 0; i < l->n && rc == RN_OK; i++) {
		const struct dtuple *t = &l->v[i];
		rc = encoder_add(&e, t->family, t->plen, t->key, t->cat, t->expires_ms);
	}
	if (rc == RN_OK)
		rc = encoder_finish(&e, sets, n);
	encoder_release(&e);
	return rc;
}

int scoring_delta_encode(const struct scoring_delta *d, uint64_t base_seq,
                         const uint8_t base_digest[32], uint8_t **out, size_t *len)
{
	Repnet__V1__Delta m = REPNET__V1__DELTA__INIT;
	int rc = encode_list(&d->add, &m.added, &m.n_added);
	if (rc == RN_OK)
		rc = encode_list(&d->del, &m.removed, &m.n_removed);
	if (rc == RN_OK) {
		m.base_seq = base_seq;
		m.base_digest.data = (uint8_t *)base_digest;
		m.base_digest.len = 32;
		size_t sz = repnet__v1__delta__get_packed_size(&m);
		uint8_t *buf = malloc(sz ? sz : 1);
		if (buf == NULL) {
			rc = -ENOMEM;
		} else {
			*len = repnet__v1__delta__pack(&m, buf);
			*out = buf;
		}
	}
	sets_free(m.added, m.n_added);
	sets_free(m.removed, m.n_removed);
	return rc;
}

/* ---- decoding ------------------------------------------------------------- */

#define DEF_MAX_LISTINGS (16ull << 20)
#define DEF_MAX_SETS     4096
#define DEF_MAX_GROUPS   (1u << 20)

struct decoder {
	struct scoring_decode_limits lim;
	struct dtuple *v; /* listings, run after run */
	size_t n, cap;
	size_t *runs; /* start of each run; runs[nruns] == n */
	size_t nruns, capruns;
	size_t groups;
	bool skipped;
	struct scoring_decode_stats *st;
};

static void decoder_release(struct decoder *d)
{
	free(d->v);
	free(d->runs);
}

static int run_begin(struct decoder *d)
{
	if (d->nruns + 2 > d->capruns) {
		size_t cap = d->capruns ? d->capruns * 2 : 64;
		size_t *r = realloc(d->runs, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		d->runs = r;
		d->capruns = cap;
	}
	d->runs[d->nruns++] = d->n;
	return RN_OK;
}

struct walkctx {
	struct decoder *d;
	uint64_t hi;   /* group key << 32 */
	uint64_t mask; /* key mask of the space */
	uint8_t family, plen, cat;
	int64_t exp;
};

static int walk_put(void *arg, uint32_t v)
{
	struct walkctx *w = arg;
	struct decoder *d = w->d;
	uint64_t key = w->hi | v;
	if ((key & ~w->mask) != 0)
		return RN_EPARSE;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		struct dtuple *nv = realloc(d->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n++] = (struct dtuple){.key = key,
	                               .expires_ms = w->exp,
	                               .family = w->family,
	                               .plen = w->plen,
	                               .cat = w->cat};
	return RN_OK;
}

static int decode_addrset(struct decoder *d, const Repnet__V1__AddrSet *a, unsigned cat,
                          int64_t exp)
{
	if (a == NULL)
		return RN_EPARSE;
	unsigned fam = a->family, plen = a->prefix_len;
	if (fam == RN_AF_INET) {
		if (plen < 8 || plen > 32 || a->n_v6 != 0 || a->v4.len == 0)
			return RN_EPARSE;
	} else if (fam == RN_AF_INET6) {
		if (plen < 16 || plen > SPACE_V6_MAXLEN || a->v4.len != 0 || a->n_v6 == 0)
			return RN_EPARSE;
	} else {
		return RN_EPARSE;
	}
	uint64_t room = d->lim.max_listings - d->n;
	if (a->cardinality == 0 || a->cardinality > room)
		return a->cardinality == 0 ? RN_EPARSE : RN_ELIMIT;
	int rc = run_begin(d);
	if (rc != RN_OK)
		return rc;
	struct walkctx w = {.d = d,
	                    .mask = key_mask(fam, plen),
	                    .family = (uint8_t)fam,
	                    .plen = (uint8_t)plen,
	                    .cat = (uint8_t)cat,
	                    .exp = exp};
	uint64_t total = 0, card = 0;
	if (fam == RN_AF_INET) {
		rc = keyset_walk_portable(a->v4.data, a->v4.len, a->cardinality, walk_put, &w,
		                          &card);
		if (rc != RN_OK)
			return rc;
		total = card;
	} else {
		if (a->n_v6 > d->lim.max_groups - d->groups)
			return RN_ELIMIT;
		d->groups += a->n_v6;
		for (size_t i = 0; i < a->n_v6; i++) {
			const Repnet__V1__V6Group *g = a->v6[i];
			if (g == NULL || (i > 0 && g->hi <= a->v6[i - 1]->hi))
				return RN_EPARSE;
			w.hi = (uint64_t)g->hi << 32;
			if ((w.hi & ~w.mask) != 0)
				return RN_EPARSE;
			rc = keyset_walk_portable(g->lo.data, g->lo.len, a->cardinality - total,
			                          walk_put, &w, &card);
			if (rc != RN_OK)
				return rc;
			if (card == 0)
				return RN_EPARSE;
			total += card;
		}
	}
	return total == a->cardinality ? RN_OK : RN_EPARSE;
}

static int decode_sets(struct decoder *d, Repnet__V1__CategorySet *const *sets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const Repnet__V1__CategorySet *cs = sets[i];
		if (cs == NULL)
			return RN_EPARSE;
		unsigned cat = (unsigned)cs->category;
		if (cat >= RN_CAT_COUNT) {
			/* A category this build does not know yet: skip, count. */
			if (d->st != NULL)
				d->st->unknown_category++;
			d->skipped = true;
			continue;
		}
		if (cat == RN_CAT_UNSPECIFIED || cs->expires_ms <= 0 || cs->n_sets == 0)
			return RN_EPARSE;
		for (size_t k = 0; k < cs->n_sets; k++) {
			int rc = decode_addrset(d, cs->sets[k], cat, cs->expires_ms);
			if (rc != RN_OK)
				return rc;
		}
	}
	return RN_OK;
}

/* A min-heap of run cursors, ordered by the listing each points at. */
struct mheap {
	size_t *pos; /* current index per heap slot */
	size_t *end;
	size_t n;
};

static bool heap_less(const struct dtuple *v, const struct mheap *h, size_t a, size_t b)
{
	return dtuple_cmp(&v[h->pos[a]], &v[h->pos[b]]) < 0;
}

static void heap_swap(struct mheap *h, size_t a, size_t b)
{
	size_t p = h->pos[a], e = h->end[a];
	h->pos[a] = h->pos[b];
	h->end[a] = h->end[b];
	h->pos[b] = p;
	h->end[b] = e;
}

static void heap_down(const struct dtuple *v, struct mheap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && heap_less(v, h, l, m))
			m = l;
		if (r < h->n && heap_less(v, h, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

/* Merges the runs into one sorted array; duplicates are refused. */
static int decoder_merge(struct decoder *d, struct dtuple **out)
{
	struct dtuple *o = malloc((d->n ? d->n : 1) * sizeof(*o));
	struct mheap h = {.pos = malloc((d->nruns + 1) * sizeof(size_t)),
	                  .end = malloc((d->nruns + 1) * sizeof(size_t))};
	int rc = RN_OK;
	if (o == NULL || h.pos == NULL || h.end == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	d->runs[d->nruns] = d->n;
	for (size_t r = 0; r < d->nruns; r++) {
		if (d->runs[r] == d->runs[r + 1])
			continue;
		h.pos[h.n] = d->runs[r];
		h.end[h.n] = d->runs[r + 1];
		h.n++;
	}
	for (size_t i = h.n / 2 + 1; i-- > 0;)
		heap_down(d->v, &h, i);
	size_t k = 0;
	while (h.n > 0) {
		const struct dtuple *t = &d->v[h.pos[0]];
		if (k > 0 && dtuple_cmp(&o[k - 1], t) >= 0) {
			rc = RN_EPARSE; /* the same listing twice */
			goto out;
		}
		o[k++] = *t;
		if (++h.pos[0] == h.end[0]) {
			h.n--;
			if (h.n > 0)
				heap_swap(&h, 0, h.n);
		}
		heap_down(d->v, &h, 0);
	}
	*out = o;
	o = NULL;
out:
	free(o);
	free(h.pos);
	free(h.end);
	return rc;
}

static void limits_init(struct scoring_decode_limits *dst, const struct scoring_decode_limits *lim)
{
	memset(dst, 0, sizeof(*dst));
	if (lim != NULL)
		*dst = *lim;
	if (dst->max_listings == 0)
		dst->max_listings = DEF_MAX_LISTINGS;
	if (dst->max_sets == 0)
		dst->max_sets = DEF_MAX_SETS;
	if (dst->max_groups == 0)
		dst->max_groups = DEF_MAX_GROUPS;
}

int scoring_snapshot_from_pb(const Repnet__V1__Snapshot *m, const struct scoring_decode_limits *lim,
                             const struct scoring_protect *protect, struct scoring_table **out,
                             struct scoring_decode_stats *st)
{
	struct decoder d;
	memset(&d, 0, sizeof(d));
	limits_init(&d.lim, lim);
	d.st = st;
	struct dtuple *v = NULL;
	struct tbuilder b;
	tbuilder_init(&b, false, false);
	int rc = RN_OK;
	if (m->n_sets > d.lim.max_sets) {
		rc = RN_ELIMIT;
		goto fail;
	}
	if ((rc = decode_sets(&d, m->sets, m->n_sets)) != RN_OK || (rc = run_begin(&d)) != RN_OK ||
	    (rc = decoder_merge(&d, &v)) != RN_OK)
		goto fail;
	uint64_t entries = 0;
	for (size_t i = 0; i < d.n;) {
		size_t j = i;
		uint32_t cats = 0;
		for (; j < d.n && v[j].family == v[i].family && v[j].plen == v[i].plen &&
		       v[j].key == v[i].key;
		     j++) {
			if (v[j].expires_ms != v[i].expires_ms) {
				rc = RN_EPARSE; /* one prefix, two expiries */
				goto fail;
			}
			cats |= 1u << v[j].cat;
		}
		uint32_t cf = 0;
		if (protect_range(protect, v[i].family, v[i].key,
		                  key_last(v[i].family, v[i].plen, v[i].key))) {
			cf = TCLS_SUPPRESSED;
			if (st != NULL)
				st->suppressed++;
		}
		rc = tbuilder_push(&b, v[i].family, v[i].plen, v[i].key, cats, v[i].expires_ms, cf,
		                   NULL);
		if (rc != RN_OK)
			goto fail;
		entries++;
		i = j;
	}
	if (d.skipped ? entries > m->listed : entries != m->listed) {
		rc = RN_EPARSE;
		goto fail;
	}
	free(v);
	decoder_release(&d);
	return tbuilder_finish(&b, NULL, out);
fail:
	tbuilder_release(&b);
	free(v);
	decoder_release(&d);
	return rc;
}

static size_t budget_for(size_t len)
{
	/* Decoded structures are larger than their encoding; bound them anyway. */
	return 4 * len + (1u << 20);
}

int scoring_snapshot_decode(const uint8_t *buf, size_t len, const struct scoring_decode_limits *lim,
                            const struct scoring_protect *protect, struct scoring_table **out,
                            struct scoring_decode_stats *st)
{
	struct rn_pb_budget budget;
	rn_pb_budget_init(&budget, budget_for(len));
	Repnet__V1__Snapshot *m = repnet__v1__snapshot__unpack(&budget.alloc, len, buf);
	if (m == NULL)
		return budget.exceeded ? RN_ELIMIT : RN_EPARSE;
	int rc = scoring_snapshot_from_pb(m, lim, protect, out, st);
	repnet__v1__snapshot__free_unpacked(m, &budget.alloc);
	return rc;
}

static int decode_list(struct decoder *d, Repnet__V1__CategorySet *const *sets, size_t n,
                       struct dlist *l)
{
	d->n = 0;
	d->nruns = 0;
	struct dtuple *v = NULL;
	int rc;
	if ((rc = decode_sets(d, sets, n)) != RN_OK || (rc = run_begin(d)) != RN_OK ||
	    (rc = decoder_merge(d, &v)) != RN_OK)
		return rc;
	l->v = v;
	l->n = l->cap = d->n;
	return RN_OK;
}

int scoring_delta_from_pb(const Repnet__V1__Delta *m, const struct scoring_decode_limits *lim,
                          struct scoring_delta **out, struct scoring_decode_stats *st)
{
	struct decoder d;
	memset(&d, 0, sizeof(d));
	limits_init(&d.lim, lim);
	d.st = st;
	struct scoring_delta *delta = calloc(1, sizeof(*delta));
	int rc = RN_OK;
	if (delta == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (m->n_added > d.lim.max_sets || m->n_removed > d.lim.max_sets - m->n_added ||
	    (m->base_digest.len != 0 && m->base_digest.len != 32)) {
		rc = m->base_digest.len > 32 ||
		                     (m->base_digest.len != 0 && m->base_digest.len != 32)
		             ? RN_EPARSE
		             : RN_ELIMIT;
		goto fail;
	}
	if ((rc = decode_list(&d, m->added, m->n_added, &delta->add)) != RN_OK)
		goto fail;
	/* The listing cap covers both lists together. */
	d.lim.max_listings -= delta->add.n;
	if ((rc = decode_list(&d, m->removed, m->n_removed, &delta->del)) != RN_OK)
		goto fail;
	decoder_release(&d);
	*out = delta;
	return RN_OK;
fail:
	decoder_release(&d);
	scoring_delta_free(delta);
	return rc;
}

int scoring_delta_decode(const uint8_t *buf, size_t len, const struct scoring_decode_limits *lim,
                         struct scoring_delta **out, uint64_t *base_seq, uint8_t base_digest[32],
                         struct scoring_decode_stats *st)
{
	struct rn_pb_budget budget;
	rn_pb_budget_init(&budget, budget_for(len));
	Repnet__V1__Delta *m = repnet__v1__delta__unpack(&budget.alloc, len, buf);
	if (m == NULL)
		return budget.exceeded ? RN_ELIMIT : RN_EPARSE;
	struct scoring_delta *d = NULL;
	int rc = scoring_delta_from_pb(m, lim, &d, st);
	if (rc == RN_OK) {
		*base_seq = m->base_seq;
		memset(base_digest, 0, 32);
		if (m->base_digest.len == 32)
			memcpy(base_digest, m->base_digest.data, 32);
		*out = d;
	}
	repnet__v1__delta__free_unpacked(m, &budget.alloc);
	return rc;
}
