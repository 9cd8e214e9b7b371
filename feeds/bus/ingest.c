/*
 * ingest.c: observation batches from collectors to the scorer, over nng
 * REQ/REP with acknowledgements, signed by the collectors.
 *
 * Design notes.
 *
 * Signing. Every request is a repnet.v1.Envelope, exactly as on the feed
 * (sign.c): version 1, the 8-byte id of the collector's ed25519 key, the
 * payload, and the signature over the payload's exact bytes. The payload
 * is one packed ObservationBatch. The scorer opens the envelope before it
 * reads anything inside: the key id must be in its keyring of collectors
 * (feeds.bus.collectors, plus its own key when it collects too) and not
 * revoked, and the signature must verify; only then is the batch decoded,
 * and the batch's collector field is overwritten with the keyring's name
 * for that key, so that what the scorer journals names the collector who
 * signed, never one a batch claims. A refused request is counted by
 * reason (unsigned, unknown_key, revoked_key, bad_signature, malformed),
 * logged with the peer's address and the key id (rate-limited) and kept as
 * "the last refusal" for /status. "unsigned" is a request that is not an
 * envelope but begins as every ObservationBatch a repnet collector packs
 * does (field 1, length-delimited: the collector id), i.e. a collector
 * older than this scorer; nothing beyond that first byte is read.
 *
 * Acknowledgements are not signed. What an ack can do is make a collector
 * drop a batch (OK, REJECTED) or keep it (RETRY, UNAUTHENTICATED). A forged
 * ack needs a position on the path, and there dropping the request does
 * the same harm without any forgery; what the scorer takes, which is
 * what could list an address, is what the signatures protect. Signing
 * acks would add a scorer key every collector must be given, for no gain
 * TLS does not give already: off loopback the bus is mutual TLS. An ack
 * still names its (collector_id, batch_seq), and one that does not is no
 * answer. The answer to a refused signature cannot name the batch (it was
 * never read): it is STATUS_UNAUTHENTICATED with no collector id, and the
 * collector keeps the batch and tries again, backing off, so that batches
 * made before an operator adds the key are delivered once it is added.
 *
 * Client (collector side). Sources call feeds_ingest_client_submit(),
 * which copies observations into a ring preallocated at start (no
 * allocation per observation) under one mutex. One sender thread owns the
 * REQ socket. It takes up to ingest_batch observations from the head of
 * the ring WITHOUT removing them, packs them once with the next
 * batch_seq (halving the count until the sealed envelope fits in
 * bus.recv_max, the limit the scorer is assumed to share), seals them,
 * and sends that exact byte string until a BatchAck for that
 * (collector_id, batch_seq) arrives. Only then are the observations
 * removed and the acknowledged position advanced. An answer for another
 * batch, or with a status the schema does not name, is not an answer: the
 * batch is sent again. So at most one batch is in flight, batches are
 * acknowledged in order, and a crash of the scorer or a lost reply costs a
 * resend, never an observation. The collector_id is random per process,
 * so batch_seq never needs to survive a restart.
 *
 * Backoff. Every attempt that does not end the batch (no answer in
 * ingest_timeout, RETRY, UNAUTHENTICATED, an answer for another batch)
 * waits before the next one: bus.reconnect_min, doubling up to
 * bus.reconnect_max, half of it random so that collectors do not come
 * back in step, reset by the next acknowledgement. The wait is cut short
 * only by the stop deadline, never by new observations, so neither a busy
 * collector nor a stopping one (repnet import, whose whole life is the
 * stop grace) resends in a loop.
 *
 * Server (scorer side). One thread owns the REP socket: receive, open the
 * envelope, decode under a budget (rn_obs_batch_unpack), deduplicate, hand
 * to the scorer's handler, answer. Because each collector has one batch in
 * flight and sequences only grow, "seq <= last acknowledged seq of this
 * collector" identifies a resend, which is acknowledged again without
 * being ingested. The table of collectors seen is bounded (SEEN_MAX, the
 * least recently seen is evicted and counted). The keyring may be
 * replaced while the server runs (a reload): it is read and swapped under
 * kmu, and the name of the signer is copied out under it.
 * The listener's connections are capped, and closed after
 * bus.idle_timeout without a message, by a guard (guard.c) that this
 * thread tells where each message came from; the guard passes nng's
 * pipe removals on to the watch (nng keeps one callback per event).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/guard.h"
#include "feeds/bus/ingest.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/socket.h"
#include "feeds/bus/spill.h"

#define SEEN_MAX      4096
#define MAX_BATCH_OBS 65536
#define POLL_MS       10000 /* longest receive wait: the guard names the next sweep */
#define NAMES_MAX     256   /* collectors with their own counters and status line */

/* ---- server ---------------------------------------------------------- */

struct seen {
	uint8_t id[16];
	uint64_t seq;
	int64_t last_ms;
	bool used;
};

/* A collector by the name its key has in the keyring. */
struct named {
	char name[RN_COLLECTOR_NAME_MAX];
	struct rn_counter batches, obs;
	_Atomic int64_t last_ms; /* wall clock */
};

static const char *const refusal_names[FEEDS_INGEST_REFUSAL_COUNT] = {
        "unsigned", "unknown_key", "revoked_key", "bad_signature", "malformed"};

const char *feeds_ingest_refusal_name(int r)
{
	return r >= 0 && r < FEEDS_INGEST_REFUSAL_COUNT ? refusal_names[r] : "unknown";
}

struct feeds_ingest_server {
	nng_socket sock;
	struct feeds_bus_guard *guard; /* caps and the silence deadline */
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
	unsigned port;
	feeds_ingest_fn fn;
	void *arg;
	struct rn_metrics *metrics;
	struct feeds_bus_watch *watch;
	struct rn_obs *obs;
	struct seen *seen;
	struct rn_counter b_accepted, b_duplicate, b_refused, b_retry;
	struct rn_counter obs_accepted, decode_errors, evicted;
	struct rn_obs_rejects rej; /* written by the thread, read at scrape */
	struct rn_counter rej_c[6];
	/* Accepted observations by kind; a kind's counter is registered when first seen. */
	struct rn_counter by_kind[RN_KIND_MAX];
	bool kind_seen[RN_KIND_MAX];

	pthread_mutex_t kmu; /* the keyring pointer, and its use */
	const struct feeds_keyring *ring;

	struct rn_counter refused[FEEDS_INGEST_REFUSAL_COUNT];
	pthread_mutex_t smu; /* the last refusal and the names table, for status */
	int last_reason;
	char last_peer[64];
	char last_key[2 * FEEDS_KEY_ID_LEN + 1];
	int64_t last_ms;
	struct named *names; /* NAMES_MAX, registered as first seen */
	size_t nnames;
};

static void count_kinds(struct feeds_ingest_server *s, const struct rn_obs *obs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned k = obs[i].kind;
		if (k >= RN_KIND_MAX)
			continue;
		if (!s->kind_seen[k] && s->metrics != NULL) {
			char l[64];
			snprintf(l, sizeof(l), "kind=\"%s\"", rn_kind_name(k));
			rn_metrics_counter(
			        s->metrics, s, "repnet_ingest_observations_by_kind_total",
			        "Observations the scorer accepted, by kind (a kind appears "
			        "once seen).",
			        l, &s->by_kind[k]);
			s->kind_seen[k] = true;
		}
		rn_counter_add(&s->by_kind[k], 1);
	}
}

