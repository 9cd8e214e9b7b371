/*
 * syslog_server.c: the syslog receiver: UDP datagrams and TCP streams
 * (RFC 6587), into the SMTP pipeline.
 *
 * Design notes: one thread serves both sockets and every connection from
 * one epoll set, with a stop eventfd. UDP is read with recvmmsg in
 * batches of 32 into fixed buffers of smtp.max_line + 1 bytes; a datagram
 * that does not fit (MSG_TRUNC) is counted as overlong. TCP connections
 * are bounded (syslog.max_connections: one more is accepted and closed at
 * once, and counted) and closed after syslog.idle_timeout of silence; each
 * has its own framer with a buffer of smtp.max_line bytes. UDP and TCP
 * have their own pipe (and counters); each pipe is flushed to the sink
 * after every wake-up, so observations wait at most one epoll round. On
 * stop, the thread reads what the kernel already holds (UDP queue, TCP
 * data) without blocking, then flushes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/syslog_frame.h"
#include "collector/syslog_server.h"

#define UDP_BATCH 32

struct conn {
	int fd;
	int64_t last;
	struct syslog_framer fr;
	struct conn *next;
};

struct syslog_server {
	int udp_fd, tcp_fd, ep_fd, stop_fd;
	unsigned udp_port, tcp_port;
	struct smtp_pipe *udp_pipe, *tcp_pipe;
	struct syslog_counters *ctr;
	size_t max_line;
	int64_t max_conns, idle_ms;
	struct conn *conns;
	int64_t nconns;
	pthread_t thread;
	bool started;
	uint8_t *udp_bufs;
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	uint8_t rbuf[65536];
};

static int bind_socket(const char *hp, int type, unsigned *port, uint64_t rcvbuf)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int rc = rn_hostport_parse(hp, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM && rcvbuf > 0) {
		int v = rcvbuf > INT32_MAX ? INT32_MAX : (int)rcvbuf;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) != 0)) {
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

static void conn_close(struct syslog_server *s, struct conn *c,
                       int (*fn)(void *, const uint8_t *, size_t))
{
	(void)syslog_framer_finish(&c->fr, fn, s->tcp_pipe);
	rn_counter_add(&s->ctr->frame_errors, c->fr.errors);
	epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	syslog_framer_release(&c->fr);
	struct conn **pp = &s->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c);
	s->nconns--;
	rn_gauge_set(&s->ctr->open, s->nconns);
}

static void udp_read(struct syslog_server *s)
{
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			s->iov[i].iov_base = s->udp_bufs + (size_t)i * (s->max_line + 1);
			s->iov[i].iov_len = s->max_line + 1;
			memset(&s->msgs[i].msg_hdr, 0, sizeof(s->msgs[i].msg_hdr));
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

static void tcp_accept(struct syslog_server *s)
{
	for (;;) {
		int fd = accept4(s->tcp_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (s->nconns >= s->max_conns) {
			close(fd);
			rn_counter_inc(&s->ctr->refused);
			log_warnx_rl("syslog: %lld connections open; refusing another",
			             (long long)s->nconns);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL || syslog_framer_init(&c->fr, s->max_line) != RN_OK) {
			free(c);
			close(fd);
			rn_counter_inc(&s->ctr->refused);
			continue;
		}
		c->fd = fd;
		c->last = rn_time_mono_ms();
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		if (epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			syslog_framer_release(&c->fr);
			free(c);
			close(fd);
			rn_counter_inc(&s->ctr->refused);
			continue;
		}
		c->next = s->conns;
		s->conns = c;
		s->nconns++;
		rn_counter_inc(&s->ctr->accepted);
		rn_gauge_set(&s->ctr->open, s->nconns);
	}
}

/* Reads what is available; false when the connection should close. */
static bool tcp_read(struct syslog_server *s, struct conn *c)
{
	for (int round = 0; round < 16; round++) {
		ssize_t n = recv(c->fd, s->rbuf, sizeof(s->rbuf), MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			if (errno == EINTR)
				continue;
			rn_counter_inc(&s->ctr->read_errors);
			return false;
		}
		c->last = rn_time_mono_ms();
		uint64_t ov = c->fr.overlong;
		int rc =
		        syslog_framer_feed(&c->fr, s->rbuf, (size_t)n, smtp_pipe_line, s->tcp_pipe);
		rn_counter_add(&s->tcp_pipe->ctr->overlong, c->fr.overlong - ov);
		if (rc != RN_OK) {
			log_warnx_rl("syslog: framing error on a TCP connection; closing it");
			return false;
		}
	}
	return true;
}

