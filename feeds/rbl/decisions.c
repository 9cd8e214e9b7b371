/*
 * decisions.c: a CrowdSec-compatible decision stream, so that existing
 * bouncers (crowdsec-firewall-bouncer and others) enforce the blocklist.
 *
 * Design notes. CrowdSec's local API serves GET /v1/decisions/stream to
 * bouncers, authenticated by X-Api-Key: with startup=true the full set of
 * active decisions, otherwise what was added and deleted since the
 * bouncer's previous poll, as {"new": [...], "deleted": [...]}. repnet
 * keeps one position (a view version) per API key, in a fixed table, so
 * each bouncer gets its own delta from the view's change log. When the
 * log no longer reaches back (or the key has never polled) the full state
 * is sent instead; any decision the bouncer missed the deletion of then
 * expires on its own, because every decision carries a duration: the
 * listing's remaining lifetime, or decisions.duration for listings
 * without an expiry (bouncers re-add them on the next full state).
 *
 * Positions across restarts. A view version means nothing to the next
 * process, so what is kept per key is what the bouncer holds: after each
 * poll that changed it, the values of the state it was brought to are
 * written to <data_dir>/decisions/bouncer-<hash of the key> (0600, the
 * key itself never written; written atomically). At start each key's file
 * is read back. The first poll of a key after a restart, unless the
 * bouncer itself starts afresh (startup=true), gets the full state in
 * "new" and, in "deleted", every value the file holds that the view no
 * longer lists: so a listing removed or expired while repnetd was down
 * leaves the bouncer at once instead of at its own timeout. Saving costs
 * a walk of the view and a file write per changed poll and key. A crash
 * between a poll and its save loses that poll's changes to the file (the
 * bouncer's timeouts cover them, as before).
 *
 * Handlers run on nng's HTTP threads, concurrently. The position table is
 * guarded by one mutex, held across the view walk of a request so that a
 * key's position always matches what it was sent. API keys come from a
 * file (decisions.api_keys_file, mode 0600), not the configuration, so
 * that the configuration can be shown and dumped; they are compared in
 * constant time. A request without a known key gets 403 and is
 * counted.
 *
 * Live mode. GET /v1/decisions answers one question as LAPI's query mode
 * does: ?ip=X (the decisions whose value contains X: a host listing of X
 * and every listed prefix covering it), ?range=CIDR (with contains=true,
 * the default, the listings covering the whole range; with
 * contains=false, those inside it), scope=ip|range&value=V as the long
 * form, type=ban (anything else matches nothing) and no filter (every
 * decision). The answer is a JSON array of decisions in the stream's
 * form, or `null` when none matches, as LAPI's Go encoder writes an
 * empty result. It does not move the key's stream position. The view
 * offers no lookup that returns the matching prefix, so a query walks
 * the view in address order and stops past the queried address: a few
 * milliseconds on a million entries, under the view's writer lock;
 * bouncers that ask per connection should use the stream.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/stat.h>

#include <sodium.h>

#include "feeds/rbl/decisions.h"

#define KEY_MIN 8
#define KEY_MAX 256

struct bouncer {
	char *key;
	uint64_t version;
	bool valid;
	char *path;             /* its saved position, or NULL */
	struct rn_prefix *held; /* what it held at the last save of the previous run */
	size_t nheld;
};

/* A growable array of prefixes: the values one state lists. */
struct pfx_set {
	struct rn_prefix *v;
	size_t n, cap;
};

struct feeds_decisions {
	const struct feeds_rbl_conf *conf;
	const struct feeds_view *view;
	struct rn_metrics *metrics;
	pthread_mutex_t lock;
	struct bouncer *b;
	size_t nb;
	uint64_t next_id;
	struct rn_counter polls_full, polls_delta, polls_live, bad_queries, forbidden, errors;
	struct rn_counter restored, save_errors;
};

