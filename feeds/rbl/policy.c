/*
 * policy.c: the Postfix policy delegation service (check_policy_service).
 *
 * Design notes. Postfix opens a connection, sends requests of
 * "name=value" lines ended by an empty line, and reads one
 * "action=...\n\n" answer per request; it keeps the connection open for
 * further requests (smtpd_policy_service_max_idle/_ttl decide when it
 * closes). So connections are long-lived and requests small. One thread
 * serves every listener (TCP and a unix socket) and connection with
 * poll(); a request costs one parse and one view lookup, so a thread is
 * plenty for any mail server's rate.
 *
 * Each connection owns a receive buffer of POLICY_REQUEST_MAX bytes and a
 * small send buffer, allocated at accept and freed at close. Unknown
 * attributes are ignored, as the protocol asks. A malformed request (a
 * line without "=", an over-long line or request, a NUL byte, no
 * "request" attribute) is logged (rate-limited) and the connection is
 * closed without an answer: Postfix then logs the failure and applies
 * its default action, which is what the protocol documents. A listed
 * client is answered REJECT, or DEFER_IF_PERMIT for the categories in
 * policy.defer, at the protocol states in policy.states; everything else
 * is DUNNO.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/policy.h"

#define POLICY_OUT_MAX 512

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

struct pconn {
	int fd;
	int64_t last_ms;
	uint8_t *in; /* POLICY_REQUEST_MAX */
	size_t inlen;
	char out[POLICY_OUT_MAX];
	size_t outlen, outoff;
};

struct feeds_policy {
	const struct feeds_rbl_conf *conf;
	const struct feeds_view *view;
	struct rn_metrics *metrics;
	uint32_t defer_cats;
	int stopfd;
	int lfd[2];
	unsigned nl;
	unsigned port;
	char *unix_path;
	pthread_t th;
	bool started;
	struct pconn *conns;
	size_t nconns;
	struct rn_counter req_dunno, req_reject, req_defer;
	struct rn_counter malformed, conn_accepted, conn_refused, conn_idle;
	struct rn_gauge open;
};

static void pconn_close(struct feeds_policy *p, size_t i)
{
	close(p->conns[i].fd);
	free(p->conns[i].in);
	p->conns[i] = p->conns[--p->nconns];
	rn_gauge_set(&p->open, (int64_t)p->nconns);
}

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

static bool pconn_flush(struct pconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t k = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->outoff += (size_t)k;
	}
	c->outlen = c->outoff = 0;
	return true;
}

/* Answers complete requests; false when the connection must close. */
static bool pconn_process(struct feeds_policy *p, struct pconn *c)
{
	size_t off = 0;
	while (c->outlen == 0 && off < c->inlen) {
		struct policy_req r;
		size_t used = 0;
		int rc = policy_req_parse(c->in + off, c->inlen - off, &r, &used);
		if (rc == RN_ETRUNC) {
			if (c->inlen - off >= POLICY_REQUEST_MAX)
				rc = RN_EOVERLONG;
			else
				break;
		}
		if (rc != RN_OK) {
			rn_counter_inc(&p->malformed);
			log_warnx_rl("policy: malformed request (%s); closing the connection",
			             rn_strerror(rc));
			return false;
		}
		off += used;
		c->outlen = policy_answer(p, &r, c->out, sizeof(c->out));
		c->outoff = 0;
		if (c->outlen == 0 || !pconn_flush(c))
			return false;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return true;
}

static void policy_accept(struct feeds_policy *p, int lfd, int64_t now)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (p->nconns >= (size_t)p->conf->policy_max_conns) {
			rn_counter_inc(&p->conn_refused);
			close(fd);
			continue;
		}
		struct pconn *c = &p->conns[p->nconns];
		c->in = malloc(POLICY_REQUEST_MAX);
		if (c->in == NULL) {
			rn_counter_inc(&p->conn_refused);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_ms = now;
		c->inlen = c->outlen = c->outoff = 0;
		p->nconns++;
		rn_counter_inc(&p->conn_accepted);
		rn_gauge_set(&p->open, (int64_t)p->nconns);
	}
}

static void *policy_main(void *arg)
{
	struct feeds_policy *p = arg;
	size_t maxfds = p->nl + 1 + (size_t)p->conf->policy_max_conns;
	struct pollfd *pfd = calloc(maxfds, sizeof(*pfd));
	if (pfd == NULL) {
		log_warnx("policy: out of memory");
		return NULL;
	}
	for (;;) {
		int64_t now = rn_time_mono_ms();
		int timeout = -1;
		size_t n = 0;
		for (unsigned i = 0; i < p->nl; i++)
			pfd[n++] = (struct pollfd){.fd = p->lfd[i], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = p->stopfd, .events = POLLIN};
		for (size_t i = 0; i < p->nconns; i++) {
			struct pconn *c = &p->conns[i];
			int64_t left = c->last_ms + p->conf->policy_idle_ms - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = (int)left + 1;
			pfd[n++] = (struct pollfd){.fd = c->fd,
			                           .events = c->outlen > 0 ? POLLOUT : POLLIN};
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			log_warn("policy: poll");
			break;
		}
		if (r > 0 && pfd[p->nl].revents != 0)
			break;
		now = rn_time_mono_ms();
		size_t base = p->nl + 1;
		for (size_t i = p->nconns; i-- > 0;) {
			struct pconn *c = &p->conns[i];
			short re = r > 0 ? pfd[base + i].revents : 0;
			bool ok = true;
			if (re & (POLLERR | POLLNVAL)) {
				ok = false;
			} else if (re & POLLOUT) {
				ok = pconn_flush(c) && pconn_process(p, c);
				c->last_ms = now;
			} else if (re & (POLLIN | POLLHUP)) {
				ssize_t k = recv(c->fd, c->in + c->inlen,
				                 POLICY_REQUEST_MAX - c->inlen, 0);
				if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
					ok = false;
				} else if (k > 0) {
					c->inlen += (size_t)k;
					c->last_ms = now;
					ok = pconn_process(p, c);
				}
			} else if (now - c->last_ms >= p->conf->policy_idle_ms) {
				rn_counter_inc(&p->conn_idle);
				ok = false;
			}
			if (!ok)
				pconn_close(p, i);
		}
		for (unsigned i = 0; i < p->nl && r > 0; i++)
			if (pfd[i].revents & POLLIN)
				policy_accept(p, p->lfd[i], now);
	}
	free(pfd);
	return NULL;
}

