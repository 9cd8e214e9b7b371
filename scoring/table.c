/*
 * table.c: blocklist tables: the builder, lookup and iteration.
 *
 * Design notes: a table is a list of address spaces, one per (family,
 * prefix length), sorted by family then length. An IPv4 space is a
 * directory of 65537 offsets indexed by the upper 16 bits of the key and
 * an array of 4-byte records (the lower 16 bits and a class number), so
 * a lookup reads one directory slot and one short run of records, usually
 * in the same cache line. An IPv6 space is a sorted array of 64-bit keys
 * and a parallel array of class numbers, searched by bisection. A class
 * is a (categories, expiry) pair; tables rarely hold more than a few
 * hundred, and at most TABLE_MAX_CLASSES. The scorer's tables add rich
 * columns (score, first and last seen, offences, flags) in record order.
 *
 * Tables are immutable after tbuilder_finish() and reference-counted with
 * an atomic counter: any thread may look up or iterate a table it holds a
 * reference to, without locks. Deltas between tables are in delta.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/table.h"

/* ---- keys ----------------------------------------------------------------- */

uint64_t key_of_addr(const struct rn_addr *a, unsigned plen)
{
	if (a->family == RN_AF_INET)
		return (uint64_t)a->u.v4 & key_mask(RN_AF_INET, plen);
	return rn_load_be(a->u.v6, 8) & key_mask(RN_AF_INET6, plen);
}

void key_to_prefix(unsigned family, unsigned plen, uint64_t key, struct rn_prefix *out)
{
	memset(out, 0, sizeof(*out));
	if (family == RN_AF_INET) {
		rn_addr_set_v4(&out->addr, (uint32_t)key);
	} else {
		/* Built by hand: the upper 64 bits alone are never a v4-mapped address. */
		out->addr.family = RN_AF_INET6;
		rn_wcur_store(out->addr.u.v6, key, 8);
	}
	out->len = (uint8_t)plen;
}

int key_from_prefix(const struct rn_prefix *p, uint64_t *key)
{
	if (p->addr.family == RN_AF_INET) {
		if (p->len > 32)
			return RN_EPARSE;
		*key = p->addr.u.v4;
		return (*key & ~key_mask(RN_AF_INET, p->len)) == 0 ? RN_OK : RN_EPARSE;
	}
	if (p->addr.family != RN_AF_INET6 || p->len > SPACE_V6_MAXLEN)
		return RN_EPARSE;
	for (int i = 8; i < 16; i++)
		if (p->addr.u.v6[i] != 0)
			return RN_EPARSE;
	*key = rn_load_be(p->addr.u.v6, 8);
	return (*key & ~key_mask(RN_AF_INET6, p->len)) == 0 ? RN_OK : RN_EPARSE;
}

/* ---- builder ---------------------------------------------------------------- */

void tbuilder_init(struct tbuilder *b, bool rich, bool dry_run)
{
	memset(b, 0, sizeof(*b));
	b->rich = rich;
	b->dry_run = dry_run;
}

static void tspace_release(struct tspace *s)
{
	free(s->dir);
	free(s->shi);
	free(s->sstart);
	free(s->rec);
	free(s->k64);
	free(s->cls);
	free(s->score);
	free(s->first_s);
	free(s->last_s);
	free(s->offences);
	free(s->flags);
	memset(s, 0, sizeof(*s));
}

void tbuilder_reuse(struct tbuilder *b, struct scoring_table *t)
{
	if (t == NULL)
		return;
	if (t->rich != b->rich || b->reuse != NULL) {
		scoring_table_free(t);
		return;
	}
	b->reuse = t;
}

/* Moves the buffers of the reused table's space into s (just opened, empty). */
static void space_take(struct tbuilder *b, unsigned idx, struct tspace *s)
{
	if (b->reuse == NULL)
		return;
	struct tspace *o = NULL;
	for (size_t i = 0; i < b->reuse->nsp; i++)
		if (b->reuse->sp[i].family == s->family && b->reuse->sp[i].plen == s->plen)
			o = &b->reuse->sp[i];
	if (o == NULL || o->cap == 0)
		return;
	s->rec = o->rec;
	s->k64 = o->k64;
	s->cls = o->cls;
	s->score = o->score;
	s->first_s = o->first_s;
	s->last_s = o->last_s;
	s->offences = o->offences;
	s->flags = o->flags;
	s->cap = o->cap;
	s->shi = o->shi;
	s->sstart = o->sstart;
	s->caphi = o->caphi;
	b->dir_spare[idx] = o->dir;
	uint8_t family = o->family, plen = o->plen;
	memset(o, 0, sizeof(*o)); /* what is left of the table no longer owns them */
	o->family = family;
	o->plen = plen;
}

