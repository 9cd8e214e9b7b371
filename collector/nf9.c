/*
 * nf9.c: NetFlow v9 export packets (RFC 3954).
 *
 * Design notes: the 20-byte header carries sysUpTime and the export time
 * in seconds, hence the boot time that record times are relative to. The
 * session is (exporter address, source ID); its package sequence advances
 * by one per packet. FlowSet 0 holds templates, 1 options templates, 256
 * and above data; 2 to 255 are reserved and skipped. A flowset length
 * below 4 or past the packet stops the packet, counted. The header's
 * record count is not trusted (exporters disagree on what it counts).
 * Decoder thread only.
 */
#include "collector/flow.h"

int nf9_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
               const uint8_t *buf, size_t len)
{
	struct rn_cur c;
	int first = RN_OK;

	rn_cur_init(&c, buf, len);
	(void)rn_cur_u16(&c);
	(void)rn_cur_u16(&c); /* count */
	uint32_t uptime = rn_cur_u32(&c);
	uint32_t secs = rn_cur_u32(&c);
	uint32_t seq = rn_cur_u32(&c);
	uint32_t source_id = rn_cur_u32(&c);
	if (!rn_cur_ok(&c)) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	struct flow_session *s = flow_session_get(d, o, e, 9, source_id);
	if (s == NULL) {
		/* The session table is full: nothing can be decoded. */
		flow_dec_count(d, e, FLOW_R_UNKNOWN_TEMPLATE);
		return RN_ELIMIT;
	}
	flow_session_seq(s, seq, 1);
	struct flow_timebase tb = {.export_ms = (int64_t)secs * 1000};
	tb.boot_ms = tb.export_ms - uptime;

	while (rn_cur_left(&c) > 0) {
		if (rn_cur_left(&c) < 4) {
			/* Trailing bytes too short for a flowset header: padding. */
			break;
		}
		uint16_t id = rn_cur_u16(&c);
		uint16_t flen = rn_cur_u16(&c);
		if (flen < 4) {
			flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
			return first ? first : RN_EBADLEN;
		}
		struct rn_cur body;
		if (!rn_cur_sub(&c, (size_t)flen - 4, &body)) {
			flow_dec_count(d, e, FLOW_R_TRUNCATED);
			return first ? first : RN_ETRUNC;
		}
		int rc = flow_set_decode(d, s, o, &tb, id, body.p, rn_cur_left(&body), NULL);
		if (first == RN_OK)
			first = rc;
	}
	return first;
}
