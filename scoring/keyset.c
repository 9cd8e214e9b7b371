/*
 * keyset.c: sets of 64-bit keys as a two-level roaring map.
 *
 * Design notes: groups live in insertion order in parallel arrays (hi,
 * bm), found through an open-addressing hash on hi once there are more
 * than a few; ordered traversal uses `order`, a permutation sorted by hi
 * that is rebuilt only when a group was added since the last sort. IPv4
 * sets have a single group and never build the hash. card is kept exact
 * through roaring's checked add and remove. Not thread-safe: the owner
 * serialises access; concurrent readers of a set nobody modifies are fine.
 *
 * A frozen group's bitmap is a read-only view (roaring_bitmap_frozen_view)
 * of one 32-byte-aligned buffer that this set owns in frozen[]; anything
 * that writes to a group thaws it first (a fresh copy, the view and buffer
 * freed).
 *
 * Untrusted bitmaps (snapshots on disk, the wire) are deserialised with
 * roaring_bitmap_portable_deserialize_safe() and then walked: the values
 * must be strictly ascending and exactly as many as the bitmap claims.
 * CRoaring 0.2.66 keeps a container's stated cardinality, and later
 * operations trust it (an array/bitset conversion sized by it), so a
 * loaded bitmap is never used as read: keyset_read() rebuilds a fresh one
 * from the walked values.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/keyset.h"

struct keyset *keyset_new(void)
{
	return calloc(1, sizeof(struct keyset));
}

void keyset_free(struct keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		roaring_bitmap_free(ks->bm[i]);
		free(ks->frozen[i]);
	}
	free(ks->hi);
	free(ks->bm);
	free(ks->frozen);
	free(ks->hash);
	free(ks->order);
	free(ks);
}

static inline size_t hash_hi(uint32_t hi, size_t mask)
{
	return (size_t)(((uint64_t)hi * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static void hash_insert(struct keyset *ks, size_t idx)
{
	size_t mask = ks->hcap - 1;
	size_t h = hash_hi(ks->hi[idx], mask);
	while (ks->hash[h] != 0)
		h = (h + 1) & mask;
	ks->hash[h] = (uint32_t)idx + 1;
}

static int hash_rebuild(struct keyset *ks, size_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	free(ks->hash);
	ks->hash = h;
	ks->hcap = cap;
	for (size_t i = 0; i < ks->n; i++)
		hash_insert(ks, i);
	return RN_OK;
}

/* The index of group hi, or -1. */
static ptrdiff_t group_find(const struct keyset *ks, uint32_t hi)
{
	if (ks->hcap == 0) {
		for (size_t i = 0; i < ks->n; i++)
			if (ks->hi[i] == hi)
				return (ptrdiff_t)i;
		return -1;
	}
	size_t mask = ks->hcap - 1;
	for (size_t h = hash_hi(hi, mask);; h = (h + 1) & mask) {
		uint32_t v = ks->hash[h];
		if (v == 0)
			return -1;
		if (ks->hi[v - 1] == hi)
			return (ptrdiff_t)(v - 1);
	}
}

static ptrdiff_t group_add(struct keyset *ks, uint32_t hi)
{
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 1;
		uint32_t *nh = realloc(ks->hi, cap * sizeof(*nh));
		if (nh == NULL)
			return -ENOMEM;
		ks->hi = nh;
		roaring_bitmap_t **nb = realloc(ks->bm, cap * sizeof(*nb));
		if (nb == NULL)
			return -ENOMEM;
		ks->bm = nb;
		char **nf = realloc(ks->frozen, cap * sizeof(*nf));
		if (nf == NULL)
			return -ENOMEM;
		ks->frozen = nf;
		ks->cap = cap;
	}
	roaring_bitmap_t *b = roaring_bitmap_create();
	if (b == NULL)
		return -ENOMEM;
	size_t idx = ks->n;
	ks->hi[idx] = hi;
	ks->bm[idx] = b;
	ks->frozen[idx] = NULL;
	ks->n++;
	ks->dirty = true;
	if (ks->n > 4) {
		if (ks->hcap < ks->n * 2) {
			if (hash_rebuild(ks, ks->hcap ? ks->hcap * 2 : 16) != RN_OK) {
				/* Keep the set consistent: forget the new group. */
				roaring_bitmap_free(b);
				ks->n--;
				return -ENOMEM;
			}
		} else {
			hash_insert(ks, idx);
		}
	}
	return (ptrdiff_t)idx;
}

