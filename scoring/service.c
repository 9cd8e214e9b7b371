/*
 * service.c: the scorer role: the engine behind a journal and snapshots,
 * ticking on its own thread.
 *
 * Design notes.
 *
 * Threads and locks. Any thread may call scoring_submit(). The scorer
 * thread owns the engine. Three mutexes, never nested except as noted:
 *   mu   the journal (fd, generation, written and synced offsets), the
 *        queue of durable batches not yet applied, and the batches
 *        written (the duplicate table submit() checks);
 *   emu  the engine and the batches applied to it (the scorer thread
 *        holds it to apply and tick; explain and reconfigure take it);
 *   pmu  the published table pointer, held only to swap or take a ref.
 *
 * Acknowledgement. submit() writes the record and enqueues the batch under
 * mu, so the queue is in journal order; then it waits until the journal is
 * synced past its record. Group commit: the first waiter that finds no
 * sync running becomes the leader, drops mu, fdatasync()s, and wakes
 * everyone whose record the sync covered; the others wait on the
 * condition variable.
 *
 * Failures (disk full, I/O errors). A write that fails (ENOSPC, EDQUOT,
 * EIO, a short write) may leave part of a record at the end of the
 * journal. The file is cut back to the end of the last whole record
 * (ftruncate, fdatasync) and the batch refused: its collector retries it,
 * and the next write tries the disk again. The journal is "refusing"
 * until a write succeeds; nothing is lost or acknowledged that is not
 * durable, and no restart is needed. An fdatasync() failure, or a failed
 * write that cannot be cut off, poisons the journal ("failed"): after a
 * failed fsync the kernel may have dropped the pages it could not write,
 * so the generation's tail past the last good sync is unknown, and no
 * batch may be acknowledged against it. The way out is the snapshot:
 * every record written is also queued for the engine, so once the queue
 * is drained the engine holds every batch the journal might hold; a
 * snapshot of it at that position, fsynced and renamed, makes all of them
 * durable whatever became of the journal, and a new generation starts
 * (journal_restart). The scorer thread tries that at once and then with
 * the snapshots' back-off, until the disk takes it. Batches whose sync
 * failed were refused; their resends find them durable (in the snapshot)
 * and are acknowledged then. Recovery at a restart replays the abandoned
 * generation up to its first damaged record and no further, which the
 * snapshot covers.
 *
 * Snapshots that fail (disk full) are retried with back-off: 1 s,
 * doubling, at most min(snapshot_interval, 60 s), and not every pass as
 * journal_max would otherwise ask. The health (scoring_health()) is
 * what /status shows.
 *
 * Duplicates. A collector's batches carry its id and a batch_seq, so one
 * number per collector recognises a resend (batches.c). Two tables: the
 * batches written, with where each record ends, so that a resend is
 * acknowledged once the original is durable; and the batches applied to
 * the engine, which a snapshot saves with the engine (a batch written but
 * not yet durable must not be in a snapshot). Recovery loads the applied
 * table, replays the journal into it, and starts the written one from it.
 *
 * Positions. Each queued batch carries the journal position just past its
 * record. The scorer thread applies batches in order and remembers the
 * last position applied; a snapshot records it, so recovery replays
 * exactly the records after it. The journal rotates to a new generation
 * at every snapshot (after syncing the old one); recovery always starts a
 * new generation, never appending after a possibly torn tail. The newest
 * two snapshots are kept, with the journals either may need.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scoring/persist.h"

struct qitem {
	struct rn_obs *obs;
	size_t n;
	bool has_meta;
	uint8_t id[16];
	uint64_t seq;
	struct jpos end;
	char from[RN_COLLECTOR_NAME_MAX]; /* the collector's name, "" when not known */
};

struct scoring {
	struct scoring_conf conf;
	struct scoring_opts opts;
	char dir[PATH_MAX];
	int dirfd;
	struct scoring_engine *e;
	pthread_mutex_t mu, emu, pmu;
	pthread_cond_t synced_cv, work_cv;

	/* Operators' delistings in force (emu). */
	struct delist_set delists;
	char delist_path[PATH_MAX + 16];

	/* Journal (mu). */
	int jfd;
	uint64_t jgen;
	uint64_t jwritten, jsynced;
	bool syncing;
	int jfailed;       /* poisoned: only journal_restart() clears it */
	int jrefused;      /* the last write failed and was cut off (0: the last one worked) */
	int jlast_err;     /* the last journal error */
	int64_t jsince_ms; /* wall clock when the journal left "ok" */

	/* Queue (mu). */
	struct qitem *q;
	size_t qhead, qn, qcap;
	size_t qobs;
	struct batches batches_written;
	bool stop;

	/* The scorer thread. */
	struct jpos applied;            /* emu */
	struct batches batches_applied; /* emu */
	pthread_mutex_t smu;            /* one snapshot at a time */
	uint64_t snap_num;              /* the newest snapshot's number (smu) */
	struct jpos snap_prev;          /* the position of the snapshot before it (smu) */
	uint64_t snap_failures;         /* consecutive failures (smu) */
	int snap_err;                   /* the last failure's error (smu) */
	int64_t snap_ok_ms;             /* wall clock of the last good one (smu) */
	int64_t snap_retry_mono;        /* while failing, the next attempt (smu) */
	int64_t last_snap_mono;
	struct scoring_table *current; /* pmu */
	/* Real time (the scorer thread): the earliest monotonic time of the next pass. */
	int64_t rt_next_mono;
	pthread_t thread;
	bool thread_started;

	struct scoring_ingest_stats ist; /* emu; mirrored into counters */
	struct rn_counter c_obs[9];
	struct rn_counter c_batches[4];
	struct rn_counter c_ticks, c_added, c_removed, c_syncs, c_snap_ok, c_snap_fail;
	struct rn_counter c_rt_passes;
	struct rn_counter c_replayed, c_damaged, c_journal_errors, c_journal_recoveries;
	struct rn_gauge g_journal_state, g_snap_failures;
	struct rn_gauge g_listed_v4, g_listed_v6, g_recompute_us, g_sets, g_set_bytes;
	struct rn_gauge g_queue, g_held, g_journal_bytes, g_snapshot_bytes, g_snapshot_us;
	struct rn_gauge g_clock, g_dry_run, g_table_bytes;
};

