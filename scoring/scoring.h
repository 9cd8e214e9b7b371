/*
 * scoring.h: the scoring library's contract.
 *
 * The scorer keeps reputation sets (roaring bitmaps of addresses per
 * signal kind and time bucket), scores addresses by weighted, time-decayed
 * set algebra, and turns the scores into a blocklist with categories and
 * the delta against the previous one. It knows the data model (proto) and
 * nothing of collectors or feeds.
 *
 * The pieces, from the inside out:
 *   - the configuration section "scoring" and its signal-kind table;
 *   - protected ranges (allowlists, never-block, CGNAT and shared pools);
 *   - the blocklist table: a compact, immutable, read-only view with fast
 *     lookup and ordered iteration, shared by the scorer's output and by
 *     replicas decoded from the wire;
 *   - deltas between two tables, and the 32-byte state digest;
 *   - the wire forms: repnet.v1.Snapshot and repnet.v1.Delta bodies;
 *   - the engine: ingest in event time, ticks, recompute, explain;
 *   - the service: the engine behind a journal and snapshots, on a thread.
 *
 * Conventions: functions return RN_OK or a negative rn_err. On failure the
 * caller keeps ownership of what it passed in and *out is untouched.
 * Every *_free() is safe on NULL. Nothing here calls fatal().
 */
#ifndef REPNET_SCORING_H
#define REPNET_SCORING_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/* Score units: points are kept as integer thousandths ("milli-points"). */
#define SCORING_SCALE 1000

/* Most events of one kind that count in one time bucket. */
#define SCORING_MAX_COUNT 15

/*
 * One row of the signal-kind table: how observations of one kind score.
 * A kind decays either exponentially (half_life_ms) or counts in full for
 * a window (window_ms); exactly one of the two is non-zero when weight is.
 */
struct scoring_kind {
	double weight;        /* points per event; 0 ignores the kind */
	int64_t half_life_ms; /* exponential decay, or 0 */
	int64_t window_ms;    /* full weight while younger than this, or 0 */
	uint8_t category;     /* enum rn_category; UNSPECIFIED only adds to scores */
	bool alone;           /* may list an address as the only contributing kind */
	uint8_t max_count;    /* events per bucket that count, 1..SCORING_MAX_COUNT */
};

/*
 * The "scoring" configuration section (keys in scoring_conf_keys). The
 * kinds table is the custom key "kinds"; its built-in rows are
 * scoring_kind_defaults(), and the file overrides them field by field.
 */
struct scoring_conf {
	double threshold;        /* points at which an address is listed */
	double delist_threshold; /* a listing is renewed while at or above this */
	int64_t bucket_ms;       /* length of a time bucket */
	int64_t decay_horizon;   /* half-lives after which a bucket is dropped */
	int64_t tick_ms;         /* recompute every tick, in event time */
	int64_t full_every;      /* ticks between full recomputes; the rest are incremental */
	bool bucket_index;       /* index closed buckets for incremental passes (memory for time) */
	int64_t lateness_ms;     /* a tick waits this long for late observations (replay) */
	int64_t realtime_ms;     /* live: rescore what was touched this often; 0 off */
	int64_t max_future_ms;   /* live mode: refuse timestamps this far ahead */
	int64_t ttl_ms;          /* first listing's TTL */
	int64_t ttl_max_ms;      /* cap of the TTL after repeat offences */
	double ttl_growth;       /* TTL factor per repeat offence */
	int64_t offence_decay_ms; /* offence counts halve this often */
	int64_t expiry_quantum_ms;
	int64_t ipv6_prefix; /* IPv6 addresses aggregate to this length */
	int64_t escalate_v4; /* listed /32s in a /24 that list the /24; 0 off */
	int64_t escalate_v6; /* listed /64s in a /48 that list the /48; 0 off */
	struct rn_prefix_list allowlist;
	struct rn_prefix_list never_block;
	bool default_never_block; /* add the RFC 6890 ranges to never_block */
	struct rn_prefix_list cgnat;
	struct rn_prefix_list shared_pools;
	bool dry_run;
	bool evidence; /* keep per-address evidence codes for explain */
	/* The service. */
	int64_t snapshot_interval_ms;
	uint64_t journal_max;
	int64_t queue_max; /* observations accepted but not yet applied */
	int64_t hold_max;  /* observations held for a later tick */
	struct scoring_kind kinds[RN_KIND_MAX];
};
extern const struct rn_conf_key scoring_conf_keys[];