/* Counts an accepted batch under its collector's name (the first NAMES_MAX names). */
static void count_named(struct feeds_ingest_server *s, const char *name, size_t n)
{
	struct named *e = NULL;
	for (size_t i = 0; i < s->nnames && e == NULL; i++)
		if (strcmp(s->names[i].name, name) == 0)
			e = &s->names[i];
	if (e == NULL && s->nnames < NAMES_MAX) {
		pthread_mutex_lock(&s->smu);
		e = &s->names[s->nnames];
		snprintf(e->name, sizeof(e->name), "%s", name);
		s->nnames++;
		pthread_mutex_unlock(&s->smu);
		if (s->metrics != NULL) {
			char l[96];
			snprintf(l, sizeof(l), "collector=\"%s\"", name);
			rn_metrics_counter(
			        s->metrics, s, "repnet_ingest_collector_batches_total",
			        "Batches the scorer accepted, by the collector whose key "
			        "signed them.",
			        l, &e->batches);
			rn_metrics_counter(
			        s->metrics, s, "repnet_ingest_collector_observations_total",
			        "Observations the scorer accepted, by the collector whose "
			        "key signed them.",
			        l, &e->obs);
		}
	}
	if (e == NULL)
		return;
	rn_counter_inc(&e->batches);
	rn_counter_add(&e->obs, n);
	atomic_store(&e->last_ms, rn_time_now_ms());
}

static struct seen *seen_find(struct feeds_ingest_server *s, const uint8_t id[16], bool create,
                              int64_t now)
{
	struct seen *free_slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < SEEN_MAX; i++) {
		struct seen *e = &s->seen[i];
		if (!e->used) {
			if (free_slot == NULL)
				free_slot = e;
			continue;
		}
		if (memcmp(e->id, id, 16) == 0)
			return e;
		if (oldest == NULL || e->last_ms < oldest->last_ms)
			oldest = e;
	}
	if (!create)
		return NULL;
	struct seen *e = free_slot;
	if (e == NULL) {
		e = oldest;
		rn_counter_inc(&s->evicted);
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, 16);
	e->used = true;
	e->last_ms = now;
	return e;
}

static void send_ack(struct feeds_ingest_server *s, const struct rn_obs_batch_meta *meta,
                     Repnet__V1__BatchAck__Status st, uint32_t accepted)
{
	Repnet__V1__BatchAck a = REPNET__V1__BATCH_ACK__INIT;
	uint8_t buf[64];
	if (meta != NULL) {
		a.collector_id.data = (uint8_t *)meta->collector_id;
		a.collector_id.len = sizeof(meta->collector_id);
		a.batch_seq = meta->batch_seq;
	}
	a.status = st;
	a.accepted = accepted;
	size_t n = repnet__v1__batch_ack__get_packed_size(&a);
	if (n > sizeof(buf))
		return;
	repnet__v1__batch_ack__pack(&a, buf);
	int rv = nng_send(s->sock, buf, n, 0);
	if (rv != 0)
		log_warnx_rl("ingest: cannot answer a batch: %s", nng_strerror(rv));
}

static void sync_rejects(struct feeds_ingest_server *s)
{
	const uint64_t v[6] = {s->rej.bad_ip,    s->rej.bad_prefix,   s->rej.bad_kind,
	                       s->rej.bad_count, s->rej.bad_evidence, s->rej.bad_source};
	for (int i = 0; i < 6; i++)
		atomic_store_explicit(&s->rej_c[i].v, v[i], memory_order_relaxed);
}

/* A request whose envelope did not open: counted, logged, remembered, answered. */
static void refuse(struct feeds_ingest_server *s, nng_msg *msg, int rc, bool revoked)
{
	const uint8_t *buf = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	int why;
	if (rc == RN_EKEY)
		why = revoked ? FEEDS_INGEST_REVOKED_KEY : FEEDS_INGEST_UNKNOWN_KEY;
	else if (rc == RN_ESIG)
		why = FEEDS_INGEST_BAD_SIGNATURE;
	else if (len > 0 && buf[0] == 0x0a) /* field 1, bytes: a bare ObservationBatch */
		why = FEEDS_INGEST_UNSIGNED;
	else
		why = FEEDS_INGEST_MALFORMED;
	char peer[64], key[2 * FEEDS_KEY_ID_LEN + 1] = "-";
	uint8_t id[FEEDS_KEY_ID_LEN];
	feeds_bus_pipe_peer(nng_msg_get_pipe(msg), peer, sizeof(peer));
	if (feeds_envelope_key_id(buf, len, id) == RN_OK)
		sodium_bin2hex(key, sizeof(key), id, sizeof(id));
	rn_counter_add_shared(&s->refused[why], 1);
	pthread_mutex_lock(&s->smu);
	s->last_reason = why;
	snprintf(s->last_peer, sizeof(s->last_peer), "%s", peer);
	snprintf(s->last_key, sizeof(s->last_key), "%s", key);
	s->last_ms = rn_time_now_ms();
	pthread_mutex_unlock(&s->smu);
	switch (why) {
	case FEEDS_INGEST_UNKNOWN_KEY:
		log_warnx_rl("ingest: refused a batch from %s: key %s is not in "
		             "feeds.bus.collectors",
		             peer, key);
		break;
	case FEEDS_INGEST_REVOKED_KEY:
		log_warnx_rl("ingest: refused a batch from %s: key %s is revoked", peer, key);
		break;
	case FEEDS_INGEST_BAD_SIGNATURE:
		log_warnx_rl("ingest: refused a batch from %s: the signature of key %s does not "
		             "verify",
		             peer, key);
		break;
	case FEEDS_INGEST_UNSIGNED:
		log_warnx_rl("ingest: refused a batch from %s: not signed (a collector older "
		             "than this scorer?)",
		             peer);
		break;
	default:
		log_warnx_rl("ingest: refused a request of %zu bytes from %s: not an envelope "
		             "(%s)",
		             len, peer, rn_strerror(rc));
		break;
	}
	/* Nothing was read, so the answer names no batch. */
	send_ack(s, NULL,
	         why == FEEDS_INGEST_MALFORMED
	                 ? REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED
	                 : REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED,
	         0);
}

static void server_handle(struct feeds_ingest_server *s, nng_msg *msg)
{
	struct rn_obs_batch_meta meta;
	const uint8_t *pl = NULL;
	const char *owner = NULL;
	char name[RN_COLLECTOR_NAME_MAX];
	size_t plen = 0, n = 0;
	bool revoked = false;

	pthread_mutex_lock(&s->kmu);
	int rc = feeds_envelope_open(s->ring, nng_msg_body(msg), nng_msg_len(msg), &pl, &plen,
	                             &owner, &revoked);
	if (rc == RN_OK)
		snprintf(name, sizeof(name), "%s", owner);
	pthread_mutex_unlock(&s->kmu);
	if (rc != RN_OK) {
		refuse(s, msg, rc, revoked);
		return;
	}
	rc = rn_obs_batch_unpack(pl, plen, MAX_BATCH_OBS, &meta, s->obs, &n, &s->rej);
	sync_rejects(s);
	if (rc != RN_OK) {
		/* Signed by a trusted key, yet not a batch: refused for good. */
		rn_counter_inc(&s->decode_errors);
		rn_counter_inc(&s->b_refused);
		log_warnx_rl("ingest: undecodable batch of %zu bytes from collector %s: %s", plen,
		             name, rn_strerror(rc));
		send_ack(s, NULL, REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED, 0);
		return;
	}
	/* The name the keyring gives the signer, whatever the batch said. */
	memcpy(meta.collector, name, sizeof(meta.collector));
	int64_t now = rn_time_mono_ms();
	struct seen *e = seen_find(s, meta.collector_id, true, now);
	e->last_ms = now;
	if (e->seq != 0 && meta.batch_seq <= e->seq) {
		rn_counter_inc(&s->b_duplicate);
		send_ack(s, &meta, REPNET__V1__BATCH_ACK__STATUS__STATUS_OK, 0);
		return;
	}
	rc = s->fn(s->arg, &meta, s->obs, n);
	if (rc == RN_OK) {
		e->seq = meta.batch_seq;
		rn_counter_inc(&s->b_accepted);
		rn_counter_add(&s->obs_accepted, n);
		count_kinds(s, s->obs, n);
		count_named(s, name, n);
		send_ack(s, &meta, REPNET__V1__BATCH_ACK__STATUS__STATUS_OK, (uint32_t)n);
	} else if (rc == RN_EPARSE || rc == RN_ELIMIT) {
		e->seq = meta.batch_seq;
		rn_counter_inc(&s->b_refused);
		send_ack(s, &meta, REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED, 0);
	} else {
		rn_counter_inc(&s->b_retry);
		log_warnx_rl("ingest: scorer could not take a batch, collector will retry: %s",
		             rn_strerror(rc));
		send_ack(s, &meta, REPNET__V1__BATCH_ACK__STATUS__STATUS_RETRY, 0);
	}
}

