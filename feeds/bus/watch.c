/*
 * watch.c: what nng does not count on a bus socket: connections that
 * closed before they delivered a message, and who was at the other end.
 *
 * Design notes. nng 1.5.2 enforces NNG_OPT_RECVMAXSZ in its transports:
 * when a message's length header says more than the limit, the transport
 * fails the receive with NNG_EMSGSIZE and the pipe is closed. Nothing
 * reaches the application, nng 1.5.2 has no log, and the only trace is
 * the listener's or dialer's "other" error statistic, which every clean
 * disconnect bumps as well (measured: a REQ that sends one message,
 * reads its answer and closes adds one to the REP listener's "other"). A
 * REQ peer resends an unanswered request on its next connection, so an
 * oversized request comes back on a fresh pipe again and again.
 *
 * So the watch keeps, per socket, a small table of its open pipes (added
 * on NNG_PIPE_EV_ADD_POST, with the peer's address, which nng may no
 * longer report once the pipe is gone), the owner marks the pipe of each
 * message it receives (feeds_bus_watch_rx()), and a pipe removed without
 * having delivered anything is counted and logged with its peer. What
 * that counts exactly: every connection on which an oversized message was
 * the first one (so every resend of an oversized request), and every
 * connection that closed without sending a message at all (a port scan,
 * a health check, a client that stopped while idle). It does not count an
 * oversized message that follows good ones on the same connection, which
 * on a feed subscription is the usual case; the sender-side checks (the
 * ingest client splits a batch to fit bus.recv_max, the publisher counts
 * what it builds over it) cover those. Pipes closed by our own
 * nng_close() are not counted.
 *
 * Watched: the ingest listener (collectors send as soon as they have
 * something, so a silent connection is rare), and a subscription's feed
 * and resync sockets (the publisher sends heartbeats; a subscription asks
 * for a resync when it connects). Not watched: the publisher's resync
 * listener and the ingest client, whose peers may stay connected and
 * silent for hours and whose messages are a few bytes (4 KiB limit).
 *
 * nng calls pipe callbacks from its own threads, for different pipes at
 * once: the table is under a mutex. It tracks up to WATCH_MAX / 2 open
 * pipes (half full at most, so probes stay short); pipes beyond that are
 * not tracked and never counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "feeds/bus/socket.h"

#define WATCH_MAX 1024

struct wpipe {
	uint32_t id; /* 0: free */
	bool delivered;
	char peer[64];
};

struct feeds_bus_watch {
	pthread_mutex_t mu;
	struct wpipe *v; /* open addressing by pipe id, linear probing */
	size_t n;
	bool closing;
	char name[64];
	struct rn_metrics *metrics;
	struct rn_counter silent; /* several writers: nng's threads */
	uint64_t recv_max;
};

void feeds_bus_peer_format(const nng_sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	switch (sa->s_family) {
	case NNG_AF_INET:
		inet_ntop(AF_INET, &sa->s_in.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sa->s_in.sa_port));
		break;
	case NNG_AF_INET6:
		inet_ntop(AF_INET6, sa->s_in6.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sa->s_in6.sa_port));
		break;
	case NNG_AF_IPC:
		snprintf(buf, len, "ipc:%s", sa->s_ipc.sa_path);
		break;
	case NNG_AF_INPROC:
		snprintf(buf, len, "inproc");
		break;
	default:
		snprintf(buf, len, "unknown");
		break;
	}
}

void feeds_bus_pipe_peer(nng_pipe p, char *buf, size_t len)
{
	nng_sockaddr sa;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		snprintf(buf, len, "unknown");
	else
		feeds_bus_peer_format(&sa, buf, len);
}

static struct wpipe *slot(struct feeds_bus_watch *w, uint32_t id, bool create)
{
	size_t mask = WATCH_MAX - 1, k = (id * 2654435761u) & mask;
	for (size_t i = 0; i < WATCH_MAX; i++, k = (k + 1) & mask) {
		if (w->v[k].id == id)
			return &w->v[k];
		if (w->v[k].id == 0)
			return create ? &w->v[k] : NULL;
	}
	return NULL;
}

