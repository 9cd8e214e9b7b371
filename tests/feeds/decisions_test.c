/*
 * decisions_test.c: the CrowdSec decision stream's exact bytes, over the
 * HTTP listener: the full state (expired listings left out), a delta
 * after a change of the list, an empty delta, and the 403 of an unknown
 * key; live mode (GET /v1/decisions?ip=, ?range=, scope and value, type,
 * contains) answering LAPI's array of decisions or `null`; positions
 * saved in the data directory, so that a listing removed while repnet was
 * down is deleted at the bouncer's first poll after the restart.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "feeds/http/http.h"
#include "feeds/rbl/decisions.h"
#include "test.h"

#define KEY "decisions-test-key"

/* GET path with X-Api-Key: key over HTTP/1.0; the status and the body (malloc'd). */
static char *get(unsigned port, const char *path, const char *key, int *status)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nX-Api-Key: %s\r\n\r\n", path, key);
	RN_PASS(rn_write_all(fd, req, (size_t)n));
	uint8_t *resp;
	size_t len;
	RN_PASS(rn_fd_read(fd, 1 << 20, &resp, &len));
	close(fd);
	char *text = (char *)resp;
	text = realloc(text, len + 1);
	assert_non_null(text);
	text[len] = '\0';
	assert_int_equal(sscanf(text, "HTTP/1.%*d %d", status), 1);
	char *body = strstr(text, "\r\n\r\n");
	assert_non_null(body);
	char *out = strdup(body + 4);
	free(text);
	return out;
}

static void expect(unsigned port, const char *path, const char *key, int want_status,
                   const char *want)
{
	int status = 0;
	char *body = get(port, path, key, &status);
	assert_int_equal(status, want_status);
	assert_string_equal(body, want);
	free(body);
}

static struct feeds_view_entry entry(const char *pfx, uint32_t cats, int64_t expires_ms)
{
	struct feeds_view_entry e;
	memset(&e, 0, sizeof(e));
	RN_PASS(rn_prefix_parse_str(pfx, true, &e.prefix));
	e.categories = cats;
	e.expires_ms = expires_ms;
	return e;
}

#define D(id, scope, value, dur, scen)                                                   \
	"{\"id\":" #id ",\"origin\":\"repnet\",\"type\":\"ban\",\"scope\":\"" scope      \
	"\",\"value\":\"" value "\",\"duration\":\"" dur "\",\"scenario\":\"" scen "\"," \
	"\"simulated\":false}"
#define D1 D(1, "Ip", "192.0.2.1", "4h0m0s", "spam_source")
#define D2 D(2, "Range", "198.51.100.0/24", "4h0m0s", "scanner,drop")
#define D3 D(3, "Ip", "2001:db8::1", "4h0m0s", "sasl_bruteforce")
#define D4 D(4, "Ip", "192.0.2.9", "4h0m0s", "harvester")
#define D5 D(5, "Ip", "192.0.2.1", "0s", "spam_source") /* deleted: no time left */

