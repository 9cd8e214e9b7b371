/*
 * apply.c: the netfilter applier, the only process of repnet that
 * holds CAP_NET_ADMIN.
 *
 * Design notes: the applier is a small process (src/repnet-nfsync runs
 * feeds_nfsync_applier_main) that the sync engine spawns with one end of
 * a SOCK_SEQPACKET socketpair. It drops every capability but
 * CAP_NET_ADMIN, sets no_new_privs, and then only ever does this: read one
 * typed message from the engine, check it (msg.c refuses anything
 * malformed or with trailing bytes, and the applier exits on it), and
 * turn it into netlink for its one table (nftables) or its own prefixed
 * sets (ipset). The table and the set name prefix come from its command
 * line, never from a message, so the engine can only ever touch repnet's
 * own objects. It never reads network input; the only other input is the
 * kernel's netlink answers, which go through nlreply.c.
 *
 * Transactions: BEGIN, operations, COMMIT. For nftables the operations
 * build one nfnetlink batch, sent with one sendmsg() at COMMIT; the kernel
 * processes a batch synchronously inside that call and queues one ACK per
 * message, so after it returns the answers are drained and checked: each
 * must come from the kernel to our port id, with a sequence number of this
 * batch, and every message must be acknowledged. Any error, a missing ACK,
 * a receive overrun (ENOBUFS) or a timeout fails the transaction; the
 * engine then resynchronises from a dump. If the applier is killed at any
 * point, the kernel holds the old state (nothing sent, or the batch aborted
 * on the fatal signal) or the new one (the batch committed): never a mix.
 * For ipset, which has no transactions, the operations go in stages (see
 * ipset_batch.c); a swap runs only after everything before it succeeded.
 *
 * Single-threaded; all buffers are owned here and freed on exit.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <libmnl/libmnl.h>

#include "feeds/nfapply/netlink.h"

#define RBUF_SIZE    (256u * 1024u)
#define RCVBUF_BYTES (8u * 1024u * 1024u)
#define STAGES_MAX   64u

struct applier {
	int fd;
	int backend;
	int family;
	char table[NFS_NAME_MAX];
	char prefix[NFS_IPSET_PREFIX_MAX + 1];
	int64_t timeout_ms;
	size_t batch_limit;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	/* The transaction being built. */
	bool in_txn;
	uint32_t txn;
	uint32_t genid;
	uint32_t nops;
	int err;
	uint32_t err_op;
	char err_text[NFS_ERRMSG_MAX + 1];
	struct nfb nb;
	int last_kerr; /* errno of the last failed query, for the engine */
	struct ipb stages[STAGES_MAX];
	size_t nstages;
	uint8_t rev_ip[2];  /* hash:ip revisions for inet, inet6 */
	uint8_t rev_net[2]; /* hash:net revisions */
	uint8_t *rbuf;
	uint8_t in[NFS_MSG_MAX];
	uint8_t out[NFS_MSG_MAX];
};

/* ---- engine side of the socket ---- */

static int eng_send(struct applier *a, const struct nfs_wbuf *w)
{
	if (w->overflow)
		return RN_EINTERNAL;
	for (;;) {
		ssize_t n = send(a->fd, w->p, w->len, MSG_NOSIGNAL);
		if (n == (ssize_t)w->len)
			return RN_OK;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : RN_EINTERNAL;
	}
}

static int send_result(struct applier *a, int32_t rc, int32_t kerr, uint32_t op, const char *text)
{
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, a->out, sizeof(a->out));
	nfs_enc_result(&w, a->txn, rc, kerr, op, text);
	return eng_send(a, &w);
}

/* ---- netlink ---- */

static void nl_close(struct applier *a)
{
	if (a->nl != NULL)
		mnl_socket_close(a->nl);
	a->nl = NULL;
}

