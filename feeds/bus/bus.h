/*
 * bus.h: the bus, the feeds library's transport: the signing keys and
 * keyrings, the acknowledged ingest of observation batches from collectors
 * to the scorer (nng REQ/REP, each batch signed by its collector), and the
 * signed feed of snapshots, deltas and heartbeats from a publisher to its
 * subscribers (nng PUB/SUB, with a REQ/REP resync service).
 *
 * The bus knows scoring (tables and deltas are what it carries) and
 * proto. Every socket it opens has an explicit receive limit, reconnect
 * backoff, and TLS for tls+tcp:// URLs; a listener refuses plain TCP off
 * loopback unless bus.allow_plaintext. Each server and client runs its
 * own threads; the functions here are thread-safe unless they say not.
 */
#ifndef REPNET_FEEDS_BUS_H
#define REPNET_FEEDS_BUS_H

#include "proto/proto.h"
#include "scoring/scoring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration: the bus section of "feeds"                          */
/* ------------------------------------------------------------------ */
/* One other publisher: a member operator, or this operator's own scorer. */
struct feeds_peer {
	char name[64];
	char key[96];        /* base64 ed25519 public key */
	char *url;           /* its feed (PUB) */
	char *resync;        /* its resync service (REP) */
	double weight;       /* trust weight, for federation */
	int64_t max_per_day; /* new entries a day before the circuit breaker trips; 0: none */
	bool revoked;        /* kept in the keyring to count its messages as revoked */
	bool own;            /* this operator's scorer: served locally, not federated */
};
struct feeds_peers {
	struct feeds_peer *v;
	size_t n;
};

/* A collector whose signed observation batches the scorer takes. */
struct feeds_collector {
	char name[64];
	char key[96]; /* base64 ed25519 public key */
	bool revoked; /* kept in the keyring to count its batches as revoked */
};
struct feeds_collectors {
	struct feeds_collector *v;
	size_t n;
};
#define FEEDS_MAX_COLLECTORS 1024

struct feeds_bus_conf {
	uint64_t recv_max;     /* NNG_OPT_RECVMAXSZ on every bus socket */
	bool allow_plaintext;  /* plain tcp:// listeners on addresses other than loopback */
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
	uint64_t ingest_spill;              /* bytes of the collector's spill file; 0: none */
	char *collector_key;                /* secret key file; "" = data_dir/keys/collector.key */
	struct feeds_collectors collectors; /* the keys the scorer takes batches from */
	/* The feed. */
	char *publisher;     /* this node's publisher name; "" = core.instance */
	char *signing_key;   /* secret key file; "" = data_dir/keys/publisher.key */
	char *pub_listen;    /* PUB listener; "" = not publishing */
	char *resync_listen; /* REP listener of the resync service */
	/* The listeners' caps (repnetd lowers them to fit the descriptor limit). */
	int64_t ingest_max_conns;
	int64_t pub_max_conns;
	int64_t resync_max_conns;
	int64_t max_per_client; /* on each listener */
	int64_t idle_ms;        /* ingest and resync connections silent this long are closed */
	int64_t heartbeat_ms;
	int64_t snapshot_interval_ms;
	int64_t history; /* deltas kept for resync */
	uint64_t history_bytes;
	int64_t delta_ttl_ms;
	int64_t snapshot_ttl_ms;
	int64_t max_listings; /* cap on a decoded snapshot or delta */
	/* Other publishers, and what is done with them. */
	struct feeds_peers peers;
	char *serve;         /* the peer local consumers serve; "" = this node's publisher */
	int64_t quorum;      /* members that must agree (federation) */
	double weight_alone; /* a member this trusted lists alone; 0 = none */
	int64_t quarantine_add;
	double quarantine_pct;
	int64_t federation_refresh_ms;
	int64_t replica_sweep_ms;
};
extern const struct rn_conf_key feeds_bus_conf_keys[];

/* ------------------------------------------------------------------ */
/* Signing keys, keyring and envelopes                                 */
/* ------------------------------------------------------------------ */

