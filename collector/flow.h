/*
 * flow.h: internal interfaces of the flow decoders (NetFlow v5, v9, IPFIX,
 * sFlow), their shared state (exporters, sessions, templates, pending
 * data) and the packet parser. Internal to the collector library.
 *
 * Ownership: a struct flow_dec is owned by one thread (a worker, or the
 * offline reader); nothing in it is locked. The exporter registry
 * (struct flow_exporters) is shared by the decoders of one collector and
 * locks only when an exporter is first seen.
 */
#ifndef REPNET_COLLECTOR_FLOW_H
#define REPNET_COLLECTOR_FLOW_H

#include <pthread.h>

#include "collector/collector.h"

/* ---- per-exporter defect counters (shared, metrics) ------------------ */

enum flow_reason {
	FLOW_R_UNKNOWN_TEMPLATE,
	FLOW_R_TRUNCATED,
	FLOW_R_BAD_LENGTH,
	FLOW_R_BAD_TEMPLATE,
	FLOW_R_BAD_VERSION,
	FLOW_R_TEMPLATE_LIMIT, /* a template refused: its exporter holds its cap */
	FLOW_R_COUNT
};
extern const char *const flow_reason_names[FLOW_R_COUNT];

struct flow_exporter {
	struct rn_addr addr; /* family 0: the overflow entry "other" */
	struct rn_counter datagrams;
	struct rn_counter records;
	struct rn_counter errors[FLOW_R_COUNT];
	struct rn_counter seq_gaps;
	struct rn_counter lost_records; /* estimated from sequence numbers */
	struct rn_counter templates;    /* templates and options templates stored */
	struct rn_counter templates_replaced;
	struct rn_counter templates_withdrawn;
	struct rn_counter templates_evicted; /* pushed out by the global caps */
	struct rn_counter templates_expired; /* not refreshed within their lifetime */
	struct rn_counter pending_decoded;   /* data sets decoded after a late template */
	struct rn_counter pending_dropped;   /* data sets whose template never came */
	struct rn_counter counter_samples;   /* sFlow counter samples walked */
	struct flow_exporter *next;          /* hash chain */
	uint32_t idx; /* 1..max in order of arrival, 0 for "other": per-decoder state */
};

/*
 * Every exporter seen, up to max; later ones share the "other" entry.
 * Counters are bumped with rn_counter_add_shared() since several workers
 * may see one exporter. Entries live until flow_exporters_free().
 */
struct flow_exporters {
	pthread_mutex_t mu;
	struct flow_exporter **buckets;
	size_t nbuckets;
	size_t n, max;
	struct flow_exporter other;
	struct rn_metrics *metrics; /* NULL: no metrics (offline) */
	const void *owner;
};

int flow_exporters_alloc(struct flow_exporters **out, size_t max, struct rn_metrics *m,
                         const void *owner);
/* Unregisters the metrics and frees every entry. Safe on NULL. */
void flow_exporters_free(struct flow_exporters *e);
/* The entry of addr, created (and registered) on first sight. Never NULL. */
struct flow_exporter *flow_exporters_get(struct flow_exporters *e, const struct rn_addr *addr);
/* Sums every exporter's counters into t (datagrams, records, defects, gaps). */
void flow_exporters_totals(struct flow_exporters *e, struct collector_flow_totals *t);

/* ---- templates ---------------------------------------------------------- */

#define FLOW_TMPL_MAX_FIELDS 128 /* fields per template, scope included */
#define FLOW_VARLEN          0xffffu