static int nl_open(struct applier *a)
{
	int on = 1, sz = RCVBUF_BYTES;
	nl_close(a);
	a->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (a->nl == NULL)
		return -errno;
	if (mnl_socket_bind(a->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;
		nl_close(a);
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
	struct iovec iov = {.iov_base = a->rbuf, .iov_len = RBUF_SIZE};
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

/* ---- ACK collection ---- */

struct acks {
	struct applier *a;
	uint32_t seq_first;
	uint32_t n;
	const uint32_t *ops;
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
	bool begin = m->seq == k->seq_first - 1;
	if (!begin && (m->seq - k->seq_first) >= k->n) {
		k->stray++;
		return RN_OK;
	}
	if (e.error != 0 && k->kerr == 0) {
		k->kerr = -e.error;
		k->batch_err = begin;
		k->op = begin ? UINT32_MAX : k->ops[m->seq - k->seq_first];
		if (e.text != NULL)
			snprintf(k->text, sizeof(k->text), "%s", e.text);
	}
	if (!begin && !k->seen[m->seq - k->seq_first]) {
		k->seen[m->seq - k->seq_first] = 1;
		k->nseen++;
	}
	return RN_OK;
}

/*
 * Sends one batch or stage and checks its answers. Returns RN_OK when
 * every message was acknowledged without error; otherwise fills *res_*.
 */
static int exchange(struct applier *a, const uint8_t *buf, size_t len, uint32_t seq_first,
                    uint32_t n, const uint32_t *ops, int *kerr, uint32_t *op, char *text)
{
	struct acks k = {.a = a, .seq_first = seq_first, .n = n, .ops = ops, .op = UINT32_MAX};
	int rc;

	*kerr = 0;
	*op = UINT32_MAX;
	text[0] = '\0';
	k.seen = calloc(n ? n : 1, 1);
	if (k.seen == NULL)
		return -ENOMEM;
	rc = nl_send(a, buf, len);
	if (rc != RN_OK) {
		snprintf(text, NFS_ERRMSG_MAX, "sendmsg of %zu bytes failed", len);
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
		*kerr = k.kerr;
		*op = k.op;
		memcpy(text, k.text, sizeof(k.text));
	} else if (rc == RN_OK && k.nseen < n) {
		rc = RN_ENETLINK;
		*kerr = EPROTO;
		snprintf(text, NFS_ERRMSG_MAX, "%u of %u messages acknowledged", k.nseen, n);
	} else if (rc != RN_OK && text[0] == '\0') {
		snprintf(text, NFS_ERRMSG_MAX, "reading acknowledgements: %s", rn_strerror(rc));
	}
out:
	free(k.seen);
	if (rc != RN_OK && rc != RN_ENETLINK) {
		/* Stale answers may follow: start over on a fresh socket. */
		nl_open(a);
	}
	return rc;
}

/* ---- dumps ---- */

struct dumpctx {
	struct applier *a;
	uint32_t seq;
	bool done;
	int error; /* negative errno from DONE or ERROR */
	bool intr; /* NLM_F_DUMP_INTR seen */
	bool res_set;
	uint16_t res_id;
	bool res_mixed; /* messages from different generations */
	int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg);
	void *arg;
};

static int dump_cb(const struct nlr_msg *m, void *arg)
{
	struct dumpctx *d = arg;
	if (m->pid != d->a->portid || m->seq != d->seq)
		return RN_OK;
	if (m->type == NLMSG_DONE) {
		d->done = true;
		return nlr_parse_done(m, &d->error);
	}
	if (m->type == NLMSG_ERROR) {
		struct nlr_err e;
		int rc = nlr_parse_error(m, &e);
		if (rc != RN_OK)
			return rc;
		d->error = e.error;
		d->done = true; /* an error, or the ACK of a non-dump request */
		return RN_OK;
	}
	if (m->type == NLMSG_NOOP)
		return RN_OK;
	if (m->type < NLMSG_MIN_TYPE)
		return RN_EPARSE;
	if (m->flags & NLM_F_DUMP_INTR)
		d->intr = true;
	struct nlr_nfgen g;
	int rc = nlr_nfgen(m, &g);
	if (rc != RN_OK)
		return rc;
	if (d->res_set && g.res_id != d->res_id)
		d->res_mixed = true;
	d->res_set = true;
	d->res_id = g.res_id;
	return d->cb != NULL ? d->cb(m, &g, d->arg) : RN_OK;
}

/* Sends a request and feeds every answer to cb until DONE or an error. */
static int query(struct applier *a, const uint8_t *req, size_t len, bool expect_done,
                 int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg),
                 void *arg, struct dumpctx *out)
{
	struct dumpctx d = {.a = a, .cb = cb, .arg = arg};
	memcpy(&d.seq, req + 8, 4);
	int rc = nl_send(a, req, len);
	if (rc != RN_OK)
		return rc;
	int64_t deadline = rn_time_mono_ms() + a->timeout_ms;
	while (!d.done) {
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
		rc = nlr_walk(a->rbuf, got, dump_cb, &d);
		if (rc != RN_OK)
			break;
		/* A single answer (GETGEN) ends without DONE. */
		if (!expect_done && d.res_set)
			d.done = true;
	}
	if (rc != RN_OK)
		nl_open(a);
	if (d.error < 0 && d.error != -ENOENT)
		a->last_kerr = -d.error;
	*out = d;
	return rc;
}

/* ---- LIST ---- */

static int gen_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWGEN)
		return RN_OK;
	return nlr_nft_gen(g, arg);
}

static bool set_compat(unsigned kind, const struct nlr_set *s)
{
	uint32_t type = nfs_kind_v6(kind) ? 8u : 7u;
	uint32_t flags = nfs_kind_interval(kind) ? NFT_SET_INTERVAL : 0;
	return s->has_key && s->key_type == type && s->key_len == nfs_kind_klen(kind) &&
	       s->flags == flags;
}

static int sets_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nfs_sets *out = arg;
	struct nlr_set s;
	struct nfs_setid id;
	bool tmp;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWSET)
		return RN_OK;
	int rc = nlr_nft_set(g, &s);
	if (rc != RN_OK)
		return rc;
	if (nfs_set_name_parse(s.name.s, s.name.len, NULL, &id, &tmp) != RN_OK ||
	    out->n >= NFS_SETS_MAX) {
		out->foreign++;
		return RN_OK;
	}
	struct nfs_setinfo *si = &out->v[out->n++];
	si->id = id;
	si->flags = set_compat(id.kind, &s) ? NFS_SETF_COMPAT : 0;
	si->size = s.size;
	si->count = UINT32_MAX;
	return RN_OK;
}