static void *server_main(void *arg)
{
	struct feeds_ingest_server *s = arg;
	int64_t recv_wait = POLL_MS;
	while (!atomic_load(&s->stop)) {
		nng_msg *msg;
		feeds_bus_guard_sweep(s->guard);
		/* Wake for the next sweep only; stop closes the socket. */
		int64_t wait = feeds_bus_guard_wait_ms(s->guard, POLL_MS);
		if (wait != recv_wait) {
			recv_wait = wait;
			nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, (nng_duration)wait);
		}
		int rv = nng_recvmsg(s->sock, &msg, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			log_warnx_rl("ingest: receive: %s", nng_strerror(rv));
			continue;
		}
		feeds_bus_guard_seen(s->guard, msg);
		feeds_bus_watch_rx(s->watch, msg);
		server_handle(s, msg);
		nng_msg_free(msg);
	}
	return NULL;
}

static int server_metrics(struct feeds_ingest_server *s, struct rn_metrics *m)
{
	static const char *const reasons[6] = {"bad_ip",    "bad_prefix",   "bad_kind",
	                                       "bad_count", "bad_evidence", "bad_source"};
	const char *hb = "Observation batches received by the scorer, by result.";
	int rc = RN_OK;
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_batches_total", hb, "result=\"accepted\"",
	                             &s->b_accepted);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_batches_total", hb,
	                             "result=\"duplicate\"", &s->b_duplicate);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_batches_total", hb, "result=\"refused\"",
	                             &s->b_refused);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_batches_total", hb, "result=\"retry\"",
	                             &s->b_retry);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_observations_total",
	                             "Observations the scorer accepted from collectors.", NULL,
	                             &s->obs_accepted);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_decode_errors_total",
	                             "Signed batches that did not decode (malformed or over the "
	                             "limits).",
	                             NULL, &s->decode_errors);
	rc = rc ? rc
	        : rn_metrics_counter(m, s, "repnet_ingest_collectors_evicted_total",
	                             "Collectors dropped from the duplicate-detection table.", NULL,
	                             &s->evicted);
	for (int i = 0; i < 6 && rc == RN_OK; i++) {
		char l[48];
		snprintf(l, sizeof(l), "reason=\"%s\"", reasons[i]);
		rc = rn_metrics_counter(m, s, "repnet_ingest_observations_refused_total",
		                        "Observations refused inside accepted batches, by reason.",
		                        l, &s->rej_c[i]);
	}
	for (int i = 0; i < FEEDS_INGEST_REFUSAL_COUNT && rc == RN_OK; i++) {
		char l[48];
		snprintf(l, sizeof(l), "reason=\"%s\"", refusal_names[i]);
		rc = rn_metrics_counter(m, s, "repnet_ingest_refused_total",
		                        "Requests refused before anything in them was read: not "
		                        "signed, or not by a collector key the scorer trusts.",
		                        l, &s->refused[i]);
	}
	return rc;
}

static void server_free(struct feeds_ingest_server *s)
{
	if (s->metrics != NULL)
		rn_metrics_unregister(s->metrics, s);
	feeds_bus_guard_free(s->guard);
	feeds_bus_watch_free(s->watch);
	pthread_mutex_destroy(&s->kmu);
	pthread_mutex_destroy(&s->smu);
	free(s->names);
	free(s->seen);
	free(s->obs);
	free(s);
}

int feeds_ingest_server_start(struct feeds_ingest_server **out, const struct feeds_bus_conf *conf,
                              struct rn_metrics *m, const struct feeds_keyring *collectors,
                              feeds_ingest_fn fn, void *arg)
{
	int rv, rc;
	if (collectors == NULL)
		return RN_ECONF;
	struct feeds_ingest_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->fn = fn;
	s->arg = arg;
	s->ring = collectors;
	pthread_mutex_init(&s->kmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	s->obs = calloc(MAX_BATCH_OBS, sizeof(*s->obs));
	s->seen = calloc(SEEN_MAX, sizeof(*s->seen));
	s->names = calloc(NAMES_MAX, sizeof(*s->names));
	if (s->obs == NULL || s->seen == NULL || s->names == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		log_warnx("ingest: %s", nng_strerror(rv));
		server_free(s);
		return RN_EBUS;
	}
	if ((rc = feeds_bus_setup(s->sock, conf, (size_t)conf->recv_max)) != RN_OK ||
	    (rc = feeds_bus_watch_start(&s->watch, s->sock, "ingest", conf->recv_max, m)) != RN_OK)
		goto fail;
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, POLL_MS);
	nng_socket_set_ms(s->sock, NNG_OPT_SENDTIMEO, 1000);
	struct feeds_bus_guard_conf gc = {.name = "ingest",
	                                  .max_pipes = (size_t)conf->ingest_max_conns,
	                                  .max_per_client = (size_t)conf->max_per_client,
	                                  .idle_ms = conf->idle_ms,
	                                  .rem_chain = feeds_bus_watch_pipe_cb,
	                                  .rem_chain_arg = s->watch};
	if ((rc = feeds_bus_guard_start(&s->guard, s->sock, &gc, m)) != RN_OK ||
	    (rc = feeds_bus_listen(s->sock, conf->ingest_listen, conf, &s->port)) != RN_OK)
		goto fail;
	if (feeds_bus_guard_listener(s->guard, s->port) != RN_OK)
		log_info("ingest: %s cannot be paused", conf->ingest_listen);
	if (m != NULL) {
		if ((rc = feeds_bus_tls_metrics(m)) != RN_OK)
			goto fail;
		s->metrics = m;
		if ((rc = server_metrics(s, m)) != RN_OK)
			goto fail;
	}
	if (pthread_create(&s->thr, NULL, server_main, s) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	s->thr_started = true;
	*out = s;
	return RN_OK;
fail:
	feeds_bus_guard_unlisten(s->guard);
	feeds_bus_watch_closing(s->watch);
	nng_close(s->sock);
	server_free(s); /* after nng_close(), which waits for the pipe callbacks */
	return rc;
}

void feeds_ingest_server_pause(struct feeds_ingest_server *s, bool pause)
{
	if (s != NULL)
		feeds_bus_guard_pause(s->guard, pause);
}

unsigned feeds_ingest_server_port(const struct feeds_ingest_server *s)
{
	return s->port;
}

void feeds_ingest_server_keyring(struct feeds_ingest_server *s, const struct feeds_keyring *k)
{
	pthread_mutex_lock(&s->kmu);
	s->ring = k;
	pthread_mutex_unlock(&s->kmu);
}

void feeds_ingest_server_quiesce(struct feeds_ingest_server *s)
{
	if (s != NULL)
		feeds_bus_watch_closing(s->watch);
}

void feeds_ingest_server_status(struct feeds_ingest_server *s, struct feeds_ingest_status *st)
{
	memset(st, 0, sizeof(*st));
	st->batches = rn_counter_get(&s->b_accepted);
	st->observations = rn_counter_get(&s->obs_accepted);
	for (int i = 0; i < FEEDS_INGEST_REFUSAL_COUNT; i++)
		st->refused[i] = rn_counter_get(&s->refused[i]);
	st->closed_before_message = feeds_bus_watch_count(s->watch);
	pthread_mutex_lock(&s->smu);
	st->last_reason = s->last_reason;
	snprintf(st->last_peer, sizeof(st->last_peer), "%s", s->last_peer);
	snprintf(st->last_key_id, sizeof(st->last_key_id), "%s", s->last_key);
	st->last_ms = s->last_ms;
	pthread_mutex_unlock(&s->smu);
}

size_t feeds_ingest_server_collectors(struct feeds_ingest_server *s,
                                      struct feeds_ingest_collector_status *v, size_t max)
{
	pthread_mutex_lock(&s->smu);
	size_t n = s->nnames < max ? s->nnames : max;
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "%s", s->names[i].name);
		v[i].batches = rn_counter_get(&s->names[i].batches);
		v[i].observations = rn_counter_get(&s->names[i].obs);
		v[i].last_ms = atomic_load(&s->names[i].last_ms);
	}
	pthread_mutex_unlock(&s->smu);
	return n;
}