static void reuse_release(struct tbuilder *b)
{
	for (size_t i = 0; i < SPACE_COUNT; i++) {
		free(b->dir_spare[i]);
		b->dir_spare[i] = NULL;
	}
	scoring_table_free(b->reuse);
	b->reuse = NULL;
}

void tbuilder_release(struct tbuilder *b)
{
	reuse_release(b);
	for (size_t i = 0; i < SPACE_COUNT; i++)
		if (b->used[i])
			tspace_release(&b->sp[i]);
	free(b->cls);
	free(b->map.keys);
	free(b->map.vals);
	memset(b, 0, sizeof(*b));
}

static inline uint64_t cls_hash(uint32_t cats, uint32_t flags, int64_t exp)
{
	uint64_t h = (uint64_t)exp * 0x9E3779B97F4A7C15ull ^ ((uint64_t)cats << 32 | cats) ^
	             ((uint64_t)flags << 61);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 32);
}

static int class_grow(struct tbuilder *b)
{
	size_t cap = b->map.cap ? b->map.cap * 2 : 64;
	uint32_t *vals = calloc(cap, sizeof(*vals));
	if (vals == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->ncls; i++) {
		size_t h =
		        cls_hash(b->cls[i].cats, b->cls[i].flags, b->cls[i].expires_ms) & (cap - 1);
		while (vals[h] != 0)
			h = (h + 1) & (cap - 1);
		vals[h] = (uint32_t)i + 1;
	}
	free(b->map.vals);
	b->map.vals = vals;
	b->map.cap = cap;
	return RN_OK;
}

static int class_intern(struct tbuilder *b, uint32_t cats, uint32_t flags, int64_t exp,
                        uint16_t *out)
{
	if (b->map.cap == 0 || (b->ncls + 1) * 2 > b->map.cap) {
		int rc = class_grow(b);
		if (rc != RN_OK)
			return rc;
	}
	size_t mask = b->map.cap - 1;
	size_t h = cls_hash(cats, flags, exp) & mask;
	for (;; h = (h + 1) & mask) {
		uint32_t v = b->map.vals[h];
		if (v == 0)
			break;
		const struct tcls *c = &b->cls[v - 1];
		if (c->cats == cats && c->flags == flags && c->expires_ms == exp) {
			*out = (uint16_t)(v - 1);
			return RN_OK;
		}
	}
	if (b->ncls >= TABLE_MAX_CLASSES)
		return RN_ELIMIT;
	if (b->ncls == b->clscap) {
		size_t cap = b->clscap ? b->clscap * 2 : 16;
		struct tcls *nc = realloc(b->cls, cap * sizeof(*nc));
		if (nc == NULL)
			return -ENOMEM;
		b->cls = nc;
		b->clscap = cap;
	}
	b->cls[b->ncls] = (struct tcls){.cats = cats, .flags = flags, .expires_ms = exp};
	b->map.vals[h] = (uint32_t)b->ncls + 1;
	*out = (uint16_t)b->ncls;
	b->ncls++;
	return RN_OK;
}

#define GROW(p, cap)                                            \
	do {                                                    \
		void *np_ = realloc((p), (cap) * sizeof(*(p))); \
		if (np_ == NULL)                                \
			return -ENOMEM;                         \
		(p) = np_;                                      \
	} while (0)

static int tspace_grow_to(struct tspace *s, bool rich, size_t cap)
{
	if (s->family == RN_AF_INET) {
		GROW(s->rec, cap);
	} else {
		GROW(s->k64, cap);
		GROW(s->cls, cap);
	}
	if (rich) {
		GROW(s->score, cap);
		GROW(s->first_s, cap);
		GROW(s->last_s, cap);
		GROW(s->offences, cap);
		GROW(s->flags, cap);
	}
	s->cap = cap;
	return RN_OK;
}

static int tspace_grow(struct tspace *s, bool rich)
{
	return tspace_grow_to(s, rich, s->cap ? s->cap * 2 : 64);
}

