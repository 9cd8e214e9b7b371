/*
 * exim_test.c: the Exim parser on the real mainlog's behaviour groups
 * (drive_exim.sh, by third octet) and on single lines, including clients
 * that try to put another address into the line.
 */
#include "tests/collector/smtp_testlib.h"

static struct collector_smtp_conf conf;
static struct obs_vec ex;
static struct collector_smtp_stats ex_st;

static int setup(void **state)
{
	(void)state;
	smtp_conf_defaults(&conf, NULL);
	run_file(&conf, false, "exim-mainlog.log", &ex, &ex_st);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ex.v);
	smtp_conf_release(&conf);
	return 0;
}

static int ex1(const char *msg, struct smtp_event *ev)
{
	return exim_parse((const uint8_t *)msg, strlen(msg), ev);
}

static void test_whole_log(void **state)
{
	(void)state;
	assert_int_equal(ex_st.lines, 1418);
	assert_int_equal(ex_st.unknown[SMTP_PROG_EXIM], 0);
	assert_int_equal(ex_st.events + ex_st.ignored, 1418);
	for (size_t i = 0; i < ex.n; i++)
		assert_int_equal(ex.v[i].source, RN_SRC_EXIM);
	assert_int_equal(count_kind(&ex, -1, RN_KIND_SMTP_CONNECT), 300);
}

static void test_groups(void **state)
{
	(void)state;
	/* 1.x: good senders; 127.0.1.30's 20 recipients trip the sender rate limit. */
	assert_int_equal(count_addr(&ex, "127.0.1.30", RN_KIND_RATE_LIMITED), 4);
	assert_int_equal(count_addr(&ex, "127.0.1.23", RN_KIND_CONTENT_REJECT), 1);
	assert_int_equal(count_kind(&ex, 1, RN_KIND_RBL_LISTED), 0);
	assert_int_equal(count_kind(&ex, 1, RN_KIND_SASL_FAIL), 0);
	/* 2.x and 3.x: dnslists zen.test and bl.test. */
	size_t zen = 0, bl = 0;
	for (size_t i = 0; i < ex.n; i++) {
		if (ex.v[i].kind != RN_KIND_RBL_LISTED)
			continue;
		unsigned third = (ex.v[i].addr.u.v4 >> 8) & 0xff;
		zen += third == 2 && strcmp(ex.v[i].evidence, "rbl:zen.test") == 0;
		bl += third == 3 && strcmp(ex.v[i].evidence, "rbl:bl.test") == 0;
	}
	assert_int_equal(zen, 11);
	assert_int_equal(bl, 22);
	/* 4.x: talking before the greeting (.2-.10), hangups. */
	assert_int_equal(count_kind(&ex, 4, RN_KIND_PREGREET), 9);
	assert_true(count_kind(&ex, 4, RN_KIND_LOST_CONNECTION) >= 4);
	/* 5.x: unknown users and the dictionary-attack drop. */
	assert_true(count_kind(&ex, 5, RN_KIND_UNKNOWN_RECIPIENT) >= 7);
	assert_int_equal(count_kind(&ex, 5, RN_KIND_TOO_MANY_ERRORS), 5); /* .20-.24 */
	/* 6.x: authenticator failures, two successes (A=). */
	assert_int_equal(count_kind(&ex, 6, RN_KIND_SASL_FAIL), 25);
	assert_int_equal(count_kind(&ex, 6, RN_KIND_SASL_SUCCESS), 2);
	/* 7.x: lost, timeout, HTTP, pipelining, syntax and protocol errors. */
	assert_true(count_kind(&ex, 7, RN_KIND_LOST_CONNECTION) >= 6);
	assert_int_equal(count_addr(&ex, "127.0.7.7", RN_KIND_TIMEOUT), 1);
	assert_int_equal(count_addr(&ex, "127.0.7.8", RN_KIND_NON_SMTP), 1);
	assert_int_equal(count_addr(&ex, "127.0.7.9", RN_KIND_PIPELINING), 1);
	assert_int_equal(count_addr(&ex, "127.0.7.10", RN_KIND_PROTOCOL_ERROR), 3);
	assert_int_equal(count_addr(&ex, "127.0.7.11", RN_KIND_SASL_FAIL), 1);
	assert_int_equal(count_addr(&ex, "127.0.7.12", RN_KIND_SASL_FAIL), 1); /* cancelled */
	/* 8.x: relay, connect ACL, HELO, sender. */
	assert_int_equal(count_kind(&ex, 8, RN_KIND_RELAY_DENIED), 3);
	assert_int_equal(count_addr(&ex, "127.0.8.99", RN_KIND_CLIENT_REJECT), 1);
	assert_int_equal(count_addr(&ex, "127.0.8.13", RN_KIND_HELO_REJECT), 2);
	assert_int_equal(count_addr(&ex, "127.0.8.12", RN_KIND_HELO_REJECT), 2);
	assert_int_equal(count_kind(&ex, 8, RN_KIND_SENDER_REJECT), 3);
	/* 9.x: forged reverse DNS, and a deferred lookup. */
	assert_int_equal(count_addr(&ex, "127.0.9.2", RN_KIND_NO_RDNS), 1);
	assert_int_equal(count_addr(&ex, "127.0.9.3", RN_KIND_NO_RDNS), 1);
	/* IPv6 in brackets. */
	assert_true(count_addr(&ex, "::1", RN_KIND_SMTP_CONNECT) >= 1);
	assert_int_equal(count_addr(&ex, "::1", RN_KIND_UNKNOWN_RECIPIENT), 1);
}