/*
 * Publishers and collectors sign with ed25519 (libsodium): a publisher
 * its feed, a collector its observation batches; the two kinds of key are
 * made and stored alike. A key id is the first 8 bytes of BLAKE2b over
 * the public key. Key files are one line of text:
 *
 *   repnet-ed25519-secret-v1 <base64 32-byte seed>     (mode 0600)
 *   repnet-ed25519-public-v1 <base64 32-byte key>      (mode 0644)
 *
 * The base64 public key is also what a member's keyring configuration
 * (feeds.bus.peers) or a scorer's (feeds.bus.collectors) holds.
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

/* A publisher's or a collector's signing key. */
struct feeds_signer;
/*
 * Loads a secret key file. A file readable by group or others is refused.
 * name is the publisher name written into payloads (a collector's is only
 * for logs: the scorer names a collector by its own keyring). Free with
 * feeds_signer_free().
 */
int feeds_signer_load(struct feeds_signer **out, const char *secret_path, const char *name);
void feeds_signer_free(struct feeds_signer *s);
void feeds_signer_public(const struct feeds_signer *s, char *pub_b64);

/*
 * Loads the secret key at path, or, when path does not exist and make is
 * set, makes a key pair there (and path's ".pub" sibling, for a path
 * ending in ".key") first, with *made set. The directory must exist.
 */
int feeds_signer_load_or_make(struct feeds_signer **out, const char *path, const char *name,
                              bool make, bool *made);

/* Trusted publishers (or collectors), by name and public key. */
struct feeds_keyring;
int feeds_keyring_alloc(struct feeds_keyring **out);
void feeds_keyring_free(struct feeds_keyring *k);
/*
 * Adds a publisher. A revoked key stays in the ring so that its messages
 * are counted as revoked rather than unknown. RN_EEXIST if the name or
 * the key is there already; RN_EPARSE for a malformed key.
 */
int feeds_keyring_add(struct feeds_keyring *k, const char *name, const char *pub_b64, bool revoked);

/* ------------------------------------------------------------------ */
/* Observation ingest: collectors -> scorer                            */
/* ------------------------------------------------------------------ */

/*
 * Collectors send repnet.v1.ObservationBatch messages to the scorer over
 * nng REQ/REP, each sealed in a repnet.v1.Envelope with the collector's
 * key (the envelope the feed uses); the scorer verifies the envelope
 * against its keyring of collectors before it reads the batch, and
 * answers each with a repnet.v1.BatchAck only after the batch is durable.
 * A collector keeps a batch, byte for byte and with the same batch_seq,
 * until it is acknowledged, so a lost reply only causes a resend, which
 * the scorer recognises and acknowledges again without ingesting twice.
 * A refused signature is answered STATUS_UNAUTHENTICATED: the collector
 * keeps the batch and tries again, backing off.
 */

/*
 * The scorer's handler, called on the ingest thread for each new batch.
 * Return RN_OK only once the observations are durable (the batch is then
 * acknowledged); RN_EPARSE or RN_ELIMIT to refuse the batch for good; any
 * other error to make the collector retry later.
 */
typedef int (*feeds_ingest_fn)(void *arg, const struct rn_obs_batch_meta *meta,
                               const struct rn_obs *obs, size_t n);

/* Why the scorer refused a request before reading it. */
enum feeds_ingest_refusal {
	FEEDS_INGEST_UNSIGNED,      /* a bare ObservationBatch: no envelope */
	FEEDS_INGEST_UNKNOWN_KEY,   /* signed by a key not in the keyring */
	FEEDS_INGEST_REVOKED_KEY,   /* signed by a revoked collector */
	FEEDS_INGEST_BAD_SIGNATURE, /* the signature does not verify */
	FEEDS_INGEST_MALFORMED,     /* not an envelope at all */
	FEEDS_INGEST_REFUSAL_COUNT
};
/* "unsigned", "unknown_key", "revoked_key", "bad_signature", "malformed". */
const char *feeds_ingest_refusal_name(int r);

struct feeds_ingest_status {
	uint64_t batches, observations; /* accepted */
	uint64_t refused[FEEDS_INGEST_REFUSAL_COUNT];
	uint64_t closed_before_message; /* connections, see socket.h's watch */
	/* The last refusal; last_ms (wall clock) is 0 when there was none. */
	int last_reason;
	char last_peer[64];
	char last_key_id[2 * FEEDS_KEY_ID_LEN + 1]; /* hex, or "-" */
	int64_t last_ms;
};

