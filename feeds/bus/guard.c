/*
 * guard.c: caps and a silence deadline for a bus listener's pipes.
 *
 * Design notes.
 *
 * What nng 1.5.2 offers. A listener accepts every connection and runs the
 * SP handshake (each side sends an 8-byte header) with a 10 s timeout of
 * its own; only then does the connection become a pipe, and the socket's
 * pipe callbacks run: NNG_PIPE_EV_ADD_PRE before the pipe is added (a
 * pipe closed there is dropped), NNG_PIPE_EV_REM_POST after it is gone.
 * There is no cap on pipes and no deadline on a pipe that says nothing,
 * so a client that sends the 8-byte header and stops holds its pipe, and
 * a descriptor, for ever. The guard adds both, from those callbacks and
 * from the socket's own receive loop, which tells it which pipe each
 * message came from (nng_msg_get_pipe()).
 *
 * Policy, as the connection server's (proto/connsrv.c): a client is an
 * IPv4 address, an IPv6 /64 or, on ipc://, the one local peer. A newcomer
 * whose client is at max_per_client closes its own client's least
 * recently active pipe; at max_pipes, a newcomer whose client holds fewer
 * pipes than the client holding the most closes that client's least
 * recently active pipe, and a newcomer from a client holding the most is
 * refused. So a collector or member with no pipe always gets one, however
 * many silent pipes others hold, and the deadline (idle_ms, when set)
 * then reclaims silent ones: a pipe with no message for idle_ms is
 * closed. A feed's subscribers never send, so the PUB listener has caps
 * and no deadline.
 *
 * Structures. Pipes and clients live in pools sized at start (max_pipes
 * each; a client has at least one pipe) with chained hash tables by pipe
 * id and by client key. Every pipe is on two lists ordered by its last
 * message (or its arrival): the guard's (the deadline reads its head) and
 * its client's (the eviction takes its head); clients are on lists by
 * pipe count, so the client holding the most is found at once. Every
 * operation is O(1) but the sweep, which stops at the first pipe not yet
 * due.
 *
 * Threads. The callbacks run on nng's threads, seen() and sweep() on the
 * socket's receive thread: one mutex guards everything. A pipe is taken
 * out of the tables when the guard decides to close it, and nng_pipe_close()
 * is called after the mutex is released (REM_POST for it then finds
 * nothing). nng_close() waits for the callbacks of the socket's pipes, so
 * the guard is freed after it.
 *
 * Refusing below nng. nng closes a connection by shutting it down; its
 * descriptor is released later, by its poller's reaper thread. So a
 * listener that refuses pipes as fast as an attacker reconnects holds,
 * beyond its cap, the descriptors of connections in the handshake and of
 * those closed but not yet reaped, as many as the attacker's rate times
 * that delay; on a machine whose CPUs the attack kept busy that was
 * hundreds, and EMFILE followed. nng offers no way to refuse before the
 * handshake, nor to stop accepting (its accept loop spins on errors other
 * than EMFILE), so the guard acts below it, on the listening socket that
 * it finds for its port in /proc/self/fd: a classic BPF socket filter
 * there sees every packet to the listener (SYNs, and the last ACKs of
 * handshakes under way) and drops what it returns 0 for. While the
 * listener is full, the IPv4 sources it refused are dropped there (up to
 * GUARD_DROP_MAX; IPv6 ones are not), so a refused client's reconnections
 * cost no descriptor at all, while a client with no pipe still connects
 * and is admitted by displacing one; the list is cleared as soon as the
 * listener is below its cap. And while the daemon finds descriptors
 * running short it pauses the listener: the filter drops everything.
 * Clients' kernels retry a dropped SYN; connections already established
 * are not affected (a child socket copies the filter only as it is made,
 * which a dropped handshake never is).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>

#include "feeds/bus/guard.h"

#define GUARD_SWEEP_MS  100
#define GUARD_SWEEP_MAX 16 /* pipes closed per sweep (a burst of reconnections); the rest wait */
#define GUARD_PEER_LEN  (RN_ADDR_STRLEN + 8)
#define GUARD_DROP_MAX  256 /* IPv4 sources refused while full, dropped by the filter */