/* Go's time.Duration text for whole seconds: "3h59m12s", "4m0s", "12s". */
static void go_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;
	if (s < 0)
		s = 0;
	if (s >= 3600)
		snprintf(out, outlen, "%lldh%lldm%llds", (long long)(s / 3600),
		         (long long)(s % 3600 / 60), (long long)(s % 60));
	else if (s >= 60)
		snprintf(out, outlen, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, outlen, "%llds", (long long)s);
}

struct stream_ctx {
	struct feeds_decisions *d;
	struct rn_strbuf *b;
	struct rn_jsonw *w; /* inside the array being written */
	int64_t now;
	bool deleted_list; /* writing "deleted" entries */
	size_t count;
	struct pfx_set *collect; /* full walks: the values sent, or NULL */
};

static int pfx_cmp(const void *pa, const void *pb)
{
	const struct rn_prefix *a = pa, *b = pb;
	int c = rn_addr_cmp(&a->addr, &b->addr);
	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static int pfx_set_add(struct pfx_set *s, const struct rn_prefix *p)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct rn_prefix *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *p;
	return RN_OK;
}

static void write_decision(struct stream_ctx *x, const struct feeds_view_entry *e, bool deleted)
{
	char val[RN_PREFIX_STRLEN], dur[48], scen[256];
	bool host = e->prefix.len == rn_addr_maxlen(&e->prefix.addr);
	struct rn_strbuf sb;
	struct rn_jsonw *w = x->w;

	if (host)
		rn_addr_format(&e->prefix.addr, val, sizeof(val));
	else
		rn_prefix_format(&e->prefix, val, sizeof(val));
	rn_strbuf_init_fixed(&sb, scen, sizeof(scen));
	for (unsigned c = 1; c < RN_CAT_COUNT; c++) {
		if (!(e->categories & (1u << c)))
			continue;
		if (rn_strbuf_len(&sb) > 0)
			rn_strbuf_putc(&sb, ',');
		rn_strbuf_puts(&sb, rn_category_name(c));
	}
	int64_t left =
	        e->expires_ms != 0 ? e->expires_ms - x->now : x->d->conf->decisions_duration_ms;
	go_duration(deleted ? 0 : left, dur, sizeof(dur));
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_uint(w, "id", ++x->d->next_id);
	rn_jsonw_kv_str(w, "origin", "repnet");
	rn_jsonw_kv_str(w, "type", "ban");
	rn_jsonw_kv_str(w, "scope", host ? "Ip" : "Range");
	rn_jsonw_kv_str(w, "value", val);
	rn_jsonw_kv_str(w, "duration", dur);
	rn_jsonw_kv_str(w, "scenario", rn_strbuf_str(&sb));
	rn_jsonw_kv_bool(w, "simulated", false);
	rn_jsonw_obj_end(w);
	x->count++;
}

static int full_fn(void *arg, const struct feeds_view_entry *e)
{
	struct stream_ctx *x = arg;
	if (e->expires_ms != 0 && e->expires_ms <= x->now)
		return 0;
	if (x->collect != NULL) {
		int rc = pfx_set_add(x->collect, &e->prefix);
		if (rc != RN_OK)
			return rc;
	}
	if (x->b == NULL)
		return 0; /* collecting only */
	write_decision(x, e, false);
	return rn_strbuf_err(x->b);
}

/* ---- positions saved across restarts ------------------------------------ */

#define SAVE_HEADER "# repnet bouncer position 1\n"
#define SAVE_MAX    ((size_t)256 << 20)

