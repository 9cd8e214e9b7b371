/*
 * http.c: the HTTP listener: GET (and HEAD) requests on the connection
 * server, /metrics, and the handlers registered with feeds_http_handle().
 *
 * Design notes.
 *
 * Why not nng's HTTP server. nng 1.5.2's server (the one this listener
 * used before) sets no deadline on reading a request, so a client that
 * sends its headers slowly, or not at all, holds a connection and its
 * descriptor for as long as it likes; it has no cap on connections; and
 * when accept() fails with EMFILE it accepts again at once, which spins
 * its threads while descriptors are short. The connection server
 * (rn_connsrv) already has what is missing: a cap per listener and per
 * client (a client holding fewer connections displaces the oldest of the
 * client holding the most), a deadline for a request's head from its
 * first byte that trickled bytes do not extend (http.header_timeout, which
 * also bounds how long the answer may take to be read), an idle timeout
 * between requests, and a paused listener on EMFILE. So the listener is a
 * small HTTP/1.1 server on it: request heads are read by request.c, which
 * refuses bodies, and answered with Content-Length; HTTP/1.1 keeps the
 * connection, HTTP/1.0 and "Connection: close" end it once the answer
 * has gone (rn_conn_end()). An answer's body goes out from the heap buffer
 * the handler made (rn_conn_send_heap()), never copied.
 *
 * Threads. Everything runs on the connection server's one thread: the
 * parser, /metrics (the registry has its own lock), and the handlers,
 * which therefore must not block for long. Handlers are appended by
 * feeds_http_handle() from another thread while requests may arrive: a
 * slot is filled, then the count is published with a release store, and
 * the server reads the count with an acquire load. Handlers are never
 * removed; feeds_http_stop() joins the thread before freeing them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/http/http.h"
#include "feeds/http/request.h"

/* A handler added with feeds_http_handle(). */
struct http_ext {
	char path[64];
	feeds_http_fn fn;
	void *arg;
	bool post; /* POST only (an action), else GET and HEAD */
	char labels[96];
	struct rn_counter requests;
};
#define HTTP_EXT_MAX 8
#define HTTP_OUT_MAX 1024 /* the status line and headers of one answer */
#define HTTP_SCODE_N 5

/* Requests refused before a handler, by status. */
static const int refusal_codes[HTTP_SCODE_N] = {400, 404, 405, 431, 505};

struct feeds_http {
	struct rn_connsrv *srv;
	struct rn_metrics *metrics;
	unsigned port;
	struct http_ext *ext[HTTP_EXT_MAX];
	_Atomic size_t next;
	pthread_mutex_t reg; /* serialises feeds_http_handle() */
	struct rn_counter req_metrics, req_errors;
	struct rn_counter refused[HTTP_SCODE_N];
	struct http_request req; /* the server thread's */
};

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Status";
	}
}

/*
 * Writes the status line and headers of an answer with a body of len
 * bytes; the connection ends after it unless keep.
 */
static int write_head(struct rn_conn *c, int status, const char *ctype, size_t len, bool keep,
                      const char *extra)
{
	char *p = (char *)rn_conn_reserve(c, HTTP_OUT_MAX);
	if (p == NULL)
		return RN_ELIMIT;
	int n = snprintf(p, HTTP_OUT_MAX,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
	                 status, reason(status), ctype, len, keep ? "" : "Connection: close\r\n",
	                 extra != NULL ? extra : "");
	if (n < 0 || n >= HTTP_OUT_MAX)
		return RN_ELIMIT;
	rn_conn_commit(c, (size_t)n);
	if (!keep)
		rn_conn_end(c);
	return RN_OK;
}

/* Answers a request no handler takes: a short text body from the output buffer. */
static int refuse(struct feeds_http *h, struct rn_conn *c, int status, bool keep, const char *extra)
{
	for (int i = 0; i < HTTP_SCODE_N; i++)
		if (refusal_codes[i] == status)
			rn_counter_inc(&h->refused[i]);
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	int rc = write_head(c, status, "text/plain; charset=utf-8", (size_t)n, keep, extra);
	if (rc == RN_OK)
		rc = rn_conn_write(c, body, (size_t)n);
	return rc;
}