static void test_spoofing(void **state)
{
	(void)state;
	struct smtp_event ev;
	/* A HELO that is an address literal is not the client. */
	assert_int_equal(ex1("SMTP connection from ([192.0.2.66]) [198.51.100.7]:1234 "
	                     "I=[127.0.0.1]:25 (TCP/IP connection count = 1)",
	                     &ev),
	                 SMTP_EVENT);
	assert_addr(&ev.addr, "198.51.100.7");
	assert_int_equal(ex1("H=([192.0.2.66]) [198.51.100.7]:1 I=[127.0.0.1]:25 F=<a@b> rejected "
	                     "RCPT <c@d>: relay not permitted",
	                     &ev),
	                 SMTP_EVENT);
	assert_addr(&ev.addr, "198.51.100.7");
	assert_int_equal(ev.kind, RN_KIND_RELAY_DENIED);
	/* A command that carries " H=[...]" makes the line ambiguous: not attributed. */
	assert_int_equal(ex1("SMTP syntax error in \"MAIL FROM:<x H=[192.0.2.1]:1>\" "
	                     "H=(h) [198.51.100.7]:1 I=[127.0.0.1]:25 unrecognized command",
	                     &ev),
	                 SMTP_UNKNOWN);
	/* A recipient cannot pick the reason. */
	assert_int_equal(ex1("H=(h) [198.51.100.7]:1 I=[127.0.0.1]:25 F=<a@b> rejected RCPT "
	                     "<\"is in a black list at evil.test\"@x>: Unknown user",
	                     &ev),
	                 SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_UNKNOWN_RECIPIENT);
	/* The authenticator's user name is found, not put in the evidence. */
	assert_int_equal(
	        ex1("LOGIN authenticator failed for (h) [198.51.100.7]:1 I=[127.0.0.1]:25: "
	            "535 Incorrect authentication data (set_id=carol)",
	            &ev),
	        SMTP_EVENT);
	assert_string_equal(ev.evidence, "auth:LOGIN");
	assert_int_equal(ev.user_len, 5);
	assert_memory_equal(ev.user, "carol", 5);
	/* Not understood: counted, not guessed. */
	assert_int_equal(ex1("H=(h) [198.51.100.7]:1 I=[127.0.0.1]:25 F=<a@b> rejected RCPT <c@d>: "
	                     "computer says no",
	                     &ev),
	                 SMTP_UNKNOWN);
	assert_int_equal(ex1("1xXUhY-0002YT-1n something new", &ev), SMTP_UNKNOWN);
	/* Other Exim forms: dropped for too many errors, dnslists' default text. */
	assert_int_equal(
	        ex1("SMTP call from (h) [198.51.100.7]:1 I=[127.0.0.1]:25 dropped: too many "
	            "syntax or protocol errors (last command was \"x\", C=EHLO)",
	            &ev),
	        SMTP_EVENT);
	assert_int_equal(ev.kind, RN_KIND_TOO_MANY_ERRORS);
}