/* Writes what b now holds (cur, sorted) to its file. */
static void position_save(struct feeds_decisions *d, struct bouncer *b, const struct pfx_set *cur)
{
	struct rn_strbuf sb;
	char *buf = NULL;
	size_t len = 0;
	rn_strbuf_init(&sb, SAVE_MAX);
	rn_strbuf_puts(&sb, SAVE_HEADER);
	for (size_t i = 0; i < cur->n; i++) {
		char t[RN_PREFIX_STRLEN];
		rn_prefix_format(&cur->v[i], t, sizeof(t));
		rn_strbuf_printf(&sb, "%s\n", t);
	}
	int rc = rn_strbuf_err(&sb);
	if (rc == RN_OK)
		rc = rn_strbuf_take(&sb, &buf, &len);
	if (rc == RN_OK)
		rc = rn_file_replace(b->path, buf, len, 0600);
	free(buf);
	rn_strbuf_release(&sb);
	if (rc != RN_OK) {
		rn_counter_add_shared(&d->save_errors, 1);
		log_warnx_rl("decisions: saving %s: %s", b->path, rn_strerror(rc));
	}
}

/*
 * Reads b's file, if any, into b->held (sorted). A malformed line makes
 * the whole file ignored (logged): a partial list would delete nothing
 * wrongly but might miss deletions, and the file is ours.
 */
static int position_load(struct feeds_decisions *d, struct bouncer *b)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct pfx_set set = {0};
	int rc = rn_file_read(b->path, SAVE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return RN_OK;
	if (rc != RN_OK) {
		log_warnx("decisions: %s: %s", b->path, rn_strerror(rc));
		return RN_OK; /* the stream still works, as if never saved */
	}
	size_t hl = strlen(SAVE_HEADER), off = hl;
	if (len < hl || memcmp(buf, SAVE_HEADER, hl) != 0) {
		log_warnx("decisions: %s is not a saved position; ignored", b->path);
		goto out;
	}
	while (off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		if (nl == NULL) {
			log_warnx("decisions: %s: truncated; ignored", b->path);
			goto bad;
		}
		size_t ll = (size_t)(nl - (buf + off));
		struct rn_prefix p;
		if (rn_prefix_parse(buf + off, ll, true, &p) != RN_OK) {
			log_warnx("decisions: %s: malformed line; ignored", b->path);
			goto bad;
		}
		if ((rc = pfx_set_add(&set, &p)) != RN_OK)
			goto bad;
		off += ll + 1;
	}
	qsort(set.v, set.n, sizeof(*set.v), pfx_cmp);
	b->held = set.v;
	b->nheld = set.n;
	set.v = NULL;
	rn_counter_add_shared(&d->restored, 1);
	log_notice("decisions: a bouncer's position restored (%zu values held)", b->nheld);
	goto out;
bad:
	free(set.v);
out:
	free(buf);
	return RN_OK;
}

static int position_path(struct feeds_decisions *d, struct bouncer *b, const char *dir)
{
	unsigned char h[16];
	char hex[33], path[PATH_MAX];
	crypto_generichash(h, sizeof(h), (const unsigned char *)b->key, strlen(b->key), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	int n = snprintf(path, sizeof(path), "%s/bouncer-%s", dir, hex);
	if (n < 0 || (size_t)n >= sizeof(path))
		return RN_ECONF;
	b->path = strdup(path);
	if (b->path == NULL)
		return -ENOMEM;
	return position_load(d, b);
}

/* The values b held and the state cur (sorted) no longer lists, as deletions. */
static int write_held_deleted(struct stream_ctx *x, const struct bouncer *b,
                              const struct pfx_set *cur)
{
	for (size_t i = 0; i < b->nheld; i++) {
		if (bsearch(&b->held[i], cur->v, cur->n, sizeof(*cur->v), pfx_cmp) != NULL)
			continue;
		struct feeds_view_entry e;
		memset(&e, 0, sizeof(e));
		e.prefix = b->held[i];
		write_decision(x, &e, true);
	}
	return rn_strbuf_err(x->b);
}

static int change_fn(void *arg, enum feeds_view_change what, const struct feeds_view_entry *e)
{
	struct stream_ctx *x = arg;
	bool del = what == FEEDS_VIEW_REMOVED;
	if (del != x->deleted_list)
		return 0;
	if (!del && e->expires_ms != 0 && e->expires_ms <= x->now)
		return 0;
	write_decision(x, e, del);
	return rn_strbuf_err(x->b);
}

static bool key_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0 && lb > 0;
}

