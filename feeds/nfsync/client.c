/*
 * client.c: the engine's side of the applier: the process, the socket,
 * and the exchanges of the protocol (LIST, DUMP, and transactions).
 *
 * Design notes:
 *
 * Process. The applier (repnet-nfsync) is started through
 * rn_helper_spawn(): by the launcher when repnetd dropped its privileges,
 * else with posix_spawn (a plain fork is not safe in a threaded daemon),
 * with one end of a SOCK_SEQPACKET socketpair as its fd 3; it answers
 * READY with its protocol version and backend. Between calls it sends nothing, so a
 * readable socket before an exchange means it exited: nfs_client_ensure()
 * then starts a fresh one. Whenever it dies, times out or breaks the
 * protocol, nfs_client_lost() kills and reaps it and marks the kernel
 * behind (dirty), since a transaction may or may not have reached it.
 *
 * Exchanges. One message per datagram, encoded into the engine's one
 * write buffer (wbuf) and received into its one read buffer (rbuf): no
 * allocation per message. Every receive is bounded by sync.timeout, and
 * every send by SO_SNDTIMEO. A transaction (nfs_client_txn) is the third
 * step of every change: BEGIN, each kernel operation of the list in turn
 * (ELEMS streamed into as many messages as the items need, straight from
 * the plan or the desired state), COMMIT, then the RESULT. The count of
 * messages is the report's `ops`.
 *
 * Threading: none; the caller's thread blocks on the applier.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "feeds/nfsync/engine.h"

/* ------------------------------------------------------------------ */
/* The applier process                                                 */
/* ------------------------------------------------------------------ */

void nfs_client_stop(struct feeds_nfsync *s, bool kill_it)
{
	/* Closing our end makes a healthy applier exit; a stuck one is killed. */
	if (s->app.pid > 0 && kill_it)
		rn_helper_kill(&s->app, SIGKILL);
	rn_helper_stop(&s->app, kill_it ? 0 : (int)s->conf.timeout_ms);
	s->fd = -1;
	s->pid = -1;
}

void nfs_client_lost(struct feeds_nfsync *s, enum nfs_err_reason why)
{
	rn_counter_inc(&s->errors[why]);
	nfs_client_stop(s, true);
	nfs_state_dirty(s, true);
}

static int eng_send(struct feeds_nfsync *s, const struct rn_wcur *w)
{
	if (s->fd < 0)
		return -EPIPE;
	if (!rn_wcur_ok(w))
		return RN_EINTERNAL;
	for (;;) {
		ssize_t n = send(s->fd, w->p, w->len, MSG_NOSIGNAL);
		if (n == (ssize_t)w->len)
			return RN_OK;
		if (n < 0 && errno == EINTR)
			continue;
		int e = n < 0 ? -errno : RN_EINTERNAL;
		log_warnx("nfsync: applier gone (%s)", rn_strerror(e));
		nfs_client_lost(s, e == -EAGAIN ? NFS_ERR_TIMEOUT : NFS_ERR_APPLIER);
		return e == -EAGAIN ? -ETIMEDOUT : -EPIPE;
	}
}

/* Receives one message from the applier into s->rbuf. */
static int eng_recv(struct feeds_nfsync *s, size_t *len)
{
	if (s->fd < 0)
		return -EPIPE;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	int64_t deadline = rn_time_mono_ms() + s->conf.timeout_ms;
	for (;;) {
		int64_t left = deadline - rn_time_mono_ms();
		int r = left > 0 ? poll(&p, 1, (int)(left > 60000 ? 60000 : left)) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && left > 0)
			continue;
		if (r <= 0) {
			log_warnx("nfsync: no answer from the applier within %lld ms; killing it",
			          (long long)s->conf.timeout_ms);
			nfs_client_lost(s, NFS_ERR_TIMEOUT);
			return -ETIMEDOUT;
		}
		ssize_t n = recv(s->fd, s->rbuf, NFS_MSG_MAX, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n > NFS_MSG_MAX) {
			log_warnx("nfsync: applier %s", n == 0 ? "exited" : "sent a bad message");
			nfs_client_lost(s, n == 0 ? NFS_ERR_APPLIER : NFS_ERR_PROTOCOL);
			return -EPIPE;
		}
		*len = (size_t)n;
		return RN_OK;
	}
}

