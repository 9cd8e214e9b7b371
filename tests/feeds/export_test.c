/*
 * export_test.c: every export format of a small list, exactly, and the
 * JSON export read back by the importer into the same list; expired
 * entries left out alike by the file reader and by the export.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds/rbl/rbl.h"
#include "test.h"

static struct feeds_listview *lv;
static struct feeds_view view;
static struct feeds_rbl_conf conf;

static int setup(void **state)
{
	(void)state;
	static char *zones[] = {"bl.test"};
	static char *ns[] = {"ns1.bl.test", "ns2.bl.test"};
	static char *codes[] = {"spam_source=127.0.0.2", "scanner=127.0.0.4", "drop=127.0.0.10"};
	const char *pfx[] = {"192.0.2.1", "198.51.100.0/24", "198.51.100.7", "2001:db8::/32",
	                     "2001:db8::1"};
	const uint32_t cats[] = {1u << 1, 1u << 3, 1u << 1, 1u << 10, 1u << 3};
	struct feeds_view_entry e[5];
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 5; i++) {
		RN_PASS(rn_prefix_parse_str(pfx[i], true, &e[i].prefix));
		e[i].categories = cats[i];
	}
	e[0].expires_ms = 4102444800000; /* 2100-01-01: in the future, so exported */
	RN_PASS(feeds_listview_alloc(&lv, 0));
	RN_PASS(feeds_listview_apply(lv, e, 5, NULL, 0));
	feeds_listview_view(lv, &view);
	memset(&conf, 0, sizeof(conf));
	conf.dnsbl_zones = (struct rn_strlist){zones, 1};
	conf.dnsbl_ns = (struct rn_strlist){ns, 2};
	conf.dnsbl_codes = (struct rn_strlist){codes, 3};
	conf.dnsbl_ttl_ms = 300000;
	conf.dnsbl_negative_ttl_ms = 60000;
	conf.dnsbl_soa_rname = "hostmaster.bl.test";
	conf.dnsbl_reason = "Listed for %c, see https://bl.test/$";
	conf.dnsbl_edns_size = 1232;
	conf.export_nft_table = "repnet";
	conf.export_nft_set4 = "bl4";
	conf.export_nft_set6 = "bl6";
	conf.export_ipset4 = "rn4";
	conf.export_ipset6 = "rn6";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	feeds_listview_free(lv);
	return 0;
}

static void expect(enum feeds_list_format f, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	uint64_t ver = 0;
	RN_PASS(feeds_export(&view, f, &conf, &out, &len, &ver));
	assert_int_equal(ver, 1);
	assert_int_equal(len, strlen(out));
	assert_string_equal(out, want);
	free(out);
}

static void test_formats(void **state)
{
	(void)state;
	expect(FEEDS_FMT_PLAIN,
	       "192.0.2.1\n198.51.100.0/24\n198.51.100.7\n2001:db8::/32\n2001:db8::1\n");
	expect(FEEDS_FMT_JSON, "{\"prefix\":\"192.0.2.1/32\",\"categories\":[\"spam_source\"],"
	                       "\"expires\":\"2100-01-01T00:00:00Z\"}\n"
	                       "{\"prefix\":\"198.51.100.0/24\",\"categories\":[\"scanner\"]}\n"
	                       "{\"prefix\":\"198.51.100.7/32\",\"categories\":[\"spam_source\"]}\n"
	                       "{\"prefix\":\"2001:db8::/32\",\"categories\":[\"drop\"]}\n"
	                       "{\"prefix\":\"2001:db8::1/128\",\"categories\":[\"scanner\"]}\n");
	expect(FEEDS_FMT_RBLDNSD,
	       "# repnet blocklist for rbldnsd (combined dataset)\n"
	       "$SOA 300 ns1.bl.test hostmaster.bl.test 0 3600 600 604800 60\n"
	       "$NS 300 ns1.bl.test ns2.bl.test\n"
	       "$TTL 300\n"
	       "$DATASET ip4trie @\n"
	       "127.0.0.2/32 :127.0.0.2:Listed for test, see https://bl.test/$\n"
	       "!127.0.0.1/32\n"
	       "192.0.2.1/32 :127.0.0.2:Listed for spam_source, see https://bl.test/$\n"
	       "198.51.100.0/24 :127.0.0.4:Listed for scanner, see https://bl.test/$\n"
	       "198.51.100.7/32 :127.0.0.2:Listed for spam_source, see https://bl.test/$\n"
	       "$DATASET ip6trie @\n"
	       "::ffff:7f00:2/128 :127.0.0.2:Listed for test, see https://bl.test/$\n"
	       "2001:db8::/32 :127.0.0.10:Listed for drop, see https://bl.test/$\n"
	       "2001:db8::1/128 :127.0.0.4:Listed for scanner, see https://bl.test/$\n");
	/* Covered entries are left out of firewall sets (nft refuses overlaps). */
	expect(FEEDS_FMT_NFT, "#!/usr/sbin/nft -f\n# repnet blocklist\nadd table inet repnet\n"
	                      "add set inet repnet bl4 { type ipv4_addr; flags interval; }\n"
	                      "add set inet repnet bl6 { type ipv6_addr; flags interval; }\n"
	                      "flush set inet repnet bl4\nflush set inet repnet bl6\n"
	                      "add element inet repnet bl4 { 192.0.2.1, 198.51.100.0/24 }\n"
	                      "add element inet repnet bl6 { 2001:db8::/32 }\n");
	expect(FEEDS_FMT_IPSET,
	       "create rn4 hash:net family inet hashsize 1024 maxelem 16777216 -exist\n"
	       "create rn4-new hash:net family inet hashsize 1024 maxelem 16777216 -exist\n"
	       "flush rn4-new\n"
	       "create rn6 hash:net family inet6 hashsize 1024 maxelem 16777216 -exist\n"
	       "create rn6-new hash:net family inet6 hashsize 1024 maxelem 16777216 -exist\n"
	       "flush rn6-new\n"
	       "add rn4-new 192.0.2.1\nadd rn4-new 198.51.100.0/24\nadd rn6-new 2001:db8::/32\n"
	       "swap rn4-new rn4\ndestroy rn4-new\nswap rn6-new rn6\ndestroy rn6-new\n");
	char *out;
	size_t len;
	RN_FAILS_WITH(feeds_export(&view, FEEDS_FMT_DROP_TXT, &conf, &out, &len, NULL), RN_EUNSUPP);
}

