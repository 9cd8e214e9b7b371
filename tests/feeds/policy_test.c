/*
 * policy_test.c: the policy request reader, and the policy service over
 * TCP and a unix socket: answers per listing and state, connections kept
 * open across requests, unknown attributes ignored, a malformed request
 * closing the connection, and the counters; the unix socket's mode and
 * group (policy.unix_mode, policy.unix_group) and their defaults.
 */
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "feeds/rbl/policy.h"
#include "test.h"

#define REQ(state, addr) \
	"request=smtpd_access_policy\nprotocol_state=" state "\nclient_address=" addr "\n"

static void test_parse(void **state)
{
	(void)state;
	struct policy_req r;
	size_t used;
	const char *ok = REQ("RCPT", "192.0.2.1") "unknown_attr=whatever=x\nsasl_username=\n\n";
	RN_PASS(policy_req_parse((const uint8_t *)ok, strlen(ok), &r, &used));
	assert_int_equal(used, strlen(ok));
	assert_string_equal(r.request, "smtpd_access_policy");
	assert_string_equal(r.protocol_state, "RCPT");
	assert_string_equal(r.client_address, "192.0.2.1");
	assert_int_equal(r.attrs, 5);
	/* Two requests back to back: the first is read, the rest left. */
	char two[512];
	snprintf(two, sizeof(two), "%s\n%s\n", REQ("RCPT", "a"), REQ("DATA", "b"));
	RN_PASS(policy_req_parse((const uint8_t *)two, strlen(two), &r, &used));
	assert_string_equal(r.client_address, "a");
	RN_PASS(policy_req_parse((const uint8_t *)two + used, strlen(two) - used, &r, &used));
	assert_string_equal(r.protocol_state, "DATA");
	/* Incomplete: needs more. */
	RN_FAILS_WITH(policy_req_parse((const uint8_t *)ok, 20, &r, &used), RN_ETRUNC);
	RN_FAILS_WITH(policy_req_parse((const uint8_t *)ok, strlen(ok) - 1, &r, &used), RN_ETRUNC);
	/* Malformed. */
	const char *bad[] = {"request=smtpd_access_policy\nno equals\n\n", "=value\n\n",
	                     "protocol_state=RCPT\n\n", "request=smtpd_access_policy\nna me=x\n\n"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS_WITH(policy_req_parse((const uint8_t *)bad[i], strlen(bad[i]), &r, &used),
		              RN_EPARSE);
	const uint8_t nul[] = "request=smtpd_access_policy\nx=a\0b\n\n";
	RN_FAILS_WITH(policy_req_parse(nul, sizeof(nul) - 1, &r, &used), RN_EPARSE);
	/* An over-long line, complete or not. */
	char *lng = malloc(POLICY_LINE_MAX + 64);
	memset(lng, 'a', POLICY_LINE_MAX + 10);
	memcpy(lng, "x=", 2);
	RN_FAILS_WITH(policy_req_parse((uint8_t *)lng, POLICY_LINE_MAX + 10, &r, &used),
	              RN_EOVERLONG);
	lng[POLICY_LINE_MAX + 10] = '\n';
	RN_FAILS_WITH(policy_req_parse((uint8_t *)lng, POLICY_LINE_MAX + 11, &r, &used),
	              RN_EOVERLONG);
	free(lng);
	/* Long values are cut, not overflowed. */
	char lv[600];
	snprintf(lv, sizeof(lv), "request=smtpd_access_policy\nclient_address=%0300d\n\n", 1);
	RN_PASS(policy_req_parse((const uint8_t *)lv, strlen(lv), &r, &used));
	assert_int_equal(strlen(r.client_address), POLICY_VALUE_MAX - 1);
}

/* Sends text, reads one answer (up to "\n\n") or EOF; returns the length. */
static ssize_t roundtrip(int fd, const char *text, char *ans, size_t anslen)
{
	size_t n = 0;
	if (text != NULL)
		assert_int_equal(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t k = recv(fd, ans + n, anslen - 1 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
		ans[n] = '\0';
		if (n >= 2 && strstr(ans, "\n\n") != NULL)
			break;
	}
	ans[n] = '\0';
	return (ssize_t)n;
}

static int connect_tcp(unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void test_server(void **state)
{
	(void)state;
	struct feeds_listview *lv;
	struct feeds_view v;
	struct feeds_policy *p;
	struct rn_metrics *m;
	struct feeds_rbl_conf c;
	char sock[64], ans[1024];
	static char *defer[] = {"scanner"};
	double val;

	RN_PASS(rn_metrics_alloc(&m));
	RN_PASS(feeds_listview_alloc(&lv, 0));
	feeds_listview_view(lv, &v);
	struct feeds_view_entry e[3];
	memset(e, 0, sizeof(e));
	RN_PASS(rn_prefix_parse_str("192.0.2.1", true, &e[0].prefix));
	e[0].categories = 1u << RN_CAT_SPAM_SOURCE | 1u << RN_CAT_SCANNER;
	RN_PASS(rn_prefix_parse_str("198.51.100.0/24", true, &e[1].prefix));
	e[1].categories = 1u << RN_CAT_SCANNER;
	RN_PASS(rn_prefix_parse_str("2001:db8::/32", true, &e[2].prefix));
	e[2].categories = 1u << RN_CAT_SASL_BRUTEFORCE;
	RN_PASS(feeds_listview_apply(lv, e, 3, NULL, 0));

	snprintf(sock, sizeof(sock), "/tmp/repnet-policy-test.%d", (int)getpid());
	memset(&c, 0, sizeof(c));
	c.policy_listen = "127.0.0.1:0";
	c.policy_unix = sock;
	c.policy_states = 1u << 4 | 1u << 6; /* rcpt, end-of-message */
	c.policy_text = "Listed by repnet: %c ($)";
	c.policy_defer = (struct rn_strlist){defer, 1};
	c.policy_max_conns = 2;
	c.policy_idle_ms = 60000;
	c.policy_max_per_client = 2;
	c.policy_request_timeout_ms = 60000;
	RN_PASS(feeds_policy_start(&p, &c, &v, m));

	int fd = connect_tcp(feeds_policy_port(p));
	roundtrip(fd, REQ("RCPT", "192.0.2.1") "foo=bar\n\n", ans, sizeof(ans));
	assert_string_equal(ans,
	                    "action=REJECT Listed by repnet: spam_source,scanner (192.0.2.1)\n\n");
	/* The same connection serves the next requests. */
	roundtrip(fd, REQ("RCPT", "198.51.100.77") "\n", ans, sizeof(ans));
	assert_string_equal(ans,
	                    "action=DEFER_IF_PERMIT Listed by repnet: scanner (198.51.100.77)\n\n");
	roundtrip(fd, REQ("RCPT", "192.0.2.2") "\n", ans, sizeof(ans));
	assert_string_equal(ans, "action=DUNNO\n\n");
	/* Not a checked state. */
	roundtrip(fd, REQ("CONNECT", "192.0.2.1") "\n", ans, sizeof(ans));
	assert_string_equal(ans, "action=DUNNO\n\n");
	roundtrip(fd, REQ("END-OF-MESSAGE", "2001:db8::5") "\n", ans, sizeof(ans));
	assert_string_equal(ans,
	                    "action=REJECT Listed by repnet: sasl_bruteforce (2001:db8::5)\n\n");
	/* Two requests in one write: two answers. */
	roundtrip(fd, REQ("RCPT", "192.0.2.2") "\n" REQ("RCPT", "192.0.2.3") "\n", ans,
	          sizeof(ans));
	if (strcmp(ans, "action=DUNNO\n\naction=DUNNO\n\n") != 0) {
		char more[256];
		roundtrip(fd, NULL, more, sizeof(more));
		strcat(ans, more);
	}
	assert_string_equal(ans, "action=DUNNO\n\naction=DUNNO\n\n");

	/* The unix socket, and the connection cap (2: the third is closed). */
	int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, sock);
	assert_int_equal(connect(ufd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	roundtrip(ufd, REQ("RCPT", "::ffff:192.0.2.1") "\n", ans, sizeof(ans));
	assert_string_equal(ans,
	                    "action=REJECT Listed by repnet: spam_source,scanner (192.0.2.1)\n\n");
	int extra = connect_tcp(feeds_policy_port(p));
	assert_int_equal(roundtrip(extra, NULL, ans, sizeof(ans)), 0);
	close(extra);

	/* Malformed: no answer, the connection is closed. */
	assert_int_equal(
	        roundtrip(fd, "request=smtpd_access_policy\nbroken line\n\n", ans, sizeof(ans)), 0);
	close(fd);
	close(ufd);

	RN_PASS(rn_metrics_value(m, "repnet_policy_requests_total", "action=\"reject\"", &val));
	assert_true(val == 3);
	RN_PASS(rn_metrics_value(m, "repnet_policy_requests_total", "action=\"defer_if_permit\"",
	                         &val));
	assert_true(val == 1);
	RN_PASS(rn_metrics_value(m, "repnet_policy_requests_total", "action=\"dunno\"", &val));
	assert_true(val == 4);
	RN_PASS(rn_metrics_value(m, "repnet_policy_malformed_total", NULL, &val));
	assert_true(val == 1);
	RN_PASS(rn_metrics_value(m, "repnet_connections_total",
	                         "listener=\"policy\",outcome=\"refused\"", &val));
	assert_true(val == 1);
	feeds_policy_stop(p);
	assert_int_equal(access(sock, F_OK), -1); /* the socket file is removed */
	feeds_policy_stop(NULL);
	feeds_listview_free(lv);
	rn_metrics_free(m);
}

static void test_mode_parse(void **state)
{
	(void)state;
	unsigned m;
	RN_PASS(feeds_policy_mode_parse("0660", &m));
	assert_int_equal(m, 0660);
	RN_PASS(feeds_policy_mode_parse("600", &m));
	assert_int_equal(m, 0600);
	RN_PASS(feeds_policy_mode_parse("0666", &m));
	const char *bad[] = {"0755", "0440", "0670",  "1660", "066", "06600",
	                     "0x60", "",     "0o660", "0680", "0460"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		RN_FAILS_WITH(feeds_policy_mode_parse(bad[i], &m), RN_EPARSE);
}

/* Starts a unix-only policy service on sock with group and mode; returns its rc. */
static int start_unix(const char *sock, char *group, char *mode, struct stat *st)
{
	struct feeds_listview *lv;
	struct feeds_view v;
	struct feeds_policy *p = NULL;
	struct feeds_rbl_conf c;
	RN_PASS(feeds_listview_alloc(&lv, 0));
	feeds_listview_view(lv, &v);
	memset(&c, 0, sizeof(c));
	c.policy_unix = (char *)sock;
	c.policy_unix_group = group;
	c.policy_unix_mode = mode;
	c.policy_states = 1u << 4;
	c.policy_text = "x";
	c.policy_max_conns = 2;
	c.policy_idle_ms = 60000;
	c.policy_max_per_client = 2;
	c.policy_request_timeout_ms = 60000;
	int rc = feeds_policy_start(&p, &c, &v, NULL);
	if (rc == RN_OK)
		assert_int_equal(lstat(sock, st), 0);
	feeds_policy_stop(p);
	feeds_listview_free(lv);
	return rc;
}

static void test_unix_access(void **state)
{
	(void)state;
	char sock[64], gname[64];
	struct stat st;
	snprintf(sock, sizeof(sock), "/tmp/repnet-policy-mode.%d", (int)getpid());
	/* Our own group, explicitly, with a mode: both taken whatever the umask. */
	struct group *g = getgrgid(getegid());
	assert_non_null(g);
	snprintf(gname, sizeof(gname), "%s", g->gr_name);
	mode_t old = umask(0077);
	RN_PASS(start_unix(sock, gname, "0640", &st));
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_gid, getegid());
	/* The default: 0660 with group postfix where we can give it the socket, else 0600. */
	RN_PASS(start_unix(sock, NULL, NULL, &st));
	struct group *pf = getgrnam("postfix");
	if (pf != NULL && geteuid() == 0) {
		assert_int_equal(st.st_mode & 07777, 0660);
		assert_int_equal(st.st_gid, pf->gr_gid);
	} else if (pf == NULL) {
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* A group that does not exist is refused, and leaves no socket. */
	RN_FAILS_WITH(start_unix(sock, "no-such-group-repnet", NULL, &st), RN_ECONF);
	assert_int_equal(access(sock, F_OK), -1);
	umask(old);
}

RN_TEST_MAIN(test_parse, test_server, test_mode_parse, test_unix_access)