void feeds_ingest_server_stop(struct feeds_ingest_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, true);
	feeds_bus_guard_unlisten(s->guard);
	feeds_bus_watch_closing(s->watch);
	/* Closing the socket wakes the thread from its receive, as the publisher's. */
	nng_close(s->sock);
	if (s->thr_started)
		pthread_join(s->thr, NULL);
	server_free(s); /* after nng_close(), which waits for the pipe callbacks */
}

/* ---- client ---------------------------------------------------------- */

struct feeds_ingest_client {
	nng_socket sock;
	pthread_t thr;
	bool thr_started;
	struct rn_metrics *metrics;
	const struct feeds_signer *signer;
	char key_hex[2 * FEEDS_KEY_ID_LEN + 1];
	char url[512];

	pthread_mutex_t mu;
	pthread_cond_t cv_items; /* signalled when observations arrive or on stop */
	pthread_cond_t cv_room;  /* signalled when observations leave the ring */
	pthread_cond_t cv_stop;  /* signalled on stop: ends a backoff early */
	struct rn_obs *ring;
	size_t cap, head, count;
	uint64_t pos_taken;
	_Atomic uint64_t pos_acked;
	bool stopping;
	int64_t deadline_ms;

	size_t batch;
	uint64_t recv_max; /* what the scorer is assumed to accept (bus.recv_max) */
	int64_t flush_ms, timeout_ms, block_ms, backoff_min_ms, backoff_max_ms;
	struct rn_obs *scratch;
	struct rn_obs_batch_meta meta;

	struct rn_counter taken, dropped, b_acked, b_refused, b_unauth, retries, obs_acked,
	        obs_refused, splits;
	struct rn_counter lost;
	struct rn_gauge depth;
	_Atomic int pipes;           /* connections to the scorer that are up */
	_Atomic int64_t last_ack_ms; /* wall clock of the last batch the scorer took */

	/* The durable queue (spill.c); NULL: memory only. Under mu. */
	struct spill *spill;
	uint64_t spill_max;
	pthread_t wthr; /* the writer: ring -> spill; the sender (thr) sends from the spill */
	bool wthr_started;
	bool writer_done;
	pthread_cond_t cv_spill; /* a batch in the spill, or room in it */
	struct pmark {
		uint64_t at; /* pos_taken when marked */
		uint64_t
		        from; /* the first observation of its lines not yet marked; UINT64_MAX: none */
		char key[SPILL_KEY_MAX];
		uint16_t len;
		uint8_t pos[SPILL_POS_MAX];
	} * marks;
	size_t mhead, mn;
	/* Sources whose observations past their last position wait in the ring. */
	struct hold {
		char key[SPILL_KEY_MAX];
		uint64_t from; /* position of the first observation not yet marked; 0: none */
	} holds[SPILL_KEYS];
	size_t nholds;
	bool unblocked, poisoned, full_noted;
	int64_t compact_ms;
	struct rn_counter s_spilled, s_replayed, s_full, marks_dropped;
	struct rn_gauge g_spill_bytes, g_ack_lag;
};

#define MARKQ 64 /* positions waiting for the writer */

size_t feeds_ingest_client_submit(struct feeds_ingest_client *c, const struct rn_obs *obs, size_t n,
                                  uint64_t *pos)
{
	size_t done = 0;
	pthread_mutex_lock(&c->mu);
	bool waited = false;
	while (done < n) {
		if (c->stopping)
			break;
		if (c->count == c->cap) {
			if (c->spill != NULL && !c->unblocked) {
				/* Durable: the source stops reading until there is room. */
				pthread_cond_wait(&c->cv_room, &c->mu);
				continue;
			}
			if (waited || c->block_ms == 0)
				break;
			int64_t deadline = rn_time_mono_ms() + c->block_ms;
			while (c->count == c->cap && !c->stopping)
				if (rn_cond_wait_until(&c->cv_room, &c->mu, deadline) == ETIMEDOUT)
					break;
			waited = true;
			continue;
		}
		size_t tail = (c->head + c->count) % c->cap;
		size_t room = c->cap - c->count;
		size_t run = c->cap - tail; /* contiguous slots before the wrap */
		size_t k = n - done;
		if (k > room)
			k = room;
		if (k > run)
			k = run;
		memcpy(&c->ring[tail], &obs[done], k * sizeof(*obs));
		c->count += k;
		c->pos_taken += k;
		done += k;
	}
	if (done > 0)
		pthread_cond_signal(&c->cv_items);
	if (pos != NULL)
		*pos = c->pos_taken;
	if (done < n)
		c->poisoned = true; /* positions past the dropped lines must not be saved */
	rn_gauge_set(&c->depth, (int64_t)c->count);
	pthread_mutex_unlock(&c->mu);
	rn_counter_add_shared(&c->taken, done);
	if (done < n) {
		rn_counter_add_shared(&c->dropped, n - done);
		log_warnx_rl("ingest: queue full, %zu observations dropped", n - done);
	}
	return done;
}

uint64_t feeds_ingest_client_acked(struct feeds_ingest_client *c)
{
	return atomic_load(&c->pos_acked);
}

size_t feeds_ingest_client_flush(struct feeds_ingest_client *c, int64_t timeout_ms)
{
	int64_t deadline = rn_time_mono_ms() + timeout_ms;
	pthread_mutex_lock(&c->mu);
	while (c->count > 0 || (c->spill != NULL && spill_batches(c->spill) > 0))
		if (rn_cond_wait_until(&c->cv_room, &c->mu, deadline) == ETIMEDOUT)
			break;
	size_t left = c->count + (c->spill != NULL ? (size_t)spill_observations(c->spill) : 0);
	pthread_mutex_unlock(&c->mu);
	return left;
}

