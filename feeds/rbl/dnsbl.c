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
 * configuration and the view, both read-only for them. The connection
 * server (rn_connsrv, one thread) serves every TCP listener.
 * feeds_dnsbl_stop() sets a flag, shuts the UDP sockets down and frees
 * the connection server, which stops its thread.
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
 * Kernel drops. Each socket has SO_RXQ_OVFL: every datagram carries the
 * socket's cumulative count of datagrams the kernel dropped because the
 * receive queue was full (a uint32 that wraps). A worker owns its socket,
 * so it adds the difference from the last count it saw to its
 * drop_overflow counter; drops are therefore counted when the next
 * datagram after them is read, as the flow collector counts its own
 * (collector/capture_udp.c).
 *
 * Rate limiting (optional) is a token bucket per client (IPv4 address or
 * IPv6 /64) in a fixed table per worker, indexed by a hash; a collision
 * simply takes the slot over. Since SO_REUSEPORT spreads one client's
 * queries over the workers, each worker allows rate/workers per second.
 *
 * TCP. The connection server owns the connections (a receive and a send
 * buffer of one largest message each, allocated at accept), the caps
 * (dnsbl.tcp_max_conns, dnsbl.tcp_max_conns_per_client), the query
 * deadline (dnsbl.tcp_query_timeout, from a query's first byte: a client
 * trickling bytes does not extend it) and the idle timeout
 * (dnsbl.tcp_idle), all on the monotonic clock; when full, a client
 * holding fewer connections displaces the oldest connection of the
 * client holding the most, so trickling or idle connections cannot lock
 * out a resolver. tcp_data() is its handler: queries may be pipelined,
 * each answered when the previous answer has gone to the kernel
 * (back-pressure); a length prefix of 0 or larger than DNS_MSG_MAX, or a
 * query that cannot be answered, closes the connection.
 */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/rbl.h"

#define DNSBL_BATCH      64
#define DNSBL_IN_MAX     1500 /* larger datagrams are dropped (MSG_TRUNC) */
#define DNSBL_ARENA      (64 * 1024)
#define DNSBL_LISTEN_MAX 8
/* Attempts at a port free for both UDP and TCP, where the port is picked. */
#define DNSBL_PORT_ATTEMPTS 16
#define DNSBL_RL_SLOTS      4096

struct dnsbl_stats {
	struct rn_counter q_udp, q_tcp;
	struct rn_counter batches;  /* recvmmsg calls that returned datagrams */
	struct rn_counter rcode[6]; /* NOERROR .. REFUSED */
	struct rn_counter badvers;
	struct rn_counter listed, truncated;
	struct rn_counter drop_malformed, drop_ratelimit, drop_oversize, drop_overflow, bad_name;
	struct rn_counter tcp_bad;
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
	/* SO_RXQ_OVFL control messages, and the last drop count seen. */
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint32_t))];
	} rctl[DNSBL_BATCH];
	uint32_t kdrops;
	struct mmsghdr smsg[DNSBL_BATCH];
	struct iovec siov[DNSBL_BATCH];
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
	_Atomic bool stop;
	unsigned port;
	struct dnsbl_worker *workers;
	unsigned nworkers;
	struct rn_connsrv *tcp;    /* the TCP listeners and connections */
	struct dnsbl_stats tcp_st; /* written by its thread only */
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

/* Adds the kernel's drops since the last datagram read (SO_RXQ_OVFL). */
static void count_kernel_drops(struct dnsbl_worker *w, struct msghdr *h)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL ||
		    cm->cmsg_len < CMSG_LEN(sizeof(uint32_t)))
			continue;
		uint32_t v;
		memcpy(&v, CMSG_DATA(cm), sizeof(v));
		if (v != w->kdrops)
			rn_counter_add(&w->st.drop_overflow, (uint32_t)(v - w->kdrops));
		w->kdrops = v;
	}
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
		count_kernel_drops(w, &w->rmsg[i].msg_hdr);
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
	/* recvmmsg wrote the address and control lengths: reset the ones used. */
	for (int i = 0; i < n; i++) {
		w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rsa[i]);
		w->rmsg[i].msg_hdr.msg_controllen = sizeof(w->rctl[i].buf);
	}
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
		w->rmsg[i].msg_hdr.msg_control = w->rctl[i].buf;
		w->rmsg[i].msg_hdr.msg_controllen = sizeof(w->rctl[i].buf);
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

