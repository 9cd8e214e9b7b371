/*
 * postfix_test.c: the Postfix parser, on the real log's behaviour groups
 * (the data README's table, third octet) and on single lines.
 */
#include "tests/collector/smtp_testlib.h"

static struct collector_smtp_conf conf;
static struct obs_vec mf;
static struct collector_smtp_stats mf_st;

static int setup(void **state)
{
	(void)state;
	smtp_conf_defaults(&conf, NULL);
	run_file(&conf, false, "postfix-maillog_file.log", &mf, &mf_st);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mf.v);
	smtp_conf_release(&conf);
	return 0;
}

static void test_whole_log(void **state)
{
	(void)state;
	assert_int_equal(mf_st.lines, 3220);
	assert_int_equal(mf_st.malformed, 0);
	for (size_t i = 0; i < RN_ARRAY_LEN(mf_st.unknown); i++)
		assert_int_equal(mf_st.unknown[i], 0);
	/* Every line is either an event or understood and skipped. */
	assert_int_equal(mf_st.events + mf_st.ignored, 3220);
	/* Every observation is Postfix, with evidence and a time between 02:25 and 02:28 on 2026-11-29. */
	for (size_t i = 0; i < mf.n; i++) {
		assert_int_equal(mf.v[i].source, RN_SRC_POSTFIX);
		assert_true(mf.v[i].evidence[0] != '\0');
		assert_true(mf.v[i].ts_ms >= 1795919100000LL && mf.v[i].ts_ms < 1795919280000LL);
	}
}

/* 127.0.1.x: good senders; 127.0.1.30 trips the connection rate limit. */
static void test_group_good(void **state)
{
	(void)state;
	assert_true(count_kind(&mf, 1, RN_KIND_SMTP_CONNECT) > 100);
	assert_int_equal(count_addr(&mf, "127.0.1.30", RN_KIND_RATE_LIMITED), 2);
	assert_int_equal(count_kind(&mf, 1, RN_KIND_RATE_LIMITED), 2);
	/* Header checks: a reject and a discard (content), a warning (nothing). */
	assert_int_equal(count_addr(&mf, "127.0.1.23", RN_KIND_CONTENT_REJECT), 1);
	assert_int_equal(count_addr(&mf, "127.0.1.24", RN_KIND_CONTENT_REJECT), 1);
	assert_int_equal(count_addr(&mf, "127.0.1.25", RN_KIND_CONTENT_REJECT), 0);
	/* No abuse kinds from good senders. */
	static const unsigned bad[] = {RN_KIND_RBL_LISTED, RN_KIND_PREGREET,   RN_KIND_SASL_FAIL,
	                               RN_KIND_HANGUP,     RN_KIND_DENYLISTED, RN_KIND_RELAY_DENIED,
	                               RN_KIND_NON_SMTP,   RN_KIND_NO_RDNS};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		assert_int_equal(count_kind(&mf, 1, bad[i]), 0);
}

/* 127.0.2.x: listed in zen.test: postscreen DNSBL rank and reject. */
static void test_group_zen(void **state)
{
	(void)state;
	size_t zen = 0, rank = 0;
	for (size_t i = 0; i < mf.n; i++) {
		const struct rn_obs *o = &mf.v[i];
		if (o->kind != RN_KIND_RBL_LISTED || ((o->addr.u.v4 >> 8) & 0xff) != 2)
			continue;
		zen += strcmp(o->evidence, "rbl:zen.test") == 0;
		rank += strncmp(o->evidence, "rank:", 5) == 0;
	}
	/* 15 clients: a dnsblog line and a postscreen reject each, and a rank line. */
	assert_int_equal(rank, 15);
	assert_int_equal(zen, 30);
	assert_int_equal(count_kind(&mf, 2, RN_KIND_PREGREET), 0);
}

/* 127.0.3.x: listed in bl.test: smtpd reject_rbl_client. */
static void test_group_bl(void **state)
{
	(void)state;
	size_t bl = 0;
	for (size_t i = 0; i < mf.n; i++)
		if (mf.v[i].kind == RN_KIND_RBL_LISTED && ((mf.v[i].addr.u.v4 >> 8) & 0xff) == 3 &&
		    strcmp(mf.v[i].evidence, "rbl:bl.test") == 0 &&
		    strcmp(mf.v[i].program, "postfix/smtpd") == 0)
			bl++;
	assert_int_equal(bl, 30); /* 15 clients, two recipients each */
}

