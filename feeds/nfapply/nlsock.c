/*
 * nlsock.c: the applier's netlink socket: batches of messages built, sent
 * and acknowledged, and queries (single requests and dumps).
 *
 * Design notes:
 *
 * Batches. A struct nlbatch is one sendmsg(): the messages, and for each
 * that asks for an ACK the engine operation it came from. Both builders
 * (nft_batch.c, ipset_batch.c) write into one, message by message, and
 * commit each with nlbatch_commit(). The buffer grows by doubling up to
 * its limit, zeroed, since libmnl and libnftnl write headers and
 * attributes in place.
 *
 * Acknowledgements. The kernel processes a batch synchronously inside
 * sendmsg() and queues one ACK per message, so after it returns the
 * answers are drained and checked: each must come from the kernel (port
 * 0) to our port id, with a sequence number of this batch, and every
 * message must be acknowledged once. Any error, a missing ACK, a receive
 * overrun (ENOBUFS) or a timeout fails the batch. After a failure other
 * than the kernel's own answer, stale answers may follow, so the socket
 * is replaced by a fresh one.
 *
 * Queries. A request's answers are read until DONE (or, for GETGEN, the
 * one answer); the generation (res_id) of each is recorded, so that a
 * dump that spans a ruleset change (NLM_F_DUMP_INTR, or mixed res_id) can
 * be refused and retried.
 *
 * Single-threaded; the applier owns the socket and the buffers.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include "feeds/nfapply/netlink.h"

#define RCVBUF_BYTES (8u * 1024u * 1024u)

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

void nlbatch_init(struct nlbatch *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void nlbatch_release(struct nlbatch *b)
{
	free(b->buf);
	free(b->ops);
	b->buf = NULL;
	b->ops = NULL;
	b->cap = b->len = 0;
	b->nops_cap = 0;
}

void nlbatch_reset(struct nlbatch *b, uint32_t seq)
{
	b->len = 0;
	b->nmsgs = 0;
	b->seq_first = seq;
	b->seq_next = seq;
}

int nlbatch_ensure(struct nlbatch *b, size_t need)
{
	if (b->cap - b->len >= need)
		return RN_OK;
	if (need > b->limit || b->len > b->limit - need)
		return RN_ELIMIT;
	size_t ncap = b->cap ? b->cap : 65536;
	while (ncap - b->len < need)
		ncap *= 2;
	if (ncap > b->limit)
		ncap = b->limit;
	uint8_t *nb = realloc(b->buf, ncap);
	if (nb == NULL)
		return -ENOMEM;
	/* libmnl and libnftnl write headers and attributes in place. */
	memset(nb + b->cap, 0, ncap - b->cap);
	b->buf = nb;
	b->cap = ncap;
	return RN_OK;
}

