/*
 * payload.c: SignedPayload framing.
 *
 * Design notes: the header is packed with protobuf-c (so protoc reads it)
 * and the body appended as field 10, 11 or 12 with its length; readers
 * walk the wire with the strict reader in wire.c and never parse a body
 * here. Field order on the wire is not significant to protobuf, so what
 * we build is an ordinary SignedPayload to any other reader.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/bus/payload.h"
#include "feeds/bus/wire.h"

int feeds_payload_build(const struct feeds_payload_hdr *h, unsigned body_field, const uint8_t *body,
                        size_t body_len, uint8_t **out, size_t *len)
{
	Repnet__V1__SignedPayload sp = REPNET__V1__SIGNED_PAYLOAD__INIT;
	if (body_field < FEEDS_BODY_SNAPSHOT || body_field > FEEDS_BODY_HEARTBEAT)
		return RN_EINTERNAL;
	if (body_len > FEEDS_WIRE_MAX - 4096)
		return RN_ELIMIT;
	sp.publisher = (char *)h->publisher;
	sp.epoch = h->epoch;
	sp.seq = h->seq;
	sp.time_ms = h->time_ms;
	sp.expires_ms = h->expires_ms;
	sp.digest.data = (uint8_t *)h->digest;
	sp.digest.len = 32;
	size_t hl = repnet__v1__signed_payload__get_packed_size(&sp);
	size_t total = hl + 1 + 10 + body_len;
	uint8_t *buf = malloc(total);
	if (buf == NULL)
		return -ENOMEM;
	repnet__v1__signed_payload__pack(&sp, buf);
	/* The body: one length-delimited field after the header's. */
	struct rn_wcur w;
	rn_wcur_init(&w, buf + hl, total - hl);
	rn_wcur_varint(&w, (uint64_t)body_field << 3 | FEEDS_WT_LEN);
	rn_wcur_varint(&w, body_len);
	rn_wcur_bytes(&w, body, body_len);
	if (!rn_wcur_ok(&w)) {
		free(buf);
		return RN_EINTERNAL;
	}
	*out = buf;
	*len = hl + w.len;
	return RN_OK;
}

int feeds_payload_parse(const uint8_t *buf, size_t len, struct feeds_payload_hdr *h,
                        unsigned *body_field, const uint8_t **body, size_t *body_len)
{
	struct rn_cur c;
	uint32_t seen = 0;
	memset(h, 0, sizeof(*h));
	*body = NULL;
	*body_len = 0;
	*body_field = 0;
	rn_cur_init(&c, buf, len);
	while (rn_cur_left(&c) > 0) {
		uint32_t f;
		unsigned wt;
		uint64_t v;
		const uint8_t *p;
		size_t n;
		int rc = feeds_wire_tag(&c, &f, &wt);
		if (rc != RN_OK)
			return rc;
		bool known = (f >= 1 && f <= 6) ||
		             (f >= FEEDS_BODY_SNAPSHOT && f <= FEEDS_BODY_HEARTBEAT);
		if (!known || (seen & (1u << f)))
			return RN_EPARSE;
		seen |= 1u << f;
		bool varint = f >= 2 && f <= 5;
		if (wt != (varint ? FEEDS_WT_VARINT : FEEDS_WT_LEN))
			return RN_EPARSE;
		if (varint)
			rc = feeds_wire_varint(&c, &v);
		else
			rc = feeds_wire_bytes(&c, &p, &n);
		if (rc != RN_OK)
			return rc;
		switch (f) {
		case 1:
			if (n == 0 || n >= FEEDS_NAME_MAX || memchr(p, '\0', n) != NULL)
				return RN_EPARSE;
			memcpy(h->publisher, p, n);
			h->publisher[n] = '\0';
			break;
		case 2:
			h->epoch = v;
			break;
		case 3:
			h->seq = v;
			break;
		case 4:
			h->time_ms = (int64_t)v;
			break;
		case 5:
			h->expires_ms = (int64_t)v;
			break;
		case 6:
			if (n != 32)
				return RN_EPARSE;
			memcpy(h->digest, p, 32);
			break;
		default:
			if (*body != NULL)
				return RN_EPARSE; /* two bodies */
			*body_field = f;
			*body = p;
			*body_len = n;
			break;
		}
	}
	/* A publisher, a digest and one body are required. */
	if (!(seen & (1u << 1)) || !(seen & (1u << 6)) || *body_field == 0)
		return RN_EPARSE;
	return RN_OK;
}

int feeds_heartbeat_build(uint64_t listed, uint32_t interval_ms, uint8_t *buf, size_t cap,
                          size_t *len)
{
	Repnet__V1__Heartbeat hb = REPNET__V1__HEARTBEAT__INIT;
	hb.listed = listed;
	hb.interval_ms = interval_ms;
	size_t n = repnet__v1__heartbeat__get_packed_size(&hb);
	if (n > cap)
		return RN_ELIMIT;
	*len = repnet__v1__heartbeat__pack(&hb, buf);
	return RN_OK;
}

int feeds_heartbeat_parse(const uint8_t *buf, size_t len, uint64_t *listed, uint32_t *interval_ms)
{
	struct rn_cur c;
	uint32_t seen = 0;
	*listed = 0;
	*interval_ms = 0;
	rn_cur_init(&c, buf, len);
	while (rn_cur_left(&c) > 0) {
		uint32_t f;
		unsigned wt;
		uint64_t v;
		int rc = feeds_wire_tag(&c, &f, &wt);
		if (rc != RN_OK)
			return rc;
		if (f < 1 || f > 2 || wt != FEEDS_WT_VARINT || (seen & (1u << f)))
			return RN_EPARSE;
		seen |= 1u << f;
		if ((rc = feeds_wire_varint(&c, &v)) != RN_OK)
			return rc;
		if (f == 1)
			*listed = v;
		else if (v > UINT32_MAX)
			return RN_EPARSE;
		else
			*interval_ms = (uint32_t)v;
	}
	return RN_OK;
}
