/*
 * time_test.c: civil dates, RFC 3339, durations and sizes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"

static void test_civil_roundtrip(void **state)
{
	(void)state;
	/* Every day from 1600 to 2400, against timegm()'s idea of the same. */
	int64_t first = rn_time_days_from_civil(1600, 1, 1);
	int64_t last = rn_time_days_from_civil(2400, 12, 31);
	for (int64_t d = first; d <= last; d++) {
		int64_t y;
		unsigned m, dd;
		rn_time_civil_from_days(d, &y, &m, &dd);
		assert_int_equal(rn_time_days_from_civil(y, m, dd), d);
	}
	assert_int_equal(rn_time_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(rn_time_days_from_civil(2000, 3, 1), 11017);
	struct tm tm = {.tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 29};
	assert_int_equal(rn_time_days_from_civil(2026, 11, 29) * 86400, (int64_t)timegm(&tm));
}

static void test_format(void **state)
{
	(void)state;
	char b[RN_TIME_STRLEN];
	rn_time_format(0, false, b, sizeof(b));
	assert_string_equal(b, "1970-01-01T00:00:00Z");
	rn_time_format(1795919209845, true, b, sizeof(b));
	assert_string_equal(b, "2026-11-29T02:26:49.845Z");
	rn_time_format(-1, true, b, sizeof(b));
	assert_string_equal(b, "1969-12-31T23:59:59.999Z");
	rn_time_format(951782400000, false, b, sizeof(b)); /* leap day */
	assert_string_equal(b, "2000-02-29T00:00:00Z");
}

static int64_t P(const char *s)
{
	int64_t ms;
	if (rn_time_parse((const uint8_t *)s, strlen(s), &ms) != RN_OK)
		fail_msg("cannot parse %s", s);
	return ms;
}

static void test_parse(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(P("2026-11-29T02:26:49.845037+00:00"), 1795919209845);
	assert_int_equal(P("2026-11-29T02:26:49Z"), 1795919209000);
	assert_int_equal(P("2026-11-29T03:26:49+01:00"), 1795919209000);
	assert_int_equal(P("2026-11-28T21:26:49.5-05:00"), 1795919209500);
	assert_int_equal(P("2026-11-29 02:26:49z"), 1795919209000);
	static const char *const bad[] = {"2026-11-29",
	                                  "2026-13-01T00:00:00Z",
	                                  "2026-02-29T00:00:00Z",
	                                  "2026-11-29T24:00:00Z",
	                                  "2026-11-29T02:26:49",
	                                  "2026-11-29T02:26:49.Z",
	                                  "2026-11-29T02:26:49+0100",
	                                  "2026-11-29T02:26:49Zjunk",
	                                  "2026-11-29T02:26:49.1234567890Z",
	                                  "2026-1-29T02:26:49Z"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS_WITH(rn_time_parse((const uint8_t *)bad[i], strlen(bad[i]), &ms),
		              RN_EPARSE);
	/* Format then parse is the identity on milliseconds. */
	uint64_t seed = 7;
	for (int i = 0; i < 10000; i++) {
		int64_t t = (int64_t)(rn_test_rand(&seed) % 8000000000000ULL);
		char b[RN_TIME_STRLEN];
		size_t n = rn_time_format(t, true, b, sizeof(b));
		RN_PASS(rn_time_parse((const uint8_t *)b, n, &ms));
		assert_int_equal(ms, t);
	}
}

static void test_duration_size(void **state)
{
	(void)state;
	int64_t ms;
	uint64_t sz;
	RN_PASS(rn_duration_parse("250ms", &ms));
	assert_int_equal(ms, 250);
	RN_PASS(rn_duration_parse("30", &ms));
	assert_int_equal(ms, 30000);
	RN_PASS(rn_duration_parse("5m", &ms));
	assert_int_equal(ms, 300000);
	RN_PASS(rn_duration_parse("7d", &ms));
	assert_int_equal(ms, 604800000);
	RN_FAILS(rn_duration_parse("5 m", &ms));
	RN_FAILS(rn_duration_parse("-5s", &ms));
	RN_FAILS(rn_duration_parse("5y", &ms));
	RN_FAILS(rn_duration_parse("", &ms));
	RN_FAILS_WITH(rn_duration_parse("99999999999999999w", &ms), RN_ELIMIT);
	RN_PASS(rn_size_parse("8M", &sz));
	assert_int_equal(sz, 8u << 20);
	RN_PASS(rn_size_parse("64k", &sz));
	assert_int_equal(sz, 65536);
	RN_PASS(rn_size_parse("4096", &sz));
	assert_int_equal(sz, 4096);
	RN_FAILS(rn_size_parse("8MB", &sz));
	RN_FAILS_WITH(rn_size_parse("99999999999G", &sz), RN_ELIMIT);
}

struct cond_case {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool flag;
};

static void *cond_signaller(void *arg)
{
	struct cond_case *c = arg;
	pthread_mutex_lock(&c->mu);
	c->flag = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Timed waits run on the monotonic clock: a deadline passes, a signal wakes. */
static void test_cond_monotonic(void **state)
{
	(void)state;
	struct cond_case c = {.flag = false};
	pthread_mutex_init(&c.mu, NULL);
	RN_PASS(rn_cond_init(&c.cv));

	pthread_mutex_lock(&c.mu);
	int64_t t0 = rn_time_mono_ms();
	int rc;
	do
		rc = rn_cond_wait_ms(&c.cv, &c.mu, 20);
	while (rc == 0);
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(rn_time_mono_ms() - t0 >= 20);
	/* A deadline in the past times out at once. */
	assert_int_equal(rn_cond_wait_until(&c.cv, &c.mu, rn_time_mono_ms() - 1000), ETIMEDOUT);
	pthread_mutex_unlock(&c.mu);

	/* A signal ends a wait whose deadline is far away. */
	pthread_t th;
	pthread_mutex_lock(&c.mu);
	assert_int_equal(pthread_create(&th, NULL, cond_signaller, &c), 0);
	int64_t deadline = rn_time_mono_ms() + 600000;
	while (!c.flag)
		assert_int_equal(rn_cond_wait_until(&c.cv, &c.mu, deadline), 0);
	pthread_mutex_unlock(&c.mu);
	pthread_join(th, NULL);

	int64_t u0 = rn_time_mono_us(), n0 = rn_time_mono_ns();
	rn_time_sleep_ms(2);
	assert_true(rn_time_mono_us() - u0 >= 2000);
	assert_true(rn_time_mono_ns() - n0 >= 2000000);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
}

RN_TEST_MAIN(test_civil_roundtrip, test_format, test_parse, test_duration_size, test_cond_monotonic)
