/*
 * obsjson.c: observations as JSON lines, written and read.
 *
 * Design notes: one field set for every command that prints or reads
 * observations, in the order `repnet logs` has always printed them: ts,
 * ip, prefix_len (only when not zero), kind, source, program, evidence,
 * count. The writer and the reader are the JSON writer and reader of
 * json.c; this file only maps fields.
 *
 * The reader takes a flat object whose values are strings, numbers,
 * booleans or null. It is strict where a field is used (a known kind and
 * source, an RFC 3339 time, an address, a count from 1, an evidence code
 * without control bytes that fits RN_EVIDENCE_MAX, a prefix length that
 * fits the address, no known key twice, no NUL in a name) and skips keys
 * it does not know, so a line from a newer repnet still reads. Nested
 * objects and arrays are refused. It allocates nothing: strings decode
 * into a buffer on the stack. Errors name the byte offset.
 */
#include <stdarg.h>
#include <stdio.h>

#include "proto/proto.h"

#define STR_MAX 512

void rn_obs_json_write(struct rn_jsonw *w, const struct rn_obs *o)
{
	char ip[RN_ADDR_STRLEN];
	const char *kind = rn_kind_name(o->kind), *src = rn_source_name(o->source);
	rn_addr_format(&o->addr, ip, sizeof(ip));
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_time(w, "ts", o->ts_ms, o->ts_ms % 1000 != 0);
	rn_jsonw_kv_str(w, "ip", ip);
	if (o->prefix_len != 0)
		rn_jsonw_kv_uint(w, "prefix_len", o->prefix_len);
	rn_jsonw_kv_str(w, "kind", kind != NULL ? kind : "unspecified");
	rn_jsonw_kv_str(w, "source", src != NULL ? src : "unspecified");
	rn_jsonw_key(w, "program");
	rn_jsonw_strn(w, o->program, strnlen(o->program, sizeof(o->program)));
	rn_jsonw_key(w, "evidence");
	rn_jsonw_strn(w, o->evidence, strnlen(o->evidence, sizeof(o->evidence)));
	rn_jsonw_kv_uint(w, "count", o->count);
	rn_jsonw_obj_end(w);
}

int rn_obs_json_line(struct rn_strbuf *b, const struct rn_obs *o)
{
	struct rn_jsonw w;
	rn_jsonw_init(&w, b);
	rn_obs_json_write(&w, o);
	int rc = rn_jsonw_finish(&w);
	if (rc == RN_OK)
		rn_strbuf_putc(b, '\n');
	return rc != RN_OK ? rc : rn_strbuf_err(b);
}

/* ---- reading -------------------------------------------------------------- */

enum key {
	K_TS,
	K_IP,
	K_KIND,
	K_SOURCE,
	K_EVIDENCE,
	K_COUNT,
	K_PREFIX,
	K_PROGRAM,
	K_COUNT_OF,
};

static const char *const key_names[K_COUNT_OF] = {
        [K_TS] = "ts",
        [K_IP] = "ip",
        [K_KIND] = "kind",
        [K_SOURCE] = "source",
        [K_EVIDENCE] = "evidence",
        [K_COUNT] = "count",
        [K_PREFIX] = "prefix_len",
        [K_PROGRAM] = "program",
};

struct obs_reader {
	struct rn_json r;
	char *err;
	size_t errlen;
	int rc;
};

/* Fails with a formatted reason at the reader's offset. */
static int fail(struct obs_reader *x, int rc, const char *fmt, ...) RN_PRINTF(3, 4);
static int fail(struct obs_reader *x, int rc, const char *fmt, ...)
{
	if (x->rc == RN_OK && x->errlen > 0) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(x->err, x->errlen, "offset %zu: %s", rn_json_offset(&x->r), msg);
	}
	if (x->rc == RN_OK)
		x->rc = rc;
	return x->rc;
}

/* The reader's own error, in its words. */
static int json_fail(struct obs_reader *x)
{
	if (x->rc == RN_OK && x->errlen > 0)
		rn_json_error(&x->r, x->err, x->errlen);
	if (x->rc == RN_OK)
		x->rc = x->r.err;
	return x->rc;
}

/* A string value without NUL bytes, which the fields below compare as C strings. */
static bool text(const struct rn_json *r, int tok)
{
	return tok == RN_JSON_STR && memchr(r->str, '\0', r->str_len) == NULL;
}