/* What a template field is decoded into (the "program" of a template). */
enum flow_op {
	FOP_SKIP,
	FOP_SRC4,
	FOP_DST4,
	FOP_SRC6,
	FOP_DST6,
	FOP_SPORT,
	FOP_DPORT,
	FOP_PROTO,
	FOP_TCPFLAGS,
	FOP_PACKETS,
	FOP_BYTES,
	FOP_REV_PACKETS,
	FOP_REV_BYTES,
	FOP_REV_TCPFLAGS,
	FOP_FIRST_UPTIME, /* ms since the exporter booted */
	FOP_LAST_UPTIME,
	FOP_FIRST_S,
	FOP_LAST_S,
	FOP_FIRST_MS,
	FOP_LAST_MS,
	FOP_FIRST_US, /* NTP timestamp */
	FOP_LAST_US,
	FOP_FIRST_NS,
	FOP_LAST_NS,
	FOP_FIRST_DELTA_US, /* flowStartDeltaMicroseconds, before export time */
	FOP_LAST_DELTA_US,
	FOP_DURATION_MS,
	FOP_SYSINIT_MS, /* systemInitTimeMilliseconds */
	FOP_ICMP_TYPECODE,
	FOP_ICMP_TYPE,
	FOP_ICMP_CODE,
	FOP_SAMPLER_ID,
	FOP_SAMPLING_INTERVAL, /* 34, 50, 305: packets per sample */
	FOP_SAMPLING_SPACE,    /* 306: packets not sampled between samples */
	FOP_SAMPLING_ALGO,
	FOP_VARLIST, /* basicList, subTemplateList, subTemplateMultiList: checked */
};

struct flow_tmpl_field {
	uint16_t ie;  /* without the enterprise bit */
	uint16_t len; /* FLOW_VARLEN for variable length */
	uint32_t pen; /* enterprise number, 0 for IANA */
	uint8_t op;   /* enum flow_op */
};

struct flow_tmpl {
	uint32_t session; /* slot + 1 of its session in the decoder's table; 0 = free */
	uint32_t next;    /* its session's templates (slot + 1, 0 ends), or the free list */
	uint32_t prev;
	uint16_t id;
	uint16_t nfields;
	uint16_t nscope;  /* options templates: scope field count; 0 otherwise */
	uint16_t min_len; /* record length, variable fields counted at their minimum */
	bool varlen;
	bool options;
	uint8_t version;
	uint32_t hash;
	int64_t learned_ms; /* when the exporter last sent it; its lifetime runs from here */
	struct flow_tmpl_field f[FLOW_TMPL_MAX_FIELDS];
};

/*
 * A session: the scope of sequence numbers, templates and sampling, and
 * the "exporter" that the template caps count: NetFlow v9: (exporter
 * address, source ID). IPFIX: (exporter address and port, observation
 * domain). v5 and sFlow: (address, port, engine or sub-agent), for
 * sequence numbers only. Sessions sit in a fixed table of slots, on two
 * lists ordered by last use (every session; those holding templates),
 * each both for the whole decoder and for the sessions of one exporter
 * address; the least recently used are evicted when a table is full.
 */
#define FLOW_SAMPLERS 8
enum { FLOW_LRU_ALL, FLOW_LRU_TMPL, FLOW_LRU_N };
struct flow_link {
	uint32_t prev, next; /* slot + 1; 0 ends */
};
struct flow_lru {
	uint32_t head, tail; /* slot + 1: most and least recently used; 0 empty */
};
struct flow_session {
	struct rn_addr addr;
	uint16_t port;
	uint8_t version;
	bool used;
	uint32_t domain;
	uint32_t hash;
	struct flow_exporter *exp;
	bool seq_valid;
	uint32_t next_seq;
	uint32_t ntemplates;
	uint32_t sampling; /* session-wide interval from options data, 0 = unknown */
	struct {
		uint32_t id;
		uint32_t interval;
	} samplers[FLOW_SAMPLERS];
	int64_t last_ms;    /* arrival of its last datagram */
	int64_t touched_ms; /* when it last moved up its lists (at most once a second) */
	uint32_t
	        gen; /* bumped when the slot is freed: held data of a gone session is not replayed */
	uint32_t tmpls; /* its templates: slot + 1 of the first, 0 none */
	uint32_t nextfree;
	struct flow_link lk[FLOW_LRU_N];  /* the decoder's lists */
	struct flow_link alk[FLOW_LRU_N]; /* its address's lists */
};

/* Per exporter address (struct flow_exporter idx), in one decoder. */
struct flow_addr_use {
	uint32_t nsessions, ntemplates;
	struct flow_lru lru[FLOW_LRU_N];
};

/* An open-addressing index entry: the key's hash and slot + 1 (0: empty). */
struct flow_slot {
	uint32_t hash, slot;
};

/* ---- the decoder --------------------------------------------------------- */

