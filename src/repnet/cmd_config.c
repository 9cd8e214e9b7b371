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
	const char *path = NULL;
	bool dump = false;
	const char **ov = calloc((size_t)argc + 1, sizeof(*ov));
	size_t nov = 0;
	int ch, code = 1;

	if (ov == NULL)
		return 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:o:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dump = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 'o':
			ov[nov++] = optarg;
			break;
		default:
			free(ov);
			return 2;
		}
	}
	if (optind != argc) {
		free(ov);
		return 2;
	}
	struct daemon_conf c;
	struct rn_conf_error err;
	if (daemon_conf_load(&c, path, ov, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnet: %s\n", msg);
		free(ov);
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
	free(ov);
	return code;
}
