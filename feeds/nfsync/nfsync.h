/*
 * nfsync.h: netfilter sync, which keeps kernel sets (nftables, or ipset)
 * equal to a blocklist view: the sync engine, and repnetd's sync role that
 * runs it on a thread of its own. The engine needs no privilege: every
 * kernel operation goes through the applier (nfapply.h), a small process
 * of its own that holds CAP_NET_ADMIN. It knows the view, the applier's
 * protocol and proto.
 */
#ifndef REPNET_FEEDS_NFSYNC_H
#define REPNET_FEEDS_NFSYNC_H

#include "feeds/nfapply/nfapply.h"
#include "feeds/view/view.h"
#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration: the "sync" keys of "feeds"                          */
/* ------------------------------------------------------------------ */
/* Netfilter sync (feeds_sync_conf_keys, "sync.*"); see below. */
struct feeds_sync_conf {
	int backend;                 /* enum feeds_sync_backend */
	char *table;                 /* "inet repnet": family and name */
	char *ipset_prefix;          /* ipset set names start with this */
	bool per_category;           /* one group of sets per category */
	unsigned hooks;              /* FEEDS_SYNC_HOOK_* base chains to create */
	int64_t priority;            /* of those base chains */
	struct rn_prefix_list allow; /* never dropped: accept rules first */
	int64_t size_min;            /* smallest declared size of a hash set */
	int64_t headroom_pct;        /* declared size = elements * (100 + this) / 100 */
	int64_t max_elements;        /* per set; more is refused */
	int64_t min_prefix4;         /* shorter IPv4 prefixes are refused */
	int64_t min_prefix6;         /* shorter IPv6 prefixes are refused */
	int64_t swap_pct;            /* a repair touching more than this % loads a fresh set */
	int64_t reconcile_ms;        /* compare (and dump if needed) this often */
	int64_t dump_ms;             /* dump even when the generation held, this often */
	int64_t timeout_ms;          /* how long to wait for the applier */
	char *applier;               /* path of repnet-nfsync; NULL: beside the executable */
};
extern const struct rn_conf_key feeds_sync_conf_keys[];

/* ------------------------------------------------------------------ */
/* Netfilter sync                                                      */
/* ------------------------------------------------------------------ */

/*
 * Keeps kernel sets equal to a desired blocklist: nftables sets in one
 * table of repnet's own (default "inet repnet"), or ipset sets for hosts
 * that still run iptables. Single addresses go to hash sets ("v4", "v6"),
 * prefixes to interval sets ("net4", "net6"), normalised so that their
 * elements never overlap; with sync.per_category each category gets its
 * own group ("spam_source_v4", ...). Every change is one nfnetlink
 * transaction; bulk loads and resizes build a fresh set and swap it in
 * within the same transaction, so the live set never goes empty.
 *
 * CAP_NET_ADMIN lives only in the applier, a small process (repnet-nfsync)
 * the engine spawns and talks to over a socketpair. The engine itself
 * needs no privilege.
 *
 * The engine is not thread-safe: one thread (the sync role's) calls it.
 * The desired state is the engine's; the caller only describes it. After
 * a failure (the kernel refused, the applier died, an answer was lost)
 * the desired state still holds the change, the kernel is known to be
 * behind, and feeds_nfsync_tick() resynchronises it from a dump at once.
 */
#define FEEDS_SYNC_HOOK_INPUT   0x1u
#define FEEDS_SYNC_HOOK_FORWARD 0x2u

/* One listing: an address (a host prefix) or a prefix, and its category. */
struct feeds_nfsync_entry {
	struct rn_prefix prefix;
	uint8_t category; /* enum rn_category */
};

/* What one call did, for logs and the CLI. Counts are elements. */
struct feeds_nfsync_report {
	uint64_t added;   /* elements (or ranges) added to the kernel */
	uint64_t removed; /* elements (or ranges) removed from it */
	uint64_t missing; /* reconcile: wanted, but not in the kernel */
	uint64_t extra;   /* reconcile: in the kernel, but not wanted */
	uint64_t refused; /* entries refused (prefix too short, set full) */
	uint32_t swaps;   /* sets loaded fresh and swapped in */
	uint32_t created; /* sets created */
	uint32_t deleted; /* sets deleted */
	bool chains;      /* the chains were (re)built */
	uint32_t ops;     /* operations in the transaction */
	int64_t txn_us;   /* time from BEGIN to the applier's answer */
	int64_t total_us; /* time of the whole call */
};

struct feeds_nfsync;

