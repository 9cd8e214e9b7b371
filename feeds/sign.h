/*
 * sign.h: internals of sign.c that tests and fuzz harnesses use.
 */
#ifndef REPNET_FEEDS_SIGN_H
#define REPNET_FEEDS_SIGN_H

#include "feeds/feeds.h"

/* A signer from a fixed 32-byte seed: deterministic keys for tests. */
int feeds_signer_from_seed(struct feeds_signer **out, const uint8_t seed[32], const char *name);

#endif /* REPNET_FEEDS_SIGN_H */