static void space_open(struct tbuilder *b, unsigned family, unsigned plen)
{
	unsigned idx = space_index(family, plen);
	if (b->used[idx])
		return;
	struct tspace *s = &b->sp[idx];
	memset(s, 0, sizeof(*s));
	s->family = (uint8_t)family;
	s->plen = (uint8_t)plen;
	b->used[idx] = true;
	space_take(b, idx, s);
}

int tbuilder_reserve(struct tbuilder *b, unsigned family, unsigned plen, size_t n)
{
	space_open(b, family, plen);
	struct tspace *s = &b->sp[space_index(family, plen)];
	/*
	 * With room to spare: an incremental pass reserves what the previous
	 * table held plus its dirty keys, and builds into the buffers of the
	 * table before that, which would otherwise fall short by a few.
	 */
	return s->cap >= n ? RN_OK : tspace_grow_to(s, b->rich, n + n / 8);
}

int tbuilder_push(struct tbuilder *b, unsigned family, unsigned plen, uint64_t key, uint32_t cats,
                  int64_t expires_ms, uint32_t cflags, const struct trich *rich)
{
	if ((family != RN_AF_INET && family != RN_AF_INET6) ||
	    plen > (family == RN_AF_INET ? 32u : SPACE_V6_MAXLEN) ||
	    (key & ~key_mask(family, plen)) != 0 || cats == 0)
		return RN_EPARSE;
	unsigned idx = space_index(family, plen);
	struct tspace *s = &b->sp[idx];
	if (!b->used[idx]) {
		memset(s, 0, sizeof(*s));
		s->family = (uint8_t)family;
		s->plen = (uint8_t)plen;
		b->used[idx] = true;
	}
	if (s->n > 0) {
		uint64_t last = family == RN_AF_INET
		                        ? ((uint64_t)s->shi[s->nhi - 1] << 16 | s->rec[s->n - 1].lo)
		                        : s->k64[s->n - 1];
		if (key <= last)
			return RN_EPARSE;
	}
	uint16_t c;
	int rc = class_intern(b, cats, cflags, expires_ms, &c);
	if (rc != RN_OK)
		return rc;
	if (s->n == s->cap && (rc = tspace_grow(s, b->rich)) != RN_OK)
		return rc;
	size_t i = s->n;
	if (family == RN_AF_INET) {
		uint16_t h = (uint16_t)(key >> 16);
		if (s->nhi == 0 || s->shi[s->nhi - 1] != h) {
			/* Built sparse; tbuilder_finish() makes large spaces dense. */
			if (s->nhi + 1 >= s->caphi) {
				size_t cap = s->caphi ? s->caphi * 2 : 64;
				GROW(s->shi, cap);
				GROW(s->sstart, cap);
				s->caphi = cap;
			}
			s->shi[s->nhi] = h;
			s->sstart[s->nhi] = (uint32_t)i;
			s->nhi++;
		}
		s->rec[i] = (struct trec){.lo = (uint16_t)key, .cls = c};
	} else {
		s->k64[i] = key;
		s->cls[i] = c;
	}
	if (b->rich) {
		s->score[i] = rich ? rich->score : 0;
		s->first_s[i] = rich ? rich->first_s : 0;
		s->last_s[i] = rich ? rich->last_s : 0;
		s->offences[i] = rich ? rich->offences : 0;
		s->flags[i] = rich ? rich->flags : 0;
	}
	s->n++;
	b->count++;
	if (cflags & TCLS_SUPPRESSED)
		b->suppressed++;
	return RN_OK;
}

int tbuilder_seed_classes(struct tbuilder *b, const struct scoring_table *t)
{
	for (size_t i = 0; i < t->ncls; i++) {
		uint16_t c;
		int rc = class_intern(b, t->cls[i].cats, t->cls[i].flags, t->cls[i].expires_ms, &c);
		if (rc != RN_OK)
			return rc;
		if (c != i)
			return RN_EINTERNAL; /* t's classes are distinct */
	}
	return RN_OK;
}

