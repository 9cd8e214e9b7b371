/*
 * http_test.c: the HTTP listener. The request reader on a table of heads
 * (accepted, refused, incomplete, too long); then the server over real
 * loopback sockets: GET and HEAD, 404 and 405, pipelined requests
 * answered in order, HTTP/1.0 and "Connection: close" ended after the
 * answer, a malformed head answered 400 and closed, a head trickled a
 * byte at a time closed at its deadline, and the connection cap (a client
 * with no connection displaces the oldest of the client holding the most).
 *
 * Clients bind 127.0.0.x sources to be distinct clients. Every wait is on
 * a condition (an answer, an EOF, a counter), bounded in time.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "feeds/http/http.h"
#include "feeds/http/request.h"
#include "test.h"
#include "loopback.h"

#define WAIT_MS 10000 /* the bound of every wait */

/* ---- the reader ---------------------------------------------------------- */

static int parse(const char *s, struct http_request *r, size_t *used)
{
	return http_req_parse((const uint8_t *)s, strlen(s), r, used);
}

static void test_parse_ok(void **state)
{
	(void)state;
	static struct http_request r;
	size_t used = 0;
	const char *a = "GET /v1/decisions/stream?startup=true HTTP/1.1\r\n"
	                "Host: x\r\nX-Api-Key:  secret \r\nAccept: */*\r\n\r\nGET / HTTP/1.1";
	RN_PASS(parse(a, &r, &used));
	assert_int_equal(used, strlen(a) - strlen("GET / HTTP/1.1"));
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.target, "/v1/decisions/stream?startup=true");
	assert_int_equal(r.minor, 1);
	assert_true(r.keep_alive);
	assert_int_equal(r.nhdr, 3);
	assert_string_equal(http_req_header(&r, "x-api-key"), "secret");
	assert_null(http_req_header(&r, "Cookie"));

	/* LF alone, empty lines before the request line, HTTP/1.0. */
	RN_PASS(parse("\r\n\nHEAD /metrics HTTP/1.0\nUser-Agent: t\n\n", &r, &used));
	assert_string_equal(r.method, "HEAD");
	assert_int_equal(r.minor, 0);
	assert_false(r.keep_alive);
	RN_PASS(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &used));
	assert_true(r.keep_alive);
	RN_PASS(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &r, &used));
	assert_false(r.keep_alive);
	RN_PASS(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\nEmpty:\r\n\r\n", &r, &used));
	assert_string_equal(http_req_header(&r, "empty"), "");
	RN_PASS(parse("OPTIONS * HTTP/1.1\r\n\r\n", &r, &used));
	assert_string_equal(r.target, "*");
}

static void test_parse_refused(void **state)
{
	(void)state;
	static struct http_request r;
	size_t used = 0;
	static const struct {
		const char *head;
		int rc;
	} rows[] = {
	        {"GET / HTTP/1.1\r\nHost: x\r\n", RN_ETRUNC},
	        {"GET / HTTP/1.1\r", RN_ETRUNC},
	        {"", RN_ETRUNC},
	        {"GET / HTTP/2.0\r\n\r\n", RN_EVERSION},
	        {"GET / HTTP/1.1 \r\n\r\n", RN_EPARSE},
	        {"GET  / HTTP/1.1\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.11\r\n\r\n", RN_EPARSE},
	        {"GET / http/1.1\r\n\r\n", RN_EPARSE},
	        {"GET x HTTP/1.1\r\n\r\n", RN_EPARSE},
	        {"GET http://h/ HTTP/1.1\r\n\r\n", RN_EPARSE},
	        {"G(T / HTTP/1.1\r\n\r\n", RN_EPARSE},
	        {"ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nHost x\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\n: x\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", RN_EPARSE},
	        {"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", RN_EUNSUPP},
	        {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", RN_EUNSUPP},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(rows); i++) {
		int rc = parse(rows[i].head, &r, &used);
		if (rc != rows[i].rc)
			fail_msg("row %zu: got %s, want %s", i, rn_strerror(rc),
			         rn_strerror(rows[i].rc));
	}
	/* A NUL inside a line. */
	static const uint8_t nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
	RN_FAILS_WITH(http_req_parse(nul, sizeof(nul) - 1, &r, &used), RN_EPARSE);
	/* One header more than the reader keeps. */
	char many[4096];
	size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "H%d: v\r\n", i);
	snprintf(many + o, sizeof(many) - o, "\r\n");
	RN_FAILS_WITH(parse(many, &r, &used), RN_ELIMIT);
	/* A head that HTTP_HEAD_MAX bytes do not hold, however it continues. */
	static char big[HTTP_HEAD_MAX + 64];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	RN_FAILS_WITH(parse(big, &r, &used), RN_EOVERLONG);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
	RN_FAILS_WITH(parse(big, &r, &used), RN_EOVERLONG);
}

