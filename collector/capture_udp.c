/*
 * capture_udp.c: the UDP baseline: recvmmsg on SO_REUSEPORT sockets.
 *
 * Design notes: each socket has `batch` 64 KiB buffers, mmsghdrs and
 * control buffers allocated once; recv() fills them with one recvmmsg()
 * call (after a poll when asked to wait) and lends them; release() has
 * nothing to give back since the next recv() reuses them. SO_RXQ_OVFL
 * delivers the socket's cumulative drop count with each datagram; the
 * difference from the last one seen is added to the drops counter.
 * MSG_TRUNC marks datagrams longer than a buffer (counted, not lent).
 * The socket buffer is set with SO_RCVBUF and, when the kernel's limit
 * (net.core.rmem_max) is lower, with SO_RCVBUFFORCE if the process may.
 * One thread per socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collector/capture.h"

#define UDP_BUF 65536

struct capture_udp {
	struct capture c;
	size_t batch;
	uint8_t *bufs;
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct sockaddr_storage *names;
	uint8_t (*ctl)[64];
	uint32_t last_drops;
	bool drops_seen;
	unsigned port;
};

static int64_t wall_ms(void)
{
	return rn_time_now_ms();
}

static int udp_recv(struct capture *c, struct capture_pkt *pkts, size_t max, size_t *n,
                    int timeout_ms)
{
	struct capture_udp *u = (struct capture_udp *)c;
	size_t want = max < u->batch ? max : u->batch;
	*n = 0;
	for (size_t i = 0; i < want; i++) {
		u->iov[i] = (struct iovec){.iov_base = u->bufs + i * UDP_BUF, .iov_len = UDP_BUF};
		u->msgs[i].msg_hdr = (struct msghdr){.msg_name = &u->names[i],
		                                     .msg_namelen = sizeof(u->names[i]),
		                                     .msg_iov = &u->iov[i],
		                                     .msg_iovlen = 1,
		                                     .msg_control = u->ctl[i],
		                                     .msg_controllen = sizeof(u->ctl[i])};
	}
	int r = recvmmsg(c->fd, u->msgs, (unsigned)want, MSG_DONTWAIT, NULL);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && timeout_ms != 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return RN_OK;
		r = recvmmsg(c->fd, u->msgs, (unsigned)want, MSG_DONTWAIT, NULL);
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return RN_OK;
		return -errno;
	}
	int64_t now = wall_ms();
	size_t k = 0;
	for (int i = 0; i < r; i++) {
		struct msghdr *h = &u->msgs[i].msg_hdr;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
				uint32_t d;
				memcpy(&d, CMSG_DATA(cm), sizeof(d));
				if (u->drops_seen && d != u->last_drops)
					rn_counter_add(&c->stats.drops,
					               (uint32_t)(d - u->last_drops));
				else if (!u->drops_seen && d != 0)
					rn_counter_add(&c->stats.drops, d);
				u->last_drops = d;
				u->drops_seen = true;
			}
		}
		rn_counter_inc(&c->stats.packets);
		rn_counter_add(&c->stats.bytes, u->msgs[i].msg_len);
		if (h->msg_flags & MSG_TRUNC) {
			rn_counter_inc(&c->stats.truncated);
			continue;
		}
		struct capture_pkt *p = &pkts[k++];
		p->data = u->iov[i].iov_base;
		p->len = u->msgs[i].msg_len;
		p->ts_ms = now;
		p->cookie = (uint64_t)i;
		const struct sockaddr_storage *ss = &u->names[i];
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
			rn_addr_set_v4(&p->addr, ntohl(sin->sin_addr.s_addr));
			p->port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
			rn_addr_set_v6(&p->addr, s6->sin6_addr.s6_addr);
			p->port = ntohs(s6->sin6_port);
		}
	}
	*n = k;
	return RN_OK;
}

static void udp_release(struct capture *c, struct capture_pkt *pkts, size_t n)
{
	/* The buffers are reused by the next recv(); nothing to give back. */
	(void)c;
	(void)pkts;
	(void)n;
}

