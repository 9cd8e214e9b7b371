/*
 * syslog_server.c: the syslog receiver: UDP datagrams and TCP streams
 * (RFC 6587), into the SMTP pipeline.
 *
 * Design notes: the connection server (rn_connsrv) runs one thread for
 * both: it serves the TCP listener and its connections, and reads the UDP
 * socket as a watched descriptor, so every pipe has one writer. Senders:
 * only collector.syslog.senders (loopback when empty; a listener off
 * loopback with no list refuses to start) may send. A TCP peer is checked
 * at accept through the server's admit hook, before the caps, so a refused
 * peer takes nobody's slot; a UDP datagram is checked as it is read (the
 * last allowed sender is cached). Refusals are counted per transport and
 * logged, rate-limited, with the sender. UDP is
 * read with recvmmsg in batches of 32 into fixed buffers of
 * smtp.max_line + 1 bytes; a datagram that does not fit (MSG_TRUNC) is
 * counted as overlong. TCP connections are bounded by the server
 * (syslog.max_connections, syslog.max_connections_per_client: when full,
 * a sender holding fewer connections displaces the oldest connection of
 * the sender holding the most, so idle connections cannot lock a sender
 * out), closed after syslog.idle_timeout without a message and when a
 * message is not complete syslog.message_timeout after its first byte
 * (bytes trickled do not extend it). Each connection has its own framer
 * with a buffer of smtp.max_line bytes, allocated when it is accepted;
 * the framer keeps partial frames, so the handler consumes every byte
 * and reports to the server how many frames ended and whether one is
 * still open. UDP and TCP have their own pipe (and counters); each pipe
 * is flushed to the sink after every round of events, so observations
 * wait at most one round. On stop, the server reads what the kernel
 * already holds (UDP queue, TCP data) without blocking, closes the
 * connections (a last unterminated line is still a message), then
 * flushes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/syslog_frame.h"
#include "collector/syslog_server.h"

#define UDP_BATCH 32
#define TCP_IN    16384 /* read buffer per connection; the framer keeps the frames */

struct syslog_server {
	int udp_fd;
	struct rn_prefix_list allow; /* syslog.senders, or loopback when it is empty */
	struct rn_addr ok;           /* the last UDP sender found in allow */
	bool ok_set;
	unsigned udp_port, tcp_port;
	struct smtp_pipe *udp_pipe, *tcp_pipe;
	struct syslog_counters *ctr;
	size_t max_line;
	struct rn_connsrv *srv;
	uint8_t *udp_bufs;
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage names[UDP_BATCH];
};

static const char *addr_str(const struct rn_addr *a, char *buf, size_t len)
{
	rn_addr_format(a, buf, len);
	return buf;
}

/* Is a UDP datagram's sender allowed? One entry of cache: senders send in runs. */
static bool udp_allowed(struct syslog_server *s, const struct sockaddr_storage *ss)
{
	struct rn_addr a = {0};
	uint16_t port = 0;
	if (rn_addr_from_sockaddr(&a, &port, ss) == RN_OK) {
		if (s->ok_set && rn_addr_equal(&s->ok, &a))
			return true;
		if (rn_prefix_list_contains(&s->allow, &a)) {
			s->ok = a;
			s->ok_set = true;
			return true;
		}
	}
	char b[RN_ADDR_STRLEN];
	rn_counter_inc(&s->ctr->refused_udp);
	log_warnx_rl("syslog: refused a UDP datagram from %s port %u: not in "
	             "collector.syslog.senders",
	             a.family != 0 ? addr_str(&a, b, sizeof(b)) : "an unknown address", port);
	return false;
}

static int bind_udp(const char *hp, unsigned *port, uint64_t rcvbuf)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int rc = rn_hostport_parse(hp, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf > 0) {
		int v = rcvbuf > INT32_MAX ? INT32_MAX : (int)rcvbuf;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct sockaddr_storage b;
	socklen_t bl = sizeof(b);
	if (getsockname(fd, (struct sockaddr *)&b, &bl) == 0)
		*port = ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port
		                                      : ((struct sockaddr_in *)&b)->sin_port);
	return fd;
}

