/*
 * procmetrics.h: the standard process_* metrics that stock Prometheus
 * dashboards read, taken from /proc/self at scrape time. Internal to the
 * repnetd executable.
 */
#ifndef REPNET_PROCMETRICS_H
#define REPNET_PROCMETRICS_H

#include "proto/proto.h"

/*
 * Registers process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds under owner; rn_metrics_unregister(m, owner)
 * drops them. Nothing is allocated; each scrape reads /proc/self.
 */
int procmetrics_register(struct rn_metrics *m, const void *owner);

/*
 * Parses the fields of a /proc/PID/stat line that the metrics use. The
 * command name may hold spaces and parentheses: parsing starts after the
 * last ')'. Returns RN_OK or RN_EPARSE. For the unit test.
 */
struct procmetrics_stat {
	uint64_t utime, stime; /* clock ticks */
	uint64_t starttime;    /* clock ticks after boot */
	uint64_t vsize;        /* bytes */
	uint64_t rss;          /* pages */
};
int procmetrics_parse_stat(const uint8_t *buf, size_t len, struct procmetrics_stat *out);

#endif /* REPNET_PROCMETRICS_H */