/* The built-in signal-kind table (RN_KIND_MAX rows; weight 0 = ignored). */
const struct scoring_kind *scoring_kind_defaults(void);

/*
 * A deep copy of src into dst (prefix lists are duplicated). Release dst
 * with scoring_conf_release(). For tests and the CLI, which build a
 * configuration without the loader; scoring_conf_defaults() fills one
 * with the table's defaults.
 */
int scoring_conf_copy(struct scoring_conf *dst, const struct scoring_conf *src);
int scoring_conf_defaults(struct scoring_conf *c);
void scoring_conf_release(struct scoring_conf *c);

/* ------------------------------------------------------------------ */
/* Protected ranges                                                    */
/* ------------------------------------------------------------------ */

/*
 * Ranges that must never be listed: allowlists and never-block ranges
 * (the RFC 6890 defaults, configured lists, peers' declared
 * infrastructure). An IPv6 prefix longer than the aggregation length
 * protects the whole aggregate around it, since listing the aggregate
 * would block it. Immutable once built; safe to share between threads.
 */
struct scoring_protect;

/* Builds from any number of lists (NULL entries are skipped). */
int scoring_protect_build(const struct rn_prefix_list *const *lists, size_t nlists,
                          struct scoring_protect **out);
void scoring_protect_free(struct scoring_protect *p);
/* True when listing p would block a protected address. */
bool scoring_protect_overlaps(const struct scoring_protect *p, const struct rn_prefix *pfx);
bool scoring_protect_contains(const struct scoring_protect *p, const struct rn_addr *a);

/* ------------------------------------------------------------------ */
/* Blocklist table                                                     */
/* ------------------------------------------------------------------ */

/*
 * A blocklist: entries that are an IPv4 address, an IPv6 aggregate (/64
 * by default) or a prefix, each with categories and one expiry shared by
 * its categories. Tables are immutable and reference-counted: the scorer
 * makes a new one every tick, a replica makes one per snapshot or delta,
 * and readers on any thread hold a reference while they look.
 *
 * Tables made by the scorer carry the score, first and last seen, and
 * offence count of each entry; replicas decoded from the wire do not
 * (those fields read as zero).
 *
 * A replica keeps every listing its publisher sent, so that its digest
 * and the deltas that follow stay exact; a listing inside a locally
 * protected range is kept but suppressed: lookups never match it and
 * iteration skips it unless asked for everything. The scorer's own tables
 * hold no protected entry at all.
 *
 * A table holds at most 65535 distinct (categories, expiry) pairs: a
 * snapshot or tick that needs more fails with RN_ELIMIT. The scorer's
 * expiry quantum (12 h by default) keeps it far below that.
 */
struct scoring_table;

#define SCORING_F_ESCALATED  0x01u /* a prefix listed because its members are */
#define SCORING_F_SUPPRESSED 0x02u /* protected here: kept in the state, never enforced */

struct scoring_entry {
	struct rn_prefix prefix; /* IPv4 hosts are /32 */
	uint32_t cats;           /* bit c: category c */
	int64_t expires_ms;
	uint32_t score; /* milli-points; 0 in replicas */
	int64_t first_seen_ms, last_seen_ms;
	uint8_t offences;
	uint8_t flags; /* SCORING_F_* */
};

/*
 * Builds a table from entries in any order. Entries must be distinct,
 * have at least one category, an expiry, and a prefix with no bits set
 * past its length; otherwise RN_EPARSE. The caller keeps ents.
 */
int scoring_table_build(const struct scoring_entry *ents, size_t n, bool dry_run,
                        struct scoring_table **out);
/* An empty table. */
int scoring_table_empty(struct scoring_table **out);
/* Adds a reference. */
struct scoring_table *scoring_table_ref(struct scoring_table *t);
/* Drops a reference; the last one frees. Safe on NULL. */
void scoring_table_free(struct scoring_table *t);

