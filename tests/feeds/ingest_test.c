/*
 * ingest_test.c: collectors -> scorer over real nng sockets on loopback:
 * delivery, resends, signatures and their refusals, backoff, batch sizes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/socket.h"
#include "test.h"

/* The collector key the scorer trusts (as "c1"), and one it does not know. */
static const uint8_t seed_trusted[32] = {1, 1, 1};
static const uint8_t seed_stranger[32] = {6, 6, 6};
static struct feeds_signer *trusted, *stranger;
static struct feeds_keyring *ring;

static int group_setup(void **state)
{
	(void)state;
	char pub[FEEDS_PUBKEY_B64];
	if (feeds_signer_from_seed(&trusted, seed_trusted, "c1") != RN_OK ||
	    feeds_signer_from_seed(&stranger, seed_stranger, "evil") != RN_OK ||
	    feeds_keyring_alloc(&ring) != RN_OK)
		return -1;
	feeds_signer_public(trusted, pub);
	return feeds_keyring_add(ring, "c1", pub, false) == RN_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	feeds_keyring_free(ring);
	feeds_signer_free(trusted);
	feeds_signer_free(stranger);
	return 0;
}

struct sink {
	pthread_mutex_t mu;
	struct rn_obs *got;
	size_t n, cap;
	int calls;
	int fail_first; /* answer "retry" to this many calls */
	int wrong_name; /* calls whose meta did not name collector c1 */
};

static int handler(void *arg, const struct rn_obs_batch_meta *meta, const struct rn_obs *obs,
                   size_t n)
{
	struct sink *s = arg;
	pthread_mutex_lock(&s->mu);
	s->calls++;
	/* The keyring's name for the signer, whatever the batch said. */
	if (strcmp(meta->collector, "c1") != 0)
		s->wrong_name++;
	if (s->fail_first > 0) {
		s->fail_first--;
		pthread_mutex_unlock(&s->mu);
		return -EIO;
	}
	if (s->n + n > s->cap) {
		pthread_mutex_unlock(&s->mu);
		return RN_ELIMIT;
	}
	memcpy(&s->got[s->n], obs, n * sizeof(*obs));
	s->n += n;
	pthread_mutex_unlock(&s->mu);
	return RN_OK;
}

static struct feeds_bus_conf conf;
static struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};

static void load_conf(const char *const *ov)
{
	struct rn_conf_error err;
	RN_PASS(rn_conf_load(NULL, ov, &sec, 1, &err));
}

static void make_obs(struct rn_obs *o, size_t n, uint32_t base)
{
	memset(o, 0, n * sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		rn_addr_set_v4(&o[i].addr, 0xC6120000u + base + (uint32_t)i); /* 198.18/15 */
		o[i].kind = RN_KIND_SASL_FAIL;
		o[i].source = RN_SRC_POSTFIX;
		o[i].count = 1;
		o[i].ts_ms = 1795919209000 + (int64_t)i;
		rn_obs_set_evidence(&o[i], "auth:LOGIN", 10);
	}
}

