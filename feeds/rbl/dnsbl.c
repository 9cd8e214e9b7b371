/*
 * dnsbl.c: the DNSBL server: UDP workers with recvmmsg/sendmmsg batches
 * on SO_REUSEPORT sockets, and one TCP thread.
 *
 * Design notes.
 *
 * Threads. There are dnsbl.workers UDP threads per listen address, each
 * owning one SO_REUSEPORT socket (the kernel spreads clients over them)
 * and everything it touches per packet: receive buffers, an answer arena,
 * its rate-limit table and its counters. Workers share only the compiled
 * configuration and the view, both read-only for them. One TCP thread
 * serves every TCP listener with poll(). feeds_dnsbl_stop() sets a flag,
 * shuts the UDP sockets down and writes an eventfd the TCP thread polls.
 *
 * Per wakeup a worker takes every queued datagram (up to DNSBL_BATCH) with
 * one blocking recvmmsg(MSG_WAITFORONE), answers each into a contiguous
 * arena, and sends every answer with one sendmmsg(): two system calls per
 * batch, where a recvfrom/sendto server makes two per query. Nothing is
 * allocated after start: the arena is flushed early if the next answer
 * might not fit, and the message headers are set up once.
 *
 * Counters are per thread (single writer, plain relaxed stores) and are
 * summed when /metrics is scraped.
 *
 * Rate limiting (optional) is a token bucket per client (IPv4 address or
 * IPv6 /64) in a fixed table per worker, indexed by a hash; a collision
 * simply takes the slot over. Since SO_REUSEPORT spreads one client's
 * queries over the workers, each worker allows rate/workers per second.
 *
 * TCP. A connection holds a receive and a send buffer (allocated at
 * accept, freed at close). Queries may be pipelined; while an answer is
 * not fully written no further query is read (back-pressure). Beyond
 * dnsbl.tcp_max_conns a new connection is closed at once; an idle one is
 * closed after dnsbl.tcp_idle; a length prefix larger than DNS_MSG_MAX
 * closes the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/rbl.h"

#define DNSBL_BATCH      64
#define DNSBL_IN_MAX     1500 /* larger datagrams are dropped (MSG_TRUNC) */
#define DNSBL_ARENA      (64 * 1024)
#define DNSBL_LISTEN_MAX 8
#define DNSBL_RL_SLOTS   4096

struct dnsbl_stats {
	struct rn_counter q_udp, q_tcp;
	struct rn_counter batches;  /* recvmmsg calls that returned datagrams */
	struct rn_counter rcode[6]; /* NOERROR .. REFUSED */
	struct rn_counter badvers;
	struct rn_counter listed, truncated;
	struct rn_counter drop_malformed, drop_ratelimit, drop_oversize, bad_name;
	struct rn_counter tcp_accepted, tcp_refused, tcp_idle, tcp_bad;
	struct rn_counter send_errors;
	char pad_[64];
};

struct rl_slot {
	uint64_t key;
	int64_t last_ms;
	double tokens;
};

struct dnsbl_worker {
	struct feeds_dnsbl *d;
	pthread_t th;
	bool started;
	int fds[DNSBL_LISTEN_MAX];
	unsigned nfds;
	struct dnsbl_stats st;
	struct rl_slot *rl; /* NULL when rate limiting is off */
	double rl_rate, rl_burst;
	uint8_t (*in)[DNSBL_IN_MAX];
	uint8_t *arena;
	struct mmsghdr rmsg[DNSBL_BATCH];
	struct iovec riov[DNSBL_BATCH];
	struct sockaddr_storage rsa[DNSBL_BATCH];
	struct mmsghdr smsg[DNSBL_BATCH];
	struct iovec siov[DNSBL_BATCH];
};

struct tcp_conn {
	int fd;
	int64_t last_ms;
	uint8_t *in; /* 2 + DNS_MSG_MAX */
	size_t inlen;
	uint8_t *out; /* 2 + DNS_MSG_MAX */
	size_t outlen, outoff;
};

struct metric_desc {
	struct feeds_dnsbl *d;
	size_t off;
};

