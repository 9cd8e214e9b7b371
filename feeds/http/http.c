/*
 * http.c: the HTTP listener (nng's HTTP server) and the /metrics handler.
 *
 * Design notes: nng runs handlers on its own worker threads. The metrics
 * handler only reads the registry, which has its own lock, and the
 * request counters, which are atomic, so handlers need no lock of ours.
 * feeds_http_stop() stops the server first: nng_http_server_stop() waits
 * for handlers in flight, so nothing touches h after it returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "feeds/http/http.h"

/* A handler added with feeds_http_handle(). */
struct http_ext {
	struct feeds_http *h;
	feeds_http_fn fn;
	void *arg;
	char labels[96];
	struct rn_counter requests;
};
#define HTTP_EXT_MAX 8

struct feeds_http {
	struct http_ext *ext[HTTP_EXT_MAX];
	size_t next;
	nng_http_server *srv;
	nng_url *url;
	struct rn_metrics *metrics;
	unsigned port;
	struct rn_counter req_metrics;
	struct rn_counter req_errors;
};

static void metrics_cb(nng_aio *aio)
{
	nng_http_handler *hh = nng_aio_get_input(aio, 1);
	struct feeds_http *h = nng_http_handler_get_data(hh);
	nng_http_res *res = NULL;
	char *body = NULL;
	size_t len = 0;
	int rv;

	rn_counter_add_shared(&h->req_metrics, 1);
	if (rn_metrics_render(h->metrics, &body, &len) != RN_OK) {
		rn_counter_add_shared(&h->req_errors, 1);
		if (nng_http_res_alloc_error(&res, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR) != 0) {
			nng_aio_finish(aio, NNG_ENOMEM);
			return;
		}
		nng_aio_set_output(aio, 0, res);
		nng_aio_finish(aio, 0);
		return;
	}
	if ((rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type",
	                                  "text/plain; version=0.0.4; charset=utf-8")) != 0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		free(body);
		nng_http_res_free(res);
		rn_counter_add_shared(&h->req_errors, 1);
		nng_aio_finish(aio, rv);
		return;
	}
	free(body);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static const char *ext_header(const struct feeds_http_req *r, const char *name)
{
	return nng_http_req_get_header(r->impl_, name);
}

static void ext_cb(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *hh = nng_aio_get_input(aio, 1);
	struct http_ext *x = nng_http_handler_get_data(hh);
	struct feeds_http_req r = {
	        .uri = nng_http_req_get_uri(req), .header = ext_header, .impl_ = req};
	nng_http_res *res = NULL;
	int status = 200, rv;
	char *body = NULL;
	size_t len = 0;
	const char *ctype = "text/plain; charset=utf-8";

	rn_counter_add_shared(&x->requests, 1);
	x->fn(x->arg, &r, &status, &body, &len, &ctype);
	if ((rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_http_res_set_status(res, (uint16_t)status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", ctype)) != 0 ||
	    (body != NULL && (rv = nng_http_res_copy_data(res, body, len)) != 0)) {
		free(body);
		nng_http_res_free(res);
		rn_counter_add_shared(&x->h->req_errors, 1);
		nng_aio_finish(aio, rv);
		return;
	}
	free(body);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int feeds_http_handle(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg)
{
	nng_http_handler *hh = NULL;
	int rv;
	if (h->next == HTTP_EXT_MAX)
		return RN_ELIMIT;
	struct http_ext *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->h = h;
	x->fn = fn;
	x->arg = arg;
	char esc[64];
	rn_metrics_escape(path, esc, sizeof(esc));
	snprintf(x->labels, sizeof(x->labels), "path=\"%s\"", esc);
	if ((rv = nng_http_handler_alloc(&hh, path, ext_cb)) != 0 ||
	    (rv = nng_http_handler_set_method(hh, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(hh, x, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(h->srv, hh)) != 0) {
		log_warnx("http: handler %s: %s", path, nng_strerror(rv));
		nng_http_handler_free(hh);
		free(x);
		return RN_EBUS;
	}
	h->ext[h->next++] = x;
	rn_metrics_counter(h->metrics, h, "repnet_http_requests_total",
	                   "HTTP requests served, by path.", x->labels, &x->requests);
	return RN_OK;
}

int feeds_http_start(struct feeds_http **out, const char *listen, struct rn_metrics *m)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	char url[96];
	nng_http_handler *hh = NULL;
	int rv, rc;

	rc = rn_hostport_parse(listen, &ss, &sslen);
	if (rc != RN_OK)
		return rc;
	struct feeds_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->metrics = m;
	snprintf(url, sizeof(url), "http://%s", listen);
	if ((rv = nng_url_parse(&h->url, url)) != 0 ||
	    (rv = nng_http_server_hold(&h->srv, h->url)) != 0) {
		log_warnx("http: %s: %s", listen, nng_strerror(rv));
		rc = RN_EBUS;
		goto fail;
	}
	if ((rv = nng_http_handler_alloc(&hh, "/metrics", metrics_cb)) != 0 ||
	    (rv = nng_http_handler_set_method(hh, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(hh, h, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(h->srv, hh)) != 0) {
		log_warnx("http: handler: %s", nng_strerror(rv));
		nng_http_handler_free(hh);
		rc = RN_EBUS;
		goto fail;
	}
	if ((rv = nng_http_server_start(h->srv)) != 0) {
		log_warnx("http: cannot listen on %s: %s", listen, nng_strerror(rv));
		rc = rv == NNG_EADDRINUSE ? -EADDRINUSE : RN_EBUS;
		goto fail;
	}
	nng_sockaddr sa;
	if (nng_http_server_get_addr(h->srv, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			h->port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			h->port = ntohs(sa.s_in6.sa_port);
	}
	rn_metrics_counter(m, h, "repnet_http_requests_total", "HTTP requests served, by path.",
	                   "path=\"/metrics\"", &h->req_metrics);
	rn_metrics_counter(m, h, "repnet_http_errors_total",
	                   "HTTP requests that failed inside repnet.", NULL, &h->req_errors);
	*out = h;
	return RN_OK;
fail:
	if (h->srv != NULL)
		nng_http_server_release(h->srv);
	nng_url_free(h->url);
	free(h);
	return rc;
}

unsigned feeds_http_port(const struct feeds_http *h)
{
	return h->port;
}

void feeds_http_stop(struct feeds_http *h)
{
	if (h == NULL)
		return;
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv);
	rn_metrics_unregister(h->metrics, h);
	for (size_t i = 0; i < h->next; i++)
		free(h->ext[i]);
	nng_url_free(h->url);
	free(h);
}
