/*
 * sections.h: the configuration sections of the executables, shared by
 * repnetd and repnet. Internal to the executables.
 */
#ifndef REPNET_SECTIONS_H
#define REPNET_SECTIONS_H

#include <getopt.h>

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
/*
 * Loads path (NULL: built-in defaults) with overrides, and fills the
 * collector's loop-safety lists (collector.smtp.enforce_zones and
 * enforce_texts) from the feeds' DNSBL zones and reason texts, so that
 * every executable that parses logs knows this node's own rejects.
 * Release with daemon_conf_release().
 */
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

/*
 * The configuration options repnetd and every configured repnet command
 * take: -c FILE (--config FILE) and -o section.key=value, repeatable, in
 * the order given. conf_args_init() sizes the override list for argc
 * (RN_OK or -ENOMEM); conf_args_take() consumes one getopt result and
 * returns true when it was one of these two; conf_args_free() releases
 * the list (safe when init failed).
 */
struct conf_args {
	const char *path; /* NULL: built-in defaults */
	const char **ov;  /* NULL-terminated overrides */
	size_t nov;
};
int conf_args_init(struct conf_args *a, int argc);
bool conf_args_take(struct conf_args *a, int ch, const char *arg);
/*
 * getopt_long(3) over argv with shortopts (which must hold "c:" and "o:")
 * and lopts, consuming -c and -o into a; returns the next other option,
 * '?' for an unknown one, or -1 at the end. conf_args_init() restarts
 * the scan (optind = 1).
 */
int conf_args_getopt(struct conf_args *a, int argc, char **argv, const char *shortopts,
                     const struct option *lopts);
void conf_args_free(struct conf_args *a);
/*
 * Loads c with a's file and overrides. On failure prints "PROG: FILE:LINE:
 * KEY: reason" to stderr and returns the error; c is then not loaded.
 */
int conf_args_load(const struct conf_args *a, const char *prog, struct daemon_conf *c);

#endif /* REPNET_SECTIONS_H */
