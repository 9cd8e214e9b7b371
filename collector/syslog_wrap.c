/*
 * syslog_wrap.c: splits a log line into its time, program and message,
 * whatever wrapper the operator's setup put around it.
 *
 * Design notes: the wrapper is recognised from the first bytes: '<' is a
 * syslog PRI (RFC 3164 or RFC 5424 "<PRI>1 "), a letter is a traditional
 * "Mmm dd hh:mm:ss" stamp (Postfix's maillog_file, RFC 3164 files), and
 * four digits are an RFC 3339 stamp ('T' after the date, as rsyslog
 * writes) or Exim's "YYYY-MM-DD hh:mm:ss" (a space). Every field is read
 * with bounds checks on (buf, len); nothing is copied. Times without an
 * offset are local time; the conversion caches the offset of the last
 * local hour, so mktime() runs about once an hour of log, not per line.
 * A struct smtp_clock belongs to one thread.
 */
#include <time.h>

#include "collector/smtp.h"

#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL

void smtp_clock_init(struct smtp_clock *c, int64_t ref_ms)
{
	memset(c, 0, sizeof(*c));
	c->ref_ms = ref_ms;
	c->ref_cached_ms = INT64_MIN;
	c->tz_key = -1;
}

static inline bool digits(const uint8_t *p, size_t n, unsigned *out);

int smtp_tz_offset_parse(const char *s, int64_t *off)
{
	unsigned h, m;
	if (strlen(s) != 5 || (s[0] != '+' && s[0] != '-') ||
	    !digits((const uint8_t *)s + 1, 2, &h) || !digits((const uint8_t *)s + 3, 2, &m) ||
	    m > 59 || h * 60 + m > 14 * 60)
		return RN_EPARSE;
	if (off != NULL)
		*off = (s[0] == '-' ? -1 : 1) * ((int64_t)h * 60 + m) * 60000;
	return RN_OK;
}

