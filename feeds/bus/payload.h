/*
 * payload.h: repnet.v1.SignedPayload, built and read without copying the
 * body. Internal to the bus.
 *
 * A SignedPayload is a header (publisher, epoch, seq, time, expiry,
 * digest) and exactly one body: a Snapshot (field 10), a Delta (11) or a
 * Heartbeat (12). Bodies are produced and consumed as serialised bytes
 * by the scoring library, and an embedded message is encoded exactly like
 * a bytes field, so building is "pack the header, append the body field",
 * and reading is a strict walk that hands the body's bytes to its decoder.
 */
#ifndef REPNET_FEEDS_PAYLOAD_H
#define REPNET_FEEDS_PAYLOAD_H

#include "feeds/bus/bus.h"

#define FEEDS_BODY_SNAPSHOT  10
#define FEEDS_BODY_DELTA     11
#define FEEDS_BODY_HEARTBEAT 12

#define FEEDS_NAME_MAX 64

struct feeds_payload_hdr {
	char publisher[FEEDS_NAME_MAX];
	uint64_t epoch;
	uint64_t seq;
	int64_t time_ms;
	int64_t expires_ms;
	uint8_t digest[32];
};

/* Builds a payload; *out is malloc'd (*len bytes). */
int feeds_payload_build(const struct feeds_payload_hdr *h, unsigned body_field, const uint8_t *body,
                        size_t body_len, uint8_t **out, size_t *len);

/*
 * Reads a payload strictly: known fields at most once each, the right
 * wire types, a 32-byte digest, a publisher name of 1 to 63 bytes, and
 * exactly one body. *body points into buf. RN_EPARSE or RN_ETRUNC.
 */
int feeds_payload_parse(const uint8_t *buf, size_t len, struct feeds_payload_hdr *h,
                        unsigned *body_field, const uint8_t **body, size_t *body_len);

/* A heartbeat body: listed entries and the publisher's interval. */
int feeds_heartbeat_build(uint64_t listed, uint32_t interval_ms, uint8_t *buf, size_t cap,
                          size_t *len);
int feeds_heartbeat_parse(const uint8_t *buf, size_t len, uint64_t *listed, uint32_t *interval_ms);

#endif /* REPNET_FEEDS_PAYLOAD_H */