/* The value of query parameter name in uri ("true" / "false"), or NULL. */
static bool query_true(const char *uri, const char *name)
{
	const char *q = strchr(uri, '?');
	size_t nl = strlen(name);
	while (q != NULL) {
		q++;
		if (strncmp(q, name, nl) == 0 && q[nl] == '=')
			return strncmp(q + nl + 1, "true", 4) == 0 &&
			       (q[nl + 5] == '\0' || q[nl + 5] == '&');
		q = strchr(q, '&');
	}
	return false;
}

static bool key_known(struct feeds_decisions *d, const struct feeds_http_req *req,
                      struct bouncer **out, int *status, char **body, size_t *len);

/* Starts the document afresh, up to the "new" array's first decision. */
static void stream_open(struct rn_strbuf *sb, struct rn_jsonw *w)
{
	rn_strbuf_reset(sb);
	rn_jsonw_init(w, sb);
	rn_jsonw_obj_begin(w);
	rn_jsonw_key(w, "new");
	rn_jsonw_arr_begin(w);
}

/* Closes the array being written and opens "deleted". */
static void stream_deleted(struct rn_jsonw *w)
{
	rn_jsonw_arr_end(w);
	rn_jsonw_key(w, "deleted");
	rn_jsonw_arr_begin(w);
}

static void stream_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                      size_t *len, const char **ctype)
{
	struct feeds_decisions *d = arg;
	struct bouncer *b = NULL;
	struct rn_strbuf sb;
	struct rn_jsonw w;
	uint64_t ver = 0;
	int rc;

	*ctype = "application/json";
	if (!key_known(d, req, &b, status, body, len))
		return;
	bool startup = query_true(req->uri, "startup");
	struct stream_ctx x = {.d = d, .b = &sb, .w = &w, .now = rn_time_now_ms()};

	rn_strbuf_init(&sb, SIZE_MAX);
	pthread_mutex_lock(&d->lock);
	bool full = startup || !b->valid;
	if (!full) {
		/* Two passes over the log: additions, then deletions. */
		stream_open(&sb, &w);
		rc = d->view->changes(d->view->arg, b->version, change_fn, &x, &ver);
		if (rc == RN_ENOTFOUND) {
			full = true;
		} else if (rc == RN_OK) {
			stream_deleted(&w);
			x.deleted_list = true;
			uint64_t ver2 = 0;
			rc = d->view->changes(d->view->arg, b->version, change_fn, &x, &ver2);
			if (rc == RN_OK && ver2 != ver)
				rc = RN_ESTATE; /* changed between passes: send everything */
			if (rc != RN_OK) {
				full = true;
			} else {
				rn_jsonw_arr_end(&w);
				rn_jsonw_obj_end(&w);
			}
		}
		if (!full)
			rn_counter_add_shared(&d->polls_delta, 1);
	}
	struct pfx_set cur = {0};
	bool have_cur = false;
	if (full) {
		x.deleted_list = false;
		x.collect = &cur;
		stream_open(&sb, &w);
		rc = d->view->walk(d->view->arg, full_fn, &x, &ver);
		x.collect = NULL;
		qsort(cur.v, cur.n, sizeof(*cur.v), pfx_cmp);
		have_cur = rc == RN_OK;
		stream_deleted(&w);
		/* The first poll after a restart: what the bouncer held and lost since. */
		if (rc == RN_OK && !b->valid && !startup && b->nheld > 0)
			rc = write_held_deleted(&x, b, &cur);
		rn_jsonw_arr_end(&w);
		rn_jsonw_obj_end(&w);
		if (rc == RN_OK)
			rn_counter_add_shared(&d->polls_full, 1);
	}
	if (rc == RN_OK)
		rc = rn_jsonw_finish(&w);
	if (rc == RN_OK) {
		bool changed = full || x.count > 0;
		b->version = ver;
		b->valid = true;
		free(b->held);
		b->held = NULL;
		b->nheld = 0;
		if (changed && b->path != NULL && !have_cur) {
			/* A delta: the state it was brought to, if the view has not moved on. */
			uint64_t v2 = 0;
			struct stream_ctx cx = {.d = d, .now = x.now, .collect = &cur};
			have_cur = d->view->walk(d->view->arg, full_fn, &cx, &v2) == RN_OK &&
			           v2 == ver;
			qsort(cur.v, cur.n, sizeof(*cur.v), pfx_cmp);
		}
		if (changed && b->path != NULL && have_cur)
			position_save(d, b, &cur);
	}
	pthread_mutex_unlock(&d->lock);
	free(cur.v);
	if (rc == RN_OK)
		rc = rn_strbuf_take(&sb, body, len);
	if (rc != RN_OK) {
		rn_counter_add_shared(&d->errors, 1);
		log_warnx_rl("decisions: %s", rn_strerror(rc));
		rn_strbuf_release(&sb);
		*status = 500;
		*body = strdup("{\"message\":\"internal error\"}");
		*len = *body != NULL ? strlen(*body) : 0;
	}
}

