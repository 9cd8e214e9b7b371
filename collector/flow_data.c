/*
 * flow_data.c: NetFlow v9 and IPFIX data: the dispatch of one flowset or
 * set, data records decoded through a compiled template, record times
 * made absolute, and sampling options.
 *
 * Design notes:
 *   - This is the hot path. A record is decoded by walking its template's
 *     operations (compiled and length-checked when the template was
 *     stored, flow_ie.c), so each field costs one bounded read and one
 *     switch; the record is written in place into the decoder's batch.
 *     Nothing is allocated and nothing is looked up per field.
 *   - Lists (basicList, subTemplateList, subTemplateMultiList) are not
 *     decoded, but their structure is walked so that a zero-length or
 *     overlong element is caught and counted rather than trusted.
 *   - Options records update the session's samplers (by sampler or
 *     selector ID, or session-wide); data records take their rate from
 *     their own fields, then the sampler they name, then the session.
 *   - Thread: the decoder's thread only.
 */
#include "collector/flow.h"

/* ---- sets ---------------------------------------------------------------------- */

int flow_set_decode(struct flow_dec *d, struct flow_session *s, const struct flow_origin *o,
                    const struct flow_timebase *tb, uint16_t id, const uint8_t *buf, size_t len,
                    uint32_t *nrec)
{
	bool tmpl_set = s->version == 10 ? id == 2 || id == 3 : id == 0 || id == 1;

	if (nrec != NULL)
		*nrec = 0;
	if (tmpl_set)
		return flow_tmpl_set_parse(d, s, o, id, buf, len);
	if (id < 256)
		return RN_OK; /* reserved: skipped */
	struct flow_tmpl *t = flow_tmpl_find(d, s, id);
	if (t != NULL && flow_tmpl_expired(d, t, o->recv_ms)) {
		/* Not refreshed within its lifetime: gone; the data waits for a new one. */
		rn_counter_add_shared(&s->exp->templates_expired, 1);
		d->tot.templates_expired++;
		flow_tmpl_remove(d, t);
		t = NULL;
	}
	if (t == NULL) {
		flow_pending_add(d, s, id, tb, buf, len, o->recv_ms);
		return RN_ETEMPLATE;
	}
	return flow_tmpl_data_decode(d, s, t, tb, buf, len, nrec);
}

/* ---- data records ------------------------------------------------------------------ */

/* Walks a basicList, subTemplateList or subTemplateMultiList body. */
static int list_check(uint16_t ie, const uint8_t *p, size_t len)
{
	struct rn_cur c;
	rn_cur_init(&c, p, len);
	if (len == 0)
		return RN_OK; /* an empty list */
	(void)rn_cur_u8(&c);  /* semantic */
	if (ie == 291) {
		uint16_t fid = rn_cur_u16(&c);
		uint16_t elen = rn_cur_u16(&c);
		if (fid & 0x8000)
			rn_cur_skip(&c, 4);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
		if (elen == 0)
			return RN_EBADLEN;
		if (elen != FLOW_VARLEN && rn_cur_left(&c) % elen != 0)
			return RN_EBADLEN;
		return RN_OK;
	}
	if (ie == 292) {
		(void)rn_cur_u16(&c); /* template ID; the rest is its records */
		return rn_cur_ok(&c) ? RN_OK : RN_ETRUNC;
	}
	/* 293: repeated (template ID, length including this header, records). */
	while (rn_cur_left(&c) > 0) {
		uint16_t tid = rn_cur_u16(&c);
		uint16_t elen = rn_cur_u16(&c);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
		if (elen < 4 || tid < 256)
			return RN_EBADLEN; /* a zero-size element would never advance */
		rn_cur_skip(&c, (size_t)elen - 4);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
	}
	return RN_OK;
}

static inline uint64_t be_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Converts an NTP timestamp (seconds since 1900, fraction) to ms since 1970. */
static int64_t ntp_to_ms(uint64_t v)
{
	int64_t secs = (int64_t)(v >> 32) - 2208988800LL;
	int64_t frac_ms = (int64_t)(((v & 0xffffffffULL) * 1000) >> 32);
	return secs * 1000 + frac_ms;
}

