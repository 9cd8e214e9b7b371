/*
 * time.c: event time helpers.
 *
 * Design notes: repnet keeps event time as int64 milliseconds since the
 * Unix epoch, UTC, and never calls the C library's locale- and TZ-aware
 * conversions on the hot path. Civil dates are converted with the days-
 * from-civil arithmetic over 400-year eras of the proleptic Gregorian
 * calendar, which is exact for every int64 day count we accept.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "proto/proto.h"

int64_t rn_time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rn_time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rn_time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rn_time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ms_to_timespec(int64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};
	return ts;
}

void rn_time_sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000;
	ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int rn_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc != 0)
		return -rc;
	if ((rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC)) == 0)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}

int rn_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
	if (deadline_ms < 0)
		deadline_ms = 0;
	struct timespec ts = ms_to_timespec(deadline_ms);
	return pthread_cond_timedwait(cv, mu, &ts);
}

int rn_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
	return rn_cond_wait_until(cv, mu, rn_time_mono_ms() + (ms > 0 ? ms : 0));
}

int64_t rn_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400; /* [0, 399] */
	int64_t doy =
	        (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1; /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                       /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

void rn_time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

size_t rn_time_format(int64_t ms, bool with_ms, char *dst, size_t dstlen)
{
	int64_t secs = floor_div(ms, 1000);
	int64_t frac = ms - secs * 1000;
	int64_t days = floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;
	int64_t y;
	unsigned mo, d;
	rn_time_civil_from_days(days, &y, &mo, &d);
	int n;
	if (with_ms)
		n = snprintf(dst, dstlen, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo,
		             d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
		             (unsigned)(sod % 60), (unsigned)frac);
	else
		n = snprintf(dst, dstlen, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, mo, d,
		             (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
		             (unsigned)(sod % 60));
	if (n < 0)
		return 0;
	return (size_t)n < dstlen ? (size_t)n : dstlen - 1;
}

static bool digits(const uint8_t *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

int rn_time_parse(const uint8_t *buf, size_t len, int64_t *ms)
{
	unsigned y, mo, d, h, mi, s;
	/* YYYY-MM-DDTHH:MM:SS is 19 bytes. */
	if (len < 20)
		return RN_EPARSE;
	if (!digits(buf, 4, &y) || buf[4] != '-' || !digits(buf + 5, 2, &mo) || buf[7] != '-' ||
	    !digits(buf + 8, 2, &d) || (buf[10] != 'T' && buf[10] != 't' && buf[10] != ' ') ||
	    !digits(buf + 11, 2, &h) || buf[13] != ':' || !digits(buf + 14, 2, &mi) ||
	    buf[16] != ':' || !digits(buf + 17, 2, &s))
		return RN_EPARSE;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
		return RN_EPARSE;
	if (s == 60)
		s = 59; /* a leap second folds into the second before it */
	size_t i = 19;
	unsigned frac_ms = 0;
	if (i < len && buf[i] == '.') {
		i++;
		size_t nd = 0;
		unsigned scale = 100;
		while (i < len && buf[i] >= '0' && buf[i] <= '9') {
			if (nd < 3) {
				frac_ms += (unsigned)(buf[i] - '0') * scale;
				scale /= 10;
			}
			nd++;
			i++;
			if (nd > 9)
				return RN_EPARSE;
		}
		if (nd == 0)
			return RN_EPARSE;
	}
	if (i >= len)
		return RN_EPARSE;
	int64_t off_s = 0;
	if (buf[i] == 'Z' || buf[i] == 'z') {
		i++;
	} else if (buf[i] == '+' || buf[i] == '-') {
		unsigned oh, om;
		if (len - i != 6 || !digits(buf + i + 1, 2, &oh) || buf[i + 3] != ':' ||
		    !digits(buf + i + 4, 2, &om) || oh > 23 || om > 59)
			return RN_EPARSE;
		off_s = (int64_t)oh * 3600 + om * 60;
		if (buf[i] == '-')
			off_s = -off_s;
		i += 6;
	} else {
		return RN_EPARSE;
	}
	if (i != len)
		return RN_EPARSE;
	int64_t days = rn_time_days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s - off_s;
	*ms = secs * 1000 + frac_ms;
	return RN_OK;
}

static int parse_scaled(const char *s, int64_t max, int64_t *out, const char *const *units,
                        const int64_t *scales, size_t nunits, int64_t bare_scale)
{
	if (s == NULL || *s == '\0')
		return RN_EPARSE;
	const char *p = s;
	int64_t v = 0;
	if (*p < '0' || *p > '9')
		return RN_EPARSE;
	while (*p >= '0' && *p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return RN_ELIMIT;
		v = v * 10 + (*p - '0');
		p++;
	}
	int64_t scale = bare_scale;
	if (*p != '\0') {
		bool found = false;
		for (size_t i = 0; i < nunits; i++) {
			if (strcmp(p, units[i]) == 0) {
				scale = scales[i];
				found = true;
				break;
			}
		}
		if (!found)
			return RN_EPARSE;
	}
	if (v != 0 && scale > max / v)
		return RN_ELIMIT;
	*out = v * scale;
	return RN_OK;
}

int rn_duration_parse(const char *s, int64_t *ms)
{
	static const char *const units[] = {"ms", "s", "m", "h", "d", "w"};
	static const int64_t scales[] = {1, 1000, 60000, 3600000, 86400000, 604800000};
	return parse_scaled(s, INT64_MAX, ms, units, scales, RN_ARRAY_LEN(units), 1000);
}

int rn_size_parse(const char *s, uint64_t *bytes)
{
	static const char *const units[] = {"k", "K", "M", "G", "KiB", "MiB", "GiB"};
	static const int64_t scales[] = {1024, 1024,        1024 * 1024,       1024 * 1024 * 1024,
	                                 1024, 1024 * 1024, 1024 * 1024 * 1024};
	int64_t v;
	int rc = parse_scaled(s, INT64_MAX, &v, units, scales, RN_ARRAY_LEN(units), 1);
	if (rc == RN_OK)
		*bytes = (uint64_t)v;
	return rc;
}
