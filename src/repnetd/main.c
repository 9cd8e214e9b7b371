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
	           "  -c, --config file     configuration file (default: built-in defaults)\n"
	           "  -o, --set k=v         override one key, e.g. -o core.log_level=debug\n"
	           "  -f, --foreground      stay in the foreground and log to stderr\n"
	           "  -n, --check           check the configuration, print \"configuration OK\", "
	           "exit\n"
	           "  -v, --verbose         more verbose (debug)\n"
	           "  -V, --version         print the version and exit\n"
	           "  -h, --help            this help\n"
	           "\n"
	           "Signals: TERM/INT drain and exit 0; HUP reloads the configuration.\n");
}

int main(int argc, char **argv)
{
	struct daemon_opts o = {0};
	bool check_only = false;
	struct conf_args ca;
	int ch;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	static const struct option lopts[] = {
	        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 'o'},
	        {"foreground", no_argument, NULL, 'f'},   {"check", no_argument, NULL, 'n'},
	        {"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:fhno:vV", lopts)) != -1) {
		switch (ch) {
		case 'f':
			o.foreground = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'V':
			printf("repnetd %s\n", REPNET_VERSION_STRING);
			conf_args_free(&ca);
			return 0;
		case 'h':
			usage(stdout);
			conf_args_free(&ca);
			return 0;
		default:
			usage(stderr);
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		conf_args_free(&ca);
		return 2;
	}
	o.conf_path = ca.path;
	o.overrides = ca.ov;

	if (check_only) {
		struct daemon_conf c;
		if (conf_args_load(&ca, "repnetd", &c) != RN_OK) {
			conf_args_free(&ca);
			return 1;
		}
		char msg[512];
		int rc = daemon_conf_check(&c, msg, sizeof(msg));
		if (rc != RN_OK)
			fprintf(stderr, "repnetd: %s\n", msg);
		if (daemon_conf_check_all(&c, stderr) != RN_OK)
			rc = RN_ECONF;
		daemon_conf_release(&c);
		if (rc != RN_OK) {
			conf_args_free(&ca);
			return 1;
		}
		printf("configuration OK\n");
		conf_args_free(&ca);
		return 0;
	}
	int code = daemon_run(&o);
	conf_args_free(&ca);
	return code;
}
