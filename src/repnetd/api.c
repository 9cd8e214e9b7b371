/*
 * api.c: the operator API on repnetd's HTTP listener.
 *
 * Design notes. `repnet explain` and `repnet lookup` ask the running
 * daemon for the state of one address as of now, rather than read a
 * snapshot that may be minutes old. The listener is on loopback by
 * default (core.http_listen), and what it serves here is authenticated
 * as well: a client sends "Authorization: Bearer TOKEN", where TOKEN is
 * the content of data_dir/api.token, a random 256-bit value made at the
 * first start, mode 0600 and owned by the user repnetd runs as. So who
 * may ask is who may read the data directory (root, and core.user); the
 * token is compared in constant time. The endpoint actually bound (the
 * configuration may say port 0, or a wildcard address) is written to
 * data_dir/api.endpoint for the command line, and removed at stop.
 *
 *   GET /v1/explain?ip=ADDR  the scorer's explanation (score role), as
 *                            scoring_explain_json_write() writes it;
 *   GET /v1/lookup?ip=ADDR   where the address stands: the scorer's
 *                            current blocklist (score role) and the list
 *                            the DNSBL and the policy service answer from
 *                            (serve role); where the DNSBL listens; and,
 *                            with the sync role, which table or ipset
 *                            prefix holds the kernel sets (the daemon
 *                            itself keeps no CAP_NET_ADMIN: a client
 *                            running as root reads them).
 *
 * Handlers run on the HTTP listener's thread, one request at a time;
 * explain takes the scorer's engine lock for the time of one
 * explanation. Counted in repnet_api_requests_total{endpoint,result}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "api.h"
#include "roles.h"

#define TOKEN_BYTES 32
#define TOKEN_LEN   43 /* base64url of 32 bytes, no padding */

enum { EP_EXPLAIN, EP_LOOKUP, EP_LIST, EP_DELIST, EP_COUNT };
enum { RES_OK, RES_UNAUTHORIZED, RES_BAD_REQUEST, RES_UNAVAILABLE, RES_COUNT };
static const char *const ep_names[EP_COUNT] = {"explain", "lookup", "list", "delist"};
static const char *const result_names[RES_COUNT] = {"ok", "unauthorized", "bad_request",
                                                    "unavailable"};

struct api {
	struct roles *roles;
	char dnsbl_ep[RN_ADDR_STRLEN + 16]; /* the DNSBL's first listener, "" without one */
	char dnsbl_zone[256];               /* and its first zone */
	bool sync;                          /* the sync role runs: where its sets are */
	int sync_backend;
	char sync_table[128], sync_ipset_prefix[64];
	struct rn_metrics *metrics;
	char token[TOKEN_LEN + 1];
	char endpoint_path[4096];
	struct rn_counter req[EP_COUNT][RES_COUNT];
};

/* Reads data_dir/api.token, or makes it; a token others can read is replaced. */
static int token_load(struct api *a, const char *dir)
{
	char path[4096];
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int n = snprintf(path, sizeof(path), "%s/api.token", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return RN_ELIMIT;
	bool have = stat(path, &st) == 0;
	if (have && (st.st_mode & 077) == 0 && rn_file_read(path, 256, &buf, &len) == RN_OK) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (len == TOKEN_LEN) {
			memcpy(a->token, buf, TOKEN_LEN);
			a->token[TOKEN_LEN] = '\0';
			free(buf);
			return RN_OK;
		}
	}
	if (have)
		log_warnx("%s: not a token, unreadable, or readable by others; making a new one",
		          path);
	free(buf);
	uint8_t raw[TOKEN_BYTES];
	char text[TOKEN_LEN + 2];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(a->token, sizeof(a->token), raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	snprintf(text, sizeof(text), "%s\n", a->token);
	unlink(path); /* a new file gets 0600; an old one would keep its mode */
	return rn_file_replace(path, text, TOKEN_LEN + 1, 0600);
}

/* Where a client on this host reaches the listener: a wildcard becomes loopback. */
static int endpoint_write(struct api *a, const char *dir, const char *listen, unsigned port)
{
	char host[RN_ADDR_STRLEN + 2], text[RN_ADDR_STRLEN + 16];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon != NULL ? (size_t)(colon - listen) : 0;
	if (hl == 0 || hl >= sizeof(host))
		return RN_ECONF;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "[::]") == 0)
		snprintf(host, sizeof(host), "[::1]");
	int n = snprintf(text, sizeof(text), "%s:%u\n", host, port);
	int m = snprintf(a->endpoint_path, sizeof(a->endpoint_path), "%s/api.endpoint", dir);
	if (n < 0 || (size_t)n >= sizeof(text) || m < 0 || (size_t)m >= sizeof(a->endpoint_path))
		return RN_ELIMIT;
	return rn_file_replace(a->endpoint_path, text, (size_t)n, 0644);
}