static int chains_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	static const char *const names[NFS_CHAIN_COUNT] = {NFS_CHAIN_NAME, "input", "forward"};
	static const uint32_t hooks[NFS_CHAIN_COUNT] = {0, NF_INET_LOCAL_IN, NF_INET_FORWARD};
	struct nfs_sets *out = arg;
	struct nlr_chain c;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWCHAIN)
		return RN_OK;
	int rc = nlr_nft_chain(g, &c);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < NFS_CHAIN_COUNT; i++) {
		if (!nlr_str_eq(&c.name, names[i]))
			continue;
		struct nfs_chaininfo *ci = &out->chains[i];
		ci->present = 1;
		ci->prio = c.prio;
		/* A chain of ours that is not the shape we make is rebuilt. */
		bool ok = i == NFS_CHAIN_BLOCKLIST
		                  ? !c.has_hook
		                  : c.has_hook && c.hooknum == hooks[i] &&
		                            nlr_str_eq(&c.type, "filter") &&
		                            (!c.has_policy || c.policy == NF_ACCEPT);
		if (!ok)
			ci->rules = UINT32_MAX;
		return RN_OK;
	}
	out->foreign++;
	return RN_OK;
}

static int rules_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	static const char *const names[NFS_CHAIN_COUNT] = {NFS_CHAIN_NAME, "input", "forward"};
	struct nfs_sets *out = arg;
	struct nlr_rule r;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWRULE)
		return RN_OK;
	int rc = nlr_nft_rule(g, &r);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < NFS_CHAIN_COUNT; i++)
		if (nlr_str_eq(&r.chain, names[i]) && out->chains[i].rules != UINT32_MAX)
			out->chains[i].rules++;
	return RN_OK;
}

static int req_dump(struct applier *a, uint16_t type, const char *set, uint8_t *buf, size_t cap,
                    size_t *len)
{
	*len = nfb_req_dump(buf, cap, type, a->family, a->table, set, ++a->seq);
	return *len ? RN_OK : RN_ELIMIT;
}

static int list_nft(struct applier *a, struct nfs_sets *out)
{
	uint8_t req[1024];
	size_t len;
	struct dumpctx d;
	int rc;

	for (int attempt = 0; attempt < 5; attempt++) {
		memset(out, 0, sizeof(*out));
		len = nfb_req_getgen(req, ++a->seq);
		if ((rc = query(a, req, len, false, gen_cb, &out->genid, &d)) != RN_OK)
			return rc;
		if (d.error != 0)
			return RN_ENETLINK;
		uint16_t gen16 = (uint16_t)out->genid;

		if ((rc = req_dump(a, NFT_MSG_GETTABLE, NULL, req, sizeof(req), &len)) != RN_OK)
			return rc;
		rc = query(a, req, len, true, NULL, NULL, &d);
		if (rc != RN_OK)
			return rc;
		if (d.error == -ENOENT)
			return RN_OK; /* no table: nothing of ours */
		if (d.error != 0)
			return RN_ENETLINK;
		out->table = 1;

		if ((rc = req_dump(a, NFT_MSG_GETSET, NULL, req, sizeof(req), &len)) != RN_OK ||
		    (rc = query(a, req, len, true, sets_cb, out, &d)) != RN_OK)
			return rc;
		bool consistent = !d.intr && !d.res_mixed && (!d.res_set || d.res_id == gen16);
		if (d.error != 0)
			return RN_ENETLINK;
		if ((rc = req_dump(a, NFT_MSG_GETCHAIN, NULL, req, sizeof(req), &len)) != RN_OK ||
		    (rc = query(a, req, len, true, chains_cb, out, &d)) != RN_OK)
			return rc;
		consistent =
		        consistent && !d.intr && !d.res_mixed && (!d.res_set || d.res_id == gen16);
		if (d.error != 0)
			return RN_ENETLINK;
		if ((rc = req_dump(a, NFT_MSG_GETRULE, NULL, req, sizeof(req), &len)) != RN_OK ||
		    (rc = query(a, req, len, true, rules_cb, out, &d)) != RN_OK)
			return rc;
		consistent =
		        consistent && !d.intr && !d.res_mixed && (!d.res_set || d.res_id == gen16);
		if (d.error != 0)
			return RN_ENETLINK;
		if (consistent)
			return RN_OK;
		/* The ruleset changed while we looked: look again. */
	}
	return RN_ESTATE;
}

static bool ipset_compat(unsigned kind, const struct nlr_ipset *h)
{
	const char *type = nfs_kind_interval(kind) ? "hash:net" : "hash:ip";
	uint8_t fam = nfs_kind_v6(kind) ? NFPROTO_IPV6 : NFPROTO_IPV4;
	return nlr_str_eq(&h->type, type) && h->family == fam;
}

struct ipsetlist {
	struct nfs_sets *out;
	const char *prefix;
};

