/*
 * guard_test.c: the caps and the silence deadline of a bus listener's
 * connections, on the scorer's ingest listener over real loopback
 * sockets. Raw TCP clients send the 8-byte SP header of a REQ socket and
 * nothing more, as the attack of issue 14 did: past the per-client cap a
 * client's newcomer closes its own least active pipe; at the listener's
 * cap a client holding fewer pipes displaces the least active pipe of the
 * client holding the most, and one holding the most is refused, and its
 * address's next connections are dropped below nng while the listener is
 * full (they never get a descriptor); a real
 * collector still has its batches acknowledged while the attack holds the
 * listener full; and the silent pipes are closed at the deadline.
 *
 * Clients bind 127.0.0.x sources to be distinct clients. Every wait is on
 * a condition (a counter, an EOF, an acknowledgement), bounded in time.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"
#include "test.h"
#include "loopback.h"

#define WAIT_MS 10000 /* the bound of every wait */

static _Atomic size_t ingested;
/* The collector whose batches the scorer takes, and the scorer's keyring of it. */
static const uint8_t seed_collector[32] = {4, 2};
static struct feeds_signer *signer;
static struct feeds_keyring *ring;

static int group_setup(void **state)
{
	(void)state;
	char pub[FEEDS_PUBKEY_B64];
	if (feeds_signer_from_seed(&signer, seed_collector, "member01") != RN_OK ||
	    feeds_keyring_alloc(&ring) != RN_OK)
		return -1;
	feeds_signer_public(signer, pub);
	return feeds_keyring_add(ring, "member01", pub, false) == RN_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	feeds_keyring_free(ring);
	feeds_signer_free(signer);
	return 0;
}

static int handler(void *arg, const struct rn_obs_batch_meta *meta, const struct rn_obs *obs,
                   size_t n)
{
	(void)arg;
	(void)meta;
	(void)obs;
	atomic_fetch_add(&ingested, n);
	return RN_OK;
}

static struct feeds_bus_conf conf;
static struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};
static struct rn_metrics *m;
static unsigned port;

static double metric(const char *name, const char *labels)
{
	double v = -1;
	RN_PASS(rn_metrics_value(m, name, labels, &v));
	return v;
}

static double outcome(const char *o)
{
	char lab[96];
	snprintf(lab, sizeof(lab), "listener=\"ingest\",outcome=\"%s\"", o);
	return metric("repnet_connections_total", lab);
}

static bool wait_outcome(const char *o, double want)
{
	int64_t end = rn_time_mono_ms() + WAIT_MS;
	while (outcome(o) < want) {
		if (rn_time_mono_ms() > end)
			return false;
		rn_time_sleep_ms(2);
	}
	return true;
}

/* A pipe from src: connects and sends a REQ socket's SP header, nothing more. */
static int sp_client(const char *src)
{
	static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	int fd = rn_test_dial(src, port, false);
	assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), 8);
	return fd;
}

/* A pipe from src, once the listener has counted it (accepted or refused). */
static int sp_pipe(const char *src)
{
	double before = outcome("accepted") + outcome("refused");
	int fd = sp_client(src);
	int64_t end = rn_time_mono_ms() + WAIT_MS;
	while (outcome("accepted") + outcome("refused") < before + 1)
		if (rn_time_mono_ms() > end)
			fail_msg("the pipe from %s was never counted", src);
		else
			rn_time_sleep_ms(2);
	return fd;
}

/* True when a connection from src completes its TCP handshake within ms. */
static bool connects(const char *src, int ms)
{
	int fd = rn_test_dial(src, port, true);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	bool ok = poll(&p, 1, ms) == 1;
	int err = 0;
	socklen_t el = sizeof(err);
	if (ok && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err != 0)
		ok = false;
	close(fd);
	return ok;
}

/* True when the server has closed fd (EOF or reset), after its SP header. */
static bool is_closed(int fd, int ms)
{
	uint8_t b[64];
	int64_t end = rn_time_mono_ms() + ms;
	for (;;) {
		int left = (int)(end - rn_time_mono_ms());
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) != 1)
			return false;
		ssize_t k = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0 && errno != EAGAIN)
			return false;
	}
}

static void wait_acked(struct feeds_ingest_client *c, uint64_t want)
{
	for (int i = 0; i < 1000 && feeds_ingest_client_acked(c) < want; i++)
		rn_time_sleep_ms(10);
	assert_int_equal(feeds_ingest_client_acked(c), want);
}

