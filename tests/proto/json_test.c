/*
 * json_test.c: the JSON writer and the strict reader (RFC 8259): escapes
 * both ways, surrogate pairs, numbers, nesting, limits and hostile input.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "test.h"

/* ---- writer ---------------------------------------------------------------- */

/* Runs body with w, a writer on a fresh builder, and compares the document to want. */
#define WRITES(want, body)                                       \
	do {                                                     \
		struct rn_strbuf b_;                             \
		struct rn_jsonw w_;                              \
		rn_strbuf_init(&b_, 1u << 16);                   \
		rn_jsonw_init(&w_, &b_);                         \
		struct rn_jsonw *w = &w_;                        \
		body;                                            \
		RN_PASS(rn_jsonw_finish(&w_));                   \
		assert_string_equal(rn_strbuf_str(&b_), (want)); \
		rn_strbuf_release(&b_);                          \
	} while (0)

static void test_write_shapes(void **state)
{
	(void)state;
	WRITES("{}", {
		rn_jsonw_obj_begin(w);
		rn_jsonw_obj_end(w);
	});
	WRITES("[]", {
		rn_jsonw_arr_begin(w);
		rn_jsonw_arr_end(w);
	});
	WRITES("{\"a\":1,\"b\":[true,false,null,-2,\"x\"],\"c\":{\"d\":{}},\"e\":[[],[1]]}", {
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_int(w, "a", 1);
		rn_jsonw_key(w, "b");
		rn_jsonw_arr_begin(w);
		rn_jsonw_bool(w, true);
		rn_jsonw_bool(w, false);
		rn_jsonw_null(w);
		rn_jsonw_int(w, -2);
		rn_jsonw_str(w, "x");
		rn_jsonw_arr_end(w);
		rn_jsonw_key(w, "c");
		rn_jsonw_obj_begin(w);
		rn_jsonw_key(w, "d");
		rn_jsonw_obj_begin(w);
		rn_jsonw_obj_end(w);
		rn_jsonw_obj_end(w);
		rn_jsonw_key(w, "e");
		rn_jsonw_arr_begin(w);
		rn_jsonw_arr_begin(w);
		rn_jsonw_arr_end(w);
		rn_jsonw_arr_begin(w);
		rn_jsonw_uint(w, 1);
		rn_jsonw_arr_end(w);
		rn_jsonw_arr_end(w);
		rn_jsonw_obj_end(w);
	});
	WRITES("18446744073709551615", rn_jsonw_uint(w, UINT64_MAX));
	WRITES("-9223372036854775808", rn_jsonw_int(w, INT64_MIN));
	WRITES("\"2026-11-29T02:26:49.845Z\"", rn_jsonw_time(w, 1795919209845, true));
	WRITES("{\"t\":\"2026-11-29T02:26:49Z\"}", {
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_time(w, "t", 1795919209845, false);
		rn_jsonw_obj_end(w);
	});
}

static void test_write_numbers(void **state)
{
	(void)state;
	WRITES("0.1", rn_jsonw_double(w, 0.1));
	WRITES("5", rn_jsonw_double(w, 5.0));
	WRITES("-2.5e-07", rn_jsonw_double(w, -2.5e-7));
	WRITES("0.30000000000000004", rn_jsonw_double(w, 0.1 + 0.2));
	WRITES("null", rn_jsonw_double(w, NAN));
	WRITES("null", rn_jsonw_double(w, INFINITY));
	WRITES("1.0000", rn_jsonw_numf(w, "%.4f", 1.0));
	WRITES("[5,0.25]", {
		rn_jsonw_arr_begin(w);
		rn_jsonw_numf(w, "%g", 5.0);
		rn_jsonw_numf(w, "%g", 0.25);
		rn_jsonw_arr_end(w);
	});
	/* numf refuses text that is not a JSON number. */
	static const char *const bad[] = {"nan", "inf", "01", "1.", ".5", "+1", "1e", "0x10", ""};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		struct rn_strbuf b;
		struct rn_jsonw w;
		rn_strbuf_init(&b, 64);
		rn_jsonw_init(&w, &b);
		rn_jsonw_numf(&w, "%s", bad[i]);
		RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
		rn_strbuf_release(&b);
	}
}

