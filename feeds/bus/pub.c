/*
 * pub.c: the publisher: signed snapshots, deltas and heartbeats on nng
 * PUB, and the resync service on REP.
 *
 * Design notes.
 *
 * State. The publisher holds the current blocklist table (a reference),
 * its (epoch, seq, digest), a history of the last deltas it sent, and the
 * snapshot envelope of the current seq once one was built. One mutex
 * guards all of it; it is held while a message is built and sent, so the
 * PUB socket sees messages in seq order.
 *
 * Epoch. Each start is a new epoch: the epoch file in data_dir/feeds is
 * read, incremented and fsynced before anything is published. The first
 * message of an epoch is a snapshot at seq 1, so a subscriber never needs
 * history from before the restart, and an old epoch can never be replayed
 * over a new one (subscribers refuse a lower epoch).
 *
 * Deltas. feeds_pub_update() gets the new table and, usually, the delta
 * the scorer computed. The publisher checks that the delta takes its own
 * digest to the new table's digest; if not (it missed a tick, say) it
 * computes the delta itself. An empty delta publishes nothing. Each delta
 * payload names its base (seq - 1 and the digest before), so subscribers
 * apply it only to exactly that state.
 *
 * Threads. update() runs on the caller's thread (the scorer's). One timer
 * thread sends heartbeats and periodic snapshots. One thread serves
 * resync requests on REP: deltas after the subscriber's seq when the
 * history still holds them and the subscriber's digest matches, else a
 * fresh snapshot.
 *
 * Connections. Both listeners have guards (guard.c): caps on the feed's
 * subscribers and on resync clients, and the silence deadline on resync
 * clients only, since subscribers never send.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>

#include "feeds/bus/socket.h"
#include "feeds/bus/bus.h"
#include "feeds/bus/guard.h"
#include "feeds/bus/payload.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/pub.h"
#include "feeds/bus/wire.h"

#define RECV_WAIT_MAX_MS 10000 /* the resync loop's longest receive wait */

struct hist {
	uint64_t seq;
	uint8_t digest_after[32];
	uint8_t *env;
	size_t len;
};

struct feeds_pub {
	const struct feeds_bus_conf *conf;
	struct feeds_bus_conf confv; /* numbers only: strings are not kept */
	const struct feeds_signer *signer;
	struct rn_metrics *metrics;
	char name[FEEDS_NAME_MAX];
	nng_socket pub, rep;
	bool pub_open, rep_open;
	struct feeds_bus_guard *pub_guard, *rep_guard;
	unsigned pub_port, rep_port;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	pthread_t timer, resync;
	bool timer_started, resync_started;

	uint64_t epoch, seq;
	uint8_t digest[32];
	struct scoring_table *table;
	int64_t last_change_ms;
	struct hist *hist;
	size_t hcap, hhead, hcount, hbytes;
	uint8_t *snap_env;
	size_t snap_len;
	uint64_t snap_seq;

	struct rn_counter n_delta, n_snap, n_hb, n_resync_delta, n_resync_snap, n_resync_bad;
	struct rn_counter n_send_err, bytes_sent, n_recomputed;
	struct rn_counter n_oversize; /* several writers: the timer, the ticks, resync */
	struct rn_gauge g_seq, g_epoch, g_listed;
};

