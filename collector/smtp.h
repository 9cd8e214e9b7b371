/*
 * smtp.h: the pieces of the SMTP log pipeline, internal to the collector
 * library (and its tests).
 *
 *   bytes -> linebuf (bounded lines) -> smtp_wrap_parse (syslog wrapper:
 *   time, program, message) -> postfix_parse / exim_parse (one event per
 *   line) -> smtp_detect (per-address state, detector signals) -> sink.
 *
 * Every parser here takes a buffer and a length, never a C string, and
 * never writes to its input. Slices in the results point into the input
 * and are valid only as long as it is.
 */
#ifndef REPNET_COLLECTOR_SMTP_H
#define REPNET_COLLECTOR_SMTP_H

#include <pthread.h>

#include "collector/collector.h"

/* ------------------------------------------------------------------ */
/* Line buffer                                                         */
/* ------------------------------------------------------------------ */

/*
 * Splits a byte stream into lines of at most cap bytes (without the
 * newline; a trailing CR is dropped). A longer line is counted and
 * skipped up to its newline, never cut into a shorter line that could
 * match falsely. The buffer is allocated once, at init.
 */
struct linebuf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool skipping; /* inside an overlong line */
	uint64_t overlong;
};

int linebuf_init(struct linebuf *lb, size_t cap);
void linebuf_release(struct linebuf *lb);
/*
 * Feeds len bytes; calls fn(arg, line, n) for every complete line. Stops
 * early and returns fn's error if fn fails.
 */
int linebuf_feed(struct linebuf *lb, const uint8_t *buf, size_t len,
                 int (*fn)(void *arg, const uint8_t *line, size_t n), void *arg);
/* Delivers a final line without a newline, if any. */
int linebuf_finish(struct linebuf *lb, int (*fn)(void *arg, const uint8_t *line, size_t n),
                   void *arg);

/* ------------------------------------------------------------------ */
/* Syslog wrappers and time                                            */
/* ------------------------------------------------------------------ */

enum smtp_wrapper {
	SMTP_WRAP_BSD = 1, /* [<PRI>]Mmm dd hh:mm:ss [host] tag: msg (RFC 3164, maillog_file) */
	SMTP_WRAP_RFC3339, /* [<PRI>]2026-11-29T02:26:49.845+00:00 host tag: msg (rsyslog) */
	SMTP_WRAP_RFC5424, /* <PRI>1 TS HOST APP PROCID MSGID SD MSG */
	SMTP_WRAP_EXIM,    /* 2026-11-29 02:31:40 [+hhmm] [[pid]] msg (Exim's mainlog) */
	SMTP_WRAP_JOURNAL, /* a journal entry's fields: no wrapper to parse */
};

/*
 * Turns wall-clock fields into event time. Traditional syslog has no
 * year: it is taken from ref_ms, the reference time (now, for a live
 * source; the file's mtime, or a given time, for a replay), as the latest
 * year that does not put the line more than SMTP_FUTURE_SLACK_MS after
 * the reference. Times without a UTC offset are local time (TZ).
 */
#define SMTP_FUTURE_SLACK_MS (2 * 86400 * 1000LL)
struct smtp_clock {
	int64_t ref_ms;   /* 0: use the wall clock at each line */
	int64_t ref_year; /* cached civil year of ref_ms */
	int64_t ref_cached_ms;
	int64_t tz_key; /* local days*24+hour of the cached offset, or -1 */
	int64_t tz_off_ms;
	bool exim_fixed;                 /* Exim's zoneless times are at exim_off_ms, not TZ */
	int64_t exim_off_ms;             /* local minus UTC */
	const struct smtp_tz *exim_zone; /* else in this zone, when not NULL */
};

/* "+hhmm" or "-hhmm" (at most 14 hours) to ms east of UTC; off may be NULL. */
int smtp_tz_offset_parse(const char *s, int64_t *off);

/*
 * An IANA time zone, read from /usr/share/zoneinfo (tzfile.c), for Exim's
 * times without an offset (smtp.exim_timezone), apart from the process's
 * TZ. smtp_tz_load() reads the zone NAME ("Europe/Berlin"; no "..", no
 * leading '/'); smtp_tz_parse() parses TZif (version 2 or later) bytes.
 * Free with smtp_tz_free() (NULL is a no-op). After the last transition
 * the last offset holds.
 */
