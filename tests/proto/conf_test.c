/*
 * conf_test.c: the configuration loader against a table with every type.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

struct weights {
	int n;
	double w[8];
	char name[8][16];
};

struct tconf {
	bool flag;
	int64_t count;
	double ratio;
	int64_t window_ms;
	uint64_t rcvbuf;
	char *name;
	int mode;
	unsigned roles;
	char *listen;
	char *url;
	struct rn_strlist traps;
	struct rn_prefix_list never;
	struct weights weights;
};

static const char *const modes[] = {"bitmask", "priority", NULL};
static const char *const roles[] = {"a", "b", "c", NULL};

/* A custom key: a group of name = weight pairs. */
static int parse_weights(const struct rn_conf_node *n, void *field, char *err, size_t len)
{
	struct weights *w = field;
	memset(w, 0, sizeof(*w));
	if (n == NULL) {
		w->n = 1;
		w->w[0] = 1.0;
		strcpy(w->name[0], "default");
		return RN_OK;
	}
	if (!rn_conf_node_is_group(n)) {
		snprintf(err, len, "expected a group of name = weight");
		return RN_ECONF;
	}
	size_t cnt = rn_conf_node_count(n);
	if (cnt > 8) {
		snprintf(err, len, "at most 8 weights");
		return RN_ECONF;
	}
	for (size_t i = 0; i < cnt; i++) {
		const struct rn_conf_node *c = rn_conf_node_child(n, i);
		double v;
		if (rn_conf_node_double(c, &v) != RN_OK || v < 0) {
			snprintf(err, len, "line %d: %s: not a weight", rn_conf_node_line(c),
			         rn_conf_node_name(c));
			return RN_ECONF;
		}
		w->w[w->n] = v;
		snprintf(w->name[w->n], sizeof(w->name[0]), "%s", rn_conf_node_name(c));
		w->n++;
	}
	return RN_OK;
}

static bool weights_equal(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct weights)) == 0;
}

static int check_ratio(const void *f, char *err, size_t len)
{
	if (*(const double *)f == 0.5) {
		snprintf(err, len, "0.5 is not allowed");
		return RN_ECONF;
	}
	return RN_OK;
}

#define O(f) offsetof(struct tconf, f)
static const struct rn_conf_key keys[] = {
        {.name = "flag", .type = RN_CONF_BOOL, .offset = O(flag), .def = "false", .help = "f"},
        {.name = "limits.count",
         .type = RN_CONF_INT,
         .offset = O(count),
         .min = 1,
         .max = 100,
         .def = "10",
         .flags = RN_CONF_RELOAD,
         .help = "c"},
        {.name = "limits.ratio",
         .type = RN_CONF_DOUBLE,
         .offset = O(ratio),
         .min = 0,
         .max = 1,
         .def = "0.25",
         .check = check_ratio,
         .help = "r"},
        {.name = "limits.window",
         .type = RN_CONF_DURATION,
         .offset = O(window_ms),
         .min = 1000,
         .max = 3600000,
         .def = "5m",
         .help = "w"},
        {.name = "rcvbuf",
         .type = RN_CONF_SIZE,
         .offset = O(rcvbuf),
         .min = 4096,
         .max = 1 << 30,
         .def = "8M",
         .help = "b"},
        {.name = "name",
         .type = RN_CONF_STRING,
         .offset = O(name),
         .min = 0,
         .max = 8,
         .help = "n"},
        {.name = "mode",
         .type = RN_CONF_ENUM,
         .offset = O(mode),
         .def = "priority",
         .enum_names = modes,
         .help = "m"},
        {.name = "roles",
         .type = RN_CONF_FLAGS,
         .offset = O(roles),
         .def = "a,c",
         .enum_names = roles,
         .help = "r"},
        {.name = "listen",
         .type = RN_CONF_HOSTPORT,
         .offset = O(listen),
         .def = "127.0.0.1:5514",
         .help = "l"},
        {.name = "url",
         .type = RN_CONF_URL,
         .offset = O(url),
         .def = "tcp://127.0.0.1:7400",
         .help = "u"},
        {.name = "traps", .type = RN_CONF_STRLIST, .offset = O(traps), .max = 3, .help = "t"},
        {.name = "never",
         .type = RN_CONF_PREFIXES,
         .offset = O(never),
         .max = 100,
         .def = "192.0.2.0/24, 2001:db8::/32",
         .help = "n"},
        {.name = "weights",
         .type = RN_CONF_CUSTOM,
         .offset = O(weights),
         .parse = parse_weights,
         .equal = weights_equal,
         .help = "w"},
        {.name = NULL},
};