/* ---- the server ---------------------------------------------------------- */

struct fx {
	struct rn_metrics *m;
	struct feeds_http *h;
	unsigned port;
	_Atomic int calls;
};

static void hello(void *arg, const struct feeds_http_req *req, int *status, char **body,
                  size_t *len, const char **ctype)
{
	struct fx *f = arg;
	atomic_fetch_add(&f->calls, 1);
	const char *k = req->header(req, "X-Api-Key");
	if (k == NULL) {
		*status = 403;
		return;
	}
	char b[256];
	int n = snprintf(b, sizeof(b), "hello %s %s\n", req->uri, k);
	*body = strdup(b);
	*len = (size_t)n;
	*ctype = "text/plain";
}

static void fx_start(struct fx *f, size_t max_conns, int64_t header_ms)
{
	memset(f, 0, sizeof(*f));
	RN_PASS(rn_metrics_alloc(&f->m));
	struct feeds_http_conf c = {.listen = "127.0.0.1:0",
	                            .max_conns = max_conns,
	                            .max_per_client = 8,
	                            .header_ms = header_ms,
	                            .idle_ms = 60000};
	RN_PASS(feeds_http_start(&f->h, &c, f->m));
	f->port = feeds_http_port(f->h);
	assert_true(f->port > 0);
	RN_PASS(feeds_http_handle(f->h, "/hello", hello, f));
	RN_FAILS_WITH(feeds_http_handle(f->h, "/hello", hello, f), RN_EEXIST);
}

static void fx_stop(struct fx *f)
{
	feeds_http_stop(f->h);
	rn_metrics_free(f->m);
}

static double metric(struct fx *f, const char *name, const char *labels)
{
	double v = -1;
	RN_PASS(rn_metrics_value(f->m, name, labels, &v));
	return v;
}

static bool wait_metric(struct fx *f, const char *name, const char *labels, double want)
{
	int64_t end = rn_time_mono_ms() + WAIT_MS;
	while (metric(f, name, labels) < want) {
		if (rn_time_mono_ms() > end)
			return false;
		rn_time_sleep_ms(2);
	}
	return true;
}

static int cli(struct fx *f, const char *src)
{
	return rn_test_dial(src, f->port, false);
}

static void say(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/*
 * Reads one answer: its status, and its body (Content-Length bytes) into
 * body. False on EOF, error or timeout before it is whole.
 */
static bool answer(int fd, int *status, char *body, size_t cap)
{
	char buf[4096];
	size_t n = 0;
	char *end = NULL;
	while (end == NULL) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (n + 1 >= sizeof(buf) || poll(&p, 1, WAIT_MS) != 1)
			return false;
		ssize_t k = recv(fd, buf + n, 1, 0); /* a byte at a time: nothing past the answer */
		if (k <= 0)
			return false;
		n += (size_t)k;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	const char *cl = strstr(buf, "Content-Length: ");
	if (sscanf(buf, "HTTP/1.1 %d", status) != 1 || cl == NULL)
		return false;
	size_t len = strtoul(cl + 16, NULL, 10), got = 0;
	if (len >= cap)
		return false;
	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, WAIT_MS) != 1)
			return false;
		ssize_t k = recv(fd, body + got, len - got, 0);
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	body[len] = '\0';
	return true;
}

/* True when the server closes fd (EOF or reset) within WAIT_MS, after any data. */
static bool closed(int fd)
{
	char c[512];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, WAIT_MS) != 1)
			return false;
		ssize_t k = recv(fd, c, sizeof(c), MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0)
			return false;
	}
}

