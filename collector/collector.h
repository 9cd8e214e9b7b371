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
	/*
	 * Optional durability of a source's position (a followed file's
	 * offset, a journal cursor); both NULL: the source saves its own
	 * position file as it reads. mark() says that every observation
	 * emitted so far carries the source's lines up to pos (len bytes, at
	 * most COLLECTOR_POS_MAX), the content of its position file
	 * data_dir/key (key: [A-Za-z0-9_.-]); the sink writes that file once
	 * those observations are acknowledged (the scorer's journal has them),
	 * never before. pending() gives the newest position of key the sink
	 * holds but has not written yet (kept across a restart with the
	 * batches that carry its lines): a source resumes from it rather than
	 * from its file. RN_ENOTFOUND: none.
	 */
	void (*mark)(void *arg, const char *key, const uint8_t *pos, size_t len);
	/*
	 * With mark(): called before emitting observations of key's lines not
	 * yet marked. The sink keeps them (and what follows them) in memory
	 * until the next mark(key), so that nothing it stores durably lies
	 * past the newest position it stores: a restart reads those lines
	 * again instead.
	 */
	void (*hold)(void *arg, const char *key);
	int (*pending)(void *arg, const char *key, uint8_t *pos, size_t cap, size_t *len);
	void *arg;
};
#define COLLECTOR_POS_MAX 512

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
	char *exim_tz;     /* smtp.exim_timezone: "+hhmm", "-hhmm" or an IANA name; NULL: TZ */
	/* tail.*: files */
	struct rn_strlist tail_paths;
	int tail_start; /* 0: end, 1: beginning (for a file without a saved position) */
	int64_t tail_poll_ms;
	int64_t tail_save_ms;
	/* journal.*: the systemd journal */
	int journal_mode;                /* enum collector_journal_mode */
	struct rn_strlist journal_paths; /* empty: the system journal */
	int journal_start;               /* 0: end, 1: beginning (without a saved cursor) */
	int64_t journal_save_ms;
	/* syslog.*: the receiver */
	char *syslog_udp;
	char *syslog_tcp;
	struct rn_prefix_list
	        syslog_senders; /* empty: loopback (listeners off loopback need a list) */
	int64_t syslog_max_conns;
	int64_t syslog_idle_ms;
	int64_t syslog_max_per_client;
	int64_t syslog_msg_timeout_ms;
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
	/*
	 * Loop safety: a reject or DNSBL hit that this deployment caused is
	 * counted as enforcement, never observed. own_zones is the key
	 * smtp.own_zones (zones of a federated feed the MTA queries directly);
	 * the other two are not keys: the executable fills them from the
	 * feeds' configuration (this node's DNSBL zones, and the fixed start of
	 * its DNSBL TXT and policy reject texts) and frees them. Texts shorter
	 * than COLLECTOR_ENFORCE_TEXT_MIN bytes are ignored.
	 */
	struct rn_strlist own_zones;
	struct rn_strlist enforce_zones;
	struct rn_strlist enforce_texts;
};
#define COLLECTOR_ENFORCE_TEXT_MIN 4
/*
 * Whether the live collector reads the journal: journal.mode on, or auto
 * with journal.paths set or a journal on this host (/run/log/journal or
 * /var/log/journal holds journal files).
 */
