/*
 * feed_test.c: publisher and subscribers over real nng sockets on
 * loopback, and a subscriber against forged, mutated and replayed
 * messages.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "feeds/replica/internal.h"
#include "feeds/bus/payload.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/sub.h"
#include "scoring/scoring.h"
#include "test.h"

static const uint8_t seed_pub[32] = {'p', 'u', 'b'};
static const uint8_t seed_evil[32] = {'e', 'v', 'i', 'l'};

static struct feeds_bus_conf conf;
static struct rn_conf_section sec = {"feeds", feeds_bus_conf_keys, &conf};
static char tmpdir[64];

static void load_conf(void)
{
	const char *ov[] = {"feeds.bus.pub_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.resync_listen=tcp://127.0.0.1:0",
	                    "feeds.bus.heartbeat=200ms",
	                    "feeds.bus.reconnect_min=10ms",
	                    "feeds.bus.reconnect_max=200ms",
	                    NULL};
	struct rn_conf_error err;
	RN_PASS(rn_conf_load(NULL, ov, &sec, 1, &err));
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A random blocklist of n IPv4 hosts in 198.18.0.0/15 plus a few prefixes. */
static struct scoring_table *random_table(uint64_t *seed, size_t n, int64_t now)
{
	struct scoring_entry *e = calloc(n + 4, sizeof(*e));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t a = 0xC6120000u | (uint32_t)(rn_test_rand(seed) & 0x1ffff);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = e[j].prefix.addr.u.v4 == a;
		if (dup)
			continue;
		rn_addr_set_v4(&e[k].prefix.addr, a);
		e[k].prefix.len = 32;
		e[k].cats = 1u << (1 + rn_test_rand(seed) % 5);
		e[k].expires_ms = now + 3600000 + (int64_t)(rn_test_rand(seed) % 4) * 600000;
		k++;
	}
	struct scoring_table *t;
	RN_PASS(scoring_table_build(e, k, false, &t));
	free(e);
	return t;
}

struct member {
	struct feeds_sub *sub;
	struct feeds_keyring *ring;
};

static void digest_of(struct feeds_sub *s, uint8_t d[32])
{
	struct scoring_table *t = feeds_sub_table(s);
	if (t == NULL) {
		memset(d, 0xee, 32);
		return;
	}
	scoring_table_digest(t, d);
	scoring_table_free(t);
}