enum { O_ACCEPTED, O_REFUSED, O_EVICTED_FULL, O_EVICTED_CLIENT, O_IDLE, O_COUNT };
static const char *const outcome_names[O_COUNT] = {"accepted", "refused", "evicted_full",
                                                   "evicted_per_client", "idle_closed"};

struct gpipe {
	uint32_t id;
	struct gclient *cl;
	int64_t last_ms;
	char peer[GUARD_PEER_LEN];
	TAILQ_ENTRY(gpipe) all;  /* the guard's list, least recently active first */
	TAILQ_ENTRY(gpipe) mine; /* its client's list, likewise */
	struct gpipe *hnext;     /* hash chain, or the free list */
};
TAILQ_HEAD(gpipe_list, gpipe);

struct gclient {
	uint64_t key;
	uint8_t fam;
	size_t count;
	struct gpipe_list pipes;
	TAILQ_ENTRY(gclient) bc; /* on the list of clients holding `count` pipes */
	struct gclient *hnext;
};
TAILQ_HEAD(gclient_list, gclient);

struct feeds_bus_guard {
	struct feeds_bus_guard_conf conf;
	char name[32];
	pthread_mutex_t mu;
	struct rn_metrics *metrics;
	struct gpipe *pipes, *pfree, **ph;
	struct gclient *clients, *cfree, **ch;
	unsigned bits;
	struct gpipe_list all;
	struct gclient_list *by_count; /* [0 .. max_per_client] */
	size_t maxcount, npipes;
	int64_t last_sweep;
	struct rn_counter out[O_COUNT];
	struct rn_gauge open;
	int lfd;                        /* nng's listening socket, or -1 */
	bool paused;                    /* the daemon paused it: the filter drops everything */
	bool filtered;                  /* a filter is attached */
	uint32_t drop4[GUARD_DROP_MAX]; /* refused while full: their packets are dropped */
	size_t ndrop;
	struct rn_counter pauses;
};

static size_t hash(const struct feeds_bus_guard *g, uint64_t k)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - g->bits));
}

static struct gpipe *pipe_find(struct feeds_bus_guard *g, uint32_t id)
{
	for (struct gpipe *p = g->ph[hash(g, id)]; p != NULL; p = p->hnext)
		if (p->id == id)
			return p;
	return NULL;
}

static struct gclient *client_find(struct feeds_bus_guard *g, uint8_t fam, uint64_t key)
{
	for (struct gclient *c = g->ch[hash(g, key ^ ((uint64_t)fam << 56))]; c != NULL;
	     c = c->hnext)
		if (c->key == key && c->fam == fam)
			return c;
	return NULL;
}

/* Moves c to the list of count + d (d is +1 or -1); a client at 0 goes back to the pool. */
static void client_count(struct feeds_bus_guard *g, struct gclient *c, int d)
{
	if (c->count > 0)
		TAILQ_REMOVE(&g->by_count[c->count], c, bc);
	c->count = d > 0 ? c->count + 1 : c->count - 1;
	if (c->count > 0) {
		TAILQ_INSERT_TAIL(&g->by_count[c->count], c, bc);
		if (c->count > g->maxcount)
			g->maxcount = c->count;
	} else {
		struct gclient **pp = &g->ch[hash(g, c->key ^ ((uint64_t)c->fam << 56))];
		while (*pp != c)
			pp = &(*pp)->hnext;
		*pp = c->hnext;
		c->hnext = g->cfree;
		g->cfree = c;
	}
	while (g->maxcount > 0 && TAILQ_EMPTY(&g->by_count[g->maxcount]))
		g->maxcount--;
}