static void udp_close(struct capture *c)
{
	struct capture_udp *u = (struct capture_udp *)c;
	if (c->fd >= 0)
		close(c->fd);
	free(u->ctl);
	free(u->names);
	free(u->iov);
	free(u->msgs);
	free(u->bufs);
	free(u);
}

static const struct capture_ops udp_ops = {
        .recv = udp_recv,
        .release = udp_release,
        .close = udp_close,
};

int capture_udp_open(struct capture **out, const char *listen, uint64_t rcvbuf, size_t batch)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	int rc, one = 1;

	rc = rn_hostport_parse(listen, &ss, &sslen);
	if (rc != RN_OK)
		return rc;
	struct capture_udp *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	u->c.ops = &udp_ops;
	u->c.fd = -1;
	u->batch = batch;
	u->bufs = malloc(batch * UDP_BUF);
	u->msgs = calloc(batch, sizeof(*u->msgs));
	u->iov = calloc(batch, sizeof(*u->iov));
	u->names = calloc(batch, sizeof(*u->names));
	u->ctl = calloc(batch, sizeof(*u->ctl));
	rc = -ENOMEM;
	if (u->bufs == NULL || u->msgs == NULL || u->iov == NULL || u->names == NULL ||
	    u->ctl == NULL)
		goto fail;
	u->c.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (u->c.fd < 0)
		goto fail_errno;
	if (setsockopt(u->c.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(u->c.fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
		goto fail_errno;
	int want = rcvbuf > (uint64_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)rcvbuf;
	int got = 0;
	socklen_t gl = sizeof(got);
	(void)setsockopt(u->c.fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (getsockopt(u->c.fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) == 0 && got / 2 < want)
		(void)setsockopt(u->c.fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want));
	gl = sizeof(got);
	if (getsockopt(u->c.fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) == 0 && got / 2 < want)
		log_warnx("flow %s: SO_RCVBUF is %d bytes, not %d: raise net.core.rmem_max or "
		          "give the process CAP_NET_ADMIN",
		          listen, got / 2, want);
	if (bind(u->c.fd, (struct sockaddr *)&ss, sslen) != 0)
		goto fail_errno;
	struct sockaddr_storage b;
	socklen_t bl = sizeof(b);
	char bound[RN_ADDR_STRLEN + 16] = "";
	if (getsockname(u->c.fd, (struct sockaddr *)&b, &bl) == 0) {
		u->port = ntohs(b.ss_family == AF_INET ? ((struct sockaddr_in *)&b)->sin_port
		                                       : ((struct sockaddr_in6 *)&b)->sin6_port);
		rn_sockaddr_format(&b, bound, sizeof(bound));
	}
	snprintf(u->c.name, sizeof(u->c.name), "udp/%s", bound[0] ? bound : listen);
	*out = &u->c;
	return RN_OK;
fail_errno:
	rc = -errno;
fail:
	udp_close(&u->c);
	return rc;
}

unsigned capture_udp_port(const struct capture *c)
{
	return ((const struct capture_udp *)c)->port;
}

void capture_close(struct capture *c)
{
	if (c != NULL)
		c->ops->close(c);
}

bool capture_frame_payload(const struct capture_frames_conf *fc, const uint8_t *frame, size_t len,
                           struct capture_pkt *p)
{
	struct pkt_info pi;
	if (fc->raw) {
		p->data = frame;
		p->len = (uint32_t)len;
		return true;
	}
	if (pkt_parse(PKT_LINK_ETHER, frame, len, &pi) != RN_OK || pi.proto != 17 || pi.fragment ||
	    pi.payload == NULL)
		return false;
	bool want = false;
	for (size_t i = 0; i < fc->nports; i++)
		if (fc->ports[i] == pi.dport)
			want = true;
	if (!want)
		return false;
	p->data = pi.payload;
	p->len = pi.payload_len;
	p->addr = pi.src;
	p->port = pi.sport;
	return true;
}
