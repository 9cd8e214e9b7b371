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
	int reserved_; /* no keys yet */
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
	struct rn_prefix_list exporters; /* empty: any source may export to us */
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
	uint64_t truncated;     /* a set, record or header cut short */
	uint64_t bad_length;    /* a length field inconsistent with its container */
	uint64_t bad_template;  /* a template refused by validation */
	uint64_t bad_version;   /* not NetFlow v5/v9, IPFIX or sFlow v5 */
	uint64_t sequence_gaps; /* sequence discontinuities */
	uint64_t templates;     /* templates and options templates stored */
	uint64_t observations;  /* observations emitted by the detectors */
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