static void test_write_escapes(void **state)
{
	(void)state;
	WRITES("\"\\\"\\\\/\\b\\f\\n\\r\\t\"", rn_jsonw_str(w, "\"\\/\b\f\n\r\t"));
	WRITES("\"\\u0001\\u001f\x7f\"", rn_jsonw_str(w, "\x01\x1f\x7f"));
	WRITES("\"a\\u0000b\"", rn_jsonw_strn(w, "a\0b", 3));
	/* Valid UTF-8 is copied, every invalid byte becomes U+FFFD. */
	WRITES("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
	       rn_jsonw_str(w, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	WRITES("\"\xef\xbf\xbd"
	       "a\"",
	       rn_jsonw_str(w, "\xff"
	                       "a"));
	WRITES("\"\xef\xbf\xbd\xef\xbf\xbd\"", rn_jsonw_str(w, "\xc0\xaf")); /* overlong */
	WRITES("\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
	       rn_jsonw_str(w, "\xed\xa0\x80"));                             /* surrogate */
	WRITES("\"\xef\xbf\xbd\xef\xbf\xbd\"", rn_jsonw_str(w, "\xe2\x82")); /* cut short */
	/* Keys are escaped the same way. */
	WRITES("{\"a\\\"b\\n\":1}", {
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_int(w, "a\"b\n", 1);
		rn_jsonw_obj_end(w);
	});
}

static void test_write_misuse(void **state)
{
	(void)state;
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 1024);
	/* A value where a key is due. */
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_int(&w, 1);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	/* A key in an array, a key twice, an end that does not match. */
	rn_jsonw_init(&w, &b);
	rn_jsonw_arr_begin(&w);
	rn_jsonw_key(&w, "k");
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_key(&w, "k");
	rn_jsonw_key(&w, "k");
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_arr_end(&w);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	/* An object closed with its value missing. */
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_key(&w, "k");
	rn_jsonw_obj_end(&w);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	/* Unfinished, and a second document. */
	rn_jsonw_init(&w, &b);
	rn_jsonw_arr_begin(&w);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	rn_jsonw_init(&w, &b);
	rn_jsonw_int(&w, 1);
	RN_PASS(rn_jsonw_finish(&w));
	rn_jsonw_int(&w, 2);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	/* Nothing written at all. */
	rn_jsonw_init(&w, &b);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	/* Too deep. */
	rn_jsonw_init(&w, &b);
	for (int i = 0; i < RN_JSON_DEPTH_MAX; i++)
		rn_jsonw_arr_begin(&w);
	assert_int_equal(w.err, RN_OK);
	rn_jsonw_arr_begin(&w);
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_EINTERNAL);
	rn_strbuf_release(&b);
	/* The builder's error comes through. */
	char small[4];
	rn_strbuf_init_fixed(&b, small, sizeof(small));
	rn_jsonw_init(&w, &b);
	rn_jsonw_str(&w, "abcdef");
	RN_FAILS_WITH(rn_jsonw_finish(&w), RN_ELIMIT);
}

/* ---- reader ---------------------------------------------------------------- */

/* Reads all of s; returns the first error, or RN_OK at RN_JSON_END. */
static int read_all(const char *s, size_t len, char *str, size_t cap)
{
	struct rn_json r;
	rn_json_init(&r, (const uint8_t *)s, len, str, cap);
	for (;;) {
		int tok = rn_json_next(&r);
		if (tok < 0)
			return tok;
		if (tok == RN_JSON_END)
			return RN_OK;
	}
}

static int reads(const char *s)
{
	char str[256];
	return read_all(s, strlen(s), str, sizeof(str));
}

