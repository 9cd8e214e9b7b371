/*
 * sign.h: envelopes and the signer's internals, for the publisher, the
 * subscriber, the ingest client and server, tests and fuzz harnesses.
 * Internal to the bus.
 */
#ifndef REPNET_FEEDS_SIGN_H
#define REPNET_FEEDS_SIGN_H

#include "feeds/bus/bus.h"

/* A signer from a fixed 32-byte seed: deterministic keys for tests. */
int feeds_signer_from_seed(struct feeds_signer **out, const uint8_t seed[32], const char *name);

const char *feeds_signer_name(const struct feeds_signer *s);
/* The key id of a signer: the first 8 bytes of BLAKE2b over its public key. */
void feeds_signer_key_id(const struct feeds_signer *s, uint8_t id[FEEDS_KEY_ID_LEN]);

/*
 * Signs payload (a serialised repnet.v1.SignedPayload) into a
 * repnet.v1.Envelope. On success *out is malloc'd (*outlen bytes) and the
 * caller frees it.
 */
int feeds_envelope_seal(const struct feeds_signer *s, const uint8_t *payload, size_t len,
                        uint8_t **out, size_t *outlen);

/*
 * Verifies an envelope before anything inside it is parsed. The outer
 * message is read strictly (known fields once each, exact lengths), the
 * key id is looked up (RN_EKEY: unknown or revoked, with *revoked set),
 * and the signature is checked over the exact payload bytes (RN_ESIG).
 * Malformed input is RN_EPARSE, RN_ETRUNC or RN_EVERSION. On success
 * *payload points into buf (no copy) and *publisher names the key's owner
 * in the keyring. Allocates nothing.
 */
int feeds_envelope_open(const struct feeds_keyring *k, const uint8_t *buf, size_t len,
                        const uint8_t **payload, size_t *plen, const char **publisher,
                        bool *revoked);

/*
 * The key id an envelope names, for a log line about a refused one: the
 * outer framing is read exactly as feeds_envelope_open() reads it (its
 * errors), nothing is verified. Allocates nothing.
 */
int feeds_envelope_key_id(const uint8_t *buf, size_t len, uint8_t id[FEEDS_KEY_ID_LEN]);

#endif /* REPNET_FEEDS_SIGN_H */