/* 127.0.4.x: pregreet bots (.2-.12) and hangups (.20-.25). */
static void test_group_bots(void **state)
{
	(void)state;
	assert_int_equal(count_kind(&mf, 4, RN_KIND_PREGREET), 11);
	assert_int_equal(count_kind(&mf, 4, RN_KIND_HANGUP), 6);
	for (int y = 2; y <= 12; y++) {
		char a[32];
		snprintf(a, sizeof(a), "127.0.4.%d", y);
		assert_int_equal(count_addr(&mf, a, RN_KIND_PREGREET), 1);
	}
	for (int y = 20; y <= 25; y++) {
		char a[32];
		snprintf(a, sizeof(a), "127.0.4.%d", y);
		assert_int_equal(count_addr(&mf, a, RN_KIND_HANGUP), 1);
	}
}

/* 127.0.5.x: dictionary attack: unknown users, "too many errors". */
static void test_group_dictionary(void **state)
{
	(void)state;
	assert_true(count_kind(&mf, 5, RN_KIND_UNKNOWN_RECIPIENT) >= 10);
	assert_int_equal(count_kind(&mf, 5, RN_KIND_TOO_MANY_ERRORS), 6);
	assert_int_equal(count_addr(&mf, "127.0.5.11", RN_KIND_UNKNOWN_RECIPIENT), 1);
}

/* 127.0.6.x: SASL LOGIN/PLAIN failures, and one success. */
static void test_group_sasl(void **state)
{
	(void)state;
	assert_int_equal(count_kind(&mf, 6, RN_KIND_SASL_FAIL), 29);
	size_t login = 0, plain = 0;
	for (size_t i = 0; i < mf.n; i++) {
		if (mf.v[i].kind != RN_KIND_SASL_FAIL)
			continue;
		login += strcmp(mf.v[i].evidence, "auth:LOGIN") == 0;
		plain += strcmp(mf.v[i].evidence, "auth:PLAIN") == 0;
	}
	assert_int_equal(plain, 1);
	assert_int_equal(login, 29); /* 28 in 127.0.6.x, one aborted from 127.0.7.18 */
	assert_int_equal(count_kind(&mf, 6, RN_KIND_SASL_SUCCESS), 1);
	/* No user name leaks into evidence. */
	for (size_t i = 0; i < mf.n; i++)
		assert_null(strchr(mf.v[i].evidence, '@'));
}

/* 127.0.7.x: lost connections, timeouts, HTTP, improper pipelining. */
static void test_group_protocol(void **state)
{
	(void)state;
	assert_true(count_kind(&mf, 7, RN_KIND_LOST_CONNECTION) >= 10);
	assert_int_equal(count_kind(&mf, 7, RN_KIND_TIMEOUT), 2);
	assert_int_equal(count_kind(&mf, 7, RN_KIND_NON_SMTP), 2);
	assert_int_equal(count_kind(&mf, 7, RN_KIND_PIPELINING), 2); /* warning + DATA reject */
	assert_int_equal(count_addr(&mf, "127.0.7.10", RN_KIND_PROTOCOL_ERROR), 1);
	size_t after_data = 0;
	for (size_t i = 0; i < mf.n; i++)
		after_data += mf.v[i].kind == RN_KIND_LOST_CONNECTION &&
		              strcmp(mf.v[i].evidence, "after:DATA") == 0;
	assert_int_equal(after_data, 3);
}

/* 127.0.8.x: relay denied, local policy, bad HELO, sender domains, DENYLISTED. */
static void test_group_policy(void **state)
{
	(void)state;
	assert_int_equal(count_kind(&mf, 8, RN_KIND_RELAY_DENIED), 5);
	assert_int_equal(count_addr(&mf, "127.0.8.66", RN_KIND_CLIENT_REJECT), 1);
	assert_int_equal(count_addr(&mf, "127.0.8.77", RN_KIND_CLIENT_REJECT), 1); /* HOLD */
	assert_int_equal(count_addr(&mf, "127.0.8.99", RN_KIND_DENYLISTED), 1);
	assert_int_equal(count_kind(&mf, 8, RN_KIND_HELO_REJECT), 2);
	assert_int_equal(count_kind(&mf, 8, RN_KIND_SENDER_REJECT), 4);
}

/* 127.0.9.x: no or forged reverse DNS. */
static void test_group_rdns(void **state)
{
	(void)state;
	assert_int_equal(count_addr(&mf, "127.0.9.2", RN_KIND_NO_RDNS), 2); /* warning + reject */
	assert_true(count_kind(&mf, 9, RN_KIND_NO_RDNS) >= 3);
}

