/*
 * engine.h: the scoring engine's state, shared by engine.c, the recompute
 * (recompute.c) and the persistence code (state.c). Internal to the
 * scoring library. Nothing here is locked: one thread owns an engine.
 */
#ifndef REPNET_SCORING_ENGINE_H
#define REPNET_SCORING_ENGINE_H

#include "scoring/keyset.h"
#include "scoring/table.h"

/* Kinds that may be active at once: masks are 64 bits wide. */
#define ENGINE_MAX_ACTIVE_KINDS 64
/* Slices of a bit-sliced count: up to SCORING_MAX_COUNT (15) fits in 4. */
#define ENGINE_MAX_SLICES 4
/* Slices of the offence counter: counts 0..7. */
#define ENGINE_OFF_SLICES 3
#define ENGINE_OFF_MAX    7
/* Distinct evidence codes kept; code 0 stands for every other one. */
#define ENGINE_MAX_CODES 4096
/*
 * A code is the observation's evidence, and when the collector that sent
 * it is known, ENGINE_CODE_SEP and the collector's name: "auth:LOGIN\x1fmx1".
 * Evidence never holds control characters (the batch decoder refuses
 * them), nor do collector names, so the last separator splits the two.
 */
#define ENGINE_CODE_SEP '\x1f'
#define ENGINE_CODE_MAX (RN_EVIDENCE_MAX + RN_COLLECTOR_NAME_MAX)
/* Distinct collector names the hold buffer refers to; index 0 is "not known". */
#define ENGINE_MAX_FROM 4096
/* Late observations a real-time pass decides at their own time; more wait for the clock. */
#define ENGINE_MAX_LATE 65536
/* A live engine that fell this many ticks behind jumps to the newest. */
#define ENGINE_MAX_CATCHUP 1000
/* Replay: an observation this far past the newest one seen is refused as future. */
#define ENGINE_MAX_REPLAY_JUMP (366ll * 86400000)

/* A kind's configuration, resolved. */
struct kslot {
	bool active;
	uint8_t bit; /* its bit in kind masks */
	uint8_t category;
	bool alone;
	uint8_t max_count;
	uint8_t nslices;
	double weight;
	int64_t half_life_ms, window_ms;
	int64_t horizon_ms; /* a bucket this old (from its end) is dropped */
};

struct evset {
	uint16_t code;
	struct keyset *ks;
};

/*
 * One reputation set: the addresses of one space observed doing one kind
 * of thing in one time bucket, with the number of events (capped at the
 * kind's max_count) bit-sliced over nslices key sets.
 */
struct bidx;
struct rset {
	uint8_t kind;
	uint8_t space;
	uint8_t nslices;
	bool frozen; /* its bucket ended: key sets frozen for fast iteration */
	int64_t bucket;
	int64_t first_ms, last_ms;
	struct keyset *slice[ENGINE_MAX_SLICES];
	struct evset *ev;
	uint16_t nev, capev;
	struct bidx *bidx; /* the index covering it (the engine's), or NULL */
};

/*
 * A closed bucket's membership index over one IPv4 space (bidx.c): the
 * union of the keys of its set slices (src), sorted, as low 16 bits under
 * a directory by the high 16 bits, and per key the mask of the slices
 * that hold it. Owned by the engine (e->bidx); the sets it covers point to
 * it and it to them.
 */
#define BIDX_MAX_SRC 64
/* Keys a bucket's slices hold in all before it is worth indexing (the directory is 256 KB). */
#define BIDX_MIN_KEYS (1u << 16)
struct bidx {
	int64_t bucket;
	uint8_t space;
	uint8_t nsrc;
	uint8_t mw; /* bytes per mask: 1, 2, 4 or 8 */
	struct {
		struct rset *set;
		uint8_t slice;
	} src[BIDX_MAX_SRC];
	uint32_t *dir; /* 65537 entries: the keys with high half h are [dir[h], dir[h + 1]) */
	uint16_t *lo;  /* the keys' low halves, n */
	void *mask;    /* n masks of mw bytes: bit b, src[b] holds the key */
	size_t n;
};

/* Keys to rescore: appended as they come, sorted and deduplicated at the tick. */
struct kvec {
	uint64_t *v;
	size_t n, cap;
	bool sorted;
};

/*
 * The recompute's chunk accumulator: one slot per key of a chunk, which
 * keys are touched (bits, all clear between chunks) and in which order.
 * The engine keeps it between ticks (recompute.c).
 */