int tbuilder_set(struct tbuilder *b, unsigned family, unsigned plen, size_t i, uint32_t cats,
                 int64_t expires_ms, const struct trich *rich)
{
	unsigned idx = space_index(family, plen);
	struct tspace *s = &b->sp[idx];
	if (!b->used[idx] || i >= s->n || cats == 0)
		return RN_EINTERNAL;
	uint16_t c;
	int rc = class_intern(b, cats, 0, expires_ms, &c);
	if (rc != RN_OK)
		return rc;
	if (family == RN_AF_INET)
		s->rec[i].cls = c;
	else
		s->cls[i] = c;
	if (b->rich && rich != NULL) {
		s->score[i] = rich->score;
		s->first_s[i] = rich->first_s;
		s->last_s[i] = rich->last_s;
		s->offences[i] = rich->offences;
		s->flags[i] = rich->flags;
	}
	return RN_OK;
}

int tbuilder_copy(struct tbuilder *b, const struct scoring_table *t, const struct tspace *src,
                  size_t i, size_t j)
{
	if (i >= j)
		return RN_OK;
	unsigned idx = space_index(src->family, src->plen);
	struct tspace *s = &b->sp[idx];
	if (!b->used[idx]) {
		memset(s, 0, sizeof(*s));
		s->family = src->family;
		s->plen = src->plen;
		b->used[idx] = true;
	}
	size_t n = j - i;
	if (s->cap < s->n + n) {
		size_t cap = s->cap * 2 > s->n + n ? s->cap * 2 : s->n + n;
		int rc = tspace_grow_to(s, b->rich, cap);
		if (rc != RN_OK)
			return rc;
	}
	if (src->family == RN_AF_INET) {
		/* Records as they are; the directory a run of upper halves at a time. */
		uint32_t c = tspace_hi_of(src, i, 0);
		for (size_t k = i; k < j;) {
			c = tspace_hi_of(src, k, c);
			uint16_t h = (uint16_t)tspace_hiv(src, c);
			const uint32_t *start = src->dir != NULL ? src->dir : src->sstart;
			size_t end = start[c + 1] < j ? start[c + 1] : j;
			size_t at = s->n + (k - i);
			if (s->nhi > 0 && s->shi[s->nhi - 1] >= h) {
				if (s->shi[s->nhi - 1] != h ||
				    (at > 0 && s->rec[at - 1].lo >= src->rec[k].lo))
					return RN_EPARSE;
			} else {
				if (s->nhi + 1 >= s->caphi) {
					size_t cap = s->caphi ? s->caphi * 2 : 64;
					GROW(s->shi, cap);
					GROW(s->sstart, cap);
					s->caphi = cap;
				}
				s->shi[s->nhi] = h;
				s->sstart[s->nhi] = (uint32_t)at;
				s->nhi++;
			}
			k = end;
		}
		memcpy(s->rec + s->n, src->rec + i, n * sizeof(*s->rec));
	} else {
		if (s->n > 0 && s->k64[s->n - 1] >= src->k64[i])
			return RN_EPARSE;
		memcpy(s->k64 + s->n, src->k64 + i, n * sizeof(*s->k64));
		memcpy(s->cls + s->n, src->cls + i, n * sizeof(*s->cls));
	}
	if (b->rich) {
		if (t->rich) {
			memcpy(s->score + s->n, src->score + i, n * sizeof(*s->score));
			memcpy(s->first_s + s->n, src->first_s + i, n * sizeof(*s->first_s));
			memcpy(s->last_s + s->n, src->last_s + i, n * sizeof(*s->last_s));
			memcpy(s->offences + s->n, src->offences + i, n);
			memcpy(s->flags + s->n, src->flags + i, n);
		} else {
			memset(s->score + s->n, 0, n * sizeof(*s->score));
			memset(s->first_s + s->n, 0, n * sizeof(*s->first_s));
			memset(s->last_s + s->n, 0, n * sizeof(*s->last_s));
			memset(s->offences + s->n, 0, n);
			memset(s->flags + s->n, 0, n);
		}
	}
	if (t->suppressed != 0) /* none in the table: none in the span */
		for (size_t k = i; k < j; k++)
			if (t->cls[tspace_cls(src, k)].flags & TCLS_SUPPRESSED)
				b->suppressed++;
	s->n += n;
	b->count += n;
	return RN_OK;
}

/*
 * Gives back the room a space did not use, when that is worth a realloc:
 * up to half again stays (what tbuilder_reserve() adds, an eighth, is
 * kept), so that a table reused for the next pass (tbuilder_reuse) rarely
 * has to grow.
 */