static void test_read_tokens(void **state)
{
	(void)state;
	const char *doc =
	        " {\"a\" : [1, -2.5e3, \"x\", true, false, null, {}, []], \"b\":{\"c\":0}}\n";
	static const int want[] = {
	        RN_JSON_OBJ_BEGIN, RN_JSON_KEY,       RN_JSON_ARR_BEGIN, RN_JSON_NUM,
	        RN_JSON_NUM,       RN_JSON_STR,       RN_JSON_TRUE,      RN_JSON_FALSE,
	        RN_JSON_NULL,      RN_JSON_OBJ_BEGIN, RN_JSON_OBJ_END,   RN_JSON_ARR_BEGIN,
	        RN_JSON_ARR_END,   RN_JSON_ARR_END,   RN_JSON_KEY,       RN_JSON_OBJ_BEGIN,
	        RN_JSON_KEY,       RN_JSON_NUM,       RN_JSON_OBJ_END,   RN_JSON_OBJ_END,
	        RN_JSON_END,       RN_JSON_END,
	};
	char str[64];
	struct rn_json r;
	rn_json_init(&r, (const uint8_t *)doc, strlen(doc), str, sizeof(str));
	for (size_t i = 0; i < RN_ARRAY_LEN(want); i++) {
		int tok = rn_json_next(&r);
		assert_int_equal(tok, want[i]);
		if (i == 1)
			assert_string_equal(r.str, "a");
		if (i == 4) {
			double d;
			RN_PASS(rn_json_double(&r, &d));
			assert_true(d == -2500.0);
			int64_t v;
			RN_FAILS_WITH(rn_json_int(&r, &v), RN_EPARSE);
		}
		if (i == 5)
			assert_string_equal(r.str, "x");
	}
	/* Any value may be the document. */
	RN_PASS(reads("\"s\""));
	RN_PASS(reads(" 0 "));
	RN_PASS(reads("null"));
	RN_PASS(reads("[[[[[]]]]]"));
}

static void test_read_numbers(void **state)
{
	(void)state;
	char str[8];
	struct rn_json r;
	int64_t v;
	uint64_t u;
	static const struct {
		const char *text;
		int rc;
		int64_t v;
	} ints[] = {
	        {"0", RN_OK, 0},
	        {"-0", RN_OK, 0},
	        {"42", RN_OK, 42},
	        {"9223372036854775807", RN_OK, INT64_MAX},
	        {"-9223372036854775808", RN_OK, INT64_MIN},
	        {"9223372036854775808", RN_ELIMIT, 0},
	        {"-9223372036854775809", RN_ELIMIT, 0},
	        {"99999999999999999999", RN_ELIMIT, 0},
	        {"1.0", RN_EPARSE, 0},
	        {"1e2", RN_EPARSE, 0},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(ints); i++) {
		rn_json_init(&r, (const uint8_t *)ints[i].text, strlen(ints[i].text), str,
		             sizeof(str));
		assert_int_equal(rn_json_next(&r), RN_JSON_NUM);
		assert_string_equal(r.num, ints[i].text);
		RN_FAILS_WITH(rn_json_int(&r, &v), ints[i].rc);
		if (ints[i].rc == RN_OK)
			assert_true(v == ints[i].v);
	}
	rn_json_init(&r, (const uint8_t *)"18446744073709551615", 20, str, sizeof(str));
	assert_int_equal(rn_json_next(&r), RN_JSON_NUM);
	RN_PASS(rn_json_uint(&r, &u));
	assert_true(u == UINT64_MAX);
	RN_FAILS_WITH(rn_json_int(&r, &v), RN_ELIMIT);
	rn_json_init(&r, (const uint8_t *)"-1", 2, str, sizeof(str));
	assert_int_equal(rn_json_next(&r), RN_JSON_NUM);
	RN_FAILS_WITH(rn_json_uint(&r, &u), RN_ELIMIT);
	rn_json_init(&r, (const uint8_t *)"1e400", 5, str, sizeof(str));
	assert_int_equal(rn_json_next(&r), RN_JSON_NUM);
	double d;
	RN_FAILS_WITH(rn_json_double(&r, &d), RN_ELIMIT);
	/* The grammar: RFC 8259 section 6. */
	static const char *const good[] = {"0",    "-0",    "0.5",   "-0.5e-3",
	                                   "1E10", "1e+10", "10.01", "123e4"};
	for (size_t i = 0; i < RN_ARRAY_LEN(good); i++)
		RN_PASS(reads(good[i]));
	static const char *const bad[] = {"01",        "-01",  "00",    "+1",    ".5",
	                                  "1.",        "1.e3", "1e",    "1e+",   "-",
	                                  "- 1",       "0x1",  "1,",    "NaN",   "Infinity",
	                                  "-Infinity", "1 2",  "0.5.5", "1e2e3", "\"1\"x"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		if (reads(bad[i]) == RN_OK) {
			print_error("accepted \"%s\"\n", bad[i]);
			fail();
		}
	}
	/* Longer than RN_JSON_NUM_MAX characters. */
	char big[RN_JSON_NUM_MAX + 2];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	RN_FAILS_WITH(reads(big), RN_ELIMIT);
	big[sizeof(big) - 2] = '\0';
	RN_PASS(reads(big));
}