struct flow_dec_conf {
	size_t max_templates;
	size_t max_templates_per_exporter;
	size_t pending_bytes;
	int64_t pending_max_age_ms;
	int64_t template_lifetime_ms; /* 0: templates never expire */
	bool scale_sampling;
};

/* Where a datagram came from. */
struct flow_origin {
	struct rn_addr addr;
	uint16_t port;
	int64_t recv_ms; /* arrival time: wall clock live, the pcap time offline */
};

#define FLOW_OUT_BATCH 256

struct flow_pending; /* data sets waiting for their template */

struct flow_dec {
	struct flow_dec_conf conf;
	struct flow_exporters *exps;
	struct collector_flow_rec_sink out;
	/* sessions: nsessions_cap slots (2 * max_templates + 64), indexed by key */
	struct flow_session *sessions;
	size_t nsessions_cap, nsessions;
	struct flow_slot *sidx;
	size_t sidx_cap; /* a power of two, at least twice nsessions_cap */
	uint32_t sfree;  /* free session slots, through nextfree */
	struct flow_lru lru[FLOW_LRU_N];
	/* templates: ntmpl_cap (= max_templates) slots, indexed by (session, id) */
	struct flow_tmpl *tmpls;
	size_t ntmpl_cap, ntmpl;
	struct flow_slot *tidx;
	size_t tidx_cap;
	uint32_t tfree;              /* free template slots, through next */
	uint32_t shw, thw;           /* slots ever used; the rest were never touched */
	struct flow_addr_use *addrs; /* by exporter idx: exps->max + 1 of them */
	size_t naddrs;
	bool tmpl_dirty;     /* a template was stored, replaced or removed */
	bool tmpl_refreshed; /* a template was sent again unchanged (a newer learned_ms) */
	struct flow_pending *pending;
	/* records being assembled, flushed to out when full or per datagram */
	struct collector_flow_rec batch[FLOW_OUT_BATCH];
	size_t nbatch;
	/* totals of this decoder (single writer) */
	struct collector_flow_totals tot;
	struct flow_exporter *last_exp; /* one-entry cache */
	/* set while a pending set is replayed, so it is not queued again */
	bool replaying;
	uint16_t cur_port; /* UDP source port of the datagram being decoded */
};

/* The decoder settings of a collector configuration. */
void collector_flow_dec_conf(const struct collector_flow_conf *c, struct flow_dec_conf *dc);
int flow_dec_alloc(struct flow_dec **out, const struct flow_dec_conf *conf,
                   struct flow_exporters *exps, const struct collector_flow_rec_sink *sink);
void flow_dec_free(struct flow_dec *d);

/*
 * Decodes one UDP payload: NetFlow v5/v9, IPFIX or sFlow v5, told apart by
 * the version field. Records go to the sink (batched; flushed before
 * return). Defects are counted per exporter; the return value is RN_OK or
 * the first defect's error, for tests.
 */
int flow_dec_datagram(struct flow_dec *d, const struct flow_origin *o, const uint8_t *buf,
                      size_t len);
/* Drops pending data older than max age (relative to now_ms). */
void flow_dec_expire(struct flow_dec *d, int64_t now_ms);
/*
 * Removes the templates not refreshed within their lifetime and the
 * sessions idle that long (counted per exporter as expired), relative to
 * now_ms (the arrival clock). Call about once a second.
 */
void flow_tmpl_expire(struct flow_dec *d, int64_t now_ms);

/* Per-protocol entry points, used by flow_dec_datagram(). */
int nf5_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
               const uint8_t *buf, size_t len);
int nf9_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
               const uint8_t *buf, size_t len);
int ipfix_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
                 const uint8_t *buf, size_t len);
int sflow_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
                 const uint8_t *buf, size_t len);

/*
 * Helpers shared by the decoders (flow_dec.c). flow_session_get() finds
 * or makes the session of a datagram and marks it used at o->recv_ms;
 * when the table is full it frees the least recently used session (of
 * e's address when that address holds half the table or more), never the
 * one asked for. NULL only when no slot can be had at all.
 */
struct flow_session *flow_session_get(struct flow_dec *d, const struct flow_origin *o,
                                      struct flow_exporter *e, uint8_t version, uint32_t domain);