static int ipsetlist_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct ipsetlist *l = arg;
	struct nlr_ipset h;
	struct nfs_setid id;
	bool tmp;
	(void)m;
	int rc = nlr_ipset(g, &h, NULL, NULL);
	if (rc != RN_OK)
		return rc;
	if (h.name.s == NULL || !h.has_header)
		return RN_OK;
	if (nfs_set_name_parse(h.name.s, h.name.len, l->prefix, &id, &tmp) != RN_OK ||
	    id.kind > NFS_K_NET6 || l->out->n >= NFS_SETS_MAX)
		return RN_OK; /* not ours: ipset names are global */
	struct nfs_setinfo *si = &l->out->v[l->out->n++];
	si->id = id;
	si->flags = (uint8_t)((tmp ? NFS_SETF_TMP : 0) |
	                      (ipset_compat(id.kind, &h) ? NFS_SETF_COMPAT : 0));
	si->size = h.maxelem;
	si->count = h.elements;
	return RN_OK;
}

static int list_ipset(struct applier *a, struct nfs_sets *out)
{
	uint8_t req[512];
	struct dumpctx d;
	struct ipsetlist l = {.out = out, .prefix = a->prefix};
	memset(out, 0, sizeof(*out));
	size_t len = ipb_req_list(req, sizeof(req), NULL, ++a->seq);
	int rc = query(a, req, len, true, ipsetlist_cb, &l, &d);
	if (rc != RN_OK)
		return rc;
	if (d.error != 0)
		return RN_ENETLINK;
	out->table = 1;
	return RN_OK;
}

/* ---- DUMP ---- */

struct elemdump {
	struct applier *a;
	struct nfs_setid id;
	const char *name;
	struct nfs_wbuf w;
	uint16_t n;
	uint32_t count;
	uint32_t anomalies;
	int rc;
	/* nftables interval sets: boundaries, paired after the dump. */
	struct bound {
		uint8_t key[16];
		uint8_t end;
	} * b;
	size_t nb, capb;
};

static int flush_items(struct elemdump *e)
{
	if (e->n == 0)
		return RN_OK;
	int rc = nfs_enc_elems_finish(&e->w, e->n);
	if (rc == RN_OK)
		rc = eng_send(e->a, &e->w);
	e->n = 0;
	nfs_enc_elems_start(&e->w, NFS_OP_DUMP, &e->id, 0);
	return rc;
}

static int put_item(struct elemdump *e, const uint8_t *item)
{
	if (e->n == nfs_elems_per_msg(e->id.kind)) {
		int rc = flush_items(e);
		if (rc != RN_OK)
			return rc;
	}
	nfs_put_bytes(&e->w, item, nfs_item_len(e->id.kind));
	e->n++;
	e->count++;
	return e->w.overflow ? RN_EINTERNAL : RN_OK;
}

static int nft_elem_cb(const struct nlr_elem *el, void *arg)
{
	struct elemdump *e = arg;
	unsigned klen = nfs_kind_klen(e->id.kind);
	if (el->key == NULL || el->klen != klen) {
		e->anomalies++;
		return RN_OK;
	}
	if (!nfs_kind_interval(e->id.kind)) {
		if (el->flags != 0 || el->key_end != NULL) {
			e->anomalies++;
			return RN_OK;
		}
		return put_item(e, el->key);
	}
	if (el->key_end != NULL) {
		/* A range in one element (pipapo style): [key, key_end]. */
		uint8_t it[32];
		if (el->kelen != klen || memcmp(el->key, el->key_end, klen) > 0) {
			e->anomalies++;
			return RN_OK;
		}
		memcpy(it, el->key, klen);
		memcpy(it + klen, el->key_end, klen);
		return put_item(e, it);
	}
	if (e->nb == e->capb) {
		size_t nc = e->capb ? e->capb * 2 : 1024;
		void *v = realloc(e->b, nc * sizeof(*e->b));
		if (v == NULL)
			return -ENOMEM;
		e->b = v;
		e->capb = nc;
	}
	memset(&e->b[e->nb], 0, sizeof(e->b[e->nb]));
	memcpy(e->b[e->nb].key, el->key, klen);
	e->b[e->nb].end = (el->flags & NFT_SET_ELEM_INTERVAL_END) ? 1 : 0;
	e->nb++;
	return RN_OK;
}

static int bound_cmp(const void *x, const void *y)
{
	const struct bound *p = x, *q = y;
	int c = memcmp(p->key, q->key, 16);
	if (c != 0)
		return c;
	/* At one key, an end (of the range below) sorts before a start. */
	return (int)q->end - (int)p->end;
}

/* Pairs sorted boundaries into ranges: start s, end e -> [s, e-1]. */
static int pair_bounds(struct elemdump *e)
{
	unsigned klen = nfs_kind_klen(e->id.kind);
	qsort(e->b, e->nb, sizeof(*e->b), bound_cmp);
	for (size_t i = 0; i < e->nb; i++) {
		if (e->b[i].end) {
			e->anomalies++; /* an end without a start */
			continue;
		}
		uint8_t it[32];
		memcpy(it, e->b[i].key, klen);
		if (i + 1 < e->nb && e->b[i + 1].end) {
			memcpy(it + klen, e->b[i + 1].key, klen);
			if (!nfs_key_dec(it + klen, klen) || memcmp(it, it + klen, klen) > 0) {
				e->anomalies++;
				i++;
				continue;
			}
			i++;
		} else if (i + 1 == e->nb) {
			memset(it + klen, 0xff, klen); /* open to the top */
		} else {
			e->anomalies++; /* a start followed by a start */
			continue;
		}
		int rc = put_item(e, it);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static int elems_msg_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct elemdump *e = arg;
	struct nlr_elems hdr;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWSETELEM)
		return RN_OK;
	int rc = nlr_nft_elems(g, &hdr, nft_elem_cb, e);
	if (rc != RN_OK)
		return rc;
	if (!nlr_str_eq(&hdr.set, e->name))
		return RN_EPARSE;
	return RN_OK;
}