static void test_lines(void **state)
{
	(void)state;
	struct smtp_event ev;

	/* IPv6 in brackets, with and without Postfix's ipv6: prefix. */
	assert_int_equal(pf1("postfix/smtpd", "connect from unknown[2001:db8::1]", &ev),
	                 SMTP_EVENT);
	assert_addr(&ev.addr, "2001:db8::1");
	assert_int_equal(ev.kind, RN_KIND_SMTP_CONNECT);
	assert_int_equal(
	        pf1("postfix/postscreen", "CONNECT from [ipv6:2001:db8::2]:4 to [::1]:25", &ev),
	        SMTP_EVENT);
	assert_addr(&ev.addr, "2001:db8::2");
	/* Pre-3.6 spellings. */
	assert_int_equal(pf1("postfix/postscreen", "BLACKLISTED [192.0.2.7]:25", &ev), SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_DENYLISTED);
	assert_int_equal(pf1("postfix/postscreen", "WHITELISTED [192.0.2.7]:25", &ev),
	                 SMTP_IGNORED);
	/* postscreen's comma-separated NOQUEUE, and a connection-count reject. */
	assert_int_equal(
	        pf1("postfix/postscreen",
	            "NOQUEUE: reject: RCPT from [192.0.2.9]:5: 550 5.7.1 Service unavailable; "
	            "client [192.0.2.9] blocked using b.example; from=<a@b>, to=<c@d>, "
	            "proto=ESMTP, helo=<x>",
	            &ev),
	        SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_RBL_LISTED);
	assert_string_equal(ev.evidence, "rbl:b.example");
	assert_int_equal(pf1("postfix/postscreen",
	                     "NOQUEUE: reject: CONNECT from [192.0.2.9]:5: too many connections",
	                     &ev),
	                 SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_RATE_LIMITED);
	/* The daemon is inferred when the wrapper kept only "postfix". */
	assert_int_equal(
	        pf1("postfix", "PREGREET 11 after 0 from [192.0.2.1]:1: EHLO x\\r\\n", &ev),
	        SMTP_EVENT);
	assert_string_equal(ev.daemon, "postfix/postscreen");
	assert_int_equal(
	        pf1("postfix", "addr 192.0.2.3 listed by domain zen.test as 127.0.0.2", &ev),
	        SMTP_EVENT);
	assert_string_equal(ev.daemon, "postfix/dnsblog");
	/* A recipient cannot steer the classification. */
	assert_int_equal(pf1("postfix/smtpd",
	                     "NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 550 5.1.1 "
	                     "<\"blocked using evil.test\"@x>: Recipient address rejected: User "
	                     "unknown in virtual mailbox table; from=<a@b> to=<c@d> proto=ESMTP "
	                     "helo=<h>",
	                     &ev),
	                 SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_UNKNOWN_RECIPIENT);
	/* A reason this parser does not know is not guessed at. */
	assert_int_equal(pf1("postfix/smtpd",
	                     "NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 451 4.3.0 <c@d>: "
	                     "Strange new reason; from=<a@b> to=<c@d> proto=ESMTP helo=<h>",
	                     &ev),
	                 SMTP_UNKNOWN);
	/* Lines without a client address are never events. */
	assert_int_equal(pf1("postfix/smtpd", "connect from unknown", &ev), SMTP_UNKNOWN);
	assert_int_equal(pf1("postfix/smtpd", "connect from unknown[999.1.1.1]", &ev),
	                 SMTP_UNKNOWN);
	/* SASL: the user name is found, kept out of the evidence. */
	assert_int_equal(pf1("postfix/smtpd",
	                     "warning: unknown[192.0.2.5]: SASL PLAIN authentication failed: "
	                     "authentication failure, sasl_username=bob@example.org",
	                     &ev),
	                 SMTP_EVENT);
	assert_string_equal(ev.evidence, "auth:PLAIN");
	assert_int_equal(ev.user_len, strlen("bob@example.org"));
	/* Quiet daemons never produce events. */
	assert_int_equal(pf1("postfix/qmgr", "connect from unknown[192.0.2.1]", &ev), SMTP_IGNORED);
}

