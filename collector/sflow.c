/*
 * sflow.c: sFlow version 5 datagrams (sFlow.org, "sFlow Version 5").
 *
 * Design notes: sFlow is XDR: big-endian 32-bit words, opaque data padded
 * to 4 bytes. Every sample and every flow record carries its own length,
 * which is checked against its container before the body is read through
 * a sub-cursor, so a record can never read its neighbour. A flow sample
 * (format 1, or 3 expanded) becomes one record when it holds a raw packet
 * header (record 1: Ethernet, IPv4 or IPv6), or a sampled IPv4 or IPv6
 * record (3, 4): one packet of frame_length bytes, multiplied by the
 * sampling rate when flow.scale_sampling is set. sFlow carries no flow
 * times, so first and last are the arrival time. Counter samples (2, 4)
 * are walked and counted, not decoded. The datagram sequence is checked
 * per (agent, sub-agent). Decoder thread only.
 */
#include "collector/flow.h"

#define SFLOW_MAX_SAMPLES 1024
#define SFLOW_MAX_RECORDS 256

/* Reads an XDR opaque of n bytes plus its padding. */
static const uint8_t *xdr_opaque(struct rn_cur *c, size_t n)
{
	const uint8_t *p = rn_cur_bytes(c, n);
	if (p != NULL)
		rn_cur_skip(c, (4 - (n & 3)) & 3);
	return p;
}

/*
 * Reads the (format, length) header of a sample or record and its body as
 * a sub-cursor. RN_ETRUNC when the header is cut short, RN_EBADLEN when
 * the body does not fit in its container.
 */
static int xdr_item(struct rn_cur *c, uint32_t *fmt, struct rn_cur *body)
{
	*fmt = rn_cur_u32(c);
	uint32_t len = rn_cur_u32(c);
	if (!rn_cur_ok(c))
		return RN_ETRUNC;
	if (!rn_cur_sub(c, len, body))
		return RN_EBADLEN;
	return RN_OK;
}

static int flow_record(struct flow_dec *d, struct rn_cur *rc, uint32_t fmt,
                       struct collector_flow_rec *r, bool *have)
{
	struct pkt_info pi;
	switch (fmt) {
	case 1: { /* raw packet header */
		uint32_t proto = rn_cur_u32(rc);
		uint32_t frame_len = rn_cur_u32(rc);
		(void)rn_cur_u32(rc); /* stripped */
		uint32_t hlen = rn_cur_u32(rc);
		if (!rn_cur_ok(rc))
			return RN_ETRUNC;
		if (hlen > rn_cur_left(rc))
			return RN_EBADLEN;
		const uint8_t *h = xdr_opaque(rc, hlen);
		if (h == NULL)
			return RN_ETRUNC;
		enum pkt_link link;
		if (proto == 1)
			link = PKT_LINK_ETHER;
		else if (proto == 11 || proto == 12)
			link = PKT_LINK_RAW;
		else
			return RN_OK; /* another link type: not decoded, not an error */
		if (pkt_parse(link, h, hlen, &pi) != RN_OK)
			return RN_OK; /* not IP (ARP, ...): nothing to record */
		r->src = pi.src;
		r->dst = pi.dst;
		r->sport = pi.sport;
		r->dport = pi.dport;
		r->proto = pi.proto;
		r->tcp_flags = pi.tcp_flags;
		r->bytes = frame_len;
		*have = true;
		return RN_OK;
	}
	case 3:   /* sampled IPv4 */
	case 4: { /* sampled IPv6: the same record with 16-byte addresses */
		size_t alen = fmt == 3 ? 4 : 16;
		uint32_t len = rn_cur_u32(rc);
		uint32_t proto = rn_cur_u32(rc);
		const uint8_t *s = rn_cur_bytes(rc, alen);
		const uint8_t *t = rn_cur_bytes(rc, alen);
		uint32_t sp = rn_cur_u32(rc);
		uint32_t dp = rn_cur_u32(rc);
		uint32_t fl = rn_cur_u32(rc);
		if (!rn_cur_ok(rc))
			return RN_ETRUNC;
		(void)rn_addr_from_bytes(&r->src, s, alen);
		(void)rn_addr_from_bytes(&r->dst, t, alen);
		r->sport = (uint16_t)sp;
		r->dport = (uint16_t)dp;
		r->proto = (uint8_t)proto;
		r->tcp_flags = (uint8_t)fl;
		r->bytes = len;
		*have = true;
		return RN_OK;
	}
	default:
		(void)d;
		return RN_OK; /* extended records (switch, router, ...): skipped */
	}
}