/* ---- live mode: GET /v1/decisions ------------------------------------- */

#define QUERY_VALUE_MAX 64

enum live_kind {
	LIVE_ALL = 0,    /* no filter: every decision */
	LIVE_IP,         /* listings containing an address */
	LIVE_RANGE_IN,   /* listings containing the whole range (contains=true) */
	LIVE_RANGE_OVER, /* listings inside the range (contains=false) */
	LIVE_NONE,       /* a filter nothing of repnet's matches */
};

struct live_ctx {
	struct stream_ctx x;
	enum live_kind kind;
	struct rn_prefix q; /* the address (a host prefix) or the range */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The value of query parameter name in uri, percent-decoded into out.
 * RN_ENOTFOUND when absent; RN_EPARSE when malformed or longer than
 * outlen - 1 bytes.
 */
static int query_get(const char *uri, const char *name, char *out, size_t outlen)
{
	const char *q = strchr(uri, '?');
	size_t nl = strlen(name);
	while (q != NULL) {
		q++;
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			size_t n = 0;
			for (const char *v = q + nl + 1; *v != '\0' && *v != '&'; v++) {
				char c = *v;
				if (c == '%') {
					int hi = hexval(v[1]), lo = hi < 0 ? -1 : hexval(v[2]);
					if (lo < 0)
						return RN_EPARSE;
					c = (char)(hi * 16 + lo);
					v += 2;
				}
				if (c == '\0' || n + 1 >= outlen)
					return RN_EPARSE;
				out[n++] = c;
			}
			out[n] = '\0';
			return RN_OK;
		}
		q = strchr(q, '&');
	}
	return RN_ENOTFOUND;
}

