/*
 * flow_detect.c: detectors over flow records: SMTP spray, horizontal and
 * vertical scans, brute force on authentication ports, reflection and
 * amplification, and the context kinds syn_only and udp_oneway.
 *
 * Design notes:
 *   - Spoofing. A source address on a one-way record proves nothing, so
 *     one-way records only ever produce the context kinds (RN_KIND_SYN_ONLY,
 *     RN_KIND_UDP_ONEWAY), which never list on their own. Listing kinds
 *     need the other direction: SMTP spray and brute force count only
 *     completed TCP handshakes (the initiator's record has SYN and ACK and
 *     the responder's has SYN and ACK); scans count only probes that the
 *     target answered. Reflection reports the answering address as
 *     RN_KIND_REFLECTOR and the address answered as
 *     RN_KIND_AMPLIFICATION_VICTIM, never as attackers. The residual risk
 *     (a spoofer whose targets answer the innocent address produces
 *     "answered" probes) is discussed in docs/design.md.
 *   - Pairing. Unidirectional exporters (NetFlow, most IPFIX) send the two
 *     directions of a conversation as two records. A record waits in a
 *     FIFO ring (max_pending entries) with an open-addressing index keyed
 *     by a direction-symmetric hash, for pair_window of event time. Its
 *     reverse completes it into a conversation; a record of the same
 *     direction is merged into it (long flows exported in pieces). When it
 *     leaves the ring unanswered, by age or pushed out by the cap (counted),
 *     it is classified as one-way. Biflow records (RFC 5103) and packet
 *     meter records with a verified handshake are conversations at once.
 *   - Per-address state lives in an 8-way set-associative table of
 *     max_sources entries; a full set evicts its least recently seen entry
 *     (counted). Distinct destinations, ports and reflectors are counted
 *     with 256-bit linear-counting sketches, so state per address is fixed
 *     (about 200 bytes) whatever the traffic.
 *   - One-way records are counted per (address, kind) in a count-min
 *     sketch (two rows of 64 Ki 16-bit counters, conservative update,
 *     cleared at each window boundary of event time), so a flood of
 *     spoofed one-way records costs two cache-resident counters each; the
 *     per-address state is touched only when a source reaches context_min.
 *     The sketch can only overcount, by collisions, and what it feeds is
 *     context, never a listing kind.
 *   - Windows are per address and in event time: the first record after
 *     `window` since the window opened resets the counts. A kind is
 *     reported once per window per address, when its count crosses the
 *     threshold, with the count and a short evidence text.
 *   - Threading: none inside; the caller serialises feed/flush.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/flow_detect.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define WAYS            8
#define BM_WORDS        4
#define OBS_BATCH       64
#define FUTURE_SLACK_MS 60000 /* live: how far past the wall clock event time may go */
#define CM_ROWS         2
#define CM_SIZE         65536 /* per row; 256 KiB in all, so it stays in cache */

struct bm {
	uint64_t w[BM_WORDS];
};

enum det_kind { K_SPRAY, K_HSCAN, K_VSCAN, K_BRUTE, K_REFLECTOR, K_VICTIM, K_SYNONLY, K_UDPONEWAY };

static const uint16_t det_kind_map[] = {
        [K_SPRAY] = RN_KIND_SMTP_SPRAY,    [K_HSCAN] = RN_KIND_SCAN_HORIZONTAL,
        [K_VSCAN] = RN_KIND_SCAN_VERTICAL, [K_BRUTE] = RN_KIND_AUTH_BRUTEFORCE,
        [K_REFLECTOR] = RN_KIND_REFLECTOR, [K_VICTIM] = RN_KIND_AMPLIFICATION_VICTIM,
        [K_SYNONLY] = RN_KIND_SYN_ONLY,    [K_UDPONEWAY] = RN_KIND_UDP_ONEWAY,
};

