/*
 * feeds.h: the feeds library's contract.
 *
 * Feeds move the blocklist between operators and serve it locally: signed
 * snapshots and deltas over nng pub/sub, the replica that applies them,
 * and the consumers of the replica (DNSBL, Postfix policy service,
 * netfilter sync, exports). It also owns the HTTP listener that serves
 * /metrics. Feeds may know scoring and proto; nothing knows feeds but the
 * executables.
 */
#ifndef REPNET_FEEDS_H
#define REPNET_FEEDS_H

#include "proto/proto.h"
#include "scoring/scoring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The "feeds" configuration section. */
struct feeds_conf {
	int reserved_; /* no keys yet */
};
extern const struct rn_conf_key feeds_conf_keys[];

/*
 * The HTTP listener: GET /metrics renders the registry in the Prometheus
 * text format. listen is "host:port" (port 0 picks a free one). The
 * registry must outlive the listener. Free with feeds_http_stop().
 */
struct feeds_http;
int feeds_http_start(struct feeds_http **out, const char *listen, struct rn_metrics *m);
/* The port actually bound. */
unsigned feeds_http_port(const struct feeds_http *h);
/* Stops serving, waits for handlers in flight, and frees h. Safe on NULL. */
void feeds_http_stop(struct feeds_http *h);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_H */
