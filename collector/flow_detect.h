/*
 * flow_detect.h: the flow detectors. Internal to the collector library.
 *
 * Records go in (flow_detect_feed), observations come out through a
 * collector_sink. A detector is not locked: one thread feeds it at a time
 * (the live collector serialises its workers with a mutex). Event time is
 * the records' time: windows advance with the largest last_ms seen. Live,
 * the wait for a reverse direction is measured by the wall clock instead
 * (flow_detect_tick).
 */
#ifndef REPNET_COLLECTOR_FLOW_DETECT_H
#define REPNET_COLLECTOR_FLOW_DETECT_H

#include "collector/collector.h"

struct flow_detect;

/* Counters of the detector, for metrics and tests (single writer). */
struct flow_detect_stats {
	struct rn_counter records;          /* records looked at */
	struct rn_counter conversations;    /* both directions seen */
	struct rn_counter completed;        /* of which TCP handshakes completed */
	struct rn_counter oneway;           /* records whose reverse never came */
	struct rn_counter pending_evicted;  /* waiting records pushed out by the cap */
	struct rn_counter sources_evicted;  /* per-address state pushed out by the cap */
	struct rn_counter obs[RN_KIND_MAX]; /* observations by kind (flow kinds only) */
	struct rn_gauge pending;
	struct rn_gauge sources;
};

/*
 * Allocates a detector with the thresholds and caps of c. Observations go
 * to sink (which must outlive the detector). Metrics are registered in m
 * under owner when m is not NULL. Free with flow_detect_free().
 */
int flow_detect_alloc(struct flow_detect **out, const struct collector_flow_conf *c,
                      const struct collector_sink *sink, struct rn_metrics *m, const void *owner);
void flow_detect_free(struct flow_detect *d);
void flow_detect_feed(struct flow_detect *d, const struct collector_flow_rec *r, size_t n);
/*
 * Live only: records wait for their reverse by the wall clock rather than
 * by event time, so that a one-way record is classified pair_window after
 * it arrived even when no later record comes. Call about once a second.
 */
void flow_detect_tick(struct flow_detect *d, int64_t wall_ms);
/*
 * True when no record waits for its reverse and no observation is
 * pending: flow_detect_tick() has nothing to do until records come.
 */
bool flow_detect_idle(const struct flow_detect *d);
/*
 * Ends the input: every waiting record is classified as one-way, and
 * pending observations are emitted.
 */
void flow_detect_flush(struct flow_detect *d);
const struct flow_detect_stats *flow_detect_stats(const struct flow_detect *d);
/* Observations emitted so far. */
uint64_t flow_detect_emitted(const struct flow_detect *d);

#endif /* REPNET_COLLECTOR_FLOW_DETECT_H */