/* Makes group g writable again. */
static int thaw(struct keyset *ks, size_t g)
{
	if (ks->frozen[g] == NULL)
		return RN_OK;
	roaring_bitmap_t *b = roaring_bitmap_copy(ks->bm[g]);
	if (b == NULL)
		return -ENOMEM;
	roaring_bitmap_free(ks->bm[g]);
	free(ks->frozen[g]);
	ks->bm[g] = b;
	ks->frozen[g] = NULL;
	return RN_OK;
}

int keyset_freeze(struct keyset *ks)
{
	for (size_t g = 0; g < ks->n; g++) {
		if (ks->frozen[g] != NULL || roaring_bitmap_is_empty(ks->bm[g]))
			continue;
		roaring_bitmap_run_optimize(ks->bm[g]);
		size_t sz = roaring_bitmap_frozen_size_in_bytes(ks->bm[g]);
		char *buf = aligned_alloc(32, (sz + 31) / 32 * 32);
		if (buf == NULL)
			return -ENOMEM;
		roaring_bitmap_frozen_serialize(ks->bm[g], buf);
		const roaring_bitmap_t *v = roaring_bitmap_frozen_view(buf, sz);
		if (v == NULL) {
			free(buf); /* stays as it is */
			continue;
		}
		roaring_bitmap_free(ks->bm[g]);
		ks->bm[g] = (roaring_bitmap_t *)v;
		ks->frozen[g] = buf;
	}
	return RN_OK;
}

int keyset_add(struct keyset *ks, uint64_t key)
{
	uint32_t hi = (uint32_t)(key >> 32);
	ptrdiff_t g = group_find(ks, hi);
	if (g < 0) {
		g = group_add(ks, hi);
		if (g < 0)
			return (int)g;
	} else if (ks->frozen[g] != NULL) {
		if (roaring_bitmap_contains(ks->bm[g], (uint32_t)key))
			return 0;
		int rc = thaw(ks, (size_t)g);
		if (rc != RN_OK)
			return rc;
	}
	if (!roaring_bitmap_add_checked(ks->bm[g], (uint32_t)key))
		return 0;
	ks->card++;
	return 1;
}

bool keyset_contains(const struct keyset *ks, uint64_t key)
{
	ptrdiff_t g = group_find(ks, (uint32_t)(key >> 32));
	return g >= 0 && roaring_bitmap_contains(ks->bm[g], (uint32_t)key);
}

bool keyset_remove(struct keyset *ks, uint64_t key)
{
	ptrdiff_t g = group_find(ks, (uint32_t)(key >> 32));
	if (g < 0 || !roaring_bitmap_contains(ks->bm[g], (uint32_t)key))
		return false;
	/* Thawing can fail only on allocation; the key then stays (callers recount). */
	if (thaw(ks, (size_t)g) != RN_OK ||
	    !roaring_bitmap_remove_checked(ks->bm[g], (uint32_t)key))
		return false;
	ks->card--;
	return true;
}

static int idx_push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint32_t *nv = realloc(*v, c * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return RN_OK;
}

/* Keys probed together, so that their cache misses overlap. */
#define PROBE_BATCH 32