/* The watched UDP socket: reads what is queued, in batches. */
static void udp_read(void *arg)
{
	struct syslog_server *s = arg;
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			s->iov[i].iov_base = s->udp_bufs + (size_t)i * (s->max_line + 1);
			s->iov[i].iov_len = s->max_line + 1;
			memset(&s->msgs[i].msg_hdr, 0, sizeof(s->msgs[i].msg_hdr));
			s->msgs[i].msg_hdr.msg_name = &s->names[i];
			s->msgs[i].msg_hdr.msg_namelen = sizeof(s->names[i]);
			s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
			s->msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(s->udp_fd, s->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				rn_counter_inc(&s->ctr->read_errors);
			return;
		}
		for (int i = 0; i < n; i++) {
			size_t len = s->msgs[i].msg_len;
			const uint8_t *p = s->iov[i].iov_base;
			rn_counter_inc(&s->ctr->datagrams);
			if (!udp_allowed(s, &s->names[i]))
				continue;
			if (len > s->max_line || (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				rn_counter_inc(&s->udp_pipe->ctr->overlong);
				continue;
			}
			while (len > 0 &&
			       (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\0'))
				len--;
			if (len > 0)
				smtp_pipe_line(s->udp_pipe, p, len);
		}
		if (n < UDP_BATCH)
			return;
	}
}

/* ---- TCP: the connection server's handler ----------------------------- */

/* At accept, before the caps: a peer outside syslog.senders takes no slot. */
static int tcp_admit(void *arg, const struct rn_addr *peer, uint16_t port)
{
	struct syslog_server *s = arg;
	if (rn_prefix_list_contains(&s->allow, peer))
		return RN_OK;
	char b[RN_ADDR_STRLEN];
	rn_counter_inc(&s->ctr->refused_tcp);
	log_warnx_rl("syslog: refused a TCP connection from %s port %u: not in "
	             "collector.syslog.senders",
	             addr_str(peer, b, sizeof(b)), port);
	return RN_ECONF;
}

static int tcp_open(void *arg, struct rn_conn *c)
{
	struct syslog_server *s = arg;
	struct syslog_framer *fr = malloc(sizeof(*fr));
	if (fr == NULL)
		return -ENOMEM;
	int rc = syslog_framer_init(fr, s->max_line);
	if (rc != RN_OK) {
		free(fr);
		return rc;
	}
	rn_conn_set_user(c, fr);
	return RN_OK;
}

static int tcp_data(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used)
{
	struct syslog_server *s = arg;
	struct syslog_framer *fr = rn_conn_user(c);
	uint64_t ov = fr->overlong, frames = fr->frames;
	int rc = syslog_framer_feed(fr, in, len, smtp_pipe_line, s->tcp_pipe);
	rn_counter_add(&s->tcp_pipe->ctr->overlong, fr->overlong - ov);
	if (rc != RN_OK) {
		log_warnx_rl("syslog: framing error on a TCP connection; closing it");
		return rc;
	}
	*used = len;
	rn_conn_progress(c, (unsigned)(fr->frames - frames), fr->state != SF_START);
	return RN_OK;
}

static void tcp_close(void *arg, struct rn_conn *c)
{
	struct syslog_server *s = arg;
	struct syslog_framer *fr = rn_conn_user(c);
	(void)syslog_framer_finish(fr, smtp_pipe_line, s->tcp_pipe);
	rn_counter_add(&s->ctr->frame_errors, fr->errors);
	syslog_framer_release(fr);
	free(fr);
}

/* After every round of events: what the pipes batched goes to the sink. */
static void tick(void *arg)
{
	struct syslog_server *s = arg;
	smtp_pipe_flush(s->udp_pipe);
	smtp_pipe_flush(s->tcp_pipe);
}

int syslog_server_start(struct syslog_server **out, const struct collector_smtp_conf *conf,
                        struct smtp_pipe *udp_pipe, struct smtp_pipe *tcp_pipe,
                        struct syslog_counters *ctr, struct rn_metrics *m)
{
	struct syslog_server *s = calloc(1, sizeof(*s));
	int rc;
	if (s == NULL)
		return -ENOMEM;
	s->udp_fd = -1;
	s->udp_pipe = udp_pipe;
	s->tcp_pipe = tcp_pipe;
	s->ctr = ctr;
	s->max_line = (size_t)conf->max_line;
	char err[512];
	if (collector_smtp_conf_check(conf, err, sizeof(err)) != RN_OK) {
		log_errx("syslog: %s", err);
		rc = RN_ECONF;
		goto fail;
	}
	/* Empty: both listeners are on loopback (checked), and so are the senders. */
	rc = conf->syslog_senders.n > 0 ? rn_prefix_list_append(&s->allow, &conf->syslog_senders)
	                                : rn_prefix_list_add_loopback(&s->allow);
	if (rc != RN_OK)
		goto fail;
	struct rn_connsrv_conf sc = {
	        .name = "syslog",
	        .max_conns = (size_t)conf->syslog_max_conns,
	        .max_per_client = (size_t)conf->syslog_max_per_client,
	        .idle_ms = conf->syslog_idle_ms,
	        .msg_ms = conf->syslog_msg_timeout_ms,
	        .in_max = TCP_IN,
	        .drain_on_stop = true,
	        .ops = {.open = tcp_open,
	                .admit = tcp_admit,
	                .data = tcp_data,
	                .close = tcp_close,
	                .tick = tick},
	        .arg = s,
	};
	rc = rn_connsrv_alloc(&s->srv, &sc, m);
	if (rc != RN_OK)
		goto fail;
	if (conf->syslog_udp != NULL) {
		s->udp_bufs = malloc((size_t)UDP_BATCH * (s->max_line + 1));
		if (s->udp_bufs == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = bind_udp(conf->syslog_udp, &s->udp_port, conf->syslog_rcvbuf);
		if (rc < 0) {
			log_errx("syslog: collector.syslog.udp_listen = \"%s\": %s",
			         conf->syslog_udp, rn_strerror(rc));
			goto fail;
		}
		s->udp_fd = rc;
		if ((rc = rn_connsrv_watch(s->srv, s->udp_fd, udp_read, s)) != RN_OK)
			goto fail;
	}
	if (conf->syslog_tcp != NULL) {
		struct rn_connsrv_listen l = {.name = "syslog", .hostport = conf->syslog_tcp};
		rc = rn_connsrv_listen(s->srv, &l, &s->tcp_port);
		if (rc != RN_OK) {
			log_errx("syslog: collector.syslog.tcp_listen = \"%s\": %s",
			         conf->syslog_tcp, rn_strerror(rc));
			goto fail;
		}
	}
	if ((rc = rn_connsrv_start(s->srv)) != RN_OK)
		goto fail;
	*out = s;
	return RN_OK;
fail:
	syslog_server_stop(s);
	return rc;
}

unsigned syslog_server_port(const struct syslog_server *s, bool tcp)
{
	if (s == NULL)
		return 0;
	return tcp ? s->tcp_port : s->udp_port;
}

void syslog_server_stop(struct syslog_server *s)
{
	if (s == NULL)
		return;
	rn_connsrv_free(s->srv);
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	rn_prefix_list_clear(&s->allow);
	free(s->udp_bufs);
	free(s);
}
