/*
 * policy.c: the Postfix policy delegation service (check_policy_service).
 *
 * Design notes. Postfix opens a connection, sends requests of
 * "name=value" lines ended by an empty line, and reads one
 * "action=...\n\n" answer per request; it keeps the connection open for
 * further requests (smtpd_policy_service_max_idle/_ttl decide when it
 * closes). So connections are long-lived and requests small. The
 * connection server (rn_connsrv, one thread) serves the TCP listener and
 * the unix socket; a request costs one parse and one view lookup, so a
 * thread is plenty for any mail server's rate.
 *
 * The server owns the connections: a receive buffer of POLICY_REQUEST_MAX
 * bytes and a send buffer of a few answers each, the caps
 * (policy.max_conns, policy.max_conns_per_client: when the server is
 * full, a newcomer from a client holding fewer connections than the
 * client holding the most is admitted by closing that client's oldest
 * connection, so idle connections from elsewhere cannot lock Postfix
 * out), the request deadline
 * (policy.request_timeout, not extended by trickled bytes) and the idle
 * timeout (policy.idle). This file is its handler. Unknown
 * attributes are ignored, as the protocol asks. A malformed request (a
 * line without "=", an over-long line or request, a NUL byte, no
 * "request" attribute) is logged (rate-limited) and the connection is
 * closed without an answer: Postfix then logs the failure and applies
 * its default action, which is what the protocol documents. A listed
 * client is answered REJECT, or DEFER_IF_PERMIT for the categories in
 * policy.defer, at the protocol states in policy.states; everything else
 * is DUNNO.
 *
 * The unix socket. Postfix's smtpd runs as the user postfix, so the socket
 * is given to a group (policy.unix_group, by default postfix where it
 * exists) with mode 0660, or kept the owner's (0600) when there is no
 * group; bind(2) alone would leave it at the umask's mode, which a unit's
 * UMask makes 0750 and Postfix cannot connect to. The mode and group are
 * set on the path right after the bind, before the server accepts
 * anything; the daemon has made the group one of its supplementary
 * groups before the privilege drop, so the change of group needs no
 * capability.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/policy.h"

#define POLICY_OUT_MAX 512

static int policy_unix_access(const struct feeds_rbl_conf *c);

/* ---- the request reader ------------------------------------------------ */

static void keep(char *dst, const uint8_t *v, size_t n)
{
	if (n > POLICY_VALUE_MAX - 1)
		n = POLICY_VALUE_MAX - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

int policy_req_parse(const uint8_t *buf, size_t len, struct policy_req *r, size_t *used)
{
	struct rn_cur c;
	memset(r, 0, sizeof(*r));
	rn_cur_init(&c, buf, len);
	for (;;) {
		size_t left = rn_cur_left(&c);
		const uint8_t *nl = left > 0 ? memchr(c.p, '\n', left) : NULL;
		if (nl == NULL)
			return left > POLICY_LINE_MAX ? RN_EOVERLONG : RN_ETRUNC;
		size_t ll = (size_t)(nl - c.p);
		if (ll > POLICY_LINE_MAX)
			return RN_EOVERLONG;
		const uint8_t *line = rn_cur_bytes(&c, ll + 1);
		if (line == NULL)
			return RN_ETRUNC;
		if (ll == 0)
			break;
		if (memchr(line, '\0', ll) != NULL)
			return RN_EPARSE;
		const uint8_t *eq = memchr(line, '=', ll);
		if (eq == NULL || eq == line)
			return RN_EPARSE;
		size_t nn = (size_t)(eq - line);
		for (size_t i = 0; i < nn; i++) {
			uint8_t ch = line[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
			      ch == '-' || (ch >= 'A' && ch <= 'Z')))
				return RN_EPARSE;
		}
		const uint8_t *v = eq + 1;
		size_t vn = ll - nn - 1;
		r->attrs++;
		if (nn == 7 && memcmp(line, "request", 7) == 0) {
			keep(r->request, v, vn);
			r->have_request = true;
		} else if (nn == 14 && memcmp(line, "protocol_state", 14) == 0) {
			keep(r->protocol_state, v, vn);
		} else if (nn == 14 && memcmp(line, "client_address", 14) == 0) {
			keep(r->client_address, v, vn);
			r->have_client = true;
		}
	}
	if (!r->have_request)
		return RN_EPARSE;
	*used = (size_t)(c.p - buf);
	return RN_OK;
}

/* ---- the server --------------------------------------------------------- */

struct feeds_policy {
	const struct feeds_rbl_conf *conf;
	const struct feeds_view *view;
	uint32_t defer_cats;
	unsigned port;
	struct rn_connsrv *srv;
	struct rn_metrics *metrics;
	struct rn_counter req_dunno, req_reject, req_defer, malformed;
};

static bool state_checked(const struct feeds_policy *p, const char *state)
{
	for (unsigned i = 0; feeds_policy_state_names[i] != NULL; i++)
		if ((p->conf->policy_states & (1u << i)) &&
		    strcasecmp(feeds_policy_state_names[i], state) == 0)
			return true;
	return false;
}