static int ipset_member_cb(const uint8_t *addr, size_t alen, unsigned cidr, void *arg)
{
	struct elemdump *e = arg;
	unsigned klen = nfs_kind_klen(e->id.kind);
	if (alen != klen) {
		e->anomalies++;
		return RN_OK;
	}
	if (!nfs_kind_interval(e->id.kind)) {
		if (cidr != 0 && cidr != klen * 8) {
			e->anomalies++;
			return RN_OK;
		}
		return put_item(e, addr);
	}
	uint8_t it[32];
	nfs_prefix_bounds(addr, cidr ? cidr : klen * 8, klen, it, it + klen);
	return put_item(e, it);
}

static int ipset_dump_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct elemdump *e = arg;
	struct nlr_ipset h;
	(void)m;
	return nlr_ipset(g, &h, ipset_member_cb, e);
}

static int do_dump(struct applier *a, const struct nfs_setid *id, uint8_t flags)
{
	char name[NFS_NAME_MAX];
	uint8_t req[1024];
	size_t len;
	struct dumpctx d = {0};
	struct elemdump e = {.a = a, .id = *id, .name = name};
	int rc;
	bool ipset = a->backend == FEEDS_SYNC_IPSET;

	uint8_t *wb = malloc(NFS_MSG_MAX);
	if (wb == NULL)
		return -ENOMEM;
	nfs_wbuf_init(&e.w, wb, NFS_MSG_MAX);
	nfs_enc_elems_start(&e.w, NFS_OP_DUMP, id, 0);
	rc = nfs_set_name(id, ipset ? a->prefix : NULL, (flags & NFS_SETF_TMP) != 0, name,
	                  sizeof(name));
	if (rc == RN_OK && ipset) {
		len = ipb_req_list(req, sizeof(req), name, ++a->seq);
		rc = query(a, req, len, true, ipset_dump_cb, &e, &d);
	} else if (rc == RN_OK) {
		rc = req_dump(a, NFT_MSG_GETSETELEM, name, req, sizeof(req), &len);
		if (rc == RN_OK)
			rc = query(a, req, len, true, elems_msg_cb, &e, &d);
	}
	if (rc == RN_OK && d.error != 0)
		rc = d.error == -ENOENT ? RN_ENOTFOUND : RN_ENETLINK;
	if (rc == RN_OK && (d.intr || d.res_mixed))
		rc = RN_ESTATE;
	if (rc == RN_OK && e.nb > 0)
		rc = pair_bounds(&e);
	if (rc == RN_OK)
		rc = flush_items(&e);
	free(e.b);
	free(wb);
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, a->out, sizeof(a->out));
	nfs_enc_dump_end(&w, rc, e.count, e.anomalies, d.res_set ? d.res_id : 0);
	return eng_send(a, &w);
}

/* ---- transactions ---- */

static void txn_fail(struct applier *a, int rc, const char *fmt, const char *arg)
{
	if (a->err != RN_OK)
		return;
	a->err = rc;
	a->err_op = a->nops;
	snprintf(a->err_text, sizeof(a->err_text), fmt, arg ? arg : "");
}

static struct ipb *stage_cur(struct applier *a)
{
	return &a->stages[a->nstages - 1];
}

static int stage_new(struct applier *a)
{
	if (a->nstages == STAGES_MAX)
		return RN_ELIMIT;
	struct ipb *b = &a->stages[a->nstages];
	if (b->buf == NULL)
		ipb_init(b, a->batch_limit);
	memcpy(b->rev_ip, a->rev_ip, 2);
	memcpy(b->rev_net, a->rev_net, 2);
	/* Sequence numbers run on from the previous stage, with a gap. */
	uint32_t seq = (a->nstages ? a->stages[a->nstages - 1].seq_next : a->seq) + 1;
	a->nstages++;
	ipb_stage(b, seq);
	return RN_OK;
}

static int ipset_name(struct applier *a, const struct nfs_setid *id, bool tmp, char *name)
{
	return nfs_set_name(id, a->prefix, tmp, name, NFS_NAME_MAX);
}

/* Destroys every set of ours (DESTROY): listed now, destroyed in the stage. */
static int ipset_destroy_all(struct applier *a, uint32_t op)
{
	struct nfs_sets s;
	int rc = list_ipset(a, &s);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < s.n && rc == RN_OK; i++) {
		char name[NFS_NAME_MAX];
		rc = ipset_name(a, &s.v[i].id, (s.v[i].flags & NFS_SETF_TMP) != 0, name);
		if (rc == RN_OK)
			rc = ipb_destroy(stage_cur(a), op, name);
	}
	return rc;
}

