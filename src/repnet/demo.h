/*
 * demo.h: the parts of `repnet demo`: the command and its repnetd
 * (cmd_demo.c), the real data replayed into it (demo_replay.c), and what
 * is printed (demo_show.c). Internal to the repnet executable.
 *
 * Threads: the demo's own thread runs the command, the replay and the
 * final summary; the feed subscription calls demo_on_change() and
 * demo_on_message() from its thread. Everything both sides touch (the
 * counters and what the feed said) is under struct demo's mu.
 */
#ifndef REPNET_DEMO_H
#define REPNET_DEMO_H

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include "cmds.h"

struct demo {
	struct daemon_conf c;
	char conf[4096];       /* the demo's configuration file (lab settings) */
	const char *user_conf; /* the user's -c file, or NULL */
	char http[64];
	double speed;
	const char *data;
	pid_t pid;
	sigset_t sigs;
	bool stop;
	/* what the feed said */
	pthread_mutex_t mu;
	uint64_t shown, listed_events, seq;
	uint8_t digest[32];
	struct rn_addr sample;
	bool have_sample;
	struct feeds_sub *sub;
	struct feeds_keyring *ring;
	/* progress */
	bool tty;
	uint64_t lines_sent, lines_total, flows_sent, flows_total;
};

/*
 * Sleeps up to ms, waking for SIGINT or SIGTERM (blocked in every thread,
 * so only this wait takes them). False once the demo is stopped; the
 * signal's name is printed the first time (cmd_demo.c).
 */
bool demo_nap(struct demo *d, int64_t ms);

/* ---- replay (demo_replay.c) ------------------------------------------------ */

/* The lines of a log file, read whole; free with demo_log_free(). */
struct demo_log {
	char **lines;
	size_t n;
};
int demo_log_read(const char *path, struct demo_log *f);
/* Safe on a zeroed struct. */
void demo_log_free(struct demo_log *f);
/*
 * Sends the logs, in order, to a syslog TCP listener: RFC 5424 with
 * octet counting, stamped now, with the logs' own pacing divided by
 * d->speed (0: as fast as possible), until the end or the demo stops.
 * Returns RN_OK, or the connection's error (printed); a send that fails
 * ends the log it was in.
 */
int demo_replay_logs(struct demo *d, const char *hostport, struct demo_log *const *logs,
                     size_t nlogs);
/* The flow datagrams demo_replay_flows() would send from a capture. */
uint64_t demo_flows_count(const char *path);
/*
 * Sends the UDP payloads of a NetFlow capture to a flow listener, the v9
 * export time set to now, paced as the capture was, divided by d->speed.
 */
int demo_replay_flows(struct demo *d, const char *path, const char *to);

/* ---- presentation (demo_show.c) -------------------------------------------- */

/* Feed callbacks (struct feeds_sub_opts): listings as they come, sequence. */
void demo_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                    const struct scoring_table *new_t, const struct scoring_delta *dl);
void demo_on_message(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m);
/* One progress line (rewritten in place on a terminal). */
void demo_progress(struct demo *d);
/* The feed's sequence so far (0: nothing verified yet). */
uint64_t demo_seq(struct demo *d);
/*
 * After the first SHOW_MAX listings, one line for the rest: how many were
 * announced but not printed, of how many (the same count as the progress
 * line's "listed").
 */
void demo_show_more(struct demo *d);
/*
 * The end of the show: a real dig answer for a listed address, the feed's
 * sequence and digest, what to try next, and a summary read from the
 * daemon's own metrics.
 */
void demo_show_end(struct demo *d, const char *pname, const char *ddir, const char *pub);

#endif /* REPNET_DEMO_H */
