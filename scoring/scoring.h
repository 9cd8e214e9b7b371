/*
 * scoring.h: the scoring library's contract.
 *
 * The scorer keeps reputation sets (roaring bitmaps of addresses per
 * signal kind and time bucket), scores addresses by weighted, time-decayed
 * set algebra, and turns the scores into a blocklist with categories and
 * the delta against the previous one. It knows the data model (proto) and
 * nothing of collectors or feeds.
 *
 * This header grows with the scorer; today it declares the configuration
 * section only.
 */
#ifndef REPNET_SCORING_H
#define REPNET_SCORING_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The "scoring" configuration section. */
struct scoring_conf {
	int reserved_; /* no keys yet */
};
extern const struct rn_conf_key scoring_conf_keys[];

#ifdef __cplusplus
}
#endif

#endif /* REPNET_SCORING_H */
