/*
 * protect.h: protected ranges as sorted key intervals. Internal to the
 * scoring library.
 */
#ifndef REPNET_SCORING_PROTECT_H
#define REPNET_SCORING_PROTECT_H

#include "scoring/scoring.h"

/*
 * True when [lo, hi] (keys of family: IPv4 addresses, or the upper 64
 * bits of IPv6 addresses) overlaps a protected range.
 */
bool protect_range(const struct scoring_protect *p, unsigned family, uint64_t lo, uint64_t hi);
/* The number of merged ranges, per family. */
size_t protect_count(const struct scoring_protect *p, unsigned family);

#endif /* REPNET_SCORING_PROTECT_H */