/* ---- files ---------------------------------------------------------------- */

static int name_num(const char *name, const char *prefix, uint64_t *num)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + 16)
		return RN_EPARSE;
	uint64_t v = 0;
	for (size_t i = pl; i < pl + 16; i++) {
		char ch = name[i];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		                                 : -1;
		if (d < 0)
			return RN_EPARSE;
		v = v << 4 | (uint64_t)d;
	}
	*num = v;
	return RN_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The numbers of the files named prefix<16 hex>, ascending. */
static int list_files(struct scoring *s, const char *prefix, uint64_t **out, size_t *n)
{
	int fd = dup(s->dirfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t k = 0, cap = 0;
	struct dirent *de;
	int rc = RN_OK;
	while ((de = readdir(d)) != NULL) {
		uint64_t num;
		if (name_num(de->d_name, prefix, &num) != RN_OK)
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof(*nv));
			if (nv == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[k++] = num;
	}
	closedir(d);
	if (rc != RN_OK) {
		free(v);
		return rc;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_u64);
	*out = v;
	*n = k;
	return RN_OK;
}

static void file_name(char *dst, size_t len, const char *prefix, uint64_t num)
{
	snprintf(dst, len, "%s%016" PRIx64, prefix, num);
}

static int read_at(struct scoring *s, const char *name, size_t max, uint8_t **buf, size_t *len)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	return rn_file_read(path, max, buf, len);
}

/* ---- journal --------------------------------------------------------------- */

/* Marks the journal failed (poisoned): nothing more is written or acknowledged in it. Under mu. */
static void journal_poison(struct scoring *s, int err, const char *what)
{
	if (s->jfailed == 0)
		s->jsince_ms = rn_time_now_ms();
	s->jfailed = err;
	s->jlast_err = err;
	rn_counter_inc(&s->c_journal_errors);
	rn_gauge_set(&s->g_journal_state, SCORING_JOURNAL_FAILED);
	log_errx("scoring: journal %s failed: %s; refusing batches until a snapshot holds "
	         "everything written",
	         what, rn_strerror(err));
	pthread_cond_broadcast(&s->synced_cv);
}

/* Creates generation gen, durable before anything is acknowledged in it. Under mu. */
static int journal_create(struct scoring *s, uint64_t gen)
{
	char name[64];
	file_name(name, sizeof(name), "journal.", gen);
	int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	uint8_t hdr[JOURNAL_HDR_LEN];
	journal_header(hdr, gen);
	int rc = rn_write_all(fd, hdr, sizeof(hdr));
	if (rc == RN_OK && (fdatasync(fd) != 0 || fsync(s->dirfd) != 0))
		rc = -errno;
	if (rc != RN_OK) {
		close(fd);
		unlinkat(s->dirfd, name, 0);
		return rc;
	}
	if (s->jfd >= 0)
		close(s->jfd);
	s->jfd = fd;
	s->jgen = gen;
	s->jwritten = s->jsynced = JOURNAL_HDR_LEN;
	rn_gauge_set(&s->g_journal_bytes, JOURNAL_HDR_LEN);
	return RN_OK;
}

/* Syncs the current generation and starts the next. Under mu. */
static int journal_rotate(struct scoring *s)
{
	while (s->syncing)
		pthread_cond_wait(&s->synced_cv, &s->mu);
	if (s->jfailed)
		return s->jfailed;
	if (s->jsynced < s->jwritten) {
		if (fdatasync(s->jfd) != 0) {
			journal_poison(s, -errno, "sync");
			return s->jfailed;
		}
		s->jsynced = s->jwritten;
		rn_counter_inc(&s->c_syncs);
		pthread_cond_broadcast(&s->synced_cv);
	}
	int rc = journal_create(s, s->jgen + 1);
	if (rc != RN_OK) {
		log_warnx("scoring: cannot start journal generation %" PRIu64 ": %s", s->jgen + 1,
		          rn_strerror(rc));
		return rc;
	}
	return RN_OK;
}

/*
 * Leaves a poisoned generation for a new one, once a snapshot holds every
 * record written to it (the caller checked). Under mu.
 */
static int journal_restart(struct scoring *s)
{
	while (s->syncing)
		pthread_cond_wait(&s->synced_cv, &s->mu);
	uint64_t old = s->jgen;
	int rc = journal_create(s, s->jgen + 1);
	if (rc != RN_OK) {
		s->jlast_err = rc;
		log_warnx("scoring: cannot start journal generation %" PRIu64 ": %s", s->jgen + 1,
		          rn_strerror(rc));
		return rc;
	}
	s->jfailed = 0;
	s->jrefused = 0;
	s->jsince_ms = 0;
	rn_counter_inc(&s->c_journal_recoveries);
	rn_gauge_set(&s->g_journal_state, SCORING_JOURNAL_OK);
	log_notice("scoring: journal recovered: a snapshot holds every batch of generation "
	           "%016" PRIx64 "; accepting batches in generation %016" PRIx64,
	           old, s->jgen);
	pthread_cond_broadcast(&s->synced_cv);
	return RN_OK;
}

/*
 * A write failed: cuts the journal back to its last whole record, so that
 * the next write can follow it. Poisons it when that fails too. Under mu.
 */
static void journal_write_failed(struct scoring *s, int err)
{
	s->jlast_err = err;
	rn_counter_inc(&s->c_journal_errors);
	if (ftruncate(s->jfd, (off_t)s->jwritten) != 0 || fdatasync(s->jfd) != 0) {
		int e = -errno;
		log_errx("scoring: journal write failed (%s) and cannot be cut back (%s)",
		         rn_strerror(err), rn_strerror(e));
		journal_poison(s, e, "truncate");
		return;
	}
	if (s->jrefused == 0) {
		s->jsince_ms = rn_time_now_ms();
		log_warnx("scoring: journal write failed: %s; refusing batches (collectors "
		          "retry) until a write succeeds",
		          rn_strerror(err));
	} else {
		log_warnx_rl("scoring: journal write failed again: %s", rn_strerror(err));
	}
	s->jrefused = err;
	rn_gauge_set(&s->g_journal_state, SCORING_JOURNAL_REFUSING);
}