static int load(const char *text, struct tconf *c, struct rn_conf_error *err, const char *const *ov)
{
	struct rn_conf_section s = {"t", keys, c};
	memset(c, 0xa5, sizeof(*c)); /* the loader must not read garbage */
	if (text == NULL)
		return rn_conf_load(NULL, ov, &s, 1, err);
	return rn_conf_load_buf(text, strlen(text), "test.conf", ov, &s, 1, err);
}

static void release(struct tconf *c)
{
	struct rn_conf_section s = {"t", keys, c};
	rn_conf_release(&s, 1);
}

static void test_defaults(void **state)
{
	(void)state;
	struct tconf c;
	struct rn_conf_error err;
	RN_PASS(load(NULL, &c, &err, NULL));
	assert_false(c.flag);
	assert_int_equal(c.count, 10);
	assert_true(c.ratio == 0.25);
	assert_int_equal(c.window_ms, 300000);
	assert_int_equal(c.rcvbuf, 8u << 20);
	assert_null(c.name);
	assert_int_equal(c.mode, 1);
	assert_int_equal(c.roles, 0x5);
	assert_string_equal(c.listen, "127.0.0.1:5514");
	assert_int_equal(c.traps.n, 0);
	assert_int_equal(c.never.n, 2);
	assert_int_equal(c.weights.n, 1);
	release(&c);
}

static void test_file(void **state)
{
	(void)state;
	struct tconf c;
	struct rn_conf_error err;
	const char *text = "t: {\n"
	                   "  flag = true;\n"
	                   "  limits: { count = 42; ratio = 0.75; window = \"90s\"; };\n"
	                   "  rcvbuf = 65536;\n"
	                   "  name = \"edge1\";\n"
	                   "  mode = \"bitmask\";\n"
	                   "  roles = [\"b\"];\n"
	                   "  listen = \"[::1]:514\";\n"
	                   "  traps = [\"trap@example.test\", \"x@y.test\"];\n"
	                   "  never = [\"10.0.0.0/8\"];\n"
	                   "  weights: { sasl = 2.5; rbl = 4; };\n"
	                   "};\n";
	RN_PASS(load(text, &c, &err, NULL));
	assert_true(c.flag);
	assert_int_equal(c.count, 42);
	assert_true(c.ratio == 0.75);
	assert_int_equal(c.window_ms, 90000);
	assert_int_equal(c.rcvbuf, 65536);
	assert_string_equal(c.name, "edge1");
	assert_int_equal(c.mode, 0);
	assert_int_equal(c.roles, 0x2);
	assert_string_equal(c.listen, "[::1]:514");
	assert_int_equal(c.traps.n, 2);
	assert_string_equal(c.traps.v[1], "x@y.test");
	assert_int_equal(c.never.n, 1);
	assert_int_equal(c.weights.n, 2);
	assert_true(c.weights.w[0] == 2.5);
	assert_string_equal(c.weights.name[1], "rbl");
	release(&c);
}

/* Each bad file must fail at the given line naming the given key. */
static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *key;
		const char *msg;
	} cases[] = {
	        {"t: {\n  limits: {\n    count = 101;\n  };\n};\n", 3, "t.limits.count",
	         "out of range"},
	        {"t: {\n  limits: { count = 0; };\n};\n", 2, "t.limits.count", "out of range"},
	        {"t: {\n  flag = true;\n  cuont = 3;\n};\n", 3, "t.cuont", "unknown key"},
	        {"x: { a = 1; };\n", 1, "x", "unknown section"},
	        {"t: {\n limits: { ratio = 2.0; };\n};\n", 2, "t.limits.ratio", "out of range"},
	        {"t: {\n limits: { ratio = 0.5; };\n};\n", 0, "t.limits.ratio", "not allowed"},
	        {"t: {\n limits: { window = \"3 hours\"; };\n};\n", 2, "t.limits.window",
	         "not a duration"},
	        {"t: {\n name = \"far-too-long\";\n};\n", 2, "t.name", "length"},
	        {"t: {\n mode = \"round-robin\";\n};\n", 2, "t.mode", "bitmask, priority"},
	        {"t: {\n roles = [\"a\", \"z\"];\n};\n", 2, "t.roles", "\"z\""},
	        {"t: {\n listen = \"localhost:25\";\n};\n", 2, "t.listen", "address:port"},
	        {"t: {\n url = \"http://x\";\n};\n", 2, "t.url", "bus URL"},
	        {"t: {\n traps = [\"a\", \"b\", \"c\", \"d\"];\n};\n", 2, "t.traps", "more than 3"},
	        {"t: {\n never = [\"10.0.0.1/8\"];\n};\n", 2, "t.never", "host bits"},
	        {"t: {\n flag = 1;\n};\n", 2, "t.flag", "boolean"},
	        {"t: {\n limits: { count = \"ten\"; };\n};\n", 2, "t.limits.count", "not a string"},
	        {"t: {\n weights: { a = -1; };\n};\n", 2, "t.weights", "not a weight"},
	        {"t: {\n limits = 3;\n};\n", 2, "t.limits", "unknown key"},
	        {"t: {\n flag = true;\n limits: { count = = 3; };\n};\n", 3, NULL, "syntax error"},
	        {"t = 3;\n", 1, "t", "a section is a group"},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		struct tconf c;
		struct rn_conf_error err;
		int rc = load(cases[i].text, &c, &err, NULL);
		char msg[512];
		rn_conf_error_format(&err, msg, sizeof(msg));
		if (rc != RN_ECONF)
			fail_msg("case %zu: want RN_ECONF, got %d", i, rc);
		if (cases[i].line != 0 && err.line != cases[i].line)
			fail_msg("case %zu: line %d, want %d: %s", i, err.line, cases[i].line, msg);
		if (cases[i].key != NULL && strcmp(err.key, cases[i].key) != 0)
			fail_msg("case %zu: key %s, want %s: %s", i, err.key, cases[i].key, msg);
		if (strstr(msg, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, msg, cases[i].msg);
		if (cases[i].line != 0) {
			char want[64];
			snprintf(want, sizeof(want), "test.conf:%d:", cases[i].line);
			assert_non_null(strstr(msg, want));
		}
	}
}

