/*
 * cmd_status.c: repnet status and repnet feed status, read from a running
 * repnetd's GET /status and /metrics.
 *
 * Design notes: /status is one JSON object (roles.c writes it). It is read
 * with the strict JSON reader into a struct of the fields printed here,
 * so a value is taken from its own key in its own object, never from a
 * key of the same name further on; keys this version does not know are
 * skipped, and a document that is not JSON is an error. --json prints the
 * object untouched for anything else.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

#define NAME_MAX_   80
#define MEMBERS_MAX 1024

/* A feed's state: the publisher's, the served replica's, or a member's. */
struct st_feed {
	bool present;
	char publisher[NAME_MAX_];
	uint64_t epoch, seq, listed;
	char digest[80];
	int64_t age_ms;
	bool in_sync, quarantined;
	char rejected[256]; /* as repnet status has always printed it: " name :n,..." */
};

struct st_doc {
	char instance[NAME_MAX_], version[32];
	char roles[256]; /* space-separated */
	bool scorer;
	uint64_t scorer_listed;
	bool dry_run;
	struct st_feed publisher, serving;
	uint64_t replica_entries;
	struct st_feed *members;
	size_t nmembers;
};

/* The last string read, copied (cut to the field's size). */
static void take_str(const struct rn_json *r, char *dst, size_t len)
{
	snprintf(dst, len, "%s", r->str);
}

/* A value of the wanted kind; anything else fails the reader. */
static int want(struct rn_json *r, int tok, int kind)
{
	if (tok < 0)
		return tok;
	if (tok != kind)
		return rn_json_fail(r, RN_EPARSE, "unexpected value type");
	return RN_OK;
}

static int want_uint(struct rn_json *r, int tok, uint64_t *v)
{
	int rc = want(r, tok, RN_JSON_NUM);
	if (rc == RN_OK && rn_json_uint(r, v) != RN_OK)
		rc = rn_json_fail(r, RN_EPARSE, "expected an unsigned integer");
	return rc;
}

static int want_bool(struct rn_json *r, int tok, bool *v)
{
	if (tok == RN_JSON_TRUE || tok == RN_JSON_FALSE) {
		*v = tok == RN_JSON_TRUE;
		return RN_OK;
	}
	return tok < 0 ? tok : rn_json_fail(r, RN_EPARSE, "unexpected value type");
}

/* "rejected": {"reason": n, ...} */
static int read_rejected(struct rn_json *r, struct st_feed *f)
{
	struct rn_strbuf b;
	int tok = rn_json_next(r), rc = want(r, tok, RN_JSON_OBJ_BEGIN);
	rn_strbuf_init_fixed(&b, f->rejected, sizeof(f->rejected));
	for (size_t i = 0; rc == RN_OK && (tok = rn_json_next(r)) == RN_JSON_KEY; i++) {
		char name[NAME_MAX_];
		uint64_t n;
		take_str(r, name, sizeof(name));
		if ((rc = want_uint(r, rn_json_next(r), &n)) == RN_OK)
			rn_strbuf_printf(&b, "%s %s :%" PRIu64, i > 0 ? "," : "", name, n);
	}
	return rc != RN_OK ? rc : tok == RN_JSON_OBJ_END ? RN_OK : r->err;
}

enum feed_key {
	F_PUBLISHER,
	F_EPOCH,
	F_SEQ,
	F_DIGEST,
	F_LISTED,
	F_AGE,
	F_IN_SYNC,
	F_QUARANTINED,
	F_REJECTED,
	F_COUNT,
};