/* The DNSBL's first listener with the port it bound, and its first zone's name. */
static void dnsbl_where(struct api *a, const struct daemon_conf *c, unsigned port)
{
	const struct feeds_rbl_conf *rc = &c->feeds.rbl;
	struct sockaddr_storage ss;
	unsigned sl;
	if (port == 0 || rc->dnsbl_listen.n == 0 || rc->dnsbl_zones.n == 0 ||
	    rn_hostport_parse(rc->dnsbl_listen.v[0], &ss, &sl) != RN_OK)
		return;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	rn_sockaddr_format(&ss, a->dnsbl_ep, sizeof(a->dnsbl_ep));
	/* "zone" or "zone:categories": the zone's name. */
	snprintf(a->dnsbl_zone, sizeof(a->dnsbl_zone), "%.*s",
	         (int)strcspn(rc->dnsbl_zones.v[0], ":"), rc->dnsbl_zones.v[0]);
}

static bool authorized(const struct api *a, const struct feeds_http_req *req)
{
	const char *h = req->header(req, "Authorization");
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	return strlen(h) == TOKEN_LEN && sodium_memcmp(h, a->token, TOKEN_LEN) == 0;
}

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
 * The value of parameter name in uri's query, percent-decoded into v (len
 * bytes). RN_ENOTFOUND when absent; RN_EPARSE when malformed or too long.
 */
static int query_param(const char *uri, const char *name, char *v, size_t len)
{
	size_t nl = strlen(name), n = 0;
	for (const char *p = strchr(uri, '?'); p != NULL && *p != '\0'; p = strchr(p, '&')) {
		p++;
		if (strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		for (p += nl + 1; *p != '\0' && *p != '&'; p++) {
			int c = (unsigned char)*p;
			if (c == '%') {
				int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
				if (lo < 0)
					return RN_EPARSE;
				c = hi << 4 | lo;
				p += 2;
			} else if (c == '+') {
				c = ' ';
			}
			if (c == 0 || n + 1 >= len)
				return RN_EPARSE;
			v[n++] = (char)c;
		}
		v[n] = '\0';
		return RN_OK;
	}
	return RN_ENOTFOUND;
}

/* The ip= parameter of uri as an address. */
static int query_ip(const char *uri, struct rn_addr *out)
{
	char v[RN_ADDR_STRLEN + 1];
	int rc = query_param(uri, "ip", v, sizeof(v));
	return rc != RN_OK ? rc : rn_addr_parse_str(v, out);
}

/* A JSON error body: {"error": why}. */
static void error_body(int code, const char *why, int *status, char **body, size_t *len,
                       const char **ctype)
{
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 4096);
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "error", why);
	rn_jsonw_obj_end(&w);
	*status = code;
	if (rn_jsonw_finish(&w) == RN_OK && rn_strbuf_take(&b, body, len) == RN_OK)
		*ctype = "application/json";
	rn_strbuf_release(&b);
}

/* Checks the token; on failure fills the answer and returns false. */
static bool auth_ok(struct api *a, int ep, const struct feeds_http_req *req, int *status,
                    char **body, size_t *len, const char **ctype)
{
	if (authorized(a, req))
		return true;
	rn_counter_inc(&a->req[ep][RES_UNAUTHORIZED]);
	log_warnx_rl("api: /v1/%s without a valid token refused", ep_names[ep]);
	error_body(401, "a valid Authorization: Bearer token (data_dir/api.token) is required",
	           status, body, len, ctype);
	return false;
}

/* Checks the token and the address; on failure fills the answer and returns false. */
static bool request_ok(struct api *a, int ep, const struct feeds_http_req *req,
                       struct rn_addr *addr, int *status, char **body, size_t *len,
                       const char **ctype)
{
	if (!auth_ok(a, ep, req, status, body, len, ctype))
		return false;
	if (query_ip(req->uri, addr) != RN_OK) {
		rn_counter_inc(&a->req[ep][RES_BAD_REQUEST]);
		error_body(400, "ip= must be an IPv4 or IPv6 address", status, body, len, ctype);
		return false;
	}
	return true;
}