/* Waits until the journal is durable past target. Under mu. */
static int journal_wait(struct scoring *s, struct jpos target)
{
	for (;;) {
		if (target.gen < s->jgen || (target.gen == s->jgen && target.off <= s->jsynced))
			return RN_OK;
		if (s->jfailed)
			return s->jfailed;
		if (s->syncing) {
			pthread_cond_wait(&s->synced_cv, &s->mu);
			continue;
		}
		s->syncing = true;
		int fd = s->jfd;
		uint64_t want = s->jwritten;
		pthread_mutex_unlock(&s->mu);
		crash_point("journal-sync");
		int err = fault_point("journal-sync");
		if (err == 0)
			err = fdatasync(fd) == 0 ? 0 : -errno;
		pthread_mutex_lock(&s->mu);
		s->syncing = false;
		if (err != 0) {
			journal_poison(s, err, "sync");
		} else if (want > s->jsynced) {
			s->jsynced = want;
		}
		rn_counter_inc(&s->c_syncs);
		pthread_cond_broadcast(&s->synced_cv);
	}
}

static bool id_zero(const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		if (id[i] != 0)
			return false;
	return true;
}

enum { B_OK, B_DUP, B_BUSY, B_FAIL };

int scoring_submit(struct scoring *s, const struct rn_obs_batch_meta *meta,
                   const struct rn_obs *obs, size_t n)
{
	if (s->opts.read_only || !s->thread_started)
		return RN_ESTATE; /* opened to look, not to score */
	if (n == 0)
		return RN_OK;
	if (n > JOURNAL_MAX_OBS)
		return RN_ELIMIT;
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	if (meta != NULL)
		m = *meta;
	m.collector[sizeof(m.collector) - 1] = '\0';
	bool dedupe = meta != NULL && !id_zero(meta->collector_id);
	/* Pack and copy outside the lock. */
	uint8_t *payload = NULL;
	size_t plen = 0;
	int rc = rn_obs_batch_pack(&m, obs, n, &payload, &plen);
	if (rc != RN_OK)
		return rc;
	if (plen > JOURNAL_MAX_RECORD) {
		free(payload);
		return RN_ELIMIT;
	}
	struct rn_obs *copy = malloc(n * sizeof(*copy));
	if (copy == NULL) {
		free(payload);
		return -ENOMEM;
	}
	memcpy(copy, obs, n * sizeof(*copy));
	uint8_t rh[JOURNAL_REC_HDR];
	journal_record_header(rh, payload, plen);

	pthread_mutex_lock(&s->mu);
	struct jpos target;
	if (s->jfailed) {
		rc = s->jfailed;
		goto out_unlock;
	}
	if (dedupe) {
		const struct batch_mark *w = batches_find(&s->batches_written, m.collector_id);
		if (w != NULL && m.batch_seq <= w->seq) {
			/* A resend: acknowledge once the original is durable. */
			target = w->end;
			rc = journal_wait(s, target);
			if (rc == RN_OK)
				rc = RN_EEXIST;
			rn_counter_inc(&s->c_batches[rc == RN_EEXIST ? B_DUP : B_FAIL]);
			goto out_unlock;
		}
	}
	if (s->qobs + n > (size_t)s->conf.queue_max) {
		rc = RN_ELIMIT;
		rn_counter_inc(&s->c_batches[B_BUSY]);
		goto out_unlock;
	}
	if (s->qn == s->qcap) {
		size_t cap = s->qcap ? s->qcap * 2 : 64;
		struct qitem *nq = malloc(cap * sizeof(*nq));
		if (nq == NULL) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		for (size_t i = 0; i < s->qn; i++)
			nq[i] = s->q[(s->qhead + i) % (s->qcap ? s->qcap : 1)];
		free(s->q);
		s->q = nq;
		s->qhead = 0;
		s->qcap = cap;
	}
	/* The record: header, then payload; a crash between them tears it. */
	rc = rn_write_all(s->jfd, rh, sizeof(rh));
	if (rc == RN_OK) {
		crash_point("journal-record");
		rc = rn_write_all(s->jfd, payload, plen);
	}
	if (rc != RN_OK) {
		/* A partial record may be on disk: cut it off, or nothing more can go after it. */
		journal_write_failed(s, rc);
		rn_counter_inc(&s->c_batches[B_FAIL]);
		goto out_unlock;
	}
	if (s->jrefused != 0) {
		s->jrefused = 0;
		s->jsince_ms = 0;
		rn_gauge_set(&s->g_journal_state, SCORING_JOURNAL_OK);
		log_notice("scoring: journal writes work again");
	}
	s->jwritten += sizeof(rh) + plen;
	target = (struct jpos){s->jgen, s->jwritten};
	rn_gauge_set(&s->g_journal_bytes, (int64_t)s->jwritten);
	struct qitem *it = &s->q[(s->qhead + s->qn) % s->qcap];
	*it = (struct qitem){
	        .obs = copy, .n = n, .has_meta = dedupe, .seq = m.batch_seq, .end = target};
	memcpy(it->id, m.collector_id, 16);
	memcpy(it->from, m.collector, sizeof(it->from));
	s->qn++;
	s->qobs += n;
	copy = NULL;
	if (dedupe &&
	    (rc = batches_note(&s->batches_written, m.collector_id, m.batch_seq, target)) != RN_OK)
		goto out_unlock;
	rn_gauge_set(&s->g_queue, (int64_t)s->qobs);
	pthread_cond_signal(&s->work_cv);
	rc = journal_wait(s, target);
	rn_counter_inc(&s->c_batches[rc == RN_OK ? B_OK : B_FAIL]);
out_unlock:
	pthread_mutex_unlock(&s->mu);
	free(copy);
	free(payload);
	return rc;
}

/* ---- the engine side --------------------------------------------------------- */

static void account(struct scoring *s, const struct scoring_ingest_stats *d)
{
	const uint64_t v[9] = {d->accepted, d->held,  d->late,   d->overflow, d->protected,
	                       d->ignored,  d->stale, d->future, d->bad};
	for (int i = 0; i < 9; i++)
		if (v[i])
			rn_counter_add(&s->c_obs[i], v[i]);
}

