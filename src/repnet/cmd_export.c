/*
 * cmd_export.c: repnet export.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

/* The formats export writes. */
static bool export_format_ok(enum feeds_list_format f)
{
	return f == FEEDS_FMT_PLAIN || f == FEEDS_FMT_JSON || f == FEEDS_FMT_RBLDNSD ||
	       f == FEEDS_FMT_NFT || f == FEEDS_FMT_IPSET;
}

/*
 * repnet export --format F --from FILE [--from-format F] [--category C] [--at TIME]
 *               [--output FILE] [-c CONF] [-o section.key=value]...
 * Loads the list into a list view and writes it in format F, to stdout
 * or atomically (write, fsync, rename) to FILE.
 */
int cmd_export(int argc, char **argv)
{
	static const struct option lopts[] = {{"format", required_argument, NULL, 'f'},
	                                      {"output", required_argument, NULL, 'O'},
	                                      {"from", required_argument, NULL, 'F'},
	                                      {"from-format", required_argument, NULL, 'I'},
	                                      {"category", required_argument, NULL, 'C'},
	                                      {"at", required_argument, NULL, 'A'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	const char *fmt_s = NULL, *output = NULL, *from = NULL, *from_fmt = "json";
	const char *cat_s = "drop", *at_s = NULL;
	int64_t at_ms = 0;
	struct conf_args ca;
	int ch, code = 1, rc;
	struct daemon_conf c;
	struct feeds_listview *lv = NULL;
	struct feeds_view_entry *e = NULL;
	size_t n = 0;
	char *out = NULL;
	size_t len = 0;
	bool conf_loaded = false;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'f':
			fmt_s = optarg;
			break;
		case 'O':
			output = optarg;
			break;
		case 'F':
			from = optarg;
			break;
		case 'I':
			from_fmt = optarg;
			break;
		case 'C':
			cat_s = optarg;
			break;
		case 'A':
			at_s = optarg;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	enum feeds_list_format fmt, ffmt;
	enum rn_category cat;
	if (optind != argc || fmt_s == NULL || from == NULL ||
	    feeds_list_format_parse(fmt_s, &fmt) != RN_OK || !export_format_ok(fmt) ||
	    feeds_list_format_parse(from_fmt, &ffmt) != RN_OK ||
	    rn_category_parse(cat_s, &cat) != RN_OK ||
	    (at_s != NULL && rn_time_parse((const uint8_t *)at_s, strlen(at_s), &at_ms) != RN_OK)) {
		conf_args_free(&ca);
		return 2;
	}
	/* Expiry is judged now, or at --at (a list from a replay of old logs). */
	if (at_s == NULL)
		at_ms = rn_time_now_ms();
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		goto out;
	}
	conf_loaded = true;
	struct feeds_import_stats st;
	rc = feeds_import_file_at(from, ffmt, 1u << cat, (size_t)64 << 20, at_ms, &e, &n, &st);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", from, rn_strerror(rc));
		goto out;
	}
	if (st.bad_lines > 0)
		fprintf(stderr, "repnet: %s: %llu malformed lines skipped\n", from,
		        (unsigned long long)st.bad_lines);
	if (st.expired > 0)
		fprintf(stderr, "repnet: %s: %llu expired entries left out%s\n", from,
		        (unsigned long long)st.expired, n == 0 ? " (the export is empty)" : "");
	struct feeds_view v;
	if ((rc = feeds_listview_alloc(&lv, 0)) != RN_OK ||
	    (rc = feeds_listview_replace(lv, e, n)) != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", from, rn_strerror(rc));
		goto out;
	}
	feeds_listview_view(lv, &v);
	rc = feeds_export_at(&v, fmt, &c.feeds.rbl, at_ms, &out, &len, NULL);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: export: %s\n", rn_strerror(rc));
		goto out;
	}
	if (output != NULL) {
		rc = rn_file_replace(output, out, len, 0644);
		if (rc != RN_OK) {
			fprintf(stderr, "repnet: %s: %s\n", output, rn_strerror(rc));
			goto out;
		}
	} else if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "repnet: write error\n");
		goto out;
	}
	code = 0;
out:
	free(out);
	free(e);
	feeds_listview_free(lv);
	if (conf_loaded)
		daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
