/*
 * collector.h: the collector library's contract.
 *
 * Collectors run at an operator's edge. They read SMTP logs (files, syslog,
 * standard input) and flow telemetry (NetFlow, IPFIX, sFlow, mirrored
 * packets), and detectors turn both into observations (struct rn_obs).
 * The collector knows the data model (proto) and nothing of scoring or
 * feeds: it hands observations to a sink that the executable wires to the
 * scorer or to the bus.
 */
#ifndef REPNET_COLLECTOR_H
#define REPNET_COLLECTOR_H

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Sink                                                                */
/* ------------------------------------------------------------------ */

/*
 * Where observations go. emit() is called from collector threads with an
 * array the collector owns and reuses after the call returns, so the sink
 * copies what it keeps. It may block briefly (bounded queue back-pressure);
 * it must not call back into the collector.
 */
struct collector_sink {
	void (*emit)(void *arg, const struct rn_obs *obs, size_t n);
	void *arg;
};

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The "collector" section is split in two tables that share the section
 * name: SMTP log sources, parsers and detectors (collector_smtp_conf_keys),
 * and flow telemetry (collector_flow_conf_keys).
 */
struct collector_smtp_conf {
	/* smtp.*: parsing */
	int format;        /* enum collector_smtp_format */
	uint64_t max_line; /* bytes; longer lines are counted and skipped */
	bool stdin_source; /* live: read standard input too */
	/* tail.*: files */
	struct rn_strlist tail_paths;
	int tail_start; /* 0: end, 1: beginning (for a file without a saved position) */
	int64_t tail_poll_ms;
	int64_t tail_save_ms;
	/* syslog.*: the receiver */
	char *syslog_udp;
	char *syslog_tcp;
	int64_t syslog_max_conns;
	int64_t syslog_idle_ms;
	uint64_t syslog_rcvbuf;
	/* detect.*: detectors */
	bool detect;
	int64_t det_max_addrs;
	int64_t det_max_users;
	int64_t det_max_qids;
	int64_t sasl_fast_window_ms;
	int64_t sasl_fast_threshold;
	int64_t sasl_slow_window_ms;
	int64_t sasl_slow_threshold;
	int64_t sasl_dist_window_ms;
	int64_t sasl_dist_addrs;
	int64_t harvest_window_ms;
	int64_t harvest_threshold;
	int64_t bot_window_ms;
	double bot_threshold;
	double bot_w_pregreet;
	double bot_w_pipelining;
	double bot_w_non_smtp;
	double bot_w_hangup;
	double bot_w_protocol;
	int64_t relay_window_ms;
	int64_t relay_threshold;
	int64_t flood_window_ms;
	int64_t flood_threshold;
	int64_t rbl_window_ms;
	struct rn_strlist rbl_zones;
	struct rn_strlist spamtraps;
};
struct collector_flow_conf {
	int reserved_; /* no keys yet */
};
struct collector_conf {
	struct collector_smtp_conf smtp;
	struct collector_flow_conf flow;
};
extern const struct rn_conf_key collector_smtp_conf_keys[];
extern const struct rn_conf_key collector_flow_conf_keys[];

/* ------------------------------------------------------------------ */
/* SMTP                                                                */
/* ------------------------------------------------------------------ */

/*
 * Postfix and Exim logs become observations. Each line is split by its
 * syslog wrapper (RFC 3164, RFC 3339 as rsyslog writes it, RFC 5424, or
 * Postfix's maillog_file and Exim's mainlog as written), parsed into at
 * most one line event (RN_KIND_SMTP_CONNECT .. RN_KIND_SASL_SUCCESS), and
 * fed to the detectors, which add signals (RN_KIND_SASL_BRUTEFORCE ..
 * RN_KIND_RBL_CONFIRMED, and RN_KIND_SPAMTRAP). Observations carry the
 * time of the line, the client address, and a short evidence code with
 * no personal data; SASL user names and recipients stay inside.
 */
