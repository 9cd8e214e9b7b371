/*
 * recompute.h: the recompute's working structures, shared by the full and
 * incremental passes (recompute.c, recompute_inc.c). Internal to the
 * scoring library; the engine calls engine_recompute() (engine.h).
 *
 * A pass (struct rpass) lives for one tick on the engine's thread and
 * owns what it builds; the chunk accumulator it uses is the engine's.
 */
#ifndef REPNET_SCORING_RECOMPUTE_H
#define REPNET_SCORING_RECOMPUTE_H

#include "scoring/engine.h"

/*
 * Categories whose members count toward escalating their prefix. A
 * reflector is an abused server (an open resolver, an NTP server with
 * monlist): its neighbours are no more suspect for it, so reflector
 * listings never escalate.
 */
#define ESC_CATS (((1u << RN_CAT_COUNT) - 1) & ~(1u << RN_CAT_REFLECTOR))

/* A prefix escalation lists: the union of what its listed members carry. */
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

/* The parent prefix whose listed members are being counted (they come in key order). */
struct escacc {
	bool active;
	uint64_t parent;
	uint32_t count;
	struct esc x;
};

/* What a pass keeps per address space. */
struct rspace {
	bool need;             /* it has sets, listings or keys to rescore */
	struct dlist add, del; /* its part of the delta, in key order */
	struct esclist esc;    /* the prefixes escalation lists in it */
};

/* The space being decided. */
struct rcur {
	unsigned space, family, plen;
	const struct tspace *prev; /* its previous listings, or NULL */
	const struct esclist *el;  /* its escalation candidates */
	int64_t esc_thr;           /* listed members that escalate their parent; 0: none */
	unsigned esc_plen;         /* the parent's length */
	struct escacc acc;
};

enum { SRC_SET, SRC_PREV, SRC_ESC };

/*
 * A sorted source of keys for a full pass's merge: a set slice, the
 * previous listings, or the escalation candidates.
 */
struct src {
	uint8_t type;
	uint8_t bit; /* SRC_SET: the kind's bit */
	bool done;
	uint64_t key;             /* the next key */
	uint64_t w;               /* SRC_SET: what each key scores */
	int64_t first, last;      /* SRC_SET: the set's first and last observation */
	const struct tspace *ps;  /* SRC_PREV */
	uint32_t phi;             /* SRC_PREV: the cursor of entry pi */
	const struct esclist *el; /* SRC_ESC */
	size_t pi;                /* the position (SRC_PREV, SRC_ESC) */
	struct keyset_iter it;    /* SRC_SET */
};

/* The sources of one space's merge. */
struct srcset {
	struct src *v;
	size_t n;
};

/* One key being decided, accumulated over the set slices that hold it. */
struct rslot {
	uint64_t score;
	uint64_t kmask;
	int64_t first, last; /* over the sets it is in */
	uint32_t prev;       /* index + 1 into the previous space */
	uint32_t esc;        /* index + 1 into the escalation list */
	uint8_t off;         /* its offence count + 1 when looked up ahead, or 0 */
};

static inline void rslot_clear(struct rslot *sl)
{
	sl->score = 0;
	sl->kmask = 0;
	sl->first = INT64_MAX;
	sl->last = INT64_MIN;
	sl->prev = 0;
	sl->esc = 0;
	sl->off = 0;
}

/* What one set slice gives a key that it holds. */
static inline void rslot_add(struct rslot *sl, uint64_t w, uint64_t bit, int64_t first,
                             int64_t last)
{
	sl->score += w;
	sl->kmask |= bit;
	if (first < sl->first)
		sl->first = first;
	if (last > sl->last)
		sl->last = last;
}

/* A key's listing: before the tick (its previous entry) or after it. */
struct rlisting {
	bool listed;
	uint32_t cats;
	int64_t exp;
	struct trich rich;
};

/* An incremental pass's decision about one key. */
struct chg {
	uint64_t key;
	size_t prev; /* index + 1 of its previous entry, or 0 */
	struct rlisting now;
};

struct chglist {
	struct chg *v;
	size_t n, cap;
};

/* One recompute. */
struct rpass {
	struct scoring_engine *e;
	int64_t t;
	uint64_t T, D; /* thresholds in milli-points */
	struct tbuilder b;
	uint64_t lanes[4]; /* the digest, updated from the delta */
	struct rspace sp[SPACE_COUNT];
	struct rchunk ch; /* the engine's, for the pass */
	struct rcur cur;
	/* Incremental passes collect their decisions, then merge them with the previous space. */
	bool collect;
	struct chglist chg;
	size_t inc_max; /* the most dirty keys of a space this pass */
};

/* ---- recompute.c -------------------------------------------------------------- */

/*
 * Decides one address or prefix of the current space from its slot: into
 * the builder and the delta, or (r->collect) into r->chg.
 */
int rpass_decide(struct rpass *r, uint64_t key, const struct rslot *sl);
/* Appends a candidate; -ENOMEM. */
int esc_push(struct esclist *l, const struct esc *x);
/* Makes space the current one (r->cur) and sets its escalation parameters. */
void rpass_space_begin(struct rpass *r, unsigned space);

/* ---- recompute_inc.c ---------------------------------------------------------- */

/*
 * Marks the listings whose decision may change with time alone: expired,
 * or within half a TTL of expiring (a renewal is due, if the score holds).
 */
int rpass_mark_due(struct rpass *r);
/* An incremental pass over one space: only its dirty keys are decided again. */
int rpass_space_inc(struct rpass *r, unsigned space);

#endif /* REPNET_SCORING_RECOMPUTE_H */