#define SHRINK_SLACK(cap, n) ((cap) > (n) + (n) / 2 + 64)
#define SHRINK(p, n)                                                  \
	do {                                                          \
		if ((p) != NULL && (n) > 0) {                         \
			void *np_ = realloc((p), (n) * sizeof(*(p))); \
			if (np_ != NULL)                              \
				(p) = np_;                            \
		}                                                     \
	} while (0)

static void cover_set(uint64_t *bits, uint32_t from, uint32_t to)
{
	for (uint32_t h = from;; h++) {
		bits[h >> 6] |= 1ull << (h & 63);
		if (h == to)
			break;
	}
}

int tbuilder_finish(struct tbuilder *b, const uint8_t digest[32], struct scoring_table **out)
{
	struct scoring_table *t = calloc(1, sizeof(*t));
	size_t nsp = 0;
	int rc = -ENOMEM;
	if (t == NULL)
		goto fail;
	for (size_t i = 0; i < SPACE_COUNT; i++)
		if (b->used[i] && b->sp[i].n > 0)
			nsp++;
	t->sp = calloc(nsp ? nsp : 1, sizeof(*t->sp));
	if (t->sp == NULL)
		goto fail;
	uint64_t lanes[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < SPACE_COUNT; i++) {
		if (!b->used[i])
			continue;
		struct tspace *s = &b->sp[i];
		if (s->n == 0) {
			tspace_release(s);
			b->used[i] = false;
			continue;
		}
		if (s->family == RN_AF_INET) {
			s->sstart[s->nhi] = (uint32_t)s->n;
			if (s->n >= TSPACE_DENSE_MIN) {
				s->dir = b->dir_spare[i] != NULL ? b->dir_spare[i]
				                                 : malloc(65537 * sizeof(*s->dir));
				b->dir_spare[i] = NULL;
				if (s->dir == NULL)
					goto fail;
				size_t k = 0;
				for (uint32_t h = 0; h <= 65536; h++) {
					while (k < s->nhi && s->shi[k] < h)
						k++;
					s->dir[h] = k < s->nhi ? s->sstart[k] : (uint32_t)s->n;
				}
				free(s->shi);
				free(s->sstart);
				s->shi = NULL;
				s->sstart = NULL;
				s->nhi = s->caphi = 0;
			} else {
				SHRINK(s->shi, s->nhi);
				SHRINK(s->sstart, s->nhi + 1);
				s->caphi = s->nhi + 1;
			}
			if (s->plen < 32) {
				if (t->v4_pfx_cover == NULL &&
				    (t->v4_pfx_cover = calloc(1024, sizeof(uint64_t))) == NULL)
					goto fail;
				uint32_t hi = 0;
				for (size_t k = 0; k < s->n; k++) {
					hi = tspace_hi_of(s, k, hi);
					uint64_t key = tspace_key(s, k, hi);
					cover_set(t->v4_pfx_cover, (uint32_t)(key >> 16),
					          (uint32_t)(key_last(RN_AF_INET, s->plen, key) >>
					                     16));
				}
			}
			t->count_v4 += s->n;
		} else {
			t->count_v6 += s->n;
		}
		if (SHRINK_SLACK(s->cap, s->n)) {
			SHRINK(s->rec, s->n);
			SHRINK(s->k64, s->n);
			SHRINK(s->cls, s->n);
			SHRINK(s->score, s->n);
			SHRINK(s->first_s, s->n);
			SHRINK(s->last_s, s->n);
			SHRINK(s->offences, s->n);
			SHRINK(s->flags, s->n);
			s->cap = s->n;
		}
		if (digest == NULL) {
			uint32_t hi = 0;
			for (size_t k = 0; k < s->n; k++) {
				if (s->family == RN_AF_INET)
					hi = tspace_hi_of(s, k, hi);
				uint64_t key = tspace_key(s, k, hi);
				const struct tcls *c = &b->cls[tspace_cls(s, k)];
				for (uint32_t m = c->cats; m != 0; m &= m - 1)
					digest_tuple(lanes, s->family, s->plen,
					             (unsigned)__builtin_ctz(m), c->expires_ms, key,
					             1);
			}
		}
		t->sp[t->nsp++] = *s;
		memset(s, 0, sizeof(*s));
		b->used[i] = false;
	}
	if (digest != NULL)
		memcpy(t->digest, digest, 32);
	else
		digest_store(lanes, t->digest);
	SHRINK(b->cls, b->ncls);
	t->cls = b->cls;
	t->ncls = b->ncls;
	b->cls = NULL;
	t->count = b->count;
	t->suppressed = b->suppressed;
	t->rich = b->rich;
	t->dry_run = b->dry_run;
	atomic_init(&t->refs, 1);
	tbuilder_release(b);
	*out = t;
	return RN_OK;
fail:
	if (t != NULL) {
		/* Spaces already moved into t are released here; the rest by the builder. */
		for (size_t i = 0; i < t->nsp; i++)
			tspace_release(&t->sp[i]);
		free(t->sp);
		free(t->v4_pfx_cover);
		free(t);
	}
	tbuilder_release(b);
	return rc;
}