static void wait_acked(struct feeds_ingest_client *c, uint64_t want)
{
	for (int i = 0; i < 3000 && feeds_ingest_client_acked(c) < want; i++) {
		struct timespec ts = {.tv_nsec = 10000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(feeds_ingest_client_acked(c), want);
}

static void check_in_order(struct sink *s, size_t want)
{
	assert_int_equal(s->n, want);
	for (size_t i = 0; i < want; i++) {
		if (s->got[i].addr.u.v4 != 0xC6120000u + (uint32_t)i)
			fail_msg("observation %zu out of order or duplicated", i);
		assert_string_equal(s->got[i].evidence, "auth:LOGIN");
	}
}

/* The scorer's side of one test: its configuration, sink, metrics and server. */
struct fix {
	struct sink s;
	struct rn_metrics *m;
	struct feeds_ingest_server *srv;
	char url[64];
};

static void fix_start(struct fix *f, const char *const *ov, const struct feeds_keyring *k,
                      size_t cap)
{
	load_conf(ov);
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->s.mu, NULL);
	f->s.cap = cap;
	f->s.got = calloc(cap, sizeof(*f->s.got));
	RN_PASS(rn_metrics_alloc(&f->m));
	RN_PASS(feeds_ingest_server_start(&f->srv, &conf, f->m, k, handler, &f->s));
	snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%u", feeds_ingest_server_port(f->srv));
}

static void fix_stop(struct fix *f)
{
	feeds_ingest_server_stop(f->srv);
	rn_metrics_free(f->m);
	rn_conf_release(&sec, 1);
	free(f->s.got);
	pthread_mutex_destroy(&f->s.mu);
}

static void test_delivery(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.ingest_batch=500", "feeds.bus.ingest_flush=5ms", NULL};
	struct fix f;
	fix_start(&f, ov, ring, 20000);
	f.s.fail_first = 3;
	struct feeds_ingest_client *c;
	const uint8_t rep[8] = "member01";
	RN_PASS(feeds_ingest_client_start(&c, &conf, f.url, f.m, rep, trusted));
	struct rn_obs *o = calloc(10000, sizeof(*o));
	make_obs(o, 10000, 0);
	uint64_t pos = 0;
	for (size_t i = 0; i < 10000; i += 700) {
		size_t k = 10000 - i < 700 ? 10000 - i : 700;
		assert_int_equal(feeds_ingest_client_submit(c, o + i, k, &pos), k);
	}
	assert_int_equal(pos, 10000);
	wait_acked(c, 10000);
	/* Three "retry" answers cost resends, not observations or duplicates. */
	check_in_order(&f.s, 10000);
	assert_int_equal(f.s.wrong_name, 0);
	double v;
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_batches_total", "result=\"retry\"", &v));
	assert_true(v == 3);
	RN_PASS(rn_metrics_value(f.m, "repnet_collector_batch_retries_total", NULL, &v));
	assert_true(v >= 3);
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	free(o);
	fix_stop(&f);
}

