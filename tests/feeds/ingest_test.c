/*
 * ingest_test.c: collectors -> scorer over real nng sockets on loopback.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "feeds/bus/bus.h"
#include "test.h"

struct sink {
	pthread_mutex_t mu;
	struct rn_obs *got;
	size_t n, cap;
	int calls;
	int fail_first; /* answer "retry" to this many calls */
};

static int handler(void *arg, const struct rn_obs_batch_meta *meta, const struct rn_obs *obs,
                   size_t n)
{
	(void)meta;
	struct sink *s = arg;
	pthread_mutex_lock(&s->mu);
	s->calls++;
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

static void test_delivery(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.ingest_batch=500", "feeds.bus.ingest_flush=5ms", NULL};
	load_conf(ov);
	struct sink s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = 20000, .fail_first = 3};
	s.got = calloc(s.cap, sizeof(*s.got));
	struct rn_metrics *m;
	RN_PASS(rn_metrics_alloc(&m));
	struct feeds_ingest_server *srv;
	RN_PASS(feeds_ingest_server_start(&srv, &conf, m, handler, &s));
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", feeds_ingest_server_port(srv));
	struct feeds_ingest_client *c;
	const uint8_t rep[8] = "member01";
	RN_PASS(feeds_ingest_client_start(&c, &conf, url, m, rep));
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
	check_in_order(&s, 10000);
	double v;
	RN_PASS(rn_metrics_value(m, "repnet_ingest_batches_total", "result=\"retry\"", &v));
	assert_true(v == 3);
	RN_PASS(rn_metrics_value(m, "repnet_collector_batch_retries_total", NULL, &v));
	assert_true(v >= 3);
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	feeds_ingest_server_stop(srv);
	rn_metrics_free(m);
	rn_conf_release(&sec, 1);
	free(o);
	free(s.got);
}

/* The collector starts before the scorer: it holds its queue and delivers. */
static void test_scorer_later(void **state)
{
	(void)state;
	const char *ov0[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", NULL};
	load_conf(ov0);
	struct sink s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = 5000};
	s.got = calloc(s.cap, sizeof(*s.got));
	struct feeds_ingest_server *srv;
	RN_PASS(feeds_ingest_server_start(&srv, &conf, NULL, handler, &s));
	unsigned port = feeds_ingest_server_port(srv);
	feeds_ingest_server_stop(srv);
	rn_conf_release(&sec, 1);

	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
	char lst[96];
	snprintf(lst, sizeof(lst), "feeds.bus.ingest_listen=%s", url);
	const char *ov[] = {lst, "feeds.bus.reconnect_min=10ms", "feeds.bus.reconnect_max=100ms",
	                    "feeds.bus.ingest_timeout=300ms", NULL};
	load_conf(ov);
	struct feeds_ingest_client *c;
	RN_PASS(feeds_ingest_client_start(&c, &conf, url, NULL, (const uint8_t *)"member02"));
	struct rn_obs o[3000];
	make_obs(o, 3000, 0);
	assert_int_equal(feeds_ingest_client_submit(c, o, 3000, NULL), 3000);
	struct timespec ts = {.tv_nsec = 400000000};
	nanosleep(&ts, NULL);
	assert_int_equal(feeds_ingest_client_acked(c), 0);
	RN_PASS(feeds_ingest_server_start(&srv, &conf, NULL, handler, &s));
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
	                                  (const uint8_t *)"member03"));
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

/* A foreign client: resends are recognised; garbage is refused. */
static void test_raw_client(void **state)
{
	(void)state;
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0", NULL};
	load_conf(ov);
	struct sink s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = 100};
	s.got = calloc(s.cap, sizeof(*s.got));
	struct rn_metrics *m;
	RN_PASS(rn_metrics_alloc(&m));
	struct feeds_ingest_server *srv;
	RN_PASS(feeds_ingest_server_start(&srv, &conf, m, handler, &s));
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", feeds_ingest_server_port(srv));
	nng_socket req;
	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000);
	assert_int_equal(nng_dial(req, url, NULL, 0), 0);

	struct rn_obs o[5];
	make_obs(o, 5, 0);
	struct rn_obs_batch_meta meta = {.batch_seq = 1};
	memset(meta.collector_id, 7, 16);
	uint8_t *buf;
	size_t len;
	RN_PASS(rn_obs_batch_pack(&meta, o, 5, &buf, &len));
	for (int round = 0; round < 3; round++) {
		assert_int_equal(nng_send(req, buf, len, 0), 0);
		nng_msg *msg;
		assert_int_equal(nng_recvmsg(req, &msg, 0), 0);
		Repnet__V1__BatchAck *a =
		        repnet__v1__batch_ack__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		assert_non_null(a);
		assert_int_equal(a->status, REPNET__V1__BATCH_ACK__STATUS__STATUS_OK);
		assert_int_equal(a->batch_seq, 1);
		assert_int_equal(a->accepted, round == 0 ? 5 : 0);
		repnet__v1__batch_ack__free_unpacked(a, NULL);
		nng_msg_free(msg);
	}
	free(buf);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.n, 5);

	const char junk[] = "\xff\xff\xff\xff not protobuf";
	assert_int_equal(nng_send(req, (void *)junk, sizeof(junk), 0), 0);
	nng_msg *msg;
	assert_int_equal(nng_recvmsg(req, &msg, 0), 0);
	Repnet__V1__BatchAck *a =
	        repnet__v1__batch_ack__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	assert_non_null(a);
	assert_int_equal(a->status, REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED);
	repnet__v1__batch_ack__free_unpacked(a, NULL);
	nng_msg_free(msg);
	double v;
	RN_PASS(rn_metrics_value(m, "repnet_ingest_decode_errors_total", NULL, &v));
	assert_true(v == 1);
	RN_PASS(rn_metrics_value(m, "repnet_ingest_batches_total", "result=\"duplicate\"", &v));
	assert_true(v == 2);

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
	assert_int_equal(nng_send(req, raw, len, 0), 0);
	assert_int_equal(nng_recvmsg(req, &msg, 0), 0);
	nng_msg_free(msg);
	RN_PASS(rn_metrics_value(m, "repnet_ingest_observations_refused_total", "reason=\"bad_ip\"",
	                         &v));
	assert_true(v == 1);

	nng_close(req);
	feeds_ingest_server_stop(srv);
	rn_metrics_free(m);
	rn_conf_release(&sec, 1);
	free(s.got);
}

RN_TEST_MAIN(test_delivery, test_scorer_later, test_queue_full, test_raw_client)