static void finish(struct api *a, int ep, struct rn_jsonw *w, struct rn_strbuf *b, int *status,
                   char **body, size_t *len, const char **ctype)
{
	if (rn_jsonw_finish(w) != RN_OK || rn_strbuf_take(b, body, len) != RN_OK) {
		*status = 500;
		return;
	}
	rn_counter_inc(&a->req[ep][RES_OK]);
	*ctype = "application/json";
}

static void explain_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                       size_t *len, const char **ctype)
{
	struct api *a = arg;
	struct rn_addr addr;
	if (!request_ok(a, EP_EXPLAIN, req, &addr, status, body, len, ctype))
		return;
	struct scoring *s = roles_scorer(a->roles);
	if (s == NULL) {
		rn_counter_inc(&a->req[EP_EXPLAIN][RES_UNAVAILABLE]);
		error_body(404, "this repnetd has no score role", status, body, len, ctype);
		return;
	}
	struct scoring_explain *x = calloc(1, sizeof(*x));
	if (x == NULL || scoring_explain(s, &addr, x) != RN_OK) {
		free(x);
		*status = 500;
		return;
	}
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 8u << 20);
	rn_jsonw_init(&w, &b);
	scoring_explain_json_write(&w, x);
	free(x);
	finish(a, EP_EXPLAIN, &w, &b, status, body, len, ctype);
	rn_strbuf_release(&b);
}

static void listing_json(struct rn_jsonw *w, bool listed, uint32_t cats, int64_t expires_ms,
                         const struct rn_prefix *pfx)
{
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_bool(w, "listed", listed);
	if (listed) {
		if (pfx != NULL) {
			char p[RN_PREFIX_STRLEN];
			rn_prefix_format(pfx, p, sizeof(p));
			rn_jsonw_kv_str(w, "prefix", p);
		}
		rn_jsonw_key(w, "categories");
		rn_category_json_write(w, cats);
		rn_jsonw_kv_int(w, "expires_ms", expires_ms);
	}
	rn_jsonw_obj_end(w);
}

static void lookup_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                      size_t *len, const char **ctype)
{
	struct api *a = arg;
	struct rn_addr addr;
	char ip[RN_ADDR_STRLEN];
	if (!request_ok(a, EP_LOOKUP, req, &addr, status, body, len, ctype))
		return;
	int64_t now = rn_time_now_ms();
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 1u << 16);
	rn_jsonw_init(&w, &b);
	rn_addr_format(&addr, ip, sizeof(ip));
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "ip", ip);
	rn_jsonw_kv_int(&w, "now_ms", now);
	struct scoring *s = roles_scorer(a->roles);
	if (s != NULL) {
		struct scoring_table *t = scoring_current(s);
		struct scoring_hit hit;
		bool listed = t != NULL && scoring_table_lookup(t, &addr, now, &hit);
		rn_jsonw_key(&w, "scorer");
		listing_json(&w, listed, listed ? hit.cats : 0, listed ? hit.expires_ms : 0,
		             listed ? &hit.prefix : NULL);
		scoring_table_free(t);
	}
	const struct feeds_view *v = roles_view(a->roles);
	if (v != NULL) {
		int64_t exp = 0;
		uint32_t cats = v->lookup(v->arg, &addr, &exp);
		rn_jsonw_key(&w, "served");
		listing_json(&w, cats != 0, cats, exp, NULL);
	}
	/* Where to ask the DNSBL itself, for a client that wants its answer too. */
	if (a->dnsbl_ep[0] != '\0') {
		rn_jsonw_key(&w, "dnsbl");
		rn_jsonw_obj_begin(&w);
		rn_jsonw_kv_str(&w, "endpoint", a->dnsbl_ep);
		rn_jsonw_kv_str(&w, "zone", a->dnsbl_zone);
		rn_jsonw_obj_end(&w);
	}
	/* Where the kernel sets are, for a client with the privilege to read them. */
	if (a->sync) {
		rn_jsonw_key(&w, "sync");
		rn_jsonw_obj_begin(&w);
		rn_jsonw_kv_str(&w, "backend",
		                a->sync_backend == FEEDS_SYNC_IPSET ? "ipset" : "nft");
		rn_jsonw_kv_str(&w, "table", a->sync_table);
		rn_jsonw_kv_str(&w, "ipset_prefix", a->sync_ipset_prefix);
		rn_jsonw_obj_end(&w);
	}
	rn_jsonw_obj_end(&w);
	finish(a, EP_LOOKUP, &w, &b, status, body, len, ctype);
	rn_strbuf_release(&b);
}