/*
 * Loop safety: Exim's dnslists deny ("listed at ZONE", with or without the
 * trailing dot, $dnslist_text after it) on this node's zone, and an ACL
 * message with the policy text, are counted and not observed.
 */
static void test_loop_safety(void **state)
{
	(void)state;
	static const char log[] =
	        "2026-12-01 10:00:00 H=(client.example) [127.0.3.5]:4000 I=[127.0.0.1]:25 "
	        "F=<a@example.org> rejected RCPT <bob@test.example>: 127.0.3.5 is listed at "
	        "bl.test (127.0.0.2: Listed by repnet: spam_source)\n"
	        "2026-12-01 10:00:01 H=(client.example) [127.0.3.5]:4001 I=[127.0.0.1]:25 "
	        "F=<a@example.org> rejected RCPT <bob@test.example>: 127.0.3.5 is listed at "
	        "BL.test.\n"
	        "2026-12-01 10:00:02 H=(client.example) [127.0.3.5]:4002 I=[127.0.0.1]:25 "
	        "F=<a@example.org> rejected RCPT <bob@test.example>: blocked by local policy: "
	        "Listed by repnet: scanner\n"
	        /* Not ours: a longer zone, and a client's recipient carrying the text. */
	        "2026-12-01 10:00:03 H=(client.example) [127.0.3.8]:4003 I=[127.0.0.1]:25 "
	        "F=<a@example.org> rejected RCPT <bob@test.example>: 127.0.3.8 is listed at "
	        "sbl.bl.test\n"
	        "2026-12-01 10:00:04 H=(client.example) [127.0.3.9]:4004 I=[127.0.0.1]:25 "
	        "F=<a@example.org> rejected RCPT <Listed_by_repnet:@x>: Unknown user\n";
	struct collector_smtp_conf c;
	struct obs_vec o = {0};
	struct collector_smtp_stats st;
	smtp_conf_defaults(&c, NULL);
	smtp_conf_own(&c);
	run_buf(&c, true, log, sizeof(log) - 1, &o, &st);
	assert_int_equal(st.unknown[SMTP_PROG_EXIM], 0);
	assert_int_equal(st.enforced[SMTP_ENF_DNSBL], 2);
	assert_int_equal(st.enforced[SMTP_ENF_POLICY], 1);
	assert_int_equal(count_addr(&o, "127.0.3.5", 0), 0);
	assert_int_equal(count_addr(&o, "127.0.3.8", RN_KIND_RBL_LISTED), 1);
	assert_int_equal(count_addr(&o, "127.0.3.9", RN_KIND_UNKNOWN_RECIPIENT), 1);
	free(o.v);
	smtp_conf_own_release(&c);
	smtp_conf_release(&c);
}

/* The first observation's time of one Exim line, with smtp.exim_timezone = tz. */
static int64_t exim_ts(const char *tz, const char *line)
{
	const char *ov[] = {NULL, NULL};
	char kv[64];
	struct collector_smtp_conf c;
	struct obs_vec o = {0};
	if (tz != NULL) {
		snprintf(kv, sizeof(kv), "collector.smtp.exim_timezone=%s", tz);
		ov[0] = kv;
	}
	smtp_conf_defaults(&c, ov);
	run_buf(&c, false, line, strlen(line), &o, NULL);
	assert_int_equal(o.n, 1);
	int64_t ts = o.v[0].ts_ms;
	free(o.v);
	smtp_conf_release(&c);
	return ts;
}

static int64_t ms_of(const char *rfc3339)
{
	int64_t v;
	RN_PASS(rn_time_parse((const uint8_t *)rfc3339, strlen(rfc3339), &v));
	return v;
}

