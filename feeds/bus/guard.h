/*
 * guard.h: caps and a silence deadline for the connections (nng pipes) of
 * one listening bus socket. Internal to the bus.
 */
#ifndef REPNET_FEEDS_BUS_GUARD_H
#define REPNET_FEEDS_BUS_GUARD_H

#include <nng/nng.h>

#include "proto/proto.h"

struct feeds_bus_guard_conf {
	const char *name;      /* the listener's metric label: "ingest", "feed", "resync" */
	size_t max_pipes;      /* open connections at most (>= 1) */
	size_t max_per_client; /* of one client (IPv4 address, IPv6 /64, ipc peer) (>= 1) */
	int64_t idle_ms;       /* no message this long: closed; 0: never (a feed's subscribers) */
	/*
	 * nng keeps one callback per socket and event: another watcher of
	 * the same socket's pipe removals (the bus watch, socket.h), which
	 * the guard's own callback calls after its own work. May be NULL.
	 */
	void (*rem_chain)(nng_pipe p, nng_pipe_ev ev, void *arg);
	void *rem_chain_arg;
};

/*
 * Watches socket s's pipes from its listeners (dialed pipes are left
 * alone): a newcomer past max_per_client closes its client's least
 * recently active pipe; past max_pipes, a newcomer whose client holds
 * fewer pipes than the client holding the most closes that client's least
 * recently active pipe, else it is refused. Call before the socket
 * listens. Counted in repnet_connections_total{listener=name,outcome} and
 * repnet_connections_open{listener=name}. Free with feeds_bus_guard_free()
 * only after nng_close(s), which waits for the callbacks.
 */
struct feeds_bus_guard;
int feeds_bus_guard_start(struct feeds_bus_guard **out, nng_socket s,
                          const struct feeds_bus_guard_conf *c, struct rn_metrics *m);
/* A message arrived on msg's pipe: its silence starts again. Thread-safe. */
void feeds_bus_guard_seen(struct feeds_bus_guard *g, const nng_msg *msg);
/*
 * Closes the pipes silent for idle_ms (from the socket's receive loop;
 * does nothing when called again within 100 ms). Thread-safe.
 */
void feeds_bus_guard_sweep(struct feeds_bus_guard *g);
/*
 * How long the receive loop may wait before the next sweep can close a
 * pipe: until the least recently active one falls silent for idle_ms, or
 * a quarter of idle_ms when there is none (a pipe that connects meanwhile
 * is closed within 1.25 idle_ms); between 1 and cap ms. cap when g is NULL
 * or idle_ms is off. Thread-safe.
 */
int64_t feeds_bus_guard_wait_ms(struct feeds_bus_guard *g, int64_t cap);
/*
 * Finds the socket's TCP listening descriptor, bound to port, so that
 * feeds_bus_guard_pause() can hold new connections back (nng 1.5.2 does
 * not give it out). Once the socket listens; RN_ENOTFOUND when there is
 * none (ipc://).
 */
int feeds_bus_guard_listener(struct feeds_bus_guard *g, unsigned port);
/*
 * While pause, the kernel drops the listener's incoming SYNs (a socket
 * filter on the listening socket), so nng accepts nothing new and
 * clients retry their SYN; established connections are kept. Counted in
 * repnet_accept_backoffs_total{listener}. Thread-safe.
 */
void feeds_bus_guard_pause(struct feeds_bus_guard *g, bool pause);
/* Resumes and forgets the listening descriptor: before nng_close(). Safe on NULL. */
void feeds_bus_guard_unlisten(struct feeds_bus_guard *g);
/* Safe on NULL. */
void feeds_bus_guard_free(struct feeds_bus_guard *g);

#endif /* REPNET_FEEDS_BUS_GUARD_H */
