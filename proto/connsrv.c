/*
 * connsrv.c: the connection server of the stream services (the DNSBL's
 * TCP side, the policy service, syslog TCP): accept, caps, timers,
 * bounded buffers and the accept back-off, on one epoll thread.
 *
 * Design notes.
 *
 * Threads. Everything after rn_connsrv_start() runs on the event thread:
 * the handler's callbacks, the lists below and the counters (single
 * writer, relaxed stores; the registry reads them at scrape time). Other
 * threads touch only the stop eventfd and, after join, the rest.
 * Listeners and watched descriptors are added before start, so the
 * thread reads those arrays without a lock.
 *
 * Connection state. A connection is idle (nothing buffered of a message,
 * nothing to write) or busy (part of a message buffered, or an answer not
 * yet handed to the kernel), and state_ms is when that state began. It
 * begins again when a message completes (the handler consumed bytes or
 * reported `done`), when the output drains, and when the connection
 * passes between idle and busy; bytes that do not complete a message
 * change nothing, so a client trickling a byte at a time does not extend
 * its message's deadline. An idle connection expires at state_ms +
 * idle_ms, a busy one at state_ms + msg_ms. Every connection is on one of
 * two lists, idle and busy, appended at the tail with state_ms = now, so
 * each list is ordered by expiry and the thread sleeps until the earlier
 * of the two heads (or a listener's back-off end): timers cost O(1) per
 * event, never a scan.
 *
 * Back-pressure. The handler is called only when the output buffer is
 * empty (everything written went to the kernel); while it is not, the
 * connection waits for EPOLLOUT and is not read, so a client that does
 * not read its answers fills its own socket buffers, not the server's,
 * and then meets the deadline. Input is bounded by in_max: a full buffer
 * the handler cannot consume is a message too long, and the connection
 * is closed. An answer larger than out_max goes out from a heap buffer the
 * handler hands over (rn_conn_send_heap()), after the output buffer and
 * under the same back-pressure; the connection frees it.
 *
 * Caps. A client key is the IPv4 address, the IPv6 /64 (one subscriber's
 * usual allocation, so an attacker with a /64 is one client), or on a
 * unix socket the peer's uid. Peers live in a pool of max_conns + 1
 * entries (each holds at least one connection, plus the newcomer) with a
 * chained hash table; each keeps its connections in state order (head:
 * the state that began longest ago), and peers are kept in lists by
 * connection count, so the client with the most connections and its
 * oldest connection are found in O(1). The policy favours clients that
 * hold few connections, which is what legitimate clients do:
 *   - a client at max_per_client loses its own oldest connection to its
 *     newcomer: it competes only with itself, and its newest connection
 *     is the one someone waits on, its oldest an idler or a trickler;
 *   - at max_conns, a newcomer from a client holding fewer connections
 *     than the client holding the most takes that client's oldest
 *     connection; a newcomer from a client holding the most is refused
 *     (its established connections stay).
 * So an attacker holding every slot from one or many addresses cannot
 * keep out a client that has none, whether the slots are idle or
 * trickling; the deadline and the idle timeout then reclaim them.
 *
 * Admission. Before any cap, the service's optional admit hook sees the
 * peer's address (a TCP listener's only); a peer it turns away is closed
 * at once and counted as "denied", so an unwanted client never displaces
 * a wanted one's connection.
 *
 * Accept failures that mean "no descriptors or memory now" (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM) take the listener out of the epoll set for
 * backoff_ms (the pending connection stays in the kernel's backlog), so
 * the still-readable listener cannot make epoll_wait return at once in a
 * loop. Each pause is counted and logged (rate-limited).
 *
 * Ownership. A connection is freed at the end of the round that closed
 * it (it may be evicted while a later event of the same round still
 * points at it; a dead connection's events are ignored). ops.close is
 * called once per connection that ops.open accepted, on every path,
 * including stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "proto/proto.h"

#define CS_LISTEN_MAX   16
#define CS_WATCH_MAX    4
#define CS_EVENTS       64
#define CS_ACCEPT_BATCH 64 /* accepts per listener per round */
#define CS_STOP_READS   16 /* reads per connection when draining at stop */
#define CS_NAME_MAX     32
#define CS_BACKOFF_DEF  250
/*
 * The listen backlog; the kernel caps it at net.core.somaxconn (4096 on
 * Debian 12). A burst of connects (every smtpd after a Postfix reload, or
 * a flood) that overflows a short queue turns to SYN cookies, and a client
 * whose handshake completes while the queue is full believes itself
 * connected to a server that never sees it.
 */
