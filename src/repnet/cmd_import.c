/*
 * cmd_import.c: repnet import.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "util.h"

struct import_ctx {
	struct rn_obs *obs;
	size_t n, cap;
	const char *tag; /* evidence when the list has none */
	int64_t now;
};

static int import_fn(void *arg, const struct feeds_import_entry *e)
{
	struct import_ctx *x = arg;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4096;
		struct rn_obs *o = realloc(x->obs, cap * sizeof(*o));
		if (o == NULL)
			return RN_ELIMIT;
		x->obs = o;
		x->cap = cap;
	}
	struct rn_obs *o = &x->obs[x->n++];
	memset(o, 0, sizeof(*o));
	o->addr = e->prefix.addr;
	/* 0 is a single address. */
	o->prefix_len = e->prefix.len == rn_addr_maxlen(&e->prefix.addr) ? 0 : e->prefix.len;
	o->source = RN_SRC_IMPORT;
	o->kind = RN_KIND_IMPORTED;
	o->count = 1;
	o->ts_ms = x->now;
	const char *ev = e->evidence[0] != '\0' ? e->evidence : x->tag;
	rn_obs_set_evidence(o, ev, strlen(ev));
	return 0;
}

/*
 * The collector key --to signs with: --key, else feeds.bus.collector_key,
 * else the one repnetd made under core.data_dir/keys. Never made here: a
 * key the scorer does not know would only be refused.
 */
static int import_signer(const struct daemon_conf *c, const char *key, struct feeds_signer **out)
{
	char path[4300];
	if (key != NULL)
		snprintf(path, sizeof(path), "%s", key);
	else if (c->feeds.bus.collector_key != NULL)
		snprintf(path, sizeof(path), "%s", c->feeds.bus.collector_key);
	else
		snprintf(path, sizeof(path), "%s/keys/collector.key", c->core.data_dir);
	int rc = feeds_signer_load(out, path, "import");
	if (rc != RN_OK)
		fprintf(stderr,
		        "repnet: collector key %s: %s (give one with --key; repnet keygen makes "
		        "one, and the scorer must list its public half in feeds.bus.collectors)\n",
		        path, rn_strerror(rc));
	return rc;
}

/*
 * repnet import --format F FILE|- [--to URL [--key FILE]] [-c CONF] [-o section.key=value]...
 * Parses an external list, or a blocklist repnet wrote (json, plain), into
 * observations of kind "imported" and prints them as JSON lines, the
 * format repnet score reads, or sends them, signed with a collector key,
 * to a scorer's ingest listener and waits for its acknowledgement.
 */
int cmd_import(int argc, char **argv)
{
	static const struct option lopts[] = {{"format", required_argument, NULL, 'f'},
	                                      {"to", required_argument, NULL, 't'},
	                                      {"key", required_argument, NULL, 'k'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	const char *fmt_s = NULL, *to = NULL, *key = NULL;
	struct conf_args ca;
	int ch, code = 1, rc;
	struct import_ctx x = {.now = rn_time_now_ms()};
	uint8_t *buf = NULL;
	size_t len = 0;
	struct daemon_conf c;
	bool conf_loaded = false;
	struct feeds_signer *signer = NULL;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'f':
			fmt_s = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	enum feeds_list_format fmt;
	if (optind != argc - 1 || fmt_s == NULL || feeds_list_format_parse(fmt_s, &fmt) != RN_OK ||
	    (fmt != FEEDS_FMT_DROP_JSON && fmt != FEEDS_FMT_DROP_TXT && fmt != FEEDS_FMT_IP4SET &&
	     fmt != FEEDS_FMT_CIDR && fmt != FEEDS_FMT_JSON && fmt != FEEDS_FMT_PLAIN)) {
		conf_args_free(&ca);
		return 2;
	}
	const char *path = argv[optind];
	/* The evidence of an entry whose list names none: the list's kind. */
	x.tag = fmt == FEEDS_FMT_DROP_JSON || fmt == FEEDS_FMT_DROP_TXT ? "drop" : fmt_s;
	rc = strcmp(path, "-") == 0 ? rn_fd_read(STDIN_FILENO, (size_t)1 << 30, &buf, &len)
	                            : rn_file_read(path, (size_t)1 << 30, &buf, &len);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", path, rn_strerror(rc));
		goto out;
	}
	struct feeds_import_stats st;
	rc = feeds_import_parse(fmt, buf, len, false, import_fn, &x, &st);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", path, rn_strerror(rc));
		goto out;
	}
	fprintf(stderr, "repnet: %s: %llu lines, %zu observations, %llu malformed, %llu excluded\n",
	        path, (unsigned long long)st.lines, x.n, (unsigned long long)st.bad_lines,
	        (unsigned long long)st.excluded);
	if (to == NULL) {
		for (size_t i = 0; i < x.n && rc == RN_OK; i++)
			rc = cli_obs_print(stdout, &x.obs[i]);
		code = rc == RN_OK && fflush(stdout) == 0 ? 0 : 1;
		goto out;
	}
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		goto out;
	}
	conf_loaded = true;
	if (import_signer(&c, key, &signer) != RN_OK)
		goto out;
	static const uint8_t reporter[8] = {'i', 'm', 'p', 'o', 'r', 't', 0, 0};
	struct feeds_ingest_client *ic = NULL;
	rc = feeds_ingest_client_start(&ic, &c.feeds.bus, to, NULL, reporter, signer);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", to, rn_strerror(rc));
		goto out;
	}
	size_t sent = 0;
	while (sent < x.n) {
		size_t k = feeds_ingest_client_submit(ic, x.obs + sent, x.n - sent, NULL);
		sent += k;
		if (k == 0)
			break; /* the queue stays full: the scorer is not acknowledging */
	}
	/* The client backs off between attempts: a refusing scorer is not hammered. */
	feeds_ingest_client_flush(ic, c.feeds.bus.ingest_timeout_ms * 2);
	struct feeds_ingest_tally t;
	feeds_ingest_client_tally(ic, &t);
	size_t lost = feeds_ingest_client_stop(ic, 0) + (x.n - sent);
	if (lost > 0) {
		fprintf(stderr, "repnet: %s: %zu of %zu observations not acknowledged%s\n", to,
		        lost, x.n,
		        t.unauthenticated > 0 ? ": the scorer does not trust this collector key"
		                              : "");
		goto out;
	}
	if (t.refused > 0) {
		fprintf(stderr, "repnet: %s: the scorer refused %llu of %zu observations\n", to,
		        (unsigned long long)t.refused, x.n);
		goto out;
	}
	fprintf(stderr, "repnet: %s: %zu observations acknowledged\n", to, x.n);
	code = 0;
out:
	feeds_signer_free(signer);
	free(buf);
	free(x.obs);
	if (conf_loaded)
		daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
