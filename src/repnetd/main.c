/*
 * main.c: repnetd, the repnet daemon. Parses the command line and hands
 * over to daemon_run().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: repnetd [-fnvV] [-c file] [-o section.key=value]...\n"
	           "\n"
	           "  -c file   configuration file (default: built-in defaults)\n"
	           "  -o k=v    override one key, e.g. -o core.log_level=debug\n"
	           "  -f        stay in the foreground and log to stderr\n"
	           "  -n        check the configuration, print \"configuration OK\", exit\n"
	           "  -v        more verbose (debug)\n"
	           "  -V        print the version and exit\n"
	           "  -h        this help\n"
	           "\n"
	           "Signals: TERM/INT drain and exit 0; HUP reloads the configuration.\n");
}

int main(int argc, char **argv)
{
	struct daemon_opts o = {0};
	bool check_only = false;
	size_t nov = 0;
	const char **ov = calloc((size_t)argc + 1, sizeof(*ov));
	int ch;

	if (ov == NULL)
		return 1;
	while ((ch = getopt(argc, argv, "c:fhno:vV")) != -1) {
		switch (ch) {
		case 'c':
			o.conf_path = optarg;
			break;
		case 'f':
			o.foreground = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'o':
			ov[nov++] = optarg;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'V':
			printf("repnetd %s\n", REPNET_VERSION_STRING);
			free(ov);
			return 0;
		case 'h':
			usage(stdout);
			free(ov);
			return 0;
		default:
			usage(stderr);
			free(ov);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		free(ov);
		return 2;
	}
	o.overrides = ov;

	if (check_only) {
		struct daemon_conf c;
		struct rn_conf_error err;
		int rc = daemon_conf_load(&c, o.conf_path, ov, &err);
		if (rc != RN_OK) {
			char msg[1024];
			rn_conf_error_format(&err, msg, sizeof(msg));
			fprintf(stderr, "repnetd: %s\n", msg);
			free(ov);
			return 1;
		}
		char msg[512];
		rc = daemon_conf_check(&c, msg, sizeof(msg));
		daemon_conf_release(&c);
		if (rc != RN_OK) {
			fprintf(stderr, "repnetd: %s\n", msg);
			free(ov);
			return 1;
		}
		printf("configuration OK\n");
		free(ov);
		return 0;
	}
	int code = daemon_run(&o);
	free(ov);
	return code;
}