/* Reads the query of a live request into lc; RN_EPARSE for a bad one. */
static int live_parse(const char *uri, struct live_ctx *lc)
{
	char ip[QUERY_VALUE_MAX], range[QUERY_VALUE_MAX], scope[16], value[QUERY_VALUE_MAX];
	char type[32], contains[8];
	int rip = query_get(uri, "ip", ip, sizeof(ip));
	int rrange = query_get(uri, "range", range, sizeof(range));
	int rscope = query_get(uri, "scope", scope, sizeof(scope));
	int rvalue = query_get(uri, "value", value, sizeof(value));
	int rtype = query_get(uri, "type", type, sizeof(type));
	int rcont = query_get(uri, "contains", contains, sizeof(contains));
	if ((rip != RN_OK && rip != RN_ENOTFOUND) || (rrange != RN_OK && rrange != RN_ENOTFOUND) ||
	    (rscope != RN_OK && rscope != RN_ENOTFOUND) ||
	    (rvalue != RN_OK && rvalue != RN_ENOTFOUND) ||
	    (rtype != RN_OK && rtype != RN_ENOTFOUND) || (rcont != RN_OK && rcont != RN_ENOTFOUND))
		return RN_EPARSE;
	bool within = true;
	if (rcont == RN_OK) {
		if (strcmp(contains, "false") == 0)
			within = false;
		else if (strcmp(contains, "true") != 0)
			return RN_EPARSE;
	}
	/* scope=ip|range&value=V is the long form of ip=V and range=V. */
	if (rscope == RN_OK && rvalue == RN_OK && rip == RN_ENOTFOUND && rrange == RN_ENOTFOUND) {
		if (strcasecmp(scope, "ip") == 0) {
			memcpy(ip, value, sizeof(ip));
			rip = RN_OK;
		} else if (strcasecmp(scope, "range") == 0) {
			memcpy(range, value, sizeof(range));
			rrange = RN_OK;
		} else {
			lc->kind = LIVE_NONE; /* a scope repnet never decides on */
			return RN_OK;
		}
	}
	if (rip == RN_OK && rrange == RN_OK)
		return RN_EPARSE;
	if (rip == RN_OK) {
		struct rn_addr a;
		if (rn_addr_parse_str(ip, &a) != RN_OK)
			return RN_EPARSE;
		lc->q.addr = a;
		lc->q.len = (uint8_t)rn_addr_maxlen(&a);
		lc->kind = LIVE_IP;
	} else if (rrange == RN_OK) {
		if (rn_prefix_parse_str(range, false, &lc->q) != RN_OK ||
		    strchr(range, '/') == NULL)
			return RN_EPARSE;
		lc->kind = within ? LIVE_RANGE_IN : LIVE_RANGE_OVER;
	} else {
		lc->kind = LIVE_ALL;
	}
	if (rtype == RN_OK && strcmp(type, "ban") != 0)
		lc->kind = LIVE_NONE;
	return RN_OK;
}

/* 1: stop the walk, every later entry is past the query. */
#define LIVE_STOP 1

static int live_fn(void *arg, const struct feeds_view_entry *e)
{
	struct live_ctx *lc = arg;
	const struct rn_prefix *p = &e->prefix;
	bool match = false;
	if (lc->kind != LIVE_ALL && rn_addr_cmp(&p->addr, &lc->q.addr) > 0 &&
	    (lc->kind != LIVE_RANGE_OVER || !rn_prefix_contains(&lc->q, &p->addr)))
		return LIVE_STOP;
	switch (lc->kind) {
	case LIVE_ALL:
		match = true;
		break;
	case LIVE_IP:
	case LIVE_RANGE_IN:
		match = p->len <= lc->q.len && rn_prefix_contains(p, &lc->q.addr);
		break;
	case LIVE_RANGE_OVER:
		match = p->len >= lc->q.len && rn_prefix_contains(&lc->q, &p->addr);
		break;
	case LIVE_NONE:
		return LIVE_STOP;
	}
	if (!match || (e->expires_ms != 0 && e->expires_ms <= lc->x.now))
		return 0;
	write_decision(&lc->x, e, false);
	return rn_strbuf_err(lc->x.b);
}

/* Answers 403 and counts it when the request has no known key; true when it has. */
static bool key_known(struct feeds_decisions *d, const struct feeds_http_req *req,
                      struct bouncer **out, int *status, char **body, size_t *len)
{
	const char *key = req->header(req, "X-Api-Key");
	struct bouncer *b = NULL;
	if (key != NULL)
		for (size_t i = 0; i < d->nb; i++)
			if (key_equal(key, d->b[i].key))
				b = &d->b[i];
	if (b == NULL) {
		rn_counter_add_shared(&d->forbidden, 1);
		*status = 403;
		*body = strdup("{\"message\":\"access forbidden\"}");
		*len = *body != NULL ? strlen(*body) : 0;
		return false;
	}
	if (out != NULL)
		*out = b;
	return true;
}

