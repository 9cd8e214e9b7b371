/*
 * federation.c: other members' feeds as a reputation signal.
 *
 * Design notes: each remote member's feed is a subscription (sub.c) with
 * the circuit breaker on, whose on_change lands here. The aggregator
 * keeps a reference on every member's latest state. A listing of a
 * member counts toward the local blocklist only when k of the members
 * list the same entry (quorum), or when one member's trust weight alone
 * reaches weight_alone; then it becomes an observation of kind
 * RN_KIND_PEER_LISTED for the local scorer, whose kind table decides how
 * much it weighs and for how long. Listings are re-offered every refresh
 * interval while the quorum holds, so a local listing driven by peers
 * lasts as long as they agree and then decays.
 *
 * Never-block ranges are enforced here again (and by the subscription's
 * suppression, and by the local scorer). Nothing from a member's feed
 * reaches the local blocklist any other way.
 *
 * Threading: on_change runs on each subscription's thread; one mutex
 * guards the member table. emit() is called with the mutex released.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feeds/replica/internal.h"

#define EMIT_CHUNK 1024

struct member {
	const struct feeds_sub *sub;
	char name[64];
	double weight;
	struct scoring_table *table;
};

struct feeds_federation {
	struct feeds_federation_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct member *m;
	size_t n, cap;
	bool stopping;
	pthread_t thr;
	bool thr_started;
	struct rn_counter offered, agreed, protected_, refreshes;
};

static struct member *find(struct feeds_federation *f, const struct feeds_sub *s)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->m[i].sub == s)
			return &f->m[i];
	return NULL;
}

int feeds_federation_add(struct feeds_federation *f, const struct feeds_sub *s, const char *name,
                         double weight)
{
	pthread_mutex_lock(&f->mu);
	int rc = RN_OK;
	if (find(f, s) != NULL) {
		rc = RN_EEXIST;
		goto out;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct member *v = realloc(f->m, cap * sizeof(*v));
		if (v == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		f->m = v;
		f->cap = cap;
	}
	struct member *e = &f->m[f->n++];
	memset(e, 0, sizeof(*e));
	e->sub = s;
	e->weight = weight;
	snprintf(e->name, sizeof(e->name), "%s", name);
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* How many members list exactly this prefix now, and their summed weight. Locked. */
static unsigned agreement(struct feeds_federation *f, const struct rn_prefix *p, int64_t now,
                          double *weight, double *max_weight)
{
	unsigned k = 0;
	*weight = 0;
	*max_weight = 0;
	for (size_t i = 0; i < f->n; i++) {
		struct scoring_entry e;
		const struct member *m = &f->m[i];
		if (m->table == NULL || !scoring_table_find(m->table, p, &e))
			continue;
		if ((e.flags & SCORING_F_SUPPRESSED) || e.expires_ms <= now)
			continue;
		k++;
		*weight += m->weight;
		if (m->weight > *max_weight)
			*max_weight = m->weight;
	}
	return k;
}

struct batch {
	struct rn_obs obs[EMIT_CHUNK];
	size_t n;
};

static void flush(struct feeds_federation *f, struct batch *b)
{
	if (b->n == 0)
		return;
	f->o.emit(f->o.arg, b->obs, b->n);
	b->n = 0;
}

/*
 * Considers prefix p: when the members agree, appends an observation to
 * b. Called with the mutex held; the caller flushes b after unlocking.
 */
static bool consider(struct feeds_federation *f, const struct rn_prefix *p, int64_t now,
                     struct batch *b)
{
	double w, wmax;
	rn_counter_inc(&f->offered);
	if (f->o.protect != NULL && scoring_protect_overlaps(f->o.protect, p)) {
		rn_counter_inc(&f->protected_);
		return false;
	}
	unsigned k = agreement(f, p, now, &w, &wmax);
	bool ok =
	        k >= (unsigned)f->o.quorum || (f->o.weight_alone > 0 && wmax >= f->o.weight_alone);
	if (!ok)
		return false;
	rn_counter_inc(&f->agreed);
	struct rn_obs *o = &b->obs[b->n++];
	memset(o, 0, sizeof(*o));
	o->addr = p->addr;
	o->prefix_len = p->len == rn_addr_maxlen(&p->addr) ? 0 : p->len;
	o->kind = RN_KIND_PEER_LISTED;
	o->source = RN_SRC_PEER;
	o->count = k;
	o->ts_ms = now;
	char ev[RN_EVIDENCE_MAX];
	int n = snprintf(ev, sizeof(ev), "peers:%u/%zu", k, f->n);
	rn_obs_set_evidence(o, ev, n > 0 ? (size_t)n : 0);
	return b->n == EMIT_CHUNK;
}

