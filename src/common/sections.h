/*
 * sections.h: the configuration sections of the executables, shared by
 * repnetd and repnet. Internal to the executables.
 */
#ifndef REPNET_SECTIONS_H
#define REPNET_SECTIONS_H

#include "collector/collector.h"
#include "feeds/bus/bus.h"
#include "feeds/http/http.h"
#include "feeds/nfsync/nfsync.h"
#include "feeds/rbl/rbl.h"
#include "feeds/replica/replica.h"
#include "feeds/view/view.h"
#include "proto/proto.h"
#include "scoring/scoring.h"

/* The "feeds" section: its keys come from three of feeds' libraries. */
struct feeds_conf {
	struct feeds_bus_conf bus;
	struct feeds_rbl_conf rbl;
	struct feeds_sync_conf sync;
};

/* Every configuration section, in one place. */
struct daemon_conf {
	struct rn_core_conf core;
	struct collector_conf collector;
	struct scoring_conf scoring;
	struct feeds_conf feeds;
	struct rn_conf_section secs[7];
};
#define DAEMON_NSECS 7

/* Points secs at the fields of c. */
void daemon_conf_bind(struct daemon_conf *c);
/* Loads path (NULL: built-in defaults) with overrides. */
int daemon_conf_load(struct daemon_conf *c, const char *path, const char *const *overrides,
                     struct rn_conf_error *err);
void daemon_conf_release(struct daemon_conf *c);
/*
 * What the tables cannot check key by key, for the roles c runs: a
 * collector listener off loopback needs its allowlist
 * (collector_flow_conf_check(), collector_smtp_conf_check()). RN_OK, or
 * RN_ECONF with err naming the key.
 */
int daemon_conf_check(const struct daemon_conf *c, char *err, size_t errlen);

#endif /* REPNET_SECTIONS_H */