static void test_timezone(void **state)
{
	(void)state;
	static const char zoned[] =
	        "2026-12-01 10:00:00 +0100 SMTP connection from "
	        "[127.0.1.2]:34860 I=[127.101.2.1]:25 (TCP/IP connection count = 1)\n";
	static const char plain[] =
	        "2026-12-01 10:00:00 SMTP connection from "
	        "[127.0.1.2]:34860 I=[127.101.2.1]:25 (TCP/IP connection count = 1)\n";
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "UTC", 1);
	tzset();
	/* The log's own offset wins over the key and over TZ. */
	assert_int_equal(exim_ts(NULL, zoned), ms_of("2026-12-01T09:00:00Z"));
	assert_int_equal(exim_ts("-0500", zoned), ms_of("2026-12-01T09:00:00Z"));
	/* No offset in the log: the key, else the host's zone (TZ). */
	assert_int_equal(exim_ts("+0530", plain), ms_of("2026-12-01T04:30:00Z"));
	assert_int_equal(exim_ts("-0800", plain), ms_of("2026-12-01T18:00:00Z"));
	assert_int_equal(exim_ts(NULL, plain), ms_of("2026-12-01T10:00:00Z"));
	if (access("/usr/share/zoneinfo/Asia/Tokyo", R_OK) == 0) {
		setenv("TZ", "Asia/Tokyo", 1);
		tzset();
		assert_int_equal(exim_ts(NULL, plain), ms_of("2026-12-01T01:00:00Z"));
		assert_int_equal(exim_ts("+0000", plain), ms_of("2026-12-01T10:00:00Z"));
	}
	if (old != NULL) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
	/* An IANA zone, apart from TZ (UTC here): winter, summer, and both changes. */
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0) {
		static const char summer[] =
		        "2026-07-01 10:00:00 SMTP connection from "
		        "[127.0.1.2]:34860 I=[127.101.2.1]:25 (TCP/IP connection count = 1)\n";
		static const char before[] =
		        "2026-03-29 01:59:59 SMTP connection from "
		        "[127.0.1.2]:34860 I=[127.101.2.1]:25 (TCP/IP connection count = 1)\n";
		static const char after[] =
		        "2026-03-29 03:00:00 SMTP connection from "
		        "[127.0.1.2]:34860 I=[127.101.2.1]:25 (TCP/IP connection count = 1)\n";
		assert_int_equal(exim_ts("Europe/Berlin", plain), ms_of("2026-12-01T09:00:00Z"));
		assert_int_equal(exim_ts("Europe/Berlin", summer), ms_of("2026-07-01T08:00:00Z"));
		assert_int_equal(exim_ts("Europe/Berlin", before), ms_of("2026-03-29T00:59:59Z"));
		assert_int_equal(exim_ts("Europe/Berlin", after), ms_of("2026-03-29T01:00:00Z"));
		assert_int_equal(exim_ts("Europe/Berlin", zoned), ms_of("2026-12-01T09:00:00Z"));
		/* Every truncation of the real file is refused or parsed, never read past. */
		uint8_t *buf = NULL;
		size_t len = 0;
		struct smtp_tz *tz = NULL;
		RN_PASS(rn_file_read("/usr/share/zoneinfo/Europe/Berlin", 1 << 20, &buf, &len));
		RN_PASS(smtp_tz_parse(buf, len, &tz));
		smtp_tz_free(tz);
		for (size_t n = 0; n < len; n += 7) {
			uint8_t *cut = malloc(n + 1);
			assert_non_null(cut);
			memcpy(cut, buf, n);
			if (smtp_tz_parse(cut, n, &tz) == RN_OK)
				smtp_tz_free(tz);
			free(cut);
		}
		free(buf);
	}
	static const char *const bad_names[] = {"../../etc/passwd",
	                                        "/etc/localtime",
	                                        "No/Such_Zone",
	                                        "Europe/../Europe/Berlin",
	                                        "",
	                                        "a b"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad_names); i++) {
		struct smtp_tz *tz = NULL;
		assert_int_not_equal(smtp_tz_load(bad_names[i], &tz), RN_OK);
		assert_null(tz);
	}
	/* Bad values are configuration errors. */
	static const char *const bad[] = {"0100", "+1", "+01000", "+2400", "+0160", "+1500"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		assert_int_not_equal(smtp_tz_offset_parse(bad[i], NULL), RN_OK);
	int64_t off;
	RN_PASS(smtp_tz_offset_parse("-0930", &off));
	assert_int_equal(off, -(9 * 60 + 30) * 60000LL);
}

RN_TEST_MAIN_GROUP(setup, teardown, test_whole_log, test_groups, test_spoofing, test_loop_safety,
                   test_timezone)
