/*
 * obsjson.c: one observation from one JSON line.
 *
 * Design notes: the line format is a flat JSON object (RFC 8259) whose
 * values are strings, integers, booleans or null. This is a strict,
 * bounded reader for exactly that, not a general JSON parser: every
 * string is decoded into a fixed buffer (escapes, \u with surrogate pairs,
 * raw bytes checked as UTF-8), keys may not repeat, nested objects and
 * arrays are refused, and nothing may follow the closing brace but white
 * space. It allocates nothing; errors name the byte offset.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scoring/scoring.h"

#define STR_MAX 512

struct jr {
	const uint8_t *p, *b, *end;
	char *err;
	size_t errlen;
};

static int jr_fail(struct jr *r, const char *fmt, ...) RN_PRINTF(2, 3);
static int jr_fail(struct jr *r, const char *fmt, ...)
{
	if (r->errlen > 0) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(r->err, r->errlen, "offset %zu: %s", (size_t)(r->p - r->b), msg);
	}
	return RN_EPARSE;
}

static void skip_ws(struct jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
		r->p++;
}

static int hex4(struct jr *r, unsigned *out)
{
	unsigned v = 0;
	if (r->end - r->p < 4)
		return jr_fail(r, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		uint8_t c = *r->p++;
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			return jr_fail(r, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return RN_OK;
}

static int put_utf8(struct jr *r, char *dst, size_t *n, unsigned cp)
{
	uint8_t b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= STR_MAX)
		return jr_fail(r, "string longer than %d bytes", STR_MAX - 1);
	memcpy(dst + *n, b, k);
	*n += k;
	return RN_OK;
}

/* The length of the valid UTF-8 sequence at p (leading byte c), or 0. */
static size_t utf8_len(const uint8_t *p, const uint8_t *end)
{
	uint8_t c = p[0];
	size_t k;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if ((size_t)(end - p) < k)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* No overlong forms, surrogates or values past U+10FFFF. */
	if (c == 0xe0 && p[1] < 0xa0)
		return 0;
	if (c == 0xed && p[1] >= 0xa0)
		return 0;
	if (c == 0xf0 && p[1] < 0x90)
		return 0;
	if (c == 0xf4 && p[1] >= 0x90)
		return 0;
	return k;
}

/* Reads a string (the opening quote is next) into dst; *n its length. */
static int read_string(struct jr *r, char *dst, size_t *n)
{
	*n = 0;
	if (r->p >= r->end || *r->p != '"')
		return jr_fail(r, "expected a string");
	r->p++;
	for (;;) {
		if (r->p >= r->end)
			return jr_fail(r, "unterminated string");
		uint8_t c = *r->p;
		if (c == '"') {
			r->p++;
			dst[*n] = '\0';
			return RN_OK;
		}
		if (c < 0x20)
			return jr_fail(r, "control character in a string");
		if (c == '\\') {
			r->p++;
			if (r->p >= r->end)
				return jr_fail(r, "unterminated escape");
			uint8_t e = *r->p++;
			unsigned cp;
			switch (e) {
			case '"':
			case '\\':
			case '/':
				cp = e;
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'n':
				cp = '\n';
				break;
			case 'r':
				cp = '\r';
				break;
			case 't':
				cp = '\t';
				break;
			case 'u': {
				if (hex4(r, &cp) != RN_OK)
					return RN_EPARSE;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return jr_fail(r, "unpaired low surrogate");
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
						return jr_fail(r, "unpaired high surrogate");
					r->p += 2;
					if (hex4(r, &lo) != RN_OK)
						return RN_EPARSE;
					if (lo < 0xdc00 || lo > 0xdfff)
						return jr_fail(r, "unpaired high surrogate");
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				break;
			}
			default:
				return jr_fail(r, "bad escape \\%c",
				               e >= 0x20 && e < 0x7f ? e : '?');
			}
			if (put_utf8(r, dst, n, cp) != RN_OK)
				return RN_EPARSE;
			continue;
		}
		size_t k = c < 0x80 ? 1 : utf8_len(r->p, r->end);
		if (k == 0)
			return jr_fail(r, "invalid UTF-8");
		if (*n + k >= STR_MAX)
			return jr_fail(r, "string longer than %d bytes", STR_MAX - 1);
		memcpy(dst + *n, r->p, k);
		*n += k;
		r->p += k;
	}
}