/* Decodes one string document into str; returns the reader's verdict. */
static int string_of(const char *doc, size_t len, char *str, size_t cap, size_t *n)
{
	struct rn_json r;
	rn_json_init(&r, (const uint8_t *)doc, len, str, cap);
	int tok = rn_json_next(&r);
	if (tok < 0)
		return tok;
	if (tok != RN_JSON_STR)
		return RN_EINTERNAL;
	*n = r.str_len;
	tok = rn_json_next(&r);
	return tok == RN_JSON_END ? RN_OK : tok;
}

static void test_read_strings(void **state)
{
	(void)state;
	char str[64];
	size_t n = 0;
	static const struct {
		const char *doc;
		const char *want;
		size_t len;
	} good[] = {
	        {"\"\"", "", 0},
	        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
	        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
	        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4}, /* a surrogate pair */
	        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
	        {"\"a\\u0000b\"", "a\0b", 3},                  /* NUL in a value */
	        {"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xf0\x9f\x98\x80", 10},
	        {"\"\x7f\"", "\x7f", 1},
	        {"\"\xef\xbb\xbf\"", "\xef\xbb\xbf", 3}, /* U+FEFF inside a string is text */
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(good); i++) {
		RN_PASS(string_of(good[i].doc, strlen(good[i].doc), str, sizeof(str), &n));
		assert_int_equal(n, good[i].len);
		assert_memory_equal(str, good[i].want, n);
		assert_int_equal(str[n], '\0');
	}
	static const char *const bad[] = {
	        "\"abc",              /* unterminated */
	        "\"a\\\"",            /* unterminated after an escape */
	        "\"\\x41\"",          /* unknown escape */
	        "\"\\u12\"",          /* short \u */
	        "\"\\u12G4\"",        /* not hex */
	        "\"\\ud800\"",        /* lone high surrogate */
	        "\"\\ud800\\u0041\"", /* high surrogate, then not a low one */
	        "\"\\udc00\"",        /* lone low surrogate */
	        "\"\\udc00\\ud800\"", /* the pair reversed */
	        "\"a\tb\"",           /* raw control characters */
	        "\"a\nb\"",
	        "\"\x01\"",
	        "\"\xc0\xaf\"",             /* overlong */
	        "\"\xe0\x80\xaf\"",         /* overlong */
	        "\"\xed\xa0\x80\"",         /* an encoded surrogate */
	        "\"\xf4\x90\x80\x80\"",     /* past U+10FFFF */
	        "\"\xf8\x88\x80\x80\x80\"", /* five bytes */
	        "\"\xff\"",
	        "\"\x80\"",     /* a lone continuation byte */
	        "\"\xe2\x82\"", /* cut short */
	        "'a'",          /* single quotes */
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		int rc = string_of(bad[i], strlen(bad[i]), str, sizeof(str), &n);
		if (rc != RN_EPARSE) {
			print_error("\"%s\": got %d, want RN_EPARSE\n", bad[i], rc);
			fail();
		}
	}
	/* A NUL raw in the input is a control character. */
	RN_FAILS_WITH(string_of("\"a\0b\"", 5, str, sizeof(str), &n), RN_EPARSE);
	/* The caller's buffer bounds strings: cap - 1 bytes fit, more do not. */
	char tiny[4];
	RN_PASS(string_of("\"abc\"", 5, tiny, sizeof(tiny), &n));
	RN_FAILS_WITH(string_of("\"abcd\"", 6, tiny, sizeof(tiny), &n), RN_ELIMIT);
	RN_FAILS_WITH(string_of("\"ab\\u00e9\"", 10, tiny, sizeof(tiny), &n), RN_ELIMIT);
	/* No buffer at all: no string fits, not even an empty one. */
	RN_FAILS_WITH(string_of("\"\"", 2, NULL, 0, &n), RN_ELIMIT);
	RN_PASS(read_all("[1,true]", 8, NULL, 0));
}