/* One feed object; its opening brace was read. */
static int read_feed(struct rn_json *r, struct st_feed *f)
{
	static const char *const keys[F_COUNT] = {
	        [F_PUBLISHER] = "publisher",
	        [F_EPOCH] = "epoch",
	        [F_SEQ] = "seq",
	        [F_DIGEST] = "digest",
	        [F_LISTED] = "listed",
	        [F_AGE] = "age_ms",
	        [F_IN_SYNC] = "in_sync",
	        [F_QUARANTINED] = "quarantined",
	        [F_REJECTED] = "rejected",
	};
	uint32_t seen = 0;
	int tok, rc = RN_OK;
	memset(f, 0, sizeof(*f));
	f->present = true;
	while (rc == RN_OK && (tok = rn_json_next(r)) == RN_JSON_KEY) {
		int k = rn_json_key_index(r, keys, F_COUNT, &seen);
		if (k == F_REJECTED) {
			rc = read_rejected(r, f);
			continue;
		}
		tok = rn_json_next(r);
		switch (k) {
		case F_PUBLISHER:
			if ((rc = want(r, tok, RN_JSON_STR)) == RN_OK)
				take_str(r, f->publisher, sizeof(f->publisher));
			break;
		case F_EPOCH:
			rc = want_uint(r, tok, &f->epoch);
			break;
		case F_SEQ:
			rc = want_uint(r, tok, &f->seq);
			break;
		case F_DIGEST:
			if ((rc = want(r, tok, RN_JSON_STR)) == RN_OK)
				take_str(r, f->digest, sizeof(f->digest));
			break;
		case F_LISTED:
			rc = want_uint(r, tok, &f->listed);
			break;
		case F_AGE:
			if ((rc = want(r, tok, RN_JSON_NUM)) == RN_OK &&
			    rn_json_int(r, &f->age_ms) != RN_OK)
				rc = rn_json_fail(r, RN_EPARSE, "expected an integer");
			break;
		case F_IN_SYNC:
			rc = want_bool(r, tok, &f->in_sync);
			break;
		case F_QUARANTINED:
			rc = want_bool(r, tok, &f->quarantined);
			break;
		default: /* a key this version does not know, or a repeated one */
			rc = tok < 0 ? tok : rn_json_skip(r, tok);
			break;
		}
	}
	return rc != RN_OK ? rc : tok == RN_JSON_OBJ_END ? RN_OK : r->err;
}

static int read_roles(struct rn_json *r, struct st_doc *d)
{
	struct rn_strbuf b;
	int tok = rn_json_next(r), rc = want(r, tok, RN_JSON_ARR_BEGIN);
	rn_strbuf_init_fixed(&b, d->roles, sizeof(d->roles));
	while (rc == RN_OK && (tok = rn_json_next(r)) != RN_JSON_ARR_END)
		if ((rc = want(r, tok, RN_JSON_STR)) == RN_OK)
			rn_strbuf_printf(&b, "%s%s", rn_strbuf_len(&b) > 0 ? " " : "", r->str);
	return rc;
}

static int read_scorer(struct rn_json *r, struct st_doc *d)
{
	static const char *const keys[] = {"listed", "dry_run"};
	uint32_t seen = 0;
	int tok, rc = want(r, rn_json_next(r), RN_JSON_OBJ_BEGIN);
	d->scorer = true;
	while (rc == RN_OK && (tok = rn_json_next(r)) == RN_JSON_KEY) {
		int k = rn_json_key_index(r, keys, RN_ARRAY_LEN(keys), &seen);
		tok = rn_json_next(r);
		if (k == 0)
			rc = want_uint(r, tok, &d->scorer_listed);
		else if (k == 1)
			rc = want_bool(r, tok, &d->dry_run);
		else
			rc = tok < 0 ? tok : rn_json_skip(r, tok);
	}
	return rc != RN_OK ? rc : tok == RN_JSON_OBJ_END ? RN_OK : r->err;
}

