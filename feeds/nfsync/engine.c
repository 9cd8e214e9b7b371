/*
 * engine.c: the netfilter sync engine. It holds the desired blocklist,
 * plans kernel transactions and drives the privileged applier.
 *
 * Design notes:
 *
 * State. Per group of sets (all categories together, or one category when
 * sync.per_category is on) the engine keeps: the single addresses of
 * each family in a key set (address -> category mask), the listed
 * prefixes of each family in a sorted prefix set, and, per interval set,
 * the normalised ranges the kernel holds after the last successful
 * transaction. It keeps no copy of the kernel's hash sets: the invariant
 * is that after a successful transaction the kernel's address sets hold
 * exactly the keys with a category bit of the group. `dirty` records that
 * the invariant may be broken (a refused or lost transaction, a dead
 * applier); the next call resynchronises from a dump instead of trusting
 * it.
 *
 * Transactions. Every change is one transaction: a delta touches only the
 * keys whose membership changed (so adding an address listed already under
 * another category is no kernel change), and recomputes the ranges of an
 * interval set only when its prefixes changed. Loads and reconciles list
 * the kernel's sets, dump those that exist, compare, and plan per set:
 * nothing, a diff (deletions first, then additions, so that ranges can be
 * replaced without overlap), or a fresh set swapped in, when the set is
 * missing, of the wrong type, too small for what must go in (hash sets
 * are created with a declared size, which makes the kernel pick its
 * fixed-size hash), much too large, or when the diff would touch more
 * than sync.swap percent of it. For nftables a swap is: flush the
 * blocklist chain, delete the set, create it with the new size, fill it,
 * refill the chain, all in one batch, so packets see the old set until the
 * commit and the new one after. For ipset it is a temporary set, filled,
 * then `swap`ped with the live one. A reconcile's batch carries the
 * ruleset generation it was planned against; if anything changed the
 * ruleset since, the kernel refuses it (ERESTART) and the reconcile starts
 * over.
 *
 * Threading: none. The caller's thread does everything, including the
 * blocking exchanges with the applier (bounded by sync.timeout). Counters
 * have this one writer; the metrics registry reads them at scrape time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "feeds/nfsync/engine.h"

extern char **environ;

/* Kinds that hold the blocklist (the allow sets are separate). */
#define DROP_KINDS 4u

struct bytes {
	uint8_t *v;
	size_t n; /* bytes */
	size_t cap;
};

struct group {
	bool used;
	struct nfs_keyset k[2];   /* v4, v6 */
	struct nfs_pfxset p[2];   /* net4, net6 prefixes */
	struct nfs_rangevec r[2]; /* net4, net6 as the kernel holds them */
	uint32_t size[2];         /* declared size of v4, v6 in the kernel */
	bool exists[DROP_KINDS];  /* the kernel has this set */
};

enum err_reason {
	ERR_KERNEL,
	ERR_FULL,
	ERR_ENOBUFS,
	ERR_EPERM,
	ERR_APPLIER,
	ERR_TIMEOUT,
	ERR_PROTOCOL,
	ERR_COUNT,
};
static const char *const err_names[ERR_COUNT] = {"kernel",  "full",    "enobufs", "eperm",
                                                 "applier", "timeout", "protocol"};

enum refuse_reason {
	REF_SHORT,
	REF_FAMILY,
	REF_CATEGORY,
	REF_LIMIT,
	REF_COUNT,
};
static const char *const refuse_names[REF_COUNT] = {"short_prefix", "family", "category", "limit"};

struct feeds_nfsync {
	struct feeds_sync_conf conf;
	int family;
	char table[NFS_NAME_MAX];
	char applier[PATH_MAX];
	struct rn_metrics *m;
	pid_t pid;
	int fd;
	uint32_t txn;
	struct group g[NFS_GROUP_SLOTS];
	struct nfs_rangevec allow[2];
	bool allow_exists[2];
	bool chains_ok;
	bool dirty;
	bool loaded;
	bool changed;   /* the desired state changed since the last commit */
	bool gen_valid; /* known_gen is the generation our last commit left */
	uint32_t known_gen;
	int64_t next_reconcile;
	int64_t next_full;  /* a full dump is due even if the generation held */
	int64_t next_retry; /* after a failure: when tick() tries again */
	unsigned failures;  /* consecutive failed reconciles, for the backoff */
	uint8_t *wbuf;
	uint8_t *rbuf;
	double last_txn_s;

	struct rn_counter txn_ok;
	struct rn_counter txn_failed;
	struct rn_counter el_added;
	struct rn_counter el_removed;
	struct rn_counter errors[ERR_COUNT];
	struct rn_counter refused[REF_COUNT];
	struct rn_counter resyncs;
	struct rn_counter rec_ok;
	struct rn_counter rec_failed;
	struct rn_counter drift_missing;
	struct rn_counter drift_extra;
	struct rn_counter drift_chains;
	struct rn_counter swaps;
	struct rn_counter restarts;
	struct rn_counter conflicts;
	struct rn_counter dumps;
	struct rn_gauge in_sync;
	struct rn_gauge elements[DROP_KINDS];
	struct rn_gauge last_success;
};

static const char *const kind_label[DROP_KINDS] = {"v4", "v6", "net4", "net6"};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int bytes_push(struct bytes *b, const void *p, size_t n)
{
	if (b->cap - b->n < n) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc - b->n < n)
			nc *= 2;
		uint8_t *v = realloc(b->v, nc);
		if (v == NULL)
			return -ENOMEM;
		b->v = v;
		b->cap = nc;
	}
	memcpy(b->v + b->n, p, n);
	b->n += n;
	return RN_OK;
}

static void bytes_release(struct bytes *b)
{
	free(b->v);
	memset(b, 0, sizeof(*b));
}

static unsigned slot_group(unsigned slot)
{
	return slot == RN_CAT_COUNT ? NFS_GROUP_ALL : slot;
}

static bool is_ipset(const struct feeds_nfsync *s)
{
	return s->conf.backend == FEEDS_SYNC_IPSET;
}

static bool family_ok(const struct feeds_nfsync *s, bool v6)
{
	if (is_ipset(s) || s->family == NFPROTO_INET)
		return true;
	return v6 ? s->family == NFPROTO_IPV6 : s->family == NFPROTO_IPV4;
}

/* The declared size of a hash set that must hold n elements. */
static uint32_t want_size(const struct feeds_nfsync *s, size_t n)
{
	uint64_t w = (uint64_t)n * (uint64_t)(100 + s->conf.headroom_pct) / 100u;
	if (w < (uint64_t)s->conf.size_min)
		w = (uint64_t)s->conf.size_min;
	if (w > (uint64_t)s->conf.max_elements)
		w = (uint64_t)s->conf.max_elements;
	if (w < n)
		w = n;
	return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

/* The kernel form of an interval set: ranges, or for ipset aligned prefixes. */
static int kernel_ranges(const struct feeds_nfsync *s, const struct nfs_pfxset *p,
                         struct nfs_rangevec *out)
{
	struct nfs_rangevec r = {0};
	int rc = nfs_ranges_build(p, NFS_CAT_BITS, &r);
	if (rc == RN_OK && is_ipset(s)) {
		out->n = 0;
		rc = nfs_ranges_to_cidrs(&r, p->klen, 1, out);
		nfs_rangevec_release(&r);
		return rc;
	}
	if (rc != RN_OK) {
		nfs_rangevec_release(&r);
		return rc;
	}
	nfs_rangevec_release(out);
	*out = r;
	return RN_OK;
}

static void update_gauges(struct feeds_nfsync *s)
{
	int64_t n[DROP_KINDS] = {0};
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		n[0] += (int64_t)s->g[i].k[0].n;
		n[1] += (int64_t)s->g[i].k[1].n;
		n[2] += (int64_t)s->g[i].r[0].n;
		n[3] += (int64_t)s->g[i].r[1].n;
	}
	for (unsigned k = 0; k < DROP_KINDS; k++)
		rn_gauge_set(&s->elements[k], n[k]);
	rn_gauge_set(&s->in_sync, !s->dirty);
}

static void set_dirty(struct feeds_nfsync *s, bool dirty)
{
	s->dirty = dirty;
	rn_gauge_set(&s->in_sync, !dirty);
}

/* ------------------------------------------------------------------ */
/* The applier process                                                 */
/* ------------------------------------------------------------------ */

static void applier_stop(struct feeds_nfsync *s, bool kill_it)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->pid > 0) {
		int st;
		if (kill_it)
			kill(s->pid, SIGKILL);
		while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = -1;
}

/* The applier died or broke the protocol: the kernel state is unknown. */
static void applier_lost(struct feeds_nfsync *s, enum err_reason why)
{
	rn_counter_inc(&s->errors[why]);
	applier_stop(s, true);
	set_dirty(s, true);
}

