/*
 * daemon.h: repnetd's process lifecycle, shared by main.c and daemon.c.
 * Internal to the repnetd executable.
 */
#ifndef REPNET_DAEMON_H
#define REPNET_DAEMON_H

#include <stdio.h>

#include "src/common/sections.h"

struct daemon_opts {
	const char *conf_path;
	const char **overrides; /* NULL-terminated */
	bool foreground;
	int verbose;
};

/*
 * The checks of `repnetd -n` beyond each key's bounds (check.c): ports,
 * the files the configuration names, the roles' consistency. Each problem
 * is one line on out ("repnetd: error: key = value: why", or a warning).
 * RN_ECONF when there was an error.
 */
int daemon_conf_check_all(const struct daemon_conf *c, FILE *out);

/* Runs until SIGTERM or SIGINT; returns the process exit code. */
int daemon_run(const struct daemon_opts *opts);

#endif /* REPNET_DAEMON_H */