static int read_members(struct rn_json *r, struct st_doc *d)
{
	int tok, rc = want(r, rn_json_next(r), RN_JSON_ARR_BEGIN);
	while (rc == RN_OK && (tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		if ((rc = want(r, tok, RN_JSON_OBJ_BEGIN)) != RN_OK)
			break;
		if (d->nmembers == MEMBERS_MAX)
			return rn_json_fail(r, RN_ELIMIT, "too many members");
		struct st_feed *m = realloc(d->members, (d->nmembers + 1) * sizeof(*m));
		if (m == NULL)
			return rn_json_fail(r, -ENOMEM, "out of memory");
		d->members = m;
		rc = read_feed(r, &d->members[d->nmembers++]);
	}
	return rc;
}

enum doc_key {
	D_INSTANCE,
	D_VERSION,
	D_ROLES,
	D_SCORER,
	D_PUBLISHER,
	D_SERVING,
	D_REPLICA,
	D_MEMBERS,
	D_COUNT,
};

/* Reads the /status document into d; on failure err says where. */
static int status_parse(const char *text, struct st_doc *d, char *err, size_t errlen)
{
	static const char *const keys[D_COUNT] = {
	        [D_INSTANCE] = "instance",
	        [D_VERSION] = "version",
	        [D_ROLES] = "roles",
	        [D_SCORER] = "scorer",
	        [D_PUBLISHER] = "publisher",
	        [D_SERVING] = "serving",
	        [D_REPLICA] = "replica_entries",
	        [D_MEMBERS] = "members",
	};
	char str[1024];
	struct rn_json r;
	uint32_t seen = 0;
	memset(d, 0, sizeof(*d));
	rn_json_init(&r, (const uint8_t *)text, strlen(text), str, sizeof(str));
	int tok, rc = want(&r, rn_json_next(&r), RN_JSON_OBJ_BEGIN);
	while (rc == RN_OK && (tok = rn_json_next(&r)) == RN_JSON_KEY) {
		int k = rn_json_key_index(&r, keys, D_COUNT, &seen);
		switch (k) {
		case D_ROLES:
			rc = read_roles(&r, d);
			continue;
		case D_SCORER:
			rc = read_scorer(&r, d);
			continue;
		case D_PUBLISHER:
		case D_SERVING:
			rc = want(&r, rn_json_next(&r), RN_JSON_OBJ_BEGIN);
			if (rc == RN_OK)
				rc = read_feed(&r, k == D_PUBLISHER ? &d->publisher : &d->serving);
			continue;
		case D_MEMBERS:
			rc = read_members(&r, d);
			continue;
		default:
			break;
		}
		tok = rn_json_next(&r);
		if (k == D_INSTANCE && (rc = want(&r, tok, RN_JSON_STR)) == RN_OK)
			take_str(&r, d->instance, sizeof(d->instance));
		else if (k == D_VERSION && (rc = want(&r, tok, RN_JSON_STR)) == RN_OK)
			take_str(&r, d->version, sizeof(d->version));
		else if (k == D_REPLICA)
			rc = want_uint(&r, tok, &d->replica_entries);
		else if (k < 0) /* a key this version does not know, or a repeated one */
			rc = tok < 0 ? tok : rn_json_skip(&r, tok);
	}
	if (rc == RN_OK && (tok != RN_JSON_OBJ_END || rn_json_next(&r) != RN_JSON_END))
		rc = r.err != RN_OK ? r.err : RN_EPARSE;
	if (rc != RN_OK)
		rn_json_error(&r, err, errlen);
	return rc;
}

static void status_free(struct st_doc *d)
{
	free(d->members);
}

/* Prints one feed's lines. */
static void feed_line(const char *label, const struct st_feed *f)
{
	printf("  %-10s %-16s epoch %" PRIu64 " seq %" PRIu64 " digest %.16s… listed %" PRIu64
	       ", %s%s\n",
	       label, f->publisher, f->epoch, f->seq, f->digest, f->listed,
	       f->in_sync ? "in sync" : "NOT in sync", f->quarantined ? ", QUARANTINED" : "");
	if (f->age_ms >= 0)
		printf("  %-10s last change %lld s ago%s%s\n", "", (long long)(f->age_ms / 1000),
		       f->rejected[0] ? "; rejected:" : "", f->rejected);
}

static void feed_lines(const struct st_doc *d, bool replica)
{
	if (d->publisher.present)
		feed_line("publishing", &d->publisher);
	if (d->serving.present) {
		feed_line("serving", &d->serving);
		if (replica)
			printf("  %-10s replica holds %" PRIu64 " entries\n", "",
			       d->replica_entries);
	}
	for (size_t i = 0; i < d->nmembers; i++)
		feed_line("member", &d->members[i]);
}

static int fetch(int argc, char **argv, bool *json, char **status, char **metrics)
{
	static const struct option lopts[] = {{"http", required_argument, NULL, 'h'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	const char *http = NULL, *path = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		if (ch == 'h')
			http = optarg;
		else if (ch == 'j')
			*json = true;
		else if (ch == 'c')
			path = optarg;
		else
			return 2;
	}
	struct daemon_conf c;
	struct rn_conf_error err;
	if (daemon_conf_load(&c, path, NULL, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnet: %s\n", msg);
		return 1;
	}
	char where[128];
	snprintf(where, sizeof(where), "%s",
	         http ? http : (c.core.http_listen ? c.core.http_listen : ""));
	daemon_conf_release(&c);
	int st = 0;
	int rc = cli_http_get(where, "/status", 5000, 4u << 20, status, &st);
	if (rc != RN_OK || st != 200) {
		fprintf(stderr, "repnet: no repnetd answers on http://%s/status: %s\n", where,
		        rc != RN_OK ? rn_strerror(rc) : "bad status");
		return 1;
	}
	if (metrics != NULL &&
	    (cli_http_get(where, "/metrics", 5000, 64u << 20, metrics, &st) != RN_OK ||
	     st != 200)) {
		free(*metrics);
		*metrics = NULL;
	}
	return 0;
}

static void metric_line(const char *m, const char *label, const char *name, const char *labels)
{
	double v;
	if (m != NULL && cli_metric(m, name, labels, &v) == 0)
		printf("  %-34s %.0f\n", label, v);
}

/*
 * Fetches /status (and /metrics) and reads the document, unless raw is set
 * and --json asks for the text as it came; 0 or an exit code.
 */
static int load(int argc, char **argv, bool raw, bool *json, char **s, char **m, struct st_doc *d)
{
	int code = fetch(argc, argv, json, s, m);
	if (code != 0 || (raw && *json))
		return code;
	char err[256];
	if (status_parse(*s, d, err, sizeof(err)) != RN_OK) {
		fprintf(stderr, "repnet: /status: %s\n", err);
		return 1;
	}
	return 0;
}

int cmd_status(int argc, char **argv)
{
	char *s = NULL, *m = NULL;
	bool json = false;
	struct st_doc d = {0};
	int code = load(argc, argv, true, &json, &s, &m, &d);
	if (code != 0)
		goto out;
	if (json) {
		fputs(s, stdout);
		goto out;
	}
	printf("repnetd %s, instance %s, roles %s\n", d.version, d.instance, d.roles);
	printf("\nrates and drops (totals since start)\n");
	metric_line(m, "process CPU seconds", "repnet_process_cpu_seconds_total", NULL);
	metric_line(m, "observations from SMTP logs", "repnet_collector_observations_total",
	            "origin=\"smtp\"");
	metric_line(m, "observations from flows", "repnet_collector_observations_total",
	            "origin=\"flow\"");
	metric_line(m, "observations acked by the scorer",
	            "repnet_collector_observations_acked_total", NULL);
	metric_line(m, "observations dropped (queue full)", "repnet_collector_queue_total",
	            "result=\"dropped\"");
	metric_line(m, "ingest queue depth", "repnet_collector_queue_depth", NULL);
	metric_line(m, "flow socket drops", "repnet_flow_socket_drops_total", NULL);
	if (d.scorer)
		printf("\nscorer: %" PRIu64 " entries listed%s\n", d.scorer_listed,
		       d.dry_run ? " (DRY RUN: not published)" : "");
	printf("\nfeed\n");
	feed_lines(&d, true);
	printf("\n");
out:
	status_free(&d);
	free(s);
	free(m);
	return code;
}

int cmd_feed(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "status") != 0)
		return 2;
	char *s = NULL;
	bool json = false;
	struct st_doc d = {0};
	int code = load(argc - 1, argv + 1, false, &json, &s, NULL, &d);
	if (code == 0)
		feed_lines(&d, false);
	status_free(&d);
	free(s);
	return code;
}
