/*
 * http.h: the HTTP listener (nng's HTTP server) that serves /metrics in
 * the Prometheus text format, and further GET handlers registered by the
 * daemon (/status) and the local RBL (the decision stream). It knows only
 * proto.
 */
#ifndef REPNET_FEEDS_HTTP_H
#define REPNET_FEEDS_HTTP_H

#include <stddef.h>

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* HTTP listener                                                       */
/* ------------------------------------------------------------------ */

/*
 * GET /metrics renders the registry in the Prometheus text format. The
 * listener serves HTTP/1.0 and 1.1 GET and HEAD requests without a body
 * on one thread, under caps and deadlines (see struct feeds_http_conf);
 * its connections are counted as repnet_connections_total{listener="http"}.
 * The registry must outlive the listener. Free with feeds_http_stop().
 */
struct feeds_http_conf {
	const char *listen;    /* "host:port" (port 0 picks a free one) */
	size_t max_conns;      /* open connections at most (>= 1) */
	size_t max_per_client; /* of one client (IPv4 address, IPv6 /64) at most (>= 1) */
	int64_t header_ms;     /* a request's head from its first byte, and its answer taken */
	int64_t idle_ms;       /* between requests */
};
struct feeds_http;
int feeds_http_start(struct feeds_http **out, const struct feeds_http_conf *conf,
                     struct rn_metrics *m);
/* The port actually bound. */
unsigned feeds_http_port(const struct feeds_http *h);
/* Stops serving, waits for handlers in flight, and frees h. Safe on NULL. */
void feeds_http_stop(struct feeds_http *h);

/*
 * A further GET handler on the listener, for one path (matched exactly,
 * without the query string). fn runs on the listener's thread, one
 * request at a time, so it must not block for long; it gets the request's
 * path with its query string and a header lookup, and fills *status (200
 * when left alone), *body (malloc'd; the listener takes it) and *ctype
 * (static). May be called while the listener serves; a handler lives as
 * long as the listener. RN_EEXIST for a path taken, RN_ELIMIT past 8.
 */
struct feeds_http_req {
	const char *uri; /* path and query, as received */
	const char *(*header)(const struct feeds_http_req *r, const char *name);
	void *impl_;
};
typedef void (*feeds_http_fn)(void *arg, const struct feeds_http_req *req, int *status, char **body,
                              size_t *len, const char **ctype);
int feeds_http_handle(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg);
/*
 * The same for an action: POST only (others get 405), its parameters in
 * the query string; a request body is refused before any handler, as for
 * every request.
 */
int feeds_http_handle_post(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_HTTP_H */
