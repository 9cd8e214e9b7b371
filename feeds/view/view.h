/*
 * view.h: the blocklist view, the contract between whatever holds a
 * member's blocklist (the replica, a list file) and the local consumers
 * that read it (the DNSBL, the policy service, the decision stream,
 * exports, netfilter sync); and the list view, the in-memory blocklist
 * that implements it.
 *
 * The view library knows only proto. Its readers never block its writer
 * and allocate nothing; ownership and threads are stated per function.
 */
#ifndef REPNET_FEEDS_VIEW_H
#define REPNET_FEEDS_VIEW_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The blocklist view: what local consumers read                        */
/* ------------------------------------------------------------------ */

/*
 * The local consumers of a member's blocklist (the DNSBL, the policy
 * service, exports, the decision stream, netfilter sync) read it through
 * this interface. The replica implements it over the live state, updated
 * in place as deltas arrive; tests may implement it over a fixed list.
 *
 * Categories are a bitmask: bit c is set for enum rn_category c.
 */
struct feeds_view_entry {
	struct rn_prefix prefix; /* a host is /32 or /128 */
	uint32_t categories;
	int64_t expires_ms;
};

enum feeds_view_change {
	FEEDS_VIEW_ADDED = 1,
	FEEDS_VIEW_REMOVED = 2,
};

struct feeds_view {
	void *arg;
	/*
	 * The categories listing a, or 0; *expires_ms gets the latest expiry
	 * among them. The most specific listing covering a counts (a host
	 * listing, else the longest listed prefix). Called concurrently from
	 * many threads while the replica changes: it must be lock-free or
	 * nearly so, and allocate nothing.
	 */
	uint32_t (*lookup)(void *arg, const struct rn_addr *a, int64_t *expires_ms);
	/*
	 * Calls fn for every entry of one consistent state, in address order,
	 * and returns that state's version. fn returning non-zero stops the
	 * walk and is returned.
	 */
	int (*walk)(void *arg, int (*fn)(void *fnarg, const struct feeds_view_entry *e),
	            void *fnarg, uint64_t *version);
	/*
	 * Calls fn for each change after version `since` up to the current
	 * version (returned in *version), oldest first. RN_ENOTFOUND when the
	 * history no longer reaches back to `since`: the caller must walk the
	 * full state instead.
	 */
	int (*changes)(void *arg, uint64_t since,
	               int (*fn)(void *fnarg, enum feeds_view_change what,
	                         const struct feeds_view_entry *e),
	               void *fnarg, uint64_t *version);
	/*
	 * Optional (NULL: consumers poll). Registers fn(fnarg), called after
	 * every change, on the writer's thread and outside the view's lock,
	 * so that a consumer following the change log wakes at once instead
	 * of at its next poll. One watcher; a new one replaces the old, and
	 * NULL removes it. fn must be quick and must not call into the view.
	 */
	void (*watch)(void *arg, void (*fn)(void *fnarg), void *fnarg);
};

/* ------------------------------------------------------------------ */
/* The list view: a blocklist held in memory                          */
/* ------------------------------------------------------------------ */

/*
 * A feeds_view over a list held in memory, updated in place while it is
 * read. IPv4 hosts are kept in 65536 buckets keyed by the upper 16 bits,
 * each a small sorted array of the lower 16 bits with a one-byte class
 * (categories and expiry); prefixes and IPv6 in per-length sorted
 * tables. Readers take no lock: updates copy the buckets they change and
 * free the old ones only after every reader that could see them is gone.
 * At 1M random IPv4 hosts it holds about 3 MB.
 *
 * It is what the replica holds, what the serve role reads from a list
 * file, what `repnet export` reads, and what the tests apply "deltas" to.
 */
struct feeds_listview;

/*
 * history is how many changes the view remembers for feeds_view.changes
 * (0: none; the decision stream then always sends the full state). Free
 * with feeds_listview_free().
 */
int feeds_listview_alloc(struct feeds_listview **out, size_t history);
/* Safe on NULL. No reader may be inside the view. */
void feeds_listview_free(struct feeds_listview *lv);
/* Fills v with the view's functions; v is valid while lv lives. */
void feeds_listview_view(struct feeds_listview *lv, struct feeds_view *v);

/*
 * Applies one batch: entries in add are inserted or replace the entry of
 * the same prefix; prefixes in del are removed (absent ones are ignored).
 * The batch becomes one new version. Entries must have categories != 0
 * and a prefix with zero host bits (RN_EPARSE otherwise). More than 254
 * distinct (categories, expiry) pairs among IPv4 hosts is RN_ELIMIT. On
 * failure nothing changed. Writers are serialised internally.
 */
int feeds_listview_apply(struct feeds_listview *lv, const struct feeds_view_entry *add, size_t nadd,
                         const struct rn_prefix *del, size_t ndel);
/*
 * Makes the content equal to e[0..n) (duplicates: the last wins) by
 * applying the difference as one batch (through a bulk load, below). e
 * is not changed.
 */
int feeds_listview_replace(struct feeds_listview *lv, struct feeds_view_entry *e, size_t n);

/*
 * A bulk load: a full new content gathered entry by entry in a compact
 * builder (4 bytes an IPv4 host from one source, 5 with several
 * (categories, expiry) pairs; other entries whole), then made the view's
 * content by feeds_listview_replace_load(). For list files and
 * snapshots: no array of entries, no comparison sort. Free with
 * feeds_listview_load_free(). Not thread-safe: one writer per builder.
 */
struct feeds_listview_load;

int feeds_listview_load_alloc(struct feeds_listview_load **out);
/* Safe on NULL. */
void feeds_listview_load_free(struct feeds_listview_load *ld);
/*
 * Appends a copy of e. RN_EPARSE for an entry apply() would refuse,
 * RN_ELIMIT past 255 distinct (categories, expiry) pairs among IPv4
 * hosts or 2^32 - 1 hosts; the builder keeps what it had.
 */
int feeds_listview_load_add(struct feeds_listview_load *ld, const struct feeds_view_entry *e);
/* Entries added so far (duplicates included). */
size_t feeds_listview_load_count(const struct feeds_listview_load *ld);
/*
 * Makes lv's content equal to what ld gathered (duplicates: the last
 * added wins), as one batch with the same versions and change log as
 * feeds_listview_replace(). ld is emptied, whether or not it succeeds.
 * On failure (RN_ELIMIT: too many classes, -ENOMEM) nothing changed,
 * but for an allocation failure part-way, which leaves a consistent
 * state as apply() does. Readers are never blocked.
 */
int feeds_listview_replace_load(struct feeds_listview *lv, struct feeds_listview_load *ld);
/* Number of entries, and bytes held by the lookup structure. */
size_t feeds_listview_count(struct feeds_listview *lv);
size_t feeds_listview_memory(struct feeds_listview *lv);
uint64_t feeds_listview_version(struct feeds_listview *lv);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_VIEW_H */
