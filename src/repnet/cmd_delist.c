/*
 * cmd_delist.c: repnet delist, an address or prefix off the blocklist now.
 *
 * It asks the running scorer (POST /v1/delist, src/repnetd/api.c) for an
 * expiring allow entry: saved durably before the answer, published as a
 * removal by the scorer's next real-time pass, kept across restarts, and
 * gone at its expiry (then the address is scored as any other again).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

/* repnet delist [-c FILE] [-o section.key=value]... --reason TEXT [--for DURATION] IP|PREFIX */
int cmd_delist(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"reason", required_argument, NULL, 'r'},
	                                      {"for", required_argument, NULL, 'f'},
	                                      {NULL, 0, NULL, 0}};
	const char *reason = NULL, *dur = NULL;
	struct conf_args ca;
	int ch, code = 1;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'r':
			reason = optarg;
			break;
		case 'f':
			dur = optarg;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	struct rn_prefix p;
	int64_t ms;
	if (optind + 1 != argc || reason == NULL || reason[0] == '\0') {
		if (optind + 1 == argc)
			fprintf(stderr,
			        "repnet: delist: --reason is required: say why, for whoever "
			        "reads it later\n");
		conf_args_free(&ca);
		return 2;
	}
	if (rn_prefix_parse_str(argv[optind], false, &p) != RN_OK) {
		fprintf(stderr, "repnet: \"%s\" is not an address or a prefix\n", argv[optind]);
		conf_args_free(&ca);
		return 2;
	}
	if (dur != NULL && rn_duration_parse(dur, &ms) != RN_OK) {
		fprintf(stderr, "repnet: --for \"%s\" is not a duration\n", dur);
		conf_args_free(&ca);
		return 2;
	}
	struct daemon_conf dc;
	if (conf_args_load(&ca, "repnet", &dc) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	char q[1024], pe[RN_PREFIX_STRLEN * 3], re[SCORING_REASON_MAX * 3], de[96], where[128];
	char *body = NULL;
	int status = 0;
	cli_url_escape(argv[optind], pe, sizeof(pe));
	cli_url_escape(reason, re, sizeof(re));
	cli_url_escape(dur != NULL ? dur : "", de, sizeof(de));
	snprintf(q, sizeof(q), "/v1/delist?prefix=%s&reason=%s%s%s", pe, re, dur ? "&for=" : "",
	         dur ? de : "");
	int rc = cli_api_post(dc.core.data_dir, q, 1u << 16, &body, &status, where, sizeof(where));
	if (rc != RN_OK)
		fprintf(stderr, "repnet: delist: no repnetd answers for %s %s: %s\n",
		        dc.core.data_dir, where, rn_strerror(rc));
	else if (status != 200)
		fprintf(stderr, "repnet: delist: repnetd at %s answered %d: %s\n", where, status,
		        body);
	else {
		printf("%s\n", body);
		code = 0;
	}
	free(body);
	daemon_conf_release(&dc);
	conf_args_free(&ca);
	return code;
}