struct rec_times {
	int64_t first_ms, last_ms, first_up, last_up, sysinit_ms;
	int64_t first_delta_us, last_delta_us, duration_ms;
	bool first, last, fup, lup, fdelta, ldelta, dur;
};

struct rec_opts {
	uint64_t sampler_id, interval, space;
	bool has_id, has_interval, has_space;
};

static void sampler_set(struct flow_session *s, const struct rec_opts *ro)
{
	uint64_t iv = 0;
	if (ro->has_interval) {
		iv = ro->interval;
		/* 305/306: one in (interval + space) packets is sampled... per interval. */
		if (ro->has_space && ro->interval > 0)
			iv = (ro->interval + ro->space) / ro->interval;
	}
	if (iv == 0 || iv > 0xffffffffULL)
		return;
	if (!ro->has_id) {
		s->sampling = (uint32_t)iv;
		return;
	}
	size_t free_slot = FLOW_SAMPLERS;
	for (size_t i = 0; i < FLOW_SAMPLERS; i++) {
		if (s->samplers[i].interval != 0 && s->samplers[i].id == (uint32_t)ro->sampler_id) {
			s->samplers[i].interval = (uint32_t)iv;
			return;
		}
		if (s->samplers[i].interval == 0 && free_slot == FLOW_SAMPLERS)
			free_slot = i;
	}
	if (free_slot == FLOW_SAMPLERS)
		free_slot = (size_t)(ro->sampler_id % FLOW_SAMPLERS);
	s->samplers[free_slot].id = (uint32_t)ro->sampler_id;
	s->samplers[free_slot].interval = (uint32_t)iv;
}

static uint32_t sampler_get(const struct flow_session *s, const struct rec_opts *ro)
{
	if (ro->has_interval && ro->interval > 0 && ro->interval <= 0xffffffffULL)
		return (uint32_t)ro->interval;
	if (ro->has_id)
		for (size_t i = 0; i < FLOW_SAMPLERS; i++)
			if (s->samplers[i].interval != 0 &&
			    s->samplers[i].id == (uint32_t)ro->sampler_id)
				return s->samplers[i].interval;
	return s->sampling;
}

/* Turns sysUpTime-relative ms into absolute ms, allowing for the 32-bit wrap. */
static int64_t uptime_abs(const struct flow_timebase *tb, int64_t up)
{
	/* boot_ms + up, where up has wrapped if it is far ahead of export time. */
	int64_t t = tb->boot_ms + up;
	if (t > tb->export_ms + 0x7fffffffLL)
		t -= 0x100000000LL;
	return t;
}

static void rec_finish(struct flow_dec *d, struct flow_session *s, const struct flow_timebase *tb,
                       struct collector_flow_rec *r, const struct rec_times *tm,
                       const struct rec_opts *ro)
{
	int64_t first = 0, last = 0;
	bool hf = false, hl = false;

	if (tm->first) {
		first = tm->first_ms;
		hf = true;
	} else if (tm->fup) {
		if (tm->sysinit_ms != 0)
			first = tm->sysinit_ms + tm->first_up, hf = true;
		else if (tb->boot_ms != 0)
			first = uptime_abs(tb, tm->first_up), hf = true;
	} else if (tm->fdelta) {
		first = tb->export_ms - tm->first_delta_us / 1000, hf = true;
	}
	if (tm->last) {
		last = tm->last_ms;
		hl = true;
	} else if (tm->lup) {
		if (tm->sysinit_ms != 0)
			last = tm->sysinit_ms + tm->last_up, hl = true;
		else if (tb->boot_ms != 0)
			last = uptime_abs(tb, tm->last_up), hl = true;
	} else if (tm->ldelta) {
		last = tb->export_ms - tm->last_delta_us / 1000, hl = true;
	}
	if (hf && !hl && tm->dur)
		last = first + tm->duration_ms, hl = true;
	if (!hf && hl && tm->dur)
		first = last - tm->duration_ms, hf = true;
	if (!hf && !hl) {
		first = last = tb->export_ms;
		r->flags |= COLLECTOR_FLOW_NOTIME;
	} else if (!hf) {
		first = last;
	} else if (!hl) {
		last = first;
	}
	r->first_ms = first;
	r->last_ms = last;

	uint32_t rate = sampler_get(s, ro);
	r->sampling = 1;
	if (rate > 1) {
		r->sampling = rate;
		r->flags |= COLLECTOR_FLOW_SAMPLED;
		if (d->conf.scale_sampling) {
			r->packets *= rate;
			r->bytes *= rate;
			r->rev_packets *= rate;
			r->rev_bytes *= rate;
			r->flags |= COLLECTOR_FLOW_SCALED;
		}
	}
	if (r->rev_packets != 0 || r->rev_bytes != 0)
		r->flags |= COLLECTOR_FLOW_BIFLOW;
}