/* Waits up to ms for the subscriber to hold digest want. */
static bool converge(struct feeds_sub *s, const uint8_t want[32], int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		uint8_t d[32];
		digest_of(s, d);
		if (memcmp(d, want, 32) == 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

static void start_member(struct member *m, struct feeds_pub *p, const char *pubkey, const char *dir,
                         unsigned drop)
{
	char pu[64], ru[64];
	snprintf(pu, sizeof(pu), "tcp://127.0.0.1:%u", feeds_pub_port(p));
	snprintf(ru, sizeof(ru), "tcp://127.0.0.1:%u", feeds_pub_resync_port(p));
	RN_PASS(feeds_keyring_alloc(&m->ring));
	RN_PASS(feeds_keyring_add(m->ring, "pub1", pubkey, false));
	struct feeds_sub_opts o = {.data_dir = dir, .keyring = m->ring, .drop_permille = drop};
	RN_PASS(feeds_sub_start(&m->sub, &conf, "pub1", pu, ru, &o));
}

static void stop_member(struct member *m)
{
	feeds_sub_stop(m->sub);
	feeds_keyring_free(m->ring);
}

/* Two subscribers follow a publisher through 30 changes, exactly. */
static void test_follow(void **state)
{
	(void)state;
	load_conf();
	struct feeds_signer *sg;
	char pk[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&sg, seed_pub, "pub1"));
	feeds_signer_public(sg, pk);
	char d1[128], d2[128], d3[128];
	snprintf(d1, sizeof(d1), "%s/p", tmpdir);
	snprintf(d2, sizeof(d2), "%s/a", tmpdir);
	snprintf(d3, sizeof(d3), "%s/b", tmpdir);
	struct feeds_pub *p;
	struct feeds_pub_opts po = {.data_dir = d1, .signer = sg};
	RN_PASS(feeds_pub_start(&p, &conf, &po, NULL));
	struct member a, b;
	start_member(&a, p, pk, d2, 0);
	start_member(&b, p, pk, d3, 0);
	uint64_t seed = 11;
	int64_t now = rn_time_now_ms();
	for (int step = 0; step < 30; step++) {
		struct scoring_table *t = random_table(&seed, 50 + (size_t)step * 7, now);
		RN_PASS(feeds_pub_update(p, t, NULL));
		uint8_t want[32];
		scoring_table_digest(t, want);
		scoring_table_free(t);
		if (!converge(a.sub, want, 5000) || !converge(b.sub, want, 5000))
			fail_msg("step %d: a subscriber did not reach the publisher's digest",
			         step);
	}
	struct feeds_feed_status st;
	feeds_sub_status(a.sub, &st);
	assert_true(st.in_sync);
	assert_int_equal(st.epoch, 1);
	assert_int_equal(st.seq, 31);
	/*
	 * A gap, and replays (deltas the PUB socket queued while a resync
	 * fetched a newer state, which a loaded machine delivers after it), are
	 * a subscriber catching up, and the digests above prove where it ended;
	 * any other rejection is a defect.
	 */
	for (int r = 0; r < FEEDS_REJ_COUNT; r++)
		if (r != FEEDS_REJ_GAP && r != FEEDS_REJ_REPLAY && st.rejected[r] != 0)
			fail_msg("unexpected rejection %s", feeds_reject_name(r));
	stop_member(&a);
	stop_member(&b);
	feeds_pub_stop(p);

	/* A restarted publisher opens epoch 2; a restarted member follows. */
	RN_PASS(feeds_pub_start(&p, &conf, &po, NULL));
	start_member(&a, p, pk, d2, 0);
	struct scoring_table *t = random_table(&seed, 20, now);
	RN_PASS(feeds_pub_update(p, t, NULL));
	uint8_t want[32];
	scoring_table_digest(t, want);
	scoring_table_free(t);
	assert_true(converge(a.sub, want, 5000));
	feeds_sub_status(a.sub, &st);
	assert_int_equal(st.epoch, 2);
	stop_member(&a);
	feeds_pub_stop(p);
	feeds_signer_free(sg);
	rn_conf_release(&sec, 1);
}

/* Dropping up to half of all messages still converges within two heartbeats. */
static void test_loss(void **state)
{
	(void)state;
	load_conf();
	struct feeds_signer *sg;
	char pk[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&sg, seed_pub, "pub1"));
	feeds_signer_public(sg, pk);
	char dp[128], ds[128];
	snprintf(dp, sizeof(dp), "%s/lp", tmpdir);
	snprintf(ds, sizeof(ds), "%s/ls", tmpdir);
	struct feeds_pub *p;
	struct feeds_pub_opts po = {.data_dir = dp, .signer = sg};
	RN_PASS(feeds_pub_start(&p, &conf, &po, NULL));
	const unsigned drops[] = {10, 100, 250, 500};
	uint64_t seed = 5;
	int64_t now = rn_time_now_ms();
	int runs = 0, ok = 0;
	for (size_t di = 0; di < RN_ARRAY_LEN(drops); di++) {
		struct member m;
		char d[160];
		snprintf(d, sizeof(d), "%s-%u", ds, drops[di]);
		start_member(&m, p, pk, d, drops[di]);
		for (int run = 0; run < 25; run++) {
			struct scoring_table *t = NULL;
			for (int k = 0; k < 4; k++) {
				scoring_table_free(t);
				t = random_table(&seed, 40, now);
				RN_PASS(feeds_pub_update(p, t, NULL));
			}
			uint8_t want[32];
			scoring_table_digest(t, want);
			scoring_table_free(t);
			runs++;
			/* Two heartbeats of 200 ms, plus the resync's round trip. */
			ok += converge(m.sub, want, 2 * 200 + 300);
		}
		stop_member(&m);
	}
	assert_int_equal(runs, 100);
	if (ok != runs)
		fail_msg("converged in %d of %d runs", ok, runs);
	feeds_pub_stop(p);
	feeds_signer_free(sg);
	rn_conf_release(&sec, 1);
}