/*
 * Attaches the filter the state asks for (under g->mu): everything dropped
 * while paused, the refused IPv4 sources while full, no filter otherwise.
 */
static void filter_apply(struct feeds_bus_guard *g)
{
	struct sock_filter f[6 + 2 * GUARD_DROP_MAX];
	unsigned n = 0;
	int rc, unused = 0; /* Linux wants an int even for SO_DETACH_FILTER */
	if (g->lfd < 0)
		return;
	if (!g->paused && g->ndrop == 0) {
		if (!g->filtered)
			return;
		rc = setsockopt(g->lfd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused));
		if (rc == 0 || errno == ENOENT)
			g->filtered = false;
		else
			log_warnx_rl("bus %s: cannot remove the listener's filter: %s", g->name,
			             strerror(errno));
		return;
	}
	if (g->paused) {
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	} else {
		/* Not IPv4: accepted. Else the source address against the list. */
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0);
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 1, 0);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12);
		for (size_t i = 0; i < g->ndrop; i++) {
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			                                      g->drop4[i], 0, 1);
			f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
		}
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	}
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	rc = setsockopt(g->lfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (rc == 0)
		g->filtered = true;
	else
		log_warnx_rl("bus %s: cannot filter the listener: %s", g->name, strerror(errno));
}

/* Under g->mu: the listener is below its cap again, so nobody is refused. */
static void drops_clear(struct feeds_bus_guard *g)
{
	if (g->ndrop > 0 && g->npipes < g->conf.max_pipes) {
		g->ndrop = 0;
		filter_apply(g);
	}
}

/* Under g->mu: a refused IPv4 client's packets are dropped while the listener is full. */
static void drops_add(struct feeds_bus_guard *g, uint8_t fam, uint64_t key, const char *who)
{
	if (fam != 4 || g->ndrop == GUARD_DROP_MAX)
		return;
	for (size_t i = 0; i < g->ndrop; i++)
		if (g->drop4[i] == (uint32_t)key)
			return;
	g->drop4[g->ndrop++] = (uint32_t)key;
	filter_apply(g);
	log_info_rl("bus %s: dropping new connections from %s's address while the listener is "
	            "full",
	            g->name, who);
}

/* Takes p out of the tables (the caller closes it). */
static void pipe_drop(struct feeds_bus_guard *g, struct gpipe *p)
{
	struct gpipe **pp = &g->ph[hash(g, p->id)];
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	TAILQ_REMOVE(&g->all, p, all);
	TAILQ_REMOVE(&p->cl->pipes, p, mine);
	client_count(g, p->cl, -1);
	p->hnext = g->pfree;
	g->pfree = p;
	g->npipes--;
	rn_gauge_add(&g->open, -1);
}

static void pipe_add(struct feeds_bus_guard *g, uint32_t id, uint8_t fam, uint64_t key,
                     const char *peer, int64_t now)
{
	struct gclient *c = client_find(g, fam, key);
	if (c == NULL) {
		c = g->cfree;
		g->cfree = c->hnext;
		memset(c, 0, sizeof(*c));
		c->fam = fam;
		c->key = key;
		TAILQ_INIT(&c->pipes);
		size_t h = hash(g, key ^ ((uint64_t)fam << 56));
		c->hnext = g->ch[h];
		g->ch[h] = c;
	}
	struct gpipe *p = g->pfree;
	g->pfree = p->hnext;
	p->id = id;
	p->cl = c;
	p->last_ms = now;
	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	size_t h = hash(g, id);
	p->hnext = g->ph[h];
	g->ph[h] = p;
	TAILQ_INSERT_TAIL(&g->all, p, all);
	TAILQ_INSERT_TAIL(&c->pipes, p, mine);
	client_count(g, c, +1);
	g->npipes++;
	rn_gauge_add(&g->open, 1);
}