struct feeds_dnsbl {
	struct dnsbl_cfg cfg;
	const struct feeds_rbl_conf *conf;
	const struct feeds_view *view;
	struct rn_metrics *metrics;
	int stopfd;
	_Atomic bool stop;
	unsigned port;
	struct dnsbl_worker *workers;
	unsigned nworkers;
	/* TCP */
	pthread_t tcp_th;
	bool tcp_started;
	int tcp_fds[DNSBL_LISTEN_MAX];
	unsigned ntcp;
	struct tcp_conn *conns;
	size_t nconns;
	struct dnsbl_stats tcp_st;
	struct rn_gauge tcp_open;
	struct metric_desc mdesc[32];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stats_rcode(struct dnsbl_stats *st, const struct dnsbl_result *r)
{
	if (r->rcode >= 0 && r->rcode < 6)
		rn_counter_inc(&st->rcode[r->rcode]);
	else if (r->rcode == DNS_R_BADVERS)
		rn_counter_inc(&st->badvers);
	if (r->listed)
		rn_counter_inc(&st->listed);
	if (r->truncated)
		rn_counter_inc(&st->truncated);
	if (r->bad_name)
		rn_counter_inc(&st->bad_name);
}

/* ---- UDP -------------------------------------------------------------- */

static uint64_t client_key(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		return 0x400000000ull | ntohl(s->sin_addr.s_addr);
	}
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
	uint64_t k = 0;
	memcpy(&k, s->sin6_addr.s6_addr, 8); /* the /64 */
	return k ^ 0x6000000000000000ull;
}

/* True when the client may send this query. */
static bool rl_allow(struct dnsbl_worker *w, const struct sockaddr_storage *ss, int64_t now)
{
	uint64_t k = client_key(ss);
	uint64_t h = k * 0x9E3779B97F4A7C15ull;
	struct rl_slot *s = &w->rl[h >> (64 - 12)];
	if (s->key != k) {
		s->key = k;
		s->last_ms = now;
		s->tokens = w->rl_burst;
	}
	double add = (double)(now - s->last_ms) * w->rl_rate / 1000.0;
	s->last_ms = now;
	s->tokens = s->tokens + add > w->rl_burst ? w->rl_burst : s->tokens + add;
	if (s->tokens < 1.0)
		return false;
	s->tokens -= 1.0;
	return true;
}

/* Answers one batch of n datagrams and sends the answers. */
static void udp_answer(struct dnsbl_worker *w, int fd, int n)
{
	struct feeds_dnsbl *d = w->d;
	int64_t now = now_ms();
	size_t off = 0;
	unsigned ns = 0;
	for (int i = 0; i < n; i++) {
		struct dnsbl_result r;
		rn_counter_inc(&w->st.q_udp);
		if (w->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			rn_counter_inc(&w->st.drop_oversize);
			continue;
		}
		if (w->rl != NULL && !rl_allow(w, &w->rsa[i], now)) {
			rn_counter_inc(&w->st.drop_ratelimit);
			continue;
		}
		if (DNSBL_ARENA - off < DNS_MSG_MAX) {
			/* Flush what is built; the arena is reused from the start. */
			if (ns > 0 && sendmmsg(fd, w->smsg, ns, 0) < 0)
				rn_counter_inc(&w->st.send_errors);
			off = 0;
			ns = 0;
		}
		size_t len = dnsbl_respond(&d->cfg, d->view, now, w->in[i], w->rmsg[i].msg_len,
		                           false, w->arena + off, DNS_MSG_MAX, &r);
		stats_rcode(&w->st, &r);
		if (len == 0) {
			rn_counter_inc(&w->st.drop_malformed);
			continue;
		}
		w->siov[ns].iov_base = w->arena + off;
		w->siov[ns].iov_len = len;
		w->smsg[ns].msg_hdr.msg_name = &w->rsa[i];
		w->smsg[ns].msg_hdr.msg_namelen = w->rmsg[i].msg_hdr.msg_namelen;
		ns++;
		off += (len + 7) & ~(size_t)7;
	}
	unsigned sent = 0;
	while (sent < ns) {
		int m = sendmmsg(fd, w->smsg + sent, ns - sent, 0);
		if (m <= 0) {
			if (m < 0 && errno == EINTR)
				continue;
			/* Count the datagram and move past it. */
			rn_counter_inc(&w->st.send_errors);
			sent++;
			continue;
		}
		sent += (unsigned)m;
	}
	/* recvmmsg wrote the address lengths: reset the ones used. */
	for (int i = 0; i < n; i++)
		w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rsa[i]);
}