/* The memory container_contains() will read for val, fetched ahead. */
static inline void probe_prefetch(const void *c, uint8_t tc, uint16_t val)
{
	switch (tc) {
	case ARRAY_CONTAINER_TYPE_CODE: {
		const array_container_t *a = c;
		__builtin_prefetch(a->array + (a->cardinality >> 1));
		break;
	}
	case BITSET_CONTAINER_TYPE_CODE:
		__builtin_prefetch(((const bitset_container_t *)c)->array + (val >> 6));
		break;
	case RUN_CONTAINER_TYPE_CODE:
		__builtin_prefetch(((const run_container_t *)c)->runs);
		break;
	default: /* shared: container_contains() unwraps it */
		break;
	}
}

/*
 * The indexes (base + i) of the keys of run[0 .. n) (sorted, one group) that
 * bm holds, appended to *v.
 * Per key, a galloping search over the container keys from the last
 * container reached (the keys ascend), then a lookup inside the container.
 * A probe is three dependent cache misses on a large sparse set (the
 * container pointer, the container, its values), so keys go in batches:
 * each stage is done for the whole batch, prefetching what the next stage
 * reads, and the misses of a batch overlap. This reads CRoaring's
 * container array through its installed headers (roaring_array.h and
 * containers/ are part of 0.2.66's public include set):
 * roaring_move_uint32_iterator_equalorlarger() starts every move with a
 * binary search over all containers, and waits on each miss in turn.
 */
static int probe_run(const roaring_bitmap_t *bm, uint32_t first, const uint64_t *run, size_t n,
                     uint32_t **v, size_t *vn, size_t *cap)
{
	const roaring_array_t *ra = &bm->high_low_container;
	int32_t pos = -1; /* every container up to pos has a smaller key */
	int32_t idx[PROBE_BATCH];
	const void *ct[PROBE_BATCH];
	uint8_t tc[PROBE_BATCH];
	for (size_t base = 0; base < n; base += PROBE_BATCH) {
		size_t m = n - base < PROBE_BATCH ? n - base : PROBE_BATCH, k;
		bool end = false;
		for (k = 0; k < m; k++) {
			uint16_t hb = (uint16_t)((uint32_t)run[base + k] >> 16);
			int32_t i = ra_advance_until(ra, hb, pos);
			if (i >= ra->size) {
				end = true;
				break;
			}
			pos = i - 1;
			idx[k] = ra->keys[i] == hb ? i : -1;
			if (idx[k] >= 0) {
				__builtin_prefetch(&ra->containers[i]);
				__builtin_prefetch(&ra->typecodes[i]);
			}
		}
		m = k;
		for (k = 0; k < m; k++)
			if (idx[k] >= 0) {
				ct[k] = ra->containers[idx[k]];
				tc[k] = ra->typecodes[idx[k]];
				__builtin_prefetch(ct[k]);
			}
		for (k = 0; k < m; k++)
			if (idx[k] >= 0)
				probe_prefetch(ct[k], tc[k], (uint16_t)run[base + k]);
		for (k = 0; k < m; k++) {
			uint32_t lo = (uint32_t)run[base + k];
			if (idx[k] < 0 || !container_contains(ct[k], (uint16_t)lo, tc[k]))
				continue;
			int rc = idx_push(v, vn, cap, first + (uint32_t)(base + k));
			if (rc != RN_OK)
				return rc;
		}
		if (end)
			break;
	}
	return RN_OK;
}