#define CS_BACKLOG       SOMAXCONN
#define CS_PEER_MAX_BITS 24

enum cs_kind {
	K_STOP = 1,
	K_LISTENER,
	K_WATCH,
	K_CONN,
};

enum cs_outcome {
	O_ACCEPTED,
	O_REFUSED,
	O_EVICTED_FULL,
	O_EVICTED_CLIENT,
	O_IDLE,
	O_DEADLINE,
	O_ERROR,
	O_DENIED,
	O_COUNT,
	O_NONE = -1, /* closed by the peer, the handler or the stop: not counted here */
};
static const char *const outcome_names[O_COUNT] = {
        "accepted",    "refused",         "evicted_full", "evicted_per_client",
        "idle_closed", "deadline_closed", "error_closed", "denied",
};

/* The counters of one listener name. */
struct cs_stats {
	char name[CS_NAME_MAX];
	struct rn_counter out[O_COUNT];
	struct rn_counter backoffs;
	struct rn_gauge open;
};

struct cs_listener {
	uint8_t kind; /* K_LISTENER; first, as in every epoll target */
	int fd;
	bool is_unix;
	bool armed;            /* in the epoll set */
	int64_t backoff_until; /* paused until then (monotonic ms); 0: not paused */
	char *path;            /* unix: removed at free */
	struct cs_stats *st;
};

struct cs_watch {
	uint8_t kind; /* K_WATCH */
	int fd;
	void (*fn)(void *arg);
	void *arg;
};

enum { PEER_V4 = 4, PEER_V6 = 6, PEER_UID = 1 };

/* An intrusive doubly linked list; the lists below differ only in their members. */
struct cs_link {
	struct cs_link *prev, *next;
};

struct cs_list {
	struct cs_link *head, *tail;
};

#define CS_ENTRY(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

struct cs_peer {
	uint64_t key;
	uint8_t fam;
	size_t count;
	struct cs_list conns;  /* its connections (rn_conn.pl), oldest state first */
	struct cs_peer *hnext; /* hash chain, or the free list */
	struct cs_link cl;     /* in the list of peers with `count` connections */
};

struct rn_conn {
	uint8_t kind; /* K_CONN */
	bool dead;
	bool busy;
	bool stalled;    /* the handler consumed nothing of what is buffered */
	bool reports;    /* the handler calls rn_conn_progress() */
	bool ending;     /* rn_conn_end(): closed once the output drains; not read */
	bool h_partial;  /* its last report */
	unsigned h_done; /* messages it reported done in the current call */
	int fd;
	uint32_t ev; /* events registered */
	int64_t state_ms;
	struct rn_connsrv *s;
	struct cs_listener *l;
	struct cs_peer *peer;
	struct cs_link tl;     /* in the idle or the busy list */
	struct cs_link pl;     /* in its peer's list */
	struct rn_conn *znext; /* the zombie list, once dead */
	void *user;
	uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t outoff, outlen; /* unsent bytes are out[outoff..outlen) */
	uint8_t *heap;         /* then heap[heapoff..heaplen), freed once sent */
	size_t heapoff, heaplen;
};

struct rn_connsrv {
	struct rn_connsrv_conf conf;
	char name[CS_NAME_MAX];
	struct rn_metrics *metrics;
	bool registered;
	int ep, stopfd;
	uint8_t stop_kind; /* K_STOP: the stop eventfd's epoll target */
	pthread_t th;
	bool started;
	struct cs_listener lis[CS_LISTEN_MAX];
	unsigned nlis;
	struct cs_stats *stats[CS_LISTEN_MAX];
	unsigned nstats;
	struct cs_watch watch[CS_WATCH_MAX];
	unsigned nwatch;
	size_t nconns;
	struct cs_list idle, busy;
	struct rn_conn *zombies;
	/* Peers: a pool, a chained hash table and lists by connection count. */
	struct cs_peer *peers;
	struct cs_peer *pfree;
	struct cs_peer **buckets;
	unsigned bucket_bits;
	struct cs_list *by_count; /* peers by connection count, [1 .. max_per_client] */
	size_t maxcount;          /* the highest count with a peer */
	struct rn_counter wakeups;
};

/* ---- lists -------------------------------------------------------------- */