/* The client key and a printable name of pipe p's peer. */
static void peer_of(nng_pipe p, uint8_t *fam, uint64_t *key, char *name, size_t len)
{
	nng_sockaddr sa;
	*fam = 0;
	*key = 0;
	snprintf(name, len, "unknown peer");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	char host[INET6_ADDRSTRLEN] = "";
	switch (sa.s_family) {
	case NNG_AF_INET:
		*fam = 4;
		*key = ntohl(sa.s_in.sa_addr);
		inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
		snprintf(name, len, "%s:%u", host, ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6: {
		struct rn_addr a;
		rn_addr_set_v6(&a, sa.s_in6.sa_addr); /* folds v4-mapped addresses */
		if (a.family == RN_AF_INET) {
			*fam = 4;
			*key = a.u.v4;
		} else {
			*fam = 6;
			for (int i = 0; i < 8; i++)
				*key = *key << 8 | a.u.v6[i];
		}
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host));
		snprintf(name, len, "[%s]:%u", host, ntohs(sa.s_in6.sa_port));
		break;
	}
	default:
		*fam = 1; /* ipc://, inproc://: the one local peer */
		snprintf(name, len, "a local peer");
		break;
	}
}

static void on_add(struct feeds_bus_guard *g, nng_pipe p)
{
	uint8_t fam;
	uint64_t key;
	char who[GUARD_PEER_LEN];
	uint32_t victim = 0;
	peer_of(p, &fam, &key, who, sizeof(who));
	pthread_mutex_lock(&g->mu);
	struct gclient *c = client_find(g, fam, key);
	size_t have = c != NULL ? c->count : 0;
	if (have >= g->conf.max_per_client) {
		struct gpipe *old = TAILQ_FIRST(&c->pipes);
		victim = old->id;
		rn_counter_inc(&g->out[O_EVICTED_CLIENT]);
		log_info_rl("bus %s: %s holds %zu connections, its cap; closing its least active",
		            g->name, who, have);
		pipe_drop(g, old);
	} else if (g->npipes >= g->conf.max_pipes) {
		if (have >= g->maxcount) {
			rn_counter_inc(&g->out[O_REFUSED]);
			size_t n = g->npipes;
			drops_add(g, fam, key, who);
			pthread_mutex_unlock(&g->mu);
			log_warnx_rl("bus %s: refusing %s: %zu connections open (the cap), and its "
			             "client holds %zu, as many as any",
			             g->name, who, n, have);
			nng_pipe_close(p);
			return;
		}
		struct gclient *top = TAILQ_FIRST(&g->by_count[g->maxcount]);
		struct gpipe *old = TAILQ_FIRST(&top->pipes);
		victim = old->id;
		rn_counter_inc(&g->out[O_EVICTED_FULL]);
		log_info_rl("bus %s: %zu connections open (the cap): admitting %s, whose client "
		            "holds %zu; closing %s, the least active of a client holding %zu",
		            g->name, g->npipes, who, have, old->peer, top->count);
		pipe_drop(g, old);
	}
	pipe_add(g, (uint32_t)nng_pipe_id(p), fam, key, who, rn_time_mono_ms());
	rn_counter_inc(&g->out[O_ACCEPTED]);
	pthread_mutex_unlock(&g->mu);
	if (victim != 0) {
		nng_pipe v;
		v.id = victim;
		nng_pipe_close(v);
	}
}

static void on_rem(struct feeds_bus_guard *g, nng_pipe p)
{
	pthread_mutex_lock(&g->mu);
	struct gpipe *gp = pipe_find(g, (uint32_t)nng_pipe_id(p)); /* dialed or refused: none */
	if (gp != NULL) {
		pipe_drop(g, gp);
		drops_clear(g);
	}
	pthread_mutex_unlock(&g->mu);
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct feeds_bus_guard *g = arg;
	if (ev == NNG_PIPE_EV_ADD_PRE && nng_listener_id(nng_pipe_listener(p)) > 0)
		on_add(g, p); /* pipes this socket dialed are left alone */
	else if (ev == NNG_PIPE_EV_REM_POST) {
		on_rem(g, p);
		if (g->conf.rem_chain != NULL)
			g->conf.rem_chain(p, ev, g->conf.rem_chain_arg);
	}
}