/* Frees a session and its templates (counted as evicted, or expired); its held data is dropped. */
void flow_session_free(struct flow_dec *d, struct flow_session *s, bool expired);
/* Counts a template in or out of s (and its address), joining or leaving the template lists. */
void flow_session_tmpl_count(struct flow_dec *d, struct flow_session *s, int delta);
/*
 * The least recently used session on list k other than keep: of address
 * aidx when that address holds half of the table (sessions or templates)
 * or more, else of the whole decoder. NULL when there is none to take.
 */
struct flow_session *flow_session_victim(struct flow_dec *d, int k, uint32_t aidx,
                                         const struct flow_session *keep);
/* The open-addressing indexes (linear probing, backward-shift deletion). */
void flow_slot_insert(struct flow_slot *ix, size_t cap, uint32_t hash, uint32_t slot);
void flow_slot_delete(struct flow_slot *ix, size_t cap, uint32_t hash, uint32_t slot);
/* Records a sequence number; counts a gap when it is not the expected one. */
void flow_session_seq(struct flow_session *s, uint32_t seq, uint32_t advance);
struct collector_flow_rec *flow_dec_rec_next(struct flow_dec *d);
void flow_dec_rec_commit(struct flow_dec *d, struct collector_flow_rec *r);
void flow_dec_flush(struct flow_dec *d);
void flow_dec_count(struct flow_dec *d, struct flow_exporter *e, enum flow_reason r);

/* ---- templates and data sets ------------------------------------------- */

/* Time base of one message, for turning record times into absolute UTC. */
struct flow_timebase {
	int64_t export_ms; /* export time of the message */
	int64_t boot_ms;   /* when the exporter booted (v9: export - sysUpTime); 0 unknown */
};

/*
 * Information elements (flow_ie.c). Checks a template whose fields the
 * parser or the loader filled in (version, options, nscope, nfields, f[]
 * ie, len, pen) and compiles it: sets each field's op, varlen and
 * min_len. Returns RN_OK or RN_EPARSE. Stateless.
 */
int flow_tmpl_compile(struct flow_tmpl *t);

/*
 * The cache (templates.c). Parses a template set (v9 flowset 0/1, IPFIX
 * set 2/3) and stores each template in s, replaying the data held for it.
 * Refused templates are counted. Returns RN_OK or the first defect.
 */
int flow_tmpl_set_parse(struct flow_dec *d, struct flow_session *s, const struct flow_origin *o,
                        uint16_t set_id, const uint8_t *buf, size_t len);
/* The template (s, id), or NULL; valid until the cache changes (a template set, a load). */
struct flow_tmpl *flow_tmpl_find(struct flow_dec *d, const struct flow_session *s, uint16_t id);
/*
 * Stores a compiled template (flow_tmpl_compile()) in s, replacing one of
 * the same ID; used by the parser and the loader. Caps: s may hold
 * max_templates_per_exporter (RN_ELIMIT beyond: the caller counts it as
 * template_limit); when the decoder holds max_templates, the templates of
 * the least recently used session other than s are evicted to make room,
 * taken from s's own address when that address holds half of them or
 * more, so a newcomer is never refused and one address flooding cannot
 * push out the others.
 */
int flow_tmpl_store(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t);
/* Removes one template (withdrawn, expired or evicted: the caller counts). */
void flow_tmpl_remove(struct flow_dec *d, struct flow_tmpl *t);
/* True when t was not refreshed within the lifetime at now_ms. */
static inline bool flow_tmpl_expired(const struct flow_dec *d, const struct flow_tmpl *t,
                                     int64_t now_ms)
{
	/* Written so that no time from a file or a capture can overflow. */
	return d->conf.template_lifetime_ms > 0 &&
	       t->learned_ms < now_ms - d->conf.template_lifetime_ms;
}

/*
 * Data (flow_data.c). Decodes one v9 flowset or IPFIX set body of the
 * given ID: a template set goes to flow_tmpl_set_parse(); a data set
 * (ID >= 256) is decoded with its template, or held in the pending area
 * and RN_ETEMPLATE returned when there is none yet; reserved IDs are
 * skipped. *nrec (may be NULL) gets the records of a decoded data set,
 * 0 otherwise. Returns RN_OK or the first defect (counted).
 */
