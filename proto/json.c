/*
 * json.c: the JSON writer and the strict JSON reader (RFC 8259).
 *
 * Design notes: both sides are small on purpose. repnet's documents are
 * JSON lines of flat objects and one nested status document, so there is
 * no tree: the writer appends tokens to a string builder and the reader
 * hands out tokens one at a time, keeping only a bit per nesting level
 * (object or array) and what may come next. Neither keeps a pointer to
 * the other's data after a call returns.
 *
 * The writer tracks the same structure to put commas where they go and to
 * refuse misuse (a bug, RN_EINTERNAL), so its output is always one valid
 * document. Its string escaping is the reader's grammar turned around:
 * what the reader refuses raw (control characters, invalid UTF-8) the
 * writer never emits raw.
 *
 * The reader refuses everything RFC 8259 does not allow, and a little it
 * does allow but repnet never writes and callers would mishandle: a NUL
 * in a key, nesting past RN_JSON_DEPTH_MAX, strings longer than the
 * caller's buffer, numbers longer than RN_JSON_NUM_MAX characters. Its
 * first error is sticky and carries a static reason and a byte offset.
 * Numbers are validated by the grammar and converted only when asked.
 * Neither side allocates, and both are safe to use from several threads
 * on different objects.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/proto.h"

/* ---- UTF-8 ---------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p (at most left bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
	uint8_t c = p[0];
	size_t k;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (left < k)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* No overlong forms, surrogates or values past U+10FFFF. */
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
		return 0;
	return k;
}

/* Encodes the code point cp (not a surrogate, at most U+10FFFF) into b. */
static size_t utf8_put(uint8_t b[4], unsigned cp)
{
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (uint8_t)(0xf0 | cp >> 18);
	b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	b[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- writer --------------------------------------------------------------- */

void rn_json_quote(struct rn_strbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	rn_strbuf_putc(b, '"');
	while (p < end) {
		/* The longest run that needs no escaping goes in one append. */
		const uint8_t *run = p;
		size_t k;
		while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' &&
		       (k = utf8_len(p, (size_t)(end - p))) != 0)
			p += k;
		rn_strbuf_append(b, run, (size_t)(p - run));
		if (p == end)
			break;
		uint8_t c = *p++;
		char esc[7] = {'\\', 0};
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (c >= 0x80) {
				rn_strbuf_puts(b, "\xef\xbf\xbd"); /* U+FFFD for a bad byte */
				continue;
			}
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			break;
		}
		rn_strbuf_puts(b, esc);
	}
	rn_strbuf_putc(b, '"');
}

void rn_jsonw_init(struct rn_jsonw *w, struct rn_strbuf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
}

static void w_fail(struct rn_jsonw *w)
{
	if (w->err == RN_OK)
		w->err = RN_EINTERNAL;
}

static bool in_obj(const struct rn_jsonw *w)
{
	return w->depth > 0 && (w->obj >> (w->depth - 1) & 1);
}

/* Before a value: its comma, and whether one may come here at all. */
static bool w_value(struct rn_jsonw *w)
{
	if (w->err != RN_OK)
		return false;
	if (w->done || (in_obj(w) && !w->key)) {
		w_fail(w);
		return false;
	}
	if (w->depth > 0 && !in_obj(w) && (w->items >> (w->depth - 1) & 1))
		rn_strbuf_putc(w->b, ',');
	if (w->depth > 0)
		w->items |= 1u << (w->depth - 1);
	w->key = false;
	return true;
}

/* After a scalar or a closed container. */
static void w_after(struct rn_jsonw *w)
{
	if (w->depth == 0)
		w->done = true;
}

static void w_open(struct rn_jsonw *w, bool obj)
{
	if (!w_value(w))
		return;
	if (w->depth == RN_JSON_DEPTH_MAX) {
		w_fail(w);
		return;
	}
	rn_strbuf_putc(w->b, obj ? '{' : '[');
	w->depth++;
	uint32_t bit = 1u << (w->depth - 1);
	w->obj = obj ? w->obj | bit : w->obj & ~bit;
	w->items &= ~bit;
}