int keyset_find_keys(const struct keyset *a, const uint64_t *keys, size_t nkeys, uint32_t **v,
                     size_t *n, size_t *cap)
{
	if (nkeys > UINT32_MAX)
		return -ERANGE;
	for (size_t i = 0; i < nkeys;) {
		uint32_t hi = (uint32_t)(keys[i] >> 32);
		size_t j = i;
		while (j < nkeys && (uint32_t)(keys[j] >> 32) == hi)
			j++;
		ptrdiff_t g = group_find(a, hi);
		if (g < 0) {
			i = j;
			continue;
		}
		const roaring_bitmap_t *bm = a->bm[g];
		/*
		 * Walk the group when that costs less than probing it. A walk
		 * pays per container (the iterator's setup, a container at a
		 * time: sparse sets have one value per container) as much as
		 * for several values; a probe that finds no container costs
		 * about one value's step. Its size is known without counting
		 * when it is the set's only group (IPv4).
		 */
		uint64_t probes = (uint64_t)(j - i);
		uint64_t walk_c = 8 * (uint64_t)bm->high_low_container.size;
		bool walk;
		if (walk_c >= probes)
			walk = false;
		else if (a->n == 1)
			walk = walk_c + a->card < probes;
		else
			walk = walk_c + roaring_bitmap_get_cardinality(bm) < probes;
		if (!walk) {
			int rc = probe_run(bm, (uint32_t)i, keys + i, j - i, v, n, cap);
			if (rc != RN_OK)
				return rc;
			i = j;
			continue;
		}
		roaring_uint32_iterator_t it;
		roaring_init_iterator(bm, &it);
		uint32_t buf[KEYSET_ITER_BUF], got;
		size_t k = i;
		while (k < j &&
		       (got = roaring_read_uint32_iterator(&it, buf, KEYSET_ITER_BUF)) > 0) {
			for (uint32_t q = 0; q < got && k < j; q++) {
				while (k < j && (uint32_t)keys[k] < buf[q])
					k++;
				if (k < j && (uint32_t)keys[k] == buf[q]) {
					int rc = idx_push(v, n, cap, (uint32_t)k);
					if (rc != RN_OK)
						return rc;
				}
			}
		}
		i = j;
	}
	return RN_OK;
}

size_t keyset_bytes(const struct keyset *ks)
{
	size_t total = sizeof(*ks) + ks->cap * (sizeof(uint32_t) + sizeof(void *)) +
	               ks->hcap * sizeof(uint32_t) + (ks->order ? ks->n * sizeof(uint32_t) : 0);
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->frozen[i] != NULL) {
			total += roaring_bitmap_frozen_size_in_bytes(ks->bm[i]) +
			         sizeof(roaring_bitmap_t);
			continue;
		}
		roaring_statistics_t st;
		roaring_bitmap_statistics(ks->bm[i], &st);
		/* Containers, plus per container its key, pointer, type code and header. */
		total += st.n_bytes_array_containers + st.n_bytes_run_containers +
		         st.n_bytes_bitset_containers + st.n_containers * (2 + 8 + 1 + 16) +
		         sizeof(roaring_bitmap_t);
	}
	return total;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int keyset_prepare(struct keyset *ks)
{
	if (!ks->dirty && (ks->order != NULL || ks->n == 0))
		return RN_OK;
	uint32_t *o = realloc(ks->order, (ks->n ? ks->n : 1) * sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	ks->order = o;
	if (ks->n > 1) {
		/* Sort (hi, index) pairs as integers: qsort has no context argument. */
		uint64_t *pairs = malloc(ks->n * sizeof(*pairs));
		if (pairs == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < ks->n; i++)
			pairs[i] = (uint64_t)ks->hi[i] << 32 | i;
		qsort(pairs, ks->n, sizeof(*pairs), cmp_u64);
		for (size_t i = 0; i < ks->n; i++)
			o[i] = (uint32_t)pairs[i];
		free(pairs);
	} else if (ks->n == 1) {
		o[0] = 0;
	}
	ks->dirty = false;
	return RN_OK;
}

void keyset_optimize(struct keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->frozen[i] != NULL)
			continue;
		roaring_bitmap_run_optimize(ks->bm[i]);
		roaring_bitmap_shrink_to_fit(ks->bm[i]);
	}
}

