/*
 * obsjson_test.c: observations as JSON lines, the one format every
 * command prints and reads: the exact line, the round trip, and what the
 * reader refuses; and the categories array of blocklist entries.
 */
#include "test.h"

static void obs_make(struct rn_obs *o)
{
	memset(o, 0, sizeof(*o));
	RN_PASS(rn_addr_parse_str("192.0.2.1", &o->addr));
	o->kind = RN_KIND_SASL_FAIL;
	o->source = RN_SRC_POSTFIX;
	o->count = 3;
	o->ts_ms = 1795919209000; /* 2026-11-29T02:26:49Z */
	strcpy(o->evidence, "auth:LOGIN");
	strcpy(o->program, "postfix/smtpd");
}

static void line_of(const struct rn_obs *o, char *buf, size_t cap)
{
	struct rn_strbuf b;
	rn_strbuf_init_fixed(&b, buf, cap);
	RN_PASS(rn_obs_json_line(&b, o));
}

static void test_line(void **state)
{
	(void)state;
	struct rn_obs o;
	char line[512];
	obs_make(&o);
	line_of(&o, line, sizeof(line));
	assert_string_equal(line, "{\"ts\":\"2026-11-29T02:26:49Z\",\"ip\":\"192.0.2.1\","
	                          "\"kind\":\"sasl_fail\",\"source\":\"postfix\","
	                          "\"program\":\"postfix/smtpd\",\"evidence\":\"auth:LOGIN\","
	                          "\"count\":3}\n");
	/* Milliseconds when there are some; prefix_len after ip when not zero. */
	o.ts_ms += 250;
	RN_PASS(rn_addr_parse_str("2001:db8::", &o.addr));
	o.prefix_len = 48;
	o.program[0] = '\0';
	o.kind = RN_KIND_IMPORTED;
	o.source = RN_SRC_IMPORT;
	strcpy(o.evidence, "SBL\"1\"");
	line_of(&o, line, sizeof(line));
	assert_string_equal(line, "{\"ts\":\"2026-11-29T02:26:49.250Z\",\"ip\":\"2001:db8::\","
	                          "\"prefix_len\":48,\"kind\":\"imported\",\"source\":\"import\","
	                          "\"program\":\"\",\"evidence\":\"SBL\\\"1\\\"\",\"count\":3}\n");
	/* Too small a buffer: an error, not a cut line. */
	char small[32];
	struct rn_strbuf b;
	rn_strbuf_init_fixed(&b, small, sizeof(small));
	RN_FAILS_WITH(rn_obs_json_line(&b, &o), RN_ELIMIT);
}

static void test_round_trip(void **state)
{
	(void)state;
	uint64_t seed = 13;
	for (int i = 0; i < 2000; i++) {
		struct rn_obs o, back;
		char line[512], err[256];
		memset(&o, 0, sizeof(o));
		uint64_t r = rn_test_rand(&seed);
		if (r & 1) {
			rn_addr_set_v4(&o.addr, (uint32_t)(r >> 8));
			o.prefix_len = (uint8_t)(r >> 40) % 33;
		} else {
			uint8_t b[16];
			for (int j = 0; j < 16; j++)
				b[j] = (uint8_t)(rn_test_rand(&seed) >> 32);
			rn_addr_set_v6(&o.addr, b);
			o.prefix_len = (uint8_t)(r >> 40) % (uint8_t)(rn_addr_maxlen(&o.addr) + 1);
		}
		if (o.prefix_len != 0)
			rn_addr_mask(&o.addr, o.prefix_len);
		do
			o.kind = (uint16_t)(rn_test_rand(&seed) % RN_KIND_MAX);
		while (o.kind == 0 || rn_kind_name(o.kind) == NULL);
		o.source = (uint8_t)(r >> 16) % RN_SRC_COUNT;
		o.count = (uint32_t)(r >> 20) | 1;
		o.ts_ms = (int64_t)(r >> 24) % 4102444800000;
		snprintf(o.evidence, sizeof(o.evidence), "ev:%u\xc3\xa9", (unsigned)(r % 1000));
		snprintf(o.program, sizeof(o.program), "prog/\"%u\"", (unsigned)(r % 77));
		line_of(&o, line, sizeof(line));
		size_t len = strlen(line);
		assert_int_equal(line[len - 1], '\n');
		RN_PASS(rn_obs_json_parse((const uint8_t *)line, len, &back, err, sizeof(err)));
		assert_memory_equal(&o, &back, sizeof(o));
	}
}