struct src_state {
	struct rn_addr addr;
	int64_t window_start;
	int64_t seen;
	uint16_t emitted; /* bit per enum det_kind, this window */
	uint8_t source;
	uint8_t used;
	uint16_t brute_port;
	uint32_t brute;
	uint32_t syn_only;
	uint32_t udp_oneway;
	uint64_t amp_pkts;
	struct bm spray, dsts, ports, refl;
};

/*
 * One direction of a flow: a record waiting in the ring for its reverse
 * (live, hash and in are used there only), a one-way record, or one side
 * of a conversation.
 */
struct pend {
	struct rn_addr src, dst;
	uint16_t sport, dport;
	uint8_t proto, flags, source, live;
	uint32_t hash;
	int64_t first, last;
	int64_t in; /* when it entered the ring: wall clock live, event time offline */
	uint64_t packets, bytes;
};

struct flow_detect {
	const struct collector_flow_conf *c;
	struct collector_sink sink;
	struct rn_metrics *metrics;
	const void *owner;
	int64_t now;
	int64_t wall; /* live: the wall clock of the last tick; 0 offline */
	/* per-address state */
	uint32_t *tags; /* nsets * WAYS; 0 = empty */
	struct src_state *st;
	size_t nsets;
	/* waiting records */
	struct pend *ring;
	size_t cap, head, tail, count;
	uint64_t *idx; /* hash << 32 | ring slot + 1; 0 = empty */
	size_t idxcap;
	/* one-way counts per (address, kind), before any per-address state */
	uint16_t *cm; /* CM_ROWS * CM_SIZE */
	int64_t cm_epoch;
	/* observations being batched */
	struct rn_obs out[OBS_BATCH];
	size_t nout;
	uint64_t emitted;
	struct flow_detect_stats stats;
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

static uint64_t addr_hash(const struct rn_addr *a)
{
	if (a->family == RN_AF_INET)
		return mix64(a->u.v4 ^ 0x4000000000000000ULL);
	uint64_t x, y;
	memcpy(&x, a->u.v6, 8);
	memcpy(&y, a->u.v6 + 8, 8);
	return mix64(x ^ mix64(y));
}

static void bm_add(struct bm *b, uint64_t h)
{
	b->w[(h >> 6) & (BM_WORDS - 1)] |= 1ULL << (h & 63);
}

/* Linear counting: n = -m ln(z / m), m = 256 bits, z the zero bits. */
static uint32_t bm_est(const struct bm *b)
{
	unsigned ones = 0;
	for (int i = 0; i < BM_WORDS; i++)
		ones += (unsigned)__builtin_popcountll(b->w[i]);
	unsigned m = BM_WORDS * 64, z = m - ones;
	if (z == 0)
		return (uint32_t)(m * 6); /* saturated: more than ~1500 */
	return (uint32_t)lround(-(double)m * log((double)z / (double)m));
}

static bool port_is_smtp(uint16_t p)
{
	return p == 25 || p == 465 || p == 587;
}

static bool port_is_auth(uint16_t p)
{
	switch (p) {
	case 21:
	case 22:
	case 23:
	case 110:
	case 143:
	case 993:
	case 995:
	case 1433:
	case 3306:
	case 3389:
	case 5432:
	case 5900:
		return true;
	default:
		return false;
	}
}

/* UDP services whose answers are larger than their questions. */
static bool port_is_amplifier(uint16_t p)
{
	switch (p) {
	case 17:    /* qotd */
	case 19:    /* chargen */
	case 53:    /* dns */
	case 111:   /* portmap */
	case 123:   /* ntp */
	case 137:   /* netbios */
	case 161:   /* snmp */
	case 389:   /* cldap */
	case 1900:  /* ssdp */
	case 3702:  /* ws-discovery */
	case 5353:  /* mdns */
	case 11211: /* memcached */
		return true;
	default:
		return false;
	}
}

/* ---- observations ---------------------------------------------------------------- */

static void obs_flush(struct flow_detect *d)
{
	if (d->nout == 0)
		return;
	if (d->sink.emit != NULL)
		d->sink.emit(d->sink.arg, d->out, d->nout);
	d->nout = 0;
}

static void emit(struct flow_detect *d, struct src_state *s, enum det_kind k, uint32_t count,
                 const char *evidence)
{
	if (s->emitted & (1u << k))
		return;
	s->emitted |= (uint16_t)(1u << k);
	if (d->nout == OBS_BATCH)
		obs_flush(d);
	struct rn_obs *o = &d->out[d->nout++];
	memset(o, 0, sizeof(*o));
	o->addr = s->addr;
	o->source = s->source;
	o->kind = det_kind_map[k];
	o->count = count > 0 ? count : 1;
	o->ts_ms = d->now;
	rn_obs_set_evidence(o, evidence, strlen(evidence));
	snprintf(o->program, sizeof(o->program), "flow");
	rn_counter_inc(&d->stats.obs[o->kind]);
	d->emitted++;
}

/* ---- per-address state ---------------------------------------------------------- */

static struct src_state *state_get(struct flow_detect *d, const struct rn_addr *a, uint8_t source)
{
	uint64_t h = addr_hash(a);
	size_t set = (size_t)h & (d->nsets - 1);
	uint32_t tag = (uint32_t)(h >> 32) | 1;
	uint32_t *tags = &d->tags[set * WAYS];
	struct src_state *ent = &d->st[set * WAYS];
	size_t victim = 0;