#define SMTP_TZ_MAX_TRANS 4096
struct smtp_tz;
int smtp_tz_load(const char *name, struct smtp_tz **out);
int smtp_tz_parse(const uint8_t *buf, size_t len, struct smtp_tz **out);
void smtp_tz_free(struct smtp_tz *tz);
/* Local civil time in ms (as if UTC) to UTC ms. Allocates nothing. */
int64_t smtp_tz_to_utc(const struct smtp_tz *tz, int64_t local_ms);

void smtp_clock_init(struct smtp_clock *c, int64_t ref_ms);
/* Local civil time (month 1-12) to ms since the epoch, UTC. */
int64_t smtp_clock_local(struct smtp_clock *c, int64_t y, unsigned mon, unsigned d, unsigned h,
                         unsigned mi, unsigned s, unsigned ms);
/* The year of a yearless timestamp, as described above. */
int64_t smtp_clock_year(struct smtp_clock *c, unsigned mon, unsigned d, unsigned h, unsigned mi,
                        unsigned s);

/* One line split by its wrapper. */
struct smtp_line {
	int64_t ts_ms;
	const uint8_t *prog; /* "postfix/smtpd", "exim", ...; may be empty */
	size_t prog_len;
	const uint8_t *msg;
	size_t msg_len;
	uint8_t wrapper; /* enum smtp_wrapper */
};

/* Splits one line. RN_EPARSE when it follows no known wrapper. */
int smtp_wrap_parse(struct smtp_clock *clk, const uint8_t *buf, size_t len, struct smtp_line *out);
/*
 * Exim logging through syslog keeps its own stamp at the start of the
 * message; returns the length of that stamp (0: none) so that the caller
 * can skip it and keep the syslog time.
 */
size_t smtp_wrap_strip_exim_stamp(struct smtp_clock *clk, const uint8_t *msg, size_t len);

/* ------------------------------------------------------------------ */
/* Line parsers                                                        */
/* ------------------------------------------------------------------ */

enum smtp_verdict {
	SMTP_EVENT = 0, /* ev holds an observation */
	SMTP_IGNORED,   /* understood, no abuse signal */
	SMTP_UNKNOWN,   /* not understood; counted per program */
};

/* Program labels for the per-program counters: a fixed, small set. */
enum smtp_prog {
	SMTP_PROG_SMTPD,
	SMTP_PROG_POSTSCREEN,
	SMTP_PROG_DNSBLOG,
	SMTP_PROG_CLEANUP,
	SMTP_PROG_POSTFIX_OTHER,
	SMTP_PROG_EXIM,
	SMTP_PROG_OTHER,
	SMTP_PROG_COUNT,
};
extern const char *const smtp_prog_names[SMTP_PROG_COUNT];

/* How a line relates a queue id to recipients, for the spamtrap check. */
enum smtp_qid_role {
	SMTP_QID_NONE = 0,
	SMTP_QID_CLIENT,   /* qid was received from addr */
	SMTP_QID_DELIVERY, /* qid is being delivered to rcpt */
};

/*
 * The result of parsing one message. The slices point into the line;
 * user and rcpt are personal data and never leave the collector: the
 * detectors hash user and compare rcpt against the trap list.
 */
struct smtp_event {
	struct rn_addr addr;
	uint16_t kind;
	uint8_t source;   /* enum rn_source */
	uint8_t prog;     /* enum smtp_prog */
	uint8_t qid_role; /* enum smtp_qid_role */
	uint8_t ev_len;
	char evidence[RN_EVIDENCE_MAX];
	const char *daemon; /* static: "postfix/smtpd", "exim", ... for obs.program */
	const uint8_t *user;
	size_t user_len;
	const uint8_t *rcpt; /* one recipient, or a space-separated list (Exim "for") */
	size_t rcpt_len;
	const uint8_t *qid;
	size_t qid_len;
	/*
	 * What the loop-safety check reads (smtp_enforced_by()): the DNSBL
	 * zone an RBL event names ("blocked using ZONE", "listed by domain
	 * ZONE", Exim's "listed at ZONE"), and the server's reject reason, past
	 * any client-supplied address. Empty when the line has none.
	 */
	const uint8_t *zone;
	size_t zone_len;
	const uint8_t *reason;
	size_t reason_len;
};

