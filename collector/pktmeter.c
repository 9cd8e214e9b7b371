/*
 * pktmeter.c: the mirror-port flow meter.
 *
 * Design notes:
 *   - Every frame is parsed by pkt_parse() (bounded, no allocation). TCP
 *     connections are tracked from their SYN in an open-addressing table
 *     of fixed size; the key is direction-symmetric so both halves of a
 *     connection find the entry. A connection completes when the
 *     responder's SYN-ACK acknowledges the initiator's ISN + 1 and the
 *     initiator then acknowledges the responder's ISN + 1: that is a
 *     verified handshake, reported at once as a record flagged
 *     COLLECTOR_FLOW_COMPLETED. A blind spoofer never sees the responder's
 *     ISN, so it cannot complete one.
 *   - A connection that does not complete (RST, or `timeout` of event time
 *     without progress) is reported as one biflow record: initiator
 *     counts forward, responder counts reverse (zero when it never
 *     answered), so the detectors see SYN-only attempts as one-way and
 *     answered probes as answered.
 *   - UDP packets become one-packet records; the detectors pair the two
 *     directions. Other protocols are counted and skipped.
 *   - Bounds: probing is limited to 16 slots; a full window evicts its
 *     oldest entry (reported first, counted). A sweep of 4 slots per frame
 *     retires idle entries.
 *   - SMTP counters: SYN toward 25/465/587, SYN-ACK from them, and
 *     verified handshakes toward them.
 *   - One thread at a time; records are batched and flushed per call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/pktmeter.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define PROBE_MAX 16
#define SWEEP     4
#define OUT_BATCH 64

enum conn_state { C_EMPTY, C_SYN, C_SYNACK, C_EST };

struct conn {
	struct rn_addr c, s;
	uint16_t cport, sport;
	uint8_t state;
	uint8_t cflags, sflags;
	uint32_t cisn, sisn;
	uint32_t hash;
	int64_t first, last;
	uint64_t cpk, cby, spk, sby;
};

struct pktmeter {
	struct conn *t;
	size_t cap; /* power of two */
	size_t sweep;
	size_t n;
	int64_t timeout_ms;
	int64_t now;
	struct collector_flow_rec_sink sink;
	struct collector_flow_rec out[OUT_BATCH];
	size_t nout;
	struct rn_metrics *metrics;
	struct pktmeter_stats stats;
};

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t end_hash(const struct rn_addr *a, uint16_t port)
{
	uint64_t x;
	if (a->family == RN_AF_INET) {
		x = a->u.v4;
	} else {
		uint64_t y;
		memcpy(&x, a->u.v6, 8);
		memcpy(&y, a->u.v6 + 8, 8);
		x ^= mix64(y);
	}
	return mix64(x ^ ((uint64_t)port << 40));
}

static bool smtp_port(uint16_t p)
{
	return p == 25 || p == 465 || p == 587;
}

static void out_flush(struct pktmeter *pm)
{
	if (pm->nout > 0 && pm->sink.rec != NULL)
		pm->sink.rec(pm->sink.arg, pm->out, pm->nout);
	pm->nout = 0;
}

static struct collector_flow_rec *out_next(struct pktmeter *pm)
{
	if (pm->nout == OUT_BATCH)
		out_flush(pm);
	struct collector_flow_rec *r = &pm->out[pm->nout++];
	memset(r, 0, sizeof(*r));
	r->source = RN_SRC_MIRROR;
	r->sampling = 1;
	return r;
}

static void conn_report(struct pktmeter *pm, const struct conn *k, bool completed)
{
	struct collector_flow_rec *r = out_next(pm);
	r->src = k->c;
	r->dst = k->s;
	r->sport = k->cport;
	r->dport = k->sport;
	r->proto = 6;
	r->tcp_flags = k->cflags;
	r->rev_tcp_flags = k->sflags;
	r->packets = k->cpk;
	r->bytes = k->cby;
	r->rev_packets = k->spk;
	r->rev_bytes = k->sby;
	r->first_ms = k->first;
	r->last_ms = k->last;
	r->flags = COLLECTOR_FLOW_BIFLOW | (completed ? COLLECTOR_FLOW_COMPLETED : 0);
}

/* Retires an entry: incomplete connections are reported. */
static void conn_retire(struct pktmeter *pm, struct conn *k)
{
	if (k->state != C_EST)
		conn_report(pm, k, false);
	k->state = C_EMPTY;
	pm->n--;
	rn_gauge_set(&pm->stats.conns, (int64_t)pm->n);
}