/* ---- tables ---------------------------------------------------------------- */

int scoring_table_empty(struct scoring_table **out)
{
	struct tbuilder b;
	tbuilder_init(&b, false, false);
	return tbuilder_finish(&b, NULL, out);
}

struct scoring_table *scoring_table_ref(struct scoring_table *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void scoring_table_free(struct scoring_table *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < t->nsp; i++)
		tspace_release(&t->sp[i]);
	free(t->sp);
	free(t->cls);
	free(t->v4_pfx_cover);
	free(t);
}

size_t scoring_table_count(const struct scoring_table *t)
{
	return t->count;
}

size_t scoring_table_count_suppressed(const struct scoring_table *t)
{
	return t->suppressed;
}

size_t scoring_table_count_family(const struct scoring_table *t, unsigned family)
{
	return family == RN_AF_INET ? t->count_v4 : family == RN_AF_INET6 ? t->count_v6 : 0;
}

bool scoring_table_dry_run(const struct scoring_table *t)
{
	return t->dry_run;
}

size_t scoring_table_bytes(const struct scoring_table *t)
{
	size_t b = sizeof(*t) + t->nsp * sizeof(struct tspace) + t->ncls * sizeof(struct tcls);
	if (t->v4_pfx_cover != NULL)
		b += 1024 * sizeof(uint64_t);
	for (size_t i = 0; i < t->nsp; i++) {
		const struct tspace *s = &t->sp[i];
		if (s->family == RN_AF_INET)
			b += (s->dir != NULL ? 65537 * sizeof(uint32_t) : s->nhi * 6 + 4) +
			     s->n * sizeof(struct trec);
		else
			b += s->n * (sizeof(uint64_t) + sizeof(uint16_t));
		if (t->rich)
			b += s->n * (3 * sizeof(uint32_t) + 2);
	}
	return b;
}

void scoring_table_digest(const struct scoring_table *t, uint8_t out[32])
{
	memcpy(out, t->digest, 32);
}

uint32_t tspace_hi_of(const struct tspace *s, size_t i, uint32_t hint)
{
	const uint32_t *start = s->dir != NULL ? s->dir : s->sstart;
	size_t nslots = s->dir != NULL ? 65536 : s->nhi;
	uint32_t h = hint < nslots ? hint : 0;
	if (start[h] <= i) {
		/* Usually the same slot or a few further on. */
		for (int k = 0; k < 8; k++) {
			if (start[h + 1] > i)
				return h;
			h++;
		}
	}
	/* The last slot whose first record is at or before i. */
	size_t lo = 0, hi = nslots;
	while (hi - lo > 1) {
		size_t m = lo + (hi - lo) / 2;
		if (start[m] <= i)
			lo = m;
		else
			hi = m;
	}
	/* Empty slots share their start with the next: take the one that holds i. */
	while (start[lo + 1] <= i)
		lo++;
	return (uint32_t)lo;
}

size_t tspace_lower_bound(const struct tspace *s, uint64_t key)
{
	if (s->family == RN_AF_INET) {
		uint32_t h = (uint32_t)(key >> 16);
		size_t b, e;
		if (s->dir != NULL) {
			b = s->dir[h];
			e = s->dir[h + 1];
		} else {
			size_t x = 0, y = s->nhi;
			while (x < y) {
				size_t m = x + (y - x) / 2;
				if (s->shi[m] < h)
					x = m + 1;
				else
					y = m;
			}
			if (x == s->nhi)
				return s->n;
			if (s->shi[x] != h)
				return s->sstart[x]; /* every key of that slot is larger */
			b = s->sstart[x];
			e = s->sstart[x + 1];
		}
		uint16_t lo = (uint16_t)key;
		while (b < e) {
			size_t m = b + (e - b) / 2;
			if (s->rec[m].lo < lo)
				b = m + 1;
			else
				e = m;
		}
		return b;
	}
	size_t b = 0, e = s->n;
	while (b < e) {
		size_t m = b + (e - b) / 2;
		if (s->k64[m] < key)
			b = m + 1;
		else
			e = m;
	}
	return b;
}

