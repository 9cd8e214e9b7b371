/*
 * priv.h: repnetd's privileges: whether and when it becomes core.user,
 * and the launcher that starts the privileged helpers afterwards.
 * Internal to the repnetd executable.
 */
#ifndef REPNET_PRIV_H
#define REPNET_PRIV_H

#include "src/common/sections.h"

struct priv {
	bool root;    /* started as root */
	bool drop;    /* becomes user once the roles are started */
	bool dropped; /* has become it */
	struct rn_priv_user user;
	char reason[200]; /* when root and not dropping: why */
	struct rn_launcher *launcher;
	char launcher_path[4096];
	struct rn_metrics *m;
	struct rn_gauge g_dropped;
};

/*
 * Before any thread exists, after the configuration is loaded and the
 * data directory made: decides whether to drop (root, core.user exists
 * and is not root), gives the data directory to the user, starts the
 * launcher when a role needs a privileged helper, and does the first half
 * of the drop (rn_priv_prepare). Logs why on failure; the caller exits.
 */
int priv_start(struct priv *p, const struct daemon_conf *c, bool foreground, int log_level);
/* Once every role is started: the second half. A failure is fatal. */
void priv_finish(struct priv *p);
/* repnet_privileges_dropped, and the launcher's metrics. */
int priv_metrics(struct priv *p, struct rn_metrics *m);
/* The "privileges" member of GET /status. */
void priv_status(void *arg, struct rn_jsonw *w);
/* After every role stopped: stops the launcher. */
void priv_stop(struct priv *p);

#endif /* REPNET_PRIV_H */