static void test_read_structure(void **state)
{
	(void)state;
	static const char *const good[] = {
	        "{}",
	        "[]",
	        " { } ",
	        "[ ]",
	        "{\"a\":{\"b\":[{}]}}",
	        "[1,[2,[3]],{\"x\":null}]",
	        "\t\r\n[\t1\r,\n2 ]\n",
	        "{\"a\":1,\"a\":2}", /* repeats are the caller's */
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(good); i++)
		RN_PASS(reads(good[i]));
	static const char *const bad[] = {
	        "",
	        " ",
	        "{",
	        "}",
	        "[",
	        "]",
	        "{]",
	        "[}",
	        "{\"a\"}",
	        "{\"a\":}",
	        "{\"a\" 1}",
	        "{\"a\":1,}",
	        "[1,]",
	        "[,1]",
	        "{,}",
	        "[1 2]",
	        "{\"a\":1 \"b\":2}",
	        "{1:2}",
	        "{a:1}",
	        "{\"a\":1}}",
	        "[1]]",
	        "{} {}",
	        "{}x",
	        "/*c*/{}",
	        "{}//",
	        "\xef\xbb\xbf{}",
	        "tru",
	        "truex",
	        "nul",
	        "True",
	        "[true false]",
	        "\v[]",
	        "\f[]",
	        "{\"a\":1,\"b\"}",
	        "{\"a\\u0000\":1}",
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		char str[64];
		int rc = read_all(bad[i], strlen(bad[i]), str, sizeof(str));
		if (rc != RN_EPARSE) {
			print_error("bad[%zu] \"%s\": got %d, want RN_EPARSE\n", i, bad[i], rc);
			fail();
		}
	}
	char str[8];
	RN_FAILS_WITH(read_all("{}\0", 3, str, sizeof(str)), RN_EPARSE); /* a NUL after it */
}

static void test_read_depth(void **state)
{
	(void)state;
	char doc[2 * (RN_JSON_DEPTH_MAX + 1) + 1];
	for (int d = RN_JSON_DEPTH_MAX; d <= RN_JSON_DEPTH_MAX + 1; d++) {
		memset(doc, '[', (size_t)d);
		memset(doc + d, ']', (size_t)d);
		doc[2 * d] = '\0';
		if (d == RN_JSON_DEPTH_MAX)
			RN_PASS(reads(doc));
		else
			RN_FAILS_WITH(reads(doc), RN_ELIMIT);
	}
	/* Objects count the same. */
	char obj[8 * (RN_JSON_DEPTH_MAX + 1) + 2];
	size_t n = 0;
	for (int d = 0; d <= RN_JSON_DEPTH_MAX; d++)
		n += (size_t)snprintf(obj + n, sizeof(obj) - n, "{\"a\":");
	RN_FAILS_WITH(reads(obj), RN_ELIMIT);
	/* Hostile: a million opening brackets stop at the limit, not the stack. */
	size_t big = 1u << 20;
	char *p = malloc(big);
	assert_non_null(p);
	memset(p, '[', big);
	char str[8];
	RN_FAILS_WITH(read_all(p, big, str, sizeof(str)), RN_ELIMIT);
	free(p);
}