static int eng_send(struct feeds_nfsync *s, const struct nfs_wbuf *w)
{
	if (s->fd < 0)
		return -EPIPE;
	if (w->overflow)
		return RN_EINTERNAL;
	for (;;) {
		ssize_t n = send(s->fd, w->p, w->len, MSG_NOSIGNAL);
		if (n == (ssize_t)w->len)
			return RN_OK;
		if (n < 0 && errno == EINTR)
			continue;
		int e = n < 0 ? -errno : RN_EINTERNAL;
		log_warnx("nfsync: applier gone (%s)", rn_strerror(e));
		applier_lost(s, e == -EAGAIN ? ERR_TIMEOUT : ERR_APPLIER);
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
			applier_lost(s, ERR_TIMEOUT);
			return -ETIMEDOUT;
		}
		ssize_t n = recv(s->fd, s->rbuf, NFS_MSG_MAX, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n > NFS_MSG_MAX) {
			log_warnx("nfsync: applier %s", n == 0 ? "exited" : "sent a bad message");
			applier_lost(s, n == 0 ? ERR_APPLIER : ERR_PROTOCOL);
			return -EPIPE;
		}
		*len = (size_t)n;
		return RN_OK;
	}
}

static int applier_path(struct feeds_nfsync *s)
{
	if (s->conf.applier != NULL) {
		if (strlen(s->conf.applier) >= sizeof(s->applier))
			return RN_ECONF;
		strcpy(s->applier, s->conf.applier);
		return RN_OK;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return RN_ECONF;
	*slash = '\0';
	if ((size_t)snprintf(s->applier, sizeof(s->applier), "%s/repnet-nfsync", self) >=
	    sizeof(s->applier))
		return RN_ELIMIT;
	/* Installed, repnet is in bin and the applier in sbin, with repnetd. */
	if (access(s->applier, X_OK) != 0 &&
	    rn_path_installed(RN_INSTDIR_SBIN, "repnet-nfsync", s->applier, sizeof(s->applier)) !=
	            RN_OK) {
#ifdef REPNET_SBINDIR
		snprintf(s->applier, sizeof(s->applier), "%s/repnet-nfsync", REPNET_SBINDIR);
#endif
	}
	return RN_OK;
}

static int applier_start(struct feeds_nfsync *s)
{
	int sv[2] = {-1, -1}, rc;
	posix_spawn_file_actions_t fa;
	char fdarg[16], tmo[32];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	/* The child's end becomes its fd 3; keep it clear of 0..3 meanwhile. */
	int child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
	close(sv[1]);
	if (child < 0) {
		close(sv[0]);
		return -errno;
	}
	snprintf(fdarg, sizeof(fdarg), "3");
	snprintf(tmo, sizeof(tmo), "%lld", (long long)s->conf.timeout_ms);
	char *argv[] = {s->applier,
	                "--fd",
	                fdarg,
	                "--backend",
	                is_ipset(s) ? "ipset" : "nft",
	                "--table",
	                s->conf.table,
	                "--ipset-prefix",
	                s->conf.ipset_prefix,
	                "--timeout-ms",
	                tmo,
	                NULL};
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	pid_t pid;
	rc = posix_spawn(&pid, s->applier, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(child);
	if (rc != 0) {
		close(sv[0]);
		log_warnx("nfsync: cannot start %s: %s", s->applier, strerror(rc));
		return -rc;
	}
	s->pid = pid;
	s->fd = sv[0];
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
		applier_lost(s, ERR_PROTOCOL);
		return RN_EVERSION;
	}
	return RN_OK;
}

/* Starts the applier when it is not running (first use, or after a death). */
static int applier_ensure(struct feeds_nfsync *s)
{
	if (s->fd >= 0) {
		/* Between calls the applier sends nothing: anything readable is
		 * its exit (or a protocol breach), so start a fresh one. */
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 0)
			return RN_OK;
		log_warnx("nfsync: the applier (pid %d) has exited", (int)s->pid);
		applier_lost(s, ERR_APPLIER);
	}
	if (s->pid > 0)
		applier_stop(s, true);
	int rc = applier_start(s);
	if (rc == RN_OK && s->loaded) {
		rn_counter_inc(&s->restarts);
		log_notice("nfsync: applier restarted (pid %d)", (int)s->pid);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Talking to the applier                                              */
/* ------------------------------------------------------------------ */

static int send_simple(struct feeds_nfsync *s, uint8_t type)
{
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_simple(&w, type);
	return eng_send(s, &w);
}

static int send_set(struct feeds_nfsync *s, uint8_t type, const struct nfs_setid *id, uint8_t flags,
                    uint32_t size, uint32_t *ops)
{
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_set(&w, type, id, flags, size);
	(*ops)++;
	return eng_send(s, &w);
}

static int send_chain(struct feeds_nfsync *s, uint8_t type, uint8_t chain, int32_t prio,
                      uint32_t *ops)
{
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_chain(&w, type, chain, prio);
	(*ops)++;
	return eng_send(s, &w);
}

/* Streams items of one set into ELEMS messages. */
struct elstream {
	struct feeds_nfsync *s;
	struct nfs_wbuf w;
	struct nfs_setid id;
	uint8_t op;
	uint8_t flags;
	uint16_t n;
	size_t per;
	uint32_t *ops;
	uint64_t total;
};

static void es_begin(struct elstream *e, struct feeds_nfsync *s, uint8_t op,
                     const struct nfs_setid *id, uint8_t flags, uint32_t *ops)
{
	e->s = s;
	e->id = *id;
	e->op = op;
	e->flags = flags;
	e->n = 0;
	e->per = nfs_elems_per_msg(id->kind);
	e->ops = ops;
	e->total = 0;
	nfs_wbuf_init(&e->w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_elems_start(&e->w, op, id, flags);
}

static int es_flush(struct elstream *e)
{
	if (e->n == 0)
		return RN_OK;
	nfs_enc_elems_finish(&e->w, e->n);
	(*e->ops)++;
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
	nfs_put_bytes(&e->w, item, nfs_item_len(e->id.kind));
	e->n++;
	e->total++;
	return RN_OK;
}

static int send_items(struct feeds_nfsync *s, uint8_t op, const struct nfs_setid *id, uint8_t flags,
                      const uint8_t *items, size_t n, uint32_t *ops)
{
	struct elstream e;
	size_t il = nfs_item_len(id->kind);
	int rc = RN_OK;
	es_begin(&e, s, op, id, flags, ops);
	for (size_t i = 0; i < n && rc == RN_OK; i++)
		rc = es_put(&e, items + i * il);
	return rc == RN_OK ? es_flush(&e) : rc;
}

static int send_ranges(struct feeds_nfsync *s, uint8_t op, const struct nfs_setid *id,
                       uint8_t flags, const struct nfs_rangevec *rv, uint32_t *ops)
{
	struct elstream e;
	unsigned klen = nfs_kind_klen(id->kind);
	int rc = RN_OK;
	es_begin(&e, s, op, id, flags, ops);
	for (size_t i = 0; i < rv->n && rc == RN_OK; i++) {
		uint8_t it[32];
		memcpy(it, rv->v[i].lo, klen);
		memcpy(it + klen, rv->v[i].hi, klen);
		rc = es_put(&e, it);
	}
	return rc == RN_OK ? es_flush(&e) : rc;
}

/* Every key of a group's address set, as one fill. */
static int send_keyset(struct feeds_nfsync *s, const struct nfs_setid *id, uint8_t flags,
                       const struct nfs_keyset *k, uint32_t *ops)
{
	struct elstream e;
	int rc = RN_OK;
	es_begin(&e, s, NFS_OP_ADD, id, flags, ops);
	for (size_t i = 0; i < k->cap && rc == RN_OK; i++)
		if (k->masks[i] & NFS_CAT_BITS)
			rc = es_put(&e, nfs_keyset_key(k, i));
	return rc == RN_OK ? es_flush(&e) : rc;
}

static enum err_reason classify(int kerr)
{
	switch (kerr) {
	case ENOBUFS:
		return ERR_ENOBUFS;
	case EPERM:
	case EACCES:
		return ERR_EPERM;
	case ENFILE:
	case ENOSPC:
	case IPSET_ERR_HASH_FULL:
		return ERR_FULL;
	default:
		return ERR_KERNEL;
	}
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
		applier_lost(s, ERR_PROTOCOL);
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
		                                                       : ERR_PROTOCOL]);
		log_warnx("nfsync: transaction %u failed at operation %d: %s%s%s%s", s->txn,
		          m.u.result.op == UINT32_MAX ? -1 : (int)m.u.result.op,
		          rn_strerror(m.u.result.rc), m.u.result.text[0] ? " (" : "",
		          m.u.result.text, m.u.result.text[0] ? ")" : "");
	}
	return m.u.result.rc;
}

static int txn_begin(struct feeds_nfsync *s, uint32_t genid)
{
	struct nfs_wbuf w;
	nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_begin(&w, ++s->txn, genid);
	return eng_send(s, &w);
}

/* ------------------------------------------------------------------ */
/* LIST and DUMP                                                       */
/* ------------------------------------------------------------------ */

static int list_sets(struct feeds_nfsync *s, struct nfs_sets *out)
{
	size_t len;
	int rc = send_simple(s, NFS_M_LIST);
	if (rc == RN_OK)
		rc = eng_recv(s, &len);
	if (rc != RN_OK)
		return rc;
	if (s->rbuf[0] == NFS_M_RESULT) {
		struct nfs_msg m;
		if (nfs_msg_decode(s->rbuf, len, &m) == RN_OK) {
			rn_counter_inc(&s->errors[m.u.result.kerr ? classify(m.u.result.kerr)
			                                          : ERR_PROTOCOL]);
			log_warnx_rl("nfsync: listing the kernel's sets failed: %s (%s)",
			             rn_strerror(m.u.result.rc), m.u.result.text);
			return m.u.result.rc != RN_OK ? m.u.result.rc : RN_EINTERNAL;
		}
	}
	rc = nfs_msg_decode_sets(s->rbuf, len, out);
	if (rc != RN_OK) {
		applier_lost(s, ERR_PROTOCOL);
		return rc;
	}
	return RN_OK;
}