static void publish(struct scoring *s, const struct scoring_tick *tick)
{
	struct scoring_table *t = scoring_table_ref((struct scoring_table *)tick->table);
	pthread_mutex_lock(&s->pmu);
	struct scoring_table *old = s->current;
	s->current = t;
	pthread_mutex_unlock(&s->pmu);
	scoring_table_free(old);
	rn_counter_inc(tick->realtime ? &s->c_rt_passes : &s->c_ticks);
	rn_counter_add(&s->c_added, scoring_delta_added(tick->delta));
	rn_counter_add(&s->c_removed, scoring_delta_removed(tick->delta));
	rn_gauge_set(&s->g_listed_v4, (int64_t)scoring_table_count_family(t, RN_AF_INET));
	rn_gauge_set(&s->g_listed_v6, (int64_t)scoring_table_count_family(t, RN_AF_INET6));
	rn_gauge_set(&s->g_recompute_us, tick->elapsed_ns / 1000);
	rn_gauge_set(&s->g_table_bytes, (int64_t)scoring_table_bytes(t));
	rn_gauge_set(&s->g_dry_run, scoring_table_dry_run(t));
	if (s->opts.on_tick != NULL)
		s->opts.on_tick(s->opts.on_tick_arg, tick);
}

static void on_tick(void *arg, const struct scoring_tick *tick)
{
	publish(arg, tick);
}

static void engine_gauges(struct scoring *s)
{
	struct scoring_engine_stats st;
	scoring_engine_stats(s->e, &st);
	rn_gauge_set(&s->g_sets, (int64_t)st.sets);
	rn_gauge_set(&s->g_set_bytes, (int64_t)st.set_bytes);
	rn_gauge_set(&s->g_held, (int64_t)st.held);
	int64_t clk = scoring_engine_clock(s->e);
	rn_gauge_set(&s->g_clock, clk == INT64_MIN ? 0 : clk / 1000);
}

/*
 * A real-time pass, if one is pending and its time has come; otherwise how
 * long until it is (in ms, for the scorer thread's wait; -1: none pending).
 * Under emu. The gap between passes is realtime_ms, or four times the last
 * pass's duration if that is longer, so that passes never take more than
 * a fifth of the thread whatever the table's size.
 */
/* Hands the delistings in force to the engine and saves them. Under emu. */
static int delists_apply(struct scoring *s)
{
	struct rn_prefix_list l = {0};
	int rc = delist_prefixes(&s->delists, &l);
	if (rc == RN_OK)
		rc = scoring_engine_delist_set(s->e, &l);
	rn_prefix_list_clear(&l);
	if (rc == RN_OK && !s->opts.read_only)
		rc = delist_save(&s->delists, s->delist_path);
	return rc;
}