void keyset_compact(struct keyset *ks)
{
	size_t k = 0;
	for (size_t i = 0; i < ks->n; i++) {
		if (roaring_bitmap_is_empty(ks->bm[i])) {
			roaring_bitmap_free(ks->bm[i]);
			free(ks->frozen[i]);
			continue;
		}
		ks->hi[k] = ks->hi[i];
		ks->bm[k] = ks->bm[i];
		ks->frozen[k] = ks->frozen[i];
		k++;
	}
	if (k == ks->n)
		return;
	ks->n = k;
	ks->dirty = true;
	if (ks->hcap != 0) {
		if (k <= 4) {
			free(ks->hash);
			ks->hash = NULL;
			ks->hcap = 0;
		} else {
			memset(ks->hash, 0, ks->hcap * sizeof(*ks->hash));
			for (size_t i = 0; i < k; i++)
				hash_insert(ks, i);
		}
	}
}

/* ---- iteration --------------------------------------------------------- */

static bool iter_open_group(struct keyset_iter *it)
{
	const struct keyset *ks = it->ks;
	while (it->gi < ks->n) {
		uint32_t g = ks->order[it->gi];
		roaring_init_iterator(ks->bm[g], &it->rit);
		it->hi = (uint64_t)ks->hi[g] << 32;
		it->n = roaring_read_uint32_iterator(&it->rit, it->buf, KEYSET_ITER_BUF);
		it->pos = 0;
		if (it->n > 0)
			return true;
		it->gi++;
	}
	return false;
}

void keyset_iter_init(struct keyset_iter *it, const struct keyset *ks)
{
	it->ks = ks;
	it->gi = 0;
	it->n = it->pos = 0;
	it->done = !iter_open_group(it);
}

void keyset_iter_refill(struct keyset_iter *it)
{
	it->pos = 0;
	it->n = roaring_read_uint32_iterator(&it->rit, it->buf, KEYSET_ITER_BUF);
	if (it->n > 0)
		return;
	it->gi++;
	it->done = !iter_open_group(it);
}

/* ---- serialisation ---------------------------------------------------- */

size_t keyset_serialized_size(const struct keyset *ks)
{
	size_t sz = 4;
	for (size_t i = 0; i < ks->n; i++)
		if (!roaring_bitmap_is_empty(ks->bm[i]))
			sz += 8 + roaring_bitmap_portable_size_in_bytes(ks->bm[i]);
	return sz;
}

void keyset_serialize_to(const struct keyset *ks, struct rn_wcur *w)
{
	uint32_t ng = 0;
	for (size_t i = 0; i < ks->n; i++)
		if (!roaring_bitmap_is_empty(ks->bm[i]))
			ng++;
	rn_wcur_u32(w, ng);
	for (size_t k = 0; k < ks->n; k++) {
		uint32_t g = ks->order[k];
		if (roaring_bitmap_is_empty(ks->bm[g]))
			continue;
		size_t len = roaring_bitmap_portable_size_in_bytes(ks->bm[g]);
		rn_wcur_u32(w, ks->hi[g]);
		rn_wcur_u32(w, (uint32_t)len);
		uint8_t *p = rn_wcur_reserve(w, len);
		if (p == NULL)
			return;
		if (roaring_bitmap_portable_serialize(ks->bm[g], (char *)p) != len)
			rn_wcur_fail(w, RN_EINTERNAL);
	}
}

void keyset_serialize(const struct keyset *ks, uint8_t *dst)
{
	struct rn_wcur w;
	rn_wcur_init(&w, dst, keyset_serialized_size(ks));
	keyset_serialize_to(ks, &w);
}