	for (size_t w = 0; w < WAYS; w++) {
		if (tags[w] == tag && rn_addr_equal(&ent[w].addr, a)) {
			struct src_state *s = &ent[w];
			s->seen = d->now;
			if (d->now - s->window_start >= d->c->window_ms) {
				int64_t keep = d->now;
				memset(s, 0, sizeof(*s));
				s->addr = *a;
				s->used = 1;
				s->window_start = s->seen = keep;
			}
			s->source = source;
			return s;
		}
		if (tags[w] == 0) {
			victim = w;
			goto fresh;
		}
		if (ent[w].seen < ent[victim].seen)
			victim = w;
	}
	rn_counter_inc(&d->stats.sources_evicted);
	rn_gauge_add(&d->stats.sources, -1);
fresh:
	rn_gauge_add(&d->stats.sources, 1);
	tags[victim] = tag;
	struct src_state *s = &ent[victim];
	memset(s, 0, sizeof(*s));
	s->addr = *a;
	s->used = 1;
	s->source = source;
	s->window_start = s->seen = d->now;
	return s;
}

/* ---- classification ----------------------------------------------------------- */

static void scan_probe(struct flow_detect *d, const struct pend *i, uint8_t source)
{
	struct src_state *s = state_get(d, &i->src, source);
	char ev[RN_EVIDENCE_MAX];
	bm_add(&s->dsts, addr_hash(&i->dst));
	bm_add(&s->ports, mix64(i->dport ^ 0x5000));
	uint32_t nd = bm_est(&s->dsts), np = bm_est(&s->ports);
	if (nd >= d->c->hscan_dsts && !(s->emitted & (1u << K_HSCAN))) {
		snprintf(ev, sizeof(ev), "hosts=%u ports=%u", nd, np);
		emit(d, s, K_HSCAN, nd, ev);
	}
	if (np >= d->c->vscan_ports && !(s->emitted & (1u << K_VSCAN))) {
		snprintf(ev, sizeof(ev), "ports=%u hosts=%u", np, nd);
		emit(d, s, K_VSCAN, np, ev);
	}
}

static void amplified(struct flow_detect *d, const struct rn_addr *refl,
                      const struct rn_addr *victim, uint16_t port, uint64_t packets, uint8_t source)
{
	char ev[RN_EVIDENCE_MAX];
	struct src_state *v = state_get(d, victim, source);
	bm_add(&v->refl, addr_hash(refl));
	uint32_t n = bm_est(&v->refl);
	if (n >= d->c->amp_reflectors && !(v->emitted & (1u << K_VICTIM))) {
		snprintf(ev, sizeof(ev), "reflectors=%u port=%u", n, port);
		emit(d, v, K_VICTIM, n, ev);
	}
	struct src_state *r = state_get(d, refl, source);
	r->amp_pkts += packets;
	if (r->amp_pkts >= (uint64_t)d->c->context_min && !(r->emitted & (1u << K_REFLECTOR))) {
		snprintf(ev, sizeof(ev), "amplified=%llu port=%u", (unsigned long long)r->amp_pkts,
		         port);
		emit(d, r, K_REFLECTOR,
		     (uint32_t)(r->amp_pkts > 0xffffffffu ? 0xffffffffu : r->amp_pkts), ev);
	}
}

static bool is_amplified(const struct flow_detect *d, uint16_t sport, uint16_t dport,
                         uint64_t packets, uint64_t bytes)
{
	return port_is_amplifier(sport) && !port_is_amplifier(dport) && packets > 0 &&
	       bytes / packets >= (uint64_t)d->c->amp_bytes_per_packet;
}

/* Both directions seen: i is the initiator, r the responder. */
static void conversation(struct flow_detect *d, uint8_t proto, const struct pend *i,
                         const struct pend *r, bool completed, uint8_t source)
{
	char ev[RN_EVIDENCE_MAX];

	rn_counter_inc(&d->stats.conversations);
	if (proto == 6) {
		if (!completed)
			completed = (i->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
			            (r->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
			            i->packets >= 2;
		if (!completed) {
			if (r->packets > 0)
				scan_probe(d, i, source);
			return;
		}
		rn_counter_inc(&d->stats.completed);
		if (port_is_smtp(i->dport)) {
			struct src_state *s = state_get(d, &i->src, source);
			bm_add(&s->spray, addr_hash(&i->dst));
			uint32_t n = bm_est(&s->spray);
			if (n >= d->c->spray_dsts && !(s->emitted & (1u << K_SPRAY))) {
				snprintf(ev, sizeof(ev), "smtp_dsts=%u port=%u", n, i->dport);
				emit(d, s, K_SPRAY, n, ev);
			}
		}
		if (port_is_auth(i->dport) && i->packets <= 100 && i->last - i->first <= 120000) {
			struct src_state *s = state_get(d, &i->src, source);
			s->brute++;
			s->brute_port = i->dport;
			if (s->brute >= d->c->bruteforce_sessions &&
			    !(s->emitted & (1u << K_BRUTE))) {
				snprintf(ev, sizeof(ev), "sessions=%u port=%u", s->brute, i->dport);
				emit(d, s, K_BRUTE, s->brute, ev);
			}
		}
		/* A connect scan completes handshakes and sends nothing. */
		if (i->packets <= 3 && (i->flags & TCP_RST))
			scan_probe(d, i, source);
		return;
	}
	if (proto == 17 || proto == 136) {
		if (r->packets == 0)
			return;
		if (is_amplified(d, r->sport, r->dport, r->packets, r->bytes)) {
			amplified(d, &r->src, &r->dst, r->sport, r->packets, source);
			return;
		}
		scan_probe(d, i, source);
	}
}

/*
 * Counts one more one-way record of kind k from a, in a count-min sketch
 * (two rows, conservative update) reset every window. Returns the count
 * the first time it reaches context_min, 0 otherwise, so that per-address
 * state is only touched for sources that matter: a flood of spoofed
 * one-way records costs two cache-resident counters each.
 */
static uint32_t context_count(struct flow_detect *d, const struct rn_addr *a, enum det_kind k)
{
	int64_t epoch = d->now / d->c->window_ms;
	if (epoch != d->cm_epoch) {
		memset(d->cm, 0, sizeof(*d->cm) * CM_ROWS * CM_SIZE);
		d->cm_epoch = epoch;
	}
	uint64_t h = mix64(addr_hash(a) ^ ((uint64_t)k << 56));
	uint16_t *c0 = &d->cm[h & (CM_SIZE - 1)];
	uint16_t *c1 = &d->cm[CM_SIZE + ((h >> 32) & (CM_SIZE - 1))];
	uint16_t m = *c0 < *c1 ? *c0 : *c1;
	if (m == UINT16_MAX)
		return 0;
	m++;
	if (*c0 < m)
		*c0 = m;
	if (*c1 < m)
		*c1 = m;
	return m == (uint32_t)d->c->context_min ? m : 0;
}

/* A record whose reverse never came. */
static void one_way(struct flow_detect *d, const struct pend *p)
{
	char ev[RN_EVIDENCE_MAX];

	rn_counter_inc(&d->stats.oneway);
	if (p->proto == 6) {
		if ((p->flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			return; /* mid-flow or asymmetric routing: no conclusion */
		uint32_t n = context_count(d, &p->src, K_SYNONLY);
		if (n == 0)
			return;
		struct src_state *s = state_get(d, &p->src, p->source);
		s->syn_only = n;
		snprintf(ev, sizeof(ev), "syn_only=%u", n);
		emit(d, s, K_SYNONLY, n, ev);
		return;
	}
	if (p->proto == 17 || p->proto == 136) {
		if (is_amplified(d, p->sport, p->dport, p->packets, p->bytes)) {
			amplified(d, &p->src, &p->dst, p->sport, p->packets, p->source);
			return;
		}
		uint32_t n = context_count(d, &p->src, K_UDPONEWAY);
		if (n == 0)
			return;
		struct src_state *s = state_get(d, &p->src, p->source);
		s->udp_oneway = n;
		snprintf(ev, sizeof(ev), "udp_oneway=%u", n);
		emit(d, s, K_UDPONEWAY, n, ev);
	}
}

/* ---- pairing ---------------------------------------------------------------------- */

static uint32_t pair_hash(const struct rn_addr *a, uint16_t ap, const struct rn_addr *b,
                          uint16_t bp, uint8_t proto)
{
	/* Symmetric in (a, ap) and (b, bp), so both directions meet. */
	uint64_t x = addr_hash(a) ^ mix64((uint64_t)ap << 8 | 1);
	uint64_t y = addr_hash(b) ^ mix64((uint64_t)bp << 8 | 1);
	return (uint32_t)mix64((x ^ y) + proto);
}

/*
 * Index entries carry the record's hash beside its ring slot, so probing
 * and deleting never read the ring (a cache miss per entry) until a hash
 * matches.
 */
static uint64_t idx_entry(uint32_t hash, size_t slot)
{
	return (uint64_t)hash << 32 | (uint32_t)(slot + 1);
}

static void idx_delete(struct flow_detect *d, size_t slot)
{
	size_t mask = d->idxcap - 1;
	size_t i = slot;
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		uint64_t v = d->idx[j];
		if (v == 0)
			break;
		size_t home = (size_t)(v >> 32) & mask;
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			d->idx[i] = v;
			i = j;
		}
	}
	d->idx[i] = 0;
}

static void idx_remove_ring_slot(struct flow_detect *d, size_t ring_slot)
{
	size_t mask = d->idxcap - 1;
	for (size_t i = d->ring[ring_slot].hash & mask;; i = (i + 1) & mask) {
		if (d->idx[i] == 0)
			return;
		if ((uint32_t)d->idx[i] == ring_slot + 1) {
			idx_delete(d, i);
			return;
		}
	}
}

/* Pops the oldest waiting record; classifies it when still unanswered. */
static void ring_pop(struct flow_detect *d, bool evicted)
{
	struct pend *p = &d->ring[d->tail];
	if (p->live) {
		idx_remove_ring_slot(d, d->tail);
		p->live = 0;
		if (evicted)
			rn_counter_inc(&d->stats.pending_evicted);
		one_way(d, p);
	}
	d->tail = (d->tail + 1) % d->cap;
	d->count--;
	rn_gauge_set(&d->stats.pending, (int64_t)d->count);
}

static int64_t ring_clock(const struct flow_detect *d)
{
	return d->wall != 0 ? d->wall : d->now;
}

static void ring_expire(struct flow_detect *d)
{
	int64_t clock = ring_clock(d);
	while (d->count > 0) {
		struct pend *p = &d->ring[d->tail];
		if (p->live && p->in + d->c->pair_window_ms >= clock)
			break;
		ring_pop(d, false);
	}
}

/* A record as one direction; reverse: the other direction of a biflow. */
static inline struct pend pend_of(const struct collector_flow_rec *r, bool reverse)
{
	return (struct pend){.src = reverse ? r->dst : r->src,
	                     .dst = reverse ? r->src : r->dst,
	                     .sport = reverse ? r->dport : r->sport,
	                     .dport = reverse ? r->sport : r->dport,
	                     .proto = r->proto,
	                     .flags = reverse ? r->rev_tcp_flags : r->tcp_flags,
	                     .source = r->source,
	                     .first = r->first_ms,
	                     .last = r->last_ms,
	                     .packets = reverse ? r->rev_packets : r->packets,
	                     .bytes = reverse ? r->rev_bytes : r->bytes};
}

/* Orders two directions into (initiator, responder). */
static void order(uint8_t proto, const struct pend *x, const struct pend *y, const struct pend **i,
                  const struct pend **r)
{
	*i = x;
	*r = y;
	if (proto == 6) {
		bool xs = (x->flags & TCP_SYN) != 0, ys = (y->flags & TCP_SYN) != 0;
		if (xs != ys) {
			if (ys)
				*i = y, *r = x;
			return;
		}
	}
	bool xlow = x->dport < 1024, ylow = y->dport < 1024;
	if (xlow != ylow) {
		if (ylow)
			*i = y, *r = x;
		return;
	}
	if (x->first != y->first) {
		if (y->first < x->first)
			*i = y, *r = x;
		return;
	}
	if (y->dport < x->dport)
		*i = y, *r = x;
}

static void pair(struct flow_detect *d, const struct collector_flow_rec *r, uint32_t h)
{
	size_t mask = d->idxcap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint64_t v = d->idx[i];
		if (v == 0)
			break;
		if ((uint32_t)(v >> 32) != h)
			continue;
		struct pend *p = &d->ring[(uint32_t)v - 1];
		if (p->proto != r->proto)
			continue;
		if (p->sport == r->dport && p->dport == r->sport &&
		    rn_addr_equal(&p->src, &r->dst) && rn_addr_equal(&p->dst, &r->src)) {
			struct pend y = pend_of(r, false);
			const struct pend *ini, *rsp;
			order(r->proto, p, &y, &ini, &rsp);
			idx_delete(d, i);
			p->live = 0;
			conversation(d, r->proto, ini, rsp, false, r->source);
			return;
		}
		if (p->sport == r->sport && p->dport == r->dport &&
		    rn_addr_equal(&p->src, &r->src) && rn_addr_equal(&p->dst, &r->dst)) {
			p->flags |= r->tcp_flags;
			p->packets += r->packets;
			p->bytes += r->bytes;
			if (r->last_ms > p->last)
				p->last = r->last_ms;
			return;
		}
	}
	if (d->c->pair_window_ms == 0) {
		struct pend x = pend_of(r, false);
		one_way(d, &x);
		return;
	}
	if (d->count == d->cap)
		ring_pop(d, true);
	size_t slot = d->head;
	struct pend *p = &d->ring[slot];
	*p = pend_of(r, false);
	p->live = 1;
	p->hash = h;
	p->in = ring_clock(d);
	d->head = (d->head + 1) % d->cap;
	d->count++;
	rn_gauge_set(&d->stats.pending, (int64_t)d->count);
	size_t i = h & mask;
	while (d->idx[i] != 0)
		i = (i + 1) & mask;
	d->idx[i] = idx_entry(h, slot);
}

/*
 * Starts loading, ahead of use, the cache lines that a record will touch:
 * its index slot, and (when the ring is full, so that inserting pops the
 * oldest entry and reuses its slot) that ring entry and, one step later,
 * its index slot. With a batch of records in hand this overlaps the cache
 * misses instead of taking them one after the other.
 */
static void prefetch_for(struct flow_detect *d, uint32_t h, size_t ahead)
{
	__builtin_prefetch(&d->idx[h & (d->idxcap - 1)]);
	if (d->count + 2 * ahead >= d->cap) {
		/* Two steps: the entry first, its index slot once it is in cache. */
		const struct pend *far = &d->ring[(d->tail + 2 * ahead) % d->cap];
		__builtin_prefetch(far, 1);
		__builtin_prefetch((const uint8_t *)far + 64, 1);
		const struct pend *p = &d->ring[(d->tail + ahead) % d->cap];
		__builtin_prefetch(&d->idx[p->hash & (d->idxcap - 1)]);
	}
}

#define PREFETCH_AHEAD 8
#define CHUNK          64

static void feed_one(struct flow_detect *d, const struct collector_flow_rec *r, uint32_t h)
{
	rn_counter_inc(&d->stats.records);
	if (r->src.family == 0 || r->dst.family == 0)
		return;
	/*
	 * Live, a record from the future (a wrong exporter clock, or a hostile
	 * one) may not drag event time ahead of the wall clock, or it would
	 * close every window early and clear the sketch at will.
	 */
	int64_t t = r->last_ms;
	if (d->wall != 0 && t > d->wall + FUTURE_SLACK_MS)
		t = d->wall + FUTURE_SLACK_MS;
	if (t > d->now)
		d->now = t;
	ring_expire(d);
	if (r->flags & (COLLECTOR_FLOW_BIFLOW | COLLECTOR_FLOW_COMPLETED)) {
		struct pend x = pend_of(r, false), y = pend_of(r, true);
		if (r->flags & COLLECTOR_FLOW_COMPLETED) {
			conversation(d, r->proto, &x, &y, true, r->source);
			return;
		}
		if (r->rev_packets == 0) {
			one_way(d, &x);
			return;
		}
		/* RFC 5103: the record's source is the initiator. */
		conversation(d, r->proto, &x, &y, false, r->source);
		return;
	}
	pair(d, r, h);
}

void flow_detect_feed(struct flow_detect *d, const struct collector_flow_rec *recs, size_t n)
{
	uint32_t h[CHUNK];
	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK;
		const struct collector_flow_rec *r = recs + base;
		for (size_t k = 0; k < m; k++)
			h[k] = pair_hash(&r[k].src, r[k].sport, &r[k].dst, r[k].dport, r[k].proto);
		for (size_t k = 0; k < m && k < PREFETCH_AHEAD; k++)
			prefetch_for(d, h[k], k);
		for (size_t k = 0; k < m; k++) {
			if (k + PREFETCH_AHEAD < m)
				prefetch_for(d, h[k + PREFETCH_AHEAD], PREFETCH_AHEAD);
			feed_one(d, &r[k], h[k]);
		}
	}
	obs_flush(d);
}

void flow_detect_tick(struct flow_detect *d, int64_t wall_ms)
{
	if (wall_ms > d->wall)
		d->wall = wall_ms;
	ring_expire(d);
	obs_flush(d);
}

bool flow_detect_idle(const struct flow_detect *d)
{
	return d->count == 0 && d->nout == 0;
}

void flow_detect_flush(struct flow_detect *d)
{
	while (d->count > 0)
		ring_pop(d, false);
	obs_flush(d);
}

const struct flow_detect_stats *flow_detect_stats(const struct flow_detect *d)
{
	return &d->stats;
}

uint64_t flow_detect_emitted(const struct flow_detect *d)
{
	return d->emitted;
}

static int detect_register(struct flow_detect *d)
{
	struct rn_metrics *m = d->metrics;
	const void *o = d->owner;
	int rc = RN_OK;
	if (m == NULL)
		return RN_OK;
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_records_total",
	                             "Flow records seen by the detectors.", NULL,
	                             &d->stats.records);
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_conversations_total",
	                             "Flows seen in both directions (paired, biflow or metered), "
	                             "by outcome.",
	                             "tcp=\"completed\"", &d->stats.completed);
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_conversations_total",
	                             "Flows seen in both directions (paired, biflow or metered), "
	                             "by outcome.",
	                             "tcp=\"any\"", &d->stats.conversations);
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_oneway_total",
	                             "Records whose reverse direction never came.", NULL,
	                             &d->stats.oneway);
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_evictions_total",
	                             "Detector state pushed out by its cap, by table.",
	                             "table=\"pending\"", &d->stats.pending_evicted);
	rc = rc ? rc
	        : rn_metrics_counter(m, o, "repnet_flow_detect_evictions_total",
	                             "Detector state pushed out by its cap, by table.",
	                             "table=\"sources\"", &d->stats.sources_evicted);
	rc = rc ? rc
	        : rn_metrics_gauge(m, o, "repnet_flow_detect_pending",
	                           "One-way records waiting for their reverse.", NULL,
	                           &d->stats.pending);
	rc = rc ? rc
	        : rn_metrics_gauge(m, o, "repnet_flow_detect_sources",
	                           "Addresses with detector state.", NULL, &d->stats.sources);
	for (size_t k = 0; k < RN_ARRAY_LEN(det_kind_map) && rc == RN_OK; k++) {
		char lab[64];
		snprintf(lab, sizeof(lab), "kind=\"%s\"", rn_kind_name(det_kind_map[k]));
		rc = rn_metrics_counter(m, o, "repnet_flow_observations_total",
		                        "Observations emitted by the flow detectors, by kind.", lab,
		                        &d->stats.obs[det_kind_map[k]]);
	}
	return rc;
}