struct rslot;
struct rchunk {
	struct rslot *slots;
	uint64_t *bits;
	uint32_t *touched;
	size_t n;
};

/*
 * An incremental pass's working arrays, kept by the engine between ticks
 * and grown as needed (recompute_inc.c): a slot per dirty key, the
 * indexes of the dirty keys a set slice holds, and the sort's buffer.
 */
struct rinc {
	struct rslot *slots;
	size_t capslots;
	uint32_t *hits;
	size_t caphits;
	uint32_t *bhits; /* an index's hits and their masks */
	uint64_t *bmasks;
	size_t capb;
	uint64_t *tmp;
	size_t captmp;
	uint32_t *cand; /* the slots whose offence counts are looked up ahead */
	size_t capcand;
};
void rinc_release(struct rinc *ri);

/*
 * An observation whose bucket had already ended when it arrived (real-time
 * scoring): decided at its own time at the next pass (engine_late_resolve).
 */
struct late {
	uint64_t key;
	int64_t ts;     /* its event time */
	uint64_t kmask; /* resolved: the kinds contributing at ts */
	uint8_t space;
};

struct lvec {
	struct late *v;
	size_t n, cap;
};

struct scoring_engine {
	struct scoring_conf conf;
	bool live;
	bool rt; /* live with conf.realtime_ms > 0: no hold, passes at the clock */
	struct kslot kinds[RN_KIND_MAX];
	uint8_t bit_kind[ENGINE_MAX_ACTIVE_KINDS];
	uint64_t cat_kinds;   /* kinds that carry a category */
	uint64_t alone_kinds; /* kinds that may list alone */
	int64_t max_horizon_ms;
	struct rn_prefix_list extra;  /* peers' declared infrastructure */
	struct rn_prefix_list delist; /* operators' delistings in force (the service's) */
	struct scoring_protect *protect;
	struct scoring_protect *noesc;

	struct rset **sets;
	size_t nsets, capsets;
	uint32_t *shash; /* (kind, space, bucket) -> index + 1 */
	size_t shcap;
	struct rset *last_set;

	struct keyset *off[SPACE_COUNT][ENGINE_OFF_SLICES];
	int64_t off_period;

	char (*codes)[ENGINE_CODE_MAX];
	size_t ncodes, capcodes;
	/* Collector names of held observations: held_from[i] indexes from[]. */
	char (*from)[RN_COLLECTOR_NAME_MAX];
	size_t nfrom, capfrom, from_last;
	uint32_t *chash;
	size_t chcap;

	int64_t clock;     /* replay: newest timestamp; live: newest now */
	int64_t max_ts;    /* newest observation timestamp */
	int64_t last_tick; /* INT64_MIN until the first tick */
	int64_t next_tick; /* INT64_MIN until time is known */

	struct rn_obs *held;
	uint16_t *held_from; /* parallel to held */
	size_t nheld, capheld;

	struct scoring_table *cur;
	/*
	 * The table cur replaced, kept until the next pass: when nobody else
	 * holds it by then, that pass builds into its buffers (tbuilder_reuse).
	 */
	struct scoring_table *retired;
	uint64_t seq;

	/* Incremental ticks: keys to rescore at the next tick, per space. */
	struct kvec dirty[SPACE_COUNT];
	bool dirty_on;   /* tracking them: conf.full_every > 1 */
	bool force_full; /* the next tick must be full (configuration changed, loaded) */
	uint64_t since_full;

	struct rchunk chunk; /* allocated at the first tick */
	struct rinc inc;     /* grown by incremental passes */
	struct bidx **bidx;  /* the closed buckets' indexes (bidx.c) */
	size_t nbidx, capbidx;
	uint64_t bidx_min_keys; /* BIDX_MIN_KEYS; tests lower it */
	bool bidx_recheck;      /* reconfigured: index what is not, at the next tick */
	uint64_t bidx_built, bidx_dropped, bidx_thawed; /* thawed: dropped by a late write */

	/*
	 * Real-time scoring: late observations noted at ingest, and those of
	 * them that reached the threshold at their own time (sorted by space,
	 * then key; one per key, the earliest), which the next pass lists.
	 */
	struct lvec late, lq;
	uint64_t late_dropped; /* noted ones beyond ENGINE_MAX_LATE, decided at the clock */
	bool touched;          /* an observation was applied since the last pass */
};