/* ---- adversarial ----------------------------------------------------- */

struct forge {
	struct feeds_signer *good, *evil;
	uint64_t epoch, seq;
	uint8_t digest[32];
	struct scoring_table *table;
};

static uint8_t *sealed(struct feeds_signer *sg, const struct feeds_payload_hdr *h, unsigned field,
                       const uint8_t *body, size_t blen, size_t *len)
{
	uint8_t *pl, *env;
	size_t pllen;
	RN_PASS(feeds_payload_build(h, field, body, blen, &pl, &pllen));
	RN_PASS(feeds_envelope_seal(sg, pl, pllen, &env, len));
	free(pl);
	return env;
}

static void hdr(struct feeds_payload_hdr *h, const char *name, uint64_t epoch, uint64_t seq,
                const uint8_t digest[32], int64_t ttl)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->publisher, sizeof(h->publisher), "%s", name);
	h->epoch = epoch;
	h->seq = seq;
	h->time_ms = rn_time_now_ms();
	h->expires_ms = h->time_ms + ttl;
	memcpy(h->digest, digest, 32);
}

static void test_adversarial(void **state)
{
	(void)state;
	load_conf();
	struct feeds_signer *good, *evil;
	char pk[FEEDS_PUBKEY_B64], pk_evil[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&good, seed_pub, "pub1"));
	RN_PASS(feeds_signer_from_seed(&evil, seed_evil, "evil"));
	feeds_signer_public(good, pk);
	feeds_signer_public(evil, pk_evil);
	struct feeds_keyring *ring;
	RN_PASS(feeds_keyring_alloc(&ring));
	RN_PASS(feeds_keyring_add(ring, "pub1", pk, false));
	RN_PASS(feeds_keyring_add(ring, "evil", pk_evil,
	                          false)); /* trusted, but for another feed */
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/adv", tmpdir);
	struct feeds_sub_opts o = {.data_dir = dir, .keyring = ring, .offline = true};
	struct feeds_sub *s;
	RN_PASS(feeds_sub_start(&s, &conf, "pub1", NULL, NULL, &o));

	/* Bring the subscriber to a known state: epoch 3, snapshot at seq 10, delta to 11. */
	uint64_t seed = 99;
	int64_t now = rn_time_now_ms();
	struct scoring_table *t10 = random_table(&seed, 200, now);
	struct scoring_table *t11 = random_table(&seed, 210, now);
	uint8_t d10[32], d11[32];
	scoring_table_digest(t10, d10);
	scoring_table_digest(t11, d11);
	uint8_t *body;
	size_t blen, elen;
	struct feeds_payload_hdr h;
	RN_PASS(scoring_snapshot_encode(t10, &body, &blen));
	hdr(&h, "pub1", 3, 10, d10, 3600000);
	uint8_t *snap10 = sealed(good, &h, FEEDS_BODY_SNAPSHOT, body, blen, &elen);
	size_t snap10_len = elen;
	free(body);
	RN_PASS(feeds_sub_receive(s, snap10, snap10_len));
	struct scoring_delta *dd;
	RN_PASS(scoring_delta_diff(t10, t11, &dd));
	RN_PASS(scoring_delta_encode(dd, 10, d10, &body, &blen));
	hdr(&h, "pub1", 3, 11, d11, 3600000);
	size_t good_len;
	uint8_t *good11 = sealed(good, &h, FEEDS_BODY_DELTA, body, blen, &good_len);
	free(body);
	RN_PASS(feeds_sub_receive(s, good11, good_len));
	uint8_t ref[32];
	digest_of(s, ref);
	assert_memory_equal(ref, d11, 32);

	/* A delta 11 -> 12 that is valid, to mutate. */
	struct scoring_table *t12 = random_table(&seed, 190, now);
	uint8_t d12[32];
	scoring_table_digest(t12, d12);
	struct scoring_delta *d2;
	RN_PASS(scoring_delta_diff(t11, t12, &d2));
	uint8_t *body12;
	size_t blen12;
	RN_PASS(scoring_delta_encode(d2, 11, d11, &body12, &blen12));
	hdr(&h, "pub1", 3, 12, d12, 3600000);
	size_t v12_len;
	uint8_t *valid12 = sealed(good, &h, FEEDS_BODY_DELTA, body12, blen12, &v12_len);

	uint64_t sent[8] = {0};
	enum { BITFLIP, TRUNC, WRONGKEY, REPLAY, ROLLBACK, BASEDIGEST, EXPIRED, NKIND };
	for (int i = 0; i < 10000; i++) {
		int kind = i % NKIND;
		uint8_t *m = NULL;
		size_t mlen = 0;
		uint8_t wrong[32];
		switch (kind) {
		case BITFLIP: {
			m = malloc(v12_len);
			memcpy(m, valid12, v12_len);
			mlen = v12_len;
			size_t pos = rn_test_rand(&seed) % v12_len;
			m[pos] ^= (uint8_t)(1u << (rn_test_rand(&seed) % 8));
			break;
		}
		case TRUNC:
			mlen = rn_test_rand(&seed) % v12_len;
			m = malloc(mlen ? mlen : 1);
			memcpy(m, valid12, mlen);
			break;
		case WRONGKEY:
			/* A well-formed delta signed by another member's key. */
			hdr(&h, (i / NKIND) % 2 ? "pub1" : "evil", 3, 12, d12, 3600000);
			m = sealed(evil, &h, FEEDS_BODY_DELTA, body12, blen12, &mlen);
			break;
		case REPLAY:
			/* The delta that was already applied, or the old snapshot. */
			if ((i / NKIND) % 2) {
				m = malloc(good_len);
				memcpy(m, good11, good_len);
				mlen = good_len;
			} else {
				m = malloc(snap10_len);
				memcpy(m, snap10, snap10_len);
				mlen = snap10_len;
			}
			break;
		case ROLLBACK:
			RN_PASS(scoring_snapshot_encode(t12, &body, &blen));
			hdr(&h, "pub1", 2, 500, d12, 3600000);
			m = sealed(good, &h, FEEDS_BODY_SNAPSHOT, body, blen, &mlen);
			free(body);
			break;
		case BASEDIGEST:
			memcpy(wrong, d11, 32);
			wrong[rn_test_rand(&seed) % 32] ^= 1;
			RN_PASS(scoring_delta_encode(d2, 11, wrong, &body, &blen));
			hdr(&h, "pub1", 3, 12, d12, 3600000);
			m = sealed(good, &h, FEEDS_BODY_DELTA, body, blen, &mlen);
			free(body);
			break;
		case EXPIRED:
			hdr(&h, "pub1", 3, 12, d12, -1 - (int64_t)(rn_test_rand(&seed) % 100000));
			m = sealed(good, &h, FEEDS_BODY_DELTA, body12, blen12, &mlen);
			break;
		}
		sent[kind]++;
		int rc = feeds_sub_receive(s, m, mlen);
		free(m);
		if (rc == RN_OK)
			fail_msg("message %d (kind %d) was applied", i, kind);
		uint8_t now_d[32];
		digest_of(s, now_d);
		if (memcmp(now_d, ref, 32) != 0)
			fail_msg("message %d (kind %d) changed the state", i, kind);
	}
	struct feeds_feed_status st;
	feeds_sub_status(s, &st);
	assert_int_equal(st.seq, 11);
	/* Every kind is counted under its own reason. */
	assert_int_equal(st.rejected[FEEDS_REJ_EXPIRED], sent[EXPIRED]);
	assert_int_equal(st.rejected[FEEDS_REJ_EPOCH_ROLLBACK], sent[ROLLBACK]);
	assert_int_equal(st.rejected[FEEDS_REJ_REPLAY], sent[REPLAY]);
	assert_int_equal(st.rejected[FEEDS_REJ_BASE_DIGEST], sent[BASEDIGEST]);
	assert_int_equal(st.rejected[FEEDS_REJ_WRONG_PUBLISHER], sent[WRONGKEY]);
	uint64_t flips_and_cuts = st.rejected[FEEDS_REJ_MALFORMED] +
	                          st.rejected[FEEDS_REJ_BAD_SIGNATURE] +
	                          st.rejected[FEEDS_REJ_UNKNOWN_KEY];
	assert_int_equal(flips_and_cuts, sent[BITFLIP] + sent[TRUNC]);
	assert_true(st.rejected[FEEDS_REJ_BAD_SIGNATURE] > 0);
	assert_true(st.rejected[FEEDS_REJ_MALFORMED] > 0);

	/* The valid delta still applies afterwards. */
	RN_PASS(feeds_sub_receive(s, valid12, v12_len));
	digest_of(s, ref);
	assert_memory_equal(ref, d12, 32);
	/* A revoked key is refused and counted as such. */
	feeds_sub_stop(s);

	free(valid12);
	free(good11);
	free(snap10);
	free(body12);
	scoring_delta_free(d2);
	scoring_delta_free(dd);
	scoring_table_free(t10);
	scoring_table_free(t11);
	scoring_table_free(t12);
	feeds_keyring_free(ring);
	feeds_signer_free(good);
	feeds_signer_free(evil);
	rn_conf_release(&sec, 1);
}