static int load_epoch(const char *data_dir, uint64_t *epoch)
{
	char dir[4096], path[4200];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t prev = 0;
	if (snprintf(dir, sizeof(dir), "%s/feeds", data_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int rc = rn_mkdirs(dir, 0750);
	if (rc != RN_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/publisher.epoch", dir);
	rc = rn_file_read(path, 64, &buf, &len);
	if (rc == RN_OK) {
		char tmp[64];
		size_t n = len < sizeof(tmp) - 1 ? len : sizeof(tmp) - 1;
		memcpy(tmp, buf, n);
		tmp[n] = '\0';
		char *end;
		prev = strtoull(tmp, &end, 10);
		free(buf);
		if (end == tmp || (*end != '\n' && *end != '\0')) {
			log_warnx("%s: not an epoch number; refusing to guess", path);
			return RN_EPARSE;
		}
	} else if (rc != -ENOENT) {
		return rc;
	}
	char out[32];
	int n = snprintf(out, sizeof(out), "%" PRIu64 "\n", prev + 1);
	rc = rn_file_replace(path, out, (size_t)n, 0640);
	if (rc != RN_OK)
		return rc;
	*epoch = prev + 1;
	return RN_OK;
}

static void hdr_fill(struct feeds_pub *p, struct feeds_payload_hdr *h, int64_t ttl_ms)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->publisher, sizeof(h->publisher), "%s", p->name);
	h->epoch = p->epoch;
	h->seq = p->seq;
	h->time_ms = rn_time_now_ms();
	h->expires_ms = h->time_ms + ttl_ms;
	memcpy(h->digest, p->digest, 32);
}

/* Payload -> sealed envelope. */
static int seal(struct feeds_pub *p, const struct feeds_payload_hdr *h, unsigned field,
                const uint8_t *body, size_t blen, uint8_t **env, size_t *elen)
{
	uint8_t *pl = NULL;
	size_t pllen = 0;
	int rc = feeds_payload_build(h, field, body, blen, &pl, &pllen);
	if (rc != RN_OK)
		return rc;
	rc = feeds_envelope_seal(p->signer, pl, pllen, env, elen);
	free(pl);
	return rc;
}

/*
 * A message over bus.recv_max is still sent (a subscriber may allow more)
 * but counted and logged: one with the same limit drops it unread.
 */
static void check_size(struct feeds_pub *p, size_t len, const char *what)
{
	if (len <= p->confv.recv_max)
		return;
	rn_counter_add_shared(&p->n_oversize, 1);
	log_warnx_rl("publisher: a %s of %zu bytes exceeds bus.recv_max (%llu): subscribers "
	             "with that limit drop it; raise bus.recv_max on both sides",
	             what, len, (unsigned long long)p->confv.recv_max);
}

static void send_pub(struct feeds_pub *p, const uint8_t *env, size_t len)
{
	check_size(p, len, "feed message");
	int rv = nng_send(p->pub, (void *)env, len, 0);
	if (rv != 0) {
		rn_counter_inc(&p->n_send_err);
		log_warnx_rl("publisher: send: %s", nng_strerror(rv));
		return;
	}
	rn_counter_add(&p->bytes_sent, len);
}

/* Builds (or reuses) the snapshot envelope of the current seq. Locked. */
static int snapshot_locked(struct feeds_pub *p)
{
	if (p->snap_env != NULL && p->snap_seq == p->seq)
		return RN_OK;
	uint8_t *body = NULL, *env = NULL;
	size_t blen = 0, elen = 0;
	int rc = scoring_snapshot_encode(p->table, &body, &blen);
	if (rc != RN_OK)
		return rc;
	struct feeds_payload_hdr h;
	hdr_fill(p, &h, p->conf->snapshot_ttl_ms);
	rc = seal(p, &h, FEEDS_BODY_SNAPSHOT, body, blen, &env, &elen);
	free(body);
	if (rc != RN_OK)
		return rc;
	free(p->snap_env);
	p->snap_env = env;
	p->snap_len = elen;
	p->snap_seq = p->seq;
	return RN_OK;
}

static void hist_push(struct feeds_pub *p, uint64_t seq, uint8_t *env, size_t len)
{
	while (p->hcount > 0 &&
	       (p->hcount == p->hcap || p->hbytes + len > (size_t)p->conf->history_bytes)) {
		struct hist *old = &p->hist[p->hhead];
		p->hbytes -= old->len;
		free(old->env);
		old->env = NULL;
		p->hhead = (p->hhead + 1) % p->hcap;
		p->hcount--;
	}
	struct hist *e = &p->hist[(p->hhead + p->hcount) % p->hcap];
	e->seq = seq;
	memcpy(e->digest_after, p->digest, 32);
	e->env = env;
	e->len = len;
	p->hcount++;
	p->hbytes += len;
}

static void publish_state_gauges(struct feeds_pub *p)
{
	rn_gauge_set(&p->g_seq, (int64_t)p->seq);
	rn_gauge_set(&p->g_epoch, (int64_t)p->epoch);
	rn_gauge_set(&p->g_listed, (int64_t)(scoring_table_count(p->table) -
	                                     scoring_table_count_suppressed(p->table)));
}

int feeds_pub_update(struct feeds_pub *p, struct scoring_table *t, const struct scoring_delta *d)
{
	uint8_t want[32], after[32];
	struct scoring_delta *own = NULL;
	uint8_t *body = NULL, *env = NULL;
	size_t blen = 0, elen = 0;
	int rc;

	if (scoring_table_dry_run(t))
		return RN_ESTATE; /* dry-run output never reaches enforcement */
	scoring_table_digest(t, want);
	pthread_mutex_lock(&p->mu);
	if (d != NULL)
		scoring_digest_after(p->digest, d, after);
	if (d == NULL || memcmp(after, want, 32) != 0) {
		if (d != NULL)
			rn_counter_inc(&p->n_recomputed);
		rc = scoring_delta_diff(p->table, t, &own);
		if (rc != RN_OK)
			goto out;
		d = own;
	}
	if (scoring_delta_empty(d)) {
		/* Same listings; keep the newer table for its scores. */
		scoring_table_free(p->table);
		p->table = scoring_table_ref(t);
		rc = RN_OK;
		goto out;
	}
	rc = scoring_delta_encode(d, p->seq, p->digest, &body, &blen);
	if (rc != RN_OK)
		goto out;
	p->seq++;
	memcpy(p->digest, want, 32);
	struct feeds_payload_hdr h;
	hdr_fill(p, &h, p->conf->delta_ttl_ms);
	rc = seal(p, &h, FEEDS_BODY_DELTA, body, blen, &env, &elen);
	if (rc != RN_OK) {
		/* The state moved on without a message: subscribers will resync. */
		log_warnx("publisher: cannot sign delta %" PRIu64 ": %s", p->seq, rn_strerror(rc));
		goto swap;
	}
	send_pub(p, env, elen);
	rn_counter_inc(&p->n_delta);
	hist_push(p, p->seq, env, elen);
	env = NULL;
swap:
	scoring_table_free(p->table);
	p->table = scoring_table_ref(t);
	p->last_change_ms = rn_time_now_ms();
	publish_state_gauges(p);
out:
	pthread_mutex_unlock(&p->mu);
	free(body);
	free(env);
	scoring_delta_free(own);
	return rc;
}

static void heartbeat_locked(struct feeds_pub *p)
{
	uint8_t body[32];
	size_t blen;
	uint8_t *env;
	size_t elen;
	uint64_t listed = scoring_table_count(p->table) - scoring_table_count_suppressed(p->table);
	if (feeds_heartbeat_build(listed, (uint32_t)p->conf->heartbeat_ms, body, sizeof(body),
	                          &blen) != RN_OK)
		return;
	struct feeds_payload_hdr h;
	hdr_fill(p, &h, 3 * p->conf->heartbeat_ms);
	if (seal(p, &h, FEEDS_BODY_HEARTBEAT, body, blen, &env, &elen) != RN_OK)
		return;
	send_pub(p, env, elen);
	rn_counter_inc(&p->n_hb);
	free(env);
}

static void *timer_main(void *arg)
{
	struct feeds_pub *p = arg;
	int64_t next_hb = rn_time_mono_ms();
	int64_t next_snap = next_hb + p->conf->snapshot_interval_ms;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		int64_t now = rn_time_mono_ms();
		if (now >= next_hb) {
			heartbeat_locked(p);
			next_hb = now + p->conf->heartbeat_ms;
		}
		if (now >= next_snap) {
			if (snapshot_locked(p) == RN_OK) {
				send_pub(p, p->snap_env, p->snap_len);
				rn_counter_inc(&p->n_snap);
			}
			next_snap = now + p->conf->snapshot_interval_ms;
		}
		int64_t wait = (next_hb < next_snap ? next_hb : next_snap) - rn_time_mono_ms();
		if (wait > 0) {
			rn_cond_wait_ms(&p->cv, &p->mu, wait);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* A ResyncReply of already-sealed envelopes: field 2, repeated. */
static int reply_build(int status, uint8_t *const *envs, const size_t *lens, size_t n,
                       nng_msg **out)
{
	size_t total = status ? 2 : 0;
	for (size_t i = 0; i < n; i++)
		total += 1 + rn_varint_len(lens[i]) + lens[i];
	nng_msg *m;
	if (nng_msg_alloc(&m, total) != 0)
		return -ENOMEM;
	struct rn_wcur w;
	rn_wcur_init(&w, nng_msg_body(m), total);
	if (status) {
		rn_wcur_u8(&w, 0x08); /* field 1, varint */
		rn_wcur_u8(&w, (uint8_t)status);
	}
	for (size_t i = 0; i < n; i++) {
		rn_wcur_u8(&w, 0x12); /* field 2, length-delimited */
		rn_wcur_varint(&w, lens[i]);
		rn_wcur_bytes(&w, envs[i], lens[i]);
	}
	if (!rn_wcur_ok(&w) || w.len != total) {
		nng_msg_free(m);
		return RN_EINTERNAL;
	}
	*out = m;
	return RN_OK;
}

int feeds_pub_resync_decode(const uint8_t *buf, size_t len, const char *name,
                            struct feeds_pub_resync_req *out)
{
	struct rn_pb_budget bud;
	rn_pb_budget_init(&bud, 4096);
	Repnet__V1__ResyncRequest *r = repnet__v1__resync_request__unpack(&bud.alloc, len, buf);
	if (r == NULL)
		return RN_EPARSE;
	int rc = RN_OK;
	if (r->publisher == NULL)
		rc = RN_EPARSE;
	else if (strcmp(r->publisher, name) != 0)
		rc = RN_ENOTFOUND;
	if (rc == RN_OK) {
		out->epoch = r->epoch;
		out->have_seq = r->have_seq;
		out->has_digest = r->have_digest.len == 32;
		if (out->has_digest)
			memcpy(out->have_digest, r->have_digest.data, 32);
	}
	repnet__v1__resync_request__free_unpacked(r, &bud.alloc);
	return rc;
}

static void resync_answer(struct feeds_pub *p, const uint8_t *req, size_t len)
{
	nng_msg *reply = NULL;
	struct feeds_pub_resync_req rq;
	/* p->name is set at open and never changes, so it is read unlocked. */
	int rc = feeds_pub_resync_decode(req, len, p->name, &rq);
	if (rc != RN_OK) {
		rn_counter_inc(&p->n_resync_bad);
		if (reply_build(REPNET__V1__RESYNC_REPLY__STATUS__STATUS_UNKNOWN_PUBLISHER, NULL,
		                NULL, 0, &reply) == RN_OK &&
		    nng_sendmsg(p->rep, reply, 0) != 0)
			nng_msg_free(reply);
		return;
	}
	pthread_mutex_lock(&p->mu);
	/* Deltas when the history reaches back to have_seq with the same digest. */
	size_t first = SIZE_MAX;
	if (rq.epoch == p->epoch && rq.have_seq > 0 && rq.have_seq <= p->seq && rq.has_digest) {
		if (rq.have_seq == p->seq) {
			if (memcmp(rq.have_digest, p->digest, 32) == 0)
				first = p->hcount; /* up to date: nothing to send */
		} else {
			for (size_t i = 0; i < p->hcount; i++) {
				const struct hist *e = &p->hist[(p->hhead + i) % p->hcap];
				if (e->seq == rq.have_seq &&
				    memcmp(e->digest_after, rq.have_digest, 32) == 0) {
					first = i + 1;
					break;
				}
				if (e->seq == rq.have_seq + 1 && i == 0) {
					/* The oldest kept delta starts right after have_seq;
					 * its payload names the base digest, which the
					 * subscriber checks. */
					first = 0;
					break;
				}
			}
		}
	}
	size_t need = 0;
	if (first != SIZE_MAX)
		for (size_t i = first; i < p->hcount; i++)
			need += p->hist[(p->hhead + i) % p->hcap].len + 8;
	if (first != SIZE_MAX && need < (size_t)p->conf->recv_max / 2) {
		size_t n = p->hcount - first;
		uint8_t **envs = calloc(n ? n : 1, sizeof(*envs));
		size_t *lens = calloc(n ? n : 1, sizeof(*lens));
		if (envs == NULL || lens == NULL) {
			free(envs);
			free(lens);
			rc = reply_build(REPNET__V1__RESYNC_REPLY__STATUS__STATUS_BUSY, NULL, NULL,
			                 0, &reply);
			goto send;
		}
		for (size_t i = 0; i < n; i++) {
			const struct hist *e = &p->hist[(p->hhead + first + i) % p->hcap];
			envs[i] = e->env;
			lens[i] = e->len;
		}
		rc = reply_build(0, envs, lens, n, &reply);
		free(envs);
		free(lens);
		rn_counter_inc(&p->n_resync_delta);
	} else {
		rc = snapshot_locked(p);
		if (rc == RN_OK)
			rc = reply_build(0, &p->snap_env, &p->snap_len, 1, &reply);
		else
			rc = reply_build(REPNET__V1__RESYNC_REPLY__STATUS__STATUS_BUSY, NULL, NULL,
			                 0, &reply);
		rn_counter_inc(&p->n_resync_snap);
	}
send:
	pthread_mutex_unlock(&p->mu);
	if (rc == RN_OK)
		check_size(p, nng_msg_len(reply), "resync reply");
	if (rc == RN_OK && nng_sendmsg(p->rep, reply, 0) != 0)
		nng_msg_free(reply);
}

static void *resync_main(void *arg)
{
	struct feeds_pub *p = arg;
	int64_t recv_wait = -1;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		bool stop = p->stopping;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		nng_msg *m;
		feeds_bus_guard_sweep(p->rep_guard);
		/* Wake for the next sweep only; stop closes the socket. */
		int64_t wait = feeds_bus_guard_wait_ms(p->rep_guard, RECV_WAIT_MAX_MS);
		if (wait != recv_wait) {
			recv_wait = wait;
			nng_socket_set_ms(p->rep, NNG_OPT_RECVTIMEO, (nng_duration)wait);
		}
		int rv = nng_recvmsg(p->rep, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			log_warnx_rl("publisher: resync receive: %s", nng_strerror(rv));
			continue;
		}
		feeds_bus_guard_seen(p->rep_guard, m);
		resync_answer(p, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	return NULL;
}

static int pub_metrics(struct feeds_pub *p, struct rn_metrics *m)
{
	const char *hm = "Messages the publisher sent on the feed, by kind.";
	const char *hr = "Resync requests answered, by what was sent.";
	int rc = RN_OK;
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_published_total", hm, "kind=\"delta\"",
	                             &p->n_delta);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_published_total", hm, "kind=\"snapshot\"",
	                             &p->n_snap);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_published_total", hm, "kind=\"heartbeat\"",
	                             &p->n_hb);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_resyncs_served_total", hr,
	                             "sent=\"deltas\"", &p->n_resync_delta);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_resyncs_served_total", hr,
	                             "sent=\"snapshot\"", &p->n_resync_snap);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_resyncs_served_total", hr,
	                             "sent=\"refusal\"", &p->n_resync_bad);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_send_errors_total",
	                             "Feed messages the bus would not take.", NULL, &p->n_send_err);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_oversize_total",
	                             "Feed messages and resync replies larger than bus.recv_max, "
	                             "which subscribers with that limit drop unread.",
	                             NULL, &p->n_oversize);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_sent_bytes_total",
	                             "Bytes of feed messages published.", NULL, &p->bytes_sent);
	rc = rc ? rc
	        : rn_metrics_counter(m, p, "repnet_feed_deltas_recomputed_total",
	                             "Ticks whose delta the publisher had to compute itself.", NULL,
	                             &p->n_recomputed);
	rc = rc ? rc
	        : rn_metrics_gauge(m, p, "repnet_feed_seq", "The publisher's current sequence.",
	                           NULL, &p->g_seq);
	rc = rc ? rc
	        : rn_metrics_gauge(m, p, "repnet_feed_epoch", "The publisher's current epoch.",
	                           NULL, &p->g_epoch);
	rc = rc ? rc
	        : rn_metrics_gauge(m, p, "repnet_feed_listed",
	                           "Entries in the published blocklist.", NULL, &p->g_listed);
	return rc;
}