/* Entries in the state, suppressed ones included. */
size_t scoring_table_count(const struct scoring_table *t);
size_t scoring_table_count_suppressed(const struct scoring_table *t);
/* Entries of one family (RN_AF_INET or RN_AF_INET6). */
size_t scoring_table_count_family(const struct scoring_table *t, unsigned family);
/* True for a dry-run scorer's output: never to be enforced or encoded. */
bool scoring_table_dry_run(const struct scoring_table *t);
/* Heap bytes held by the table (lookup structures, and rich columns if any). */
size_t scoring_table_bytes(const struct scoring_table *t);
/* The state digest (see scoring_digest_*). */
void scoring_table_digest(const struct scoring_table *t, uint8_t out[32]);

struct scoring_hit {
	uint32_t cats;           /* union over every matching entry */
	int64_t expires_ms;      /* the latest expiry among them */
	struct rn_prefix prefix; /* the most specific match */
};

/*
 * Is a listed, and in which categories, until when? Looks the address up
 * in every address space of its family (its own entry, its IPv6
 * aggregate, every listed prefix length). Entries whose expiry is at or
 * before now_ms do not match (pass 0 to ignore expiry). Wait-free and
 * allocation-free; any number of threads may look up one table.
 */
bool scoring_table_lookup(const struct scoring_table *t, const struct rn_addr *a, int64_t now_ms,
                          struct scoring_hit *hit);
/* The entry exactly at pfx, if any. */
bool scoring_table_find(const struct scoring_table *t, const struct rn_prefix *pfx,
                        struct scoring_entry *out);

/*
 * Ordered iteration: by family, then prefix length ascending, then
 * address. scoring_iter_init() skips suppressed entries, which is what
 * anything that enforces or exports wants; scoring_iter_init_all() yields
 * them too, flagged. The iterator holds no allocation.
 */
struct scoring_iter {
	const struct scoring_table *t;
	size_t space;
	size_t pos;
	uint32_t hi; /* IPv4 spaces: the current 16-bit directory slot */
	bool all;
};
void scoring_iter_init(struct scoring_iter *it, const struct scoring_table *t);
void scoring_iter_init_all(struct scoring_iter *it, const struct scoring_table *t);
bool scoring_iter_next(struct scoring_iter *it, struct scoring_entry *out);

/* ------------------------------------------------------------------ */
/* Deltas and the state digest                                         */
/* ------------------------------------------------------------------ */

/*
 * The state a feed replicates is the set of listings (category,
 * expires_ms, prefix). One entry with n categories is n listings that
 * share the expiry. A delta removes listings, then adds listings: a
 * renewal is the removal of (c, old expiry, p) and the addition of
 * (c, new expiry, p).
 */
struct scoring_delta;

struct scoring_listing {
	struct rn_prefix prefix;
	uint8_t category;
	int64_t expires_ms;
};

/* Delta from old to new (the scorer computes its own as it recomputes). */
int scoring_delta_diff(const struct scoring_table *old, const struct scoring_table *new_,
                       struct scoring_delta **out);
void scoring_delta_free(struct scoring_delta *d);
size_t scoring_delta_added(const struct scoring_delta *d);
size_t scoring_delta_removed(const struct scoring_delta *d);
bool scoring_delta_empty(const struct scoring_delta *d);
/* The i-th listing added or removed, in (family, length, address, category) order. */
void scoring_delta_get_added(const struct scoring_delta *d, size_t i, struct scoring_listing *out);
void scoring_delta_get_removed(const struct scoring_delta *d, size_t i,
                               struct scoring_listing *out);

/*
 * Applies d to old: every removed listing must be present with exactly
 * that expiry, and no added one may be present after the removals; all
 * listings of one prefix must share one expiry afterwards. Any violation
 * is RN_ESTATE and *out is untouched: the replica has diverged and must
 * resync. The new table's digest is old's updated by d. protect, if not
 * NULL, suppresses the listings it covers (see above).
 */
int scoring_table_apply(const struct scoring_table *old, const struct scoring_delta *d,
                        const struct scoring_protect *protect, struct scoring_table **out);

/*
 * The state digest: 32 bytes that any two parties holding the same
 * listings compute identically. It is the lane-wise sum modulo 2^64 of
 * SipHash-2-4-128 over each listing's canonical 24 bytes, under two fixed
 * keys (docs/design.md gives the exact encoding). Adding or removing a
 * listing adds or subtracts its hash, so a delta updates a digest in time
 * proportional to its size. It detects divergence; authenticity is the
 * signature's job.
 */