static void live_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                    size_t *len, const char **ctype)
{
	struct feeds_decisions *d = arg;
	struct rn_strbuf sb;
	struct rn_jsonw w;
	struct live_ctx lc;
	uint64_t ver = 0;

	*ctype = "application/json";
	if (!key_known(d, req, NULL, status, body, len))
		return;
	memset(&lc, 0, sizeof(lc));
	if (live_parse(req->uri, &lc) != RN_OK) {
		rn_counter_add_shared(&d->bad_queries, 1);
		log_info_rl("decisions: bad live query %.120s", req->uri);
		*status = 400;
		*body = strdup("{\"message\":\"bad query: ip, range (CIDR), scope and value, type, "
		               "contains\"}");
		*len = *body != NULL ? strlen(*body) : 0;
		return;
	}
	rn_strbuf_init(&sb, SIZE_MAX);
	rn_jsonw_init(&w, &sb);
	rn_jsonw_arr_begin(&w);
	lc.x = (struct stream_ctx){.d = d, .b = &sb, .w = &w, .now = rn_time_now_ms()};
	pthread_mutex_lock(&d->lock); /* decision ids */
	int rc = lc.kind == LIVE_NONE ? RN_OK : d->view->walk(d->view->arg, live_fn, &lc, &ver);
	pthread_mutex_unlock(&d->lock);
	if (rc == LIVE_STOP)
		rc = RN_OK;
	rn_jsonw_arr_end(&w);
	if (rc == RN_OK)
		rc = rn_jsonw_finish(&w);
	if (rc == RN_OK && lc.x.count == 0) {
		rn_strbuf_reset(&sb);
		rn_strbuf_puts(&sb, "null");
		rc = rn_strbuf_err(&sb);
	}
	if (rc == RN_OK)
		rc = rn_strbuf_take(&sb, body, len);
	if (rc != RN_OK) {
		rn_counter_add_shared(&d->errors, 1);
		log_warnx_rl("decisions: %s", rn_strerror(rc));
		rn_strbuf_release(&sb);
		*status = 500;
		*body = strdup("{\"message\":\"internal error\"}");
		*len = *body != NULL ? strlen(*body) : 0;
		return;
	}
	rn_counter_add_shared(&d->polls_live, 1);
}

/*
 * Reads the key file: one key a line, blank lines and "#" comments
 * ignored. A file readable by group or others is refused, as are keys
 * shorter than KEY_MIN or longer than KEY_MAX characters and more keys
 * than decisions.max_bouncers.
 */
static int load_keys(struct feeds_decisions *d, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, off = 0;
	struct stat st;
	int rc;
	if (stat(path, &st) != 0) {
		rc = -errno;
		log_warnx("decisions: %s: %s", path, rn_strerror(rc));
		return rc;
	}
	if (st.st_mode & 077) {
		log_warnx("decisions: %s is readable by group or others; chmod 600 it", path);
		return RN_ECONF;
	}
	if ((rc = rn_file_read(path, 1 << 20, &buf, &len)) != RN_OK) {
		log_warnx("decisions: %s: %s", path, rn_strerror(rc));
		return rc;
	}
	d->b = calloc((size_t)d->conf->decisions_max_bouncers, sizeof(*d->b));
	if (d->b == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned lineno = 1; off < len; lineno++) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t ll = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		const uint8_t *l = buf + off;
		off += ll + (nl != NULL);
		while (ll > 0 && (l[ll - 1] == ' ' || l[ll - 1] == '\t' || l[ll - 1] == '\r'))
			ll--;
		while (ll > 0 && (l[0] == ' ' || l[0] == '\t')) {
			l++;
			ll--;
		}
		if (ll == 0 || l[0] == '#')
			continue;
		bool printable = true;
		for (size_t i = 0; i < ll; i++)
			printable &= l[i] > ' ' && l[i] < 0x7f;
		if (ll < KEY_MIN || ll > KEY_MAX || !printable) {
			log_warnx("decisions: %s:%u: a key is %d to %d printable characters", path,
			          lineno, KEY_MIN, KEY_MAX);
			rc = RN_ECONF;
			goto out;
		}
		if (d->nb == (size_t)d->conf->decisions_max_bouncers) {
			log_warnx("decisions: %s: more than %lld keys (decisions.max_bouncers)",
			          path, (long long)d->conf->decisions_max_bouncers);
			rc = RN_ELIMIT;
			goto out;
		}
		d->b[d->nb].key = strndup((const char *)l, ll);
		if (d->b[d->nb].key == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		d->nb++;
	}
	if (d->nb == 0) {
		log_warnx("decisions: %s holds no key", path);
		rc = RN_ECONF;
	}
out:
	if (buf != NULL)
		sodium_memzero(buf, len);
	free(buf);
	return rc;
}

