/*
 * bidx.c: the membership index of a closed bucket.
 *
 * Design notes: an incremental pass probes every set slice for the dirty
 * keys. A closed bucket of a busy IPv4 space holds many large slices (a
 * slice per kind and count bit), and a probe into a large, sparse roaring
 * bitmap is three or four dependent cache misses (container key, pointer,
 * container, values). Once a bucket has ended its sets no longer change
 * (sets_freeze()), so the bucket's slices of one space are indexed
 * together: the union of their keys, sorted, as their low 16 bits under a
 * directory by the high 16 bits (65,537 offsets: a key's run starts at
 * dir[key >> 16]), and per key a mask of the slices that hold it (bit b:
 * src[b]). A dirty key is then found once per bucket, not once per
 * slice, in two misses (the directory, the run and its masks).
 *
 * The index refers to its sets (src[].set), and each covered set to its
 * index (rset.bidx); the engine owns both and keeps them in step: a write
 * to a covered set (a late observation) or the set's removal drops the
 * index (bidx_drop()), and its sets are probed one by one again until the
 * bucket is indexed anew at a later tick. A set created in the bucket
 * after the index was built is not covered and is probed by itself.
 *
 * Only IPv4 spaces are indexed (their keys are 32 bits; an IPv6 space's
 * keys span many groups), and only buckets whose slices hold at least
 * BIDX_MIN_KEYS keys in all (the directory costs 256 KB) in 2 to 64
 * slices (the mask is at most 64 bits; one slice gains nothing). An index
 * costs 256 KB plus 2 bytes and a mask (1 to 8 bytes) per key of the
 * union: about as much as the bucket's roaring slices.
 *
 * Threading: none; the engine's thread builds, probes and drops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/engine.h"

/* Keys probed together, so that their cache misses overlap. */
#define BIDX_BATCH 32

static inline uint64_t mask_at(const struct bidx *x, size_t i)
{
	switch (x->mw) {
	case 1:
		return ((const uint8_t *)x->mask)[i];
	case 2:
		return ((const uint16_t *)x->mask)[i];
	case 4:
		return ((const uint32_t *)x->mask)[i];
	default:
		return ((const uint64_t *)x->mask)[i];
	}
}

static inline void mask_set(struct bidx *x, size_t i, uint64_t m)
{
	switch (x->mw) {
	case 1:
		((uint8_t *)x->mask)[i] = (uint8_t)m;
		break;
	case 2:
		((uint16_t *)x->mask)[i] = (uint16_t)m;
		break;
	case 4:
		((uint32_t *)x->mask)[i] = (uint32_t)m;
		break;
	default:
		((uint64_t *)x->mask)[i] = m;
	}
}

void bidx_free(struct bidx *x)
{
	if (x == NULL)
		return;
	free(x->dir);
	free(x->lo);
	free(x->mask);
	free(x);
}

size_t bidx_bytes(const struct bidx *x)
{
	return sizeof(*x) + 65537 * sizeof(*x->dir) + x->n * (sizeof(*x->lo) + x->mw);
}

/* The bitmap of an IPv4 slice: its only group, 0; NULL when it has another. */
static const roaring_bitmap_t *v4_bitmap(const struct keyset *ks)
{
	if (ks->n != 1 || ks->hi[0] != 0)
		return NULL;
	return ks->bm[0];
}

/* One slice being read, a buffer at a time. */
struct bsrc {
	roaring_uint32_iterator_t it;
	uint32_t buf[256];
	uint32_t n, pos;
	bool done;
};