/* The applier's path: sync.applier, else beside this executable, else installed. */
static int applier_path(const struct feeds_sync_conf *c, char *out, size_t len)
{
	if (c->applier != NULL) {
		if (strlen(c->applier) >= len)
			return RN_ECONF;
		strcpy(out, c->applier);
		return RN_OK;
	}
	int rc = rn_path_beside_self("repnet-nfsync", out, len);
	if (rc != RN_OK)
		return rc;
	/* Installed, repnet is in bin and the applier in sbin, with repnetd. */
	if (access(out, X_OK) != 0 &&
	    rn_path_installed(RN_INSTDIR_SBIN, "repnet-nfsync", out, len) != RN_OK) {
#ifdef REPNET_SBINDIR
		snprintf(out, len, "%s/repnet-nfsync", REPNET_SBINDIR);
#endif
	}
	return RN_OK;
}

int nfs_client_path(struct feeds_nfsync *s)
{
	return applier_path(&s->conf, s->applier, sizeof(s->applier));
}

/*
 * The command line: the path, then the arguments; strings point into
 * path, tmo (the timeout in ms, formatted here) and c. The applier's end
 * of the pair is its descriptor 3.
 */
static void applier_argv(const struct feeds_sync_conf *c, char *path, char tmo[32],
                         char *argv[FEEDS_NFSYNC_ARGV])
{
	static char fd3[] = "3", o_fd[] = "--fd", o_backend[] = "--backend", nft[] = "nft",
	            ipset[] = "ipset", o_table[] = "--table", o_prefix[] = "--ipset-prefix",
	            o_tmo[] = "--timeout-ms";
	snprintf(tmo, 32, "%lld", (long long)(c->timeout_ms > 0 ? c->timeout_ms : 30000));
	size_t a = 0;
	argv[a++] = path;
	argv[a++] = o_fd;
	argv[a++] = fd3;
	argv[a++] = o_backend;
	argv[a++] = c->backend == FEEDS_SYNC_IPSET ? ipset : nft;
	argv[a++] = o_table;
	argv[a++] = c->table;
	argv[a++] = o_prefix;
	argv[a++] = c->ipset_prefix;
	argv[a++] = o_tmo;
	argv[a++] = tmo;
	argv[a] = NULL;
}

int feeds_nfsync_applier_argv(const struct feeds_sync_conf *conf, char *buf, size_t len,
                              char *argv[FEEDS_NFSYNC_ARGV])
{
	if (len < PATH_MAX + 32)
		return RN_ELIMIT;
	int rc = applier_path(conf, buf, PATH_MAX);
	if (rc != RN_OK)
		return rc;
	applier_argv(conf, buf, buf + PATH_MAX, argv);
	return RN_OK;
}

int nfs_client_start(struct feeds_nfsync *s)
{
	char tmo[32];
	char *argv[FEEDS_NFSYNC_ARGV];
	applier_argv(&s->conf, s->applier, tmo, argv);
	int rc = rn_helper_spawn(RN_HELPER_NFSYNC, argv, &s->app);
	if (rc != RN_OK) {
		log_warnx("nfsync: cannot start %s: %s", s->applier, rn_strerror(rc));
		return rc;
	}
	s->pid = s->app.pid;
	s->fd = s->app.sock;
	/* A send blocks only while the applier does not read: bound it too. */
	struct timeval tv = {.tv_sec = s->conf.timeout_ms / 1000,
	                     .tv_usec = (s->conf.timeout_ms % 1000) * 1000};
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	size_t len;
	struct nfs_msg m;
	if ((rc = eng_recv(s, &len)) != RN_OK)
		return rc;
	if ((rc = nfs_msg_decode(s->rbuf, len, &m)) != RN_OK || m.type != NFS_M_READY ||
	    m.u.ready.version != NFS_PROTO_VERSION ||
	    m.u.ready.backend != (uint8_t)s->conf.backend) {
		log_warnx("nfsync: %s did not answer as an applier of this version", s->applier);
		nfs_client_lost(s, NFS_ERR_PROTOCOL);
		return RN_EVERSION;
	}
	return RN_OK;
}