static int op_ipset(struct applier *a, const struct nfs_msg *m, uint32_t op)
{
	char name[NFS_NAME_MAX], tname[NFS_NAME_MAX];
	int rc;
	switch (m->type) {
	case NFS_M_TABLE:
		return RN_OK;
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
		if (m->u.set.id.kind > NFS_K_NET6)
			return RN_EUNSUPP;
		if ((rc = ipset_name(a, &m->u.set.id, (m->u.set.flags & NFS_SETF_TMP) != 0,
		                     name)) != RN_OK)
			return rc;
		if (m->type == NFS_M_SET_ADD)
			return ipb_create(stage_cur(a), op, name, m->u.set.id.kind,
			                  m->u.set.size ? m->u.set.size : 65536);
		if (m->type == NFS_M_SET_DEL)
			return ipb_destroy(stage_cur(a), op, name);
		/* The swap runs alone, after everything before it succeeded. */
		if ((rc = ipset_name(a, &m->u.set.id, true, tname)) != RN_OK ||
		    (rc = stage_new(a)) != RN_OK ||
		    (rc = ipb_swap(stage_cur(a), op, name, tname)) != RN_OK)
			return rc;
		return stage_new(a);
	case NFS_M_ELEMS:
		if (m->u.elems.op == NFS_OP_DUMP || m->u.elems.id.kind > NFS_K_NET6)
			return RN_EUNSUPP;
		if ((rc = ipset_name(a, &m->u.elems.id, (m->u.elems.flags & NFS_SETF_TMP) != 0,
		                     name)) != RN_OK)
			return rc;
		return ipb_adt(stage_cur(a), op, m->u.elems.op == NFS_OP_ADD, name,
		               m->u.elems.id.kind, m->u.elems.items, m->u.elems.n);
	case NFS_M_DESTROY:
		return ipset_destroy_all(a, op);
	default:
		return RN_EUNSUPP; /* chains and rules are nftables only */
	}
}

static int op_nft(struct applier *a, const struct nfs_msg *m, uint32_t op)
{
	switch (m->type) {
	case NFS_M_TABLE:
		return nfb_table_add(&a->nb, op);
	case NFS_M_SET_ADD:
		if (m->u.set.flags & NFS_SETF_TMP)
			return RN_EUNSUPP;
		return nfb_set_add(&a->nb, op, &m->u.set.id, m->u.set.size);
	case NFS_M_SET_DEL:
		if (m->u.set.flags & NFS_SETF_TMP)
			return RN_EUNSUPP;
		return nfb_set_del(&a->nb, op, &m->u.set.id);
	case NFS_M_ELEMS:
		if (m->u.elems.op == NFS_OP_DUMP || (m->u.elems.flags & NFS_SETF_TMP))
			return RN_EUNSUPP;
		return nfb_elems(&a->nb, op, m->u.elems.op == NFS_OP_ADD, &m->u.elems.id,
		                 m->u.elems.items, m->u.elems.n);
	case NFS_M_CHAIN_FLUSH:
		return nfb_chain_flush(&a->nb, op, m->u.chain.chain);
	case NFS_M_CHAIN_DEL:
		return nfb_chain_del(&a->nb, op, m->u.chain.chain);
	case NFS_M_CHAIN_ADD:
		return nfb_chain_add(&a->nb, op, m->u.chain.chain, m->u.chain.prio);
	case NFS_M_RULES:
		for (unsigned i = 0; i < m->u.rules.n; i++) {
			int rc = nfb_rule_add(&a->nb, op, &m->u.rules.ids[i]);
			if (rc != RN_OK)
				return rc;
		}
		return RN_OK;
	case NFS_M_DESTROY:
		return nfb_table_del(&a->nb, op);
	default:
		return RN_EUNSUPP;
	}
}

static const char *ipset_errstr(int code)
{
	switch (code) {
	case IPSET_ERR_PROTOCOL:
		return "ipset protocol error";
	case IPSET_ERR_FIND_TYPE:
		return "set type not supported by the kernel";
	case IPSET_ERR_MAX_SETS:
		return "too many sets";
	case IPSET_ERR_BUSY:
		return "set is in use by a rule";
	case IPSET_ERR_EXIST_SETNAME2:
		return "second set does not exist";
	case IPSET_ERR_TYPE_MISMATCH:
		return "set types differ";
	case IPSET_ERR_EXIST:
		return "element or set exists (add) or is missing (del)";
	case IPSET_ERR_INVALID_CIDR:
		return "invalid prefix length";
	case IPSET_ERR_INVALID_FAMILY:
		return "invalid family";
	case IPSET_ERR_REFERENCED:
		return "set is referenced";
	case IPSET_ERR_HASH_FULL:
		return "set is full (maxelem)";
	default:
		return code >= IPSET_ERR_PRIVATE ? "ipset error" : strerror(code);
	}
}