void feeds_ingest_client_tally(struct feeds_ingest_client *c, struct feeds_ingest_tally *t)
{
	t->acked = rn_counter_get(&c->obs_acked);
	t->refused = rn_counter_get(&c->obs_refused);
	t->unauthenticated = rn_counter_get(&c->b_unauth);
	t->retries = rn_counter_get(&c->retries);
	t->connected = atomic_load(&c->pipes) > 0;
	t->last_ack_ms = atomic_load(&c->last_ack_ms);
	pthread_mutex_lock(&c->mu);
	t->queued = c->count + (c->spill != NULL ? (size_t)spill_observations(c->spill) : 0);
	pthread_mutex_unlock(&c->mu);
	snprintf(t->url, sizeof(t->url), "%s", c->url);
}

/* Counts the connections up, for the status's "connected" (nng's threads). */
static void client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct feeds_ingest_client *c = arg;
	(void)p;
	atomic_fetch_add(&c->pipes, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

int feeds_ingest_ack_decode(const uint8_t *buf, size_t len, uint64_t batch_seq,
                            const uint8_t *collector_id, int *status, uint32_t *accepted)
{
	struct rn_pb_budget b;
	rn_pb_budget_init(&b, 4096);
	Repnet__V1__BatchAck *a = repnet__v1__batch_ack__unpack(&b.alloc, len, buf);
	if (a == NULL)
		return RN_EPARSE;
	/* An open enum: any int32 decodes. Only the four statuses mean something;
	 * another one (a negative one would read as "stopped" to the sender) is
	 * not an answer, so the batch is resent rather than dropped. */
	int rc = RN_ESTATE;
	bool named = a->batch_seq == batch_seq && a->collector_id.len == 16 &&
	             memcmp(a->collector_id.data, collector_id, 16) == 0;
	if (a->status != REPNET__V1__BATCH_ACK__STATUS__STATUS_OK &&
	    a->status != REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED &&
	    a->status != REPNET__V1__BATCH_ACK__STATUS__STATUS_RETRY &&
	    a->status != REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED)
		rc = RN_EPARSE;
	else if (named || (a->status == REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED &&
	                   a->collector_id.len == 0 && a->batch_seq == 0)) {
		/* A refused signature cannot name the batch: the scorer never read it. */
		*status = (int)a->status;
		*accepted = a->accepted;
		rc = RN_OK;
	}
	repnet__v1__batch_ack__free_unpacked(a, &b.alloc);
	return rc;
}

/*
 * Waits before the next attempt: half of backoff plus a random part of the
 * other half, cut short only by the stop deadline. Returns false once the
 * deadline has passed.
 */
static bool backoff_wait(struct feeds_ingest_client *c, int64_t backoff)
{
	int64_t half = backoff / 2;
	int64_t wait = half + (half > 0 ? (int64_t)randombytes_uniform((uint32_t)half + 1) : 0);
	int64_t until = rn_time_mono_ms() + wait;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int64_t end = c->stopping && c->deadline_ms < until ? c->deadline_ms : until;
		if (rn_time_mono_ms() >= end)
			break;
		rn_cond_wait_until(&c->cv_stop, &c->mu, end);
	}
	bool go_on = !(c->stopping && rn_time_mono_ms() >= c->deadline_ms);
	pthread_mutex_unlock(&c->mu);
	return go_on;
}

/* Sends one sealed batch until it is answered; returns the ack status, or -1 on stop. */
static int send_until_answered(struct feeds_ingest_client *c, const uint8_t *buf, size_t len,
                               const uint8_t *id, uint64_t seq, uint32_t *accepted)
{
	int64_t backoff = c->backoff_min_ms;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool give_up = c->stopping && rn_time_mono_ms() >= c->deadline_ms;
		pthread_mutex_unlock(&c->mu);
		if (give_up)
			return -1;
		int rv = nng_send(c->sock, (void *)buf, len, 0);
		if (rv == 0) {
			nng_msg *msg;
			rv = nng_recvmsg(c->sock, &msg, 0);
			if (rv == 0) {
				int st;
				int drc =
				        feeds_ingest_ack_decode(nng_msg_body(msg), nng_msg_len(msg),
				                                seq, id, &st, accepted);
				nng_msg_free(msg);
				if (drc != RN_OK) {
					log_warnx_rl("ingest: an answer that is not for our batch");
				} else if (st ==
				           REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED) {
					rn_counter_inc(&c->b_unauth);
					log_warnx_rl(
					        "ingest: %s refused our batch: it does not trust "
					        "key %s (add its public half to the scorer's "
					        "feeds.bus.collectors); keeping it and retrying",
					        c->url, c->key_hex);
				} else if (st != REPNET__V1__BATCH_ACK__STATUS__STATUS_RETRY) {
					return st;
				}
			}
		}
		rn_counter_inc(&c->retries);
		if (rv != 0 && rv != NNG_ETIMEDOUT)
			log_warnx_rl("ingest: %s; retrying", nng_strerror(rv));
		if (!backoff_wait(c, backoff))
			return -1;
		backoff = backoff * 2 > c->backoff_max_ms ? c->backoff_max_ms : backoff * 2;
	}
}

/*
 * Packs and seals the first k observations of the scratch with the next
 * batch_seq, halving k until the envelope fits in recv_max. *k is what
 * went in. On failure the batch_seq is not used.
 */
static int seal_batch(struct feeds_ingest_client *c, size_t *k, uint8_t **env, size_t *envlen)
{
	c->meta.batch_seq++;
	c->meta.sent_ms = rn_time_now_ms();
	for (;;) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int rc = rn_obs_batch_pack(&c->meta, c->scratch, *k, &buf, &len);
		if (rc == RN_OK) {
			rc = feeds_envelope_seal(c->signer, buf, len, env, envlen);
			free(buf);
		}
		if (rc == RN_OK && *envlen > c->recv_max && *k > 1) {
			free(*env);
			*k /= 2;
			rn_counter_inc(&c->splits);
			continue;
		}
		if (rc != RN_OK)
			c->meta.batch_seq--;
		return rc;
	}
}

