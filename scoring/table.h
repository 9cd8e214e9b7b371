/*
 * table.h: the layout of blocklist tables and deltas, the table builder,
 * and the digest primitives. Internal to the scoring library.
 */
#ifndef REPNET_SCORING_TABLE_H
#define REPNET_SCORING_TABLE_H

#include "scoring/scoring.h"

/* ---- keys ----------------------------------------------------------------- */

/*
 * An address space is one (family, prefix length). Its keys are IPv4
 * addresses in host order, or the upper 64 bits of IPv6 addresses read
 * big-endian; bits past the length are zero. IPv6 spaces go up to /64.
 */
#define SPACE_V6_MAXLEN 64
/* A dense index over spaces: IPv4 /0../32 are 0..32, IPv6 /0../64 are 33..97. */
#define SPACE_COUNT 98
static inline unsigned space_index(unsigned family, unsigned plen)
{
	return family == RN_AF_INET ? plen : 33 + plen;
}
static inline unsigned space_family(unsigned idx)
{
	return idx < 33 ? RN_AF_INET : RN_AF_INET6;
}
static inline unsigned space_plen(unsigned idx)
{
	return idx < 33 ? idx : idx - 33;
}
/* The bits of a key that a prefix of plen keeps. */
static inline uint64_t key_mask(unsigned family, unsigned plen)
{
	unsigned width = family == RN_AF_INET ? 32 : 64;
	uint64_t all = width == 64 ? ~0ull : 0xffffffffull;
	if (plen == 0)
		return 0;
	if (plen >= width)
		return all;
	return all & ~((1ull << (width - plen)) - 1);
}
/* The key of address a in the space (family of a, plen). */
uint64_t key_of_addr(const struct rn_addr *a, unsigned plen);
/* The prefix a key stands for. */
void key_to_prefix(unsigned family, unsigned plen, uint64_t key, struct rn_prefix *out);
/* A prefix's key; RN_EPARSE for IPv6 prefixes longer than /64 or bits past plen. */
int key_from_prefix(const struct rn_prefix *p, uint64_t *key);
/* The last key a prefix covers, at full width (for range checks). */
static inline uint64_t key_last(unsigned family, unsigned plen, uint64_t key)
{
	uint64_t m = key_mask(family, plen);
	uint64_t all = family == RN_AF_INET ? 0xffffffffull : ~0ull;
	return key | (all & ~m);
}

/* ---- tables (table.c) ------------------------------------------------------- */

#define TCLS_SUPPRESSED 0x01u

struct tcls {
	uint32_t cats;
	uint32_t flags; /* TCLS_* */
	int64_t expires_ms;
};

/* An IPv4 record: the low 16 bits of the key and the class. */
struct trec {
	uint16_t lo;
	uint16_t cls;
};

/* IPv4 spaces with at least this many entries get a dense directory. */
#define TSPACE_DENSE_MIN 4096

/*
 * An IPv4 space finds the records of key >> 16 through a directory: dense
 * (65537 offsets indexed by it) for large spaces, sparse (its distinct
 * values, sorted, and their first record) for small ones. Positions in a
 * space are walked with a cursor: the directory slot (dense) or the index
 * into the sparse arrays; tspace_hi_of() moves one, tspace_key() uses it.
 */
struct tspace {
	uint8_t family, plen;
	size_t n, cap;
	uint32_t *dir;     /* IPv4 dense: 65537 offsets, or NULL */
	uint16_t *shi;     /* IPv4 sparse: distinct key >> 16 */
	uint32_t *sstart;  /* IPv4 sparse: first record of each, nhi + 1 entries */
	size_t nhi, caphi; /* sparse directory size */
	struct trec *rec;  /* IPv4 */
	uint64_t *k64;     /* IPv6 keys */
	uint16_t *cls;     /* IPv6 classes */
	/* Rich columns, present in the scorer's tables only. */
	uint32_t *score;
	uint32_t *first_s, *last_s; /* seconds since the epoch */
	uint8_t *offences;
	uint8_t *flags;
};

#define TABLE_MAX_CLASSES 65535

struct scoring_table {
	_Atomic unsigned refs;
	bool dry_run;
	bool rich;
	size_t nsp;
	struct tspace *sp; /* sorted by (family, plen) */
	struct tcls *cls;
	size_t ncls;
	size_t count;
	size_t count_v4, count_v6;
	size_t suppressed;
	uint8_t digest[32];
	/* Bit h set: some IPv4 prefix entry (length < 32) covers key >> 16 == h. */
	uint64_t *v4_pfx_cover; /* 1024 words, or NULL when there is none */
};

