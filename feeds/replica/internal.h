/*
 * internal.h: the replica's and federation's hooks for tests. Internal to
 * the replica library.
 */
#ifndef REPNET_FEEDS_REPLICA_INTERNAL_H
#define REPNET_FEEDS_REPLICA_INTERNAL_H

#include "feeds/replica/replica.h"

/* Re-offers everything now (the periodic refresh, for tests). */
void feeds_federation_refresh(struct feeds_federation *f);
/* Drops the listings expired at now_ms; returns how many (the sweeper's work). */
size_t feeds_replica_sweep(struct feeds_replica *r, int64_t now_ms);

#endif /* REPNET_FEEDS_REPLICA_INTERNAL_H */
