/*
 * collector.h: the collector library's contract.
 *
 * Collectors run at an operator's edge. They read SMTP logs (files, syslog,
 * standard input) and flow telemetry (NetFlow, IPFIX, sFlow, mirrored
 * packets), and detectors turn both into observations (struct rn_obs).
 * The collector knows the data model (proto) and nothing of scoring or
 * feeds: it hands observations to a callback that the executable wires to
 * the scorer or to the bus.
 *
 * This header grows with the sources and detectors; today it declares the
 * configuration section only.
 */
#ifndef REPNET_COLLECTOR_H
#define REPNET_COLLECTOR_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The "collector" configuration section. */
struct collector_conf {
	int reserved_; /* no keys yet */
};
extern const struct rn_conf_key collector_conf_keys[];

#ifdef __cplusplus
}
#endif

#endif /* REPNET_COLLECTOR_H */