static struct conn *conn_find(struct pktmeter *pm, const struct pkt_info *pi, uint32_t h,
                              bool *from_client)
{
	size_t mask = pm->cap - 1;
	for (size_t i = 0; i < PROBE_MAX; i++) {
		struct conn *k = &pm->t[(h + i) & mask];
		if (k->state == C_EMPTY || k->hash != h)
			continue;
		if (k->cport == pi->sport && k->sport == pi->dport &&
		    rn_addr_equal(&k->c, &pi->src) && rn_addr_equal(&k->s, &pi->dst)) {
			*from_client = true;
			return k;
		}
		if (k->cport == pi->dport && k->sport == pi->sport &&
		    rn_addr_equal(&k->c, &pi->dst) && rn_addr_equal(&k->s, &pi->src)) {
			*from_client = false;
			return k;
		}
	}
	return NULL;
}

static struct conn *conn_new(struct pktmeter *pm, uint32_t h)
{
	size_t mask = pm->cap - 1;
	struct conn *old = NULL;
	for (size_t i = 0; i < PROBE_MAX; i++) {
		struct conn *k = &pm->t[(h + i) & mask];
		if (k->state == C_EMPTY)
			return k;
		if (old == NULL || k->last < old->last)
			old = k;
	}
	rn_counter_inc(&pm->stats.evicted);
	conn_retire(pm, old);
	return old;
}