static void *client_main(void *arg)
{
	struct feeds_ingest_client *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->count == 0 && !c->stopping)
			pthread_cond_wait(&c->cv_items, &c->mu);
		if (c->count == 0 || (c->stopping && rn_time_mono_ms() >= c->deadline_ms))
			break;
		if (c->count < c->batch && !c->stopping) {
			/* Let a partial batch fill for up to flush_ms. */
			int64_t deadline = rn_time_mono_ms() + c->flush_ms;
			while (c->count < c->batch && !c->stopping)
				if (rn_cond_wait_until(&c->cv_items, &c->mu, deadline) == ETIMEDOUT)
					break;
		}
		size_t k = c->count < c->batch ? c->count : c->batch;
		for (size_t i = 0; i < k; i++)
			c->scratch[i] = c->ring[(c->head + i) % c->cap];
		pthread_mutex_unlock(&c->mu);

		uint8_t *env = NULL;
		size_t envlen = 0;
		uint32_t accepted = 0;
		if (seal_batch(c, &k, &env, &envlen) != RN_OK) {
			/* Out of memory: keep the observations and try again shortly. */
			rn_time_sleep_ms(100);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		int st = send_until_answered(c, env, envlen, c->meta.collector_id,
		                             c->meta.batch_seq, &accepted);
		free(env);
		pthread_mutex_lock(&c->mu);
		if (st < 0)
			break; /* stopped with the batch unanswered: it stays counted as lost */
		c->head = (c->head + k) % c->cap;
		c->count -= k;
		atomic_fetch_add(&c->pos_acked, k);
		rn_gauge_set(&c->depth, (int64_t)c->count);
		pthread_cond_broadcast(&c->cv_room);
		if (st == REPNET__V1__BATCH_ACK__STATUS__STATUS_OK) {
			atomic_store(&c->last_ack_ms, rn_time_now_ms());
			rn_counter_inc(&c->b_acked);
			rn_counter_add(&c->obs_acked, k);
		} else {
			rn_counter_inc(&c->b_refused);
			rn_counter_add(&c->obs_refused, k);
			log_warnx_rl("ingest: the scorer refused a batch of %zu observations", k);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- the durable queue ------------------------------------------------ */

/*
 * The writer: moves observations from the ring into the spill as sealed
 * batches, in order, and the sources' positions after the batches that
 * carry their lines. A batch never runs past a position, so that a
 * position in the file always follows every observation of its lines.
 * Observations leave the ring only once in the file: a full file stops
 * the ring from draining, and so the sources. Called with mu held.
 */
static void spill_full(struct feeds_ingest_client *c)
{
	if (!c->full_noted) {
		c->full_noted = true;
		rn_counter_inc(&c->s_full);
		log_warnx("ingest: the spill file is full (bus.ingest_spill = %llu bytes): sources "
		          "stop reading until the scorer acknowledges",
		          (unsigned long long)c->spill_max);
	}
}

/* Observations below this position may go to the file (held sources' marks). */
static uint64_t held_limit(const struct feeds_ingest_client *c)
{
	uint64_t lim = UINT64_MAX;
	for (size_t i = 0; i < c->nholds; i++)
		if (c->holds[i].from != 0 && c->holds[i].from - 1 < lim)
			lim = c->holds[i].from - 1;
	return lim;
}

static void *writer_main(void *arg)
{
	struct feeds_ingest_client *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->count == 0 && c->mn == 0 && !c->stopping)
			pthread_cond_wait(&c->cv_items, &c->mu);
		if (c->count == 0 && c->mn == 0)
			break;
		uint64_t head_pos = c->pos_taken - c->count;
		if (c->mn > 0 && c->marks[c->mhead].at <= head_pos) {
			struct pmark *pm = &c->marks[c->mhead];
			/*
			 * It commits the open batches only if no other queued position
			 * has lines in them (a source that held concurrently).
			 */
			uint64_t minfrom = UINT64_MAX;
			for (size_t i = 1; i < c->mn; i++) {
				const struct pmark *q = &c->marks[(c->mhead + i) % MARKQ];
				if (q->from < minfrom)
					minfrom = q->from;
			}
			int rc = spill_add_mark(c->spill, pm->key, pm->pos, pm->len,
			                        minfrom > head_pos);
			if (rc == RN_ELIMIT || (rc != RN_OK && rc != RN_EPARSE)) {
				/*
				 * The batches before it are in the file: so must it be,
				 * before anything after it. Wait for room (or stop).
				 */
				if (c->stopping)
					break;
				if (rc == RN_ELIMIT)
					spill_full(c);
				else
					log_warnx_rl("ingest: writing position %s to the spill: %s",
					             pm->key, rn_strerror(rc));
				rn_cond_wait_until(&c->cv_spill, &c->mu, rn_time_mono_ms() + 1000);
				continue;
			}
			if (rc != RN_OK)
				rn_counter_inc(&c->marks_dropped); /* a key the file cannot name */
			c->mhead = (c->mhead + 1) % MARKQ;
			c->mn--;
			pthread_cond_broadcast(&c->cv_spill); /* open batches are sendable now */
			rn_gauge_set(&c->g_spill_bytes, (int64_t)spill_bytes(c->spill));
			continue;
		}
		if (c->count < c->batch && c->mn == 0 && !c->stopping) {
			/* Let a partial batch fill for up to flush_ms. */
			int64_t deadline = rn_time_mono_ms() + c->flush_ms;
			while (c->count < c->batch && c->mn == 0 && !c->stopping)
				if (rn_cond_wait_until(&c->cv_items, &c->mu, deadline) == ETIMEDOUT)
					break;
		}
		size_t k = c->count < c->batch ? c->count : c->batch;
		if (c->mn > 0 && c->marks[c->mhead].at - head_pos < k)
			k = (size_t)(c->marks[c->mhead].at - head_pos);
		if (k == 0)
			continue; /* a position is due first */
		/* Nothing past a held source's newest position goes to the file. */
		uint64_t limit = held_limit(c);
		if (limit <= head_pos) {
			rn_cond_wait_until(&c->cv_items, &c->mu, rn_time_mono_ms() + c->flush_ms);
			if (c->stopping)
				break; /* held observations die with the process: their lines are read again */
			continue;
		}
		if (limit - head_pos < k)
			k = (size_t)(limit - head_pos);
		for (size_t i = 0; i < k; i++)
			c->scratch[i] = c->ring[(c->head + i) % c->cap];
		pthread_mutex_unlock(&c->mu);
		uint8_t *env = NULL;
		size_t envlen = 0;
		int rc = seal_batch(c, &k, &env, &envlen);
		pthread_mutex_lock(&c->mu);
		if (rc != RN_OK) {
			pthread_mutex_unlock(&c->mu);
			rn_time_sleep_ms(100);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		for (;;) {
			/* With a position queued, the batch may hold lines it covers: open. */
			rc = spill_add_batch(c->spill, c->meta.collector_id, c->meta.batch_seq,
			                     (uint32_t)k, env, envlen, c->mn > 0);
			if (rc == RN_OK || c->stopping)
				break;
			if (rc == RN_ELIMIT)
				spill_full(c);
			else
				log_warnx_rl("ingest: writing the spill file: %s; retrying",
				             rn_strerror(rc));
			rn_cond_wait_until(&c->cv_spill, &c->mu, rn_time_mono_ms() + 1000);
		}
		free(env);
		if (rc != RN_OK)
			break; /* stopping with the file full: what is left in the ring is lost */
		c->full_noted = false;
		c->head = (c->head + k) % c->cap;
		c->count -= k;
		rn_counter_inc(&c->s_spilled);
		rn_gauge_set(&c->g_spill_bytes, (int64_t)spill_bytes(c->spill));
		rn_gauge_set(&c->depth, (int64_t)(c->count + spill_observations(c->spill)));
		pthread_cond_broadcast(&c->cv_room);
		pthread_cond_broadcast(&c->cv_spill);
	}
	c->writer_done = true;
	pthread_cond_broadcast(&c->cv_spill);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Empties the file once everything in it is acknowledged, at most every second. */
static void maybe_compact(struct feeds_ingest_client *c, bool now)
{
	int64_t t = rn_time_mono_ms();
	if (spill_batches(c->spill) > 0 || spill_bytes(c->spill) <= 8)
		return;
	if (!now && t - c->compact_ms < 1000 && spill_bytes(c->spill) < c->spill_max / 2)
		return;
	int rc = spill_compact(c->spill);
	if (rc != RN_OK)
		log_warnx_rl("ingest: saving positions and emptying the spill file: %s",
		             rn_strerror(rc));
	c->compact_ms = t;
	rn_gauge_set(&c->g_spill_bytes, (int64_t)spill_bytes(c->spill));
	pthread_cond_broadcast(&c->cv_spill);
}

/* The sender: the spill's oldest batch, until acknowledged, then the next. */
static void *sender_main(void *arg)
{
	struct feeds_ingest_client *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->stopping && rn_time_mono_ms() >= c->deadline_ms)
			break;
		struct spill_head h;
		int rc = spill_head(c->spill, &h);
		if (rc == RN_ENOTFOUND) {
			rn_gauge_set(&c->g_ack_lag, 0);
			maybe_compact(c, c->stopping);
			if (c->stopping && c->writer_done)
				break;
			rn_cond_wait_until(&c->cv_spill, &c->mu, rn_time_mono_ms() + 500);
			continue;
		}
		if (rc != RN_OK) {
			log_warnx_rl("ingest: reading the spill file: %s", rn_strerror(rc));
			rn_cond_wait_until(&c->cv_stop, &c->mu, rn_time_mono_ms() + 1000);
			continue;
		}
		int64_t lag = rn_time_now_ms() - h.spilled_ms;
		rn_gauge_set(&c->g_ack_lag, lag > 0 ? lag : 0);
		pthread_mutex_unlock(&c->mu);
		uint32_t accepted = 0;
		int st = send_until_answered(c, h.env, h.len, h.id, h.seq, &accepted);
		free(h.env);
		pthread_mutex_lock(&c->mu);
		if (st < 0)
			break; /* stopped unanswered: it stays in the file for the next start */
		spill_ack_head(c->spill);
		atomic_fetch_add(&c->pos_acked, h.nobs);
		if (h.old)
			rn_counter_inc(&c->s_replayed);
		if (st == REPNET__V1__BATCH_ACK__STATUS__STATUS_OK) {
			atomic_store(&c->last_ack_ms, rn_time_now_ms());
			rn_counter_inc(&c->b_acked);
			rn_counter_add(&c->obs_acked, h.nobs);
		} else {
			rn_counter_inc(&c->b_refused);
			rn_counter_add(&c->obs_refused, h.nobs);
			log_warnx_rl("ingest: the scorer refused a batch of %u observations",
			             h.nobs);
		}
		rn_gauge_set(&c->depth, (int64_t)(c->count + spill_observations(c->spill)));
		maybe_compact(c, false);
		pthread_cond_broadcast(&c->cv_room);
	}
	if (spill_batches(c->spill) == 0)
		maybe_compact(c, true);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

void feeds_ingest_client_mark(struct feeds_ingest_client *c, const char *key, const uint8_t *pos,
                              size_t len)
{
	if (c == NULL || c->spill == NULL || len > SPILL_POS_MAX || strlen(key) >= SPILL_KEY_MAX)
		return;
	pthread_mutex_lock(&c->mu);
	struct pmark *pm = NULL;
	if (c->poisoned || c->stopping) {
		rn_counter_inc(&c->marks_dropped);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/*
	 * A newer position of the key last queued replaces it (so does one when
	 * the queue is full), but never the oldest: the writer may be writing
	 * the batches before it, and moving it would stretch their group.
	 */
	for (size_t i = c->mn; i > 0 && pm == NULL; i--) {
		struct pmark *e = &c->marks[(c->mhead + i - 1) % MARKQ];
		if (strcmp(e->key, key) == 0 && i > 1 && (i == c->mn || c->mn == MARKQ))
			pm = e;
		else if (c->mn < MARKQ)
			break;
	}
	if (pm == NULL && c->mn < MARKQ) {
		pm = &c->marks[(c->mhead + c->mn++) % MARKQ];
		pm->key[0] = '\0';
	}
	uint64_t from = UINT64_MAX;
	if (pm != NULL) {
		/* Everything this source submitted so far is before this position. */
		for (size_t i = 0; i < c->nholds; i++)
			if (strcmp(c->holds[i].key, key) == 0) {
				if (c->holds[i].from != 0)
					from = c->holds[i].from;
				c->holds[i].from = 0;
			}
		/* A replaced position keeps the start of the lines it already covered. */
		if (pm->key[0] != '\0' && strcmp(pm->key, key) == 0 && pm->from < from)
			from = pm->from;
	}
	if (pm == NULL) {
		rn_counter_inc(&c->marks_dropped);
	} else {
		pm->at = c->pos_taken;
		pm->from = from;
		snprintf(pm->key, sizeof(pm->key), "%s", key);
		pm->len = (uint16_t)len;
		memcpy(pm->pos, pos, len);
		pthread_cond_signal(&c->cv_items);
	}
	pthread_mutex_unlock(&c->mu);
}

void feeds_ingest_client_hold(struct feeds_ingest_client *c, const char *key)
{
	if (c == NULL || c->spill == NULL || strlen(key) >= SPILL_KEY_MAX)
		return;
	pthread_mutex_lock(&c->mu);
	struct hold *h = NULL;
	for (size_t i = 0; i < c->nholds && h == NULL; i++)
		if (strcmp(c->holds[i].key, key) == 0)
			h = &c->holds[i];
	if (h == NULL && c->nholds < SPILL_KEYS) {
		h = &c->holds[c->nholds++];
		snprintf(h->key, sizeof(h->key), "%s", key);
		h->from = 0;
	}
	if (h == NULL) {
		/* Past the table: hold everything from here until a mark frees it. */
		h = &c->holds[SPILL_KEYS - 1];
	}
	if (h->from == 0)
		h->from = c->pos_taken + 1;
	pthread_mutex_unlock(&c->mu);
}

int feeds_ingest_client_pending(struct feeds_ingest_client *c, const char *key, uint8_t *pos,
                                size_t cap, size_t *len)
{
	if (c == NULL || c->spill == NULL)
		return RN_ENOTFOUND;
	pthread_mutex_lock(&c->mu);
	int rc = spill_pending(c->spill, key, pos, cap, len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void feeds_ingest_client_unblock(struct feeds_ingest_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->unblocked = true;
	pthread_cond_broadcast(&c->cv_room);
	pthread_mutex_unlock(&c->mu);
}

/* The ack lag is kept in milliseconds and exported in seconds. */
static double gauge_ms_to_seconds(void *arg)
{
	return (double)rn_gauge_get(arg) / 1e3;
}

static int client_metrics(struct feeds_ingest_client *c, struct rn_metrics *m)
{
	const char *hq = "Observations offered to the collector's queue, by result.";
	const char *hb = "Batches the scorer answered, by result.";
	int rc = RN_OK;
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_queue_total", hq, "result=\"taken\"",
	                             &c->taken);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_queue_total", hq, "result=\"dropped\"",
	                             &c->dropped);
	rc = rc ? rc
	        : rn_metrics_gauge(m, c, "repnet_collector_queue_depth",
	                           "Observations waiting for the scorer's acknowledgement.", NULL,
	                           &c->depth);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_batches_total", hb, "result=\"acked\"",
	                             &c->b_acked);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_batches_total", hb,
	                             "result=\"refused\"", &c->b_refused);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_batches_total", hb,
	                             "result=\"unauthenticated\"", &c->b_unauth);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_batch_retries_total",
	                             "Batch sends that timed out or were told to retry.", NULL,
	                             &c->retries);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_batch_splits_total",
	                             "Batches halved to fit bus.recv_max once sealed.", NULL,
	                             &c->splits);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_observations_acked_total",
	                             "Observations the scorer acknowledged as durable.", NULL,
	                             &c->obs_acked);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_observations_lost_total",
	                             "Observations still unacknowledged when the collector "
	                             "stopped, and not in the spill file.",
	                             NULL, &c->lost);
	if (c->spill == NULL)
		return rc;
	const char *hs = "Batches written to the spill file, and batches an earlier run left "
	                 "there delivered after a restart.";
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_spill_batches_total", hs,
	                             "event=\"spilled\"", &c->s_spilled);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_spill_batches_total", hs,
	                             "event=\"replayed\"", &c->s_replayed);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_spill_full_total",
	                             "Times the spill file reached bus.ingest_spill and sources "
	                             "stopped reading.",
	                             NULL, &c->s_full);
	rc = rc ? rc
	        : rn_metrics_counter(m, c, "repnet_collector_positions_dropped_total",
	                             "Source positions not kept (a full spill or queue, or after "
	                             "a dropped observation); the source resumes earlier.",
	                             NULL, &c->marks_dropped);
	rc = rc ? rc
	        : rn_metrics_gauge(m, c, "repnet_collector_spill_bytes", "Size of the spill file.",
	                           NULL, &c->g_spill_bytes);
	rc = rc ? rc
	        : rn_metrics_func(m, c, "repnet_collector_ack_lag_seconds",
	                          "Age of the oldest batch the scorer has not acknowledged, in "
	                          "seconds (0: none).",
	                          RN_METRIC_GAUGE, NULL, gauge_ms_to_seconds, &c->g_ack_lag);
	return rc;
}