/*
 * Decodes one record at c. Returns RN_OK, or RN_ETRUNC / RN_EBADLEN when
 * a variable-length field or list does not fit.
 */
static int rec_decode(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t,
                      const struct flow_timebase *tb, struct rn_cur *c)
{
	struct collector_flow_rec *r = flow_dec_rec_next(d);
	struct rec_times tm = {0};
	struct rec_opts ro = {0};
	int icmp_type = -1, icmp_code = 0;
	bool icmp_tc = false;
	uint16_t icmp_tc_v = 0;

	for (uint16_t i = 0; i < t->nfields; i++) {
		const struct flow_tmpl_field *f = &t->f[i];
		size_t len = f->len;
		if (len == FLOW_VARLEN) {
			len = rn_cur_u8(c);
			if (len == 255)
				len = rn_cur_u16(c);
		}
		const uint8_t *p = rn_cur_bytes(c, len);
		if (p == NULL)
			return RN_ETRUNC;
		switch ((enum flow_op)f->op) {
		case FOP_SKIP:
			break;
		case FOP_SRC4:
			rn_addr_set_v4(&r->src, (uint32_t)be_uint(p, 4));
			break;
		case FOP_DST4:
			rn_addr_set_v4(&r->dst, (uint32_t)be_uint(p, 4));
			break;
		case FOP_SRC6:
			rn_addr_set_v6(&r->src, p);
			break;
		case FOP_DST6:
			rn_addr_set_v6(&r->dst, p);
			break;
		case FOP_SPORT:
			r->sport = (uint16_t)be_uint(p, len);
			break;
		case FOP_DPORT:
			r->dport = (uint16_t)be_uint(p, len);
			break;
		case FOP_PROTO:
			r->proto = (uint8_t)be_uint(p, len);
			break;
		case FOP_TCPFLAGS:
			r->tcp_flags = (uint8_t)be_uint(p, len);
			break;
		case FOP_REV_TCPFLAGS:
			r->rev_tcp_flags = (uint8_t)be_uint(p, len);
			break;
		case FOP_PACKETS:
			r->packets = be_uint(p, len);
			break;
		case FOP_BYTES:
			r->bytes = be_uint(p, len);
			break;
		case FOP_REV_PACKETS:
			r->rev_packets = be_uint(p, len);
			break;
		case FOP_REV_BYTES:
			r->rev_bytes = be_uint(p, len);
			break;
		case FOP_FIRST_UPTIME:
			tm.first_up = (int64_t)be_uint(p, len), tm.fup = true;
			break;
		case FOP_LAST_UPTIME:
			tm.last_up = (int64_t)be_uint(p, len), tm.lup = true;
			break;
		case FOP_FIRST_S:
			tm.first_ms = (int64_t)be_uint(p, 4) * 1000, tm.first = true;
			break;
		case FOP_LAST_S:
			tm.last_ms = (int64_t)be_uint(p, 4) * 1000, tm.last = true;
			break;
		case FOP_FIRST_MS:
			tm.first_ms = (int64_t)be_uint(p, 8), tm.first = true;
			break;
		case FOP_LAST_MS:
			tm.last_ms = (int64_t)be_uint(p, 8), tm.last = true;
			break;
		case FOP_FIRST_US:
		case FOP_FIRST_NS:
			tm.first_ms = ntp_to_ms(be_uint(p, 8)), tm.first = true;
			break;
		case FOP_LAST_US:
		case FOP_LAST_NS:
			tm.last_ms = ntp_to_ms(be_uint(p, 8)), tm.last = true;
			break;
		case FOP_FIRST_DELTA_US:
			tm.first_delta_us = (int64_t)be_uint(p, len), tm.fdelta = true;
			break;
		case FOP_LAST_DELTA_US:
			tm.last_delta_us = (int64_t)be_uint(p, len), tm.ldelta = true;
			break;
		case FOP_DURATION_MS:
			tm.duration_ms = (int64_t)be_uint(p, len), tm.dur = true;
			break;
		case FOP_SYSINIT_MS:
			tm.sysinit_ms = (int64_t)be_uint(p, 8);
			break;
		case FOP_ICMP_TYPECODE:
			icmp_tc = true;
			icmp_tc_v = (uint16_t)be_uint(p, len);
			break;
		case FOP_ICMP_TYPE:
			icmp_type = (int)be_uint(p, len);
			break;
		case FOP_ICMP_CODE:
			icmp_code = (int)be_uint(p, len);
			break;
		case FOP_SAMPLER_ID:
			ro.sampler_id = be_uint(p, len), ro.has_id = true;
			break;
		case FOP_SAMPLING_INTERVAL:
			ro.interval = be_uint(p, len), ro.has_interval = true;
			break;
		case FOP_SAMPLING_SPACE:
			ro.space = be_uint(p, len), ro.has_space = true;
			break;
		case FOP_SAMPLING_ALGO:
			break;
		case FOP_VARLIST: {
			int rc = list_check(f->ie, p, len);
			if (rc != RN_OK)
				return rc;
			break;
		}
		}
	}
	if (t->options) {
		sampler_set(s, &ro);
		return RN_OK; /* options records carry no flow */
	}
	if (r->src.family == 0 && r->dst.family == 0)
		return RN_OK; /* not a flow record (no addresses): nothing to emit */
	if (r->proto == 1 || r->proto == 58) {
		if (icmp_tc)
			r->dport = icmp_tc_v;
		else if (icmp_type >= 0)
			r->dport = (uint16_t)(icmp_type << 8 | icmp_code);
	}
	r->exporter = s->addr;
	r->exporter_port = d->cur_port;
	r->version = s->version;
	r->source = s->version == 9 ? RN_SRC_NETFLOW_V9 : RN_SRC_IPFIX;
	r->domain = s->domain;
	rec_finish(d, s, tb, r, &tm, &ro);
	flow_dec_rec_commit(d, r);
	return RN_OK;
}

int flow_tmpl_data_decode(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t,
                          const struct flow_timebase *tb, const uint8_t *buf, size_t len,
                          uint32_t *nrec)
{
	struct rn_cur c;
	uint32_t n = 0;
	rn_cur_init(&c, buf, len);
	if (nrec != NULL)
		*nrec = 0;
	/* Every record takes at least min_len >= 1 bytes, so this ends. */
	while (rn_cur_left(&c) >= t->min_len) {
		int rc = rec_decode(d, s, t, tb, &c);
		if (rc == RN_OK && nrec != NULL)
			*nrec = ++n;
		if (rc != RN_OK) {
			flow_dec_count(d, s->exp,
			               rc == RN_EBADLEN ? FLOW_R_BAD_LENGTH : FLOW_R_TRUNCATED);
			return rc;
		}
	}
	/* What is left is padding; more than 3 bytes of it is a bad length. */
	if (rn_cur_left(&c) > 3) {
		flow_dec_count(d, s->exp, FLOW_R_BAD_LENGTH);
		return RN_EBADLEN;
	}
	return RN_OK;
}