/* The answer to r into out; returns its length. */
static size_t policy_answer(struct feeds_policy *p, const struct policy_req *r, char *out,
                            size_t outlen)
{
	struct rn_addr a;
	int64_t exp = 0;
	uint32_t cats = 0;

	if (strcmp(r->request, "smtpd_access_policy") == 0 && r->have_client &&
	    state_checked(p, r->protocol_state) &&
	    rn_addr_parse_str(r->client_address, &a) == RN_OK) {
		cats = p->view->lookup(p->view->arg, &a, &exp);
		if (cats != 0 && exp != 0 && exp <= rn_time_now_ms())
			cats = 0;
	}
	if (cats == 0) {
		rn_counter_inc(&p->req_dunno);
		return (size_t)snprintf(out, outlen, "action=DUNNO\n\n");
	}
	char text[DNSBL_TXT_MAX + 1], addr[RN_ADDR_STRLEN];
	rn_addr_format(&a, addr, sizeof(addr));
	dnsbl_txt_expand(p->conf->policy_text, addr, cats, text, sizeof(text));
	/* A listing in any category not deferred is a rejection. */
	bool reject = (cats & ~p->defer_cats) != 0;
	if (reject)
		rn_counter_inc(&p->req_reject);
	else
		rn_counter_inc(&p->req_defer);
	int n = snprintf(out, outlen, "action=%s %s\n\n", reject ? "REJECT" : "DEFER_IF_PERMIT",
	                 text);
	return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}

/*
 * The connection server's handler: answers every complete request while
 * an answer fits; a malformed one closes the connection unanswered.
 */
static int policy_data(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used)
{
	struct feeds_policy *p = arg;
	size_t off = 0;
	while (off < len && rn_conn_room(c) >= POLICY_OUT_MAX) {
		struct policy_req r;
		size_t n = 0;
		int rc = policy_req_parse(in + off, len - off, &r, &n);
		if (rc == RN_ETRUNC) {
			if (len - off < POLICY_REQUEST_MAX)
				break;
			rc = RN_EOVERLONG;
		}
		if (rc != RN_OK) {
			rn_counter_inc(&p->malformed);
			log_warnx_rl("policy: malformed request (%s); closing the connection",
			             rn_strerror(rc));
			return rc;
		}
		char *out = (char *)rn_conn_reserve(c, POLICY_OUT_MAX);
		size_t k = policy_answer(p, &r, out, POLICY_OUT_MAX);
		if (k == 0)
			return RN_ELIMIT;
		rn_conn_commit(c, k);
		off += n;
	}
	*used = off;
	return RN_OK;
}

static int register_metrics(struct feeds_policy *p, struct rn_metrics *m)
{
	static const char *help = "Policy requests answered, by action.";
	int rc = rn_metrics_counter(m, p, "repnet_policy_requests_total", help, "action=\"dunno\"",
	                            &p->req_dunno);
	if (rc == RN_OK)
		rc = rn_metrics_counter(m, p, "repnet_policy_requests_total", help,
		                        "action=\"reject\"", &p->req_reject);
	if (rc == RN_OK)
		rc = rn_metrics_counter(m, p, "repnet_policy_requests_total", help,
		                        "action=\"defer_if_permit\"", &p->req_defer);
	if (rc == RN_OK)
		rc = rn_metrics_counter(m, p, "repnet_policy_malformed_total",
		                        "Malformed policy requests (the connection is closed).",
		                        NULL, &p->malformed);
	return rc;
}

int feeds_policy_start(struct feeds_policy **out, const struct feeds_rbl_conf *c,
                       const struct feeds_view *v, struct rn_metrics *m)
{
	int rc;
	struct feeds_policy *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->conf = c;
	p->view = v;
	for (size_t i = 0; i < c->policy_defer.n; i++) {
		enum rn_category cat;
		if (rn_category_parse(c->policy_defer.v[i], &cat) == RN_OK)
			p->defer_cats |= 1u << cat;
	}
	struct rn_connsrv_conf sc = {
	        .name = "policy",
	        .max_conns = (size_t)c->policy_max_conns,
	        .max_per_client = (size_t)c->policy_max_per_client,
	        .idle_ms = c->policy_idle_ms,
	        .msg_ms = c->policy_request_timeout_ms,
	        .in_max = POLICY_REQUEST_MAX,
	        .out_max = 4 * POLICY_OUT_MAX,
	        .ops = {.data = policy_data},
	        .arg = p,
	};
	rc = rn_connsrv_alloc(&p->srv, &sc, m);
	if (rc != RN_OK)
		goto fail;
	if (c->policy_listen == NULL && c->policy_unix == NULL) {
		rc = RN_ECONF;
		goto fail;
	}
	if (c->policy_listen != NULL) {
		struct rn_connsrv_listen l = {.name = "policy", .hostport = c->policy_listen};
		rc = rn_connsrv_listen(p->srv, &l, &p->port);
		if (rc != RN_OK) {
			log_warnx("policy: feeds.policy.listen = \"%s\": %s", c->policy_listen,
			          rn_strerror(rc));
			goto fail;
		}
	}
	if (c->policy_unix != NULL) {
		struct rn_connsrv_listen l = {.name = "policy_unix", .unix_path = c->policy_unix};
		rc = rn_connsrv_listen(p->srv, &l, NULL);
		if (rc != RN_OK) {
			log_warnx("policy: feeds.policy.unix = \"%s\": %s", c->policy_unix,
			          rn_strerror(rc));
			goto fail;
		}
		if ((rc = policy_unix_access(c)) != RN_OK)
			goto fail;
	}
	if (m != NULL) {
		p->metrics = m;
		if ((rc = register_metrics(p, m)) != RN_OK)
			goto fail;
	}
	rc = rn_connsrv_start(p->srv);
	if (rc != RN_OK)
		goto fail;
	*out = p;
	return RN_OK;
fail:
	feeds_policy_stop(p);
	return rc;
}