void scoring_digest_listing(const struct scoring_listing *l, uint8_t out[32]);
/* d += listing hash (sign +1) or d -= (sign -1). */
void scoring_digest_add(uint8_t d[32], const struct scoring_listing *l, int sign);
/* The digest a table would have after d is applied to a state with digest base. */
void scoring_digest_after(const uint8_t base[32], const struct scoring_delta *d, uint8_t out[32]);

/* ------------------------------------------------------------------ */
/* Wire forms                                                          */
/* ------------------------------------------------------------------ */

/*
 * Snapshot and Delta bodies of repnet/v1 (docs/design.md, "Wire"): one
 * CategorySet per (category, expires_ms), holding one AddrSet per
 * (family, prefix length); IPv4 as one portable roaring bitmap, IPv6 as
 * V6Groups (upper 32 bits -> roaring bitmap of the next 32). Encoding is
 * canonical: the same listings always give the same bytes.
 *
 * Encoders refuse a dry-run table (RN_ESTATE): dry-run output never
 * reaches enforcement. *out is malloc'd; the caller frees it.
 */
int scoring_snapshot_encode(const struct scoring_table *t, uint8_t **out, size_t *len);
int scoring_delta_encode(const struct scoring_delta *d, uint64_t base_seq,
                         const uint8_t base_digest[32], uint8_t **out, size_t *len);

/* Caps on what a decoder accepts. Zero fields take the defaults. */
struct scoring_decode_limits {
	uint64_t max_listings; /* default 16M */
	size_t max_sets;       /* CategorySets, default 4096 */
	size_t max_groups;     /* V6Groups in all, default 1M */
};

/* What a decoder skipped or suppressed, for the metrics. */
struct scoring_decode_stats {
	uint64_t unknown_category; /* sets of a category this build does not know: skipped */
	uint64_t suppressed;       /* entries inside a protected range */
};

/*
 * Decodes a Snapshot body into a new table, defensively: a budgeted
 * protobuf allocator, roaring_bitmap_portable_deserialize_safe with the
 * exact field length, caps, every bitmap walked to check that it is
 * strictly ascending and matches both its own and the message's
 * cardinality, prefix masks, V6Group order, one expiry per prefix, no
 * duplicate listing, and the total against Snapshot.listed. Prefixes
 * shorter than /8 (IPv4) or /16 (IPv6) are refused. protect, if not
 * NULL, suppresses the entries it covers (counted). Expired sets are kept:
 * lookups ignore them given a now_ms, and the publisher's deltas remove
 * them. Errors: RN_EPARSE, RN_ELIMIT, RN_EBADLEN; *out is set on RN_OK only.
 */
int scoring_snapshot_decode(const uint8_t *buf, size_t len, const struct scoring_decode_limits *lim,
                            const struct scoring_protect *protect, struct scoring_table **out,
                            struct scoring_decode_stats *st);
/*
 * Decodes a Delta body with the same checks (protection applies when the
 * delta is applied). base_digest is all zeroes when the message carries
 * none.
 */
int scoring_delta_decode(const uint8_t *buf, size_t len, const struct scoring_decode_limits *lim,
                         struct scoring_delta **out, uint64_t *base_seq, uint8_t base_digest[32],
                         struct scoring_decode_stats *st);

/* The same, for bodies protobuf-c has already unpacked (inside a SignedPayload). */
int scoring_snapshot_from_pb(const Repnet__V1__Snapshot *m, const struct scoring_decode_limits *lim,
                             const struct scoring_protect *protect, struct scoring_table **out,
                             struct scoring_decode_stats *st);
int scoring_delta_from_pb(const Repnet__V1__Delta *m, const struct scoring_decode_limits *lim,
                          struct scoring_delta **out, struct scoring_decode_stats *st);

/* ------------------------------------------------------------------ */
/* Engine                                                              */
/* ------------------------------------------------------------------ */

/*
 * The scoring engine: reputation sets, ticks, recompute, explain. It does
 * no I/O and takes no locks: one thread owns it.
 *
 * Time is event time. Ticks fall on multiples of tick_ms. The engine
 * computes tick T once its clock has passed T + lateness_ms, from exactly
 * the observations stamped before T; observations stamped at or after the
 * next tick are held until that tick is computed. The clock is the wall
 * clock in live mode and the newest timestamp seen in replay mode, so a
 * replay of logs gives the blocklists live operation gave, as long as
 * every observation reached the live scorer within lateness_ms.
 *
 * A live engine with conf.realtime_ms > 0 scores in real time instead
 * (scoring_engine_realtime below): nothing is held, lateness does not
 * apply, and ticks run at the clock.
 */