/* A misspelt key gets the closest known one, at its own depth; a far-off one none. */
static void test_suggest(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *want; /* NULL: no suggestion */
	} cases[] = {
	        {"t: { falg = true; };", "did you mean \"t.flag\"?"},
	        {"t: { limtis: { count = 1; }; };", "did you mean \"t.limits\"?"},
	        {"t: { limits: { cuont = 1; }; };", "did you mean \"t.limits.count\"?"},
	        {"tt: { flag = true; };", "did you mean \"t\"?"},
	        {"t: { zzzzzzzz = 1; };", NULL},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		struct tconf c;
		struct rn_conf_error err;
		char msg[512];
		RN_FAILS_WITH(load(cases[i].text, &c, &err, NULL), RN_ECONF);
		rn_conf_error_format(&err, msg, sizeof(msg));
		if (cases[i].want != NULL && strstr(msg, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, msg, cases[i].want);
		if (cases[i].want == NULL && strstr(msg, "did you mean") != NULL)
			fail_msg("case %zu: \"%s\" suggests something", i, msg);
	}
	struct tconf c;
	struct rn_conf_error err;
	const char *ov[] = {"t.limits.cuont=1", NULL};
	RN_FAILS_WITH(load(NULL, &c, &err, ov), RN_ECONF);
	assert_non_null(strstr(err.msg, "did you mean \"t.limits.count\"?"));
}

static void test_overrides(void **state)
{
	(void)state;
	struct tconf c;
	struct rn_conf_error err;
	const char *ov[] = {"t.limits.count=7", "t.never=10.0.0.0/8,fd00::/8", "t.roles=", NULL};
	RN_PASS(load("t: { limits: { count = 3; }; };", &c, &err, ov));
	assert_int_equal(c.count, 7);
	assert_int_equal(c.never.n, 2);
	assert_int_equal(c.roles, 0);
	release(&c);
	const char *bad1[] = {"t.limits.count=700", NULL};
	RN_FAILS_WITH(load(NULL, &c, &err, bad1), RN_ECONF);
	assert_string_equal(err.key, "t.limits.count");
	const char *bad2[] = {"t.nope=1", NULL};
	RN_FAILS_WITH(load(NULL, &c, &err, bad2), RN_ECONF);
	const char *bad3[] = {"count=1", NULL};
	RN_FAILS_WITH(load(NULL, &c, &err, bad3), RN_ECONF);
	const char *bad4[] = {"t.weights=1", NULL};
	RN_FAILS_WITH(load(NULL, &c, &err, bad4), RN_ECONF);
}

static void test_restart_keys(void **state)
{
	(void)state;
	struct tconf a, b;
	struct rn_conf_error err;
	char buf[128];
	RN_PASS(load("t: { limits: { count = 3; }; };", &a, &err, NULL));
	RN_PASS(load("t: { limits: { count = 4; }; };", &b, &err, NULL));
	struct rn_conf_section sa = {"t", keys, &a}, sb = {"t", keys, &b};
	/* count is reloadable. */
	assert_null(rn_conf_first_restart_key(&sa, &sb, 1, buf, sizeof(buf)));
	release(&b);
	RN_PASS(load("t: { limits: { count = 3; }; listen = \"127.0.0.1:1\"; };", &b, &err, NULL));
	assert_non_null(rn_conf_first_restart_key(&sa, &sb, 1, buf, sizeof(buf)));
	assert_string_equal(buf, "t.listen");
	release(&b);
	RN_PASS(load("t: { weights: { x = 1; }; };", &b, &err, NULL));
	assert_string_equal(rn_conf_first_restart_key(&sa, &sb, 1, buf, sizeof(buf)), "t.weights");
	release(&b);
	release(&a);
}