static void metrics_get(struct feeds_http *h, int *status, char **body, size_t *len,
                        const char **ctype)
{
	rn_counter_inc(&h->req_metrics);
	if (rn_metrics_render(h->metrics, body, len) != RN_OK) {
		*status = 500;
		*body = NULL;
		*len = 0;
		return;
	}
	*ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static const char *req_header(const struct feeds_http_req *r, const char *name)
{
	return http_req_header(r->impl_, name);
}

static struct http_ext *ext_find(struct feeds_http *h, const char *path, size_t plen)
{
	size_t n = atomic_load_explicit(&h->next, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (strlen(h->ext[i]->path) == plen && memcmp(h->ext[i]->path, path, plen) == 0)
			return h->ext[i];
	return NULL;
}

/* The connection server's handler: one request at a time. */
static int http_data(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used)
{
	struct feeds_http *h = arg;
	struct http_request *r = &h->req;
	size_t n = 0;
	*used = 0;
	int rc = http_req_parse(in, len, r, &n);
	if (rc == RN_ETRUNC)
		return RN_OK; /* more to come, within the head deadline */
	if (rc != RN_OK) {
		char who[RN_ADDR_STRLEN + 16];
		rn_conn_peer(c, who, sizeof(who));
		log_warnx_rl("http: %s: request refused: %s", who, rn_strerror(rc));
		*used = len;
		int status = rc == RN_EVERSION                       ? 505
		             : rc == RN_EOVERLONG || rc == RN_ELIMIT ? 431
		                                                     : 400;
		return refuse(h, c, status, false, NULL);
	}
	*used = n;
	const char *t = r->target;
	size_t plen = strcspn(t, "?");
	bool head = strcmp(r->method, "HEAD") == 0;
	bool is_metrics = h->metrics != NULL && plen == 8 && memcmp(t, "/metrics", 8) == 0;
	struct http_ext *x = is_metrics ? NULL : ext_find(h, t, plen);
	if (!is_metrics && x == NULL)
		return refuse(h, c, 404, r->keep_alive, NULL);
	if (x != NULL && x->post) {
		if (strcmp(r->method, "POST") != 0)
			return refuse(h, c, 405, r->keep_alive, "Allow: POST\r\n");
	} else if (!head && strcmp(r->method, "GET") != 0) {
		return refuse(h, c, 405, r->keep_alive, "Allow: GET, HEAD\r\n");
	}
	int status = 200;
	char *body = NULL;
	size_t blen = 0;
	const char *ctype = "text/plain; charset=utf-8";
	if (is_metrics) {
		metrics_get(h, &status, &body, &blen, &ctype);
	} else {
		struct feeds_http_req fr = {.uri = t, .header = req_header, .impl_ = r};
		rn_counter_inc(&x->requests);
		x->fn(x->arg, &fr, &status, &body, &blen, &ctype);
	}
	if (status >= 500)
		rn_counter_inc(&h->req_errors);
	if (body == NULL)
		blen = 0;
	rc = write_head(c, status, ctype, blen, r->keep_alive, NULL);
	if (rc == RN_OK && !head && body != NULL) {
		rc = rn_conn_send_heap(c, body, blen);
		if (rc == RN_OK)
			body = NULL;
	}
	free(body);
	return rc;
}

static int register_metrics(struct feeds_http *h)
{
	struct rn_metrics *m = h->metrics;
	int rc = rn_metrics_counter(m, h, "repnet_http_requests_total",
	                            "HTTP requests served, by path.", "path=\"/metrics\"",
	                            &h->req_metrics);
	rc = rc ? rc
	        : rn_metrics_counter(m, h, "repnet_http_errors_total",
	                             "HTTP requests that failed inside repnet.", NULL,
	                             &h->req_errors);
	for (int i = 0; i < HTTP_SCODE_N && rc == RN_OK; i++) {
		char lab[32];
		snprintf(lab, sizeof(lab), "status=\"%d\"", refusal_codes[i]);
		rc = rn_metrics_counter(m, h, "repnet_http_refused_total",
		                        "HTTP requests answered with an error before any handler, "
		                        "by status.",
		                        lab, &h->refused[i]);
	}
	return rc;
}

static int handle_add(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg,
                      bool post);

int feeds_http_handle(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg)
{
	return handle_add(h, path, fn, arg, false);
}

int feeds_http_handle_post(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg)
{
	return handle_add(h, path, fn, arg, true);
}

static int handle_add(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg,
                      bool post)
{
	if (strlen(path) >= sizeof(((struct http_ext *)NULL)->path) || path[0] != '/')
		return RN_ECONF;
	pthread_mutex_lock(&h->reg);
	size_t n = atomic_load_explicit(&h->next, memory_order_relaxed);
	int rc = RN_OK;
	struct http_ext *x = NULL;
	if (n == HTTP_EXT_MAX || strcmp(path, "/metrics") == 0 || ext_find(h, path, strlen(path))) {
		rc = n == HTTP_EXT_MAX ? RN_ELIMIT : RN_EEXIST;
		goto out;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(x->path, sizeof(x->path), "%s", path);
	x->fn = fn;
	x->arg = arg;
	x->post = post;
	char esc[64];
	rn_metrics_escape(path, esc, sizeof(esc));
	snprintf(x->labels, sizeof(x->labels), "path=\"%s\"", esc);
	if (h->metrics != NULL)
		rc = rn_metrics_counter(h->metrics, h, "repnet_http_requests_total",
		                        "HTTP requests served, by path.", x->labels, &x->requests);
	if (rc != RN_OK) {
		free(x);
		goto out;
	}
	h->ext[n] = x;
	atomic_store_explicit(&h->next, n + 1, memory_order_release);
out:
	pthread_mutex_unlock(&h->reg);
	return rc;
}

int feeds_http_start(struct feeds_http **out, const struct feeds_http_conf *conf,
                     struct rn_metrics *m)
{
	struct feeds_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	pthread_mutex_init(&h->reg, NULL);
	h->metrics = m;
	struct rn_connsrv_conf sc = {
	        .name = "http",
	        .max_conns = conf->max_conns,
	        .max_per_client = conf->max_per_client,
	        .idle_ms = conf->idle_ms,
	        .msg_ms = conf->header_ms,
	        .in_max = HTTP_HEAD_MAX,
	        .out_max = HTTP_OUT_MAX,
	        .ops = {.data = http_data},
	        .arg = h,
	};
	struct rn_connsrv_listen l = {.name = "http", .hostport = conf->listen, .v6only = true};
	int rc = rn_connsrv_alloc(&h->srv, &sc, m);
	if (rc == RN_OK && (rc = rn_connsrv_listen(h->srv, &l, &h->port)) != RN_OK)
		log_warnx("http: cannot listen on %s: %s", conf->listen, rn_strerror(rc));
	if (rc == RN_OK && m != NULL)
		rc = register_metrics(h);
	if (rc == RN_OK)
		rc = rn_connsrv_start(h->srv);
	if (rc != RN_OK) {
		feeds_http_stop(h);
		return rc;
	}
	*out = h;
	return RN_OK;
}

unsigned feeds_http_port(const struct feeds_http *h)
{
	return h->port;
}

void feeds_http_stop(struct feeds_http *h)
{
	if (h == NULL)
		return;
	rn_connsrv_free(h->srv);
	if (h->metrics != NULL)
		rn_metrics_unregister(h->metrics, h);
	for (size_t i = 0; i < atomic_load(&h->next); i++)
		free(h->ext[i]);
	pthread_mutex_destroy(&h->reg);
	free(h);
}