static const struct nfs_setinfo *find_set(const struct nfs_sets *l, const struct nfs_setid *id,
                                          bool tmp)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i].id.kind == id->kind && l->v[i].id.group == id->group &&
		    ((l->v[i].flags & NFS_SETF_TMP) != 0) == tmp)
			return &l->v[i];
	return NULL;
}

/*
 * Dumps one set; cb gets each item. *genid16 gets the generation the dump
 * saw, *anomalies the elements that do not fit our shape.
 */
static int dump_set(struct feeds_nfsync *s, const struct nfs_setid *id, uint8_t flags,
                    int (*cb)(const uint8_t *item, void *arg), void *arg, uint32_t *genid16,
                    uint32_t *anomalies, uint64_t *count)
{
	struct nfs_wbuf w;
	size_t len;
	int rc, cbrc = RN_OK;
	nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
	nfs_enc_set(&w, NFS_M_DUMP, id, flags, 0);
	if ((rc = eng_send(s, &w)) != RN_OK)
		return rc;
	rn_counter_inc(&s->dumps);
	*count = 0;
	for (;;) {
		struct nfs_msg m;
		if ((rc = eng_recv(s, &len)) != RN_OK)
			return rc;
		rc = nfs_msg_decode(s->rbuf, len, &m);
		if (rc != RN_OK || (m.type != NFS_M_ELEMS && m.type != NFS_M_DUMP_END) ||
		    (m.type == NFS_M_ELEMS &&
		     (m.u.elems.op != NFS_OP_DUMP || m.u.elems.id.kind != id->kind ||
		      m.u.elems.id.group != id->group))) {
			applier_lost(s, ERR_PROTOCOL);
			return rc != RN_OK ? rc : RN_EPARSE;
		}
		if (m.type == NFS_M_DUMP_END) {
			*genid16 = m.u.dump_end.genid;
			*anomalies = m.u.dump_end.anomalies;
			if (m.u.dump_end.rc != RN_OK)
				return m.u.dump_end.rc;
			if (m.u.dump_end.count != *count)
				return RN_EINTERNAL;
			return cbrc;
		}
		size_t il = nfs_item_len(id->kind);
		for (size_t i = 0; i < m.u.elems.n; i++) {
			(*count)++;
			if (cbrc == RN_OK)
				cbrc = cb(m.u.elems.items + i * il, arg);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Plans                                                               */
/* ------------------------------------------------------------------ */

enum action {
	ACT_NONE = 0,
	ACT_DIFF,   /* delete del, add add */
	ACT_CREATE, /* create and fill */
	ACT_SWAP,   /* a fresh set, filled, in place of the old one */
	ACT_DELETE, /* not wanted any more */
};

struct pset {
	uint8_t act;
	bool live;   /* the live set exists (ipset: before the plan) */
	bool compat; /* and has our type */
	bool tmp;    /* ipset: a stale temporary set exists */
	uint32_t size;
	struct bytes del;
	struct bytes add;
};

struct plan {
	uint32_t genid;
	struct pset p[NFS_GROUP_SLOTS][NFS_K_COUNT];
	struct nfs_sets *list;
	bool chains;        /* rebuild the chains */
	bool chain_present; /* the blocklist chain exists now */
	uint8_t base_present;
	uint8_t base_want;
};

static void plan_release(struct plan *pl)
{
	for (unsigned g = 0; g < NFS_GROUP_SLOTS; g++)
		for (unsigned k = 0; k < NFS_K_COUNT; k++) {
			bytes_release(&pl->p[g][k].del);
			bytes_release(&pl->p[g][k].add);
		}
}

static struct nfs_setid sid(unsigned slot, unsigned kind)
{
	struct nfs_setid id = {.kind = (uint8_t)kind, .group = (uint8_t)slot_group(slot)};
	return id;
}

/* True when the set (slot, kind) should exist after this plan. */
static bool wanted(const struct feeds_nfsync *s, unsigned slot, unsigned kind)
{
	if (kind >= DROP_KINDS) {
		if (is_ipset(s) || slot != RN_CAT_COUNT)
			return false;
		return s->allow[kind - NFS_K_ALLOW4].n > 0 && family_ok(s, kind == NFS_K_ALLOW6);
	}
	return s->g[slot].used && family_ok(s, nfs_kind_v6(kind));
}

/* The item count of a wanted set, as the kernel will hold it. */
static size_t want_count(const struct feeds_nfsync *s, unsigned slot, unsigned kind)
{
	if (kind < 2)
		return s->g[slot].k[kind].n;
	if (kind < DROP_KINDS)
		return s->g[slot].r[kind - 2].n;
	return s->allow[kind - NFS_K_ALLOW4].n;
}

static const struct nfs_rangevec *want_ranges(const struct feeds_nfsync *s, unsigned slot,
                                              unsigned kind)
{
	return kind < DROP_KINDS ? &s->g[slot].r[kind - 2] : &s->allow[kind - NFS_K_ALLOW4];
}

/* Dump comparison of an address set against its key set. */
struct hashdiff {
	struct nfs_keyset *k;
	struct bytes *del;
	uint64_t extra;
	unsigned klen;
};

static int hashdiff_cb(const uint8_t *item, void *arg)
{
	struct hashdiff *h = arg;
	uint16_t *m = nfs_keyset_find(h->k, item);
	if (m != NULL && (*m & NFS_CAT_BITS)) {
		*m |= NFS_F_SEEN;
		return RN_OK;
	}
	h->extra++;
	return bytes_push(h->del, item, h->klen);
}

struct rangedump {
	struct nfs_rangevec rv;
	unsigned klen;
};

static int rangedump_cb(const uint8_t *item, void *arg)
{
	struct rangedump *d = arg;
	return nfs_rangevec_push(&d->rv, item, item + d->klen, d->klen);
}

/* Plans one existing, compatible set from its dump. */
static int plan_from_dump(struct feeds_nfsync *s, struct plan *pl, unsigned slot, unsigned kind,
                          struct feeds_nfsync_report *rep, bool *restart)
{
	struct pset *ps = &pl->p[slot][kind];
	struct nfs_setid id = sid(slot, kind);
	unsigned klen = nfs_kind_klen(kind);
	uint32_t gen16 = 0, anomalies = 0;
	uint64_t count = 0, missing = 0, extra = 0;
	int rc;

	if (kind < 2) {
		struct nfs_keyset *k = &s->g[slot].k[kind];
		struct hashdiff h = {.k = k, .del = &ps->del, .klen = klen};
		rc = dump_set(s, &id, 0, hashdiff_cb, &h, &gen16, &anomalies, &count);
		if (rc == RN_OK) {
			for (size_t i = 0; i < k->cap && rc == RN_OK; i++) {
				if (!(k->masks[i] & NFS_CAT_BITS))
					continue;
				if (k->masks[i] & NFS_F_SEEN)
					k->masks[i] &= (uint16_t)~NFS_F_SEEN;
				else {
					missing++;
					rc = bytes_push(&ps->add, nfs_keyset_key(k, i), klen);
				}
			}
		} else {
			nfs_keyset_sweep(k, NFS_F_SEEN);
		}
		extra = h.extra;
	} else {
		struct rangedump d = {.klen = klen};
		struct nfs_rangevec del = {0}, add = {0};
		rc = dump_set(s, &id, 0, rangedump_cb, &d, &gen16, &anomalies, &count);
		if (rc == RN_OK && is_ipset(s)) {
			/* Aligned prefixes, which may touch: compared as they are. */
			nfs_ranges_sort(&d.rv, klen);
		} else if (rc == RN_OK) {
			/* Touching or overlapping ranges were not made by us. */
			rc = nfs_ranges_normalise(&d.rv, klen);
			if (rc == RN_OK && d.rv.n != count)
				anomalies++;
		}
		if (rc == RN_OK)
			rc = nfs_ranges_diff(&d.rv, want_ranges(s, slot, kind), klen, &del, &add);
		for (size_t i = 0; rc == RN_OK && i < del.n; i++) {
			rc = bytes_push(&ps->del, del.v[i].lo, klen);
			if (rc == RN_OK)
				rc = bytes_push(&ps->del, del.v[i].hi, klen);
		}
		for (size_t i = 0; rc == RN_OK && i < add.n; i++) {
			rc = bytes_push(&ps->add, add.v[i].lo, klen);
			if (rc == RN_OK)
				rc = bytes_push(&ps->add, add.v[i].hi, klen);
		}
		missing = add.n;
		extra = del.n;
		nfs_rangevec_release(&del);
		nfs_rangevec_release(&add);
		nfs_rangevec_release(&d.rv);
	}
	if (rc != RN_OK)
		return rc;
	if (!is_ipset(s) && gen16 != (pl->genid & 0xffffu)) {
		*restart = true;
		return RN_OK;
	}
	if (rep != NULL) {
		rep->missing += missing;
		rep->extra += extra;
	}
	size_t n = want_count(s, slot, kind);
	if (anomalies > 0) {
		log_warnx("nfsync: set %s of group %u holds %u elements repnet did not put "
		          "there in that form; loading it fresh",
		          kind < DROP_KINDS ? kind_label[kind] : "allow", id.group, anomalies);
		ps->act = ACT_SWAP;
	} else if (missing + extra == 0) {
		ps->act = ACT_NONE;
	} else if ((missing + extra) * 100 > (uint64_t)s->conf.swap_pct * (n ? n : 1) &&
	           missing + extra > 64) {
		ps->act = ACT_SWAP;
	} else {
		ps->act = ACT_DIFF;
	}
	if (ps->act == ACT_SWAP) {
		bytes_release(&ps->del);
		bytes_release(&ps->add);
	}
	return RN_OK;
}

/* Builds the plan that makes the kernel equal to the desired state. */
static int plan_build(struct feeds_nfsync *s, struct plan *pl, struct feeds_nfsync_report *rep,
                      bool *restart)
{
	const struct nfs_sets *l = pl->list;
	int rc;

	*restart = false;
	pl->genid = l->genid;
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++) {
		for (unsigned kind = 0; kind < NFS_K_COUNT; kind++) {
			struct nfs_setid id = sid(slot, kind);
			struct pset *ps = &pl->p[slot][kind];
			if (!nfs_setid_valid(&id))
				continue;
			const struct nfs_setinfo *live = find_set(l, &id, false);
			ps->tmp = find_set(l, &id, true) != NULL;
			ps->live = live != NULL;
			ps->compat = live != NULL && (live->flags & NFS_SETF_COMPAT);
			bool want = wanted(s, slot, kind);
			bool hash = kind < 2;
			size_t n = want_count(s, slot, kind);
			ps->size = hash ? want_size(s, n) : 0;
			if (is_ipset(s) && !hash)
				ps->size = want_size(s, n);
			if (!want) {
				ps->act = live ? ACT_DELETE : ACT_NONE;
				continue;
			}
			if (!live) {
				ps->act = ACT_CREATE;
				if (rep != NULL)
					rep->missing += n;
				continue;
			}
			if (!ps->compat) {
				ps->act = ACT_SWAP;
				continue;
			}
			uint32_t have = live->size;
			if ((hash || is_ipset(s)) &&
			    (have < n ||
			     (have > 4u * ps->size && have > (uint32_t)s->conf.size_min))) {
				/* Resize: a fresh set of the right size. */
				ps->act = ACT_SWAP;
				continue;
			}
			ps->size = have ? have : ps->size;
			if (hash && have == 0)
				ps->size = want_size(s, n);
			rc = plan_from_dump(s, pl, slot, kind, rep, restart);
			if (rc != RN_OK || *restart)
				return rc;
			if (ps->act == ACT_SWAP && hash)
				ps->size = want_size(s, n);
		}
	}
	if (is_ipset(s))
		return RN_OK;

	/* Chains: rebuilt when sets come or go, or when they are not ours. */
	bool structural = false;
	unsigned nrules = 0;
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned kind = 0; kind < NFS_K_COUNT; kind++) {
			uint8_t a = pl->p[slot][kind].act;
			if (a == ACT_CREATE || a == ACT_SWAP || a == ACT_DELETE)
				structural = true;
			if (wanted(s, slot, kind))
				nrules++;
		}
	pl->chain_present = l->chains[NFS_CHAIN_BLOCKLIST].present;
	pl->base_want = (uint8_t)s->conf.hooks;
	bool chains_ok = pl->chain_present && l->chains[NFS_CHAIN_BLOCKLIST].rules == nrules;
	for (unsigned c = NFS_CHAIN_INPUT; c < NFS_CHAIN_COUNT; c++) {
		bool want = (s->conf.hooks & (1u << (c - 1))) != 0;
		const struct nfs_chaininfo *ci = &l->chains[c];
		if (ci->present)
			pl->base_present |= (uint8_t)(1u << (c - 1));
		if (want != (ci->present != 0) ||
		    (want && (ci->prio != (int32_t)s->conf.priority || ci->rules != 1)))
			chains_ok = false;
	}
	if (!chains_ok && l->table) {
		if (rep != NULL)
			rep->chains = true;
		if (s->loaded && !structural)
			rn_counter_inc(&s->drift_chains);
	}
	pl->chains = structural || !chains_ok;
	return RN_OK;
}

/* Sends a plan as one transaction; returns the applier's result. */
static int plan_run(struct feeds_nfsync *s, struct plan *pl, struct feeds_nfsync_report *rep,
                    uint32_t genid, int *kerr, bool *committed)
{
	uint32_t ops = 0;
	int64_t t0 = rn_time_mono_us();
	bool ipset = is_ipset(s), work = pl->chains;

	*kerr = 0;
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned kind = 0; kind < NFS_K_COUNT; kind++)
			if (pl->p[slot][kind].act != ACT_NONE || pl->p[slot][kind].tmp)
				work = true;
	*committed = false;
	if (!work)
		return RN_OK; /* the kernel is as desired: no transaction */
	if (rep != NULL)
		rep->chains = pl->chains;
	int rc = txn_begin(s, genid);
	if (rc == RN_OK && !ipset) {
		rc = send_simple(s, NFS_M_TABLE);
		ops++;
	}
	/* Nothing may reference a set we delete: empty the chains first. */
	if (rc == RN_OK && !ipset && pl->chains) {
		if (pl->chain_present)
			rc = send_chain(s, NFS_M_CHAIN_FLUSH, NFS_CHAIN_BLOCKLIST, 0, &ops);
		for (unsigned c = NFS_CHAIN_INPUT; rc == RN_OK && c < NFS_CHAIN_COUNT; c++) {
			if (!(pl->base_present & (1u << (c - 1))))
				continue;
			rc = send_chain(s, NFS_M_CHAIN_FLUSH, (uint8_t)c, 0, &ops);
			if (rc == RN_OK)
				rc = send_chain(s, NFS_M_CHAIN_DEL, (uint8_t)c, 0, &ops);
		}
	}
	for (unsigned slot = 0; rc == RN_OK && slot < NFS_GROUP_SLOTS; slot++) {
		for (unsigned kind = 0; rc == RN_OK && kind < NFS_K_COUNT; kind++) {
			struct pset *ps = &pl->p[slot][kind];
			struct nfs_setid id = sid(slot, kind);
			if (!nfs_setid_valid(&id))
				continue;
			size_t il = nfs_item_len(kind);
			if (ipset && ps->tmp)
				rc = send_set(s, NFS_M_SET_DEL, &id, NFS_SETF_TMP, 0, &ops);
			if (rc != RN_OK)
				break;
			switch (ps->act) {
			case ACT_NONE:
				break;
			case ACT_DIFF:
				if (ps->del.n)
					rc = send_items(s, NFS_OP_DEL, &id, 0, ps->del.v,
					                ps->del.n / il, &ops);
				if (rc == RN_OK && ps->add.n)
					rc = send_items(s, NFS_OP_ADD, &id, 0, ps->add.v,
					                ps->add.n / il, &ops);
				if (rep != NULL) {
					rep->removed += ps->del.n / il;
					rep->added += ps->add.n / il;
				}
				rn_counter_add(&s->el_removed, ps->del.n / il);
				rn_counter_add(&s->el_added, ps->add.n / il);
				break;
			case ACT_DELETE:
				rc = send_set(s, NFS_M_SET_DEL, &id, 0, 0, &ops);
				if (rep != NULL)
					rep->deleted++;
				break;
			case ACT_CREATE:
			case ACT_SWAP: {
				uint8_t fill = 0;
				if (ipset) {
					/* Fill a temporary set; swap it in; drop the old one. */
					if (ps->live && !ps->compat)
						rc = send_set(s, NFS_M_SET_DEL, &id, 0, 0, &ops);
					if (rc == RN_OK && (!ps->live || !ps->compat))
						rc = send_set(s, NFS_M_SET_ADD, &id, 0, ps->size,
						              &ops);
					if (rc == RN_OK)
						rc = send_set(s, NFS_M_SET_ADD, &id, NFS_SETF_TMP,
						              ps->size, &ops);
					fill = NFS_SETF_TMP;
				} else {
					if (ps->act == ACT_SWAP)
						rc = send_set(s, NFS_M_SET_DEL, &id, 0, 0, &ops);
					if (rc == RN_OK)
						rc = send_set(s, NFS_M_SET_ADD, &id, 0, ps->size,
						              &ops);
				}
				uint64_t before = 0;
				if (rc == RN_OK && kind < 2) {
					rc = send_keyset(s, &id, fill, &s->g[slot].k[kind], &ops);
					before = s->g[slot].k[kind].n;
				} else if (rc == RN_OK) {
					const struct nfs_rangevec *rv = want_ranges(s, slot, kind);
					rc = send_ranges(s, NFS_OP_ADD, &id, fill, rv, &ops);
					before = rv->n;
				}
				if (rc == RN_OK && ipset) {
					rc = send_set(s, NFS_M_SET_SWAP, &id, 0, 0, &ops);
					if (rc == RN_OK)
						rc = send_set(s, NFS_M_SET_DEL, &id, NFS_SETF_TMP,
						              0, &ops);
				}
				rn_counter_add(&s->el_added, before);
				if (rep != NULL) {
					rep->added += before;
					if (ps->act == ACT_SWAP)
						rep->swaps++;
					else
						rep->created++;
				}
				if (ps->act == ACT_SWAP)
					rn_counter_inc(&s->swaps);
				break;
			}
			}
		}
	}
	if (rc == RN_OK && !ipset && pl->chains) {
		struct nfs_setid ids[NFS_RULES_MAX];
		size_t n = 0;
		/* Allow rules first, then the drop rules, group by group. */
		for (unsigned kind = NFS_K_ALLOW4; kind <= NFS_K_ALLOW6; kind++)
			if (wanted(s, RN_CAT_COUNT, kind) && n < NFS_RULES_MAX)
				ids[n++] = sid(RN_CAT_COUNT, kind);
		for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
			for (unsigned kind = 0; kind < DROP_KINDS; kind++)
				if (wanted(s, slot, kind) && n < NFS_RULES_MAX)
					ids[n++] = sid(slot, kind);
		rc = send_chain(s, NFS_M_CHAIN_ADD, NFS_CHAIN_BLOCKLIST, 0, &ops);
		if (rc == RN_OK && n > 0) {
			struct nfs_wbuf w;
			nfs_wbuf_init(&w, s->wbuf, NFS_MSG_MAX);
			nfs_enc_rules(&w, ids, n);
			ops++;
			rc = eng_send(s, &w);
		}
		for (unsigned c = NFS_CHAIN_INPUT; rc == RN_OK && c < NFS_CHAIN_COUNT; c++)
			if (s->conf.hooks & (1u << (c - 1)))
				rc = send_chain(s, NFS_M_CHAIN_ADD, (uint8_t)c,
				                (int32_t)s->conf.priority, &ops);
	}
	if (rep != NULL)
		rep->ops += ops;
	if (rc == RN_OK)
		rc = send_simple(s, NFS_M_COMMIT);
	if (rc == RN_OK)
		rc = txn_result(s, t0, rep, kerr);
	*committed = rc == RN_OK;
	return rc;
}