static void list_unlink(struct cs_list *l, struct cs_link *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

static void list_append(struct cs_list *l, struct cs_link *n)
{
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
}

/* The first connection of the idle or busy list, or NULL. */
static struct rn_conn *tl_first(const struct cs_list *l)
{
	return l->head != NULL ? CS_ENTRY(l->head, struct rn_conn, tl) : NULL;
}

/* A peer's oldest connection. */
static struct rn_conn *pl_first(const struct cs_peer *p)
{
	return CS_ENTRY(p->conns.head, struct rn_conn, pl);
}

/* ---- peers -------------------------------------------------------------- */

static size_t peer_bucket(const struct rn_connsrv *s, uint8_t fam, uint64_t key)
{
	uint64_t h = (key ^ ((uint64_t)fam << 56)) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> (64 - s->bucket_bits));
}

static struct cs_peer *peer_find(struct rn_connsrv *s, uint8_t fam, uint64_t key)
{
	for (struct cs_peer *p = s->buckets[peer_bucket(s, fam, key)]; p != NULL; p = p->hnext)
		if (p->key == key && p->fam == fam)
			return p;
	return NULL;
}

static void bc_unlink(struct rn_connsrv *s, struct cs_peer *p)
{
	list_unlink(&s->by_count[p->count], &p->cl);
}

/* Appends p to the list of its count: the head of a list is its oldest member. */
static void bc_link(struct rn_connsrv *s, struct cs_peer *p)
{
	list_append(&s->by_count[p->count], &p->cl);
	if (p->count > s->maxcount)
		s->maxcount = p->count;
}

/* Moves p to the list of count + d (d is +1 or -1). */
static void peer_count(struct rn_connsrv *s, struct cs_peer *p, int d)
{
	if (p->count > 0)
		bc_unlink(s, p);
	p->count = d > 0 ? p->count + 1 : p->count - 1;
	if (p->count > 0)
		bc_link(s, p);
	while (s->maxcount > 0 && s->by_count[s->maxcount].head == NULL)
		s->maxcount--;
}

static struct cs_peer *peer_get(struct rn_connsrv *s, uint8_t fam, uint64_t key)
{
	struct cs_peer *p = peer_find(s, fam, key);
	if (p != NULL)
		return p;
	p = s->pfree;
	if (p == NULL)
		return NULL; /* cannot happen: the pool holds one more than max_conns */
	s->pfree = p->hnext;
	memset(p, 0, sizeof(*p));
	p->fam = fam;
	p->key = key;
	size_t b = peer_bucket(s, fam, key);
	p->hnext = s->buckets[b];
	s->buckets[b] = p;
	return p;
}

static void peer_put(struct rn_connsrv *s, struct cs_peer *p)
{
	if (p->count > 0)
		return;
	struct cs_peer **pp = &s->buckets[peer_bucket(s, p->fam, p->key)];
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	p->hnext = s->pfree;
	s->pfree = p;
}

/* The client key of an accepted connection. */
static void peer_key(const struct cs_listener *l, int fd, const struct sockaddr_storage *ss,
                     uint8_t *fam, uint64_t *key)
{
	*fam = PEER_UID;
	*key = 0;
	if (l->is_unix) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
			*key = cr.uid;
		return;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		*fam = PEER_V4;
		*key = ntohl(s4->sin_addr.s_addr);
		return;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		struct rn_addr a;
		rn_addr_set_v6(&a, s6->sin6_addr.s6_addr); /* folds v4-mapped addresses */
		if (a.family == RN_AF_INET) {
			*fam = PEER_V4;
			*key = a.u.v4;
			return;
		}
		*fam = PEER_V6;
		for (int i = 0; i < 8; i++)
			*key = *key << 8 | a.u.v6[i];
	}
}

/* ---- connections -------------------------------------------------------- */

static struct cs_list *conn_list(struct rn_connsrv *s, const struct rn_conn *c)
{
	return c->busy ? &s->busy : &s->idle;
}

/* Begins a new state (idle or busy) at now. */
static void conn_restate(struct rn_connsrv *s, struct rn_conn *c, bool busy, int64_t now)
{
	list_unlink(conn_list(s, c), &c->tl);
	c->busy = busy;
	c->state_ms = now;
	list_append(conn_list(s, c), &c->tl);
	list_unlink(&c->peer->conns, &c->pl);
	list_append(&c->peer->conns, &c->pl);
}

/* Output not yet handed to the kernel. */
static bool conn_pending(const struct rn_conn *c)
{
	return c->outlen > 0 || c->heap != NULL;
}