bool collector_smtp_journal_wanted(const struct collector_smtp_conf *c);
/* journal.mode */
enum collector_journal_mode {
	COLLECTOR_JOURNAL_AUTO = 0, /* when journal.paths is set or the host has a journal */
	COLLECTOR_JOURNAL_ON,
	COLLECTOR_JOURNAL_OFF,
};
/* Flow telemetry; the keys are "flow.*" rows of collector_flow_conf_keys. */
struct collector_flow_conf {
	char *netflow_listen;            /* host:port of the NetFlow v5/v9 listener */
	char *ipfix_listen;              /* host:port of the IPFIX listener */
	char *sflow_listen;              /* host:port of the sFlow v5 listener */
	int backend;                     /* COLLECTOR_FLOW_BACKEND_* */
	char *interface;                 /* tpacket/xdp: the interface to capture on */
	int xdp_mode;                    /* 0 skb (generic), 1 native */
	int xdp_bind;                    /* 0 auto (zero-copy, else copy), 1 copy, 2 zero-copy */
	struct rn_prefix_list exporters; /* empty: loopback (listeners off loopback need a list) */
	int64_t workers;
	uint64_t rcvbuf;
	int64_t batch;
	int64_t fanout_group;
	char *helper;           /* path of the privileged capture helper */
	char *mirror_interface; /* mirror port fed to the packet meter; NULL: none */
	int mirror_backend;     /* COLLECTOR_FLOW_BACKEND_TPACKET or _XDP */
	int64_t max_exporters;
	int64_t max_templates;
	int64_t max_templates_per_exporter;
	uint64_t pending_bytes;
	int64_t pending_max_age_ms;
	int64_t template_save_ms;
	int64_t template_lifetime_ms; /* a template not sent again this long expires */
	bool scale_sampling;
	bool detect;
	int64_t window_ms;
	int64_t pair_window_ms;
	int64_t max_sources;
	int64_t max_pending;
	int64_t spray_dsts;
	int64_t hscan_dsts;
	int64_t vscan_ports;
	int64_t bruteforce_sessions;
	int64_t amp_reflectors;
	int64_t amp_bytes_per_packet;
	int64_t context_min;
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
	uint64_t overlong;    /* lines longer than smtp.max_line, skipped */
	uint64_t malformed;   /* lines that follow no syslog wrapper (binary, garbage) */
	uint64_t foreign;     /* well-formed lines of programs other than the MTA */
	uint64_t ignored;     /* MTA lines understood, without an abuse signal */
	uint64_t events;      /* line observations */
	uint64_t signals;     /* detector observations */
	uint64_t unknown[7];  /* MTA lines not understood, by program (see names) */
	uint64_t enforced[2]; /* this deployment's own rejects: [0] DNSBL zone, [1] reason text */
	uint64_t kinds[RN_KIND_MAX];
};
/* Labels of collector_smtp_stats.unknown[]: "postfix/smtpd", ..., "exim", "other". */
extern const char *const collector_smtp_program_names[7];
/*
 * Labels of collector_smtp_stats.enforced[]: "dnsbl" (a hit on one of this
 * deployment's zones), "policy" (a reject carrying its policy or TXT text).
 */
extern const char *const collector_smtp_enforced_names[2];

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
/*
 * Reads every entry of one journal directory or of up to 16 journal files
 * (paths), from the first, through the pipeline: the entries of Postfix
 * and Exim (by SYSLOG_IDENTIFIER), in their own time. Errors: the
 * journal cannot be opened or read (a negative errno), or paths mixes a
 * directory with other paths (RN_ECONF).
 */
int collector_smtp_read_journal(struct collector_smtp *p, const char *const *paths, size_t n);
/* Ends a last line without a newline and flushes observations to the sink. */
int collector_smtp_flush(struct collector_smtp *p);
void collector_smtp_get_stats(const struct collector_smtp *p, struct collector_smtp_stats *out);
void collector_smtp_free(struct collector_smtp *p);

/*
 * What the syslog keys cannot say one by one: a listener off loopback
 * needs collector.syslog.senders; with it empty, both listeners must be
 * on loopback, and then loopback is who may send. RN_OK, or RN_ECONF with
 * err naming the key. collector_smtp_start() refuses what this refuses.
 */
int collector_smtp_conf_check(const struct collector_smtp_conf *c, char *err, size_t errlen);

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

/* ------------------------------------------------------------------ */
/* Flows                                                               */
/* ------------------------------------------------------------------ */

/*
 * NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011, with RFC 5103
 * biflows) and sFlow v5 are decoded into collector_flow_rec records; the
 * flow detectors turn records into observations. Records are decoded from
 * a pcap file (offline, in event time) or from live capture: UDP sockets
 * with recvmmsg, AF_PACKET TPACKET_V3 rings, or AF_XDP sockets, the last
 * two opened by a small privileged helper process.
 */
