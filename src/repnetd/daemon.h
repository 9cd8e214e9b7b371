/*
 * daemon.h: repnetd's process lifecycle, shared by main.c and daemon.c.
 * Internal to the repnetd executable.
 */
#ifndef REPNET_DAEMON_H
#define REPNET_DAEMON_H

#include "src/common/sections.h"

struct daemon_opts {
	const char *conf_path;
	const char **overrides; /* NULL-terminated */
	bool foreground;
	int verbose;
};

/* Runs until SIGTERM or SIGINT; returns the process exit code. */
int daemon_run(const struct daemon_opts *opts);

#endif /* REPNET_DAEMON_H */
