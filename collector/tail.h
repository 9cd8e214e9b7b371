/*
 * tail.h: following log files across rotation and truncation, with the
 * read position kept across restarts. Internal to the collector.
 */
#ifndef REPNET_COLLECTOR_TAIL_H
#define REPNET_COLLECTOR_TAIL_H

#include <sys/types.h>

#include "collector/smtp.h"

/* Counters of one tailer; one writer (its thread). */
struct tail_counters {
	struct rn_counter rotations; /* rename + create */
	struct rn_counter truncations;
	struct rn_counter rotated_reads; /* lines recovered from "path.1" */
	struct rn_counter saves;
	struct rn_counter errors;
	struct rn_gauge files_open;
	struct rn_gauge files_missing; /* configured but not open: absent or unreadable */
};

struct tailer;

/*
 * Follows every path in paths, feeding pipe from its own thread (one
 * thread for all files; inotify on their directories plus a poll every
 * poll_ms). Positions are saved in state_dir every save_ms and on stop.
 * start_beginning applies to a file without a saved position. Free with
 * tailer_stop().
 */
int tailer_start(struct tailer **out, const struct rn_strlist *paths, const char *state_dir,
                 bool start_beginning, int64_t poll_ms, int64_t save_ms, struct smtp_pipe *pipe,
                 struct tail_counters *ctr);
/* Stops the thread after it has read every file to its end, saves, frees. */
void tailer_stop(struct tailer *t);

#endif /* REPNET_COLLECTOR_TAIL_H */