ptrdiff_t tspace_find(const struct tspace *s, uint64_t key, uint32_t *cursor)
{
	if (s->family == RN_AF_INET) {
		uint32_t h = (uint32_t)(key >> 16), c;
		uint16_t lo = (uint16_t)key;
		size_t b, e;
		if (s->dir != NULL) {
			c = h;
			b = s->dir[h];
			e = s->dir[h + 1];
		} else {
			size_t x = 0, y = s->nhi;
			while (x < y) {
				size_t m = x + (y - x) / 2;
				if (s->shi[m] < h)
					x = m + 1;
				else
					y = m;
			}
			if (x == s->nhi || s->shi[x] != h)
				return -1;
			c = (uint32_t)x;
			b = s->sstart[x];
			e = s->sstart[x + 1];
		}
		if (cursor != NULL)
			*cursor = c;
		if (e - b <= 16) {
			for (size_t i = b; i < e; i++)
				if (s->rec[i].lo >= lo)
					return s->rec[i].lo == lo ? (ptrdiff_t)i : -1;
			return -1;
		}
		size_t end = e;
		while (b < e) {
			size_t m = b + (e - b) / 2;
			if (s->rec[m].lo < lo)
				b = m + 1;
			else
				e = m;
		}
		return b < end && s->rec[b].lo == lo ? (ptrdiff_t)b : -1;
	}
	size_t b = 0, e = s->n;
	while (b < e) {
		size_t m = b + (e - b) / 2;
		if (s->k64[m] < key)
			b = m + 1;
		else
			e = m;
	}
	return b < s->n && s->k64[b] == key ? (ptrdiff_t)b : -1;
}

const struct tspace *table_space(const struct scoring_table *t, unsigned family, unsigned plen)
{
	for (size_t i = 0; i < t->nsp; i++)
		if (t->sp[i].family == family && t->sp[i].plen == plen)
			return &t->sp[i];
	return NULL;
}

void tspace_entry(const struct scoring_table *t, const struct tspace *s, size_t i, uint32_t hi,
                  struct scoring_entry *out)
{
	memset(out, 0, sizeof(*out));
	key_to_prefix(s->family, s->plen, tspace_key(s, i, hi), &out->prefix);
	const struct tcls *c = &t->cls[tspace_cls(s, i)];
	out->cats = c->cats;
	out->expires_ms = c->expires_ms;
	if (c->flags & TCLS_SUPPRESSED)
		out->flags |= SCORING_F_SUPPRESSED;
	if (t->rich) {
		out->score = s->score[i];
		out->first_seen_ms = (int64_t)s->first_s[i] * 1000;
		out->last_seen_ms = (int64_t)s->last_s[i] * 1000;
		out->offences = s->offences[i];
		out->flags |= s->flags[i];
	}
}

static bool match(const struct scoring_table *t, const struct tspace *s, uint64_t key,
                  int64_t now_ms, struct scoring_hit *hit, bool *found)
{
	ptrdiff_t i = tspace_find(s, key, NULL);
	if (i < 0)
		return false;
	const struct tcls *c = &t->cls[tspace_cls(s, (size_t)i)];
	if ((c->flags & TCLS_SUPPRESSED) || (now_ms != 0 && c->expires_ms <= now_ms))
		return false;
	if (!*found) {
		key_to_prefix(s->family, s->plen, key, &hit->prefix);
		hit->cats = 0;
		hit->expires_ms = c->expires_ms;
		*found = true;
	}
	hit->cats |= c->cats;
	if (c->expires_ms > hit->expires_ms)
		hit->expires_ms = c->expires_ms;
	return true;
}