enum vtype { V_STR, V_INT, V_NUM, V_BOOL, V_NULL };

struct jval {
	enum vtype t;
	char s[STR_MAX];
	size_t len;
	int64_t i;
};

static int read_value(struct jr *r, struct jval *v)
{
	if (r->p >= r->end)
		return jr_fail(r, "expected a value");
	uint8_t c = *r->p;
	if (c == '"') {
		v->t = V_STR;
		return read_string(r, v->s, &v->len);
	}
	if (c == '{' || c == '[')
		return jr_fail(r, "nested objects and arrays are not accepted");
	static const struct {
		const char *w;
		enum vtype t;
	} words[] = {{"true", V_BOOL}, {"false", V_BOOL}, {"null", V_NULL}};
	for (size_t i = 0; i < RN_ARRAY_LEN(words); i++) {
		size_t l = strlen(words[i].w);
		if ((size_t)(r->end - r->p) >= l && memcmp(r->p, words[i].w, l) == 0) {
			r->p += l;
			v->t = words[i].t;
			v->i = words[i].w[0] == 't';
			return RN_OK;
		}
	}
	/* A number: -?int(.frac)?(e exp)?; only integers are used. */
	const uint8_t *s = r->p;
	bool neg = false, integral = true;
	if (*r->p == '-') {
		neg = true;
		r->p++;
	}
	if (r->p >= r->end || *r->p < '0' || *r->p > '9')
		return jr_fail(r, "expected a value");
	if (*r->p == '0' && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9')
		return jr_fail(r, "leading zero in a number");
	uint64_t acc = 0;
	bool overflow = false;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		if (acc > (UINT64_MAX - 9) / 10)
			overflow = true;
		else
			acc = acc * 10 + (uint64_t)(*r->p - '0');
		r->p++;
	}
	if (r->p < r->end && *r->p == '.') {
		integral = false;
		r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return jr_fail(r, "bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		integral = false;
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return jr_fail(r, "bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p - s > 40)
		return jr_fail(r, "number too long");
	if (!integral || overflow || acc > (uint64_t)INT64_MAX) {
		v->t = V_NUM;
		return RN_OK;
	}
	v->t = V_INT;
	v->i = neg ? -(int64_t)acc : (int64_t)acc;
	return RN_OK;
}

enum {
	K_TS = 1,
	K_IP = 2,
	K_KIND = 4,
	K_SOURCE = 8,
	K_EVIDENCE = 16,
	K_COUNT = 32,
	K_PREFIX = 64,
	K_PROGRAM = 128,
};

static int apply(struct jr *r, const char *key, const struct jval *v, struct rn_obs *o,
                 unsigned *seen, unsigned *prefix_len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {{"ts", K_TS},
	            {"ip", K_IP},
	            {"kind", K_KIND},
	            {"source", K_SOURCE},
	            {"evidence", K_EVIDENCE},
	            {"count", K_COUNT},
	            {"prefix_len", K_PREFIX},
	            {"program", K_PROGRAM}};
	unsigned bit = 0;
	for (size_t i = 0; i < RN_ARRAY_LEN(keys); i++)
		if (strcmp(key, keys[i].name) == 0)
			bit = keys[i].bit;
	if (bit == 0)
		return RN_OK; /* unknown keys are skipped */
	if (*seen & bit)
		return jr_fail(r, "duplicate key \"%s\"", key);
	*seen |= bit;
	bool str = v->t == V_STR;
	switch (bit) {
	case K_TS:
		if (!str || rn_time_parse((const uint8_t *)v->s, v->len, &o->ts_ms) != RN_OK)
			return jr_fail(r, "ts: expected an RFC 3339 time such as "
			                  "\"2026-11-29T02:26:49Z\"");
		return RN_OK;
	case K_IP:
		if (!str || rn_addr_parse((const uint8_t *)v->s, v->len, &o->addr) != RN_OK)
			return jr_fail(r, "ip: expected an IPv4 or IPv6 address");
		return RN_OK;
	case K_KIND: {
		enum rn_kind k;
		if (!str || rn_kind_parse(v->s, &k) != RN_OK)
			return jr_fail(r, "kind: \"%.40s\" is not a kind", str ? v->s : "");
		o->kind = (uint16_t)k;
		return RN_OK;
	}
	case K_SOURCE:
		if (!str)
			return jr_fail(r, "source: expected a name");
		for (unsigned i = 0; i < RN_SRC_COUNT; i++) {
			if (strcmp(rn_source_name(i), v->s) == 0) {
				o->source = (uint8_t)i;
				return RN_OK;
			}
		}
		return jr_fail(r, "source: \"%.40s\" is not a source", v->s);
	case K_EVIDENCE:
		if (!str || v->len >= RN_EVIDENCE_MAX)
			return jr_fail(r, "evidence: expected a string of at most %d bytes",
			               RN_EVIDENCE_MAX - 1);
		for (size_t i = 0; i < v->len; i++)
			if ((uint8_t)v->s[i] < 0x20 || v->s[i] == 0x7f)
				return jr_fail(r, "evidence: control character");
		memcpy(o->evidence, v->s, v->len + 1);
		return RN_OK;
	case K_COUNT:
		if (v->t != V_INT || v->i < 1 || v->i > UINT32_MAX)
			return jr_fail(r, "count: expected an integer from 1 to %u", UINT32_MAX);
		o->count = (uint32_t)v->i;
		return RN_OK;
	case K_PREFIX:
		if (v->t != V_INT || v->i < 0 || v->i > 128)
			return jr_fail(r, "prefix_len: expected an integer from 0 to 128");
		*prefix_len = (unsigned)v->i;
		return RN_OK;
	case K_PROGRAM:
		if (!str)
			return jr_fail(r, "program: expected a string");
		/* Local context only: cut at a character boundary. */
		size_t n = v->len < sizeof(o->program) - 1 ? v->len : sizeof(o->program) - 1;
		while (n > 0 && n < v->len && ((uint8_t)v->s[n] & 0xc0) == 0x80)
			n--;
		memcpy(o->program, v->s, n);
		o->program[n] = '\0';
		return RN_OK;
	}
	return RN_OK;
}

int scoring_obs_from_json(const uint8_t *buf, size_t len, struct rn_obs *out, char *err,
                          size_t errlen)
{
	struct jr r = {.p = buf, .b = buf, .end = buf + len, .err = err, .errlen = errlen};
	struct jval v;
	char key[STR_MAX];
	size_t klen;
	struct rn_obs o;
	unsigned seen = 0, prefix_len = 0;
	if (len == 0)
		return jr_fail(&r, "empty line");
	memset(&o, 0, sizeof(o));
	o.count = 1;
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return jr_fail(&r, "expected '{'");
	r.p++;
	skip_ws(&r);
	if (r.p < r.end && *r.p == '}') {
		r.p++;
	} else {
		for (;;) {
			skip_ws(&r);
			if (read_string(&r, key, &klen) != RN_OK)
				return RN_EPARSE;
			skip_ws(&r);
			if (r.p >= r.end || *r.p != ':')
				return jr_fail(&r, "expected ':'");
			r.p++;
			skip_ws(&r);
			if (read_value(&r, &v) != RN_OK)
				return RN_EPARSE;
			if (memchr(key, '\0', klen) != NULL)
				return jr_fail(&r, "NUL in a key");
			if (apply(&r, key, &v, &o, &seen, &prefix_len) != RN_OK)
				return RN_EPARSE;
			skip_ws(&r);
			if (r.p < r.end && *r.p == ',') {
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}') {
				r.p++;
				break;
			}
			return jr_fail(&r, "expected ',' or '}'");
		}
	}
	skip_ws(&r);
	if (r.p != r.end)
		return jr_fail(&r, "trailing bytes after the object");
	if ((seen & (K_TS | K_IP | K_KIND)) != (K_TS | K_IP | K_KIND))
		return jr_fail(&r, "ts, ip and kind are required");
	if (prefix_len > rn_addr_maxlen(&o.addr))
		return jr_fail(&r, "prefix_len: longer than the address");
	o.prefix_len = (uint8_t)prefix_len;
	if (prefix_len != 0)
		rn_addr_mask(&o.addr, prefix_len);
	*out = o;
	return RN_OK;
}