/* The slices the loop-safety check reads. */
static void test_zone_reason(void **state)
{
	(void)state;
	struct smtp_event ev;
	assert_int_equal(
	        pf1("postfix/smtpd",
	            "NOQUEUE: reject: RCPT from unknown[127.0.3.5]: 554 5.7.1 Service unavailable; "
	            "Client host [127.0.3.5] blocked using bl.test; Listed by repnet: spam_source; "
	            "from=<sender@example.org> to=<bob@test.example> proto=ESMTP "
	            "helo=<client.example>",
	            &ev),
	        SMTP_EVENT);
	assert_int_equal(ev.zone_len, 7);
	assert_memory_equal(ev.zone, "bl.test", 7);
	/* The reason stops before the envelope. */
	assert_non_null(memmem(ev.reason, ev.reason_len, "Listed by repnet: spam_source", 29));
	assert_null(memmem(ev.reason, ev.reason_len, "from=<", 6));
	assert_int_equal(
	        pf1("postfix/dnsblog", "addr 127.0.3.6 listed by domain Bl.Test as 127.0.0.2", &ev),
	        SMTP_EVENT);
	assert_true(smtp_zone_equal(ev.zone, ev.zone_len, "bl.test"));
	assert_true(smtp_zone_equal(ev.zone, ev.zone_len, "bl.test."));
	assert_false(smtp_zone_equal(ev.zone, ev.zone_len, "xbl.test"));
	assert_false(smtp_zone_equal(ev.zone, ev.zone_len, "test"));
	/* A reason past a client-supplied address starts after it. */
	assert_int_equal(pf1("postfix/smtpd",
	                     "NOQUEUE: reject: RCPT from unknown[127.0.3.9]: 550 5.1.1 "
	                     "<\"Listed by repnet: x\"@test.example>: Recipient address rejected: "
	                     "User unknown in virtual mailbox table; from=<a@b> to=<c@d> "
	                     "proto=ESMTP helo=<h>",
	                     &ev),
	                 SMTP_EVENT);
	assert_null(memmem(ev.reason, ev.reason_len, "Listed by repnet", 16));
}

/*
 * Loop safety over the pipeline, with the lines Debian's Postfix 3.7
 * wrote against repnetd (tests/feeds/postfix_test.sh): rejects this
 * deployment caused are counted, never observed; everything else still is.
 */
