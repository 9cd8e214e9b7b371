/*
 * roles.h: repnetd's roles wired together: collect, score, publish,
 * serve, sync, and federation with other members. Internal to repnetd.
 */
#ifndef REPNET_ROLES_H
#define REPNET_ROLES_H

#include "src/common/sections.h"
#include "fdlimit.h"

struct roles;

/*
 * Starts every role c->core.roles names, in pipeline order. c must stay
 * valid until roles_reload() replaces it or roles_stop_late() returns.
 * http may be NULL. On failure everything started is stopped again.
 */
int roles_start(struct roles **out, const struct daemon_conf *c, struct rn_metrics *m,
                struct feeds_http *http);
/*
 * Stops (pause) or resumes accepting new connections on the bus's
 * listeners (ingest, feed, resync), while descriptors run short.
 * Thread-safe while the roles run.
 */
void roles_pause_bus(struct roles *r, bool pause);
/* Applies a reloaded configuration where the roles can (the scorer's weights and lists). */
void roles_reload(struct roles *r, const struct daemon_conf *c);
/*
 * Stops the pipeline from its sources down: collectors drain into the
 * ingest queue, which gets grace_ms to be acknowledged; the scorer writes
 * its final snapshot; the publisher and subscriptions stop.
 */
void roles_stop_early(struct roles *r, int64_t grace_ms);
/* After the HTTP listener stopped: the local RBL, sync, the replica. Frees r. Safe on NULL. */
void roles_stop_late(struct roles *r);
/* The scorer (score role), or NULL. */
struct scoring *roles_scorer(struct roles *r);
/* The list the DNSBL and the policy service answer from (serve role), or NULL. */
const struct feeds_view *roles_view(struct roles *r);
/* The DNSBL's port (serve role), or 0. */
unsigned roles_dnsbl_port(struct roles *r);
/*
 * A JSON object describing every role's state, for GET /status. *out is
 * malloc'd. extra (may be NULL) adds members of the process's own.
 */
int roles_status(struct roles *r, void (*extra)(void *arg, struct rn_jsonw *w), void *arg,
                 char **out, size_t *len);

#endif /* REPNET_ROLES_H */