static void test_stream(void **state)
{
	(void)state;
	char keys[] = "/tmp/repnet-decisions-test.XXXXXX";
	int kfd = mkstemp(keys);
	assert_true(kfd >= 0);
	RN_PASS(rn_write_all(kfd, "# bouncers\n" KEY "\n", strlen("# bouncers\n" KEY "\n")));
	close(kfd);

	struct feeds_rbl_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.decisions_keys_file = keys;
	conf.decisions_duration_ms = 4 * 3600 * 1000;
	conf.decisions_max_bouncers = 4;

	struct feeds_listview *lv;
	struct feeds_view view;
	struct feeds_view_entry e[] = {
	        entry("192.0.2.1", 1u << RN_CAT_SPAM_SOURCE, 0),
	        entry("192.0.2.3", 1u << RN_CAT_SCANNER, 1000), /* expired long ago */
	        entry("198.51.100.0/24", 1u << RN_CAT_SCANNER | 1u << RN_CAT_DROP, 0),
	        entry("2001:db8::1", 1u << RN_CAT_SASL_BRUTEFORCE, 0),
	};
	RN_PASS(feeds_listview_alloc(&lv, 64));
	RN_PASS(feeds_listview_apply(lv, e, RN_ARRAY_LEN(e), NULL, 0));
	feeds_listview_view(lv, &view);

	struct rn_metrics *m;
	struct feeds_http *h;
	struct feeds_decisions *d;
	RN_PASS(rn_metrics_alloc(&m));
	struct feeds_http_conf hc = {.listen = "127.0.0.1:0",
	                             .max_conns = 8,
	                             .max_per_client = 8,
	                             .header_ms = 10000,
	                             .idle_ms = 10000};
	RN_PASS(feeds_http_start(&h, &hc, m));
	RN_PASS(feeds_decisions_start(&d, h, &conf, &view, m));
	unsigned port = feeds_http_port(h);
	const char *stream = "/v1/decisions/stream";

	expect(port, "/v1/decisions/stream?startup=true", KEY, 200,
	       "{\"new\":[" D1 "," D2 "," D3 "],\"deleted\":[]}");
	/* 192.0.2.1 goes, 192.0.2.9 comes. */
	struct feeds_view_entry add = entry("192.0.2.9", 1u << RN_CAT_HARVESTER, 0);
	RN_PASS(feeds_listview_apply(lv, &add, 1, &e[0].prefix, 1));
	expect(port, "/v1/decisions/stream?startup=false", KEY, 200,
	       "{\"new\":[" D4 "],\"deleted\":[" D5 "]}");
	expect(port, stream, KEY, 200, "{\"new\":[],\"deleted\":[]}");
	expect(port, stream, "not-a-key-at-all", 403, "{\"message\":\"access forbidden\"}");

	feeds_http_stop(h);
	feeds_decisions_free(d);
	rn_metrics_free(m);
	feeds_listview_free(lv);
	unlink(keys);
}

