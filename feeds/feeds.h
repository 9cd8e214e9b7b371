/*
 * feeds.h: the feeds library's contract.
 *
 * Feeds move the blocklist between operators and serve it locally: signed
 * snapshots and deltas over nng pub/sub, the replica that applies them,
 * and the consumers of the replica (DNSBL, Postfix policy service,
 * netfilter sync, exports). It also owns the HTTP listener that serves
 * /metrics. Feeds may know scoring and proto; nothing knows feeds but the
 * executables.
 */
#ifndef REPNET_FEEDS_H
#define REPNET_FEEDS_H

#include "proto/proto.h"
#include "scoring/scoring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The "feeds" section is split in tables that share the section name:
 * the bus, signing and federation (feeds_bus_conf_keys); the local RBL,
 * policy service, exports and decision stream (feeds_rbl_conf_keys); and
 * netfilter sync (feeds_sync_conf_keys).
 */
struct feeds_bus_conf {
	int reserved_; /* no keys yet */
};
struct feeds_rbl_conf {
	int reserved_; /* no keys yet */
};
struct feeds_sync_conf {
	int reserved_; /* no keys yet */
};
struct feeds_conf {
	struct feeds_bus_conf bus;
	struct feeds_rbl_conf rbl;
	struct feeds_sync_conf sync;
};
extern const struct rn_conf_key feeds_bus_conf_keys[];
extern const struct rn_conf_key feeds_rbl_conf_keys[];
extern const struct rn_conf_key feeds_sync_conf_keys[];

/* ------------------------------------------------------------------ */
/* Signing keys, keyring and envelopes                                 */
/* ------------------------------------------------------------------ */

/*
 * Publishers sign with ed25519 (libsodium). A key id is the first 8 bytes
 * of BLAKE2b over the public key. Key files are one line of text:
 *
 *   repnet-ed25519-secret-v1 <base64 32-byte seed>     (mode 0600)
 *   repnet-ed25519-public-v1 <base64 32-byte key>      (mode 0644)
 *
 * The base64 public key is also what a member's keyring configuration
 * holds.
 */
#define FEEDS_KEY_ID_LEN 8
#define FEEDS_SIG_LEN    64
#define FEEDS_PUBKEY_B64 45 /* 44 characters and a NUL */

/*
 * Makes a new key pair and writes both files; refuses to overwrite an
 * existing secret. pub_b64 (FEEDS_PUBKEY_B64 bytes) receives the public
 * key.
 */
int feeds_key_generate(const char *secret_path, const char *public_path, char *pub_b64);

/* A publisher's signing key. */
struct feeds_signer;
/*
 * Loads a secret key file. A file readable by group or others is refused.
 * name is the publisher name written into payloads. Free with
 * feeds_signer_free().
 */
int feeds_signer_load(struct feeds_signer **out, const char *secret_path, const char *name);
void feeds_signer_free(struct feeds_signer *s);
const char *feeds_signer_name(const struct feeds_signer *s);
void feeds_signer_public(const struct feeds_signer *s, char *pub_b64);
void feeds_signer_key_id(const struct feeds_signer *s, uint8_t id[FEEDS_KEY_ID_LEN]);

/* Trusted publishers, by name and public key. */
struct feeds_keyring;
int feeds_keyring_alloc(struct feeds_keyring **out);
void feeds_keyring_free(struct feeds_keyring *k);
/*
 * Adds a publisher. A revoked key stays in the ring so that its messages
 * are counted as revoked rather than unknown. RN_EEXIST if the name or
 * the key is there already; RN_EPARSE for a malformed key.
 */
int feeds_keyring_add(struct feeds_keyring *k, const char *name, const char *pub_b64, bool revoked);

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

/* ------------------------------------------------------------------ */
/* HTTP listener                                                       */
/* ------------------------------------------------------------------ */

/*
 * GET /metrics renders the registry in the Prometheus text format. listen
 * is "host:port" (port 0 picks a free one). The registry must outlive the
 * listener. Free with feeds_http_stop().
 */
struct feeds_http;
int feeds_http_start(struct feeds_http **out, const char *listen, struct rn_metrics *m);
/* The port actually bound. */
unsigned feeds_http_port(const struct feeds_http *h);
/* Stops serving, waits for handlers in flight, and frees h. Safe on NULL. */
void feeds_http_stop(struct feeds_http *h);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_H */
