/*
 * replica.h: a member's replica of a feed, the live blocklist its local
 * consumers read through a feeds_view; and federation, which turns other
 * members' feeds into observations for the local scorer when enough of
 * them agree.
 *
 * Both are driven by subscriptions (bus.h): they are given as a
 * subscription's on_change and run on its thread. The replica knows the
 * bus, the view, scoring and proto.
 */
#ifndef REPNET_FEEDS_REPLICA_H
#define REPNET_FEEDS_REPLICA_H

#include "feeds/bus/bus.h"
#include "feeds/view/view.h"
#include "proto/proto.h"
#include "scoring/scoring.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Federation: other members' feeds become observations of kind
 * RN_KIND_PEER_LISTED for the local scorer, but only for entries that at
 * least `quorum` members list, or that one member of weight >=
 * weight_alone lists. Subscribe to each member with the circuit breaker
 * on, register it with feeds_federation_add() before it starts, and give
 * it feeds_federation_on_change (arg: the federation) as its on_change.
 */
struct feeds_federation;
struct feeds_federation_opts {
	int64_t quorum;                        /* k of the members */
	double weight_alone;                   /* 0: no member lists alone */
	int64_t refresh_ms;                    /* re-offer agreed entries this often */
	const struct scoring_protect *protect; /* never offered; may be NULL */
	/* Where observations go (the local scorer's ingest). */
	void (*emit)(void *arg, const struct rn_obs *obs, size_t n);
	void *arg;
	struct rn_metrics *metrics; /* may be NULL */
	bool no_thread;             /* no periodic refresh (tests) */
};
int feeds_federation_start(struct feeds_federation **out, const struct feeds_federation_opts *o);
int feeds_federation_add(struct feeds_federation *f, const struct feeds_sub *s, const char *name,
                         double weight);
void feeds_federation_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                                const struct scoring_table *new_t, const struct scoring_delta *d);
void feeds_federation_stop(struct feeds_federation *f);

/*
 * The replica: the member's live blocklist for local consumers, a list
 * view kept equal to one subscription's enforceable entries. Give the
 * subscription feeds_replica_on_change (arg: the replica) as its
 * on_change. Listings past their expiry are swept out every sweep_ms, so
 * a feed that stops decays to empty. Free with feeds_replica_free() after
 * the subscription and every reader have stopped.
 */
struct feeds_replica;
int feeds_replica_alloc(struct feeds_replica **out, size_t history, int64_t sweep_ms,
                        struct rn_metrics *m);
void feeds_replica_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                             const struct scoring_table *new_t, const struct scoring_delta *d);
void feeds_replica_view(struct feeds_replica *r, struct feeds_view *v);
size_t feeds_replica_count(struct feeds_replica *r);
void feeds_replica_free(struct feeds_replica *r);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_REPLICA_H */
