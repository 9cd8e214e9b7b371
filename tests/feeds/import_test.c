/*
 * import_test.c: each list format's parser, entry by entry: DROP JSON
 * and text, rbldnsd ip4set (every range form of its manual), CIDR lists,
 * repnet's own JSON; malformed lines skipped and counted, or fatal in
 * strict mode; the JSON lines as strictly as RFC 8259 reads them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds/rbl/rbl.h"
#include "feeds/view/view.h"
#include "test.h"

struct acc {
	char s[64][RN_PREFIX_STRLEN + 80];
	size_t n;
};

static int acc_fn(void *arg, const struct feeds_import_entry *e)
{
	struct acc *a = arg;
	char p[RN_PREFIX_STRLEN];
	rn_prefix_format(&e->prefix, p, sizeof(p));
	if (a->n < 64)
		snprintf(a->s[a->n], sizeof(a->s[0]), "%s %x %lld %s", p, e->categories,
		         (long long)e->expires_ms, e->evidence);
	a->n++;
	return 0;
}

static void parse(enum feeds_list_format f, const char *text, struct acc *a,
                  struct feeds_import_stats *st)
{
	memset(a, 0, sizeof(*a));
	RN_PASS(feeds_import_parse(f, (const uint8_t *)text, strlen(text), false, acc_fn, a, st));
}

static void test_drop(void **state)
{
	(void)state;
	struct acc a;
	struct feeds_import_stats st;
	parse(FEEDS_FMT_DROP_TXT,
	      "; Spamhaus DROP List 2024/01/15\n; Last-Modified: Mon, 15 Jan 2024 09:47:24 GMT\n"
	      "1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\r\nnot a prefix ; SBL1\n"
	      "2.57.122.0/24;SBL636050\n",
	      &a, &st);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.s[0], "1.10.16.0/20 0 0 SBL256894");
	assert_string_equal(a.s[1], "1.19.0.0/16 0 0 SBL434604");
	assert_string_equal(a.s[2], "2.57.122.0/24 0 0 SBL636050");
	assert_int_equal(st.lines, 6);
	assert_int_equal(st.bad_lines, 1);

	parse(FEEDS_FMT_DROP_JSON,
	      "{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\",\"rir\":\"apnic\"}\n"
	      "{\"cidr\": \"2a06:e480::/29\" , \"sblid\":\"SBL301771\",\"rir\":\"ripencc\"}\n"
	      "{\"type\":\"metadata\",\"timestamp\":1705311944,\"size\":85742,\"records\":1253,"
	      "\"copyright\":\"(c) 2024 The Spamhaus Project SLU\",\"terms\":\"https:\\/\\/www."
	      "spamhaus.org\\/drop\\/terms\\/\"}\n"
	      "{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL1\",\"nested\":{\"a\":1}}\n"
	      "{\"cidr\":\"1.2.3.0/24\"\n"
	      "{\"sblid\":\"SBL2\"}\n",
	      &a, &st);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.s[0], "1.10.16.0/20 0 0 SBL256894");
	assert_string_equal(a.s[1], "2a06:e480::/29 0 0 SBL301771");
	assert_int_equal(st.bad_lines, 3);
	/* Strict mode fails at the first bad line. */
	const char *t = "1.2.3.0/24\nnope\n";
	struct acc b;
	memset(&b, 0, sizeof(b));
	RN_FAILS_WITH(feeds_import_parse(FEEDS_FMT_CIDR, (const uint8_t *)t, strlen(t), true,
	                                 acc_fn, &b, &st),
	              RN_EPARSE);
}

