/*
 * socket.h: opening nng sockets the one way repnet does: with an explicit
 * receive limit, reconnect backoff, and TLS for tls+tcp:// URLs.
 * Internal to the bus.
 */
#ifndef REPNET_FEEDS_BUS_SOCKET_H
#define REPNET_FEEDS_BUS_SOCKET_H

#include <nng/nng.h>

#include "feeds/bus/bus.h"

/* Applies the receive limit and reconnect times to a new socket. */
int feeds_bus_setup(nng_socket s, const struct feeds_bus_conf *c, size_t recv_max);
/*
 * Listens on url (TLS when it is tls+tcp://); logs and returns RN_EBUS on
 * failure. *port (if not NULL) gets the TCP port bound, for ":0" URLs.
 */
int feeds_bus_listen(nng_socket s, const char *url, const struct feeds_bus_conf *c, unsigned *port);
/* Dials url in the background (reconnecting with backoff). */
int feeds_bus_dial(nng_socket s, const char *url, const struct feeds_bus_conf *c);
/*
 * True when url would take plain TCP (tcp://, ws://) on an address other
 * than loopback: feeds_bus_listen() refuses it unless c->allow_plaintext.
 */
bool feeds_bus_url_plaintext_remote(const char *url);

/* "192.0.2.1:7400", "[2001:db8::1]:7400", "ipc:/path", "inproc" or "unknown". */
void feeds_bus_peer_format(const nng_sockaddr *sa, char *buf, size_t len);
/* The remote address of a pipe (a message's nng_msg_get_pipe()), formatted. */
void feeds_bus_pipe_peer(nng_pipe p, char *buf, size_t len);

/*
 * The watch (watch.c): counts a socket's connections that closed before
 * delivering a message (what an oversized message does; see watch.c for
 * exactly what is counted) in repnet_bus_pipes_closed_before_message_total
 * {socket="name"}, and logs each with its peer (rate-limited). It takes
 * the socket's ADD_POST and REM_POST pipe notifications. Start it before
 * the socket listens or dials; mark every message received with
 * feeds_bus_watch_rx(); call feeds_bus_watch_closing() before nng_close()
 * and feeds_bus_watch_free() after it. m may be NULL. All safe on NULL.
 */
struct feeds_bus_watch;
int feeds_bus_watch_start(struct feeds_bus_watch **out, nng_socket s, const char *name,
                          uint64_t recv_max, struct rn_metrics *m);
void feeds_bus_watch_rx(struct feeds_bus_watch *w, nng_msg *msg);
void feeds_bus_watch_closing(struct feeds_bus_watch *w);
uint64_t feeds_bus_watch_count(const struct feeds_bus_watch *w);
void feeds_bus_watch_free(struct feeds_bus_watch *w);
/*
 * The watch's pipe callback, arg the watch: for a socket whose REM_POST
 * notification another watcher took (nng keeps one per event), which then
 * calls this after its own (the guard's rem_chain, guard.h).
 */
void feeds_bus_watch_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg);

/*
 * The bus's TLS engine (tls.c): mbed TLS for nng, which logs each failed
 * handshake with its peer and reason (rate-limited) and counts it in
 * repnet_bus_tls_failures_total{side,reason}. feeds_bus_tls_engine()
 * registers it with nng once per process (the TLS configurations made
 * after it use it); feeds_bus_listen() and feeds_bus_dial() call it.
 * feeds_bus_tls_metrics() registers the process-wide counters in m (again
 * in the same m: RN_OK).
 */
int feeds_bus_tls_engine(void);
int feeds_bus_tls_metrics(struct rn_metrics *m);
/* The counter's value, for tests. */
uint64_t feeds_bus_tls_failures(bool listener, enum feeds_tls_reason r);
/*
 * The reason for a failed handshake: err the mbed TLS error, flags the
 * certificate verification flags (0 when none was checked), io_closed
 * when the connection beneath failed.
 */
enum feeds_tls_reason feeds_bus_tls_classify(int err, uint32_t flags, bool io_closed);

#endif /* REPNET_FEEDS_BUS_SOCKET_H */
