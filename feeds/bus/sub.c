/*
 * sub.c: the subscriber: one publisher's feed, verified, checked against
 * replay and rollback, applied only to exactly the state it was made for,
 * and resynced by itself when anything is missing.
 *
 * Design notes.
 *
 * Order of checks for each message, cheapest and most fundamental first,
 * so nothing unauthenticated is ever parsed beyond the outer envelope:
 *   1. the envelope: strict framing, key id in the keyring and not
 *      revoked, ed25519 signature over the exact payload bytes;
 *   2. the key belongs to this subscription's publisher, and the payload
 *      names the same publisher;
 *   3. the payload header: not expired, epoch not rolled back;
 *   4. by kind: a delta must extend exactly the state held ((epoch,
 *      seq - 1) with the same digest), a snapshot must be newer than the
 *      state held, a heartbeat must match it;
 *   5. the body is decoded under caps; the resulting digest must equal
 *      the one the publisher signed;
 *   6. for remote members only, the circuit breaker: a change that adds
 *      more than the configured number or share of entries is held back
 *      (quarantined) and reported, not applied;
 *   7. (epoch, seq, digest) is made durable, then the new state is
 *      swapped in.
 * A gap, a mismatching heartbeat, or no heartbeat for 1.25 intervals make
 * the subscriber ask the resync service, with backoff. The resync service
 * is asked over REQ/REP, not the feed, so a feed that loses messages
 * still converges within about two heartbeat intervals: a lost delta is
 * noticed at the next heartbeat, and a lost heartbeat when the next one
 * is overdue. A resync that finds the state current counts as a
 * heartbeat.
 *
 * The durable state is two 64-byte slots in data_dir/feeds/sub-NAME.state,
 * written alternately with pwrite and fdatasync, each with a CRC32C: a
 * torn write leaves the other slot valid. At start the newer valid slot
 * is the floor: nothing older is ever accepted again, across restarts.
 * The floor is written just after a state is swapped in (floor_save()).
 *
 * Threads. One thread per subscription owns both sockets and all state
 * transitions. Readers take the current table through feeds_sub_table()
 * (a mutex and a reference) or poll feeds_sub_version() cheaply.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "feeds/bus/socket.h"
#include "feeds/bus/bus.h"
#include "feeds/bus/payload.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/sub.h"
#include "feeds/bus/wire.h"

static const char *const reason_names[FEEDS_REJ_COUNT] = {
        [FEEDS_REJ_MALFORMED] = "malformed",
        [FEEDS_REJ_UNKNOWN_KEY] = "unknown_key",
        [FEEDS_REJ_REVOKED_KEY] = "revoked_key",
        [FEEDS_REJ_BAD_SIGNATURE] = "bad_signature",
        [FEEDS_REJ_WRONG_PUBLISHER] = "wrong_publisher",
        [FEEDS_REJ_EXPIRED] = "expired",
        [FEEDS_REJ_EPOCH_ROLLBACK] = "epoch_rollback",
        [FEEDS_REJ_REPLAY] = "replay",
        [FEEDS_REJ_BASE_DIGEST] = "base_digest",
        [FEEDS_REJ_DIGEST_MISMATCH] = "digest_mismatch",
        [FEEDS_REJ_INCONSISTENT] = "inconsistent",
        [FEEDS_REJ_QUARANTINED] = "quarantined",
        [FEEDS_REJ_GAP] = "gap",
};

const char *feeds_reject_name(enum feeds_reject r)
{
	return r < FEEDS_REJ_COUNT ? reason_names[r] : "unknown";
}

struct feeds_sub {
	const struct feeds_bus_conf *conf;
	struct feeds_bus_conf confv; /* numbers only: strings are not kept */
	struct feeds_sub_opts o;
	char name[FEEDS_NAME_MAX];
	char *pub_url, *resync_url;
	char state_path[4200];
	int state_fd;
	unsigned state_slot;
	uint64_t gen;
	uint64_t rng;
	struct feeds_msg_info info; /* of the message being handled */
	nng_socket sub, req;
	bool sub_open, req_open;
	struct feeds_bus_watch *wsub, *wreq; /* connections closed before a message */
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
	int64_t recv_wait_ms; /* the sub socket's receive timeout; sub_main's */

	/* Owned by the thread; copied out under mu for status. */
	pthread_mutex_t mu;
	struct scoring_table *table; /* NULL until the first state */
	uint64_t epoch, seq;
	uint8_t digest[32];
	uint64_t floor_epoch, floor_seq; /* from disk: never accept older */
	_Atomic uint64_t version;
	int64_t last_msg_ms, last_hb_ms, last_change_ms, last_apply_ms;
	uint32_t hb_interval_ms;
	bool need_resync;
	int64_t next_resync_ms, resync_backoff_ms;
	int64_t day_start_ms;
	uint64_t day_added;
	bool quarantined;

	struct rn_counter rej[FEEDS_REJ_COUNT];
	struct rn_counter recv_delta, recv_snap, recv_hb, applied_delta, applied_snap;
	struct rn_counter resyncs, resync_fail, resync_backoffs;
	struct rn_gauge g_seq, g_epoch, g_listed, g_quarantined;
};