void feeds_bus_guard_seen(struct feeds_bus_guard *g, const nng_msg *msg)
{
	if (g == NULL)
		return;
	uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	pthread_mutex_lock(&g->mu);
	struct gpipe *p = pipe_find(g, id);
	if (p != NULL) {
		p->last_ms = rn_time_mono_ms();
		TAILQ_REMOVE(&g->all, p, all);
		TAILQ_INSERT_TAIL(&g->all, p, all);
		TAILQ_REMOVE(&p->cl->pipes, p, mine);
		TAILQ_INSERT_TAIL(&p->cl->pipes, p, mine);
	}
	pthread_mutex_unlock(&g->mu);
}

int64_t feeds_bus_guard_wait_ms(struct feeds_bus_guard *g, int64_t cap)
{
	if (g == NULL || g->conf.idle_ms <= 0)
		return cap;
	int64_t now = rn_time_mono_ms();
	pthread_mutex_lock(&g->mu);
	const struct gpipe *p = TAILQ_FIRST(&g->all);
	int64_t w = p != NULL ? p->last_ms + g->conf.idle_ms - now : g->conf.idle_ms / 4;
	pthread_mutex_unlock(&g->mu);
	return w < 1 ? 1 : w > cap ? cap : w;
}

void feeds_bus_guard_sweep(struct feeds_bus_guard *g)
{
	if (g == NULL || g->conf.idle_ms <= 0)
		return;
	uint32_t ids[GUARD_SWEEP_MAX];
	char who[GUARD_PEER_LEN] = "";
	size_t n = 0;
	int64_t now = rn_time_mono_ms();
	pthread_mutex_lock(&g->mu);
	if (now - g->last_sweep < GUARD_SWEEP_MS) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	g->last_sweep = now;
	struct gpipe *p;
	while (n < GUARD_SWEEP_MAX && (p = TAILQ_FIRST(&g->all)) != NULL &&
	       now - p->last_ms >= g->conf.idle_ms) {
		ids[n++] = p->id;
		snprintf(who, sizeof(who), "%s", p->peer);
		rn_counter_inc(&g->out[O_IDLE]);
		pipe_drop(g, p);
	}
	drops_clear(g);
	pthread_mutex_unlock(&g->mu);
	if (n > 0)
		log_info_rl(
		        "bus %s: closing %zu connection(s) silent for %lld ms (the last from %s)",
		        g->name, n, (long long)g->conf.idle_ms, who);
	for (size_t i = 0; i < n; i++) {
		nng_pipe v;
		v.id = ids[i];
		nng_pipe_close(v);
	}
}

static int register_metrics(struct feeds_bus_guard *g)
{
	char lab[96];
	int rc = RN_OK;
	for (int o = 0; o < O_COUNT && rc == RN_OK; o++) {
		snprintf(lab, sizeof(lab), "listener=\"%s\",outcome=\"%s\"", g->name,
		         outcome_names[o]);
		rc = rn_metrics_counter(g->metrics, g, "repnet_connections_total",
		                        RN_CONNECTIONS_HELP, lab, &g->out[o]);
	}
	snprintf(lab, sizeof(lab), "listener=\"%s\"", g->name);
	if (rc == RN_OK)
		rc = rn_metrics_gauge(g->metrics, g, "repnet_connections_open",
		                      RN_CONNECTIONS_OPEN_HELP, lab, &g->open);
	if (rc == RN_OK)
		rc = rn_metrics_counter(g->metrics, g, "repnet_accept_backoffs_total",
		                        RN_ACCEPT_BACKOFFS_HELP, lab, &g->pauses);
	return rc;
}