enum collector_flow_backend {
	COLLECTOR_FLOW_BACKEND_UDP = 0,
	COLLECTOR_FLOW_BACKEND_TPACKET = 1,
	COLLECTOR_FLOW_BACKEND_XDP = 2,
};

#define COLLECTOR_FLOW_BIFLOW    0x01u /* rev_* fields hold the reverse direction */
#define COLLECTOR_FLOW_SAMPLED   0x02u /* the exporter sampled; see sampling */
#define COLLECTOR_FLOW_SCALED    0x04u /* packets and bytes were multiplied by sampling */
#define COLLECTOR_FLOW_COMPLETED 0x08u /* a TCP handshake was seen to complete */
#define COLLECTOR_FLOW_NOTIME    0x10u /* no flow times: first/last are the arrival time */

/* One decoded flow record; plain data. */
struct collector_flow_rec {
	struct rn_addr exporter; /* the datagram's source (sFlow: the agent address) */
	struct rn_addr src;
	struct rn_addr dst;
	uint16_t exporter_port;
	uint16_t sport;
	uint16_t dport;  /* ICMP: type << 8 | code */
	uint8_t version; /* 5, 9, 10 (IPFIX), or 5 with source RN_SRC_SFLOW */
	uint8_t source;  /* enum rn_source */
	uint8_t proto;
	uint8_t tcp_flags;
	uint8_t rev_tcp_flags;
	uint8_t flags;     /* COLLECTOR_FLOW_* */
	uint32_t domain;   /* v9 source ID, IPFIX observation domain, sFlow source ID */
	uint32_t sampling; /* 1 when not sampled or unknown */
	uint64_t packets;
	uint64_t bytes;
	uint64_t rev_packets;
	uint64_t rev_bytes;
	int64_t first_ms; /* absolute UTC, ms */
	int64_t last_ms;
};

/*
 * Where decoded records go. rec() gets an array the decoder owns and
 * reuses after the call returns. Called on the decoding thread.
 */
struct collector_flow_rec_sink {
	void (*rec)(void *arg, const struct collector_flow_rec *r, size_t n);
	void *arg;
};

/* Totals of one decoding run, for `repnet flows --summary` and tests. */
struct collector_flow_totals {
	uint64_t datagrams; /* UDP payloads offered to the decoders */
	uint64_t records;   /* flow records decoded */
	uint64_t packets;   /* sum of packets (+ reverse packets) */
	uint64_t bytes;     /* sum of bytes (+ reverse bytes) */
	uint64_t not_flow;  /* pcap frames that are not UDP flow export */
	uint64_t unknown_template;
	uint64_t truncated;         /* a set, record or header cut short */
	uint64_t bad_length;        /* a length field inconsistent with its container */
	uint64_t bad_template;      /* a template refused by validation */
	uint64_t bad_version;       /* not NetFlow v5/v9, IPFIX or sFlow v5 */
	uint64_t template_limit;    /* a template refused: its exporter held its cap */
	uint64_t sequence_gaps;     /* sequence discontinuities */
	uint64_t templates;         /* templates and options templates stored */
	uint64_t templates_evicted; /* pushed out by the decoder's caps */
	uint64_t templates_expired; /* not refreshed within flow.template_lifetime */
	uint64_t refused;           /* datagrams from outside flow.exporters, dropped */
	uint64_t observations;      /* observations emitted by the detectors */
};

/*
 * Decodes the NetFlow, IPFIX and sFlow datagrams in the UDP payloads of a
 * pcap file (Ethernet, Linux cooked, raw IP or loopback link types),
 * whatever their port, with templates learned in file order. Every record
 * goes to rsink (may be NULL). With detect set, the flow detectors run in
 * event time and their observations go to sink (may be NULL); without a
 * sink nothing is detected. With mirror set, the file is a mirror-port
 * capture instead: every packet goes to the packet meter, whose records
 * feed the detectors. totals may be NULL.
 */
int collector_flow_pcap(const char *path, const struct collector_flow_conf *conf, bool mirror,
                        const struct collector_flow_rec_sink *rsink,
                        const struct collector_sink *sink, struct collector_flow_totals *totals);

