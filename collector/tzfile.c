/*
 * tzfile.c: a time zone of its own for Exim's log times
 * (collector.smtp.exim_timezone), without touching the process's TZ.
 *
 * Design notes: a name is a UTC offset ("+hhmm") or an IANA zone read
 * from /usr/share/zoneinfo (TZif version 2 or later: the 64-bit block;
 * a version 1 file is refused). The parser takes the file's bytes and
 * a length and reads them through one bounded cursor; the counts are
 * capped (SMTP_TZ_MAX_TRANS transitions, 256 types). Debian's zone
 * files list transitions through 2037; later times keep the last
 * transition's offset (the POSIX rule in the footer is not read). A
 * loaded zone is immutable: converting allocates nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/smtp.h"

#define TZ_DIR      "/usr/share/zoneinfo"
#define TZ_FILE_MAX (256 * 1024)

struct smtp_tz {
	size_t n;         /* transitions */
	int64_t *at_ms;   /* transition times, ascending */
	int32_t *off_s;   /* offset from UTC from each transition on */
	int32_t before_s; /* offset before the first transition */
};

static bool tz_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '/' || name[0] == '.' || strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-' || ch == '+'))
			return false;
	}
	return true;
}

int smtp_tz_parse(const uint8_t *buf, size_t len, struct smtp_tz **out)
{
	struct rn_cur c;
	struct smtp_tz *tz = NULL;
	uint32_t cnt[6];

	*out = NULL;
	rn_cur_init(&c, buf, len);
	/* The version 1 header and block, skipped. */
	const uint8_t *magic = rn_cur_bytes(&c, 5);
	if (magic == NULL || memcmp(magic, "TZif", 4) != 0)
		return RN_EPARSE;
	if (magic[4] < '2')
		return RN_EPARSE; /* no 64-bit block */
	rn_cur_skip(&c, 15);
	for (int i = 0; i < 6; i++)
		cnt[i] = rn_cur_u32(&c);
	if (!rn_cur_ok(&c))
		return RN_EPARSE;
	/* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
	uint64_t v1 = (uint64_t)cnt[3] * 5 + (uint64_t)cnt[4] * 6 + cnt[5] + (uint64_t)cnt[2] * 8 +
	              cnt[1] + cnt[0];
	if (v1 > len)
		return RN_EPARSE;
	rn_cur_skip(&c, (size_t)v1);
	/* The version 2 header. */
	magic = rn_cur_bytes(&c, 5);
	if (magic == NULL || memcmp(magic, "TZif", 4) != 0)
		return RN_EPARSE;
	rn_cur_skip(&c, 15);
	for (int i = 0; i < 6; i++)
		cnt[i] = rn_cur_u32(&c);
	if (!rn_cur_ok(&c))
		return RN_EPARSE;
	uint32_t timecnt = cnt[3], typecnt = cnt[4];
	if (timecnt > SMTP_TZ_MAX_TRANS || typecnt == 0 || typecnt > 256)
		return RN_ELIMIT;
	const uint8_t *times = rn_cur_bytes(&c, (size_t)timecnt * 8);
	const uint8_t *idx = rn_cur_bytes(&c, timecnt);
	const uint8_t *types = rn_cur_bytes(&c, (size_t)typecnt * 6);
	if (!rn_cur_ok(&c) || (timecnt > 0 && (times == NULL || idx == NULL)) || types == NULL)
		return RN_EPARSE;
	tz = calloc(1, sizeof(*tz));
	if (tz == NULL)
		return -ENOMEM;
	if (timecnt > 0) {
		tz->at_ms = calloc(timecnt, sizeof(*tz->at_ms));
		tz->off_s = calloc(timecnt, sizeof(*tz->off_s));
		if (tz->at_ms == NULL || tz->off_s == NULL) {
			smtp_tz_free(tz);
			return -ENOMEM;
		}
	}
	/* Before the first transition: the first standard-time type, else type 0. */
	tz->before_s = (int32_t)rn_load_be(types, 4);
	for (uint32_t t = 0; t < typecnt; t++) {
		if (types[t * 6 + 4] == 0) {
			tz->before_s = (int32_t)rn_load_be(types + t * 6, 4);
			break;
		}
	}
	for (uint32_t i = 0; i < timecnt; i++) {
		int64_t at = (int64_t)rn_load_be(times + (size_t)i * 8, 8);
		if (idx[i] >= typecnt || at < -(1LL << 50) || at > (1LL << 50) ||
		    (i > 0 && at * 1000 <= tz->at_ms[i - 1])) {
			smtp_tz_free(tz);
			return RN_EPARSE;
		}
		int32_t off = (int32_t)rn_load_be(types + (size_t)idx[i] * 6, 4);
		if (off < -26 * 3600 || off > 26 * 3600) {
			smtp_tz_free(tz);
			return RN_EPARSE;
		}
		tz->at_ms[i] = at * 1000;
		tz->off_s[i] = off;
	}
	tz->n = timecnt;
	*out = tz;
	return RN_OK;
}

int smtp_tz_load(const char *name, struct smtp_tz **out)
{
	char path[256];
	uint8_t *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (!tz_name_ok(name))
		return RN_ECONF;
	if (snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name) >= (int)sizeof(path))
		return RN_ELIMIT;
	int rc = rn_file_read(path, TZ_FILE_MAX, &buf, &len);
	if (rc != RN_OK)
		return rc;
	rc = smtp_tz_parse(buf, len, out);
	free(buf);
	return rc;
}

void smtp_tz_free(struct smtp_tz *tz)
{
	if (tz == NULL)
		return;
	free(tz->at_ms);
	free(tz->off_s);
	free(tz);
}

/* The offset in force at utc_ms, in ms. */
static int64_t offset_at(const struct smtp_tz *tz, int64_t utc_ms)
{
	if (tz->n == 0 || utc_ms < tz->at_ms[0])
		return (int64_t)tz->before_s * 1000;
	size_t lo = 0, hi = tz->n; /* at_ms[lo] <= utc_ms < at_ms[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->at_ms[mid] <= utc_ms)
			lo = mid;
		else
			hi = mid;
	}
	return (int64_t)tz->off_s[lo] * 1000;
}

int64_t smtp_tz_to_utc(const struct smtp_tz *tz, int64_t local_ms)
{
	/*
	 * The offset in force at the instant that local time names, found in
	 * two steps. In a repeated hour (clocks back) either instant is an
	 * answer; in a gap (clocks forward) one of the two offsets is used.
	 */
	int64_t off = offset_at(tz, local_ms);
	int64_t u = local_ms - off;
	int64_t off2 = offset_at(tz, u);
	if (off2 != off) {
		int64_t u2 = local_ms - off2;
		if (offset_at(tz, u2) == off2)
			u = u2;
	}
	return u;
}