/* What one collector (by its keyring name) delivered. */
struct feeds_ingest_collector_status {
	char name[RN_COLLECTOR_NAME_MAX];
	uint64_t batches, observations;
	int64_t last_ms; /* wall clock */
};

struct feeds_ingest_server;
/*
 * Listens on conf->ingest_listen and takes batches signed by the keys in
 * collectors, which must outlive the server (or be replaced first with
 * feeds_ingest_server_keyring()). meta->collector, as the handler sees
 * it, is the keyring's name for the signing key. Free with
 * feeds_ingest_server_stop().
 */
int feeds_ingest_server_start(struct feeds_ingest_server **out, const struct feeds_bus_conf *conf,
                              struct rn_metrics *m, const struct feeds_keyring *collectors,
                              feeds_ingest_fn fn, void *arg);
/* The TCP port bound (useful with a ":0" URL). */
unsigned feeds_ingest_server_port(const struct feeds_ingest_server *s);
/*
 * Replaces the keyring (a reload). Returns once the server no longer uses
 * the old one, which the caller may then free.
 */
void feeds_ingest_server_keyring(struct feeds_ingest_server *s, const struct feeds_keyring *k);
/*
 * The process is stopping: connections that close from now on are not
 * counted as closed before a message (its own collectors, idle, leave
 * first). Safe on NULL.
 */
void feeds_ingest_server_quiesce(struct feeds_ingest_server *s);
void feeds_ingest_server_status(struct feeds_ingest_server *s, struct feeds_ingest_status *st);
/* Up to max collectors that delivered, in order of their first batch; returns how many. */
size_t feeds_ingest_server_collectors(struct feeds_ingest_server *s,
                                      struct feeds_ingest_collector_status *v, size_t max);
/*
 * While pause, the listener accepts no new connection (the kernel drops
 * their SYNs; clients retry them): for when the process's descriptors
 * run short. Established connections are kept. Thread-safe; safe on NULL.
 */
void feeds_ingest_server_pause(struct feeds_ingest_server *s, bool pause);
/* Stops after the batch in hand, if any. Safe on NULL. */
void feeds_ingest_server_stop(struct feeds_ingest_server *s);

struct feeds_ingest_client;
/*
 * Dials conf->ingest_url (or url, when not NULL) and starts the sender
 * thread, which seals every batch with signer (it must outlive the
 * client). reporter is the operator's 8-byte pseudonymous id. Free with
 * feeds_ingest_client_stop().
 */
int feeds_ingest_client_start(struct feeds_ingest_client **out, const struct feeds_bus_conf *conf,
                              const char *url, struct rn_metrics *m, const uint8_t reporter[8],
                              const struct feeds_signer *signer);
/*
 * As feeds_ingest_client_start(), with the durable queue: the spill file
 * in spill_dir (conf->ingest_spill bytes at most; 0 is the start above).
 * Batches an earlier run left there are sent first, with their own ids.
 * Every batch is written there before it is sent and stays until
 * acknowledged; sources' positions (feeds_ingest_client_mark) are saved in
 * spill_dir once acknowledged. While the file is full, submit waits
 * without limit until feeds_ingest_client_unblock().
 */
int feeds_ingest_client_start_spill(struct feeds_ingest_client **out,
                                    const struct feeds_bus_conf *conf, const char *url,
                                    struct rn_metrics *m, const uint8_t reporter[8],
                                    const struct feeds_signer *signer, const char *spill_dir);
/*
 * A source's position: every observation submitted before this call
 * carries lines up to pos (len bytes, at most 512), the content of its
 * position file spill_dir/key (key: [A-Za-z0-9_.-], at most 63 bytes).
 * The file is written once those observations are acknowledged. Ignored
 * without a spill, and after an observation was dropped (a restart then
 * reads those lines again). Thread-safe.
 */
void feeds_ingest_client_mark(struct feeds_ingest_client *c, const char *key, const uint8_t *pos,
                              size_t len);
/*
 * Before submitting observations of key's lines not yet marked: they, and
 * whatever is submitted after them, stay in memory (not in the spill)
 * until the next feeds_ingest_client_mark(key), so that the spill never
 * holds observations of lines past the source's newest position there (a
 * restart reads those lines again). Ignored without a spill.
 */