/* The upper 16 bits of the keys at cursor c (IPv4). */
static inline uint32_t tspace_hiv(const struct tspace *s, uint32_t c)
{
	return s->dir != NULL ? c : s->shi[c];
}
static inline uint64_t tspace_key(const struct tspace *s, size_t i, uint32_t c)
{
	return s->family == RN_AF_INET ? ((uint64_t)tspace_hiv(s, c) << 16 | s->rec[i].lo)
	                               : s->k64[i];
}
static inline uint16_t tspace_cls(const struct tspace *s, size_t i)
{
	return s->family == RN_AF_INET ? s->rec[i].cls : s->cls[i];
}
/* IPv4: the cursor of entry i, moving forward from cursor hint (0 to start over). */
uint32_t tspace_hi_of(const struct tspace *s, size_t i, uint32_t hint);
/* The index of the first entry whose key is key or more (s->n if none). */
size_t tspace_lower_bound(const struct tspace *s, uint64_t key);
/* Finds key in a space: its index (and its cursor), or -1. */
ptrdiff_t tspace_find(const struct tspace *s, uint64_t key, uint32_t *cursor);
/* The space of (family, plen) in t, or NULL. */
const struct tspace *table_space(const struct scoring_table *t, unsigned family, unsigned plen);
/* Fills out from entry i of s. */
void tspace_entry(const struct scoring_table *t, const struct tspace *s, size_t i, uint32_t hi,
                  struct scoring_entry *out);

/* Rich per-entry fields, as the scorer produces them. */
struct trich {
	uint32_t score;
	uint32_t first_s, last_s;
	uint8_t offences;
	uint8_t flags;
};

struct tclass_map {
	uint64_t *keys; /* cats << 32 ^ hash(expires), 0 = empty */
	uint32_t *vals;
	size_t cap;
};

/*
 * The builder: spaces are made in any order, keys pushed ascending within
 * a space. Classes are shared by all spaces.
 */
struct tbuilder {
	bool rich;
	bool dry_run;
	struct tspace sp[SPACE_COUNT];
	bool used[SPACE_COUNT];
	struct tcls *cls;
	size_t ncls, clscap;
	struct tclass_map map;
	size_t count;
	size_t suppressed;
	/* A retired table whose buffers the spaces take as they open (tbuilder_reuse). */
	struct scoring_table *reuse;
	uint32_t *dir_spare[SPACE_COUNT]; /* its dense directories, for tbuilder_finish */
};
void tbuilder_init(struct tbuilder *b, bool rich, bool dry_run);
/*
 * Gives the builder a table nobody else holds (its last reference), whose
 * buffers become those of the spaces it opens: a pass that rebuilds a large
 * table writes into memory that is already mapped, instead of faulting in
 * fresh pages every time. A table of the other richness is just freed.
 */
void tbuilder_reuse(struct tbuilder *b, struct scoring_table *t);
/* Appends one entry; keys must ascend within (family, plen). */
int tbuilder_push(struct tbuilder *b, unsigned family, unsigned plen, uint64_t key, uint32_t cats,
                  int64_t expires_ms, uint32_t cflags, const struct trich *rich);
/*
 * Starts the builder with t's classes, in t's order, so that entries can
 * be copied from t with their class numbers unchanged (tbuilder_copy).
 */
int tbuilder_seed_classes(struct tbuilder *b, const struct scoring_table *t);
/*
 * Appends entries [i, j) of s, a space of t, after whatever was pushed to
 * that space so far (their keys must be larger). The builder must have been
 * seeded with t's classes; rich columns are copied when both are rich.
 */
int tbuilder_copy(struct tbuilder *b, const struct scoring_table *t, const struct tspace *s,
                  size_t i, size_t j);
/* Makes room for n entries in space (family, plen), so that pushes do not reallocate. */
int tbuilder_reserve(struct tbuilder *b, unsigned family, unsigned plen, size_t n);
/* Replaces the categories, expiry and rich fields of entry i of a space being built. */
int tbuilder_set(struct tbuilder *b, unsigned family, unsigned plen, size_t i, uint32_t cats,
                 int64_t expires_ms, const struct trich *rich);
/* digest NULL: computed from the entries. On failure the builder is released. */
int tbuilder_finish(struct tbuilder *b, const uint8_t digest[32], struct scoring_table **out);
void tbuilder_release(struct tbuilder *b);

/* ---- deltas (delta.c) -------------------------------------------------------- */

/* One listing: ordered by (family, plen, key, cat). */
struct dtuple {
	uint64_t key;
	int64_t expires_ms;
	uint8_t family, plen, cat;
};

struct dlist {
	struct dtuple *v;
	size_t n, cap;
};

struct scoring_delta {
	struct dlist add, del;
};

int dlist_push(struct dlist *l, unsigned family, unsigned plen, uint64_t key, unsigned cat,
               int64_t expires_ms);
void dlist_release(struct dlist *l);
/* Appends b to a and empties b. */
int dlist_append(struct dlist *a, struct dlist *b);
int dtuple_cmp(const struct dtuple *a, const struct dtuple *b);
void dtuple_listing(const struct dtuple *t, struct scoring_listing *out);

/* ---- digest (digest.c) ------------------------------------------------------- */

/* lanes += sign * H(listing). */
void digest_tuple(uint64_t lanes[4], unsigned family, unsigned plen, unsigned cat,
                  int64_t expires_ms, uint64_t key, int sign);
void digest_load(const uint8_t d[32], uint64_t lanes[4]);
void digest_store(const uint64_t lanes[4], uint8_t d[32]);

#endif /* REPNET_SCORING_TABLE_H */