/*
 * Postfix: prog is the syslog tag without the pid ("postfix/smtpd",
 * "postfix/submission/smtpd", or just "postfix" when the wrapper kept
 * only the APP-NAME); the daemon is then inferred from the message.
 * Returns an enum smtp_verdict. ev is filled for SMTP_EVENT; its prog
 * and daemon are set for every verdict.
 */
int postfix_parse(const uint8_t *prog, size_t prog_len, const uint8_t *msg, size_t len,
                  struct smtp_event *ev);
/* Exim's mainlog message, after the timestamp and optional pid. */
int exim_parse(const uint8_t *msg, size_t len, struct smtp_event *ev);
/* True for program names this collector reads ("postfix...", "exim..."). */
bool smtp_prog_is_postfix(const uint8_t *prog, size_t len);
bool smtp_prog_is_exim(const uint8_t *prog, size_t len);

/* ------------------------------------------------------------------ */
/* Detectors                                                           */
/* ------------------------------------------------------------------ */

struct smtp_detect;

/* Counters, single writer (the pipeline holding the detector). */
struct smtp_detect_stats {
	struct rn_counter signals[8]; /* by SMTP_DET_* */
	struct rn_counter evicted_addrs;
	struct rn_counter evicted_users;
	struct rn_counter evicted_qids;
	struct rn_gauge tracked_addrs;
	struct rn_gauge tracked_users;
};

enum smtp_det {
	SMTP_DET_SASL_FAST,
	SMTP_DET_SASL_SLOW,
	SMTP_DET_SASL_DIST,
	SMTP_DET_HARVEST,
	SMTP_DET_BOT,
	SMTP_DET_RBL,
	SMTP_DET_RELAY,
	SMTP_DET_FLOOD,
};
extern const char *const smtp_det_names[8];

/*
 * Allocates detectors with their bounded tables, sized from conf. key is
 * the 32-byte secret for hashing SASL user names. Free with
 * smtp_detect_free().
 */
int smtp_detect_alloc(struct smtp_detect **out, const struct collector_smtp_conf *conf,
                      const uint8_t key[32]);
void smtp_detect_free(struct smtp_detect *d);
struct smtp_detect_stats *smtp_detect_stats(struct smtp_detect *d);

/*
 * Feeds one parsed line. ev may be SMTP_EVENT or a line that only binds a
 * queue id (the spamtrap check). Writes line observations and detector
 * signals into out[0..cap) and returns how many; cap must be at least
 * SMTP_DETECT_MAX_OUT. The line's own observation, if any, comes first
 * and is always present when ev is an event, also with detection off.
 */
#define SMTP_DETECT_MAX_OUT 160
size_t smtp_detect_line(struct smtp_detect *d, int64_t ts_ms, const struct smtp_event *ev,
                        bool is_event, struct rn_obs *out, size_t cap);

/*
 * Loop safety: whether an event is this deployment's own enforcement (a
 * hit on a zone of conf's own_zones or enforce_zones, or a reject whose
 * reason carries one of conf's enforce_texts) rather than new evidence
 * about the client. Such an event is counted, never observed.
 */
enum smtp_enforced {
	SMTP_ENF_NONE = -1,
	SMTP_ENF_DNSBL = 0, /* a DNSBL zone of ours */
	SMTP_ENF_POLICY,    /* our policy service's (or DNSBL TXT's) reason text */
	SMTP_ENF_COUNT,     /* labels: collector_smtp_enforced_names */
};
int smtp_enforced_by(const struct collector_smtp_conf *conf, const struct smtp_event *ev);
/* True when zone [p, p + n) is z, ignoring case and a trailing '.' on either. */
bool smtp_zone_equal(const uint8_t *p, size_t n, const char *z);