int nfs_client_ensure(struct feeds_nfsync *s)
{
	if (s->fd >= 0) {
		/* Between calls the applier sends nothing: anything readable is
		 * its exit (or a protocol breach), so start a fresh one. */
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 0)
			return RN_OK;
		log_warnx("nfsync: the applier (pid %d) has exited", (int)s->pid);
		nfs_client_lost(s, NFS_ERR_APPLIER);
	}
	if (s->app.pid > 0)
		nfs_client_stop(s, true);
	int rc = nfs_client_start(s);
	if (rc == RN_OK && s->loaded) {
		rn_counter_inc(&s->restarts);
		log_notice("nfsync: applier restarted (pid %d)", (int)s->pid);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Elements                                                            */
/* ------------------------------------------------------------------ */

/* Streams items of one set into ELEMS messages. */
struct elstream {
	struct feeds_nfsync *s;
	struct rn_wcur w;
	struct nfs_setid id;
	uint8_t op;
	uint8_t flags;
	uint16_t n;
	size_t per;
	uint32_t *msgs;
};

static void es_begin(struct elstream *e, struct feeds_nfsync *s, const struct nfs_kop *k,
                     uint32_t *msgs)
{
	e->s = s;
	e->id = k->id;
	e->op = k->op;
	e->flags = k->flags;
	e->n = 0;
	e->per = nfs_elems_per_msg(k->id.kind);
	e->msgs = msgs;
	rn_wcur_init(&e->w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_elems_start(&e->w, e->op, &e->id, e->flags);
}

static int es_flush(struct elstream *e)
{
	if (e->n == 0)
		return RN_OK;
	nfs_enc_elems_finish(&e->w, e->n);
	(*e->msgs)++;
	int rc = eng_send(e->s, &e->w);
	e->n = 0;
	nfs_enc_elems_start(&e->w, e->op, &e->id, e->flags);
	return rc;
}

static int es_put(struct elstream *e, const uint8_t *item)
{
	if (e->n == e->per) {
		int rc = es_flush(e);
		if (rc != RN_OK)
			return rc;
	}
	rn_wcur_bytes(&e->w, item, nfs_item_len(e->id.kind));
	e->n++;
	return RN_OK;
}

/* An ELEMS operation: its items, from wherever they are. */
static int send_elems(struct feeds_nfsync *s, const struct nfs_kop *k, uint32_t *msgs)
{
	struct elstream e;
	size_t il = nfs_item_len(k->id.kind);
	unsigned klen = nfs_kind_klen(k->id.kind);
	int rc = RN_OK;
	es_begin(&e, s, k, msgs);
	switch (k->src) {
	case NFS_SRC_BYTES:
		for (size_t i = 0; i < k->items.bytes.n && rc == RN_OK; i++)
			rc = es_put(&e, k->items.bytes.v + i * il);
		break;
	case NFS_SRC_RANGES:
		for (size_t i = 0; i < k->items.ranges->n && rc == RN_OK; i++) {
			uint8_t it[32];
			memcpy(it, k->items.ranges->v[i].lo, klen);
			memcpy(it + klen, k->items.ranges->v[i].hi, klen);
			rc = es_put(&e, it);
		}
		break;
	case NFS_SRC_KEYSET: {
		const struct nfs_keyset *ks = k->items.keys;
		for (size_t i = 0; i < ks->cap && rc == RN_OK; i++)
			if (ks->masks[i] & NFS_CAT_BITS)
				rc = es_put(&e, nfs_keyset_key(ks, i));
		break;
	}
	default:
		return RN_EINTERNAL;
	}
	return rc == RN_OK ? es_flush(&e) : rc;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static enum nfs_err_reason classify(int kerr)
{
	switch (kerr) {
	case ENOBUFS:
		return NFS_ERR_ENOBUFS;
	case EPERM:
	case EACCES:
		return NFS_ERR_EPERM;
	case ENFILE:
	case ENOSPC:
	case IPSET_ERR_HASH_FULL:
		return NFS_ERR_FULL;
	default:
		return NFS_ERR_KERNEL;
	}
}

/* Sends one operation of an open transaction; counts its messages. */
static int send_kop(struct feeds_nfsync *s, const struct nfs_kops *k, const struct nfs_kop *op,
                    uint32_t *msgs)
{
	struct rn_wcur w;
	rn_wcur_init(&w, s->wbuf, NFS_MSG_MAX);
	switch (op->type) {
	case NFS_M_ELEMS:
		return send_elems(s, op, msgs);
	case NFS_M_TABLE:
	case NFS_M_DESTROY:
		nfs_enc_simple(&w, op->type);
		break;
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
		nfs_enc_set(&w, op->type, &op->id, op->flags, op->size);
		break;
	case NFS_M_CHAIN_FLUSH:
	case NFS_M_CHAIN_DEL:
	case NFS_M_CHAIN_ADD:
		nfs_enc_chain(&w, op->type, op->chain, op->prio);
		break;
	case NFS_M_RULES:
		nfs_enc_rules(&w, k->rules, k->nrules);
		break;
	default:
		return RN_EINTERNAL;
	}
	(*msgs)++;
	return eng_send(s, &w);
}

/* Waits for the RESULT of the open transaction. */
static int txn_result(struct feeds_nfsync *s, int64_t t0, struct feeds_nfsync_report *rep,
                      int *kerr_out)
{
	size_t len;
	struct nfs_msg m;
	int rc = eng_recv(s, &len);
	*kerr_out = 0;
	if (rc != RN_OK)
		return rc;
	rc = nfs_msg_decode(s->rbuf, len, &m);
	if (rc != RN_OK || m.type != NFS_M_RESULT || m.u.result.txn != s->txn) {
		log_warnx("nfsync: unexpected answer from the applier");
		nfs_client_lost(s, NFS_ERR_PROTOCOL);
		return RN_ESTATE;
	}
	int64_t us = rn_time_mono_us() - t0;
	s->last_txn_s = (double)us / 1e6;
	if (rep != NULL)
		rep->txn_us += us;
	*kerr_out = m.u.result.kerr;
	if (m.u.result.rc == RN_OK) {
		rn_counter_inc(&s->txn_ok);
		rn_gauge_set(&s->last_success, rn_time_now_ms() / 1000);
		return RN_OK;
	}
	rn_counter_inc(&s->txn_failed);
	if (m.u.result.kerr != ERESTART) {
		rn_counter_inc(&s->errors[m.u.result.rc == RN_ENETLINK ? classify(m.u.result.kerr)
		                                                       : NFS_ERR_PROTOCOL]);
		log_warnx("nfsync: transaction %u failed at operation %d: %s%s%s%s", s->txn,
		          m.u.result.op == UINT32_MAX ? -1 : (int)m.u.result.op,
		          rn_strerror(m.u.result.rc), m.u.result.text[0] ? " (" : "",
		          m.u.result.text, m.u.result.text[0] ? ")" : "");
	}
	return m.u.result.rc;
}

int nfs_client_txn(struct feeds_nfsync *s, const struct nfs_kops *k, uint32_t genid, int64_t t0,
                   struct feeds_nfsync_report *rep, struct nfs_txn_result *res)
{
	struct rn_wcur w;
	int rc;

	memset(res, 0, sizeof(*res));
	if (k->n == 0)
		return RN_OK; /* nothing to change: no transaction */
	rn_wcur_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_begin(&w, ++s->txn, genid);
	rc = eng_send(s, &w);
	for (size_t i = 0; i < k->n && rc == RN_OK; i++)
		rc = send_kop(s, k, &k->v[i], &res->msgs);
	if (rc == RN_OK) {
		rn_wcur_init(&w, s->wbuf, NFS_MSG_MAX);
		nfs_enc_simple(&w, NFS_M_COMMIT);
		rc = eng_send(s, &w);
	}
	if (rc == RN_OK)
		rc = txn_result(s, t0, rep, &res->kerr);
	res->committed = rc == RN_OK;
	return rc;
}

/* ------------------------------------------------------------------ */
/* LIST and DUMP                                                       */
/* ------------------------------------------------------------------ */

int nfs_client_list(struct feeds_nfsync *s, struct nfs_sets *out)
{
	struct rn_wcur w;
	size_t len;
	rn_wcur_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_simple(&w, NFS_M_LIST);
	int rc = eng_send(s, &w);
	if (rc == RN_OK)
		rc = eng_recv(s, &len);
	if (rc != RN_OK)
		return rc;
	if (s->rbuf[0] == NFS_M_RESULT) {
		struct nfs_msg m;
		if (nfs_msg_decode(s->rbuf, len, &m) == RN_OK) {
			rn_counter_inc(&s->errors[m.u.result.kerr ? classify(m.u.result.kerr)
			                                          : NFS_ERR_PROTOCOL]);
			log_warnx_rl("nfsync: listing the kernel's sets failed: %s (%s)",
			             rn_strerror(m.u.result.rc), m.u.result.text);
			return m.u.result.rc != RN_OK ? m.u.result.rc : RN_EINTERNAL;
		}
	}
	rc = nfs_msg_decode_sets(s->rbuf, len, out);
	if (rc != RN_OK) {
		nfs_client_lost(s, NFS_ERR_PROTOCOL);
		return rc;
	}
	return RN_OK;
}

int nfs_client_dump(struct feeds_nfsync *s, const struct nfs_setid *id, uint8_t flags,
                    int (*cb)(const uint8_t *item, void *arg), void *arg, struct nfs_dumpinfo *info)
{
	struct rn_wcur w;
	size_t len, il = nfs_item_len(id->kind);
	int rc, cbrc = RN_OK;
	rn_wcur_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_set(&w, NFS_M_DUMP, id, flags, 0);
	if ((rc = eng_send(s, &w)) != RN_OK)
		return rc;
	rn_counter_inc(&s->dumps);
	memset(info, 0, sizeof(*info));
	for (;;) {
		struct nfs_msg m;
		if ((rc = eng_recv(s, &len)) != RN_OK)
			return rc;
		rc = nfs_msg_decode(s->rbuf, len, &m);
		if (rc != RN_OK || (m.type != NFS_M_ELEMS && m.type != NFS_M_DUMP_END) ||
		    (m.type == NFS_M_ELEMS &&
		     (m.u.elems.op != NFS_OP_DUMP || m.u.elems.id.kind != id->kind ||
		      m.u.elems.id.group != id->group))) {
			nfs_client_lost(s, NFS_ERR_PROTOCOL);
			return rc != RN_OK ? rc : RN_EPARSE;
		}
		if (m.type == NFS_M_DUMP_END) {
			info->genid16 = m.u.dump_end.genid;
			info->anomalies = m.u.dump_end.anomalies;
			if (m.u.dump_end.rc != RN_OK)
				return m.u.dump_end.rc;
			if (m.u.dump_end.count != info->count)
				return RN_EINTERNAL;
			return cbrc;
		}
		for (size_t i = 0; i < m.u.elems.n; i++) {
			info->count++;
			if (cbrc == RN_OK)
				cbrc = cb(m.u.elems.items + i * il, arg);
		}
	}
}