/*
 * The collector's pcap reader, for callers that replay a capture
 * themselves (repnet demo sends its flow export to a live collector).
 * collector_flow_pcap() reads through it too. A reader is used by one
 * thread at a time; different readers are independent.
 */
struct collector_pcap;

/*
 * One UDP datagram of a pcap file. Lent: the payload lives in the
 * reader's buffer until the next read or collector_pcap_close().
 */
struct collector_pcap_udp {
	struct rn_addr src, dst;
	uint16_t sport, dport;
	int64_t ts_ms;          /* capture time, ms since the epoch */
	const uint8_t *payload; /* bounded by the UDP length and by what was captured */
	size_t len;
};

/*
 * Opens a pcap file (Ethernet, Linux cooked, raw IP or loopback link
 * types). Returns RN_EPARSE when it cannot be read as pcap, RN_EUNSUPP for
 * another link type (both logged), -ENOMEM. Free with
 * collector_pcap_close().
 */
int collector_pcap_open(struct collector_pcap **out, const char *path);
/*
 * Reads up to the next unfragmented UDP datagram over IPv4 or IPv6, in
 * file order; the frames passed over are counted (collector_pcap_skipped).
 * Returns 1 with *u filled, 0 at the end of the file, RN_ETRUNC when the
 * file breaks off inside a frame (logged; what came before was read).
 */
int collector_pcap_next_udp(struct collector_pcap *r, struct collector_pcap_udp *u);
/* Frames read so far that were not a UDP datagram (not IP, fragments, ...). */
uint64_t collector_pcap_skipped(const struct collector_pcap *r);
/* Closes the file. Safe on NULL. */
void collector_pcap_close(struct collector_pcap *r);

/*
 * The capture helper's command line for conf (argv[0] its path, then the
 * descriptor number), when conf needs the helper (the tpacket or xdp
 * backend, or a mirror interface): for a launcher that starts it on the
 * collector's behalf. argv points into buf (len bytes, PATH_MAX will do)
 * and is NULL-terminated. RN_ENOTFOUND when conf needs no helper.
 */
#define COLLECTOR_HELPER_ARGV 3
int collector_flow_helper_argv(const struct collector_flow_conf *conf, char *buf, size_t len,
                               char *argv[COLLECTOR_HELPER_ARGV]);
/*
 * What the flow keys cannot say one by one: a listener off loopback (or
 * the tpacket and xdp backends on an interface other than lo) needs
 * collector.flow.exporters; with it empty, every listener must be on
 * loopback, and then loopback is what may export. RN_OK, or RN_ECONF with
 * err naming the key. collector_flow_start() refuses what this refuses.
 */
int collector_flow_conf_check(const struct collector_flow_conf *c, char *err, size_t errlen);

/*
 * The live flow collector: listeners (or an interface) per conf, worker
 * threads that decode and detect, metrics in m (per exporter and per
 * listener), templates persisted under data_dir. rsink (may be NULL) sees
 * every record; sink gets the observations. Both must outlive the
 * collector. Free with collector_flow_stop(). On failure nothing is left
 * running.
 */
struct collector_flow;
int collector_flow_start(struct collector_flow **out, const struct collector_flow_conf *conf,
                         const char *data_dir, struct rn_metrics *m,
                         const struct collector_flow_rec_sink *rsink,
                         const struct collector_sink *sink);
/* The UDP port the i-th listener bound (0 when there is none); for tests. */
unsigned collector_flow_port(const struct collector_flow *f, unsigned i);
/* Totals so far, summed over the workers. */
void collector_flow_totals_get(struct collector_flow *f, struct collector_flow_totals *t);
/*
 * Stops capture, decodes what the sockets or rings already hold, flushes
 * the detectors, saves the templates, and frees f. Safe on NULL.
 */
void collector_flow_stop(struct collector_flow *f);

/*
 * The body of repnet-capture, the privileged helper: reads one capture
 * request from fd, opens AF_PACKET or AF_XDP sockets (and attaches the XDP
 * program), passes the descriptors back, and waits until fd closes to
 * detach. Returns the process exit code. Linked into repnet-capture only.
 */
int collector_capture_helper(int fd);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_COLLECTOR_H */