/* After a committed plan: the kernel now holds what the plan said. */
static void plan_done(struct feeds_nfsync *s, const struct plan *pl)
{
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++) {
		struct group *g = &s->g[slot];
		for (unsigned kind = 0; kind < DROP_KINDS; kind++) {
			const struct pset *ps = &pl->p[slot][kind];
			bool want = wanted(s, slot, kind);
			g->exists[kind] = want;
			if (kind < 2 && want && ps->size != 0)
				g->size[kind] = ps->size;
			if (!want && kind < 2)
				g->size[kind] = 0;
		}
	}
	for (unsigned k = 0; k < 2; k++)
		s->allow_exists[k] = wanted(s, RN_CAT_COUNT, NFS_K_ALLOW4 + k);
	s->chains_ok = true;
}

/* ------------------------------------------------------------------ */
/* Reconcile                                                           */
/* ------------------------------------------------------------------ */

static int reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep, bool count_drift)
{
	struct nfs_sets *list = calloc(1, sizeof(*list));
	int rc = RN_OK, kerr = 0;
	if (list == NULL)
		return -ENOMEM;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct plan *pl = calloc(1, sizeof(*pl));
		bool restart = false;
		struct feeds_nfsync_report r = {0};
		if (pl == NULL) {
			rc = -ENOMEM;
			break;
		}
		bool committed = false, skip = false, guard = false;
		if ((rc = applier_ensure(s)) == RN_OK && (rc = list_sets(s, list)) == RN_OK) {
			/*
			 * Nothing can differ when the ruleset is at the generation
			 * our last commit left and the desired state has not
			 * changed since: every nf_tables change, by anyone, moves
			 * the generation, and our sets take no updates from the
			 * packet path. Then no dump is needed, except the full one
			 * due every sync.dump_interval, as a belt and braces check.
			 */
			skip = !is_ipset(s) && !s->dirty && !s->changed && s->gen_valid &&
			       list->genid == s->known_gen && rn_time_mono_ms() < s->next_full;
			pl->list = list;
			if (!skip)
				rc = plan_build(s, pl, &r, &restart);
		}
		/* The last attempt goes unguarded (still checked by EXCL and
		 * ENOENT), so a ruleset that keeps changing cannot starve us. */
		guard = !is_ipset(s) && attempt < 3;
		if (rc == RN_OK && !restart && !skip)
			rc = plan_run(s, pl, &r, guard ? list->genid : 0, &kerr, &committed);
		if (rc == RN_OK && !restart && !skip) {
			plan_done(s, pl);
			s->known_gen = committed ? list->genid + 1 : list->genid;
			s->gen_valid = !is_ipset(s) && (guard || !committed);
			s->changed = false;
			s->next_full = rn_time_mono_ms() + s->conf.dump_ms;
		} else if (rc != RN_OK) {
			s->gen_valid = false;
		}
		plan_release(pl);
		free(pl);
		if (rep != NULL) {
			rep->added += r.added;
			rep->removed += r.removed;
			rep->swaps += r.swaps;
			rep->created += r.created;
			rep->deleted += r.deleted;
			rep->chains = rep->chains || r.chains;
			rep->ops += r.ops;
			rep->txn_us += r.txn_us;
		}
		if (rc != RN_OK && s->fd < 0 && attempt < 3) {
			/* The applier died under us: again, with a fresh one. */
			continue;
		}
		if (restart || (rc == RN_ENETLINK && kerr == ERESTART)) {
			rn_counter_inc(&s->conflicts);
			log_info("nfsync: the ruleset changed during a reconcile; again");
			rc = RN_ESTATE;
			continue;
		}
		if (rc == RN_OK) {
			if (rep != NULL) {
				rep->missing += r.missing;
				rep->extra += r.extra;
			}
			if (count_drift) {
				rn_counter_add(&s->drift_missing, r.missing);
				rn_counter_add(&s->drift_extra, r.extra);
				if (r.missing + r.extra > 0)
					log_notice("nfsync: repaired drift: %llu missing, %llu "
					           "extra",
					           (unsigned long long)r.missing,
					           (unsigned long long)r.extra);
			}
		}
		break;
	}
	free(list);
	if (rc == RN_OK) {
		rn_counter_inc(&s->rec_ok);
		set_dirty(s, false);
	} else {
		rn_counter_inc(&s->rec_failed);
		set_dirty(s, true);
	}
	update_gauges(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Desired state                                                       */
/* ------------------------------------------------------------------ */

struct resolved {
	unsigned slot;
	unsigned kind; /* V4, V6, NET4, NET6 */
	uint16_t bit;
	uint8_t key[16];
	unsigned len;
};

static int resolve(struct feeds_nfsync *s, const struct feeds_nfsync_entry *e, struct resolved *r)
{
	const struct rn_prefix *p = &e->prefix;
	if (e->category >= RN_CAT_COUNT) {
		rn_counter_inc(&s->refused[REF_CATEGORY]);
		return RN_EPARSE;
	}
	bool v6 = p->addr.family == RN_AF_INET6;
	if ((p->addr.family != RN_AF_INET && !v6) || !family_ok(s, v6)) {
		rn_counter_inc(&s->refused[REF_FAMILY]);
		return RN_EUNSUPP;
	}
	unsigned max = v6 ? 128 : 32;
	if (p->len > max) {
		rn_counter_inc(&s->refused[REF_FAMILY]);
		return RN_EPARSE;
	}
	if (p->len < max && p->len < (v6 ? s->conf.min_prefix6 : s->conf.min_prefix4)) {
		rn_counter_inc(&s->refused[REF_SHORT]);
		return RN_ELIMIT;
	}
	memset(r->key, 0, sizeof(r->key));
	rn_addr_to_bytes(&p->addr, r->key);
	r->len = p->len;
	r->kind = p->len == max ? (v6 ? NFS_K_V6 : NFS_K_V4) : (v6 ? NFS_K_NET6 : NFS_K_NET4);
	r->slot = s->conf.per_category ? e->category : RN_CAT_COUNT;
	r->bit = (uint16_t)(1u << e->category);
	return RN_OK;
}

static void group_release(struct group *g)
{
	for (unsigned i = 0; i < 2; i++) {
		nfs_keyset_release(&g->k[i]);
		nfs_pfxset_release(&g->p[i]);
		nfs_rangevec_release(&g->r[i]);
	}
}

static void group_init(struct group *g)
{
	memset(g, 0, sizeof(*g));
	nfs_keyset_init(&g->k[0], 4);
	nfs_keyset_init(&g->k[1], 16);
	nfs_pfxset_init(&g->p[0], 4);
	nfs_pfxset_init(&g->p[1], 16);
}

/* Resets the desired state to nothing, keeping what is known of the kernel. */
static void state_clear(struct feeds_nfsync *s)
{
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		struct group *g = &s->g[i];
		uint32_t size[2] = {g->size[0], g->size[1]};
		bool exists[DROP_KINDS];
		memcpy(exists, g->exists, sizeof(exists));
		group_release(g);
		group_init(g);
		memcpy(g->size, size, sizeof(size));
		memcpy(g->exists, exists, sizeof(exists));
	}
	if (!s->conf.per_category)
		s->g[RN_CAT_COUNT].used = true;
}