/*
 * The connection server's handler: answers each complete query while an
 * answer fits (one at a time: the send buffer holds one largest answer).
 */
static int tcp_data(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used)
{
	struct feeds_dnsbl *d = arg;
	size_t off = 0;
	int rc = RN_OK;
	while (len - off >= 2) {
		size_t ml = (size_t)in[off] << 8 | in[off + 1];
		if (ml == 0 || ml > DNS_MSG_MAX) {
			rn_counter_inc(&d->tcp_st.tcp_bad);
			rc = RN_EBADLEN;
			break;
		}
		if (len - off < 2 + ml)
			break;
		uint8_t *out = rn_conn_reserve(c, 2 + DNS_MSG_MAX);
		if (out == NULL)
			break;
		struct dnsbl_result r;
		rn_counter_inc(&d->tcp_st.q_tcp);
		size_t alen = dnsbl_respond(&d->cfg, d->view, now_ms(), in + off + 2, ml, true,
		                            out + 2, DNS_MSG_MAX, &r);
		stats_rcode(&d->tcp_st, &r);
		off += 2 + ml;
		if (alen == 0) {
			rn_counter_inc(&d->tcp_st.drop_malformed);
			rc = RN_EPARSE;
			break;
		}
		rn_wcur_store(out, alen, 2); /* the length prefix */
		rn_conn_commit(c, 2 + alen);
	}
	*used = off;
	return rc;
}

static int tcp_start(struct feeds_dnsbl *d)
{
	const struct feeds_rbl_conf *c = d->conf;
	struct rn_connsrv_conf sc = {
	        .name = "dnsbl",
	        .max_conns = (size_t)c->dnsbl_tcp_max_conns,
	        .max_per_client = (size_t)c->dnsbl_tcp_max_per_client,
	        .idle_ms = c->dnsbl_tcp_idle_ms,
	        .msg_ms = c->dnsbl_tcp_query_timeout_ms,
	        .in_max = 2 + DNS_MSG_MAX,
	        .out_max = 2 + DNS_MSG_MAX,
	        .ops = {.data = tcp_data},
	        .arg = d,
	};
	int rc = rn_connsrv_alloc(&d->tcp, &sc, d->metrics);
	for (size_t a = 0; a < c->dnsbl_listen.n && rc == RN_OK; a++) {
		/* The port the UDP sockets bound. */
		struct rn_connsrv_listen l = {.name = "dnsbl",
		                              .hostport = c->dnsbl_listen.v[a],
		                              .port = d->port,
		                              .v6only = true};
		rc = rn_connsrv_listen(d->tcp, &l, NULL);
		if (rc != RN_OK)
			log_warnx("dnsbl: feeds.dnsbl.listen = \"%s\" (tcp): %s",
			          c->dnsbl_listen.v[a], rn_strerror(rc));
	}
	return rc;
}

/* ---- sockets and lifecycle -------------------------------------------- */

static int open_udp(const struct sockaddr_storage *ss, unsigned sslen, int *out)
{
	int one = 1;
	struct timeval tv = {.tv_sec = 5};
	/*
	 * UDP sockets block. Stop wakes them with shutdown(SHUT_RD); the long
	 * timeout is only a backstop, so an idle worker does not wake up.
	 */
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * No SO_REUSEADDR: with it on both sides, a client's socket (dig's,
	 * for one) may be given our port and then receive its own queries.
	 * SO_REUSEPORT lets only sockets of the same user that also ask for
	 * it join.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) != 0) {
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
	        {"repnet_dnsbl_dropped_total", "Queries not answered, by reason.",
	         "reason=\"overflow\"", O(drop_overflow)},
	        {"repnet_dnsbl_bad_names_total",
	         "Queries refused with FORMERR for a compression pointer or bad label.", NULL,
	         O(bad_name)},
	        {"repnet_dnsbl_dropped_total", "Queries not answered, by reason.",
	         "reason=\"bad_length\"", O(tcp_bad)},
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
	return rc;
}