static void conn_close(struct rn_connsrv *s, struct rn_conn *c, int outcome)
{
	if (c->dead)
		return;
	c->dead = true;
	free(c->heap);
	c->heap = NULL;
	if (s->conf.ops.close != NULL)
		s->conf.ops.close(s->conf.arg, c);
	/* Counted before the peer can see the close. */
	if (outcome != O_NONE)
		rn_counter_inc(&c->l->st->out[outcome]);
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	list_unlink(conn_list(s, c), &c->tl);
	list_unlink(&c->peer->conns, &c->pl);
	peer_count(s, c->peer, -1);
	peer_put(s, c->peer);
	c->peer = NULL;
	s->nconns--;
	rn_gauge_add(&c->l->st->open, -1);
	c->znext = s->zombies;
	s->zombies = c;
}

static void reap(struct rn_connsrv *s)
{
	while (s->zombies != NULL) {
		struct rn_conn *c = s->zombies;
		s->zombies = c->znext;
		free(c);
	}
}

/* Sends buf[*off..len): RN_OK (all or part of it, *off advanced) or -errno. */
static int conn_send(int fd, const uint8_t *buf, size_t *off, size_t len)
{
	while (*off < len) {
		ssize_t k = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return RN_OK;
			return -errno;
		}
		*off += (size_t)k;
	}
	return RN_OK;
}

/* Writes pending output, the buffer then the heap answer: RN_OK (all or part) or -errno. */
static int conn_flush(struct rn_conn *c)
{
	int rc = conn_send(c->fd, c->out, &c->outoff, c->outlen);
	if (rc != RN_OK || c->outoff < c->outlen)
		return rc;
	c->outoff = c->outlen = 0;
	if (c->heap == NULL)
		return RN_OK;
	rc = conn_send(c->fd, c->heap, &c->heapoff, c->heaplen);
	if (rc == RN_OK && c->heapoff == c->heaplen) {
		free(c->heap);
		c->heap = NULL;
	}
	return rc;
}

static void conn_arm(struct rn_connsrv *s, struct rn_conn *c)
{
	uint32_t want = conn_pending(c) ? EPOLLOUT : EPOLLIN;
	if (want == c->ev)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = c};
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		log_warnx_rl("%s: epoll_ctl: %s", s->name, strerror(errno));
		conn_close(s, c, O_ERROR);
		return;
	}
	c->ev = want;
}

/*
 * Hands buffered input to the handler while it consumes and its output
 * drains, then sets the connection's state and events. drained: the
 * output has just drained (a state begins again).
 */
static void conn_process(struct rn_connsrv *s, struct rn_conn *c, bool drained, int64_t now)
{
	bool done = drained;
	while (c->inlen > 0 && !c->stalled && !c->ending && !conn_pending(c)) {
		size_t used = 0;
		c->h_done = 0;
		int rc = s->conf.ops.data(s->conf.arg, c, c->in, c->inlen, &used);
		if (rc < 0) {
			(void)conn_flush(c);
			conn_close(s, c, O_NONE);
			return;
		}
		if (used > c->inlen)
			used = c->inlen; /* a broken handler does not get to read past the end */
		if (used > 0) {
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
		} else {
			c->stalled = true;
		}
		if (c->reports ? c->h_done > 0 : used > 0)
			done = true;
		if (conn_flush(c) != RN_OK) {
			conn_close(s, c, O_ERROR);
			return;
		}
	}
	if (c->ending) {
		if (!conn_pending(c)) {
			conn_close(s, c, O_NONE);
			return;
		}
	} else if (c->stalled && c->inlen == s->conf.in_max && !conn_pending(c)) {
		log_warnx_rl("%s: a message longer than %zu bytes; closing the connection", s->name,
		             s->conf.in_max);
		conn_close(s, c, O_ERROR);
		return;
	}
	bool busy = c->inlen > 0 || (c->reports && c->h_partial) || conn_pending(c);
	if (done || busy != c->busy)
		conn_restate(s, c, busy, now);
	conn_arm(s, c);
}

/* Reads once; false when the connection was closed. */
static bool conn_read(struct rn_connsrv *s, struct rn_conn *c)
{
	if (c->inlen == s->conf.in_max)
		return true;
	ssize_t k = recv(c->fd, c->in + c->inlen, s->conf.in_max - c->inlen, MSG_DONTWAIT);
	if (k == 0) {
		conn_close(s, c, O_NONE);
		return false;
	}
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;
		conn_close(s, c, O_ERROR);
		return false;
	}
	c->inlen += (size_t)k;
	c->stalled = false;
	return true;
}

