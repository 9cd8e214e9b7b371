/*
 * sections.c: binding and loading the executables' configuration sections.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/sections.h"

void daemon_conf_bind(struct daemon_conf *c)
{
	c->secs[0] = (struct rn_conf_section){"core", rn_core_conf_keys, &c->core};
	c->secs[1] =
	        (struct rn_conf_section){"collector", collector_smtp_conf_keys, &c->collector.smtp};
	c->secs[2] =
	        (struct rn_conf_section){"collector", collector_flow_conf_keys, &c->collector.flow};
	c->secs[3] = (struct rn_conf_section){"scoring", scoring_conf_keys, &c->scoring};
	c->secs[4] = (struct rn_conf_section){"feeds", feeds_bus_conf_keys, &c->feeds.bus};
	c->secs[5] = (struct rn_conf_section){"feeds", feeds_rbl_conf_keys, &c->feeds.rbl};
	c->secs[6] = (struct rn_conf_section){"feeds", feeds_sync_conf_keys, &c->feeds.sync};
}

int daemon_conf_load(struct daemon_conf *c, const char *path, const char *const *overrides,
                     struct rn_conf_error *err)
{
	memset(c, 0, sizeof(*c));
	daemon_conf_bind(c);
	return rn_conf_load(path, overrides, c->secs, DAEMON_NSECS, err);
}

int daemon_conf_check(const struct daemon_conf *c, char *err, size_t errlen)
{
	if ((c->core.roles & RN_ROLE_COLLECT) == 0)
		return RN_OK;
	int rc = collector_flow_conf_check(&c->collector.flow, err, errlen);
	if (rc == RN_OK)
		rc = collector_smtp_conf_check(&c->collector.smtp, err, errlen);
	return rc;
}

void daemon_conf_release(struct daemon_conf *c)
{
	rn_conf_release(c->secs, DAEMON_NSECS);
}

int conf_args_init(struct conf_args *a, int argc)
{
	memset(a, 0, sizeof(*a));
	optind = 1;
	a->ov = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof(*a->ov));
	return a->ov != NULL ? RN_OK : -ENOMEM;
}

bool conf_args_take(struct conf_args *a, int ch, const char *arg)
{
	if (ch == 'c') {
		a->path = arg;
		return true;
	}
	if (ch == 'o') {
		a->ov[a->nov++] = arg;
		return true;
	}
	return false;
}

int conf_args_getopt(struct conf_args *a, int argc, char **argv, const char *shortopts,
                     const struct option *lopts)
{
	int ch;
	while ((ch = getopt_long(argc, argv, shortopts, lopts, NULL)) != -1)
		if (!conf_args_take(a, ch, optarg))
			break;
	return ch;
}

void conf_args_free(struct conf_args *a)
{
	free(a->ov);
	a->ov = NULL;
	a->nov = 0;
}

int conf_args_load(const struct conf_args *a, const char *prog, struct daemon_conf *c)
{
	struct rn_conf_error err;
	int rc = daemon_conf_load(c, a->path, a->ov, &err);
	if (rc != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s\n", prog, msg);
	}
	return rc;
}