/* Adds one entry to the desired state; *changed: the kernel view changed. */
static int state_add(struct feeds_nfsync *s, const struct resolved *r, bool track)
{
	struct group *g = &s->g[r->slot];
	bool changed;
	g->used = true;
	if (r->kind >= NFS_K_NET4)
		return nfs_pfxset_or(&g->p[r->kind - 2], r->key, r->len, r->bit, &changed);
	struct nfs_keyset *k = &g->k[r->kind];
	if (!track) {
		/* A load: one probe, unless the set is at its limit. */
		if (k->n >= (size_t)s->conf.max_elements && nfs_keyset_find(k, r->key) == NULL) {
			rn_counter_inc(&s->refused[REF_LIMIT]);
			return RN_ELIMIT;
		}
		return nfs_keyset_or(k, r->key, r->bit, NULL);
	}
	uint16_t *m = nfs_keyset_find(k, r->key);
	if (m == NULL) {
		if (k->n >= (size_t)s->conf.max_elements) {
			rn_counter_inc(&s->refused[REF_LIMIT]);
			return RN_ELIMIT;
		}
		return nfs_keyset_or(k, r->key, (uint16_t)(r->bit | (track ? NFS_F_TOUCHED : 0)),
		                     NULL);
	}
	if (track && !(*m & NFS_F_TOUCHED))
		*m |= (uint16_t)(NFS_F_TOUCHED | ((*m & NFS_CAT_BITS) ? NFS_F_WAS : 0));
	*m |= r->bit;
	return RN_OK;
}