static int commit(struct applier *a)
{
	int kerr = 0, rc;
	uint32_t op = UINT32_MAX;
	char text[NFS_ERRMSG_MAX + 1] = "";

	a->in_txn = false;
	if (a->err != RN_OK)
		return send_result(a, a->err, 0, a->err_op, a->err_text);
	if (a->backend == FEEDS_SYNC_NFT) {
		if (a->nb.nmsgs == 0)
			return send_result(a, RN_OK, 0, UINT32_MAX, NULL);
		rc = nfb_end(&a->nb);
		if (rc == RN_OK)
			rc = exchange(a, a->nb.buf, a->nb.len, a->nb.seq_first, a->nb.nmsgs,
			              a->nb.ops, &kerr, &op, text);
		a->seq = a->nb.seq_next + 1;
		if (rc == RN_ENETLINK && text[0] == '\0')
			snprintf(text, sizeof(text), "%s", strerror(kerr));
		return send_result(a, rc, kerr, op, text);
	}
	rc = RN_OK;
	for (size_t i = 0; i < a->nstages && rc == RN_OK; i++) {
		struct ipb *b = &a->stages[i];
		if (b->nmsgs == 0)
			continue;
		rc = exchange(a, b->buf, b->len, b->seq_first, b->nmsgs, b->ops, &kerr, &op, text);
		if (rc == RN_ENETLINK && text[0] == '\0')
			snprintf(text, sizeof(text), "%s", ipset_errstr(kerr));
	}
	a->seq = a->stages[a->nstages - 1].seq_next + 1;
	return send_result(a, rc, kerr, op, text);
}

static int begin(struct applier *a, const struct nfs_msg *m)
{
	a->in_txn = true;
	a->txn = m->u.begin.txn;
	a->genid = m->u.begin.genid;
	a->nops = 0;
	a->err = RN_OK;
	a->err_text[0] = '\0';
	if (a->backend == FEEDS_SYNC_NFT)
		return nfb_begin(&a->nb, ++a->seq, a->genid);
	a->nstages = 0;
	return stage_new(a);
}

static int handle(struct applier *a, const struct nfs_msg *m)
{
	int rc;
	switch (m->type) {
	case NFS_M_BEGIN:
		if (a->in_txn)
			return RN_ESTATE;
		rc = begin(a, m);
		if (rc != RN_OK)
			txn_fail(a, rc, "cannot start a batch", NULL);
		return RN_OK;
	case NFS_M_COMMIT:
		if (!a->in_txn)
			return RN_ESTATE;
		return commit(a);
	case NFS_M_LIST: {
		if (a->in_txn)
			return RN_ESTATE;
		struct nfs_sets *s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		a->last_kerr = 0;
		rc = a->backend == FEEDS_SYNC_NFT ? list_nft(a, s) : list_ipset(a, s);
		struct nfs_wbuf w;
		nfs_wbuf_init(&w, a->out, sizeof(a->out));
		if (rc == RN_OK) {
			nfs_enc_sets(&w, s);
			rc = eng_send(a, &w);
		} else {
			/* The answer to LIST is SETS or a RESULT with the error. */
			rc = send_result(a, rc, a->last_kerr, UINT32_MAX,
			                 a->last_kerr ? strerror(a->last_kerr) : "listing failed");
		}
		free(s);
		return rc;
	}
	case NFS_M_DUMP:
		if (a->in_txn)
			return RN_ESTATE;
		return do_dump(a, &m->u.set.id, m->u.set.flags);
	case NFS_M_TABLE:
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
	case NFS_M_CHAIN_FLUSH:
	case NFS_M_CHAIN_DEL:
	case NFS_M_CHAIN_ADD:
	case NFS_M_RULES:
	case NFS_M_DESTROY:
	case NFS_M_ELEMS: {
		if (!a->in_txn)
			return RN_ESTATE;
		uint32_t op = a->nops++;
		if (a->err != RN_OK)
			return RN_OK;
		rc = a->backend == FEEDS_SYNC_NFT ? op_nft(a, m, op) : op_ipset(a, m, op);
		if (rc != RN_OK) {
			a->err = rc;
			a->err_op = op;
			snprintf(a->err_text, sizeof(a->err_text), "operation %u refused: %s", op,
			         rn_strerror(rc));
		}
		return RN_OK;
	}
	default:
		return RN_EPARSE;
	}
}

/* ---- revisions of the ipset types this kernel offers ---- */

static int type_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nlr_ipset h;
	(void)m;
	int rc = nlr_ipset(g, &h, NULL, NULL);
	if (rc == RN_OK)
		*(uint8_t *)arg = h.revision;
	return rc;
}

static int ipset_revisions(struct applier *a)
{
	static const char *const types[2] = {"hash:ip", "hash:net"};
	static const uint8_t fams[2] = {NFPROTO_IPV4, NFPROTO_IPV6};
	uint8_t req[512];
	for (int t = 0; t < 2; t++) {
		for (int f = 0; f < 2; f++) {
			uint8_t rev = 0;
			struct dumpctx d;
			size_t len = ipb_req_type(req, sizeof(req), types[t], fams[f], ++a->seq);
			int rc = query(a, req, len, false, type_cb, &rev, &d);
			if (rc != RN_OK)
				return rc;
			if (d.error != 0)
				return RN_ENETLINK;
			if (t == 0)
				a->rev_ip[f] = rev;
			else
				a->rev_net[f] = rev;
		}
	}
	return RN_OK;
}

/* ---- privileges ---- */

