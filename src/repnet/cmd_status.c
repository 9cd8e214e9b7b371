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
#include <stddef.h>
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
	uint64_t resync_backoffs;
	char rejected[256]; /* as repnet status has always printed it: " name :n,..." */
};

/* A collector's link to the scorer (its ingest client). */
struct st_link {
	bool present, connected;
	char url[512];
	uint64_t acked, refused, unauthenticated, queued, retries;
	int64_t last_ack_age_ms;
};

struct st_scorer {
	bool present;
	uint64_t listed, delistings;
	bool dry_run;
	char journal[16], journal_error[NAME_MAX_];
	int64_t journal_since_ms;
	uint64_t snapshot_failures;
	char snapshot_error[NAME_MAX_];
	int64_t snapshot_retry_ms, snapshot_ok_ms;
};

struct st_launcher {
	bool present;
	int64_t pid;
	bool up;
	uint64_t started, failed;
	char last_error[NAME_MAX_];
};

struct st_priv {
	bool present;
	bool dropped;
	uint64_t uid, gid;
	char user[NAME_MAX_], reason[256];
	struct st_launcher launcher;
};

/* The scorer's ingest listener: what it took, from whom, what it refused. */
struct st_last_refused {
	char reason[32], peer[64], key_id[24];
	int64_t age_ms;
};
struct st_collector {
	char name[NAME_MAX_];
	uint64_t batches, observations;
	int64_t age_ms;
};
struct st_ingest_server {
	bool present;
	uint64_t batches, observations, closed_before_message;
	char refused[256]; /* " name :n,..." like a feed's rejected */
	bool has_last;
	struct st_last_refused last;
	struct st_collector collectors[64];
	size_t ncollectors;
};

#define CAPS_MAX 16

/* The descriptors: the limit, how many are open, and each listener's cap. */
struct st_fds {
	bool present;
	uint64_t limit, reserve;
	int64_t open;
	bool short_;
	char cap_name[CAPS_MAX][32];
	int64_t cap[CAPS_MAX];
	size_t ncaps;
};

struct st_doc {
	char instance[NAME_MAX_], version[32];
	struct st_fds fds;
	char roles[256]; /* space-separated */
	struct st_scorer scorer;
	struct st_ingest_server ingest;
	struct st_link link;
	struct st_priv priv;
	struct st_feed publisher, serving;
	uint64_t replica_entries;
	struct st_feed *members;
	size_t nmembers;
};

/* A field of struct T, member m, of type t. */
#define FIELD(T, name_, t, m)                                                                    \
	{                                                                                        \
		.name = (name_), .type = (t), .off = offsetof(T, m), .size = sizeof(((T *)0)->m) \
	}

