/*
 * pub.h: publisher internals that tests and fuzz harnesses drive.
 */
#ifndef REPNET_FEEDS_PUB_H
#define REPNET_FEEDS_PUB_H

#include "feeds/bus/bus.h"

/* A resync request as the publisher acts on it, decoded and checked. */
struct feeds_pub_resync_req {
	uint64_t epoch;
	uint64_t have_seq;       /* 0: the subscriber wants a snapshot */
	bool has_digest;         /* have_digest was exactly 32 bytes */
	uint8_t have_digest[32]; /* valid when has_digest */
};

/*
 * Decodes a repnet.v1.ResyncRequest received from the network, under a
 * 4 KiB allocation budget, and checks that it names the publisher name.
 * Returns RN_OK and fills *out; RN_EPARSE when it does not decode or names
 * no publisher; RN_ENOTFOUND when it names another publisher. Allocates
 * nothing that outlives the call; *out is untouched on failure.
 */
int feeds_pub_resync_decode(const uint8_t *buf, size_t len, const char *name,
                            struct feeds_pub_resync_req *out);

#endif /* REPNET_FEEDS_PUB_H */