/* The persisted floor survives a restart: an old snapshot is refused after it. */
static void test_floor(void **state)
{
	(void)state;
	load_conf();
	struct feeds_signer *good;
	char pk[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&good, seed_pub, "pub1"));
	feeds_signer_public(good, pk);
	struct feeds_keyring *ring;
	RN_PASS(feeds_keyring_alloc(&ring));
	RN_PASS(feeds_keyring_add(ring, "pub1", pk, false));
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/floor", tmpdir);
	struct feeds_sub_opts o = {.data_dir = dir, .keyring = ring, .offline = true};
	struct feeds_sub *s;
	uint64_t seed = 7;
	struct scoring_table *t = random_table(&seed, 30, rn_time_now_ms());
	uint8_t d[32], *body;
	size_t blen, l5, l9;
	scoring_table_digest(t, d);
	RN_PASS(scoring_snapshot_encode(t, &body, &blen));
	struct feeds_payload_hdr h;
	hdr(&h, "pub1", 4, 5, d, 3600000);
	uint8_t *s5 = sealed(good, &h, FEEDS_BODY_SNAPSHOT, body, blen, &l5);
	hdr(&h, "pub1", 4, 9, d, 3600000);
	uint8_t *s9 = sealed(good, &h, FEEDS_BODY_SNAPSHOT, body, blen, &l9);
	RN_PASS(feeds_sub_start(&s, &conf, "pub1", NULL, NULL, &o));
	RN_PASS(feeds_sub_receive(s, s9, l9));
	feeds_sub_stop(s);
	RN_PASS(feeds_sub_start(&s, &conf, "pub1", NULL, NULL, &o));
	RN_FAILS_WITH(feeds_sub_receive(s, s5, l5), RN_EREPLAY);
	RN_PASS(feeds_sub_receive(s, s9, l9));
	feeds_sub_stop(s);
	free(s5);
	free(s9);
	free(body);
	scoring_table_free(t);
	feeds_keyring_free(ring);
	feeds_signer_free(good);
	rn_conf_release(&sec, 1);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/repnet-feed-XXXXXX");
	return mkdtemp(tmpdir) == NULL;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) != 0;
}

RN_TEST_MAIN_GROUP(setup, teardown, test_adversarial, test_floor, test_follow, test_loss)