int flow_set_decode(struct flow_dec *d, struct flow_session *s, const struct flow_origin *o,
                    const struct flow_timebase *tb, uint16_t id, const uint8_t *buf, size_t len,
                    uint32_t *nrec);
/*
 * Decodes a data set with template t. Records go to the decoder's output;
 * options records update the session's sampling. *nrec (may be NULL) gets
 * the number of records in the set, options and address-less ones
 * included. Returns RN_OK or the first defect (counted).
 */
int flow_tmpl_data_decode(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t,
                          const struct flow_timebase *tb, const uint8_t *buf, size_t len,
                          uint32_t *nrec);
/*
 * A data set without its template: held in the pending area (when there is
 * room) and decoded once the template arrives; counted either way.
 */
void flow_pending_add(struct flow_dec *d, struct flow_session *s, uint16_t id,
                      const struct flow_timebase *tb, const uint8_t *buf, size_t len,
                      int64_t recv_ms);
/* Decodes held sets that waited for (s, id). */
void flow_pending_replay(struct flow_dec *d, struct flow_session *s, uint16_t id);
int flow_pending_alloc(struct flow_pending **out, size_t bytes);
void flow_pending_free(struct flow_pending *p);

/*
 * Template persistence (templates_file.c): every stored template of every
 * decoder, with its session key, in one file (format in docs/design.md).
 * Save writes it atomically and clears the decoders' dirty flags; the
 * file holds at most the decoders' max_templates entries. Load reads at
 * most what max_templates entries can take and stores what it finds in d
 * through the same validation and caps as the wire: entries that fail
 * validation or their CRC are counted in bad; entries expired at now_ms,
 * from an address outside allow (NULL: any), or past their exporter's
 * cap are pruned. Called on the thread that owns the decoders.
 */
struct flow_tmpl_load_stats {
	size_t loaded, bad, pruned;
};
int flow_tmpl_save(struct flow_dec *const *decs, size_t ndec, const char *path);
int flow_tmpl_load(struct flow_dec *d, const char *path, int64_t now_ms,
                   const struct rn_prefix_list *allow, struct flow_tmpl_load_stats *st);

/* ---- packet parser (pktparse.c) ------------------------------------------ */

/* What the parser found in one frame or header. */
struct pkt_info {
	struct rn_addr src, dst;
	uint16_t sport, dport; /* ICMP: type << 8 | code in dport */
	uint8_t proto;
	uint8_t tcp_flags;
	bool fragment;   /* a non-first fragment, or a first one with more to come */
	uint16_t vlan;   /* outermost VLAN id, 0 none */
	uint32_t ip_len; /* IP total length from the header (IPv6: payload + 40) */
	uint32_t tcp_seq, tcp_ack;
	uint16_t payload_len;
	const uint8_t *payload; /* UDP payload or TCP segment data, within the buffer */
};

enum pkt_link {
	PKT_LINK_ETHER,
	PKT_LINK_RAW,  /* starts at the IP header */
	PKT_LINK_SLL,  /* Linux cooked v1 */
	PKT_LINK_NULL, /* BSD loopback: 4-byte host-order family */
};

/*
 * Parses Ethernet (with up to two VLAN tags), IPv4 and IPv6 (skipping
 * hop-by-hop, routing and destination options headers), and TCP, UDP,
 * ICMP or ICMPv6 headers. A truncated transport header leaves ports zero
 * and returns RN_OK when the IP header is complete (sFlow headers are cut
 * short). Returns RN_EUNSUPP for frames that are not IP, RN_ETRUNC or
 * RN_EPARSE for broken ones.
 */
int pkt_parse(enum pkt_link link, const uint8_t *buf, size_t len, struct pkt_info *pi);

/* ---- pcap files (pcap_file.c) ---------------------------------------------- */

/* The link type the reader's frames are parsed with (pkt_parse()). */
enum pkt_link flow_pcap_link(const struct collector_pcap *r);
/*
 * The next frame of any kind, lent until the next read, with its capture
 * time; returns as collector_pcap_next_udp(). Frames read this way are
 * not counted as skipped.
 */
int flow_pcap_next_frame(struct collector_pcap *r, const uint8_t **frame, size_t *len,
                         int64_t *ts_ms);

#endif /* REPNET_COLLECTOR_FLOW_H */