int scoring_delist(struct scoring *s, const struct rn_prefix *p, int64_t until_ms,
                   const char *reason)
{
	if (s->opts.read_only)
		return RN_ESTATE;
	pthread_mutex_lock(&s->emu);
	int rc = delist_put(&s->delists, p, until_ms, reason);
	if (rc == RN_OK)
		rc = delists_apply(s);
	pthread_mutex_unlock(&s->emu);
	if (rc == RN_OK) {
		char t[RN_PREFIX_STRLEN];
		rn_prefix_format(p, t, sizeof(t));
		log_notice("scoring: %s delisted until %lld ms: %s", t, (long long)until_ms,
		           reason != NULL ? reason : "");
		/* Wake the scorer: its next pass publishes the removal. */
		pthread_mutex_lock(&s->mu);
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

size_t scoring_delist_count(struct scoring *s)
{
	pthread_mutex_lock(&s->emu);
	size_t n = s->delists.n;
	pthread_mutex_unlock(&s->emu);
	return n;
}

static int64_t rt_step(struct scoring *s, int64_t rt_ms, int64_t now, int *rc)
{
	if (rt_ms <= 0 || !scoring_engine_rt_pending(s->e))
		return -1;
	int64_t mono = rn_time_mono_ns();
	if (mono < s->rt_next_mono)
		return (s->rt_next_mono - mono + 999999) / 1000000;
	*rc = scoring_engine_realtime(s->e, now, on_tick, s);
	int64_t took = rn_time_mono_ns() - mono;
	int64_t gap = rt_ms * 1000000 > 4 * took ? rt_ms * 1000000 : 4 * took;
	s->rt_next_mono = mono + gap;
	return -1;
}

/*
 * Applies queued batches, computes due ticks and a due real-time pass.
 * *wait_ms: how long the thread may sleep before a pending pass is due.
 */
static int engine_step(struct scoring *s, struct qitem *items, size_t n, int64_t rt_ms,
                       int64_t *wait_ms)
{
	int rc = RN_OK;
	int64_t now = rn_time_now_ms();
	pthread_mutex_lock(&s->emu);
	for (size_t i = 0; i < n; i++) {
		struct scoring_ingest_stats d = {0};
		if (rc == RN_OK)
			rc = scoring_engine_ingest_from(s->e, items[i].from, items[i].obs,
			                                items[i].n, now, &d);
		if (rc == RN_OK && items[i].has_meta)
			rc = batches_note(&s->batches_applied, items[i].id, items[i].seq,
			                  items[i].end);
		if (rc == RN_OK)
			s->applied = items[i].end;
		account(s, &d);
		free(items[i].obs);
	}
	if (rc == RN_OK && delist_expire(&s->delists, now) > 0)
		rc = delists_apply(s);
	if (rc == RN_OK)
		rc = scoring_engine_advance(s->e, now, on_tick, s);
	*wait_ms = -1;
	if (rc == RN_OK)
		*wait_ms = rt_step(s, rt_ms, now, &rc);
	engine_gauges(s);
	pthread_mutex_unlock(&s->emu);
	return rc;
}

static void prune_files(struct scoring *s, uint64_t keep_from_gen)
{
	uint64_t *v = NULL;
	size_t n = 0;
	char name[64];
	if (list_files(s, "snapshot.", &v, &n) == RN_OK) {
		for (size_t i = 0; i + 2 < n; i++) {
			file_name(name, sizeof(name), "snapshot.", v[i]);
			unlinkat(s->dirfd, name, 0);
		}
		free(v);
	}
	if (list_files(s, "journal.", &v, &n) == RN_OK) {
		for (size_t i = 0; i < n; i++) {
			if (v[i] >= keep_from_gen)
				break;
			file_name(name, sizeof(name), "journal.", v[i]);
			unlinkat(s->dirfd, name, 0);
		}
		free(v);
	}
}

/* The pause before snapshot attempt number failures + 1: 1 s doubling, capped. Under smu. */
static int64_t snap_backoff(const struct scoring *s, int64_t every)
{
	int64_t cap = every < 60000 ? every : 60000;
	if (cap < 1000)
		cap = 1000;
	int64_t b = 1000;
	for (uint64_t i = 1; i < s->snap_failures && b < cap; i++)
		b *= 2;
	return b < cap ? b : cap;
}

/*
 * Snapshots the engine, then rotates the journal and prunes what is no
 * longer needed. With the journal poisoned, a snapshot that holds every
 * record written starts a new generation instead (journal_restart).
 */
static int take_snapshot(struct scoring *s)
{
	int64_t t0 = rn_time_mono_ms();
	uint8_t *buf = NULL;
	size_t len = 0;
	pthread_mutex_lock(&s->smu);
	/* Nothing is written to a poisoned journal, so what was written stays put. */
	pthread_mutex_lock(&s->mu);
	bool poisoned = s->jfailed != 0;
	struct jpos written = {s->jgen, s->jwritten};
	int64_t every = s->conf.snapshot_interval_ms;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->emu);
	struct jpos pos = s->applied;
	int rc = state_save(s->e, &s->batches_applied, pos, &buf, &len);
	pthread_mutex_unlock(&s->emu);
	bool covers = written.off == JOURNAL_HDR_LEN ||
	              (pos.gen == written.gen && pos.off == written.off);
	if (rc != RN_OK)
		goto out;
	if (poisoned && !covers) {
		/* Batches written are still queued: the scorer thread applies them first. */
		rc = RN_ESTATE;
		goto out;
	}
	char name[64];
	file_name(name, sizeof(name), "snapshot.", s->snap_num + 1);
	rc = persist_replace(s->dirfd, name, buf, len);
	if (rc != RN_OK)
		goto out;
	s->snap_num++;
	pthread_mutex_lock(&s->mu);
	rc = poisoned ? journal_restart(s) : journal_rotate(s);
	pthread_mutex_unlock(&s->mu);
	/*
	 * Two snapshots are kept; the journals the older of them needs stay
	 * with it, so that recovery can fall back to it.
	 */
	prune_files(s, s->snap_prev.gen);
	s->snap_prev = pos;
	rn_gauge_set(&s->g_snapshot_bytes, (int64_t)len);
out:
	free(buf);
	rn_gauge_set(&s->g_snapshot_us, (rn_time_mono_ms() - t0) * 1000);
	rn_counter_inc(rc == RN_OK ? &s->c_snap_ok : &s->c_snap_fail);
	s->last_snap_mono = rn_time_mono_ms();
	if (rc == RN_OK) {
		if (s->snap_failures > 0)
			log_notice("scoring: snapshot %016" PRIx64 " written, after %" PRIu64
			           " failed attempts",
			           s->snap_num, s->snap_failures);
		s->snap_failures = 0;
		s->snap_err = 0;
		s->snap_ok_ms = rn_time_now_ms();
	} else {
		s->snap_failures++;
		s->snap_err = rc;
		s->snap_retry_mono = s->last_snap_mono + snap_backoff(s, every);
		if (s->snap_failures == 1)
			log_warnx("scoring: snapshot failed: %s; retrying with back-off",
			          rn_strerror(rc));
		else
			log_warnx_rl("scoring: snapshot failed again (%" PRIu64 " in a row): %s",
			             s->snap_failures, rn_strerror(rc));
	}
	rn_gauge_set(&s->g_snap_failures, (int64_t)s->snap_failures);
	pthread_mutex_unlock(&s->smu);
	return rc;
}

/* Whether the scorer thread should snapshot now. */
static bool snapshot_due(struct scoring *s, uint64_t jbytes, uint64_t jmax, int64_t every,
                         bool poisoned)
{
	int64_t now = rn_time_mono_ms();
	pthread_mutex_lock(&s->smu);
	bool due;
	if (s->snap_failures > 0)
		due = now >= s->snap_retry_mono;
	else
		due = poisoned || now - s->last_snap_mono >= every || jbytes >= jmax;
	pthread_mutex_unlock(&s->smu);
	return due;
}

static void *scorer_main(void *arg)
{
	struct scoring *s = arg;
	int64_t wait_ms = -1;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		/*
		 * A real-time pass pending: sleep only until it is due. Otherwise a
		 * batch signals work_cv; the timeout only paces snapshots and
		 * housekeeping, so an idle scorer wakes once a second.
		 */
		int64_t w = wait_ms >= 0 && wait_ms < 1000 ? wait_ms : 1000;
		if (s->qn == 0 && !s->stop && w > 0) {
			rn_cond_wait_ms(&s->work_cv, &s->mu, w);
		}
		bool stop = s->stop;
		size_t n = s->qn;
		struct qitem *items = NULL;
		if (n > 0) {
			items = malloc(n * sizeof(*items));
			if (items == NULL) {
				n = 0;
			} else {
				for (size_t i = 0; i < n; i++)
					items[i] = s->q[(s->qhead + i) % s->qcap];
				s->qhead = (s->qhead + n) % s->qcap;
				s->qn -= n;
				for (size_t i = 0; i < n; i++)
					s->qobs -= items[i].n;
				rn_gauge_set(&s->g_queue, (int64_t)s->qobs);
			}
		}
		uint64_t jbytes = s->jwritten, jmax = s->conf.journal_max;
		int64_t every = s->conf.snapshot_interval_ms;
		int64_t rt_ms = s->conf.realtime_ms;
		bool poisoned = s->jfailed != 0;
		pthread_mutex_unlock(&s->mu);
		int rc = engine_step(s, items, n, rt_ms, &wait_ms);
		free(items);
		if (rc != RN_OK)
			log_warnx_rl("scoring: %s", rn_strerror(rc));
		if (stop)
			break;
		if (snapshot_due(s, jbytes, jmax, every, poisoned))
			take_snapshot(s);
	}
	return NULL;
}

/* ---- recovery ------------------------------------------------------------------ */

struct replay {
	struct scoring *s;
	struct jpos from;
	uint64_t gen;
	struct rn_obs *obs;
	uint64_t records;
};