static void test_ip4set(void **state)
{
	(void)state;
	struct acc a;
	struct feeds_import_stats st;
	/* The manual's spellings of 127.0.0.0/24 and of 127.16.0.0/12. */
	const char *forms24[] = {"127.0.0.0/24",          "127.0.0",      "127/24", "127-127.0.0",
	                         "127.0.0.0-127.0.0.255", "127.0.0.0-255"};
	for (size_t i = 0; i < RN_ARRAY_LEN(forms24); i++) {
		parse(FEEDS_FMT_IP4SET, forms24[i], &a, &st);
		assert_int_equal(a.n, 1);
		assert_string_equal(a.s[0], "127.0.0.0/24 0 0 ");
	}
	const char *forms12[] = {"127.16.0.0-127.31.255.255",
	                         "127.16.0-127.31.255",
	                         "127.16-127.31",
	                         "127.16.0.0/12",
	                         "127.16.0/12",
	                         "127.16/12"};
	for (size_t i = 0; i < RN_ARRAY_LEN(forms12); i++) {
		parse(FEEDS_FMT_IP4SET, forms12[i], &a, &st);
		assert_int_equal(a.n, 1);
		assert_string_equal(a.s[0], "127.16.0.0/12 0 0 ");
	}
	/*
	 * A lone dotted quad (the fast path) reads as the same host spelled
	 * as a prefix or a range; near misses go to the general parser.
	 */
	parse(FEEDS_FMT_IP4SET,
	      "192.0.2.1\n192.0.2.1/32\n192.0.2.1-192.0.2.1\n192.0.2.1:127.0.0.2:x\n"
	      "192.0.2.1 ; c\n192.0.2.1\t# c\n192.0.2.1x\n192.0.2.256\n1922.0.2.1\n"
	      "192.0.2.1.1\n010.0.2.1\n192.0.2\n",
	      &a, &st);
	assert_int_equal(a.n, 8);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(a.s[i], "192.0.2.1/32 0 0 ");
	assert_string_equal(a.s[6], "10.0.2.1/32 0 0 ");
	assert_string_equal(a.s[7], "192.0.2.0/24 0 0 ");
	assert_int_equal(st.bad_lines, 4);
	/* "127.16.0-31" is 127.16.0.0-127.16.31.255. */
	parse(FEEDS_FMT_IP4SET, "127.16.0-31\n", &a, &st);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.s[0], "127.16.0.0/19 0 0 ");
	/* A range that is not one prefix becomes its CIDR cover. */
	parse(FEEDS_FMT_IP4SET, "192.0.2.1-192.0.2.6 :127.0.0.3:text\n", &a, &st);
	assert_int_equal(a.n, 4);
	assert_string_equal(a.s[0], "192.0.2.1/32 0 0 ");
	assert_string_equal(a.s[1], "192.0.2.2/31 0 0 ");
	assert_string_equal(a.s[2], "192.0.2.4/31 0 0 ");
	assert_string_equal(a.s[3], "192.0.2.6/32 0 0 ");
	/* Specials, defaults, comments, values, exclusions. */
	parse(FEEDS_FMT_IP4SET,
	      "# c\n; c\n$TTL 3600\n$SOA 0 a b 0 1 1 1 1\n:127.0.0.2:Listed $\n192.0.2.1 TXT only\n"
	      "192.0.2.9:127.0.0.4:x\n!192.0.2.3\n10/8 ; private\n192.0.2.300\n1.2.3.4-1.2.3.1\n",
	      &a, &st);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.s[0], "192.0.2.1/32 0 0 ");
	assert_string_equal(a.s[1], "192.0.2.9/32 0 0 ");
	assert_string_equal(a.s[2], "10.0.0.0/8 0 0 ");
	assert_int_equal(st.excluded, 1);
	assert_int_equal(st.bad_lines, 2);
}