static void test_read_errors(void **state)
{
	(void)state;
	char str[32], msg[128];
	struct rn_json r;
	const char *doc = "{\"a\":1,\"b\":tru}";
	rn_json_init(&r, (const uint8_t *)doc, strlen(doc), str, sizeof(str));
	int tok;
	while ((tok = rn_json_next(&r)) > 0 && tok != RN_JSON_END)
		;
	assert_int_equal(tok, RN_EPARSE);
	rn_json_error(&r, msg, sizeof(msg));
	assert_string_equal(msg, "offset 11: expected a value");
	/* Sticky. */
	assert_int_equal(rn_json_next(&r), RN_EPARSE);
	assert_int_equal(rn_json_skip(&r, RN_JSON_OBJ_BEGIN), RN_EPARSE);
	/* A caller's own reason. */
	rn_json_init(&r, (const uint8_t *)"[1]", 3, str, sizeof(str));
	assert_int_equal(rn_json_next(&r), RN_JSON_ARR_BEGIN);
	assert_int_equal(rn_json_fail(&r, RN_EUNSUPP, "arrays are not taken"), RN_EUNSUPP);
	rn_json_error(&r, msg, sizeof(msg));
	assert_string_equal(msg, "offset 1: arrays are not taken");
	assert_int_equal(rn_json_next(&r), RN_EUNSUPP);
	/* A short message buffer is cut, still terminated. */
	char tiny[8];
	assert_int_equal(rn_json_error(&r, tiny, sizeof(tiny)), 7);
	assert_string_equal(tiny, "offset ");
}

struct fields_doc {
	char name[8];
	int64_t n;
	uint64_t u;
	bool b;
	int nested; /* what fn saw */
};

static int nested_fn(struct rn_json *r, int tok, void *base)
{
	struct fields_doc *d = base;
	d->nested = tok;
	return rn_json_skip(r, tok);
}

static const struct rn_json_field doc_fields[] = {
        {.name = "name",
         .type = RN_JSON_F_STR,
         .off = offsetof(struct fields_doc, name),
         .size = sizeof(((struct fields_doc *)0)->name)},
        {.name = "n", .type = RN_JSON_F_INT, .off = offsetof(struct fields_doc, n)},
        {.name = "u", .type = RN_JSON_F_UINT, .off = offsetof(struct fields_doc, u)},
        {.name = "b", .type = RN_JSON_F_BOOL, .off = offsetof(struct fields_doc, b)},
        {.name = "x", .type = RN_JSON_F_FN, .fn = nested_fn},
};

/* rn_json_object over doc; err gets the reader's message. */
static int object_of(const char *doc, unsigned flags, struct fields_doc *d, uint32_t *seen,
                     char *err, size_t errlen)
{
	char str[64];
	struct rn_json r;
	memset(d, 0, sizeof(*d));
	rn_json_init(&r, (const uint8_t *)doc, strlen(doc), str, sizeof(str));
	int rc = rn_json_object(&r, rn_json_next(&r), doc_fields, RN_ARRAY_LEN(doc_fields), flags,
	                        d, seen);
	if (rc == RN_OK && rn_json_next(&r) != RN_JSON_END)
		rc = r.err;
	rn_json_error(&r, err, errlen);
	return rc;
}

