/*
 * feed_bench.c: the feed's numbers, printed (not a test).
 *
 *   feed_bench [ROUNDS]
 *
 * 1. Publish-to-applied latency over real nng sockets on loopback: a
 *    publisher and a subscriber in one process (one clock), the time from
 *    feeds_pub_update() to the subscriber's on_change, for deltas of 10
 *    and 10,000 addresses against a 100k-entry state; p50 and p99.
 * 2. The wire size of a 1M-address snapshot (IPv4 hosts, random in a /8,
 *    four categories, one expiry each), envelope included.
 * 3. Verified messages per second: envelopes opened and checked by the
 *    subscriber's full path (signature, header, state checks), heartbeats.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/payload.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/sub.h"
#include "scoring/scoring.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct scoring_entry *entries(uint64_t *seed, size_t n, int64_t exp)
{
	struct scoring_entry *e = calloc(n, sizeof(*e));
	/* Distinct addresses: a random odd stride through 10.0.0.0/8. */
	uint32_t a = (uint32_t)rnd(seed) & 0xffffff, step = ((uint32_t)rnd(seed) | 1) & 0xffffff;
	for (size_t i = 0; i < n; i++) {
		a = (a + step) & 0xffffff;
		rn_addr_set_v4(&e[i].prefix.addr, 0x0a000000u | a);
		e[i].prefix.len = 32;
		e[i].cats = 1u << (1 + i % 4);
		e[i].expires_ms = exp;
	}
	return e;
}

struct lat {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t applied_ns;
	uint64_t version;
};

static void on_change(void *arg, struct feeds_sub *s, const struct scoring_table *o,
                      const struct scoring_table *n, const struct scoring_delta *d)
{
	struct lat *l = arg;
	(void)s;
	(void)o;
	(void)n;
	(void)d;
	pthread_mutex_lock(&l->mu);
	l->applied_ns = now_ns();
	l->version++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void latency(struct feeds_bus_conf *conf, struct feeds_signer *sg, const char *pk,
                    size_t delta, int rounds)
{
	char dir[] = "/tmp/repnet-feedbench-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return;
	uint64_t seed = 42;
	int64_t exp = rn_time_now_ms() + 86400000;
	size_t base = 100000;
	struct scoring_entry *e = entries(&seed, base + delta * (size_t)rounds, exp);
	struct scoring_table *t;
	scoring_table_build(e, base, false, &t);
	struct feeds_pub *p;
	struct feeds_pub_opts po = {.data_dir = dir, .signer = sg};
	if (feeds_pub_start(&p, conf, &po, t) != RN_OK) {
		fprintf(stderr, "publisher failed\n");
		return;
	}
	struct feeds_keyring *ring;
	feeds_keyring_alloc(&ring);
	feeds_keyring_add(ring, "bench", pk, false);
	struct lat l = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	char pu[64], ru[64];
	snprintf(pu, sizeof(pu), "tcp://127.0.0.1:%u", feeds_pub_port(p));
	snprintf(ru, sizeof(ru), "tcp://127.0.0.1:%u", feeds_pub_resync_port(p));
	/* Not ephemeral: the subscriber fdatasyncs its (epoch, seq) before applying. */
	struct feeds_sub_opts so = {
	        .data_dir = dir, .keyring = ring, .on_change = on_change, .arg = &l};
	struct feeds_sub *s;
	feeds_sub_start(&s, conf, "bench", pu, ru, &so);
	/* Wait for the first state (the snapshot, via resync). */
	for (int i = 0; i < 500 && l.version == 0; i++)
		usleep(10000);
	int64_t *lat = calloc((size_t)rounds, sizeof(*lat));
	int got = 0;
	for (int r = 0; r < rounds; r++) {
		/* The next state: the base plus this round's delta addresses. */
		size_t n = base + delta;
		struct scoring_entry *v = malloc(n * sizeof(*v));
		memcpy(v, e, base * sizeof(*v));
		memcpy(v + base, e + base + delta * (size_t)r, delta * sizeof(*v));
		struct scoring_table *nt;
		scoring_table_build(v, n, false, &nt);
		free(v);
		pthread_mutex_lock(&l.mu);
		uint64_t want = l.version + 1;
		pthread_mutex_unlock(&l.mu);
		/* The scorer hands its delta over with the table, as repnetd's on_tick does. */
		struct scoring_delta *dd = NULL;
		scoring_delta_diff(t, nt, &dd);
		int64_t t0 = now_ns();
		feeds_pub_update(p, nt, dd);
		scoring_delta_free(dd);
		pthread_mutex_lock(&l.mu);
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		while (l.version < want)
			if (pthread_cond_timedwait(&l.cv, &l.mu, &dl) != 0)
				break;
		if (l.version >= want)
			lat[got++] = l.applied_ns - t0;
		pthread_mutex_unlock(&l.mu);
		scoring_table_free(t);
		t = nt;
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp64);
	if (got > 0)
		printf("delta of %6zu addresses into 100k: publish-to-applied p50 %.2f ms, p99 "
		       "%.2f ms "
		       "(%d of %d rounds)\n",
		       delta, (double)lat[got / 2] / 1e6, (double)lat[got * 99 / 100] / 1e6, got,
		       rounds);
	free(lat);
	feeds_sub_stop(s);
	feeds_pub_stop(p);
	feeds_keyring_free(ring);
	scoring_table_free(t);
	free(e);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0) {
	}
}

