/*
 * replica.c: the member's live blocklist for local consumers: a list
 * view kept equal to one subscription's state.
 *
 * Design notes: the subscription (sub.c) verifies and applies the feed
 * into immutable scoring tables; this adapter mirrors each applied change
 * into a list view (view/listview.c), which the DNSBL, the policy service, the
 * decision stream and netfilter sync read without locks and which changes
 * in place, bucket by bucket, so memory never doubles. A snapshot replaces
 * the view's content (as a difference); a delta touches exactly the
 * prefixes it names, each looked up in the new table, so the view always
 * holds the new table's enforceable entries (suppressed ones never).
 *
 * Expiry: the feed removes listings as they expire, but a feed that stops
 * must not block forever, so a sweeper thread removes entries whose
 * expiry has passed every `sweep_ms`. Consumers therefore never serve a
 * listing more than one sweep interval past its expiry.
 *
 * Threads: on_change runs on the subscription's thread, the sweeper on
 * its own; the list view serialises writers itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feeds/replica/internal.h"

struct feeds_replica {
	struct feeds_listview *lv;
	struct rn_metrics *metrics;
	int64_t sweep_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	pthread_t thr;
	bool thr_started;
	struct rn_counter applied, failed, expired;
	struct rn_gauge entries;
};

static void entry_of(const struct scoring_entry *e, struct feeds_view_entry *v)
{
	v->prefix = e->prefix;
	v->categories = e->cats;
	v->expires_ms = e->expires_ms;
}

/* A full state: a bulk load of the table, without an array of entries. */
static int replace_all(struct feeds_replica *r, const struct scoring_table *t)
{
	struct feeds_listview_load *ld = NULL;
	int rc = feeds_listview_load_alloc(&ld);
	struct scoring_iter it;
	struct scoring_entry e;
	scoring_iter_init(&it, t); /* suppressed entries are skipped */
	while (rc == RN_OK && scoring_iter_next(&it, &e)) {
		struct feeds_view_entry v;
		entry_of(&e, &v);
		rc = feeds_listview_load_add(ld, &v);
	}
	if (rc == RN_OK)
		rc = feeds_listview_replace_load(r->lv, ld);
	feeds_listview_load_free(ld);
	return rc;
}

static int apply_delta(struct feeds_replica *r, const struct scoring_table *t,
                       const struct scoring_delta *d)
{
	size_t na = scoring_delta_added(d), nr = scoring_delta_removed(d);
	struct feeds_view_entry *add = calloc(na + nr + 1, sizeof(*add));
	struct rn_prefix *del = calloc(na + nr + 1, sizeof(*del));
	size_t nadd = 0, ndel = 0;
	int rc = RN_OK;
	if (add == NULL || del == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Every prefix the delta touches, once: its state in the new table. */
	for (size_t pass = 0; pass < 2; pass++) {
		size_t n = pass == 0 ? nr : na;
		struct rn_prefix last = {0};
		bool have_last = false;
		for (size_t i = 0; i < n; i++) {
			struct scoring_listing l;
			struct scoring_entry e;
			if (pass == 0)
				scoring_delta_get_removed(d, i, &l);
			else
				scoring_delta_get_added(d, i, &l);
			if (have_last && l.prefix.len == last.len &&
			    rn_addr_equal(&l.prefix.addr, &last.addr))
				continue;
			last = l.prefix;
			have_last = true;
			if (scoring_table_find(t, &l.prefix, &e) &&
			    !(e.flags & SCORING_F_SUPPRESSED))
				entry_of(&e, &add[nadd++]);
			else
				del[ndel++] = l.prefix;
		}
	}
	rc = feeds_listview_apply(r->lv, add, nadd, del, ndel);
out:
	free(add);
	free(del);
	return rc;
}

void feeds_replica_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                             const struct scoring_table *new_t, const struct scoring_delta *d)
{
	struct feeds_replica *r = arg;
	(void)old_t;
	int rc = d == NULL ? replace_all(r, new_t) : apply_delta(r, new_t, d);
	if (rc != RN_OK) {
		/* The view is unchanged; rebuild it whole from the table. */
		log_warnx("replica of %s: %s; rebuilding", feeds_sub_name(s), rn_strerror(rc));
		rc = replace_all(r, new_t);
	}
	if (rc == RN_OK)
		rn_counter_inc(&r->applied);
	else
		rn_counter_inc(&r->failed);
	rn_gauge_set(&r->entries, (int64_t)feeds_listview_count(r->lv));
}