static void test_read_object(void **state)
{
	(void)state;
	struct fields_doc d;
	uint32_t seen;
	char err[128];
	/* Known keys stored, unknown ones skipped whatever they hold. */
	RN_PASS(object_of("{\"z\":{\"a\":[1,{}]},\"n\":-5,\"name\":\"caf\u00e9s!!\",\"u\":7,"
	                  "\"b\":true,\"x\":[[]],\"y\":null}",
	                  0, &d, &seen, err, sizeof(err)));
	assert_true(d.n == -5 && d.u == 7 && d.b);
	assert_string_equal(d.name, "caf\xc3\xa9s!"); /* cut to 7 bytes */
	assert_int_equal(d.nested, RN_JSON_ARR_BEGIN);
	assert_int_equal(seen, 0x1f);
	/* A string cut inside a character keeps the whole characters before it. */
	RN_PASS(object_of("{\"name\":\"abcdef\u00e9\"}", 0, &d, &seen, err, sizeof(err)));
	assert_string_equal(d.name, "abcdef");
	assert_int_equal(seen, 1);
	/* Flat: unknown nested values are refused, a field's fn still reads its own. */
	RN_FAILS_WITH(object_of("{\"z\":[1]}", RN_JSON_FLAT, &d, &seen, err, sizeof(err)),
	              RN_EPARSE);
	assert_string_equal(err, "offset 6: nested objects and arrays are not accepted");
	RN_PASS(object_of("{\"x\":{\"k\":1},\"z\":2}", RN_JSON_FLAT, &d, &seen, err, sizeof(err)));
	/* Errors name the key. */
	static const struct {
		const char *doc;
		const char *err;
	} bad[] = {
	        {"{\"n\":1,\"n\":2}", "offset 10: n: duplicate key"},
	        {"{\"n\":\"1\"}", "offset 8: n: expected an integer"},
	        {"{\"n\":1.5}", "offset 8: n: expected an integer"},
	        {"{\"u\":-1}", "offset 7: u: expected an unsigned integer"},
	        {"{\"b\":1}", "offset 6: b: expected true or false"},
	        {"{\"name\":\"a\\u0000b\"}", "offset 18: name: expected a string"},
	        {"{\"name\":null}", "offset 12: name: expected a string"},
	        {"[]", "offset 1: expected an object"},
	        {"{\"n\":1", "offset 6: expected ',' or '}'"},
	        {"{\"n\":1}{}", "offset 7: trailing bytes after the value"},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		RN_FAILS_WITH(object_of(bad[i].doc, 0, &d, &seen, err, sizeof(err)), RN_EPARSE);
		if (strcmp(err, bad[i].err) != 0) {
			print_error("%s: \"%s\", want \"%s\"\n", bad[i].doc, err, bad[i].err);
			fail();
		}
	}
}

static void test_read_skip(void **state)
{
	(void)state;
	const char *doc = "[{\"a\":[1,{\"b\":2}],\"c\":\"d\"},[[],[[]]],3]";
	char str[32];
	struct rn_json r;
	rn_json_init(&r, (const uint8_t *)doc, strlen(doc), str, sizeof(str));
	assert_int_equal(rn_json_next(&r), RN_JSON_ARR_BEGIN);
	RN_PASS(rn_json_skip(&r, rn_json_next(&r)));
	RN_PASS(rn_json_skip(&r, rn_json_next(&r)));
	int tok = rn_json_next(&r);
	assert_int_equal(tok, RN_JSON_NUM);
	RN_PASS(rn_json_skip(&r, tok)); /* a scalar: nothing more to skip */
	assert_string_equal(r.num, "3");
	assert_int_equal(rn_json_next(&r), RN_JSON_ARR_END);
	assert_int_equal(rn_json_next(&r), RN_JSON_END);
}

RN_TEST_MAIN(test_write_shapes, test_write_numbers, test_write_escapes, test_write_misuse,
             test_read_tokens, test_read_numbers, test_read_strings, test_read_structure,
             test_read_depth, test_read_errors, test_read_object, test_read_skip)