/* Keeps CAP_NET_ADMIN and nothing else; no privilege can be regained. */
static void drop_privileges(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return;
	bool have = (data[0].effective & (1u << CAP_NET_ADMIN)) != 0;
	for (int c = 0; c <= 63; c++) {
		if (c != CAP_NET_ADMIN && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	}
	memset(data, 0, sizeof(data));
	if (have) {
		data[0].effective = 1u << CAP_NET_ADMIN;
		data[0].permitted = 1u << CAP_NET_ADMIN;
	}
	if (syscall(SYS_capset, &hdr, data) != 0)
		log_warn("capset");
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (!have)
		log_warnx("applier: no CAP_NET_ADMIN; the kernel will refuse every change");
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: repnet-nfsync --fd N [--backend nft|ipset] [--table \"inet "
	                "repnet\"] [--ipset-prefix repnet] [--timeout-ms N] [--batch-limit "
	                "BYTES]\n"
	                "The netfilter applier of repnet; repnetd and `repnet nfsync` start "
	                "it.\n");
}

int feeds_nfsync_applier_main(int argc, char **argv)
{
	static const struct option lopts[] = {{"fd", required_argument, NULL, 'f'},
	                                      {"backend", required_argument, NULL, 'b'},
	                                      {"table", required_argument, NULL, 't'},
	                                      {"ipset-prefix", required_argument, NULL, 'p'},
	                                      {"timeout-ms", required_argument, NULL, 'T'},
	                                      {"batch-limit", required_argument, NULL, 'L'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {NULL, 0, NULL, 0}};
	struct applier *a = calloc(1, sizeof(*a));
	const char *table = "inet repnet";
	int ch, code = 1;

	rn_log_init("repnet-nfsync", true, RN_LOG_NOTICE);
	if (a == NULL)
		return 1;
	a->fd = -1;
	a->timeout_ms = 30000;
	a->batch_limit = (size_t)1 << 30;
	snprintf(a->prefix, sizeof(a->prefix), "repnet");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 'f':
			a->fd = (int)strtol(optarg, &end, 10);
			break;
		case 'b':
			if (strcmp(optarg, "nft") == 0)
				a->backend = FEEDS_SYNC_NFT;
			else if (strcmp(optarg, "ipset") == 0)
				a->backend = FEEDS_SYNC_IPSET;
			else
				goto bad;
			break;
		case 't':
			table = optarg;
			break;
		case 'p':
			if (strlen(optarg) == 0 || strlen(optarg) > NFS_IPSET_PREFIX_MAX)
				goto bad;
			snprintf(a->prefix, sizeof(a->prefix), "%s", optarg);
			break;
		case 'T':
			a->timeout_ms = strtoll(optarg, &end, 10);
			if (a->timeout_ms < 100 || a->timeout_ms > 3600000)
				goto bad;
			break;
		case 'L':
			a->batch_limit = (size_t)strtoull(optarg, &end, 10);
			if (a->batch_limit < (1u << 20))
				goto bad;
			break;
		case 'h':
			usage();
			free(a);
			return 0;
		default:
			goto bad;
		}
		if (end != NULL && *end != '\0')
			goto bad;
	}
	if (optind != argc || a->fd < 0 ||
	    nfs_table_parse(table, &a->family, a->table, sizeof(a->table)) != RN_OK)
		goto bad;

	drop_privileges();
	a->rbuf = malloc(RBUF_SIZE);
	if (a->rbuf == NULL || nfb_init(&a->nb, a->family, a->table, a->batch_limit) != RN_OK)
		goto out;
	int rc = nl_open(a);
	if (rc != RN_OK) {
		log_errx("netlink: %s", rn_strerror(rc));
		goto out;
	}
	a->seq = (uint32_t)rn_time_now_ms();
	if (a->backend == FEEDS_SYNC_IPSET && (rc = ipset_revisions(a)) != RN_OK)
		log_warnx("ipset: cannot query set type revisions (%s); using 0", rn_strerror(rc));
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, a->out, sizeof(a->out));
	nfs_enc_ready(&w, (uint8_t)a->backend, (uint32_t)getpid());
	if (eng_send(a, &w) != RN_OK)
		goto out;
	for (;;) {
		ssize_t n = recv(a->fd, a->in, sizeof(a->in), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			code = 0; /* the engine closed: abandon any open transaction */
			break;
		}
		if (n < 0) {
			log_warn("applier: recv");
			break;
		}
		if ((size_t)n > sizeof(a->in)) {
			log_warnx("applier: message of %zd bytes refused", n);
			break;
		}
		struct nfs_msg m;
		rc = nfs_msg_decode(a->in, (size_t)n, &m);
		if (rc == RN_OK)
			rc = handle(a, &m);
		if (rc != RN_OK) {
			log_warnx("applier: message type %u: %s; exiting", a->in[0],
			          rn_strerror(rc));
			break;
		}
	}
out:
	nl_close(a);
	nfb_release(&a->nb);
	for (size_t i = 0; i < STAGES_MAX; i++)
		ipb_release(&a->stages[i]);
	free(a->rbuf);
	free(a);
	return code;
bad:
	usage();
	free(a);
	return 2;
}