/* ---- /v1/list ---------------------------------------------------------- */

#define LIST_DEFAULT 100
#define LIST_MAX     10000

/*
 * One page of a listing's entries in its source's own order, which the
 * cursor follows: the scorer's table by (family, length, address), the
 * served view by (address, length).
 */
struct page {
	struct rn_jsonw *w;
	int (*cmp)(const struct rn_prefix *x, const struct rn_prefix *y);
	uint32_t cats;           /* 0: any */
	struct rn_prefix within; /* family 0: anywhere */
	struct rn_prefix after;
	bool has_after;
	size_t limit, returned, matching;
	struct rn_prefix last;
	bool more;
};

static int cmp_scorer(const struct rn_prefix *x, const struct rn_prefix *y)
{
	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return rn_addr_cmp(&x->addr, &y->addr);
}

static int cmp_view(const struct rn_prefix *x, const struct rn_prefix *y)
{
	int c = rn_addr_cmp(&x->addr, &y->addr);
	return c != 0 ? c : (int)x->len - (int)y->len;
}

static bool inside(const struct rn_prefix *p, const struct rn_prefix *w)
{
	if (w->addr.family == 0)
		return true;
	return p->addr.family == w->addr.family && p->len >= w->len &&
	       rn_prefix_contains(w, &p->addr);
}

static void page_add(struct page *pg, const struct rn_prefix *p, uint32_t cats, int64_t exp)
{
	if ((pg->cats != 0 && (cats & pg->cats) == 0) || !inside(p, &pg->within))
		return;
	pg->matching++;
	if (pg->has_after && pg->cmp(p, &pg->after) <= 0)
		return;
	if (pg->returned == pg->limit) {
		pg->more = true;
		return;
	}
	char t[RN_PREFIX_STRLEN];
	rn_prefix_format(p, t, sizeof(t));
	rn_jsonw_obj_begin(pg->w);
	rn_jsonw_kv_str(pg->w, "prefix", t);
	rn_jsonw_key(pg->w, "categories");
	rn_category_json_write(pg->w, cats);
	rn_jsonw_kv_int(pg->w, "expires_ms", exp);
	rn_jsonw_obj_end(pg->w);
	pg->returned++;
	pg->last = *p;
}

static int page_view_fn(void *arg, const struct feeds_view_entry *e)
{
	page_add(arg, &e->prefix, e->categories, e->expires_ms);
	return 0;
}

/* The query's filters into pg; false with why on a bad one. */
static bool page_query(struct page *pg, const char *uri, const char **why)
{
	char v[64];
	int rc;
	pg->limit = LIST_DEFAULT;
	if ((rc = query_param(uri, "limit", v, sizeof(v))) == RN_OK) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (*end != '\0' || n == 0 || n > LIST_MAX) {
			*why = "limit= must be 1 to 10000";
			return false;
		}
		pg->limit = n;
	} else if (rc != RN_ENOTFOUND) {
		*why = "limit= is malformed";
		return false;
	}
	if ((rc = query_param(uri, "category", v, sizeof(v))) == RN_OK) {
		enum rn_category c;
		if (rn_category_parse(v, &c) != RN_OK) {
			*why = "category= names no category";
			return false;
		}
		pg->cats = 1u << c;
	} else if (rc != RN_ENOTFOUND) {
		*why = "category= is malformed";
		return false;
	}
	if ((rc = query_param(uri, "within", v, sizeof(v))) == RN_OK) {
		if (rn_prefix_parse_str(v, false, &pg->within) != RN_OK) {
			*why = "within= must be a prefix";
			return false;
		}
	} else if (rc != RN_ENOTFOUND) {
		*why = "within= is malformed";
		return false;
	}
	if ((rc = query_param(uri, "after", v, sizeof(v))) == RN_OK) {
		if (rn_prefix_parse_str(v, false, &pg->after) != RN_OK) {
			*why = "after= must be a prefix (the last one of the previous page)";
			return false;
		}
		pg->has_after = true;
	} else if (rc != RN_ENOTFOUND) {
		*why = "after= is malformed";
		return false;
	}
	return true;
}

