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
 * GET /metrics renders the registry in the Prometheus text format. listen
 * is "host:port" (port 0 picks a free one). The registry must outlive the
 * listener. Free with feeds_http_stop().
 */
struct feeds_http;
int feeds_http_start(struct feeds_http **out, const char *listen, struct rn_metrics *m);
/* The port actually bound. */
unsigned feeds_http_port(const struct feeds_http *h);
/* Stops serving, waits for handlers in flight, and frees h. Safe on NULL. */
void feeds_http_stop(struct feeds_http *h);

/*
 * A further GET handler on the listener. fn runs on nng's HTTP threads,
 * concurrently; it gets the request's path with its query string and a
 * header lookup, and fills *status (200 when left alone), *body (malloc'd;
 * the listener frees it) and *ctype (static). Register before traffic
 * arrives; a handler lives as long as the listener.
 */
struct feeds_http_req {
	const char *uri; /* path and query, as received */
	const char *(*header)(const struct feeds_http_req *r, const char *name);
	void *impl_;
};
typedef void (*feeds_http_fn)(void *arg, const struct feeds_http_req *req, int *status, char **body,
                              size_t *len, const char **ctype);
int feeds_http_handle(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_HTTP_H */