static int apply(struct obs_reader *x, enum key k, int tok, struct rn_obs *o, unsigned *plen)
{
	const struct rn_json *r = &x->r;
	const char *s = r->str;
	size_t n = r->str_len;
	bool str = text(r, tok);
	switch (k) {
	case K_TS:
		if (!str || rn_time_parse((const uint8_t *)s, n, &o->ts_ms) != RN_OK)
			return fail(x, RN_EPARSE,
			            "ts: expected an RFC 3339 time such as "
			            "\"2026-11-29T02:26:49Z\"");
		return RN_OK;
	case K_IP:
		if (!str || rn_addr_parse((const uint8_t *)s, n, &o->addr) != RN_OK)
			return fail(x, RN_EPARSE, "ip: expected an IPv4 or IPv6 address");
		return RN_OK;
	case K_KIND: {
		enum rn_kind kind;
		if (!str || rn_kind_parse(s, &kind) != RN_OK)
			return fail(x, RN_EPARSE, "kind: \"%.40s\" is not a kind", str ? s : "");
		o->kind = (uint16_t)kind;
		return RN_OK;
	}
	case K_SOURCE:
		if (!str)
			return fail(x, RN_EPARSE, "source: expected a name");
		for (unsigned i = 0; i < RN_SRC_COUNT; i++) {
			if (strcmp(rn_source_name(i), s) == 0) {
				o->source = (uint8_t)i;
				return RN_OK;
			}
		}
		return fail(x, RN_EPARSE, "source: \"%.40s\" is not a source", s);
	case K_EVIDENCE:
		if (tok != RN_JSON_STR || n >= RN_EVIDENCE_MAX)
			return fail(x, RN_EPARSE, "evidence: expected a string of at most %d bytes",
			            RN_EVIDENCE_MAX - 1);
		for (size_t i = 0; i < n; i++)
			if ((uint8_t)s[i] < 0x20 || s[i] == 0x7f)
				return fail(x, RN_EPARSE, "evidence: control character");
		memcpy(o->evidence, s, n + 1);
		return RN_OK;
	case K_COUNT: {
		int64_t v;
		if (tok != RN_JSON_NUM || rn_json_int(r, &v) != RN_OK || v < 1 || v > UINT32_MAX)
			return fail(x, RN_EPARSE, "count: expected an integer from 1 to %u",
			            UINT32_MAX);
		o->count = (uint32_t)v;
		return RN_OK;
	}
	case K_PREFIX: {
		int64_t v;
		if (tok != RN_JSON_NUM || rn_json_int(r, &v) != RN_OK || v < 0 || v > 128)
			return fail(x, RN_EPARSE, "prefix_len: expected an integer from 0 to 128");
		*plen = (unsigned)v;
		return RN_OK;
	}
	case K_PROGRAM: {
		if (!str)
			return fail(x, RN_EPARSE, "program: expected a string");
		/* Local context only: cut at a character boundary. */
		size_t m = n < sizeof(o->program) - 1 ? n : sizeof(o->program) - 1;
		while (m > 0 && m < n && ((uint8_t)s[m] & 0xc0) == 0x80)
			m--;
		memcpy(o->program, s, m);
		o->program[m] = '\0';
		return RN_OK;
	}
	case K_COUNT_OF:
		break;
	}
	return RN_OK;
}

int rn_obs_json_parse(const uint8_t *buf, size_t len, struct rn_obs *out, char *err, size_t errlen)
{
	char str[STR_MAX];
	struct obs_reader x = {.err = err, .errlen = errlen};
	struct rn_obs o;
	uint32_t seen = 0;
	unsigned plen = 0;
	int tok;

	if (errlen > 0)
		err[0] = '\0';
	rn_json_init(&x.r, buf, len, str, sizeof(str));
	if (len == 0)
		return fail(&x, RN_EPARSE, "empty line");
	memset(&o, 0, sizeof(o));
	o.count = 1;
	if ((tok = rn_json_next(&x.r)) != RN_JSON_OBJ_BEGIN)
		return tok < 0 ? json_fail(&x) : fail(&x, RN_EPARSE, "expected '{'");
	while ((tok = rn_json_next(&x.r)) == RN_JSON_KEY) {
		int k = rn_json_key_index(&x.r, key_names, K_COUNT_OF, &seen);
		if (k < 0 && k != RN_ENOTFOUND)
			return fail(&x, RN_EPARSE, "duplicate key \"%.40s\"", str);
		tok = rn_json_next(&x.r);
		if (tok < 0)
			return json_fail(&x);
		if (tok == RN_JSON_OBJ_BEGIN || tok == RN_JSON_ARR_BEGIN)
			return fail(&x, RN_EPARSE, "nested objects and arrays are not accepted");
		if (k >= 0 && apply(&x, (enum key)k, tok, &o, &plen) != RN_OK)
			return x.rc;
	}
	if (tok != RN_JSON_OBJ_END || rn_json_next(&x.r) != RN_JSON_END)
		return json_fail(&x);
	if (!(seen & 1u << K_TS) || !(seen & 1u << K_IP) || !(seen & 1u << K_KIND))
		return fail(&x, RN_EPARSE, "ts, ip and kind are required");
	if (plen > rn_addr_maxlen(&o.addr))
		return fail(&x, RN_EPARSE, "prefix_len: longer than the address");
	o.prefix_len = (uint8_t)plen;
	if (plen != 0)
		rn_addr_mask(&o.addr, plen);
	*out = o;
	return RN_OK;
}