static int replay_record(void *arg, const uint8_t *rec, size_t rlen, uint64_t end)
{
	struct replay *r = arg;
	struct scoring *s = r->s;
	if (r->gen == r->from.gen && end <= r->from.off)
		return RN_OK; /* already in the snapshot */
	struct rn_obs_batch_meta meta;
	struct rn_obs_rejects rej;
	memset(&rej, 0, sizeof(rej));
	size_t n = 0;
	int rc = rn_obs_batch_unpack(rec, rlen, JOURNAL_MAX_OBS, &meta, r->obs, &n, &rej);
	if (rc != RN_OK) {
		/* The CRC held but the batch does not decode: not a crash artefact. */
		rn_counter_inc(&s->c_damaged);
		log_warnx("scoring: journal %016" PRIx64 " record ending at %" PRIu64
		          " does not decode (%s); skipped",
		          r->gen, end, rn_strerror(rc));
		return RN_OK;
	}
	struct scoring_ingest_stats d = {0};
	rc = scoring_engine_ingest_from(s->e, meta.collector, r->obs, n, rn_time_now_ms(), &d);
	if (rc != RN_OK)
		return rc;
	if (!id_zero(meta.collector_id) &&
	    (rc = batches_note(&s->batches_applied, meta.collector_id, meta.batch_seq,
	                       (struct jpos){r->gen, end})) != RN_OK)
		return rc;
	account(s, &d);
	s->applied = (struct jpos){r->gen, end};
	r->records++;
	return RN_OK;
}