static void state_del(struct feeds_nfsync *s, const struct resolved *r)
{
	struct group *g = &s->g[r->slot];
	bool changed;
	if (r->kind >= NFS_K_NET4) {
		nfs_pfxset_clear(&g->p[r->kind - 2], r->key, r->len, r->bit, &changed);
		return;
	}
	uint16_t *m = nfs_keyset_find(&g->k[r->kind], r->key);
	if (m == NULL || !(*m & r->bit))
		return;
	if (!(*m & NFS_F_TOUCHED))
		*m |= (uint16_t)(NFS_F_TOUCHED | NFS_F_WAS);
	*m &= (uint16_t)~r->bit;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

static int register_metrics(struct feeds_nfsync *s);
static double m_last_txn(void *arg);

static int conf_copy(struct feeds_sync_conf *dst, const struct feeds_sync_conf *src)
{
	*dst = *src;
	dst->table = strdup(src->table ? src->table : "inet repnet");
	dst->ipset_prefix = strdup(src->ipset_prefix ? src->ipset_prefix : "repnet");
	dst->applier = src->applier ? strdup(src->applier) : NULL;
	memset(&dst->allow, 0, sizeof(dst->allow));
	if (dst->table == NULL || dst->ipset_prefix == NULL || (src->applier && !dst->applier))
		return -ENOMEM;
	for (size_t i = 0; i < src->allow.n; i++) {
		int rc = rn_prefix_list_add(&dst->allow, &src->allow.v[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static void conf_free(struct feeds_sync_conf *c)
{
	free(c->table);
	free(c->ipset_prefix);
	free(c->applier);
	rn_prefix_list_clear(&c->allow);
}

static int allow_build(struct feeds_nfsync *s)
{
	for (unsigned f = 0; f < 2; f++) {
		struct nfs_pfxset p;
		nfs_pfxset_init(&p, f ? 16 : 4);
		int rc = RN_OK;
		for (size_t i = 0; i < s->conf.allow.n && rc == RN_OK; i++) {
			const struct rn_prefix *a = &s->conf.allow.v[i];
			bool changed;
			if ((a->addr.family == RN_AF_INET6) != (f == 1))
				continue;
			uint8_t key[16] = {0};
			rn_addr_to_bytes(&a->addr, key);
			rc = nfs_pfxset_or(&p, key, a->len, 1, &changed);
		}
		if (rc == RN_OK)
			rc = nfs_ranges_build(&p, NFS_CAT_BITS, &s->allow[f]);
		nfs_pfxset_release(&p);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

int feeds_nfsync_open(struct feeds_nfsync **out, const struct feeds_sync_conf *conf,
                      struct rn_metrics *m)
{
	struct feeds_nfsync *s = calloc(1, sizeof(*s));
	int rc;
	if (s == NULL)
		return -ENOMEM;
	s->fd = -1;
	s->pid = -1;
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++)
		group_init(&s->g[i]);
	if ((rc = conf_copy(&s->conf, conf)) != RN_OK)
		goto fail;
	if (!is_ipset(s) &&
	    (rc = nfs_table_parse(s->conf.table, &s->family, s->table, sizeof(s->table))) != RN_OK)
		goto fail;
	if (s->conf.max_elements <= 0)
		s->conf.max_elements = 16 * 1024 * 1024;
	if (s->conf.timeout_ms <= 0)
		s->conf.timeout_ms = 30000;
	if (s->conf.reconcile_ms <= 0)
		s->conf.reconcile_ms = 300000;
	if (s->conf.dump_ms <= 0)
		s->conf.dump_ms = 3600000;
	if (s->conf.swap_pct <= 0)
		s->conf.swap_pct = 25;
	if ((rc = allow_build(s)) != RN_OK || (rc = applier_path(s)) != RN_OK)
		goto fail;
	s->wbuf = malloc(NFS_MSG_MAX);
	s->rbuf = malloc(NFS_MSG_MAX);
	if (s->wbuf == NULL || s->rbuf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	state_clear(s);
	set_dirty(s, true);
	if (m != NULL) {
		s->m = m;
		if ((rc = register_metrics(s)) != RN_OK)
			goto fail;
	}
	if ((rc = applier_start(s)) != RN_OK)
		goto fail;
	*out = s;
	return RN_OK;
fail:
	feeds_nfsync_close(s);
	return rc;
}

void feeds_nfsync_close(struct feeds_nfsync *s)
{
	if (s == NULL)
		return;
	if (s->m != NULL)
		rn_metrics_unregister(s->m, s);
	/* Closing our end makes the applier exit; it holds no transaction open
	 * between calls, so nothing is left half-sent. */
	applier_stop(s, false);
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++)
		group_release(&s->g[i]);
	nfs_rangevec_release(&s->allow[0]);
	nfs_rangevec_release(&s->allow[1]);
	conf_free(&s->conf);
	free(s->wbuf);
	free(s->rbuf);
	free(s);
}

int feeds_nfsync_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                      struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	int64_t t0 = rn_time_mono_us();
	int rc = RN_OK;

	state_clear(s);
	/* Sized for the common case: everything is a single IPv4 address. */
	if (!s->conf.per_category && n > 16)
		nfs_keyset_reserve(&s->g[RN_CAT_COUNT].k[0], n);
	for (size_t i = 0; i < n; i++) {
		struct resolved x;
		if (resolve(s, &v[i], &x) != RN_OK) {
			r.refused++;
			continue;
		}
		rc = state_add(s, &x, false);
		if (rc == RN_ELIMIT) {
			r.refused++;
			rc = RN_OK;
		}
		if (rc != RN_OK)
			return rc;
	}
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned f = 0; f < 2 && rc == RN_OK; f++)
			rc = kernel_ranges(s, &s->g[slot].p[f], &s->g[slot].r[f]);
	if (rc != RN_OK)
		return rc;
	bool first = !s->loaded;
	s->loaded = true;
	s->changed = true;
	rc = reconcile(s, &r, !first);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	s->next_reconcile = rn_time_mono_ms() + s->conf.reconcile_ms;
	return rc;
}

int feeds_nfsync_apply(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                       const struct feeds_nfsync_entry *del, size_t ndel,
                       struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	struct resolved *touched = NULL;
	size_t nt = 0;
	struct bytes ops_add[NFS_GROUP_SLOTS][2], ops_del[NFS_GROUP_SLOTS][2];
	struct nfs_rangevec newr[NFS_GROUP_SLOTS][2];
	bool netdirty[NFS_GROUP_SLOTS][2], newgroup = false;
	int64_t t0 = rn_time_mono_us();
	int rc = RN_OK, kerr = 0;

	memset(ops_add, 0, sizeof(ops_add));
	memset(ops_del, 0, sizeof(ops_del));
	memset(newr, 0, sizeof(newr));
	memset(netdirty, 0, sizeof(netdirty));
	/* A dead applier is noticed now, not halfway through the delta. */
	if (s->fd >= 0 && applier_ensure(s) != RN_OK)
		set_dirty(s, true);
	if (nadd + ndel > 0) {
		touched = malloc((nadd + ndel) * sizeof(*touched));
		if (touched == NULL)
			return -ENOMEM;
	}
	/* Pass 1: the desired state, remembering what each key was before. */
	for (size_t i = 0; i < ndel; i++) {
		struct resolved x;
		if (resolve(s, &del[i], &x) != RN_OK) {
			r.refused++;
			continue;
		}
		state_del(s, &x);
		if (x.kind >= NFS_K_NET4)
			netdirty[x.slot][x.kind - 2] = true;
		else
			touched[nt++] = x;
	}
	for (size_t i = 0; i < nadd; i++) {
		struct resolved x;
		if (resolve(s, &add[i], &x) != RN_OK) {
			r.refused++;
			continue;
		}
		if (!s->g[x.slot].used)
			newgroup = true;
		rc = state_add(s, &x, true);
		if (rc == RN_ELIMIT) {
			r.refused++;
			rc = RN_OK;
			continue;
		}
		if (rc != RN_OK)
			goto out;
		if (x.kind >= NFS_K_NET4)
			netdirty[x.slot][x.kind - 2] = true;
		else
			touched[nt++] = x;
	}
	/* Pass 2: the kernel operations, from before and after of each key. */
	for (size_t i = 0; i < nt && rc == RN_OK; i++) {
		struct resolved *x = &touched[i];
		struct nfs_keyset *k = &s->g[x->slot].k[x->kind];
		uint16_t *m = nfs_keyset_find(k, x->key);
		if (m == NULL || !(*m & NFS_F_TOUCHED))
			continue; /* handled already */
		bool was = (*m & NFS_F_WAS) != 0, now = (*m & NFS_CAT_BITS) != 0;
		if (was && !now)
			rc = bytes_push(&ops_del[x->slot][x->kind], x->key, nfs_kind_klen(x->kind));
		else if (!was && now)
			rc = bytes_push(&ops_add[x->slot][x->kind], x->key, nfs_kind_klen(x->kind));
		/* Never leave a zero mask in a probe chain: delete the slot. */
		if (!now)
			nfs_keyset_del(k, x->key);
		else
			*m &= (uint16_t) ~(NFS_F_TOUCHED | NFS_F_WAS);
	}
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS && rc == RN_OK; slot++)
		for (unsigned f = 0; f < 2 && rc == RN_OK; f++)
			if (netdirty[slot][f])
				rc = kernel_ranges(s, &s->g[slot].p[f], &newr[slot][f]);
	if (rc != RN_OK)
		goto out;

	/* A kernel that may be behind is resynchronised, not patched. */
	bool resize = false;
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned f = 0; f < 2; f++)
			if (s->g[slot].used && s->g[slot].k[f].n > s->g[slot].size[f])
				resize = true;
	if (s->dirty || newgroup || resize || !s->chains_ok) {
		for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
			for (unsigned f = 0; f < 2; f++)
				if (netdirty[slot][f]) {
					nfs_rangevec_release(&s->g[slot].r[f]);
					s->g[slot].r[f] = newr[slot][f];
					memset(&newr[slot][f], 0, sizeof(newr[slot][f]));
				}
		if (s->dirty)
			rn_counter_inc(&s->resyncs);
		s->changed = true;
		rc = reconcile(s, &r, s->dirty);
		goto out;
	}
	if ((rc = applier_ensure(s)) != RN_OK)
		goto out;

	/* The range changes of the interval sets whose prefixes changed. */
	struct nfs_rangevec rdel[NFS_GROUP_SLOTS][2], radd[NFS_GROUP_SLOTS][2];
	bool work = false;
	memset(rdel, 0, sizeof(rdel));
	memset(radd, 0, sizeof(radd));
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS && rc == RN_OK; slot++)
		for (unsigned f = 0; f < 2 && rc == RN_OK; f++) {
			if (netdirty[slot][f])
				rc = nfs_ranges_diff(&s->g[slot].r[f], &newr[slot][f], f ? 16 : 4,
				                     &rdel[slot][f], &radd[slot][f]);
			if (rdel[slot][f].n || radd[slot][f].n || ops_del[slot][f].n ||
			    ops_add[slot][f].n)
				work = true;
		}
	/*
	 * Planned against the generation our last commit left, when it is
	 * known: a batch refused for ERESTART means someone else changed the
	 * ruleset since, and it is sent again unguarded (additions refuse
	 * elements already present, deletions refuse absent ones, so it is
	 * still checked); the next reconcile then dumps.
	 */
	uint32_t nops = 0;
	for (int attempt = 0; attempt < 2 && rc == RN_OK && work; attempt++) {
		uint32_t gen = s->gen_valid ? s->known_gen : 0;
		struct feeds_nfsync_report tr = {0};
		nops = 0;
		rc = txn_begin(s, gen);
		for (unsigned slot = 0; slot < NFS_GROUP_SLOTS && rc == RN_OK; slot++) {
			for (unsigned f = 0; f < 2 && rc == RN_OK; f++) {
				struct nfs_setid idk = sid(slot, f),
				                 idn = sid(slot, NFS_K_NET4 + f);
				unsigned klen = f ? 16 : 4;
				struct bytes *bd = &ops_del[slot][f], *ba = &ops_add[slot][f];
				if (rdel[slot][f].n)
					rc = send_ranges(s, NFS_OP_DEL, &idn, 0, &rdel[slot][f],
					                 &nops);
				if (rc == RN_OK && radd[slot][f].n)
					rc = send_ranges(s, NFS_OP_ADD, &idn, 0, &radd[slot][f],
					                 &nops);
				if (rc == RN_OK && bd->n)
					rc = send_items(s, NFS_OP_DEL, &idk, 0, bd->v, bd->n / klen,
					                &nops);
				if (rc == RN_OK && ba->n)
					rc = send_items(s, NFS_OP_ADD, &idk, 0, ba->v, ba->n / klen,
					                &nops);
			}
		}
		if (rc == RN_OK)
			rc = send_simple(s, NFS_M_COMMIT);
		if (rc == RN_OK)
			rc = txn_result(s, t0, &tr, &kerr);
		r.txn_us += tr.txn_us;
		if (rc == RN_OK) {
			s->known_gen = gen + 1;
			break;
		}
		s->gen_valid = false;
		if (!(rc == RN_ENETLINK && kerr == ERESTART && gen != 0))
			break;
		rn_counter_inc(&s->conflicts);
		rc = RN_OK;
	}
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned f = 0; f < 2; f++) {
			r.removed += rdel[slot][f].n + ops_del[slot][f].n / (f ? 16 : 4);
			r.added += radd[slot][f].n + ops_add[slot][f].n / (f ? 16 : 4);
			nfs_rangevec_release(&rdel[slot][f]);
			nfs_rangevec_release(&radd[slot][f]);
		}
	r.ops = nops;
	/* The desired state holds the delta either way. */
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned f = 0; f < 2; f++)
			if (netdirty[slot][f]) {
				nfs_rangevec_release(&s->g[slot].r[f]);
				s->g[slot].r[f] = newr[slot][f];
				memset(&newr[slot][f], 0, sizeof(newr[slot][f]));
			}
	if (rc == RN_OK) {
		rn_counter_add(&s->el_added, r.added);
		rn_counter_add(&s->el_removed, r.removed);
	} else {
		set_dirty(s, true);
	}
	update_gauges(s);