/* The collector starts before the scorer: it holds its queue and delivers. */
static void test_scorer_later(void **state)
{
	(void)state;
	const char *ov0[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", NULL};
	load_conf(ov0);
	struct sink s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = 5000};
	s.got = calloc(s.cap, sizeof(*s.got));
	/*
	 * A port nobody listens on yet, kept for the scorer: bound by a socket
	 * that does not listen (connections to it are refused, as to no
	 * scorer), with SO_REUSEADDR as nng's listener has, so that the scorer
	 * can take it later while nothing else on the machine can in between.
	 */
	int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	assert_true(hold >= 0);
	assert_int_equal(setsockopt(hold, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(hold, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(hold, (struct sockaddr *)&sin, &sl), 0);
	unsigned port = ntohs(sin.sin_port);
	rn_conf_release(&sec, 1);
	struct feeds_ingest_server *srv;

	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
	char lst[96];
	snprintf(lst, sizeof(lst), "feeds.bus.ingest_listen=%s", url);
	const char *ov[] = {lst, "feeds.bus.reconnect_min=10ms", "feeds.bus.reconnect_max=100ms",
	                    "feeds.bus.ingest_timeout=300ms", NULL};
	load_conf(ov);
	struct feeds_ingest_client *c;
	RN_PASS(feeds_ingest_client_start(&c, &conf, url, NULL, (const uint8_t *)"member02",
	                                  trusted));
	struct rn_obs o[3000];
	make_obs(o, 3000, 0);
	assert_int_equal(feeds_ingest_client_submit(c, o, 3000, NULL), 3000);
	struct timespec ts = {.tv_nsec = 400000000};
	nanosleep(&ts, NULL);
	assert_int_equal(feeds_ingest_client_acked(c), 0);
	RN_PASS(feeds_ingest_server_start(&srv, &conf, NULL, ring, handler, &s));
	close(hold);
	wait_acked(c, 3000);
	check_in_order(&s, 3000);
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	feeds_ingest_server_stop(srv);
	rn_conf_release(&sec, 1);
	free(s.got);
}

/* No scorer at all: the queue fills, the rest is dropped and counted. */
static void test_queue_full(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_queue=1024", "feeds.bus.ingest_block=10ms", NULL};
	load_conf(ov);
	struct rn_metrics *m;
	RN_PASS(rn_metrics_alloc(&m));
	struct feeds_ingest_client *c;
	/* A port nobody listens on (the discard port on loopback). */
	RN_PASS(feeds_ingest_client_start(&c, &conf, "tcp://127.0.0.1:9", m,
	                                  (const uint8_t *)"member03", trusted));
	struct rn_obs *o = calloc(5000, sizeof(*o));
	make_obs(o, 5000, 0);
	assert_int_equal(feeds_ingest_client_submit(c, o, 5000, NULL), 1024);
	double v;
	RN_PASS(rn_metrics_value(m, "repnet_collector_queue_total", "result=\"dropped\"", &v));
	assert_true(v == 5000 - 1024);
	RN_PASS(rn_metrics_value(m, "repnet_collector_queue_depth", NULL, &v));
	assert_true(v == 1024);
	/* Stopping says how many never got acknowledged. */
	assert_int_equal(feeds_ingest_client_stop(c, 50), 1024);
	rn_metrics_free(m);
	rn_conf_release(&sec, 1);
	free(o);
}

/* Sends one request and reads the BatchAck; returns its status, sets *accepted and *named. */
static int roundtrip(nng_socket req, const uint8_t *buf, size_t len, uint32_t *accepted,
                     bool *named)
{
	assert_int_equal(nng_send(req, (void *)buf, len, 0), 0);
	nng_msg *msg;
	assert_int_equal(nng_recvmsg(req, &msg, 0), 0);
	Repnet__V1__BatchAck *a =
	        repnet__v1__batch_ack__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	assert_non_null(a);
	int st = a->status;
	if (accepted != NULL)
		*accepted = a->accepted;
	if (named != NULL)
		*named = a->collector_id.len == 16;
	repnet__v1__batch_ack__free_unpacked(a, NULL);
	nng_msg_free(msg);
	return st;
}

/* A packed batch of n observations from collector id byte cid, sealed by signer (or bare). */
static void make_request(const struct feeds_signer *signer, uint8_t cid, uint64_t seq, size_t n,
                         const char *claim, uint8_t **out, size_t *len)
{
	struct rn_obs o[16];
	make_obs(o, n, 0);
	struct rn_obs_batch_meta meta = {.batch_seq = seq};
	memset(meta.collector_id, cid, 16);
	if (claim != NULL)
		snprintf(meta.collector, sizeof(meta.collector), "%s", claim);
	uint8_t *buf;
	size_t blen;
	RN_PASS(rn_obs_batch_pack(&meta, o, n, &buf, &blen));
	if (signer == NULL) {
		*out = buf;
		*len = blen;
		return;
	}
	RN_PASS(feeds_envelope_seal(signer, buf, blen, out, len));
	free(buf);
}

static nng_socket dial(const struct feeds_ingest_server *srv)
{
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", feeds_ingest_server_port(srv));
	nng_socket req;
	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000);
	assert_int_equal(nng_dial(req, url, NULL, 0), 0);
	return req;
}

/* A foreign client: resends are recognised; garbage is refused. */
static void test_raw_client(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", NULL};
	struct fix f;
	fix_start(&f, ov, ring, 100);
	nng_socket req = dial(f.srv);

	/* The batch claims to come from "mx9": the scorer names the key's owner. */
	uint8_t *buf;
	size_t len;
	make_request(trusted, 7, 1, 5, "mx9", &buf, &len);
	for (int round = 0; round < 3; round++) {
		uint32_t acc;
		bool named;
		assert_int_equal(roundtrip(req, buf, len, &acc, &named),
		                 REPNET__V1__BATCH_ACK__STATUS__STATUS_OK);
		assert_true(named);
		assert_int_equal(acc, round == 0 ? 5 : 0);
	}
	free(buf);
	assert_int_equal(f.s.calls, 1);
	assert_int_equal(f.s.n, 5);
	assert_int_equal(f.s.wrong_name, 0);

	const char junk[] = "\xff\xff\xff\xff not protobuf";
	assert_int_equal(roundtrip(req, (const uint8_t *)junk, sizeof(junk), NULL, NULL),
	                 REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED);
	double v;
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_refused_total", "reason=\"malformed\"", &v));
	assert_true(v == 1);
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_batches_total", "result=\"duplicate\"", &v));
	assert_true(v == 2);

	/* Signed, but not a batch: refused for good, counted as a decode error. */
	uint8_t *env;
	size_t envlen;
	RN_PASS(feeds_envelope_seal(trusted, (const uint8_t *)junk, sizeof(junk), &env, &envlen));
	assert_int_equal(roundtrip(req, env, envlen, NULL, NULL),
	                 REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED);
	free(env);
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_decode_errors_total", NULL, &v));
	assert_true(v == 1);

	/* An observation with a 5-byte address is refused inside the batch. */
	Repnet__V1__ObservationBatch b = REPNET__V1__OBSERVATION_BATCH__INIT;
	Repnet__V1__Observation ob = REPNET__V1__OBSERVATION__INIT, *obp = &ob;
	uint8_t ip5[5] = {1, 2, 3, 4, 5}, cid[16] = {9};
	ob.ip.data = ip5;
	ob.ip.len = 5;
	ob.kind = REPNET__V1__KIND__KIND_PREGREET;
	ob.count = 1;
	b.collector_id.data = cid;
	b.collector_id.len = 16;
	b.batch_seq = 1;
	b.observations = &obp;
	b.n_observations = 1;
	uint8_t raw[128];
	len = repnet__v1__observation_batch__pack(&b, raw);
	RN_PASS(feeds_envelope_seal(trusted, raw, len, &env, &envlen));
	roundtrip(req, env, envlen, NULL, NULL);
	free(env);
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_observations_refused_total",
	                         "reason=\"bad_ip\"", &v));
	assert_true(v == 1);

	nng_close(req);
	fix_stop(&f);
}

