/*
 * smtp_detect_test.c: the SMTP detectors: thresholds, windows, quiet
 * periods, bounded state with counted eviction, the distributed SASL
 * detector, spamtraps through queue ids, trusted DNSBL zones; and the
 * detectors on the real logs.
 */
#include "tests/collector/smtp_testlib.h"

#define T0  1796000000000LL
#define MIN 60000LL

static struct smtp_detect *det_new(struct collector_smtp_conf *c, const char *const *ov)
{
	static const uint8_t key[32] = {9};
	struct smtp_detect *d = NULL;
	smtp_conf_defaults(c, ov);
	RN_PASS(smtp_detect_alloc(&d, c, key));
	return d;
}

static struct smtp_event mk(const char *addr, unsigned kind, const char *evidence)
{
	struct smtp_event ev;
	memset(&ev, 0, sizeof(ev));
	RN_PASS(rn_addr_parse_str(addr, &ev.addr));
	ev.kind = (uint16_t)kind;
	ev.source = RN_SRC_POSTFIX;
	ev.daemon = "postfix/smtpd";
	ev.prog = SMTP_PROG_SMTPD;
	ev.ev_len = (uint8_t)strlen(evidence);
	memcpy(ev.evidence, evidence, ev.ev_len + 1);
	return ev;
}

/* Feeds one event; returns how many observations of kind it produced. */
static size_t feed(struct smtp_detect *d, int64_t t, const struct smtp_event *ev, unsigned kind)
{
	struct rn_obs out[SMTP_DETECT_MAX_OUT];
	size_t n = smtp_detect_line(d, t, ev, true, out, SMTP_DETECT_MAX_OUT), k = 0;
	assert_true(n >= 1);
	assert_int_equal(out[0].kind, ev->kind); /* the line's own observation first */
	for (size_t i = 1; i < n; i++) {
		assert_int_equal(out[i].ts_ms, t);
		k += out[i].kind == kind;
	}
	return k;
}