out:
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++)
		for (unsigned f = 0; f < 2; f++) {
			bytes_release(&ops_add[slot][f]);
			bytes_release(&ops_del[slot][f]);
			nfs_rangevec_release(&newr[slot][f]);
		}
	/*
	 * Keys an interrupted pass left flagged (or without a category) are
	 * settled now; only the touched keys are visited, so a single update
	 * does not pay for a walk of a million-entry table.
	 */
	for (size_t i = 0; i < nt; i++) {
		struct nfs_keyset *k = &s->g[touched[i].slot].k[touched[i].kind];
		uint16_t *m = nfs_keyset_find(k, touched[i].key);
		if (m == NULL)
			continue;
		if (!(*m & NFS_CAT_BITS))
			nfs_keyset_del(k, touched[i].key);
		else
			*m &= (uint16_t) ~(NFS_F_TOUCHED | NFS_F_WAS);
	}
	free(touched);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	return rc;
}

int feeds_nfsync_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	int64_t t0 = rn_time_mono_us();
	if (s->dirty && s->loaded)
		rn_counter_inc(&s->resyncs);
	int rc = reconcile(s, &r, s->loaded);
	int64_t now = rn_time_mono_ms();
	s->next_reconcile = now + s->conf.reconcile_ms;
	/* Failing again and again (no CAP_NET_ADMIN, a table in use...):
	 * back off from 1 s to the reconcile interval. */
	s->failures = rc == RN_OK ? 0 : s->failures + 1;
	int64_t back = (int64_t)1000 << (s->failures < 10 ? s->failures : 10);
	s->next_retry = now + (back < s->conf.reconcile_ms ? back : s->conf.reconcile_ms);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	return rc;
}

int feeds_nfsync_tick(struct feeds_nfsync *s, int64_t now_ms, int64_t *next_ms)
{
	int rc = RN_OK;
	if (s->loaded && ((s->dirty && now_ms >= s->next_retry) || now_ms >= s->next_reconcile))
		rc = feeds_nfsync_reconcile(s, NULL);
	if (next_ms != NULL) {
		/* After a failure, retry soon but not in a busy loop. */
		*next_ms = s->dirty && s->next_retry < s->next_reconcile ? s->next_retry
		                                                         : s->next_reconcile;
	}
	return rc;
}

struct adoptctx {
	struct feeds_nfsync *s;
	unsigned slot;
	unsigned kind;
	int rc;
};

static int adopt_cb(const uint8_t *item, void *arg)
{
	struct adoptctx *a = arg;
	struct group *g = &a->s->g[a->slot];
	uint16_t bit = (uint16_t)(1u << (a->slot == RN_CAT_COUNT ? RN_CAT_UNSPECIFIED : a->slot));
	unsigned klen = nfs_kind_klen(a->kind);
	g->used = true;
	if (a->kind < 2)
		return nfs_keyset_or(&g->k[a->kind], item, bit, NULL);
	struct nfs_rangevec one = {0}, cidrs = {0};
	int rc = nfs_rangevec_push(&one, item, item + klen, klen);
	if (rc == RN_OK)
		rc = nfs_ranges_to_cidrs(&one, klen, 0, &cidrs);
	for (size_t i = 0; rc == RN_OK && i < cidrs.n; i++) {
		bool changed;
		int len = nfs_range_cidr_len(&cidrs.v[i], klen);
		rc = nfs_pfxset_or(&g->p[a->kind - 2], cidrs.v[i].lo, (unsigned)len, bit, &changed);
	}
	nfs_rangevec_release(&one);
	nfs_rangevec_release(&cidrs);
	return rc;
}

