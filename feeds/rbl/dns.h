/*
 * dns.h: the DNS query parser and the DNSBL answer builder. Internal to
 * feeds; dnsbl.c serves them over UDP and TCP.
 */
#ifndef REPNET_FEEDS_DNS_H
#define REPNET_FEEDS_DNS_H

#include "feeds/rbl/rbl.h"

#define DNS_HDR_LEN    12
#define DNS_NAME_MAX   255
#define DNS_LABELS_MAX 128
#define DNS_UDP_MIN    512
#define DNS_MSG_MAX    4096 /* largest answer we ever build */

#define DNS_T_A    1
#define DNS_T_NS   2
#define DNS_T_SOA  6
#define DNS_T_TXT  16
#define DNS_T_AAAA 28
#define DNS_T_OPT  41
#define DNS_T_IXFR 251
#define DNS_T_AXFR 252
#define DNS_T_ANY  255
#define DNS_C_IN   1

#define DNS_R_NOERROR  0
#define DNS_R_FORMERR  1
#define DNS_R_SERVFAIL 2
#define DNS_R_NXDOMAIN 3
#define DNS_R_NOTIMP   4
#define DNS_R_REFUSED  5
#define DNS_R_BADVERS  16
#define DNS_R_DROP     (-1)

/* A parsed query. name is the question name in lower case, wire form. */
struct dns_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	uint16_t qclass;
	uint8_t name[DNS_NAME_MAX + 1];
	size_t name_len;
	unsigned nlabels;
	uint8_t label_off[DNS_LABELS_MAX]; /* offset of each label's length byte */
	size_t question_end;               /* offset just past the question */
	bool edns;
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_size;
};

/*
 * Parses a query message. On success returns RN_OK. Otherwise returns
 * RN_EPARSE, RN_ETRUNC or RN_EUNSUPP and sets *rcode to the rcode to answer
 * with (FORMERR, NOTIMP), or to DNS_R_DROP when no answer may be sent
 * (shorter than a header, or a response). Compression pointers are not
 * allowed anywhere in a query. q->id and q->flags are set whenever a
 * header was read. Allocates nothing.
 */
int dns_query_parse(const uint8_t *buf, size_t len, struct dns_query *q, int *rcode);

#define DNSBL_ZONES_MAX 16
#define DNSBL_NS_MAX    4
#define DNSBL_TXT_MAX   255

struct dnsbl_zone {
	uint8_t name[DNS_NAME_MAX + 1]; /* lower case, wire form */
	size_t len;
	unsigned nlabels;
	uint32_t cats; /* categories this zone answers for */
};

/* The DNSBL's answers, compiled from feeds_rbl_conf. Read-only once built. */
struct dnsbl_cfg {
	struct dnsbl_zone zones[DNSBL_ZONES_MAX];
	unsigned nzones;
	uint8_t code[RN_CAT_COUNT]; /* last octet of 127.0.0.x; 0 = not configured */
	uint8_t prio[RN_CAT_COUNT]; /* categories, highest priority first */
	unsigned nprio;
	int combine; /* enum feeds_dnsbl_combine */
	uint32_t ttl;
	uint32_t neg_ttl;
	uint8_t ns[DNSBL_NS_MAX][DNS_NAME_MAX + 1];
	size_t ns_len[DNSBL_NS_MAX];
	unsigned nns;
	uint8_t rname[DNS_NAME_MAX + 1];
	size_t rname_len;
	char txt[2 * DNSBL_TXT_MAX + 2]; /* reason and URL template */
	uint16_t edns_size;
};

/*
 * Compiles c into cfg. RN_ECONF with a message in err when a value does
 * not make sense (a code outside 127.0.0.2-127.0.0.255, a bad zone).
 */
int dnsbl_cfg_build(struct dnsbl_cfg *cfg, const struct feeds_rbl_conf *c, char *err,
                    size_t errlen);

/* Encodes a dotted name ("bl.example.") in lower-case wire form. */
int dns_name_from_text(const char *s, uint8_t *out, size_t *len, unsigned *nlabels);

/*
 * Expands a TXT template: "$" becomes addr, "%c" the category names of
 * cats joined by ",", "%%" a "%". At most DNSBL_TXT_MAX bytes are
 * written (the rest is cut); returns the length.
 */
size_t dnsbl_txt_expand(const char *tmpl, const char *addr, uint32_t cats, char *out,
                        size_t outlen);

/* The A record's last octet for cats under cfg (always 2-255). */
uint8_t dnsbl_code(const struct dnsbl_cfg *cfg, uint32_t cats);

/* What an answer was, for the metrics. */
struct dnsbl_result {
	int rcode;      /* DNS_R_*, or DNS_R_DROP */
	bool listed;    /* an address found listed (answer or NODATA) */
	bool truncated; /* TC set: the answer did not fit */
	bool in_zone;
	bool bad_name; /* a compression pointer or bad label in the question */
};

/*
 * Answers the query in[0..inlen) into out (cap >= DNS_MSG_MAX). limit is
 * the most the transport carries: for UDP 512 or the client's EDNS0 size
 * (capped at cfg->edns_size), for TCP 65535. Returns the answer's length,
 * or 0 when the query is dropped. Lookups go through v; now_ms judges
 * expiry and makes the SOA serial. Allocates nothing; thread-safe.
 */
size_t dnsbl_respond(const struct dnsbl_cfg *cfg, const struct feeds_view *v, int64_t now_ms,
                     const uint8_t *in, size_t inlen, bool tcp, uint8_t *out, size_t cap,
                     struct dnsbl_result *res);

/* ------------------------------------------------------------------ */
/* DNSBL server                                                        */
/* ------------------------------------------------------------------ */

/*
 * repnet's DNS responder for its zones (c->dnsbl_zones) over UDP and TCP
 * on every c->dnsbl_listen address. c->dnsbl_workers UDP threads each own
 * an SO_REUSEPORT socket per address and answer batches with recvmmsg and
 * sendmmsg; one thread serves TCP. Answers come from v at query time, so
 * updates of the view show at once. c and v must outlive the server. Free
 * with feeds_dnsbl_stop().
 */
struct feeds_dnsbl;
int feeds_dnsbl_start(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                      const struct feeds_view *v, struct rn_metrics *m);
/*
 * feeds_dnsbl_start() in two steps: open binds the sockets (queries then
 * wait in the kernel's queues), run starts answering them. The serve role
 * binds before it loads its list, as rbldnsd does, so that a query sent
 * during the load is answered when the load ends rather than refused.
 * After either, free with feeds_dnsbl_stop().
 */
int feeds_dnsbl_open(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                     const struct feeds_view *v, struct rn_metrics *m);
int feeds_dnsbl_run(struct feeds_dnsbl *d);
/* The port bound (the same for UDP and TCP; useful with port 0). */
unsigned feeds_dnsbl_port(const struct feeds_dnsbl *d);
/* Stops the threads, closes the sockets and frees d. Safe on NULL. */
void feeds_dnsbl_stop(struct feeds_dnsbl *d);

#endif /* REPNET_FEEDS_DNS_H */
