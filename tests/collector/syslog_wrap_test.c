/*
 * syslog_wrap_test.c: syslog wrappers and time (year inference across New
 * Year, local time, offsets), RFC 6587 framing, and the bounded line
 * buffer.
 */
#include "tests/collector/smtp_testlib.h"
#include "collector/syslog_frame.h"

static int64_t ms_of(const char *rfc3339)
{
	int64_t v;
	RN_PASS(rn_time_parse((const uint8_t *)rfc3339, strlen(rfc3339), &v));
	return v;
}

static int wrap(struct smtp_clock *c, const char *s, struct smtp_line *l)
{
	return smtp_wrap_parse(c, (const uint8_t *)s, strlen(s), l);
}

static void assert_slice(const uint8_t *p, size_t n, const char *want)
{
	assert_int_equal(n, strlen(want));
	assert_memory_equal(p, want, n);
}

static void test_wrappers(void **state)
{
	(void)state;
	struct smtp_clock c;
	struct smtp_line l;
	smtp_clock_init(&c, ms_of("2026-12-01T00:00:00Z"));

	RN_PASS(wrap(&c, "Nov 29 02:25:30 mx postfix/smtpd[4547]: connect from x[1.2.3.4]", &l));
	assert_int_equal(l.wrapper, SMTP_WRAP_BSD);
	assert_int_equal(l.ts_ms, ms_of("2026-11-29T02:25:30Z"));
	assert_slice(l.prog, l.prog_len, "postfix/smtpd");
	assert_slice(l.msg, l.msg_len, "connect from x[1.2.3.4]");

	RN_PASS(wrap(&c, "<22>Nov  5 02:25:30 postfix/smtpd[1]: hello", &l)); /* no host */
	assert_int_equal(l.ts_ms, ms_of("2026-11-05T02:25:30Z"));
	assert_slice(l.prog, l.prog_len, "postfix/smtpd");
	assert_slice(l.msg, l.msg_len, "hello");

	RN_PASS(wrap(&c, "2026-11-29T02:26:49.845037+01:00 vm postfix/postscreen[5654]: PASS OLD",
	             &l));
	assert_int_equal(l.wrapper, SMTP_WRAP_RFC3339);
	assert_int_equal(l.ts_ms, ms_of("2026-11-29T01:26:49.845Z"));
	assert_slice(l.prog, l.prog_len, "postfix/postscreen");

	RN_PASS(wrap(&c,
	             "<13>1 2026-11-29T02:26:49.5Z vm postfix 77 ID1 [a b=\"x\\\"]\"][c@1 d=\"e\"] "
	             "\xEF\xBB\xBFmsg here",
	             &l));
	assert_int_equal(l.wrapper, SMTP_WRAP_RFC5424);
	assert_int_equal(l.ts_ms, ms_of("2026-11-29T02:26:49.5Z"));
	assert_slice(l.prog, l.prog_len, "postfix");
	assert_slice(l.msg, l.msg_len, "msg here");
	RN_PASS(wrap(&c, "<13>1 2026-11-29T02:26:49Z vm postfix/smtpd - - -", &l)); /* no MSG */
	assert_int_equal(l.msg_len, 0);
	/* rsyslog's RFC 5424 template: MSG keeps the space after the tag's ':'. */
	RN_PASS(wrap(&c, "<22>1 2026-11-29T02:26:49+00:00 vm postfix 4486 - -  connect from x",
	             &l));
	assert_slice(l.prog, l.prog_len, "postfix");
	assert_slice(l.msg, l.msg_len, "connect from x");
	RN_PASS(wrap(&c, "<22>1 2026-11-29T02:26:49Z vm postfix 1 - - \xEF\xBB\xBF connect", &l));
	assert_slice(l.msg, l.msg_len, "connect");
	RN_PASS(wrap(&c,
	             "<22>1 2026-11-29T02:26:49Z vm postfix 1 - -  \xEF\xBB\xBF"
	             "connect",
	             &l));
	assert_slice(l.msg, l.msg_len, "connect");
	/* Only one such space belongs to the wrapper. */
	RN_PASS(wrap(&c, "<22>1 2026-11-29T02:26:49Z vm postfix 1 - -   two", &l));
	assert_slice(l.msg, l.msg_len, " two");

	RN_PASS(wrap(&c, "2026-11-29 02:31:40 +0100 [123] 1xXUhY-0002YT-1n Completed", &l));
	assert_int_equal(l.wrapper, SMTP_WRAP_EXIM);
	assert_int_equal(l.ts_ms, ms_of("2026-11-29T01:31:40Z"));
	assert_slice(l.msg, l.msg_len, "1xXUhY-0002YT-1n Completed");
	assert_int_equal(
	        smtp_wrap_strip_exim_stamp(&c, (const uint8_t *)"2026-11-29 02:31:40 x", 21), 20);

	/* Malformed. */
	static const char *const bad[] = {"",
	                                  "Foo 29 02:25:30 mx a: b",
	                                  "Nov 32 02:25:30 mx a: b",
	                                  "Nov 29 25:25:30 mx a: b",
	                                  "Nov 29 02:25",
	                                  "<999>Nov 29 02:25:30 mx a: b",
	                                  "<13>1 notatime vm a - - - m",
	                                  "<13>1 2026-11-29T02:26:49Z vm a - - [unterminated",
	                                  "2026-13-29 02:31:40 x",
	                                  "2026-11-29T02:26:49 vm a: b",
	                                  "\x01\x02\x03",
	                                  "Nov 29 02:25:30 mx postfix/smtpd[12: x"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		assert_int_equal(wrap(&c, bad[i], &l), RN_EPARSE);
}

static void test_year(void **state)
{
	(void)state;
	struct smtp_clock c;
	struct smtp_line l;
	/* Reference just after New Year: December lines are last year's. */
	smtp_clock_init(&c, ms_of("2027-01-01T00:10:00Z"));
	RN_PASS(wrap(&c, "Dec 31 23:59:59 mx postfix/smtpd[1]: x", &l));
	assert_int_equal(l.ts_ms, ms_of("2026-12-31T23:59:59Z"));
	RN_PASS(wrap(&c, "Jan  1 00:05:00 mx postfix/smtpd[1]: x", &l));
	assert_int_equal(l.ts_ms, ms_of("2027-01-01T00:05:00Z"));
	/* A sender whose clock runs a day ahead, just before New Year. */
	smtp_clock_init(&c, ms_of("2026-12-31T23:00:00Z"));
	RN_PASS(wrap(&c, "Jan  1 12:00:00 mx postfix/smtpd[1]: x", &l));
	assert_int_equal(l.ts_ms, ms_of("2027-01-01T12:00:00Z"));
	/* A replay of last spring's file in autumn keeps this year. */
	smtp_clock_init(&c, ms_of("2026-10-01T00:00:00Z"));
	RN_PASS(wrap(&c, "Apr 10 08:00:00 mx postfix/smtpd[1]: x", &l));
	assert_int_equal(l.ts_ms, ms_of("2026-04-10T08:00:00Z"));
	/* Leap day is valid in a leap year only as the calendar says. */
	smtp_clock_init(&c, ms_of("2028-03-01T00:00:00Z"));
	RN_PASS(wrap(&c, "Feb 29 08:00:00 mx postfix/smtpd[1]: x", &l));
	assert_int_equal(l.ts_ms, ms_of("2028-02-29T08:00:00Z"));
}

static void test_local_time(void **state)
{
	(void)state;
	struct smtp_clock c;
	struct smtp_line l;
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
		skip(); /* tzdata is not installed */
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	smtp_clock_init(&c, ms_of("2026-12-01T00:00:00Z"));
	RN_PASS(wrap(&c, "Nov 29 02:25:30 mx postfix/smtpd[1]: x", &l)); /* CET, +01:00 */
	assert_int_equal(l.ts_ms, ms_of("2026-11-29T01:25:30Z"));
	RN_PASS(wrap(&c, "2026-07-01 12:00:00 Completed", &l)); /* CEST, +02:00 */
	assert_int_equal(l.ts_ms, ms_of("2026-07-01T10:00:00Z"));
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
}

struct msgs {
	char v[16][64];
	size_t n;
};

static int collect(void *arg, const uint8_t *m, size_t n)
{
	struct msgs *s = arg;
	assert_true(n < 64 && s->n < 16);
	memcpy(s->v[s->n], m, n);
	s->v[s->n][n] = '\0';
	s->n++;
	return RN_OK;
}

static void test_framing(void **state)
{
	(void)state;
	static const char stream[] = "11 <13>hello A\n" /* octet counted */
	                             "<13>line B\n"     /* LF framed */
	                             "\n"               /* empty */
	                             "6 <13>C\n"        /* counted, trailing LF kept out */
	                             "40 0123456789012345678901234567890123456789" /* too long */
	                             "<13>D\0"                                     /* NUL framed */
	                             "<13>this line is longer than thirty-two bytes\n"
	                             "<13>E";
	/* Every split point gives the same messages. */
	for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
		struct syslog_framer f;
		struct msgs got = {.n = 0};
		RN_PASS(syslog_framer_init(&f, 32));
		RN_PASS(syslog_framer_feed(&f, (const uint8_t *)stream, cut, collect, &got));
		RN_PASS(syslog_framer_feed(&f, (const uint8_t *)stream + cut,
		                           sizeof(stream) - 1 - cut, collect, &got));
		RN_PASS(syslog_framer_finish(&f, collect, &got));
		assert_int_equal(got.n, 5);
		assert_string_equal(got.v[0], "<13>hello A");
		assert_string_equal(got.v[1], "<13>line B");
		assert_string_equal(got.v[2], "<13>C");
		assert_string_equal(got.v[3], "<13>D");
		assert_string_equal(got.v[4], "<13>E");
		assert_int_equal(f.overlong, 2);
		syslog_framer_release(&f);
	}
	/* A bad count is a framing error. */
	struct syslog_framer f;
	struct msgs got = {.n = 0};
	RN_PASS(syslog_framer_init(&f, 32));
	RN_FAILS_WITH(syslog_framer_feed(&f, (const uint8_t *)"12x", 3, collect, &got), RN_EPARSE);
	syslog_framer_release(&f);
	RN_PASS(syslog_framer_init(&f, 32));
	RN_FAILS_WITH(syslog_framer_feed(&f, (const uint8_t *)"1234567890 x", 12, collect, &got),
	              RN_EPARSE);
	syslog_framer_release(&f);
}