static void test_live(void **state)
{
	(void)state;
	char keys[] = "/tmp/repnet-decisions-test.XXXXXX";
	int kfd = mkstemp(keys);
	assert_true(kfd >= 0);
	RN_PASS(rn_write_all(kfd, KEY "\n", strlen(KEY "\n")));
	close(kfd);

	struct feeds_rbl_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.decisions_keys_file = keys;
	conf.decisions_duration_ms = 4 * 3600 * 1000;
	conf.decisions_max_bouncers = 4;

	struct feeds_listview *lv;
	struct feeds_view view;
	struct feeds_view_entry e[] = {
	        entry("192.0.2.1", 1u << RN_CAT_SPAM_SOURCE, 0),
	        entry("192.0.2.3", 1u << RN_CAT_SCANNER, 1000), /* expired long ago */
	        entry("198.51.100.0/24", 1u << RN_CAT_SCANNER | 1u << RN_CAT_DROP, 0),
	        entry("198.51.100.7", 1u << RN_CAT_HARVESTER, 0),
	        entry("2001:db8::/64", 1u << RN_CAT_DROP, 0),
	};
	RN_PASS(feeds_listview_alloc(&lv, 64));
	RN_PASS(feeds_listview_apply(lv, e, RN_ARRAY_LEN(e), NULL, 0));
	feeds_listview_view(lv, &view);

	struct rn_metrics *m;
	struct feeds_http *h;
	struct feeds_decisions *d;
	RN_PASS(rn_metrics_alloc(&m));
	struct feeds_http_conf hc = {.listen = "127.0.0.1:0",
	                             .max_conns = 8,
	                             .max_per_client = 8,
	                             .header_ms = 10000,
	                             .idle_ms = 10000};
	RN_PASS(feeds_http_start(&h, &hc, m));
	RN_PASS(feeds_decisions_start(&d, h, &conf, &view, m));
	unsigned port = feeds_http_port(h);

#define L1 D(1, "Ip", "192.0.2.1", "4h0m0s", "spam_source")
	expect(port, "/v1/decisions?ip=192.0.2.1", KEY, 200, "[" L1 "]");
	/* Every listing containing the address: the /24, then the host. */
	expect(port, "/v1/decisions?ip=198.51.100.7", KEY, 200,
	       "[" D(2, "Range", "198.51.100.0/24", "4h0m0s",
	             "scanner,drop") "," D(3, "Ip", "198.51.100.7", "4h0m0s", "harvester") "]");
	expect(port, "/v1/decisions?ip=198.51.100.8", KEY, 200,
	       "[" D(4, "Range", "198.51.100.0/24", "4h0m0s", "scanner,drop") "]");
	/* Unlisted, and expired: LAPI's empty answer. */
	expect(port, "/v1/decisions?ip=192.0.2.2", KEY, 200, "null");
	expect(port, "/v1/decisions?ip=192.0.2.3", KEY, 200, "null");
	expect(port, "/v1/decisions?ip=2001:db8::5", KEY, 200,
	       "[" D(5, "Range", "2001:db8::/64", "4h0m0s", "drop") "]");
	expect(port, "/v1/decisions?ip=2001:db8:0:1::5", KEY, 200, "null");
	/* Ranges: containing the range (the default), or inside it. */
	expect(port, "/v1/decisions?range=198.51.100.0/25", KEY, 200,
	       "[" D(6, "Range", "198.51.100.0/24", "4h0m0s", "scanner,drop") "]");
	expect(port, "/v1/decisions?range=198.51.100.0%2F16&contains=false", KEY, 200,
	       "[" D(7, "Range", "198.51.100.0/24", "4h0m0s",
	             "scanner,drop") "," D(8, "Ip", "198.51.100.7", "4h0m0s", "harvester") "]");
	expect(port, "/v1/decisions?range=198.51.100.0/16", KEY, 200, "null");
	/* The long form, the type filter, another scope. */
	expect(port, "/v1/decisions?scope=Ip&value=192.0.2.1", KEY, 200,
	       "[" D(9, "Ip", "192.0.2.1", "4h0m0s", "spam_source") "]");
	expect(port, "/v1/decisions?ip=192.0.2.1&type=captcha", KEY, 200, "null");
	expect(port, "/v1/decisions?scope=username&value=bob", KEY, 200, "null");
	/* No filter: every decision, expired ones left out. */
	int status = 0;
	char *all = get(port, "/v1/decisions", KEY, &status);
	assert_int_equal(status, 200);
	assert_non_null(strstr(all, "\"value\":\"2001:db8::/64\""));
	assert_null(strstr(all, "192.0.2.3"));
	free(all);
	/* Malformed queries and keys. */
	const char *bad[] = {"/v1/decisions?ip=192.0.2.256",
	                     "/v1/decisions?ip=192.0.2.1%",
	                     "/v1/decisions?range=192.0.2.1",
	                     "/v1/decisions?ip=1.2.3.4&range=1.2.3.0/24",
	                     "/v1/decisions?ip=192.0.2.1&contains=maybe",
	                     "/v1/decisions?ip=192.0.2.1%00"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		char *b = get(port, bad[i], KEY, &status);
		assert_int_equal(status, 400);
		free(b);
	}
	expect(port, "/v1/decisions?ip=192.0.2.1", "not-a-key-at-all", 403,
	       "{\"message\":\"access forbidden\"}");
	double v;
	RN_PASS(rn_metrics_value(m, "repnet_decisions_bad_queries_total", NULL, &v));
	assert_true(v == RN_ARRAY_LEN(bad));
	RN_PASS(rn_metrics_value(m, "repnet_decisions_polls_total", "kind=\"live\"", &v));
	assert_true(v == 14);
	/* Live queries do not move the stream: its first poll is the full state. */
	status = 0;
	char *full = get(port, "/v1/decisions/stream", KEY, &status);
	assert_int_equal(status, 200);
	assert_non_null(strstr(full, "\"value\":\"198.51.100.7\""));
	free(full);

	feeds_http_stop(h);
	feeds_decisions_free(d);
	rn_metrics_free(m);
	feeds_listview_free(lv);
	unlink(keys);
}

/* Starts the stream on a fresh listener with positions in dir. */
static void restart(struct feeds_rbl_conf *conf, const struct feeds_view *v, struct feeds_http **h,
                    struct feeds_decisions **d, struct rn_metrics *m)
{
	struct feeds_http_conf hc = {.listen = "127.0.0.1:0",
	                             .max_conns = 8,
	                             .max_per_client = 8,
	                             .header_ms = 10000,
	                             .idle_ms = 10000};
	RN_PASS(feeds_http_start(h, &hc, m));
	RN_PASS(feeds_decisions_start(d, *h, conf, v, m));
}