void feeds_federation_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                                const struct scoring_table *new_t, const struct scoring_delta *d)
{
	struct feeds_federation *f = arg;
	struct batch *b = malloc(sizeof(*b));
	if (b == NULL)
		return;
	b->n = 0;
	int64_t now = rn_time_now_ms();
	pthread_mutex_lock(&f->mu);
	struct member *m = find(f, s);
	if (m == NULL) {
		pthread_mutex_unlock(&f->mu);
		free(b);
		return;
	}
	scoring_table_free(m->table);
	m->table = scoring_table_ref((struct scoring_table *)new_t);
	/* The prefixes this change added, each considered once. */
	struct scoring_delta *own = NULL;
	if (d == NULL && (old_t == NULL || scoring_delta_diff(old_t, new_t, &own) != RN_OK)) {
		struct scoring_iter it;
		struct scoring_entry e;
		scoring_iter_init(&it, new_t);
		while (scoring_iter_next(&it, &e)) {
			if (consider(f, &e.prefix, now, b)) {
				pthread_mutex_unlock(&f->mu);
				flush(f, b);
				pthread_mutex_lock(&f->mu);
			}
		}
	} else {
		const struct scoring_delta *dd = d != NULL ? d : own;
		struct rn_prefix last = {0};
		for (size_t i = 0; i < scoring_delta_added(dd); i++) {
			struct scoring_listing l;
			scoring_delta_get_added(dd, i, &l);
			if (i > 0 && l.prefix.len == last.len &&
			    rn_addr_equal(&l.prefix.addr, &last.addr))
				continue; /* the same prefix in another category */
			last = l.prefix;
			if (consider(f, &l.prefix, now, b)) {
				pthread_mutex_unlock(&f->mu);
				flush(f, b);
				pthread_mutex_lock(&f->mu);
			}
		}
	}
	pthread_mutex_unlock(&f->mu);
	flush(f, b);
	scoring_delta_free(own);
	free(b);
}

/* Re-offers every entry some member lists. */
static void refresh(struct feeds_federation *f, struct batch *b)
{
	int64_t now = rn_time_now_ms();
	rn_counter_inc(&f->refreshes);
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		if (f->m[i].table == NULL)
			continue;
		struct scoring_iter it;
		struct scoring_entry e;
		scoring_iter_init(&it, f->m[i].table);
		while (scoring_iter_next(&it, &e)) {
			/* Count each prefix once: at the first member that lists it. */
			bool earlier = false;
			for (size_t j = 0; j < i && !earlier; j++) {
				struct scoring_entry x;
				earlier = f->m[j].table != NULL &&
				          scoring_table_find(f->m[j].table, &e.prefix, &x) &&
				          !(x.flags & SCORING_F_SUPPRESSED) && x.expires_ms > now;
			}
			if (earlier)
				continue;
			if (consider(f, &e.prefix, now, b)) {
				pthread_mutex_unlock(&f->mu);
				flush(f, b);
				pthread_mutex_lock(&f->mu);
			}
		}
	}
	pthread_mutex_unlock(&f->mu);
	flush(f, b);
}

static void *fed_main(void *arg)
{
	struct feeds_federation *f = arg;
	struct batch *b = malloc(sizeof(*b));
	if (b == NULL)
		return NULL;
	b->n = 0;
	pthread_mutex_lock(&f->mu);
	while (!f->stopping) {
		if (rn_cond_wait_ms(&f->cv, &f->mu, f->o.refresh_ms) != 0 && !f->stopping) {
			pthread_mutex_unlock(&f->mu);
			refresh(f, b);
			pthread_mutex_lock(&f->mu);
		}
	}
	pthread_mutex_unlock(&f->mu);
	free(b);
	return NULL;
}

int feeds_federation_start(struct feeds_federation **out, const struct feeds_federation_opts *o)
{
	if (o->emit == NULL || o->quorum < 1 || o->refresh_ms < 1000)
		return RN_ECONF;
	struct feeds_federation *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->o = *o;
	pthread_mutex_init(&f->mu, NULL);
	rn_cond_init(&f->cv);
	int rc = RN_OK;
	if (o->metrics != NULL) {
		const char *h = "Member listings the federation considered, by outcome.";
		rc = rc ? rc
		        : rn_metrics_counter(o->metrics, f, "repnet_federation_listings_total", h,
		                             "outcome=\"considered\"", &f->offered);
		rc = rc ? rc
		        : rn_metrics_counter(o->metrics, f, "repnet_federation_listings_total", h,
		                             "outcome=\"agreed\"", &f->agreed);
		rc = rc ? rc
		        : rn_metrics_counter(o->metrics, f, "repnet_federation_listings_total", h,
		                             "outcome=\"protected\"", &f->protected_);
		rc = rc ? rc
		        : rn_metrics_counter(
		                  o->metrics, f, "repnet_federation_refreshes_total",
		                  "Times the federation re-offered what members agree on.", NULL,
		                  &f->refreshes);
		if (rc != RN_OK)
			goto fail;
	}
	if (!o->no_thread) {
		if (pthread_create(&f->thr, NULL, fed_main, f) != 0) {
			rc = -EAGAIN;
			goto fail;
		}
		f->thr_started = true;
	}
	*out = f;
	return RN_OK;
fail:
	if (o->metrics != NULL)
		rn_metrics_unregister(o->metrics, f);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return rc;
}

void feeds_federation_refresh(struct feeds_federation *f)
{
	struct batch *b = malloc(sizeof(*b));
	if (b == NULL)
		return;
	b->n = 0;
	refresh(f, b);
	free(b);
}

void feeds_federation_stop(struct feeds_federation *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->thr_started)
		pthread_join(f->thr, NULL);
	if (f->o.metrics != NULL)
		rn_metrics_unregister(f->o.metrics, f);
	for (size_t i = 0; i < f->n; i++)
		scoring_table_free(f->m[i].table);
	free(f->m);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
