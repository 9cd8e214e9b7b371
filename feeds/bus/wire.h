/*
 * wire.h: a strict reader of the protobuf wire format, for the few places
 * where feeds must look at bytes before they are authenticated (the outer
 * envelope). Internal to the bus.
 */
#ifndef REPNET_FEEDS_WIRE_H
#define REPNET_FEEDS_WIRE_H

#include "proto/proto.h"

/* No message on the bus may exceed this, whatever the configuration says. */
#define FEEDS_WIRE_MAX (256u << 20)

#define FEEDS_WT_VARINT 0
#define FEEDS_WT_LEN    2

/* Reads a varint of at most 10 bytes; a longer one is RN_EPARSE. */
int feeds_wire_varint(struct rn_cur *c, uint64_t *v);
/* Reads a field key: field numbers 1..2^29-1, wire types 0-5. */
int feeds_wire_tag(struct rn_cur *c, uint32_t *field, unsigned *wt);
/* Reads a length-delimited value; *p points into the cursor's buffer. */
int feeds_wire_bytes(struct rn_cur *c, const uint8_t **p, size_t *n);

#endif /* REPNET_FEEDS_WIRE_H */