static void client_free(struct feeds_ingest_client *c)
{
	if (c->metrics != NULL)
		rn_metrics_unregister(c->metrics, c);
	spill_close(c->spill);
	free(c->marks);
	pthread_cond_destroy(&c->cv_spill);
	pthread_cond_destroy(&c->cv_stop);
	pthread_cond_destroy(&c->cv_room);
	pthread_cond_destroy(&c->cv_items);
	pthread_mutex_destroy(&c->mu);
	free(c->scratch);
	free(c->ring);
	free(c);
}

int feeds_ingest_client_start(struct feeds_ingest_client **out, const struct feeds_bus_conf *conf,
                              const char *url, struct rn_metrics *m, const uint8_t reporter[8],
                              const struct feeds_signer *signer)
{
	return feeds_ingest_client_start_spill(out, conf, url, m, reporter, signer, NULL);
}

int feeds_ingest_client_start_spill(struct feeds_ingest_client **out,
                                    const struct feeds_bus_conf *conf, const char *url,
                                    struct rn_metrics *m, const uint8_t reporter[8],
                                    const struct feeds_signer *signer, const char *spill_dir)
{
	int rv, rc;
	const char *u = url != NULL ? url : conf->ingest_url;
	if (u == NULL || signer == NULL)
		return RN_ECONF;
	if (sodium_init() < 0)
		return RN_EINTERNAL;
	struct feeds_ingest_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->signer = signer;
	uint8_t id[FEEDS_KEY_ID_LEN];
	feeds_signer_key_id(signer, id);
	sodium_bin2hex(c->key_hex, sizeof(c->key_hex), id, sizeof(id));
	snprintf(c->url, sizeof(c->url), "%s", u);
	c->cap = (size_t)conf->ingest_queue;
	c->batch = (size_t)conf->ingest_batch;
	c->recv_max = conf->recv_max;
	c->flush_ms = conf->ingest_flush_ms;
	c->timeout_ms = conf->ingest_timeout_ms;
	c->block_ms = conf->ingest_block_ms;
	c->backoff_min_ms = conf->reconnect_min_ms;
	c->backoff_max_ms = conf->reconnect_max_ms;
	pthread_mutex_init(&c->mu, NULL);
	rn_cond_init(&c->cv_items);
	rn_cond_init(&c->cv_room);
	rn_cond_init(&c->cv_stop);
	rn_cond_init(&c->cv_spill);
	c->ring = calloc(c->cap, sizeof(*c->ring));
	c->scratch = calloc(c->batch, sizeof(*c->scratch));
	if (c->ring == NULL || c->scratch == NULL) {
		client_free(c);
		return -ENOMEM;
	}
	if (spill_dir != NULL && conf->ingest_spill > 0) {
		c->spill_max = conf->ingest_spill;
		c->marks = calloc(MARKQ, sizeof(*c->marks));
		rc = c->marks != NULL ? spill_open(&c->spill, spill_dir, c->spill_max) : -ENOMEM;
		if (rc != RN_OK) {
			log_warnx("ingest: spill file in %s: %s", spill_dir, rn_strerror(rc));
			client_free(c);
			return rc;
		}
		c->compact_ms = rn_time_mono_ms();
	}
	randombytes_buf(c->meta.collector_id, sizeof(c->meta.collector_id));
	memcpy(c->meta.reporter, reporter, sizeof(c->meta.reporter));
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		log_warnx("ingest: %s", nng_strerror(rv));
		client_free(c);
		return RN_EBUS;
	}
	/* Answers are small: a tight limit on what a collector will take. */
	if ((rc = feeds_bus_setup(c->sock, conf, 4096)) != RN_OK)
		goto fail;
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)c->timeout_ms);
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, (nng_duration)c->timeout_ms);
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, (nng_duration)c->timeout_ms);
	if (nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_cb, c) != 0 ||
	    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_cb, c) != 0) {
		rc = RN_EBUS;
		goto fail;
	}
	if ((rc = feeds_bus_dial(c->sock, u, conf)) != RN_OK)
		goto fail;
	if (m != NULL) {
		if ((rc = feeds_bus_tls_metrics(m)) != RN_OK)
			goto fail;
		c->metrics = m;
		if ((rc = client_metrics(c, m)) != RN_OK)
			goto fail;
	}
	if (c->spill != NULL) {
		rn_gauge_set(&c->g_spill_bytes, (int64_t)spill_bytes(c->spill));
		rn_gauge_set(&c->depth, (int64_t)spill_observations(c->spill));
		if (pthread_create(&c->wthr, NULL, writer_main, c) != 0) {
			rc = -EAGAIN;
			goto fail;
		}
		c->wthr_started = true;
	}
	if (pthread_create(&c->thr, NULL, c->spill != NULL ? sender_main : client_main, c) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	c->thr_started = true;
	*out = c;
	return RN_OK;
fail:
	if (c->wthr_started) {
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		pthread_cond_broadcast(&c->cv_items);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->wthr, NULL);
	}
	nng_close(c->sock);
	client_free(c);
	return rc;
}

