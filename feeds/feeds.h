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

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The "feeds" section is split in tables that share the section name:
 * the bus, signing and federation (feeds_bus_conf_keys); the local RBL,
 * policy service, exports and decision stream (feeds_rbl_conf_keys); and
 * netfilter sync (feeds_sync_conf_keys).
 */
struct feeds_bus_conf {
	int reserved_; /* no keys yet */
};
struct feeds_rbl_conf {
	int reserved_; /* no keys yet */
};
struct feeds_sync_conf {
	int reserved_; /* no keys yet */
};
struct feeds_conf {
	struct feeds_bus_conf bus;
	struct feeds_rbl_conf rbl;
	struct feeds_sync_conf sync;
};
extern const struct rn_conf_key feeds_bus_conf_keys[];
extern const struct rn_conf_key feeds_rbl_conf_keys[];
extern const struct rn_conf_key feeds_sync_conf_keys[];

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

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_H */