static void conn_event(struct rn_connsrv *s, struct rn_conn *c, uint32_t events, int64_t now)
{
	bool drained = false;
	if (c->dead)
		return;
	if (conn_pending(c)) {
		if (conn_flush(c) != RN_OK) {
			conn_close(s, c, O_ERROR);
			return;
		}
		if (!conn_pending(c)) {
			drained = true;
			c->stalled = false; /* the handler may have stopped for room */
		}
	}
	if (!conn_pending(c) && !c->ending && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
	    !conn_read(s, c))
		return;
	conn_process(s, c, drained, now);
}

/* ---- accept ------------------------------------------------------------- */

static void conn_admit(struct rn_connsrv *s, struct cs_listener *l, int fd,
                       const struct sockaddr_storage *ss, int64_t now)
{
	uint8_t fam;
	uint64_t key;
	if (!l->is_unix && s->conf.ops.admit != NULL) {
		struct rn_addr a;
		uint16_t port = 0;
		if (rn_addr_from_sockaddr(&a, &port, ss) != RN_OK ||
		    s->conf.ops.admit(s->conf.arg, &a, port) != RN_OK) {
			rn_counter_inc(&l->st->out[O_DENIED]);
			close(fd);
			return;
		}
	}
	char who[RN_ADDR_STRLEN + 16];
	peer_key(l, fd, ss, &fam, &key);
	if (fam == PEER_UID)
		snprintf(who, sizeof(who), "uid %llu", (unsigned long long)key);
	else
		rn_sockaddr_format(ss, who, sizeof(who));
	struct cs_peer *p = peer_find(s, fam, key);
	size_t have = p != NULL ? p->count : 0;
	if (have >= s->conf.max_per_client) {
		log_info_rl("%s: %s holds %zu connections, its cap; closing its oldest", s->name,
		            who, have);
		conn_close(s, pl_first(p), O_EVICTED_CLIENT);
	} else if (s->nconns >= s->conf.max_conns) {
		if (have >= s->maxcount) {
			rn_counter_inc(&l->st->out[O_REFUSED]);
			log_warnx_rl("%s: refusing %s: %zu connections open (the cap), and its "
			             "client holds %zu, as many as any",
			             s->name, who, s->nconns, have);
			close(fd);
			return;
		}
		struct cs_peer *top = CS_ENTRY(s->by_count[s->maxcount].head, struct cs_peer, cl);
		log_info_rl("%s: %zu connections open (the cap): %s holds %zu; closing the oldest "
		            "of a client holding %zu",
		            s->name, s->nconns, who, have, top->count);
		conn_close(s, pl_first(top), O_EVICTED_FULL);
	}
	/* The buffers need no clearing: only what was read or written is used. */
	struct rn_conn *c = malloc(sizeof(*c) + s->conf.in_max + s->conf.out_max);
	if (c == NULL) {
		rn_counter_inc(&l->st->out[O_ERROR]);
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->kind = K_CONN;
	c->fd = fd;
	c->s = s;
	c->l = l;
	c->in = (uint8_t *)(c + 1);
	c->out = c->in + s->conf.in_max;
	c->ev = EPOLLIN;
	if (s->conf.ops.open != NULL && s->conf.ops.open(s->conf.arg, c) != RN_OK) {
		rn_counter_inc(&l->st->out[O_ERROR]);
		close(fd);
		free(c);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		if (s->conf.ops.close != NULL)
			s->conf.ops.close(s->conf.arg, c);
		rn_counter_inc(&l->st->out[O_ERROR]);
		close(fd);
		free(c);
		return;
	}
	p = peer_get(s, fam, key);
	c->peer = p;
	list_append(&p->conns, &c->pl);
	peer_count(s, p, +1);
	c->state_ms = now;
	list_append(&s->idle, &c->tl);
	s->nconns++;
	rn_counter_inc(&l->st->out[O_ACCEPTED]);
	rn_gauge_add(&l->st->open, 1);
}

static void listener_pause(struct rn_connsrv *s, struct cs_listener *l, int err, int64_t now)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, l->fd, NULL);
	l->armed = false;
	l->backoff_until = now + s->conf.backoff_ms;
	rn_counter_inc(&l->st->backoffs);
	log_warnx_rl("%s: accept: %s; not accepting for %lld ms", s->name, strerror(err),
	             (long long)s->conf.backoff_ms);
}

static void listener_accept(struct rn_connsrv *s, struct cs_listener *l, int64_t now)
{
	for (int i = 0; i < CS_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_admit(s, l, fd, &ss, now);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			listener_pause(s, l, errno, now);
			return;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		default:
			log_warnx_rl("%s: accept: %s", s->name, strerror(errno));
			return;
		}
	}
}

/* ---- the event thread --------------------------------------------------- */