int feeds_nfsync_adopt(struct feeds_nfsync *s)
{
	struct nfs_sets *list = calloc(1, sizeof(*list));
	int rc;
	if (list == NULL)
		return -ENOMEM;
	state_clear(s);
	if ((rc = applier_ensure(s)) != RN_OK || (rc = list_sets(s, list)) != RN_OK)
		goto out;
	for (unsigned i = 0; i < list->n && rc == RN_OK; i++) {
		const struct nfs_setinfo *si = &list->v[i];
		if ((si->flags & NFS_SETF_TMP) || si->id.kind >= DROP_KINDS ||
		    !(si->flags & NFS_SETF_COMPAT))
			continue;
		if (s->conf.per_category == (si->id.group == NFS_GROUP_ALL))
			continue; /* a group of the other layout: not adopted */
		struct adoptctx a = {
		        .s = s, .slot = nfs_group_slot(si->id.group), .kind = si->id.kind};
		uint32_t gen16, anomalies;
		uint64_t count;
		rc = dump_set(s, &si->id, 0, adopt_cb, &a, &gen16, &anomalies, &count);
	}
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS && rc == RN_OK; slot++)
		for (unsigned f = 0; f < 2 && rc == RN_OK; f++)
			rc = kernel_ranges(s, &s->g[slot].p[f], &s->g[slot].r[f]);
	if (rc == RN_OK) {
		s->loaded = true;
		rc = reconcile(s, NULL, false);
	}
out:
	free(list);
	return rc;
}

struct dumpcb {
	const char *set;
	unsigned kind;
	int (*cb)(const struct feeds_nfsync_item *it, void *arg);
	void *arg;
};

static int dumpcb_item(const uint8_t *item, void *arg)
{
	struct dumpcb *d = arg;
	struct feeds_nfsync_item it = {.set = d->set};
	unsigned klen = nfs_kind_klen(d->kind);
	rn_addr_from_bytes(&it.lo, item, klen);
	rn_addr_from_bytes(&it.hi, nfs_kind_interval(d->kind) ? item + klen : item, klen);
	return d->cb(&it, d->arg);
}

int feeds_nfsync_dump(struct feeds_nfsync *s,
                      int (*cb)(const struct feeds_nfsync_item *it, void *arg), void *arg)
{
	struct nfs_sets *list = calloc(1, sizeof(*list));
	int rc;
	if (list == NULL)
		return -ENOMEM;
	if ((rc = applier_ensure(s)) != RN_OK || (rc = list_sets(s, list)) != RN_OK)
		goto out;
	for (unsigned i = 0; i < list->n && rc == RN_OK; i++) {
		char name[NFS_NAME_MAX];
		const struct nfs_setinfo *si = &list->v[i];
		if (si->flags & NFS_SETF_TMP)
			continue;
		rc = nfs_set_name(&si->id, is_ipset(s) ? s->conf.ipset_prefix : NULL, false, name,
		                  sizeof(name));
		struct dumpcb d = {.set = name, .kind = si->id.kind, .cb = cb, .arg = arg};
		uint32_t gen16, anomalies;
		uint64_t count;
		if (rc == RN_OK)
			rc = dump_set(s, &si->id, 0, dumpcb_item, &d, &gen16, &anomalies, &count);
	}
out:
	free(list);
	return rc;
}

int feeds_nfsync_destroy(struct feeds_nfsync *s)
{
	int rc, kerr = 0;
	int64_t t0 = rn_time_mono_us();
	if ((rc = applier_ensure(s)) != RN_OK)
		return rc;
	rc = txn_begin(s, 0);
	if (rc == RN_OK)
		rc = send_simple(s, NFS_M_DESTROY);
	if (rc == RN_OK)
		rc = send_simple(s, NFS_M_COMMIT);
	if (rc == RN_OK)
		rc = txn_result(s, t0, NULL, &kerr);
	if (rc == RN_ENETLINK && kerr == ENOENT)
		rc = RN_OK; /* there was nothing */
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		memset(s->g[i].exists, 0, sizeof(s->g[i].exists));
		memset(s->g[i].size, 0, sizeof(s->g[i].size));
	}
	s->chains_ok = false;
	set_dirty(s, true);
	return rc;
}

void feeds_nfsync_reload(struct feeds_nfsync *s, const struct feeds_sync_conf *conf)
{
	if (conf->reconcile_ms > 0 && conf->reconcile_ms != s->conf.reconcile_ms) {
		s->next_reconcile += conf->reconcile_ms - s->conf.reconcile_ms;
		s->conf.reconcile_ms = conf->reconcile_ms;
	}
	if (conf->dump_ms > 0)
		s->conf.dump_ms = conf->dump_ms;
}

int feeds_nfsync_applier_pid(const struct feeds_nfsync *s)
{
	return s->pid > 0 ? (int)s->pid : -1;
}

bool feeds_nfsync_in_sync(const struct feeds_nfsync *s)
{
	return !s->dirty;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

static double m_last_txn(void *arg)
{
	const struct feeds_nfsync *s = arg;
	return s->last_txn_s;
}

static int register_metrics(struct feeds_nfsync *s)
{
	struct rn_metrics *m = s->m;
	char lb[64];
	int rc = RN_OK;
#define C(name, help, labels, ctr)                                              \
	do {                                                                    \
		if (rc == RN_OK)                                                \
			rc = rn_metrics_counter(m, s, name, help, labels, ctr); \
	} while (0)
#define G(name, help, labels, g)                                            \
	do {                                                                \
		if (rc == RN_OK)                                            \
			rc = rn_metrics_gauge(m, s, name, help, labels, g); \
	} while (0)
	C("repnet_nfsync_transactions_total", "Netfilter transactions, by result.", "result=\"ok\"",
	  &s->txn_ok);
	C("repnet_nfsync_transactions_total", "Netfilter transactions, by result.",
	  "result=\"failed\"", &s->txn_failed);
	C("repnet_nfsync_elements_total", "Set elements (or ranges) added and removed.",
	  "op=\"add\"", &s->el_added);
	C("repnet_nfsync_elements_total", "Set elements (or ranges) added and removed.",
	  "op=\"del\"", &s->el_removed);
	for (unsigned i = 0; i < ERR_COUNT; i++) {
		snprintf(lb, sizeof(lb), "reason=\"%s\"", err_names[i]);
		C("repnet_nfsync_errors_total",
		  "Failed transactions and applier failures, by reason; each leads to a resync.",
		  lb, &s->errors[i]);
	}
	for (unsigned i = 0; i < REF_COUNT; i++) {
		snprintf(lb, sizeof(lb), "reason=\"%s\"", refuse_names[i]);
		C("repnet_nfsync_refused_total", "Entries the sync refused, by reason.", lb,
		  &s->refused[i]);
	}
	C("repnet_nfsync_resyncs_total", "Full resynchronisations after a failure.", NULL,
	  &s->resyncs);
	C("repnet_nfsync_reconciles_total", "Dump-and-compare passes, by result.", "result=\"ok\"",
	  &s->rec_ok);
	C("repnet_nfsync_reconciles_total", "Dump-and-compare passes, by result.",
	  "result=\"failed\"", &s->rec_failed);
	C("repnet_nfsync_drift_elements_total",
	  "Elements found changed outside repnet and repaired, by kind.", "kind=\"missing\"",
	  &s->drift_missing);
	C("repnet_nfsync_drift_elements_total",
	  "Elements found changed outside repnet and repaired, by kind.", "kind=\"extra\"",
	  &s->drift_extra);
	C("repnet_nfsync_drift_chains_total", "Chains found changed outside repnet and rebuilt.",
	  NULL, &s->drift_chains);
	C("repnet_nfsync_swaps_total", "Sets loaded fresh and swapped in.", NULL, &s->swaps);
	C("repnet_nfsync_applier_restarts_total", "Times the applier was started again.", NULL,
	  &s->restarts);
	C("repnet_nfsync_generation_conflicts_total",
	  "Transactions refused because someone else changed the ruleset after they were "
	  "planned; each is planned again.",
	  NULL, &s->conflicts);
	C("repnet_nfsync_dumps_total",
	  "Kernel sets dumped (reconciles skip the dump while the ruleset generation holds).", NULL,
	  &s->dumps);
	G("repnet_nfsync_in_sync", "1 when the kernel is known to equal the desired state.", NULL,
	  &s->in_sync);
	for (unsigned k = 0; k < DROP_KINDS; k++) {
		snprintf(lb, sizeof(lb), "set=\"%s\"", kind_label[k]);
		G("repnet_nfsync_elements", "Elements (ranges for net sets) desired, by set kind.",
		  lb, &s->elements[k]);
	}
	G("repnet_nfsync_last_success_timestamp_seconds",
	  "When a transaction last succeeded, in seconds since the epoch.", NULL, &s->last_success);
	if (rc == RN_OK)
		rc = rn_metrics_func(
		        m, s, "repnet_nfsync_last_transaction_seconds",
		        "Duration of the last transaction, applier round trip included.",
		        RN_METRIC_GAUGE, NULL, m_last_txn, s);
#undef C
#undef G
	return rc;
}