/* ---- durable state ------------------------------------------------- */

struct slot {
	uint64_t epoch, seq;
	uint8_t digest[32];
	uint64_t gen;
	uint32_t pad;
	uint32_t crc;
};
_Static_assert(sizeof(struct slot) == 64, "slot size");

static int state_open(struct feeds_sub *s)
{
	char dir[4096];
	if (s->o.ephemeral) {
		s->state_fd = -1;
		return RN_OK;
	}
	if (snprintf(dir, sizeof(dir), "%s/feeds", s->o.data_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int rc = rn_mkdirs(dir, 0750);
	if (rc != RN_OK)
		return rc;
	snprintf(s->state_path, sizeof(s->state_path), "%s/sub-%s.state", dir, s->name);
	s->state_fd = open(s->state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->state_fd < 0)
		return -errno;
	struct slot sl[2];
	memset(sl, 0, sizeof(sl));
	ssize_t r = pread(s->state_fd, sl, sizeof(sl), 0);
	if (r < 0)
		return -errno;
	uint64_t best_gen = 0;
	for (int i = 0; i < 2 && (size_t)r >= (size_t)(i + 1) * sizeof(struct slot); i++) {
		uint32_t crc = rn_crc32c(0, &sl[i], offsetof(struct slot, crc));
		if (crc != sl[i].crc || sl[i].gen == 0)
			continue;
		if (sl[i].gen > best_gen) {
			best_gen = sl[i].gen;
			s->floor_epoch = sl[i].epoch;
			s->floor_seq = sl[i].seq;
			s->state_slot = (unsigned)(i ^ 1);
		}
	}
	s->gen = best_gen;
	return RN_OK;
}

static int state_save(struct feeds_sub *s, uint64_t epoch, uint64_t seq, const uint8_t d[32])
{
	if (s->state_fd < 0)
		return RN_OK; /* ephemeral */
	struct slot sl = {.epoch = epoch, .seq = seq, .gen = ++s->gen};
	memcpy(sl.digest, d, 32);
	sl.crc = rn_crc32c(0, &sl, offsetof(struct slot, crc));
	if (pwrite(s->state_fd, &sl, sizeof(sl), (off_t)(s->state_slot * sizeof(sl))) !=
	    (ssize_t)sizeof(sl))
		return -errno;
	if (fdatasync(s->state_fd) != 0)
		return -errno;
	s->state_slot ^= 1;
	return RN_OK;
}

/*
 * Makes the state just applied the durable floor. It is written after the
 * swap, not before: the fdatasync costs milliseconds, and it is the whole
 * of the publish-to-applied time of a small delta when it comes first. A
 * crash between the swap and the sync leaves the floor at the previous
 * state, from which only the state that was applied (the publisher's
 * (epoch, seq) names one signed message) or newer ones are accepted
 * again: no older state can come back either way.
 */
static int floor_save(struct feeds_sub *s, const struct feeds_payload_hdr *h)
{
	int rc = state_save(s, h->epoch, h->seq, h->digest);
	if (rc != RN_OK) {
		log_warnx_rl("feed %s: cannot persist seq %" PRIu64
		             " (applied; the floor stays at seq %" PRIu64 "): %s",
		             s->name, h->seq, s->floor_seq, rn_strerror(rc));
		return rc;
	}
	s->floor_epoch = h->epoch;
	s->floor_seq = h->seq;
	return RN_OK;
}

/* ---- state transitions ---------------------------------------------- */

static void reject(struct feeds_sub *s, enum feeds_reject r)
{
	rn_counter_inc(&s->rej[r]);
	log_info_rl("feed %s: message rejected: %s", s->name, feeds_reject_name(r));
}

static void want_resync(struct feeds_sub *s)
{
	if (!s->need_resync) {
		s->need_resync = true;
		s->next_resync_ms = rn_time_mono_ms();
	}
}

static bool older(uint64_t e1, uint64_t s1, uint64_t e2, uint64_t s2)
{
	return e1 < e2 || (e1 == e2 && s1 < s2);
}

/* Prefixes a delta lists that the current state does not list at all (renewals excluded). */
static uint64_t new_prefixes_delta(const struct scoring_table *cur, const struct scoring_delta *d)
{
	uint64_t n = 0;
	struct rn_prefix last = {0};
	for (size_t i = 0; i < scoring_delta_added(d); i++) {
		struct scoring_listing l;
		struct scoring_entry e;
		scoring_delta_get_added(d, i, &l);
		if (i > 0 && l.prefix.len == last.len && rn_addr_equal(&l.prefix.addr, &last.addr))
			continue;
		last = l.prefix;
		if (cur == NULL || !scoring_table_find(cur, &l.prefix, &e))
			n++;
	}
	return n;
}

static uint64_t new_prefixes_table(const struct scoring_table *cur, const struct scoring_table *t)
{
	uint64_t n = 0;
	struct scoring_iter it;
	struct scoring_entry e, x;
	scoring_iter_init_all(&it, t);
	while (scoring_iter_next(&it, &e))
		if (cur == NULL || !scoring_table_find(cur, &e.prefix, &x))
			n++;
	return n;
}

/* The circuit breaker: true when a change listing `added` new entries must be held back. */
static bool breaker(struct feeds_sub *s, uint64_t added)
{
	if (!s->o.breaker)
		return false;
	int64_t now = rn_time_now_ms();
	if (now - s->day_start_ms >= 86400000) {
		s->day_start_ms = now;
		s->day_added = 0;
	}
	size_t have = s->table ? scoring_table_count(s->table) : 0;
	bool trip = false;
	if (s->o.quarantine_add > 0 && added > (uint64_t)s->o.quarantine_add)
		trip = true;
	/* A share of the current size, once the feed has some size to compare with. */
	if (s->o.quarantine_pct > 0 && have >= 100 &&
	    (double)added > s->o.quarantine_pct / 100.0 * (double)have)
		trip = true;
	if (s->o.max_per_day > 0 && s->day_added + added > (uint64_t)s->o.max_per_day)
		trip = true;
	if (trip) {
		if (!s->quarantined)
			log_warnx("feed %s: a change adding %" PRIu64 " entries (to %zu) is "
			          "quarantined, not applied; the feed stays at seq %" PRIu64,
			          s->name, added, have, s->seq);
		s->quarantined = true;
		rn_gauge_set(&s->g_quarantined, 1);
		return true;
	}
	s->day_added += added;
	return false;
}

static void swap_in(struct feeds_sub *s, struct scoring_table *t, uint64_t epoch, uint64_t seq,
                    const uint8_t d[32], const struct scoring_delta *delta)
{
	struct scoring_table *old;
	pthread_mutex_lock(&s->mu);
	old = s->table;
	s->table = t;
	s->epoch = epoch;
	s->seq = seq;
	memcpy(s->digest, d, 32);
	s->last_change_ms = rn_time_now_ms();
	atomic_fetch_add(&s->version, 1);
	pthread_mutex_unlock(&s->mu);
	rn_gauge_set(&s->g_seq, (int64_t)seq);
	rn_gauge_set(&s->g_epoch, (int64_t)epoch);
	rn_gauge_set(&s->g_listed,
	             (int64_t)(scoring_table_count(t) - scoring_table_count_suppressed(t)));
	if (s->quarantined) {
		s->quarantined = false;
		rn_gauge_set(&s->g_quarantined, 0);
	}
	if (s->o.on_change != NULL)
		s->o.on_change(s->o.arg, s, old, t, delta);
	scoring_table_free(old);
}

static int handle_delta(struct feeds_sub *s, const struct feeds_payload_hdr *h, const uint8_t *body,
                        size_t blen)
{
	struct scoring_delta *d = NULL;
	struct scoring_table *t = NULL;
	uint64_t base_seq;
	uint8_t base_digest[32], after[32];
	struct scoring_decode_stats st = {0};
	rn_counter_inc(&s->recv_delta);
	if (s->table == NULL || h->epoch > s->epoch) {
		/* Nothing to apply it to yet, or a new epoch: needs a snapshot. */
		want_resync(s);
		return RN_ESTATE;
	}
	if (h->seq <= s->seq) {
		reject(s, FEEDS_REJ_REPLAY);
		return RN_EREPLAY;
	}
	int rc = scoring_delta_decode(body, blen, &s->o.limits, &d, &base_seq, base_digest, &st);
	if (rc != RN_OK) {
		reject(s, FEEDS_REJ_MALFORMED);
		return rc;
	}
	if (base_seq != s->seq || h->seq != base_seq + 1) {
		rn_counter_inc(&s->rej[FEEDS_REJ_GAP]);
		want_resync(s);
		rc = RN_ESTATE;
		goto out;
	}
	if (memcmp(base_digest, s->digest, 32) != 0) {
		reject(s, FEEDS_REJ_BASE_DIGEST);
		want_resync(s);
		rc = RN_EDIGEST;
		goto out;
	}
	s->info.added = scoring_delta_added(d);
	s->info.removed = scoring_delta_removed(d);
	scoring_digest_after(s->digest, d, after);
	if (memcmp(after, h->digest, 32) != 0) {
		reject(s, FEEDS_REJ_DIGEST_MISMATCH);
		want_resync(s);
		rc = RN_EDIGEST;
		goto out;
	}
	if (s->o.breaker && breaker(s, new_prefixes_delta(s->table, d))) {
		reject(s, FEEDS_REJ_QUARANTINED);
		rc = RN_EQUARANTINE;
		goto out;
	}
	rc = scoring_table_apply(s->table, d, s->o.protect, &t);
	if (rc != RN_OK) {
		reject(s, FEEDS_REJ_INCONSISTENT);
		want_resync(s);
		goto out;
	}
	swap_in(s, t, h->epoch, h->seq, h->digest, d);
	rn_counter_inc(&s->applied_delta);
	rc = floor_save(s, h);
out:
	scoring_delta_free(d);
	return rc;
}

static int handle_snapshot(struct feeds_sub *s, const struct feeds_payload_hdr *h,
                           const uint8_t *body, size_t blen)
{
	struct scoring_table *t = NULL;
	struct scoring_decode_stats st = {0};
	uint8_t got[32];
	rn_counter_inc(&s->recv_snap);
	if (older(h->epoch, h->seq, s->floor_epoch, s->floor_seq) ||
	    (s->table != NULL && older(h->epoch, h->seq, s->epoch, s->seq))) {
		reject(s, h->epoch < s->epoch || h->epoch < s->floor_epoch
		                  ? FEEDS_REJ_EPOCH_ROLLBACK
		                  : FEEDS_REJ_REPLAY);
		return RN_EREPLAY;
	}
	if (s->table != NULL && h->epoch == s->epoch && h->seq == s->seq &&
	    memcmp(h->digest, s->digest, 32) == 0) {
		s->need_resync = false; /* already there */
		return RN_OK;
	}
	int rc = scoring_snapshot_decode(body, blen, &s->o.limits, s->o.protect, &t, &st);
	if (rc != RN_OK) {
		reject(s, FEEDS_REJ_MALFORMED);
		return rc;
	}
	s->info.listed = scoring_table_count(t) - scoring_table_count_suppressed(t);
	scoring_table_digest(t, got);
	if (memcmp(got, h->digest, 32) != 0) {
		reject(s, FEEDS_REJ_DIGEST_MISMATCH);
		scoring_table_free(t);
		return RN_EDIGEST;
	}
	if (s->o.breaker) {
		if (breaker(s, new_prefixes_table(s->table, t))) {
			reject(s, FEEDS_REJ_QUARANTINED);
			scoring_table_free(t);
			s->need_resync = false; /* resyncing would fetch the same thing */
			return RN_EQUARANTINE;
		}
	}
	swap_in(s, t, h->epoch, h->seq, h->digest, NULL);
	rn_counter_inc(&s->applied_snap);
	s->need_resync = false;
	s->last_hb_ms = rn_time_mono_ms(); /* a fresh state counts as a sign of life */
	return floor_save(s, h);
}

static int handle_heartbeat(struct feeds_sub *s, const struct feeds_payload_hdr *h,
                            const uint8_t *body, size_t blen)
{
	uint64_t listed;
	uint32_t interval;
	rn_counter_inc(&s->recv_hb);
	if (feeds_heartbeat_parse(body, blen, &listed, &interval) != RN_OK) {
		reject(s, FEEDS_REJ_MALFORMED);
		return RN_EPARSE;
	}
	s->info.listed = listed;
	if (s->table != NULL && h->epoch == s->epoch && h->seq < s->seq) {
		reject(s, FEEDS_REJ_REPLAY);
		return RN_EREPLAY;
	}
	s->last_hb_ms = rn_time_mono_ms();
	if (interval >= 100 && interval <= 600000)
		s->hb_interval_ms = interval;
	if (s->table == NULL || h->epoch != s->epoch || h->seq != s->seq ||
	    memcmp(h->digest, s->digest, 32) != 0) {
		if (s->table != NULL && h->epoch == s->epoch && h->seq == s->seq)
			reject(s, FEEDS_REJ_DIGEST_MISMATCH);
		else
			rn_counter_inc(&s->rej[FEEDS_REJ_GAP]);
		want_resync(s);
	}
	return RN_OK;
}

int feeds_sub_receive(struct feeds_sub *s, const uint8_t *buf, size_t len)
{
	const uint8_t *pl, *body;
	size_t plen, blen;
	const char *owner;
	bool revoked;
	struct feeds_payload_hdr h;
	unsigned field;

	int rc = feeds_envelope_open(s->o.keyring, buf, len, &pl, &plen, &owner, &revoked);
	if (rc == RN_EKEY) {
		reject(s, revoked ? FEEDS_REJ_REVOKED_KEY : FEEDS_REJ_UNKNOWN_KEY);
		return rc;
	}
	if (rc == RN_ESIG) {
		reject(s, FEEDS_REJ_BAD_SIGNATURE);
		return rc;
	}
	if (rc != RN_OK) {
		reject(s, FEEDS_REJ_MALFORMED);
		return rc;
	}
	if (strcmp(owner, s->name) != 0) {
		reject(s, FEEDS_REJ_WRONG_PUBLISHER);
		return RN_EKEY;
	}
	rc = feeds_payload_parse(pl, plen, &h, &field, &body, &blen);
	if (rc != RN_OK) {
		reject(s, FEEDS_REJ_MALFORMED);
		return rc;
	}
	if (strcmp(h.publisher, s->name) != 0) {
		reject(s, FEEDS_REJ_WRONG_PUBLISHER);
		return RN_EKEY;
	}
	if (h.expires_ms <= rn_time_now_ms()) {
		reject(s, FEEDS_REJ_EXPIRED);
		return RN_EEXPIRED;
	}
	if (h.epoch < s->floor_epoch || (s->table != NULL && h.epoch < s->epoch)) {
		reject(s, FEEDS_REJ_EPOCH_ROLLBACK);
		return RN_EEPOCH;
	}
	s->last_msg_ms = rn_time_mono_ms();
	s->info = (struct feeds_msg_info){
	        .epoch = h.epoch, .seq = h.seq, .time_ms = h.time_ms, .expires_ms = h.expires_ms};
	memcpy(s->info.digest, h.digest, 32);
	switch (field) {
	case FEEDS_BODY_DELTA:
		s->info.kind = "delta";
		rc = handle_delta(s, &h, body, blen);
		break;
	case FEEDS_BODY_SNAPSHOT:
		s->info.kind = "snapshot";
		rc = handle_snapshot(s, &h, body, blen);
		break;
	default:
		s->info.kind = "heartbeat";
		rc = handle_heartbeat(s, &h, body, blen);
		break;
	}
	if (s->o.on_message != NULL) {
		s->info.result = rc;
		s->o.on_message(s->o.arg, s, &s->info);
	}
	return rc;
}

/* ---- resync ----------------------------------------------------------- */

/*
 * After a resync whose envelopes were all refused for their key or
 * signature, the next one waits 1 s, then twice as long each time, up to
 * a minute: the publisher would serve the same snapshot again.
 */
#define SUB_KEY_BACKOFF_MIN_MS 1000
#define SUB_KEY_BACKOFF_MAX_MS 60000

static void resync(struct feeds_sub *s)
{
	Repnet__V1__ResyncRequest r = REPNET__V1__RESYNC_REQUEST__INIT;
	uint8_t buf[256];
	r.publisher = s->name;
	if (s->table != NULL) {
		r.epoch = s->epoch;
		r.have_seq = s->seq;
		r.have_digest.data = s->digest;
		r.have_digest.len = 32;
	}
	size_t n = repnet__v1__resync_request__pack(&r, buf);
	rn_counter_inc(&s->resyncs);
	nng_msg *m = NULL;
	int rv = nng_send(s->req, buf, n, 0);
	if (rv == 0)
		rv = nng_recvmsg(s->req, &m, 0);
	if (rv == 0)
		feeds_bus_watch_rx(s->wreq, m);
	if (rv == NNG_ECLOSED)
		return;
	if (rv != 0) {
		rn_counter_inc(&s->resync_fail);
		log_info_rl("feed %s: resync from %s: %s", s->name, s->resync_url,
		            nng_strerror(rv));
		goto retry;
	}
	/* Walk the reply: status (1) and envelopes (2), each through the full checks. */
	struct rn_cur c;
	uint64_t status = 0;
	bool progressed = false, key_refused = false;
	rn_cur_init(&c, nng_msg_body(m), nng_msg_len(m));
	s->need_resync = false;
	while (rn_cur_left(&c) > 0) {
		uint32_t f;
		unsigned wt;
		const uint8_t *p;
		size_t len;
		if (feeds_wire_tag(&c, &f, &wt) != RN_OK)
			break;
		if (f == 1 && wt == FEEDS_WT_VARINT) {
			if (feeds_wire_varint(&c, &status) != RN_OK)
				break;
		} else if (f == 2 && wt == FEEDS_WT_LEN) {
			if (feeds_wire_bytes(&c, &p, &len) != RN_OK)
				break;
			int rrc = feeds_sub_receive(s, p, len);
			if (rrc == RN_OK)
				progressed = true;
			else if (rrc == RN_EKEY || rrc == RN_ESIG)
				key_refused = true;
		} else {
			break;
		}
	}
	bool clean = rn_cur_ok(&c) && rn_cur_left(&c) == 0;
	nng_msg_free(m);
	if (!clean) {
		reject(s, FEEDS_REJ_MALFORMED);
		s->need_resync = true;
	}
	if (status != 0) {
		rn_counter_inc(&s->resync_fail);
		log_info_rl("feed %s: resync refused (status %" PRIu64 ")", s->name, status);
		s->need_resync = true;
	}
	if (key_refused && !progressed) {
		/*
		 * Signed with a key this member does not trust (or not signed
		 * right): asking again soon would fetch the same snapshot.
		 */
		rn_counter_inc(&s->resync_backoffs);
		s->need_resync = true;
		s->resync_backoff_ms = s->resync_backoff_ms < SUB_KEY_BACKOFF_MIN_MS
		                               ? SUB_KEY_BACKOFF_MIN_MS
		                               : s->resync_backoff_ms * 2;
		if (s->resync_backoff_ms > SUB_KEY_BACKOFF_MAX_MS)
			s->resync_backoff_ms = SUB_KEY_BACKOFF_MAX_MS;
		s->next_resync_ms = rn_time_mono_ms() + s->resync_backoff_ms;
		log_warnx_rl("feed %s: the resync from %s was signed with a key this member does "
		             "not trust for %s (check feeds.bus.peers' key); next try in %" PRId64
		             " s",
		             s->name, s->resync_url, s->name, s->resync_backoff_ms / 1000);
		return;
	}
	if (!s->need_resync) {
		s->resync_backoff_ms = 0;
		s->last_hb_ms = rn_time_mono_ms();
		return;
	}
retry:
	s->need_resync = true;
	s->resync_backoff_ms = s->resync_backoff_ms ? s->resync_backoff_ms * 2 : 100;
	if (s->resync_backoff_ms > 10000)
		s->resync_backoff_ms = 10000;
	s->next_resync_ms = rn_time_mono_ms() + s->resync_backoff_ms;
}

static void *sub_main(void *arg)
{
	struct feeds_sub *s = arg;
	while (!atomic_load(&s->stop)) {
		nng_msg *m;
		int rv = nng_recvmsg(s->sub, &m, 0);
		if (atomic_load(&s->stop)) {
			if (rv == 0)
				nng_msg_free(m);
			break;
		}
		if (rv == 0) {
			feeds_bus_watch_rx(s->wsub, m);
			s->rng ^= s->rng << 13;
			s->rng ^= s->rng >> 7;
			s->rng ^= s->rng << 17;
			if (s->o.drop_permille > 0 && s->rng % 1000 < s->o.drop_permille) {
				/* Test hook: lose this message. */
				nng_msg_free(m);
			} else {
				feeds_sub_receive(s, nng_msg_body(m), nng_msg_len(m));
				nng_msg_free(m);
			}
		} else if (rv == NNG_ECLOSED) {
			break;
		} else if (rv != NNG_ETIMEDOUT) {
			log_info_rl("feed %s: receive: %s", s->name, nng_strerror(rv));
		}
		int64_t now = rn_time_mono_ms();
		uint32_t iv =
		        s->hb_interval_ms ? s->hb_interval_ms : (uint32_t)s->conf->heartbeat_ms;
		if (s->table == NULL || now - s->last_hb_ms > (int64_t)iv * 5 / 4)
			if (!s->need_resync && !s->quarantined) {
				if (s->table != NULL)
					log_info_rl("feed %s: no heartbeat for %" PRId64 " ms",
					            s->name, now - s->last_hb_ms);
				want_resync(s);
				s->last_hb_ms = now; /* one resync per silent period */
			}
		if (s->need_resync && now >= s->next_resync_ms)
			resync(s);
		/*
		 * Receive until the next thing this loop must do: the heartbeat
		 * check or a pending resync, 10 s at most (stop closes the
		 * socket). A fixed short timeout woke an idle member 10 times a
		 * second.
		 */
		now = rn_time_mono_ms();
		int64_t due = s->last_hb_ms + (int64_t)iv * 5 / 4 + 1;
		if (s->need_resync && s->next_resync_ms < due)
			due = s->next_resync_ms;
		int64_t wait = due - now;
		wait = wait < 1 ? 1 : wait > 10000 ? 10000 : wait;
		if (wait != s->recv_wait_ms) {
			s->recv_wait_ms = wait;
			nng_socket_set_ms(s->sub, NNG_OPT_RECVTIMEO, (nng_duration)wait);
		}
	}
	return NULL;
}

/* ---- lifecycle and status ------------------------------------------- */

static int sub_metrics(struct feeds_sub *s, struct rn_metrics *m)
{
	char l[160];
	int rc = RN_OK;
	for (int r = 0; r < FEEDS_REJ_COUNT && rc == RN_OK; r++) {
		snprintf(l, sizeof(l), "peer=\"%s\",reason=\"%s\"", s->name, reason_names[r]);
		rc = rn_metrics_counter(m, s, "repnet_feed_rejected_total",
		                        "Feed messages refused or not applied, by peer and reason.",
		                        l, &s->rej[r]);
	}
	const struct {
		const char *kind;
		struct rn_counter *c;
	} rx[] = {
	        {"delta", &s->recv_delta}, {"snapshot", &s->recv_snap}, {"heartbeat", &s->recv_hb}};
	for (size_t i = 0; i < RN_ARRAY_LEN(rx) && rc == RN_OK; i++) {
		snprintf(l, sizeof(l), "peer=\"%s\",kind=\"%s\"", s->name, rx[i].kind);
		rc = rn_metrics_counter(m, s, "repnet_feed_received_total",
		                        "Authenticated feed messages received, by peer and kind.",
		                        l, rx[i].c);
	}
	const struct {
		const char *kind;
		struct rn_counter *c;
	} ap[] = {{"delta", &s->applied_delta}, {"snapshot", &s->applied_snap}};
	for (size_t i = 0; i < RN_ARRAY_LEN(ap) && rc == RN_OK; i++) {
		snprintf(l, sizeof(l), "peer=\"%s\",kind=\"%s\"", s->name, ap[i].kind);
		rc = rn_metrics_counter(m, s, "repnet_feed_applied_total",
		                        "Feed changes applied to the replica, by peer and kind.", l,
		                        ap[i].c);
	}
	snprintf(l, sizeof(l), "peer=\"%s\"", s->name);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_feed_resyncs_total",
	                             "Resync requests made, by peer.", l, &s->resyncs);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_feed_resync_failures_total",
	                             "Resync requests that failed or were refused, by peer.", l,
	                             &s->resync_fail);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_feed_resync_backoffs_total",
	                             "Resyncs whose envelopes were all refused for their key or "
	                             "signature, after which the next one backs off "
	                             "(1 s doubling to 60 s), by peer.",
	                             l, &s->resync_backoffs);
	rc = rc ? rc
	        : rn_metrics_gauge(m, s, "repnet_feed_replica_seq",
	                           "Sequence of the state held from a peer.", l, &s->g_seq);
	rc = rc ? rc
	        : rn_metrics_gauge(m, s, "repnet_feed_replica_epoch",
	                           "Epoch of the state held from a peer.", l, &s->g_epoch);
	rc = rc ? rc
	        : rn_metrics_gauge(m, s, "repnet_feed_replica_listed",
	                           "Entries enforced from a peer's state.", l, &s->g_listed);
	rc = rc ? rc
	        : rn_metrics_gauge(m, s, "repnet_feed_quarantined",
	                           "1 while a peer's change is held back by the circuit breaker.",
	                           l, &s->g_quarantined);
	return rc;
}