static void test_loop_safety(void **state)
{
	(void)state;
	static const char log[] =
	        /* reject_rbl_client on this node's zone: enforcement. */
	        "2026-12-01T10:00:00.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.5]: 554 5.7.1 Service unavailable; Client host [127.0.3.5] "
	        "blocked using bl.test; Listed by repnet: spam_source; from=<sender@example.org> "
	        "to=<bob@test.example> proto=ESMTP helo=<client.example>\n"
	        /* The client hangs up after our reject: its answer to it, not evidence. */
	        "2026-12-01T10:00:00.2+00:00 mx postfix/smtpd[9]: lost connection after RCPT "
	        "from unknown[127.0.3.5]\n"
	        /* The same zone in other case, a TXT the operator changed. */
	        "2026-12-01T10:00:01.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.5]: 554 5.7.1 Service unavailable; Client host [127.0.3.5] "
	        "blocked using BL.TEST; go away; from=<sender@example.org> "
	        "to=<bob@test.example> proto=ESMTP helo=<client.example>\n"
	        /* check_policy_service: reject and defer with the policy text. */
	        "2026-12-01T10:00:02.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.5]: 554 5.7.1 <bob@test.example>: Recipient address rejected: "
	        "Listed by repnet: spam_source; from=<sender@example.org> to=<bob@test.example> "
	        "proto=ESMTP helo=<client.example>\n"
	        "2026-12-01T10:00:03.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.5]: 450 4.7.1 <unknown[127.0.3.5]>: Client host rejected: "
	        "Listed by repnet: scanner; from=<sender@example.org> to=<bob@test.example> "
	        "proto=ESMTP helo=<client.example>\n"
	        /* A zone this node does not serve, with repnet's TXT (a peer's feed). */
	        "2026-12-01T10:00:04.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.5]: 554 5.7.1 Service unavailable; Client host [127.0.3.5] "
	        "blocked using peer.example; Listed by repnet: scanner; from=<a@b> to=<c@d> "
	        "proto=ESMTP helo=<h>\n"
	        /* The federated zone of collector.smtp.own_zones, postscreen's comma form. */
	        "2026-12-01T10:00:05.1+00:00 mx postfix/postscreen[8]: NOQUEUE: reject: RCPT "
	        "from [127.0.3.5]:40000: 550 5.7.1 Service unavailable; client [127.0.3.5] "
	        "blocked using fed.example, from=<a@b>, to=<c@d>, proto=ESMTP, helo=<h>\n"
	        /* Other zones, also ones that end or start like ours: evidence. */
	        "2026-12-01T10:00:06.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.8]: 554 5.7.1 Service unavailable; Client host [127.0.3.8] "
	        "blocked using xbl.test; https://xbl.test/q; from=<a@b> to=<c@d> proto=ESMTP "
	        "helo=<h>\n"
	        "2026-12-01T10:00:07.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.8]: 554 5.7.1 Service unavailable; Client host [127.0.3.8] "
	        "blocked using bl.test.example; nope; from=<a@b> to=<c@d> proto=ESMTP helo=<h>\n"
	        "2026-12-01T10:00:07.2+00:00 mx postfix/smtpd[9]: lost connection after RCPT "
	        "from unknown[127.0.3.8]\n"
	        /* A client writing repnet's text into its recipient: still evidence. */
	        "2026-12-01T10:00:08.1+00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from "
	        "unknown[127.0.3.9]: 550 5.1.1 <\"Listed by repnet: x\"@test.example>: Recipient "
	        "address rejected: User unknown in virtual mailbox table; from=<a@b> "
	        "to=<\"Listed by repnet: x\"@test.example> proto=ESMTP helo=<h>\n"
	        /* postscreen: dnsblog hits on our zone alone, then the rank: enforcement. */
	        "2026-12-01T10:00:09.1+00:00 mx postfix/dnsblog[7]: addr 127.0.3.6 listed by "
	        "domain bl.test as 127.0.0.2\n"
	        "2026-12-01T10:00:09.2+00:00 mx postfix/postscreen[8]: DNSBL rank 1 for "
	        "[127.0.3.6]:40001\n"
	        /* Our zone and another: the other's hit and the rank are evidence. */
	        "2026-12-01T10:00:10.1+00:00 mx postfix/dnsblog[7]: addr 127.0.3.7 listed by "
	        "domain bl.test as 127.0.0.2\n"
	        "2026-12-01T10:00:10.1+00:00 mx postfix/dnsblog[7]: addr 127.0.3.7 listed by "
	        "domain zen.test as 127.0.0.2\n"
	        "2026-12-01T10:00:10.2+00:00 mx postfix/postscreen[8]: DNSBL rank 2 for "
	        "[127.0.3.7]:40002\n";
	struct collector_smtp_conf c;
	struct obs_vec o = {0};
	struct collector_smtp_stats st;
	smtp_conf_defaults(&c, NULL);
	smtp_conf_own(&c);
	run_buf(&c, true, log, sizeof(log) - 1, &o, &st);
	assert_int_equal(st.unknown[SMTP_PROG_SMTPD] + st.unknown[SMTP_PROG_POSTSCREEN], 0);
	/*
	 * bl.test twice and the hangup after it, fed.example, 127.0.3.6's hit
	 * and rank, 127.0.3.7's bl.test hit.
	 */
	assert_int_equal(st.enforced[SMTP_ENF_DNSBL], 7);
	/* The two policy texts and the peer zone's TXT. */
	assert_int_equal(st.enforced[SMTP_ENF_POLICY], 3);
	assert_int_equal(count_addr(&o, "127.0.3.5", 0), 0);
	assert_int_equal(count_addr(&o, "127.0.3.6", 0), 0);
	/* Not ours: observed, and confirmed by the detector. */
	assert_int_equal(count_addr(&o, "127.0.3.8", RN_KIND_RBL_LISTED), 2);
	assert_int_equal(count_addr(&o, "127.0.3.8", RN_KIND_RBL_CONFIRMED), 1);
	assert_int_equal(count_addr(&o, "127.0.3.8", RN_KIND_LOST_CONNECTION), 1);
	assert_int_equal(count_addr(&o, "127.0.3.9", RN_KIND_UNKNOWN_RECIPIENT), 1);
	assert_int_equal(count_addr(&o, "127.0.3.7", RN_KIND_RBL_LISTED), 2);
	free(o.v);

	/* Without the lists (no executable filled them), every reject is observed. */
	struct collector_smtp_conf bare;
	memset(&o, 0, sizeof(o));
	smtp_conf_defaults(&bare, NULL);
	run_buf(&bare, false, log, sizeof(log) - 1, &o, &st);
	assert_int_equal(st.enforced[SMTP_ENF_DNSBL] + st.enforced[SMTP_ENF_POLICY], 0);
	assert_int_equal(count_addr(&o, "127.0.3.5", 0), 7);
	free(o.v);
	smtp_conf_release(&bare);
	smtp_conf_own_release(&c);
	smtp_conf_release(&c);
}

RN_TEST_MAIN_GROUP(setup, teardown, test_whole_log, test_group_good, test_group_zen, test_group_bl,
                   test_group_bots, test_group_dictionary, test_group_sasl, test_group_protocol,
                   test_group_policy, test_group_rdns, test_lines, test_zone_reason,
                   test_loop_safety)