/*
 * The applier's command line for conf, exactly as the engine starts it
 * (the path from sync.applier, else beside the running executable, else
 * the installed one): for a launcher that starts it on the engine's
 * behalf. argv is NULL-terminated and points into buf (at least
 * PATH_MAX + 32 bytes) and into conf, which must outlive it.
 */
#define FEEDS_NFSYNC_ARGV 12
int feeds_nfsync_applier_argv(const struct feeds_sync_conf *conf, char *buf, size_t len,
                              char *argv[FEEDS_NFSYNC_ARGV]);

/*
 * Spawns the applier and checks that it answers. Does not touch the
 * kernel: call feeds_nfsync_load() (or _adopt()) next. m may be NULL; else
 * the engine registers its metrics there (unregistered by _close()).
 * conf is copied. Free with feeds_nfsync_close().
 */
int feeds_nfsync_open(struct feeds_nfsync **out, const struct feeds_sync_conf *conf,
                      struct rn_metrics *m);
/* Stops the applier (an open transaction is abandoned) and frees s. */
void feeds_nfsync_close(struct feeds_nfsync *s);

/*
 * Replaces the desired state with v[0..n) and makes the kernel equal to
 * it: lists and dumps what is there, and applies the difference in one
 * transaction (a fresh set where a set is missing, too small, or would
 * change by more than sync.swap). Entries that are invalid for the sync
 * (a prefix shorter than sync.min_prefix4/6, an unknown category) are
 * counted in rep->refused and left out. rep may be NULL.
 */
int feeds_nfsync_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                      struct feeds_nfsync_report *rep);

/*
 * A delta: removes del[0..ndel), then adds add[0..nadd), and applies the
 * net change to the kernel as one transaction. Removing an entry that is
 * not listed, or adding one that is, changes nothing. On failure the
 * desired state keeps the delta and the kernel is resynchronised by the
 * next feeds_nfsync_tick().
 */
int feeds_nfsync_apply(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                       const struct feeds_nfsync_entry *del, size_t ndel,
                       struct feeds_nfsync_report *rep);

/*
 * Dumps the kernel sets, compares them with the desired state, counts the
 * drift (missing, extra) in rep and the metrics, and repairs it in one
 * transaction planned against the ruleset generation it dumped (retried
 * when someone else changed the ruleset in between).
 */
int feeds_nfsync_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep);

/*
 * Takes what the kernel holds as the desired state (category unspecified),
 * for one-shot tools that change a running blocklist by hand.
 */
int feeds_nfsync_adopt(struct feeds_nfsync *s);

/*
 * Periodic work: reconciles every sync.reconcile_interval, and at once
 * when the kernel is behind after a failure (respawning the applier if it
 * died). *next_ms (may be NULL) gets the monotonic time of the next due
 * call. Returns the result of the reconcile it ran, or RN_OK.
 */
int feeds_nfsync_tick(struct feeds_nfsync *s, int64_t now_ms, int64_t *next_ms);

/* One element as the kernel holds it: lo == hi for a single address. */
struct feeds_nfsync_item {
	const char *set; /* the set's name, e.g. "v4" or "repnet_net6" */
	struct rn_addr lo;
	struct rn_addr hi;
};
/*
 * Dumps every set of ours from the kernel through the applier and calls
 * cb for each element; a non-zero return from cb stops the walk and is
 * returned.
 */
int feeds_nfsync_dump(struct feeds_nfsync *s,
                      int (*cb)(const struct feeds_nfsync_item *it, void *arg), void *arg);

/* Removes every kernel object of ours (the table, or our ipsets). */
int feeds_nfsync_destroy(struct feeds_nfsync *s);

/* The applier's process id (for tests that kill it), or -1. */
int feeds_nfsync_applier_pid(const struct feeds_nfsync *s);
/* True when the kernel is known to equal the desired state. */
bool feeds_nfsync_in_sync(const struct feeds_nfsync *s);

/* ------------------------------------------------------------------ */
/* The sync role                                                      */
/* ------------------------------------------------------------------ */

/*
 * repnetd's sync role: netfilter sets (feeds_nfsync) follow a view's
 * change log on a thread of their own. view must outlive it. Free with
 * feeds_sync_stop().
 */
struct feeds_sync;
int feeds_sync_start(struct feeds_sync **out, const struct feeds_sync_conf *conf,
                     const struct feeds_view *view, struct rn_metrics *m);
void feeds_sync_stop(struct feeds_sync *s);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_NFSYNC_H */