void feeds_ingest_client_hold(struct feeds_ingest_client *c, const char *key);
/*
 * The newest position of key in the spill, acknowledged or not: a source
 * resumes from it rather than from its position file. RN_ENOTFOUND: none
 * (or no spill).
 */
int feeds_ingest_client_pending(struct feeds_ingest_client *c, const char *key, uint8_t *pos,
                                size_t cap, size_t *len);
/* From now on submit waits at most conf->ingest_block (before stopping the sources). */
void feeds_ingest_client_unblock(struct feeds_ingest_client *c);
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
 * Waits up to timeout_ms until every observation queued has been answered
 * (acknowledged or refused for good); returns how many still wait.
 */
size_t feeds_ingest_client_flush(struct feeds_ingest_client *c, int64_t timeout_ms);
/* What the scorer said so far, in observations (and batches, for unauthenticated). */
struct feeds_ingest_tally {
	uint64_t acked, refused;
	uint64_t unauthenticated; /* answers refusing our signature */
	uint64_t retries;
	/* The link: whether a connection to the scorer is up, and what waits. */
	bool connected;
	int64_t last_ack_ms; /* wall clock of the last answer that took a batch; 0: none */
	uint64_t queued;     /* observations in the queue, not yet acknowledged */
	char url[512];
};
void feeds_ingest_client_tally(struct feeds_ingest_client *c, struct feeds_ingest_tally *t);
/*
 * Waits up to grace_ms for the queue to be acknowledged, then stops and
 * frees c. Returns how many observations were left unacknowledged and not
 * in the spill (they are counted as lost); what is in the spill is sent
 * at the next start. Safe on NULL.
 */
size_t feeds_ingest_client_stop(struct feeds_ingest_client *c, int64_t grace_ms);

/* ------------------------------------------------------------------ */
/* The feed: publisher and subscribers                                 */
/* ------------------------------------------------------------------ */

/*
 * Why a bus connection's TLS handshake failed, as the side that saw it
 * tells (feeds/bus/tls.c): the label "reason" of
 * repnet_bus_tls_failures_total{side,reason}, side "listener" or "dialer".
 */
enum feeds_tls_reason {
	FEEDS_TLS_NO_CERT,       /* the peer presented no certificate */
	FEEDS_TLS_UNTRUSTED,     /* its certificate does not chain to bus.tls.ca */
	FEEDS_TLS_NAME_MISMATCH, /* the server's certificate does not name bus.tls.server_name */
	FEEDS_TLS_EXPIRED,       /* expired or not yet valid */
	FEEDS_TLS_BAD_CERT,      /* another verification failure */
	FEEDS_TLS_REFUSED,       /* the peer sent a fatal alert: it refused us */
	FEEDS_TLS_CLOSED,        /* the peer closed the connection during the handshake */
	FEEDS_TLS_NOT_TLS,       /* the peer does not speak TLS */
	FEEDS_TLS_OTHER,
	FEEDS_TLS_R_COUNT
};
const char *feeds_bus_tls_reason_name(enum feeds_tls_reason r);

/* Where a feed stands, for status output and tests. */
enum feeds_reject {
	FEEDS_REJ_MALFORMED,       /* framing, payload or body did not decode */
	FEEDS_REJ_UNKNOWN_KEY,     /* key id not in the keyring */
	FEEDS_REJ_REVOKED_KEY,     /* key id of a revoked key */
	FEEDS_REJ_BAD_SIGNATURE,   /* signature does not verify */
	FEEDS_REJ_WRONG_PUBLISHER, /* a trusted key, but not this feed's publisher */
	FEEDS_REJ_EXPIRED,         /* past its expires_ms */
	FEEDS_REJ_EPOCH_ROLLBACK,  /* an epoch older than the one held */
	FEEDS_REJ_REPLAY,          /* a sequence not newer than the one held */
	FEEDS_REJ_BASE_DIGEST,     /* a delta for a state with another digest */
	FEEDS_REJ_DIGEST_MISMATCH, /* the result would not have the signed digest */
	FEEDS_REJ_INCONSISTENT,    /* the delta does not fit the state held */
	FEEDS_REJ_QUARANTINED,     /* held back by the circuit breaker */
	FEEDS_REJ_GAP,             /* not a rejection: a missing message, resyncing */
	FEEDS_REJ_COUNT
};
const char *feeds_reject_name(enum feeds_reject r);