static void meter_tcp(struct pktmeter *pm, const struct pkt_info *pi, size_t len, int64_t ts)
{
	uint32_t h = (uint32_t)(end_hash(&pi->src, pi->sport) ^ end_hash(&pi->dst, pi->dport));
	uint8_t fl = pi->tcp_flags;
	bool from_client = false;
	struct conn *k = conn_find(pm, pi, h, &from_client);

	if ((fl & (TCP_SYN | TCP_ACK)) == TCP_SYN && smtp_port(pi->dport))
		rn_counter_inc(&pm->stats.smtp_syn);
	if ((fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && smtp_port(pi->sport))
		rn_counter_inc(&pm->stats.smtp_synack);

	if ((fl & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		if (k != NULL && k->state != C_SYN)
			conn_retire(pm, k), k = NULL; /* a new connection on an old tuple */
		if (k == NULL) {
			k = conn_new(pm, h);
			memset(k, 0, sizeof(*k));
			k->c = pi->src;
			k->s = pi->dst;
			k->cport = pi->sport;
			k->sport = pi->dport;
			k->hash = h;
			k->first = ts;
			k->state = C_SYN;
			pm->n++;
			rn_gauge_set(&pm->stats.conns, (int64_t)pm->n);
		}
		k->cisn = pi->tcp_seq; /* a retransmitted SYN keeps the latest ISN */
		from_client = true;
	}
	if (k == NULL)
		return; /* mid-flow traffic without its SYN: not tracked */
	k->last = ts;
	if (from_client) {
		k->cflags |= fl;
		k->cpk++;
		k->cby += pi->ip_len ? pi->ip_len : len;
	} else {
		k->sflags |= fl;
		k->spk++;
		k->sby += pi->ip_len ? pi->ip_len : len;
	}
	if (!from_client && (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
	    k->state == C_SYN && pi->tcp_ack == k->cisn + 1) {
		k->sisn = pi->tcp_seq;
		k->state = C_SYNACK;
	} else if (from_client && (fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK &&
	           k->state == C_SYNACK && pi->tcp_ack == k->sisn + 1) {
		k->state = C_EST;
		rn_counter_inc(&pm->stats.completed);
		if (smtp_port(k->sport))
			rn_counter_inc(&pm->stats.smtp_completed);
		conn_report(pm, k, true);
	}
	if (fl & (TCP_RST | TCP_FIN)) {
		if (k->state != C_EST || (fl & TCP_RST))
			conn_retire(pm, k);
	}
}

static void meter_udp(struct pktmeter *pm, const struct pkt_info *pi, size_t len, int64_t ts)
{
	struct collector_flow_rec *r = out_next(pm);
	r->src = pi->src;
	r->dst = pi->dst;
	r->sport = pi->sport;
	r->dport = pi->dport;
	r->proto = pi->proto;
	r->packets = 1;
	r->bytes = pi->ip_len ? pi->ip_len : len;
	r->first_ms = r->last_ms = ts;
}

static void sweep(struct pktmeter *pm)
{
	for (int i = 0; i < SWEEP; i++) {
		struct conn *k = &pm->t[pm->sweep];
		pm->sweep = (pm->sweep + 1) & (pm->cap - 1);
		if (k->state != C_EMPTY && pm->now - k->last > pm->timeout_ms)
			conn_retire(pm, k);
	}
}

int pktmeter_frame(struct pktmeter *pm, enum pkt_link link, const uint8_t *buf, size_t len,
                   int64_t ts_ms)
{
	struct pkt_info pi;
	int rc;

	rn_counter_inc(&pm->stats.frames);
	if (ts_ms > pm->now)
		pm->now = ts_ms;
	sweep(pm);
	rc = pkt_parse(link, buf, len, &pi);
	if (rc == RN_EUNSUPP) {
		rn_counter_inc(&pm->stats.not_ip);
		goto out;
	}
	if (rc != RN_OK) {
		rn_counter_inc(&pm->stats.malformed);
		goto out;
	}
	if (pi.fragment && pi.sport == 0 && pi.dport == 0) {
		rn_counter_inc(&pm->stats.fragments);
		goto out;
	}
	if (pi.proto == 6)
		meter_tcp(pm, &pi, len, ts_ms);
	else if (pi.proto == 17 || pi.proto == 136)
		meter_udp(pm, &pi, len, ts_ms);
out:
	out_flush(pm);
	return rc;
}

void pktmeter_flush(struct pktmeter *pm)
{
	for (size_t i = 0; i < pm->cap; i++)
		if (pm->t[i].state != C_EMPTY)
			conn_retire(pm, &pm->t[i]);
	out_flush(pm);
}

const struct pktmeter_stats *pktmeter_stats(const struct pktmeter *pm)
{
	return &pm->stats;
}

static int meter_register(struct pktmeter *pm)
{
	struct rn_metrics *m = pm->metrics;
	struct pktmeter_stats *s = &pm->stats;
	int rc = RN_OK;
	if (m == NULL)
		return RN_OK;
	static const char help_f[] = "Mirror-port frames metered, by outcome.";
	static const char help_h[] =
	        "TCP handshake packets toward SMTP ports (25, 465, 587) on the "
	        "mirror port, by stage; completed ones are verified by sequence "
	        "numbers.";
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_frames_total", help_f,
	                             "result=\"metered\"", &s->frames);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_frames_total", help_f,
	                             "result=\"not_ip\"", &s->not_ip);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_frames_total", help_f,
	                             "result=\"malformed\"", &s->malformed);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_frames_total", help_f,
	                             "result=\"fragment\"", &s->fragments);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_smtp_handshakes_total", help_h,
	                             "stage=\"syn\"", &s->smtp_syn);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_smtp_handshakes_total", help_h,
	                             "stage=\"synack\"", &s->smtp_synack);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_smtp_handshakes_total", help_h,
	                             "stage=\"completed\"", &s->smtp_completed);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_handshakes_completed_total",
	                             "Verified TCP handshakes on the mirror port, any port.", NULL,
	                             &s->completed);
	rc = rc ? rc
	        : rn_metrics_counter(m, pm, "repnet_mirror_conn_evictions_total",
	                             "Tracked connections pushed out by the table's cap.", NULL,
	                             &s->evicted);
	rc = rc ? rc
	        : rn_metrics_gauge(m, pm, "repnet_mirror_conns",
	                           "TCP connections tracked by the mirror-port meter.", NULL,
	                           &s->conns);
	return rc;
}

int pktmeter_alloc(struct pktmeter **out, size_t max_conns, int64_t timeout_ms,
                   const struct collector_flow_rec_sink *sink, struct rn_metrics *m)
{
	struct pktmeter *pm = calloc(1, sizeof(*pm));
	int rc = -ENOMEM;
	if (pm == NULL)
		return -ENOMEM;
	pm->cap = 64;
	while (pm->cap < max_conns)
		pm->cap <<= 1;
	pm->t = calloc(pm->cap, sizeof(*pm->t));
	if (pm->t == NULL)
		goto fail;
	pm->timeout_ms = timeout_ms;
	if (sink != NULL)
		pm->sink = *sink;
	pm->metrics = m;
	rc = meter_register(pm);
	if (rc != RN_OK)
		goto fail;
	*out = pm;
	return RN_OK;
fail:
	pktmeter_free(pm);
	return rc;
}

void pktmeter_free(struct pktmeter *pm)
{
	if (pm == NULL)
		return;
	if (pm->metrics != NULL)
		rn_metrics_unregister(pm->metrics, pm);
	free(pm->t);
	free(pm);
}