static void test_cidr_json(void **state)
{
	(void)state;
	struct acc a;
	struct feeds_import_stats st;
	parse(FEEDS_FMT_CIDR,
	      "# list\n  192.0.2.0/24\n198.51.100.7 # one\n2001:db8::/32\n10.1.2.3/8\n\n"
	      "192.0.2.0/33\n",
	      &a, &st);
	assert_int_equal(a.n, 4);
	assert_string_equal(a.s[1], "198.51.100.7/32 0 0 ");
	assert_string_equal(a.s[3], "10.0.0.0/8 0 0 "); /* host bits cleared */
	assert_int_equal(st.bad_lines, 1);
	/* Over-long lines are malformed, not read in pieces. */
	char *lng = malloc(5000);
	memset(lng, ' ', 4999);
	memcpy(lng + 4980, "192.0.2.1", 9);
	lng[4999] = '\0';
	parse(FEEDS_FMT_CIDR, lng, &a, &st);
	assert_int_equal(a.n, 0);
	assert_int_equal(st.bad_lines, 1);
	free(lng);

	parse(FEEDS_FMT_JSON,
	      "{\"prefix\":\"192.0.2.1/32\",\"categories\":[\"spam_source\",\"drop\"],"
	      "\"expires\":\"2026-11-29T00:00:00Z\"}\n"
	      "{\"prefix\":\"2001:db8::/32\",\"categories\":[]}\n"
	      "{\"prefix\":\"192.0.2.2/32\",\"categories\":[\"no_such\"]}\n",
	      &a, &st);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.s[0], "192.0.2.1/32 402 1795910400000 ");
	assert_string_equal(a.s[1], "2001:db8::/32 0 0 ");
	assert_int_equal(st.bad_lines, 1);
	/* Export formats cannot be imported. */
	RN_FAILS_WITH(
	        feeds_import_parse(FEEDS_FMT_NFT, (const uint8_t *)"", 0, false, acc_fn, &a, &st),
	        RN_EUNSUPP);
}

/*
 * JSON lines go through proto's strict reader: escapes of any code point
 * are decoded, and what RFC 8259 or the fields' types refuse is malformed.
 */
static void test_json_strict(void **state)
{
	(void)state;
	struct acc a;
	struct feeds_import_stats st;
	parse(FEEDS_FMT_JSON,
	      "{\"prefix\":\"192.0.2.\\u0031/32\",\"note\":\"caf\\u00e9 \\ud83d\\ude00\"}\n"
	      "{\"ip\":\"192.0.2.2\",\"note\":\"caf\xc3\xa9\"}\n"
	      "{\"prefix\":\"192.0.2.3/32\",\"note\":\"\xff\"}\n"           /* invalid UTF-8 */
	      "{\"prefix\":\"192.0.2.4/32\",\"note\":\"\\ud83d\"}\n"        /* lone surrogate */
	      "{\"prefix\":\"192.0.2.5/32\",\"prefix\":\"192.0.2.6/32\"}\n" /* repeated */
	      "{\"prefix\":\"192.0.2.7/32\",\"categories\":\"drop\"}\n"     /* not an array */
	      "{\"prefix\":\"192.0.2.8/32\",\"n\":012}\n"                   /* leading zero */
	      "{\"prefix\":\"192.0.2.9/32\",\"tags\":[\"a\"]}\n"            /* nested value */
	      "{\"prefix\":\"192.0.2.10/32\"} x\n"                          /* trailing bytes */
	      "{\"categories\":[\"drop\"]}\n",                              /* no prefix */
	      &a, &st);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.s[0], "192.0.2.1/32 0 0 ");
	assert_string_equal(a.s[1], "192.0.2.2/32 0 0 ");
	assert_int_equal(st.bad_lines, 8);

	parse(FEEDS_FMT_DROP_JSON,
	      "{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL\\u0032\"}\n"
	      "{\"cidr\":\"1.10.32.0/20\",\"sblid\":7}\n"        /* not a string */
	      "{\"type\":\"metadata\",\"type\":\"metadata\"}\n", /* repeated */
	      &a, &st);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.s[0], "1.10.16.0/20 0 0 SBL2");
	assert_int_equal(st.bad_lines, 2);
}

static int stop_after_two(void *arg, const struct feeds_import_entry *e)
{
	(void)e;
	int *n = arg;
	return ++*n > 2 ? RN_ELIMIT : 0;
}

/* The caller's error stops the parse, in every format, and is returned. */
static void test_callback_stops(void **state)
{
	(void)state;
	const char *text[] = {"192.0.2.1-192.0.2.6\n", "1.2.3.4\n1.2.3.5\n1.2.3.6\n1.2.3.7\n"};
	enum feeds_list_format f[] = {FEEDS_FMT_IP4SET, FEEDS_FMT_CIDR};
	for (int i = 0; i < 2; i++) {
		int n = 0;
		struct feeds_import_stats st;
		RN_FAILS_WITH(feeds_import_parse(f[i], (const uint8_t *)text[i], strlen(text[i]),
		                                 false, stop_after_two, &n, &st),
		              RN_ELIMIT);
		assert_int_equal(n, 3);
		assert_int_equal(st.bad_lines, 0);
	}
}