int keyset_walk_portable(const uint8_t *buf, size_t len, uint64_t max_card,
                         int (*fn)(void *arg, uint32_t v), void *arg, uint64_t *card)
{
	if (len == 0)
		return RN_EPARSE;
	/* The size the header describes must be exactly the bytes we were given. */
	size_t need = roaring_bitmap_portable_deserialize_size((const char *)buf, len);
	if (need == 0 || need != len)
		return RN_EBADLEN;
	roaring_bitmap_t *b = roaring_bitmap_portable_deserialize_safe((const char *)buf, len);
	if (b == NULL)
		return RN_EPARSE;
	uint64_t claimed = roaring_bitmap_get_cardinality(b);
	int rc = RN_OK;
	if (claimed > max_card) {
		rc = RN_ELIMIT;
		goto out;
	}
	roaring_uint32_iterator_t it;
	uint32_t vals[KEYSET_ITER_BUF];
	uint64_t seen = 0;
	bool first = true;
	uint32_t prev = 0;
	roaring_init_iterator(b, &it);
	for (;;) {
		uint32_t n = roaring_read_uint32_iterator(&it, vals, KEYSET_ITER_BUF);
		if (n == 0)
			break;
		for (uint32_t i = 0; i < n; i++) {
			if (!first && vals[i] <= prev) {
				rc = RN_EPARSE;
				goto out;
			}
			first = false;
			prev = vals[i];
			if (++seen > claimed) {
				rc = RN_EPARSE;
				goto out;
			}
			if (fn != NULL && (rc = fn(arg, vals[i])) != RN_OK)
				goto out;
		}
	}
	if (seen != claimed) {
		rc = RN_EPARSE;
		goto out;
	}
	*card = seen;
out:
	roaring_bitmap_free(b);
	return rc;
}

struct rebuild {
	roaring_bitmap_t *bm;
	uint32_t buf[KEYSET_ITER_BUF];
	uint32_t n;
	uint64_t hi;
	uint64_t mask;
};

static int rebuild_put(void *arg, uint32_t v)
{
	struct rebuild *r = arg;
	if (((r->hi | v) & ~r->mask) != 0)
		return RN_EPARSE;
	r->buf[r->n++] = v;
	if (r->n == KEYSET_ITER_BUF) {
		roaring_bitmap_add_many(r->bm, r->n, r->buf);
		r->n = 0;
	}
	return RN_OK;
}

int keyset_read(struct rn_cur *c, uint64_t mask, uint64_t max_card, struct keyset **out)
{
	uint32_t ng = rn_cur_u32(c);
	if (!rn_cur_ok(c))
		return c->err;
	struct keyset *ks = keyset_new();
	if (ks == NULL)
		return -ENOMEM;
	int rc = RN_OK;
	bool have_prev = false;
	uint32_t prev_hi = 0;
	for (uint32_t i = 0; i < ng; i++) {
		uint32_t hi = rn_cur_u32(c);
		uint32_t len = rn_cur_u32(c);
		const uint8_t *p = rn_cur_bytes(c, len);
		if (p == NULL) {
			rc = c->err;
			goto fail;
		}
		if ((have_prev && hi <= prev_hi) || (((uint64_t)hi << 32) & ~mask) != 0) {
			rc = RN_EPARSE;
			goto fail;
		}
		have_prev = true;
		prev_hi = hi;
		ptrdiff_t g = group_add(ks, hi);
		if (g < 0) {
			rc = (int)g;
			goto fail;
		}
		struct rebuild r = {.bm = ks->bm[g], .hi = (uint64_t)hi << 32, .mask = mask};
		uint64_t card = 0;
		rc = keyset_walk_portable(p, len, max_card - ks->card, rebuild_put, &r, &card);
		if (rc != RN_OK)
			goto fail;
		if (card == 0) {
			rc = RN_EPARSE; /* empty groups are never written */
			goto fail;
		}
		if (r.n > 0)
			roaring_bitmap_add_many(r.bm, r.n, r.buf);
		ks->card += card;
	}
	rc = keyset_prepare(ks);
	if (rc != RN_OK)
		goto fail;
	keyset_optimize(ks);
	*out = ks;
	return RN_OK;
fail:
	keyset_free(ks);
	rn_cur_fail(c, rc);
	return rc;
}