/*
 * One worker, one blocking socket: recvmmsg(MSG_WAITFORONE) sleeps until a
 * datagram arrives and then takes every one queued (up to DNSBL_BATCH),
 * so a busy server answers whole batches with two system calls, and an
 * idle one costs nothing. The receive timeout only bounds how long a stop
 * may take to be noticed; feeds_dnsbl_stop() also shuts the socket down.
 */
static void *udp_main(void *arg)
{
	struct dnsbl_worker *w = arg;
	int fd = w->fds[0];
	for (unsigned i = 0; i < DNSBL_BATCH; i++) {
		w->riov[i].iov_base = w->in[i];
		w->riov[i].iov_len = DNSBL_IN_MAX;
		memset(&w->rmsg[i].msg_hdr, 0, sizeof(w->rmsg[i].msg_hdr));
		w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
		w->rmsg[i].msg_hdr.msg_iovlen = 1;
		w->rmsg[i].msg_hdr.msg_name = &w->rsa[i];
		w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rsa[i]);
		memset(&w->smsg[i].msg_hdr, 0, sizeof(w->smsg[i].msg_hdr));
		w->smsg[i].msg_hdr.msg_iov = &w->siov[i];
		w->smsg[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load_explicit(&w->d->stop, memory_order_relaxed)) {
		int n = recvmmsg(fd, w->rmsg, DNSBL_BATCH, MSG_WAITFORONE, NULL);
		if (n > 0) {
			rn_counter_inc(&w->st.batches);
			udp_answer(w, fd, n);
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warnx_rl("dnsbl: recvmmsg: %s", strerror(errno));
	}
	return NULL;
}

/* ---- TCP -------------------------------------------------------------- */

static void tcp_close(struct feeds_dnsbl *d, size_t i)
{
	struct tcp_conn *c = &d->conns[i];
	close(c->fd);
	free(c->in);
	free(c->out);
	d->conns[i] = d->conns[--d->nconns];
	rn_gauge_set(&d->tcp_open, (int64_t)d->nconns);
}

static void tcp_accept(struct feeds_dnsbl *d, int lfd, int64_t now)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (d->nconns >= (size_t)d->conf->dnsbl_tcp_max_conns) {
			rn_counter_inc(&d->tcp_st.tcp_refused);
			close(fd);
			continue;
		}
		struct tcp_conn *c = &d->conns[d->nconns];
		c->in = malloc(2 + DNS_MSG_MAX);
		c->out = malloc(2 + DNS_MSG_MAX);
		if (c->in == NULL || c->out == NULL) {
			free(c->in);
			free(c->out);
			close(fd);
			rn_counter_inc(&d->tcp_st.tcp_refused);
			continue;
		}
		c->fd = fd;
		c->last_ms = now;
		c->inlen = 0;
		c->outlen = 0;
		c->outoff = 0;
		d->nconns++;
		rn_counter_inc(&d->tcp_st.tcp_accepted);
		rn_gauge_set(&d->tcp_open, (int64_t)d->nconns);
	}
}

/* Writes pending output; false when the connection must close. */
static bool tcp_flush(struct tcp_conn *c)
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

