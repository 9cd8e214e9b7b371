/*
 * decisions.h: the CrowdSec-compatible decision stream, started by the
 * serve role. Internal to the local RBL; tests include it.
 */
#ifndef REPNET_FEEDS_RBL_DECISIONS_H
#define REPNET_FEEDS_RBL_DECISIONS_H

#include "feeds/rbl/rbl.h"

/* ------------------------------------------------------------------ */
/* CrowdSec-compatible decision stream                                 */
/* ------------------------------------------------------------------ */

/*
 * GET /v1/decisions/stream?startup=true|false for CrowdSec bouncers. A
 * request without a configured X-Api-Key gets 403. Each key has its own
 * position: it gets the changes since its last poll, or the full state on
 * startup=true or when the view's history no longer reaches back. Also
 * GET /v1/decisions (live mode: ip=, range=, contains=, scope= and
 * value=, type=), answered with a JSON array of decisions or null, which
 * does not move the key's position. With c->state_dir set, each key's
 * position (the values its bouncer holds) is saved under
 * state_dir/decisions/ and read back here, so that the first poll after a
 * restart deletes what was delisted meanwhile. c and v must outlive the
 * listener. Free with feeds_decisions_free() after
 * feeds_http_stop().
 */
struct feeds_decisions;
int feeds_decisions_start(struct feeds_decisions **out, struct feeds_http *h,
                          const struct feeds_rbl_conf *c, const struct feeds_view *v,
                          struct rn_metrics *m);
void feeds_decisions_free(struct feeds_decisions *d);

#endif /* REPNET_FEEDS_RBL_DECISIONS_H */