/*
 * Every way a request can fail authentication: nothing inside is read, the
 * handler is never called, the refusal is counted by reason, the answer
 * names no batch, and the status says who and why last.
 */
static void test_refusals(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", NULL};
	/* A keyring that also holds a revoked collector. */
	static const uint8_t seed_gone[32] = {4, 4, 4};
	struct feeds_signer *gone;
	struct feeds_keyring *k;
	char pub[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&gone, seed_gone, "gone"));
	RN_PASS(feeds_keyring_alloc(&k));
	feeds_signer_public(trusted, pub);
	RN_PASS(feeds_keyring_add(k, "c1", pub, false));
	feeds_signer_public(gone, pub);
	RN_PASS(feeds_keyring_add(k, "gone", pub, true));
	struct fix f;
	fix_start(&f, ov, k, 100);
	nng_socket req = dial(f.srv);

	struct {
		const struct feeds_signer *signer;
		bool flip; /* a bit of the signature */
		const char *reason;
	} cases[] = {
	        {NULL, false, "unsigned"},
	        {stranger, false, "unknown_key"},
	        {gone, false, "revoked_key"},
	        {trusted, true, "bad_signature"},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		uint8_t *buf;
		size_t len;
		bool named = true;
		make_request(cases[i].signer, (uint8_t)(20 + i), 1, 3, NULL, &buf, &len);
		if (cases[i].flip)
			buf[len - 1] ^= 1; /* the signature is the envelope's last field */
		assert_int_equal(roundtrip(req, buf, len, NULL, &named),
		                 REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED);
		assert_false(named);
		free(buf);
		char l[64];
		double v;
		snprintf(l, sizeof(l), "reason=\"%s\"", cases[i].reason);
		RN_PASS(rn_metrics_value(f.m, "repnet_ingest_refused_total", l, &v));
		assert_true(v == 1);
		struct feeds_ingest_status st;
		feeds_ingest_server_status(f.srv, &st);
		assert_string_equal(feeds_ingest_refusal_name(st.last_reason), cases[i].reason);
		assert_true(strncmp(st.last_peer, "127.0.0.1:", 10) == 0);
		assert_true(st.last_ms > 0);
		if (cases[i].signer != NULL) {
			uint8_t id[FEEDS_KEY_ID_LEN];
			char hex[2 * FEEDS_KEY_ID_LEN + 1];
			feeds_signer_key_id(cases[i].signer, id);
			for (size_t j = 0; j < sizeof(id); j++)
				snprintf(hex + 2 * j, 3, "%02x", id[j]);
			assert_string_equal(st.last_key_id, hex);
		}
	}
	assert_int_equal(f.s.calls, 0);
	assert_int_equal(f.s.n, 0);
	struct feeds_ingest_status st;
	feeds_ingest_server_status(f.srv, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(st.observations, 0);

	/* The same batch signed by the trusted key goes in, under the keyring's name. */
	uint8_t *buf;
	size_t len;
	make_request(trusted, 20, 1, 3, "gone", &buf, &len);
	assert_int_equal(roundtrip(req, buf, len, NULL, NULL),
	                 REPNET__V1__BATCH_ACK__STATUS__STATUS_OK);
	free(buf);
	assert_int_equal(f.s.n, 3);
	assert_int_equal(f.s.wrong_name, 0);
	struct feeds_ingest_collector_status cs[4];
	assert_int_equal(feeds_ingest_server_collectors(f.srv, cs, 4), 1);
	assert_string_equal(cs[0].name, "c1");
	assert_int_equal(cs[0].observations, 3);

	nng_close(req);
	fix_stop(&f);
	feeds_keyring_free(k);
	feeds_signer_free(gone);
}

