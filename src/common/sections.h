/*
 * sections.h: the configuration sections of the executables, shared by
 * repnetd and repnet. Internal to the executables.
 */
#ifndef REPNET_SECTIONS_H
#define REPNET_SECTIONS_H

#include "collector/collector.h"
#include "feeds/feeds.h"
#include "proto/proto.h"
#include "scoring/scoring.h"

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

#endif /* REPNET_SECTIONS_H */