enum collector_smtp_format {
	COLLECTOR_SMTP_AUTO = 0, /* by program name: postfix/..., exim */
	COLLECTOR_SMTP_POSTFIX,  /* every line is Postfix */
	COLLECTOR_SMTP_EXIM,     /* every line is Exim */
};
extern const char *const collector_smtp_format_names[]; /* "auto", "postfix", "exim" */

/* Counts of one pipeline's work. */
struct collector_smtp_stats {
	uint64_t lines; /* complete lines seen */
	uint64_t bytes;
	uint64_t overlong;   /* lines longer than smtp.max_line, skipped */
	uint64_t malformed;  /* lines that follow no syslog wrapper (binary, garbage) */
	uint64_t foreign;    /* well-formed lines of programs other than the MTA */
	uint64_t ignored;    /* MTA lines understood, without an abuse signal */
	uint64_t events;     /* line observations */
	uint64_t signals;    /* detector observations */
	uint64_t unknown[7]; /* MTA lines not understood, by program (see names) */
	uint64_t kinds[RN_KIND_MAX];
};
/* Labels of collector_smtp_stats.unknown[]: "postfix/smtpd", ..., "exim", "other". */
extern const char *const collector_smtp_program_names[7];

/* Options of an offline pipeline. */
struct collector_smtp_opts {
	int format;         /* enum collector_smtp_format; -1: the configuration's */
	bool detect;        /* run the detectors (and the spamtrap check) */
	int64_t ref_ms;     /* reference time for yearless timestamps; 0: now */
	const uint8_t *key; /* 32-byte key to hash SASL user names; NULL: random */
	/* Optional: called with every MTA line not understood (for --show-unparsed). */
	void (*unparsed)(void *arg, const char *program, const uint8_t *line, size_t len);
	void *unparsed_arg;
};

/*
 * An offline pipeline: parsers and detectors over bytes the caller reads
 * (a file, standard input), in event time, emitting to sink from the
 * caller's thread. conf must outlive the pipeline. Free with
 * collector_smtp_free().
 */
struct collector_smtp;
int collector_smtp_alloc(struct collector_smtp **out, const struct collector_smtp_conf *conf,
                         const struct collector_smtp_opts *opts, const struct collector_sink *sink);
/* Feeds log bytes; lines end at '\n' and may span calls. */
int collector_smtp_feed(struct collector_smtp *p, const uint8_t *buf, size_t len);
/* Reads fd to its end and feeds it. */
int collector_smtp_read_fd(struct collector_smtp *p, int fd);
/* Ends a last line without a newline and flushes observations to the sink. */
int collector_smtp_flush(struct collector_smtp *p);
void collector_smtp_get_stats(const struct collector_smtp *p, struct collector_smtp_stats *out);
void collector_smtp_free(struct collector_smtp *p);

/*
 * The live collector: runs the configured sources (tail.paths, the
 * syslog.udp_listen and syslog.tcp_listen receiver, standard input when
 * smtp.stdin is set), each in its own thread, through one shared
 * detector, in event time, with metrics registered in m (which must
 * outlive it). conf is copied: the caller may release or reload its own.
 * data_dir holds tail positions and the SASL hashing key.
 * Free with collector_smtp_stop().
 */
struct collector_smtp_live;
int collector_smtp_start(struct collector_smtp_live **out, const struct collector_smtp_conf *conf,
                         const char *data_dir, struct rn_metrics *m,
                         const struct collector_sink *sink);
/* The syslog ports actually bound (0 when that listener is off). */
unsigned collector_smtp_udp_port(const struct collector_smtp_live *l);
unsigned collector_smtp_tcp_port(const struct collector_smtp_live *l);
/*
 * Stops the sources, processes what they already read, flushes to the
 * sink, saves tail positions, unregisters the metrics and frees l. Safe
 * on NULL.
 */
void collector_smtp_stop(struct collector_smtp_live *l);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_COLLECTOR_H */