/* Answers complete queries in the buffer; false when the connection must close. */
static bool tcp_process(struct feeds_dnsbl *d, struct tcp_conn *c)
{
	size_t off = 0;
	while (c->outlen == 0 && c->inlen - off >= 2) {
		size_t ml = (size_t)c->in[off] << 8 | c->in[off + 1];
		if (ml == 0 || ml > DNS_MSG_MAX) {
			rn_counter_inc(&d->tcp_st.tcp_bad);
			return false;
		}
		if (c->inlen - off < 2 + ml)
			break;
		struct dnsbl_result r;
		rn_counter_inc(&d->tcp_st.q_tcp);
		size_t len = dnsbl_respond(&d->cfg, d->view, now_ms(), c->in + off + 2, ml, true,
		                           c->out + 2, DNS_MSG_MAX, &r);
		stats_rcode(&d->tcp_st, &r);
		off += 2 + ml;
		if (len == 0) {
			rn_counter_inc(&d->tcp_st.drop_malformed);
			return false;
		}
		c->out[0] = (uint8_t)(len >> 8);
		c->out[1] = (uint8_t)len;
		c->outlen = len + 2;
		c->outoff = 0;
		if (!tcp_flush(c))
			return false;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return true;
}

static void *tcp_main(void *arg)
{
	struct feeds_dnsbl *d = arg;
	size_t maxfds = d->ntcp + 1 + (size_t)d->conf->dnsbl_tcp_max_conns;
	struct pollfd *pfd = calloc(maxfds, sizeof(*pfd));
	if (pfd == NULL) {
		log_warnx("dnsbl: tcp: out of memory");
		return NULL;
	}
	for (;;) {
		int64_t now = now_ms();
		int timeout = -1;
		size_t n = 0;
		for (unsigned i = 0; i < d->ntcp; i++)
			pfd[n++] = (struct pollfd){.fd = d->tcp_fds[i], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = d->stopfd, .events = POLLIN};
		for (size_t i = 0; i < d->nconns; i++) {
			struct tcp_conn *c = &d->conns[i];
			int64_t left = c->last_ms + d->conf->dnsbl_tcp_idle_ms - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = (int)left + 1;
			pfd[n++] = (struct pollfd){.fd = c->fd,
			                           .events = c->outlen > 0 ? POLLOUT : POLLIN};
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			log_warn("dnsbl: tcp poll");
			break;
		}
		if (pfd[d->ntcp].revents != 0)
			break;
		now = now_ms();
		/* Connections first (indexes shift as they close), from the end. */
		size_t base = d->ntcp + 1;
		for (size_t i = d->nconns; i-- > 0;) {
			struct tcp_conn *c = &d->conns[i];
			short re = r > 0 ? pfd[base + i].revents : 0;
			bool ok = true;
			if (re & (POLLERR | POLLNVAL)) {
				ok = false;
			} else if (re & POLLOUT) {
				ok = tcp_flush(c) && tcp_process(d, c);
				c->last_ms = now;
			} else if (re & (POLLIN | POLLHUP)) {
				ssize_t k = recv(c->fd, c->in + c->inlen,
				                 2 + DNS_MSG_MAX - c->inlen, 0);
				if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
					ok = false;
				else if (k > 0) {
					c->inlen += (size_t)k;
					c->last_ms = now;
					ok = tcp_process(d, c);
				}
			} else if (now - c->last_ms >= d->conf->dnsbl_tcp_idle_ms) {
				rn_counter_inc(&d->tcp_st.tcp_idle);
				ok = false;
			}
			if (!ok)
				tcp_close(d, i);
		}
		for (unsigned i = 0; i < d->ntcp && r > 0; i++)
			if (pfd[i].revents & POLLIN)
				tcp_accept(d, d->tcp_fds[i], now);
	}
	free(pfd);
	return NULL;
}

/* ---- sockets and lifecycle -------------------------------------------- */

static int open_socket(const struct sockaddr_storage *ss, unsigned sslen, int type, int *out)
{
	int one = 1;
	struct timeval tv = {.tv_usec = 250000};
	/* UDP sockets block (with a timeout); TCP ones are polled. */
	int fd = socket(ss->ss_family,
	                type | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * No SO_REUSEADDR on UDP: with it on both sides, a client's socket
	 * (dig's, for one) may be given our port and then receive its own
	 * queries. SO_REUSEPORT lets only sockets of the same user that also
	 * ask for it join.
	 */
	if ((type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
	    (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) ||
	    (type == SOCK_DGRAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) != 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return RN_OK;
}

static unsigned sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static double m_sum(void *arg)
{
	const struct metric_desc *md = arg;
	const struct feeds_dnsbl *d = md->d;
	uint64_t v =
	        rn_counter_get((const struct rn_counter *)((const char *)&d->tcp_st + md->off));
	for (unsigned i = 0; i < d->nworkers; i++)
		v += rn_counter_get(
		        (const struct rn_counter *)((const char *)&d->workers[i].st + md->off));
	return (double)v;
}

static int register_metrics(struct feeds_dnsbl *d)
{
	static const struct {
		const char *name, *help, *labels;
		size_t off;
	} rows[] = {
#define O(f) offsetof(struct dnsbl_stats, f)
	        {"repnet_dnsbl_queries_total", "DNS queries received, by transport.",
	         "transport=\"udp\"", O(q_udp)},
	        {"repnet_dnsbl_queries_total", "DNS queries received, by transport.",
	         "transport=\"tcp\"", O(q_tcp)},
	        {"repnet_dnsbl_udp_batches_total",
	         "recvmmsg calls that returned datagrams (queries per batch = queries / batches).",
	         NULL, O(batches)},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"noerror\"",
	         O(rcode[0])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"formerr\"",
	         O(rcode[1])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"servfail\"",
	         O(rcode[2])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"nxdomain\"",
	         O(rcode[3])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"notimp\"",
	         O(rcode[4])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"refused\"",
	         O(rcode[5])},
	        {"repnet_dnsbl_answers_total", "DNS answers sent, by rcode.", "rcode=\"badvers\"",
	         O(badvers)},
	        {"repnet_dnsbl_listed_total", "Queries for a listed address.", NULL, O(listed)},
	        {"repnet_dnsbl_truncated_total",
	         "UDP answers that did not fit and were sent truncated (TC).", NULL, O(truncated)},
	        {"repnet_dnsbl_dropped_total", "Queries not answered, by reason.",
	         "reason=\"malformed\"", O(drop_malformed)},
	        {"repnet_dnsbl_dropped_total", "Queries not answered, by reason.",
	         "reason=\"ratelimit\"", O(drop_ratelimit)},
	        {"repnet_dnsbl_dropped_total", "Queries not answered, by reason.",
	         "reason=\"oversize\"", O(drop_oversize)},
	        {"repnet_dnsbl_bad_names_total",
	         "Queries refused with FORMERR for a compression pointer or bad label.", NULL,
	         O(bad_name)},
	        {"repnet_dnsbl_tcp_connections_total", "TCP connections, by outcome.",
	         "outcome=\"accepted\"", O(tcp_accepted)},
	        {"repnet_dnsbl_tcp_connections_total", "TCP connections, by outcome.",
	         "outcome=\"refused\"", O(tcp_refused)},
	        {"repnet_dnsbl_tcp_connections_total", "TCP connections, by outcome.",
	         "outcome=\"idle_closed\"", O(tcp_idle)},
	        {"repnet_dnsbl_tcp_connections_total", "TCP connections, by outcome.",
	         "outcome=\"bad_length\"", O(tcp_bad)},
	        {"repnet_dnsbl_send_errors_total", "Answers the kernel refused to send.", NULL,
	         O(send_errors)},
#undef O
	};
	int rc = RN_OK;
	for (size_t i = 0; i < RN_ARRAY_LEN(rows) && rc == RN_OK; i++) {
		d->mdesc[i] = (struct metric_desc){d, rows[i].off};
		rc = rn_metrics_func(d->metrics, d, rows[i].name, rows[i].help, RN_METRIC_COUNTER,
		                     rows[i].labels, m_sum, &d->mdesc[i]);
	}
	if (rc == RN_OK)
		rc = rn_metrics_gauge(d->metrics, d, "repnet_dnsbl_tcp_open",
		                      "Open DNSBL TCP connections.", NULL, &d->tcp_open);
	return rc;
}

int feeds_dnsbl_start(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                      const struct feeds_view *v, struct rn_metrics *m)
{
	char err[256];
	int rc;
	struct feeds_dnsbl *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->stopfd = -1;
	d->conf = c;
	d->view = v;
	d->metrics = m;
	for (unsigned i = 0; i < DNSBL_LISTEN_MAX; i++)
		d->tcp_fds[i] = -1;
	rc = dnsbl_cfg_build(&d->cfg, c, err, sizeof(err));
	if (rc != RN_OK) {
		log_warnx("dnsbl: %s", err);
		goto fail;
	}
	if (c->dnsbl_listen.n == 0 || c->dnsbl_listen.n > DNSBL_LISTEN_MAX) {
		rc = RN_ECONF;
		goto fail;
	}
	d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stopfd < 0) {
		rc = -errno;
		goto fail;
	}
	/* One worker per (worker, address): each blocks on its own socket. */
	d->nworkers = (unsigned)c->dnsbl_workers * (unsigned)c->dnsbl_listen.n;
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	d->conns = calloc((size_t)c->dnsbl_tcp_max_conns, sizeof(*d->conns));
	if (d->workers == NULL || d->conns == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct dnsbl_worker *w = &d->workers[i];
		w->d = d;
		for (unsigned j = 0; j < DNSBL_LISTEN_MAX; j++)
			w->fds[j] = -1;
		w->in = malloc(sizeof(*w->in) * DNSBL_BATCH);
		w->arena = malloc(DNSBL_ARENA);
		if (w->in == NULL || w->arena == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		if (c->dnsbl_ratelimit > 0) {
			w->rl = calloc(DNSBL_RL_SLOTS, sizeof(*w->rl));
			if (w->rl == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			w->rl_rate = (double)c->dnsbl_ratelimit / (double)c->dnsbl_workers;
			w->rl_burst = (double)c->dnsbl_ratelimit_burst / (double)c->dnsbl_workers;
			if (w->rl_burst < 1)
				w->rl_burst = 1;
		}
	}
	/* Sockets: the first binds the port (0 picks one); the rest reuse it. */
	for (size_t a = 0; a < c->dnsbl_listen.n; a++) {
		struct sockaddr_storage ss;
		unsigned sslen;
		rc = rn_hostport_parse(c->dnsbl_listen.v[a], &ss, &sslen);
		if (rc != RN_OK) {
			log_warnx("dnsbl: listen \"%s\": %s", c->dnsbl_listen.v[a],
			          rn_strerror(rc));
			goto fail;
		}
		if (d->port != 0)
			set_port(&ss, d->port);
		for (unsigned i = 0; i < (unsigned)c->dnsbl_workers; i++) {
			struct dnsbl_worker *w = &d->workers[a * (size_t)c->dnsbl_workers + i];
			rc = open_socket(&ss, sslen, SOCK_DGRAM, &w->fds[w->nfds]);
			if (rc != RN_OK) {
				log_warnx("dnsbl: udp %s: %s", c->dnsbl_listen.v[a],
				          rn_strerror(rc));
				goto fail;
			}
			if (d->port == 0) {
				d->port = sock_port(w->fds[w->nfds]);
				set_port(&ss, d->port);
			}
			w->nfds++;
		}
		rc = open_socket(&ss, sslen, SOCK_STREAM, &d->tcp_fds[d->ntcp]);
		if (rc != RN_OK) {
			log_warnx("dnsbl: tcp %s: %s", c->dnsbl_listen.v[a], rn_strerror(rc));
			goto fail;
		}
		d->ntcp++;
	}
	if (m != NULL && (rc = register_metrics(d)) != RN_OK)
		goto fail;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (pthread_create(&d->workers[i].th, NULL, udp_main, &d->workers[i]) != 0) {
			rc = -EAGAIN;
			goto fail;
		}
		d->workers[i].started = true;
	}
	if (pthread_create(&d->tcp_th, NULL, tcp_main, d) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	d->tcp_started = true;
	*out = d;
	return RN_OK;
fail:
	feeds_dnsbl_stop(d);
	return rc;
}

unsigned feeds_dnsbl_port(const struct feeds_dnsbl *d)
{
	return d->port;
}

void feeds_dnsbl_stop(struct feeds_dnsbl *d)
{
	if (d == NULL)
		return;
	atomic_store(&d->stop, true);
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++)
		for (unsigned j = 0; j < d->workers[i].nfds; j++)
			shutdown(d->workers[i].fds[j], SHUT_RD);
	if (d->stopfd >= 0) {
		uint64_t one = 1;
		if (write(d->stopfd, &one, sizeof(one)) < 0)
			log_warn("dnsbl: stop");
	}
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++)
		if (d->workers[i].started)
			pthread_join(d->workers[i].th, NULL);
	if (d->tcp_started)
		pthread_join(d->tcp_th, NULL);
	if (d->metrics != NULL)
		rn_metrics_unregister(d->metrics, d);
	while (d->nconns > 0)
		tcp_close(d, d->nconns - 1);
	for (unsigned i = 0; i < d->ntcp; i++)
		close(d->tcp_fds[i]);
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++) {
		struct dnsbl_worker *w = &d->workers[i];
		for (unsigned j = 0; j < w->nfds; j++)
			close(w->fds[j]);
		free(w->in);
		free(w->arena);
		free(w->rl);
	}
	free(d->workers);
	free(d->conns);
	if (d->stopfd >= 0)
		close(d->stopfd);
	free(d);
}