/*
 * A collector whose key the scorer does not trust yet keeps its batches,
 * backing off (a handful of attempts, not a loop), and delivers every one
 * once the scorer's keyring takes the key: nothing made before is lost.
 */
static void test_untrusted_then_trusted(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.reconnect_min=100ms", "feeds.bus.reconnect_max=400ms", NULL};
	struct fix f;
	fix_start(&f, ov, ring, 5000);
	struct feeds_ingest_client *c;
	RN_PASS(feeds_ingest_client_start(&c, &conf, f.url, NULL, (const uint8_t *)"member04",
	                                  stranger));
	struct rn_obs o[300];
	make_obs(o, 300, 0);
	assert_int_equal(feeds_ingest_client_submit(c, o, 300, NULL), 300);
	/* Refused a few times, each after a longer wait; nothing taken meanwhile. */
	struct feeds_ingest_tally t = {0};
	for (int i = 0; i < 1000 && t.unauthenticated < 3; i++) {
		feeds_ingest_client_tally(c, &t);
		struct timespec ts = {.tv_nsec = 10000000};
		nanosleep(&ts, NULL);
	}
	assert_true(t.unauthenticated >= 3);
	assert_int_equal(feeds_ingest_client_acked(c), 0);
	assert_int_equal(f.s.n, 0);
	double v;
	RN_PASS(rn_metrics_value(f.m, "repnet_ingest_refused_total", "reason=\"unknown_key\"", &v));
	/* Waits of at least 50, 100, 200 ms: a tight loop would have sent thousands. */
	assert_true(v >= 3 && v <= 8);

	/* Trusted from now on (a reload): the batches made before are delivered. */
	struct feeds_keyring *k2;
	char pub[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_keyring_alloc(&k2));
	feeds_signer_public(stranger, pub);
	RN_PASS(feeds_keyring_add(k2, "c1", pub, false));
	feeds_ingest_server_keyring(f.srv, k2);
	wait_acked(c, 300);
	check_in_order(&f.s, 300);
	assert_int_equal(f.s.wrong_name, 0);
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	fix_stop(&f);
	feeds_keyring_free(k2);
}

/*
 * A batch that would exceed bus.recv_max once sealed is halved until it
 * fits, so a scorer with the same limit takes every observation; a request
 * over its limit is dropped by nng and counted by the watch.
 */