/* ---- reading a file in chunks ------------------------------------------ */

struct sum {
	uint64_t n, hash;
};

static int sum_fn(void *arg, const struct feeds_import_entry *e)
{
	struct sum *a = arg;
	a->n++;
	a->hash = a->hash * 1000003u + e->prefix.addr.u.v4 + e->prefix.len;
	return 0;
}

/*
 * A file read 256 KB at a time gives what the whole buffer gives: lines
 * across chunk boundaries, a line longer than a chunk (malformed, skipped
 * to its end), one longer than 4096 bytes, and a last line without a
 * newline.
 */
static void test_file_chunks(void **state)
{
	(void)state;
	size_t cap = 2u << 20, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	uint64_t seed = 99;
	for (int i = 0; len < cap - 400000; i++) {
		if (i == 20000 || i == 50000) {
			/* 300 KB, then 5000 bytes, of digits on one line. */
			size_t n = i == 20000 ? 300000 : 5000;
			memset(text + len, '1', n);
			len += n;
			text[len++] = '\n';
			continue;
		}
		uint64_t r = rn_test_rand(&seed);
		len += (size_t)snprintf(text + len, cap - len, "%u.%u.%u.%u%s\n",
		                        (unsigned)(r & 127) + 1, (unsigned)(r >> 8) & 255,
		                        (unsigned)(r >> 16) & 255, (unsigned)(r >> 24) & 255,
		                        i % 7 == 0 ? " # comment" : "");
	}
	len += (size_t)snprintf(text + len, cap - len, "192.0.2.77");
	char path[] = "/tmp/repnet-import-test.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	RN_PASS(rn_write_all(fd, text, len));
	close(fd);

	struct sum whole = {0};
	struct feeds_import_stats sw, sf;
	RN_PASS(feeds_import_parse(FEEDS_FMT_IP4SET, (const uint8_t *)text, len, false, sum_fn,
	                           &whole, &sw));
	assert_int_equal(sw.bad_lines, 2);
	struct feeds_view_entry *e = NULL;
	size_t n = 0;
	RN_PASS(feeds_import_file(path, FEEDS_FMT_IP4SET, 2, 1u << 24, &e, &n, &sf));
	assert_int_equal(n, whole.n);
	assert_int_equal(sf.lines, sw.lines);
	assert_int_equal(sf.entries, sw.entries);
	assert_int_equal(sf.bad_lines, sw.bad_lines);
	struct sum file = {0};
	for (size_t i = 0; i < n; i++) {
		struct feeds_import_entry x = {.prefix = e[i].prefix};
		sum_fn(&file, &x);
		assert_int_equal(e[i].categories, 2);
	}
	assert_int_equal(file.hash, whole.hash);
	free(e);

	/* The same into a bulk load, and past max_entries RN_ELIMIT. */
	struct feeds_listview_load *ld;
	RN_PASS(feeds_listview_load_alloc(&ld));
	RN_PASS(feeds_import_load(path, FEEDS_FMT_IP4SET, 2, 1u << 24, ld, &sf));
	assert_int_equal(feeds_listview_load_count(ld), whole.n);
	feeds_listview_load_free(ld);
	RN_PASS(feeds_listview_load_alloc(&ld));
	RN_FAILS_WITH(feeds_import_load(path, FEEDS_FMT_IP4SET, 2, 1000, ld, &sf), RN_ELIMIT);
	feeds_listview_load_free(ld);
	RN_FAILS_WITH(feeds_import_file("/nonexistent/list", FEEDS_FMT_IP4SET, 2, 10, &e, &n, &sf),
	              -ENOENT);
	unlink(path);
	free(text);
}

RN_TEST_MAIN(test_drop, test_ip4set, test_cidr_json, test_json_strict, test_callback_stops,
             test_file_chunks)