static int listen_tcp(const char *hostport, int *out, unsigned *port)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	int one = 1;
	int rc = rn_hostport_parse(hostport, &ss, &sslen);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 64) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	socklen_t l = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0)
		*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
		                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	*out = fd;
	return RN_OK;
}

static int listen_unix(const char *path, int *out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return RN_ECONF;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket left by an earlier run is replaced; any other file is not. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 64) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return RN_OK;
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
	p->metrics = m;
	p->lfd[0] = p->lfd[1] = -1;
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->conns = calloc((size_t)c->policy_max_conns, sizeof(*p->conns));
	if (p->stopfd < 0 || p->conns == NULL) {
		rc = p->stopfd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < c->policy_defer.n; i++) {
		enum rn_category cat;
		if (rn_category_parse(c->policy_defer.v[i], &cat) == RN_OK)
			p->defer_cats |= 1u << cat;
	}
	if (c->policy_listen != NULL) {
		rc = listen_tcp(c->policy_listen, &p->lfd[p->nl], &p->port);
		if (rc != RN_OK) {
			log_warnx("policy: listen %s: %s", c->policy_listen, rn_strerror(rc));
			goto fail;
		}
		p->nl++;
	}
	if (c->policy_unix != NULL) {
		rc = listen_unix(c->policy_unix, &p->lfd[p->nl]);
		if (rc != RN_OK) {
			log_warnx("policy: listen %s: %s", c->policy_unix, rn_strerror(rc));
			goto fail;
		}
		p->unix_path = strdup(c->policy_unix);
		p->nl++;
	}
	if (p->nl == 0) {
		rc = RN_ECONF;
		goto fail;
	}
	if (m != NULL) {
		static const char *help = "Policy requests answered, by action.";
		rc = rn_metrics_counter(m, p, "repnet_policy_requests_total", help,
		                        "action=\"dunno\"", &p->req_dunno);
		rc = rc ? rc
		        : rn_metrics_counter(m, p, "repnet_policy_requests_total", help,
		                             "action=\"reject\"", &p->req_reject);
		rc = rc ? rc
		        : rn_metrics_counter(m, p, "repnet_policy_requests_total", help,
		                             "action=\"defer_if_permit\"", &p->req_defer);
		rc = rc ? rc
		        : rn_metrics_counter(
		                  m, p, "repnet_policy_malformed_total",
		                  "Malformed policy requests (the connection is closed).", NULL,
		                  &p->malformed);
		static const char *chelp = "Policy connections, by outcome.";
		rc = rc ? rc
		        : rn_metrics_counter(m, p, "repnet_policy_connections_total", chelp,
		                             "outcome=\"accepted\"", &p->conn_accepted);
		rc = rc ? rc
		        : rn_metrics_counter(m, p, "repnet_policy_connections_total", chelp,
		                             "outcome=\"refused\"", &p->conn_refused);
		rc = rc ? rc
		        : rn_metrics_counter(m, p, "repnet_policy_connections_total", chelp,
		                             "outcome=\"idle_closed\"", &p->conn_idle);
		rc = rc ? rc
		        : rn_metrics_gauge(m, p, "repnet_policy_open", "Open policy connections.",
		                           NULL, &p->open);
		if (rc != RN_OK)
			goto fail;
	}
	if (pthread_create(&p->th, NULL, policy_main, p) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	p->started = true;
	*out = p;
	return RN_OK;
fail:
	feeds_policy_stop(p);
	return rc;
}

unsigned feeds_policy_port(const struct feeds_policy *p)
{
	return p->port;
}

void feeds_policy_stop(struct feeds_policy *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		uint64_t one = 1;
		if (write(p->stopfd, &one, sizeof(one)) < 0)
			log_warn("policy: stop");
		pthread_join(p->th, NULL);
	}
	if (p->metrics != NULL)
		rn_metrics_unregister(p->metrics, p);
	while (p->nconns > 0)
		pconn_close(p, p->nconns - 1);
	for (unsigned i = 0; i < p->nl; i++)
		close(p->lfd[i]);
	if (p->unix_path != NULL) {
		unlink(p->unix_path);
		free(p->unix_path);
	}
	if (p->stopfd >= 0)
		close(p->stopfd);
	free(p->conns);
	free(p);
}
