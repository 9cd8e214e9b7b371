/*
 * wire.c: a strict protobuf wire reader over the bounded cursor.
 *
 * Design notes: only what the envelope needs: varints (canonical length
 * is not required, but at most 10 bytes and no overflow past 64 bits),
 * keys, and length-delimited values whose length is checked against what
 * is left before it is used.
 */
#include "feeds/bus/wire.h"

int feeds_wire_varint(struct rn_cur *c, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned i = 0; i < 10; i++) {
		uint8_t b = rn_cur_u8(c);
		if (!rn_cur_ok(c))
			return c->err;
		if (i == 9 && b > 1)
			return RN_EPARSE; /* more than 64 bits */
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return RN_OK;
		}
	}
	return RN_EPARSE;
}

int feeds_wire_tag(struct rn_cur *c, uint32_t *field, unsigned *wt)
{
	uint64_t key;
	int rc = feeds_wire_varint(c, &key);
	if (rc != RN_OK)
		return rc;
	uint64_t f = key >> 3;
	if (f == 0 || f > 0x1fffffff || (key & 7) > 5)
		return RN_EPARSE;
	*field = (uint32_t)f;
	*wt = (unsigned)(key & 7);
	return RN_OK;
}

int feeds_wire_bytes(struct rn_cur *c, const uint8_t **p, size_t *n)
{
	uint64_t len;
	int rc = feeds_wire_varint(c, &len);
	if (rc != RN_OK)
		return rc;
	if (len > rn_cur_left(c))
		return RN_ETRUNC;
	*p = rn_cur_bytes(c, (size_t)len);
	*n = (size_t)len;
	return RN_OK;
}