struct scoring_engine;

/* What happened to ingested observations, for the metrics. */
struct scoring_ingest_stats {
	uint64_t accepted;  /* taken: applied to the sets, or held */
	uint64_t held;      /* of those, held for a later tick */
	uint64_t late;      /* of those, stamped before a tick already computed (real time: in a
	                       bucket that had ended) */
	uint64_t overflow;  /* of those, applied at once: the hold buffer was full */
	uint64_t protected; /* dropped: inside an allowlist or never-block range */
	uint64_t ignored;   /* dropped: a kind of weight 0 */
	uint64_t stale;     /* dropped: past the kind's horizon already */
	uint64_t future;    /* dropped: live, beyond max_future; replay, a year past the newest */
	uint64_t bad;       /* dropped: a prefix length not kept, count 0, negative time */
};

/* The outcome of one tick, lent to a callback. */
struct scoring_tick {
	int64_t tick_ms;
	const struct scoring_table *table; /* the new blocklist; ref it to keep it */
	const struct scoring_delta *delta; /* against the previous tick's */
	uint64_t seq;                      /* ticks computed so far, this one included */
	int64_t elapsed_ns;                /* time the recompute took */
	bool realtime;                     /* a real-time pass, not a periodic tick */
};
typedef void (*scoring_tick_fn)(void *arg, const struct scoring_tick *tick);

/* conf is copied. */
int scoring_engine_new(const struct scoring_conf *conf, bool live, struct scoring_engine **out);
void scoring_engine_free(struct scoring_engine *e);
/*
 * Replaces the configuration (weights, thresholds, lists). Keys that
 * shape the stored sets (bucket, ipv6_prefix) must not change: RN_ECONF.
 * Takes effect at the next tick.
 */
int scoring_engine_reconfigure(struct scoring_engine *e, const struct scoring_conf *conf);
/*
 * Adds extra protected ranges (peers' declared infrastructure), replacing
 * any given before. Takes effect at the next tick and the next ingest.
 */
int scoring_engine_protect_extra(struct scoring_engine *e, const struct rn_prefix_list *l);
/*
 * The operators' delistings in force, replacing those given before: never
 * listed, as allowlisted ranges are. The next tick is full; live with
 * real time, the next pass is that full tick.
 */
int scoring_engine_delist_set(struct scoring_engine *e, const struct rn_prefix_list *l);

/*
 * Takes n observations. now_ms is the wall clock in live mode and ignored
 * in replay. Observations the engine does not take are counted in st (which
 * accumulates; it may be NULL). Fails only on allocation failure, after
 * which the engine is still consistent.
 */
int scoring_engine_ingest(struct scoring_engine *e, const struct rn_obs *obs, size_t n,
                          int64_t now_ms, struct scoring_ingest_stats *st);
/*
 * The same, for observations a named collector sent (the name its key has
 * in the scorer's keyring; NULL or "": not known). The name is kept with
 * the evidence codes, so explain names the collector behind each one.
 */
int scoring_engine_ingest_from(struct scoring_engine *e, const char *collector,
                               const struct rn_obs *obs, size_t n, int64_t now_ms,
                               struct scoring_ingest_stats *st);
/*
 * Computes every tick that is due at now_ms (live) or at the event clock
 * (replay, now_ms ignored), calling cb for each. cb may be NULL.
 */
int scoring_engine_advance(struct scoring_engine *e, int64_t now_ms, scoring_tick_fn cb, void *arg);
/*
 * Real-time scoring (live, conf.realtime_ms > 0). Nothing is held: every
 * observation is applied as it comes, and a pass at the clock decides
 * again the addresses touched since the last one (an incremental
 * recompute), calling cb once with its delta. An observation that arrives
 * after its time bucket has ended is decided at its own time too: if its
 * address reached the threshold then, it is listed with the expiry it
 * would have had. Periodic ticks (scoring_engine_advance) then run at the
 * clock, on multiples of tick_ms, for decay, renewal and expiry. Does
 * nothing when nothing was observed since the last pass, or when the
 * engine is not real-time. The caller decides how often to call it.
 */
int scoring_engine_realtime(struct scoring_engine *e, int64_t now_ms, scoring_tick_fn cb,
                            void *arg);