static int64_t civil_ms(int64_t y, unsigned mon, unsigned d, unsigned h, unsigned mi, unsigned s)
{
	return ((rn_time_days_from_civil(y, mon, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

int64_t smtp_clock_local(struct smtp_clock *c, int64_t y, unsigned mon, unsigned d, unsigned h,
                         unsigned mi, unsigned s, unsigned ms)
{
	int64_t days = rn_time_days_from_civil(y, mon, d);
	int64_t key = days * 24 + h;
	if (key != c->tz_key) {
		struct tm tm = {.tm_year = (int)(y - 1900),
		                .tm_mon = (int)mon - 1,
		                .tm_mday = (int)d,
		                .tm_hour = (int)h,
		                .tm_isdst = -1};
		time_t t = mktime(&tm);
		/* The offset of local time from UTC at the start of this hour. */
		int64_t utc = key * HOUR_MS;
		c->tz_off_ms = t == (time_t)-1 ? 0 : utc - (int64_t)t * 1000;
		c->tz_key = key;
	}
	return key * HOUR_MS + (int64_t)mi * 60000 + (int64_t)s * 1000 + ms - c->tz_off_ms;
}

int64_t smtp_clock_year(struct smtp_clock *c, unsigned mon, unsigned d, unsigned h, unsigned mi,
                        unsigned s)
{
	int64_t ref = c->ref_ms != 0 ? c->ref_ms : rn_time_now_ms();
	if (ref / DAY_MS != c->ref_cached_ms / DAY_MS || c->ref_cached_ms == INT64_MIN) {
		int64_t y;
		unsigned m, dd;
		int64_t days = ref >= 0 ? ref / DAY_MS : (ref - DAY_MS + 1) / DAY_MS;
		rn_time_civil_from_days(days, &y, &m, &dd);
		c->ref_year = y;
		c->ref_cached_ms = ref;
	}
	/* The latest year that does not put the line too far past the reference. */
	for (int64_t y = c->ref_year + 1; y >= c->ref_year - 1; y--) {
		if (civil_ms(y, mon, d, h, mi, s) <= ref + SMTP_FUTURE_SLACK_MS)
			return y;
	}
	return c->ref_year - 1;
}

static inline bool is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

/* Reads exactly n digits at p (bounds checked by the caller). */
static inline bool digits(const uint8_t *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

static int month_parse(const uint8_t *p)
{
	/* Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec */
	switch (p[0]) {
	case 'J':
		if (p[1] == 'a' && p[2] == 'n')
			return 1;
		if (p[1] == 'u' && p[2] == 'n')
			return 6;
		if (p[1] == 'u' && p[2] == 'l')
			return 7;
		return 0;
	case 'F':
		return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
	case 'M':
		if (p[1] == 'a' && p[2] == 'r')
			return 3;
		if (p[1] == 'a' && p[2] == 'y')
			return 5;
		return 0;
	case 'A':
		if (p[1] == 'p' && p[2] == 'r')
			return 4;
		if (p[1] == 'u' && p[2] == 'g')
			return 8;
		return 0;
	case 'S':
		return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
	case 'O':
		return p[1] == 'c' && p[2] == 't' ? 10 : 0;
	case 'N':
		return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
	case 'D':
		return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
	default:
		return 0;
	}
}

static bool valid_date(unsigned mon, unsigned d, unsigned h, unsigned mi, unsigned s)
{
	return mon >= 1 && mon <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60;
}

/* Skips "<PRI>"; false when malformed. */
static bool skip_pri(struct rn_cur *c)
{
	if (rn_cur_left(c) < 3 || c->p[0] != '<')
		return true;
	size_t i = 1;
	unsigned v = 0;
	while (i < rn_cur_left(c) && i <= 4 && is_digit(c->p[i]))
		v = v * 10 + (unsigned)(c->p[i++] - '0');
	if (i == 1 || i > 4 || i >= rn_cur_left(c) || c->p[i] != '>' || v > 191)
		return false;
	c->p += i + 1;
	return true;
}

/* Reads a space-delimited token; false at the end. */
static bool token(struct rn_cur *c, const uint8_t **tok, size_t *tlen)
{
	const uint8_t *p = c->p;
	if (p >= c->end)
		return false;
	const uint8_t *sp = memchr(p, ' ', (size_t)(c->end - p));
	const uint8_t *e = sp != NULL ? sp : c->end;
	*tok = p;
	*tlen = (size_t)(e - p);
	c->p = sp != NULL ? sp + 1 : c->end;
	return *tlen > 0;
}

/*
 * "host tag[pid]: msg" or "tag[pid]: msg" after a timestamp. The tag is
 * the program name up to '[' or ':'.
 */
static int host_tag_msg(struct rn_cur *c, struct smtp_line *out)
{
	const uint8_t *t1, *t2;
	size_t l1, l2;
	struct rn_cur save;

	if (!token(c, &t1, &l1))
		return RN_EPARSE;
	if (t1[l1 - 1] == ':') {
		/* No hostname: the first token is the tag. */
		t2 = t1;
		l2 = l1;
	} else {
		save = *c;
		if (!token(c, &t2, &l2) || t2[l2 - 1] != ':') {
			/* A host and a message without a tag. */
			*c = save;
			out->prog = t1;
			out->prog_len = 0;
			out->msg = c->p;
			out->msg_len = rn_cur_left(c);
			return RN_OK;
		}
	}
	size_t n = l2 - 1; /* without ':' */
	const uint8_t *br = memchr(t2, '[', n);
	if (br != NULL) {
		if (t2[n - 1] != ']')
			return RN_EPARSE;
		n = (size_t)(br - t2);
	}
	out->prog = t2;
	out->prog_len = n;
	out->msg = c->p;
	out->msg_len = rn_cur_left(c);
	return RN_OK;
}

/* "Mmm dd hh:mm:ss[.frac] " */
static int bsd_stamp(struct smtp_clock *clk, struct rn_cur *c, int64_t *ts)
{
	const uint8_t *p = c->p;
	size_t left = rn_cur_left(c);
	unsigned d, h, mi, s, ms = 0;

	if (left < 16)
		return RN_EPARSE;
	int mon = month_parse(p);
	if (mon == 0 || p[3] != ' ')
		return RN_EPARSE;
	size_t i = 4;
	if (p[i] == ' ')
		i++;
	if (is_digit(p[i]) && is_digit(p[i + 1])) {
		d = (unsigned)(p[i] - '0') * 10 + (unsigned)(p[i + 1] - '0');
		i += 2;
	} else if (is_digit(p[i])) {
		d = (unsigned)(p[i] - '0');
		i += 1;
	} else {
		return RN_EPARSE;
	}
	if (left < i + 10 || p[i] != ' ')
		return RN_EPARSE;
	i++;
	if (!digits(p + i, 2, &h) || p[i + 2] != ':' || !digits(p + i + 3, 2, &mi) ||
	    p[i + 5] != ':' || !digits(p + i + 6, 2, &s))
		return RN_EPARSE;
	i += 8;
	if (i < left && p[i] == '.') {
		size_t k = i + 1;
		unsigned scale = 100;
		while (k < left && is_digit(p[k])) {
			ms += (unsigned)(p[k] - '0') * scale;
			scale /= 10;
			k++;
		}
		if (k == i + 1)
			return RN_EPARSE;
		i = k;
	}
	if (i >= left || p[i] != ' ' || !valid_date((unsigned)mon, d, h, mi, s))
		return RN_EPARSE;
	c->p += i + 1;
	int64_t y = smtp_clock_year(clk, (unsigned)mon, d, h, mi, s);
	*ts = smtp_clock_local(clk, y, (unsigned)mon, d, h, mi, s, ms);
	return RN_OK;
}

/* An RFC 3339 token such as "2026-11-29T02:26:49.845037+00:00". */
static int rfc3339_token(struct rn_cur *c, int64_t *ts)
{
	const uint8_t *tok;
	size_t n;
	if (!token(c, &tok, &n))
		return RN_EPARSE;
	return rn_time_parse(tok, n, ts);
}

/*
 * Exim's "YYYY-MM-DD hh:mm:ss[.mmm] [+hhmm ][[pid] ]". Exported to the
 * pipeline through smtp_wrap_parse() only.
 */
static int exim_stamp(struct smtp_clock *clk, struct rn_cur *c, int64_t *ts)
{
	const uint8_t *p = c->p;
	size_t left = rn_cur_left(c);
	unsigned y, mon, d, h, mi, s, ms = 0;

	if (left < 20)
		return RN_EPARSE;
	if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mon) || p[7] != '-' ||
	    !digits(p + 8, 2, &d) || p[10] != ' ' || !digits(p + 11, 2, &h) || p[13] != ':' ||
	    !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &s))
		return RN_EPARSE;
	if (!valid_date(mon, d, h, mi, s))
		return RN_EPARSE;
	size_t i = 19;
	if (i + 4 <= left && p[i] == '.' && digits(p + i + 1, 3, &ms))
		i += 4;
	if (i >= left || p[i] != ' ')
		return RN_EPARSE;
	i++;
	/* An optional "+hhmm" or "-hhmm" zone (log_timezone). */
	bool zoned = false;
	int64_t off_ms = 0;
	unsigned zh, zm;
	if (i + 6 <= left && (p[i] == '+' || p[i] == '-') && digits(p + i + 1, 2, &zh) &&
	    digits(p + i + 3, 2, &zm) && p[i + 5] == ' ') {
		zoned = true;
		off_ms = ((int64_t)zh * 60 + zm) * 60000;
		if (p[i] == '-')
			off_ms = -off_ms;
		i += 6;
	}
	/* An optional "[pid] " (log_selector +pid). */
	if (i < left && p[i] == '[') {
		size_t k = i + 1;
		while (k < left && is_digit(p[k]))
			k++;
		if (k > i + 1 && k + 1 < left && p[k] == ']' && p[k + 1] == ' ')
			i = k + 2;
	}
	c->p += i;
	if (!zoned && clk->exim_fixed) {
		zoned = true;
		off_ms = clk->exim_off_ms;
	}
	if (!zoned && clk->exim_zone != NULL)
		*ts = smtp_tz_to_utc(clk->exim_zone, civil_ms(y, mon, d, h, mi, s) + ms);
	else if (zoned)
		*ts = civil_ms(y, mon, d, h, mi, s) + ms - off_ms;
	else
		*ts = smtp_clock_local(clk, y, mon, d, h, mi, s, ms);
	return RN_OK;
}

static bool skip_bom(struct rn_cur *c)
{
	if (rn_cur_left(c) >= 3 && c->p[0] == 0xEF && c->p[1] == 0xBB && c->p[2] == 0xBF) {
		c->p += 3;
		return true;
	}
	return false;
}

/* RFC 5424 after "<PRI>1 ": TS HOST APP PROCID MSGID SD [MSG]. */
static int rfc5424(struct smtp_clock *clk, struct rn_cur *c, struct smtp_line *out)
{
	const uint8_t *tok;
	size_t n;

	if (rn_cur_left(c) >= 2 && c->p[0] == '-' && c->p[1] == ' ') {
		out->ts_ms = clk->ref_ms != 0 ? clk->ref_ms : rn_time_now_ms();
		c->p += 2;
	} else if (rfc3339_token(c, &out->ts_ms) != RN_OK) {
		return RN_EPARSE;
	}
	if (!token(c, &tok, &n)) /* HOSTNAME */
		return RN_EPARSE;
	if (!token(c, &tok, &n) || n > 48) /* APP-NAME */
		return RN_EPARSE;
	out->prog = tok;
	out->prog_len = n == 1 && tok[0] == '-' ? 0 : n;
	if (!token(c, &tok, &n) || n > 128) /* PROCID */
		return RN_EPARSE;
	if (!token(c, &tok, &n) || n > 32) /* MSGID */
		return RN_EPARSE;
	/* STRUCTURED-DATA: "-" or "[...]..." with \] and \" escapes inside values. */
	if (rn_cur_left(c) == 0)
		return RN_EPARSE;
	if (c->p[0] == '-') {
		c->p++;
	} else {
		while (c->p < c->end && c->p[0] == '[') {
			const uint8_t *p = c->p + 1;
			bool quoted = false;
			for (;;) {
				if (p >= c->end)
					return RN_EPARSE;
				if (quoted && *p == '\\') {
					p += 2;
					continue;
				}
				if (*p == '"')
					quoted = !quoted;
				else if (!quoted && *p == ']')
					break;
				p++;
			}
			c->p = p + 1;
		}
	}
	if (c->p < c->end) {
		if (c->p[0] != ' ')
			return RN_EPARSE;
		c->p++;
	}
	/*
	 * A UTF-8 BOM may start MSG (RFC 5424, syslog-ng). rsyslog's
	 * RSYSLOG_SyslogProtocol23Format writes its msg property, which keeps
	 * the space that followed the tag's ':': one more space, before or
	 * after a BOM, is part of the wrapper, not of the message.
	 */
	bool bom = skip_bom(c);
	if (rn_cur_left(c) > 0 && c->p[0] == ' ') {
		c->p++;
		if (!bom)
			(void)skip_bom(c);
	}
	out->msg = c->p;
	out->msg_len = rn_cur_left(c);
	out->wrapper = SMTP_WRAP_RFC5424;
	return RN_OK;
}

int smtp_wrap_parse(struct smtp_clock *clk, const uint8_t *buf, size_t len, struct smtp_line *out)
{
	struct rn_cur c;
	int rc;

	rn_cur_init(&c, buf, len);
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return RN_EPARSE;
	bool pri = buf[0] == '<';
	if (!skip_pri(&c))
		return RN_EPARSE;
	if (pri && rn_cur_left(&c) >= 2 && c.p[0] == '1' && c.p[1] == ' ') {
		c.p += 2;
		return rfc5424(clk, &c, out);
	}
	if (rn_cur_left(&c) == 0)
		return RN_EPARSE;
	uint8_t ch = c.p[0];
	if (ch >= 'A' && ch <= 'Z') {
		rc = bsd_stamp(clk, &c, &out->ts_ms);
		if (rc != RN_OK)
			return rc;
		out->wrapper = SMTP_WRAP_BSD;
		return host_tag_msg(&c, out);
	}
	if (is_digit(ch) && rn_cur_left(&c) > 11) {
		if (c.p[10] == 'T') {
			rc = rfc3339_token(&c, &out->ts_ms);
			if (rc != RN_OK)
				return rc;
			out->wrapper = SMTP_WRAP_RFC3339;
			return host_tag_msg(&c, out);
		}
		if (!pri && c.p[10] == ' ') {
			rc = exim_stamp(clk, &c, &out->ts_ms);
			if (rc != RN_OK)
				return rc;
			out->wrapper = SMTP_WRAP_EXIM;
			out->prog = (const uint8_t *)"exim";
			out->prog_len = 4;
			out->msg = c.p;
			out->msg_len = rn_cur_left(&c);
			return RN_OK;
		}
	}
	return RN_EPARSE;
}

size_t smtp_wrap_strip_exim_stamp(struct smtp_clock *clk, const uint8_t *msg, size_t len)
{
	struct rn_cur c;
	int64_t ts;
	rn_cur_init(&c, msg, len);
	if (len < 20 || !is_digit(msg[0]) || exim_stamp(clk, &c, &ts) != RN_OK)
		return 0;
	return (size_t)(c.p - msg);
}