static int open_udp_all(struct feeds_dnsbl *d, bool *picked)
{
	const struct feeds_rbl_conf *c = d->conf;
	int rc;
	for (size_t a = 0; a < c->dnsbl_listen.n; a++) {
		struct sockaddr_storage ss;
		unsigned sslen;
		rc = rn_hostport_parse(c->dnsbl_listen.v[a], &ss, &sslen);
		if (rc != RN_OK) {
			log_warnx("dnsbl: feeds.dnsbl.listen = \"%s\": %s", c->dnsbl_listen.v[a],
			          rn_strerror(rc));
			return rc;
		}
		if (d->port != 0)
			set_port(&ss, d->port);
		for (unsigned i = 0; i < (unsigned)c->dnsbl_workers; i++) {
			struct dnsbl_worker *w = &d->workers[a * (size_t)c->dnsbl_workers + i];
			rc = open_udp(&ss, sslen, &w->fds[w->nfds]);
			if (rc != RN_OK) {
				log_warnx("dnsbl: feeds.dnsbl.listen = \"%s\" (udp): %s",
				          c->dnsbl_listen.v[a], rn_strerror(rc));
				return rc;
			}
			if (d->port == 0) {
				*picked = true;
				d->port = sock_port(w->fds[w->nfds]);
				set_port(&ss, d->port);
			}
			w->nfds++;
		}
	}
	return RN_OK;
}

/* Closes every socket open_sockets() opened, for another attempt. */
static void close_sockets(struct feeds_dnsbl *d)
{
	rn_connsrv_free(d->tcp);
	d->tcp = NULL;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct dnsbl_worker *w = &d->workers[i];
		for (unsigned j = 0; j < w->nfds; j++)
			close(w->fds[j]);
		w->nfds = 0;
	}
}

/*
 * UDP and TCP on the same port. The first UDP socket binds the port (0
 * picks one); the rest reuse it. Where the port was picked, TCP may find
 * that number taken (by any other socket on the host): then every socket
 * is closed and another port picked, a bounded number of times.
 */
static int open_sockets(struct feeds_dnsbl *d)
{
	int rc = RN_OK;
	for (unsigned attempt = 0; attempt < DNSBL_PORT_ATTEMPTS; attempt++) {
		bool picked = false;
		rc = open_udp_all(d, &picked);
		if (rc == RN_OK)
			rc = tcp_start(d);
		if (rc != -EADDRINUSE || !picked)
			return rc;
		log_info("dnsbl: port %u is taken for tcp; picking another", d->port);
		close_sockets(d);
		d->port = 0;
	}
	return rc;
}

int feeds_dnsbl_open(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                     const struct feeds_view *v, struct rn_metrics *m)
{
	char err[256];
	int rc;
	struct feeds_dnsbl *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->conf = c;
	d->view = v;
	d->metrics = m;
	rc = dnsbl_cfg_build(&d->cfg, c, err, sizeof(err));
	if (rc != RN_OK) {
		log_warnx("dnsbl: %s", err);
		goto fail;
	}
	if (c->dnsbl_listen.n == 0 || c->dnsbl_listen.n > DNSBL_LISTEN_MAX) {
		rc = RN_ECONF;
		goto fail;
	}
	/* One worker per (worker, address): each blocks on its own socket. */
	d->nworkers = (unsigned)c->dnsbl_workers * (unsigned)c->dnsbl_listen.n;
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	if (d->workers == NULL) {
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
	if ((rc = open_sockets(d)) != RN_OK)
		goto fail;
	if (m != NULL && (rc = register_metrics(d)) != RN_OK)
		goto fail;
	*out = d;
	return RN_OK;
fail:
	feeds_dnsbl_stop(d);
	return rc;
}

int feeds_dnsbl_run(struct feeds_dnsbl *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (pthread_create(&d->workers[i].th, NULL, udp_main, &d->workers[i]) != 0)
			return -EAGAIN;
		d->workers[i].started = true;
	}
	return rn_connsrv_start(d->tcp);
}

int feeds_dnsbl_start(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                      const struct feeds_view *v, struct rn_metrics *m)
{
	struct feeds_dnsbl *d = NULL;
	int rc = feeds_dnsbl_open(&d, c, v, m);
	if (rc == RN_OK && (rc = feeds_dnsbl_run(d)) != RN_OK) {
		feeds_dnsbl_stop(d);
		return rc;
	}
	if (rc == RN_OK)
		*out = d;
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
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++)
		if (d->workers[i].started)
			pthread_join(d->workers[i].th, NULL);
	rn_connsrv_free(d->tcp);
	if (d->metrics != NULL)
		rn_metrics_unregister(d->metrics, d);
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++) {
		struct dnsbl_worker *w = &d->workers[i];
		for (unsigned j = 0; j < w->nfds; j++)
			close(w->fds[j]);
		free(w->in);
		free(w->arena);
		free(w->rl);
	}
	free(d->workers);
	free(d);
}