int feeds_decisions_start(struct feeds_decisions **out, struct feeds_http *h,
                          const struct feeds_rbl_conf *c, const struct feeds_view *v,
                          struct rn_metrics *m)
{
	int rc;
	struct feeds_decisions *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->conf = c;
	d->view = v;
	d->metrics = m;
	pthread_mutex_init(&d->lock, NULL);
	if ((rc = load_keys(d, c->decisions_keys_file)) != RN_OK)
		goto fail;
	if (c->state_dir != NULL) {
		char dir[PATH_MAX];
		int n = snprintf(dir, sizeof(dir), "%s/decisions", c->state_dir);
		if (n < 0 || (size_t)n >= sizeof(dir)) {
			rc = RN_ECONF;
			goto fail;
		}
		if ((rc = rn_mkdirs(dir, 0700)) != RN_OK) {
			log_warnx("decisions: %s: %s", dir, rn_strerror(rc));
			goto fail;
		}
		for (size_t i = 0; i < d->nb; i++)
			if ((rc = position_path(d, &d->b[i], dir)) != RN_OK)
				goto fail;
	}
	if (m != NULL) {
		static const char *help = "Decision stream polls answered, by kind.";
		rc = rn_metrics_counter(m, d, "repnet_decisions_polls_total", help, "kind=\"full\"",
		                        &d->polls_full);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_polls_total", help,
		                             "kind=\"delta\"", &d->polls_delta);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_polls_total", help,
		                             "kind=\"live\"", &d->polls_live);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_bad_queries_total",
		                             "Live decision queries refused as malformed (400).",
		                             NULL, &d->bad_queries);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_positions_restored_total",
		                             "Bouncer positions read back from the data directory "
		                             "at start.",
		                             NULL, &d->restored);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_position_save_errors_total",
		                             "Bouncer positions that could not be saved.", NULL,
		                             &d->save_errors);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_forbidden_total",
		                             "Decision stream requests without a valid X-Api-Key.",
		                             NULL, &d->forbidden);
		rc = rc ? rc
		        : rn_metrics_counter(m, d, "repnet_decisions_errors_total",
		                             "Decision stream requests that failed inside repnet.",
		                             NULL, &d->errors);
		if (rc != RN_OK)
			goto fail;
	}
	rc = feeds_http_handle(h, "/v1/decisions/stream", stream_cb, d);
	if (rc == RN_OK)
		rc = feeds_http_handle(h, "/v1/decisions", live_cb, d);
	if (rc != RN_OK)
		goto fail;
	log_notice("decisions: serving /v1/decisions/stream and /v1/decisions to %zu key(s)",
	           d->nb);
	*out = d;
	return RN_OK;
fail:
	feeds_decisions_free(d);
	return rc;
}

void feeds_decisions_free(struct feeds_decisions *d)
{
	if (d == NULL)
		return;
	if (d->metrics != NULL)
		rn_metrics_unregister(d->metrics, d);
	pthread_mutex_destroy(&d->lock);
	for (size_t i = 0; d->b != NULL && i < d->nb; i++) {
		free(d->b[i].key);
		free(d->b[i].path);
		free(d->b[i].held);
	}
	free(d->b);
	free(d);
}