/* Backward-shift deletion keeps every probe sequence unbroken. */
static void slot_remove(struct feeds_bus_watch *w, struct wpipe *e)
{
	size_t mask = WATCH_MAX - 1, i = (size_t)(e - w->v);
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (w->v[j].id == 0)
			break;
		size_t home = (w->v[j].id * 2654435761u) & mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			w->v[i] = w->v[j];
			i = j;
		}
	}
	memset(&w->v[i], 0, sizeof(w->v[i]));
	w->n--;
}

void feeds_bus_watch_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct feeds_bus_watch *w = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	char peer[64];
	if (ev == NNG_PIPE_EV_ADD_POST)
		feeds_bus_pipe_peer(p, peer, sizeof(peer));
	pthread_mutex_lock(&w->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		struct wpipe *e = w->n < WATCH_MAX / 2 ? slot(w, id, true) : NULL;
		if (e != NULL && e->id == 0) {
			e->id = id;
			e->delivered = false;
			snprintf(e->peer, sizeof(e->peer), "%s", peer);
			w->n++;
		}
		pthread_mutex_unlock(&w->mu);
		return;
	}
	struct wpipe *e = slot(w, id, false);
	bool silent = false;
	if (e != NULL) {
		silent = !e->delivered && !w->closing;
		snprintf(peer, sizeof(peer), "%s", e->peer);
		slot_remove(w, e);
	}
	pthread_mutex_unlock(&w->mu);
	if (silent) {
		rn_counter_add_shared(&w->silent, 1);
		RN_LOG_RL(RN_LOG_NOTICE,
		          "bus: %s: a connection from %s closed before delivering a message "
		          "(one over bus.recv_max = %llu bytes, which nng drops, or none at all)",
		          w->name, peer, (unsigned long long)w->recv_max);
	}
}

int feeds_bus_watch_start(struct feeds_bus_watch **out, nng_socket s, const char *name,
                          uint64_t recv_max, struct rn_metrics *m)
{
	struct feeds_bus_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->v = calloc(WATCH_MAX, sizeof(*w->v));
	if (w->v == NULL) {
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->recv_max = recv_max;
	int rv;
	if ((rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, feeds_bus_watch_pipe_cb, w)) != 0 ||
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, feeds_bus_watch_pipe_cb, w)) != 0) {
		log_warnx("bus: %s: pipe notifications: %s", name, nng_strerror(rv));
		feeds_bus_watch_free(w);
		return RN_EBUS;
	}
	if (m != NULL) {
		char l[96];
		snprintf(l, sizeof(l), "socket=\"%s\"", name);
		int rc = rn_metrics_counter(
		        m, w, "repnet_bus_pipes_closed_before_message_total",
		        "Bus connections that closed before delivering a message: one whose first "
		        "message was over bus.recv_max (nng closes the connection), or one that "
		        "sent "
		        "nothing.",
		        l, &w->silent);
		if (rc != RN_OK) {
			feeds_bus_watch_free(w);
			return rc;
		}
		w->metrics = m;
	}
	*out = w;
	return RN_OK;
}

void feeds_bus_watch_rx(struct feeds_bus_watch *w, nng_msg *msg)
{
	if (w == NULL)
		return;
	uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	pthread_mutex_lock(&w->mu);
	struct wpipe *e = slot(w, id, false);
	if (e != NULL)
		e->delivered = true;
	pthread_mutex_unlock(&w->mu);
}

void feeds_bus_watch_closing(struct feeds_bus_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_mutex_unlock(&w->mu);
}

uint64_t feeds_bus_watch_count(const struct feeds_bus_watch *w)
{
	return w != NULL ? rn_counter_get(&w->silent) : 0;
}

void feeds_bus_watch_free(struct feeds_bus_watch *w)
{
	if (w == NULL)
		return;
	if (w->metrics != NULL)
		rn_metrics_unregister(w->metrics, w);
	pthread_mutex_destroy(&w->mu);
	free(w->v);
	free(w);
}