int feeds_sub_start(struct feeds_sub **out, const struct feeds_bus_conf *conf, const char *name,
                    const char *pub_url, const char *resync_url, const struct feeds_sub_opts *o)
{
	int rv, rc;
	if (name == NULL || name[0] == '\0' || strlen(name) >= FEEDS_NAME_MAX ||
	    strpbrk(name, "/\"\\\n") != NULL)
		return RN_ECONF;
	struct feeds_sub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->confv = *conf;
	s->conf = &s->confv;
	s->o = *o;
	s->state_fd = -1;
	s->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)rn_time_now_ms();
	snprintf(s->name, sizeof(s->name), "%s", name);
	pthread_mutex_init(&s->mu, NULL);
	s->pub_url = strdup(pub_url ? pub_url : "");
	s->resync_url = strdup(resync_url ? resync_url : "");
	if (s->pub_url == NULL || s->resync_url == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = state_open(s)) != RN_OK) {
		log_warnx("feed %s: state file: %s", name, rn_strerror(rc));
		goto fail;
	}
	if (o->offline) {
		s->o.metrics = NULL;
		*out = s;
		return RN_OK;
	}
	if ((rv = nng_sub0_open(&s->sub)) != 0) {
		rc = RN_EBUS;
		goto fail;
	}
	s->sub_open = true;
	if ((rv = nng_req0_open(&s->req)) != 0) {
		rc = RN_EBUS;
		goto fail;
	}
	s->req_open = true;
	nng_socket_set(s->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(s->sub, NNG_OPT_RECVTIMEO, 100);
	s->recv_wait_ms = 100;
	nng_socket_set_ms(s->req, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(s->req, NNG_OPT_SENDTIMEO, 5000);
	char wn[2][96];
	snprintf(wn[0], sizeof(wn[0]), "feed:%s", name);
	snprintf(wn[1], sizeof(wn[1]), "feed_resync:%s", name);
	if ((rc = feeds_bus_setup(s->sub, conf, (size_t)conf->recv_max)) != RN_OK ||
	    (rc = feeds_bus_setup(s->req, conf, (size_t)conf->recv_max)) != RN_OK ||
	    (rc = feeds_bus_watch_start(&s->wsub, s->sub, wn[0], conf->recv_max, o->metrics)) !=
	            RN_OK ||
	    (rc = feeds_bus_watch_start(&s->wreq, s->req, wn[1], conf->recv_max, o->metrics)) !=
	            RN_OK ||
	    (rc = feeds_bus_dial(s->sub, pub_url, conf)) != RN_OK ||
	    (rc = feeds_bus_dial(s->req, resync_url, conf)) != RN_OK)
		goto fail;
	if (o->metrics != NULL) {
		if ((rc = sub_metrics(s, o->metrics)) != RN_OK ||
		    (rc = feeds_bus_tls_metrics(o->metrics)) != RN_OK)
			goto fail;
	} else {
		s->o.metrics = NULL;
	}
	s->last_hb_ms = rn_time_mono_ms();
	want_resync(s);
	if (pthread_create(&s->thr, NULL, sub_main, s) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	s->thr_started = true;
	*out = s;
	return RN_OK;
fail:
	if (o->metrics == NULL)
		s->o.metrics = NULL;
	feeds_sub_stop(s);
	return rc;
}

struct scoring_table *feeds_sub_table(struct feeds_sub *s)
{
	pthread_mutex_lock(&s->mu);
	struct scoring_table *t = s->table ? scoring_table_ref(s->table) : NULL;
	pthread_mutex_unlock(&s->mu);
	return t;
}

uint64_t feeds_sub_version(const struct feeds_sub *s)
{
	return atomic_load(&((struct feeds_sub *)s)->version);
}

const char *feeds_sub_name(const struct feeds_sub *s)
{
	return s->name;
}

void feeds_sub_status(struct feeds_sub *s, struct feeds_feed_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&s->mu);
	snprintf(st->publisher, sizeof(st->publisher), "%s", s->name);
	st->epoch = s->epoch;
	st->seq = s->seq;
	memcpy(st->digest, s->digest, 32);
	st->listed =
	        s->table ? scoring_table_count(s->table) - scoring_table_count_suppressed(s->table)
	                 : 0;
	st->last_change_ms = s->last_change_ms;
	st->in_sync = s->table != NULL && !s->need_resync;
	st->quarantined = s->quarantined;
	st->resync_backoffs = rn_counter_get(&s->resync_backoffs);
	for (int r = 0; r < FEEDS_REJ_COUNT; r++)
		st->rejected[r] = rn_counter_get(&s->rej[r]);
	pthread_mutex_unlock(&s->mu);
}

void feeds_sub_stop(struct feeds_sub *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, true);
	/* Closing the sockets wakes the thread from a receive. */
	feeds_bus_watch_closing(s->wsub);
	feeds_bus_watch_closing(s->wreq);
	if (s->sub_open)
		nng_close(s->sub);
	if (s->req_open)
		nng_close(s->req);
	if (s->thr_started)
		pthread_join(s->thr, NULL);
	feeds_bus_watch_free(s->wsub);
	feeds_bus_watch_free(s->wreq);
	if (s->o.metrics != NULL)
		rn_metrics_unregister(s->o.metrics, s);
	if (s->state_fd >= 0)
		close(s->state_fd);
	scoring_table_free(s->table);
	free(s->pub_url);
	free(s->resync_url);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