/* {"reason": n, ...} into " reason :n,..." (out holds 256 bytes). */
static int read_counts(struct rn_json *r, int tok, char *out)
{
	struct rn_strbuf b;
	if (tok != RN_JSON_OBJ_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an object");
	rn_strbuf_init_fixed(&b, out, 256);
	for (size_t i = 0; (tok = rn_json_next(r)) == RN_JSON_KEY; i++) {
		char name[NAME_MAX_];
		uint64_t n;
		snprintf(name, sizeof(name), "%s", r->str);
		if (rn_json_next(r) != RN_JSON_NUM || rn_json_uint(r, &n) != RN_OK)
			return rn_json_fail(r, RN_EPARSE, "expected an unsigned integer");
		rn_strbuf_printf(&b, "%s %s :%" PRIu64, i > 0 ? "," : "", name, n);
	}
	return tok == RN_JSON_OBJ_END ? RN_OK : r->err;
}

/* "rejected": {"reason": n, ...} */
static int read_rejected(struct rn_json *r, int tok, void *base)
{
	return read_counts(r, tok, ((struct st_feed *)base)->rejected);
}

static const struct rn_json_field feed_fields[] = {
        FIELD(struct st_feed, "publisher", RN_JSON_F_STR, publisher),
        FIELD(struct st_feed, "epoch", RN_JSON_F_UINT, epoch),
        FIELD(struct st_feed, "seq", RN_JSON_F_UINT, seq),
        FIELD(struct st_feed, "digest", RN_JSON_F_STR, digest),
        FIELD(struct st_feed, "listed", RN_JSON_F_UINT, listed),
        FIELD(struct st_feed, "age_ms", RN_JSON_F_INT, age_ms),
        FIELD(struct st_feed, "in_sync", RN_JSON_F_BOOL, in_sync),
        FIELD(struct st_feed, "quarantined", RN_JSON_F_BOOL, quarantined),
        FIELD(struct st_feed, "resync_backoffs", RN_JSON_F_UINT, resync_backoffs),
        {.name = "rejected", .type = RN_JSON_F_FN, .fn = read_rejected},
};

static int read_feed(struct rn_json *r, int tok, struct st_feed *f)
{
	memset(f, 0, sizeof(*f));
	f->present = true;
	return rn_json_object(r, tok, feed_fields, RN_ARRAY_LEN(feed_fields), 0, f, NULL);
}

static int read_publisher(struct rn_json *r, int tok, void *base)
{
	return read_feed(r, tok, &((struct st_doc *)base)->publisher);
}

static int read_serving(struct rn_json *r, int tok, void *base)
{
	return read_feed(r, tok, &((struct st_doc *)base)->serving);
}

static int read_members(struct rn_json *r, int tok, void *base)
{
	struct st_doc *d = base;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	while ((tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		if (tok < 0)
			return tok;
		if (d->nmembers == MEMBERS_MAX)
			return rn_json_fail(r, RN_ELIMIT, "too many members");
		struct st_feed *m = realloc(d->members, (d->nmembers + 1) * sizeof(*m));
		if (m == NULL)
			return rn_json_fail(r, -ENOMEM, "out of memory");
		d->members = m;
		if (read_feed(r, tok, &d->members[d->nmembers++]) != RN_OK)
			return r->err;
	}
	return RN_OK;
}

static int read_roles(struct rn_json *r, int tok, void *base)
{
	struct st_doc *d = base;
	struct rn_strbuf b;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	rn_strbuf_init_fixed(&b, d->roles, sizeof(d->roles));
	while ((tok = rn_json_next(r)) == RN_JSON_STR)
		rn_strbuf_printf(&b, "%s%s", rn_strbuf_len(&b) > 0 ? " " : "", r->str);
	if (tok != RN_JSON_ARR_END)
		return tok < 0 ? tok : rn_json_fail(r, RN_EPARSE, "expected a string");
	return RN_OK;
}

static const struct rn_json_field scorer_fields[] = {
        FIELD(struct st_scorer, "listed", RN_JSON_F_UINT, listed),
        FIELD(struct st_scorer, "dry_run", RN_JSON_F_BOOL, dry_run),
        FIELD(struct st_scorer, "delistings", RN_JSON_F_UINT, delistings),
        FIELD(struct st_scorer, "journal", RN_JSON_F_STR, journal),
        FIELD(struct st_scorer, "journal_error", RN_JSON_F_STR, journal_error),
        FIELD(struct st_scorer, "journal_since_ms", RN_JSON_F_INT, journal_since_ms),
        FIELD(struct st_scorer, "snapshot_failures", RN_JSON_F_UINT, snapshot_failures),
        FIELD(struct st_scorer, "snapshot_error", RN_JSON_F_STR, snapshot_error),
        FIELD(struct st_scorer, "snapshot_retry_ms", RN_JSON_F_INT, snapshot_retry_ms),
        FIELD(struct st_scorer, "snapshot_ok_ms", RN_JSON_F_INT, snapshot_ok_ms),
};

static const struct rn_json_field launcher_fields[] = {
        FIELD(struct st_launcher, "pid", RN_JSON_F_INT, pid),
        FIELD(struct st_launcher, "up", RN_JSON_F_BOOL, up),
        FIELD(struct st_launcher, "started", RN_JSON_F_UINT, started),
        FIELD(struct st_launcher, "failed", RN_JSON_F_UINT, failed),
        FIELD(struct st_launcher, "last_error", RN_JSON_F_STR, last_error),
};

static int read_launcher(struct rn_json *r, int tok, void *base)
{
	struct st_launcher *l = &((struct st_priv *)base)->launcher;
	l->present = true;
	return rn_json_object(r, tok, launcher_fields, RN_ARRAY_LEN(launcher_fields), 0, l, NULL);
}

static const struct rn_json_field priv_fields[] = {
        FIELD(struct st_priv, "dropped", RN_JSON_F_BOOL, dropped),
        FIELD(struct st_priv, "uid", RN_JSON_F_UINT, uid),
        FIELD(struct st_priv, "gid", RN_JSON_F_UINT, gid),
        FIELD(struct st_priv, "user", RN_JSON_F_STR, user),
        FIELD(struct st_priv, "reason", RN_JSON_F_STR, reason),
        {.name = "launcher", .type = RN_JSON_F_FN, .fn = read_launcher},
};

static int read_priv(struct rn_json *r, int tok, void *base)
{
	struct st_priv *p = &((struct st_doc *)base)->priv;
	p->present = true;
	return rn_json_object(r, tok, priv_fields, RN_ARRAY_LEN(priv_fields), 0, p, NULL);
}

static int read_scorer(struct rn_json *r, int tok, void *base)
{
	struct st_scorer *s = &((struct st_doc *)base)->scorer;
	s->present = true;
	return rn_json_object(r, tok, scorer_fields, RN_ARRAY_LEN(scorer_fields), 0, s, NULL);
}

static int read_refused(struct rn_json *r, int tok, void *base)
{
	return read_counts(r, tok, ((struct st_ingest_server *)base)->refused);
}

static const struct rn_json_field last_fields[] = {
        FIELD(struct st_last_refused, "reason", RN_JSON_F_STR, reason),
        FIELD(struct st_last_refused, "peer", RN_JSON_F_STR, peer),
        FIELD(struct st_last_refused, "key_id", RN_JSON_F_STR, key_id),
        FIELD(struct st_last_refused, "age_ms", RN_JSON_F_INT, age_ms),
};

static int read_last(struct rn_json *r, int tok, void *base)
{
	struct st_ingest_server *s = base;
	s->has_last = true;
	return rn_json_object(r, tok, last_fields, RN_ARRAY_LEN(last_fields), 0, &s->last, NULL);
}

static const struct rn_json_field collector_fields[] = {
        FIELD(struct st_collector, "name", RN_JSON_F_STR, name),
        FIELD(struct st_collector, "batches", RN_JSON_F_UINT, batches),
        FIELD(struct st_collector, "observations", RN_JSON_F_UINT, observations),
        FIELD(struct st_collector, "age_ms", RN_JSON_F_INT, age_ms),
};

static int read_collectors(struct rn_json *r, int tok, void *base)
{
	struct st_ingest_server *s = base;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	while ((tok = rn_json_next(r)) != RN_JSON_ARR_END) {
		if (tok < 0)
			return tok;
		if (s->ncollectors == RN_ARRAY_LEN(s->collectors))
			return rn_json_fail(r, RN_ELIMIT, "too many collectors");
		struct st_collector *c = &s->collectors[s->ncollectors++];
		if (rn_json_object(r, tok, collector_fields, RN_ARRAY_LEN(collector_fields), 0, c,
		                   NULL) != RN_OK)
			return r->err;
	}
	return RN_OK;
}

static const struct rn_json_field ingest_fields[] = {
        FIELD(struct st_ingest_server, "batches", RN_JSON_F_UINT, batches),
        FIELD(struct st_ingest_server, "observations", RN_JSON_F_UINT, observations),
        FIELD(struct st_ingest_server, "closed_before_message", RN_JSON_F_UINT,
              closed_before_message),
        {.name = "refused", .type = RN_JSON_F_FN, .fn = read_refused},
        {.name = "last_refused", .type = RN_JSON_F_FN, .fn = read_last},
        {.name = "collectors", .type = RN_JSON_F_FN, .fn = read_collectors},
};

static const struct rn_json_field link_fields[] = {
        FIELD(struct st_link, "url", RN_JSON_F_STR, url),
        FIELD(struct st_link, "connected", RN_JSON_F_BOOL, connected),
        FIELD(struct st_link, "acked", RN_JSON_F_UINT, acked),
        FIELD(struct st_link, "refused", RN_JSON_F_UINT, refused),
        FIELD(struct st_link, "unauthenticated", RN_JSON_F_UINT, unauthenticated),
        FIELD(struct st_link, "queued", RN_JSON_F_UINT, queued),
        FIELD(struct st_link, "retries", RN_JSON_F_UINT, retries),
        FIELD(struct st_link, "last_ack_age_ms", RN_JSON_F_INT, last_ack_age_ms),
};

static int read_link(struct rn_json *r, int tok, void *base)
{
	struct st_link *l = &((struct st_doc *)base)->link;
	l->present = true;
	l->last_ack_age_ms = -1;
	return rn_json_object(r, tok, link_fields, RN_ARRAY_LEN(link_fields), 0, l, NULL);
}

static int read_ingest(struct rn_json *r, int tok, void *base)
{
	struct st_ingest_server *s = &((struct st_doc *)base)->ingest;
	s->present = true;
	return rn_json_object(r, tok, ingest_fields, RN_ARRAY_LEN(ingest_fields), 0, s, NULL);
}

/* "caps": {"listener": n, ...} */
static int read_caps(struct rn_json *r, int tok, void *base)
{
	struct st_fds *f = base;
	if (tok != RN_JSON_OBJ_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an object");
	while ((tok = rn_json_next(r)) == RN_JSON_KEY) {
		if (f->ncaps == CAPS_MAX)
			return rn_json_fail(r, RN_ELIMIT, "too many listeners");
		snprintf(f->cap_name[f->ncaps], sizeof(f->cap_name[0]), "%s", r->str);
		if (rn_json_next(r) != RN_JSON_NUM || rn_json_int(r, &f->cap[f->ncaps]) != RN_OK)
			return rn_json_fail(r, RN_EPARSE, "expected an integer");
		f->ncaps++;
	}
	return tok == RN_JSON_OBJ_END ? RN_OK : r->err;
}

static const struct rn_json_field fds_fields[] = {
        FIELD(struct st_fds, "limit", RN_JSON_F_UINT, limit),
        FIELD(struct st_fds, "open", RN_JSON_F_INT, open),
        FIELD(struct st_fds, "reserve", RN_JSON_F_UINT, reserve),
        FIELD(struct st_fds, "short", RN_JSON_F_BOOL, short_),
        {.name = "caps", .type = RN_JSON_F_FN, .fn = read_caps},
};

static int read_fds(struct rn_json *r, int tok, void *base)
{
	struct st_fds *f = &((struct st_doc *)base)->fds;
	f->present = true;
	return rn_json_object(r, tok, fds_fields, RN_ARRAY_LEN(fds_fields), 0, f, NULL);
}

static const struct rn_json_field doc_fields[] = {
        FIELD(struct st_doc, "instance", RN_JSON_F_STR, instance),
        FIELD(struct st_doc, "version", RN_JSON_F_STR, version),
        {.name = "roles", .type = RN_JSON_F_FN, .fn = read_roles},
        {.name = "descriptors", .type = RN_JSON_F_FN, .fn = read_fds},
        {.name = "scorer", .type = RN_JSON_F_FN, .fn = read_scorer},
        {.name = "ingest_server", .type = RN_JSON_F_FN, .fn = read_ingest},
        {.name = "ingest", .type = RN_JSON_F_FN, .fn = read_link},
        {.name = "privileges", .type = RN_JSON_F_FN, .fn = read_priv},
        {.name = "publisher", .type = RN_JSON_F_FN, .fn = read_publisher},
        {.name = "serving", .type = RN_JSON_F_FN, .fn = read_serving},
        FIELD(struct st_doc, "replica_entries", RN_JSON_F_UINT, replica_entries),
        {.name = "members", .type = RN_JSON_F_FN, .fn = read_members},
};

/* Reads the /status document into d; on failure err says where. */
static int status_parse(const char *text, struct st_doc *d, char *err, size_t errlen)
{
	char str[1024];
	struct rn_json r;
	memset(d, 0, sizeof(*d));
	rn_json_init(&r, (const uint8_t *)text, strlen(text), str, sizeof(str));
	int rc = rn_json_object(&r, rn_json_next(&r), doc_fields, RN_ARRAY_LEN(doc_fields), 0, d,
	                        NULL);
	if (rc == RN_OK && rn_json_next(&r) != RN_JSON_END)
		rc = r.err;
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
	else if (f->rejected[0])
		printf("  %-10s no state yet; rejected:%s\n", "", f->rejected);
	if (f->resync_backoffs > 0)
		printf("  %-10s %" PRIu64 " resyncs refused for their key or signature: resyncing "
		       "with backoff (check this peer's key in feeds.bus.peers)\n",
		       "", f->resync_backoffs);
}

/* A collector's link to its scorer. */
static void link_lines(const struct st_link *l)
{
	printf("\ningest link to %s: %s", l->url, l->connected ? "connected" : "NOT connected");
	if (l->last_ack_age_ms >= 0)
		printf(", last ack %lld s ago", (long long)(l->last_ack_age_ms / 1000));
	else
		printf(", no ack yet");
	printf(", queue %" PRIu64 "\n", l->queued);
	printf("  acked %" PRIu64 ", refused %" PRIu64 ", retries %" PRIu64 "%s\n", l->acked,
	       l->refused, l->retries,
	       l->unauthenticated > 0 ? ", REFUSED for our key (see the scorer's "
	                                "feeds.bus.collectors)"
	                              : "");
}

static void ingest_lines(const struct st_ingest_server *s)
{
	printf("\ningest: %" PRIu64 " batches, %" PRIu64 " observations taken\n", s->batches,
	       s->observations);
	for (size_t i = 0; i < s->ncollectors; i++) {
		const struct st_collector *c = &s->collectors[i];
		printf("  collector  %-16s %" PRIu64 " batches, %" PRIu64
		       " observations, last %lld s ago\n",
		       c->name, c->batches, c->observations, (long long)(c->age_ms / 1000));
	}
	printf("  refused   %s\n", s->refused[0] ? s->refused : " none");
	if (s->has_last)
		printf("  last refused: %s from %s, key %s, %lld s ago\n", s->last.reason,
		       s->last.peer, s->last.key_id, (long long)(s->last.age_ms / 1000));
	if (s->closed_before_message > 0)
		printf("  connections closed before a message (oversized or empty): %" PRIu64 "\n",
		       s->closed_before_message);
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

/*
 * The descriptors, and each listener's connections against its cap (from
 * repnet_connections_open; the policy cap covers its unix socket too).
 */
/* Failed TLS handshakes on the bus, by side and reason (the metrics). */
static void tls_lines(const char *m)
{
	static const char *const sides[] = {"listener", "dialer"};
	bool any = false;
	for (size_t s = 0; s < RN_ARRAY_LEN(sides); s++)
		for (int r = 0; r < FEEDS_TLS_R_COUNT; r++) {
			char lab[96];
			double v = 0;
			snprintf(lab, sizeof(lab), "side=\"%s\",reason=\"%s\"", sides[s],
			         feeds_bus_tls_reason_name(r));
			if (m == NULL ||
			    cli_metric(m, "repnet_bus_tls_failures_total", lab, &v) != 0 || v == 0)
				continue;
			if (!any)
				printf("\nTLS handshakes FAILED on the bus (see the log for "
				       "peers)\n");
			any = true;
			printf("  as %-8s %-22s %.0f\n", sides[s], feeds_bus_tls_reason_name(r), v);
		}
}

static void fds_lines(const struct st_fds *f, const char *m)
{
	if (!f->present)
		return;
	printf("\ndescriptors: %lld open, limit %" PRIu64 " (%" PRIu64
	       " kept for files, helpers and the bus)%s\n",
	       (long long)f->open, f->limit, f->reserve,
	       f->short_ ? "; SHORT: the bus listeners are not accepting" : "");
	for (size_t i = 0; i < f->ncaps; i++) {
		char lab[64];
		double v = 0, u = 0;
		bool known;
		snprintf(lab, sizeof(lab), "listener=\"%s\"", f->cap_name[i]);
		known = m != NULL && cli_metric(m, "repnet_connections_open", lab, &v) == 0;
		if (strcmp(f->cap_name[i], "policy") == 0 && m != NULL &&
		    cli_metric(m, "repnet_connections_open", "listener=\"policy_unix\"", &u) == 0)
			v += u;
		if (known)
			printf("  %-10s %.0f of %lld connections%s\n", f->cap_name[i], v,
			       (long long)f->cap[i], v >= (double)f->cap[i] ? " (FULL)" : "");
		else
			printf("  %-10s cap %lld connections\n", f->cap_name[i],
			       (long long)f->cap[i]);
	}
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
	metric_line(m, "process CPU seconds", "process_cpu_seconds_total", NULL);
	metric_line(m, "observations from SMTP logs", "repnet_collector_observations_total",
	            "origin=\"smtp\"");
	metric_line(m, "observations from flows", "repnet_collector_observations_total",
	            "origin=\"flow\"");
	/*
	 * On a scorer, what it journaled and acknowledged to every collector;
	 * elsewhere, what this collector's scorer acknowledged. (A scorer's
	 * own ingest client, kept for federation, sends nothing: its counter
	 * is 0.)
	 */
	double journaled;
	if (m != NULL && cli_metric(m, "repnet_ingest_observations_total", NULL, &journaled) == 0)
		printf("  %-34s %.0f (journaled here)\n", "observations acked by the scorer",
		       journaled);
	else
		metric_line(m, "observations acked by the scorer",
		            "repnet_collector_observations_acked_total", NULL);
	metric_line(m, "observations dropped (queue full)", "repnet_collector_queue_total",
	            "result=\"dropped\"");
	metric_line(m, "ingest queue depth", "repnet_collector_queue_depth", NULL);
	metric_line(m, "flow socket drops", "repnet_flow_socket_drops_total", NULL);
	metric_line(m, "batches refused by the scorer's key", "repnet_collector_batches_total",
	            "result=\"unauthenticated\"");
	if (d.priv.present) {
		if (d.priv.dropped)
			printf("\nprivileges: running as %s (uid %" PRIu64 ", gid %" PRIu64
			       "), no capability\n",
			       d.priv.user, d.priv.uid, d.priv.gid);
		else
			printf("\nprivileges: uid %" PRIu64 ", NOT dropped: %s\n", d.priv.uid,
			       d.priv.reason);
		const struct st_launcher *l = &d.priv.launcher;
		if (l->present)
			printf("  launcher pid %" PRId64 ", %s; %" PRIu64
			       " helpers started, %" PRIu64 " failed%s%s\n",
			       l->pid,
			       l->up ? "up" : "GONE (no helper can be started until a restart)",
			       l->started, l->failed, l->last_error[0] ? "; last error: " : "",
			       l->last_error);
	}
	if (d.scorer.present) {
		printf("\nscorer: %" PRIu64 " entries listed%s\n", d.scorer.listed,
		       d.scorer.dry_run ? " (DRY RUN: not published)" : "");
		if (d.scorer.delistings > 0)
			printf("  delistings in force: %" PRIu64
			       " (core.data_dir/scoring/delist)\n",
			       d.scorer.delistings);
		if (d.scorer.journal[0] != '\0' && strcmp(d.scorer.journal, "ok") != 0)
			printf("  journal %s (%s) for %lld s: batches are refused and retried by "
			       "their collectors\n",
			       strcmp(d.scorer.journal, "failed") == 0
			               ? "FAILED until a snapshot succeeds"
			               : "REFUSING until a write succeeds",
			       d.scorer.journal_error,
			       (long long)((rn_time_now_ms() - d.scorer.journal_since_ms) / 1000));
		if (d.scorer.snapshot_failures > 0)
			printf("  snapshots FAILING: %" PRIu64
			       " in a row (%s); next attempt in %lld "
			       "ms\n",
			       d.scorer.snapshot_failures, d.scorer.snapshot_error,
			       (long long)d.scorer.snapshot_retry_ms);
		else if (d.scorer.snapshot_ok_ms > 0)
			printf("  last snapshot %lld s ago\n",
			       (long long)((rn_time_now_ms() - d.scorer.snapshot_ok_ms) / 1000));
	}
	if (d.link.present)
		link_lines(&d.link);
	tls_lines(m);
	if (d.ingest.present)
		ingest_lines(&d.ingest);
	fds_lines(&d.fds, m);
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
