/*
 * cmd_sub.c: repnet sub, a verifying subscriber that prints what the
 * feed says as JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "util.h"

struct sub_ctx {
	pthread_mutex_t mu;
	const char *name;
	long count, max;
	bool quiet;
};

static const char *result_name(int rc)
{
	switch (rc) {
	case RN_OK:
		return "applied";
	case RN_EREPLAY:
		return "replay";
	case RN_EEPOCH:
		return "epoch_rollback";
	case RN_EDIGEST:
		return "digest_mismatch";
	case RN_EQUARANTINE:
		return "quarantined";
	case RN_ESTATE:
		return "needs_resync";
	default:
		return rn_strerror(rc);
	}
}

static void on_message(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m)
{
	struct sub_ctx *c = arg;
	char hex[65], line[1024];
	(void)s;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->digest[i]);
	pthread_mutex_lock(&c->mu);
	c->count++;
	if (c->quiet) { /* --list -: standard output is the list's */
		pthread_mutex_unlock(&c->mu);
		return;
	}
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init_fixed(&b, line, sizeof(line));
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "kind", m->kind);
	rn_jsonw_kv_str(&w, "publisher", c->name);
	rn_jsonw_kv_uint(&w, "epoch", m->epoch);
	rn_jsonw_kv_uint(&w, "seq", m->seq);
	rn_jsonw_kv_time(&w, "time", m->time_ms, true);
	rn_jsonw_kv_time(&w, "expires", m->expires_ms, true);
	rn_jsonw_kv_str(&w, "digest", hex);
	if (strcmp(m->kind, "delta") == 0) {
		rn_jsonw_kv_uint(&w, "added", m->added);
		rn_jsonw_kv_uint(&w, "removed", m->removed);
	} else {
		rn_jsonw_kv_uint(&w, "listed", m->listed);
	}
	rn_jsonw_kv_str(&w, "result", result_name(m->result));
	rn_jsonw_obj_end(&w);
	cli_json_print(stdout, &w, &b);
	fflush(stdout);
	pthread_mutex_unlock(&c->mu);
}

/* The state held at the end, as repnet score prints a blocklist. */
static int write_list(struct feeds_sub *s, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "repnet: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	struct scoring_table *t = feeds_sub_table(s);
	if (t != NULL) {
		struct scoring_iter it;
		struct scoring_entry e;
		scoring_iter_init(&it, t);
		while (scoring_iter_next(&it, &e))
			score_print_entry(f, &e, false);
		scoring_table_free(t);
	}
	int rc = fflush(f) == 0 && !ferror(f) ? RN_OK : -EIO;
	if (f != stdout && fclose(f) != 0)
		rc = -EIO;
	if (rc != RN_OK)
		fprintf(stderr, "repnet: %s: write failed\n", path);
	return rc;
}

/* tcp://host:7401 -> tcp://host:7402, the default layout. */
static int resync_default(const char *url, char *out, size_t len)
{
	const char *colon = strrchr(url, ':');
	if (colon == NULL || strchr(url, '/') == NULL || colon < strrchr(url, '/'))
		return RN_EPARSE;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port >= 65535)
		return RN_EPARSE;
	snprintf(out, len, "%.*s:%ld", (int)(colon - url), url, port + 1);
	return RN_OK;
}

int cmd_sub(int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"resync", required_argument, NULL, 'r'},  {"name", required_argument, NULL, 'n'},
	        {"key", required_argument, NULL, 'k'},     {"count", required_argument, NULL, 'N'},
	        {"timeout", required_argument, NULL, 't'}, {"config", required_argument, NULL, 'c'},
	        {"list", required_argument, NULL, 'l'},    {NULL, 0, NULL, 0}};
	const char *resync = NULL, *name = NULL, *key = NULL, *list = NULL;
	/* -o overrides (at most one per argument), freed before every return. */
	struct conf_args ca;
	long max = 0, timeout_s = 0;
	int ch;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'r':
			resync = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'N':
			max = strtol(optarg, NULL, 10);
			break;
		case 't':
			timeout_s = strtol(optarg, NULL, 10);
			break;
		case 'l':
			list = optarg;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind + 1 != argc || name == NULL || key == NULL) {
		conf_args_free(&ca);
		return 2;
	}
	const char *url = argv[optind];
	char rbuf[512];
	if (resync == NULL) {
		if (resync_default(url, rbuf, sizeof(rbuf)) != RN_OK) {
			fprintf(stderr, "repnet: give --resync for %s\n", url);
			conf_args_free(&ca);
			return 2;
		}
		resync = rbuf;
	}
	struct daemon_conf c;
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	struct feeds_keyring *ring = NULL;
	struct feeds_sub *s = NULL;
	struct sub_ctx ctx = {.mu = PTHREAD_MUTEX_INITIALIZER,
	                      .name = name,
	                      .max = max,
	                      .quiet = list != NULL && strcmp(list, "-") == 0};
	int code = 1, rc;
	if ((rc = feeds_keyring_alloc(&ring)) != RN_OK ||
	    (rc = feeds_keyring_add(ring, name, key, false)) != RN_OK) {
		fprintf(stderr, "repnet: key: %s\n", rn_strerror(rc));
		goto out;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct feeds_sub_opts o = {.keyring = ring,
	                           .ephemeral = true,
	                           .data_dir = c.core.data_dir,
	                           .limits = {.max_listings = (uint64_t)c.feeds.bus.max_listings},
	                           .on_message = on_message,
	                           .arg = &ctx};
	if ((rc = feeds_sub_start(&s, &c.feeds.bus, name, url, resync, &o)) != RN_OK) {
		fprintf(stderr, "repnet: subscribe %s: %s\n", url, rn_strerror(rc));
		goto out;
	}
	int64_t deadline = timeout_s > 0 ? rn_time_mono_ms() + timeout_s * 1000 : INT64_MAX;
	for (;;) {
		struct timespec ts = {.tv_nsec = 100000000};
		if (sigtimedwait(&set, NULL, &ts) > 0)
			break;
		pthread_mutex_lock(&ctx.mu);
		bool done = max > 0 && ctx.count >= max;
		pthread_mutex_unlock(&ctx.mu);
		if (done || rn_time_mono_ms() >= deadline)
			break;
	}
	struct feeds_feed_status st;
	feeds_sub_status(s, &st);
	uint64_t rej = 0;
	for (int r = 0; r < FEEDS_REJ_COUNT; r++)
		if (r != FEEDS_REJ_GAP)
			rej += st.rejected[r];
	char hex[65];
	for (size_t i = 0; i < sizeof(st.digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", st.digest[i]);
	fprintf(stderr,
	        "repnet: %ld verified messages, %llu rejected, at epoch %llu seq %llu digest %s, "
	        "%llu listed%s\n",
	        ctx.count, (unsigned long long)rej, (unsigned long long)st.epoch,
	        (unsigned long long)st.seq, hex, (unsigned long long)st.listed,
	        st.in_sync ? "" : " (not in sync)");
	code = (max > 0 && ctx.count < max) ? 1 : 0;
	if (list != NULL && write_list(s, list) != RN_OK)
		code = 1;
out:
	feeds_sub_stop(s);
	feeds_keyring_free(ring);
	daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
