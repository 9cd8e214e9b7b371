/*
 * cmd_config.c: repnet config.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmds.h"

/*
 * repnet config [--dump] [-c FILE] [-o section.key=value]...
 * Without --dump, prints the key table; with it, the effective
 * configuration after defaults, FILE and overrides.
 */
int cmd_config(int argc, char **argv)
{
	static const struct option lopts[] = {{"dump", no_argument, NULL, 'd'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	bool dump = false;
	struct conf_args ca;
	int ch, code = 1;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'd':
			dump = true;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind != argc) {
		conf_args_free(&ca);
		return 2;
	}
	struct daemon_conf c;
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	char *out = NULL;
	size_t len = 0;
	int rc = dump ? rn_conf_dump(c.secs, DAEMON_NSECS, &out, &len)
	              : rn_conf_describe(c.secs, DAEMON_NSECS, &out, &len);
	if (rc == RN_OK) {
		fwrite(out, 1, len, stdout);
		code = 0;
	} else {
		fprintf(stderr, "repnet: %s\n", rn_strerror(rc));
	}
	free(out);
	daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