static void test_sizes(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", "feeds.bus.recv_max=64k",
	                    "feeds.bus.ingest_batch=4096", "feeds.bus.ingest_flush=5ms", NULL};
	struct fix f;
	fix_start(&f, ov, ring, 5000);

	/* One request of 100 KB from a raw client: nng closes the connection. */
	nng_socket req = dial(f.srv);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 300);
	uint8_t *big = calloc(1, 100000);
	assert_non_null(big);
	assert_int_equal(nng_send(req, big, 100000, 0), 0);
	nng_msg *msg;
	assert_int_not_equal(nng_recvmsg(req, &msg, 0), 0);
	nng_close(req);
	free(big);
	struct feeds_ingest_status st;
	for (int i = 0; i < 500; i++) {
		feeds_ingest_server_status(f.srv, &st);
		if (st.closed_before_message > 0)
			break;
		struct timespec ts = {.tv_nsec = 10000000};
		nanosleep(&ts, NULL);
	}
	assert_true(st.closed_before_message > 0);
	double v;
	RN_PASS(rn_metrics_value(f.m, "repnet_bus_pipes_closed_before_message_total",
	                         "socket=\"ingest\"", &v));
	assert_true(v > 0);

	/* 4000 observations with long evidence do not fit 64 KiB in one batch. */
	struct rn_metrics *mc;
	RN_PASS(rn_metrics_alloc(&mc));
	struct feeds_ingest_client *c;
	RN_PASS(feeds_ingest_client_start(&c, &conf, f.url, mc, (const uint8_t *)"member05",
	                                  trusted));
	struct rn_obs *o = calloc(4000, sizeof(*o));
	make_obs(o, 4000, 0);
	for (size_t i = 0; i < 4000; i++)
		rn_obs_set_evidence(&o[i], "auth:LOGIN-a-long-evidence-code", 31);
	assert_int_equal(feeds_ingest_client_submit(c, o, 4000, NULL), 4000);
	wait_acked(c, 4000);
	assert_int_equal(f.s.n, 4000);
	RN_PASS(rn_metrics_value(mc, "repnet_collector_batch_splits_total", NULL, &v));
	assert_true(v > 0);
	RN_PASS(rn_metrics_value(mc, "repnet_collector_observations_acked_total", NULL, &v));
	assert_true(v == 4000);
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	rn_metrics_free(mc);
	free(o);
	fix_stop(&f);
}

/* Which listener URLs take plain TCP from the network (and so need allow_plaintext). */
static void test_plaintext_urls(void **state)
{
	(void)state;
	static const char *const remote[] = {
	        "tcp://0.0.0.0:7400",    "tcp://*:7400",        "tcp://:7400",
	        "tcp://192.0.2.1:7400",  "tcp://[::]:7400",     "tcp://[2001:db8::1]:7400",
	        "tcp4://0.0.0.0:7400",   "tcp6://[::]:7400",    "tcp://scorer.example.net:7400",
	        "ws://0.0.0.0:7400/bus", "tcp://128.0.0.1:7400"};
	static const char *const fine[] = {"tcp://127.0.0.1:7400",     "tcp://127.1.2.3:0",
	                                   "tcp://[::1]:7400",         "tcp://localhost:7400",
	                                   "tls+tcp://0.0.0.0:7400",   "tls+tcp://[::]:7400",
	                                   "ipc:///run/repnet/ingest", "inproc://ingest",
	                                   "wss://0.0.0.0:7400/bus",   "ws://127.0.0.1:7400/bus"};
	for (size_t i = 0; i < RN_ARRAY_LEN(remote); i++)
		if (!feeds_bus_url_plaintext_remote(remote[i]))
			fail_msg("%s taken for loopback or TLS", remote[i]);
	for (size_t i = 0; i < RN_ARRAY_LEN(fine); i++)
		if (feeds_bus_url_plaintext_remote(fine[i]))
			fail_msg("%s refused as plaintext from the network", fine[i]);

	/* The ingest listener refuses one, unless the key allows it. */
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://0.0.0.0:0", NULL};
	load_conf(ov);
	struct sink s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct feeds_ingest_server *srv = NULL;
	RN_FAILS_WITH(feeds_ingest_server_start(&srv, &conf, NULL, ring, handler, &s), RN_ECONF);
	rn_conf_release(&sec, 1);
}

RN_TEST_MAIN_GROUP(group_setup, group_teardown, test_delivery, test_scorer_later, test_queue_full,
                   test_raw_client, test_refusals, test_untrusted_then_trusted, test_sizes,
                   test_plaintext_urls)