/* What `repnet config --dump` prints loads back to the same values. */
static void test_dump_roundtrip(void **state)
{
	(void)state;
	struct tconf a, b;
	struct rn_conf_error err;
	const char *text = "t: { flag = true; limits: { count = 42; ratio = 0.125; window = "
	                   "\"90s\"; }; name = \"q\\\"x\"; roles = [\"b\", \"c\"]; traps = "
	                   "[\"a\"]; never = [\"10.0.0.0/8\"]; };";
	RN_PASS(load(text, &a, &err, NULL));
	struct rn_conf_section sa = {"t", keys, &a}, sb = {"t", keys, &b};
	char *out;
	size_t len;
	RN_PASS(rn_conf_dump(&sa, 1, &out, &len));
	int rc = load(out, &b, &err, NULL);
	if (rc != RN_OK) {
		char msg[512];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fail_msg("dump does not load back: %s\n%s", msg, out);
	}
	free(out);
	char buf[128];
	/* Only the custom key is not dumped; it differs from its default here. */
	assert_null(rn_conf_first_restart_key(&sa, &sb, 1, buf, sizeof(buf)));
	assert_int_equal(b.count, 42);
	assert_string_equal(b.name, "q\"x");
	release(&a);
	release(&b);

	RN_PASS(rn_conf_describe(&sa, 1, &out, &len));
	assert_non_null(strstr(out, "| `t.limits.count` | integer | `10` | 1 to 100 | yes |"));
	free(out);
}

static void test_nul_and_garbage(void **state)
{
	(void)state;
	struct tconf c;
	struct rn_conf_error err;
	const char text[] = "t: { flag = true; };\0t: { flag = false; };";
	struct rn_conf_section s = {"t", keys, &c};
	RN_FAILS_WITH(rn_conf_load_buf(text, sizeof(text) - 1, "x", NULL, &s, 1, &err), RN_ECONF);
	RN_FAILS_WITH(load("\x01\x02\xff", &c, &err, NULL), RN_ECONF);
	RN_FAILS_WITH(load("t: { flag = true; flag = false; };", &c, &err, NULL), RN_ECONF);
	RN_FAILS_WITH(rn_conf_load("/nonexistent/repnet.conf", NULL, &s, 1, &err), RN_ECONF);
	assert_non_null(strstr(err.msg, "cannot read"));
}

/* Two tables under one section name: one group in the file, two structs. */
struct half {
	int64_t a;
	int64_t b;
};
static const struct rn_conf_key keys_a[] = {
        {.name = "x.a",
         .type = RN_CONF_INT,
         .offset = offsetof(struct half, a),
         .min = 0,
         .max = 9,
         .def = "1",
         .help = "a"},
        {.name = NULL},
};
static const struct rn_conf_key keys_b[] = {
        {.name = "y.b",
         .type = RN_CONF_INT,
         .offset = offsetof(struct half, b),
         .min = 0,
         .max = 9,
         .def = "2",
         .help = "b"},
        {.name = NULL},
};

static void test_shared_section(void **state)
{
	(void)state;
	struct half h1, h2;
	struct rn_conf_section s[2] = {{"lib", keys_a, &h1}, {"lib", keys_b, &h2}};
	struct rn_conf_error err;
	const char *text = "lib: { x: { a = 5; }; y: { b = 6; }; };";
	RN_PASS(rn_conf_load_buf(text, strlen(text), "t", NULL, s, 2, &err));
	assert_int_equal(h1.a, 5);
	assert_int_equal(h2.b, 6);
	const char *ov[] = {"lib.y.b=7", NULL};
	RN_PASS(rn_conf_load_buf(text, strlen(text), "t", ov, s, 2, &err));
	assert_int_equal(h2.b, 7);
	char *out;
	size_t len;
	RN_PASS(rn_conf_dump(s, 2, &out, &len));
	/* One group in the dump, which loads back. */
	assert_non_null(strstr(out, "lib: {"));
	assert_null(strstr(strstr(out, "lib: {") + 1, "lib: {"));
	RN_PASS(rn_conf_load_buf(out, len, "dump", NULL, s, 2, &err));
	assert_int_equal(h2.b, 7);
	free(out);
	const char *bad = "lib: { x: { b = 1; }; };";
	RN_FAILS_WITH(rn_conf_load_buf(bad, strlen(bad), "t", NULL, s, 2, &err), RN_ECONF);
	assert_string_equal(err.key, "lib.x.b");
}

RN_TEST_MAIN(test_defaults, test_file, test_errors, test_suggest, test_overrides, test_restart_keys,
             test_dump_roundtrip, test_nul_and_garbage, test_shared_section)