static void w_close(struct rn_jsonw *w, bool obj)
{
	if (w->err != RN_OK)
		return;
	if (w->depth == 0 || in_obj(w) != obj || w->key) {
		w_fail(w);
		return;
	}
	rn_strbuf_putc(w->b, obj ? '}' : ']');
	w->depth--;
	w_after(w);
}

void rn_jsonw_obj_begin(struct rn_jsonw *w)
{
	w_open(w, true);
}

void rn_jsonw_obj_end(struct rn_jsonw *w)
{
	w_close(w, true);
}

void rn_jsonw_arr_begin(struct rn_jsonw *w)
{
	w_open(w, false);
}

void rn_jsonw_arr_end(struct rn_jsonw *w)
{
	w_close(w, false);
}

void rn_jsonw_key(struct rn_jsonw *w, const char *k)
{
	if (w->err != RN_OK)
		return;
	if (!in_obj(w) || w->key) {
		w_fail(w);
		return;
	}
	uint32_t bit = 1u << (w->depth - 1);
	if (w->items & bit)
		rn_strbuf_putc(w->b, ',');
	w->items |= bit;
	rn_json_quote(w->b, k, strlen(k));
	rn_strbuf_putc(w->b, ':');
	w->key = true;
}

void rn_jsonw_strn(struct rn_jsonw *w, const char *s, size_t n)
{
	if (!w_value(w))
		return;
	rn_json_quote(w->b, s, n);
	w_after(w);
}

void rn_jsonw_str(struct rn_jsonw *w, const char *s)
{
	rn_jsonw_strn(w, s, strlen(s));
}

/* A scalar whose text needs no escaping. */
static void w_raw(struct rn_jsonw *w, const char *text)
{
	if (!w_value(w))
		return;
	rn_strbuf_puts(w->b, text);
	w_after(w);
}

void rn_jsonw_int(struct rn_jsonw *w, int64_t v)
{
	char t[24];
	snprintf(t, sizeof(t), "%" PRId64, v);
	w_raw(w, t);
}

void rn_jsonw_uint(struct rn_jsonw *w, uint64_t v)
{
	char t[24];
	snprintf(t, sizeof(t), "%" PRIu64, v);
	w_raw(w, t);
}

void rn_jsonw_double(struct rn_jsonw *w, double v)
{
	char t[32];
	if (!isfinite(v)) {
		w_raw(w, "null");
		return;
	}
	snprintf(t, sizeof(t), "%.15g", v);
	if (strtod(t, NULL) != v)
		snprintf(t, sizeof(t), "%.17g", v);
	w_raw(w, t);
}

