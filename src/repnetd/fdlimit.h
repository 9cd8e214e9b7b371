/*
 * fdlimit.h: repnetd's descriptor limit and each listener's share of it.
 * Internal to the repnetd executable.
 */
#ifndef REPNET_FDLIMIT_H
#define REPNET_FDLIMIT_H

#include "src/common/sections.h"

/* The listeners whose connections hold descriptors, in this order. */
enum fd_listener {
	FD_HTTP,
	FD_DNSBL,
	FD_POLICY,
	FD_SYSLOG,
	FD_INGEST,
	FD_FEED,
	FD_RESYNC,
	FD_LISTENERS
};
/* Their metric labels (repnet_connections_total{listener}). */
extern const char *const fd_listener_names[FD_LISTENERS];

struct fd_budget {
	uint64_t limit;            /* the soft RLIMIT_NOFILE, raised */
	uint64_t was;              /* the soft limit found at start */
	uint64_t hard;             /* the hard limit */
	uint64_t reserve;          /* for files, helpers, the bus's handshakes and internals */
	uint64_t shared;           /* limit - reserve: what the listeners' caps share */
	int64_t configured;        /* the enabled listeners' caps, as configured, in all */
	int64_t cap[FD_LISTENERS]; /* each enabled listener's cap once applied; 0: not enabled */
	_Atomic bool short_;       /* fd_watch: descriptors run short, the bus is paused */
};

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (at start, before any
 * thread) and fills the limits and the reserve of b. Logs what it did.
 */
int fd_limit_raise(struct fd_budget *b);
/*
 * Lowers the connection caps of c's enabled listeners, in proportion, so
 * that together they fit b->shared, and records them in b->cap. With log,
 * each lowered key is logged. Deterministic: a reload applies it to the
 * new configuration before comparing it with the running one.
 */
void fd_budget_apply(struct fd_budget *b, struct daemon_conf *c, bool log);
/* Descriptors open now (/proc/self/fd), or -1. */
long fd_count_open(void);
/* Writes b as the "descriptors" object of /status (after its key). */
void fd_budget_json(const struct fd_budget *b, struct rn_jsonw *w);

/*
 * A thread that counts the open descriptors every 20 ms (less often when
 * counting them takes over 1 ms; it costs at most 5% of a core): once more than
 * limit - reserve / 2 are open they run short, until fewer than limit -
 * 3/4 of the reserve are; fn(arg, short) is called on the thread at each
 * change (the daemon pauses the bus's listeners). b must outlive the watch; its
 * short_ follows. Free with fd_watch_stop().
 */
struct fd_watch;
int fd_watch_start(struct fd_watch **out, struct fd_budget *b, void (*fn)(void *arg, bool short_),
                   void *arg, struct rn_metrics *m);
/* Stops the thread (fn is not called after it returns). Safe on NULL. */
void fd_watch_stop(struct fd_watch *w);

#endif /* REPNET_FDLIMIT_H */