int feeds_policy_mode_parse(const char *s, unsigned *mode)
{
	size_t n = strlen(s);
	unsigned m = 0;
	if (n < 3 || n > 4)
		return RN_EPARSE;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return RN_EPARSE;
		m = m * 8 + (unsigned)(s[i] - '0');
	}
	if ((m & ~0666u) != 0 || (m & 0600u) != 0600u)
		return RN_EPARSE;
	*mode = m;
	return RN_OK;
}

int feeds_policy_unix_group(const struct feeds_rbl_conf *c, gid_t *gid, char *name, size_t namelen)
{
	const char *want = c->policy_unix_group != NULL ? c->policy_unix_group : "postfix";
	struct group gr, *res = NULL;
	char buf[4096];
	int e = getgrnam_r(want, &gr, buf, sizeof(buf), &res);
	if (e != 0 && e != ENOENT && e != ESRCH)
		return -e;
	if (res == NULL)
		return c->policy_unix_group != NULL ? RN_ECONF : RN_ENOTFOUND;
	*gid = gr.gr_gid;
	snprintf(name, namelen, "%s", gr.gr_name);
	return RN_OK;
}

/* Gives the bound socket its group and mode, and says what it chose. */
static int policy_unix_access(const struct feeds_rbl_conf *c)
{
	char gname[64];
	gid_t gid = 0;
	unsigned mode = 0;
	int rc = feeds_policy_unix_group(c, &gid, gname, sizeof(gname));
	bool group = rc == RN_OK;
	if (rc == RN_ENOTFOUND)
		log_notice("policy: there is no group postfix: the unix socket is the owner's "
		           "(set policy.unix_group for another group)");
	if (rc == RN_ECONF) {
		log_warnx("policy: policy.unix_group %s: there is no such group",
		          c->policy_unix_group);
		return rc;
	}
	if (rc != RN_OK && rc != RN_ENOTFOUND) {
		log_warnx("policy: looking up group %s: %s",
		          c->policy_unix_group != NULL ? c->policy_unix_group : "postfix",
		          rn_strerror(rc));
		return rc;
	}
	if (group && chown(c->policy_unix, (uid_t)-1, gid) != 0) {
		/* The default group is best effort: a user outside it keeps the socket. */
		if (c->policy_unix_group != NULL || errno != EPERM) {
			rc = -errno;
			log_warnx("policy: %s: cannot give the socket to group %s (gid %u): %s",
			          c->policy_unix, gname, (unsigned)gid, strerror(errno));
			return rc;
		}
		log_warnx("policy: %s: not a member of group %s, the socket stays the owner's "
		          "(run repnetd as root with core.user, or set policy.unix_group)",
		          c->policy_unix, gname);
		group = false;
	}
	if (c->policy_unix_mode != NULL) {
		if (feeds_policy_mode_parse(c->policy_unix_mode, &mode) != RN_OK)
			return RN_ECONF;
	} else {
		mode = group ? 0660 : 0600;
	}
	if (chmod(c->policy_unix, (mode_t)mode) != 0) {
		rc = -errno;
		log_warnx("policy: %s: chmod %04o: %s", c->policy_unix, mode, strerror(errno));
		return rc;
	}
	if (group)
		log_notice("policy: unix socket %s: mode %04o, group %s (gid %u)", c->policy_unix,
		           mode, gname, (unsigned)gid);
	else
		log_notice("policy: unix socket %s: mode %04o, owner only", c->policy_unix, mode);
	return RN_OK;
}

unsigned feeds_policy_port(const struct feeds_policy *p)
{
	return p->port;
}

void feeds_policy_stop(struct feeds_policy *p)
{
	if (p == NULL)
		return;
	rn_connsrv_free(p->srv);
	if (p->metrics != NULL)
		rn_metrics_unregister(p->metrics, p);
	free(p);
}