static void *server_main(void *arg)
{
	struct syslog_server *s = arg;
	struct epoll_event evs[64];
	bool stop = false;

	while (!stop) {
		int n = epoll_wait(s->ep_fd, evs, 64, 1000);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &s->stop_fd) {
				stop = true;
			} else if (p == &s->udp_fd) {
				udp_read(s);
			} else if (p == &s->tcp_fd) {
				tcp_accept(s);
			} else {
				struct conn *c = p;
				if (!tcp_read(s, c))
					conn_close(s, c, smtp_pipe_line);
			}
		}
		/* Idle connections. */
		int64_t now = rn_time_mono_ms();
		for (struct conn *c = s->conns, *nx; c != NULL; c = nx) {
			nx = c->next;
			if (now - c->last >= s->idle_ms) {
				rn_counter_inc(&s->ctr->idle_closed);
				conn_close(s, c, smtp_pipe_line);
			}
		}
		smtp_pipe_flush(s->udp_pipe);
		smtp_pipe_flush(s->tcp_pipe);
	}
	/* Drain what the kernel already holds, then close. */
	if (s->udp_fd >= 0)
		udp_read(s);
	while (s->conns != NULL) {
		(void)tcp_read(s, s->conns);
		conn_close(s, s->conns, smtp_pipe_line);
	}
	smtp_pipe_flush(s->udp_pipe);
	smtp_pipe_flush(s->tcp_pipe);
	return NULL;
}

int syslog_server_start(struct syslog_server **out, const struct collector_smtp_conf *conf,
                        struct smtp_pipe *udp_pipe, struct smtp_pipe *tcp_pipe,
                        struct syslog_counters *ctr)
{
	struct syslog_server *s = calloc(1, sizeof(*s));
	int rc;
	if (s == NULL)
		return -ENOMEM;
	s->udp_fd = s->tcp_fd = s->ep_fd = s->stop_fd = -1;
	s->udp_pipe = udp_pipe;
	s->tcp_pipe = tcp_pipe;
	s->ctr = ctr;
	s->max_line = (size_t)conf->max_line;
	s->max_conns = conf->syslog_max_conns;
	s->idle_ms = conf->syslog_idle_ms;
	s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ep_fd < 0 || s->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->stop_fd};
	epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->stop_fd, &ev);
	if (conf->syslog_udp != NULL) {
		s->udp_bufs = malloc((size_t)UDP_BATCH * (s->max_line + 1));
		if (s->udp_bufs == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = bind_socket(conf->syslog_udp, SOCK_DGRAM, &s->udp_port, conf->syslog_rcvbuf);
		if (rc < 0) {
			log_errx("syslog UDP %s: %s", conf->syslog_udp, rn_strerror(rc));
			goto fail;
		}
		s->udp_fd = rc;
		ev.data.ptr = &s->udp_fd;
		epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->udp_fd, &ev);
	}
	if (conf->syslog_tcp != NULL) {
		rc = bind_socket(conf->syslog_tcp, SOCK_STREAM, &s->tcp_port, 0);
		if (rc < 0) {
			log_errx("syslog TCP %s: %s", conf->syslog_tcp, rn_strerror(rc));
			goto fail;
		}
		s->tcp_fd = rc;
		ev.data.ptr = &s->tcp_fd;
		epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->tcp_fd, &ev);
	}
	rc = -pthread_create(&s->thread, NULL, server_main, s);
	if (rc != 0)
		goto fail;
	s->started = true;
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
	if (s->started) {
		uint64_t one = 1;
		if (write(s->stop_fd, &one, sizeof(one)) < 0)
			log_warn("syslog: waking the thread");
		pthread_join(s->thread, NULL);
	}
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	if (s->tcp_fd >= 0)
		close(s->tcp_fd);
	if (s->ep_fd >= 0)
		close(s->ep_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s->udp_bufs);
	free(s);
}