/* True when t is exactly one JSON number. */
static bool is_number(const char *t)
{
	const char *p = t;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

void rn_jsonw_numf(struct rn_jsonw *w, const char *fmt, ...)
{
	char t[RN_JSON_NUM_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(t) || !is_number(t)) {
		w_fail(w);
		return;
	}
	w_raw(w, t);
}

void rn_jsonw_bool(struct rn_jsonw *w, bool v)
{
	w_raw(w, v ? "true" : "false");
}

void rn_jsonw_null(struct rn_jsonw *w)
{
	w_raw(w, "null");
}

void rn_jsonw_time(struct rn_jsonw *w, int64_t ms, bool with_ms)
{
	char t[RN_TIME_STRLEN];
	size_t n = rn_time_format(ms, with_ms, t, sizeof(t));
	rn_jsonw_strn(w, t, n);
}

void rn_jsonw_kv_str(struct rn_jsonw *w, const char *k, const char *s)
{
	rn_jsonw_key(w, k);
	rn_jsonw_str(w, s);
}

void rn_jsonw_kv_int(struct rn_jsonw *w, const char *k, int64_t v)
{
	rn_jsonw_key(w, k);
	rn_jsonw_int(w, v);
}

void rn_jsonw_kv_uint(struct rn_jsonw *w, const char *k, uint64_t v)
{
	rn_jsonw_key(w, k);
	rn_jsonw_uint(w, v);
}

void rn_jsonw_kv_bool(struct rn_jsonw *w, const char *k, bool v)
{
	rn_jsonw_key(w, k);
	rn_jsonw_bool(w, v);
}

void rn_jsonw_kv_time(struct rn_jsonw *w, const char *k, int64_t ms, bool with_ms)
{
	rn_jsonw_key(w, k);
	rn_jsonw_time(w, ms, with_ms);
}

int rn_jsonw_finish(const struct rn_jsonw *w)
{
	if (w->err != RN_OK)
		return w->err;
	if (rn_strbuf_err(w->b) != RN_OK)
		return rn_strbuf_err(w->b);
	return w->done ? RN_OK : RN_EINTERNAL;
}

/* ---- reader --------------------------------------------------------------- */

/* What may come next. */
enum {
	S_VALUE,        /* a value: the document's, or after ':' or an array's ',' */
	S_VALUE_OR_END, /* after '[' */
	S_KEY_OR_END,   /* after '{' */
	S_KEY,          /* after an object's ',' */
	S_COLON,        /* after a key */
	S_AFTER,        /* after a value: ',' or the container's end, or the input's */
	S_DONE,         /* RN_JSON_END was returned */
};

void rn_json_init(struct rn_json *r, const uint8_t *buf, size_t len, char *str, size_t cap)
{
	memset(r, 0, sizeof(*r));
	rn_cur_init(&r->c, buf, len);
	r->start = r->c.p;
	r->str = str;
	r->str_cap = cap;
	if (str != NULL && cap > 0)
		str[0] = '\0';
	r->state = S_VALUE;
}

int rn_json_fail(struct rn_json *r, int err, const char *why)
{
	if (r->err == RN_OK) {
		r->err = err;
		r->why = why;
		r->err_at = rn_json_offset(r);
	}
	return r->err;
}

size_t rn_json_error(const struct rn_json *r, char *dst, size_t dstlen)
{
	if (dstlen == 0)
		return 0;
	int n = r->err == RN_OK ? snprintf(dst, dstlen, "no error")
	                        : snprintf(dst, dstlen, "offset %zu: %s%s%s", r->err_at,
	                                   r->err_key != NULL ? r->err_key : "",
	                                   r->err_key != NULL ? ": " : "",
	                                   r->why != NULL ? r->why : rn_strerror(r->err));
	return n < 0 ? 0 : (size_t)n < dstlen ? (size_t)n : dstlen - 1;
}

static void skip_ws(struct rn_json *r)
{
	while (r->c.p < r->c.end &&
	       (*r->c.p == ' ' || *r->c.p == '\t' || *r->c.p == '\n' || *r->c.p == '\r'))
		r->c.p++;
}

static bool at(const struct rn_json *r, uint8_t ch)
{
	return r->c.p < r->c.end && *r->c.p == ch;
}

static int hex4(struct rn_json *r, unsigned *out)
{
	if (rn_cur_left(&r->c) < 4)
		return rn_json_fail(r, RN_EPARSE, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++, r->c.p++) {
		uint8_t c = *r->c.p;
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			return rn_json_fail(r, RN_EPARSE, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return RN_OK;
}

static int str_put(struct rn_json *r, const uint8_t *b, size_t n)
{
	if (r->str == NULL || r->str_len + n >= r->str_cap)
		return rn_json_fail(r, RN_ELIMIT, "string too long");
	memcpy(r->str + r->str_len, b, n);
	r->str_len += n;
	return RN_OK;
}

/* One escape, the backslash consumed: its code point into the string. */
static int read_escape(struct rn_json *r)
{
	if (r->c.p >= r->c.end)
		return rn_json_fail(r, RN_EPARSE, "unterminated escape");
	uint8_t e = *r->c.p++;
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
	case 'u':
		if (hex4(r, &cp) != RN_OK)
			return r->err;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return rn_json_fail(r, RN_EPARSE, "unpaired low surrogate");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			unsigned lo;
			if (r->c.end - r->c.p < 2 || r->c.p[0] != '\\' || r->c.p[1] != 'u')
				return rn_json_fail(r, RN_EPARSE, "unpaired high surrogate");
			r->c.p += 2;
			if (hex4(r, &lo) != RN_OK)
				return r->err;
			if (lo < 0xdc00 || lo > 0xdfff)
				return rn_json_fail(r, RN_EPARSE, "unpaired high surrogate");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		break;
	default:
		r->c.p--;
		return rn_json_fail(r, RN_EPARSE, "bad escape");
	}
	uint8_t b[4];
	return str_put(r, b, utf8_put(b, cp));
}

/* A string, the opening quote next, decoded into r->str. */
static int read_string(struct rn_json *r)
{
	r->str_len = 0;
	if (r->str == NULL || r->str_cap == 0)
		return rn_json_fail(r, RN_ELIMIT, "string too long");
	r->c.p++;
	for (;;) {
		const uint8_t *run = r->c.p;
		size_t k = 1;
		while (r->c.p < r->c.end && *r->c.p >= 0x20 && *r->c.p != '"' && *r->c.p != '\\' &&
		       (k = utf8_len(r->c.p, (size_t)(r->c.end - r->c.p))) != 0)
			r->c.p += k;
		if (r->c.p > run && str_put(r, run, (size_t)(r->c.p - run)) != RN_OK)
			return r->err;
		if (r->c.p >= r->c.end)
			return rn_json_fail(r, RN_EPARSE, "unterminated string");
		uint8_t c = *r->c.p;
		if (c == '"')
			break;
		if (c == '\\') {
			r->c.p++;
			if (read_escape(r) != RN_OK)
				return r->err;
			continue;
		}
		if (c < 0x20)
			return rn_json_fail(r, RN_EPARSE, "control character in a string");
		return rn_json_fail(r, RN_EPARSE, "invalid UTF-8");
	}
	r->c.p++;
	r->str[r->str_len] = '\0';
	return RN_OK;
}

static bool digit(const struct rn_json *r)
{
	return r->c.p < r->c.end && *r->c.p >= '0' && *r->c.p <= '9';
}

/* A number, checked against the grammar and kept as text. */
static int read_number(struct rn_json *r)
{
	const uint8_t *s = r->c.p;
	if (at(r, '-'))
		r->c.p++;
	if (!digit(r))
		return rn_json_fail(r, RN_EPARSE, "expected a value");
	if (*r->c.p == '0') {
		r->c.p++;
		if (digit(r))
			return rn_json_fail(r, RN_EPARSE, "leading zero in a number");
	} else {
		while (digit(r))
			r->c.p++;
	}
	if (at(r, '.')) {
		r->c.p++;
		if (!digit(r))
			return rn_json_fail(r, RN_EPARSE, "bad number");
		while (digit(r))
			r->c.p++;
	}
	if (at(r, 'e') || at(r, 'E')) {
		r->c.p++;
		if (at(r, '+') || at(r, '-'))
			r->c.p++;
		if (!digit(r))
			return rn_json_fail(r, RN_EPARSE, "bad number");
		while (digit(r))
			r->c.p++;
	}
	size_t n = (size_t)(r->c.p - s);
	if (n > RN_JSON_NUM_MAX)
		return rn_json_fail(r, RN_ELIMIT, "number too long");
	memcpy(r->num, s, n);
	r->num[n] = '\0';
	return RN_OK;
}

static bool literal(struct rn_json *r, const char *w)
{
	size_t n = strlen(w);
	if (rn_cur_left(&r->c) < n || memcmp(r->c.p, w, n) != 0)
		return false;
	r->c.p += n;
	return true;
}

static int open_level(struct rn_json *r, bool obj)
{
	if (r->depth == RN_JSON_DEPTH_MAX)
		return rn_json_fail(r, RN_ELIMIT, "nested too deeply");
	r->c.p++;
	r->depth++;
	uint32_t bit = 1u << (r->depth - 1);
	r->obj = obj ? r->obj | bit : r->obj & ~bit;
	r->state = obj ? S_KEY_OR_END : S_VALUE_OR_END;
	return obj ? RN_JSON_OBJ_BEGIN : RN_JSON_ARR_BEGIN;
}

static int close_level(struct rn_json *r)
{
	bool obj = r->obj >> (r->depth - 1) & 1;
	r->c.p++;
	r->depth--;
	r->state = S_AFTER;
	return obj ? RN_JSON_OBJ_END : RN_JSON_ARR_END;
}

static int read_value(struct rn_json *r)
{
	if (r->c.p >= r->c.end)
		return rn_json_fail(r, RN_EPARSE, "expected a value");
	switch (*r->c.p) {
	case '{':
		return open_level(r, true);
	case '[':
		return open_level(r, false);
	case '"':
		if (read_string(r) != RN_OK)
			return r->err;
		r->state = S_AFTER;
		return RN_JSON_STR;
	case 't':
	case 'f':
	case 'n':
		r->state = S_AFTER;
		if (literal(r, "true"))
			return RN_JSON_TRUE;
		if (literal(r, "false"))
			return RN_JSON_FALSE;
		if (literal(r, "null"))
			return RN_JSON_NULL;
		return rn_json_fail(r, RN_EPARSE, "expected a value");
	default:
		if (read_number(r) != RN_OK)
			return r->err;
		r->state = S_AFTER;
		return RN_JSON_NUM;
	}
}

static int read_key(struct rn_json *r)
{
	if (!at(r, '"'))
		return rn_json_fail(r, RN_EPARSE, "expected a key");
	if (read_string(r) != RN_OK)
		return r->err;
	if (memchr(r->str, '\0', r->str_len) != NULL)
		return rn_json_fail(r, RN_EPARSE, "NUL in a key");
	r->state = S_COLON;
	return RN_JSON_KEY;
}

int rn_json_next(struct rn_json *r)
{
	if (r->err != RN_OK)
		return r->err;
	skip_ws(r);
	switch (r->state) {
	case S_VALUE:
		return read_value(r);
	case S_VALUE_OR_END:
		if (at(r, ']'))
			return close_level(r);
		return read_value(r);
	case S_KEY_OR_END:
		if (at(r, '}'))
			return close_level(r);
		return read_key(r);
	case S_KEY:
		return read_key(r);
	case S_COLON:
		if (!at(r, ':'))
			return rn_json_fail(r, RN_EPARSE, "expected ':'");
		r->c.p++;
		skip_ws(r);
		return read_value(r);
	case S_AFTER: {
		if (r->depth == 0) {
			if (r->c.p != r->c.end)
				return rn_json_fail(r, RN_EPARSE, "trailing bytes after the value");
			r->state = S_DONE;
			return RN_JSON_END;
		}
		bool obj = r->obj >> (r->depth - 1) & 1;
		if (at(r, obj ? '}' : ']'))
			return close_level(r);
		if (!at(r, ','))
			return rn_json_fail(r, RN_EPARSE,
			                    obj ? "expected ',' or '}'" : "expected ',' or ']'");
		r->c.p++;
		skip_ws(r);
		if (obj)
			return read_key(r);
		r->state = S_VALUE;
		return read_value(r);
	}
	default:
		return RN_JSON_END;
	}
}

int rn_json_skip(struct rn_json *r, int tok)
{
	if (tok != RN_JSON_OBJ_BEGIN && tok != RN_JSON_ARR_BEGIN)
		return r->err;
	unsigned level = r->depth;
	while (r->err == RN_OK && r->depth >= level)
		(void)rn_json_next(r);
	return r->err;
}

/* The magnitude of the last number, which must be an integer; p skips its sign. */
static int magnitude(const char *p, uint64_t *out)
{
	if (*p == '\0' || strpbrk(p, ".eE") != NULL)
		return RN_EPARSE;
	uint64_t acc = 0;
	for (; *p != '\0'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (acc > (UINT64_MAX - d) / 10)
			return RN_ELIMIT;
		acc = acc * 10 + d;
	}
	*out = acc;
	return RN_OK;
}

int rn_json_int(const struct rn_json *r, int64_t *v)
{
	bool neg = r->num[0] == '-';
	uint64_t m;
	int rc = magnitude(r->num + neg, &m);
	if (rc != RN_OK)
		return rc;
	if (m > (uint64_t)INT64_MAX + neg)
		return RN_ELIMIT;
	*v = neg ? (int64_t)(0 - m) : (int64_t)m;
	return RN_OK;
}

int rn_json_uint(const struct rn_json *r, uint64_t *v)
{
	bool neg = r->num[0] == '-';
	uint64_t m;
	int rc = magnitude(r->num + neg, &m);
	if (rc != RN_OK)
		return rc;
	if (neg && m != 0)
		return RN_ELIMIT;
	*v = m;
	return RN_OK;
}

int rn_json_double(const struct rn_json *r, double *v)
{
	if (r->num[0] == '\0')
		return RN_EPARSE;
	errno = 0;
	double d = strtod(r->num, NULL);
	if (errno == ERANGE && isinf(d))
		return RN_ELIMIT;
	*v = d;
	return RN_OK;
}

/* A string field: no NUL, cut to size at a character boundary. */
static int store_str(struct rn_json *r, int tok, char *dst, size_t size)
{
	if (tok != RN_JSON_STR || memchr(r->str, '\0', r->str_len) != NULL)
		return rn_json_fail(r, RN_EPARSE, "expected a string");
	size_t n = r->str_len < size - 1 ? r->str_len : size - 1;
	while (n > 0 && n < r->str_len && ((uint8_t)r->str[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, r->str, n);
	dst[n] = '\0';
	return RN_OK;
}

static int store(struct rn_json *r, const struct rn_json_field *f, int tok, void *base)
{
	void *dst = (char *)base + f->off;
	switch (f->type) {
	case RN_JSON_F_STR:
		return store_str(r, tok, dst, f->size);
	case RN_JSON_F_INT:
		if (tok != RN_JSON_NUM || rn_json_int(r, dst) != RN_OK)
			return rn_json_fail(r, RN_EPARSE, "expected an integer");
		return RN_OK;
	case RN_JSON_F_UINT:
		if (tok != RN_JSON_NUM || rn_json_uint(r, dst) != RN_OK)
			return rn_json_fail(r, RN_EPARSE, "expected an unsigned integer");
		return RN_OK;
	case RN_JSON_F_BOOL:
		if (tok != RN_JSON_TRUE && tok != RN_JSON_FALSE)
			return rn_json_fail(r, RN_EPARSE, "expected true or false");
		*(bool *)dst = tok == RN_JSON_TRUE;
		return RN_OK;
	case RN_JSON_F_FN:
		return f->fn(r, tok, base);
	}
	return rn_json_fail(r, RN_EINTERNAL, "bad field type");
}

int rn_json_object(struct rn_json *r, int tok, const struct rn_json_field *fields, size_t n,
                   unsigned flags, void *base, uint32_t *seen)
{
	uint32_t mask = 0;
	if (tok != RN_JSON_OBJ_BEGIN)
		return tok < 0 ? tok : rn_json_fail(r, RN_EPARSE, "expected an object");
	while ((tok = rn_json_next(r)) == RN_JSON_KEY) {
		const struct rn_json_field *f = NULL;
		for (size_t i = 0; i < n && i < 32 && f == NULL; i++) {
			if (strcmp(r->str, fields[i].name) != 0)
				continue;
			f = &fields[i];
			if (mask & (1u << i)) {
				r->err_key = f->name;
				return rn_json_fail(r, RN_EPARSE, "duplicate key");
			}
			mask |= 1u << i;
		}
		if ((tok = rn_json_next(r)) < 0)
			return tok;
		bool nested = tok == RN_JSON_OBJ_BEGIN || tok == RN_JSON_ARR_BEGIN;
		if ((flags & RN_JSON_FLAT) && nested && (f == NULL || f->type != RN_JSON_F_FN))
			return rn_json_fail(r, RN_EPARSE,
			                    "nested objects and arrays are not accepted");
		if (f == NULL) {
			if (rn_json_skip(r, tok) != RN_OK)
				return r->err;
		} else if (store(r, f, tok, base) != RN_OK) {
			if (r->err_key == NULL)
				r->err_key = f->name;
			return r->err;
		}
	}
	if (seen != NULL)
		*seen = mask;
	if (tok != RN_JSON_OBJ_END)
		return r->err;
	return RN_OK;
}