static void test_restart(void **state)
{
	(void)state;
	char keys[] = "/tmp/repnet-decisions-test.XXXXXX";
	char dir[] = "/tmp/repnet-decisions-dir.XXXXXX";
	int kfd = mkstemp(keys);
	assert_true(kfd >= 0);
	RN_PASS(rn_write_all(kfd, KEY "\n", strlen(KEY "\n")));
	close(kfd);
	assert_non_null(mkdtemp(dir));

	struct feeds_rbl_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.decisions_keys_file = keys;
	conf.decisions_duration_ms = 4 * 3600 * 1000;
	conf.decisions_max_bouncers = 4;
	conf.state_dir = dir;

	struct feeds_listview *lv;
	struct feeds_view view;
	struct feeds_view_entry e[] = {
	        entry("192.0.2.1", 1u << RN_CAT_SPAM_SOURCE, 0),
	        entry("198.51.100.0/24", 1u << RN_CAT_SCANNER, 0),
	};
	RN_PASS(feeds_listview_alloc(&lv, 64));
	RN_PASS(feeds_listview_apply(lv, e, RN_ARRAY_LEN(e), NULL, 0));
	feeds_listview_view(lv, &view);
	struct rn_metrics *m;
	struct feeds_http *h;
	struct feeds_decisions *d;
	RN_PASS(rn_metrics_alloc(&m));
	restart(&conf, &view, &h, &d, m);
	expect(feeds_http_port(h), "/v1/decisions/stream?startup=true", KEY, 200,
	       "{\"new\":[" D(1, "Ip", "192.0.2.1", "4h0m0s", "spam_source") "," D(
	               2, "Range", "198.51.100.0/24", "4h0m0s", "scanner") "],\"deleted\":[]}");
	feeds_http_stop(h);
	feeds_decisions_free(d);
	rn_metrics_free(m);

	/* While down: 192.0.2.1 is delisted, 192.0.2.9 listed. */
	struct feeds_view_entry add = entry("192.0.2.9", 1u << RN_CAT_HARVESTER, 0);
	RN_PASS(feeds_listview_apply(lv, &add, 1, &e[0].prefix, 1));
	RN_PASS(rn_metrics_alloc(&m));
	restart(&conf, &view, &h, &d, m);
	unsigned port = feeds_http_port(h);
	/* The bouncer kept running: its next poll is not a startup one. */
	expect(port, "/v1/decisions/stream?startup=false", KEY, 200,
	       "{\"new\":[" D(1, "Ip", "192.0.2.9", "4h0m0s", "harvester") "," D(
	               2, "Range", "198.51.100.0/24", "4h0m0s",
	               "scanner") "],\"deleted\":[" D(3, "Ip", "192.0.2.1", "0s", "") "]}");
	double v;
	RN_PASS(rn_metrics_value(m, "repnet_decisions_positions_restored_total", NULL, &v));
	assert_true(v == 1);
	/* Then deltas again, and the deletion is not repeated. */
	expect(port, "/v1/decisions/stream", KEY, 200, "{\"new\":[],\"deleted\":[]}");
	feeds_http_stop(h);
	feeds_decisions_free(d);
	rn_metrics_free(m);

	/* A bouncer that starts afresh gets no deletions. */
	RN_PASS(feeds_listview_apply(lv, NULL, 0, &add.prefix, 1));
	RN_PASS(rn_metrics_alloc(&m));
	restart(&conf, &view, &h, &d, m);
	expect(feeds_http_port(h), "/v1/decisions/stream?startup=true", KEY, 200,
	       "{\"new\":[" D(1, "Range", "198.51.100.0/24", "4h0m0s",
	                      "scanner") "],\"deleted\":[]}");
	feeds_http_stop(h);
	feeds_decisions_free(d);
	rn_metrics_free(m);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	feeds_listview_free(lv);
	unlink(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_stream),
	        cmocka_unit_test(test_live),
	        cmocka_unit_test(test_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