static void bsrc_fill(struct bsrc *r)
{
	r->n = roaring_read_uint32_iterator(&r->it, r->buf, RN_ARRAY_LEN(r->buf));
	r->pos = 0;
	r->done = r->n == 0;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/*
 * Fills x (sources set, arrays allocated for total keys) from the slices
 * bm, a block of 65,536 keys (one high half) at a time: every slice's keys
 * of the block mark their bit in m (65,536 masks, zero outside this), the
 * keys touched are sorted and written out with their masks.
 */
static int bidx_fill(struct bidx *x, const roaring_bitmap_t *const *bm)
{
	struct bsrc *r = calloc(x->nsrc, sizeof(*r));
	uint64_t *m = calloc(65536, sizeof(*m));
	uint16_t *touched = malloc(65536 * sizeof(*touched));
	if (r == NULL || m == NULL || touched == NULL) {
		free(r);
		free(m);
		free(touched);
		return -ENOMEM;
	}
	for (unsigned b = 0; b < x->nsrc; b++) {
		roaring_init_iterator(bm[b], &r[b].it);
		bsrc_fill(&r[b]);
	}
	size_t out = 0;
	uint32_t next_h = 0; /* the directory is written up to here */
	for (;;) {
		uint32_t h = UINT32_MAX;
		for (unsigned b = 0; b < x->nsrc; b++)
			if (!r[b].done && r[b].buf[r[b].pos] >> 16 < h)
				h = r[b].buf[r[b].pos] >> 16;
		if (h == UINT32_MAX)
			break;
		size_t nt = 0;
		for (unsigned b = 0; b < x->nsrc; b++) {
			struct bsrc *q = &r[b];
			while (!q->done && q->buf[q->pos] >> 16 == h) {
				uint16_t lo = (uint16_t)q->buf[q->pos];
				if (m[lo] == 0)
					touched[nt++] = lo;
				m[lo] |= 1ull << b;
				if (++q->pos == q->n)
					bsrc_fill(q);
			}
		}
		while (next_h <= h)
			x->dir[next_h++] = (uint32_t)out;
		if (nt > 4096) {
			/* Dense: the masks in order are the sorted keys. */
			for (uint32_t lo = 0; lo < 65536; lo++) {
				if (m[lo] == 0)
					continue;
				x->lo[out] = (uint16_t)lo;
				mask_set(x, out++, m[lo]);
				m[lo] = 0;
			}
			continue;
		}
		if (nt <= 32) {
			for (size_t i = 1; i < nt; i++) {
				uint16_t v = touched[i];
				size_t j = i;
				for (; j > 0 && touched[j - 1] > v; j--)
					touched[j] = touched[j - 1];
				touched[j] = v;
			}
		} else {
			qsort(touched, nt, sizeof(*touched), cmp_u16);
		}
		for (size_t i = 0; i < nt; i++) {
			x->lo[out] = touched[i];
			mask_set(x, out++, m[touched[i]]);
			m[touched[i]] = 0;
		}
	}
	while (next_h <= 65536)
		x->dir[next_h++] = (uint32_t)out;
	x->n = out;
	free(r);
	free(m);
	free(touched);
	return RN_OK;
}

/*
 * Builds the index of sets[0 .. n) (one bucket, one IPv4 space, all
 * frozen). *out is NULL when the bucket is not worth indexing or cannot
 * be; -ENOMEM leaves nothing behind.
 */
static int bidx_build(struct rset *const *sets, size_t n, uint64_t min_keys, struct bidx **out)
{
	*out = NULL;
	struct bidx *x = calloc(1, sizeof(*x));
	const roaring_bitmap_t *bm[BIDX_MAX_SRC];
	uint64_t total = 0;
	if (x == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		for (unsigned j = 0; j < sets[i]->nslices; j++) {
			const struct keyset *ks = sets[i]->slice[j];
			if (keyset_card(ks) == 0)
				continue;
			if (x->nsrc == BIDX_MAX_SRC || (bm[x->nsrc] = v4_bitmap(ks)) == NULL) {
				bidx_free(x);
				return RN_OK;
			}
			x->src[x->nsrc].set = sets[i];
			x->src[x->nsrc].slice = (uint8_t)j;
			x->nsrc++;
			total += keyset_card(ks);
		}
	}
	if (x->nsrc < 2 || total < min_keys || total > UINT32_MAX) {
		bidx_free(x);
		return RN_OK;
	}
	x->mw = x->nsrc <= 8 ? 1 : x->nsrc <= 16 ? 2 : x->nsrc <= 32 ? 4 : 8;
	/* Room for every key of every slice; what the union does not use is given back. */
	x->lo = malloc(total * sizeof(*x->lo));
	x->mask = malloc(total * x->mw);
	x->dir = malloc(65537 * sizeof(*x->dir));
	int rc = -ENOMEM;
	if (x->lo == NULL || x->mask == NULL || x->dir == NULL ||
	    (rc = bidx_fill(x, bm)) != RN_OK) {
		bidx_free(x);
		return rc;
	}
	if (x->n < total) {
		void *p = realloc(x->lo, (x->n ? x->n : 1) * sizeof(*x->lo));
		if (p != NULL)
			x->lo = p;
		if ((p = realloc(x->mask, (x->n ? x->n : 1) * x->mw)) != NULL)
			x->mask = p;
	}
	x->bucket = sets[0]->bucket;
	x->space = sets[0]->space;
	*out = x;
	return RN_OK;
}

/*
 * The first of lo[from .. to) not below key (to: none). A run is one high
 * half's keys, up to 65,536 of them where addresses cluster (a /16 of a
 * busy network): halved down to a cache line, then read in order.
 */
static inline size_t lo_bound(const uint16_t *lo, size_t from, size_t to, uint16_t key)
{
	while (to - from > 32) {
		size_t mid = from + (to - from) / 2;
		if (lo[mid] < key)
			from = mid + 1;
		else
			to = mid;
	}
	while (from < to && lo[from] < key)
		from++;
	return from;
}

int bidx_find(const struct bidx *x, const uint64_t *keys, size_t n, uint32_t **hits,
              uint64_t **masks, size_t *nh, size_t *cap)
{
	uint32_t from[BIDX_BATCH], to[BIDX_BATCH];
	for (size_t base = 0; base < n; base += BIDX_BATCH) {
		size_t m = n - base < BIDX_BATCH ? n - base : BIDX_BATCH;
		for (size_t k = 0; k < m; k++)
			__builtin_prefetch(&x->dir[(uint32_t)keys[base + k] >> 16]);
		for (size_t k = 0; k < m; k++) {
			uint32_t h = (uint32_t)keys[base + k] >> 16;
			from[k] = x->dir[h];
			to[k] = x->dir[h + 1];
			__builtin_prefetch(&x->lo[from[k]]);
			__builtin_prefetch((const uint8_t *)x->mask + (size_t)from[k] * x->mw);
		}
		for (size_t k = 0; k < m; k++) {
			uint16_t lo = (uint16_t)keys[base + k];
			size_t i = lo_bound(x->lo, from[k], to[k], lo);
			if (i == to[k] || x->lo[i] != lo)
				continue;
			if (*nh == *cap) {
				size_t c = *cap ? *cap * 2 : 256;
				uint32_t *nhv = realloc(*hits, c * sizeof(*nhv));
				if (nhv == NULL)
					return -ENOMEM;
				*hits = nhv;
				uint64_t *nm = realloc(*masks, c * sizeof(*nm));
				if (nm == NULL)
					return -ENOMEM;
				*masks = nm;
				*cap = c;
			}
			(*hits)[*nh] = (uint32_t)(base + k);
			(*masks)[*nh] = mask_at(x, i);
			(*nh)++;
		}
	}
	return RN_OK;
}

void bidx_drop(struct scoring_engine *e, struct bidx *x)
{
	if (x == NULL)
		return;
	e->bidx_dropped++;
	for (unsigned b = 0; b < x->nsrc; b++)
		x->src[b].set->bidx = NULL;
	for (size_t i = 0; i < e->nbidx; i++)
		if (e->bidx[i] == x) {
			e->bidx[i] = e->bidx[--e->nbidx];
			break;
		}
	bidx_free(x);
}

static int cmp_set(const void *a, const void *b)
{
	const struct rset *x = *(struct rset *const *)a, *y = *(struct rset *const *)b;
	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

int bidx_update(struct scoring_engine *e)
{
	/* The sets of IPv4 spaces, by (space, bucket). */
	struct rset **v = malloc((e->nsets ? e->nsets : 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < e->nsets; i++)
		if (space_family(e->sets[i]->space) == RN_AF_INET)
			v[n++] = e->sets[i];
	qsort(v, n, sizeof(*v), cmp_set);
	int rc = RN_OK;
	for (size_t i = 0; i < n && rc == RN_OK;) {
		size_t j = i;
		bool ready = true;
		for (; j < n && v[j]->space == v[i]->space && v[j]->bucket == v[i]->bucket; j++)
			if (!v[j]->frozen || v[j]->bidx != NULL)
				ready = false; /* open, or indexed already */
		if (ready) {
			struct bidx *x = NULL;
			if (e->nbidx == e->capbidx) {
				size_t c = e->capbidx ? e->capbidx * 2 : 8;
				struct bidx **nv = realloc(e->bidx, c * sizeof(*nv));
				if (nv == NULL) {
					rc = -ENOMEM;
					break;
				}
				e->bidx = nv;
				e->capbidx = c;
			}
			rc = bidx_build(v + i, j - i, e->bidx_min_keys, &x);
			if (rc == RN_OK && x != NULL) {
				e->bidx_built++;
				for (unsigned b = 0; b < x->nsrc; b++)
					x->src[b].set->bidx = x;
				e->bidx[e->nbidx++] = x;
			}
		}
		i = j;
	}
	free(v);
	return rc;
}