/*
 * Touches every page of a fresh table, so that the page faults happen at
 * start and not, one by one, on the hot path.
 */
static void prefault(void *p, size_t len)
{
	volatile uint8_t *v = p;
	for (size_t i = 0; i < len; i += 4096)
		v[i] = 0;
}

int flow_detect_alloc(struct flow_detect **out, const struct collector_flow_conf *c,
                      const struct collector_sink *sink, struct rn_metrics *m, const void *owner)
{
	struct flow_detect *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;
	if (d == NULL)
		return -ENOMEM;
	d->c = c;
	if (sink != NULL)
		d->sink = *sink;
	d->metrics = m;
	(void)owner;
	d->owner = d; /* its own owner, so freeing it drops only its metrics */
	size_t ns = 1;
	while (ns * WAYS < (size_t)c->max_sources)
		ns <<= 1;
	d->nsets = ns;
	d->tags = calloc(ns * WAYS, sizeof(*d->tags));
	d->st = calloc(ns * WAYS, sizeof(*d->st));
	d->cap = (size_t)c->max_pending;
	d->ring = calloc(d->cap, sizeof(*d->ring));
	d->idxcap = 16;
	while (d->idxcap < 2 * d->cap)
		d->idxcap <<= 1;
	d->idx = calloc(d->idxcap, sizeof(*d->idx));
	d->cm = calloc((size_t)CM_ROWS * CM_SIZE, sizeof(*d->cm));
	if (d->tags == NULL || d->st == NULL || d->ring == NULL || d->idx == NULL || d->cm == NULL)
		goto fail;
	prefault(d->tags, ns * WAYS * sizeof(*d->tags));
	prefault(d->st, ns * WAYS * sizeof(*d->st));
	prefault(d->ring, d->cap * sizeof(*d->ring));
	prefault(d->idx, d->idxcap * sizeof(*d->idx));
	prefault(d->cm, (size_t)CM_ROWS * CM_SIZE * sizeof(*d->cm));
	rc = detect_register(d);
	if (rc != RN_OK)
		goto fail;
	*out = d;
	return RN_OK;
fail:
	flow_detect_free(d);
	return rc;
}

void flow_detect_free(struct flow_detect *d)
{
	if (d == NULL)
		return;
	if (d->metrics != NULL)
		rn_metrics_unregister(d->metrics, d->owner);
	free(d->cm);
	free(d->idx);
	free(d->ring);
	free(d->st);
	free(d->tags);
	free(d);
}
