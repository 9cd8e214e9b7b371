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

#endif /* REPNET_FEEDS_BUS_SOCKET_H */