int nlbatch_commit(struct nlbatch *b, const void *nlh, uint32_t op)
{
	if (b->nmsgs == b->nops_cap) {
		size_t ncap = b->nops_cap ? b->nops_cap * 2 : 256;
		uint32_t *v = realloc(b->ops, ncap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		b->ops = v;
		b->nops_cap = ncap;
	}
	b->len += NLMSG_ALIGN(((const struct nlmsghdr *)nlh)->nlmsg_len);
	b->ops[b->nmsgs++] = op;
	b->seq_next++;
	return RN_OK;
}

/* ------------------------------------------------------------------ */
/* The socket                                                          */
/* ------------------------------------------------------------------ */

void nfa_nl_close(struct applier *a)
{
	if (a->nl != NULL)
		mnl_socket_close(a->nl);
	a->nl = NULL;
}

int nfa_nl_open(struct applier *a)
{
	int on = 1, sz = RCVBUF_BYTES;
	nfa_nl_close(a);
	a->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (a->nl == NULL)
		return -errno;
	if (mnl_socket_bind(a->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;
		nfa_nl_close(a);
		return e;
	}
	a->portid = mnl_socket_get_portid(a->nl);
	/* Errors echo only the header, not 64 KiB of elements; and say why. */
	mnl_socket_setsockopt(a->nl, NETLINK_CAP_ACK, &on, sizeof(on));
	mnl_socket_setsockopt(a->nl, NETLINK_EXT_ACK, &on, sizeof(on));
	int fd = mnl_socket_get_fd(a->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return RN_OK;
}

static int nl_send(struct applier *a, const uint8_t *buf, size_t len)
{
	int fd = mnl_socket_get_fd(a->nl);
	if (len > 65536) {
		/* One datagram carries the whole batch: the send buffer must
		 * hold it (the kernel doubles the value set). */
		int sz = len > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)len;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
	ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&snl, sizeof(snl));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? RN_OK : RN_ETRUNC;
}

/* Receives one datagram; wait_ms < 0 blocks up to the timeout, 0 polls. */
static int nl_recv(struct applier *a, int wait_ms, size_t *len)
{
	int fd = mnl_socket_get_fd(a->nl);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, wait_ms);
	if (r < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (r == 0)
		return wait_ms == 0 ? -EAGAIN : -ETIMEDOUT;
	struct sockaddr_nl snl;
	struct iovec iov = {.iov_base = a->rbuf, .iov_len = NFA_RBUF_SIZE};
	struct msghdr mh = {
	        .msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return RN_ETRUNC;
	/* Only the kernel (port 0) may answer. */
	if (mh.msg_namelen != sizeof(snl) || snl.nl_pid != 0)
		return -EAGAIN;
	*len = (size_t)n;
	return RN_OK;
}

/* ------------------------------------------------------------------ */
/* Acknowledgements                                                    */
/* ------------------------------------------------------------------ */

struct acks {
	struct applier *a;
	const struct nlbatch *b;
	uint8_t *seen; /* one byte per message */
	uint32_t nseen;
	int kerr;       /* first kernel error (positive), 0 when none */
	uint32_t op;    /* its operation */
	bool batch_err; /* the error was about the whole batch */
	char text[NFS_ERRMSG_MAX + 1];
	uint32_t stray; /* answers that are not for this batch */
};

static int ack_cb(const struct nlr_msg *m, void *arg)
{
	struct acks *k = arg;
	struct nlr_err e;
	if (m->pid != k->a->portid || m->type != NLMSG_ERROR) {
		k->stray++;
		return RN_OK;
	}
	int rc = nlr_parse_error(m, &e);
	if (rc != RN_OK)
		return rc;
	uint32_t i = m->seq - k->b->seq_first;
	bool begin = m->seq == k->b->seq_first - 1;
	if (!begin && i >= k->b->nmsgs) {
		k->stray++;
		return RN_OK;
	}
	if (e.error != 0 && k->kerr == 0) {
		k->kerr = -e.error;
		k->batch_err = begin;
		k->op = begin ? UINT32_MAX : k->b->ops[i];
		if (e.text != NULL)
			snprintf(k->text, sizeof(k->text), "%s", e.text);
	}
	if (!begin && !k->seen[i]) {
		k->seen[i] = 1;
		k->nseen++;
	}
	return RN_OK;
}

int nfa_nl_exchange(struct applier *a, const struct nlbatch *b, struct nfa_err *err)
{
	struct acks k = {.a = a, .b = b, .op = UINT32_MAX};
	uint32_t n = b->nmsgs;
	int rc;

	err->kerr = 0;
	err->op = UINT32_MAX;
	err->text[0] = '\0';
	k.seen = calloc(n ? n : 1, 1);
	if (k.seen == NULL)
		return -ENOMEM;
	rc = nl_send(a, b->buf, b->len);
	if (rc != RN_OK) {
		snprintf(err->text, NFS_ERRMSG_MAX, "sendmsg of %zu bytes failed", b->len);
		goto out;
	}
	int64_t deadline = rn_time_mono_ms() + a->timeout_ms;
	/* The kernel answered inside sendmsg(); drain, then wait if short. */
	while (k.nseen < n && !(k.kerr != 0 && k.batch_err)) {
		size_t got = 0;
		int wait = 0;
		rc = nl_recv(a, 0, &got);
		if (rc == -EAGAIN) {
			if (k.kerr != 0)
				break; /* after an error the kernel may stop acking */
			int64_t left = deadline - rn_time_mono_ms();
			if (left <= 0) {
				rc = -ETIMEDOUT;
				break;
			}
			wait = (int)(left > 1000 ? 1000 : left);
			rc = nl_recv(a, wait, &got);
			if (rc == -ETIMEDOUT || rc == -EAGAIN)
				continue;
		}
		if (rc != RN_OK)
			break;
		rc = nlr_walk(a->rbuf, got, ack_cb, &k);
		if (rc != RN_OK)
			break;
	}
	if (rc == -EAGAIN)
		rc = RN_OK;
	if (rc == RN_OK && k.kerr != 0) {
		rc = RN_ENETLINK;
		err->kerr = k.kerr;
		err->op = k.op;
		memcpy(err->text, k.text, sizeof(k.text));
	} else if (rc == RN_OK && k.nseen < n) {
		rc = RN_ENETLINK;
		err->kerr = EPROTO;
		snprintf(err->text, NFS_ERRMSG_MAX, "%u of %u messages acknowledged", k.nseen, n);
	} else if (rc != RN_OK && err->text[0] == '\0') {
		snprintf(err->text, NFS_ERRMSG_MAX, "reading acknowledgements: %s",
		         rn_strerror(rc));
	}
out:
	free(k.seen);
	if (rc != RN_OK && rc != RN_ENETLINK) {
		/* Stale answers may follow: start over on a fresh socket. */
		nfa_nl_open(a);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static int query_cb(const struct nlr_msg *m, void *arg)
{
	struct nfa_query *q = arg;
	if (m->pid != q->a->portid || m->seq != q->seq)
		return RN_OK;
	if (m->type == NLMSG_DONE) {
		q->done = true;
		return nlr_parse_done(m, &q->error);
	}
	if (m->type == NLMSG_ERROR) {
		struct nlr_err e;
		int rc = nlr_parse_error(m, &e);
		if (rc != RN_OK)
			return rc;
		q->error = e.error;
		q->done = true; /* an error, or the ACK of a non-dump request */
		return RN_OK;
	}
	if (m->type == NLMSG_NOOP)
		return RN_OK;
	if (m->type < NLMSG_MIN_TYPE)
		return RN_EPARSE;
	if (m->flags & NLM_F_DUMP_INTR)
		q->intr = true;
	struct nlr_nfgen g;
	int rc = nlr_nfgen(m, &g);
	if (rc != RN_OK)
		return rc;
	if (q->res_set && g.res_id != q->res_id)
		q->res_mixed = true;
	q->res_set = true;
	q->res_id = g.res_id;
	return q->cb != NULL ? q->cb(m, &g, q->arg) : RN_OK;
}

int nfa_nl_query(struct applier *a, const uint8_t *req, size_t len, bool expect_done,
                 int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg),
                 void *arg, struct nfa_query *out)
{
	struct nfa_query q = {.a = a, .cb = cb, .arg = arg};
	memcpy(&q.seq, req + 8, 4);
	int rc = nl_send(a, req, len);
	if (rc != RN_OK)
		return rc;
	int64_t deadline = rn_time_mono_ms() + a->timeout_ms;
	while (!q.done) {
		size_t got = 0;
		int64_t left = deadline - rn_time_mono_ms();
		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		rc = nl_recv(a, (int)(left > 1000 ? 1000 : left), &got);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			rc = RN_OK;
			continue;
		}
		if (rc != RN_OK)
			break;
		rc = nlr_walk(a->rbuf, got, query_cb, &q);
		if (rc != RN_OK)
			break;
		/* A single answer (GETGEN) ends without DONE. */
		if (!expect_done && q.res_set)
			q.done = true;
	}
	if (rc != RN_OK)
		nfa_nl_open(a);
	if (q.error < 0 && q.error != -ENOENT)
		a->last_kerr = -q.error;
	*out = q;
	return rc;
}

int nfa_query_rc(const struct nfa_query *q)
{
	if (q->error != 0)
		return q->error == -ENOENT ? RN_ENOTFOUND : RN_ENETLINK;
	if (q->intr || q->res_mixed)
		return RN_ESTATE;
	return RN_OK;
}