int feeds_bus_guard_start(struct feeds_bus_guard **out, nng_socket s,
                          const struct feeds_bus_guard_conf *c, struct rn_metrics *m)
{
	if (c->max_pipes == 0 || c->max_per_client == 0 || c->max_pipes > (1u << 24))
		return RN_ECONF;
	struct feeds_bus_guard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->conf = *c;
	snprintf(g->name, sizeof(g->name), "%s", c->name);
	g->conf.name = g->name;
	g->lfd = -1;
	pthread_mutex_init(&g->mu, NULL);
	TAILQ_INIT(&g->all);
	g->bits = 4;
	while (((size_t)1 << g->bits) < 2 * c->max_pipes)
		g->bits++;
	size_t nb = (size_t)1 << g->bits;
	/* A newcomer is added once a pipe is dropped: max_pipes of each are enough. */
	g->pipes = calloc(c->max_pipes, sizeof(*g->pipes));
	g->clients = calloc(c->max_pipes, sizeof(*g->clients));
	g->ph = calloc(nb, sizeof(*g->ph));
	g->ch = calloc(nb, sizeof(*g->ch));
	g->by_count = calloc(c->max_per_client + 1, sizeof(*g->by_count));
	int rc = -ENOMEM;
	if (g->pipes == NULL || g->clients == NULL || g->ph == NULL || g->ch == NULL ||
	    g->by_count == NULL)
		goto fail;
	for (size_t i = 0; i <= c->max_per_client; i++)
		TAILQ_INIT(&g->by_count[i]);
	for (size_t i = c->max_pipes; i-- > 0;) {
		g->pipes[i].hnext = g->pfree;
		g->pfree = &g->pipes[i];
		g->clients[i].hnext = g->cfree;
		g->cfree = &g->clients[i];
	}
	if (m != NULL) {
		g->metrics = m;
		if ((rc = register_metrics(g)) != RN_OK)
			goto fail;
	}
	int rv;
	if ((rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, pipe_cb, g)) != 0 ||
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_cb, g)) != 0) {
		log_warnx("bus %s: pipe notifications: %s", g->name, nng_strerror(rv));
		rc = RN_EBUS;
		goto fail;
	}
	*out = g;
	return RN_OK;
fail:
	feeds_bus_guard_free(g);
	return rc;
}

/* The TCP port a listening socket fd is bound to, or 0. */
static unsigned listening_port(int fd)
{
	struct stat st;
	int on = 0;
	socklen_t ol = sizeof(on);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) != 0 || !on ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int feeds_bus_guard_listener(struct feeds_bus_guard *g, unsigned port)
{
	if (port == 0)
		return RN_ENOTFOUND;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -errno;
	int found = -1;
	struct dirent *e;
	while (found < 0 && (e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end == '\0' && end != e->d_name && fd != dirfd(d) &&
		    listening_port((int)fd) == port)
			found = (int)fd;
	}
	closedir(d);
	if (found < 0)
		return RN_ENOTFOUND;
	pthread_mutex_lock(&g->mu);
	g->lfd = found;
	pthread_mutex_unlock(&g->mu);
	return RN_OK;
}

void feeds_bus_guard_pause(struct feeds_bus_guard *g, bool pause)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	if (g->lfd >= 0 && pause != g->paused) {
		g->paused = pause;
		if (pause)
			rn_counter_inc(&g->pauses);
		filter_apply(g);
	}
	pthread_mutex_unlock(&g->mu);
}

void feeds_bus_guard_unlisten(struct feeds_bus_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->paused = false;
	g->ndrop = 0;
	filter_apply(g);
	g->lfd = -1;
	pthread_mutex_unlock(&g->mu);
}

void feeds_bus_guard_free(struct feeds_bus_guard *g)
{
	if (g == NULL)
		return;
	if (g->metrics != NULL)
		rn_metrics_unregister(g->metrics, g);
	free(g->pipes);
	free(g->clients);
	free(g->ph);
	free(g->ch);
	free(g->by_count);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