static int collect_lines(void *arg, const uint8_t *m, size_t n)
{
	return collect(arg, m, n);
}

static void test_linebuf(void **state)
{
	(void)state;
	static const char in[] = "short\r\n"
	                         "a line that is far too long for the buffer\n"
	                         "ok 2\n"
	                         "another line that is far too long, cut across chunks\n"
	                         "last";
	uint64_t seed = 42;
	for (int round = 0; round < 200; round++) {
		struct linebuf lb;
		struct msgs got = {.n = 0};
		RN_PASS(linebuf_init(&lb, 16));
		size_t off = 0, len = sizeof(in) - 1;
		while (off < len) {
			size_t n = 1 + rn_test_rand(&seed) % 9;
			if (n > len - off)
				n = len - off;
			RN_PASS(linebuf_feed(&lb, (const uint8_t *)in + off, n, collect_lines,
			                     &got));
			off += n;
		}
		RN_PASS(linebuf_finish(&lb, collect_lines, &got));
		assert_int_equal(got.n, 3);
		assert_string_equal(got.v[0], "short");
		assert_string_equal(got.v[1], "ok 2");
		assert_string_equal(got.v[2], "last");
		assert_int_equal(lb.overlong, 2);
		linebuf_release(&lb);
	}
}

RN_TEST_MAIN(test_wrappers, test_year, test_local_time, test_framing, test_linebuf)