static void list_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                    size_t *len, const char **ctype)
{
	struct api *a = arg;
	const char *why = NULL;
	char src[16] = "";
	struct page pg;
	memset(&pg, 0, sizeof(pg));
	if (!auth_ok(a, EP_LIST, req, status, body, len, ctype))
		return;
	if (!page_query(&pg, req->uri, &why) ||
	    (query_param(req->uri, "source", src, sizeof(src)) == RN_EPARSE &&
	     (why = "source= is malformed") != NULL)) {
		rn_counter_inc(&a->req[EP_LIST][RES_BAD_REQUEST]);
		error_body(400, why, status, body, len, ctype);
		return;
	}
	struct scoring *s = roles_scorer(a->roles);
	const struct feeds_view *v = roles_view(a->roles);
	bool use_scorer = strcmp(src, "scorer") == 0 || (src[0] == '\0' && s != NULL);
	if ((use_scorer && s == NULL) || (!use_scorer && v == NULL) ||
	    (src[0] != '\0' && strcmp(src, "scorer") != 0 && strcmp(src, "served") != 0)) {
		rn_counter_inc(&a->req[EP_LIST][RES_UNAVAILABLE]);
		error_body(404,
		           "no such list here: source=scorer needs the score role, "
		           "source=served the serve role",
		           status, body, len, ctype);
		return;
	}
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 64u << 20);
	rn_jsonw_init(&w, &b);
	pg.w = &w;
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "source", use_scorer ? "scorer" : "served");
	rn_jsonw_kv_int(&w, "now_ms", rn_time_now_ms());
	rn_jsonw_key(&w, "entries");
	rn_jsonw_arr_begin(&w);
	if (use_scorer) {
		struct scoring_table *t = scoring_current(s);
		struct scoring_iter it;
		struct scoring_entry e;
		pg.cmp = cmp_scorer;
		if (t != NULL) {
			scoring_iter_init(&it, t);
			while (scoring_iter_next(&it, &e))
				page_add(&pg, &e.prefix, e.cats, e.expires_ms);
		}
		scoring_table_free(t);
	} else {
		uint64_t version;
		pg.cmp = cmp_view;
		v->walk(v->arg, page_view_fn, &pg, &version);
	}
	rn_jsonw_arr_end(&w);
	rn_jsonw_kv_uint(&w, "matching", pg.matching);
	if (pg.more) {
		char t[RN_PREFIX_STRLEN];
		rn_prefix_format(&pg.last, t, sizeof(t));
		rn_jsonw_kv_str(&w, "next_after", t);
	}
	rn_jsonw_obj_end(&w);
	finish(a, EP_LIST, &w, &b, status, body, len, ctype);
	rn_strbuf_release(&b);
}

/* ---- /v1/delist ---------------------------------------------------------- */

#define DELIST_DEFAULT_MS (24 * 3600 * 1000LL)
#define DELIST_LONGEST_MS (365 * 24 * 3600 * 1000LL)

/* POST /v1/delist?prefix=P&reason=TEXT[&for=DURATION]: an expiring allow entry, now. */
static void delist_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                      size_t *len, const char **ctype)
{
	struct api *a = arg;
	char v[RN_PREFIX_STRLEN + 1], reason[SCORING_REASON_MAX], dur[32];
	struct rn_prefix p;
	int64_t for_ms = DELIST_DEFAULT_MS;
	const char *why = NULL;
	if (!auth_ok(a, EP_DELIST, req, status, body, len, ctype))
		return;
	if (query_param(req->uri, "prefix", v, sizeof(v)) != RN_OK ||
	    rn_prefix_parse_str(v, false, &p) != RN_OK)
		why = "prefix= must be an address or a prefix";
	else if (query_param(req->uri, "reason", reason, sizeof(reason)) != RN_OK ||
	         reason[0] == '\0')
		why = "reason= is required (at most 127 bytes): say why, for whoever reads it "
		      "later";
	else if (query_param(req->uri, "for", dur, sizeof(dur)) == RN_OK &&
	         (rn_duration_parse(dur, &for_ms) != RN_OK || for_ms <= 0 ||
	          for_ms > DELIST_LONGEST_MS))
		why = "for= must be a duration from 1ms to 365d";
	if (why != NULL) {
		rn_counter_inc(&a->req[EP_DELIST][RES_BAD_REQUEST]);
		error_body(400, why, status, body, len, ctype);
		return;
	}
	struct scoring *s = roles_scorer(a->roles);
	if (s == NULL) {
		rn_counter_inc(&a->req[EP_DELIST][RES_UNAVAILABLE]);
		error_body(404, "this repnetd has no score role: delist on the scorer", status,
		           body, len, ctype);
		return;
	}
	int64_t until = rn_time_now_ms() + for_ms;
	int rc = scoring_delist(s, &p, until, reason);
	if (rc != RN_OK) {
		log_warnx("api: delist %s: %s", v, rn_strerror(rc));
		error_body(rc == RN_ELIMIT ? 507 : 500, rn_strerror(rc), status, body, len, ctype);
		return;
	}
	struct rn_strbuf b;
	struct rn_jsonw w;
	char t[RN_PREFIX_STRLEN];
	rn_strbuf_init(&b, 4096);
	rn_jsonw_init(&w, &b);
	rn_prefix_format(&p, t, sizeof(t));
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "delisted", t);
	rn_jsonw_kv_int(&w, "until_ms", until);
	rn_jsonw_kv_str(&w, "reason", reason);
	rn_jsonw_obj_end(&w);
	finish(a, EP_DELIST, &w, &b, status, body, len, ctype);
	rn_strbuf_release(&b);
}