struct sweep {
	int64_t now;
	struct rn_prefix *v;
	size_t n, cap;
	int err;
};

static int sweep_fn(void *arg, const struct feeds_view_entry *e)
{
	struct sweep *sw = arg;
	if (e->expires_ms == 0 || e->expires_ms > sw->now)
		return 0;
	if (sw->n == sw->cap) {
		size_t cap = sw->cap ? sw->cap * 2 : 256;
		struct rn_prefix *v = realloc(sw->v, cap * sizeof(*v));
		if (v == NULL) {
			sw->err = -ENOMEM;
			return 1;
		}
		sw->v = v;
		sw->cap = cap;
	}
	sw->v[sw->n++] = e->prefix;
	return 0;
}

size_t feeds_replica_sweep(struct feeds_replica *r, int64_t now_ms)
{
	struct feeds_view v;
	struct sweep sw = {.now = now_ms};
	uint64_t version;
	feeds_listview_view(r->lv, &v);
	v.walk(v.arg, sweep_fn, &sw, &version);
	size_t n = 0;
	if (sw.err == 0 && sw.n > 0 && feeds_listview_apply(r->lv, NULL, 0, sw.v, sw.n) == RN_OK) {
		n = sw.n;
		rn_counter_add(&r->expired, n);
		rn_gauge_set(&r->entries, (int64_t)feeds_listview_count(r->lv));
		log_info("replica: %zu listings expired", n);
	}
	free(sw.v);
	return n;
}

static void *sweep_main(void *arg)
{
	struct feeds_replica *r = arg;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		if (rn_cond_wait_ms(&r->cv, &r->mu, r->sweep_ms) != 0 && !r->stopping) {
			pthread_mutex_unlock(&r->mu);
			feeds_replica_sweep(r, rn_time_now_ms());
			pthread_mutex_lock(&r->mu);
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int feeds_replica_alloc(struct feeds_replica **out, size_t history, int64_t sweep_ms,
                        struct rn_metrics *m)
{
	int rc;
	struct feeds_replica *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->sweep_ms = sweep_ms > 0 ? sweep_ms : 10000;
	pthread_mutex_init(&r->mu, NULL);
	rn_cond_init(&r->cv);
	if ((rc = feeds_listview_alloc(&r->lv, history)) != RN_OK)
		goto fail;
	if (m != NULL) {
		const char *h = "Feed changes mirrored into the served replica, by result.";
		rc = rn_metrics_counter(m, r, "repnet_replica_changes_total", h, "result=\"ok\"",
		                        &r->applied);
		rc = rc ? rc
		        : rn_metrics_counter(m, r, "repnet_replica_changes_total", h,
		                             "result=\"failed\"", &r->failed);
		rc = rc ? rc
		        : rn_metrics_counter(
		                  m, r, "repnet_replica_expired_total",
		                  "Listings the replica dropped when their expiry passed.", NULL,
		                  &r->expired);
		rc = rc ? rc
		        : rn_metrics_gauge(m, r, "repnet_replica_entries",
		                           "Entries the replica serves.", NULL, &r->entries);
		if (rc != RN_OK)
			goto fail;
		r->metrics = m;
	}
	if (pthread_create(&r->thr, NULL, sweep_main, r) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	r->thr_started = true;
	*out = r;
	return RN_OK;
fail:
	feeds_replica_free(r);
	return rc;
}

void feeds_replica_view(struct feeds_replica *r, struct feeds_view *v)
{
	feeds_listview_view(r->lv, v);
}

size_t feeds_replica_count(struct feeds_replica *r)
{
	return feeds_listview_count(r->lv);
}

void feeds_replica_free(struct feeds_replica *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->thr_started)
		pthread_join(r->thr, NULL);
	if (r->metrics != NULL)
		rn_metrics_unregister(r->metrics, r);
	feeds_listview_free(r->lv);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
