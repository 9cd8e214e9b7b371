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
#include <stddef.h>
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

struct obs_reader {
	struct rn_json r; /* first: the field readers get this struct as base */
	struct rn_obs o;
	unsigned plen;
	char *err;
	size_t errlen;
	bool said; /* err holds this file's own message */
};

/* Fails with a formatted reason at the reader's offset. */
static int fail(struct obs_reader *x, const char *fmt, ...) RN_PRINTF(2, 3);
static int fail(struct obs_reader *x, const char *fmt, ...)
{
	if (x->r.err == RN_OK && x->errlen > 0) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(x->err, x->errlen, "offset %zu: %s", rn_json_offset(&x->r), msg);
		x->said = true;
	}
	return rn_json_fail(&x->r, RN_EPARSE, "invalid observation");
}

/* A string value without NUL bytes, which the fields below compare as C strings. */
static bool text(const struct rn_json *r, int tok)
{
	return tok == RN_JSON_STR && memchr(r->str, '\0', r->str_len) == NULL;
}

static int rd_ts(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	if (!text(r, tok) ||
	    rn_time_parse((const uint8_t *)r->str, r->str_len, &x->o.ts_ms) != RN_OK)
		return fail(x, "ts: expected an RFC 3339 time such as \"2026-11-29T02:26:49Z\"");
	return RN_OK;
}

static int rd_ip(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	if (!text(r, tok) ||
	    rn_addr_parse((const uint8_t *)r->str, r->str_len, &x->o.addr) != RN_OK)
		return fail(x, "ip: expected an IPv4 or IPv6 address");
	return RN_OK;
}

static int rd_kind(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	enum rn_kind kind;
	bool str = text(r, tok);
	if (!str || rn_kind_parse(r->str, &kind) != RN_OK)
		return fail(x, "kind: \"%.40s\" is not a kind", str ? r->str : "");
	x->o.kind = (uint16_t)kind;
	return RN_OK;
}

static int rd_source(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	if (!text(r, tok))
		return fail(x, "source: expected a name");
	for (unsigned i = 0; i < RN_SRC_COUNT; i++) {
		if (strcmp(rn_source_name(i), r->str) == 0) {
			x->o.source = (uint8_t)i;
			return RN_OK;
		}
	}
	return fail(x, "source: \"%.40s\" is not a source", r->str);
}

static int rd_evidence(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	if (tok != RN_JSON_STR || r->str_len >= RN_EVIDENCE_MAX)
		return fail(x, "evidence: expected a string of at most %d bytes",
		            RN_EVIDENCE_MAX - 1);
	for (size_t i = 0; i < r->str_len; i++)
		if ((uint8_t)r->str[i] < 0x20 || r->str[i] == 0x7f)
			return fail(x, "evidence: control character");
	memcpy(x->o.evidence, r->str, r->str_len + 1);
	return RN_OK;
}

static int rd_count(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	int64_t v;
	if (tok != RN_JSON_NUM || rn_json_int(r, &v) != RN_OK || v < 1 || v > UINT32_MAX)
		return fail(x, "count: expected an integer from 1 to %u", UINT32_MAX);
	x->o.count = (uint32_t)v;
	return RN_OK;
}

static int rd_prefix(struct rn_json *r, int tok, void *base)
{
	struct obs_reader *x = base;
	int64_t v;
	if (tok != RN_JSON_NUM || rn_json_int(r, &v) != RN_OK || v < 0 || v > 128)
		return fail(x, "prefix_len: expected an integer from 0 to 128");
	x->plen = (unsigned)v;
	return RN_OK;
}

/* ts, ip and kind first: they are required (bits 0 to 2 of seen). */
static const struct rn_json_field fields[] = {
        {.name = "ts", .type = RN_JSON_F_FN, .fn = rd_ts},
        {.name = "ip", .type = RN_JSON_F_FN, .fn = rd_ip},
        {.name = "kind", .type = RN_JSON_F_FN, .fn = rd_kind},
        {.name = "source", .type = RN_JSON_F_FN, .fn = rd_source},
        {.name = "evidence", .type = RN_JSON_F_FN, .fn = rd_evidence},
        {.name = "count", .type = RN_JSON_F_FN, .fn = rd_count},
        {.name = "prefix_len", .type = RN_JSON_F_FN, .fn = rd_prefix},
        /* Local context only: cut at a character boundary. */
        {.name = "program",
         .type = RN_JSON_F_STR,
         .off = offsetof(struct obs_reader, o.program),
         .size = RN_PROGRAM_MAX},
};

int rn_obs_json_parse(const uint8_t *buf, size_t len, struct rn_obs *out, char *err, size_t errlen)
{
	char str[STR_MAX];
	struct obs_reader x = {.err = err, .errlen = errlen};
	uint32_t seen = 0;

	if (errlen > 0)
		err[0] = '\0';
	rn_json_init(&x.r, buf, len, str, sizeof(str));
	x.o.count = 1;
	int rc = len == 0 ? fail(&x, "empty line")
	                  : rn_json_object(&x.r, rn_json_next(&x.r), fields, RN_ARRAY_LEN(fields),
	                                   RN_JSON_FLAT, &x, &seen);
	if (rc == RN_OK && rn_json_next(&x.r) != RN_JSON_END)
		rc = x.r.err;
	if (rc == RN_OK && (seen & 7) != 7)
		rc = fail(&x, "ts, ip and kind are required");
	if (rc == RN_OK && x.plen > rn_addr_maxlen(&x.o.addr))
		rc = fail(&x, "prefix_len: longer than the address");
	if (rc != RN_OK) {
		if (!x.said && errlen > 0)
			rn_json_error(&x.r, err, errlen);
		return rc;
	}
	x.o.prefix_len = (uint8_t)x.plen;
	if (x.plen != 0)
		rn_addr_mask(&x.o.addr, x.plen);
	*out = x.o;
	return RN_OK;
}