/* Closes what has expired and resumes paused listeners. */
static void expire(struct rn_connsrv *s, int64_t now)
{
	struct rn_conn *c;
	while ((c = tl_first(&s->busy)) != NULL && now - c->state_ms >= s->conf.msg_ms)
		conn_close(s, c, O_DEADLINE);
	while ((c = tl_first(&s->idle)) != NULL && now - c->state_ms >= s->conf.idle_ms)
		conn_close(s, c, O_IDLE);
	for (unsigned i = 0; i < s->nlis; i++) {
		struct cs_listener *l = &s->lis[i];
		if (l->armed || now < l->backoff_until)
			continue;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, l->fd, &ev) == 0) {
			l->armed = true;
			l->backoff_until = 0;
		} else {
			listener_pause(s, l, errno, now);
		}
	}
}

/* Milliseconds until the next timer, or -1 when none runs. */
static int next_timeout(const struct rn_connsrv *s, int64_t now)
{
	int64_t t = INT64_MAX;
	const struct rn_conn *busy = tl_first(&s->busy), *idle = tl_first(&s->idle);
	if (busy != NULL)
		t = busy->state_ms + s->conf.msg_ms;
	if (idle != NULL && idle->state_ms + s->conf.idle_ms < t)
		t = idle->state_ms + s->conf.idle_ms;
	for (unsigned i = 0; i < s->nlis; i++)
		if (!s->lis[i].armed && s->lis[i].backoff_until < t)
			t = s->lis[i].backoff_until;
	if (t == INT64_MAX)
		return -1;
	t -= now;
	if (t < 0)
		return 0;
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

/* At stop: hands over what the kernel already holds for c. */
static void conn_drain(struct rn_connsrv *s, struct rn_conn *c, int64_t now)
{
	for (int i = 0; i < CS_STOP_READS && !c->dead; i++) {
		if (conn_pending(c) && (conn_flush(c) != RN_OK || conn_pending(c)))
			return;
		if (c->inlen == s->conf.in_max && c->stalled)
			return;
		size_t before = c->inlen;
		if (!conn_read(s, c) || c->inlen == before)
			return;
		conn_process(s, c, false, now);
	}
}

static void shutdown_all(struct rn_connsrv *s)
{
	int64_t now = rn_time_mono_ms();
	if (s->conf.drain_on_stop)
		for (unsigned i = 0; i < s->nwatch; i++)
			s->watch[i].fn(s->watch[i].arg);
	for (;;) {
		struct rn_conn *c =
		        tl_first(&s->idle) != NULL ? tl_first(&s->idle) : tl_first(&s->busy);
		if (c == NULL)
			break;
		if (s->conf.drain_on_stop)
			conn_drain(s, c, now);
		conn_close(s, c, O_NONE);
	}
	reap(s);
	if (s->conf.ops.tick != NULL)
		s->conf.ops.tick(s->conf.arg);
}

static void *cs_main(void *arg)
{
	struct rn_connsrv *s = arg;
	struct epoll_event evs[CS_EVENTS];
	bool stop = false;
	int timeout = -1;
	while (!stop) {
		int n = epoll_wait(s->ep, evs, CS_EVENTS, timeout);
		rn_counter_inc(&s->wakeups);
		if (n < 0 && errno != EINTR) {
			log_warn("%s: epoll_wait", s->name);
			break;
		}
		int64_t now = rn_time_mono_ms();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			switch (*(const uint8_t *)p) {
			case K_STOP:
				stop = true;
				break;
			case K_LISTENER:
				listener_accept(s, p, now);
				break;
			case K_WATCH: {
				struct cs_watch *w = p;
				w->fn(w->arg);
				break;
			}
			case K_CONN:
				conn_event(s, p, evs[i].events, now);
				break;
			}
		}
		expire(s, now);
		reap(s);
		if (s->conf.ops.tick != NULL)
			s->conf.ops.tick(s->conf.arg);
		timeout = next_timeout(s, now);
	}
	shutdown_all(s);
	return NULL;
}

/* ---- the API ------------------------------------------------------------ */

