/*
 * ipfix.c: IPFIX messages (RFC 7011) over UDP.
 *
 * Design notes: the 16-byte header carries the message length, the export
 * time in seconds, the sequence number and the observation domain. The
 * session is (exporter address and port, observation domain), that is,
 * the UDP transport session of RFC 7011 section 10.3. The sequence number
 * counts data records (options records included), so the expected next
 * value is only known when every data set of a message was decoded; a
 * message with a set held for a missing template resets the check.
 * Set 2 holds templates, 3 options templates, 256 and above data; 4 to
 * 255 are reserved and skipped. A message length that disagrees with the
 * datagram, or a set length below 4 or past the message, is counted.
 * Decoder thread only.
 */
#include "collector/flow.h"

#define IPFIX_HDR 16

int ipfix_decode(struct flow_dec *d, const struct flow_origin *o, struct flow_exporter *e,
                 const uint8_t *buf, size_t len)
{
	struct rn_cur c;
	int first = RN_OK;

	rn_cur_init(&c, buf, len);
	(void)rn_cur_u16(&c);
	uint16_t mlen = rn_cur_u16(&c);
	uint32_t secs = rn_cur_u32(&c);
	uint32_t seq = rn_cur_u32(&c);
	uint32_t domain = rn_cur_u32(&c);
	if (!rn_cur_ok(&c)) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	if (mlen < IPFIX_HDR) {
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		return RN_EBADLEN;
	}
	if (mlen > len) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	if (mlen < len) {
		/* Trailing bytes after the message: counted, the message decoded. */
		flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
		first = RN_EBADLEN;
		rn_cur_init(&c, buf + IPFIX_HDR, mlen - IPFIX_HDR);
	}
	struct flow_session *s = flow_session_get(d, o, e, 10, domain);
	if (s == NULL) {
		flow_dec_count(d, e, FLOW_R_UNKNOWN_TEMPLATE);
		return RN_ELIMIT;
	}
	struct flow_timebase tb = {.export_ms = (int64_t)secs * 1000, .boot_ms = 0};
	uint32_t data_records = 0;
	bool seq_known = true;

	while (rn_cur_left(&c) > 0) {
		if (rn_cur_left(&c) < 4) {
			flow_dec_count(d, e, FLOW_R_TRUNCATED);
			first = first ? first : RN_ETRUNC;
			break;
		}
		uint16_t id = rn_cur_u16(&c);
		uint16_t slen = rn_cur_u16(&c);
		if (slen < 4) {
			flow_dec_count(d, e, FLOW_R_BAD_LENGTH);
			first = first ? first : RN_EBADLEN;
			seq_known = false;
			break;
		}
		struct rn_cur body;
		if (!rn_cur_sub(&c, (size_t)slen - 4, &body)) {
			flow_dec_count(d, e, FLOW_R_TRUNCATED);
			first = first ? first : RN_ETRUNC;
			seq_known = false;
			break;
		}
		uint32_t n = 0;
		int rc = flow_set_decode(d, s, o, &tb, id, body.p, rn_cur_left(&body), &n);
		data_records += n;
		/* A data set held for its template, or cut short: its count is unknown. */
		if (id >= 256 && rc != RN_OK)
			seq_known = false;
		if (first == RN_OK)
			first = rc;
	}
	if (seq_known)
		flow_session_seq(s, seq, data_records);
	else
		s->seq_valid = false;
	return first;
}
