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
	uint64_t recv_max;     /* NNG_OPT_RECVMAXSZ on every bus socket */
	char *tls_cert;        /* PEM certificate chain (tls+tcp:// only) */
	char *tls_key;         /* PEM private key */
	char *tls_ca;          /* PEM CA bundle peers must chain to */
	bool tls_verify_peer;  /* listeners require a client certificate */
	char *tls_server_name; /* dialers check the server's name (optional) */
	int64_t reconnect_min_ms;
	int64_t reconnect_max_ms;
	/* Collectors -> scorer. */
	char *ingest_listen;  /* the scorer's REP listener; "" disables */
	char *ingest_url;     /* where collectors send; "" disables */
	int64_t ingest_queue; /* observations a collector buffers */
	int64_t ingest_batch; /* observations per batch, at most */
	int64_t ingest_flush_ms;
	int64_t ingest_timeout_ms;
	int64_t ingest_block_ms;
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
/* The blocklist view: what local consumers read                        */
/* ------------------------------------------------------------------ */

/*
 * The local consumers of a member's blocklist (the DNSBL, the policy
 * service, exports, the decision stream, netfilter sync) read it through
 * this interface. The replica implements it over the live state, updated
 * in place as deltas arrive; tests may implement it over a fixed list.
 *
 * Categories are a bitmask: bit c is set for enum rn_category c.
 */
struct feeds_view_entry {
	struct rn_prefix prefix; /* a host is /32 or /128 */
	uint32_t categories;
	int64_t expires_ms;
};

enum feeds_view_change {
	FEEDS_VIEW_ADDED = 1,
	FEEDS_VIEW_REMOVED = 2,
};

struct feeds_view {
	void *arg;
	/*
	 * The categories listing a, or 0; *expires_ms gets the latest expiry
	 * among them. The most specific listing covering a counts (a host
	 * listing, else the longest listed prefix). Called concurrently from
	 * many threads while the replica changes: it must be lock-free or
	 * nearly so, and allocate nothing.
	 */
	uint32_t (*lookup)(void *arg, const struct rn_addr *a, int64_t *expires_ms);
	/*
	 * Calls fn for every entry of one consistent state, in address order,
	 * and returns that state's version. fn returning non-zero stops the
	 * walk and is returned.
	 */
	int (*walk)(void *arg, int (*fn)(void *fnarg, const struct feeds_view_entry *e),
	            void *fnarg, uint64_t *version);
	/*
	 * Calls fn for each change after version `since` up to the current
	 * version (returned in *version), oldest first. RN_ENOTFOUND when the
	 * history no longer reaches back to `since`: the caller must walk the
	 * full state instead.
	 */
	int (*changes)(void *arg, uint64_t since,
	               int (*fn)(void *fnarg, enum feeds_view_change what,
	                         const struct feeds_view_entry *e),
	               void *fnarg, uint64_t *version);
};

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
/* Observation ingest: collectors -> scorer                            */
/* ------------------------------------------------------------------ */

/*
 * Collectors send repnet.v1.ObservationBatch messages to the scorer over
 * nng REQ/REP; the scorer answers each with a repnet.v1.BatchAck only
 * after the batch is durable. A collector keeps a batch, byte for byte and
 * with the same batch_seq, until it is acknowledged, so a lost reply only
 * causes a resend, which the scorer recognises and acknowledges again
 * without ingesting twice.
 */

/*
 * The scorer's handler, called on the ingest thread for each new batch.
 * Return RN_OK only once the observations are durable (the batch is then
 * acknowledged); RN_EPARSE or RN_ELIMIT to refuse the batch for good; any
 * other error to make the collector retry later.
 */
typedef int (*feeds_ingest_fn)(void *arg, const struct rn_obs_batch_meta *meta,
                               const struct rn_obs *obs, size_t n);

struct feeds_ingest_server;
/* Listens on conf->ingest_listen. Free with feeds_ingest_server_stop(). */
int feeds_ingest_server_start(struct feeds_ingest_server **out, const struct feeds_bus_conf *conf,
                              struct rn_metrics *m, feeds_ingest_fn fn, void *arg);
/* The TCP port bound (useful with a ":0" URL). */
unsigned feeds_ingest_server_port(const struct feeds_ingest_server *s);
/* Stops after the batch in hand, if any. Safe on NULL. */
void feeds_ingest_server_stop(struct feeds_ingest_server *s);

struct feeds_ingest_client;
/*
 * Dials conf->ingest_url (or url, when not NULL) and starts the sender
 * thread. reporter is the operator's 8-byte pseudonymous id. Free with
 * feeds_ingest_client_stop().
 */
int feeds_ingest_client_start(struct feeds_ingest_client **out, const struct feeds_bus_conf *conf,
                              const char *url, struct rn_metrics *m, const uint8_t reporter[8]);
/*
 * Queues n observations (copied). Waits up to conf->ingest_block for room;
 * what still does not fit is dropped and counted. Returns the number
 * taken. Each observation taken gets the next position (1, 2, ...); *pos,
 * if not NULL, gets the position of the last one taken. Thread-safe.
 */
size_t feeds_ingest_client_submit(struct feeds_ingest_client *c, const struct rn_obs *obs, size_t n,
                                  uint64_t *pos);
/*
 * Every observation at or below this position has been acknowledged by
 * the scorer (or refused by it for good). Sources that remember where
 * they are (a tailed file) persist only positions whose observations are
 * acknowledged.
 */
uint64_t feeds_ingest_client_acked(struct feeds_ingest_client *c);
/*
 * Waits up to grace_ms for the queue to be acknowledged, then stops and
 * frees c. Returns how many observations were left unacknowledged (they
 * are counted as lost). Safe on NULL.
 */
size_t feeds_ingest_client_stop(struct feeds_ingest_client *c, int64_t grace_ms);

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