static void test_read_defaults(void **state)
{
	(void)state;
	struct rn_obs o;
	char err[256];
	const char *s = "  {\"kind\":\"pregreet\",\"ip\":\"::ffff:198.51.100.7\","
	                "\"ts\":\"2026-11-29T02:27:51.250+00:00\",\"future\":[1,{\"x\":null}]}\r\n";
	/* Unknown keys are skipped only when flat; nested values are refused. */
	RN_FAILS_WITH(rn_obs_json_parse((const uint8_t *)s, strlen(s), &o, err, sizeof(err)),
	              RN_EPARSE);
	assert_non_null(strstr(err, "nested objects and arrays are not accepted"));
	s = "  {\"kind\":\"pregreet\",\"ip\":\"::ffff:198.51.100.7\","
	    "\"ts\":\"2026-11-29T02:27:51.250+00:00\",\"future\":true,\"later\":null,"
	    "\"n\":1.5e3}\r\n";
	RN_PASS(rn_obs_json_parse((const uint8_t *)s, strlen(s), &o, err, sizeof(err)));
	assert_int_equal(o.kind, RN_KIND_PREGREET);
	assert_int_equal(o.addr.family, RN_AF_INET); /* v4-mapped folds to IPv4 */
	assert_int_equal(o.count, 1);
	assert_int_equal(o.source, RN_SRC_UNSPECIFIED);
	assert_int_equal(o.prefix_len, 0);
	assert_string_equal(o.evidence, "");
	assert_string_equal(o.program, "");
	assert_true(o.ts_ms == 1795919271250);
	/* The prefix's host bits are cleared. */
	s = "{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"203.0.113.77\",\"prefix_len\":24,"
	    "\"kind\":\"imported\",\"source\":\"import\",\"evidence\":\"drop\"}";
	RN_PASS(rn_obs_json_parse((const uint8_t *)s, strlen(s), &o, err, sizeof(err)));
	char a[RN_ADDR_STRLEN];
	rn_addr_format(&o.addr, a, sizeof(a));
	assert_string_equal(a, "203.0.113.0");
	assert_int_equal(o.prefix_len, 24);
	/* A long program name is cut at a character boundary. */
	s = "{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	    "\"program\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\xc3\xa9\"}";
	RN_PASS(rn_obs_json_parse((const uint8_t *)s, strlen(s), &o, err, sizeof(err)));
	assert_int_equal(strlen(o.program), 30);
}

static void test_read_refuses(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		const char *why;
	} bad[] = {
	        {"", "empty line"},
	        {"[]", "expected an object"},
	        {"{\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\"}", "ts, ip and kind are required"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.300\",\"kind\":\"pregreet\"}",
	         "ip: expected an IPv4 or IPv6 address"},
	        {"{\"ts\":\"yesterday\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\"}",
	         "ts: expected an RFC 3339 time"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"bogus\"}",
	         "kind: \"bogus\" is not a kind"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":"
	         "\"pregreet\\u0000x\"}",
	         "kind: "},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"source\":\"sendmail\"}",
	         "source: \"sendmail\" is not a source"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"count\":0}",
	         "count: expected an integer from 1"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"count\":4294967296}",
	         "count: expected an integer from 1"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"count\":2.0}",
	         "count: expected an integer from 1"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"count\":\"2\"}",
	         "count: expected an integer from 1"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"prefix_len\":33}",
	         "prefix_len: longer than the address"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"prefix_len\":-1}",
	         "prefix_len: expected an integer from 0 to 128"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"evidence\":\"a\\tb\"}",
	         "evidence: control character"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"evidence\":\"0123456789012345678901234567890123\"}",
	         "evidence: expected a string of at most 31 bytes"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"ip\":\"192.0.2.2\"}",
	         "ip: duplicate key"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\"} x",
	         "trailing bytes after the value"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\",}",
	         "expected a key"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"evidence\":\"\xff\"}",
	         "invalid UTF-8"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"count\":01}",
	         "leading zero in a number"},
	        {"{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\",\"kind\":\"pregreet\","
	         "\"program\":7}",
	         "program: expected a string"},
	        {"{\"a\\u0000\":1}", "NUL in a key"},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		struct rn_obs o;
		char err[256];
		memset(&o, 0x5a, sizeof(o));
		int rc = rn_obs_json_parse((const uint8_t *)bad[i].line, strlen(bad[i].line), &o,
		                           err, sizeof(err));
		if (rc == RN_OK || strncmp(err, "offset ", 7) != 0 ||
		    strstr(err, bad[i].why) == NULL) {
			print_error("bad[%zu]: rc %d, err \"%s\", want \"%s\"\n", i, rc, err,
			            bad[i].why);
			fail();
		}
		assert_int_equal(((uint8_t *)&o)[0], 0x5a); /* untouched */
	}
	/* Strings longer than the reader's buffer. */
	char big[1200];
	int n = snprintf(big, sizeof(big),
	                 "{\"ts\":\"2026-11-29T02:28:00Z\",\"ip\":\"192.0.2.1\","
	                 "\"kind\":\"pregreet\",\"note\":\"");
	memset(big + n, 'x', 600);
	strcpy(big + n + 600, "\"}");
	struct rn_obs o;
	char err[64];
	RN_FAILS_WITH(rn_obs_json_parse((const uint8_t *)big, strlen(big), &o, err, sizeof(err)),
	              RN_ELIMIT);
	/* No room for a message: still an error, nothing written. */
	RN_FAILS(rn_obs_json_parse((const uint8_t *)"{", 1, &o, NULL, 0));
}

/* The categories of a blocklist entry, as every list repnet prints them. */
static void test_categories(void **state)
{
	(void)state;
	char buf[256];
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init_fixed(&b, buf, sizeof(buf));
	rn_jsonw_init(&w, &b);
	rn_category_json_write(&w, 1u << RN_CAT_RELAY_PROBE | 1u << RN_CAT_SPAM_SOURCE |
	                                   1u << RN_CAT_UNSPECIFIED | 1u << 31);
	RN_PASS(rn_jsonw_finish(&w));
	assert_string_equal(buf, "[\"spam_source\",\"relay_probe\"]");
	rn_strbuf_reset(&b);
	rn_jsonw_init(&w, &b);
	rn_category_json_write(&w, 0);
	RN_PASS(rn_jsonw_finish(&w));
	assert_string_equal(buf, "[]");
}

RN_TEST_MAIN(test_line, test_round_trip, test_read_defaults, test_read_refuses, test_categories)
