/*
 * syncrole.c: repnetd's sync role: netfilter sets follow a blocklist view.
 *
 * Design notes: the netfilter engine (engine.c) is single-threaded, so
 * one thread owns it. It follows the view's change log: every change
 * since the version it last applied becomes one engine delta (one kernel
 * transaction); when the log no longer reaches back (or at the first
 * pass) it walks the whole view and loads it, which the engine turns into
 * a diff or a swap of a fresh set. Between changes it ticks the engine
 * (reconcile, retries, applier restarts). The view wakes the thread after
 * every change (feeds_view.watch), so a delta reaches the kernel as soon as
 * the replica has it; the POLL_MS wait is only the fallback for a view
 * without a watcher and the pace of the engine's ticks. (It used to be the
 * only wake-up: every change waited up to 100 ms for it.) An entry with several
 * categories is one kernel element per category when the sets are per
 * category, and one element otherwise (the engine de-duplicates).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feeds/nfsync/nfsync.h"

#define POLL_MS 1000 /* the engine names its own deadlines; idle, wake once a second */

struct feeds_sync {
	struct feeds_nfsync *nfs;
	struct feeds_view view;
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
	pthread_mutex_t mu; /* kicked, and the wait */
	pthread_cond_t cv;
	bool kicked; /* the view changed since the thread last looked */
	uint64_t version;
	bool loaded;
	unsigned failures; /* consecutive failed loads, for the backoff */
	int64_t next_load; /* monotonic ms: no load before */
};

struct buf {
	struct feeds_nfsync_entry *v;
	size_t n, cap;
	int err;
};

static int push(struct buf *b, const struct rn_prefix *p, uint32_t cats)
{
	for (unsigned c = 1; c < 32; c++) {
		if (!(cats & (1u << c)))
			continue;
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 1024;
			struct feeds_nfsync_entry *v = realloc(b->v, cap * sizeof(*v));
			if (v == NULL) {
				b->err = -ENOMEM;
				return 1;
			}
			b->v = v;
			b->cap = cap;
		}
		b->v[b->n].prefix = *p;
		b->v[b->n].category = (uint8_t)c;
		b->n++;
	}
	return 0;
}

static int walk_fn(void *arg, const struct feeds_view_entry *e)
{
	return push(arg, &e->prefix, e->categories);
}

struct pair {
	struct buf add, del;
};

static int change_fn(void *arg, enum feeds_view_change what, const struct feeds_view_entry *e)
{
	struct pair *p = arg;
	return push(what == FEEDS_VIEW_ADDED ? &p->add : &p->del, &e->prefix, e->categories);
}

static void step(struct feeds_sync *s)
{
	uint64_t ver = 0;
	if (s->loaded) {
		struct pair p = {0};
		int rc = s->view.changes(s->view.arg, s->version, change_fn, &p, &ver);
		if (rc == RN_OK && p.add.err == 0 && p.del.err == 0) {
			if (p.add.n + p.del.n > 0)
				feeds_nfsync_apply(s->nfs, p.add.v, p.add.n, p.del.v, p.del.n,
				                   NULL);
			s->version = ver;
		} else if (rc == RN_ENOTFOUND) {
			s->loaded = false; /* the log moved past us: load the whole view */
		}
		free(p.add.v);
		free(p.del.v);
		if (s->loaded)
			return;
	}
	int64_t now = rn_time_mono_ms();
	if (now < s->next_load)
		return;
	struct buf all = {0};
	int rc = s->view.walk(s->view.arg, walk_fn, &all, &ver);
	if (rc == RN_OK && all.err == 0)
		rc = feeds_nfsync_load(s->nfs, all.v, all.n, NULL);
	else if (rc == RN_OK)
		rc = all.err;
	free(all.v);
	if (rc == RN_OK) {
		if (s->failures > 0)
			log_notice("sync: netfilter sets loaded after %u failed attempts",
			           s->failures);
		s->version = ver;
		s->loaded = true;
		s->failures = 0;
		return;
	}
	/* 1 s, doubling to 5 min: a host without CAP_NET_ADMIN is not hammered. */
	unsigned sh = s->failures < 9 ? s->failures : 9;
	int64_t back = (int64_t)1000 << sh;
	if (back > 300000)
		back = 300000;
	if (s->failures == 0)
		log_warnx("sync: loading the netfilter sets failed: %s; retrying with backoff (the "
		          "sync role needs CAP_NET_ADMIN, or the repnet-nfsync applier with it)",
		          rn_strerror(rc));
	s->failures++;
	s->next_load = now + back;
}

/* The view's watcher: on the replica's thread, after each change. */
static void sync_kick(void *arg)
{
	struct feeds_sync *s = arg;
	pthread_mutex_lock(&s->mu);
	s->kicked = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *sync_main(void *arg)
{
	struct feeds_sync *s = arg;
	while (!atomic_load(&s->stop)) {
		step(s);
		int64_t next = 0;
		feeds_nfsync_tick(s->nfs, rn_time_mono_ms(), &next);
		int64_t wait = next - rn_time_mono_ms();
		if (wait > POLL_MS || wait <= 0)
			wait = POLL_MS;
		pthread_mutex_lock(&s->mu);
		if (!s->kicked && !atomic_load(&s->stop))
			rn_cond_wait_ms(&s->cv, &s->mu, wait);
		s->kicked = false;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

int feeds_sync_start(struct feeds_sync **out, const struct feeds_sync_conf *conf,
                     const struct feeds_view *view, struct rn_metrics *m)
{
	struct feeds_sync *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->view = *view;
	pthread_mutex_init(&s->mu, NULL);
	int rc = rn_cond_init(&s->cv);
	if (rc != RN_OK) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return rc;
	}
	rc = feeds_nfsync_open(&s->nfs, conf, m);
	if (rc != RN_OK)
		goto fail;
	if (pthread_create(&s->thr, NULL, sync_main, s) != 0) {
		feeds_nfsync_close(s->nfs);
		rc = -EAGAIN;
		goto fail;
	}
	s->thr_started = true;
	if (s->view.watch != NULL)
		s->view.watch(s->view.arg, sync_kick, s);
	*out = s;
	return RN_OK;
fail:
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}

void feeds_sync_stop(struct feeds_sync *s)
{
	if (s == NULL)
		return;
	if (s->view.watch != NULL)
		s->view.watch(s->view.arg, NULL, NULL);
	atomic_store(&s->stop, true);
	sync_kick(s);
	if (s->thr_started)
		pthread_join(s->thr, NULL);
	feeds_nfsync_close(s->nfs);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