static int collect(void *arg, const struct feeds_import_entry *e)
{
	struct feeds_listview *dst = arg;
	struct feeds_view_entry v = {
	        .prefix = e->prefix, .categories = e->categories, .expires_ms = e->expires_ms};
	return feeds_listview_apply(dst, &v, 1, NULL, 0);
}

static void test_json_roundtrip(void **state)
{
	(void)state;
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	struct feeds_listview *copy;
	struct feeds_view cv;
	RN_PASS(feeds_export(&view, FEEDS_FMT_JSON, &conf, &a, &alen, NULL));
	RN_PASS(feeds_listview_alloc(&copy, 0));
	RN_PASS(feeds_import_parse(FEEDS_FMT_JSON, (uint8_t *)a, alen, true, collect, copy, NULL));
	feeds_listview_view(copy, &cv);
	RN_PASS(feeds_export(&cv, FEEDS_FMT_JSON, &conf, &b, &blen, NULL));
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	feeds_listview_free(copy);
}

/* A view holding an expired entry exports without it, in every format. */
static void test_export_skips_expired(void **state)
{
	(void)state;
	struct feeds_listview *l;
	struct feeds_view v;
	struct feeds_view_entry e[2];
	memset(e, 0, sizeof(e));
	RN_PASS(rn_prefix_parse_str("192.0.2.9", true, &e[0].prefix));
	RN_PASS(rn_prefix_parse_str("2001:db8::9", true, &e[1].prefix));
	e[0].categories = e[1].categories = 1u << 1;
	e[0].expires_ms = rn_time_now_ms() - 1000; /* expired a second ago */
	e[1].expires_ms = rn_time_now_ms() + 3600000;
	RN_PASS(feeds_listview_alloc(&l, 0));
	RN_PASS(feeds_listview_apply(l, e, 2, NULL, 0));
	feeds_listview_view(l, &v);
	enum feeds_list_format fmts[] = {FEEDS_FMT_PLAIN, FEEDS_FMT_JSON, FEEDS_FMT_RBLDNSD,
	                                 FEEDS_FMT_NFT, FEEDS_FMT_IPSET};
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		char *out = NULL;
		size_t len = 0;
		RN_PASS(feeds_export(&v, fmts[i], &conf, &out, &len, NULL));
		assert_null(strstr(out, "192.0.2.9"));
		assert_non_null(strstr(out, "2001:db8::9"));
		free(out);
	}
	feeds_listview_free(l);
}

/* Both file readers drop expired entries and count them. */
static void test_import_drops_expired(void **state)
{
	(void)state;
	char path[] = "/tmp/repnet-expired.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "{\"prefix\":\"192.0.2.1/32\",\"categories\":[\"scanner\"],"
	                   "\"expires\":\"2001-01-01T00:00:00Z\"}\n"
	                   "{\"prefix\":\"192.0.2.2/32\",\"categories\":[\"scanner\"],"
	                   "\"expires\":\"2001-01-01T00:00:00Z\"}\n"
	                   "{\"prefix\":\"192.0.2.3/32\",\"categories\":[\"scanner\"],"
	                   "\"expires\":\"2999-01-01T00:00:00Z\"}\n"
	                   "{\"prefix\":\"192.0.2.4/32\",\"categories\":[\"scanner\"]}\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	struct feeds_view_entry *e = NULL;
	size_t n = 0;
	struct feeds_import_stats st;
	RN_PASS(feeds_import_file(path, FEEDS_FMT_JSON, 1u << 10, 100, &e, &n, &st));
	assert_int_equal(n, 2);
	assert_int_equal(st.expired, 2);
	assert_int_equal(st.entries, 4);
	free(e);

	struct feeds_listview_load *ld = NULL;
	RN_PASS(feeds_listview_load_alloc(&ld));
	memset(&st, 0, sizeof(st));
	RN_PASS(feeds_import_load(path, FEEDS_FMT_JSON, 1u << 10, 100, ld, &st));
	assert_int_equal(feeds_listview_load_count(ld), 2);
	assert_int_equal(st.expired, 2);
	feeds_listview_load_free(ld);
	unlink(path);
}

RN_TEST_MAIN_GROUP(setup, teardown, test_formats, test_json_roundtrip, test_export_skips_expired,
                   test_import_drops_expired)