/* Pure formulas, shared with the tests' reference implementation. */
/* Milli-points one event of kind k in a bucket ending at bucket_end is worth at t. */
uint32_t engine_unit(const struct kslot *k, int64_t bucket_end_ms, int64_t t_ms);
/* True when the bucket is past the kind's horizon at t. */
bool engine_dead(const struct kslot *k, int64_t bucket_end_ms, int64_t t_ms);
/* The TTL after offences (>= 1). */
int64_t engine_ttl(const struct scoring_conf *c, unsigned offences);
/* t rounded up to the expiry quantum. */
int64_t engine_quantize(const struct scoring_conf *c, int64_t t_ms);
/* Resolves a kind table; RN_ECONF when more than 64 kinds are active or a row is invalid. */
int engine_kinds_resolve(const struct scoring_conf *c, struct kslot kinds[RN_KIND_MAX],
                         uint8_t bit_kind[ENGINE_MAX_ACTIVE_KINDS], char *err, size_t errlen);
static inline int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Set access, for the persistence code. */
int engine_set_get(struct scoring_engine *e, unsigned kind, unsigned space, int64_t bucket,
                   struct rset **out);
void engine_set_free(struct rset *s);
int engine_code_intern(struct scoring_engine *e, const char *code, uint16_t *out);
/* A collector name's index in e->from (0 for ""; 0 too once the table is full). */
int engine_from_intern(struct scoring_engine *e, const char *name, uint16_t *out);
/* Builds protect and noesc from the configuration, extra and delist. */
int engine_protect_rebuild(struct scoring_engine *e);

/* Replaces the current table (takes ownership of t). */
void engine_set_table(struct scoring_engine *e, struct scoring_table *t);

/*
 * The late observation that lets key of space be listed at a pass of time
 * t: one that reached the threshold at its own time, whose listing would
 * not have expired by t. NULL when there is none.
 */
const struct late *engine_late_find(const struct scoring_engine *e, unsigned space, uint64_t key);

/* Marks key of space to be decided again at the next incremental tick. -ENOMEM. */
int engine_dirty_mark(struct scoring_engine *e, unsigned space, uint64_t key);

/* ---- recompute.c ---------------------------------------------------------------- */

/* The offence count of key in space (0 .. ENGINE_OFF_MAX). */
unsigned engine_off_get(const struct scoring_engine *e, unsigned space, uint64_t key);
/*
 * Halves every offence count once for each offence_decay period begun
 * since the last call, at most ENGINE_OFF_SLICES times (the first call
 * only notes the period).
 */
void engine_off_decay(struct scoring_engine *e, int64_t t);
/*
 * The blocklist at tick t, as a new table and
 * its delta from e->cur (both the caller's: scoring_table_free(),
 * scoring_delta_free()). full: decide every key of every set; otherwise
 * only the keys marked dirty and the listings due for renewal or expired,
 * which reaches the same listings (the rich columns of untouched entries
 * wait for the next full pass). Counts an offence for each key it lists
 * anew and may mark more keys dirty; it neither replaces e->cur nor clears
 * the dirty keys (the caller does). On failure nothing is returned; the
 * offences counted and the keys marked so far stay.
 */
int engine_recompute(struct scoring_engine *e, int64_t t, bool full, struct scoring_table **out_t,
                     struct scoring_delta **out_d);
/* Frees the chunk accumulator's buffers; safe on a zeroed one. */
void rchunk_release(struct rchunk *ch);

/* ---- bidx.c --------------------------------------------------------------------- */

/*
 * Indexes the closed buckets of IPv4 spaces whose sets are all frozen and
 * none indexed yet, where worth it. Called after sets were frozen.
 */
int bidx_update(struct scoring_engine *e);
/* Frees x after unlinking it from its sets and the engine; NULL is fine. */
void bidx_drop(struct scoring_engine *e, struct bidx *x);
void bidx_free(struct bidx *x);
size_t bidx_bytes(const struct bidx *x);
/*
 * Which of keys (sorted, distinct, keys of x's space) x holds: their
 * indexes into keys are appended to *hits and their masks to *masks (nh
 * used, cap allocated, the same for both), ascending.
 */
int bidx_find(const struct bidx *x, const uint64_t *keys, size_t n, uint32_t **hits,
              uint64_t **masks, size_t *nh, size_t *cap);

#endif /* REPNET_SCORING_ENGINE_H */