struct feeds_feed_status {
	char publisher[64];
	uint64_t epoch, seq;
	uint8_t digest[32];
	uint64_t listed;
	int64_t last_change_ms;
	bool in_sync;
	bool quarantined;
	uint64_t rejected[FEEDS_REJ_COUNT];
	uint64_t resync_backoffs; /* resyncs refused for their key or signature (subscribers) */
};

/*
 * The publisher: signs every message with its key, publishes deltas as
 * the blocklist changes, heartbeats and periodic snapshots, and serves
 * resync requests. Each start is a new epoch (persisted in
 * data_dir/feeds/publisher.epoch) opened by a snapshot. Free with
 * feeds_pub_stop(); the signer must outlive the publisher.
 */
struct feeds_pub;
struct feeds_pub_opts {
	const char *data_dir;
	const struct feeds_signer *signer;
	struct rn_metrics *metrics; /* may be NULL */
};
int feeds_pub_start(struct feeds_pub **out, const struct feeds_bus_conf *conf,
                    const struct feeds_pub_opts *o, struct scoring_table *initial);
/*
 * Publishes the change to table t. d is the delta from the table given
 * last (the scorer's own), or NULL to have the publisher compute it; a d
 * that does not lead to t's digest is recomputed. Refuses a dry-run table
 * (RN_ESTATE). Thread-safe; t is referenced, not taken.
 */
int feeds_pub_update(struct feeds_pub *p, struct scoring_table *t, const struct scoring_delta *d);
unsigned feeds_pub_port(const struct feeds_pub *p);
/* As feeds_ingest_server_pause(), for the feed's and the resync service's listeners. */
void feeds_pub_pause(struct feeds_pub *p, bool pause);
unsigned feeds_pub_resync_port(const struct feeds_pub *p);
void feeds_pub_status(struct feeds_pub *p, struct feeds_feed_status *st);
void feeds_pub_stop(struct feeds_pub *p);

/* What a subscriber saw in one authenticated message. */
struct feeds_msg_info {
	const char *kind; /* "snapshot", "delta" or "heartbeat" */
	uint64_t epoch, seq;
	int64_t time_ms, expires_ms;
	uint8_t digest[32];
	uint64_t added, removed; /* listings, for deltas */
	uint64_t listed;         /* entries, for snapshots and heartbeats */
	int result;              /* RN_OK: applied (or current); else why not */
};

/*
 * A subscription to one publisher. on_change, if set, is called on the
 * subscription's thread after each applied change with the old table
 * (NULL at first), the new one, and the delta (NULL for a snapshot).
 */
struct feeds_sub;
struct feeds_sub_opts {
	const char *data_dir;                  /* data_dir/feeds/sub-NAME.state */
	const struct feeds_keyring *keyring;   /* must outlive the subscription */
	const struct scoring_protect *protect; /* never-block here; may be NULL */
	struct scoring_decode_limits limits;
	struct rn_metrics *metrics; /* may be NULL */
	/* The circuit breaker, for other members' feeds. */
	bool breaker;
	int64_t quarantine_add; /* more added at once: held back */
	double quarantine_pct;  /* more than this % of the size: held back */
	int64_t max_per_day;    /* more added in a day: held back */
	/* Test hook: lose this many per mille of received messages. */
	unsigned drop_permille;
	/* No sockets and no thread: the caller feeds messages (tests, fuzzing). */
	bool offline;
	/* No state file: nothing survives the process (repnet sub). */
	bool ephemeral;
	/* Called for every authenticated message, applied or not (repnet sub). */
	void (*on_message)(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m);
	void (*on_change)(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
	                  const struct scoring_table *new_t, const struct scoring_delta *d);
	void *arg;
};
int feeds_sub_start(struct feeds_sub **out, const struct feeds_bus_conf *conf, const char *name,
                    const char *pub_url, const char *resync_url, const struct feeds_sub_opts *o);
/* A reference on the current state, or NULL before the first. */
struct scoring_table *feeds_sub_table(struct feeds_sub *s);
const char *feeds_sub_name(const struct feeds_sub *s);
void feeds_sub_status(struct feeds_sub *s, struct feeds_feed_status *st);
void feeds_sub_stop(struct feeds_sub *s);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_BUS_H */
