/*
 * persist.h: the scorer's files: the journal of observation batches and
 * the engine's state snapshots. Internal to the scoring library.
 *
 * Journal file (data_dir/scoring/journal.<gen, 16 hex digits>):
 *   header: "RNJ1", u32 version (1), u64 generation, u32 CRC32C of the
 *   previous 16 bytes, u32 zero;
 *   records: u32 length (1 .. JOURNAL_MAX_RECORD), u32 CRC32C over the
 *   4 length bytes and the payload, then the payload: one
 *   repnet.v1.ObservationBatch. Integers are big-endian.
 *
 * Snapshot file (data_dir/scoring/snapshot.<number, 16 hex digits>):
 *   header: "RNSS", u32 version (1), u64 body length, u32 CRC32C of the
 *   body, u32 CRC32C of the previous 20 bytes; then the body, a sequence of
 *   sections (u32 tag, u64 length, data) in a fixed order (state.c).
 */
#ifndef REPNET_SCORING_PERSIST_H
#define REPNET_SCORING_PERSIST_H

#include "scoring/engine.h"

#define JOURNAL_HDR_LEN    24
#define JOURNAL_REC_HDR    8
#define JOURNAL_MAX_RECORD (16u << 20)
/* Observations in one journal record (one submitted batch). */
#define JOURNAL_MAX_OBS 65536

#define STATE_HDR_LEN 24

/* A position in the journal: records up to end of generation gen. */
struct jpos {
	uint64_t gen;
	uint64_t off;
};

static inline bool jpos_le(struct jpos a, struct jpos b)
{
	return a.gen < b.gen || (a.gen == b.gen && a.off <= b.off);
}

/*
 * The newest batch_seq per collector id, for recognising resent batches
 * (batches.c). Not locked: its owner's lock covers it. Released with
 * batches_release(); a zeroed struct is an empty table.
 */
#define BATCHES_MAX_COLLECTORS 65536
struct batch_mark {
	uint8_t id[16];
	uint64_t seq;
	struct jpos end; /* where that batch's journal record ends, if known */
};
struct batches {
	struct batch_mark *v; /* unordered */
	size_t n, cap;
};
/* The mark of collector id, or NULL. */
struct batch_mark *batches_find(const struct batches *b, const uint8_t id[16]);
/*
 * Records that id's batch seq ends at end, unless id has a newer one.
 * A collector first seen when BATCHES_MAX_COLLECTORS are tracked is not
 * (logged, RN_OK). -ENOMEM leaves the table as it was.
 */
int batches_note(struct batches *b, const uint8_t id[16], uint64_t seq, struct jpos end);
void batches_release(struct batches *b);

/* The journal file header for gen. */
void journal_header(uint8_t hdr[JOURNAL_HDR_LEN], uint64_t gen);
/* Frames a record: writes the 8 header bytes for payload. */
void journal_record_header(uint8_t hdr[JOURNAL_REC_HDR], const uint8_t *payload, size_t len);

/*
 * Walks a journal image, trusting nothing. The header must be valid
 * (RN_EPARSE, RN_EVERSION or RN_ECHECKSUM otherwise). Then fn is called
 * for each valid record in order, with the offset just past it; the walk
 * stops at the first record that is truncated, too long, or fails its
 * CRC: what a crash in the middle of an append leaves. *valid is the
 * length of the valid prefix and *torn whether anything followed it. fn
 * may stop the walk by returning an error, which is returned.
 */
int journal_scan(const uint8_t *buf, size_t len, uint64_t *gen, size_t *valid, bool *torn,
                 int (*fn)(void *arg, const uint8_t *rec, size_t rlen, uint64_t end), void *arg);

/*
 * Serialises the engine's state and the batches applied to it (their
 * sequence numbers; positions are not kept), as of journal position pos,
 * into a malloc'd snapshot file image.
 */
int state_save(struct scoring_engine *e, const struct batches *applied, struct jpos pos,
               uint8_t **out, size_t *len);
/*
 * Loads a snapshot image into a new engine built from conf and into
 * applied (empty on entry; left empty on failure, positions zero), trusting
 * nothing: sizes, CRCs, every section, every bitmap (walked and rebuilt),
 * the blocklist's digest. RN_ECONF when the snapshot was made with a
 * bucket or ipv6_prefix other than conf's.
 */
int state_load(const uint8_t *buf, size_t len, const struct scoring_conf *conf, bool live,
               struct scoring_engine **out, struct batches *applied, struct jpos *pos);

/*
 * Test hook: when set, called at each point where a crash must be
 * survivable (between the two halves of a journal record, around each
 * step of a snapshot's atomic replacement). The crash test kills the
 * process from it.
 */
extern void (*scoring_crash_hook)(const char *point);
static inline void crash_point(const char *point)
{
	if (scoring_crash_hook != NULL)
		scoring_crash_hook(point);
}

/*
 * Test hook: when set, called where an I/O failure must be survivable
 * ("journal-sync"); a non-zero return (-errno) is taken as that call's
 * error. service_test injects a failed fdatasync with it.
 */
extern int (*scoring_fault_hook)(const char *point);
static inline int fault_point(const char *point)
{
	return scoring_fault_hook != NULL ? scoring_fault_hook(point) : 0;
}

/* Writes path atomically (temporary, fsync, rename, directory fsync), with crash points. */
int persist_replace(int dirfd, const char *name, const uint8_t *buf, size_t len);

/* ---- delistings (delist.c) ---------------------------------------------- */

#define DELIST_MAX 65536

struct delist_entry {
	struct rn_prefix prefix;
	int64_t until_ms;
	char reason[SCORING_REASON_MAX];
};

/* The delistings in force; the service's, under its engine mutex. */
struct delist_set {
	struct delist_entry *v;
	size_t n, cap;
	int64_t next_ms; /* the earliest expiry, INT64_MAX without any */
};

void delist_init(struct delist_set *d);
void delist_release(struct delist_set *d);
/* Adds or replaces the delisting of p. RN_ELIMIT past DELIST_MAX. */
int delist_put(struct delist_set *d, const struct rn_prefix *p, int64_t until_ms,
               const char *reason);
/* Drops the delistings due at now_ms (logged); returns how many. */
size_t delist_expire(struct delist_set *d, int64_t now_ms);
/* Appends the prefixes in force to out. */
int delist_prefixes(const struct delist_set *d, struct rn_prefix_list *out);
/* Writes the set to path whole, durably (rn_file_replace()). */
int delist_save(const struct delist_set *d, const char *path);
/* Reads path into d (a missing file is an empty set), dropping what expired by now_ms. */
int delist_load(struct delist_set *d, const char *path, int64_t now_ms);

#endif /* REPNET_SCORING_PERSIST_H */