static int recover(struct scoring *s)
{
	uint64_t *snaps = NULL, *jours = NULL;
	size_t ns = 0, nj = 0;
	struct jpos from = {0, 0};
	int rc = list_files(s, "snapshot.", &snaps, &ns);
	if (rc != RN_OK)
		return rc;
	if ((rc = list_files(s, "journal.", &jours, &nj)) != RN_OK)
		goto out;
	/* The newest snapshot that verifies. */
	for (size_t i = ns; i-- > 0 && s->e == NULL;) {
		char name[64];
		file_name(name, sizeof(name), "snapshot.", snaps[i]);
		uint8_t *buf = NULL;
		size_t len = 0;
		int lrc = read_at(s, name, SIZE_MAX / 2, &buf, &len);
		if (lrc == RN_OK)
			lrc = state_load(buf, len, &s->conf, true, &s->e, &s->batches_applied,
			                 &from);
		free(buf);
		if (lrc == RN_OK) {
			s->snap_num = snaps[i];
			log_info("scoring: loaded %s/%s (journal position %" PRIu64 ":%" PRIu64 ")",
			         s->dir, name, from.gen, from.off);
			break;
		}
		if (lrc == RN_ECONF) {
			rc = lrc;
			goto out;
		}
		rn_counter_inc(&s->c_damaged);
		log_warnx("scoring: %s/%s cannot be verified (%s); trying an older one", s->dir,
		          name, rn_strerror(lrc));
		if (snaps[i] > s->snap_num)
			s->snap_num = snaps[i]; /* never reuse its number */
		if (!s->opts.read_only) {
			/* Kept for inspection, out of the way of the next recovery. */
			char bad[80];
			snprintf(bad, sizeof(bad), "%s.bad", name);
			renameat(s->dirfd, name, s->dirfd, bad);
		}
	}
	/* Until the next snapshot, the loaded one is the older of the two kept. */
	s->snap_prev = from;
	if (s->e == NULL) {
		if (ns > 0 && from.gen == 0)
			log_warnx("scoring: no snapshot verifies; replaying every journal");
		if ((rc = scoring_engine_new(&s->conf, true, &s->e)) != RN_OK)
			goto out;
	}
	s->applied = from;
	struct replay r = {.s = s, .from = from};
	r.obs = malloc(JOURNAL_MAX_OBS * sizeof(*r.obs));
	if (r.obs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	uint64_t maxgen = from.gen;
	for (size_t i = 0; i < nj; i++) {
		if (jours[i] > maxgen)
			maxgen = jours[i];
		if (jours[i] < from.gen)
			continue;
		char name[64];
		file_name(name, sizeof(name), "journal.", jours[i]);
		uint8_t *buf = NULL;
		size_t len = 0;
		rc = read_at(s, name, SIZE_MAX / 2, &buf, &len);
		if (rc != RN_OK) {
			free(r.obs);
			goto out;
		}
		uint64_t gen = 0;
		size_t valid = 0;
		bool torn = false;
		r.gen = jours[i];
		rc = journal_scan(buf, len, &gen, &valid, &torn, replay_record, &r);
		free(buf);
		if (rc == RN_OK && gen != jours[i])
			rc = RN_EPARSE;
		if (rc != RN_OK && rc != -ENOMEM && len <= JOURNAL_HDR_LEN) {
			/* Created but its header never made it: nothing was acknowledged in it. */
			rc = RN_OK;
			continue;
		}
		if (rc != RN_OK) {
			log_warnx("scoring: %s/%s: %s", s->dir, name, rn_strerror(rc));
			rn_counter_inc(&s->c_damaged);
			if (rc == -ENOMEM) {
				free(r.obs);
				goto out;
			}
			rc = RN_OK;
			continue;
		}
		if (torn && i + 1 < nj) {
			/* Only the newest generation may end torn. */
			rn_counter_inc(&s->c_damaged);
			log_warnx("scoring: %s/%s is damaged after %zu bytes; the rest of it is "
			          "skipped",
			          s->dir, name, valid);
		} else if (torn) {
			log_info("scoring: %s/%s ends with a torn record after %zu bytes (a crash "
			         "during an append); ignored",
			         s->dir, name, valid);
		}
	}
	free(r.obs);
	rn_counter_add(&s->c_replayed, r.records);
	if (r.records > 0)
		log_info("scoring: replayed %" PRIu64 " journal records", r.records);
	/* What was written starts as what was applied, in generations before the new one. */
	for (size_t i = 0; i < s->batches_applied.n; i++) {
		const struct batch_mark *b = &s->batches_applied.v[i];
		if ((rc = batches_note(&s->batches_written, b->id, b->seq, (struct jpos){0, 0})) !=
		    RN_OK)
			goto out;
	}
	s->jgen = maxgen;
out:
	free(snaps);
	free(jours);
	return rc;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static double gauge_us_to_seconds(void *arg)
{
	return (double)rn_gauge_get(arg) / 1e6;
}

static void register_metrics(struct scoring *s, struct rn_metrics *m)
{
	static const char *const obs_results[9] = {"accepted", "held",      "late",
	                                           "overflow", "protected", "ignored",
	                                           "stale",    "future",    "bad"};
	static const char *const batch_results[4] = {"ok", "duplicate", "busy", "failed"};
	char labels[64];
	int rc = RN_OK;
	for (int i = 0; i < 9 && rc == RN_OK; i++) {
		snprintf(labels, sizeof(labels), "result=\"%s\"", obs_results[i]);
		rc = rn_metrics_counter(m, s, "repnet_scoring_observations_total",
		                        "Observations the scorer took or dropped, by result.",
		                        labels, &s->c_obs[i]);
	}
	for (int i = 0; i < 4 && rc == RN_OK; i++) {
		snprintf(labels, sizeof(labels), "result=\"%s\"", batch_results[i]);
		rc = rn_metrics_counter(m, s, "repnet_scoring_batches_total",
		                        "Batches submitted to the scorer, by result.", labels,
		                        &s->c_batches[i]);
	}
	struct {
		const char *name, *help, *labels;
		struct rn_counter *c;
	} cs[] = {
	        {"repnet_scoring_ticks_total", "Blocklist recomputes at the periodic tick.", NULL,
	         &s->c_ticks},
	        {"repnet_scoring_realtime_passes_total",
	         "Real-time recomputes of the addresses observed since the last one.", NULL,
	         &s->c_rt_passes},
	        {"repnet_scoring_delta_listings_total", "Listings added and removed by ticks.",
	         "op=\"added\"", &s->c_added},
	        {"repnet_scoring_delta_listings_total", "Listings added and removed by ticks.",
	         "op=\"removed\"", &s->c_removed},
	        {"repnet_scoring_journal_syncs_total", "fdatasync calls on the journal.", NULL,
	         &s->c_syncs},
	        {"repnet_scoring_journal_errors_total",
	         "Journal write or sync failures (the scorer then refuses batches).", NULL,
	         &s->c_journal_errors},
	        {"repnet_scoring_journal_recoveries_total",
	         "Failed journals left for a new generation once a snapshot held their batches.",
	         NULL, &s->c_journal_recoveries},
	        {"repnet_scoring_snapshots_total", "State snapshots, by result.", "result=\"ok\"",
	         &s->c_snap_ok},
	        {"repnet_scoring_snapshots_total", "State snapshots, by result.",
	         "result=\"failed\"", &s->c_snap_fail},
	        {"repnet_scoring_replayed_records_total", "Journal records replayed at start-up.",
	         NULL, &s->c_replayed},
	        {"repnet_scoring_damaged_files_total",
	         "Snapshots or journal records that failed verification at start-up.", NULL,
	         &s->c_damaged},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cs) && rc == RN_OK; i++)
		rc = rn_metrics_counter(m, s, cs[i].name, cs[i].help, cs[i].labels, cs[i].c);
	struct {
		const char *name, *help, *labels;
		struct rn_gauge *g;
	} gs[] = {
	        {"repnet_scoring_listed", "Entries in the current blocklist, by family.",
	         "family=\"ipv4\"", &s->g_listed_v4},
	        {"repnet_scoring_listed", "Entries in the current blocklist, by family.",
	         "family=\"ipv6\"", &s->g_listed_v6},
	        {"repnet_scoring_sets", "Reputation sets alive.", NULL, &s->g_sets},
	        {"repnet_scoring_set_bytes",
	         "Heap bytes of the reputation sets, with the indexes of their closed buckets.",
	         NULL, &s->g_set_bytes},
	        {"repnet_scoring_table_bytes", "Heap bytes of the current blocklist table.", NULL,
	         &s->g_table_bytes},
	        {"repnet_scoring_queue_observations",
	         "Observations durable in the journal, not yet applied.", NULL, &s->g_queue},
	        {"repnet_scoring_held_observations",
	         "Observations held for a later tick (stamped after the next one).", NULL,
	         &s->g_held},
	        {"repnet_scoring_journal_bytes", "Size of the current journal generation.", NULL,
	         &s->g_journal_bytes},
	        {"repnet_scoring_snapshot_bytes", "Size of the last state snapshot.", NULL,
	         &s->g_snapshot_bytes},
	        {"repnet_scoring_clock_seconds", "The scorer's clock (event time), in seconds.",
	         NULL, &s->g_clock},
	        {"repnet_scoring_dry_run", "1 when the blocklist is dry-run output.", NULL,
	         &s->g_dry_run},
	        {"repnet_scoring_journal_state",
	         "0: ok; 1: refusing batches after a failed write; 2: failed, until a snapshot "
	         "succeeds.",
	         NULL, &s->g_journal_state},
	        {"repnet_scoring_snapshot_failures",
	         "Snapshots failed in a row (0 when the last one succeeded).", NULL,
	         &s->g_snap_failures},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(gs) && rc == RN_OK; i++)
		rc = rn_metrics_gauge(m, s, gs[i].name, gs[i].help, gs[i].labels, gs[i].g);
	/* Durations are kept in microseconds and exported in seconds. */
	rc = rc ? rc
	        : rn_metrics_func(m, s, "repnet_scoring_recompute_seconds",
	                          "Duration of the last recompute, in seconds.", RN_METRIC_GAUGE,
	                          NULL, gauge_us_to_seconds, &s->g_recompute_us);
	rc = rc ? rc
	        : rn_metrics_func(m, s, "repnet_scoring_snapshot_seconds",
	                          "Duration of the last snapshot, in seconds.", RN_METRIC_GAUGE,
	                          NULL, gauge_us_to_seconds, &s->g_snapshot_us);
	if (rc != RN_OK)
		log_warnx("scoring: metrics: %s", rn_strerror(rc));
}

static void scoring_free(struct scoring *s)
{
	if (s->opts.metrics != NULL)
		rn_metrics_unregister(s->opts.metrics, s);
	for (size_t i = 0; i < s->qn; i++)
		free(s->q[(s->qhead + i) % s->qcap].obs);
	free(s->q);
	batches_release(&s->batches_written);
	batches_release(&s->batches_applied);
	if (s->jfd >= 0)
		close(s->jfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	scoring_table_free(s->current);
	scoring_engine_free(s->e);
	delist_release(&s->delists);
	scoring_conf_release(&s->conf);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->emu);
	pthread_mutex_destroy(&s->pmu);
	pthread_mutex_destroy(&s->smu);
	pthread_cond_destroy(&s->synced_cv);
	pthread_cond_destroy(&s->work_cv);
	free(s);
}

int scoring_start(struct scoring **out, const struct scoring_conf *conf,
                  const struct scoring_opts *opts)
{
	struct scoring *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->jfd = -1;
	delist_init(&s->delists);
	s->dirfd = -1;
	s->opts = *opts;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->emu, NULL);
	pthread_mutex_init(&s->pmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	rn_cond_init(&s->synced_cv);
	rn_cond_init(&s->work_cv);
	int rc = scoring_conf_copy(&s->conf, conf);
	if (rc != RN_OK) {
		memset(&s->conf, 0, sizeof(s->conf));
		goto fail;
	}
	if (snprintf(s->dir, sizeof(s->dir), "%s/scoring", opts->data_dir) >= (int)sizeof(s->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if (!opts->read_only && (rc = rn_mkdirs(s->dir, 0750)) != RN_OK)
		goto fail;
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = -errno;
		goto fail;
	}
	if (opts->metrics != NULL)
		register_metrics(s, opts->metrics);
	if ((rc = recover(s)) != RN_OK) {
		log_warnx("scoring: cannot recover the state in %s: %s", s->dir, rn_strerror(rc));
		goto fail;
	}
	snprintf(s->delist_path, sizeof(s->delist_path), "%s/delist", s->dir);
	if ((rc = delist_load(&s->delists, s->delist_path, rn_time_now_ms())) != RN_OK ||
	    (s->delists.n > 0 && (rc = delists_apply(s)) != RN_OK)) {
		log_warnx("scoring: %s: %s", s->delist_path, rn_strerror(rc));
		goto fail;
	}
	s->current = scoring_table_ref((struct scoring_table *)scoring_engine_table(s->e));
	engine_gauges(s);
	if (opts->read_only || opts->no_thread) {
		*out = s;
		return RN_OK;
	}
	if ((rc = journal_create(s, s->jgen + 1)) != RN_OK) {
		log_warnx("scoring: cannot create a journal in %s: %s", s->dir, rn_strerror(rc));
		goto fail;
	}
	s->last_snap_mono = rn_time_mono_ms();
	if (pthread_create(&s->thread, NULL, scorer_main, s) != 0) {
		rc = -errno;
		goto fail;
	}
	s->thread_started = true;
	log_info("scoring: running, state in %s%s", s->dir,
	         s->conf.dry_run ? " (dry run: output is never enforced)" : "");
	*out = s;
	return RN_OK;
fail:
	scoring_free(s);
	return rc;
}

void scoring_stop(struct scoring *s)
{
	if (s == NULL)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		/* Whatever was queued after the thread's last pass. */
		pthread_mutex_lock(&s->mu);
		size_t n = s->qn;
		struct qitem *items = malloc((n ? n : 1) * sizeof(*items));
		if (items != NULL) {
			for (size_t i = 0; i < n; i++)
				items[i] = s->q[(s->qhead + i) % s->qcap];
			s->qn = 0;
		}
		pthread_mutex_unlock(&s->mu);
		if (items != NULL) {
			int64_t unused;
			engine_step(s, items, n, 0, &unused);
			free(items);
		}
		/* Poisoned too: the snapshot is what makes its batches durable. */
		take_snapshot(s);
	}
	scoring_free(s);
}

struct scoring_table *scoring_current(struct scoring *s)
{
	pthread_mutex_lock(&s->pmu);
	struct scoring_table *t = scoring_table_ref(s->current);
	pthread_mutex_unlock(&s->pmu);
	return t;
}

int scoring_explain(struct scoring *s, const struct rn_addr *a, struct scoring_explain *out)
{
	pthread_mutex_lock(&s->emu);
	int rc = scoring_engine_explain(s->e, a, out);
	pthread_mutex_unlock(&s->emu);
	return rc;
}

int scoring_reconfigure(struct scoring *s, const struct scoring_conf *conf)
{
	pthread_mutex_lock(&s->emu);
	int rc = scoring_engine_reconfigure(s->e, conf);
	pthread_mutex_unlock(&s->emu);
	if (rc != RN_OK)
		return rc;
	struct scoring_conf c;
	if ((rc = scoring_conf_copy(&c, conf)) != RN_OK)
		return rc;
	/* Only the scorer thread reads these, between its own passes. */
	pthread_mutex_lock(&s->mu);
	int64_t qmax = s->conf.queue_max; /* needs a restart */
	scoring_conf_release(&s->conf);
	s->conf = c;
	s->conf.queue_max = qmax;
	pthread_mutex_unlock(&s->mu);
	return RN_OK;
}

int scoring_protect_extra(struct scoring *s, const struct rn_prefix_list *l)
{
	pthread_mutex_lock(&s->emu);
	int rc = scoring_engine_protect_extra(s->e, l);
	pthread_mutex_unlock(&s->emu);
	return rc;
}

int scoring_snapshot_now(struct scoring *s)
{
	if (s->opts.read_only)
		return RN_ESTATE;
	return take_snapshot(s);
}

const char *scoring_journal_state_name(enum scoring_journal_state st)
{
	switch (st) {
	case SCORING_JOURNAL_OK:
		return "ok";
	case SCORING_JOURNAL_REFUSING:
		return "refusing";
	case SCORING_JOURNAL_FAILED:
		return "failed";
	}
	return "?";
}

void scoring_health(struct scoring *s, struct scoring_health *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->mu);
	out->journal = s->jfailed    ? SCORING_JOURNAL_FAILED
	               : s->jrefused ? SCORING_JOURNAL_REFUSING
	                             : SCORING_JOURNAL_OK;
	out->journal_error = s->jlast_err;
	out->journal_since_ms = out->journal == SCORING_JOURNAL_OK ? 0 : s->jsince_ms;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->smu);
	out->snapshot_failures = s->snap_failures;
	out->snapshot_error = s->snap_err;
	out->snapshot_ok_ms = s->snap_ok_ms;
	if (s->snap_failures > 0) {
		int64_t left = s->snap_retry_mono - rn_time_mono_ms();
		out->snapshot_retry_ms = left > 0 ? left : 0;
	}
	pthread_mutex_unlock(&s->smu);
}
