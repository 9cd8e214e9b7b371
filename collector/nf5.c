/*
 * nf5.c: NetFlow v5 datagrams.
 *
 * Design notes: a v5 datagram is a 24-byte header and `count` (1 to 30)
 * records of 48 bytes. Times in records are sysUpTime-relative; the
 * header gives the export time and sysUpTime, hence the boot time. A
 * datagram shorter than its count says has its complete records decoded
 * and is counted as truncated; a count above 30 is a bad length and
 * nothing is decoded. The flow sequence counts records, per (exporter
 * address, port, engine type and ID). Decoder thread only.
 */
#include "collector/flow.h"

#define NF5_HDR 24
#define NF5_REC 48
#define NF5_MAX 30

int nf5_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
               const uint8_t *buf, size_t len)
{
	struct rn_cur c;
	int rc = RN_OK;

	rn_cur_init(&c, buf, len);
	(void)rn_cur_u16(&c);
	uint16_t count = rn_cur_u16(&c);
	uint32_t uptime = rn_cur_u32(&c);
	uint32_t secs = rn_cur_u32(&c);
	uint32_t nsecs = rn_cur_u32(&c);
	uint32_t seq = rn_cur_u32(&c);
	uint8_t etype = rn_cur_u8(&c);
	uint8_t eid = rn_cur_u8(&c);
	uint16_t samp = rn_cur_u16(&c);
	if (!rn_cur_ok(&c)) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	if (count == 0 || count > NF5_MAX) {
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		return RN_EBADLEN;
	}
	size_t have = rn_cur_left(&c) / NF5_REC;
	if (have < count) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		rc = RN_ETRUNC;
	} else if (rn_cur_left(&c) != (size_t)count * NF5_REC) {
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		rc = RN_EBADLEN;
		have = count;
	} else {
		have = count;
	}

	struct flow_session *s = flow_session_get(d, o, e, 5, (uint32_t)etype << 8 | eid);
	if (s != NULL)
		flow_session_seq(s, seq, count);

	int64_t export_ms = (int64_t)secs * 1000 + nsecs / 1000000;
	int64_t boot_ms = export_ms - uptime;
	uint32_t interval = samp & 0x3fff;
	for (size_t i = 0; i < have; i++) {
		struct collector_flow_rec *r = flow_dec_rec_next(d);
		rn_addr_set_v4(&r->src, rn_cur_u32(&c));
		rn_addr_set_v4(&r->dst, rn_cur_u32(&c));
		rn_cur_skip(&c, 8); /* next hop, input and output interfaces */
		r->packets = rn_cur_u32(&c);
		r->bytes = rn_cur_u32(&c);
		uint32_t first = rn_cur_u32(&c);
		uint32_t last = rn_cur_u32(&c);
		r->sport = rn_cur_u16(&c);
		r->dport = rn_cur_u16(&c);
		rn_cur_skip(&c, 1);
		r->tcp_flags = rn_cur_u8(&c);
		r->proto = rn_cur_u8(&c);
		rn_cur_skip(&c, 1 + 2 + 2 + 1 + 1 + 2); /* tos, ASes, masks, pad */
		/* uptime - first is the age; int32 keeps it right across the wrap. */
		r->first_ms = export_ms - (int64_t)(int32_t)(uptime - first);
		r->last_ms = export_ms - (int64_t)(int32_t)(uptime - last);
		(void)boot_ms;
		r->exporter = o->addr;
		r->exporter_port = o->port;
		r->version = 5;
		r->source = RN_SRC_NETFLOW_V5;
		r->domain = (uint32_t)etype << 8 | eid;
		r->sampling = 1;
		if (interval > 1) {
			r->sampling = interval;
			r->flags |= COLLECTOR_FLOW_SAMPLED;
			if (d->conf.scale_sampling) {
				r->packets *= interval;
				r->bytes *= interval;
				r->flags |= COLLECTOR_FLOW_SCALED;
			}
		}
		flow_dec_rec_commit(d, r);
	}
	return rc;
}