static int flow_sample(struct flow_dec *d, const struct flow_origin *o, const struct rn_addr *agent,
                       struct rn_cur *sc, bool expanded)
{
	uint32_t source_id;
	(void)rn_cur_u32(sc); /* sample sequence */
	if (expanded) {
		uint32_t type = rn_cur_u32(sc);
		uint32_t index = rn_cur_u32(sc);
		source_id = type << 24 | (index & 0xffffff);
	} else {
		source_id = rn_cur_u32(sc);
	}
	uint32_t rate = rn_cur_u32(sc);
	(void)rn_cur_u32(sc);               /* sample pool */
	(void)rn_cur_u32(sc);               /* drops */
	rn_cur_skip(sc, expanded ? 16 : 8); /* input, output */
	uint32_t nrec = rn_cur_u32(sc);
	if (!rn_cur_ok(sc))
		return RN_ETRUNC;
	if (nrec > SFLOW_MAX_RECORDS)
		return RN_EBADLEN;

	struct collector_flow_rec *r = flow_dec_rec_next(d);
	bool have = false;
	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t fmt;
		struct rn_cur rc;
		int e = xdr_item(sc, &fmt, &rc);
		if (e != RN_OK)
			return e;
		if (have || (fmt >> 12) != 0)
			continue; /* the first packet record wins; enterprise records skipped */
		e = flow_record(d, &rc, fmt & 0xfff, r, &have);
		if (e != RN_OK)
			return e;
	}
	if (!have)
		return RN_OK;
	r->exporter = *agent;
	r->exporter_port = o->port;
	r->version = 5;
	r->source = RN_SRC_SFLOW;
	r->domain = source_id;
	r->packets = 1;
	r->first_ms = r->last_ms = o->recv_ms;
	r->flags |= COLLECTOR_FLOW_NOTIME;
	r->sampling = rate > 0 ? rate : 1;
	if (rate > 1) {
		r->flags |= COLLECTOR_FLOW_SAMPLED;
		if (d->conf.scale_sampling) {
			r->packets *= rate;
			r->bytes *= rate;
			r->flags |= COLLECTOR_FLOW_SCALED;
		}
	}
	flow_dec_rec_commit(d, r);
	return RN_OK;
}

static int counter_sample(struct rn_cur *sc, bool expanded)
{
	rn_cur_skip(sc, expanded ? 12 : 8); /* sequence, source id */
	uint32_t nrec = rn_cur_u32(sc);
	if (!rn_cur_ok(sc))
		return RN_ETRUNC;
	if (nrec > SFLOW_MAX_RECORDS)
		return RN_EBADLEN;
	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t fmt;
		struct rn_cur rc;
		int e = xdr_item(sc, &fmt, &rc);
		if (e != RN_OK)
			return e;
	}
	return RN_OK;
}

int sflow_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
                 const uint8_t *buf, size_t len)
{
	struct rn_cur c;
	struct rn_addr agent;
	int first = RN_OK;

	rn_cur_init(&c, buf, len);
	(void)rn_cur_u32(&c); /* version 5 */
	uint32_t atype = rn_cur_u32(&c);
	const uint8_t *a = rn_cur_bytes(&c, atype == 2 ? 16 : 4);
	uint32_t sub = rn_cur_u32(&c);
	uint32_t seq = rn_cur_u32(&c);
	(void)rn_cur_u32(&c); /* uptime */
	uint32_t nsamples = rn_cur_u32(&c);
	if (!rn_cur_ok(&c)) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	if ((atype != 1 && atype != 2) ||
	    rn_addr_from_bytes(&agent, a, atype == 2 ? 16 : 4) != RN_OK) {
		flow_dec_count(d, e, FLOW_R_BAD_VERSION);
		return RN_EPARSE;
	}
	if (nsamples > SFLOW_MAX_SAMPLES) {
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		return RN_EBADLEN;
	}
	struct flow_session *s = flow_session_get(d, o, e, 6, sub);
	if (s != NULL)
		flow_session_seq(s, seq, 1);

	for (uint32_t i = 0; i < nsamples; i++) {
		uint32_t fmt;
		struct rn_cur sc;
		int rc = xdr_item(&c, &fmt, &sc);
		if (rc != RN_OK) {
			flow_dec_count(d, e,
			               rc == RN_EBADLEN ? FLOW_R_BAD_LENGTH : FLOW_R_TRUNCATED);
			return first ? first : rc;
		}
		if ((fmt >> 12) != 0)
			continue; /* enterprise samples: skipped */
		switch (fmt & 0xfff) {
		case 1:
		case 3:
			rc = flow_sample(d, o, &agent, &sc, (fmt & 0xfff) == 3);
			break;
		case 2:
		case 4:
			rc = counter_sample(&sc, (fmt & 0xfff) == 4);
			if (rc == RN_OK)
				rn_counter_add_shared(&e->counter_samples, 1);
			break;
		default:
			break;
		}
		if (rc != RN_OK) {
			flow_dec_count(d, e,
			               rc == RN_EBADLEN ? FLOW_R_BAD_LENGTH : FLOW_R_TRUNCATED);
			if (first == RN_OK)
				first = rc;
		}
	}
	if (rn_cur_left(&c) != 0) {
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		if (first == RN_OK)
			first = RN_EBADLEN;
	}
	return first;
}
