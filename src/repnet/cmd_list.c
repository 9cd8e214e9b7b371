/*
 * cmd_list.c: repnet list, the current blocklist of the running repnetd,
 * a page at a time (GET /v1/list, src/repnetd/api.c): the scorer's table
 * (score role) or the list the DNSBL and the policy service answer from
 * (serve role), filtered by category and by a covering prefix.
 *
 * One line per listing: prefix, categories, expiry. The count of what
 * matches, and how to ask for the next page, go to standard error, so
 * that standard output stays a plain list.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

struct entry_in {
	char prefix[RN_PREFIX_STRLEN];
	char cats[256];
	int64_t expires_ms;
};

struct page_in {
	char source[16];
	char next_after[RN_PREFIX_STRLEN];
	uint64_t matching;
	size_t n;
};

static int read_cats(struct rn_json *r, int tok, void *base)
{
	struct entry_in *e = base;
	return cli_json_cats(r, tok, e->cats, sizeof(e->cats));
}

static const struct rn_json_field entry_fields[] = {
        {"prefix", RN_JSON_F_STR, offsetof(struct entry_in, prefix), RN_PREFIX_STRLEN, NULL},
        {"categories", RN_JSON_F_FN, 0, 0, read_cats},
        {"expires_ms", RN_JSON_F_INT, offsetof(struct entry_in, expires_ms), 0, NULL},
};

/* Prints every entry as it is read. */
static int read_entries(struct rn_json *r, int tok, void *base)
{
	struct page_in *p = base;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	while ((tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		struct entry_in e;
		char t[RN_TIME_STRLEN];
		memset(&e, 0, sizeof(e));
		if (tok < 0)
			return tok;
		int rc = rn_json_object(r, tok, entry_fields, RN_ARRAY_LEN(entry_fields), 0, &e,
		                        NULL);
		if (rc != RN_OK)
			return rc;
		rn_time_format(e.expires_ms, false, t, sizeof(t));
		printf("%s\t%s\t%s\n", e.prefix, e.cats, t);
		p->n++;
	}
	return RN_OK;
}

static const struct rn_json_field page_fields[] = {
        {"source", RN_JSON_F_STR, offsetof(struct page_in, source), 16, NULL},
        {"entries", RN_JSON_F_FN, 0, 0, read_entries},
        {"matching", RN_JSON_F_UINT, offsetof(struct page_in, matching), 0, NULL},
        {"next_after", RN_JSON_F_STR, offsetof(struct page_in, next_after), RN_PREFIX_STRLEN, NULL},
};

/* Appends "&name=value" to q (value as given: prefixes and names need no escaping but '/'). */
static void q_add(char *q, size_t len, const char *name, const char *value)
{
	size_t n = strlen(q);
	if (value != NULL)
		snprintf(q + n, len - n, "%s%s=%s", strchr(q, '?') ? "&" : "?", name, value);
}

/*
 * repnet list [-c FILE] [-o section.key=value]... [--category C] [--within PREFIX]
 *             [--source scorer|served] [--limit N] [--after PREFIX] [--all] [--json]
 */
int cmd_list(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"category", required_argument, NULL, 'C'},
	                                      {"within", required_argument, NULL, 'W'},
	                                      {"source", required_argument, NULL, 'S'},
	                                      {"limit", required_argument, NULL, 'L'},
	                                      {"after", required_argument, NULL, 'A'},
	                                      {"all", no_argument, NULL, 'a'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {NULL, 0, NULL, 0}};
	const char *cat = NULL, *within = NULL, *source = NULL, *limit = NULL, *after = NULL;
	bool all = false, json = false;
	struct conf_args ca;
	int ch, code = 1;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'C':
			cat = optarg;
			break;
		case 'W':
			within = optarg;
			break;
		case 'S':
			source = optarg;
			break;
		case 'L':
			limit = optarg;
			break;
		case 'A':
			after = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind != argc || (all && json)) {
		conf_args_free(&ca);
		return 2;
	}
	struct daemon_conf dc;
	if (conf_args_load(&ca, "repnet", &dc) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	char next[RN_PREFIX_STRLEN] = "";
	if (after != NULL)
		snprintf(next, sizeof(next), "%s", after);
	uint64_t printed = 0;
	for (;;) {
		char q[512] = "/v1/list", where[128], err[256], str[512];
		char *body = NULL;
		int status = 0;
		q_add(q, sizeof(q), "category", cat);
		q_add(q, sizeof(q), "within", within);
		q_add(q, sizeof(q), "source", source);
		q_add(q, sizeof(q), "limit", all && limit == NULL ? "10000" : limit);
		q_add(q, sizeof(q), "after", next[0] != '\0' ? next : NULL);
		int rc = cli_api_get(dc.core.data_dir, q, 256u << 20, &body, &status, where,
		                     sizeof(where));
		if (rc != RN_OK) {
			fprintf(stderr, "repnet: list: no repnetd answers for %s %s: %s\n",
			        dc.core.data_dir, where, rn_strerror(rc));
			break;
		}
		if (status != 200) {
			fprintf(stderr, "repnet: list: repnetd at %s answered %d: %s\n", where,
			        status, body);
			free(body);
			break;
		}
		if (json) {
			printf("%s\n", body);
			free(body);
			code = 0;
			break;
		}
		struct page_in p;
		struct rn_json r;
		memset(&p, 0, sizeof(p));
		rn_json_init(&r, (const uint8_t *)body, strlen(body), str, sizeof(str));
		int tok = rn_json_next(&r);
		rc = tok < 0 ? tok
		             : rn_json_object(&r, tok, page_fields, RN_ARRAY_LEN(page_fields), 0,
		                              &p, NULL);
		free(body);
		if (rc != RN_OK) {
			rn_json_error(&r, err, sizeof(err));
			fprintf(stderr, "repnet: list: an answer repnet cannot read: %s\n", err);
			break;
		}
		printed += p.n;
		snprintf(next, sizeof(next), "%s", p.next_after);
		if (!all || next[0] == '\0') {
			fprintf(stderr,
			        "repnet: %" PRIu64 " of %" PRIu64 " matching listed (%s)%s%s\n",
			        printed, p.matching, p.source,
			        next[0] != '\0' ? "; the next page: --after " : "", next);
			code = 0;
			break;
		}
	}
	daemon_conf_release(&dc);
	conf_args_free(&ca);
	return code;
}