int feeds_pub_start(struct feeds_pub **out, const struct feeds_bus_conf *conf,
                    const struct feeds_pub_opts *o, struct scoring_table *initial)
{
	int rv, rc;
	struct feeds_pub *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->confv = *conf;
	p->conf = &p->confv;
	p->signer = o->signer;
	snprintf(p->name, sizeof(p->name), "%s", feeds_signer_name(o->signer));
	pthread_mutex_init(&p->mu, NULL);
	rn_cond_init(&p->cv);
	p->hcap = (size_t)conf->history;
	p->hist = calloc(p->hcap, sizeof(*p->hist));
	if (p->hist == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (initial != NULL) {
		if (scoring_table_dry_run(initial)) {
			rc = RN_ESTATE;
			goto fail;
		}
		p->table = scoring_table_ref(initial);
	} else if ((rc = scoring_table_empty(&p->table)) != RN_OK) {
		goto fail;
	}
	scoring_table_digest(p->table, p->digest);
	if ((rc = load_epoch(o->data_dir, &p->epoch)) != RN_OK) {
		log_warnx("publisher: epoch file in %s/feeds: %s", o->data_dir, rn_strerror(rc));
		goto fail;
	}
	p->seq = 1;
	if ((rv = nng_pub0_open(&p->pub)) != 0) {
		log_warnx("publisher: %s", nng_strerror(rv));
		rc = RN_EBUS;
		goto fail;
	}
	p->pub_open = true;
	if ((rv = nng_rep0_open(&p->rep)) != 0) {
		log_warnx("publisher: %s", nng_strerror(rv));
		rc = RN_EBUS;
		goto fail;
	}
	p->rep_open = true;
	nng_socket_set_ms(p->rep, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set_ms(p->rep, NNG_OPT_SENDTIMEO, 5000);
	struct feeds_bus_guard_conf pg = {.name = "feed",
	                                  .max_pipes = (size_t)conf->pub_max_conns,
	                                  .max_per_client = (size_t)conf->max_per_client};
	struct feeds_bus_guard_conf rg = {.name = "resync",
	                                  .max_pipes = (size_t)conf->resync_max_conns,
	                                  .max_per_client = (size_t)conf->max_per_client,
	                                  .idle_ms = conf->idle_ms};
	if ((rc = feeds_bus_setup(p->pub, conf, 4096)) != RN_OK ||
	    (rc = feeds_bus_setup(p->rep, conf, 4096)) != RN_OK ||
	    (rc = feeds_bus_guard_start(&p->pub_guard, p->pub, &pg, o->metrics)) != RN_OK ||
	    (rc = feeds_bus_guard_start(&p->rep_guard, p->rep, &rg, o->metrics)) != RN_OK ||
	    (rc = feeds_bus_listen(p->pub, conf->pub_listen, conf, &p->pub_port)) != RN_OK ||
	    (rc = feeds_bus_listen(p->rep, conf->resync_listen, conf, &p->rep_port)) != RN_OK)
		goto fail;
	if (feeds_bus_guard_listener(p->pub_guard, p->pub_port) != RN_OK ||
	    feeds_bus_guard_listener(p->rep_guard, p->rep_port) != RN_OK)
		log_info("publisher: %s or %s cannot be paused", conf->pub_listen,
		         conf->resync_listen);
	if (o->metrics != NULL) {
		if ((rc = pub_metrics(p, o->metrics)) != RN_OK ||
		    (rc = feeds_bus_tls_metrics(o->metrics)) != RN_OK)
			goto fail;
		p->metrics = o->metrics;
	}
	publish_state_gauges(p);
	/* The epoch opens with a snapshot of the state at seq 1. */
	pthread_mutex_lock(&p->mu);
	if (snapshot_locked(p) == RN_OK) {
		send_pub(p, p->snap_env, p->snap_len);
		rn_counter_inc(&p->n_snap);
	}
	pthread_mutex_unlock(&p->mu);
	if (pthread_create(&p->timer, NULL, timer_main, p) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	p->timer_started = true;
	if (pthread_create(&p->resync, NULL, resync_main, p) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	p->resync_started = true;
	log_info("publisher %s: epoch %" PRIu64 ", feed on %s, resync on %s", p->name, p->epoch,
	         conf->pub_listen, conf->resync_listen);
	*out = p;
	return RN_OK;
fail:
	feeds_pub_stop(p);
	return rc;
}

unsigned feeds_pub_port(const struct feeds_pub *p)
{
	return p->pub_port;
}

void feeds_pub_pause(struct feeds_pub *p, bool pause)
{
	if (p == NULL)
		return;
	feeds_bus_guard_pause(p->pub_guard, pause);
	feeds_bus_guard_pause(p->rep_guard, pause);
}

unsigned feeds_pub_resync_port(const struct feeds_pub *p)
{
	return p->rep_port;
}

void feeds_pub_status(struct feeds_pub *p, struct feeds_feed_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->mu);
	snprintf(st->publisher, sizeof(st->publisher), "%s", p->name);
	st->epoch = p->epoch;
	st->seq = p->seq;
	memcpy(st->digest, p->digest, 32);
	st->listed = scoring_table_count(p->table) - scoring_table_count_suppressed(p->table);
	st->last_change_ms = p->last_change_ms;
	st->in_sync = true;
	pthread_mutex_unlock(&p->mu);
}

void feeds_pub_stop(struct feeds_pub *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->timer_started)
		pthread_join(p->timer, NULL);
	feeds_bus_guard_unlisten(p->pub_guard);
	feeds_bus_guard_unlisten(p->rep_guard);
	if (p->rep_open)
		nng_close(p->rep);
	if (p->resync_started)
		pthread_join(p->resync, NULL);
	if (p->pub_open)
		nng_close(p->pub);
	/* After nng_close(), which waits for the callbacks. */
	feeds_bus_guard_free(p->pub_guard);
	feeds_bus_guard_free(p->rep_guard);
	if (p->metrics != NULL)
		rn_metrics_unregister(p->metrics, p);
	for (size_t i = 0; i < p->hcount; i++)
		free(p->hist[(p->hhead + i) % p->hcap].env);
	free(p->hist);
	free(p->snap_env);
	scoring_table_free(p->table);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