bool scoring_table_lookup(const struct scoring_table *t, const struct rn_addr *a, int64_t now_ms,
                          struct scoring_hit *hit)
{
	bool found = false;
	if (t->nsp == 0)
		return false;
	if (a->family == RN_AF_INET) {
		/* IPv4 spaces come first, longest (hosts) last: walk them backwards. */
		size_t last = 0;
		while (last < t->nsp && t->sp[last].family == RN_AF_INET)
			last++;
		if (last == 0)
			return false;
		const struct tspace *s = &t->sp[last - 1];
		size_t k = last;
		if (s->plen == 32) {
			match(t, s, a->u.v4, now_ms, hit, &found);
			k--;
		}
		if (k == 0 || t->v4_pfx_cover == NULL)
			return found;
		uint32_t h = a->u.v4 >> 16;
		if (!(t->v4_pfx_cover[h >> 6] & (1ull << (h & 63))))
			return found;
		while (k-- > 0) {
			s = &t->sp[k];
			match(t, s, key_of_addr(a, s->plen), now_ms, hit, &found);
		}
		return found;
	}
	if (a->family != RN_AF_INET6)
		return false;
	for (size_t k = t->nsp; k-- > 0;) {
		const struct tspace *s = &t->sp[k];
		if (s->family != RN_AF_INET6)
			break;
		match(t, s, key_of_addr(a, s->plen), now_ms, hit, &found);
	}
	return found;
}

bool scoring_table_find(const struct scoring_table *t, const struct rn_prefix *pfx,
                        struct scoring_entry *out)
{
	uint64_t key;
	if (key_from_prefix(pfx, &key) != RN_OK)
		return false;
	const struct tspace *s = table_space(t, pfx->addr.family, pfx->len);
	if (s == NULL)
		return false;
	uint32_t cur = 0;
	ptrdiff_t i = tspace_find(s, key, &cur);
	if (i < 0)
		return false;
	tspace_entry(t, s, (size_t)i, cur, out);
	return true;
}

void scoring_iter_init(struct scoring_iter *it, const struct scoring_table *t)
{
	it->t = t;
	it->space = 0;
	it->pos = 0;
	it->hi = 0;
	it->all = false;
}

void scoring_iter_init_all(struct scoring_iter *it, const struct scoring_table *t)
{
	scoring_iter_init(it, t);
	it->all = true;
}

bool scoring_iter_next(struct scoring_iter *it, struct scoring_entry *out)
{
	const struct scoring_table *t = it->t;
	while (it->space < t->nsp) {
		const struct tspace *s = &t->sp[it->space];
		if (it->pos < s->n) {
			if (s->family == RN_AF_INET)
				it->hi = tspace_hi_of(s, it->pos, it->hi);
			tspace_entry(t, s, it->pos, it->hi, out);
			it->pos++;
			if (!it->all && (out->flags & SCORING_F_SUPPRESSED))
				continue;
			return true;
		}
		it->space++;
		it->pos = 0;
		it->hi = 0;
	}
	return false;
}

/* ---- building from entries ------------------------------------------------- */

struct bent {
	uint64_t key;
	unsigned idx; /* space */
	size_t i;     /* into the caller's array */
};

static int cmp_bent(const void *a, const void *b)
{
	const struct bent *x = a, *y = b;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

#define CAT_VALID_MASK (((1u << RN_CAT_COUNT) - 1) & ~1u)

int scoring_table_build(const struct scoring_entry *ents, size_t n, bool dry_run,
                        struct scoring_table **out)
{
	struct bent *v = malloc((n ? n : 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct scoring_entry *e = &ents[i];
		if (e->cats == 0 || (e->cats & ~CAT_VALID_MASK) != 0 || e->expires_ms == 0 ||
		    key_from_prefix(&e->prefix, &v[i].key) != RN_OK) {
			free(v);
			return RN_EPARSE;
		}
		v[i].idx = space_index(e->prefix.addr.family, e->prefix.len);
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), cmp_bent);
	struct tbuilder b;
	tbuilder_init(&b, false, dry_run);
	int rc = RN_OK;
	for (size_t i = 0; i < n; i++) {
		const struct scoring_entry *e = &ents[v[i].i];
		rc = tbuilder_push(&b, e->prefix.addr.family, e->prefix.len, v[i].key, e->cats,
		                   e->expires_ms, 0, NULL);
		if (rc != RN_OK) {
			tbuilder_release(&b);
			free(v);
			return rc;
		}
	}
	free(v);
	return tbuilder_finish(&b, NULL, out);
}