static struct feeds_ingest_server *start(const char *idle)
{
	char ov_idle[64];
	snprintf(ov_idle, sizeof(ov_idle), "feeds.bus.idle_timeout=%s", idle);
	const char *ov[] = {"feeds.bus.ingest_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.ingest_max_conns=4",
	                    "feeds.bus.max_conns_per_client=3",
	                    "feeds.bus.ingest_flush=5ms",
	                    ov_idle,
	                    NULL};
	struct rn_conf_error err;
	struct feeds_ingest_server *srv;
	RN_PASS(rn_conf_load(NULL, ov, &sec, 1, &err));
	RN_PASS(rn_metrics_alloc(&m));
	RN_PASS(feeds_ingest_server_start(&srv, &conf, m, ring, handler, NULL));
	port = feeds_ingest_server_port(srv);
	return srv;
}

static void stop(struct feeds_ingest_server *srv)
{
	feeds_ingest_server_stop(srv);
	rn_metrics_free(m);
	rn_conf_release(&sec, 1);
}

static void test_caps(void **state)
{
	(void)state;
	struct feeds_ingest_server *srv = start("1h");
	/* The per-client cap: a fourth pipe from .10 closes its first. */
	int a1 = sp_pipe("127.0.0.10"), a2 = sp_pipe("127.0.0.10"), a3 = sp_pipe("127.0.0.10");
	int a4 = sp_pipe("127.0.0.10");
	assert_true(is_closed(a1, WAIT_MS));
	assert_true(outcome("evicted_per_client") == 1);
	close(a1);
	/* Full: .10 holds three, .11 one. */
	int b1 = sp_pipe("127.0.0.11");
	assert_true(metric("repnet_connections_open", "listener=\"ingest\"") == 4);
	/* A client holding fewer displaces the least active pipe of the one holding the most. */
	int c1 = sp_pipe("127.0.0.12");
	int c2 = sp_pipe("127.0.0.12");
	assert_true(outcome("evicted_full") == 2);
	assert_true(is_closed(a2, WAIT_MS));
	assert_true(is_closed(a3, WAIT_MS));
	assert_false(is_closed(a4, 100));
	assert_false(is_closed(b1, 100));
	/* .12 now holds the most: its next one is refused. */
	int c3 = sp_pipe("127.0.0.12");
	assert_true(outcome("refused") == 1);
	assert_true(is_closed(c3, WAIT_MS));
	assert_true(metric("repnet_connections_open", "listener=\"ingest\"") == 4);
	/* Its address's next connection is dropped by the listener's filter; another's is not. */
	assert_false(connects("127.0.0.12", 500));
	assert_true(connects("127.0.0.13", WAIT_MS));

	/* A collector from 127.0.0.1 still gets in, and its batches are acknowledged. */
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
	struct feeds_ingest_client *c;
	RN_PASS(feeds_ingest_client_start(&c, &conf, url, m, (const uint8_t *)"member01", signer));
	struct rn_obs o[10];
	memset(o, 0, sizeof(o));
	for (int i = 0; i < 10; i++) {
		rn_addr_set_v4(&o[i].addr, 0xC6120000u + (uint32_t)i);
		o[i].kind = RN_KIND_SASL_FAIL;
		o[i].source = RN_SRC_POSTFIX;
		o[i].count = 1;
		o[i].ts_ms = 1795919209000;
	}
	assert_int_equal(feeds_ingest_client_submit(c, o, 10, NULL), 10);
	wait_acked(c, 10);
	assert_int_equal(atomic_load(&ingested), 10);
	assert_true(outcome("evicted_full") == 3);
	assert_true(is_closed(c1, WAIT_MS));
	assert_int_equal(feeds_ingest_client_stop(c, 1000), 0);
	int fds[] = {a2, a3, a4, b1, c1, c2, c3};
	for (size_t i = 0; i < RN_ARRAY_LEN(fds); i++)
		close(fds[i]);
	assert_true(outcome("idle_closed") == 0);
	stop(srv);
}

/* Pipes that never send a message are closed at the deadline. */
static void test_deadline(void **state)
{
	(void)state;
	struct feeds_ingest_server *srv = start("1s");
	int a = sp_pipe("127.0.0.10"), b = sp_pipe("127.0.0.11");
	assert_true(is_closed(a, WAIT_MS));
	assert_true(is_closed(b, WAIT_MS));
	assert_true(wait_outcome("idle_closed", 2));
	assert_true(metric("repnet_connections_open", "listener=\"ingest\"") == 0);
	close(a);
	close(b);
	stop(srv);
}

RN_TEST_MAIN_GROUP(group_setup, group_teardown, test_caps, test_deadline)
