/*
 * collector.h: the collector library's contract.
 *
 * Collectors run at an operator's edge. They read SMTP logs (files, syslog,
 * standard input) and flow telemetry (NetFlow, IPFIX, sFlow, mirrored
 * packets), and detectors turn both into observations (struct rn_obs).
 * The collector knows the data model (proto) and nothing of scoring or
 * feeds: it hands observations to a sink that the executable wires to the
 * scorer or to the bus.
 */
#ifndef REPNET_COLLECTOR_H
#define REPNET_COLLECTOR_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Sink                                                                */
/* ------------------------------------------------------------------ */

/*
 * Where observations go. emit() is called from collector threads with an
 * array the collector owns and reuses after the call returns, so the sink
 * copies what it keeps. It may block briefly (bounded queue back-pressure);
 * it must not call back into the collector.
 */
struct collector_sink {
	void (*emit)(void *arg, const struct rn_obs *obs, size_t n);
	void *arg;
};

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The "collector" section is split in two tables that share the section
 * name: SMTP log sources, parsers and detectors (collector_smtp_conf_keys),
 * and flow telemetry (collector_flow_conf_keys).
 */
struct collector_smtp_conf {
	int reserved_; /* no keys yet */
};
struct collector_flow_conf {
	int reserved_; /* no keys yet */
};
struct collector_conf {
	struct collector_smtp_conf smtp;
	struct collector_flow_conf flow;
};
extern const struct rn_conf_key collector_smtp_conf_keys[];
extern const struct rn_conf_key collector_flow_conf_keys[];

#ifdef __cplusplus
}
#endif

#endif /* REPNET_COLLECTOR_H */