size_t feeds_ingest_client_stop(struct feeds_ingest_client *c, int64_t grace_ms)
{
	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	c->deadline_ms = rn_time_mono_ms() + grace_ms;
	pthread_cond_broadcast(&c->cv_items);
	pthread_cond_broadcast(&c->cv_room);
	pthread_cond_broadcast(&c->cv_stop);
	pthread_cond_broadcast(&c->cv_spill);
	pthread_mutex_unlock(&c->mu);
	/* The writer moves what the ring holds into the spill first. */
	if (c->wthr_started)
		pthread_join(c->wthr, NULL);
	/* The sender drains until the deadline; closing the socket then unblocks it. */
	if (c->thr_started) {
		feeds_ingest_client_flush(c, grace_ms);
		nng_close(c->sock);
		pthread_join(c->thr, NULL);
	} else {
		nng_close(c->sock);
	}
	size_t left = c->count;
	rn_counter_add(&c->lost, left);
	if (left > 0)
		log_warnx("ingest: stopped with %zu observations unacknowledged", left);
	if (c->spill != NULL && spill_batches(c->spill) > 0)
		log_notice("ingest: %zu batch(es) of %llu observations stay in the spill file for "
		           "the next start",
		           spill_batches(c->spill),
		           (unsigned long long)spill_observations(c->spill));
	client_free(c);
	return left;
}