/* True when a real-time pass has something to decide. */
bool scoring_engine_rt_pending(const struct scoring_engine *e);
/*
 * Replay only: computes the ticks up to and including the first tick
 * after the newest observation, so that every observation counts.
 */
int scoring_engine_flush(struct scoring_engine *e, scoring_tick_fn cb, void *arg);

/* The current blocklist (borrowed; valid until the next tick). */
const struct scoring_table *scoring_engine_table(const struct scoring_engine *e);
int64_t scoring_engine_clock(const struct scoring_engine *e);
/* The last tick computed, or INT64_MIN. */
int64_t scoring_engine_last_tick(const struct scoring_engine *e);

struct scoring_engine_stats {
	size_t sets;        /* reputation sets alive */
	uint64_t set_keys;  /* addresses in them, counted once per set and slice */
	size_t set_bytes;   /* heap bytes of the sets (roaring's own estimate) and their indexes */
	size_t index_bytes; /* of which the closed buckets' indexes */
	size_t indexed_buckets; /* closed buckets indexed (per space) */
	size_t held;            /* observations waiting for a later tick */
	size_t evidence_codes;
};
void scoring_engine_stats(const struct scoring_engine *e, struct scoring_engine_stats *st);

/* One reputation set's share of an address's score. */
struct scoring_contrib {
	uint8_t kind;
	uint8_t category;
	bool alone;
	double weight;
	int64_t half_life_ms, window_ms;
	int64_t bucket_start_ms;
	int64_t set_first_ms, set_last_ms; /* the set's first and last observation */
	unsigned count;                    /* events in the bucket (capped) */
	double decay;                      /* factor at the explained time */
	uint32_t points;                   /* milli-points contributed */
	char evidence[4][RN_EVIDENCE_MAX]; /* evidence codes seen for this address */
	/* The collector each code came from ("" when not known), as the scorer's keyring named it. */
	char collector[4][RN_COLLECTOR_NAME_MAX];
	unsigned nevidence;
};

#define SCORING_EXPLAIN_MAX 256

/* About 130 KiB: allocate it, do not put it on a thread's stack. */
struct scoring_explain {
	struct rn_prefix key; /* the address space entry explained (IPv6: its aggregate) */
	int64_t at_ms;        /* the time scored: the last tick, or the clock */
	uint32_t score;       /* milli-points at at_ms */
	bool eligible;        /* the contributing kinds may list it */
	bool protected_;
	bool listed;
	bool dry_run;
	struct scoring_entry entry; /* when listed */
	bool covered;               /* an escalated or listed prefix covers it */
	struct scoring_entry cover;
	unsigned offences;
	unsigned held; /* events of observations held for a later tick */
	double threshold, delist_threshold;
	struct scoring_contrib contrib[SCORING_EXPLAIN_MAX];
	unsigned ncontrib;
};
int scoring_engine_explain(struct scoring_engine *e, const struct rn_addr *a,
                           struct scoring_explain *out);
/*
 * x as JSON, field for field and lossless (times in ms, milli-points,
 * kinds and categories by number): how repnetd hands an explanation to
 * `repnet explain`. Not a public format (that is `repnet explain --json`).
 */
void scoring_explain_json_write(struct rn_jsonw *w, const struct scoring_explain *x);
/*
 * Reads what scoring_explain_json_write() wrote into x (all of it is
 * overwritten). Strict; unknown members are skipped. RN_EPARSE or
 * RN_ELIMIT with the reason in err (errlen bytes, may be NULL).
 */
int scoring_explain_json_read(const uint8_t *buf, size_t len, struct scoring_explain *x, char *err,
                              size_t errlen);

/* ------------------------------------------------------------------ */
/* Service: the scorer role                                            */
/* ------------------------------------------------------------------ */

/*
 * The engine behind a journal and snapshots in data_dir/scoring, on its
 * own thread, ticking on the wall clock.
 *
 * Acknowledgement point: scoring_submit() returns RN_OK only once the
 * batch is in the journal and the journal is fdatasync()ed (group commit:
 * one sync covers every batch written before it). A batch acknowledged
 * that way survives a crash of the process or the machine.
 *
 * On start the newest valid snapshot is loaded and the journal replayed to
 * its last valid record; a file that cannot be verified is refused with a
 * message naming it, and an older snapshot is tried.
 */