/* Fills obs from an event (time, address, kind, evidence, program). */
void smtp_event_to_obs(const struct smtp_event *ev, int64_t ts_ms, struct rn_obs *o);

/* ------------------------------------------------------------------ */
/* Pipeline                                                            */
/* ------------------------------------------------------------------ */

/* A pipeline's counters; one writer (the pipeline's thread). */
struct smtp_counters {
	struct rn_counter lines, bytes, overlong, malformed, foreign, ignored, events, signals;
	struct rn_counter unknown[SMTP_PROG_COUNT];
	struct rn_counter enforced[SMTP_ENF_COUNT];
	struct rn_counter kinds[RN_KIND_MAX];
};

#define SMTP_BATCH           256
#define SMTP_DNSBL_HITS      16
#define SMTP_DNSBL_HIT_MS    60000 /* a rank line follows its dnsblog lines within this */
#define SMTP_ENFORCED_RECENT 64
#define SMTP_SESSION_MS      300000 /* Postfix's smtpd_timeout: a session's end follows within this */

/*
 * One source's path through parsers and detectors: its own clock, line
 * buffer, batch and counters; the detector may be shared between pipes
 * under det_lock.
 */
struct smtp_pipe {
	const struct collector_smtp_conf *conf;
	int format;
	struct smtp_clock clock;
	struct linebuf lb;
	struct smtp_detect *det;   /* NULL: detection off */
	pthread_mutex_t *det_lock; /* NULL: the pipe owns det */
	struct collector_sink sink;
	struct smtp_counters *ctr; /* owned by the caller */
	struct smtp_tz *exim_zone; /* smtp.exim_timezone when a zone name; owned */
	void (*unparsed)(void *arg, const char *program, const uint8_t *line, size_t len);
	void *unparsed_arg;
	/*
	 * Recent dnsblog hits, by address: postscreen's "DNSBL rank" line names
	 * no zone, so it is this deployment's enforcement when the hits just
	 * before it were all on its own zones.
	 */
	struct smtp_dnsbl_hit {
		struct rn_addr addr;
		int64_t ts_ms;
		bool own, foreign;
	} hits[SMTP_DNSBL_HITS];
	unsigned hits_next;
	/*
	 * Addresses this deployment just refused: how their sessions end
	 * (lost connection, timeout, too many errors after the rejects) is
	 * the client's answer to our reject, so it is enforcement too.
	 */
	struct smtp_enforced_recent {
		struct rn_addr addr;
		int64_t ts_ms;
		int by;
	} refused[SMTP_ENFORCED_RECENT];
	unsigned refused_next;
	size_t nbatch;
	struct rn_obs batch[SMTP_BATCH + SMTP_DETECT_MAX_OUT];
};

int smtp_pipe_init(struct smtp_pipe *p, const struct collector_smtp_conf *conf, int format,
                   int64_t ref_ms, struct smtp_detect *det, pthread_mutex_t *det_lock,
                   const struct collector_sink *sink, struct smtp_counters *ctr);
void smtp_pipe_release(struct smtp_pipe *p);
/* Processes one complete line (no newline). Always RN_OK: bad lines are counted. */
int smtp_pipe_line(void *pipe, const uint8_t *line, size_t n);
/*
 * Processes one message whose wrapper is already split, as a journal entry
 * is: ts_ms is its event time, prog its identifier ("postfix/smtpd"), msg
 * the message alone. Counted as a line; a message longer than
 * smtp.max_line is counted as overlong and skipped.
 */
void smtp_pipe_message(struct smtp_pipe *p, int64_t ts_ms, const uint8_t *prog, size_t prog_len,
                       const uint8_t *msg, size_t len);
/* Feeds bytes through the pipe's line buffer. */
int smtp_pipe_feed(struct smtp_pipe *p, const uint8_t *buf, size_t len);
/* Hands the batch to the sink. */
void smtp_pipe_flush(struct smtp_pipe *p);

/* Loads or creates the 32-byte SASL hashing key in data_dir (mode 0600). */
int smtp_key_load(const char *data_dir, uint8_t key[32]);

#endif /* REPNET_COLLECTOR_SMTP_H */