static bool name_ok(const char *n)
{
	size_t len = n != NULL ? strlen(n) : 0;
	if (len == 0 || len >= CS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return false;
	return true;
}

int rn_connsrv_alloc(struct rn_connsrv **out, const struct rn_connsrv_conf *conf,
                     struct rn_metrics *m)
{
	if (conf->ops.data == NULL || conf->max_conns == 0 || conf->max_per_client == 0 ||
	    conf->in_max == 0 || conf->idle_ms <= 0 || conf->msg_ms <= 0 ||
	    conf->max_conns >= (size_t)1 << CS_PEER_MAX_BITS)
		return RN_ECONF;
	struct rn_connsrv *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->conf = *conf;
	s->conf.name = s->name;
	snprintf(s->name, sizeof(s->name), "%s", conf->name != NULL ? conf->name : "connsrv");
	if (s->conf.backoff_ms <= 0)
		s->conf.backoff_ms = CS_BACKOFF_DEF;
	s->metrics = m;
	s->stop_kind = K_STOP;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = RN_OK;
	if (s->ep < 0 || s->stopfd < 0) {
		rc = -errno;
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->stop_kind};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->stopfd, &ev) != 0) {
		rc = -errno;
		goto fail;
	}
	size_t npeers = conf->max_conns + 1;
	s->bucket_bits = 4;
	while (((size_t)1 << s->bucket_bits) < 2 * npeers)
		s->bucket_bits++;
	s->peers = calloc(npeers, sizeof(*s->peers));
	s->buckets = calloc((size_t)1 << s->bucket_bits, sizeof(*s->buckets));
	s->by_count = calloc(conf->max_per_client + 1, sizeof(*s->by_count));
	if (s->peers == NULL || s->buckets == NULL || s->by_count == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = npeers; i-- > 0;) {
		s->peers[i].hnext = s->pfree;
		s->pfree = &s->peers[i];
	}
	*out = s;
	return RN_OK;
fail:
	rn_connsrv_free(s);
	return rc;
}

static struct cs_stats *stats_get(struct rn_connsrv *s, const char *name)
{
	for (unsigned i = 0; i < s->nstats; i++)
		if (strcmp(s->stats[i]->name, name) == 0)
			return s->stats[i];
	struct cs_stats *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	snprintf(st->name, sizeof(st->name), "%s", name);
	s->stats[s->nstats++] = st;
	return st;
}

static int listen_tcp(const struct rn_connsrv_listen *spec, int *out, unsigned *port)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int one = 1;
	int rc = rn_hostport_parse(spec->hostport, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	if (spec->port != 0) {
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)spec->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)spec->port);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ss.ss_family == AF_INET6 && spec->v6only &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, CS_BACKLOG) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	socklen_t bl = sizeof(ss);
	if (port != NULL && getsockname(fd, (struct sockaddr *)&ss, &bl) == 0)
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
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket left by an earlier run is replaced; any other file is not. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, CS_BACKLOG) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return RN_OK;
}

int rn_connsrv_listen(struct rn_connsrv *s, const struct rn_connsrv_listen *spec, unsigned *port)
{
	if (s->started || s->nlis == CS_LISTEN_MAX || !name_ok(spec->name) ||
	    (spec->hostport == NULL) == (spec->unix_path == NULL))
		return RN_ECONF;
	struct cs_listener *l = &s->lis[s->nlis];
	memset(l, 0, sizeof(*l));
	l->kind = K_LISTENER;
	l->fd = -1;
	l->st = stats_get(s, spec->name);
	if (l->st == NULL)
		return -ENOMEM;
	if (spec->unix_path != NULL) {
		l->path = strdup(spec->unix_path);
		if (l->path == NULL)
			return -ENOMEM;
	}
	int rc = l->path != NULL ? listen_unix(l->path, &l->fd) : listen_tcp(spec, &l->fd, port);
	if (rc != RN_OK) {
		free(l->path);
		l->path = NULL;
		return rc;
	}
	l->is_unix = l->path != NULL;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
		rc = -errno;
		close(l->fd);
		if (l->path != NULL)
			unlink(l->path);
		free(l->path);
		l->path = NULL;
		return rc;
	}
	l->armed = true;
	s->nlis++;
	return RN_OK;
}

int rn_connsrv_watch(struct rn_connsrv *s, int fd, void (*fn)(void *arg), void *arg)
{
	if (s->started || s->nwatch == CS_WATCH_MAX || fn == NULL)
		return RN_ECONF;
	struct cs_watch *w = &s->watch[s->nwatch];
	*w = (struct cs_watch){.kind = K_WATCH, .fd = fd, .fn = fn, .arg = arg};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -errno;
	s->nwatch++;
	return RN_OK;
}