static void snapshot_size(struct feeds_signer *sg)
{
	uint64_t seed = 7;
	size_t n = 1000000;
	struct scoring_entry *e = entries(&seed, n, rn_time_now_ms() + 86400000);
	struct scoring_table *t;
	scoring_table_build(e, n, false, &t);
	uint8_t *body, *pl, *env;
	size_t blen, pllen, elen;
	int64_t t0 = now_ns();
	scoring_snapshot_encode(t, &body, &blen);
	int64_t t1 = now_ns();
	struct feeds_payload_hdr h = {.epoch = 1, .seq = 1};
	strcpy(h.publisher, "bench");
	h.time_ms = rn_time_now_ms();
	h.expires_ms = h.time_ms + 3600000;
	feeds_payload_build(&h, FEEDS_BODY_SNAPSHOT, body, blen, &pl, &pllen);
	feeds_envelope_seal(sg, pl, pllen, &env, &elen);
	printf("snapshot of 1M IPv4 addresses: %zu bytes on the wire (%.2f B/address), encoded in "
	       "%.0f ms\n",
	       elen, (double)elen / (double)n, (double)(t1 - t0) / 1e6);
	free(body);
	free(pl);
	free(env);
	scoring_table_free(t);
	free(e);
}

static void verify_rate(struct feeds_bus_conf *conf, struct feeds_signer *sg, const char *pk)
{
	struct feeds_keyring *ring;
	feeds_keyring_alloc(&ring);
	feeds_keyring_add(ring, "bench", pk, false);
	struct feeds_sub_opts so = {
	        .data_dir = "/nonexistent", .keyring = ring, .offline = true, .ephemeral = true};
	struct feeds_sub *s;
	feeds_sub_start(&s, conf, "bench", NULL, NULL, &so);
	/* A state to check against: an empty snapshot at seq 1. */
	struct scoring_table *t;
	scoring_table_empty(&t);
	uint8_t d[32], *body, *pl, *env;
	size_t blen, pllen, elen;
	scoring_table_digest(t, d);
	scoring_snapshot_encode(t, &body, &blen);
	struct feeds_payload_hdr h = {.epoch = 1, .seq = 1};
	strcpy(h.publisher, "bench");
	memcpy(h.digest, d, 32);
	h.time_ms = rn_time_now_ms();
	h.expires_ms = h.time_ms + 3600000;
	feeds_payload_build(&h, FEEDS_BODY_SNAPSHOT, body, blen, &pl, &pllen);
	feeds_envelope_seal(sg, pl, pllen, &env, &elen);
	feeds_sub_receive(s, env, elen);
	free(pl);
	free(env);
	free(body);
	uint8_t hb[32];
	size_t hl;
	feeds_heartbeat_build(0, 5000, hb, sizeof(hb), &hl);
	feeds_payload_build(&h, FEEDS_BODY_HEARTBEAT, hb, hl, &pl, &pllen);
	feeds_envelope_seal(sg, pl, pllen, &env, &elen);
	int n = 20000;
	int64_t t0 = now_ns();
	for (int i = 0; i < n; i++)
		feeds_sub_receive(s, env, elen);
	int64_t t1 = now_ns();
	printf("verified messages: %.0f/s on one core (heartbeats through every check)\n",
	       (double)n / ((double)(t1 - t0) / 1e9));
	free(pl);
	free(env);
	scoring_table_free(t);
	feeds_sub_stop(s);
	feeds_keyring_free(ring);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	static struct feeds_bus_conf conf;
	struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};
	const char *ov[] = {"feeds.bus.pub_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.resync_listen=tcp://127.0.0.1:0", NULL};
	struct rn_conf_error err;
	rn_log_init("feed_bench", true, RN_LOG_WARNING);
	if (rn_conf_load(NULL, ov, &sec, 1, &err) != RN_OK)
		return 1;
	static const uint8_t seed[32] = {'b', 'e', 'n', 'c', 'h'};
	struct feeds_signer *sg;
	char pk[FEEDS_PUBKEY_B64];
	feeds_signer_from_seed(&sg, seed, "bench");
	feeds_signer_public(sg, pk);
	latency(&conf, sg, pk, 10, rounds);
	latency(&conf, sg, pk, 10000, rounds / 4 > 10 ? rounds / 4 : 10);
	snapshot_size(sg);
	verify_rate(&conf, sg, pk);
	feeds_signer_free(sg);
	rn_conf_release(&sec, 1);
	return 0;
}