struct scoring;

struct scoring_opts {
	const char *data_dir;       /* state goes in data_dir/scoring */
	struct rn_metrics *metrics; /* may be NULL */
	bool read_only;             /* load, never write (repnet explain) */
	bool no_thread;             /* load only; no ticking (repnet explain) */
	/*
	 * Called on the scorer thread after every tick, with the engine
	 * locked: it may take references and encode, and must not call back
	 * into this scorer (explain, reconfigure, snapshot_now). May be NULL.
	 */
	scoring_tick_fn on_tick;
	void *on_tick_arg;
};

int scoring_start(struct scoring **out, const struct scoring_conf *conf,
                  const struct scoring_opts *opts);
/* Stops the thread, writes a final snapshot (unless read-only), frees s. Safe on NULL. */
void scoring_stop(struct scoring *s);

/*
 * Submits a batch, from any thread. meta may be NULL (no duplicate
 * detection); otherwise a batch whose (collector_id, batch_seq) is not
 * above the last durable one from that collector returns RN_EEXIST once
 * that one is durable (acknowledge it: the resend is harmless). RN_ELIMIT:
 * the queue is full, resend later. Any other error: not durable.
 */
int scoring_submit(struct scoring *s, const struct rn_obs_batch_meta *meta,
                   const struct rn_obs *obs, size_t n);
/* A reference on the current blocklist; drop it with scoring_table_free(). */
struct scoring_table *scoring_current(struct scoring *s);
/* Explains one address against the live engine. */
int scoring_explain(struct scoring *s, const struct rn_addr *a, struct scoring_explain *out);
/* New configuration (SIGHUP); RN_ECONF when a key that shapes the sets changed. */
int scoring_reconfigure(struct scoring *s, const struct scoring_conf *conf);
/*
 * Replaces the extra protected ranges (peers' declared infrastructure);
 * they take effect at the next tick, which is a full one.
 */
int scoring_protect_extra(struct scoring *s, const struct rn_prefix_list *l);
/* Forces a snapshot now (tests). */
int scoring_snapshot_now(struct scoring *s);

/* A delisting's reason, at most this many bytes with the NUL. */
#define SCORING_REASON_MAX 128
/*
 * Delists p now and keeps it off the blocklist until until_ms, for reason
 * (stored with control characters replaced, cut to SCORING_REASON_MAX):
 * an allow entry that expires. It is in data_dir/scoring/delist, durably,
 * when this returns RN_OK; the next real-time pass (or, with
 * realtime_interval 0, the next tick) removes the listing and publishes
 * the removal. Delisting p again replaces its expiry and reason.
 * RN_ESTATE on a read-only scorer, RN_ELIMIT past 65,536 delistings.
 */
int scoring_delist(struct scoring *s, const struct rn_prefix *p, int64_t until_ms,
                   const char *reason);
/* How many delistings are in force. */
size_t scoring_delist_count(struct scoring *s);

/*
 * The state of the scorer's files, for /status. The journal is "ok";
 * "refusing" after a write failed (disk full: that batch was refused and
 * its collector retries; the next write tries again); or "failed" after a
 * sync failed, or a failed write could not be cut off: every batch is
 * refused until a snapshot covering everything written succeeds, which
 * the scorer retries with back-off, and a new journal generation starts.
 * Snapshots that fail are retried with back-off (1 s doubling, at most
 * min(snapshot_interval, 60 s)).
 */
enum scoring_journal_state {
	SCORING_JOURNAL_OK,
	SCORING_JOURNAL_REFUSING,
	SCORING_JOURNAL_FAILED,
};
struct scoring_health {
	enum scoring_journal_state journal;
	int journal_error;          /* the last write or sync error (0: none since start) */
	int64_t journal_since_ms;   /* wall clock, when the journal left "ok" (0 when ok) */
	uint64_t snapshot_failures; /* consecutive failed snapshots; 0 when the last succeeded */
	int snapshot_error;         /* the last snapshot error, while failing */
	int64_t snapshot_ok_ms;     /* wall clock of the last good snapshot (0: none yet) */
	int64_t snapshot_retry_ms;  /* while failing: ms until the next attempt */
};
void scoring_health(struct scoring *s, struct scoring_health *out);
const char *scoring_journal_state_name(enum scoring_journal_state st);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_SCORING_H */