static int register_metrics(struct api *a)
{
	int rc = RN_OK;
	for (int e = 0; e < EP_COUNT && rc == RN_OK; e++)
		for (int r = 0; r < RES_COUNT && rc == RN_OK; r++) {
			char lab[96];
			snprintf(lab, sizeof(lab), "endpoint=\"%s\",result=\"%s\"", ep_names[e],
			         result_names[r]);
			rc = rn_metrics_counter(a->metrics, a, "repnet_api_requests_total",
			                        "Operator API requests (/v1/explain, /v1/lookup, "
			                        "/v1/list, /v1/delist), by endpoint and result.",
			                        lab, &a->req[e][r]);
		}
	return rc;
}

int api_start(struct api **out, const struct daemon_conf *c, struct feeds_http *http,
              struct roles *r, struct rn_metrics *m)
{
	struct api *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->roles = r;
	dnsbl_where(a, c, roles_dnsbl_port(r));
	if (c->core.roles & RN_ROLE_SYNC) {
		a->sync = true;
		a->sync_backend = c->feeds.sync.backend;
		snprintf(a->sync_table, sizeof(a->sync_table), "%s",
		         c->feeds.sync.table != NULL ? c->feeds.sync.table : "");
		snprintf(a->sync_ipset_prefix, sizeof(a->sync_ipset_prefix), "%s",
		         c->feeds.sync.ipset_prefix != NULL ? c->feeds.sync.ipset_prefix : "");
	}
	int rc = token_load(a, c->core.data_dir);
	if (rc != RN_OK) {
		log_errx("api: %s/api.token: %s", c->core.data_dir, rn_strerror(rc));
		free(a);
		return rc;
	}
	rc = endpoint_write(a, c->core.data_dir, c->core.http_listen, feeds_http_port(http));
	if (rc != RN_OK) {
		log_errx("api: %s/api.endpoint: %s", c->core.data_dir, rn_strerror(rc));
		free(a);
		return rc;
	}
	if (m != NULL) {
		a->metrics = m;
		if ((rc = register_metrics(a)) != RN_OK)
			goto fail;
	}
	/* From here a handler may hold a: it is the caller's to stop after the listener. */
	*out = a;
	if ((rc = feeds_http_handle(http, "/v1/explain", explain_cb, a)) != RN_OK ||
	    (rc = feeds_http_handle(http, "/v1/lookup", lookup_cb, a)) != RN_OK ||
	    (rc = feeds_http_handle(http, "/v1/list", list_cb, a)) != RN_OK ||
	    (rc = feeds_http_handle_post(http, "/v1/delist", delist_cb, a)) != RN_OK)
		log_errx("api: %s", rn_strerror(rc));
	return rc;
fail:
	api_stop(a);
	return rc;
}

void api_stop(struct api *a)
{
	if (a == NULL)
		return;
	if (a->endpoint_path[0] != '\0')
		unlink(a->endpoint_path);
	if (a->metrics != NULL)
		rn_metrics_unregister(a->metrics, a);
	sodium_memzero(a->token, sizeof(a->token));
	free(a);
}