static int register_metrics(struct rn_connsrv *s)
{
	int rc = RN_OK;
	for (unsigned i = 0; i < s->nstats && rc == RN_OK; i++) {
		struct cs_stats *st = s->stats[i];
		char lab[96];
		for (int o = 0; o < O_COUNT && rc == RN_OK; o++) {
			snprintf(lab, sizeof(lab), "listener=\"%s\",outcome=\"%s\"", st->name,
			         outcome_names[o]);
			rc = rn_metrics_counter(s->metrics, s, "repnet_connections_total",
			                        RN_CONNECTIONS_HELP, lab, &st->out[o]);
		}
		snprintf(lab, sizeof(lab), "listener=\"%s\"", st->name);
		if (rc == RN_OK)
			rc = rn_metrics_counter(s->metrics, s, "repnet_accept_backoffs_total",
			                        RN_ACCEPT_BACKOFFS_HELP, lab, &st->backoffs);
		if (rc == RN_OK)
			rc = rn_metrics_gauge(s->metrics, s, "repnet_connections_open",
			                      RN_CONNECTIONS_OPEN_HELP, lab, &st->open);
	}
	return rc;
}

int rn_connsrv_start(struct rn_connsrv *s)
{
	if (s->started)
		return RN_ESTATE;
	if (s->metrics != NULL) {
		int rc = register_metrics(s);
		s->registered = true;
		if (rc != RN_OK)
			return rc;
	}
	int rc = pthread_create(&s->th, NULL, cs_main, s);
	if (rc != 0)
		return -rc;
	s->started = true;
	return RN_OK;
}

void rn_connsrv_free(struct rn_connsrv *s)
{
	if (s == NULL)
		return;
	if (s->started) {
		uint64_t one = 1;
		if (write(s->stopfd, &one, sizeof(one)) < 0)
			log_warn("%s: waking the connection thread", s->name);
		pthread_join(s->th, NULL);
	}
	if (s->registered)
		rn_metrics_unregister(s->metrics, s);
	for (unsigned i = 0; i < s->nlis; i++) {
		close(s->lis[i].fd);
		if (s->lis[i].path != NULL)
			unlink(s->lis[i].path);
		free(s->lis[i].path);
	}
	for (unsigned i = 0; i < s->nstats; i++)
		free(s->stats[i]);
	if (s->ep >= 0)
		close(s->ep);
	if (s->stopfd >= 0)
		close(s->stopfd);
	free(s->peers);
	free(s->buckets);
	free(s->by_count);
	free(s);
}

uint64_t rn_connsrv_wakeups(const struct rn_connsrv *s)
{
	return rn_counter_get(&s->wakeups);
}

void *rn_conn_user(const struct rn_conn *c)
{
	return c->user;
}

void rn_conn_set_user(struct rn_conn *c, void *user)
{
	c->user = user;
}

size_t rn_conn_room(const struct rn_conn *c)
{
	if (c->heap != NULL)
		return 0;
	return c->s->conf.out_max - (c->outlen - c->outoff);
}

uint8_t *rn_conn_reserve(struct rn_conn *c, size_t n)
{
	if (rn_conn_room(c) < n)
		return NULL;
	if (c->s->conf.out_max - c->outlen < n) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	return c->out + c->outlen;
}

void rn_conn_commit(struct rn_conn *c, size_t k)
{
	if (k > c->s->conf.out_max - c->outlen)
		k = c->s->conf.out_max - c->outlen;
	c->outlen += k;
}

int rn_conn_write(struct rn_conn *c, const void *buf, size_t n)
{
	uint8_t *p = rn_conn_reserve(c, n);
	if (p == NULL)
		return RN_ELIMIT;
	memcpy(p, buf, n);
	rn_conn_commit(c, n);
	return RN_OK;
}

void rn_conn_end(struct rn_conn *c)
{
	c->ending = true;
}

size_t rn_conn_peer(const struct rn_conn *c, char *dst, size_t dstlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (dstlen == 0)
		return 0;
	dst[0] = '\0';
	if (c->l->is_unix) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0)
			return 0;
		int n = snprintf(dst, dstlen, "uid %u", (unsigned)cr.uid);
		return n > 0 && (size_t)n < dstlen ? (size_t)n : 0;
	}
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	return rn_sockaddr_format(&ss, dst, dstlen);
}

int rn_conn_send_heap(struct rn_conn *c, void *buf, size_t len)
{
	if (c->heap != NULL)
		return RN_ESTATE;
	if (len == 0) {
		free(buf);
		return RN_OK;
	}
	c->heap = buf;
	c->heapoff = 0;
	c->heaplen = len;
	return RN_OK;
}

void rn_conn_progress(struct rn_conn *c, unsigned done, bool partial)
{
	c->reports = true;
	c->h_done += done;
	c->h_partial = partial;
}