static void test_sasl_fast(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	struct smtp_detect *d = det_new(&c, NULL); /* 5 in 10m */
	struct smtp_event ev = mk("192.0.2.1", RN_KIND_SASL_FAIL, "auth:LOGIN");
	for (int i = 0; i < 4; i++)
		assert_int_equal(feed(d, T0 + i * MIN, &ev, RN_KIND_SASL_BRUTEFORCE), 0);
	assert_int_equal(feed(d, T0 + 4 * MIN, &ev, RN_KIND_SASL_BRUTEFORCE), 1);
	/* Quiet for a window, then again. */
	assert_int_equal(feed(d, T0 + 5 * MIN, &ev, RN_KIND_SASL_BRUTEFORCE), 0);
	size_t again = 0;
	for (int i = 15; i < 25; i++)
		again += feed(d, T0 + i * MIN, &ev, RN_KIND_SASL_BRUTEFORCE);
	assert_int_equal(again, 1);
	/* Four failures an hour apart never trip the fast detector. */
	struct smtp_event slow = mk("192.0.2.2", RN_KIND_SASL_FAIL, "auth:LOGIN");
	for (int i = 0; i < 4; i++)
		assert_int_equal(feed(d, T0 + i * 60 * MIN, &slow, RN_KIND_SASL_BRUTEFORCE), 0);
	assert_int_equal(smtp_detect_stats(d)->signals[SMTP_DET_SASL_FAST].v, 2);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_sasl_slow(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	struct smtp_detect *d = det_new(&c, NULL); /* 12 in 6h */
	struct smtp_event ev = mk("192.0.2.3", RN_KIND_SASL_FAIL, "auth:PLAIN");
	size_t sig = 0;
	for (int i = 0; i < 12; i++) /* one every 20 minutes: never 5 in 10m */
		sig += feed(d, T0 + i * 20 * MIN, &ev, RN_KIND_SASL_BRUTEFORCE);
	assert_int_equal(sig, 1);
	assert_int_equal(smtp_detect_stats(d)->signals[SMTP_DET_SASL_SLOW].v, 1);
	assert_int_equal(smtp_detect_stats(d)->signals[SMTP_DET_SASL_FAST].v, 0);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_sasl_distributed(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	struct smtp_detect *d = det_new(&c, NULL); /* 5 addresses per user in 6h */
	size_t sig = 0;
	for (int i = 0; i < 5; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.51.100.%d", i + 1);
		struct smtp_event ev = mk(a, RN_KIND_SASL_FAIL, "auth:LOGIN");
		ev.user = (const uint8_t *)"admin@example.org";
		ev.user_len = 17;
		sig += feed(d, T0 + i * 30 * MIN, &ev, RN_KIND_SASL_DISTRIBUTED);
	}
	assert_int_equal(sig, 5); /* all five addresses, once each */
	/* Another user, same addresses: a separate count. */
	struct smtp_event other = mk("198.51.100.1", RN_KIND_SASL_FAIL, "auth:LOGIN");
	other.user = (const uint8_t *)"bob";
	other.user_len = 3;
	assert_int_equal(feed(d, T0 + 151 * MIN, &other, RN_KIND_SASL_DISTRIBUTED), 0);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_bot_harvest_relay_flood(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	static const char *const ov[] = {"collector.detect.flood.threshold=3",
	                                 "collector.detect.relay.threshold=2", NULL};
	struct smtp_detect *d = det_new(&c, ov);
	struct smtp_event pg = mk("192.0.2.10", RN_KIND_PREGREET, "pregreet");
	assert_int_equal(feed(d, T0, &pg, RN_KIND_PROTOCOL_BOT), 1); /* weight 1 */
	struct smtp_event hu = mk("192.0.2.11", RN_KIND_HANGUP, "hangup:before-greeting");
	assert_int_equal(feed(d, T0, &hu, RN_KIND_PROTOCOL_BOT), 0); /* weight 0.5 */
	assert_int_equal(feed(d, T0 + MIN, &hu, RN_KIND_PROTOCOL_BOT), 1);
	struct smtp_event ur = mk("192.0.2.12", RN_KIND_UNKNOWN_RECIPIENT, "550 5.1.1");
	size_t h = 0;
	for (int i = 0; i < 5; i++)
		h += feed(d, T0 + i * MIN, &ur, RN_KIND_HARVEST);
	assert_int_equal(h, 1);
	struct smtp_event rd = mk("192.0.2.13", RN_KIND_RELAY_DENIED, "554 5.7.1");
	assert_int_equal(feed(d, T0, &rd, RN_KIND_RELAY_PROBE), 0);
	assert_int_equal(feed(d, T0 + 1000, &rd, RN_KIND_RELAY_PROBE), 1);
	struct smtp_event cn = mk("192.0.2.14", RN_KIND_SMTP_CONNECT, "smtpd");
	assert_int_equal(feed(d, T0, &cn, RN_KIND_CONN_FLOOD), 0);
	assert_int_equal(feed(d, T0 + 1000, &cn, RN_KIND_CONN_FLOOD), 0);
	assert_int_equal(feed(d, T0 + 2000, &cn, RN_KIND_CONN_FLOOD), 1);
	/* Three connections spread over three minutes are no flood (window 1m). */
	struct smtp_event cs = mk("192.0.2.15", RN_KIND_SMTP_CONNECT, "smtpd");
	for (int i = 0; i < 3; i++)
		assert_int_equal(feed(d, T0 + i * 2 * MIN, &cs, RN_KIND_CONN_FLOOD), 0);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_rbl_zones(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	static const char *const ov[] = {"collector.detect.rbl.zones=zen.test", NULL};
	struct smtp_detect *d = det_new(&c, ov);
	struct smtp_event zen = mk("192.0.2.20", RN_KIND_RBL_LISTED, "rbl:zen.test");
	struct smtp_event pbl = mk("192.0.2.21", RN_KIND_RBL_LISTED, "rbl:pbl.test");
	struct smtp_event rank = mk("192.0.2.22", RN_KIND_RBL_LISTED, "rank:3");
	assert_int_equal(feed(d, T0, &zen, RN_KIND_RBL_CONFIRMED), 1);
	assert_int_equal(feed(d, T0 + 1000, &zen, RN_KIND_RBL_CONFIRMED), 0); /* quiet */
	assert_int_equal(feed(d, T0 + 61 * MIN, &zen, RN_KIND_RBL_CONFIRMED), 1);
	assert_int_equal(feed(d, T0, &pbl, RN_KIND_RBL_CONFIRMED), 0);  /* not trusted */
	assert_int_equal(feed(d, T0, &rank, RN_KIND_RBL_CONFIRMED), 0); /* no zone */
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_eviction(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	static const char *const ov[] = {"collector.detect.max_addresses=1024", NULL};
	struct smtp_detect *d = det_new(&c, ov);
	for (int i = 0; i < 5000; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 256, i % 256);
		struct smtp_event ev = mk(a, RN_KIND_SMTP_CONNECT, "smtpd");
		feed(d, T0 + i, &ev, 0);
	}
	struct smtp_detect_stats *s = smtp_detect_stats(d);
	assert_int_equal(rn_gauge_get(&s->tracked_addrs), 1024);
	assert_int_equal(rn_counter_get(&s->evicted_addrs), 5000 - 1024);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

static void test_spamtrap(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	static const char *const ov[] = {
	        "collector.detect.spamtrap.recipients=trap@test.example,@traps.example", NULL};
	struct smtp_detect *d = det_new(&c, ov);
	struct rn_obs out[SMTP_DETECT_MAX_OUT];
	/* smtpd binds the queue id to the client; delivery names the trap. */
	struct smtp_event cl = mk("192.0.2.30", 0, "");
	cl.qid = (const uint8_t *)"ABCDEF123";
	cl.qid_len = 9;
	cl.qid_role = SMTP_QID_CLIENT;
	assert_int_equal(smtp_detect_line(d, T0, &cl, false, out, SMTP_DETECT_MAX_OUT), 0);
	struct smtp_event dl = mk("192.0.2.99", 0, "");
	dl.qid = cl.qid;
	dl.qid_len = 9;
	dl.qid_role = SMTP_QID_DELIVERY;
	dl.rcpt = (const uint8_t *)"Trap@Test.Example";
	dl.rcpt_len = 17;
	size_t n = smtp_detect_line(d, T0 + 5, &dl, false, out, SMTP_DETECT_MAX_OUT);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].kind, RN_KIND_SPAMTRAP);
	assert_addr(&out[0].addr, "192.0.2.30");
	/* Once per message. */
	assert_int_equal(smtp_detect_line(d, T0 + 6, &dl, false, out, SMTP_DETECT_MAX_OUT), 0);
	/* A rejected recipient in a trap domain. */
	struct smtp_event rj = mk("192.0.2.31", RN_KIND_UNKNOWN_RECIPIENT, "550 5.1.1");
	rj.rcpt = (const uint8_t *)"x@traps.example";
	rj.rcpt_len = 15;
	assert_int_equal(feed(d, T0, &rj, RN_KIND_SPAMTRAP), 1);
	smtp_detect_free(d);
	smtp_conf_release(&c);
}

/* On the real logs, the detectors flag the attack groups and no good sender. */
static void test_real_logs(void **state)
{
	(void)state;
	struct collector_smtp_conf c;
	static const char *const ov[] = {"collector.detect.flood.threshold=15", NULL};
	smtp_conf_defaults(&c, ov);
	struct obs_vec o = {0};
	run_file(&c, true, "postfix-maillog_file.log", &o, NULL);
	/* admin, test, info and alice each failed from seven addresses of 127.0.6.x. */
	assert_int_equal(count_kind(&o, 6, RN_KIND_SASL_DISTRIBUTED), 28);
	/* Each pregreet bot once; one hangup (weight 0.5) alone is not a bot. */
	assert_int_equal(count_kind(&o, 4, RN_KIND_PROTOCOL_BOT), 11);
	assert_int_equal(count_kind(&o, 5, RN_KIND_HARVEST), 6);
	assert_true(count_kind(&o, 2, RN_KIND_RBL_CONFIRMED) >= 15);
	/* 17 connections in a minute from 127.0.1.30, at most 15 from any other. */
	assert_int_equal(count_addr(&o, "127.0.1.30", RN_KIND_CONN_FLOOD), 1);
	assert_int_equal(count_kind(&o, -1, RN_KIND_CONN_FLOOD), 1);
	for (int k = RN_KIND_SASL_BRUTEFORCE; k <= RN_KIND_RBL_CONFIRMED; k++)
		if (k != RN_KIND_CONN_FLOOD)
			assert_int_equal(count_kind(&o, 1, (unsigned)k), 0);
	free(o.v);
	smtp_conf_release(&c);
}

RN_TEST_MAIN(test_sasl_fast, test_sasl_slow, test_sasl_distributed, test_bot_harvest_relay_flood,
             test_rbl_zones, test_eviction, test_spamtrap, test_real_logs)