static void test_serve(void **state)
{
	(void)state;
	struct fx f;
	char body[65536];
	int st = 0;
	fx_start(&f, 16, 5000);
	int a = cli(&f, "127.0.0.1");
	/* Three pipelined requests, answered in order on one connection. */
	say(a, "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nX-Api-Key: k1\r\n\r\n"
	       "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
	       "POST /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_int_equal(st, 200);
	assert_string_equal(body, "hello /hello?x=1 k1\n");
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_int_equal(st, 404);
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_int_equal(st, 405);
	/* The handler's own status; then /metrics, larger than the output buffer. */
	say(a, "GET /hello HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n");
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_int_equal(st, 403);
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_int_equal(st, 200);
	assert_non_null(strstr(body, "repnet_http_requests_total{path=\"/hello\"} 2"));
	assert_non_null(strstr(body, "repnet_http_refused_total{status=\"404\"} 1"));
	/* HEAD: the head only; the next answer follows at once. */
	say(a, "HEAD /hello HTTP/1.1\r\nX-Api-Key: k\r\n\r\nGET /hello HTTP/1.1\r\nX-Api-Key: "
	       "k2\r\n\r\n");
	char head[512] = "";
	size_t n = 0;
	while (strstr(head, "\r\n\r\n") == NULL) {
		struct pollfd p = {.fd = a, .events = POLLIN};
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_true(n + 1 < sizeof(head));
		assert_int_equal(recv(a, head + n, 1, 0), 1);
		head[++n] = '\0';
	}
	assert_non_null(strstr(head, "Content-Length: 15\r\n"));
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_string_equal(body, "hello /hello k2\n");
	/* HTTP/1.0: answered, then closed. */
	int b = cli(&f, "127.0.0.1");
	say(b, "GET /hello HTTP/1.0\r\nX-Api-Key: k\r\n\r\n");
	assert_true(answer(b, &st, body, sizeof(body)));
	assert_true(closed(b));
	close(b);
	/* Malformed: 400, closed; the other connection goes on. */
	b = cli(&f, "127.0.0.1");
	say(b, "GET /hello HTTP/1.1\r\nno colon\r\n\r\n");
	assert_true(answer(b, &st, body, sizeof(body)));
	assert_int_equal(st, 400);
	assert_true(closed(b));
	close(b);
	say(a, "GET /hello HTTP/1.1\r\nX-Api-Key: k3\r\nConnection: close\r\n\r\n");
	assert_true(answer(a, &st, body, sizeof(body)));
	assert_string_equal(body, "hello /hello k3\n");
	assert_true(closed(a));
	close(a);
	assert_true(metric(&f, "repnet_http_refused_total", "status=\"400\"") == 1);
	assert_true(metric(&f, "repnet_http_refused_total", "status=\"405\"") == 1);
	fx_stop(&f);
}

/*
 * A head trickled a byte at a time is closed at its deadline (the bytes
 * do not extend it); so is one never sent after its first byte; and a
 * client with no connection displaces the oldest of the client holding
 * the most when the listener is full.
 */
static void test_deadline_and_cap(void **state)
{
	(void)state;
	struct fx f;
	char body[4096];
	int st = 0;
	fx_start(&f, 2, 300);
	int a = cli(&f, "127.0.0.10");
	int b = cli(&f, "127.0.0.10");
	say(b, "G");
	const char *req = "GET /hello HTTP/1.1\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	bool cut = false;
	for (size_t i = 0; req[i] != '\0' && !cut; i++) {
		cut = send(a, req + i, 1, MSG_NOSIGNAL) != 1;
		rn_time_sleep_ms(30);
	}
	assert_true(closed(a));
	assert_true(closed(b));
	assert_true(wait_metric(&f, "repnet_connections_total",
	                        "listener=\"http\",outcome=\"deadline_closed\"", 2));
	close(a);
	close(b);
	/* Full with two idle connections of one client: a newcomer displaces one. */
	a = cli(&f, "127.0.0.11");
	b = cli(&f, "127.0.0.11");
	assert_true(wait_metric(&f, "repnet_connections_open", "listener=\"http\"", 2));
	int c = cli(&f, "127.0.0.1");
	say(c, "GET /hello HTTP/1.1\r\nX-Api-Key: k\r\n\r\n");
	assert_true(answer(c, &st, body, sizeof(body)));
	assert_int_equal(st, 200);
	assert_true(closed(a));
	assert_true(metric(&f, "repnet_connections_total",
	                   "listener=\"http\",outcome=\"evicted_full\"") == 1);
	close(a);
	close(b);
	close(c);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_ok),
	        cmocka_unit_test(test_parse_refused),
	        cmocka_unit_test(test_serve),
	        cmocka_unit_test(test_deadline_and_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
