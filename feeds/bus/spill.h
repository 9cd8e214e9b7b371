/*
 * spill.h: the collector's durable queue, a bounded file of sealed
 * observation batches and source positions, in the order they were made.
 * Internal to the bus library (and its tests). Not thread-safe: the
 * ingest client calls it under one mutex.
 *
 * File format (data_dir/collector.spill): the 8 bytes "RNSPILL1", then
 * records, each a 9-byte header (body length u32 big-endian, CRC32C of the
 * type byte and the body u32 big-endian, type u8) and the body:
 *   type 1, a batch:  collector id (16 bytes), batch_seq u64, observations
 *                     u32, time spilled (ms since the epoch) i64, then the
 *                     sealed envelope exactly as sent;
 *   type 2, a position: key length u8, key, the position (at most
 *                     SPILL_POS_MAX bytes), which is the content of the
 *                     source's position file data_dir/KEY;
 *   type 4, an open batch: as type 1, but committed only by a position
 *                     record of type 2 after it (see spill_add_batch);
 *   type 5, a position that commits nothing: as type 2;
 *   type 3, an acknowledgement: the offset u64 of the batch record the
 *                     scorer acknowledged (always the oldest one not yet
 *                     acknowledged; written without a sync, past the cap).
 * A position record follows every batch holding observations of the lines
 * before that position. The file is read up to its first record that does
 * not verify (a torn write) and cut there.
 */
#ifndef REPNET_FEEDS_SPILL_H
#define REPNET_FEEDS_SPILL_H

#include "proto/proto.h"

#define SPILL_NAME    "collector.spill"
#define SPILL_POS_MAX 512
#define SPILL_KEY_MAX 64 /* with the NUL */
#define SPILL_KEYS    64 /* sources with positions, at most */

struct spill;

/*
 * Opens (or creates) dir/collector.spill, at most max bytes, and loads
 * what an earlier run left: batches not known to be acknowledged, and the
 * newest position of each source. Free with spill_close().
 */
int spill_open(struct spill **out, const char *dir, uint64_t max);
void spill_close(struct spill *s);

/*
 * Appends a sealed batch. RN_ELIMIT when it would pass max (nothing
 * written). An open batch may hold observations of lines whose position
 * is not in the file yet: it is not handed out (spill_head) until the next
 * position is added, and a restart drops it if none followed (the lines
 * are read again). The open batches before a position may pass max by up
 * to 16 MiB, so that a group once begun can end.
 */
int spill_add_batch(struct spill *s, const uint8_t id[16], uint64_t seq, uint32_t nobs,
                    const uint8_t *env, size_t len, bool open);
/*
 * Appends a source position: every batch added before it holds the
 * observations of the source's lines up to pos. With commit, the open
 * batches before it become sendable; without (another source's lines in
 * them are not yet covered by its position), they stay open. RN_EINVAL for a key that
 * is not [A-Za-z0-9_.-] (not starting with '.'), RN_ELIMIT when full.
 */
int spill_add_mark(struct spill *s, const char *key, const uint8_t *pos, size_t len, bool commit);

/* The oldest batch not acknowledged. */
struct spill_head {
	uint8_t id[16];
	uint64_t seq;
	uint32_t nobs;
	int64_t spilled_ms;
	bool old;     /* written by an earlier run */
	uint8_t *env; /* malloc'd; the caller frees it */
	size_t len;
};
/* RN_ENOTFOUND when every batch is acknowledged. Syncs the file first. */
int spill_head(struct spill *s, struct spill_head *h);
/* The head batch is acknowledged: positions before the next one are too. */
void spill_ack_head(struct spill *s);
/*
 * When every batch is acknowledged: writes the newest acknowledged
 * position of each source to data_dir/KEY (rn_file_replace), then empties
 * the file. RN_ESTATE while a batch is unacknowledged.
 */
int spill_compact(struct spill *s);
/* The newest position of key in the file, acknowledged or not. RN_ENOTFOUND: none. */
int spill_pending(struct spill *s, const char *key, uint8_t *pos, size_t cap, size_t *len);

uint64_t spill_bytes(const struct spill *s);
size_t spill_batches(const struct spill *s);        /* not acknowledged */
uint64_t spill_observations(const struct spill *s); /* in them */
int64_t spill_oldest_ms(const struct spill *s);     /* spilled time of the head; 0: none */

#endif /* REPNET_FEEDS_SPILL_H */
